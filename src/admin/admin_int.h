/*
 * Private to src/admin: the pure request router (route.c) shared by the
 * server and the fuzzer.
 */
#ifndef ICESTATION_ADMIN_INT_H
#define ICESTATION_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/admin.h"
#include "icestation/turn.h"

enum admin_method {
	ADMIN_GET,
	ADMIN_POST,
	ADMIN_DELETE,
	ADMIN_OTHER,
};

enum admin_route {
	ADMIN_R_STATUS,      /* GET  /admin/v1/status */
	ADMIN_R_ALLOCS,      /* GET  /admin/v1/allocations[?user=U] */
	ADMIN_R_KILL,        /* DELETE /admin/v1/allocations/{id} */
	ADMIN_R_REVOKE,      /* POST /admin/v1/users/{user}/revoke[?until=T] */
	ADMIN_R_UNREVOKE,    /* DELETE /admin/v1/users/{user}/revoke */
	ADMIN_R_REVOCATIONS, /* GET  /admin/v1/revocations */
	ADMIN_R_RELOAD,      /* POST /admin/v1/reload */
	ADMIN_R_DRAIN,       /* POST /admin/v1/drain */
	ADMIN_R_CLUSTER,     /* GET  /admin/v1/cluster */
	ADMIN_R_SELFTEST,    /* GET  /admin/v1/selftest */
	ADMIN_R_PAGE,        /* GET  /admin/, /admin/app.js, /admin/app.css: the status page */
};

/* The status page's files (page.c), by ADMIN_R_PAGE's r->page. */
enum admin_page {
	ADMIN_PAGE_HTML,
	ADMIN_PAGE_JS,
	ADMIN_PAGE_CSS,
};

struct admin_req {
	enum admin_route route;
	uint64_t id;    /* KILL */
	uint64_t until; /* REVOKE; 0 = until lifted */
	bool has_user;  /* ALLOCS filter, REVOKE, UNREVOKE */
	size_t user_len;
	char user[TURN_USER_INFO_MAX + 1]; /* percent-decoded, NUL-terminated */
	const char *allow;                 /* 405: the methods the path takes */
	enum admin_page page;              /* PAGE */
};

/*
 * Route one request: path and query (may be NULL) as they came, undecoded.
 * Returns 0 with *r filled, or the HTTP status to answer: 404 (no such
 * path), 405 (r->allow set), 400 (a bad id, user, until or query).
 * Pure: no allocation, no I/O.
 */
int admin_route(enum admin_method m, const char *path, const char *query, struct admin_req *r);

/* Whether a routed request may be answered without a bearer token (the
 * status page's static files: they hold no data). */
bool admin_route_is_public(const struct admin_req *r);

#endif
