/*
 * The TURN state machine (RFC 8656, RFC 6156, RFC 5766 clients): allocations,
 * permissions, channels, lifetimes, quotas, peer-address policy and long-term
 * credential auth, driven by (message, 5-tuple, now). Pure: no sockets, no
 * clock, no libevent. Every effect on the world goes through struct turn_io,
 * which net/ implements with real sockets and tests with fakes.
 *
 * One struct turn_server per worker thread owns that worker's allocations
 * and is touched by that thread only (no locks on the packet path). One
 * struct turn_shared spans the workers: the global allocation count (an
 * atomic), per-user quotas and EVEN-PORT reservations (one mutex, taken only
 * by Allocate and allocation teardown, never per packet).
 *
 * Integration contract for net/ (per worker, all on the worker thread):
 *   startup   turn_server_new(&settings, shared, &io, id, now, unix_s)
 *   thread    turn_server_set_metrics(srv, w->m) once the block exists
 *   each loop turn_server_set_unix_time(srv, time(NULL)) when the clock is read
 *   input     stun_frame_decode() then turn_handle_frame(srv, &frame, &ft, now)
 *             for every datagram or stream frame on a TURN listener
 *   relay rx  turn_handle_peer(srv, handle, &peer, data, len, now), data with
 *             TURN_PEER_HEADROOM writable bytes before it and
 *             TURN_PEER_TAILROOM after it
 *   relay err turn_handle_icmp(srv, handle, &peer, &icmp, now) for each ICMP
 *             error a relay socket's error queue holds (IP_RECVERR)
 *   timer     turn_expire(srv, now) from one periodic event (100-1000 ms)
 *   TCP close turn_close_5tuple(srv, &ft, now)
 *   RFC 6062  turn_tcp_accepted / _connected / _relayed / _closed for the
 *             TCP relays' connections (see "TCP relays" below)
 *   reload    turn_server_reconfigure(srv, &settings, now) between batches
 *   control   turn_server_close_user / _close_alloc / turn_server_list
 *   shutdown  turn_server_free(srv) before the worker's sockets go away
 */
#ifndef ICESTATION_TURN_H
#define ICESTATION_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/config.h"
#include "icestation/metrics.h"
#include "icestation/ratelimit.h"
#include "icestation/siphash.h"
#include "icestation/stun.h"

struct turn_revocations;

enum {
	/* User names as listings show them (longer ones are cut). */
	TURN_USER_INFO_MAX = 256,
	/* Bytes turn_handle_peer may write in front of data: the largest Data
	 * indication header (20 header + 24 XOR-PEER-ADDRESS v6 + 4 DATA). */
	TURN_PEER_HEADROOM = 48,
	/* Bytes it may write after data: padding to a multiple of 4. */
	TURN_PEER_TAILROOM = 4,
	TURN_MAX_LIFETIME_S = 3600,       /* allocation lifetime cap (RFC 8656 §7.2) */
	TURN_DEFAULT_LIFETIME_S = 600,    /* when the configuration says 0 */
	TURN_PERMISSION_LIFETIME_S = 300, /* RFC 8656 §9 */
	TURN_CHANNEL_LIFETIME_S = 600,    /* RFC 8656 §12 */
	TURN_CHANNEL_QUARANTINE_S = 300,  /* an expired number/peer stays unusable (§12) */
	TURN_RESERVATION_LIFETIME_S = 30, /* EVEN-PORT R reservation (§7.2) */
	TURN_MAX_PERMISSIONS = 64,        /* per allocation; more answers 508 */
	TURN_MAX_CHANNELS = 64,           /* per allocation; more answers 508 */
	TURN_MAX_RESERVATIONS = 256,      /* process-wide pending reservations */
	TURN_RATE_WINDOW_MS = 60 * 1000,  /* allocations-per-minute-per-user window */
	TURN_BW_BURST_MS = 200,           /* a bandwidth bucket holds this much of its rate */
	TURN_BW_BURST_MIN = 3000,         /* ... and at least two full-size packets (bytes) */
	TURN_BW_MAX_WORKERS = 64,
	/* ChannelBind accepts RFC 5766's 0x4000-0x7FFF, not only RFC 8656's
	 * 0x4000-0x4FFF: RFC 5766 clients (coturn's turnutils_uclient) pick
	 * numbers across the old range, and on the server's client socket
	 * nothing else can start with bytes 0x50-0x7F (RFC 7983). */
	TURN_CHANNEL_MAX = 0x7FFF,
	/* ICMP Data indications (RFC 8656 §11) per allocation and second of
	 * the clock: ICMP is a hint, and anyone who knows a relay address and
	 * a permitted peer can forge it. */
	TURN_ICMP_PER_S = 10,
	/* RFC 6062 §5.2 and §5.3: a Connect waits at least 30 s for the peer,
	 * and a peer data connection 30 s for its ConnectionBind. */
	TURN_TCP_CONNECT_TIMEOUT_S = 30,
	TURN_TCP_BIND_TIMEOUT_S = 30,
	/* Per allocation, when the settings say 0. */
	TURN_TCP_DEFAULT_CONNECTIONS = ICE_CONFIG_TCP_CONNECTIONS_DEFAULT,
};

