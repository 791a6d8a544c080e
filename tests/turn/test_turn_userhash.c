/*
 * USERHASH (RFC 8489 §14.4) over REST credentials: the table of usernames
 * the ICE API minted (RFC 8489 Appendix B.1's USERHASH vector, expiry,
 * eviction when full, duplicates, bounds), and the TURN state machine on a
 * fake clock with userhash on: the nonce cookie advertises username
 * anonymity, an Allocate carrying USERHASH instead of USERNAME is resolved
 * through the table, later requests match the allocation's own USERHASH (or
 * USERNAME) without it, another user's USERHASH gets 441, an unknown one 401;
 * with userhash off a USERHASH Allocate gets 401 and the cookie says nothing.
 */
#include "icestation/auth_userhash.h"

#include "codec/stun_vectors.h"
#include "turn_harness.h"

/* "マトリックス" in UTF-8, the username of RFC 8489 B.1. */
static const char matrix_user[] =
	"\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

static void
test_table(void)
{
	const uint8_t *b1_hash = rfc8489_b1 + STUN_HEADER_LEN + 4; /* the USERHASH value */
	uint8_t h[LTC_USERHASH_LEN], h2[LTC_USERHASH_LEN];
	struct ltc_userhash *t = ltc_userhash_new(3);
	char out[ICE_REST_USERNAME_MAX], name[32];
	int n;

	REQUIRE(t != NULL);
	/* RFC 8489 B.1: SHA-256("マトリックス:example.org") */
	REQUIRE(ltc_userhash_compute(matrix_user, strlen(matrix_user), "example.org", 11, h) == 0);
	CHECK(memcmp(h, b1_hash, LTC_USERHASH_LEN) == 0);
	CHECK_EQ_INT(ltc_userhash_find(t, b1_hash, 0, out, sizeof(out)), -ENOENT);
	CHECK_EQ_INT(ltc_userhash_add(t, matrix_user, strlen(matrix_user), "example.org", 11, 100),
	             0);
	n = ltc_userhash_find(t, b1_hash, 100, out, sizeof(out));
	CHECK_EQ_INT(n, (int)strlen(matrix_user));
	CHECK(n > 0 && memcmp(out, matrix_user, (size_t)n) == 0);
	CHECK_EQ_INT(ltc_userhash_find(t, b1_hash, 101, out, sizeof(out)), -ENOENT); /* expired */
	CHECK_EQ_INT(ltc_userhash_find(t, b1_hash, 100, out, 4), -ENOBUFS);
	/* the realm is part of the hash */
	REQUIRE(ltc_userhash_compute(matrix_user, strlen(matrix_user), "example.com", 11, h2) == 0);
	CHECK_EQ_INT(ltc_userhash_find(t, h2, 0, out, sizeof(out)), -ENOENT);
	/* the same username again is not a second entry */
	CHECK_EQ_INT(ltc_userhash_add(t, matrix_user, strlen(matrix_user), "example.org", 11, 100),
	             0);
	CHECK_EQ_INT(ltc_userhash_count(t), 1);
	/* full: the oldest gives way, one at a time */
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%d:user%d", 1000 + i, i);
		CHECK_EQ_INT(ltc_userhash_add(t, name, strlen(name), "example.org", 11, 1000), 0);
	}
	CHECK_EQ_INT(ltc_userhash_count(t), 3);
	CHECK_EQ_INT(ltc_userhash_find(t, b1_hash, 0, out, sizeof(out)), -ENOENT);
	REQUIRE(ltc_userhash_compute("1000:user0", 10, "example.org", 11, h) == 0);
	CHECK_EQ_INT(ltc_userhash_find(t, h, 0, out, sizeof(out)), 10);
	CHECK_EQ_INT(ltc_userhash_add(t, "1003:user3", 10, "example.org", 11, 1000), 0);
	CHECK_EQ_INT(ltc_userhash_find(t, h, 0, out, sizeof(out)), -ENOENT);
	REQUIRE(ltc_userhash_compute("1003:user3", 10, "example.org", 11, h) == 0);
	CHECK_EQ_INT(ltc_userhash_find(t, h, 0, out, sizeof(out)), 10);
	CHECK(memcmp(out, "1003:user3", 10) == 0);
	/* bounds */
	CHECK_EQ_INT(ltc_userhash_add(t, "", 0, "example.org", 11, 1), -ENAMETOOLONG);
	{
		char big[ICE_REST_USERNAME_MAX];

		memset(big, '1', sizeof(big));
		CHECK_EQ_INT(ltc_userhash_add(t, big, sizeof(big), "example.org", 11, 1),
		             -ENAMETOOLONG);
		CHECK_EQ_INT(ltc_userhash_add(t, big, sizeof(big) - 1, "example.org", 11, 1), 0);
	}
	ltc_userhash_free(t);
	CHECK(ltc_userhash_new(0) == NULL);
	ltc_userhash_free(NULL);
}

/* Many entries in a small table: every live one is found, every evicted one not. */
static void
test_table_churn(void)
{
	enum {
		CAP = 64,
		N = 1000
	};
	struct ltc_userhash *t = ltc_userhash_new(CAP);
	char name[32], out[ICE_REST_USERNAME_MAX];
	uint8_t h[LTC_USERHASH_LEN];
	int found = 0;

	REQUIRE(t != NULL);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "%d:did:peers:u%d", 5000 + i, i);
		REQUIRE(ltc_userhash_add(t, name, strlen(name), "r", 1, 5000 + (uint64_t)i) == 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "%d:did:peers:u%d", 5000 + i, i);
		REQUIRE(ltc_userhash_compute(name, strlen(name), "r", 1, h) == 0);
		if (ltc_userhash_find(t, h, 0, out, sizeof(out)) == (int)strlen(name)) {
			CHECK(memcmp(out, name, strlen(name)) == 0);
			CHECK(i >= N - CAP);
			found++;
		}
	}
	CHECK_EQ_INT(found, CAP);
	CHECK_EQ_INT(ltc_userhash_count(t), CAP);
	ltc_userhash_free(t);
}

