/*
 * Private to src/turn: the objects of the state machine and the functions the
 * files of this folder share. Layout:
 *   server.c    turn_server lifecycle, indexes, lookups, expiry, teardown
 *   shared.c    turn_shared: global count, per-user quotas, reservations
 *   dispatch.c  turn_handle_stun: method dispatch, auth, 437/441/420
 *   alloc.c     Allocate and Refresh
 *   perm.c      CreatePermission, ChannelBind, permission/channel objects
 *   relay.c     Send indication, ChannelData, peer datagrams
 *   reply.c     response building
 *   policy.c    peer-address policy
 *   users.c     this worker's users: each one's allocations (revocation, listing)
 *   revoke.c    the immutable set of revoked users
 *   control.c   reconfigure, close by user or id, listing (the mailbox's side)
 *   tcp_conn.c  RFC 6062 data connections: objects, ids, timers, net's reports
 *   tcp_relay.c RFC 6062 Connect, ConnectionBind, ConnectionAttempt
 */
#ifndef ICESTATION_TURN_INT_H
#define ICESTATION_TURN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "icestation/auth_ltc.h"
#include "icestation/auth_ticket.h"
#include "icestation/pool.h"
#include "icestation/siphash.h"
#include "icestation/timerwheel.h"
#include "icestation/turn.h"
#include "icestation/turn_policy.h"

#include "bandwidth.h"
#include "htab.h"

#define TURN_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct turn_alloc;
struct turn_user;
struct turn_wuser;
struct turn_tconn;

/*
 * A realm as an allocation was made in: reference counted, so a reload that
 * changes the realm leaves live allocations in theirs (their keys were
 * derived with it) and costs each of them one pointer.
 */
struct turn_realm {
	unsigned refs;
	size_t len;
	char s[];
};

struct turn_relay {
	struct htab_node node; /* srv->by_handle, keyed by handle */
	struct turn_alloc *alloc;
	int handle; /* -1: this slot is unused */
	struct ice_addr addr;
};

struct turn_perm {
	struct htab_node node; /* srv->perms, keyed by (alloc, ip) */
	struct timerwheel_node timer;
	struct turn_alloc *alloc;
	struct turn_perm *next, **pprev; /* the allocation's list */
	struct ice_addr ip;              /* port 0 */
	ice_ms_t expires;                /* alive while now < expires */
	uint16_t n_chans;                /* channels pinning this object */
	bool self;                       /* one of our own addresses: Sends re-check the port */
};

struct turn_chan {
	struct htab_node by_num;  /* srv->chan_num, keyed by (alloc, number) */
	struct htab_node by_peer; /* srv->chan_peer, keyed by (alloc, peer) */
	struct timerwheel_node timer;
	struct turn_alloc *alloc;
	struct turn_perm *perm; /* the permission for peer's IP (pinned) */
	struct turn_chan *next, **pprev;
	struct ice_addr peer;
	ice_ms_t expires; /* bound while now < expires; then quarantined */
	uint16_t number;
	bool bound;
};

/*
 * The credential an allocation was made with, without the HMAC pads of
 * struct ltc_cred (264 bytes of the 576 an allocation took): turn_cred_load
 * absorbs them again (two hash blocks) for each request on the allocation,
 * a request-time cost traded for memory held per allocation.
 */
struct turn_cred {
	uint64_t expiry; /* REST expiry, unix seconds */
	uint8_t key[LTC_KEY_MAX];
	uint8_t key_len;
	uint8_t pw_alg;  /* enum stun_password_algorithm */
	uint8_t mac_alg; /* enum stun_hmac_alg of the cached mac, 0 = none */
};