enum turn_proto {
	TURN_PROTO_UDP = 1,
	TURN_PROTO_TCP = 2,
	TURN_PROTO_TLS = 3,
};

/*
 * The client's 5-tuple. client, server and proto identify an allocation;
 * link is net's own handle for the listener (UDP) or connection (TCP/TLS) the
 * message came in on, and scope the interface it arrived on (UDP on a
 * wildcard socket; a link-local client needs it for the reply): turn stores
 * both with the allocation and hands them back in send_client without ever
 * looking at them.
 */
struct turn_5tuple {
	struct ice_addr client; /* the client as the server sees it */
	struct ice_addr server; /* the local address the client sent to */
	uint8_t proto;          /* enum turn_proto */
	int scope;
	void *link;
};

/*
 * What the state machine takes from the configuration: the few settings it
 * uses (as libjuice's juice_server_config_t), filled by net from its
 * configuration snapshot. Every pointer borrows: the caller keeps what they
 * point at alive until the next turn_server_reconfigure or turn_server_free.
 */
struct turn_settings {
	const char *realm;
	const char *const *secrets; /* [0] current, the rest previous (rotation) */
	const size_t *secret_lens;
	size_t n_secrets;
	uint32_t allocation_lifetime_s; /* 0 = TURN_DEFAULT_LIFETIME_S; capped at the max */
	/* Quotas (turn_shared): 0 = no limit. */
	uint32_t max_allocations;
	uint32_t max_allocations_per_user;
	uint32_t allocations_per_minute_per_user;
	/* Bandwidth (bandwidth.c), 0 = off. Rates are bits per second and apply
	 * to each direction separately (client to peer, peer to client); the
	 * daily budget and the capacity count both directions together. */
	uint64_t max_bps_per_allocation;
	uint64_t max_bps_per_user;           /* a user's allocations on this node together */
	uint64_t max_bytes_per_user_per_day; /* rolling 24 h, per user id */
	uint64_t budget_floor_bps;           /* what an over-budget user keeps, each way */
	uint64_t bps_capacity;               /* the node: above it, Allocates get 486 */
	unsigned workers; /* turn_servers sharing the turn_shared (read by turn_shared_new) */
	/* Per-user quotas are cluster-wide too (turn_io.quota_ask): an Allocate
	 * that passed the local count waits for the cluster's answer. */
	bool cluster_quota;
	/* The nonce key every node of a cluster derives from the auth secret
	 * (ltc_nonce_key_from_bytes), so a client challenged by one node may
	 * authenticate on another (anycast, DNS round robin); nonce ages are
	 * then read on the wall clock. Off: a random key per process and the
	 * monotonic clock. */
	bool nonce_key_shared;
	struct ice_siphash_key shared_nonce_key;
	/* Advertised addresses: XOR-RELAYED-ADDRESS shows the public IP of the
	 * relay's family when that IP lies outside relay_ip_range (a NAT). */
	struct ice_addr public_v4, public_v6; /* family 0 = none */
	const struct ice_cidr *relay_ip_range;
	size_t n_relay_ip_range;
	bool relay_v4, relay_v6; /* families relays can be opened in */
	/* Peer policy (turn_policy.h). */
	const struct ice_cidr *denied_peer_ip;
	size_t n_denied_peer_ip;
	const struct ice_cidr *allowed_peer_ip;
	size_t n_allowed_peer_ip;
	const struct ice_cidr *self; /* the server's own addresses and relay ranges */
	size_t n_self;
	/* Every address of every interface of the host, as net last read them
	 * (denied as TURN_DENY_LOCAL; IPv6 with its /64, docs/turn.md). */
	const struct ice_addr *local_addrs;
	size_t n_local_addrs;
	uint16_t relay_port_min, relay_port_max;
	/* Drain: new Allocates are refused (300 with ALTERNATE-SERVER when
	 * alternate_server has a family, else 486); live ones go on. */
	bool draining;
	struct ice_addr alternate_server;
	/* RFC 8016: a client that asks gets a MOBILITY-TICKET, and may move its
	 * allocation to a new 5-tuple with it (else 405). */
	bool mobility;
	/* Revoked users (turn_revoke.h), or NULL for none. */
	const struct turn_revocations *revoked;
	/* Credentials: the password format (enum ice_rest_format, auth.h), and
	 * how long past its expiry a credential may still serve requests on
	 * the allocation it made (an Allocate gets no grace). */
	uint8_t credential_format;
	uint32_t credential_grace_s;
	/* USERHASH (auth_userhash.h): entries of the table of minted usernames,
	 * 0 = off. Read by turn_shared_new only (a restart changes it). */
	uint32_t userhash_table_size;
	/* RFC 6062: TCP allocations allowed (else 442), and the peer data
	 * connections one may hold at once (0 = TURN_TCP_DEFAULT_CONNECTIONS;
	 * more: Connect answers 508, inbound ones are closed). */
	bool tcp_relay;
	uint32_t max_tcp_connections;
};

