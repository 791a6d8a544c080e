/*
 * REST credential vectors. The expected passwords were computed outside this
 * code base, once, and pasted here:
 *   printf '%s' '1705708800:did:peers:alice' | \
 *     openssl dgst -sha1 -hmac 'north-sea-secret' -binary | base64
 * and likewise for the other rows; the RFC 2202 rows are that RFC's HMAC-SHA1
 * digests (test cases 1, 2 and 6), base64-encoded with python3's base64 module.
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
check_vector(const uint8_t *secret, size_t secret_len, const char *username, const char *expected)
{
	char pw[ICE_REST_PASSWORD_LEN + 1];

	memset(pw, 'X', sizeof(pw));
	CHECK_EQ_INT(ice_rest_password(secret, secret_len, username, strlen(username), pw), 0);
	CHECK_EQ_INT(pw[ICE_REST_PASSWORD_LEN], '\0');
	CHECK_STR(pw, expected);
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
}

static void
test_mint(void)
{
	char username[ICE_REST_USERNAME_MAX], pw[ICE_REST_PASSWORD_LEN + 1];
	char user[ICE_REST_USER_MAX + 2];
	const uint8_t *secret = (const uint8_t *)"north-sea-secret";

	CHECK_EQ_INT(ice_rest_mint(secret, 16, 1705708800, "did:peers:alice", username, pw), 0);
	CHECK_STR(username, "1705708800:did:peers:alice");
	CHECK_STR(pw, "/48XhXMKmt9dr8UkrG8qmP3JzUg=");

	/* Anonymous: empty and NULL user give "<expiry>:". */
	CHECK_EQ_INT(ice_rest_mint(secret, 16, 1705708800, "", username, pw), 0);
	CHECK_STR(username, "1705708800:");
	CHECK_STR(pw, "Ha3w45DySl/ddnlqt2Io/COV82E=");
	CHECK_EQ_INT(ice_rest_mint(secret, 16, 1705708800, NULL, username, pw), 0);
	CHECK_STR(username, "1705708800:");

	/* The largest user and expiry fit the documented buffer exactly. */
	memset(user, 'a', ICE_REST_USER_MAX);
	user[ICE_REST_USER_MAX] = '\0';
	CHECK_EQ_INT(ice_rest_mint(secret, 16, UINT64_MAX, user, username, pw), 0);
	CHECK_EQ_INT(strlen(username), 20 + 1 + ICE_REST_USER_MAX);
	CHECK(strncmp(username, "18446744073709551615:", 21) == 0);

	user[ICE_REST_USER_MAX] = 'a';
	user[ICE_REST_USER_MAX + 1] = '\0';
	CHECK_EQ_INT(ice_rest_mint(secret, 16, 1, user, username, pw), -ENAMETOOLONG);
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

	static const char *const bad[] = {
		"",                        /* empty */
		":alice",                  /* no time */
		"1705708800",              /* no colon */
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
	/* A colon beyond the length does not count. */
	s = "123:x";
	CHECK_EQ_INT(ice_rest_username_split(s, 3, &expiry, &user, &user_len), -EBADMSG);
}

int
main(void)
{
	test_password_vectors();
	test_mint();
	test_split();
	TEST_DONE();
}
