/*
 * Private to src/config: the YAML node tree with positions, the error sink,
 * and the load context shared by the loader's files. Nothing here is visible
 * to other layers; they only see the finished struct ice_config.
 *
 * Flow: cfg_tree.c parses one file into a tree of cfg_node; cfg_include.c
 * follows peers.includes and merges every file into one tree; cfg_schema.c
 * walks it with cfg_expand.c (${VAR}) and cfg_value.c (typed scalars) into the
 * struct; cfg_finish.c and cfg_secret.c check what spans several keys;
 * cfg_pubip.c resolves "auto"; cfg_print.c writes the result back as YAML.
 */
#ifndef ICESTATION_CFG_H
#define ICESTATION_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/config.h"

enum {
	CFG_MAX_FILE_BYTES = 1 << 20, /* one YAML file */
	CFG_MAX_SECRET_BYTES = 4096,  /* one auth-secret-file */
	CFG_MAX_DEPTH = 32,           /* YAML nesting */
	CFG_MAX_NODES = 20000,        /* per file: bounds work on hostile input */
	CFG_MAX_INCLUDE_DEPTH = 16,
	CFG_MAX_FILES = 64,
	CFG_MAX_ERRORS = 32,
	CFG_MAX_VALUE_BYTES = 65536, /* one scalar after ${VAR} expansion */
	CFG_PATH_MAX = 256,          /* dotted key path in messages */
};

/* Where a key or value sits: file (borrowed from the context), 1-based. */
struct cfg_pos {
	const char *file;
	unsigned line, col;
};

enum cfg_kind {
	CFG_SCALAR,
	CFG_MAP,
	CFG_SEQ,
};

struct cfg_pair;

struct cfg_node {
	enum cfg_kind kind;
	struct cfg_pos pos;
	/* CFG_SCALAR: NUL-terminated text (YAML forbids none; we reject NUL). */
	char *str;
	bool null; /* plain "", "~" or "null": "not set" */
	/* CFG_SEQ: items; CFG_MAP: pairs. */
	struct cfg_node **items;
	struct cfg_pair *pairs;
	size_t n, cap;
};

struct cfg_pair {
	char *key;
	struct cfg_pos kpos;
	struct cfg_node *val;
};

/* Positions of keys that later checks point at. */
enum cfg_seen_id {
	CFG_SEEN_NONE = 0,
	CFG_SEEN_HTTP,
	CFG_SEEN_STUN,
	CFG_SEEN_TURN,
	CFG_SEEN_STUN_TRANSPORTS,
	CFG_SEEN_TURN_TRANSPORTS,
	CFG_SEEN_STUN_PORT,
	CFG_SEEN_TURN_PORT,
	CFG_SEEN_TLS_PORT,
	CFG_SEEN_TLS_CERT,
	CFG_SEEN_TLS_KEY,
	CFG_SEEN_REALM,
	CFG_SEEN_PER_USER,
	CFG_SEEN_RATE_BURST,
	CFG_SEEN_FALLBACK,
	CFG_SEEN_WORKERS,
	CFG_SEEN_ADMIN,
	CFG_SEEN_ADMIN_LISTEN,
	CFG_SEEN_HTTP_LISTEN,
	CFG_SEEN_CLUSTER,
	CFG_SEEN_CLUSTER_TTL,
	CFG_SEEN_CLUSTER_PASSWORD,
	CFG_SEEN_HTTP_TLS_CERT,
	CFG_SEEN_HTTP_TLS_KEY,
	CFG_SEEN_TLS_SERVER_NAME,
	CFG_SEEN_MAX
};

/* A public-ip key as written, resolved after the walk. */
struct cfg_pubip_raw {
	char *value; /* expanded text, NULL if the key is absent */
	struct cfg_pos pos;
};

struct cfg_ctx {
	/* Error sink: lines "file:line:col: message\n". */
	char *err;
	size_t errlen, errused;
	unsigned n_errors;

	/* Every file name positions point to; owned, freed at the end of load. */
	char *files[CFG_MAX_FILES];
	size_t n_files;

	struct cfg_node *root; /* merged tree of all files */
	struct ice_config *cfg;

	struct cfg_pos seen[CFG_SEEN_MAX];
	bool has_seen[CFG_SEEN_MAX];

	struct cfg_pubip_raw stun_pubip, turn_pubip;
	bool relay_auto; /* relay-ip-range absent or "auto" */
	struct cfg_pos relay_pos;
	bool workers_auto;

	/* Secrets as written (expanded), wiped and freed by cfg_ctx_fini. */
	char *auth_secret;
	struct cfg_pos auth_secret_pos;
	char *auth_secret_file;
	struct cfg_pos auth_secret_file_pos;
	char *prev_secrets[ICE_CONFIG_MAX_SECRETS];
	struct cfg_pos prev_secret_pos[ICE_CONFIG_MAX_SECRETS];
	size_t n_prev_secrets;