struct turn_alloc {
	struct htab_node by_ft; /* srv->by_ft, keyed by the 5-tuple */
	struct htab_node by_id; /* srv->by_id, keyed by id */
	struct timerwheel_node timer;
	struct turn_5tuple ft;
	struct turn_relay relay[2]; /* [1]: the ADDITIONAL-ADDRESS-FAMILY relay */
	ice_ms_t expires;           /* alive while now < expires */
	ice_ms_t created;
	uint64_t created_unix_s;
	uint64_t id; /* worker id << 48 | sequence */
	struct turn_traffic traffic;
	struct turn_bucket bw[2]; /* max-bps-per-allocation, by enum turn_dir */
	struct turn_perm *perms;
	struct turn_chan *chans;
	struct turn_realm *realm;           /* the realm it was made in (a reference) */
	struct turn_user *user;             /* quota entry in turn_shared, or NULL */
	struct turn_wuser *wuser;           /* this worker's entry for the user */
	struct turn_alloc *wnext, **wpprev; /* the wuser's list */
	uint64_t username_hash;             /* SipHash of USERNAME (441 check) */
	uint64_t userhash_tag;              /* SipHash of its USERHASH, 0 when unknown */
	uint64_t token;                     /* RESERVATION-TOKEN we returned, 0 if none */
	uint32_t lifetime_s;                /* granted by the last Allocate/Refresh */
	uint16_t n_perms, n_chans;
	uint16_t addr_err_code;          /* ADDITIONAL-ADDRESS-FAMILY not granted: 440/508 */
	bool cluster_held;               /* the cluster counts it: quota_release at the end */
	uint8_t alloc_tid[STUN_TID_LEN]; /* for Allocate retransmissions */
	bool dont_fragment;
	bool mobile;               /* RFC 8016: its responses carry a MOBILITY-TICKET */
	uint8_t icmp_n;            /* ICMP indications sent in the second icmp_s */
	uint32_t mob_seq;          /* moves so far: tickets of earlier 5-tuples are refused */
	uint32_t icmp_s;           /* now / 1000 of the last ICMP indication (mod 2^32) */
	bool tcp;                  /* RFC 6062: its relays are TCP listeners */
	uint16_t n_tconns;         /* data connections held (tcp_conn.c) */
	struct turn_tconn *tconns; /* their list */
	struct turn_cred cred;
};

struct turn_server {
	struct turn_settings set;
	struct turn_shared *sh;
	struct turn_io io;
	struct ice_metrics *m;
	struct ice_ratelimit *challenge_rl; /* borrowed from net; NULL = none */
	uint64_t unix_s;
	ice_ms_t now;     /* the latest time an entry point was given (session records) */
	uint64_t id_base; /* worker id << 48 */
	unsigned wid;     /* worker id */
	uint64_t alloc_seq;

	struct turn_policy policy;
	struct ltc_config ltc;          /* realm: that of realm below */
	struct ltc_nonce_key nonce_key; /* ltc.nonce_key: the shared one, or the cluster's */
	struct turn_realm *realm;       /* the realm new allocations get (a reference) */
	struct ice_siphash_key hkey;
	uint32_t default_lifetime_s;
	uint32_t max_lifetime_s;

	struct ice_pool *alloc_pool, *perm_pool, *chan_pool;
	struct htab by_ft, by_id, by_handle, perms, chan_num, chan_peer;
	struct htab wusers; /* struct turn_wuser by name */
	/* Bandwidth (bandwidth.c): any limit on; users that relayed since the
	 * last tick; the relayed byte count at the last tick, and the smoothed
	 * rate (bytes/s). */
	bool bw_on;
	struct turn_wuser *bw_active;
	uint64_t bw_tick_total, bw_rate_Bps;
	ice_ms_t bw_tick_last;
	size_t bw_throttled;
	/* Allocates waiting for the cluster's quota answer (pending.c). */
	struct turn_pending *pending; /* TURN_PENDING_MAX, made at first use */
	size_t n_pending;
	uint64_t pending_seq;
	struct timerwheel alloc_timers, perm_timers, chan_timers;
	/* RFC 6062 data connections (tcp_conn.c), by CONNECTION-ID. */
	struct ice_pool *tconn_pool;
	struct htab tconns;
	struct timerwheel tconn_timers;
	uint32_t tconn_seq;
	size_t n_allocs;
	uint64_t ind_seq; /* transaction ids of Data indications */

	uint8_t tx[1024]; /* response scratch (TURN_BUF_SCRATCH) */
};

/* What a handler needs to answer: the request, its 5-tuple, the auth outcome. */
struct turn_ctx {
	struct turn_server *srv;
	const struct ltc_config *ltc; /* the server's, or one in an allocation's realm */
	const struct stun_msg *msg;
	const struct turn_5tuple *ft;
	ice_ms_t now;
	int verdict; /* the cluster's answer (enum turn_cluster_verdict), TURN_CQ_NONE before it */
	const struct ltc_result *auth; /* NULL: unauthenticated answer (no integrity) */
	struct turn_alloc *a;          /* the 5-tuple's allocation, if any */
	bool moving;                   /* a is another 5-tuple's, named by a mobility ticket */
};

