/*
 * The configuration snapshot: one typed, validated, immutable struct built from
 * the Station's YAML tree (peers.yml and its includes). Every other layer reads
 * a `const struct ice_config *` passed to it; nothing reads YAML or the
 * environment after load. A reload loads a new snapshot, validates it whole,
 * and only then swaps it in; the old one is freed when its last user lets go.
 *
 * YAML paths (see docs/configuration.md for every key, default and env override):
 *   peers.logger.level
 *   peers.node.server.workers
 *   peers.node.server.{drain-timeout,state-directory}
 *   peers.node.server.http.*
 *   peers.node.server.admin.*
 *   peers.node.server.subserver.stun.*
 *   peers.node.server.subserver.turn.*
 *   peers.node.server.cluster.*        (docs/cluster.md)
 */
#ifndef ICESTATION_CONFIG_H
#define ICESTATION_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "icestation/addr.h"
#include "icestation/common.h"

enum ice_transport {
	ICE_TRANSPORT_UDP = 1u << 0,
	ICE_TRANSPORT_TCP = 1u << 1,
	ICE_TRANSPORT_TLS = 1u << 2,
};

enum {
	ICE_CONFIG_MAX_LISTEN = 8,
	ICE_CONFIG_MAX_CIDRS = 64,
	ICE_CONFIG_MAX_SECRETS = 8,
	ICE_CONFIG_MAX_TOKENS = 16,
	ICE_CONFIG_MAX_ORIGINS = 16,
	ICE_CONFIG_MAX_FALLBACK = 8,
	ICE_CONFIG_MAX_WORKERS = 64,
	/* max-tcp-connections-per-allocation when unset (RFC 6062 relays) */
	ICE_CONFIG_TCP_CONNECTIONS_DEFAULT = 16,
	ICE_CONFIG_ERRLEN = 512,
	/* Room for every restart-only key's name (ice_config_reload_keep). */
	ICE_CONFIG_RESTART_LEN = 1024,
};

/* How a TURN password derives from its REST username (credential-format). The
 * values are auth.h's enum ice_rest_format. */
enum ice_credential_format {
	ICE_CREDENTIAL_COTURN = 0,     /* base64(HMAC-SHA1(secret, username)), coturn's */
	ICE_CREDENTIAL_HEX_SHA256 = 1, /* hex(HMAC-SHA256(secret, username)), the seed's */
};

/* Where the public address comes from, for the log line and /readyz. */
enum ice_public_ip_source {
	ICE_PUBLIC_IP_LITERAL, /* a literal in the YAML */
	ICE_PUBLIC_IP_ENV,     /* PEERS_STUN_PUBLIC_IP / PEERS_TURN_PUBLIC_IP */
	ICE_PUBLIC_IP_AUTO,    /* the address of the interface that routes outward */
};

/* Why clients could not use a public address (ice_public_ip_check): the
 * daemon then serves, but /readyz and the ICE API answer 503 until it can. */
enum ice_public_ip_problem {
	ICE_PUBLIC_IP_USABLE = 0,
	ICE_PUBLIC_IP_NOT_FOUND,    /* auto: no interface routes outward (addr unset) */
	ICE_PUBLIC_IP_NOT_LISTENED, /* no listen address receives what is sent to addr */
};

struct ice_public_ip {
	enum ice_public_ip_source source;
	struct ice_addr addr; /* port 0; family 0 if auto found nothing (not ready) */
	/* Dual stack: the IPv6 address when both families are public (addr is
	 * then the IPv4 one, so IPv4 comes first everywhere); family 0 else. */
	struct ice_addr second;
	/* behind-nat: the operator says addr is a NAT's, forwarded to this host
	 * (the self-test then expects it not to be a local address). */
	bool behind_nat;
};

struct ice_config_http {
	bool enabled;
	struct ice_addr listen;                     /* default 127.0.0.1:8080 */
	char *bearer_tokens[ICE_CONFIG_MAX_TOKENS]; /* empty = no bearer check */
	size_t n_bearer_tokens;
	char *identity_header; /* trusted user header from the proxy, NULL = off */
	char *cors_origins[ICE_CONFIG_MAX_ORIGINS]; /* exact origins, or "*" */
	size_t n_cors_origins;
	uint32_t max_header_bytes;            /* default 8192 */
	uint32_t max_body_bytes;              /* default 4096 */
	uint32_t timeout_s;                   /* read/write timeout, default 10 */
	uint32_t max_connections;             /* default 1024 */
	uint32_t max_connections_per_address; /* per source (IPv6 /64), default 128; 0 = none */
	/* ICE API requests per caller (client IP, or identity with the header). */
	uint32_t rate_rps;   /* requests-per-second, default 20; 0 = unlimited */
	uint32_t rate_burst; /* bucket depth, default 100 */
	/* HTTPS (http.tls): on when cert and key are set; same policy as TURN/TLS. */
	bool tls_enabled;
	char *tls_cert;
	char *tls_key;
	uint32_t tls_check_interval_s; /* stat the pair this often; 0 = never; default 60 */
};

