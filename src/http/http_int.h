/*
 * Private to src/http: the server object shared by the connection tracker
 * (server.c), the ICE-config handler (ice_api.c), the operational endpoints
 * (ops.c) and the pure query/identity checks (query.c).
 */
#ifndef ICESTATION_HTTP_INT_H
#define ICESTATION_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "icestation/auth.h"
#include "icestation/config.h"
#include "icestation/http.h"
#include "icestation/http_conns.h"
#include "icestation/metrics.h"
#include "icestation/ratelimit.h"

enum {
	HTTP_QUERY_MAX = 4096,         /* raw query bytes looked at; longer = 400 */
	HTTP_ORIGIN_MAX = 512,         /* an Origin header longer than this never matches */
	HTTP_CACHE_MAX_AGE_CAP = 3600, /* Cache-Control max-age ceiling, seconds */
	HTTP_PREFLIGHT_MAX_AGE = 600,  /* Access-Control-Max-Age, seconds */
	HTTP_USER_RAW_MAX = 3 * ICE_REST_USER_MAX, /* percent-encoded user_did bound */
	HTTP_LAT_BUCKETS = 12,                     /* latency histogram, +Inf included */
};

/* The constant parts of the ICE-config body, built once by ice_api_init. */
struct ice_api_tmpl {
	char *head; /* up to the username value, or the whole body */
	size_t head_len;
	char *mid; /* between username and credential values */
	size_t mid_len;
	char *tail; /* after the credential value */
	size_t tail_len;
	bool has_turn;       /* false: head is the whole body, nothing minted */
	const char *unready; /* why no body can be built (public address unusable) */
	char unready_text[512];
	char *vary;     /* the Vary header value */
	char cache[64]; /* the Cache-Control header value */
};

struct evbuffer;

struct ice_http {
	struct event_base *base;
	const struct ice_config *cfg;
	/* The public IPs advertised: cfg's, or the daemon's newer answer to
	 * public-ip: auto (ice_http_set_public_ip). */
	struct ice_addr public_stun, public_turn;
	const struct ice_http_hooks *hooks;
	struct evhttp *evh;
	struct ice_metrics *m;

	struct ice_http_conns *conns; /* limits and deadlines (http_conns.h) */
	struct evconnlistener *lev;   /* evhttp's listener; paused on accept errors */
	struct event *resume_ev;      /* re-enables lev after the pause */
	struct ice_http *next;        /* server.c's list of live servers */
	bool tls_on;                  /* HTTPS (http.tls): conns wraps new connections */
	uint64_t tls_expiry;          /* notAfter of the pair in force (unix s) */

	/* The Date header value and the second it was formatted for. */
	char date[40];
	time_t date_at;

	struct ice_api_tmpl tmpl;
	struct ice_ratelimit *rl; /* per-caller ICE API limit (guard.c); NULL = none */

	/* /metrics: descriptor indexes grouped by family name, built once. */
	uint16_t *metric_order;
	bool *metric_family_start;

	/* ICE-API latency histogram (scrape.c): this thread's only. */
	uint64_t lat_bucket[HTTP_LAT_BUCKETS];
	uint64_t lat_sum_ns;
};

/* https.c ----------------------------------------------------------------- */

/* HTTPS from cfg->http.tls, when set: 0, or -EINVAL (the file named in the log). */
int http_tls_init(struct ice_http *h);

/* server.c ---------------------------------------------------------------- */

/*
 * Send a reply with body (may be NULL) and count it by status class. Borrows
 * everything; evhttp copies the body into the request's output buffer. Marks
 * the connection answered (served: evicted last), restarts its request
 * deadline and adds Date.
 */
void http_reply(struct ice_http *h, struct evhttp_request *req, int code, const char *reason,
                const char *body, size_t body_len);

/* A JSON error reply: {"error": error, "detail": detail}. Both are constants. */
void http_reply_error(struct ice_http *h, struct evhttp_request *req, int code, const char *reason,
                      const char *error, const char *detail);

/* Add a header to the reply; evhttp copies key and value. */
void http_header(struct evhttp_request *req, const char *key, const char *value);

/* 405 for the ICE-config paths, with their Allow list. */
void http_reply_405_ice(struct ice_http *h, struct evhttp_request *req);

