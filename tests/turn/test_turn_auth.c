/*
 * TURN authentication and quotas on a fake clock: wrong secret, expired and
 * tampered credentials (401), stale nonce (438 with a fresh nonce that then
 * works), a nonce we never minted or one replayed from another 5-tuple (438
 * too), 441 for another user's valid credentials, secret rotation,
 * MESSAGE-INTEGRITY-SHA256 and the SHA-256 long-term key; bare-expiry
 * usernames; the expiry grace on an allocation's own requests; the
 * hex-sha256 credential format; quotas (486: total, per user, per-minute
 * sliding window and its undo on failure) and relay ports exhausted (508).
 */
#include "turn_harness.h"

static void
add_udp(struct stun_builder *b)
{
	stun_build_requested_transport(b, 17);
}

static void
test_auth_failures(void)
{
	struct harness h;
	uint8_t old_nonce[STUN_MAX_NONCE_LEN];
	size_t old_len;

	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);

	/* wrong secret */
	h_mint(&h, "guess", 3600, "did:peers:mallory");
	CHECK_EQ_INT(h_allocate(&h), 401);
	CHECK(h.resp.integrity < 0 && stun_msg_find(&h.resp, STUN_ATTR_NONCE) != NULL);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_BAD_INTEGRITY), 1);
	/* expired username */
	h_mint(&h, H_SECRET, -1, "did:peers:alice");
	CHECK_EQ_INT(h_allocate(&h), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_EXPIRED), 1);
	/* the wall clock moves through net's setter */
	h_mint(&h, H_SECRET, 10, "did:peers:alice");
	turn_server_set_unix_time(h.srv, H_UNIX0 + 11);
	CHECK_EQ_INT(h_allocate(&h), 401);
	turn_server_set_unix_time(h.srv, H_UNIX0);
	/* tampered credential: right username, password of another */
	{
		struct tcred other;

		h_mint(&h, H_SECRET, 3600, "did:peers:alice");
		tcred_mint(&other, H_SECRET, H_UNIX0 + 3600, "did:peers:bob", H_REALM,
		           STUN_PASSWORD_ALG_MD5);
		memcpy(h.cred.key, other.key, sizeof(other.key));
		CHECK_EQ_INT(h_allocate(&h), 401);
	}
	CHECK_EQ_INT(h.io->opens, 0);

	/* stale nonce: 438 with a fresh nonce, which then works */
	h_mint(&h, H_SECRET, 3600, "did:peers:alice");
	memcpy(old_nonce, h.nonce, h.nonce_len);
	old_len = h.nonce_len;
	h.now += LTC_NONCE_LIFETIME_MS;
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		stun_build_requested_transport(&r.b, 17);
		CHECK_EQ_INT(h_send_signed_once(&h, &r), 438);
	}
	CHECK(h.resp.integrity < 0);
	CHECK(h.nonce_len == old_len && memcmp(h.nonce, old_nonce, old_len) != 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_438), 1);
	CHECK_EQ_INT(h_allocate(&h), 0);
	/* forged nonce: 438 with a fresh nonce (a nonce we never minted), which
	 * then works */
	memset(h.nonce + 13, 'A', h.nonce_len - 13);
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		CHECK_EQ_INT(h_send_signed_once(&h, &r), 438);
	}
	CHECK(h.resp.integrity < 0 && memcmp(h.nonce, "obMatJos2AAAB", 13) == 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_NONCE_BAD), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_438), 2);
	/* Refresh without integrity on a live allocation: 401 challenge */
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		treq_finish(&r);
		CHECK_EQ_INT(h_send(&h, &r), 401);
	}
	CHECK_EQ_INT(h_refresh(&h, -1), 0); /* h_send kept the fresh nonce */

	/* a valid credential of another user on this allocation: 441 */
	h_mint(&h, H_SECRET, 3600, "did:peers:bob");
	CHECK_EQ_INT(h_refresh(&h, -1), 441);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 441);
	h_stop(&h);
}