/* The admin API (docs/api.md): a unix socket, or TCP with bearer tokens. */
#define ICE_ADMIN_SOCKET_DEFAULT "/run/icestation/admin.sock"

struct ice_config_admin {
	bool enabled;           /* default true */
	char *unix_path;        /* listen "unix:PATH"; NULL when TCP */
	struct ice_addr listen; /* listen "IP:port"; family 0 when a unix socket */
	char *bearer_tokens[ICE_CONFIG_MAX_TOKENS]; /* required (non-empty) over TCP */
	size_t n_bearer_tokens;
	uint32_t max_connections;             /* default 64 */
	uint32_t max_connections_per_address; /* TCP, per source (IPv6 /64), default 16; 0 = none */
};

struct ice_config_stun {
	bool enabled;
	uint16_t port; /* default 3478 */
	struct ice_public_ip public_ip;
	uint32_t rate_rps;   /* requests-per-second per source IP; 0 = unlimited */
	uint32_t rate_burst; /* bucket depth */
	struct ice_addr listen[ICE_CONFIG_MAX_LISTEN]; /* port 0; default 0.0.0.0 and :: */
	size_t n_listen;
	unsigned transports;          /* enum ice_transport bits; default UDP|TCP */
	uint32_t tcp_idle_timeout_s;  /* default 30 */
	uint32_t tcp_max_connections; /* per worker, default 1024 */
	/* STUN/TURN over plain TCP, per source (IPv6 /64), default 256; 0 = none */
	uint32_t tcp_max_connections_per_address;
};

struct ice_config_tls {
	bool enabled;
	uint16_t port; /* default 5349 */
	char *cert;
	char *key;
	uint32_t max_connections_per_address; /* per source (IPv6 /64), default 256; 0 = none */
	uint32_t handshake_timeout_s;         /* default 10 (or tcp-idle-timeout if shorter) */
	/* The host name turns: URLs carry (server-name, else the certificate's first
	 * DNS SAN); NULL: none, so the ICE API lists no turns: URL. Never an IP. */
	char *server_name;
	uint32_t check_interval_s; /* stat cert and key this often; 0 = never; default 60 */
};

struct ice_config_turn {
	bool enabled;
	uint16_t port; /* default 3478; may equal stun.port: one socket set serves both */
	char *realm;
	struct ice_public_ip public_ip;
	struct ice_addr listen[ICE_CONFIG_MAX_LISTEN];
	size_t n_listen;
	unsigned transports;

	/* Secrets: [0] mints and verifies; the rest only verify (rotation). */
	char *auth_secrets[ICE_CONFIG_MAX_SECRETS];
	size_t auth_secret_lens[ICE_CONFIG_MAX_SECRETS];
	size_t n_auth_secrets;
	char *auth_secret_file; /* where [0] came from, if a file; NULL otherwise */

	struct ice_cidr relay_ip_range[ICE_CONFIG_MAX_CIDRS]; /* local addresses relays bind */
	size_t n_relay_ip_range;
	uint16_t relay_port_min, relay_port_max; /* default 49152-65535 */

	uint32_t max_allocations;                 /* default 1000 */
	uint32_t max_allocations_per_user;        /* default 30 (docs/turn.md: why) */
	uint32_t allocations_per_minute_per_user; /* default 60 */
	uint32_t allocation_lifetime_s;           /* default 600, max 3600 */
	uint32_t credential_ttl_s;                /* default 86400 */
	/* 401/438 challenges sent per source address over UDP (reflection). */
	uint32_t challenge_rps;      /* responses-per-second, default 10; 0 = unlimited */
	uint32_t challenge_burst;    /* bucket depth, default 50 */
	uint32_t credential_grace_s; /* past expiry, on its own allocation; 43200 */
	enum ice_credential_format credential_format; /* default coturn */
	bool userhash;                /* USERHASH of API-minted usernames; default off */
	uint32_t userhash_table_size; /* usernames kept for it; default 4096 */

	struct ice_cidr denied_peer_ip[ICE_CONFIG_MAX_CIDRS];
	size_t n_denied_peer_ip;
	struct ice_cidr allowed_peer_ip[ICE_CONFIG_MAX_CIDRS];
	size_t n_allowed_peer_ip;