/* What relay_open must create. */
struct turn_relay_req {
	int family;         /* AF_INET or AF_INET6 */
	bool even_port;     /* EVEN-PORT: the port must be even */
	bool reserve_next;  /* EVEN-PORT R=1: also bind port+1, keep it dormant */
	bool dont_fragment; /* DONT-FRAGMENT: everything this socket sends has DF set */
	int adopt;          /* >= 0: activate this dormant reserved socket instead of binding */
};

struct turn_relay_res {
	int handle;            /* >= 0, unique among net's open relay sockets */
	struct ice_addr bound; /* the local address and port */
	int reserved_handle;   /* reserve_next: the dormant socket on port+1, else -1 */
};

/* Where a buffer handed to send_client lives, and so how long it is valid. */
enum turn_buf {
	/* Inside the buffer the caller passed to this turn_* call (the relay
	 * datagram with its headroom, or the message): valid until the caller
	 * reuses that buffer, so net may queue it by reference. */
	TURN_BUF_CALLER,
	/* turn's response scratch: valid only until send_client returns; copy. */
	TURN_BUF_SCRATCH,
};

enum {
	TURN_SEND_DF = 1u << 0, /* Send indication with DONT-FRAGMENT */
};

/* Why an allocation ended. */
enum turn_end {
	TURN_END_EXPIRED,
	TURN_END_DELETED, /* Refresh with LIFETIME 0 */
	TURN_END_CLOSED,  /* its TCP/TLS connection closed */
	TURN_END_SHUTDOWN,
	TURN_END_REVOKED, /* its user was revoked */
	TURN_END_KILLED,  /* closed by the operator (admin API) */
	TURN_END_ABORTED, /* never became visible: Allocate failed half-way */
};

/* What turn tells net about, for the operator's log (turn never logs above debug). */
enum turn_event_kind {
	TURN_EV_AUTH_FAILED, /* code 401/438/400: why, user (if any) */
	TURN_EV_REFUSED,     /* Allocate refused: code 486/508/403/300, why */
	TURN_EV_PEER_DENIED, /* CreatePermission/ChannelBind to a denied peer: peer, why */
	TURN_EV_ALLOC_END,   /* an allocation ended: the session record */
	TURN_EV_ALLOC_MOVED, /* RFC 8016: moved to ft from the client address from */
};

/* Byte and packet counts of one allocation, each way. */
struct turn_traffic {
	uint64_t to_peer_bytes, to_peer_pkts;     /* client -> peer */
	uint64_t to_client_bytes, to_client_pkts; /* peer -> client */
};

struct turn_event {
	enum turn_event_kind kind;
	const struct turn_5tuple *ft; /* the client */
	const char *user;             /* the quota key (REST user part), may be NULL */
	size_t user_len;
	int code;                    /* STUN error code, 0 when none */
	const char *why;             /* short constant text: "expired", "bad_integrity", ... */
	const struct ice_addr *peer; /* PEER_DENIED */
	const struct ice_addr *from; /* ALLOC_MOVED: the client's previous address */
	/* ALLOC_END (and ALLOC_MOVED's id). */
	uint64_t alloc_id;
	const struct ice_addr *relay; /* the first relayed address (local) */
	ice_ms_t duration_ms;
	const struct turn_traffic *traffic;
	enum turn_end end;
};