/* ice_api.c --------------------------------------------------------------- */

/* Build the constant JSON pieces from h->cfg. Returns 0 or -ENOMEM. */
int ice_api_init(struct ice_http *h);
void ice_api_fini(struct ice_http *h);
/* Free a template's pieces (not t itself). */
void ice_api_tmpl_free(struct ice_api_tmpl *t);

/* GET|HEAD|OPTIONS /api/v1/turn/ice-servers and its alias. */
void ice_api_handle(struct ice_http *h, struct evhttp_request *req);

/*
 * True when bearer tokens are configured and req carries none of them (then
 * the caller answers 401). Compares in time independent of the given token.
 */
bool http_bearer_denied(const struct ice_http *h, struct evhttp_request *req);

/* 401 with WWW-Authenticate: Bearer. */
void http_reply_401(struct ice_http *h, struct evhttp_request *req);

/* ice_cluster.c: the answer listing the cluster's nodes into out, with this
 * credential. 0, -ENOENT (no cluster, or no node: the template applies),
 * -ENOMEM. */
int ice_api_cluster_body(struct ice_http *h, struct evbuffer *out, const char *username,
                         const char *password);

/* guard.c ----------------------------------------------------------------- */

/*
 * Build what guards the API from h->cfg: logs a warning when the API
 * listens beyond loopback with no access control, and makes the per-caller
 * rate limiter. old: the snapshot h ran on before (a reload; NULL at start):
 * the limiter is rebuilt, with full buckets, only when its figures changed.
 * On failure the old limiter stays. Returns 0, -ENOMEM, or -errno from
 * getrandom.
 */
int http_guard_init(struct ice_http *h, const struct ice_config *old);
void http_guard_fini(struct ice_http *h);

/*
 * Take one request from the caller's bucket. true: go on. false: the caller
 * is over http.rate-limit; a 429 with Retry-After has been sent.
 */
bool http_guard_admit(struct ice_http *h, struct evhttp_request *req);

/* ops.c ------------------------------------------------------------------- */

int ops_init(struct ice_http *h);
void ops_fini(struct ice_http *h);
void ops_healthz(struct ice_http *h, struct evhttp_request *req);
void ops_readyz(struct ice_http *h, struct evhttp_request *req);
void ops_metrics(struct ice_http *h, struct evhttp_request *req);

/* scrape.c ---------------------------------------------------------------- */

/* CLOCK_MONOTONIC nanoseconds. */
uint64_t http_clock_ns(void);

/* Count one ICE-API request that took ns into the latency histogram. */
void http_latency_observe(struct ice_http *h, uint64_t ns);

/* Append the families computed at scrape time: build, process, latency. */
void http_scrape_extra(const struct ice_http *h, struct evbuffer *out);

/* query.c (pure: no libevent) --------------------------------------------- */

/*
 * Percent-decode src[0..len) into dst (capacity cap, NUL-terminated on
 * success). '+' decodes to a space (application/x-www-form-urlencoded).
 * Returns the decoded length, -EBADMSG for a bad or truncated %xx or a NUL
 * (raw or %00), -ENAMETOOLONG if the result does not fit. On failure dst is
 * unspecified (possibly unterminated).
 */
int http_pct_decode(const char *src, size_t len, char *dst, size_t cap);

/*
 * Find the user_did parameter in a raw query string (without '?'; may be
 * NULL). Writes the decoded value into user[ICE_REST_USER_MAX + 1] ("" if
 * absent or empty). Other parameters are ignored, but every key is decoded so
 * an encoded "user_did" is found too. Returns 0; -EBADMSG for bad percent
 * encoding; -ENAMETOOLONG for a value over ICE_REST_USER_MAX bytes decoded or
 * a query over HTTP_QUERY_MAX; -EEXIST when user_did appears twice. user is a
 * valid C string ("" on failure) whatever the result.
 */
int http_query_user(const char *query, char *user);

/*
 * Check a decoded identity: "" (anonymous) or a W3C DID
 * "did:<method>:<method-specific-id>" (docs/api.md states the rule).
 * Returns 0 or -EINVAL.
 */
int http_did_check(const char *user, size_t len);

#endif
