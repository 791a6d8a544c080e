/*
 * REST credential vectors. The expected passwords were computed outside this
 * code base, once, and pasted here:
 *   printf '%s' '1705708800:did:peers:alice' | \
 *     openssl dgst -sha1 -hmac 'north-sea-secret' -binary | base64
 * and likewise for the other rows; the RFC 2202 rows are that RFC's HMAC-SHA1
 * digests (test cases 1, 2 and 6), base64-encoded with python3's base64 module.
 * The hex-sha256 rows likewise, with
 *   printf '%s' '1705708800:did:peers:alice' | \
 *     openssl dgst -sha256 -hmac 'north-sea-secret' -hex
 * and RFC 4231's HMAC-SHA256 test cases 1, 2 and 6.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "icestation/auth.h"

#include "testutil.h"

struct vector {
	const char *secret;
	size_t secret_len; /* 0 = strlen(secret) */
	const char *username;
	const char *password;
};

static char long_key[101];
static uint8_t rfc2202_key1[20];
static uint8_t rfc2202_key6[80];

static void
check_fmt(enum ice_rest_format fmt, const uint8_t *secret, size_t secret_len, const char *username,
          const char *expected)
{
	char pw[ICE_REST_PASSWORD_MAX + 1];
	int want = (int)strlen(expected);

	memset(pw, 'X', sizeof(pw));
	CHECK_EQ_INT(ice_rest_password(fmt, secret, secret_len, username, strlen(username), pw),
	             want);
	CHECK_EQ_INT(pw[want], '\0');
	CHECK_STR(pw, expected);
}

static void
check_vector(const uint8_t *secret, size_t secret_len, const char *username, const char *expected)
{
	check_fmt(ICE_REST_COTURN, secret, secret_len, username, expected);
}