struct turn_io {
	/*
	 * Bind a relay socket in the relay-ip-range on a port of the
	 * relay-port-range, per req, and start receiving on it (datagrams go to
	 * turn_handle_peer with res->handle). Returns 0 and fills res, or
	 * -EADDRINUSE/-ENOSPC when no port is free (answered 508),
	 * -EAFNOSUPPORT when no relay address of that family exists (440), other
	 * -errno (500). A dormant reserved socket (reserve_next) is bound but not
	 * polled; net must let any worker adopt it (req->adopt) or close it.
	 */
	int (*relay_open)(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res);
	/* Close a relay socket (active or dormant; any worker's dormant one). */
	void (*relay_close)(void *ctx, int handle);
	/*
	 * Send buf[0..len) to the client over ft's transport (UDP from
	 * ft->server, or the TCP/TLS connection ft->link). See enum turn_buf for
	 * how long buf lives. Each call is one datagram or one stream frame.
	 */
	void (*send_client)(void *ctx, const struct turn_5tuple *ft, const uint8_t *buf, size_t len,
	                    enum turn_buf where);
	/*
	 * Send one datagram from relay socket handle to peer. buf is always
	 * inside the caller's buffer (TURN_BUF_CALLER). flags: TURN_SEND_DF.
	 */
	void (*send_peer)(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf,
	                  size_t len, unsigned flags);
	/*
	 * An allocation made over the stream link (TCP/TLS) became visible
	 * (delta +1) or ended (-1). The connection lives as long as one holds
	 * it (RFC 8656 §3.1): net exempts it from its idle timeout. turn is
	 * the one owner of this count. May be NULL (no stream transports).
	 */
	void (*link_hold)(void *ctx, void *link, int delta);
	/* Something the operator should hear of (net logs it, rate-limited).
	 * ev and what it points at live for the call. May be NULL. */
	void (*event)(void *ctx, const struct turn_event *ev);
	/*
	 * The cluster-wide per-user quota (settings.cluster_quota): ask for one
	 * allocation of user[0..len); the answer comes later through
	 * turn_quota_answer(cookie). Returns 0 (asked) or -errno (cannot ask:
	 * turn decides on the local count alone). quota_release gives back one
	 * allocation the cluster admitted (OK or DEGRADED answers) once it ends.
	 */
	int (*quota_ask)(void *ctx, const char *user, size_t len, uint64_t cookie);
	void (*quota_release)(void *ctx, const char *user, size_t len);
	/*
	 * RFC 6062 TCP relays. All NULL when net has none: a TCP Allocate is
	 * then answered 442. Handles of both kinds below are net's; turn only
	 * stores them.
	 *
	 * tcp_relay_open: a TCP socket listening on a relay address and port
	 * of req->family (the other fields of req are unset), from which
	 * tcp_connect can connect out too. Peer connections it accepts go to
	 * turn_tcp_accepted. res->handle must differ from every relay_open
	 * handle. Returns as relay_open does. tcp_relay_close closes it (the
	 * connections it accepted stay until tcp_close).
	 *
	 * tcp_connect: start a TCP connection from the address of relay
	 * handle to peer; how it ends comes through turn_tcp_connected(id),
	 * never before this returns. Returns the peer data connection's
	 * handle (>= 0), or -errno when nothing was started (answered 447).
	 *
	 * tcp_bind: the ConnectionBind on the client's data connection
	 * ft->link succeeded (its response already went to send_client):
	 * from now on that connection carries raw bytes to and from peer
	 * connection handle, counted through turn_tcp_relayed, and is no
	 * longer a STUN stream.
	 *
	 * tcp_close: close peer connection handle (connecting, waiting for its
	 * bind, or bound) and the client data connection bound to it. turn
	 * has forgotten it: net must not report it through turn_tcp_closed.
	 */
	int (*tcp_relay_open)(void *ctx, const struct turn_relay_req *req,
	                      struct turn_relay_res *res);
	void (*tcp_relay_close)(void *ctx, int handle);
	int (*tcp_connect)(void *ctx, int relay_handle, const struct ice_addr *peer, uint32_t id);
	void (*tcp_bind)(void *ctx, int handle, const struct turn_5tuple *ft);
	void (*tcp_close)(void *ctx, int handle);
	void *ctx;
	/* Relay sockets can set DF (IP_PMTUDISC_DO / IPV6_DONTFRAG). When false,
	 * DONT-FRAGMENT in an Allocate is answered 420, as RFC 8656 §7.2 says. */
	bool dont_fragment;
};

