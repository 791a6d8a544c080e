/*
 * The connections of one evhttp server, bounded as libevent 2.1 cannot:
 * a global limit, a cap per source address with fair eviction
 * (conncap.h), and a whole-request deadline. The ICE API (src/http) and
 * the admin API (src/admin) each keep one, on the loop that runs their
 * evhttp.
 *
 * evhttp 2.1 has no connection limit (evhttp_set_max_connections is 2.2) and no
 * whole-request deadline: its timeout is per read, so a client dribbling one
 * header byte at a time keeps a connection forever. Both are built here from
 * public API: evhttp_set_bevcb tells us of every new connection (we create its
 * bufferevent); the evhttp_connection wrapping it is known once evhttp has set
 * its callbacks, so a deferred event "adopts" new connections in the same loop
 * turn, before any of their I/O: it applies the limits (refuses, or closes
 * the connection eviction picks to make room), sets a close callback (the
 * only end-of-connection notice evhttp gives, so the tracker owns it:
 * others watch through ice_http_conns_watch) and arms a deadline for the
 * next complete request.
 *
 * A connection is pending until its first answer, then served (evicted
 * last). The deadline is lazy (nginx's NGX_TIMER_LAZY_DELAY idea): an answer
 * only moves the due time; the timer, armed once per connection, re-arms
 * itself for the remainder when it finds it moved. Re-adding a timer per
 * request cost a min-heap delete and insert under the base lock on every
 * answer.
 */
#ifndef ICESTATION_HTTP_CONNS_H
#define ICESTATION_HTTP_CONNS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "icestation/conncap.h"
#include "icestation/metrics.h"

/* What the tracker counts besides the pool's families (the ICE API's own). */
struct ice_http_conns_ids {
	enum ice_metric_id accepted, open, rejected, timeout_request, timeout_idle, unanswered;
};

struct ice_http_conns_limits {
	uint32_t max;         /* open connections at most (fixed at creation) */
	uint32_t per_address; /* per source address (IPv6: /64); 0 = no cap */
	uint32_t timeout_ms;  /* from accept or the previous answer to the next answer */
	bool mask_addrs;      /* log lines mask addresses (logger.mask-addresses) */
};

struct ice_http_conns;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/*
 * Track every connection evh accepts from now on (sets its bevcb), on
 * base, as listener cls, counting in m (the loop thread's block; borrowed)
 * and, if ids is not NULL, in those metrics too (borrowed, must outlive
 * the tracker). Returns NULL without memory.
 */
struct ice_http_conns *ice_http_conns_new(struct event_base *base, struct evhttp *evh,
                                          enum ice_conncap_class cls,
                                          const struct ice_http_conns_limits *lim,
                                          struct ice_metrics *m,
                                          const struct ice_http_conns_ids *ids);

/* New per-address cap, timeout and masking (a reload); lim->max is ignored. */
void ice_http_conns_set(struct ice_http_conns *t, const struct ice_http_conns_limits *lim);

/*
 * req completed (the ICE API: it is being answered; the admin API: it came
 * in whole): its connection is served (evicted last), its deadline restarts.
 */
void ice_http_conns_served(struct ice_http_conns *t, struct evhttp_request *req);

/*
 * Call cb(evcon, arg) once when evcon closes (cb NULL: stop watching), as
 * evhttp_connection_set_closecb would, which the tracker owns. 0, or
 * -ENOENT for a connection the tracker does not know (it ran out of memory
 * at accept): then evhttp's own close callback is free for the caller.
 */
int ice_http_conns_watch(struct ice_http_conns *t, struct evhttp_connection *evcon,
                         void (*cb)(struct evhttp_connection *, void *), void *arg);

/*
 * Serve the connections accepted from now on over TLS with ctx (a reference
 * is taken; NULL: plain HTTP again). Live connections keep the context they
 * started with. The request deadline covers the handshake.
 */
void ice_http_conns_set_tls(struct ice_http_conns *t, struct ssl_ctx_st *ctx);

/* Free; accepts NULL. Call after evhttp_free (which closes the connections). */
void ice_http_conns_free(struct ice_http_conns *t);

/*
 * The tracker's clock: coarse monotonic milliseconds (a vDSO read, no
 * syscall), for others on the same loop that time callers (the ICE API's
 * rate limiter), so one clock serves both.
 */
ice_ms_t ice_http_conns_now_ms(void);

#endif