/* What of ft a nonce is bound to (auth_ltc.h): the client and the transport. */
static inline struct ltc_tuple
turn_ltc_tuple(const struct turn_5tuple *ft)
{
	struct ltc_tuple t = { &ft->client, ft->proto };

	return t;
}

/*
 * The 5-tuple c's nonce is checked against and minted for. RFC 6062's
 * ConnectionBind comes on a new data connection with the control
 * connection's credentials, nonce included (coturn's client sends it so and
 * mostly reads no answer), so it is the allocation's 5-tuple (the control
 * connection the nonce was given to) there; c->a is that allocation. Any
 * other request: its own.
 */
static inline struct ltc_tuple
turn_nonce_tuple(const struct turn_ctx *c)
{
	if (c->msg->method == STUN_METHOD_CONNECTION_BIND && c->a != NULL)
		return turn_ltc_tuple(&c->a->ft);
	return turn_ltc_tuple(c->ft);
}

static inline const char *
turn_proto_str(uint8_t proto)
{
	return proto == TURN_PROTO_UDP ? "udp" : proto == TURN_PROTO_TCP ? "tcp" : "tls";
}

/* server.c */
/* A reference to the server's current realm / drop one (the last frees). */
struct turn_realm *turn_realm_ref(struct turn_realm *r);
void turn_realm_unref(struct turn_realm *r);
/* Take s as the settings: the credential mechanism, lifetimes and policy follow. */
void turn_settings_apply(struct turn_server *srv, const struct turn_settings *s);
struct turn_alloc *turn_alloc_find(struct turn_server *srv, const struct turn_5tuple *ft,
                                   ice_ms_t now);
struct turn_relay *turn_relay_find(struct turn_server *srv, int handle);
/* The (visible) allocation with this id, or NULL. */
struct turn_alloc *turn_alloc_find_id(struct turn_server *srv, uint64_t id);
uint64_t turn_hash_username(const struct turn_server *srv, const uint8_t *u, size_t len);
/* The tag of a USERHASH value (turn_alloc.userhash_tag): never 0. */
static inline uint64_t
turn_userhash_tag(const struct turn_server *srv, const uint8_t h[LTC_USERHASH_LEN])
{
	return turn_hash_username(srv, h, LTC_USERHASH_LEN) | 1;
}
/* Keep the parts of a verified cred an allocation needs (no HMAC pads). */
void turn_cred_store(struct turn_cred *dst, const struct ltc_cred *src);
/* Rebuild the ltc_cred of dst from src for ltc_verify; wipe it after use. */
void turn_cred_load(const struct turn_cred *src, struct ltc_cred *dst);
void turn_alloc_index(struct turn_server *srv, struct turn_alloc *a);
void turn_alloc_index_relay(struct turn_server *srv, struct turn_relay *r);
/* Re-key a (indexed) under the 5-tuple ft, moving a stream's hold with it. */
void turn_alloc_move(struct turn_server *srv, struct turn_alloc *a, const struct turn_5tuple *ft);
void turn_alloc_free(struct turn_server *srv, struct turn_alloc *a, enum turn_end why);
void turn_alloc_set_expiry(struct turn_server *srv, struct turn_alloc *a, ice_ms_t expires);
void turn_count(struct turn_server *srv, enum ice_metric_id id);
void turn_count_deny(struct turn_server *srv, enum turn_deny why);

/* perm.c */
struct turn_perm *turn_perm_find(struct turn_server *srv, struct turn_alloc *a,
                                 const struct ice_addr *peer);
struct turn_chan *turn_chan_find_num(struct turn_server *srv, struct turn_alloc *a,
                                     uint16_t number);
struct turn_chan *turn_chan_find_peer(struct turn_server *srv, struct turn_alloc *a,
                                      const struct ice_addr *peer);
/* Unpin p from a channel; frees it if it has expired meanwhile. */
void turn_perm_release(struct turn_server *srv, struct turn_perm *p);
void turn_perm_free(struct turn_server *srv, struct turn_perm *p);
void turn_chan_free(struct turn_server *srv, struct turn_chan *c);
void turn_perm_timer_fired(void *ctx, struct timerwheel_node *n);
void turn_chan_timer_fired(void *ctx, struct timerwheel_node *n);
/*
 * Decode one XOR-PEER-ADDRESS and judge it (a denial is counted and
 * reported). Returns 0, or the error code to answer: 400 malformed, 403
 * policy, 443 no relay of its family.
 */
int turn_check_peer(struct turn_ctx *c, const struct stun_attr *at, struct ice_addr *peer,
                    bool *self);