struct turn_shared;
struct turn_server;

/*
 * Process-wide TURN state with the quotas of s (read for the call only).
 * Returns NULL on allocation or getrandom failure.
 */
struct turn_shared *turn_shared_new(const struct turn_settings *s);

/*
 * New quotas (a reload). Allocations already made stay; the new limits apply
 * to the next Allocate. Any thread: takes the shared lock.
 */
void turn_shared_set_limits(struct turn_shared *sh, const struct turn_settings *s);

/* Free it after every turn_server using it. Accepts NULL. */
void turn_shared_free(struct turn_shared *sh);

struct ltc_userhash;

/*
 * The table of usernames the ICE API mints, for USERHASH (auth_userhash.h),
 * or NULL when the userhash key is off. Owned by sh; the HTTP thread adds to
 * it while workers look up (it locks). Any thread.
 */
struct ltc_userhash *turn_shared_userhash(const struct turn_shared *sh);

/* Allocations alive across all workers. Any thread. */
uint32_t turn_shared_allocations(const struct turn_shared *sh);

/*
 * Per-user quota entries held: users with allocations, plus idle users the
 * per-minute window still remembers (none when allocations-per-minute-per-user
 * is 0). Any thread; takes the shared lock, so not for the packet path.
 */
size_t turn_shared_users(struct turn_shared *sh);

/*
 * A worker's state machine. s is copied (what it points at is borrowed, see
 * struct turn_settings); sh is borrowed for the server's life; io is copied.
 * id (< 65536) goes into the top bits of every allocation id, so ids are
 * unique across workers and name their worker. now is monotonic ms, unix_s
 * wall-clock seconds. NULL on ENOMEM.
 */
struct turn_server *turn_server_new(const struct turn_settings *s, struct turn_shared *sh,
                                    const struct turn_io *io, unsigned id, ice_ms_t now,
                                    uint64_t unix_s);

/*
 * Apply new settings (a reload, drain, or revocation list): s is copied and
 * replaces the old settings, whose borrowed pointers are no longer used after
 * this returns. Permissions and channels to peers the new policy denies are
 * removed at once. Returns how many were removed.
 */
size_t turn_server_reconfigure(struct turn_server *srv, const struct turn_settings *s,
                               ice_ms_t now);

/* End every allocation whose quota key (REST user part) is user[0..len). Returns how many. */
size_t turn_server_close_user(struct turn_server *srv, const char *user, size_t len, ice_ms_t now);

/* End the allocation with this id. Returns 0, or -ENOENT when this worker has none. */
int turn_server_close_alloc(struct turn_server *srv, uint64_t id, ice_ms_t now);

/* One allocation as the admin API shows it. */
struct turn_alloc_info {
	uint64_t id;
	char user[TURN_USER_INFO_MAX + 1]; /* NUL-terminated, truncated if longer */
	uint8_t proto;                     /* enum turn_proto */
	struct ice_addr client, server;
	struct ice_addr relay[2]; /* family 0 = none */
	uint64_t created_unix_s;  /* wall clock */
	uint64_t expires_unix_s;
	uint16_t n_perms, n_chans;
	struct turn_traffic traffic;
};

/*
 * Copy up to max allocations (those of user[0..user_len) only, when user is
 * not NULL) into out, skipping the first skip. Returns how many this worker
 * has that match (which may exceed max).
 */
size_t turn_server_list(struct turn_server *srv, const char *user, size_t user_len,
                        struct turn_alloc_info *out, size_t skip, size_t max, ice_ms_t now);

/*
 * End every allocation (relay_close for each relay socket) and free srv.
 * Accepts NULL.
 */
void turn_server_free(struct turn_server *srv);

/* Count into m (the worker's block; NULL = not counted). */
void turn_server_set_metrics(struct turn_server *srv, struct ice_metrics *m);

/*
 * Limit the 401/438 challenges answered over UDP per source address: one
 * token of rl per challenge; with none left the request goes unanswered
 * and is counted (a challenge carries REALM and NONCE, several times the
 * size of the unauthenticated request a spoofed source can send). rl is
 * borrowed until replaced; NULL = no limit.
 */
