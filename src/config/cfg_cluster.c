/*
 * peers.node.server.cluster (docs/cluster.md): the Redis address, the
 * strategy names, the node-id and key-prefix rules, and what the section
 * needs once walked: a Redis address when enabled, a node-ttl of at least
 * two heartbeats (one lost heartbeat must not drop a node), the host name as
 * the default node-id, and the password file read into the snapshot so a
 * reload picks up a new password.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/log.h"

#include "cfg.h"

enum {
	CFG_NODE_ID_MAX = 63,
	CFG_KEY_PREFIX_MAX = 64,
	CFG_HOST_MAX = 253,
	CFG_UNIX_PATH_MAX = 107, /* sun_path holds 108 bytes with the NUL */
	CFG_REDIS_DB_MAX = 65535,
};

static const char default_prefix[] = "icestation:";

const char *
cfg_check_node_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CFG_NODE_ID_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789._-") != n)
		return "a node id: 1-63 letters, digits, '.', '_' or '-'";
	return NULL;
}

const char *
cfg_check_key_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CFG_KEY_PREFIX_MAX)
		return "a key prefix of 1-64 printable ASCII characters without spaces";
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return "a key prefix of 1-64 printable ASCII characters without spaces";
	return NULL;
}

/* A DNS name (letters, digits, '-', '.') or an IPv4 literal. */
static bool
is_host_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CFG_HOST_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

/* "host[:port]" or "[v6][:port]" from s[0..n) into out. */
static int
parse_hostport(const char *s, size_t n, struct ice_config_cluster *out)
{
	const char *host = s, *port = NULL;
	struct ice_addr a;
	char buf[CFG_HOST_MAX + 1];
	size_t hlen;
	uint32_t p;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (close == NULL)
			return -EINVAL;
		host = s + 1;
		hlen = (size_t)(close - host);
		if ((size_t)(close + 1 - s) < n) {
			if (close[1] != ':')
				return -EINVAL;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', n);

		hlen = colon != NULL ? (size_t)(colon - s) : n;
		if (colon != NULL)
			port = colon + 1;
	}
	if (hlen == 0 || hlen > CFG_HOST_MAX)
		return -EINVAL;
	memcpy(buf, host, hlen);
	buf[hlen] = '\0';
	if (s[0] == '[' ? ice_addr_parse_ip(&a, buf, 0) != 0 || a.family != AF_INET6
	                : !is_host_name(buf, hlen))
		return -EINVAL;
	if (port != NULL) {
		char pb[8];
		size_t plen = (size_t)(s + n - port);

		if (plen == 0 || plen >= sizeof(pb))
			return -EINVAL;
		memcpy(pb, port, plen);
		pb[plen] = '\0';
		if (cfg_parse_u32(pb, 1, 65535, &p))
			return -EINVAL;
		out->redis_port = (uint16_t)p;
	}
	out->redis_host = strdup(buf);
	return out->redis_host != NULL ? 0 : -ENOMEM;
}

int
cfg_parse_redis_url(const char *s, struct ice_config_cluster *out, const char **why)
{
	static const char expected[] = "redis://host[:port][/db] or unix:/absolute/path";
	const char *rest, *slash;
	uint32_t db = 0;
	int rc;

	*why = expected;
	free(out->redis_host);
	free(out->redis_unix);
	out->redis_host = out->redis_unix = NULL;
	out->redis_port = 6379;
	out->redis_db = 0;
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/' || strlen(s + 5) > CFG_UNIX_PATH_MAX)
			return -EINVAL;
		out->redis_unix = strdup(s + 5);
		return out->redis_unix != NULL ? 0 : -ENOMEM;
	}
	if (strncmp(s, "rediss://", 9) == 0) {
		*why = "redis:// or unix: (TLS to Redis is not supported: use a unix socket or a "
		       "private network)";
		return -EINVAL;
	}
	if (strncmp(s, "redis://", 8) != 0)
		return -EINVAL;
	rest = s + 8;
	slash = strchr(rest, '/');
	if (memchr(rest, '@', slash != NULL ? (size_t)(slash - rest) : strlen(rest)) != NULL) {
		*why = "an address without credentials (put the password in "
		       "redis-password-file)";
		return -EINVAL;
	}
	if (slash != NULL && slash[1] != '\0' && cfg_parse_u32(slash + 1, 0, CFG_REDIS_DB_MAX, &db))
		return -EINVAL;
	rc = parse_hostport(rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest), out);
	if (rc == 0)
		out->redis_db = db;
	return rc;
}