/* What the ICE API does when it mints: record the username. */
static void
api_mint(struct harness *h, int64_t ttl, const char *user)
{
	h_mint(h, H_SECRET, ttl, user);
	REQUIRE(ltc_userhash_add(turn_shared_userhash(h->sh), h->cred.username,
	                         strlen(h->cred.username), H_REALM, strlen(H_REALM),
	                         (uint64_t)((int64_t)H_UNIX0 + ttl)) == 0);
}

/*
 * A request signed with h->cred but naming the user by USERHASH (or by
 * USERNAME when by_name), with the current nonce; once more on 438.
 */
static int
send_uh(struct harness *h, uint16_t method, bool by_name, const struct ice_addr *peer)
{
	uint8_t uh[LTC_USERHASH_LEN];
	struct treq r;
	int code = -1;

	REQUIRE(ltc_userhash_compute(h->cred.username, strlen(h->cred.username), H_REALM,
	                             strlen(H_REALM), uh) == 0);
	for (int attempt = 0; attempt < 2; attempt++) {
		treq_begin(&r, method, STUN_CLASS_REQUEST);
		if (method == STUN_METHOD_ALLOCATE)
			stun_build_requested_transport(&r.b, 17);
		if (peer != NULL)
			stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, peer);
		if (by_name)
			stun_build_attr(&r.b, STUN_ATTR_USERNAME, h->cred.username,
			                strlen(h->cred.username));
		else
			stun_build_attr(&r.b, STUN_ATTR_USERHASH, uh, sizeof(uh));
		stun_build_attr(&r.b, STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
		stun_build_attr(&r.b, STUN_ATTR_NONCE, h->nonce, h->nonce_len);
		stun_build_integrity(&r.b, h->cred.key, (size_t)h->cred.key_len);
		treq_finish(&r);
		code = h_send(h, &r);
		if (code != 438)
			break;
	}
	return code;
}

static void
test_turn_userhash_on(void)
{
	struct harness h;
	struct ice_addr peer;

	REQUIRE(ice_addr_parse_ip(&peer, "8.8.8.8", 0) == 0);
	h_config(&h);
	h.cfg.turn.userhash = true;
	h.cfg.turn.userhash_table_size = 16;
	h_start(&h);
	h_get_nonce(&h);
	/* bit 1, username anonymity, joins bit 0: "AAAD" */
	CHECK(memcmp(h.nonce, "obMatJos2AAAD", 13) == 0);

	api_mint(&h, 3600, "did:peers:alice");
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, false, NULL), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	/* later requests: by USERHASH (the allocation's tag) or by USERNAME */
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_REFRESH, false, NULL), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_CREATE_PERMISSION, false, &peer), 0);
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_REFRESH, true, NULL), 0);
	/* another user's valid USERHASH on this allocation: 441 */
	api_mint(&h, 3600, "did:peers:bob");
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_REFRESH, false, NULL), 441);
	/* a USERHASH no minted username has: 401 */
	h_mint(&h, H_SECRET, 3599, "did:peers:carol"); /* valid, but not recorded */
	h_set_client(&h, "192.0.2.1", 40001, TURN_PROTO_UDP);
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, false, NULL), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_BAD_USERNAME), 1);
	/* the same credential by USERNAME works, and then by USERHASH too (the
	 * Allocate computed its tag) */
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, true, NULL), 0);
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_REFRESH, false, NULL), 0);
	/* the quota is the resolved user's (harness: 5 per user): five
	 * credentials of bob, each another username, are one user */
	for (uint16_t port = 41000; port < 41005; port++) {
		h_set_client(&h, "192.0.2.1", port, TURN_PROTO_UDP);
		api_mint(&h, 3600 + port, "did:peers:bob");
		CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, false, NULL), 0);
	}
	h_set_client(&h, "192.0.2.1", 41005, TURN_PROTO_UDP);
	api_mint(&h, 3600, "did:peers:bob");
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, false, NULL), 486);
	/* an expired minted username: 401 */
	h_set_client(&h, "192.0.2.1", 41006, TURN_PROTO_UDP);
	api_mint(&h, -1, "did:peers:dave");
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, false, NULL), 401);
	h_stop(&h);
}

static void
test_turn_userhash_off(void)
{
	struct harness h;

	h_config(&h);
	h_start(&h);
	CHECK(turn_shared_userhash(h.sh) == NULL);
	h_get_nonce(&h);
	CHECK(memcmp(h.nonce, "obMatJos2AAAB", 13) == 0);
	h_mint(&h, H_SECRET, 3600, "did:peers:alice");
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, false, NULL), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_BAD_USERNAME), 1);
	CHECK_EQ_INT(h.io->opens, 0);
	/* made by USERNAME, the allocation has no USERHASH tag: 401 */
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_ALLOCATE, true, NULL), 0);
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_REFRESH, false, NULL), 401);
	CHECK_EQ_INT(send_uh(&h, STUN_METHOD_REFRESH, true, NULL), 0);
	h_stop(&h);
}

int
main(void)
{
	test_table();
	test_table_churn();
	test_turn_userhash_on();
	test_turn_userhash_off();
	TEST_DONE();
}
