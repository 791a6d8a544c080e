/*
 * What the mailbox asks of a worker's state machine (control.c), on the fake
 * clock: a reload that changes the realm leaves live allocations in theirs;
 * a reload that denies a peer removes its permission and channel; drain
 * refuses Allocates (486, or 300 with ALTERNATE-SERVER) and lets live ones
 * refresh; a revocation refuses credentials minted before it; closing by
 * user and by id; the listing; an Allocate that waits for the cluster's
 * quota (pending.c).
 */
#include "icestation/turn_revoke.h"

#include "turn_harness.h"

static int
alloc_from(struct harness *h, uint16_t port, const char *user)
{
	h_set_client(h, "192.0.2.1", port, TURN_PROTO_UDP);
	h_mint(h, H_SECRET, 3600, user);
	return h_allocate(h);
}

/* Apply h->cfg again, as a reload does. */
static void
reload(struct harness *h)
{
	h_settings(h);
	(void)turn_server_reconfigure(h->srv, &h->set, h->now);
}

static void
test_realm_reload(void)
{
	struct harness h;
	const struct stun_attr *realm;

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 1000, "did:peers:alice"), 0);
	h.cfg.turn.realm = (char *)"renamed.example";
	reload(&h);
	/* The live allocation keeps its realm: its key still verifies. */
	CHECK_EQ_INT(h_refresh(&h, 600), 0);
	CHECK(h_resp_signed(&h));
	/* A new one is challenged in the new realm. */
	h_set_client(&h, "192.0.2.1", 1001, TURN_PROTO_UDP);
	h.nonce_len = 0;
	h_get_nonce(&h);
	realm = stun_msg_find(&h.resp, STUN_ATTR_REALM);
	REQUIRE(realm != NULL);
	CHECK(realm->len == strlen("renamed.example") &&
	      memcmp(realm->value, "renamed.example", realm->len) == 0);
	h_stop(&h);
}

static void
test_policy_reload(void)
{
	struct harness h;

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 1100, "did:peers:bob"), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	CHECK_EQ_INT(h_permission(&h, "1.1.1.1", 5000), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 2);
	h_cidr(&h.cfg.turn.denied_peer_ip[0], "8.8.8.0/24");
	h.cfg.turn.n_denied_peer_ip = 1;
	reload(&h);
	/* The channel and its permission went; the other permission stayed. */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_POLICY_REMOVED), 2);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 5000), 403);
	CHECK_EQ_INT(h_permission(&h, "1.1.1.1", 5000), 0);
	h_stop(&h);
}

static void
test_drain(void)
{
	struct harness h;
	const struct stun_attr *alt;
	struct ice_addr a;

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 1200, "did:peers:carol"), 0);
	h_settings(&h);
	h.set.draining = true;
	(void)turn_server_reconfigure(h.srv, &h.set, h.now);
	CHECK_EQ_INT(alloc_from(&h, 1201, "did:peers:carol"), 486);
	h_set_client(&h, "192.0.2.1", 1200, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_refresh(&h, 600), 0); /* the live one goes on */
	REQUIRE(ice_addr_parse_ip(&h.set.alternate_server, "203.0.113.99", 3478) == 0);
	(void)turn_server_reconfigure(h.srv, &h.set, h.now);
	CHECK_EQ_INT(alloc_from(&h, 1202, "did:peers:carol"), 300);
	alt = stun_msg_find(&h.resp, STUN_ATTR_ALTERNATE_SERVER);
	REQUIRE(alt != NULL);
	CHECK_EQ_INT(stun_attr_addr(alt, &a), 0);
	CHECK(ice_addr_equal(&a, &h.set.alternate_server));
	CHECK(h_resp_signed(&h)); /* an answer to an authenticated request */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_DRAINING), 2);
	h_stop(&h);
}

static void
test_revoke_and_close(void)
{
	struct harness h;
	struct turn_revocation rv = { .user = "did:peers:mallory", .user_len = 17 };
	struct turn_revocations *set;
	struct turn_alloc_info info[4];

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 1300, "did:peers:mallory"), 0);
	CHECK_EQ_INT(alloc_from(&h, 1301, "did:peers:mallory"), 0);
	CHECK_EQ_INT(alloc_from(&h, 1302, "did:peers:erin"), 0);
	CHECK_EQ_INT(turn_server_list(h.srv, NULL, 0, info, 0, 4, h.now), 3);
	CHECK_EQ_INT(turn_server_list(h.srv, "did:peers:erin", 14, info, 0, 4, h.now), 1);
	CHECK_STR(info[0].user, "did:peers:erin");
	CHECK_EQ_INT(info[0].client.port, 1302);
	/* Credentials minted before the revocation: H_UNIX0 + 3600 <= refuse_upto. */
	rv.revoked_at = H_UNIX0;
	rv.refuse_upto = H_UNIX0 + 86400;
	set = turn_revocations_new(&rv, 1);
	REQUIRE(set != NULL);
	h_settings(&h);
	h.set.revoked = set;
	(void)turn_server_reconfigure(h.srv, &h.set, h.now);
	CHECK_EQ_INT(turn_server_close_user(h.srv, "did:peers:mallory", 17, h.now), 2);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOC_END_REVOKED), 2);
	CHECK_EQ_INT(h.io->events[TURN_EV_ALLOC_END], 2);
	CHECK_EQ_INT(alloc_from(&h, 1303, "did:peers:mallory"), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_REVOKED), 1);
	/* Minted after the revocation (expiry past refuse_upto): accepted. */
	h_set_client(&h, "192.0.2.1", 1304, TURN_PROTO_UDP);
	h_mint(&h, H_SECRET, 86400 + 60, "did:peers:mallory");
	CHECK_EQ_INT(h_allocate(&h), 0);
	/* Close by id: erin's. */
	CHECK_EQ_INT(turn_server_list(h.srv, "did:peers:erin", 14, info, 0, 4, h.now), 1);
	CHECK_EQ_INT(turn_server_close_alloc(h.srv, info[0].id, h.now), 0);
	CHECK_EQ_INT(turn_server_close_alloc(h.srv, info[0].id, h.now), -ENOENT);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOC_END_KILLED), 1);
	h_stop(&h);
	turn_revocations_unref(set);
}