	/* The outward-route address, looked up at most once per load. */
	bool outward_done;
	struct ice_addr outward;
	bool outward_is_fallback;
	/* The same per family ([0] IPv4, [1] IPv6; family 0: none routes). */
	bool outward_fam_done;
	struct ice_addr outward_fam[2];
};

/* --- errors (config.c) --- */

/*
 * Append "file:line:col: <message>\n" to the context's error text (pos may be
 * NULL: then no position prefix). Stops recording after CFG_MAX_ERRORS.
 */
void cfg_error(struct cfg_ctx *ctx, const struct cfg_pos *pos, const char *fmt, ...)
	ICE_PRINTF(3, 4);

/*
 * Copy s into buf (size len >= 4) for a message: at most 48 bytes, control and
 * non-ASCII bytes as '?', "..." when cut. Returns buf.
 */
const char *cfg_quote(const char *s, char *buf, size_t len);

/* Remember a file name for positions; returns the owned copy or NULL (error set). */
const char *cfg_file_add(struct cfg_ctx *ctx, const char *name, const struct cfg_pos *from);

/* --- tree (cfg_tree.c) --- */

/*
 * Parse buf[0..len) as one YAML document named file (borrowed, must outlive
 * the tree). Returns the root node (owned; NULL for an empty document) in
 * *out. Returns 0, or -EINVAL with errors reported to ctx.
 */
int cfg_tree_parse(struct cfg_ctx *ctx, const char *file, const char *buf, size_t len,
                   struct cfg_node **out);

/*
 * Read a whole regular file of at most max bytes into a new NUL-terminated
 * buffer (*out, owned, *outlen bytes). Refuses FIFOs and devices. Returns 0 or
 * -errno (-EFBIG when too large, -EINVAL when not a regular file).
 */
int cfg_read_file(const char *path, size_t max, char **out, size_t *outlen, unsigned *mode);

/* Free a node and everything under it. Accepts NULL. */
void cfg_node_free(struct cfg_node *n);

/* The value under key in map n, or NULL. Borrowed. */
struct cfg_node *cfg_map_get(const struct cfg_node *n, const char *key, struct cfg_pair **pair);

/* --- includes and merge (cfg_include.c) --- */

/*
 * Load the main file (from disk, or from buf when buf != NULL) and every file
 * it includes, merged into ctx->root. Returns 0 or -EINVAL (errors in ctx).
 */
int cfg_load_tree(struct cfg_ctx *ctx, const char *path, const char *buf, size_t len);

/* --- ${VAR} expansion (cfg_expand.c) --- */

/*
 * Expand ${VAR}, ${VAR:-default} and $$ in the scalar n. Returns an owned
 * string, or NULL with an error naming path and the variable reported. When
 * secret is true the value never appears in a message.
 */
char *cfg_expand(struct cfg_ctx *ctx, const struct cfg_node *n, const char *path, bool secret);

/* --- typed scalars (cfg_value.c); all return 0 or -EINVAL/-ERANGE --- */

int cfg_parse_bool(const char *s, bool *out);
int cfg_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int cfg_parse_duration(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* Like cfg_parse_duration, in milliseconds, with an "ms" suffix too (bare = seconds). */
int cfg_parse_duration_ms(const char *s, uint32_t min_ms, uint32_t max_ms, uint32_t *out);
int cfg_parse_port(const char *s, uint16_t *out);
/* A quantity with an optional SI suffix (k, M, G, T: powers of 1000), at most 10^15. */
int cfg_parse_si(const char *s, uint64_t *out);
int cfg_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);
int cfg_parse_hostport(const char *s, struct ice_addr *out);
int cfg_parse_transport(const char *s, unsigned *bit);
/* "auto" -> 0 with *is_auto; else 1..max. */
int cfg_parse_workers(const char *s, unsigned max, unsigned *out, bool *is_auto);

/* --- key-specific rules and helpers (cfg_special.c) --- */

/* String rules: NULL when s is acceptable, else what was expected. */
const char *cfg_check_header_name(const char *s);
const char *cfg_check_origin(const char *s);
const char *cfg_check_bearer_token(const char *s);
const char *cfg_check_stun_url(const char *s);
const char *cfg_check_realm(const char *s);

/* "a mapping", "a list" or "a value", for messages. */
const char *cfg_scalar_kind(const struct cfg_node *v);

/*
 * The ${VAR}-expanded text of a scalar node (owned; "" for null), or NULL with
 * an error when v is not a scalar or expansion failed.
 */
char *cfg_scalar_text(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path, bool secret);

/* Report "path: expected <expected>, got "<got>"" (got omitted when secret). */
void cfg_bad_value(struct cfg_ctx *ctx, const struct cfg_pos *pos, const char *path,
                   const char *expected, const char *got, bool secret);

