/*
 * The ICE-config input checks (src/http/query.c): percent-decoding, the
 * user_did parameter and the DID rule, without a socket.
 */
#include <errno.h>
#include <string.h>

#include "http_int.h"
#include "testutil.h"

static void
test_pct_decode(void)
{
	char out[16];

	CHECK_EQ_INT(http_pct_decode("a%3Ab%3ac", 9, out, sizeof(out)), 5);
	CHECK_STR(out, "a:b:c");
	CHECK_EQ_INT(http_pct_decode("a+b", 3, out, sizeof(out)), 3);
	CHECK_STR(out, "a b");
	CHECK_EQ_INT(http_pct_decode("", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(http_pct_decode("%zz", 3, out, sizeof(out)), -EBADMSG);
	CHECK_EQ_INT(http_pct_decode("ab%4", 4, out, sizeof(out)), -EBADMSG);
	CHECK_EQ_INT(http_pct_decode("ab%", 3, out, sizeof(out)), -EBADMSG);
	CHECK_EQ_INT(http_pct_decode("a%00b", 5, out, sizeof(out)), -EBADMSG);
	/* A raw NUL inside len is refused like %00: the result is a C string. */
	CHECK_EQ_INT(http_pct_decode("a\0b", 3, out, sizeof(out)), -EBADMSG);
	/* The length bounds the read: "%41" past len is not looked at. */
	CHECK_EQ_INT(http_pct_decode("ab%41", 2, out, sizeof(out)), 2);
	CHECK_EQ_INT(http_pct_decode("0123456789abcdef", 16, out, sizeof(out)), -ENAMETOOLONG);
	CHECK_EQ_INT(http_pct_decode("0123456789abcde", 15, out, sizeof(out)), 15);
	CHECK_EQ_INT(http_pct_decode("a", 1, out, 0), -ENAMETOOLONG);
}

static void
test_query_user(void)
{
	char user[ICE_REST_USER_MAX + 1], q[HTTP_QUERY_MAX + 64];

	CHECK_EQ_INT(http_query_user(NULL, user), 0);
	CHECK_STR(user, "");
	CHECK_EQ_INT(http_query_user("", user), 0);
	CHECK_STR(user, "");
	CHECK_EQ_INT(http_query_user("user_did=did%3Apeers%3Aalice", user), 0);
	CHECK_STR(user, "did:peers:alice");
	CHECK_EQ_INT(http_query_user("x=1&user_did=did:a:b&y", user), 0);
	CHECK_STR(user, "did:a:b");
	CHECK_EQ_INT(http_query_user("user%5Fdid=did:a:b", user), 0);
	CHECK_STR(user, "did:a:b");
	CHECK_EQ_INT(http_query_user("user_did", user), 0);
	CHECK_STR(user, "");
	CHECK_EQ_INT(http_query_user("user_did=", user), 0);
	CHECK_STR(user, "");
	CHECK_EQ_INT(http_query_user("user_didx=did:a:b&&", user), 0);
	CHECK_STR(user, "");
	CHECK_EQ_INT(http_query_user("user_did=a&user_did=b", user), -EEXIST);
	CHECK_EQ_INT(http_query_user("user_did=&user_did=", user), -EEXIST);
	CHECK_EQ_INT(http_query_user("user_did=%G1", user), -EBADMSG);
	CHECK_EQ_INT(http_query_user("user_did=%00", user), -EBADMSG);
	/* A failed decode leaves "", not the bytes decoded before the error. */
	memset(user, 'Z', sizeof(user));
	CHECK_EQ_INT(http_query_user("user_did=did:a:b%4", user), -EBADMSG);
	CHECK_STR(user, "");
	memset(user, 'Z', sizeof(user));
	CHECK_EQ_INT(http_query_user("user_did=did:a:b&user_did=x", user), -EEXIST);
	CHECK_STR(user, "");

	/* 256 decoded bytes pass; 257 do not, whether raw or encoded. */
	strcpy(q, "user_did=");
	memset(q + 9, 'a', ICE_REST_USER_MAX);
	q[9 + ICE_REST_USER_MAX] = '\0';
	CHECK_EQ_INT(http_query_user(q, user), 0);
	CHECK_EQ_INT(strlen(user), ICE_REST_USER_MAX);
	strcat(q, "a");
	CHECK_EQ_INT(http_query_user(q, user), -ENAMETOOLONG);
	strcpy(q, "user_did=");
	for (int i = 0; i < 200; i++)
		strcat(q, "%41");
	CHECK_EQ_INT(http_query_user(q, user), 0);
	CHECK_EQ_INT(strlen(user), 200);
	for (int i = 0; i < 57; i++)
		strcat(q, "%41");
	CHECK_EQ_INT(http_query_user(q, user), -ENAMETOOLONG);

	memset(q, 'x', HTTP_QUERY_MAX + 1);
	q[HTTP_QUERY_MAX + 1] = '\0';
	CHECK_EQ_INT(http_query_user(q, user), -ENAMETOOLONG);
}

static void
test_did(void)
{
	static const char *const good[] = {
		"",
		"did:peers:alice",
		"did:web:example.com",
		"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		"did:example:123456789abcdefghi",
		"did:ex:a:b",
		"did:ex:a::b",
		"did:ex:%41%2f",
		"did:1:x",
		"did:ex:a.b-c_d",
	};
	static const char *const bad[] = {
		"alice",            /* no colon at all */
		"did",              /* too short */
		"did:",             /* no method */
		"did::x",           /* empty method */
		"did:Peers:x",      /* upper-case method */
		"did:pe-ers:x",     /* '-' in method */
		"did:peers",        /* no id */
		"did:peers:",       /* empty id */
		"did:peers:alice:", /* ends with ':' */
		"DID:peers:alice",  /* scheme is lower case */
		"did:peers:al ice", /* space */
		"did:peers:al\tice",
		"did:peers:al\x01ice",
		"did:peers:al/ice",
		"did:peers:al%4", /* short pct-encoding */
		"did:peers:al%zz",
		"did:peers:al\xc3\xa9", /* non-ASCII */
		"x did:peers:alice",
	};
	char long_did[ICE_REST_USER_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc = http_did_check(good[i], strlen(good[i]));
		if (rc != 0)
			fprintf(stderr, "rejected good[%zu] %s\n", i, good[i]);
		CHECK_EQ_INT(rc, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = http_did_check(bad[i], strlen(bad[i]));
		if (rc != -EINVAL)
			fprintf(stderr, "accepted bad[%zu] %s\n", i, bad[i]);
		CHECK_EQ_INT(rc, -EINVAL);
	}
	memcpy(long_did, "did:x:", 6);
	memset(long_did + 6, 'a', ICE_REST_USER_MAX - 6);
	long_did[ICE_REST_USER_MAX] = '\0';
	CHECK_EQ_INT(http_did_check(long_did, ICE_REST_USER_MAX), 0);
	long_did[ICE_REST_USER_MAX] = 'a';
	long_did[ICE_REST_USER_MAX + 1] = '\0';
	CHECK_EQ_INT(http_did_check(long_did, ICE_REST_USER_MAX + 1), -EINVAL);
}

int
main(void)
{
	test_pct_decode();
	test_query_user();
	test_did();
	TEST_DONE();
}
