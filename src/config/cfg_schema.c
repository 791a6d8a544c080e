/*
 * The schema: which keys exist, their types, ranges and struct fields, as
 * tables, and the one walker that applies a YAML tree to struct ice_config.
 * Inside peers.node.server.http, cluster and subserver.stun / .turn every
 * key must be known ("strict"); elsewhere (a real Station's store, actor,
 * bootstrap sections) unknown keys are skipped with a debug line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "cfg.h"

enum key_type {
	KT_MAP,
	KT_IGNORE, /* known but not ours (peers.version) */
	KT_BOOL,
	KT_U32,
	KT_SI, /* uint64_t with k/M/G/T suffixes: bits per second, bytes */
	KT_DUR,
	KT_DUR_MS, /* a duration kept in milliseconds ("50ms", "1s") */
	KT_PORT,
	KT_PORT_RANGE,
	KT_STR,
	KT_HOSTPORT,
	KT_STRLIST,
	KT_IPLIST,
	KT_CIDRLIST,
	KT_TRANSPORTS,
	KT_SPECIAL,
};

enum {
	KF_STRICT = 1u << 0, /* this map and everything below it: unknown key = error */
	KF_SECRET = 1u << 1, /* never quote the value in a message */
};

struct cfg_key;
typedef int (*special_fn)(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
typedef const char *(*check_fn)(const char *s);
typedef void (*enter_fn)(struct ice_config *cfg);

struct cfg_key {
	const char *name;
	enum key_type type;
	size_t off;        /* field (or, for KT_MAP, sub-struct) offset from the current base */
	size_t off_n;      /* list count field */
	uint32_t min, max; /* value range; lists: max is the entry limit; transports: mask */
	const struct cfg_key *sub;
	special_fn special;
	check_fn check; /* extra rule for strings; returns what was expected, or NULL */
	enter_fn enter;
	uint8_t seen;
	uint8_t flags;
};

#define FIELD(type, f) offsetof(type, f)

/* --- lists --- */

typedef int (*item_fn)(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
                       const struct cfg_pos *pos, const char *path);

/* Apply fn to each entry of a list value: a sequence, or a comma-separated scalar. */
static int
each_item(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, const struct cfg_node *v,
          const char *path, item_fn fn)
{
	bool secret = k->flags & KF_SECRET;
	char *s, *tok, *save = NULL, *end;
	size_t i;
	int rc = 0;

	if (v->kind == CFG_MAP) {
		cfg_error(ctx, &v->pos, "%s: expected a list, got a mapping", path);
		return -EINVAL;
	}
	if (v->kind == CFG_SEQ) {
		for (i = 0; i < v->n; i++) {
			s = cfg_scalar_text(ctx, v->items[i], path, secret);
			if (s == NULL) {
				rc = -EINVAL;
				continue;
			}
			if (s[0] != '\0' && fn(ctx, k, base, s, &v->items[i]->pos, path))
				rc = -EINVAL;
			if (secret)
				explicit_bzero(s, strlen(s));
			free(s);
		}
		return rc;
	}
	s = cfg_scalar_text(ctx, v, path, secret);
	if (s == NULL)
		return -EINVAL;
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok != '\0' && fn(ctx, k, base, tok, &v->pos, path))
			rc = -EINVAL;
	}
	if (secret)
		explicit_bzero(s, strlen(s));
	free(s);
	return rc;
}

/* Bump the count at off_n; false (with an error) when the list is full. */
static bool
list_room(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, const struct cfg_pos *pos,
          const char *path, size_t **np)
{
	*np = (size_t *)((char *)base + k->off_n);
	if (**np >= k->max) {
		cfg_error(ctx, pos, "%s: too many entries (limit %u)", path, k->max);
		return false;
	}
	return true;
}

