/*
 * RFC 8016 mobility on the fake clock: the ticket an Allocate asks for; a
 * Refresh from a new 5-tuple moves the allocation with its relay,
 * permissions and channels, and the old 5-tuple loses it; a forged,
 * expired, replayed or foreign-worker ticket, a gone allocation, another
 * user's credential, mobility off (405) and a non-empty ticket in an
 * Allocate each get their error; a TCP allocation moves its stream hold.
 */
#include "icestation/auth_ticket.h"

#include "turn_harness.h"

#define CLIENT "192.0.2.1"

struct ticket {
	uint8_t b[256];
	size_t len;
};

/* The MOBILITY-TICKET of the last response into t; false when it has none. */
static bool
take_ticket(const struct harness *h, struct ticket *t)
{
	const struct stun_attr *at = stun_msg_find(&h->resp, STUN_ATTR_MOBILITY_TICKET);

	if (at == NULL || at->len > sizeof(t->b))
		return false;
	memcpy(t->b, at->value, at->len);
	t->len = at->len;
	return true;
}

/* A signed Allocate carrying a MOBILITY-TICKET of len bytes (0: the request for one). */
static int
allocate_mobile(struct harness *h, size_t ticket_len)
{
	uint8_t junk[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct treq r;

	if (h->nonce_len == 0)
		h_get_nonce(h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_MOBILITY_TICKET, junk, ticket_len);
	return h_send_signed(h, &r);
}

/* A signed Refresh with ticket t from the harness's current 5-tuple. */
static int
refresh_with(struct harness *h, const struct ticket *t)
{
	struct treq r;

	if (h->nonce_len == 0)
		h_get_nonce(h);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_MOBILITY_TICKET, t->b, t->len);
	return h_send_signed(h, &r);
}

static void
start(struct harness *h)
{
	h_config(h);
	h->cfg.turn.mobility = true;
	h_start(h);
	h_set_client(h, CLIENT, 1000, TURN_PROTO_UDP);
}

static void
test_move(void)
{
	struct harness h;
	struct ticket t0, t1, t2;
	struct treq r;
	int relay, retries;

	start(&h);
	CHECK_EQ_INT(allocate_mobile(&h, 0), 0);
	REQUIRE(take_ticket(&h, &t0));
	CHECK(t0.len > ICE_TICKET_OVERHEAD);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_GRANTED), 1);
	CHECK_EQ_INT(h_permission(&h, "1.1.1.1", 5000), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4001, "8.8.8.8", 6000), 0);
	/* A plain Refresh of a mobile allocation carries a fresh ticket too. */
	CHECK_EQ_INT(h_refresh(&h, 600), 0);
	REQUIRE(take_ticket(&h, &t1));
	CHECK(t1.len == t0.len && memcmp(t1.b, t0.b, t0.len) != 0);

	/* The client's port changes. Its nonce is bound to the old 5-tuple: the
	 * first try gets 438 with a nonce for the new one and moves nothing. */
	h_set_client(&h, CLIENT, 2000, TURN_PROTO_UDP);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_MOBILITY_TICKET, t1.b, t1.len);
	CHECK_EQ_INT(h_send_signed_once(&h, &r), 438);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_NONCE) != NULL);
	CHECK_EQ_INT(h.io->client_ft.client.port, 2000);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_NONCE_BAD), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_MOVED), 0);
	CHECK_EQ_INT(h_refresh(&h, 600), 437); /* not moved: still not ours */
	/* The same ticket with that nonce moves the allocation. */
	retries = h.stale_retries;
	CHECK_EQ_INT(refresh_with(&h, &t1), 0);
	CHECK_EQ_INT(h.stale_retries, retries);
	CHECK(h_resp_signed(&h));
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_LIFETIME) != NULL);
	REQUIRE(take_ticket(&h, &t2));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_MOVED), 1);
	CHECK_EQ_INT(h.io->events[TURN_EV_ALLOC_MOVED], 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOCATIONS), 1);
	/* Permission and channel came along: peer data reaches the new port. */
	relay = h_handle_of(&h, h.io->relays[0].addr.port);
	CHECK_EQ_INT(h_from_peer(&h, relay, "1.1.1.1", 5000, "via-permission"), 1);
	CHECK_EQ_INT(h.io->client_ft.client.port, 2000);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 6000, "via-channel"), 1);
	CHECK_EQ_INT(h.io->client_ft.client.port, 2000);
	CHECK_EQ_INT(h_channeldata(&h, 0x4001, "up"), 1);
	/* The old 5-tuple no longer reaches it. */
	h_set_client(&h, CLIENT, 1000, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_refresh(&h, 600), 437);
	CHECK_EQ_INT(h_channeldata(&h, 0x4001, "stale"), 0);

	/* Replayed: the ticket used for the move, or any older one. */
	h_set_client(&h, CLIENT, 3000, TURN_PROTO_UDP);
	CHECK_EQ_INT(refresh_with(&h, &t1), 400);
	CHECK_EQ_INT(refresh_with(&h, &t0), 400);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_REPLAYED), 2);
	/* Forged: one bit flipped anywhere. */
	t2.b[t2.len / 2] ^= 0x10;
	CHECK_EQ_INT(refresh_with(&h, &t2), 400);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_BAD_TICKET), 1);
	t2.b[t2.len / 2] ^= 0x10;
	/* Another user's (valid) credential: 441, nothing moves. */
	h_mint(&h, H_SECRET, 3600, "did:peers:mallory");
	CHECK_EQ_INT(refresh_with(&h, &t2), 441);
	h_mint(&h, H_SECRET, 3600, "did:peers:alice");
	h_set_client(&h, CLIENT, 2000, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_refresh(&h, 600), 0); /* still at 2000 */
	/* The right one, again from a new port: moves a second time. */
	REQUIRE(take_ticket(&h, &t2));
	h_set_client(&h, CLIENT, 3000, TURN_PROTO_UDP);
	CHECK_EQ_INT(refresh_with(&h, &t2), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_MOVED), 2);
	/* Deleted: its ticket then names nothing (437). */
	REQUIRE(take_ticket(&h, &t2));
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	h_set_client(&h, CLIENT, 4000, TURN_PROTO_UDP);
	CHECK_EQ_INT(refresh_with(&h, &t2), 437);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_GONE), 1);
	h_stop(&h);
}

