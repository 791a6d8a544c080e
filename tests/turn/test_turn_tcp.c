/*
 * RFC 6062 TCP relays in the state machine, on the fake clock with the fake
 * I/O: the TCP Allocate and its refusals (400 over UDP or with UDP-only
 * attributes, 442 when turned off), Connect (its late answer, signed, with
 * a CONNECTION-ID; 400, 403, 443, 446, 447 on failure and on the 30 s
 * timeout, 508 past the limit), ConnectionBind on a new connection (the
 * allocation's user only, 400 for an unknown, used or timed-out id, or over
 * UDP, or on a connection with an allocation), the inbound peer connection
 * (refused without permission or past the limit, else a ConnectionAttempt),
 * the 30 s bind timeout, traffic counting, teardown, the reload's policy,
 * and the worker a CONNECTION-ID names.
 */
#include "turn_harness.h"

static const char CLIENT_IP[] = "192.0.2.1";

/* An Allocate for a TCP relay over the harness's current 5-tuple. */
static int
tcp_allocate(struct harness *h, bool extra_even_port)
{
	struct treq r;

	if (h->nonce_len == 0)
		h_get_nonce(h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 6);
	if (extra_even_port) {
		uint8_t v = 0;

		stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, &v, 1);
	}
	return h_send_signed(h, &r);
}

/* Harness with a TCP allocation over TCP; returns its relay handle. */
static int
tcp_setup(struct harness *h, uint32_t max_conns)
{
	struct ice_addr relayed;
	int handle;

	h_config(h);
	h->cfg.turn.max_tcp_connections = max_conns;
	h_start(h);
	h_set_client(h, CLIENT_IP, 40000, TURN_PROTO_TCP);
	CHECK_EQ_INT(tcp_allocate(h, false), 0);
	relayed = h_relayed(h, 0);
	handle = h_handle_of(h, relayed.port);
	REQUIRE(handle >= 0);
	CHECK(h->io->relays[handle].tcp);
	return handle;
}

static int
h_connect(struct harness *h, const char *ip, uint16_t port)
{
	struct ice_addr a;
	struct treq r;

	REQUIRE(ice_addr_parse_ip(&a, ip, port) == 0);
	treq_begin(&r, STUN_METHOD_CONNECT, STUN_CLASS_REQUEST);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	return h_send_signed(h, &r);
}

/* Parse what the server last sent the client into *m. */
static void
last_msg(struct harness *h, struct stun_msg *m)
{
	REQUIRE(stun_parse(m, h->io->client_buf, h->io->client_len) == (int)h->io->client_len);
}

static uint32_t
conn_id(const struct stun_msg *m)
{
	const struct stun_attr *at = stun_msg_find(m, STUN_ATTR_CONNECTION_ID);
	uint32_t id = 0;

	REQUIRE(at != NULL && stun_attr_u32(at, &id) == 0);
	return id;
}

/* A ConnectionBind for id on a new TCP connection from port (the harness's
 * 5-tuple moves there for good); returns the code. */
static int
bind_from(struct harness *h, uint16_t port, uint32_t id, bool signed_req)
{
	struct treq r;

	h_set_client(h, CLIENT_IP, port, TURN_PROTO_TCP);
	treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
	stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, id);
	if (!signed_req) {
		treq_finish(&r);
		return h_send(h, &r);
	}
	return h_send_signed(h, &r);
}

/* Connect to ip:port and let net report the outcome err; returns the code
 * of the late answer, with h->resp parsed. */
static int
connect_done(struct harness *h, const char *ip, uint16_t port, int err)
{
	int before;
	uint32_t id;

	CHECK_EQ_INT(h_connect(h, ip, port), -1); /* no answer before the peer's */
	id = h->io->last_tcp_id;
	before = h->io->n_client;
	turn_tcp_connected(h->srv, id, err, h->now);
	REQUIRE(h->io->n_client == before + 1);
	last_msg(h, &h->resp);
	CHECK(h->resp.method == STUN_METHOD_CONNECT);
	return tmsg_code(&h->resp);
}