void turn_handle_create_permission(struct turn_ctx *c);
void turn_handle_channel_bind(struct turn_ctx *c);
/* The relay of a that serves peers of family, or NULL (443). */
struct turn_relay *turn_alloc_relay_for(struct turn_alloc *a, int family);

/* alloc.c */
void turn_handle_allocate(struct turn_ctx *c);
/* The Allocate success response for a (also for a retransmitted Allocate). */
void turn_reply_allocate_success(struct turn_ctx *c, struct turn_alloc *a);
void turn_handle_refresh(struct turn_ctx *c);

/* tcp_conn.c: a data connection (RFC 6062) and what it is waiting for. */
enum turn_tconn_state {
	TURN_TC_CONNECTING, /* Connect sent to the peer: the request is answered when it ends */
	TURN_TC_PENDING,    /* the peer is connected: waiting for the ConnectionBind */
	TURN_TC_BOUND,      /* relaying: net holds both ends */
};

struct turn_tconn {
	struct htab_node node; /* srv->tconns, keyed by id */
	struct timerwheel_node timer;
	struct turn_alloc *alloc;
	struct turn_tconn *next, **pprev; /* the allocation's list */
	struct ice_addr peer;
	uint32_t id;
	int handle; /* net's peer data connection */
	uint8_t state;
	bool mi, mi256; /* the Connect's integrity attributes, for its late answer */
	uint8_t tid[STUN_TID_LEN];
};

/* A new data connection of a to peer (state, handle set by the caller),
 * with its id indexed; NULL on ENOMEM. */
struct turn_tconn *turn_tconn_new(struct turn_server *srv, struct turn_alloc *a,
                                  const struct ice_addr *peer, uint8_t state);
struct turn_tconn *turn_tconn_find(struct turn_server *srv, uint32_t id);
/* Arm t's timer for now + s seconds; its state says what the timeout means. */
void turn_tconn_arm(struct turn_server *srv, struct turn_tconn *t, ice_ms_t now, unsigned s);
/* Forget t; close_net: tell net (tcp_close) to close its connections too. */
void turn_tconn_free(struct turn_server *srv, struct turn_tconn *t, bool close_net);
/* The allocation's connection limit (settings), and whether a holds it. */
bool turn_tconn_full(const struct turn_server *srv, const struct turn_alloc *a);
void turn_tconn_timer_fired(void *ctx, struct timerwheel_node *n);
/* Answer t's Connect (0 success with CONNECTION-ID, else the code), signed
 * like the request. */
void turn_tconn_answer(struct turn_server *srv, struct turn_tconn *t, int code, ice_ms_t now);

/* tcp_relay.c: RFC 6062 requests. */
/* Allocate: the TCP-specific checks (0 or the code to answer). */
int turn_tcp_allocate_check(const struct turn_ctx *c);
void turn_handle_connect(struct turn_ctx *c);
void turn_handle_connection_bind(struct turn_ctx *c);

/* relay.c */
long turn_handle_send(struct turn_server *srv, const struct stun_msg *msg,
                      const struct turn_5tuple *ft, ice_ms_t now);

/* reply.c: a response under construction in srv->tx. */
struct turn_reply {
	struct stun_builder b;
	int code; /* 0 success, else the error code */
};
void turn_reply_begin(struct turn_ctx *c, struct turn_reply *r, int code);
/* Finish (SOFTWARE, integrity if c->auth, FINGERPRINT), send, count. */
void turn_reply_send(struct turn_ctx *c, struct turn_reply *r);
/* A bare error: ERROR-CODE (+ what the code needs), integrity if c->auth. */
void turn_reply_error(struct turn_ctx *c, int code);
/* An error with its own reason phrase (a constant). */
void turn_reply_error_reason(struct turn_ctx *c, int code, const char *reason);
/* 401/438 challenge: ERROR-CODE, REALM, NONCE (fresh), PASSWORD-ALGORITHMS. */
void turn_reply_challenge(struct turn_ctx *c, int code);
/* 420 listing the unknown attributes. */
void turn_reply_unknown(struct turn_ctx *c, const uint16_t *types, size_t n);

/* users.c: this worker's entry for a user, made on the first allocation and
 * freed with the last. */
struct turn_bwu;

