/*
 * A TURN server on a fake clock with fake I/O, for the state-machine tests.
 * The fake turn_io hands out relay "sockets" (handles and ports), records
 * opens, closes and every send, and can be told to fail. Header-only.
 *
 * Addresses: the client is 192.0.2.1:40000 (UDP) talking to 203.0.113.10:3478;
 * the public IP is 203.0.113.10; relays bind 198.51.100.1 (and 2001:db8:1::1
 * when the v6 range is on) on ports from 50000 up; peers are public
 * addresses (8.8.8.8 ...), so no loopback needs allowing.
 */
#ifndef ICESTATION_TESTS_TURN_HARNESS_H
#define ICESTATION_TESTS_TURN_HARNESS_H

#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/auth_ltc.h"
#include "icestation/metrics.h"
#include "icestation/turn.h"

#include "turn_testlib.h"

enum {
	H_MAX_HANDLES = 32768,
	H_T0 = 10 * 1000 * 1000, /* monotonic ms at start */
	H_UNIX0 = 1700000000,    /* wall clock at start */
	H_SLOT = 2048 + TURN_PEER_HEADROOM + TURN_PEER_TAILROOM,
	/* RFC 6062 peer data connections: handles H_TCP_BASE + index. */
	H_TCP_BASE = 1000,
	H_TCP_MAX = 512,
};

static const char H_REALM[] = "example.org";
static const char H_SECRET[] = "s3cret";
static const char H_OLD_SECRET[] = "old-s3cret";

struct h_relay {
	bool open, dormant, tcp;
	struct ice_addr addr;
	struct turn_relay_req req;
};

struct fake_io {
	struct h_relay relays[H_MAX_HANDLES];
	int next_handle;
	uint16_t next_port;
	int opens, closes, n_open;
	int fail_next; /* relay_open returns this once when non-zero */
	int fail_v6;   /* relay_open of an IPv6 relay returns this when non-zero */
	struct turn_relay_req last_req;

	int n_client;
	struct turn_5tuple client_ft;
	uint8_t client_buf[H_SLOT];
	size_t client_len;
	enum turn_buf client_where;

	int holds; /* link_hold's running sum: stream allocations alive */
	int events[TURN_EV_ALLOC_MOVED + 1];
	struct turn_event last_event;
	struct turn_traffic last_traffic; /* of the last ALLOC_END */

	int n_peer;
	int peer_handle;
	struct ice_addr peer_addr;
	uint8_t peer_buf[H_SLOT];
	size_t peer_len;
	unsigned peer_flags;

	/* RFC 6062: peer data connections (connects started, accepts kept),
	 * open until turn's tcp_close or a test's h_tcp_closed; tcp_live
	 * counts the open ones. */
	bool tcp_open[H_TCP_MAX];
	uint32_t tcp_ids[H_TCP_MAX];
	int tcp_fail; /* tcp_connect returns this once when non-zero */
	int tcp_next, tcp_live, n_tcp_connects, n_tcp_binds, n_tcp_closes;
	int last_tcp_relay, last_bind_handle, last_close;
	struct ice_addr last_tcp_peer;
	uint32_t last_tcp_id;
	struct turn_5tuple last_bind_ft;
};

