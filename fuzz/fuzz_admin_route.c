/*
 * libFuzzer target for the admin API's router (src/admin/route.c), the pure
 * function every admin request goes through before anything else, and the
 * one that decides which requests need no token. Input: one byte for the
 * method, then the path, then after the first '?' the query, as the server
 * hands them over (C strings, each in a heap block of exactly its size).
 * Beyond "no crash", it checks what server.c and handlers.c rely on:
 *   - the answer is 0 or one of 400, 404, 405, and a 405 names its methods;
 *   - a routed user is NUL-terminated at user_len, 1..TURN_USER_INFO_MAX
 *     bytes, with no control byte (it goes into JSON and logs);
 *   - only GETs of the status page's four paths are public (no token),
 *     never anything under /admin/v1/;
 *   - routing is a pure function: the same input routes the same way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/admin/admin_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
check(enum admin_method m, const char *path, const char *query, int rc, const struct admin_req *r)
{
	if (rc != 0 && rc != 400 && rc != 404 && rc != 405)
		abort();
	if (rc == 405 && (r->allow == NULL || r->allow[0] == '\0'))
		abort();
	if (rc == 0 && r->has_user) {
		if (r->user_len == 0 || r->user_len > TURN_USER_INFO_MAX ||
		    r->user[r->user_len] != '\0' || strlen(r->user) != r->user_len)
			abort();
		for (size_t i = 0; i < r->user_len; i++)
			if ((unsigned char)r->user[i] < 0x20 || r->user[i] == 0x7f)
				abort();
	}
	if (rc == 0 && admin_route_is_public(r)) {
		if (m != ADMIN_GET || r->route != ADMIN_R_PAGE || strncmp(path, "/admin", 6) != 0 ||
		    strncmp(path, "/admin/v1/", 10) == 0)
			abort();
	}
	(void)query;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *q;
	enum admin_method m;
	struct admin_req r1, r2;
	char *path, *query = NULL;
	int rc1, rc2;

	if (size < 1)
		return 0;
	m = (enum admin_method)(data[0] % 4);
	data++;
	size--;
	q = memchr(data, '?', size);
	path = dup_n(data, q ? (size_t)(q - data) : size);
	if (q != NULL)
		query = dup_n(q + 1, size - (size_t)(q - data) - 1);
	rc1 = admin_route(m, path, query, &r1);
	check(m, path, query, rc1, &r1);
	rc2 = admin_route(m, path, query, &r2);
	if (rc1 != rc2 ||
	    (rc1 == 0 && (r1.route != r2.route || r1.id != r2.id || r1.until != r2.until ||
	                  r1.page != r2.page || r1.user_len != r2.user_len)))
		abort();
	free(path);
	free(query);
	return 0;
}