static void
test_allocate(void)
{
	struct harness h;
	struct treq r;

	/* over UDP: 400 */
	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(tcp_allocate(&h, false), 400);
	CHECK_EQ_INT(h.io->opens, 0);
	/* over TCP, with a UDP-only attribute: 400 */
	h_set_client(&h, CLIENT_IP, 40001, TURN_PROTO_TCP);
	CHECK_EQ_INT(tcp_allocate(&h, true), 400);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 6);
	stun_build_u64(&r.b, STUN_ATTR_RESERVATION_TOKEN, 42);
	CHECK_EQ_INT(h_send_signed(&h, &r), 400);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 6);
	stun_build_attr(&r.b, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
	CHECK_EQ_INT(h_send_signed(&h, &r), 400);
	CHECK_EQ_INT(h.io->opens, 0);
	/* plain: a TCP listener, held by the stream */
	CHECK_EQ_INT(tcp_allocate(&h, false), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h.io->opens, 1);
	CHECK(h.io->relays[0].tcp);
	CHECK_EQ_INT(h.io->holds, 1);
	/* a Send indication and a ChannelBind have no place on it */
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 53, "x", false), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_UNEXPECTED), 1);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 53), 400);
	h_stop(&h);

	/* turned off: 442 */
	h_config(&h);
	h.cfg.turn.tcp_relay = false;
	h_start(&h);
	h_set_client(&h, CLIENT_IP, 40002, TURN_PROTO_TLS);
	CHECK_EQ_INT(tcp_allocate(&h, false), 442);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_442), 1);
	h_stop(&h);

	/* net without TCP relays: 442 too */
	h_config(&h);
	h.no_tcp_io = true;
	h_start(&h);
	h_set_client(&h, CLIENT_IP, 40003, TURN_PROTO_TCP);
	CHECK_EQ_INT(tcp_allocate(&h, false), 442);
	h_stop(&h);
}

static void
test_connect(void)
{
	struct harness h;
	struct turn_5tuple control;
	struct stun_msg m;
	int relay = tcp_setup(&h, 0);
	uint32_t id;

	control = h.ft;
	/* malformed, denied, wrong family */
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_CONNECT, STUN_CLASS_REQUEST);
		CHECK_EQ_INT(h_send_signed(&h, &r), 400);
	}
	CHECK_EQ_INT(h_connect(&h, "10.1.2.3", 80), 403);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DENY_PRIVATE), 1);
	CHECK_EQ_INT(h_connect(&h, "2001:4860::8888", 80), 443);
	CHECK_EQ_INT(h.io->n_tcp_connects, 0);

	/* success: the answer waits for the peer, then comes signed */
	CHECK_EQ_INT(connect_done(&h, "8.8.8.8", 443, 0), 0);
	CHECK_EQ_INT(h.io->last_tcp_relay, relay);
	CHECK(h.io->last_tcp_peer.port == 443 && h.io->last_tcp_peer.ip[0] == 8);
	CHECK(h_resp_signed(&h));
	CHECK(h.io->client_ft.link == control.link);
	id = conn_id(&h.resp);
	CHECK_EQ_INT(id, h.io->last_tcp_id);
	CHECK_EQ_INT(id >> 24, 0); /* worker 0 */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_CONNECTED), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_CONNECTIONS), 1);

	/* 446: the same peer again, pending, connecting or bound */
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 443), 446);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_446), 1);
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 80), -1); /* another port is another peer */
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 80), 446);

	/* 447: the connection failed */
	CHECK_EQ_INT(connect_done(&h, "8.8.4.4", 443, -ECONNREFUSED), 447);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h.io->last_close, H_TCP_BASE + h.io->tcp_next - 1);
	/* ... or could not start */
	h.io->tcp_fail = -EADDRNOTAVAIL;
	CHECK_EQ_INT(h_connect(&h, "8.8.4.4", 443), 447);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_447), 2);
	/* ... or timed out: not at 30 s - 1 ms, at 30 s */
	CHECK_EQ_INT(h_connect(&h, "1.1.1.1", 443), -1);
	id = h.io->last_tcp_id;
	h_at(&h, h.now + TURN_TCP_CONNECT_TIMEOUT_S * 1000 - 1);
	CHECK_EQ_INT(h.io->n_tcp_closes, 1);
	h_at(&h, h.now + 1);
	/* the fake clock stood still since the first Connect: 8.8.8.8:80 and
	 * 1.1.1.1 time out, and 8.8.8.8:443 was never bound (30 s too) */
	CHECK_EQ_INT(h.io->n_tcp_closes, 4);
	last_msg(&h, &m);
	CHECK_EQ_INT(tmsg_code(&m), 447);
	/* a late report for a forgotten id changes nothing */
	turn_tcp_connected(h.srv, id, 0, h.now);
	CHECK_EQ_INT(h.io->n_tcp_closes, 4);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_CONNECT_FAILED), 4);
	h_stop(&h);
}