struct turn_wuser {
	struct htab_node node;
	struct turn_alloc *allocs;
	uint32_t n_allocs;
	/* Bandwidth: this worker's share of max-bps-per-user, the bytes offered
	 * and relayed since the last tick, their smoothed offered rate, the
	 * process-wide record, and whether the daily budget is spent. */
	struct turn_bucket bw[2];
	uint64_t bw_offered[2], bw_demand[2], bw_relayed;
	struct turn_bwu *bwu;
	struct turn_wuser *bw_next;
	bool bw_active, bw_over;
	uint16_t name_len;
	char name[];
};
/* The user key of an authenticated request (the REST user part, else the
 * whole username): what quotas, revocation and listings go by. */
void turn_user_key(const struct ltc_result *auth, const char **name, size_t *len);
/* Link a to the entry for name (made if new). 0 or -ENOMEM. */
int turn_wuser_attach(struct turn_server *srv, struct turn_alloc *a, const char *name, size_t len);
/* Unlink a; frees the entry with its last allocation. Accepts a->wuser NULL. */
void turn_wuser_detach(struct turn_server *srv, struct turn_alloc *a);
struct turn_wuser *turn_wuser_find(struct turn_server *srv, const char *name, size_t len);
void turn_wusers_fini(struct turn_server *srv);

/* mobility.c (RFC 8016) */
/* Allocate: 0 when c does not ask for mobility, 1 when it does, else the
 * error code to answer (405: off here; 400: a non-empty ticket). */
int turn_mobility_asked(const struct turn_ctx *c);
/* Append a fresh MOBILITY-TICKET for a to b (nothing when a is not mobile). */
void turn_mobility_ticket(struct turn_ctx *c, const struct turn_alloc *a, struct stun_builder *b);
/*
 * A Refresh from a 5-tuple without an allocation: the allocation its
 * MOBILITY-TICKET names, into c->a with c->moving set (0), or the error code
 * to answer (437 without a ticket, as before; 405, 400, 437: see mobility.c).
 * Nothing moves until turn_mobility_move.
 */
int turn_mobility_lookup(struct turn_ctx *c);
/* The Refresh that named c->a authenticated: move c->a to c->ft. */
void turn_mobility_move(struct turn_ctx *c);

/* revoke.c: whether the credential (its REST expiry) of user is revoked. */
bool turn_revoked(const struct turn_revocations *r, const char *user, size_t len, uint64_t expiry);

/* pending.c: Allocates waiting for the cluster. */
enum {
	TURN_PENDING_MAX = 128,               /* per worker */
	TURN_PENDING_MSG_MAX = 1400,          /* request bytes kept */
	TURN_CQ_LOCAL = TURN_CQ_DEGRADED + 1, /* decided here alone: the cluster holds nothing */
	TURN_CQ_NONE = -1,                    /* not asked yet */
};
struct turn_pending;
/* Park c's Allocate until the cluster answers for user: 0 parked (or a
 * retransmission of one parked: dropped), -errno when it cannot wait (then
 * the local count decides). */
int turn_pending_park(struct turn_server *srv, const struct turn_ctx *c, const char *user,
                      size_t len);
/* ft's stream closed: its waiting requests are only answered to release. */
void turn_pending_close(struct turn_server *srv, const struct turn_5tuple *ft);
/* Requests whose answer never came: decided locally. */
void turn_pending_expire(struct turn_server *srv, ice_ms_t now);
void turn_pending_fini(struct turn_server *srv);
/*
 * dispatch.c: authenticate c with allocation a's credential (its realm and
 * cached key; another user's valid credentials get 441), check for unknown
 * attributes (420), then run fn with c->a = a. Failures are answered here.
 */
void turn_on_allocation(struct turn_ctx *c, struct turn_alloc *a, void (*fn)(struct turn_ctx *c));
/* dispatch.c: turn_handle_stun with the cluster's verdict in hand. */
long turn_handle_stun_verdict(struct turn_server *srv, const struct stun_msg *msg,
                              const struct turn_5tuple *ft, ice_ms_t now, int verdict);

/* bandwidth.c: the worker's half of the bandwidth limits. */
/* Buckets of a new allocation (its user's entry is attached). */
void turn_bw_alloc_init(struct turn_server *srv, struct turn_alloc *a, ice_ms_t now);
/* A user entry is made / freed: its process-wide record. 0 or -ENOMEM. */
int turn_bw_user_attach(struct turn_server *srv, struct turn_wuser *u, ice_ms_t now);
void turn_bw_user_detach(struct turn_server *srv, struct turn_wuser *u);
/*
 * May len bytes go dir on a now? 0 yes (counted as relayed), -1 dropped
 * (counted), or a positive number of ms to wait (stream, to-peer: the caller
 * holds the frame and tries again).
 */
