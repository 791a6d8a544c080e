/*
 * RFC 5769 and RFC 8489 B.1 vectors: each parses (from right before a guard
 * page), verifies its MAC and FINGERPRINT, decodes, and is rebuilt byte for
 * byte by the builder from the decoded values and the password alone.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "icestation/stun.h"

#include "guard.h"
#include "stun_vectors.h"
#include "testutil.h"

static struct guard g;

static const char short_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
/* "マトリックス" in UTF-8: the username of §2.4 and B.1. */
static const char matrix_user[] =
	"\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
/* The password after SASLprep, as RFC 5769 gives it. */
static const char matrix_pw[] = "TheMatrIX";

static void
digest(const char *alg, const void *data, size_t len, uint8_t *out)
{
	unsigned int olen = 0;

	REQUIRE(EVP_Digest(data, len, out, &olen, EVP_get_digestbyname(alg), NULL) == 1);
}

/* Long-term key: H(username ":" realm ":" password), H = MD5 or SHA-256. */
static void
long_term_key(const char *alg, uint8_t *out)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s:example.org:%s", matrix_user, matrix_pw);

	digest(alg, buf, (size_t)n, out);
}

static const struct stun_attr *
find(const struct stun_msg *m, uint16_t type)
{
	const struct stun_attr *a = stun_msg_find(m, type);

	REQUIRE(a != NULL);
	return a;
}

static void
parse_guarded(struct stun_msg *m, const uint8_t *vec, size_t len)
{
	const uint8_t *p = guard_put(&g, vec, len);

	CHECK_EQ_INT(stun_parse(m, p, len), len);
}

static void
test_request(void)
{
	struct stun_msg m;
	struct stun_builder b;
	uint8_t out[256];
	uint32_t prio;
	uint64_t tie;
	const struct stun_attr *sw, *user;

	parse_guarded(&m, rfc5769_request, sizeof(rfc5769_request));
	CHECK_EQ_INT(m.method, STUN_METHOD_BINDING);
	CHECK_EQ_INT(m.cls, STUN_CLASS_REQUEST);
	CHECK_EQ_INT(m.n_attrs, 6);
	CHECK_EQ_INT(m.n_unknown, 0);
	CHECK(m.integrity == 4 && m.fingerprint == 5 && m.integrity_sha256 == -1);
	CHECK_EQ_INT(stun_msg_check_integrity(&m, (const uint8_t *)short_pw, strlen(short_pw)), 0);
	CHECK_EQ_INT(stun_msg_check_integrity(&m, (const uint8_t *)"wrong", 5), -EACCES);
	sw = find(&m, STUN_ATTR_SOFTWARE);
	CHECK(sw->len == 16 && memcmp(sw->value, "STUN test client", 16) == 0);
	CHECK_EQ_INT(stun_attr_u32(find(&m, STUN_ATTR_PRIORITY), &prio), 0);
	CHECK_EQ_INT(prio, 0x6e0001ff);
	CHECK_EQ_INT(stun_attr_u64(find(&m, STUN_ATTR_ICE_CONTROLLED), &tie), 0);
	CHECK(tie == 0x932ff9b151263b36ull);
	user = find(&m, STUN_ATTR_USERNAME);
	CHECK(user->len == 9 && memcmp(user->value, "evtj:h6vY", 9) == 0);

	/* Rebuild from the decoded values; the RFC pads with spaces here. */
	stun_build_init(&b, out, sizeof(out), m.method, m.cls, m.tid);
	stun_build_set_padding(&b, ' ');
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, sw->value, sw->len);
	stun_build_u32(&b, STUN_ATTR_PRIORITY, prio);
	stun_build_u64(&b, STUN_ATTR_ICE_CONTROLLED, tie);
	stun_build_attr(&b, STUN_ATTR_USERNAME, user->value, user->len);
	stun_build_integrity(&b, (const uint8_t *)short_pw, strlen(short_pw));
	stun_build_fingerprint(&b);
	CHECK_EQ_INT(stun_build_finish(&b), sizeof(rfc5769_request));
	CHECK(memcmp(out, rfc5769_request, sizeof(rfc5769_request)) == 0);
}

static void
test_response(const uint8_t *vec, size_t len, const char *ip)
{
	struct stun_msg m;
	struct stun_builder b;
	struct ice_addr addr, want;
	uint8_t out[256];
	const struct stun_attr *sw;

	parse_guarded(&m, vec, len);
	CHECK_EQ_INT(m.cls, STUN_CLASS_SUCCESS);
	CHECK_EQ_INT(m.n_attrs, 4);
	CHECK_EQ_INT(stun_msg_check_integrity(&m, (const uint8_t *)short_pw, strlen(short_pw)), 0);
	CHECK_EQ_INT(stun_attr_xor_addr(&m, find(&m, STUN_ATTR_XOR_MAPPED_ADDRESS), &addr), 0);
	memset(&want, 0, sizeof(want));
	want.port = 32853;
	want.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	REQUIRE(inet_pton(want.family, ip, want.ip) == 1);
	CHECK(addr.family == want.family && addr.port == 32853);
	CHECK(memcmp(addr.ip, want.ip, 16) == 0);
	sw = find(&m, STUN_ATTR_SOFTWARE);
	CHECK(sw->len == 11 && memcmp(sw->value, "test vector", 11) == 0);

	stun_build_init(&b, out, sizeof(out), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, m.tid);
	stun_build_set_padding(&b, ' ');
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, sw->value, sw->len);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &addr);
	stun_build_integrity(&b, (const uint8_t *)short_pw, strlen(short_pw));
	stun_build_fingerprint(&b);
	CHECK_EQ_INT(stun_build_finish(&b), len);
	CHECK(memcmp(out, vec, len) == 0);
}