static inline int
fio_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res)
{
	struct fake_io *io = ctx;
	struct h_relay *r;
	int h;

	io->last_req = *req;
	if (io->fail_next) {
		int rc = io->fail_next;

		io->fail_next = 0;
		return rc;
	}
	if (req->family == AF_INET6 && io->fail_v6)
		return io->fail_v6;
	if (req->adopt >= 0) {
		REQUIRE(req->adopt < H_MAX_HANDLES && io->relays[req->adopt].dormant);
		io->relays[req->adopt].dormant = false;
		io->relays[req->adopt].req = *req;
		res->handle = req->adopt;
		res->bound = io->relays[req->adopt].addr;
		res->reserved_handle = -1;
		io->opens++;
		return 0;
	}
	if (io->next_handle + 2 >= H_MAX_HANDLES)
		return -ENOSPC;
	if ((req->even_port && (io->next_port & 1)) || (!req->even_port && !(io->next_port & 1)))
		io->next_port++; /* plain relays get odd ports, to prove EVEN-PORT works */
	h = io->next_handle++;
	r = &io->relays[h];
	memset(r, 0, sizeof(*r));
	r->open = true;
	r->req = *req;
	REQUIRE(ice_addr_parse_ip(&r->addr,
	                          req->family == AF_INET ? "198.51.100.1" : "2001:db8:1::1",
	                          io->next_port++) == 0);
	res->handle = h;
	res->bound = r->addr;
	res->reserved_handle = -1;
	io->opens++;
	io->n_open++;
	if (req->reserve_next) {
		int h2 = io->next_handle++;

		io->relays[h2].open = true;
		io->relays[h2].dormant = true;
		io->relays[h2].addr = r->addr;
		io->relays[h2].addr.port = io->next_port++;
		res->reserved_handle = h2;
		io->n_open++;
	}
	return 0;
}

static inline void
fio_close(void *ctx, int handle)
{
	struct fake_io *io = ctx;

	REQUIRE(handle >= 0 && handle < H_MAX_HANDLES);
	CHECK(io->relays[handle].open);
	io->relays[handle].open = false;
	io->relays[handle].dormant = false;
	io->closes++;
	io->n_open--;
}

static inline void
fio_send_client(void *ctx, const struct turn_5tuple *ft, const uint8_t *buf, size_t len,
                enum turn_buf where)
{
	struct fake_io *io = ctx;

	REQUIRE(len <= sizeof(io->client_buf));
	io->n_client++;
	io->client_ft = *ft;
	memcpy(io->client_buf, buf, len);
	io->client_len = len;
	io->client_where = where;
}

static inline void
fio_send_peer(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf, size_t len,
              unsigned flags)
{
	struct fake_io *io = ctx;

	REQUIRE(len <= sizeof(io->peer_buf));
	CHECK(io->relays[handle].open && !io->relays[handle].dormant);
	io->n_peer++;
	io->peer_handle = handle;
	io->peer_addr = *peer;
	memcpy(io->peer_buf, buf, len);
	io->peer_len = len;
	io->peer_flags = flags;
}

static inline int
fio_tcp_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res)
{
	struct fake_io *io = ctx;
	int rc;

	CHECK(!req->even_port && !req->reserve_next && !req->dont_fragment && req->adopt < 0);
	rc = fio_open(ctx, req, res);
	if (rc == 0)
		io->relays[res->handle].tcp = true;
	return rc;
}

static inline void
fio_tcp_relay_close(void *ctx, int handle)
{
	struct fake_io *io = ctx;

	REQUIRE(handle >= 0 && handle < H_MAX_HANDLES);
	CHECK(io->relays[handle].tcp);
	fio_close(ctx, handle);
}

static inline int
fio_tcp_connect(void *ctx, int relay_handle, const struct ice_addr *peer, uint32_t id)
{
	struct fake_io *io = ctx;

	REQUIRE(relay_handle >= 0 && relay_handle < H_MAX_HANDLES);
	CHECK(io->relays[relay_handle].open && io->relays[relay_handle].tcp);
	io->n_tcp_connects++;
	io->last_tcp_relay = relay_handle;
	io->last_tcp_peer = *peer;
	io->last_tcp_id = id;
	if (io->tcp_fail) {
		int rc = io->tcp_fail;

		io->tcp_fail = 0;
		return rc;
	}
	if (io->tcp_next >= H_TCP_MAX)
		return -EMFILE;
	io->tcp_open[io->tcp_next] = true;
	io->tcp_ids[io->tcp_next] = id;
	io->tcp_live++;
	return H_TCP_BASE + io->tcp_next++;
}

