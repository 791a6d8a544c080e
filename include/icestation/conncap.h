/*
 * Per-source-address connection caps and fair eviction for one pool of
 * connections that share a global limit (a worker's TCP and TLS clients,
 * the ICE API's connections, the admin API's). One thread owns a pool: no
 * lock, no allocation after ice_conncap_new (but for a growing reserve).
 *
 * Sources: an IPv4 address, or the /64 of an IPv6 address (one host usually
 * owns a whole /64; counting per /128 would let it rotate addresses). An
 * IPv4-mapped IPv6 address counts as its IPv4 address.
 *
 * Counts: a fixed open-addressed table keyed by SipHash under a random key
 * (a client cannot aim collisions at one window), each key searched in a
 * window of ICE_CONNCAP_PROBE slots, as the rate limiter's table. A source
 * has an entry while it holds a connection, or while its last log line is
 * recent. The table has at least twice as many slots as the pool may hold
 * connections, so a window full of sources that hold connections is rare;
 * then the new connection is admitted untracked (counted, never refused for
 * it): the global limit and eviction still bound it.
 *
 * Eviction: every connection is in one of three states. Pending: it has not
 * yet completed a request (or a first frame). Served: it has. Pinned: it
 * must never be closed for a newcomer (a TURN/TCP connection that carries an
 * allocation). When the pool is full, a newcomer under its cap closes the
 * oldest pending connection, else the oldest served one (by the time it was
 * served or unpinned), else it is refused. Both are FIFO lists: O(1).
 *
 * Connections are classes (ICE_CONNCAP_*: the listener they came to), each
 * with its own per-address cap; one pool may hold several (a worker's TCP
 * and TLS clients share its tcp-max-connections).
 *
 * Logging: one line per source per ICE_CONNCAP_LOG_MS about refusals and
 * evictions (conncap_gate.c), the rest counted as suppressed; addresses
 * masked as the other logs when asked.
 */
#ifndef ICESTATION_CONNCAP_H
#define ICESTATION_CONNCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/metrics.h"
#include "icestation/siphash.h"

/* The listeners, as classes of a pool and labels of metrics and logs. */
enum ice_conncap_class {
	ICE_CONNCAP_HTTP,  /* the ICE API */
	ICE_CONNCAP_TCP,   /* STUN/TURN over TCP */
	ICE_CONNCAP_TLS,   /* STUN/TURN over TLS */
	ICE_CONNCAP_ADMIN, /* the admin API over TCP */
	ICE_CONNCAP_CLASSES,
};

enum {
	ICE_CONNCAP_PROBE = 8,      /* slots searched per source */
	ICE_CONNCAP_LOG_MS = 60000, /* one log line per source per minute */
	ICE_CONNCAP_MAX_SLOTS = 1 << 21,
};

enum ice_conncap_verdict {
	ICE_CONNCAP_ADMIT,       /* room: add the new connection */
	ICE_CONNCAP_EVICT,       /* full: close *victim (it leaves the pool), then add */
	ICE_CONNCAP_REFUSE_ADDR, /* its source holds the class's cap: close the new one */
	ICE_CONNCAP_REFUSE_FULL, /* full, and nothing may be evicted: close the new one */
};

enum ice_conncap_state {
	ICE_CONNCAP_OUT,     /* not in the pool */
	ICE_CONNCAP_PENDING, /* no request (frame) completed yet: evicted first */
	ICE_CONNCAP_SERVED,  /* completed one: evicted last */
	ICE_CONNCAP_PINNED,  /* never evicted */
};

/*
 * Embedded in each connection object (the pool links it, the owner finds
 * its connection back from it with offsetof). Zeroed = not in a pool.
 */
struct ice_conncap_node {
	struct ice_conncap_node *prev, *next;
	uint8_t key[8];
	uint8_t family; /* AF_INET or AF_INET6 (the /64) */
	uint8_t cls;    /* enum ice_conncap_class */
	uint8_t state;  /* enum ice_conncap_state */
	bool counted;   /* its source's entry counts it */
};