long turn_bw_admit(struct turn_server *srv, struct turn_alloc *a, enum turn_dir dir, size_t len,
                   ice_ms_t now);
/* Charge len bytes that went dir on a anyway (an RFC 6062 stream already read). */
void turn_bw_charge(struct turn_alloc *a, enum turn_dir dir, size_t len);
/* New settings: every allocation's bucket follows the new limit. */
void turn_bw_reconfigure(struct turn_server *srv, ice_ms_t now);
/* Allocate-time: 0 or the reason phrase of a 486 (budget spent, capacity full). */
const char *turn_bw_refuse(struct turn_server *srv, const char *user, size_t len);

/* shared_bw.c: the process-wide half (one mutex, per tick and per Allocate). */
struct turn_bw_shared;
struct turn_bw_shared *turn_bw_shared_new(unsigned workers);
void turn_bw_shared_free(struct turn_bw_shared *b);
/* The record of user name (made if new), with a reference; NULL on ENOMEM. */
struct turn_bwu *turn_bw_user_get(struct turn_bw_shared *b, const char *name, size_t len);
/* Drop worker's reference (and its demand). Accepts NULL. */
void turn_bw_user_put(struct turn_bw_shared *b, struct turn_bwu *u, unsigned worker);
/* Publish worker's offered demand (bytes/s) of dir; returns its share of limit_bps. */
uint64_t turn_bw_user_share(struct turn_bw_shared *b, struct turn_bwu *u, unsigned worker, int dir,
                            uint64_t demand_Bps, uint64_t limit_bps);
/* Count bytes into the user's rolling day; true once it reaches budget (0 = none). */
bool turn_bw_user_charge(struct turn_bw_shared *b, struct turn_bwu *u, uint64_t bytes,
                         uint64_t unix_s, uint64_t budget);
/* Whether user name has spent budget in the last 24 h. */
bool turn_bw_budget_spent(struct turn_bw_shared *b, const char *name, size_t len, uint64_t unix_s,
                          uint64_t budget);
/* Forget idle records whose day counts nothing any more (at most max). */
void turn_bw_expire(struct turn_bw_shared *b, uint64_t unix_s, size_t max);
/* Each worker's relayed rate, and their sum. */
void turn_bw_publish_rate(struct turn_bw_shared *b, unsigned worker, uint64_t bps);
uint64_t turn_bw_node_rate(const struct turn_bw_shared *b);

/* shared.c */
struct turn_bw_shared *turn_shared_bw(struct turn_shared *sh);
enum turn_quota {
	TURN_QUOTA_OK = 0,
	TURN_QUOTA_TOTAL,
	TURN_QUOTA_USER,
	TURN_QUOTA_RATE,
};
/*
 * Reserve one allocation for user (name[0..len)). On OK *user holds a
 * reference to the user's quota entry, or is NULL when neither per-user
 * limit is configured (no entry is kept then); either way the allocation
 * counts against max-allocations until turn_shared_release.
 */
enum turn_quota turn_shared_acquire(struct turn_shared *sh, const char *name, size_t len,
                                    ice_ms_t now, struct turn_user **user);
/* Give back what acquire took (user may be NULL, see above). undo_rate: the
 * Allocate failed, forget its timestamp too. */
void turn_shared_release(struct turn_shared *sh, struct turn_user *user, bool undo_rate);
/* Store a dormant reserved socket; returns its token, or 0 when the table is full. */
uint64_t turn_shared_reserve(struct turn_shared *sh, int handle, const struct ice_addr *addr,
                             ice_ms_t now);
/* Take the reservation for token: 0 and *handle, *addr, or -ENOENT (unknown/expired). */
int turn_shared_take_reservation(struct turn_shared *sh, uint64_t token, ice_ms_t now, int *handle,
                                 struct ice_addr *addr);
/* Close (through io) every reservation expired at now; all of them if now is UINT64_MAX. */
void turn_shared_expire_reservations(struct turn_shared *sh, const struct turn_io *io,
                                     ice_ms_t now);
/* Drop a bounded batch of idle user entries whose rate window has passed (from the tick). */
void turn_shared_expire_users(struct turn_shared *sh, ice_ms_t now);
const struct ltc_nonce_key *turn_shared_nonce_key(const struct turn_shared *sh);
const struct ice_ticket_keys *turn_shared_ticket_keys(const struct turn_shared *sh);

#endif