/* The index of an open peer data connection handle (CHECKs it is one). */
static inline int
fio_tcp_index(const struct fake_io *io, int handle)
{
	int i = handle - H_TCP_BASE;

	REQUIRE(i >= 0 && i < H_TCP_MAX);
	CHECK(io->tcp_open[i]);
	return i;
}

static inline void
fio_tcp_bind(void *ctx, int handle, const struct turn_5tuple *ft)
{
	struct fake_io *io = ctx;

	(void)fio_tcp_index(io, handle);
	io->n_tcp_binds++;
	io->last_bind_handle = handle;
	io->last_bind_ft = *ft;
}

static inline void
fio_tcp_close(void *ctx, int handle)
{
	struct fake_io *io = ctx;

	io->tcp_open[fio_tcp_index(io, handle)] = false;
	io->n_tcp_closes++;
	io->last_close = handle;
	io->tcp_live--;
}

static inline void
fio_link_hold(void *ctx, void *link, int delta)
{
	struct fake_io *io = ctx;

	REQUIRE(link != NULL);
	io->holds += delta;
	CHECK(io->holds >= 0);
}

static inline void
fio_event(void *ctx, const struct turn_event *ev)
{
	struct fake_io *io = ctx;

	io->events[ev->kind]++;
	io->last_event = *ev;
	io->last_event.user = NULL; /* borrowed for the call only */
	io->last_event.ft = NULL;
	io->last_event.peer = NULL;
	io->last_event.relay = NULL;
	io->last_event.traffic = NULL;
	if (ev->kind == TURN_EV_ALLOC_END)
		io->last_traffic = *ev->traffic;
}

struct harness {
	struct ice_config cfg;    /* what a test sets; h_start turns it into set */
	struct turn_settings set; /* as net's generation would fill it */
	struct ice_cidr self[4];
	char *secrets[2];
	struct turn_shared *sh;
	struct turn_server *srv;
	struct fake_io *io;
	struct turn_io tio;
	struct ice_metrics *m;
	bool io_borrowed; /* h->io was given to h_start (fuzz_turn reuses one) */
	ice_ms_t now;
	struct turn_5tuple ft;
	struct tcred cred;
	uint8_t nonce[STUN_MAX_NONCE_LEN];
	size_t nonce_len;
	struct stun_msg resp; /* the last response parsed */
	bool sha256;          /* sign with MESSAGE-INTEGRITY-SHA256 */
	uint32_t lifetime;    /* LIFETIME for h_allocate, 0 = none */
	int stale_retries;    /* 438s that h_send_signed answered by retrying */
	bool no_tcp_io;       /* set before h_start: net without RFC 6062 relays */
	/* Set before h_start: the worker id, and another harness's shared
	 * state to join (a second worker; h_stop leaves it to its owner). */
	unsigned wid;
	struct turn_shared *join;
	bool cluster_nonce; /* set before h_start: the nonce key from the secret, as a cluster's */
};

static inline void
h_cidr(struct ice_cidr *c, const char *s)
{
	REQUIRE(ice_cidr_parse(c, s) == 0);
}

/* Configuration defaults for the tests (before h_start). */
static inline void
h_config(struct harness *h)
{
	struct ice_config_turn *t = &h->cfg.turn;

	memset(h, 0, sizeof(*h));
	t->enabled = true;
	t->port = 3478;
	t->realm = (char *)H_REALM;
	REQUIRE(ice_addr_parse_ip(&t->public_ip.addr, "203.0.113.10", 0) == 0);
	h->secrets[0] = (char *)H_SECRET;
	h->secrets[1] = (char *)H_OLD_SECRET;
	t->auth_secrets[0] = h->secrets[0];
	t->auth_secrets[1] = h->secrets[1];
	t->auth_secret_lens[0] = strlen(H_SECRET);
	t->auth_secret_lens[1] = strlen(H_OLD_SECRET);
	t->n_auth_secrets = 2;
	h_cidr(&t->relay_ip_range[0], "198.51.100.0/28");
	t->n_relay_ip_range = 1;
	t->relay_port_min = 49152;
	t->relay_port_max = 65535;
	t->max_allocations = 100;
	t->max_allocations_per_user = 5;
	t->allocations_per_minute_per_user = 10;
	t->allocation_lifetime_s = 600;
	t->tcp_relay = true;
}