static void
test_long_term(void)
{
	struct stun_msg m;
	struct stun_builder b;
	struct stun_hmac_key k;
	uint8_t key[16], out[256];
	const struct stun_attr *user, *nonce, *realm;

	parse_guarded(&m, rfc5769_long_term, sizeof(rfc5769_long_term));
	CHECK_EQ_INT(m.n_attrs, 4);
	CHECK_EQ_INT(m.fingerprint, -1);
	user = find(&m, STUN_ATTR_USERNAME);
	nonce = find(&m, STUN_ATTR_NONCE);
	realm = find(&m, STUN_ATTR_REALM);
	CHECK(user->len == strlen(matrix_user) && memcmp(user->value, matrix_user, user->len) == 0);
	CHECK(nonce->len == 28 && memcmp(nonce->value, "f//499k954d6OL34oL9FSTvy64sA", 28) == 0);
	CHECK(realm->len == 11 && memcmp(realm->value, "example.org", 11) == 0);
	long_term_key("MD5", key);
	CHECK_EQ_INT(stun_msg_check_integrity(&m, key, sizeof(key)), 0);
	REQUIRE(stun_hmac_key_init(&k, STUN_HMAC_SHA1, key, sizeof(key)) == 0);
	CHECK_EQ_INT(stun_msg_check_integrity_k(&m, &k), 0);

	/* Zero padding here, the builder's default. */
	stun_build_init(&b, out, sizeof(out), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, m.tid);
	stun_build_attr(&b, STUN_ATTR_USERNAME, user->value, user->len);
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce->value, nonce->len);
	stun_build_attr(&b, STUN_ATTR_REALM, realm->value, realm->len);
	stun_build_integrity_k(&b, &k);
	CHECK_EQ_INT(stun_build_finish(&b), sizeof(rfc5769_long_term));
	CHECK(memcmp(out, rfc5769_long_term, sizeof(rfc5769_long_term)) == 0);
}

static void
test_sha256(void)
{
	struct stun_msg m;
	struct stun_builder b;
	struct stun_hmac_key k;
	uint8_t key[32], hash[32], out[256];
	char uh[64];
	const struct stun_attr *a;
	const uint8_t *params;
	size_t plen;
	uint16_t alg;
	int n;

	parse_guarded(&m, rfc8489_b1, sizeof(rfc8489_b1));
	CHECK_EQ_INT(m.n_attrs, 5);
	CHECK(m.integrity_sha256 == 4 && m.integrity == -1);
	/* USERHASH = SHA-256(username ":" realm). */
	n = snprintf(uh, sizeof(uh), "%s:example.org", matrix_user);
	digest("SHA256", uh, (size_t)n, hash);
	a = find(&m, STUN_ATTR_USERHASH);
	CHECK(a->len == 32 && memcmp(a->value, hash, 32) == 0);
	CHECK_EQ_INT(stun_attr_password_algorithm(find(&m, STUN_ATTR_PASSWORD_ALGORITHM), &alg,
	                                          &params, &plen),
	             0);
	CHECK(alg == STUN_PASSWORD_ALG_SHA256 && plen == 0);
	long_term_key("SHA256", key);
	CHECK_EQ_INT(stun_msg_check_integrity(&m, key, sizeof(key)), 0);
	REQUIRE(stun_hmac_key_init(&k, STUN_HMAC_SHA256, key, sizeof(key)) == 0);
	CHECK_EQ_INT(stun_msg_check_integrity_k(&m, &k), 0);
	key[0] ^= 1;
	CHECK_EQ_INT(stun_msg_check_integrity(&m, key, sizeof(key)), -EACCES);
	key[0] ^= 1;

	stun_build_init(&b, out, sizeof(out), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, m.tid);
	stun_build_attr(&b, STUN_ATTR_USERHASH, hash, sizeof(hash));
	a = find(&m, STUN_ATTR_NONCE);
	stun_build_attr(&b, STUN_ATTR_NONCE, a->value, a->len);
	stun_build_attr(&b, STUN_ATTR_REALM, "example.org", 11);
	stun_build_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
	stun_build_integrity_sha256(&b, key, sizeof(key));
	CHECK_EQ_INT(stun_build_finish(&b), sizeof(rfc8489_b1));
	CHECK(memcmp(out, rfc8489_b1, sizeof(rfc8489_b1)) == 0);
}

int
main(void)
{
	guard_init(&g);
	test_request();
	test_response(rfc5769_response_v4, sizeof(rfc5769_response_v4), "192.0.2.1");
	test_response(rfc5769_response_v6, sizeof(rfc5769_response_v6),
	              "2001:db8:1234:5678:11:2233:4455:6677");
	test_long_term();
	test_sha256();
	guard_fini(&g);
	TEST_DONE();
}
