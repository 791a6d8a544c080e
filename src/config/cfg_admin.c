/*
 * peers.node.server.admin: where the admin API listens and who may use it,
 * plus the server-wide keys that live operations need (drain-timeout,
 * state-directory). The admin API is never served on the public ICE-API
 * listener: a TCP admin listen equal to http.listen is refused, and TCP
 * needs bearer tokens (a unix socket is guarded by its file mode).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int
cfg_sp_admin_listen(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	struct ice_config_admin *a = &ctx->cfg->admin;
	char *s = cfg_scalar_text(ctx, v, path, false);
	int rc = 0;

	if (s == NULL)
		return -EINVAL;
	ctx->seen[CFG_SEEN_ADMIN_LISTEN] = v->pos;
	ctx->has_seen[CFG_SEEN_ADMIN_LISTEN] = true;
	free(a->unix_path);
	a->unix_path = NULL;
	memset(&a->listen, 0, sizeof(a->listen));
	if (strncmp(s, "unix:", 5) == 0) {
		/* sun_path holds 108 bytes with its NUL. */
		if (s[5] != '/' || strlen(s + 5) > 107) {
			cfg_bad_value(ctx, &v->pos, path,
			              "unix:/absolute/path (at most 107 bytes) or IP:port", s,
			              false);
			rc = -EINVAL;
		} else {
			a->unix_path = strdup(s + 5);
			if (a->unix_path == NULL)
				rc = -ENOMEM;
		}
	} else if (cfg_parse_hostport(s, &a->listen) != 0) {
		cfg_bad_value(ctx, &v->pos, path, "unix:/absolute/path or IP:port", s, false);
		rc = -EINVAL;
	}
	free(s);
	return rc;
}

/* The default socket: under systemd's RuntimeDirectory= when it gave one. */
static char *
default_socket(void)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");
	char buf[128];
	const char *colon;

	if (rt == NULL || rt[0] != '/')
		return strdup(ICE_ADMIN_SOCKET_DEFAULT);
	/* Several directories come colon-separated: the first is ours. */
	colon = strchr(rt, ':');
	snprintf(buf, sizeof(buf), "%.*s/admin.sock", (int)(colon ? colon - rt : 100), rt);
	return strdup(buf);
}

int
cfg_finish_admin(struct cfg_ctx *ctx)
{
	struct ice_config *cfg = ctx->cfg;
	struct ice_config_admin *a = &cfg->admin;
	const struct cfg_pos *pos =
		ctx->has_seen[CFG_SEEN_ADMIN_LISTEN] ? &ctx->seen[CFG_SEEN_ADMIN_LISTEN] : NULL;
	const char *st = getenv("STATE_DIRECTORY");

	if (cfg->state_dir == NULL && st != NULL && st[0] == '/') {
		const char *colon = strchr(st, ':');

		cfg->state_dir = colon ? strndup(st, (size_t)(colon - st)) : strdup(st);
	}
	if (!a->enabled)
		return 0;
	if (a->listen.family == 0 && a->unix_path == NULL) {
		a->unix_path = default_socket();
		if (a->unix_path == NULL)
			return -ENOMEM;
	}
	if (a->listen.family == 0)
		return 0;
	if (a->n_bearer_tokens == 0) {
		cfg_error(
			ctx, pos,
			"admin.listen is a TCP address, so admin.bearer-tokens must list at least "
			"one token (or use a unix socket: listen: unix:/run/icestation/admin.sock)");
		return -EINVAL;
	}
	if (cfg->http.enabled && ice_addr_equal(&a->listen, &cfg->http.listen)) {
		cfg_error(ctx, pos,
		          "admin.listen is the same address and port as http.listen: the admin API "
		          "is never served on the public ICE-API listener");
		return -EINVAL;
	}
	return 0;
}