/* Also offer IPv6 relays. */
static inline void
h_config_v6(struct harness *h)
{
	h_cidr(&h->cfg.turn.relay_ip_range[h->cfg.turn.n_relay_ip_range++], "2001:db8:1::/64");
}

static inline void
h_set_client(struct harness *h, const char *ip, uint16_t port, uint8_t proto)
{
	REQUIRE(ice_addr_parse_ip(&h->ft.client, ip, port) == 0);
	REQUIRE(ice_addr_parse_ip(&h->ft.server, "203.0.113.10", 3478) == 0);
	h->ft.proto = proto;
	h->ft.link = &h->ft;
}

static inline void
h_mint(struct harness *h, const char *secret, int64_t ttl, const char *user)
{
	tcred_mint(&h->cred, secret, (uint64_t)((int64_t)H_UNIX0 + ttl), user, H_REALM,
	           STUN_PASSWORD_ALG_MD5);
}

/*
 * The settings net would give turn for h->cfg: live keys from cfg, the
 * server's own addresses (public IP, relay range) as self, relays in the
 * families of the relay ranges.
 */
static inline void
h_settings(struct harness *h)
{
	const struct ice_config_turn *t = &h->cfg.turn;
	struct turn_settings *s = &h->set;
	struct ice_cidr pub = { .family = t->public_ip.addr.family };

	memset(s, 0, sizeof(*s));
	s->realm = t->realm;
	s->secrets = (const char *const *)t->auth_secrets;
	s->secret_lens = t->auth_secret_lens;
	s->n_secrets = t->n_auth_secrets;
	s->allocation_lifetime_s = t->allocation_lifetime_s;
	s->max_allocations = t->max_allocations;
	s->max_allocations_per_user = t->max_allocations_per_user;
	s->allocations_per_minute_per_user = t->allocations_per_minute_per_user;
	if (t->public_ip.addr.family == AF_INET)
		s->public_v4 = t->public_ip.addr;
	else
		s->public_v6 = t->public_ip.addr;
	s->relay_ip_range = t->relay_ip_range;
	s->n_relay_ip_range = t->n_relay_ip_range;
	for (size_t i = 0; i < t->n_relay_ip_range; i++) {
		s->relay_v4 |= t->relay_ip_range[i].family == AF_INET;
		s->relay_v6 |= t->relay_ip_range[i].family == AF_INET6;
	}
	s->denied_peer_ip = t->denied_peer_ip;
	s->n_denied_peer_ip = t->n_denied_peer_ip;
	s->allowed_peer_ip = t->allowed_peer_ip;
	s->n_allowed_peer_ip = t->n_allowed_peer_ip;
	s->relay_port_min = t->relay_port_min;
	s->relay_port_max = t->relay_port_max;
	s->alternate_server = t->alternate_server;
	s->mobility = t->mobility;
	s->max_bps_per_allocation = t->max_bps_per_allocation;
	s->max_bps_per_user = t->max_bps_per_user;
	s->max_bytes_per_user_per_day = t->max_bytes_per_user_per_day;
	s->budget_floor_bps = t->budget_floor_bps;
	s->bps_capacity = t->bps_capacity;
	s->tcp_relay = t->tcp_relay;
	s->max_tcp_connections = t->max_tcp_connections;
	s->workers = h->cfg.workers ? h->cfg.workers : 1;
	s->credential_format = (uint8_t)t->credential_format;
	s->credential_grace_s = t->credential_grace_s;
	s->userhash_table_size = t->userhash ? t->userhash_table_size : 0;
	if (h->cluster_nonce) { /* as net's gen.c does with cluster.enabled */
		struct ltc_nonce_key k;

		REQUIRE(ltc_nonce_key_from_bytes(&k, (const uint8_t *)s->secrets[0],
		                                 s->secret_lens[0]) == 0);
		s->nonce_key_shared = true;
		s->shared_nonce_key = k.k;
	}
	pub.prefix = pub.family == AF_INET ? 32 : 128;
	memcpy(pub.ip, t->public_ip.addr.ip, sizeof(pub.ip));
	h->self[0] = pub;
	s->n_self = 1;
	for (size_t i = 0; i < t->n_relay_ip_range && s->n_self < 4; i++)
		h->self[s->n_self++] = t->relay_ip_range[i];
	s->self = h->self;
}