static void
test_rotation_and_sha256(void)
{
	struct harness h;
	struct treq r;

	h_config(&h);
	h_start(&h);
	/* previous-auth-secrets are still accepted */
	h_mint(&h, H_OLD_SECRET, 3600, "did:peers:alice");
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_OLD_SECRET), 1);
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	h_stop(&h);

	/* MESSAGE-INTEGRITY-SHA256 in -> MESSAGE-INTEGRITY-SHA256 out */
	h_config(&h);
	h_start(&h);
	h.sha256 = true;
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK(h.resp.integrity_sha256 >= 0 && h.resp.integrity < 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	CHECK(h.resp.integrity_sha256 >= 0 && h_resp_signed(&h));
	h.sha256 = false; /* switching attribute type mid-allocation works too */
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	CHECK(h.resp.integrity >= 0 && h_resp_signed(&h));
	h_stop(&h);

	/* PASSWORD-ALGORITHM SHA-256: the SHA-256 long-term key */
	h_config(&h);
	h_start(&h);
	tcred_mint(&h.cred, H_SECRET, H_UNIX0 + 60, "did:peers:carol", H_REALM,
	           STUN_PASSWORD_ALG_SHA256);
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_password_algorithms(&r.b, ltc_password_algorithms, 2);
	stun_build_password_algorithm(&r.b, STUN_PASSWORD_ALG_SHA256);
	h.sha256 = true;
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK(h_resp_signed(&h));
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_password_algorithms(&r.b, ltc_password_algorithms, 2);
	stun_build_password_algorithm(&r.b, STUN_PASSWORD_ALG_SHA256);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK(h_resp_signed(&h));
	h_stop(&h);
}

/* ---- quotas ---- */

static int
alloc_from(struct harness *h, uint16_t port, const char *user)
{
	h_set_client(h, "192.0.2.1", port, TURN_PROTO_UDP);
	h_mint(h, H_SECRET, 3600, user);
	return h_allocate(h);
}

/*
 * Allocate from ip:port with an anonymous credential ("<expiry>:") living
 * ttl s. A nonce is bound to the client address: fetch a fresh one.
 */
static int
anon_from(struct harness *h, const char *ip, uint16_t port, int64_t ttl)
{
	h_set_client(h, ip, port, TURN_PROTO_UDP);
	h->nonce_len = 0;
	h_mint(h, H_SECRET, ttl, "");
	return h_allocate(h);
}

/* Refresh(0) the allocation of 192.0.2.1:port, signed as user; its answer code. */
static int
release_from(struct harness *h, uint16_t port, const char *user)
{
	h_set_client(h, "192.0.2.1", port, TURN_PROTO_UDP);
	h_mint(h, H_SECRET, 3600, user);
	return h_refresh(h, 0);
}

