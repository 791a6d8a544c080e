/*
 * Private to src/cluster: the cluster object and the pieces its files share.
 *
 *   conn.c      one Redis connection: connect (evdns for names), handshake
 *               hooks, a fixed pool of request slots each with its own
 *               timeout, stall detection, reconnect with backoff
 *   scripts.c   the Lua scripts (atomic multi-key steps) and EVALSHA calls
 *   cluster.c   the object: two connections (commands, pub/sub), up/down
 *               state logged once per change, metrics, the heartbeat tick
 *   handshake.c what each connection sends first; pub/sub messages
 *   registry.c  this node's record, the node list, ICE node selection
 *   quota.c     per-user cluster quotas and this node's contributions
 *   revoke.c    revocations: store and publish, subscribe, load, outbox
 *   select.c, record.c, settings.c: pure parts
 *
 * Redis keys (P = key-prefix): P node:<id> (record, PX node-ttl), P nodes
 * (zset id -> expiry), P live (zset instance -> expiry), P qa:<user> (hash
 * instance -> allocations held), P qr:<user> (zset of Allocate times),
 * P revoked (hash user -> "revoked_at until") and P revoked:until (zset
 * user -> until, to expire entries). Channels: P revocations,
 * P ping:<instance>.
 */
#ifndef ICESTATION_CLUSTER_INT_H
#define ICESTATION_CLUSTER_INT_H

#include <sys/queue.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "icestation/cluster.h"
#include "icestation/metrics.h"

struct evdns_base;
struct evdns_getaddrinfo_request;

/* --- conn.c --- */

/* err is 0 (r set; it may be an error reply), -ETIMEDOUT or -ENOTCONN (r NULL). */
typedef void (*cl_reply_fn)(void *arg, const redisReply *r, int err);

struct cl_slot {
	struct cl_conn *conn;
	struct event timer; /* the request's timeout, then its stall limit */
	cl_reply_fn fn;
	void *arg;
	bool answered; /* fn already called (timed out); the reply is dropped */
	struct cl_slot *next_free;
};

enum cl_state {
	CL_DOWN,       /* waiting for the backoff timer */
	CL_RESOLVING,  /* evdns lookup of the host name */
	CL_CONNECTING, /* TCP or unix connect in progress */
	CL_HANDSHAKE,  /* connected; AUTH, SELECT, script loads or SUBSCRIBE */
	CL_READY,
};

struct cl_conn {
	struct ice_cluster *c;
	const char *name; /* "commands" or "pub/sub", for logs */
	redisAsyncContext *ac;
	enum cl_state state;
	struct cl_slot *slots;
	struct cl_slot *free;
	uint32_t n_slots, in_use;
	struct event *timer; /* backoff before a retry, or the connect deadline */
	struct event *drop;  /* a deferred drop: never free hiredis inside its own callback */
	struct evdns_getaddrinfo_request *dns_req;
	uint32_t backoff_ms;
	bool closing;      /* ice_cluster_free: no callbacks any more */
	bool dropping;     /* our own redisAsyncFree is running */
	bool drop_pending; /* cl_conn_drop queued the drop event */
	char why[160];     /* the last failure, for the one log line */
	/* Hooks set by the owner: start the handshake; the connection went away. */
	void (*on_connected)(struct cl_conn *conn);
	void (*on_lost)(struct cl_conn *conn, bool was_ready);
};

int cl_conn_init(struct cl_conn *conn, struct ice_cluster *c, const char *name, uint32_t n_slots);
void cl_conn_fini(struct cl_conn *conn);
/* Start connecting now (from CL_DOWN). */
void cl_conn_start(struct cl_conn *conn);
/* Handshake done: CL_READY, connect deadline off, backoff reset. */
void cl_conn_set_ready(struct cl_conn *conn);
/* Drop the connection (deferred to the loop) and retry after the backoff. */
void cl_conn_drop(struct cl_conn *conn, const char *fmt, ...) ICE_PRINTF(2, 3);
/*
 * Send one command (argv borrowed for the call) with a timeout. fn is called
 * exactly once, on the loop: with the reply, -ETIMEDOUT, or -ENOTCONN.
 * Returns 0, -ENOTCONN (not connected; fn not called) or -ENOBUFS (every
 * slot in use; counted; fn not called).
 */
int cl_conn_send(struct cl_conn *conn, uint32_t timeout_ms, cl_reply_fn fn, void *arg, int argc,
                 const char **argv, const size_t *argvlen);
/* Slots free for new requests (0 when not connected). */
uint32_t cl_conn_room(const struct cl_conn *conn);

/* --- scripts.c --- */

enum cl_script {
	CL_SCRIPT_HEARTBEAT, /* write the record, read the node list, ping ourselves */
	CL_SCRIPT_LEAVE,     /* remove the record and the instance's liveness */
	CL_SCRIPT_ACQUIRE,   /* check and take one allocation of a user */
	CL_SCRIPT_QSET,      /* set this instance's allocations of a user */
	CL_SCRIPT_REVOKE,    /* store and publish a revocation */
	CL_SCRIPT_COUNT,
};