/* Handlers for single keys; each returns 0 or -EINVAL with the error reported. */
int cfg_sp_log_level(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_log_format(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_workers(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_stun_pubip(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_turn_pubip(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_auth_secret(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_auth_secret_file(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_admin_listen(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);

/* The admin section's defaults and cross-key rules (cfg_admin.c). 0 or -EINVAL. */
int cfg_finish_admin(struct cfg_ctx *ctx);

/* --- peers.node.server.cluster (cfg_cluster.c) --- */

/*
 * Parse a Redis address: "redis://host[:port][/db]" (host an IPv4 literal,
 * a bracketed IPv6 literal or a DNS name) or "unix:/absolute/path". Sets the
 * redis_host/redis_unix (owned, the other NULL), redis_port and redis_db
 * fields of out. Returns 0, -EINVAL (with *why set to what was expected) or
 * -ENOMEM.
 */
int cfg_parse_redis_url(const char *s, struct ice_config_cluster *out, const char **why);

/* A node-id: 1-63 of letters, digits, '.', '_', '-'. NULL or what was expected. */
const char *cfg_check_node_id(const char *s);
/* A key prefix: 1-64 printable ASCII bytes, no space. NULL or what was expected. */
const char *cfg_check_key_prefix(const char *s);

int cfg_sp_cluster_redis(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
int cfg_sp_cluster_strategy(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);

/* Defaults that need the host name, cross-key rules, the password file. 0 or -EINVAL. */
int cfg_cluster_finish(struct cfg_ctx *ctx);

/* Free what ice_config_cluster owns (the password wiped). */
void cfg_cluster_free(struct ice_config_cluster *cl);
/* Free what a section owns (secrets and tokens wiped), leaving it empty. */
void cfg_turn_free(struct ice_config_turn *t);
void cfg_admin_free(struct ice_config_admin *a);

/* credential-format: coturn | hex-sha256. */
int cfg_sp_credential_format(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path);
/* The YAML name of a credential format. */
const char *cfg_credential_format_name(enum ice_credential_format f);

/* --- schema walk (cfg_schema.c) --- */

/* Set every default that does not depend on other keys. */
void cfg_defaults(struct ice_config *cfg);

/* Walk ctx->root into ctx->cfg. Returns 0 or -EINVAL (errors in ctx). */
int cfg_schema_apply(struct cfg_ctx *ctx);

/* --- cross-key checks and resolution (cfg_finish.c, cfg_secret.c) --- */

/* Resolve auto values and check rules spanning keys. 0 or -EINVAL. */
int cfg_finish(struct cfg_ctx *ctx);
/* cfg_tls.c: http.tls and tls.server-name (after the TURN checks). 0 or -EINVAL. */
int cfg_finish_tls_names(struct cfg_ctx *ctx);

/*
 * Read a secret file named by key (for messages) at pos: at most 4096 bytes,
 * trailing newlines cut, a warning when group or others may read it. *out is
 * owned (CFG_MAX_SECRET_BYTES + 1 bytes, NUL-terminated; wipe before free).
 * Returns 0 or -EINVAL with the error reported (unreadable, too large, empty).
 */
int cfg_read_secret_file(struct cfg_ctx *ctx, const char *key, const char *path,
                         const struct cfg_pos *pos, char **out, size_t *outlen);

/* Build turn.auth_secrets from auth-secret(-file) and previous ones. 0 or -EINVAL. */
int cfg_secrets_resolve(struct cfg_ctx *ctx);

/* --- public address (cfg_pubip.c): ice_config_outward_addr, config.h --- */

/*
 * Resolve one sub-server's public-ip: the env variable envname wins, then
 * the YAML value (raw), then auto. A value is "auto" or a comma list of at
 * most one specified address per family; out->addr gets IPv4 first. listen
 * and ranges (NULL for STUN) are the sub-server's listen addresses and
 * relay-ip-range: a family given explicitly needs both (an error names
 * it); auto keeps only the families served. 0 or -EINVAL, errors reported.
 */
int cfg_pubip_resolve(struct cfg_ctx *ctx, const char *envname, const struct cfg_pubip_raw *raw,
                      const struct ice_addr *listen, size_t n_listen, const struct ice_cidr *ranges,
                      size_t n_ranges, struct ice_public_ip *out);

/* The single outward address (ctx->outward), looked up once per load, with
 * a warning when only the 127.0.0.1 fallback is left (cfg_finish.c). */
void cfg_outward(struct cfg_ctx *ctx);

/* Whether listen[0..n) has an address of family. */
bool cfg_listens_on(const struct ice_addr *listen, size_t n, int family);

/* The outward addresses of each family, looked up once per load. */
void cfg_outward_families(struct cfg_ctx *ctx);

/* Free everything the context owns (wiping secrets). Does not free ctx->cfg. */
void cfg_ctx_fini(struct cfg_ctx *ctx);

#endif