static void
test_quotas(void)
{
	struct harness h;

	/* max-allocations across users */
	h_config(&h);
	h.cfg.turn.max_allocations = 3;
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 1001, "u1"), 0);
	CHECK_EQ_INT(alloc_from(&h, 1002, "u2"), 0);
	CHECK_EQ_INT(alloc_from(&h, 1003, "u3"), 0);
	CHECK_EQ_INT(alloc_from(&h, 1004, "u4"), 486);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_TOTAL), 1);
	CHECK_EQ_INT(h.io->opens, 3);
	CHECK_EQ_INT(alloc_from(&h, 1002, "u2"), 437); /* its own: another transaction */
	h_set_client(&h, "192.0.2.1", 1002, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_refresh(&h, 0), 0); /* frees a slot */
	CHECK_EQ_INT(alloc_from(&h, 1004, "u4"), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 3);
	h_stop(&h);

	/* Anonymous credentials count per client address (IPv6: per /64), not
	 * per username: every API fetch mints a new one (another expiry). */
	h_config(&h);
	h.cfg.turn.max_allocations_per_user = 2;
	h_start(&h);
	CHECK_EQ_INT(anon_from(&h, "192.0.2.1", 3001, 3600), 0);
	CHECK_EQ_INT(anon_from(&h, "192.0.2.1", 3002, 3601), 0);
	CHECK_EQ_INT(anon_from(&h, "192.0.2.1", 3003, 3602), 486);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_USER), 1);
	CHECK_EQ_INT(anon_from(&h, "192.0.2.2", 3004, 3603), 0);
	CHECK_EQ_INT(anon_from(&h, "2001:db8:1:2::a", 3005, 3600), 0);
	CHECK_EQ_INT(anon_from(&h, "2001:db8:1:2::b", 3006, 3601), 0);
	CHECK_EQ_INT(anon_from(&h, "2001:db8:1:2::c", 3007, 3602), 486);
	CHECK_EQ_INT(anon_from(&h, "2001:db8:1:3::a", 3008, 3600), 0);
	/* A user's own quota is untouched by the address's anonymous one. */
	h.nonce_len = 0;
	CHECK_EQ_INT(alloc_from(&h, 3009, "did:peers:carol"), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_USER), 2);
	h_stop(&h);

	/* max-allocations-per-user; anonymous users from one address share one */
	h_config(&h);
	h.cfg.turn.max_allocations_per_user = 2;
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 2001, "did:peers:alice"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2002, "did:peers:alice"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2003, "did:peers:alice"), 486);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_USER), 1);
	CHECK_EQ_INT(alloc_from(&h, 2004, "did:peers:bob"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2005, ""), 0);
	CHECK_EQ_INT(alloc_from(&h, 2006, ""), 0);
	CHECK_EQ_INT(alloc_from(&h, 2007, ""), 486);
	CHECK_EQ_INT(release_from(&h, 2001, "did:peers:alice"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2003, "did:peers:alice"), 0);
	h_stop(&h);

	/* 0 turns a per-user limit off. Without a per-minute limit an idle
	 * user's entry goes at once; with neither limit none is made. */
	h_config(&h);
	h.cfg.turn.max_allocations_per_user = 2;
	h.cfg.turn.allocations_per_minute_per_user = 0;
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 2101, "did:peers:dave"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2102, "did:peers:dave"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2103, "did:peers:dave"), 486);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_USER), 1);
	CHECK_EQ_INT(turn_shared_users(h.sh), 1);
	for (uint16_t port = 2101; port <= 2102; port++)
		CHECK_EQ_INT(release_from(&h, port, "did:peers:dave"), 0);
	CHECK_EQ_INT(turn_shared_users(h.sh), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 0);
	for (int i = 0; i < 20; i++) { /* no per-minute limit: 20 in one instant */
		CHECK_EQ_INT(alloc_from(&h, (uint16_t)(2110 + i), "did:peers:erin"), 0);
		CHECK_EQ_INT(h_refresh(&h, 0), 0);
	}
	CHECK_EQ_INT(turn_shared_users(h.sh), 0);
	h_stop(&h);

	h_config(&h);
	h.cfg.turn.max_allocations = 3;
	h.cfg.turn.max_allocations_per_user = 0;
	h.cfg.turn.allocations_per_minute_per_user = 0;
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 2201, "did:peers:frank"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2202, "did:peers:frank"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2203, "did:peers:frank"), 0);
	CHECK_EQ_INT(alloc_from(&h, 2204, "did:peers:frank"),
	             486); /* max-allocations still holds */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_TOTAL), 1);
	CHECK_EQ_INT(turn_shared_users(h.sh), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 3);
	CHECK_EQ_INT(release_from(&h, 2202, "did:peers:frank"), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 2);
	h.io->fail_next = -EADDRINUSE; /* an Allocate that fails gives its count back too */
	CHECK_EQ_INT(alloc_from(&h, 2205, "did:peers:frank"), 508);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 2);
	CHECK_EQ_INT(alloc_from(&h, 2206, "did:peers:frank"), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 3);
	h_stop(&h);

	/* With a per-minute limit the entry outlives the allocation until its
	 * last Allocate leaves the window, then the tick reaps it. */
	h_config(&h);
	h.cfg.turn.allocations_per_minute_per_user = 3;
	h_start(&h);
	h.now = H_T0;
	CHECK_EQ_INT(alloc_from(&h, 3100, "did:peers:gina"), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(turn_shared_users(h.sh), 1);
	h_at(&h, H_T0 + 59999);
	CHECK_EQ_INT(turn_shared_users(h.sh), 1);
	h_at(&h, H_T0 + 60000);
	CHECK_EQ_INT(turn_shared_users(h.sh), 0);
	h_stop(&h);

	/* allocations-per-minute-per-user: a sliding 60 s window */
	h_config(&h);
	h.cfg.turn.allocations_per_minute_per_user = 3;
	h_start(&h);
	for (int i = 0; i < 3; i++) {
		h.now = H_T0 + (ice_ms_t)i * 10000; /* t0, t0+10s, t0+20s */
		CHECK_EQ_INT(alloc_from(&h, 3000, "did:peers:alice"), 0);
		CHECK_EQ_INT(h_refresh(&h, 0), 0);
	}
	h.now = H_T0 + 59999;
	CHECK_EQ_INT(alloc_from(&h, 3000, "did:peers:alice"), 486);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_USER_RATE), 1);
	CHECK_EQ_INT(alloc_from(&h, 3001, "did:peers:bob"), 0); /* others unaffected */
	h.now = H_T0 + 60000;                                   /* the first one left the window */
	CHECK_EQ_INT(alloc_from(&h, 3000, "did:peers:alice"), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	h.now = H_T0 + 69999;
	CHECK_EQ_INT(alloc_from(&h, 3000, "did:peers:alice"), 486);
	h.now = H_T0 + 70000;
	CHECK_EQ_INT(alloc_from(&h, 3000, "did:peers:alice"), 0);
	h_stop(&h);

	/* A failed Allocate gives its slot of the window back, whether it
	 * appended to the user's ring or overwrote its oldest entry. */
	h_config(&h);
	h.cfg.turn.allocations_per_minute_per_user = 2;
	h_start(&h);
	h.now = H_T0;
	CHECK_EQ_INT(alloc_from(&h, 5000, "did:peers:carol"), 0);
	h.io->fail_next = -EADDRINUSE; /* would fill the ring: appended, then undone */
	CHECK_EQ_INT(alloc_from(&h, 5001, "did:peers:carol"), 508);
	h.now = H_T0 + 1000;
	CHECK_EQ_INT(alloc_from(&h, 5002, "did:peers:carol"), 0);
	h.now = H_T0 + 2000;
	CHECK_EQ_INT(alloc_from(&h, 5003, "did:peers:carol"), 486); /* t0, t0+1s in window */
	h.now = H_T0 + 60000;
	h.io->fail_next = -EADDRINUSE; /* full ring: overwrote t0, then undone */
	CHECK_EQ_INT(alloc_from(&h, 5004, "did:peers:carol"), 508);
	CHECK_EQ_INT(alloc_from(&h, 5005, "did:peers:carol"), 0);   /* t0 left the window */
	CHECK_EQ_INT(alloc_from(&h, 5006, "did:peers:carol"), 486); /* t0+1s, t0+60s remain */
	h.now = H_T0 + 61000;
	CHECK_EQ_INT(alloc_from(&h, 5006, "did:peers:carol"), 0);
	h_stop(&h);
}