	struct ice_config_tls tls;

	/* Bandwidth (docs/turn.md), 0 = off: bits per second each way, bytes a day. */
	uint64_t max_bps_per_allocation;
	uint64_t max_bps_per_user;
	uint64_t max_bytes_per_user_per_day;
	uint64_t budget_floor_bps; /* 0 = 64 kbit/s */
	uint64_t bps_capacity;

	/* Drain: ALTERNATE-SERVER for refused Allocates (300); family 0 = none (486). */
	struct ice_addr alternate_server;

	bool mobility; /* RFC 8016 mobility tickets for clients that ask; default true */
	/* RFC 6062 TCP relays (docs/turn.md): allowed (default true), and the
	 * peer data connections an allocation may hold (default 16). */
	bool tcp_relay;
	uint32_t max_tcp_connections;

	/* ice-api.anonymous: mint for a request with no user (default false: 400). */
	bool anonymous;
	bool fallback_enabled;
	char *fallback_stun_servers[ICE_CONFIG_MAX_FALLBACK];
	size_t n_fallback_stun_servers;
};

enum ice_config_cluster_strategy {
	ICE_CONFIG_CLUSTER_SELF_FIRST,   /* this node first when healthy, then least loaded */
	ICE_CONFIG_CLUSTER_LEAST_LOADED, /* by allocations */
};

/*
 * peers.node.server.cluster: Redis shared by the nodes of one cluster. The
 * Redis address is parsed here (redis://host:port/db or unix:/path), so a
 * bad URL is a load error with its position; the cluster layer gets
 * ready-made fields. enabled is false when the section is absent.
 */
struct ice_config_cluster {
	bool enabled;
	char *redis_url;           /* as written (it never carries a password) */
	char *redis_host;          /* IP literal or DNS name; NULL with redis_unix */
	uint16_t redis_port;       /* default 6379 */
	uint32_t redis_db;         /* default 0 */
	char *redis_unix;          /* unix socket path, or NULL */
	char *redis_password_file; /* NULL = no AUTH */
	char *redis_password;      /* its content (last newline cut), wiped on free */
	char *key_prefix;          /* default "icestation:" */
	char *node_id;             /* default: the host name */
	uint32_t heartbeat_ms;     /* default 1000 */
	uint32_t node_ttl_ms;      /* default 5000; at least 2 heartbeats */
	uint32_t quota_timeout_ms; /* default 50 */
	uint32_t ice_nodes;        /* ice-api.nodes, default 2 */
	enum ice_config_cluster_strategy strategy;
};

struct ice_config {
	_Atomic unsigned refs; /* ice_config_ref / ice_config_unref */
	uint64_t generation; /* 1 for the snapshot loaded at start, +1 per reload (main sets it) */
	char *path;          /* the main file as given */
	int log_level;       /* enum ice_log_level */
	int log_format;      /* enum ice_log_format: text (default) or json */
	bool log_mask;       /* logger.mask-addresses: client and peer IPs cut to /24 or /48 */
	unsigned workers;    /* resolved: "auto" = online CPUs; >= 1 */
	uint32_t drain_timeout_s; /* drain ends by this even with allocations left; default 3600 */
	char *state_dir;          /* revocations survive restarts here; NULL: not kept */
	struct ice_config_http http;
	struct ice_config_admin admin;
	struct ice_config_stun stun;
	struct ice_config_turn turn;
	struct ice_config_cluster cluster;
};

/*
 * Load and validate the tree rooted at path. On success returns a new snapshot
 * (free with ice_config_free). On failure returns NULL and writes one or more
 * lines "file:line:col: message" into err (NUL-terminated, truncated to errlen).
 * Reads the environment for ${VAR} expansion and the *_PUBLIC_IP overrides.
 * public-ip auto is resolved here (a connect()ed UDP socket's getsockname; no
 * packet is sent).
 */
struct ice_config *ice_config_load(const char *path, char *err, size_t errlen);

/*
 * Snapshots are shared by the threads that use them (workers, the HTTP loop)
 * and freed when the last lets go: load returns one reference; ref adds one
 * (returns cfg) and unref drops one, wiping secrets and freeing with the
 * last. Any thread. Both accept NULL.
 */
struct ice_config *ice_config_ref(struct ice_config *cfg);
void ice_config_unref(struct ice_config *cfg);

/* ice_config_unref for a snapshot nobody else holds (tools, tests). */
void ice_config_free(struct ice_config *cfg);

