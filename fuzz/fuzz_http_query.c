/*
 * libFuzzer target for the ICE-config request's input checks (src/http/query.c):
 * http_pct_decode, http_query_user and http_did_check. Every buffer is a heap
 * block of exactly the size the contract allows, so ASan catches any read or
 * write one byte past it. Beyond "no crash", it checks the properties the
 * handler relies on:
 *   - a decode that succeeds is NUL-terminated at the returned length, fits
 *     the capacity and contains no NUL (the identity is a C string);
 *   - re-encoding every decoded byte as %XX decodes back to the same bytes;
 *   - a user_did that passes the DID rule is safe to paste into a JSON string
 *     and a TURN username unescaped (no quote, backslash, control or non-ASCII
 *     byte), since ice_api.c does exactly that;
 *   - http_query_user finds a value the fuzzer percent-encodes itself, exactly.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_decoded(const char *dst, int rc, size_t cap)
{
	if (rc < 0)
		return;
	if ((size_t)rc >= cap || dst[rc] != '\0' || strlen(dst) != (size_t)rc)
		abort();
}

/* Every byte as %XX, then decoded again: the same bytes come back. */
static void
check_roundtrip(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *enc = malloc(3 * len + 1), *back = malloc(len + 1);
	int rc;

	if (enc == NULL || back == NULL)
		abort();
	for (size_t i = 0; i < len; i++) {
		enc[3 * i] = '%';
		enc[3 * i + 1] = hex[(unsigned char)s[i] >> 4];
		enc[3 * i + 2] = hex[(unsigned char)s[i] & 15];
	}
	rc = http_pct_decode(enc, 3 * len, back, len + 1);
	if (rc != (int)len || memcmp(back, s, len) != 0)
		abort();
	free(enc);
	free(back);
}

/* What ice_api.c pastes into JSON and the TURN username without escaping. */
static void
check_json_safe(const char *user)
{
	for (const char *p = user; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			abort();
	}
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	/* The first byte picks the capacity, so the bound itself is fuzzed. */
	size_t cap = size > 0 ? data[0] : 0;
	char *dst = malloc(cap ? cap : 1);
	int rc;

	if (dst == NULL)
		abort();
	rc = http_pct_decode((const char *)data + (size > 0), size - (size > 0), dst, cap);
	if (rc != -EBADMSG && rc != -ENAMETOOLONG && rc < 0)
		abort();
	check_decoded(dst, rc, cap);
	if (rc > 0)
		check_roundtrip(dst, (size_t)rc);
	free(dst);
}

static void
fuzz_query(const uint8_t *data, size_t size)
{
	char *q = malloc(size + 1), *user = malloc(ICE_REST_USER_MAX + 1);
	int rc;

	if (q == NULL || user == NULL)
		abort();
	memcpy(q, data, size);
	q[size] = '\0';
	rc = http_query_user(q, user);
	if (rc == 0) {
		size_t len = strnlen(user, ICE_REST_USER_MAX + 1);

		if (len > ICE_REST_USER_MAX)
			abort();
		if (http_did_check(user, len) == 0)
			check_json_safe(user);
	} else if (rc != -EBADMSG && rc != -ENAMETOOLONG && rc != -EEXIST) {
		abort();
	}
	free(q);
	free(user);
}

/* "user_did=" + the input percent-encoded: found exactly when it fits. */
static void
fuzz_query_roundtrip(const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	char *q, *user;
	size_t n = 0;
	int rc;

	if (size > ICE_REST_USER_MAX || memchr(data, 0, size) != NULL)
		return;
	q = malloc(9 + 3 * size + 1);
	user = malloc(ICE_REST_USER_MAX + 1);
	if (q == NULL || user == NULL)
		abort();
	memcpy(q, "user_did=", 9);
	n = 9;
	for (size_t i = 0; i < size; i++) {
		q[n++] = '%';
		q[n++] = hex[data[i] >> 4];
		q[n++] = hex[data[i] & 15];
	}
	q[n] = '\0';
	rc = http_query_user(q, user);
	/* 3 * 256 + 9 is under HTTP_QUERY_MAX, so this must always be found. */
	if (rc != 0 || strlen(user) != size || memcmp(user, data, size) != 0)
		abort();
	free(q);
	free(user);
}

static void
fuzz_did(const uint8_t *data, size_t size)
{
	/* Not NUL-terminated: the check must stay inside len. */
	char *u = malloc(size ? size : 1);
	int rc;

	if (u == NULL)
		abort();
	memcpy(u, data, size);
	rc = http_did_check(u, size);
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == 0) {
		if (size > ICE_REST_USER_MAX)
			abort();
		for (size_t i = 0; i < size; i++) {
			unsigned char c = (unsigned char)u[i];

			if (c < 0x21 || c >= 0x7f || c == '"' || c == '\\')
				abort();
		}
	}
	free(u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size);
	fuzz_query(data, size);
	fuzz_query_roundtrip(data, size);
	fuzz_did(data, size);
	return 0;
}