/*
 * Zero a fake_io for a new run. Only the relays the last run handed out
 * were touched, so a reused one costs what that run used, not the 2 MB of
 * the whole array (fuzz_turn runs this per input).
 */
static inline void
fio_reset(struct fake_io *io)
{
	memset(io->relays, 0, (size_t)io->next_handle * sizeof(io->relays[0]));
	memset(&io->next_handle, 0, sizeof(*io) - offsetof(struct fake_io, next_handle));
}

/* Start the server. With h->io already set (a fake_io the caller keeps
 * across runs), that one is reset and used, and h_stop leaves it. */
static inline void
h_start(struct harness *h)
{
	h->io_borrowed = h->io != NULL;
	if (h->io_borrowed)
		fio_reset(h->io);
	else
		h->io = calloc(1, sizeof(*h->io));
	REQUIRE(h->io != NULL);
	h->io->next_port = 50000;
	h->tio.relay_open = fio_open;
	h->tio.relay_close = fio_close;
	h->tio.send_client = fio_send_client;
	h->tio.send_peer = fio_send_peer;
	h->tio.link_hold = fio_link_hold;
	if (!h->no_tcp_io)
		h->tio.tcp_relay_open = fio_tcp_relay_open;
	h->tio.tcp_relay_close = fio_tcp_relay_close;
	h->tio.tcp_connect = fio_tcp_connect;
	h->tio.tcp_bind = fio_tcp_bind;
	h->tio.tcp_close = fio_tcp_close;
	h->tio.event = fio_event;
	h->tio.ctx = h->io;
	h->tio.dont_fragment = true;
	h->now = H_T0;
	h_settings(h);
	h->sh = h->join != NULL ? h->join : turn_shared_new(&h->set);
	REQUIRE(h->sh != NULL);
	h->srv = turn_server_new(&h->set, h->sh, &h->tio, h->wid, h->now, H_UNIX0);
	REQUIRE(h->srv != NULL);
	if (h->m == NULL)
		h->m = ice_metrics_block_new();
	REQUIRE(h->m != NULL);
	memset(h->m, 0, sizeof(*h->m));
	turn_server_set_metrics(h->srv, h->m);
	h_set_client(h, "192.0.2.1", 40000, TURN_PROTO_UDP);
	h_mint(h, H_SECRET, 3600, "did:peers:alice");
}

static inline void
h_stop(struct harness *h)
{
	turn_server_free(h->srv);
	/* Every relay socket, dormant reservations included, was closed, and
	 * every stream's hold given back. */
	CHECK_EQ_INT(h->io->n_open, 0);
	CHECK_EQ_INT(h->io->holds, 0);
	CHECK_EQ_INT(h->io->tcp_live, 0);
	if (h->join == NULL)
		turn_shared_free(h->sh);
	if (!h->io_borrowed) {
		free(h->io);
		h->io = NULL; /* a later h_start on this harness makes its own */
	}
	h->srv = NULL;
}

static inline uint64_t
h_metric(const struct harness *h, enum ice_metric_id id)
{
	return atomic_load(&h->m->v[id]);
}

/* A peer connects to TCP relay relay_handle from peer (as net's accept):
 * turn_tcp_accepted's result; kept ones get *handle and *id. */
