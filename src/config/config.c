/*
 * The public entry points (load, free) and the error sink shared by the
 * loader's files. Loading is: tree (with includes) -> schema walk -> cross-key
 * checks; each stage runs only if the previous one was clean, so one mistake
 * does not cascade into a page of follow-up errors.
 */
#include "icestation/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "config_buffer.h"

void
cfg_error(struct cfg_ctx *ctx, const struct cfg_pos *pos, const char *fmt, ...)
{
	char line[ICE_CONFIG_ERRLEN];
	size_t room, n;
	va_list ap;
	int off = 0;

	ctx->n_errors++;
	if (ctx->n_errors > CFG_MAX_ERRORS || ctx->err == NULL || ctx->errlen == 0)
		return;
	if (pos != NULL && pos->file != NULL)
		off = snprintf(line, sizeof(line), "%s:%u:%u: ", pos->file, pos->line, pos->col);
	if (off < 0 || (size_t)off >= sizeof(line))
		off = 0;
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
	va_end(ap);

	room = ctx->errlen - ctx->errused;
	if (room <= 1)
		return;
	n = strlen(line);
	if (ctx->errused > 0) { /* lines are separated, the last one unterminated */
		ctx->err[ctx->errused++] = '\n';
		room--;
	}
	if (n >= room)
		n = room - 1;
	memcpy(ctx->err + ctx->errused, line, n);
	ctx->errused += n;
	ctx->err[ctx->errused] = '\0';
}

const char *
cfg_quote(const char *s, char *buf, size_t len)
{
	size_t i, max = len - 4;

	if (max > 48)
		max = 48;
	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

const char *
cfg_file_add(struct cfg_ctx *ctx, const char *name, const struct cfg_pos *from)
{
	char *copy;

	if (ctx->n_files >= CFG_MAX_FILES) {
		cfg_error(ctx, from, "too many config files (limit %d)", CFG_MAX_FILES);
		return NULL;
	}
	copy = strdup(name);
	if (copy == NULL) {
		cfg_error(ctx, from, "out of memory");
		return NULL;
	}
	ctx->files[ctx->n_files++] = copy;
	return copy;
}

static void
free_wiped(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
cfg_ctx_fini(struct cfg_ctx *ctx)
{
	size_t i;

	cfg_node_free(ctx->root);
	ctx->root = NULL;
	for (i = 0; i < ctx->n_files; i++)
		free(ctx->files[i]);
	ctx->n_files = 0;
	free(ctx->stun_pubip.value);
	free(ctx->turn_pubip.value);
	free_wiped(ctx->auth_secret);
	free(ctx->auth_secret_file);
	for (i = 0; i < ctx->n_prev_secrets; i++)
		free_wiped(ctx->prev_secrets[i]);
	ctx->n_prev_secrets = 0;
}

static struct ice_config *
load(const char *path, const char *buf, size_t len, char *err, size_t errlen)
{
	struct cfg_ctx ctx = { .err = err, .errlen = errlen, .relay_auto = true };
	struct ice_config *cfg;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		cfg_error(&ctx, NULL, "%s: out of memory", path);
		free(cfg);
		return NULL;
	}
	atomic_init(&cfg->refs, 1);
	cfg->generation = 1;
	ctx.cfg = cfg;
	cfg_defaults(cfg);
	if (cfg_load_tree(&ctx, path, buf, len) == 0 && cfg_schema_apply(&ctx) == 0 &&
	    ctx.n_errors == 0)
		cfg_finish(&ctx);
	if (ctx.n_errors > CFG_MAX_ERRORS)
		cfg_error(&(struct cfg_ctx){ .err = err, .errlen = errlen, .errused = ctx.errused },
		          NULL, "(%u more errors not shown)", ctx.n_errors - CFG_MAX_ERRORS);
	cfg_ctx_fini(&ctx);
	if (ctx.n_errors > 0) {
		ice_config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct ice_config *
ice_config_load(const char *path, char *err, size_t errlen)
{
	return load(path, NULL, 0, err, errlen);
}

struct ice_config *
ice_config_load_buffer(const char *name, const char *buf, size_t len, char *err, size_t errlen)
{
	return load(name, buf, len, err, errlen);
}

static void
free_list(char **arr, size_t n, bool wipe)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (wipe)
			free_wiped(arr[i]);
		else
			free(arr[i]);
		arr[i] = NULL;
	}
}

struct ice_config *
ice_config_ref(struct ice_config *cfg)
{
	if (cfg != NULL)
		atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	return cfg;
}

void
ice_config_free(struct ice_config *cfg)
{
	ice_config_unref(cfg);
}

void
cfg_admin_free(struct ice_config_admin *a)
{
	free(a->unix_path);
	a->unix_path = NULL;
	free_list(a->bearer_tokens, a->n_bearer_tokens, true);
	a->n_bearer_tokens = 0;
}

void
cfg_turn_free(struct ice_config_turn *t)
{
	size_t i;

	free(t->realm);
	for (i = 0; i < t->n_auth_secrets && i < ICE_CONFIG_MAX_SECRETS; i++) {
		if (t->auth_secrets[i] != NULL)
			explicit_bzero(t->auth_secrets[i], t->auth_secret_lens[i]);
		free(t->auth_secrets[i]);
	}
	free(t->auth_secret_file);
	free(t->tls.cert);
	free(t->tls.key);
	free(t->tls.server_name);
	free_list(t->fallback_stun_servers, t->n_fallback_stun_servers, false);
	explicit_bzero(t, sizeof(*t));
}

void
ice_config_unref(struct ice_config *cfg)
{
	/* acq_rel: every thread's reads of the snapshot happen before its free. */
	if (cfg == NULL || atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	cfg_admin_free(&cfg->admin);
	free_list(cfg->http.bearer_tokens, cfg->http.n_bearer_tokens, true);
	free(cfg->http.identity_header);
	free_list(cfg->http.cors_origins, cfg->http.n_cors_origins, false);
	cfg_turn_free(&cfg->turn);
	free(cfg->http.tls_cert);
	free(cfg->http.tls_key);
	cfg_cluster_free(&cfg->cluster);
	explicit_bzero(cfg, sizeof(*cfg));
	free(cfg);
}
