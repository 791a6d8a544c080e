/*
 * Private to src/admin: the server object, shared by server.c (listener,
 * auth, routing) and handlers.c (what each route answers).
 */
#ifndef ICESTATION_ADMIN_SRV_H
#define ICESTATION_ADMIN_SRV_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>

#include "icestation/http_conns.h"

#include "admin_int.h"

enum {
	ADMIN_TIMEOUT_S = 30,        /* per read/write, and from accept or a request to the next */
	ADMIN_LIST_MAX = 10000,      /* allocations listed per worker at most */
	ADMIN_RELOAD_ERR_MAX = 4096, /* the loader's error text in a 422 */
};

struct admin_pending;

struct ice_admin {
	struct event_base *base;
	struct evhttp *evh;
	struct ice_admin_ops ops;
	char *unix_path;     /* a socket file we made (removed at free) */
	bool fd_passed_unix; /* a unix socket systemd passed in */
	char *tokens[ICE_CONFIG_MAX_TOKENS];
	size_t n_tokens;
	struct admin_pending *pending; /* asynchronous answers in flight */
	struct ice_http_conns *conns;  /* limits and deadlines (http_conns.h) */
	struct ice_metrics *m;         /* this loop's block for the conns' counts */
};

/* Answer body (taken over, may be NULL: 500) as JSON with code. */
void admin_reply_json(struct evhttp_request *req, int code, const char *reason, cJSON *body);
/* {"error": error, "detail": detail} (detail may be NULL). */
void admin_reply_error(struct evhttp_request *req, int code, const char *reason, const char *error,
                       const char *detail);

/* Be told when evcon closes (cb NULL: no more), whoever owns evhttp's close callback. */
void admin_watch(struct ice_admin *a, struct evhttp_connection *evcon,
                 void (*cb)(struct evhttp_connection *, void *), void *arg);

/* handlers.c: answer a routed request (now, or later for listings and kills). */
void admin_handle(struct ice_admin *a, struct evhttp_request *req, const struct admin_req *r);
/* Forget answers still in flight (shutdown: their callbacks will never come). */
void admin_pending_free_all(struct ice_admin *a);

/* page.c: one of the status page's files, built into the binary. */
void admin_page_reply(struct evhttp_request *req, enum admin_page page);

#endif