static void
test_connect_limit(void)
{
	struct harness h;

	tcp_setup(&h, 2);
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 1), -1);
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 2), -1);
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 3), 508);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_REFUSED_LIMIT), 1);
	/* one ends: room again */
	h_tcp_closed(&h, H_TCP_BASE + 1);
	CHECK_EQ_INT(h_connect(&h, "8.8.8.8", 3), -1);
	h_stop(&h);
}

static void
test_bind(void)
{
	struct harness h;
	struct turn_5tuple control;
	struct tcred alice;
	uint8_t control_nonce[STUN_MAX_NONCE_LEN];
	size_t control_nonce_len;
	int retries;
	uint32_t id;

	tcp_setup(&h, 0);
	control = h.ft;
	memcpy(control_nonce, h.nonce, h.nonce_len);
	control_nonce_len = h.nonce_len;
	CHECK_EQ_INT(connect_done(&h, "8.8.8.8", 443, 0), 0);
	id = conn_id(&h.resp);

	/* not over UDP; not an unknown id */
	h_set_client(&h, CLIENT_IP, 41001, TURN_PROTO_UDP);
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
		stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, id);
		CHECK_EQ_INT(h_send_signed(&h, &r), 400);
	}
	CHECK_EQ_INT(bind_from(&h, 41002, id ^ 0x5a5a, true), 400);
	CHECK_EQ_INT(h.io->n_tcp_binds, 0);
	/* not on the control connection, which holds the allocation */
	h.ft = control;
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
		stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, id);
		CHECK_EQ_INT(h_send_signed(&h, &r), 400);
	}
	/* unauthenticated: challenged; another user's credentials: 441 */
	CHECK_EQ_INT(bind_from(&h, 41003, id, false), 401);
	alice = h.cred;
	h_mint(&h, H_SECRET, 3600, "did:peers:mallory");
	CHECK_EQ_INT(bind_from(&h, 41004, id, true), 441);
	h.cred = alice;
	CHECK_EQ_INT(h.io->n_tcp_binds, 0);

	/* a nonce minted for another 5-tuple than the allocation's: 438 */
	h_set_client(&h, CLIENT_IP, 41007, TURN_PROTO_TCP);
	h_get_nonce(&h);
	h_set_client(&h, CLIENT_IP, 41008, TURN_PROTO_TCP);
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
		stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, id);
		CHECK_EQ_INT(h_send_signed_once(&h, &r), 438);
	}
	CHECK_EQ_INT(h.io->n_tcp_binds, 0);

	/* the allocation's user, on a new connection, with the nonce its
	 * control connection was given (as coturn's client sends it, mostly
	 * reading no answer): bound at once, no 438 round */
	memcpy(h.nonce, control_nonce, control_nonce_len);
	h.nonce_len = control_nonce_len;
	retries = h.stale_retries;
	CHECK_EQ_INT(bind_from(&h, 41005, id, true), 0);
	CHECK_EQ_INT(h.stale_retries, retries);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h.io->n_tcp_binds, 1);
	CHECK_EQ_INT(h.io->last_bind_handle, H_TCP_BASE);
	CHECK(h.io->last_bind_ft.client.port == 41005);
	CHECK(h.io->last_bind_ft.link == h.ft.link);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_BOUND), 1);
	/* once only */
	CHECK_EQ_INT(bind_from(&h, 41006, id, true), 400);
	/* bound: no bind timeout */
	h_at(&h, h.now + 60 * 1000);
	CHECK_EQ_INT(h.io->n_tcp_closes, 0);

	/* bytes both ways: counted for the allocation and the metrics */
	CHECK_EQ_INT(turn_tcp_relayed(h.srv, id, true, 1000, h.now), 0);
	CHECK_EQ_INT(turn_tcp_relayed(h.srv, id, false, 300, h.now), 0);
	CHECK_EQ_INT(turn_tcp_relayed(h.srv, id + 1, false, 300, h.now), -ENOENT);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_BYTES_TO_PEER_TCP), 1000);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_BYTES_TO_CLIENT_TCP), 300);

	/* net closes it (a side hung up): forgotten, not closed again */
	h_tcp_closed(&h, H_TCP_BASE);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_CONNECTIONS), 0);
	CHECK_EQ_INT(turn_tcp_relayed(h.srv, id, true, 1, h.now), -ENOENT);

	/* the allocation ends with its traffic in the session record */
	h.ft = control;
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(h.io->n_tcp_closes, 0);
	CHECK_EQ_INT(h.io->last_traffic.to_peer_bytes, 1000);
	CHECK_EQ_INT(h.io->last_traffic.to_client_bytes, 300);
	h_stop(&h);
}

