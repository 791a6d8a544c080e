/*
 * Cluster (issue 14, docs/cluster.md): icestation nodes share health,
 * per-user quotas and revocations through one Redis (standalone, or the
 * primary a Sentinel points at; not Redis Cluster), through hiredis on the
 * caller's libevent event_base (the main thread's). It never sits on the
 * packet path.
 *
 * Rules every function here keeps:
 * - Asynchronous: no call blocks the loop (DNS names are resolved with
 *   evdns), and every Redis request has a timeout.
 * - Bounded: at most max_pending requests are in flight; beyond that a
 *   request fails at once and is counted, so a Redis stall cannot grow
 *   memory.
 * - Fail-open: with Redis down, slow or full, every answer falls back to
 *   local state (quota: DEGRADED, the caller counts locally; ICE nodes: this
 *   node alone) and is counted in icestation_cluster_degraded_total.
 * - Callbacks run on the loop given to ice_cluster_new, never inside the
 *   call that started the work, and never from another thread. A callback
 *   must not call ice_cluster_free.
 * - Reconnects with backoff; on reconnect it registers again, writes back
 *   this node's quota contributions and reloads the revocation set. Each
 *   state change is logged once (not each failed attempt).
 *
 * Not thread-safe: one thread (the one running the event_base) calls all of
 * this.
 */
#ifndef ICESTATION_CLUSTER_H
#define ICESTATION_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"

struct event_base;
struct ice_config;

enum {
	ICE_CLUSTER_ID_MAX = 63,        /* node-id bytes (config rule) */
	ICE_CLUSTER_HOST_MAX = 253,     /* turns: host name bytes */
	ICE_CLUSTER_VERSION_MAX = 31,   /* software version bytes */
	ICE_CLUSTER_MAX_ENDPOINTS = 16, /* addresses in one node record */
	ICE_CLUSTER_MAX_NODES = 256,    /* nodes read per heartbeat */
	ICE_CLUSTER_USER_MAX = 256,     /* user bytes (= ICE_REST_USER_MAX) */
	ICE_CLUSTER_RECORD_MAX = 4096,  /* encoded node record bytes */
	ICE_CLUSTER_DEFAULT_PENDING = 256,
	ICE_CLUSTER_DEFAULT_USERS = 65536, /* users with quota state on this node */
	ICE_CLUSTER_DEFAULT_OUTBOX = 1024, /* revocations kept while Redis is away */
};

enum ice_cluster_strategy {
	ICE_CLUSTER_SELF_FIRST,   /* this node first when healthy, then least loaded */
	ICE_CLUSTER_LEAST_LOADED, /* fewest allocations first */
};

enum ice_cluster_service {
	ICE_CLUSTER_STUN = 1,
	ICE_CLUSTER_TURN = 2,
};

/* One public address of a node: "turn over tcp at 203.0.113.7:3478". */
struct ice_cluster_endpoint {
	uint8_t service;   /* enum ice_cluster_service */
	uint8_t transport; /* one enum ice_transport bit (config.h): UDP, TCP or TLS */
	struct ice_addr addr;
};

/*
 * A node as the cluster sees it: what its record says. Plain memory, cheap to
 * copy. Strings are NUL-terminated.
 */
struct ice_cluster_node {
	char id[ICE_CLUSTER_ID_MAX + 1];
	char version[ICE_CLUSTER_VERSION_MAX + 1];
	char turns_host[ICE_CLUSTER_HOST_MAX + 1]; /* "" when it has no turns: name */
	uint64_t instance;   /* random per process: tells a restart from a live node */
	uint64_t generation; /* its config generation */
	struct ice_cluster_endpoint ep[ICE_CLUSTER_MAX_ENDPOINTS];
	size_t n_ep;
	uint32_t allocations;
	uint32_t max_allocations; /* 0 = no limit known */
	uint64_t rx_bps;          /* relayed bytes/s from clients towards peers */
	uint64_t tx_bps;          /* relayed bytes/s from peers towards clients */
	bool draining;
	uint64_t written_ms; /* unix ms when the node wrote the record (its clock) */
	ice_ms_t expires;    /* reader's monotonic ms when the record expires; not encoded */
};

/* The part of this node's record that changes between heartbeats. */
struct ice_cluster_load {
	uint32_t allocations;
	uint64_t rx_bps, tx_bps;
};

/*
 * Settings: the few the layer uses (fill them with
 * ice_cluster_settings_from_config). ice_cluster_new copies every string.
 */