/*
 * Idle user entries are reaped from the timer tick once their minute has
 * passed, never before: the window holds across ticks, for short names (the
 * small pool class) and long ones (the large class) alike.
 */
static void
test_user_reap(void)
{
	struct harness h;
	char longname[200];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	h_config(&h);
	h.cfg.turn.allocations_per_minute_per_user = 1;
	h_start(&h);
	h.now = H_T0;
	CHECK_EQ_INT(alloc_from(&h, 6000, "did:peers:dave"), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(alloc_from(&h, 6001, longname), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	for (ice_ms_t t = 100; t < 60000; t += 100) {
		h.now = H_T0 + t;
		turn_expire(h.srv, h.now);
	}
	h.now = H_T0 + 59999;
	CHECK_EQ_INT(alloc_from(&h, 6002, "did:peers:dave"), 486);
	CHECK_EQ_INT(alloc_from(&h, 6003, longname), 486);
	h.now = H_T0 + 60000;
	turn_expire(h.srv, h.now); /* reaps both; they come back as new entries */
	CHECK_EQ_INT(alloc_from(&h, 6004, "did:peers:dave"), 0);
	CHECK_EQ_INT(alloc_from(&h, 6005, longname), 0);
	CHECK_EQ_INT(alloc_from(&h, 6006, longname), 486);
	h_stop(&h);
}

/* Relay ports exhausted: 508, and nothing is charged to the user. */
static void
test_ports_exhausted(void)
{
	struct harness h;

	h_config(&h);
	h.cfg.turn.allocations_per_minute_per_user = 1;
	h_start(&h);
	h.io->fail_next = -EADDRINUSE;
	CHECK_EQ_INT(h_allocate(&h), 508);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_PORTS), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_508), 1);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 0);
	/* the failed attempt did not use the user's one-per-minute */
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	h.io->fail_next = -EIO;
	CHECK_EQ_INT(alloc_from(&h, 4000, "did:peers:zed"), 500);
	h.io->fail_next = -EAFNOSUPPORT;
	CHECK_EQ_INT(alloc_from(&h, 4001, "did:peers:zed"), 440);
	h_stop(&h);
}