static void
test_bind_timeout(void)
{
	struct harness h;
	uint32_t id;

	tcp_setup(&h, 0);
	CHECK_EQ_INT(connect_done(&h, "8.8.8.8", 443, 0), 0);
	id = conn_id(&h.resp);
	h_at(&h, h.now + TURN_TCP_BIND_TIMEOUT_S * 1000 - 1);
	CHECK_EQ_INT(h.io->n_tcp_closes, 0);
	h_at(&h, h.now + 1);
	CHECK_EQ_INT(h.io->n_tcp_closes, 1);
	CHECK_EQ_INT(h.io->last_close, H_TCP_BASE);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_BIND_TIMEOUT), 1);
	CHECK_EQ_INT(bind_from(&h, 41000, id, true), 400);
	h_stop(&h);
}

static void
test_accepted(void)
{
	struct harness h;
	struct ice_addr peer, got;
	struct stun_msg m;
	const struct stun_attr *at;
	int relay = tcp_setup(&h, 2), before, first, second, third;
	uint32_t id = 0, id2 = 0;

	REQUIRE(ice_addr_parse_ip(&peer, "8.8.8.8", 5555) == 0);
	/* no permission: refused, nothing told */
	before = h.io->n_client;
	CHECK_EQ_INT(h_tcp_accept(&h, relay, &peer, &first, &id), -EPERM);
	CHECK_EQ_INT(h.io->n_client, before);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_REFUSED_PERMISSION), 1);
	/* unknown relay */
	CHECK_EQ_INT(h_tcp_accept(&h, 999, &peer, &first, &id), -ENOENT);

	/* permitted: a ConnectionAttempt on the control connection */
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	before = h.io->n_client;
	CHECK_EQ_INT(h_tcp_accept(&h, relay, &peer, &first, &id), 0);
	CHECK_EQ_INT(h.io->n_client, before + 1);
	last_msg(&h, &m);
	CHECK(m.cls == STUN_CLASS_INDICATION && m.method == STUN_METHOD_CONNECTION_ATTEMPT);
	CHECK(m.fingerprint >= 0);
	CHECK_EQ_INT(conn_id(&m), id);
	at = stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS);
	REQUIRE(at != NULL && stun_attr_xor_addr(&m, at, &got) == 0);
	CHECK(ice_addr_equal(&got, &peer));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_ACCEPTED), 1);

	/* the limit (2) */
	peer.port++;
	CHECK_EQ_INT(h_tcp_accept(&h, relay, &peer, &second, &id2), 0);
	peer.port++;
	CHECK_EQ_INT(h_tcp_accept(&h, relay, &peer, &third, &id2), -ENOSPC);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_TCP_REFUSED_LIMIT), 1);

	/* the client binds the first one */
	CHECK_EQ_INT(bind_from(&h, 41000, id, true), 0);
	CHECK_EQ_INT(h.io->last_bind_handle, first);

	/* the permission's expiry does not cut a bound connection, but the
	 * allocation's end closes both */
	h_at(&h, h.now + 400 * 1000);
	CHECK_EQ_INT(h.io->n_tcp_closes, 1); /* the unbound one, at 30 s */
	CHECK_EQ_INT(h.io->last_close, second);
	h_at(&h, h.now + 600 * 1000);
	CHECK_EQ_INT(h.io->n_tcp_closes, 2);
	CHECK_EQ_INT(h.io->last_close, first);
	CHECK_EQ_INT(h.io->n_open, 0);
	h_stop(&h);
}