static void
test_password_vectors(void)
{
	memset(long_key, 'k', 100);
	memset(rfc2202_key1, 0x0b, sizeof(rfc2202_key1));
	memset(rfc2202_key6, 0xaa, sizeof(rfc2202_key6));

	check_vector((const uint8_t *)"north-sea-secret", 16, "1705708800:did:peers:alice",
	             "/48XhXMKmt9dr8UkrG8qmP3JzUg=");
	check_vector((const uint8_t *)"north-sea-secret", 16,
	             "1705708800:", "Ha3w45DySl/ddnlqt2Io/COV82E=");
	/* A key longer than the SHA-1 block is hashed first (RFC 2104 §2). */
	check_vector((const uint8_t *)long_key, 100, "4102444800:did:web:example.com",
	             "rHG5v2YNLI2w3GyK+yqCB2PRyr8=");
	/* RFC 2202 test case 1: key 0x0b x 20, "Hi There". */
	check_vector(rfc2202_key1, sizeof(rfc2202_key1), "Hi There",
	             "thcxhlUFcmTii8C2+zeMjvFGvgA=");
	/* RFC 2202 test case 2: key "Jefe". */
	check_vector((const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
	             "7/zfauXrL6LSdBbV8YTfnCWafHk=");
	/* RFC 2202 test case 6: key 0xaa x 80 (longer than a block). */
	check_vector(rfc2202_key6, sizeof(rfc2202_key6),
	             "Test Using Larger Than Block-Size Key - Hash Key First",
	             "qkrl4VJy0A6VcFY3zoo7Ve1AIRI=");
	/* A bare expiry (turnutils_uclient -W without -u) is signed as it is. */
	check_vector((const uint8_t *)"north-sea-secret", 16, "1705708800",
	             "fSnJ+JFTz0xDVCmo9T8Tcw34BmI=");
}

static void
test_hex_sha256_vectors(void)
{
	static uint8_t key1[20], key6[131];
	char pw[ICE_REST_PASSWORD_MAX + 1];

	memset(key1, 0x0b, sizeof(key1));
	memset(key6, 0xaa, sizeof(key6));
	check_fmt(ICE_REST_HEX_SHA256, (const uint8_t *)"north-sea-secret", 16,
	          "1705708800:did:peers:alice",
	          "71069e6ee0d84889ff23c51edf006249ae55ab5da7a314a32165d9c5447d6547");
	check_fmt(ICE_REST_HEX_SHA256, (const uint8_t *)"north-sea-secret", 16, "1705708800",
	          "22a3ddc95954cd04ebf55eccf8e8df6eedf4f8aa6b22d23b5b99862bb3cb451f");
	/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
	check_fmt(ICE_REST_HEX_SHA256, key1, sizeof(key1), "Hi There",
	          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	check_fmt(ICE_REST_HEX_SHA256, (const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
	          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	check_fmt(ICE_REST_HEX_SHA256, key6, sizeof(key6),
	          "Test Using Larger Than Block-Size Key - Hash Key First",
	          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	CHECK_EQ_INT(ice_rest_password((enum ice_rest_format)7, key1, 1, "x", 1, pw), -EINVAL);
}

static void
test_mint(void)
{
	char username[ICE_REST_USERNAME_MAX], pw[ICE_REST_PASSWORD_MAX + 1];
	char user[ICE_REST_USER_MAX + 2];
	const uint8_t *secret = (const uint8_t *)"north-sea-secret";
	const enum ice_rest_format c = ICE_REST_COTURN;

	CHECK_EQ_INT(ice_rest_mint(c, secret, 16, 1705708800, "did:peers:alice", username, pw),
	             ICE_REST_PASSWORD_LEN);
	CHECK_STR(username, "1705708800:did:peers:alice");
	CHECK_STR(pw, "/48XhXMKmt9dr8UkrG8qmP3JzUg=");
	CHECK_EQ_INT(ice_rest_mint(ICE_REST_HEX_SHA256, secret, 16, 1705708800, "did:peers:alice",
	                           username, pw),
	             64);
	CHECK_STR(pw, "71069e6ee0d84889ff23c51edf006249ae55ab5da7a314a32165d9c5447d6547");

	/* Anonymous: empty and NULL user give "<expiry>:". */
	CHECK_EQ_INT(ice_rest_mint(c, secret, 16, 1705708800, "", username, pw),
	             ICE_REST_PASSWORD_LEN);
	CHECK_STR(username, "1705708800:");
	CHECK_STR(pw, "Ha3w45DySl/ddnlqt2Io/COV82E=");
	CHECK_EQ_INT(ice_rest_mint(c, secret, 16, 1705708800, NULL, username, pw),
	             ICE_REST_PASSWORD_LEN);
	CHECK_STR(username, "1705708800:");

	/* The largest user and expiry fit the documented buffer exactly. */
	memset(user, 'a', ICE_REST_USER_MAX);
	user[ICE_REST_USER_MAX] = '\0';
	CHECK_EQ_INT(ice_rest_mint(c, secret, 16, UINT64_MAX, user, username, pw),
	             ICE_REST_PASSWORD_LEN);
	CHECK_EQ_INT(strlen(username), 20 + 1 + ICE_REST_USER_MAX);
	CHECK(strncmp(username, "18446744073709551615:", 21) == 0);

	user[ICE_REST_USER_MAX] = 'a';
	user[ICE_REST_USER_MAX + 1] = '\0';
	CHECK_EQ_INT(ice_rest_mint(c, secret, 16, 1, user, username, pw), -ENAMETOOLONG);
}

static void
test_split(void)
{
	uint64_t expiry = 0;
	const char *user = NULL;
	size_t user_len = 99;
	const char *s;

	s = "1705708800:did:peers:alice";
	CHECK_EQ_INT(ice_rest_username_split(s, strlen(s), &expiry, &user, &user_len), 0);
	CHECK(expiry == 1705708800u);
	CHECK(user == s + 11);
	CHECK_EQ_INT(user_len, strlen("did:peers:alice"));

	/* Anonymous: empty user. */
	s = "42:";
	CHECK_EQ_INT(ice_rest_username_split(s, strlen(s), &expiry, &user, &user_len), 0);
	CHECK(expiry == 42);
	CHECK_EQ_INT(user_len, 0);

	/* The length bounds the view: no NUL needed, nothing read past it. */
	s = "7:abcdef";
	CHECK_EQ_INT(ice_rest_username_split(s, 4, &expiry, &user, &user_len), 0);
	CHECK(expiry == 7);
	CHECK_EQ_INT(user_len, 2);

	s = "18446744073709551615:x"; /* UINT64_MAX */
	CHECK_EQ_INT(ice_rest_username_split(s, strlen(s), &expiry, &user, &user_len), 0);
	CHECK(expiry == UINT64_MAX);

	/* A bare expiry, as coturn accepts it (turnutils_uclient -W without -u):
	 * anonymous, the user view empty at the end of the username. */
	s = "1705708800";
	user_len = 99;
	CHECK_EQ_INT(ice_rest_username_split(s, strlen(s), &expiry, &user, &user_len), 0);
	CHECK(expiry == 1705708800u);
	CHECK(user == s + 10);
	CHECK_EQ_INT(user_len, 0);
	/* The length bounds it too: "123:x" cut at 3 is the bare "123". */
	s = "123:x";
	CHECK_EQ_INT(ice_rest_username_split(s, 3, &expiry, &user, &user_len), 0);
	CHECK(expiry == 123 && user_len == 0);

	static const char *const bad[] = {
		"",                        /* empty */
		":alice",                  /* no time */
		"1705708800x",             /* not a bare expiry either */
		"18446744073709551616",    /* a bare expiry that overflows */
		"17057o8800:alice",        /* not decimal */
		"-5:alice",                /* sign */
		" 5:alice",                /* space */
		"18446744073709551616:x",  /* UINT64_MAX + 1 */
		"99999999999999999999:x",  /* overflows */
		"000000000000000000001:x", /* 21 digits */
		"alice:1705708800",        /* coturn's user-first order is not ours */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ice_rest_username_split(bad[i], strlen(bad[i]), &expiry, &user, &user_len);
		if (rc != -EBADMSG)
			fprintf(stderr, "split accepted bad[%zu] \"%s\"\n", i, bad[i]);
		CHECK_EQ_INT(rc, -EBADMSG);
	}
}

int
main(void)
{
	test_password_vectors();
	test_hex_sha256_vectors();
	test_mint();
	test_split();
	TEST_DONE();
}