void turn_server_set_challenge_limit(struct turn_server *srv, struct ice_ratelimit *rl);

/* Wall-clock seconds, for REST username expiry. Call whenever net reads the clock. */
void turn_server_set_unix_time(struct turn_server *srv, uint64_t unix_s);

/*
 * Handle one decoded frame (stun_frame_decode) from the client at ft: a STUN
 * message (turn_handle_stun) or ChannelData (turn_handle_channeldata); frames
 * the decoder refused are counted and dropped. The one entry point net, the
 * tests and the fuzzer share. Returns 0 when the frame was handled, or, for
 * a TCP/TLS client over its bandwidth limit, the ms to wait before offering
 * the same frame again (nothing of it was handled: net stops reading the
 * stream meanwhile, which is the backpressure). UDP frames over a limit are
 * dropped and counted, never waited for.
 */
long turn_handle_frame(struct turn_server *srv, const struct stun_frame *f,
                       const struct turn_5tuple *ft, ice_ms_t now);

/*
 * Handle one STUN request or indication from the client at ft. msg and the
 * buffer it views are borrowed for the call; answers go out through
 * send_client before this returns. Responses from clients are dropped. msg
 * may come from a stun_parse that returned -EPROTO (msg->bad_attr set): a
 * request is then answered 400 once authenticated, anything else dropped.
 * Returns 0, or a wait as turn_handle_frame does (a Send indication over a
 * stream client's bandwidth).
 */
long turn_handle_stun(struct turn_server *srv, const struct stun_msg *msg,
                      const struct turn_5tuple *ft, ice_ms_t now);

/*
 * Handle one ChannelData message (already framed by channeldata_parse) from
 * the client at ft: relay data[0..len) to the channel's peer, or drop and
 * count. data is borrowed and passed on to send_peer. Returns 0, or a wait
 * as turn_handle_frame does.
 */
long turn_handle_channeldata(struct turn_server *srv, const struct turn_5tuple *ft,
                             uint16_t channel, const uint8_t *data, size_t len, ice_ms_t now);

/*
 * Handle one datagram from peer on relay socket handle: to the client as
 * ChannelData if a channel is bound to peer, else as a Data indication if a
 * permission exists, else drop and count. turn writes the framing into
 * data[-TURN_PEER_HEADROOM .. 0) and padding into data[len .. len +
 * TURN_PEER_TAILROOM), then calls send_client with TURN_BUF_CALLER.
 */
void turn_handle_peer(struct turn_server *srv, int handle, const struct ice_addr *peer,
                      uint8_t *data, size_t len, ice_ms_t now);

/* An ICMP error for a datagram a relay socket sent, as the kernel reported it. */
struct turn_icmp {
	bool v6;      /* ICMPv6, else ICMPv4 */
	uint8_t type; /* of the ICMP message */
	uint8_t code;
	uint32_t info; /* the next-hop MTU for "fragmentation needed" and "packet too big" */
};

/*
 * An ICMP error (RFC 8656 §11) reached relay socket handle for a datagram it
 * sent to peer (the address and port of the offending datagram's
 * destination). Destination unreachable and time exceeded (ICMPv6: also
 * packet too big) go to the client as a Data indication with XOR-PEER-ADDRESS
 * = peer and an ICMP attribute, when a permission for peer's IP is live and
 * the allocation's TURN_ICMP_PER_S allows; else dropped. Every outcome is
 * counted (icestation_turn_icmp_total). The indication is built in the
 * server's scratch buffer (TURN_BUF_SCRATCH).
 */
void turn_handle_icmp(struct turn_server *srv, int handle, const struct ice_addr *peer,
                      const struct turn_icmp *icmp, ice_ms_t now);

/*
 * Advance timers to now: expire allocations (relay_close), permissions and
 * channels, and pending EVEN-PORT reservations. O(expired), never a scan.
 */
void turn_expire(struct turn_server *srv, ice_ms_t now);

/* A TCP/TLS client connection closed: end the allocation made over it (RFC 8656 §3.1). */
void turn_close_5tuple(struct turn_server *srv, const struct turn_5tuple *ft, ice_ms_t now);