/* Our own relay address as a peer: only from a relay port. */
static void
test_self_peer(void)
{
	struct harness h;
	struct ice_addr peer;
	int relay = tcp_setup(&h, 0), handle;
	uint32_t id;

	CHECK_EQ_INT(h_permission(&h, "198.51.100.1", 50001), 0);
	REQUIRE(ice_addr_parse_ip(&peer, "198.51.100.1", 22) == 0);
	CHECK_EQ_INT(h_tcp_accept(&h, relay, &peer, &handle, &id), -EPERM);
	peer.port = 50001;
	CHECK_EQ_INT(h_tcp_accept(&h, relay, &peer, &handle, &id), 0);
	CHECK_EQ_INT(h_connect(&h, "198.51.100.1", 22), 403);
	CHECK_EQ_INT(h_connect(&h, "198.51.100.1", 50003), -1);
	h_stop(&h);
}

/* A reload that denies a peer closes its data connections. */
static void
test_reload_denies(void)
{
	struct harness h;
	uint32_t id;

	tcp_setup(&h, 0);
	CHECK_EQ_INT(connect_done(&h, "8.8.8.8", 443, 0), 0);
	id = conn_id(&h.resp);
	CHECK_EQ_INT(h_connect(&h, "9.9.9.9", 443), -1);
	h_cidr(&h.cfg.turn.denied_peer_ip[0], "8.8.8.0/24");
	h.cfg.turn.n_denied_peer_ip = 1;
	h_settings(&h);
	CHECK_EQ_INT(turn_server_reconfigure(h.srv, &h.set, h.now), 1);
	CHECK_EQ_INT(h.io->n_tcp_closes, 1);
	CHECK_EQ_INT(h.io->last_close, H_TCP_BASE);
	CHECK_EQ_INT(bind_from(&h, 41000, id, true), 400);
	h_stop(&h);
}

static void
test_conn_worker(void)
{
	struct treq r;

	treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
	stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, 0x07000123);
	treq_finish(&r);
	CHECK_EQ_INT(turn_tcp_conn_worker(&r.msg), 7);
	CHECK_EQ_INT(turn_tcp_route(&r.msg, 0, 8), 7);  /* another worker's */
	CHECK_EQ_INT(turn_tcp_route(&r.msg, 7, 8), -1); /* this one's */
	CHECK_EQ_INT(turn_tcp_route(&r.msg, 0, 7), -1); /* no such worker: answered here */
	treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
	treq_finish(&r);
	CHECK_EQ_INT(turn_tcp_conn_worker(&r.msg), -1);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, 0x07000123);
	treq_finish(&r);
	CHECK_EQ_INT(turn_tcp_conn_worker(&r.msg), -1);
	/* a CONNECTION-ID of the wrong size does not even parse as one */
	treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
	stun_build_u64(&r.b, STUN_ATTR_CONNECTION_ID, 1);
	stun_build_fingerprint(&r.b);
	r.len = stun_build_finish(&r.b);
	CHECK(stun_parse(&r.msg, r.buf, (size_t)r.len) < 0);
}

int
main(void)
{
	test_allocate();
	test_connect();
	test_connect_limit();
	test_bind();
	test_bind_timeout();
	test_accepted();
	test_self_peer();
	test_reload_denies();
	test_conn_worker();
	TEST_DONE();
}