/*
 * What "public-ip: auto" (and "relay-ip-range: auto") means right now: the
 * local address of the interface that routes outward, found by connect()ing
 * a UDP socket to a documentation address (no packet leaves), else the first
 * UP non-loopback interface address, else 127.0.0.1 with *fallback set.
 * Port 0. The loader calls it; the daemon calls it again when the host's
 * addresses or routes change (public-ip: auto follows the host).
 */
void ice_config_outward_addr(struct ice_addr *out, bool *fallback);

/*
 * Whether clients can use addr, the public address in force of a subserver
 * whose public-ip comes from source and which listens on listen[0..n):
 * ICE_PUBLIC_IP_NOT_FOUND when addr is unset (auto found nothing),
 * ICE_PUBLIC_IP_NOT_LISTENED when it came from auto and no listen address
 * receives what is sent to it (listen: [127.0.0.1] on a host with an outward
 * address), else ICE_PUBLIC_IP_USABLE. A written address is the operator's
 * word about the network (a NAT may forward it): never NOT_LISTENED. Pure;
 * the address may have moved since load (public-ip: auto follows the host).
 */
enum ice_public_ip_problem ice_public_ip_check(enum ice_public_ip_source source,
                                               const struct ice_addr *addr,
                                               const struct ice_addr *listen, size_t n);

/*
 * For subserver section ("stun" or "turn") of cfg, with addr the public
 * address in force (cfg's own at start; public-ip: auto may have moved it
 * since): true when clients cannot use it (ice_public_ip_check), with what
 * is wrong and what to set as one sentence in buf (size len; no quote or
 * backslash, so it can go into a JSON string as it is); false and buf ""
 * otherwise.
 */
bool ice_config_public_unusable(const struct ice_config *cfg, const char *section,
                                const struct ice_addr *addr, char *buf, size_t len);

/* Which public addresses of a subserver clients cannot use (a bit mask). */
enum {
	ICE_PUBLIC_FAULT_V4 = 1u << 0,   /* its IPv4 address */
	ICE_PUBLIC_FAULT_V6 = 1u << 1,   /* its IPv6 address */
	ICE_PUBLIC_FAULT_NONE = 1u << 2, /* it has none at all (auto found nothing) */
};

/*
 * ice_config_public_unusable for each family section advertises (dual
 * stack): followed in place of public-ip's first address, and its second
 * (ice_public_ip_pair). Returns the ICE_PUBLIC_FAULT_* bits, 0 when every
 * advertised family is usable; the reason (for the IPv4 one when both
 * fail) in buf, "" when none.
 */
unsigned ice_config_public_faults(const struct ice_config *cfg, const char *section,
                                  const struct ice_addr *followed, char *buf, size_t len);

/*
 * The outward address of one family (AF_INET or AF_INET6): the source the
 * kernel would pick toward a documentation address of that family. No
 * packet leaves. Returns 0, or -errno when that family routes nowhere.
 */
int ice_config_outward_of(int family, struct ice_addr *out);

/* The public address of family in p (addr or second), or NULL. Borrows p. */
const struct ice_addr *ice_public_ip_of(const struct ice_public_ip *p, int family);

/*
 * The public IPs in force by family into out[0] (IPv4) and out[1] (IPv6),
 * family 0 where none: followed (the daemon's answer to public-ip: auto,
 * family 0 = none) in place of p->addr, and p->second, the other family of
 * a dual-stack host. Where both name one family, followed wins.
 */
void ice_public_ip_pair(const struct ice_addr *followed, const struct ice_public_ip *p,
                        struct ice_addr out[2]);

/*
 * A reload's decision, before anything changes (src/main/reload.c;
 * docs/operations.md, "Reload"): next is a snapshot just loaded, cur the
 * one in force. Every restart-only key (listen addresses, ports,
 * transports, TLS and HTTPS on/off, workers, relay-ip-range, userhash, the
 * HTTP and admin listeners, the cluster section) gets cur's value in next,
 * since the sockets, threads and tables it describes stay as they are;
 * next->generation becomes cur's + 1. The keys that differed are named in
 * changed[0..len) (", "-separated, NUL-terminated, "" when none; a name
 * that does not fit is left out: ICE_CONFIG_RESTART_LEN holds them all).
 * Borrows cur; next stays the caller's. Returns how many keys differed
 * (>= 0), or -ENOMEM with next half-kept: drop it and keep cur.
 */
int ice_config_reload_keep(const struct ice_config *cur, struct ice_config *next, char *changed,
                           size_t len);

/*
 * Print the effective configuration as YAML to fp, secrets and bearer tokens
 * masked ("***"). Returns 0 or -errno.
 */
int ice_config_print(const struct ice_config *cfg, FILE *fp);

#endif