int
cfg_sp_cluster_redis(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	struct ice_config_cluster *cl = &ctx->cfg->cluster;
	const char *why;
	char *s;
	int rc;

	s = cfg_scalar_text(ctx, v, path, false);
	if (s == NULL)
		return -EINVAL;
	rc = cfg_parse_redis_url(s, cl, &why);
	if (rc == -ENOMEM) {
		cfg_error(ctx, &v->pos, "out of memory");
	} else if (rc) {
		cfg_bad_value(ctx, &v->pos, path, why, s, false);
	} else {
		free(cl->redis_url);
		cl->redis_url = s;
		return 0;
	}
	free(s);
	return -EINVAL;
}

int
cfg_sp_cluster_strategy(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	struct ice_config_cluster *cl = &ctx->cfg->cluster;
	char *s = cfg_scalar_text(ctx, v, path, false);
	int rc = 0;

	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "self-first") == 0) {
		cl->strategy = ICE_CONFIG_CLUSTER_SELF_FIRST;
	} else if (strcmp(s, "least-loaded") == 0) {
		cl->strategy = ICE_CONFIG_CLUSTER_LEAST_LOADED;
	} else {
		cfg_bad_value(ctx, &v->pos, path, "self-first or least-loaded", s, false);
		rc = -EINVAL;
	}
	free(s);
	return rc;
}

static int
default_node_id(struct cfg_ctx *ctx, struct ice_config_cluster *cl, const struct cfg_pos *pos)
{
	char host[256];
	char qb[64];

	if (gethostname(host, sizeof(host)) != 0) {
		cfg_error(ctx, pos, "cluster.node-id: not set and the host name is unknown (%s)",
		          strerror(errno));
		return -EINVAL;
	}
	host[sizeof(host) - 1] = '\0';
	if (cfg_check_node_id(host) != NULL) {
		cfg_error(ctx, pos,
		          "cluster.node-id: not set, and the host name \"%s\" is not a node id "
		          "(1-63 letters, digits, '.', '_' or '-'); set node-id",
		          cfg_quote(host, qb, sizeof(qb)));
		return -EINVAL;
	}
	cl->node_id = strdup(host);
	return cl->node_id != NULL ? 0 : -ENOMEM;
}

int
cfg_cluster_finish(struct cfg_ctx *ctx)
{
	struct ice_config_cluster *cl = &ctx->cfg->cluster;
	const struct cfg_pos *pos = &ctx->seen[CFG_SEEN_CLUSTER];
	size_t len;
	int rc = 0;

	if (!cl->enabled)
		return 0;
	if (cl->redis_host == NULL && cl->redis_unix == NULL) {
		cfg_error(ctx, pos,
		          "cluster is enabled but cluster.redis is not set (redis://host:port/db "
		          "or unix:/path)");
		rc = -EINVAL;
	}
	if (cl->node_ttl_ms < 2 * cl->heartbeat_ms) {
		cfg_error(ctx,
		          ctx->has_seen[CFG_SEEN_CLUSTER_TTL] ? &ctx->seen[CFG_SEEN_CLUSTER_TTL]
		                                              : pos,
		          "cluster.node-ttl (%ums) must be at least two heartbeats (%ums), or one "
		          "late heartbeat drops the node",
		          cl->node_ttl_ms, 2 * cl->heartbeat_ms);
		rc = -EINVAL;
	}
	if (cl->key_prefix == NULL && (cl->key_prefix = strdup(default_prefix)) == NULL)
		rc = -ENOMEM;
	if (cl->node_id == NULL && default_node_id(ctx, cl, pos))
		rc = -EINVAL;
	if (cl->redis_password_file != NULL &&
	    cfg_read_secret_file(ctx, "cluster.redis-password-file", cl->redis_password_file,
	                         &ctx->seen[CFG_SEEN_CLUSTER_PASSWORD], &cl->redis_password, &len))
		rc = -EINVAL;
	if (rc == -ENOMEM)
		cfg_error(ctx, pos, "out of memory");
	return rc;
}

void
cfg_cluster_free(struct ice_config_cluster *cl)
{
	free(cl->redis_url);
	free(cl->redis_host);
	free(cl->redis_unix);
	free(cl->redis_password_file);
	if (cl->redis_password != NULL) {
		explicit_bzero(cl->redis_password, strlen(cl->redis_password));
		free(cl->redis_password);
	}
	free(cl->key_prefix);
	free(cl->node_id);
}