static int
item_str(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
         const struct cfg_pos *pos, const char *path)
{
	char **arr = (char **)((char *)base + k->off);
	const char *why = k->check ? k->check(s) : NULL;
	size_t *n;

	if (why != NULL) {
		cfg_bad_value(ctx, pos, path, why, s, k->flags & KF_SECRET);
		return -EINVAL;
	}
	if (!list_room(ctx, k, base, pos, path, &n))
		return -EINVAL;
	arr[*n] = strdup(s);
	if (arr[*n] == NULL) {
		cfg_error(ctx, pos, "out of memory");
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

static int
item_ip(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
        const struct cfg_pos *pos, const char *path)
{
	struct ice_addr *arr = (struct ice_addr *)((char *)base + k->off);
	struct ice_addr a;
	size_t *n;

	if (ice_addr_parse_ip(&a, s, 0)) {
		cfg_bad_value(ctx, pos, path, "a literal IP address (0.0.0.0, ::, 192.0.2.10)", s,
		              false);
		return -EINVAL;
	}
	if (!list_room(ctx, k, base, pos, path, &n))
		return -EINVAL;
	arr[(*n)++] = a;
	return 0;
}

static int
item_cidr(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
          const struct cfg_pos *pos, const char *path)
{
	struct ice_cidr *arr = (struct ice_cidr *)((char *)base + k->off);
	struct ice_cidr c;
	size_t *n;

	if (ice_cidr_parse(&c, s)) {
		cfg_bad_value(ctx, pos, path, "a CIDR such as 10.0.0.0/24 or 2001:db8::/64", s,
		              false);
		return -EINVAL;
	}
	if (!list_room(ctx, k, base, pos, path, &n))
		return -EINVAL;
	arr[(*n)++] = c;
	return 0;
}

static int
item_relay(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
           const struct cfg_pos *pos, const char *path)
{
	if (strcmp(s, "auto") == 0) {
		ctx->relay_auto = true;
		return 0;
	}
	return item_cidr(ctx, k, base, s, pos, path);
}

static int
item_transport(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
               const struct cfg_pos *pos, const char *path)
{
	unsigned *mask = (unsigned *)((char *)base + k->off);
	unsigned bit;

	if (cfg_parse_transport(s, &bit) || !(bit & k->max)) {
		cfg_bad_value(ctx, pos, path,
		              k->max & ICE_TRANSPORT_TLS ? "a list of udp, tcp, tls"
		                                         : "a list of udp, tcp",
		              s, false);
		return -EINVAL;
	}
	*mask |= bit;
	return 0;
}

static int
item_prev_secret(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, char *s,
                 const struct cfg_pos *pos, const char *path)
{
	(void)k;
	(void)base;
	/* [0] is the current secret, so at most MAX-1 previous ones. */
	if (ctx->n_prev_secrets >= ICE_CONFIG_MAX_SECRETS - 1) {
		cfg_error(ctx, pos, "%s: too many entries (limit %d)", path,
		          ICE_CONFIG_MAX_SECRETS - 1);
		return -EINVAL;
	}
	ctx->prev_secrets[ctx->n_prev_secrets] = strdup(s);
	if (ctx->prev_secrets[ctx->n_prev_secrets] == NULL) {
		cfg_error(ctx, pos, "out of memory");
		return -ENOMEM;
	}
	ctx->prev_secret_pos[ctx->n_prev_secrets++] = *pos;
	return 0;
}

static int
sp_relay(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	static const struct cfg_key k = {
		.name = "relay-ip-range",
		.off = FIELD(struct ice_config_turn, relay_ip_range),
		.off_n = FIELD(struct ice_config_turn, n_relay_ip_range),
		.max = ICE_CONFIG_MAX_CIDRS,
	};

	ctx->relay_auto = false;
	ctx->relay_pos = v->pos;
	return each_item(ctx, &k, &ctx->cfg->turn, v, path, item_relay);
}

static int
sp_prev_secrets(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	static const struct cfg_key k = { .flags = KF_SECRET };

	return each_item(ctx, &k, NULL, v, path, item_prev_secret);
}

static void
enter_stun(struct ice_config *cfg)
{
	cfg->stun.enabled = true;
}

static void
enter_turn(struct ice_config *cfg)
{
	cfg->turn.enabled = true;
}

static void
enter_cluster(struct ice_config *cfg)
{
	cfg->cluster.enabled = true;
}

/* --- the tables --- */

#define HTTP(f) FIELD(struct ice_config_http, f)
#define STUN(f) FIELD(struct ice_config_stun, f)
#define TURN(f) FIELD(struct ice_config_turn, f)

static const struct cfg_key http_rate_keys[] = {
	{ .name = "requests-per-second", .type = KT_U32, .off = HTTP(rate_rps), .max = 1000000 },
	{ .name = "burst", .type = KT_U32, .off = HTTP(rate_burst), .min = 1, .max = 10000000 },
	{ .name = NULL },
};

static const struct cfg_key http_tls_keys[] = {
	{ .name = "cert", .type = KT_STR, .off = HTTP(tls_cert), .seen = CFG_SEEN_HTTP_TLS_CERT },
	{ .name = "key", .type = KT_STR, .off = HTTP(tls_key), .seen = CFG_SEEN_HTTP_TLS_KEY },
	{ .name = "check-interval",
	  .type = KT_DUR,
	  .off = HTTP(tls_check_interval_s),
	  .max = 86400 },
	{ .name = NULL },
};

static const struct cfg_key http_keys[] = {
	{ .name = "enabled", .type = KT_BOOL, .off = HTTP(enabled) },
	{ .name = "listen", .type = KT_HOSTPORT, .off = HTTP(listen) },
	{ .name = "bearer-tokens",
	  .type = KT_STRLIST,
	  .off = HTTP(bearer_tokens),
	  .off_n = HTTP(n_bearer_tokens),
	  .max = ICE_CONFIG_MAX_TOKENS,
	  .check = cfg_check_bearer_token,
	  .flags = KF_SECRET },
	{ .name = "identity-header",
	  .type = KT_STR,
	  .off = HTTP(identity_header),
	  .check = cfg_check_header_name },
	{ .name = "cors-origins",
	  .type = KT_STRLIST,
	  .off = HTTP(cors_origins),
	  .off_n = HTTP(n_cors_origins),
	  .max = ICE_CONFIG_MAX_ORIGINS,
	  .check = cfg_check_origin },
	{ .name = "max-header-bytes",
	  .type = KT_U32,
	  .off = HTTP(max_header_bytes),

	  .min = 1024,
	  .max = 1048576 },
	{ .name = "max-body-bytes", .type = KT_U32, .off = HTTP(max_body_bytes), .max = 1048576 },
	{ .name = "timeout",
	  .type = KT_DUR,
	  .off = HTTP(timeout_s),

	  .min = 1,
	  .max = 3600 },
	{ .name = "max-connections",
	  .type = KT_U32,
	  .off = HTTP(max_connections),

	  .min = 1,
	  .max = 1000000 },
	{ .name = "max-connections-per-address",
	  .type = KT_U32,
	  .off = HTTP(max_connections_per_address),
	  .max = 1000000 },
	{ .name = "rate-limit", .type = KT_MAP, .off = 0, .sub = http_rate_keys },
	{ .name = "tls", .type = KT_MAP, .off = 0, .sub = http_tls_keys },
	{ .name = NULL },
};

static const struct cfg_key stun_rate_keys[] = {
	{ .name = "requests-per-second", .type = KT_U32, .off = STUN(rate_rps), .max = 1000000 },
	{ .name = "burst",
	  .type = KT_U32,
	  .off = STUN(rate_burst),

	  .min = 1,
	  .max = 10000000,
	  .seen = CFG_SEEN_RATE_BURST },
	{ .name = NULL },
};

static const struct cfg_key stun_keys[] = {
	{ .name = "enabled", .type = KT_BOOL, .off = STUN(enabled) },
	{ .name = "port", .type = KT_PORT, .off = STUN(port), .seen = CFG_SEEN_STUN_PORT },
	{ .name = "public-ip", .type = KT_SPECIAL, .special = cfg_sp_stun_pubip },
	{ .name = "behind-nat", .type = KT_BOOL, .off = STUN(public_ip.behind_nat) },
	{ .name = "rate-limit", .type = KT_MAP, .off = 0, .sub = stun_rate_keys },
	{ .name = "listen",
	  .type = KT_IPLIST,
	  .off = STUN(listen),
	  .off_n = STUN(n_listen),
	  .max = ICE_CONFIG_MAX_LISTEN },
	{ .name = "transports",
	  .type = KT_TRANSPORTS,
	  .off = STUN(transports),
	  .max = ICE_TRANSPORT_UDP | ICE_TRANSPORT_TCP,
	  .seen = CFG_SEEN_STUN_TRANSPORTS },
	{ .name = "tcp-idle-timeout",
	  .type = KT_DUR,
	  .off = STUN(tcp_idle_timeout_s),

	  .min = 1,
	  .max = 86400 },
	{ .name = "tcp-max-connections",
	  .type = KT_U32,
	  .off = STUN(tcp_max_connections),

	  .min = 1,
	  .max = 1000000 },
	{ .name = "tcp-max-connections-per-address",
	  .type = KT_U32,
	  .off = STUN(tcp_max_connections_per_address),
	  .max = 1000000 },
	{ .name = NULL },
};

static const struct cfg_key tls_keys[] = {
	{ .name = "port", .type = KT_PORT, .off = TURN(tls.port), .seen = CFG_SEEN_TLS_PORT },
	{ .name = "cert", .type = KT_STR, .off = TURN(tls.cert), .seen = CFG_SEEN_TLS_CERT },
	{ .name = "key", .type = KT_STR, .off = TURN(tls.key), .seen = CFG_SEEN_TLS_KEY },
	{ .name = "max-connections-per-address",
	  .type = KT_U32,
	  .off = TURN(tls.max_connections_per_address),
	  .max = 1000000 },
	{ .name = "handshake-timeout",
	  .type = KT_DUR,
	  .off = TURN(tls.handshake_timeout_s),
	  .min = 1,
	  .max = 3600 },
	{ .name = "server-name",
	  .type = KT_STR,
	  .off = TURN(tls.server_name),
	  .seen = CFG_SEEN_TLS_SERVER_NAME },
	{ .name = "check-interval",
	  .type = KT_DUR,
	  .off = TURN(tls.check_interval_s),
	  .max = 86400 },
	{ .name = NULL },
};

static const struct cfg_key fallback_keys[] = {
	{ .name = "enabled",
	  .type = KT_BOOL,
	  .off = TURN(fallback_enabled),
	  .seen = CFG_SEEN_FALLBACK },
	{ .name = "stun-servers",
	  .type = KT_STRLIST,
	  .off = TURN(fallback_stun_servers),
	  .off_n = TURN(n_fallback_stun_servers),
	  .max = ICE_CONFIG_MAX_FALLBACK,
	  .check = cfg_check_stun_url },
	{ .name = NULL },
};

static const struct cfg_key ice_api_keys[] = {
	{ .name = "anonymous", .type = KT_BOOL, .off = TURN(anonymous) },
	{ .name = "public-fallback", .type = KT_MAP, .off = 0, .sub = fallback_keys },
	{ .name = NULL },
};

static const struct cfg_key challenge_keys[] = {
	{ .name = "responses-per-second",
	  .type = KT_U32,
	  .off = TURN(challenge_rps),
	  .max = 1000000 },
	{ .name = "burst",
	  .type = KT_U32,
	  .off = TURN(challenge_burst),
	  .min = 1,
	  .max = 10000000 },
	{ .name = NULL },
};

static const struct cfg_key turn_keys[] = {
	{ .name = "enabled", .type = KT_BOOL, .off = TURN(enabled) },
	{ .name = "port", .type = KT_PORT, .off = TURN(port), .seen = CFG_SEEN_TURN_PORT },
	{ .name = "realm",
	  .type = KT_STR,
	  .off = TURN(realm),
	  .check = cfg_check_realm,
	  .seen = CFG_SEEN_REALM },
	{ .name = "public-ip", .type = KT_SPECIAL, .special = cfg_sp_turn_pubip },
	{ .name = "behind-nat", .type = KT_BOOL, .off = TURN(public_ip.behind_nat) },
	{ .name = "listen",
	  .type = KT_IPLIST,
	  .off = TURN(listen),
	  .off_n = TURN(n_listen),
	  .max = ICE_CONFIG_MAX_LISTEN },
	{ .name = "transports",
	  .type = KT_TRANSPORTS,
	  .off = TURN(transports),
	  .max = ICE_TRANSPORT_UDP | ICE_TRANSPORT_TCP | ICE_TRANSPORT_TLS,
	  .seen = CFG_SEEN_TURN_TRANSPORTS },
	{ .name = "auth-secret", .type = KT_SPECIAL, .special = cfg_sp_auth_secret },
	{ .name = "auth-secret-file", .type = KT_SPECIAL, .special = cfg_sp_auth_secret_file },
	{ .name = "previous-auth-secrets", .type = KT_SPECIAL, .special = sp_prev_secrets },
	{ .name = "relay-ip-range", .type = KT_SPECIAL, .special = sp_relay },
	{ .name = "relay-port-range",
	  .type = KT_PORT_RANGE,
	  .off = TURN(relay_port_min),
	  .off_n = TURN(relay_port_max) },
	{ .name = "max-allocations",
	  .type = KT_U32,
	  .off = TURN(max_allocations),

	  .min = 1,
	  .max = 1000000 },
	{ .name = "max-allocations-per-user",
	  .type = KT_U32,
	  .off = TURN(max_allocations_per_user),
	  /* 0: no per-user limit (coturn's --user-quota=0); never the default. */
	  .min = 0,
	  .max = 1000000,
	  .seen = CFG_SEEN_PER_USER },
	{ .name = "allocations-per-minute-per-user",
	  .type = KT_U32,
	  .off = TURN(allocations_per_minute_per_user),
	  /* 0: no per-minute limit, and no per-user state kept after release. */
	  .min = 0,
	  .max = 1000000 },
	{ .name = "allocation-lifetime",
	  .type = KT_DUR,
	  .off = TURN(allocation_lifetime_s),

	  .min = 1,
	  .max = 3600 },
	{ .name = "credential-ttl",
	  .type = KT_DUR,
	  .off = TURN(credential_ttl_s),

	  .min = 1,
	  .max = 30 * 86400 },
	{ .name = "credential-grace",
	  .type = KT_DUR,
	  .off = TURN(credential_grace_s),
	  /* 0: expiry is checked on every request, as before the grace rule. */
	  .min = 0,
	  .max = 30 * 86400 },
	{ .name = "credential-format", .type = KT_SPECIAL, .special = cfg_sp_credential_format },
	{ .name = "userhash", .type = KT_BOOL, .off = TURN(userhash) },
	{ .name = "userhash-table-size",
	  .type = KT_U32,
	  .off = TURN(userhash_table_size),
	  .min = 1,
	  .max = 1000000 },
	{ .name = "denied-peer-ip",
	  .type = KT_CIDRLIST,
	  .off = TURN(denied_peer_ip),
	  .off_n = TURN(n_denied_peer_ip),
	  .max = ICE_CONFIG_MAX_CIDRS },
	{ .name = "allowed-peer-ip",
	  .type = KT_CIDRLIST,
	  .off = TURN(allowed_peer_ip),
	  .off_n = TURN(n_allowed_peer_ip),
	  .max = ICE_CONFIG_MAX_CIDRS },
	{ .name = "challenge-rate-limit", .type = KT_MAP, .off = 0, .sub = challenge_keys },
	{ .name = "tls", .type = KT_MAP, .off = 0, .sub = tls_keys },
	{ .name = "ice-api", .type = KT_MAP, .off = 0, .sub = ice_api_keys },
	{ .name = "alternate-server", .type = KT_HOSTPORT, .off = TURN(alternate_server) },
	{ .name = "max-bps-per-allocation", .type = KT_SI, .off = TURN(max_bps_per_allocation) },
	{ .name = "max-bps-per-user", .type = KT_SI, .off = TURN(max_bps_per_user) },
	{ .name = "max-bytes-per-user-per-day",
	  .type = KT_SI,
	  .off = TURN(max_bytes_per_user_per_day) },
	{ .name = "budget-floor-bps", .type = KT_SI, .off = TURN(budget_floor_bps) },
	{ .name = "tcp-relay", .type = KT_BOOL, .off = TURN(tcp_relay) },
	{ .name = "max-tcp-connections-per-allocation",
	  .type = KT_U32,
	  .off = TURN(max_tcp_connections),
	  .min = 1,
	  .max = 1024 },
	{ .name = "bps-capacity", .type = KT_SI, .off = TURN(bps_capacity) },
	{ .name = "mobility", .type = KT_BOOL, .off = TURN(mobility) },
	{ .name = NULL },
};

#define ADMIN(f) FIELD(struct ice_config_admin, f)

static const struct cfg_key admin_keys[] = {
	{ .name = "enabled", .type = KT_BOOL, .off = ADMIN(enabled) },
	{ .name = "listen", .type = KT_SPECIAL, .special = cfg_sp_admin_listen },
	{ .name = "bearer-tokens",
	  .type = KT_STRLIST,
	  .off = ADMIN(bearer_tokens),
	  .off_n = ADMIN(n_bearer_tokens),
	  .max = ICE_CONFIG_MAX_TOKENS,
	  .check = cfg_check_bearer_token,
	  .flags = KF_SECRET },
	{ .name = "max-connections",
	  .type = KT_U32,
	  .off = ADMIN(max_connections),
	  .min = 1,
	  .max = 100000 },
	{ .name = "max-connections-per-address",
	  .type = KT_U32,
	  .off = ADMIN(max_connections_per_address),
	  .max = 100000 },
	{ .name = NULL },
};

#define CLUSTER(f) FIELD(struct ice_config_cluster, f)

static const struct cfg_key cluster_ice_api_keys[] = {
	{ .name = "nodes", .type = KT_U32, .off = CLUSTER(ice_nodes), .min = 1, .max = 64 },
	{ .name = "strategy", .type = KT_SPECIAL, .special = cfg_sp_cluster_strategy },
	{ .name = NULL },
};

static const struct cfg_key cluster_keys[] = {
	{ .name = "enabled", .type = KT_BOOL, .off = CLUSTER(enabled) },
	{ .name = "redis", .type = KT_SPECIAL, .special = cfg_sp_cluster_redis },
	{ .name = "redis-password-file",
	  .type = KT_STR,
	  .off = CLUSTER(redis_password_file),
	  .seen = CFG_SEEN_CLUSTER_PASSWORD },
	{ .name = "key-prefix",
	  .type = KT_STR,
	  .off = CLUSTER(key_prefix),
	  .check = cfg_check_key_prefix },
	{ .name = "node-id", .type = KT_STR, .off = CLUSTER(node_id), .check = cfg_check_node_id },
	{ .name = "heartbeat",
	  .type = KT_DUR_MS,
	  .off = CLUSTER(heartbeat_ms),
	  .min = 100,
	  .max = 60000 },
	{ .name = "node-ttl",
	  .type = KT_DUR_MS,
	  .off = CLUSTER(node_ttl_ms),
	  .min = 200,
	  .max = 600000,
	  .seen = CFG_SEEN_CLUSTER_TTL },
	{ .name = "quota-timeout",
	  .type = KT_DUR_MS,
	  .off = CLUSTER(quota_timeout_ms),
	  .min = 1,
	  .max = 10000 },
	{ .name = "ice-api", .type = KT_MAP, .off = 0, .sub = cluster_ice_api_keys },
	{ .name = NULL },
};

static const struct cfg_key subserver_keys[] = {
	{ .name = "stun",
	  .type = KT_MAP,
	  .off = FIELD(struct ice_config, stun),
	  .sub = stun_keys,
	  .enter = enter_stun,
	  .seen = CFG_SEEN_STUN,
	  .flags = KF_STRICT },
	{ .name = "turn",
	  .type = KT_MAP,
	  .off = FIELD(struct ice_config, turn),
	  .sub = turn_keys,
	  .enter = enter_turn,
	  .seen = CFG_SEEN_TURN,
	  .flags = KF_STRICT },
	{ .name = NULL },
};

static const struct cfg_key server_keys[] = {
	{ .name = "workers",
	  .type = KT_SPECIAL,
	  .special = cfg_sp_workers,
	  .seen = CFG_SEEN_WORKERS },
	{ .name = "http",
	  .type = KT_MAP,
	  .off = FIELD(struct ice_config, http),
	  .sub = http_keys,
	  .seen = CFG_SEEN_HTTP,
	  .flags = KF_STRICT },
	{ .name = "admin",
	  .type = KT_MAP,
	  .off = FIELD(struct ice_config, admin),
	  .sub = admin_keys,
	  .seen = CFG_SEEN_ADMIN,
	  .flags = KF_STRICT },
	{ .name = "drain-timeout",
	  .type = KT_DUR,
	  .off = FIELD(struct ice_config, drain_timeout_s),
	  .min = 1,
	  .max = 30 * 86400 },
	{ .name = "state-directory", .type = KT_STR, .off = FIELD(struct ice_config, state_dir) },
	{ .name = "subserver", .type = KT_MAP, .off = 0, .sub = subserver_keys },
	{ .name = "cluster",
	  .type = KT_MAP,
	  .off = FIELD(struct ice_config, cluster),
	  .sub = cluster_keys,
	  .enter = enter_cluster,
	  .seen = CFG_SEEN_CLUSTER,
	  .flags = KF_STRICT },
	{ .name = NULL },
};

static const struct cfg_key node_keys[] = {
	{ .name = "server", .type = KT_MAP, .off = 0, .sub = server_keys },
	{ .name = NULL },
};

static const struct cfg_key logger_keys[] = {
	{ .name = "level", .type = KT_SPECIAL, .special = cfg_sp_log_level },
	{ .name = "format", .type = KT_SPECIAL, .special = cfg_sp_log_format },
	{ .name = "mask-addresses", .type = KT_BOOL, .off = FIELD(struct ice_config, log_mask) },
	{ .name = NULL },
};

static const struct cfg_key peers_keys[] = {
	{ .name = "version", .type = KT_IGNORE },
	{ .name = "logger", .type = KT_MAP, .off = 0, .sub = logger_keys },
	{ .name = "node", .type = KT_MAP, .off = 0, .sub = node_keys },
	{ .name = NULL },
};

static const struct cfg_key root_keys[] = {
	{ .name = "peers", .type = KT_MAP, .off = 0, .sub = peers_keys },
	{ .name = NULL },
};

void
cfg_defaults(struct ice_config *cfg)
{
	cfg->log_level = ICE_LOG_INFO;

	cfg->http.enabled = true;
	/* Behind the Station's reverse proxy: nobody else reaches it. */
	ice_addr_parse_ip(&cfg->http.listen, "127.0.0.1", 8080);
	cfg->http.max_header_bytes = 8192;
	cfg->http.max_body_bytes = 4096;
	cfg->http.timeout_s = 10;
	cfg->http.max_connections = 1024;
	cfg->http.max_connections_per_address = 128;
	cfg->http.rate_rps = 20;
	cfg->http.rate_burst = 100;
	cfg->http.tls_check_interval_s = 60;

	cfg->stun.port = 3478;
	cfg->stun.rate_rps = 100;
	cfg->stun.rate_burst = 200;
	cfg->stun.transports = ICE_TRANSPORT_UDP | ICE_TRANSPORT_TCP;
	cfg->stun.tcp_idle_timeout_s = 30;
	cfg->stun.tcp_max_connections = 1024;
	cfg->stun.tcp_max_connections_per_address = 256;

	cfg->turn.port = 3478;
	cfg->turn.transports = ICE_TRANSPORT_UDP | ICE_TRANSPORT_TCP;
	cfg->turn.relay_port_min = 49152;
	cfg->turn.relay_port_max = 65535;
	cfg->turn.max_allocations = 1000;
	cfg->turn.max_allocations_per_user = 30;
	cfg->turn.allocations_per_minute_per_user = 60;
	cfg->turn.allocation_lifetime_s = 600;
	cfg->turn.credential_ttl_s = 86400;
	cfg->turn.challenge_rps = 10;
	cfg->turn.challenge_burst = 50;
	cfg->turn.credential_grace_s = 12 * 3600;
	cfg->turn.credential_format = ICE_CREDENTIAL_COTURN;
	cfg->turn.userhash_table_size = 4096;
	cfg->turn.tls.port = 5349;
	cfg->turn.mobility = true;
	cfg->turn.tls.max_connections_per_address = 256;
	cfg->turn.tls.handshake_timeout_s = 10;
	cfg->turn.tls.check_interval_s = 60;
	cfg->turn.tcp_relay = true;
	cfg->turn.max_tcp_connections = ICE_CONFIG_TCP_CONNECTIONS_DEFAULT;

	cfg->admin.enabled = true;
	cfg->admin.max_connections = 64;
	cfg->admin.max_connections_per_address = 16;
	cfg->drain_timeout_s = 3600;
	cfg->cluster.redis_port = 6379;
	cfg->cluster.heartbeat_ms = 1000;
	cfg->cluster.node_ttl_ms = 5000;
	cfg->cluster.quota_timeout_ms = 50;
	cfg->cluster.ice_nodes = 2;
	cfg->cluster.strategy = ICE_CONFIG_CLUSTER_SELF_FIRST;
}

/* --- the walker --- */

static int walk_map(struct cfg_ctx *ctx, const struct cfg_node *map, const struct cfg_key *keys,
                    void *base, const char *path, bool strict);

static const char *
range_text(const struct cfg_key *k, char *buf, size_t len)
{
	switch (k->type) {
	case KT_U32:
		snprintf(buf, len, "an integer from %u to %u", k->min, k->max);
		break;
	case KT_SI:
		snprintf(buf, len,
		         "a number, optionally with k, M, G or T (x1000 each), "
		         "at most 10^15");
		break;
	case KT_DUR:
		snprintf(buf, len,
		         "a duration from %us to %us (a number with an s, m or h suffix; "
		         "bare = seconds)",
		         k->min, k->max);
		break;
	case KT_DUR_MS:
		snprintf(buf, len,
		         "a duration from %ums to %ums (a number with an ms, s, m or h suffix; "
		         "bare = seconds)",
		         k->min, k->max);
		break;
	case KT_PORT:
		snprintf(buf, len, "a port number 1-65535");
		break;
	case KT_PORT_RANGE:
		snprintf(buf, len, "a port range A-B with 1 <= A <= B <= 65535");
		break;
	case KT_HOSTPORT:
		snprintf(buf, len, "an IP address and port (0.0.0.0:8080 or [::]:8080)");
		break;
	case KT_BOOL:
		snprintf(buf, len, "true or false (also yes/no, on/off)");
		break;
	default:
		snprintf(buf, len, "a string");
		break;
	}
	return buf;
}

static int
apply_scalar(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, const struct cfg_node *v,
             const char *path)
{
	void *field = (char *)base + k->off;
	const char *why;
	char exp[160];
	char *s;
	int rc = 0;

	s = cfg_scalar_text(ctx, v, path, k->flags & KF_SECRET);
	if (s == NULL)
		return -EINVAL;
	switch (k->type) {
	case KT_BOOL:
		rc = cfg_parse_bool(s, field);
		break;
	case KT_U32:
		rc = cfg_parse_u32(s, k->min, k->max, field);
		break;
	case KT_SI:
		rc = cfg_parse_si(s, field);
		break;
	case KT_DUR:
		rc = cfg_parse_duration(s, k->min, k->max, field);
		break;
	case KT_DUR_MS:
		rc = cfg_parse_duration_ms(s, k->min, k->max, field);
		break;
	case KT_PORT:
		rc = cfg_parse_port(s, field);
		break;
	case KT_PORT_RANGE:
		rc = cfg_parse_port_range(s, field, (uint16_t *)((char *)base + k->off_n));
		break;
	case KT_HOSTPORT:
		rc = cfg_parse_hostport(s, field);
		break;
	case KT_STR:
		why = s[0] && k->check ? k->check(s) : NULL;
		if (why != NULL) {
			cfg_bad_value(ctx, &v->pos, path, why, s, false);
			free(s);
			return -EINVAL;
		}
		free(*(char **)field);
		*(char **)field = s[0] ? s : NULL;
		if (s[0] == '\0')
			free(s);
		return 0;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == -ERANGE && !(k->flags & KF_SECRET)) {
		char qb[64];

		cfg_error(ctx, &v->pos, "%s: \"%s\" is out of range: expected %s", path,
		          cfg_quote(s, qb, sizeof(qb)), range_text(k, exp, sizeof(exp)));
	} else if (rc) {
		cfg_bad_value(ctx, &v->pos, path, range_text(k, exp, sizeof(exp)), s,
		              k->flags & KF_SECRET);
	}
	free(s);
	return rc ? -EINVAL : 0;
}

static int
apply_key(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, const struct cfg_node *v,
          const char *path, bool strict)
{
	switch (k->type) {
	case KT_IGNORE:
		return 0;
	case KT_MAP:
		if (k->enter != NULL)
			k->enter(ctx->cfg);
		if (v->kind == CFG_SCALAR && v->null)
			return 0;
		if (v->kind != CFG_MAP) {
			cfg_error(ctx, &v->pos, "%s: expected a mapping, got %s", path,
			          cfg_scalar_kind(v));
			return -EINVAL;
		}
		return walk_map(ctx, v, k->sub, (char *)base + k->off, path,
		                strict || (k->flags & KF_STRICT));
	case KT_SPECIAL:
		return k->special(ctx, v, path);
	case KT_STRLIST:
		return each_item(ctx, k, base, v, path, item_str);
	case KT_IPLIST:
		return each_item(ctx, k, base, v, path, item_ip);
	case KT_CIDRLIST:
		return each_item(ctx, k, base, v, path, item_cidr);
	case KT_TRANSPORTS:
		*(unsigned *)((char *)base + k->off) = 0;
		return each_item(ctx, k, base, v, path, item_transport);
	default:
		return apply_scalar(ctx, k, base, v, path);
	}
}

static int
walk_map(struct cfg_ctx *ctx, const struct cfg_node *map, const struct cfg_key *keys, void *base,
         const char *path, bool strict)
{
	const struct cfg_pair *p;
	const struct cfg_key *k;
	char sub[CFG_PATH_MAX], qb[64];
	size_t i;
	int rc = 0;

	for (i = 0; i < map->n; i++) {
		p = &map->pairs[i];
		for (k = keys; k->name != NULL && strcmp(k->name, p->key) != 0; k++)
			;
		cfg_quote(p->key, qb, sizeof(qb));
		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", qb);
		if (k->name == NULL) {
			if (strict) {
				cfg_error(ctx, &p->kpos, "unknown key \"%s\" in %s", qb, path);
				rc = -EINVAL;
			} else {
				log_debug("config: %s:%u: ignoring %s (not used by icestation)",
				          p->kpos.file, p->kpos.line, sub);
			}
			continue;
		}
		if (k->seen != CFG_SEEN_NONE) {
			ctx->seen[k->seen] = p->kpos;
			ctx->has_seen[k->seen] = true;
		}
		if (apply_key(ctx, k, base, p->val, sub, strict))
			rc = -EINVAL;
	}
	return rc;
}

int
cfg_schema_apply(struct cfg_ctx *ctx)
{
	if (ctx->root == NULL)
		return 0;
	return walk_map(ctx, ctx->root, root_keys, ctx->cfg, "", false);
}