static inline int
h_tcp_accept(struct harness *h, int relay_handle, const struct ice_addr *peer, int *handle,
             uint32_t *id)
{
	struct fake_io *io = h->io;
	int rc, i = io->tcp_next;

	if (i >= H_TCP_MAX)
		return -EMFILE;
	rc = turn_tcp_accepted(h->srv, relay_handle, peer, H_TCP_BASE + i, h->now, id);
	if (rc < 0)
		return rc;
	io->tcp_next++;
	io->tcp_open[i] = true;
	io->tcp_ids[i] = *id;
	io->tcp_live++;
	*handle = H_TCP_BASE + i;
	return 0;
}

/* Net closed peer data connection handle (a side hung up): turn is told. */
static inline void
h_tcp_closed(struct harness *h, int handle)
{
	int i = fio_tcp_index(h->io, handle);

	h->io->tcp_open[i] = false;
	h->io->tcp_live--;
	turn_tcp_closed(h->srv, h->io->tcp_ids[i], h->now);
}

/* Advance the fake clock and run the timers. */
static inline void
h_at(struct harness *h, ice_ms_t t)
{
	h->now = t;
	turn_expire(h->srv, t);
}

/*
 * Feed r to the server; parse the answer into h->resp. Returns its error code,
 * 0 for success, -1 when nothing was sent.
 */
static inline int
h_send(struct harness *h, struct treq *r)
{
	int before = h->io->n_client;

	turn_handle_stun(h->srv, &r->msg, &h->ft, h->now);
	if (h->io->n_client == before)
		return -1;
	CHECK(h->io->client_where == TURN_BUF_SCRATCH);
	REQUIRE(stun_parse(&h->resp, h->io->client_buf, h->io->client_len) ==
	        (int)h->io->client_len);
	CHECK(memcmp(h->resp.tid, r->tid, STUN_TID_LEN) == 0);
	CHECK(h->resp.method == r->msg.method);
	CHECK(h->resp.fingerprint >= 0);
	if (h->resp.cls == STUN_CLASS_ERROR) {
		const struct stun_attr *n = stun_msg_find(&h->resp, STUN_ATTR_NONCE);

		if (n != NULL) { /* remember the fresh nonce like a client would */
			memcpy(h->nonce, n->value, n->len);
			h->nonce_len = n->len;
		}
	}
	return tmsg_code(&h->resp);
}

/* Sign with h->cred and the current nonce, then send: exactly one try. */
static inline int
h_send_signed_once(struct harness *h, struct treq *r)
{
	treq_sign(r, &h->cred, H_REALM, h->nonce, h->nonce_len, h->sha256);
	treq_finish(r);
	return h_send(h, r);
}

/*
 * Sign and send like a client: on 438 (stale nonce) re-sign the same
 * request body with the fresh nonce and send it once more.
 */
static inline int
h_send_signed(struct harness *h, struct treq *r)
{
	size_t body = r->b.len;
	int code;

	code = h_send_signed_once(h, r);
	if (code != 438)
		return code;
	h->stale_retries++;
	/* Cut back to before USERNAME and rebuild under a new transaction id. */
	{
		struct treq again;

		treq_begin(&again, r->msg.method, r->msg.cls);
		memcpy(again.buf + STUN_HEADER_LEN, r->buf + STUN_HEADER_LEN,
		       body - STUN_HEADER_LEN);
		again.b.len = body;
		code = h_send_signed_once(h, &again);
		*r = again;
	}
	return code;
}

/* First leg: an unauthenticated Allocate, answered 401 with a nonce. */
static inline void
h_get_nonce(struct harness *h)
{
	struct treq r;

	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(h, &r), 401);
	CHECK(h->nonce_len > 0);
}

/* The response was signed with the credential's key (MI or MI-SHA256). */
static inline bool
h_resp_signed(const struct harness *h)
{
	return stun_msg_check_integrity(&h->resp, h->cred.key, (size_t)h->cred.key_len) == 0;
}