/* One unauthenticated Allocate from ip:port over proto: its code, -1 unanswered. */
static int
unauth_from(struct harness *h, const char *ip, uint16_t port, uint8_t proto)
{
	struct treq r;

	h_set_client(h, ip, port, proto);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	treq_finish(&r);
	return h_send(h, &r);
}

/* The 401 limiter: a budget of challenges per source address over UDP. */
static void
test_challenge_limit(void)
{
	struct ice_siphash_key key = { 1, 2 };
	struct ice_ratelimit *rl = ice_ratelimit_new(1, 3, 64, &key);
	struct harness h;

	REQUIRE(rl != NULL);
	h_config(&h);
	h_start(&h);
	turn_server_set_challenge_limit(h.srv, rl);
	for (uint16_t p = 4001; p <= 4003; p++) /* any port: the address pays */
		CHECK_EQ_INT(unauth_from(&h, "192.0.2.9", p, TURN_PROTO_UDP), 401);
	CHECK_EQ_INT(unauth_from(&h, "192.0.2.9", 4004, TURN_PROTO_UDP), -1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHALLENGE_SUPPRESSED), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_401), 3);
	/* Another address, and TCP from the same one: not limited. */
	CHECK_EQ_INT(unauth_from(&h, "192.0.2.10", 4005, TURN_PROTO_UDP), 401);
	CHECK_EQ_INT(unauth_from(&h, "192.0.2.9", 4006, TURN_PROTO_TCP), 401);
	/* One second later one token is back. */
	h.now += 1000;
	CHECK_EQ_INT(unauth_from(&h, "192.0.2.9", 4007, TURN_PROTO_UDP), 401);
	CHECK_EQ_INT(unauth_from(&h, "192.0.2.9", 4008, TURN_PROTO_UDP), -1);
	/* An authenticated request never pays, even with the bucket empty. */
	h.nonce_len = 0;
	turn_server_set_challenge_limit(h.srv, NULL);
	h_set_client(&h, "192.0.2.9", 4009, TURN_PROTO_UDP);
	h_get_nonce(&h);
	turn_server_set_challenge_limit(h.srv, rl);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHALLENGE_SUPPRESSED), 2);
	turn_server_set_challenge_limit(h.srv, NULL);
	h_stop(&h);
	ice_ratelimit_free(rl);
}

/* Send r once, signed with the current nonce, from the 5-tuple ft. */
static int
send_from(struct harness *h, const struct turn_5tuple *ft, struct treq *r)
{
	struct turn_5tuple keep = h->ft;
	int code;

	h->ft = *ft;
	code = h_send_signed_once(h, r);
	h->ft = keep;
	return code;
}

/*
 * A nonce is bound to the client side of the 5-tuple it was given to: the
 * same nonce from another client port, another client IP or over another
 * transport is answered 438 with a nonce for that 5-tuple, before any key is
 * derived; the client's retry then works. To another of our addresses it is
 * still good (the nodes behind one anycast address each see their own).
 */
