/*
 * Long-term credentials over REST usernames and stateless nonces: nonce
 * freshness, staleness, forgery and its binding to the client's address,
 * port and transport, the
 * cookie's feature bits, a key from shared bytes; every RFC 8489 §9.2.4
 * outcome of ltc_verify (401 no integrity, 400 missing attributes, 438 for a
 * nonce we never minted, wrong realm, bad or expired username, wrong secret,
 * tampered message; 438 stale nonce after a good MAC); secret rotation;
 * SHA-256 keys and MESSAGE-INTEGRITY-SHA256; the cached-credential path and
 * its expiry grace; bare-expiry usernames; the hex-sha256 format.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "turn_testlib.h"

static const char *const secrets[] = { "new-secret", "old-secret" };
static const size_t secret_lens[] = { 10, 10 };
static const char realm[] = "example.org";
static struct ltc_nonce_key nkey;
static struct ltc_config cfg;
static struct ice_addr client;
static struct ltc_tuple tuple = { &client, 1 };

enum {
	T0 = 5000000,
	UNIX_NOW = 1700000000
};

static int
check_from(const struct ice_addr *cl, uint8_t transport, const uint8_t *n, ice_ms_t now)
{
	struct ltc_tuple t = { cl, transport };

	return ltc_nonce_check(&nkey, &t, n, LTC_NONCE_LEN, now, 600000);
}

static void
test_nonce(void)
{
	uint8_t n[LTC_NONCE_LEN], bad[LTC_NONCE_LEN];
	struct ice_addr other;

	ltc_nonce_mint(&nkey, &tuple, T0, n);
	CHECK(memcmp(n, "obMatJos2AAAB", 13) == 0);
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n), T0, 600000), 0);
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n), T0 + 599999, 600000), 0);
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n), T0 + 600000, 600000), -ESTALE);
	/* bound to the client's side of the 5-tuple: its port, its IP, the
	 * transport (IPv4 and IPv6 spellings differ too) */
	other = client;
	other.port++;
	CHECK_EQ_INT(check_from(&other, 1, n, T0), -EBADMSG);
	other = client;
	other.ip[3] ^= 1;
	CHECK_EQ_INT(check_from(&other, 1, n, T0), -EBADMSG);
	REQUIRE(ice_addr_parse_ip(&other, "::ffff:192.0.2.1", 40000) == 0);
	CHECK_EQ_INT(check_from(&other, 1, n, T0), -EBADMSG);
	CHECK_EQ_INT(check_from(&client, 2, n, T0), -EBADMSG);
	CHECK_EQ_INT(check_from(&client, 3, n, T0), -EBADMSG);
	CHECK_EQ_INT(check_from(&client, 1, n, T0), 0);
	/* any flipped character is a forgery */
	for (size_t i = 0; i < sizeof(n); i++) {
		memcpy(bad, n, sizeof(n));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, bad, sizeof(bad), T0, 600000),
		             -EBADMSG);
	}
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n) - 1, T0, 600000), -EBADMSG);
	/* minted "in the future" (another key's clock) is not ours */
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n), T0 - 2000, 600000), -EBADMSG);
}

/* The cookie's feature bits (RFC 8489 §18.1 with erratum 6290): bit 0
 * password algorithms ("AAAB"), bit 1 username anonymity ("AAAD" with both);
 * a nonce whose bits changed on the way is not ours. */
static void
test_nonce_features(void)
{
	struct ltc_nonce_key k = nkey;
	uint8_t n[LTC_NONCE_LEN], stripped[LTC_NONCE_LEN];

	k.features |= LTC_FEATURE_USERNAME_ANONYMITY;
	ltc_nonce_mint(&k, &tuple, T0, n);
	CHECK(memcmp(n, "obMatJos2AAAD", 13) == 0);
	CHECK_EQ_INT(ltc_nonce_check(&k, &tuple, n, sizeof(n), T0, 600000), 0);
	/* the same nonce against a key without the bit: not ours */
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n), T0, 600000), -EBADMSG);
	/* a bid-down: "password algorithms" stripped by someone on the path */
	memcpy(stripped, n, sizeof(n));
	stripped[12] = 'C';
	CHECK_EQ_INT(ltc_nonce_check(&k, &tuple, stripped, sizeof(stripped), T0, 600000), -EBADMSG);
}

/* A key from shared bytes: two "nodes" with the same material accept each
 * other's nonces; other material, or none, does not. */