struct ice_cluster_settings {
	const char *redis_unix; /* unix socket path, or NULL for host:port */
	const char *redis_host; /* IP literal or DNS name */
	uint16_t redis_port;
	uint32_t redis_db;
	const char *redis_password; /* NULL: no AUTH */
	const char *key_prefix;
	const char *node_id;
	uint32_t heartbeat_ms, node_ttl_ms;
	uint32_t quota_timeout_ms;   /* an acquire waits this long, then DEGRADED */
	uint32_t command_timeout_ms; /* every other request; 0 = 1000 */
	uint32_t ice_nodes;
	enum ice_cluster_strategy strategy;
	uint32_t max_allocations_per_user;        /* 0 = no cluster-wide limit */
	uint32_t allocations_per_minute_per_user; /* 0 = no cluster-wide limit */
	uint32_t max_pending; /* requests in flight; 0 = ICE_CLUSTER_DEFAULT_PENDING */
	uint32_t max_users;   /* quota table entries; 0 = ICE_CLUSTER_DEFAULT_USERS */
	uint32_t max_outbox;  /* unsent revocations; 0 = ICE_CLUSTER_DEFAULT_OUTBOX */
	uint32_t reconnect_min_ms, reconnect_max_ms; /* backoff; 0 = 100 and 2000 */
};

/* Everything delivered to the caller, on the loop. Any pointer may be NULL. */
struct ice_cluster_callbacks {
	/*
	 * Fill this node's load now: called before each heartbeat writes the
	 * record, and by ice_cluster_ice_nodes/ice_cluster_nodes to judge this
	 * node on its live state. Keep it cheap (a few counters).
	 */
	void (*load)(void *arg, struct ice_cluster_load *out);
	/*
	 * A revocation from any node (pub/sub), or one of the set loaded at
	 * (re)connect. user is NUL-terminated and borrowed for the call.
	 * revoked_at and until are unix seconds. The same revocation may come
	 * more than once: apply it idempotently.
	 */
	void (*revoked)(void *arg, const char *user, uint64_t revoked_at, uint64_t until);
	/* Redis reachable (both connections ready) or not; once per change. */
	void (*state)(void *arg, bool up);
	void *arg;
};

struct ice_cluster;

/*
 * Fill s from the snapshot's cluster and turn sections. Strings are borrowed
 * from cfg, which must outlive the ice_cluster_new call (not longer).
 * Returns 0, or -EINVAL when the cluster section is absent or disabled.
 */
int ice_cluster_settings_from_config(struct ice_cluster_settings *s, const struct ice_config *cfg);

/*
 * Fill self with this node's static record from cfg: node id, software
 * version, and an endpoint for each enabled STUN/TURN transport at its
 * public-ip (TLS at tls.port), max_allocations, and generation. The caller
 * adds what config does not know (a turns: host name, more addresses).
 * Returns 0 or -EINVAL (cluster disabled).
 */
int ice_cluster_local_from_config(struct ice_cluster_node *self, const struct ice_config *cfg,
                                  uint64_t generation);

/*
 * Create the cluster client on base (borrowed, must outlive it) and start
 * connecting at once. s and cb are copied. Returns NULL with *err set
 * (-EINVAL for bad settings, -ENOMEM).
 */
struct ice_cluster *ice_cluster_new(struct event_base *base, const struct ice_cluster_settings *s,
                                    const struct ice_cluster_callbacks *cb, int *err);

/*
 * Close both connections and free everything. Pending callbacks are not
 * called. Accepts NULL. Use ice_cluster_leave first for a clean goodbye.
 */
void ice_cluster_free(struct ice_cluster *c);

/*
 * Set this node's static record (copied): everything but id (from the
 * settings), instance, load and draining. Call again after a reload (new
 * generation). The next heartbeat writes it. Returns 0 or -EINVAL.
 */
int ice_cluster_set_local(struct ice_cluster *c, const struct ice_cluster_node *self);

/*
 * Mark this node draining (or not). The record is written at once, so other
 * nodes stop listing it within one round trip plus their next heartbeat.
 */
void ice_cluster_set_draining(struct ice_cluster *c, bool draining);

/*
 * Remove this node's record and quota liveness from Redis (graceful stop):
 * other nodes stop listing it at their next heartbeat instead of after
 * node-ttl. done (may be NULL) is called once with 0, or -ETIMEDOUT /
 * -ENOTCONN. After this, heartbeats stop. Returns 0 (pending) or -ENOTCONN
 * (Redis down: done is not called).
 */
int ice_cluster_leave(struct ice_cluster *c, void (*done)(void *arg, int result), void *arg);

/* True when both Redis connections are ready. */
bool ice_cluster_is_up(const struct ice_cluster *c);

/*
 * The nodes an ICE answer lists, in strategy order, at most min(max,
 * ice-api.nodes), copied into out. Synchronous: it reads the list the last
 * heartbeat fetched. Draining, full and expired nodes are never listed; this
 * node is judged by its live state, not by its last record. With Redis down
 * or the list older than node-ttl, the answer is this node alone (counted as
 * degraded). Returns the number written: 0 only when Redis is up and no node
 * is healthy (the caller may answer with itself, as without a cluster).
 */
