/*
 * TURN auth secrets: auth-secret, auth-secret-file and previous-auth-secrets
 * become turn.auth_secrets[] ([0] mints and verifies, the rest only verify).
 * An empty value (typically ${TURN_AUTH_SECRET:-} with the variable unset)
 * means "not set". TURN without any secret refuses to load: there is no
 * username=password fallback.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "cfg.h"

enum {
	CFG_SECRET_WARN_BYTES = 16, /* below this, brute force of the HMAC key is cheap */
};

static int
secret_push(struct cfg_ctx *ctx, const char *s, size_t len, const struct cfg_pos *pos)
{
	struct ice_config_turn *t = &ctx->cfg->turn;
	char *copy;

	if (t->n_auth_secrets >= ICE_CONFIG_MAX_SECRETS) {
		cfg_error(ctx, pos, "too many TURN secrets (limit %d in all)",
		          ICE_CONFIG_MAX_SECRETS);
		return -EINVAL;
	}
	copy = malloc(len + 1);
	if (copy == NULL) {
		cfg_error(ctx, pos, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	t->auth_secrets[t->n_auth_secrets] = copy;
	t->auth_secret_lens[t->n_auth_secrets] = len;
	t->n_auth_secrets++;
	if (len < CFG_SECRET_WARN_BYTES)
		log_warnx("config: %s:%u:%u: TURN secret is only %zu bytes; use at least 32 "
		          "random bytes (openssl rand -hex 32)",
		          pos->file, pos->line, pos->col, len);
	return 0;
}

int
cfg_read_secret_file(struct cfg_ctx *ctx, const char *key, const char *path,
                     const struct cfg_pos *pos, char **out, size_t *outlen)
{
	unsigned mode = 0;
	size_t len;
	char *buf;
	int rc;

	rc = cfg_read_file(path, CFG_MAX_SECRET_BYTES, &buf, &len, &mode);
	if (rc) {
		cfg_error(ctx, pos, "%s \"%s\": cannot read: %s", key, path,
		          rc == -EFBIG    ? "larger than 4096 bytes"
		          : rc == -EINVAL ? "not a regular file"
		                          : strerror(-rc));
		return -EINVAL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0) {
		cfg_error(ctx, pos, "%s \"%s\" is empty", key, path);
		explicit_bzero(buf, CFG_MAX_SECRET_BYTES + 1);
		free(buf);
		return -EINVAL;
	}
	if (mode & (S_IRWXG | S_IRWXO))
		log_warnx("config: %s %s is readable by group or others (mode %03o); chmod 600 it",
		          key, path, mode & 0777);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* Read auth-secret-file into turn.auth_secrets[0]. */
static int
secret_from_file(struct cfg_ctx *ctx)
{
	const char *path = ctx->auth_secret_file;
	const struct cfg_pos *pos = &ctx->auth_secret_file_pos;
	size_t len;
	char *buf;
	int rc;

	if (cfg_read_secret_file(ctx, "auth-secret-file", path, pos, &buf, &len))
		return -EINVAL;
	rc = secret_push(ctx, buf, len, pos);
	if (rc == 0) {
		ctx->cfg->turn.auth_secret_file = strdup(path);
		if (ctx->cfg->turn.auth_secret_file == NULL) {
			cfg_error(ctx, pos, "out of memory");
			rc = -ENOMEM;
		}
	}
	explicit_bzero(buf, CFG_MAX_SECRET_BYTES + 1);
	free(buf);
	return rc;
}

int
cfg_secrets_resolve(struct cfg_ctx *ctx)
{
	bool have_inline = ctx->auth_secret != NULL && ctx->auth_secret[0] != '\0';
	bool have_file = ctx->auth_secret_file != NULL && ctx->auth_secret_file[0] != '\0';
	size_t i;
	int rc = 0;

	if (have_inline) {
		if (have_file)
			log_info("config: auth-secret is set, so auth-secret-file %s is not read",
			         ctx->auth_secret_file);
		rc = secret_push(ctx, ctx->auth_secret, strlen(ctx->auth_secret),
		                 &ctx->auth_secret_pos);
	} else if (have_file) {
		rc = secret_from_file(ctx);
	} else {
		cfg_error(ctx, ctx->has_seen[CFG_SEEN_TURN] ? &ctx->seen[CFG_SEEN_TURN] : NULL,
		          "TURN is enabled but has no auth secret: set the TURN_AUTH_SECRET "
		          "environment variable (read by the shipped sub_turn.yml), or "
		          "auth-secret or auth-secret-file in subserver.turn (there is no "
		          "username=password fallback)");
		return -EINVAL;
	}
	if (rc)
		return rc;
	for (i = 0; i < ctx->n_prev_secrets; i++)
		if (secret_push(ctx, ctx->prev_secrets[i], strlen(ctx->prev_secrets[i]),
		                &ctx->prev_secret_pos[i]))
			rc = -EINVAL;
	return rc;
}