static void
test_nonce_key_from_bytes(void)
{
	static const uint8_t shared[] = "cluster-wide nonce material";
	struct ltc_nonce_key a, b, c;
	uint8_t n[LTC_NONCE_LEN];

	REQUIRE(ltc_nonce_key_from_bytes(&a, shared, sizeof(shared)) == 0);
	REQUIRE(ltc_nonce_key_from_bytes(&b, shared, sizeof(shared)) == 0);
	REQUIRE(ltc_nonce_key_from_bytes(&c, shared, sizeof(shared) - 1) == 0);
	CHECK_EQ_INT(ltc_nonce_key_from_bytes(&c, shared, 0), -EINVAL);
	CHECK_EQ_INT(a.features, LTC_FEATURE_PASSWORD_ALGORITHMS);
	ltc_nonce_mint(&a, &tuple, T0, n);
	CHECK_EQ_INT(ltc_nonce_check(&b, &tuple, n, sizeof(n), T0 + 1000, 600000), 0);
	CHECK_EQ_INT(ltc_nonce_check(&c, &tuple, n, sizeof(n), T0 + 1000, 600000), -EBADMSG);
	CHECK_EQ_INT(ltc_nonce_check(&nkey, &tuple, n, sizeof(n), T0 + 1000, 600000), -EBADMSG);
}