/* The cluster side of the io: asks recorded, releases counted. */
static struct {
	int asks, releases;
	uint64_t cookie;
	char user[64];
} cq;

static int
cq_ask(void *ctx, const char *user, size_t len, uint64_t cookie)
{
	(void)ctx;
	cq.asks++;
	cq.cookie = cookie;
	snprintf(cq.user, sizeof(cq.user), "%.*s", (int)len, user);
	return 0;
}

static void
cq_release(void *ctx, const char *user, size_t len)
{
	(void)ctx;
	(void)user;
	(void)len;
	cq.releases++;
}

/* The answer the server sent last, parsed into h->resp: its code. */
static int
last_answer(struct harness *h, int n_client_before)
{
	if (h->io->n_client == n_client_before)
		return -1;
	REQUIRE(stun_parse(&h->resp, h->io->client_buf, h->io->client_len) ==
	        (int)h->io->client_len);
	return tmsg_code(&h->resp);
}

static void
test_cluster_quota(void)
{
	struct harness h;
	struct treq r;
	int before;

	memset(&cq, 0, sizeof(cq));
	h_config(&h);
	h.tio.quota_ask = cq_ask;
	h.tio.quota_release = cq_release;
	h_start(&h);
	h.set.cluster_quota = true;
	(void)turn_server_reconfigure(h.srv, &h.set, h.now);

	/* Parked: nothing answered until the cluster does. */
	h_set_client(&h, "192.0.2.1", 1400, TURN_PROTO_UDP);
	h_mint(&h, H_SECRET, 3600, "did:peers:zed");
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	CHECK_EQ_INT(h_send_signed_once(&h, &r), -1);
	CHECK_EQ_INT(cq.asks, 1);
	CHECK(strstr(cq.user, "did:peers:zed") != NULL);
	/* Its retransmission is dropped, not asked again. */
	CHECK_EQ_INT(h_send(&h, &r), -1);
	CHECK_EQ_INT(cq.asks, 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CLUSTER_RETRANSMIT), 1);
	/* Admitted: the one answer is a success signed with the key. */
	before = h.io->n_client;
	turn_quota_answer(h.srv, cq.cookie, TURN_CQ_OK, h.now);
	CHECK_EQ_INT(last_answer(&h, before), 0);
	CHECK(memcmp(h.resp.tid, r.tid, STUN_TID_LEN) == 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOCATIONS), 1);

	/* Over the user's cluster-wide quota: 486. */
	h_set_client(&h, "192.0.2.1", 1401, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_allocate(&h), -1);
	before = h.io->n_client;
	turn_quota_answer(h.srv, cq.cookie, TURN_CQ_OVER_USER, h.now);
	CHECK_EQ_INT(last_answer(&h, before), 486);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CLUSTER_OVER), 1);
	CHECK_EQ_INT(cq.releases, 0); /* refused: nothing held */

	/* No answer within the wait: the local count decides; the late
	 * answer only releases what the cluster counted. */
	h_set_client(&h, "192.0.2.1", 1402, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_allocate(&h), -1);
	before = h.io->n_client;
	h_at(&h, h.now + 2001);
	CHECK_EQ_INT(last_answer(&h, before), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CLUSTER_TIMEOUT), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOCATIONS), 2);
	turn_quota_answer(h.srv, cq.cookie, TURN_CQ_OK, h.now);
	CHECK_EQ_INT(cq.releases, 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CLUSTER_LATE), 1);

	/* The client's stream went while it waited: the answer only releases. */
	h_set_client(&h, "192.0.2.1", 1403, TURN_PROTO_TCP);
	h.nonce_len = 0;
	CHECK_EQ_INT(h_allocate(&h), -1);
	turn_close_5tuple(h.srv, &h.ft, h.now);
	before = h.io->n_client;
	turn_quota_answer(h.srv, cq.cookie, TURN_CQ_OK, h.now);
	CHECK_EQ_INT(last_answer(&h, before), -1);
	CHECK_EQ_INT(cq.releases, 2);

	/* An admitted allocation that ends gives its count back. */
	h_set_client(&h, "192.0.2.1", 1400, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(cq.releases, 3);
	/* The local decision held nothing in the cluster: nothing released. */
	h_set_client(&h, "192.0.2.1", 1402, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(cq.releases, 3);
	h_stop(&h);
}

int
main(void)
{
	test_realm_reload();
	test_policy_reload();
	test_drain();
	test_revoke_and_close();
	test_cluster_quota();
	TEST_DONE();
}