struct ice_conncap;

/*
 * A pool for up to max_conns connections (the table gets at least twice as
 * many slots, a power of two, at most ICE_CONNCAP_MAX_SLOTS). key is
 * copied; m (may be NULL) is the owner thread's metrics block, where gate
 * counts. Every class starts with no per-address cap. Returns an owned pool
 * (ice_conncap_free) or NULL without memory.
 */
struct ice_conncap *ice_conncap_new(size_t max_conns, const struct ice_siphash_key *key,
                                    struct ice_metrics *m);

/* Free; accepts NULL. The owner closes its connections first (or forgets them). */
void ice_conncap_free(struct ice_conncap *cc);

/*
 * Make room for max_conns connections (a reload raised the limit): a
 * bigger table, the entries rehashed into it. Never shrinks. 0 or -ENOMEM
 * (the old table stays, fuller).
 */
int ice_conncap_reserve(struct ice_conncap *cc, size_t max_conns);

/* Count in m from now on (the owner thread's block, made after the pool). */
void ice_conncap_set_metrics(struct ice_conncap *cc, struct ice_metrics *m);

/* The per-address cap of class cls (0: none), and whether log lines mask addresses. */
void ice_conncap_set_cap(struct ice_conncap *cc, enum ice_conncap_class cls, uint32_t cap);
void ice_conncap_set_mask(struct ice_conncap *cc, bool mask);

/*
 * The decision for a new connection of class cls from src, full saying
 * whether the pool holds its global limit. Pure: counts nothing, logs
 * nothing (ice_conncap_gate does both). On ICE_CONNCAP_EVICT, *victim is
 * the connection to close; the new one is admitted once it is removed.
 */
enum ice_conncap_verdict ice_conncap_check(const struct ice_conncap *cc, enum ice_conncap_class cls,
                                           const struct ice_addr *src, bool full,
                                           struct ice_conncap_node **victim);

/*
 * ice_conncap_check, then count the outcome in the pool's metrics block
 * (icestation_connections_refused_total / _evicted_total by listener and
 * reason) and log it, one line per source per minute (now: monotonic ms).
 */
enum ice_conncap_verdict ice_conncap_gate(struct ice_conncap *cc, enum ice_conncap_class cls,
                                          const struct ice_addr *src, bool full, ice_ms_t now,
                                          struct ice_conncap_node **victim);

/*
 * Add node (zeroed or removed) for a connection of class cls from src, as
 * pending. Returns true when its source counts it, false when the source's
 * window was full (admitted untracked, counted in the metrics block).
 */
bool ice_conncap_add(struct ice_conncap *cc, struct ice_conncap_node *node,
                     enum ice_conncap_class cls, const struct ice_addr *src);

/* The connection completed a request or frame (pending -> served; else nothing). */
void ice_conncap_served(struct ice_conncap *cc, struct ice_conncap_node *node);

/* Pin (never evicted) or unpin (served again, the newest of them). */
void ice_conncap_pin(struct ice_conncap *cc, struct ice_conncap_node *node, bool pinned);

/* The connection leaves the pool (closed). A node not in it is ignored. */
void ice_conncap_remove(struct ice_conncap *cc, struct ice_conncap_node *node);

/* Connections of class cls src's source holds (counted ones). */
uint32_t ice_conncap_count(const struct ice_conncap *cc, enum ice_conncap_class cls,
                           const struct ice_addr *src);

/*
 * One log line about src now? True at most once per ICE_CONNCAP_LOG_MS per
 * source, then *suppressed is the number of calls answered false for it
 * since its previous line. False when it is too soon, or when the source
 * has no entry and none can be made (a window full of counted sources).
 */
bool ice_conncap_log_due(struct ice_conncap *cc, const struct ice_addr *src, ice_ms_t now,
                         uint32_t *suppressed);

/* Slots in the table (after rounding). */
size_t ice_conncap_capacity(const struct ice_conncap *cc);

#endif