/* A plain signed Allocate (UDP); returns its code. */
static inline int
h_allocate(struct harness *h)
{
	struct treq r;

	if (h->nonce_len == 0)
		h_get_nonce(h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	if (h->lifetime)
		stun_build_u32(&r.b, STUN_ATTR_LIFETIME, h->lifetime);
	return h_send_signed(h, &r);
}

static inline int
h_refresh(struct harness *h, int64_t lifetime)
{
	struct treq r;

	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	if (lifetime >= 0)
		stun_build_u32(&r.b, STUN_ATTR_LIFETIME, (uint32_t)lifetime);
	return h_send_signed(h, &r);
}

static inline int
h_permission(struct harness *h, const char *ip, uint16_t port)
{
	struct ice_addr a;
	struct treq r;

	REQUIRE(ice_addr_parse_ip(&a, ip, port) == 0);
	treq_begin(&r, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	return h_send_signed(h, &r);
}

static inline int
h_bind(struct harness *h, uint16_t channel, const char *ip, uint16_t port)
{
	struct ice_addr a;
	struct treq r;

	REQUIRE(ice_addr_parse_ip(&a, ip, port) == 0);
	treq_begin(&r, STUN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST);
	stun_build_channel(&r.b, channel);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	return h_send_signed(h, &r);
}

/* The relayed address of the last Allocate success (family-th XOR-RELAYED-ADDRESS). */
static inline struct ice_addr
h_relayed(const struct harness *h, int nth)
{
	struct ice_addr a;
	const struct stun_attr *at;
	int seen = 0;

	memset(&a, 0, sizeof(a));
	stun_attr_foreach(&h->resp, at) {
		if (at->type == STUN_ATTR_XOR_RELAYED_ADDRESS && seen++ == nth)
			REQUIRE(stun_attr_xor_addr(&h->resp, at, &a) == 0);
	}
	return a;
}

/* The fake relay handle bound to port, or -1. */
static inline int
h_handle_of(const struct harness *h, uint16_t port)
{
	for (int i = 0; i < h->io->next_handle; i++)
		if (h->io->relays[i].open && h->io->relays[i].addr.port == port)
			return i;
	return -1;
}

/* Deliver a datagram from peer ip:port to relay handle; returns client sends made. */
static inline int
h_from_peer(struct harness *h, int handle, const char *ip, uint16_t port, const char *payload)
{
	uint8_t slot[H_SLOT];
	size_t len = strlen(payload);
	struct ice_addr a;
	int before = h->io->n_client;

	REQUIRE(ice_addr_parse_ip(&a, ip, port) == 0);
	memset(slot, 0xee, sizeof(slot));
	memcpy(slot + TURN_PEER_HEADROOM, payload, len);
	turn_handle_peer(h->srv, handle, &a, slot + TURN_PEER_HEADROOM, len, h->now);
	if (h->io->n_client != before)
		CHECK(h->io->client_where == TURN_BUF_CALLER);
	return h->io->n_client - before;
}

/* Client ChannelData; returns peer sends made. */
static inline int
h_channeldata(struct harness *h, uint16_t channel, const char *payload)
{
	int before = h->io->n_peer;

	turn_handle_channeldata(h->srv, &h->ft, channel, (const uint8_t *)payload, strlen(payload),
	                        h->now);
	return h->io->n_peer - before;
}

/* Client Send indication to ip:port; returns peer sends made. */
static inline int
h_send_ind(struct harness *h, const char *ip, uint16_t port, const char *payload, bool df)
{
	struct ice_addr a;
	struct treq r;
	int before = h->io->n_peer;

	REQUIRE(ice_addr_parse_ip(&a, ip, port) == 0);
	treq_begin(&r, STUN_METHOD_SEND, STUN_CLASS_INDICATION);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	stun_build_attr(&r.b, STUN_ATTR_DATA, payload, strlen(payload));
	if (df)
		stun_build_attr(&r.b, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(h, &r), -1); /* indications are never answered */
	return h->io->n_peer - before;
}

#endif