/* The cluster's answer to quota_ask. */
enum turn_cluster_verdict {
	TURN_CQ_OK,        /* admitted cluster-wide (held until quota_release) */
	TURN_CQ_OVER_USER, /* max-allocations-per-user reached cluster-wide: 486 */
	TURN_CQ_OVER_RATE, /* allocations-per-minute-per-user reached: 486 */
	TURN_CQ_DEGRADED,  /* no answer in time: the local count decided (held) */
};

/*
 * The cluster answered the quota_ask of cookie: the Allocate that waited
 * for it is handled now (answered, or refused 486), as if it had just
 * arrived. An answer for a request gone meanwhile (its stream closed)
 * releases what it held.
 */
void turn_quota_answer(struct turn_server *srv, uint64_t cookie, enum turn_cluster_verdict v,
                       ice_ms_t now);

/*
 * Bandwidth accounting, once per tick (net's 100 ms timer; turn_expire calls
 * it): the per-user shares are rebalanced across workers, the daily budgets
 * updated and this worker's relayed rate published. Returns nothing; no
 * packet waits on it.
 */
void turn_bandwidth_tick(struct turn_server *srv, ice_ms_t now);

/* Bits per second relayed by every worker together over the last second. Any thread. */
uint64_t turn_shared_relay_bps(const struct turn_shared *sh);

/* Allocations this worker holds. */
size_t turn_server_allocations(const struct turn_server *srv);

/* Bytes this worker holds for allocations, permissions, channels and their indexes. */
size_t turn_server_memory(const struct turn_server *srv);

/*
 * TCP relays (RFC 6062). An allocation made with REQUESTED-TRANSPORT TCP
 * over a TCP or TLS client connection relays through TCP connections to
 * peers, each one a "peer data connection" that turn names with a
 * CONNECTION-ID. Connect opens one (tcp_connect); a permitted peer
 * connecting to the relayed address opens one too (turn_tcp_accepted, and
 * a ConnectionAttempt to the client). The client then opens a new
 * connection to the server and sends ConnectionBind with the id on it;
 * from then on net relays that connection's bytes raw (tcp_bind). A
 * CONNECTION-ID carries its worker in its top 8 bits, so net can hand a
 * data connection that arrived on another worker to the one that holds the
 * allocation (turn_tcp_conn_worker).
 */

/*
 * Net accepted a connection from peer on TCP relay relay_handle and calls
 * it handle. Returns 0 with *id set (turn keeps it: a ConnectionAttempt
 * went to the client, and a ConnectionBind must come within
 * TURN_TCP_BIND_TIMEOUT_S or tcp_close ends it), or -errno when net must
 * close it (turn forgets it at once): -ENOENT no such relay, -EPERM no
 * permission for peer, -ENOSPC the allocation's connection limit.
 */
int turn_tcp_accepted(struct turn_server *srv, int relay_handle, const struct ice_addr *peer,
                      int handle, ice_ms_t now, uint32_t *id);

/*
 * The connection tcp_connect started for id is up (err 0) or failed (a
 * negative errno). turn answers the Connect now: success with the
 * CONNECTION-ID, or 447 and tcp_close. An id turn no longer knows is
 * ignored.
 */
void turn_tcp_connected(struct turn_server *srv, uint32_t id, int err, ice_ms_t now);

/*
 * Net closed peer data connection id and its client data connection (one
 * side closed or failed): turn forgets it. An unknown id is ignored.
 */
void turn_tcp_closed(struct turn_server *srv, uint32_t id, ice_ms_t now);

/*
 * Net moved len bytes on data connection id, to the peer (to_peer) or to
 * the client: counted for the allocation's traffic, the metrics and the
 * bandwidth limits. Returns 0, or the ms net should stop reading that
 * side (over a bandwidth limit; the bytes are counted anyway), or -ENOENT
 * for an unknown id.
 */
long turn_tcp_relayed(struct turn_server *srv, uint32_t id, bool to_peer, size_t len, ice_ms_t now);

/*
 * The worker a client message is meant for: for a ConnectionBind request
 * with a well-formed CONNECTION-ID, the worker id in its top 8 bits; -1
 * for anything else. Pure; any thread.
 */
int turn_tcp_conn_worker(const struct stun_msg *msg);

/*
 * Where a client stream's frame msg belongs, on worker self of n_workers:
 * the worker turn_tcp_conn_worker names when that is another one that
 * exists (net hands the stream over, frame unread), else -1 (here). Pure.
 */
int turn_tcp_route(const struct stun_msg *msg, unsigned self, unsigned n_workers);

#endif
