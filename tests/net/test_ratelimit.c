/*
 * Token-bucket limiter, table-driven on a fake clock: exact allowances at the
 * burst edge and after refills, per-IP independence, IPv6 /64 grouping,
 * eviction accounting when the table is full, time standing still or
 * stepping back.
 */
#include <arpa/inet.h>

#include <string.h>

#include "icestation/ratelimit.h"

#include "testutil.h"

static struct ice_addr
ip(const char *s)
{
	struct ice_addr a;

	REQUIRE(ice_addr_parse_ip(&a, s, 1234) == 0);
	return a;
}

/* Count how many of n takes at time now pass. */
static int
take_n(struct ice_ratelimit *rl, const struct ice_addr *a, int n, ice_ms_t now)
{
	int ok = 0;

	while (n-- > 0)
		ok += ice_ratelimit_take(rl, a, now) != ICE_RL_DENY;
	return ok;
}

static void
test_burst_and_refill(const struct ice_siphash_key *key)
{
	/* 10 rps, burst 5: 5 at once, then one per 100 ms. */
	struct ice_ratelimit *rl = ice_ratelimit_new(10, 5, 1024, key);
	struct ice_addr a = ip("192.0.2.1");

	REQUIRE(rl != NULL);
	CHECK_EQ_INT(take_n(rl, &a, 8, 1000), 5);
	CHECK_EQ_INT(take_n(rl, &a, 1, 1099), 0);  /* 0.99 token */
	CHECK_EQ_INT(take_n(rl, &a, 2, 1100), 1);  /* exactly one refilled */
	CHECK_EQ_INT(take_n(rl, &a, 10, 1350), 2); /* 2.5 tokens: 2 pass, 0.5 kept */
	CHECK_EQ_INT(take_n(rl, &a, 1, 1400), 1);  /* 0.5 + 0.5 */
	/* A long pause refills to the burst, never beyond. */
	CHECK_EQ_INT(take_n(rl, &a, 100, 100000), 5);
	/* Time stepping back adds nothing. */
	CHECK_EQ_INT(take_n(rl, &a, 1, 50000), 0);
	/* The other port of the same IP shares the bucket. */
	a.port = 9999;
	CHECK_EQ_INT(take_n(rl, &a, 1, 100000), 0);
	ice_ratelimit_free(rl);
}

static void
test_independent_ips(const struct ice_siphash_key *key)
{
	struct ice_ratelimit *rl = ice_ratelimit_new(1, 3, 1024, key);
	struct ice_addr a = ip("127.0.0.1"), b = ip("127.0.0.2"), none;

	REQUIRE(rl != NULL);
	CHECK_EQ_INT(take_n(rl, &a, 10, 5), 3);
	CHECK_EQ_INT(take_n(rl, &b, 10, 5), 3);
	CHECK_EQ_INT(take_n(rl, &a, 10, 5), 0);
	memset(&none, 0, sizeof(none));
	CHECK_EQ_INT(ice_ratelimit_take(rl, &none, 5), ICE_RL_DENY);
	ice_ratelimit_free(rl);
}

static void
test_ipv6_prefix(const struct ice_siphash_key *key)
{
	struct ice_ratelimit *rl = ice_ratelimit_new(1, 4, 1024, key);
	struct ice_addr a1 = ip("2001:db8:1:2::1"), a2 = ip("2001:db8:1:2:ffff::9");
	struct ice_addr other = ip("2001:db8:1:3::1"), v4 = ip("32.1.13.184");

	REQUIRE(rl != NULL);
	/* Two hosts of one /64 share a bucket. */
	CHECK_EQ_INT(take_n(rl, &a1, 3, 0), 3);
	CHECK_EQ_INT(take_n(rl, &a2, 3, 0), 1);
	/* The next /64, and an IPv4 address equal to the first 4 bytes, do not. */
	CHECK_EQ_INT(take_n(rl, &other, 5, 0), 4);
	CHECK_EQ_INT(take_n(rl, &v4, 5, 0), 4);
	ice_ratelimit_free(rl);
}

