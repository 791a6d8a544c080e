/*
 * The admin API's router: method and raw path (and query) to a route with
 * its decoded parameters. Pure, so the fuzzer drives exactly what the server
 * runs. Users are percent-decoded (a DID's colons may come encoded), must be
 * 1..TURN_USER_INFO_MAX bytes and hold no control byte; ids are the 16 hex
 * digits the listing shows; until is unix seconds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"

static const char prefix[] = "/admin/v1/";

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..len) into r->user. false on bad escapes, NUL or control bytes, or length. */
static bool
decode_user(const char *s, size_t len, struct admin_req *r)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3 || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return false;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || n == TURN_USER_INFO_MAX)
			return false;
		r->user[n++] = (char)c;
	}
	if (n == 0)
		return false;
	r->user[n] = '\0';
	r->user_len = n;
	r->has_user = true;
	return true;
}

/* The value of key in query (raw), or NULL; *len its length. */
static const char *
query_get(const char *query, const char *key, size_t *len)
{
	size_t klen = strlen(key);

	for (const char *p = query; p != NULL && *p != '\0';) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);

		if (plen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			*len = plen - klen - 1;
			return p + klen + 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

/* Only the keys a route takes: anything else is a mistake worth a 400. */
static bool
query_only(const char *query, const char *allowed)
{
	size_t alen = allowed ? strlen(allowed) : 0;

	for (const char *p = query; p != NULL && *p != '\0';) {
		const char *amp = strchr(p, '&');
		const char *eq = strchr(p, '=');

		if (allowed == NULL || eq == NULL || (amp != NULL && eq > amp) ||
		    (size_t)(eq - p) != alen || strncmp(p, allowed, alen) != 0)
			return false;
		p = amp ? amp + 1 : NULL;
	}
	return true;
}

static bool
parse_u64(const char *s, size_t len, int base, uint64_t *out)
{
	uint64_t v = 0;
	int d;

	if (len == 0 || len > (base == 16 ? 16u : 19u))
		return false;
	for (size_t i = 0; i < len; i++) {
		d = base == 16 ? hexval(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
		if (d < 0)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return true;
}

/* /users/{user}/revoke */
static int
route_user(enum admin_method m, const char *rest, const char *query, struct admin_req *r)
{
	static const char tail[] = "/revoke";
	const char *end = strchr(rest, '/');
	const char *v;
	size_t vlen;

	if (end == NULL || strcmp(end, tail) != 0)
		return 404;
	r->allow = "POST, DELETE";
	if (m != ADMIN_POST && m != ADMIN_DELETE)
		return 405;
	if (!decode_user(rest, (size_t)(end - rest), r))
		return 400;
	r->route = m == ADMIN_POST ? ADMIN_R_REVOKE : ADMIN_R_UNREVOKE;
	if (!query_only(query, m == ADMIN_POST ? "until" : NULL))
		return 400;
	v = query_get(query, "until", &vlen);
	if (v != NULL && !parse_u64(v, vlen, 10, &r->until))
		return 400;
	return 0;
}

/* The paths without parameters: one line each (a new route goes here). */
static const struct fixed_route {
	const char *path; /* after /admin/v1/ */
	enum admin_method method;
	enum admin_route route;
} fixed_routes[] = {
	{ "status", ADMIN_GET, ADMIN_R_STATUS },
	{ "revocations", ADMIN_GET, ADMIN_R_REVOCATIONS },
	{ "reload", ADMIN_POST, ADMIN_R_RELOAD },
	{ "drain", ADMIN_POST, ADMIN_R_DRAIN },
	{ "selftest", ADMIN_GET, ADMIN_R_SELFTEST },
	{ "cluster", ADMIN_GET, ADMIN_R_CLUSTER },
};

/* The status page's files, by full path. */
static const struct page_route {
	const char *path;
	enum admin_page page;
} page_routes[] = {
	{ "/admin", ADMIN_PAGE_HTML },
	{ "/admin/", ADMIN_PAGE_HTML },
	{ "/admin/app.js", ADMIN_PAGE_JS },
	{ "/admin/app.css", ADMIN_PAGE_CSS },
};

/* A fixed path: its route if the method matches, else 405. */
static int
route_fixed(enum admin_method m, const struct fixed_route *f, const char *query,
            struct admin_req *r)
{
	r->allow = f->method == ADMIN_GET ? "GET" : "POST";
	if (m != f->method)
		return 405;
	if (!query_only(query, NULL))
		return 400;
	r->route = f->route;
	return 0;
}

/* The status page: GET only; a query is ignored (the page keeps its token
 * in the URL fragment, which browsers never send). */
static int
route_page(enum admin_method m, const char *path, struct admin_req *r)
{
	for (size_t i = 0; i < sizeof(page_routes) / sizeof(page_routes[0]); i++) {
		if (strcmp(path, page_routes[i].path) != 0)
			continue;
		r->allow = "GET";
		if (m != ADMIN_GET)
			return 405;
		r->route = ADMIN_R_PAGE;
		r->page = page_routes[i].page;
		return 0;
	}
	return 404;
}

bool
admin_route_is_public(const struct admin_req *r)
{
	return r->route == ADMIN_R_PAGE;
}

int
admin_route(enum admin_method m, const char *path, const char *query, struct admin_req *r)
{
	const char *rest, *v;
	size_t vlen;

	memset(r, 0, sizeof(*r));
	if (path == NULL)
		return 404;
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return route_page(m, path, r);
	rest = path + sizeof(prefix) - 1;
	for (size_t i = 0; i < sizeof(fixed_routes) / sizeof(fixed_routes[0]); i++)
		if (strcmp(rest, fixed_routes[i].path) == 0)
			return route_fixed(m, &fixed_routes[i], query, r);
	if (strcmp(rest, "allocations") == 0) {
		r->allow = "GET";
		if (m != ADMIN_GET)
			return 405;
		if (!query_only(query, "user"))
			return 400;
		v = query_get(query, "user", &vlen);
		if (v != NULL && !decode_user(v, vlen, r))
			return 400;
		r->route = ADMIN_R_ALLOCS;
		return 0;
	}
	if (strncmp(rest, "allocations/", 12) == 0) {
		r->allow = "DELETE";
		if (m != ADMIN_DELETE)
			return 405;
		if (!parse_u64(rest + 12, strlen(rest + 12), 16, &r->id) ||
		    !query_only(query, NULL))
			return 400;
		r->route = ADMIN_R_KILL;
		return 0;
	}
	if (strncmp(rest, "users/", 6) == 0)
		return route_user(m, rest + 6, query, r);
	return 404;
}