static void
test_nonce_5tuple(void)
{
	struct harness h;
	struct turn_5tuple other;
	struct treq r;
	const struct {
		const char *what;
		const char *ip;
		uint16_t port;
		uint8_t proto;
		const char *server;
	} moves[] = {
		{ "client port", "192.0.2.1", 40001, TURN_PROTO_UDP, "203.0.113.10" },
		{ "client IP", "192.0.2.9", 40000, TURN_PROTO_UDP, "203.0.113.10" },
		{ "transport TCP", "192.0.2.1", 40000, TURN_PROTO_TCP, "203.0.113.10" },
		{ "transport TLS", "192.0.2.1", 40000, TURN_PROTO_TLS, "203.0.113.10" },
	};
	uint8_t nonce0[STUN_MAX_NONCE_LEN];

	h_config(&h);
	h.cfg.turn.max_allocations_per_user = 10;
	h_start(&h);
	h_get_nonce(&h); /* minted for 192.0.2.1:40000/UDP -> 203.0.113.10:3478 */
	memcpy(nonce0, h.nonce, h.nonce_len);
	for (size_t i = 0; i < ICE_ARRAY_SIZE(moves); i++) {
		other = h.ft;
		REQUIRE(ice_addr_parse_ip(&other.client, moves[i].ip, moves[i].port) == 0);
		REQUIRE(ice_addr_parse_ip(&other.server, moves[i].server, 3478) == 0);
		other.proto = moves[i].proto;
		memcpy(h.nonce, nonce0, h.nonce_len);
		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		stun_build_requested_transport(&r.b, 17);
		if (send_from(&h, &other, &r) != 438)
			fprintf(stderr, "nonce replayed across %s: not 438\n", moves[i].what);
		CHECK_EQ_INT(tmsg_code(&h.resp), 438);
		CHECK(h.io->client_ft.proto == moves[i].proto &&
		      ice_addr_equal(&h.io->client_ft.client, &other.client));
		CHECK(memcmp(h.nonce, nonce0, h.nonce_len) !=
		      0); /* a fresh one, for that 5-tuple */
		/* the retry with it succeeds from there */
		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		stun_build_requested_transport(&r.b, 17);
		CHECK_EQ_INT(send_from(&h, &other, &r), 0);
	}
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_NONCE_BAD), ICE_ARRAY_SIZE(moves));
	CHECK_EQ_INT(h.io->opens, (int)ICE_ARRAY_SIZE(moves));
	/* from the original client, to another of our addresses, and to the
	 * original one, the original nonce still works */
	other = h.ft;
	REQUIRE(ice_addr_parse_ip(&other.server, "203.0.113.11", 3478) == 0);
	memcpy(h.nonce, nonce0, h.nonce_len);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	CHECK_EQ_INT(send_from(&h, &other, &r), 0);
	memcpy(h.nonce, nonce0, h.nonce_len);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	CHECK_EQ_INT(h_send_signed_once(&h, &r), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_NONCE_BAD), ICE_ARRAY_SIZE(moves));
	h_stop(&h);
}

/*
 * Two nodes of a cluster: their own shared state, monotonic clocks a week
 * apart, one wall clock. With shared, both derive the nonce key from the
 * secret; with rotated, b's current secret is a's previous one (a's
 * credentials still pass on b, by rotation, but b's nonce key differs).
 */
static void
cluster_pair(struct harness *a, struct harness *b, bool shared, bool rotated)
{
	h_config(a);
	h_config(b);
	a->cluster_nonce = b->cluster_nonce = shared;
	if (rotated) {
		b->cfg.turn.auth_secrets[0] = (char *)H_OLD_SECRET;
		b->cfg.turn.auth_secret_lens[0] = strlen(H_OLD_SECRET);
		b->cfg.turn.auth_secrets[1] = (char *)H_SECRET;
		b->cfg.turn.auth_secret_lens[1] = strlen(H_SECRET);
	}
	h_start(a);
	h_start(b);
	h_at(b, H_T0 + 7ull * 86400 * 1000);
}