static void
test_eviction(const struct ice_siphash_key *key)
{
	/* Capacity is rounded to the probe window: every key shares one
	 * window, so the 9th live IP must evict, and the evicted IP comes back
	 * with a fresh (full) bucket. */
	struct ice_ratelimit *rl = ice_ratelimit_new(1, 2, 1, key);
	struct ice_addr a[ICE_RATELIMIT_PROBE + 1];
	char s[32];
	int i, evicted = 0;

	REQUIRE(rl != NULL);
	CHECK_EQ_INT(ice_ratelimit_capacity(rl), ICE_RATELIMIT_PROBE);
	for (i = 0; i <= ICE_RATELIMIT_PROBE; i++) {
		snprintf(s, sizeof(s), "198.51.100.%d", i + 1);
		a[i] = ip(s);
	}
	/* Fill the table at t = 10 .. 17 (a[0] oldest). */
	for (i = 0; i < ICE_RATELIMIT_PROBE; i++)
		CHECK_EQ_INT(ice_ratelimit_take(rl, &a[i], (ice_ms_t)(10 + i)), ICE_RL_ALLOW);
	/* Drain a[0] to show whether its state survives. */
	CHECK_EQ_INT(take_n(rl, &a[0], 5, 18), 1);
	/* All live: the newcomer evicts the one seen longest ago (a[1], last
	 * use at t = 11; a[0] was just used). */
	CHECK_EQ_INT(ice_ratelimit_take(rl, &a[ICE_RATELIMIT_PROBE], 19), ICE_RL_ALLOW_EVICTED);
	/* a[0] is still tracked and still empty. */
	CHECK_EQ_INT(take_n(rl, &a[0], 1, 19), 0);
	/* Two seconds later every bucket (burst 2 at 1 rps) is full again:
	 * entries are stale, and reusing them is not an eviction. */
	for (i = 1; i < ICE_RATELIMIT_PROBE; i++) {
		snprintf(s, sizeof(s), "203.0.113.%d", i);
		struct ice_addr n = ip(s);
		evicted += ice_ratelimit_take(rl, &n, 5000) == ICE_RL_ALLOW_EVICTED;
	}
	CHECK_EQ_INT(evicted, 0);
	ice_ratelimit_free(rl);
}

static void
test_bad_params(const struct ice_siphash_key *key)
{
	CHECK(ice_ratelimit_new(0, 10, 16, key) == NULL);
	CHECK(ice_ratelimit_new(10, 0, 16, key) == NULL);
	ice_ratelimit_free(NULL);
}

/* Identities: one bucket per byte string, none shared with an address. */
static void
test_opaque_keys(const struct ice_siphash_key *key)
{
	struct ice_ratelimit *rl = ice_ratelimit_new(1, 3, 1024, key);
	struct ice_addr a = ip("192.0.2.1");
	static const char alice[] = "did:peers:alice", bob[] = "did:peers:bob";
	int ok = 0;

	REQUIRE(rl != NULL);
	for (int i = 0; i < 5; i++)
		ok += ice_ratelimit_take_key(rl, alice, strlen(alice), 1000) != ICE_RL_DENY;
	CHECK_EQ_INT(ok, 3);
	for (ok = 0; ok < 5 && ice_ratelimit_take_key(rl, bob, strlen(bob), 1000) != ICE_RL_DENY;
	     ok++)
		;
	CHECK_EQ_INT(ok, 3);
	/* The address's own 4 bytes as an identity: still another bucket. */
	CHECK_EQ_INT(take_n(rl, &a, 5, 1000), 3);
	CHECK(ice_ratelimit_take_key(rl, a.ip, 4, 1000) != ICE_RL_DENY);
	/* One second later alice has one token again. */
	CHECK(ice_ratelimit_take_key(rl, alice, strlen(alice), 2000) != ICE_RL_DENY);
	CHECK(ice_ratelimit_take_key(rl, alice, strlen(alice), 2000) == ICE_RL_DENY);
	ice_ratelimit_free(rl);
}

int
main(void)
{
	struct ice_siphash_key key;

	REQUIRE(ice_siphash_key_random(&key) == 0);
	test_burst_and_refill(&key);
	test_independent_ips(&key);
	test_ipv6_prefix(&key);
	test_eviction(&key);
	test_bad_params(&key);
	test_opaque_keys(&key);
	TEST_DONE();
}