/* An authenticated Refresh signed with c, nonce minted at nonce_t. */
static void
build(struct treq *r, const struct tcred *c, ice_ms_t nonce_t, bool sha256)
{
	uint8_t n[LTC_NONCE_LEN];

	ltc_nonce_mint(&nkey, &tuple, nonce_t, n);
	treq_begin(r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	treq_sign(r, c, realm, n, sizeof(n), sha256);
	treq_finish(r);
}

static int
verify(const struct treq *r, const struct ltc_cred *cached, struct ltc_result *res)
{
	return ltc_verify(&cfg, &r->msg, &tuple, T0, UNIX_NOW, cached, res);
}

static void
test_verify(void)
{
	struct tcred good, old, wrong, expired, sha, anon;
	struct ltc_result res;
	struct ltc_cred cached;
	struct treq r;
	uint8_t n[LTC_NONCE_LEN];

	tcred_mint(&good, "new-secret", UNIX_NOW + 3600, "did:peers:alice", realm,
	           STUN_PASSWORD_ALG_MD5);
	tcred_mint(&old, "old-secret", UNIX_NOW + 3600, "did:peers:bob", realm,
	           STUN_PASSWORD_ALG_MD5);
	tcred_mint(&wrong, "not-a-secret", UNIX_NOW + 3600, "did:peers:eve", realm,
	           STUN_PASSWORD_ALG_MD5);
	tcred_mint(&expired, "new-secret", UNIX_NOW - 1, "did:peers:alice", realm,
	           STUN_PASSWORD_ALG_MD5);
	tcred_mint(&anon, "new-secret", UNIX_NOW, "", realm, STUN_PASSWORD_ALG_MD5);

	build(&r, &good, T0 - 1000, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK_EQ_INT(res.secret_index, 0);
	CHECK(res.cred == &res.fresh);
	CHECK_EQ_INT(res.fresh.key_len, 16);
	CHECK(memcmp(res.fresh.key, good.key, 16) == 0);
	CHECK_EQ_INT(res.fresh.expiry, UNIX_NOW + 3600);
	CHECK_EQ_INT(res.user_len, strlen("did:peers:alice"));
	CHECK(memcmp(res.user, "did:peers:alice", res.user_len) == 0);
	CHECK(res.mi && !res.mi256);
	cached = res.fresh;

	/* previous-auth-secrets still verify (rotation) */
	build(&r, &old, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK_EQ_INT(res.secret_index, 1);
	/* a secret we never had */
	build(&r, &wrong, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);
	CHECK_EQ_INT(res.why, LTC_BAD_INTEGRITY);
	/* expired REST username; expiry == now is still valid */
	build(&r, &expired, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);
	CHECK_EQ_INT(res.why, LTC_EXPIRED);
	build(&r, &anon, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK_EQ_INT(res.user_len, 0);

	/* stale nonce with a good MAC: 438; with a bad MAC: 401 */
	build(&r, &good, T0 - LTC_NONCE_LIFETIME_MS, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 438);
	CHECK_EQ_INT(res.why, LTC_STALE_NONCE);
	build(&r, &wrong, T0 - LTC_NONCE_LIFETIME_MS, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);

	/* tampered after signing: flip a byte of the username */
	build(&r, &good, T0, false);
	r.buf[STUN_HEADER_LEN + 4] ^= 0x01;
	REQUIRE(stun_parse(&r.msg, r.buf, (size_t)r.len) < 0 || 1);
	/* FINGERPRINT now fails, so rebuild without it and tamper instead */
	ltc_nonce_mint(&nkey, &tuple, T0, n);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	treq_sign(&r, &good, realm, n, sizeof(n), false);
	r.len = stun_build_finish(&r.b);
	REQUIRE(r.len > 0);
	r.buf[STUN_HEADER_LEN + 4] ^= 0x01; /* first byte of USERNAME: "1..." -> "0..." */
	REQUIRE(stun_parse(&r.msg, r.buf, (size_t)r.len) == r.len);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);

	/* no integrity: 401 (the normal first leg) */
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);
	CHECK_EQ_INT(res.why, LTC_NO_INTEGRITY);

	/* integrity but no NONCE: 400 */
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_USERNAME, good.username, strlen(good.username));
	stun_build_attr(&r.b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_integrity(&r.b, good.key, 16);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 400);
	CHECK_EQ_INT(res.why, LTC_MISSING_ATTR);

	/* a nonce we never minted: 438 (a fresh nonce), as coturn answers, and
	 * before any key is derived: with the right or the wrong credential */
	memset(n, 'A', sizeof(n));
	memcpy(n, "obMatJos2AAAB", 13);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	treq_sign(&r, &good, realm, n, sizeof(n), false);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 438);
	CHECK_EQ_INT(res.why, LTC_BAD_NONCE);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	treq_sign(&r, &wrong, realm, n, sizeof(n), false);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 438);
	CHECK_EQ_INT(res.why, LTC_BAD_NONCE);
	/* one minted for another client port (a replay from another 5-tuple) */
	{
		struct ice_addr moved = client;
		struct ltc_tuple t2 = { &moved, 1 };

		moved.port++;
		ltc_nonce_mint(&nkey, &t2, T0, n);
		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		treq_sign(&r, &good, realm, n, sizeof(n), false);
		treq_finish(&r);
		CHECK_EQ_INT(verify(&r, NULL, &res), 438);
		CHECK_EQ_INT(res.why, LTC_BAD_NONCE);
		CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &t2, T0, UNIX_NOW, NULL, &res), 0);
	}

	/* wrong realm: 401 */
	ltc_nonce_mint(&nkey, &tuple, T0, n);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	treq_sign(&r, &good, "other.org", n, sizeof(n), false);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);
	CHECK_EQ_INT(res.why, LTC_BAD_REALM);

	/* not a REST username: 401 */
	{
		struct tcred bogus = good;

		strcpy(bogus.username, "alice");
		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		treq_sign(&r, &bogus, realm, n, sizeof(n), false);
		treq_finish(&r);
		CHECK_EQ_INT(verify(&r, NULL, &res), 401);
		CHECK_EQ_INT(res.why, LTC_BAD_USERNAME);
	}

	/* MESSAGE-INTEGRITY-SHA256 with the MD5 key */
	build(&r, &good, T0, true);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK(res.mi256 && !res.mi);

	/* PASSWORD-ALGORITHM SHA-256: key = SHA-256(username:realm:password) */
	tcred_mint(&sha, "new-secret", UNIX_NOW + 60, "did:peers:carol", realm,
	           STUN_PASSWORD_ALG_SHA256);
	CHECK_EQ_INT(sha.key_len, 32);
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_password_algorithms(&r.b, ltc_password_algorithms, 2);
	stun_build_password_algorithm(&r.b, STUN_PASSWORD_ALG_SHA256);
	treq_sign(&r, &sha, realm, n, sizeof(n), true);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK_EQ_INT(res.fresh.pw_alg, STUN_PASSWORD_ALG_SHA256);
	CHECK_EQ_INT(res.fresh.key_len, 32);

	/* PASSWORD-ALGORITHM without the echoed list: 400 */
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_password_algorithm(&r.b, STUN_PASSWORD_ALG_SHA256);
	treq_sign(&r, &sha, realm, n, sizeof(n), true);
	treq_finish(&r);
	CHECK_EQ_INT(verify(&r, NULL, &res), 400);
	CHECK_EQ_INT(res.why, LTC_BAD_ALGORITHMS);
	/* a list that is not the one we offered (bid-down): 400 */
	{
		static const uint16_t md5_only[] = { STUN_PASSWORD_ALG_MD5 };

		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		stun_build_password_algorithms(&r.b, md5_only, 1);
		stun_build_password_algorithm(&r.b, STUN_PASSWORD_ALG_MD5);
		treq_sign(&r, &good, realm, n, sizeof(n), false);
		treq_finish(&r);
		CHECK_EQ_INT(verify(&r, NULL, &res), 400);
	}

	/* cached credential: same answer, no secret tried */
	build(&r, &good, T0, false);
	CHECK_EQ_INT(verify(&r, &cached, &res), 0);
	CHECK(res.cred == &cached);
	CHECK_EQ_INT(res.secret_index, -1);
	build(&r, &good, T0, true); /* SHA256 MI with a SHA1-padded cache falls back to raw key */
	CHECK_EQ_INT(verify(&r, &cached, &res), 0);
	build(&r, &wrong, T0, false);
	CHECK_EQ_INT(verify(&r, &cached, &res), 401);
}