/* A challenges client port, B gets the signed Allocate with A's nonce. */
static int
across(struct harness *a, struct harness *b, uint16_t port)
{
	struct treq r;

	h_set_client(a, "192.0.2.1", port, TURN_PROTO_UDP);
	h_set_client(b, "192.0.2.1", port, TURN_PROTO_UDP);
	h_get_nonce(a);
	memcpy(b->nonce, a->nonce, a->nonce_len);
	b->nonce_len = a->nonce_len;
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	return h_send_signed_once(b, &r);
}

/*
 * A client challenged by one node of a cluster may authenticate on another
 * (anycast): the nodes share the nonce key and date nonces on the wall
 * clock, so it ages there as on its own node (600 s). Nodes outside a
 * cluster, or with another current secret, answer each other's nonces 438.
 */
static void
test_cluster_nonce(void)
{
	struct harness a, b;

	cluster_pair(&a, &b, true, false);
	CHECK_EQ_INT(across(&a, &b, 40000), 0);
	turn_server_set_unix_time(b.srv, H_UNIX0 + 599);
	CHECK_EQ_INT(across(&a, &b, 40001), 0);
	turn_server_set_unix_time(b.srv, H_UNIX0 + 600);
	CHECK_EQ_INT(across(&a, &b, 40002), 438);
	CHECK_EQ_INT(h_metric(&b, ICE_M_TURN_AUTH_NONCE_BAD), 0);
	CHECK_EQ_INT(b.io->opens, 2);
	h_stop(&a);
	h_stop(&b);

	cluster_pair(&a, &b, false, false);
	CHECK_EQ_INT(across(&a, &b, 40000), 438);
	h_stop(&a);
	h_stop(&b);

	cluster_pair(&a, &b, true, true);
	CHECK_EQ_INT(across(&a, &b, 40000), 438);
	CHECK_EQ_INT(h_metric(&b, ICE_M_TURN_AUTH_NONCE_BAD), 1);
	h_stop(&a);
	h_stop(&b);
}

/*
 * "<expiry>" alone (turnutils_uclient -W without -u) authenticates, and its
 * quota is the anonymous one: counted per client address, as "<expiry>:" is.
 */
static void
test_bare_expiry(void)
{
	struct harness h;

	h_config(&h);
	h.cfg.turn.max_allocations_per_user = 1;
	h_start(&h);
	tcred_mint(&h.cred, H_SECRET, H_UNIX0 + 60, NULL, H_REALM, STUN_PASSWORD_ALG_MD5);
	CHECK_STR(h.cred.username, "1700000060");
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	/* one allocation per user, and anonymous credentials, bare or
	 * "<expiry>:", share one quota per client address (docs/turn.md):
	 * the same credential from another port, or a new one, is 486 */
	h_set_client(&h, "192.0.2.1", 40001, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_allocate(&h), 486);
	tcred_mint(&h.cred, H_SECRET, H_UNIX0 + 61, NULL, H_REALM, STUN_PASSWORD_ALG_MD5);
	CHECK_EQ_INT(h_allocate(&h), 486);
	/* another address is another quota */
	h_set_client(&h, "192.0.2.2", 40002, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_allocate(&h), 0);
	h_set_client(&h, "192.0.2.2", 40003, TURN_PROTO_UDP);
	tcred_mint(&h.cred, H_SECRET, H_UNIX0 + 62, "", H_REALM, STUN_PASSWORD_ALG_MD5);
	CHECK_EQ_INT(h_allocate(&h), 486);
	/* and it expires like any other */
	tcred_mint(&h.cred, H_SECRET, H_UNIX0 - 1, NULL, H_REALM, STUN_PASSWORD_ALG_MD5);
	CHECK_EQ_INT(h_allocate(&h), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_EXPIRED), 1);
	h_stop(&h);
}

/*
 * credential-grace: a credential is checked at Allocate; the allocation it
 * made can be refreshed, and given permissions and channels, up to the grace
 * past its expiry, and not beyond. A new Allocate with it gets no grace.
 */
/* Move both clocks to t seconds after the start. */
static void
at_second(struct harness *h, uint64_t t)
{
	h_at(h, H_T0 + (ice_ms_t)t * 1000);
	turn_server_set_unix_time(h->srv, H_UNIX0 + t);
}