size_t ice_cluster_ice_nodes(struct ice_cluster *c, struct ice_cluster_node *out, size_t max);

/*
 * Every node of the last fetched list that has not expired, healthy or not
 * (for /admin/v1/cluster), this node's live record first. Returns the number
 * copied into out (at most max).
 */
size_t ice_cluster_nodes(struct ice_cluster *c, struct ice_cluster_node *out, size_t max);

enum ice_cluster_quota {
	ICE_CLUSTER_QUOTA_OK,        /* admitted cluster-wide */
	ICE_CLUSTER_QUOTA_OVER_USER, /* max-allocations-per-user reached cluster-wide (486) */
	ICE_CLUSTER_QUOTA_OVER_RATE, /* allocations-per-minute-per-user reached (486) */
	ICE_CLUSTER_QUOTA_DEGRADED,  /* no answer in time: decide on the local count */
	ICE_CLUSTER_QUOTA_PENDING,   /* the answer comes through the callback */
};

typedef void (*ice_cluster_quota_fn)(void *arg, enum ice_cluster_quota result);

/*
 * Ask for one more allocation for user (NUL-terminated, 1..256 bytes,
 * borrowed for the call) against the cluster-wide per-user limits. Returns
 * PENDING, and then fn(arg, result) is called exactly once within
 * quota-timeout (plus one loop turn) with OK, OVER_USER, OVER_RATE or
 * DEGRADED. Returns a final result at once instead (fn not called) when no
 * limit is set (OK) or Redis is down, the queue full or the table full
 * (DEGRADED).
 *
 * Accounting: every OK or DEGRADED, whether returned or delivered, holds one
 * allocation of user on this node until ice_cluster_quota_release is called
 * for it, also when the caller did not allocate after all (then release at
 * once). OVER_* hold nothing.
 */
enum ice_cluster_quota ice_cluster_quota_acquire(struct ice_cluster *c, const char *user,
                                                 ice_cluster_quota_fn fn, void *arg);

/* Give back one allocation of user held on this node. Unknown users are ignored. */
void ice_cluster_quota_release(struct ice_cluster *c, const char *user);

/*
 * Revoke user's credentials cluster-wide: store (user, revoked_at, until)
 * with an expiry at until (unix seconds; give revoked_at plus the longest
 * credential life) and publish it. Every node's revoked callback gets it
 * through pub/sub, this node's too, once Redis has it; the caller applies it
 * locally at once itself (the callback then repeats it, harmlessly). With
 * Redis down it is kept (at most max_outbox) and sent on reconnect. Returns
 * 0, -EINVAL (bad user, until <= revoked_at), -ENOMEM or -ENOBUFS (outbox
 * full; counted).
 */
int ice_cluster_revoke(struct ice_cluster *c, const char *user, uint64_t revoked_at,
                       uint64_t until);

/* What /admin/v1/cluster shows besides the nodes. */
struct ice_cluster_status {
	bool up;
	uint32_t pending;     /* requests in flight */
	uint32_t users;       /* users with quota state on this node */
	uint32_t outbox;      /* revocations waiting for Redis */
	uint32_t nodes;       /* nodes in the last list, this one included */
	uint64_t list_age_ms; /* since the node list was last fetched; UINT64_MAX = never */
};

void ice_cluster_status(const struct ice_cluster *c, struct ice_cluster_status *st);

/* --- pure functions (no Redis, no clock; unit-tested) --- */

/*
 * A node may be handed out at monotonic time now: not draining, below its
 * max_allocations (when known), and its record not expired.
 */
bool ice_cluster_node_is_healthy(const struct ice_cluster_node *n, ice_ms_t now);

/*
 * Order nodes[0..n) for an ICE answer: write the indices of up to want
 * healthy nodes into idx, in strategy order. self is the index of this node
 * in nodes, or SIZE_MAX. self-first: self first when healthy, then the
 * others by fewest allocations; least-loaded: all by fewest allocations.
 * Ties go to the lower id (a stable, repeatable order). Returns the count.
 */
size_t ice_cluster_select(const struct ice_cluster_node *nodes, size_t n, size_t self,
                          enum ice_cluster_strategy strategy, ice_ms_t now, size_t want,
                          size_t *idx);

/*
 * The most allocations (or Allocates per minute) one user can get
 * cluster-wide while `degraded` of `nodes` nodes cannot reach Redis, with
 * `limit` the per-user limit: each cut-off node admits up to limit on its
 * own count, and the nodes still connected share one limit between them.
 * limit * min(nodes, degraded + 1); limit when nothing is degraded. 0 when
 * limit is 0 (no limit: nothing to bound) or nodes is 0.
 */
uint64_t ice_cluster_quota_bound(uint32_t limit, uint32_t nodes, uint32_t degraded);

#endif