/*
 * Expiry: an Allocate (no cached credential) needs an unexpired username;
 * requests on the allocation (cached) get grace_s more, and not a second
 * beyond it.
 */
static void
test_grace(void)
{
	struct tcred c;
	struct ltc_result res;
	struct ltc_cred cached;
	struct treq r;

	tcred_mint(&c, "new-secret", UNIX_NOW, "did:peers:alice", realm, STUN_PASSWORD_ALG_MD5);
	build(&r, &c, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0); /* expiry == now: still valid */
	cached = res.fresh;
	cfg.grace_s = 3600;
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW + 1, NULL, &res), 401);
	CHECK_EQ_INT(res.why, LTC_EXPIRED);
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW + 1, &cached, &res), 0);
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW + 3600, &cached, &res), 0);
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW + 3601, &cached, &res), 401);
	CHECK_EQ_INT(res.why, LTC_EXPIRED);
	cfg.grace_s = 0; /* the old rule: expiry on every request */
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW + 1, &cached, &res), 401);
	/* a grace that would overflow the expiry saturates */
	cached.expiry = UINT64_MAX - 5;
	cfg.grace_s = 3600;
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW, &cached, &res), 0);
	cfg.grace_s = 0;
}

/* A bare "<expiry>" username (turnutils_uclient -W) is anonymous; the
 * hex-sha256 format verifies when configured, and only then. */
static void
test_bare_expiry_and_hex(void)
{
	struct tcred bare, hex;
	struct ltc_result res;
	struct treq r;

	tcred_mint_fmt(&bare, ICE_REST_COTURN, "new-secret", UNIX_NOW + 60, NULL, realm,
	               STUN_PASSWORD_ALG_MD5);
	CHECK(strchr(bare.username, ':') == NULL);
	build(&r, &bare, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK_EQ_INT(res.user_len, 0);
	CHECK_EQ_INT(res.fresh.expiry, UNIX_NOW + 60);
	CHECK_EQ_INT(ltc_verify(&cfg, &r.msg, &tuple, T0, UNIX_NOW + 61, NULL, &res), 401);
	CHECK_EQ_INT(res.why, LTC_EXPIRED);

	tcred_mint_fmt(&hex, ICE_REST_HEX_SHA256, "old-secret", UNIX_NOW + 60, "did:peers:hex",
	               realm, STUN_PASSWORD_ALG_MD5);
	CHECK_EQ_INT(strlen(hex.password), 64);
	build(&r, &hex, T0, false);
	CHECK_EQ_INT(verify(&r, NULL, &res), 401); /* the coturn format is configured */
	CHECK_EQ_INT(res.why, LTC_BAD_INTEGRITY);
	cfg.format = ICE_REST_HEX_SHA256;
	CHECK_EQ_INT(verify(&r, NULL, &res), 0);
	CHECK_EQ_INT(res.secret_index, 1); /* rotation works in this format too */
	build(&r, &bare, T0, false);       /* and a coturn credential no longer does */
	CHECK_EQ_INT(verify(&r, NULL, &res), 401);
	cfg.format = ICE_REST_COTURN;
}

int
main(void)
{
	REQUIRE(ltc_nonce_key_init(&nkey) == 0);
	REQUIRE(ice_addr_parse_ip(&client, "192.0.2.1", 40000) == 0);
	cfg.realm = realm;
	cfg.realm_len = strlen(realm);
	cfg.secrets = secrets;
	cfg.secret_lens = secret_lens;
	cfg.n_secrets = 2;
	cfg.nonce_key = &nkey;
	cfg.nonce_lifetime = LTC_NONCE_LIFETIME_MS;
	test_nonce();
	test_nonce_features();
	test_nonce_key_from_bytes();
	test_verify();
	test_grace();
	test_bare_expiry_and_hex();
	TEST_DONE();
}