static void
test_grace(void)
{
	struct harness h;

	h_config(&h);
	h.cfg.turn.credential_grace_s = 7200;
	h_start(&h);
	h_mint(&h, H_SECRET, 3600, "did:peers:alice"); /* the seed's 1 h TTL */
	h.lifetime = 3600;
	CHECK_EQ_INT(h_allocate(&h), 0);
	at_second(&h, 3000);
	CHECK_EQ_INT(h_refresh(&h, 3600), 0);
	/* the credential expires mid-call: the call goes on */
	at_second(&h, 3601);
	CHECK_EQ_INT(h_refresh(&h, 3600), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_EXPIRED), 0);
	/* but it makes no new allocation */
	h_set_client(&h, "192.0.2.1", 40001, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_allocate(&h), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_EXPIRED), 1);
	h_set_client(&h, "192.0.2.1", 40000, TURN_PROTO_UDP);
	at_second(&h, 7000);
	CHECK_EQ_INT(h_refresh(&h, 3600), 0);
	at_second(&h, 10000);
	CHECK_EQ_INT(h_refresh(&h, 3600), 0);
	/* the last second of the grace, then none */
	at_second(&h, 3600 + 7200);
	CHECK_EQ_INT(h_refresh(&h, 3600), 0);
	at_second(&h, 3600 + 7200 + 1);
	CHECK_EQ_INT(h_refresh(&h, 3600), 401);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_EXPIRED), 3);
	/* a fresh credential of the same user is another username: 441 */
	h_mint(&h, H_SECRET, 3600 + 7200 + 3600, "did:peers:alice");
	CHECK_EQ_INT(h_refresh(&h, 3600), 441);
	h_stop(&h);

	/* credential-grace 0: expiry on every request, as before */
	h_config(&h);
	h.cfg.turn.credential_grace_s = 0;
	h_start(&h);
	h_mint(&h, H_SECRET, 60, "did:peers:alice");
	CHECK_EQ_INT(h_allocate(&h), 0);
	at_second(&h, 60);
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	at_second(&h, 61);
	CHECK_EQ_INT(h_refresh(&h, -1), 401);
	h_stop(&h);
}

/*
 * credential-format hex-sha256: credentials the ICE API would mint in that
 * format allocate (previous secrets too); coturn-format ones are refused.
 */
static void
test_hex_sha256(void)
{
	struct harness h;

	h_config(&h);
	h.cfg.turn.credential_format = ICE_CREDENTIAL_HEX_SHA256;
	h_start(&h);
	tcred_mint_fmt(&h.cred, ICE_REST_HEX_SHA256, H_SECRET, H_UNIX0 + 3600, "did:peers:alice",
	               H_REALM, STUN_PASSWORD_ALG_MD5);
	CHECK_EQ_INT(strlen(h.cred.password), 64);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	h_set_client(&h, "192.0.2.1", 40001, TURN_PROTO_UDP);
	tcred_mint_fmt(&h.cred, ICE_REST_HEX_SHA256, H_OLD_SECRET, H_UNIX0 + 3600, "did:peers:bob",
	               H_REALM, STUN_PASSWORD_ALG_SHA256);
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		stun_build_requested_transport(&r.b, 17);
		stun_build_password_algorithms(&r.b, ltc_password_algorithms, 2);
		stun_build_password_algorithm(&r.b, STUN_PASSWORD_ALG_SHA256);
		CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	}
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_OLD_SECRET), 1);
	h_set_client(&h, "192.0.2.1", 40002, TURN_PROTO_UDP);
	h_mint(&h, H_SECRET, 3600, "did:peers:carol"); /* coturn format */
	CHECK_EQ_INT(h_allocate(&h), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_AUTH_BAD_INTEGRITY), 1);
	h_stop(&h);
}

int
main(void)
{
	test_nonce_5tuple();
	test_cluster_nonce();
	test_bare_expiry();
	test_grace();
	test_hex_sha256();
	test_auth_failures();
	test_challenge_limit();
	test_rotation_and_sha256();
	test_quotas();
	test_user_reap();
	test_ports_exhausted();
	TEST_DONE();
}