static void
test_expired(void)
{
	struct harness h;
	struct ticket t;

	start(&h);
	h.lifetime = 600;
	CHECK_EQ_INT(allocate_mobile(&h, 0), 0);
	REQUIRE(take_ticket(&h, &t));
	/* The wall clock passes the allocation's expiry before its timer runs. */
	turn_server_set_unix_time(h.srv, H_UNIX0 + 601);
	h_set_client(&h, CLIENT, 1001, TURN_PROTO_UDP);
	CHECK_EQ_INT(refresh_with(&h, &t), 400);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_EXPIRED), 1);
	/* Two key epochs later the key itself is gone. */
	turn_server_set_unix_time(h.srv, H_UNIX0 + 2 * ICE_TICKET_EPOCH_S + 1);
	CHECK_EQ_INT(refresh_with(&h, &t), 400);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_EXPIRED), 2);
	h_stop(&h);
}

static void
test_refused(void)
{
	struct harness h;
	struct ticket t;
	struct turn_server *other;
	struct treq r;

	start(&h);
	/* An Allocate's ticket must be empty. */
	CHECK_EQ_INT(allocate_mobile(&h, 8), 400);
	CHECK_EQ_INT(allocate_mobile(&h, 0), 0);
	REQUIRE(take_ticket(&h, &t));

	/* Presented to another worker: 437, counted apart. */
	other = turn_server_new(&h.set, h.sh, &h.tio, 1, h.now, H_UNIX0);
	REQUIRE(other != NULL);
	turn_server_set_metrics(other, h.m);
	h_set_client(&h, CLIENT, 1500, TURN_PROTO_UDP);
	h.nonce_len = 0;
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_MOBILITY_TICKET, t.b, t.len);
	treq_sign(&r, &h.cred, H_REALM, h.nonce, h.nonce_len, false);
	treq_finish(&r);
	h.io->n_client = 0;
	turn_handle_stun(other, &r.msg, &h.ft, h.now);
	REQUIRE(h.io->n_client == 1);
	REQUIRE(stun_parse(&h.resp, h.io->client_buf, h.io->client_len) == (int)h.io->client_len);
	CHECK_EQ_INT(tmsg_code(&h.resp), 437);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_OTHER_WORKER), 1);
	turn_server_free(other);

	/* Mobility switched off by a reload: 405 for a move and for a new ask. */
	h.cfg.turn.mobility = false;
	h_settings(&h);
	(void)turn_server_reconfigure(h.srv, &h.set, h.now);
	CHECK_EQ_INT(refresh_with(&h, &t), 405);
	h_set_client(&h, CLIENT, 1600, TURN_PROTO_UDP);
	CHECK_EQ_INT(allocate_mobile(&h, 0), 405);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_MOBILITY_FORBIDDEN), 2);
	/* A client that does not ask gets no ticket. */
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_MOBILITY_TICKET) == NULL);
	h_stop(&h);
}

static void
test_tcp_move(void)
{
	struct harness h;
	struct turn_5tuple old;
	struct ticket t;
	int holds;

	start(&h);
	h_set_client(&h, CLIENT, 1700, TURN_PROTO_TCP);
	CHECK_EQ_INT(allocate_mobile(&h, 0), 0);
	REQUIRE(take_ticket(&h, &t));
	holds = h.io->holds;
	old = h.ft;
	/* A UDP 5-tuple cannot take a stream allocation. */
	h_set_client(&h, CLIENT, 1701, TURN_PROTO_UDP);
	CHECK_EQ_INT(refresh_with(&h, &t), 400);
	/* A new connection can; the old one's close then ends nothing. */
	h_set_client(&h, CLIENT, 1702, TURN_PROTO_TCP);
	CHECK_EQ_INT(refresh_with(&h, &t), 0);
	CHECK_EQ_INT(h.io->holds, holds);
	turn_close_5tuple(h.srv, &old, h.now);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOCATIONS), 1);
	CHECK_EQ_INT(h_refresh(&h, 600), 0);
	h_stop(&h);
}

int
main(void)
{
	test_move();
	test_expired();
	test_refused();
	test_tcp_move();
	TEST_DONE();
}