/* Hash every script (SHA-1, as Redis names them). 0 or -EIO. */
int cl_scripts_init(struct ice_cluster *c);
/* SCRIPT LOAD each script on the command connection; done(c, ok) once. */
int cl_scripts_load(struct ice_cluster *c, void (*done)(struct ice_cluster *c, bool ok));
/*
 * EVALSHA script 0 <prefix> args... on the command connection. Returns what
 * cl_conn_send returns. A NOSCRIPT reply (Redis lost its cache) reloads the
 * scripts; the caller sees that reply as an error.
 */
int cl_script_call(struct ice_cluster *c, enum cl_script s, uint32_t timeout_ms, cl_reply_fn fn,
                   void *arg, int argc, const char **argv, const size_t *argvlen);
/* True for an error reply; counts it (and handles NOSCRIPT). */
bool cl_reply_is_error(struct ice_cluster *c, const redisReply *r);

/* --- the object (cluster.c) --- */

struct cl_user;
struct cl_acq;
struct cl_revocation;

struct ice_cluster {
	struct event_base *base;
	struct ice_cluster_settings s; /* strings point at the owned copies below */
	char *own_unix, *own_host, *own_password, *own_prefix, *own_id;
	struct ice_cluster_callbacks cb;
	struct ice_metrics *m;
	struct evdns_base *dns;
	char where[160]; /* "redis://host:port/db" or "unix:/path", for logs */

	struct cl_conn cmd, sub;
	bool up;          /* both ready: the state the metric and callback show */
	bool down_logged; /* the down state was logged since the last up */
	struct event *tick;
	uint64_t instance;
	char instance_hex[17];
	char sha[CL_SCRIPT_COUNT][41];
	bool scripts_loading; /* one SCRIPT LOAD round at a time: */
	unsigned load_left;   /* its replies still to come */
	bool load_ok;
	void (*load_done)(struct ice_cluster *c, bool ok);

	/* registry.c */
	struct ice_cluster_node self;
	bool draining, left, hb_inflight, hb_again;
	bool dup_logged;                          /* another instance with our node-id was seen */
	struct ice_cluster_node *cache, *scratch; /* ICE_CLUSTER_MAX_NODES + 1 each */
	size_t n_cache;
	ice_ms_t cache_at; /* 0 = no list since the command connection came up */
	ice_ms_t hb_ok_at; /* the last heartbeat Redis answered */
	void (*leave_done)(void *arg, int result);
	void *leave_arg;

	/* quota.c */
	struct cl_user **users; /* hash buckets */
	size_t n_buckets, n_users;
	TAILQ_HEAD(cl_user_list, cl_user) dirty, aged;
	struct cl_acq *acqs, *acq_free;
	uint64_t rate_seq;

	/* revoke.c */
	TAILQ_HEAD(cl_rv_list, cl_revocation) outbox;
	uint32_t n_outbox;
	bool rv_loading;
	bool rv_need_load; /* set at each up; cleared once a load succeeded */
	ice_ms_t sub_seen; /* last message on our ping channel */
};

ice_ms_t cl_now_ms(void);
uint64_t cl_unix_ms(void);
/* The prefix followed by name, into buf (for channel names). Returns buf. */
const char *cl_key(const struct ice_cluster *c, const char *name, char *buf, size_t len);
void cl_count(struct ice_cluster *c, enum ice_metric_id id);
/* The command connection is ready for requests. */
bool cl_cmd_ready(const struct ice_cluster *c);

/*
 * Recompute the up state (both connections ready); on a change, log once,
 * set the metric, call the state callback, and load the revocation set
 * when up. failed: the connection that just went down, for the log line.
 */
void cl_update_up(struct ice_cluster *c, const struct cl_conn *failed);

/* --- handshake.c: the on_connected hooks of the two connections --- */
void cl_handshake_cmd(struct cl_conn *conn);
void cl_handshake_sub(struct cl_conn *conn);

/* --- registry.c --- */
int cl_registry_init(struct ice_cluster *c);
void cl_registry_fini(struct ice_cluster *c);
/* Write the record (and read the list) now, unless one is in flight. */
void cl_registry_heartbeat(struct ice_cluster *c);
/* The command connection came up or went down. */
void cl_registry_cmd_state(struct ice_cluster *c, bool ready);

/* --- quota.c --- */
int cl_quota_init(struct ice_cluster *c);
void cl_quota_fini(struct ice_cluster *c);
/* Every heartbeat: write back what changed, refresh old entries. */
void cl_quota_tick(struct ice_cluster *c, ice_ms_t now);
/* The command connection came up: write every contribution again. */
void cl_quota_resync(struct ice_cluster *c);

/* --- revoke.c --- */
void cl_revoke_fini(struct ice_cluster *c);
/* Send what the outbox holds. */
void cl_revoke_flush(struct ice_cluster *c);
/* Both connections are up: load the whole set and deliver it. */
void cl_revoke_load(struct ice_cluster *c);
/* A pub/sub reply on the subscriber connection (NULL when it closes). */
void cl_revoke_on_message(struct ice_cluster *c, const redisReply *r);

#endif
