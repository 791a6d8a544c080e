/*
 * Scalar keys that need more than a type: string rules (realm, origins,
 * header names, STUN URLs), and keys whose value is kept aside for the
 * cross-key stage (public-ip, secrets, workers, log level). Shared helpers
 * that turn a node into expanded text or a typed error also live here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "cfg.h"

/* --- string checks --- */

const char *
cfg_check_header_name(const char *s)
{
	for (; *s; s++)
		if (!(*s == '-' || (*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= 'a' && *s <= 'z') || *s == '_'))
			return "an HTTP header name (letters, digits, '-', '_')";
	return NULL;
}

/*
 * RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
 * "/" ) *"=". Anything else could never be presented intact in the
 * Authorization header (spaces are trimmed there), so it is a typo, not a token.
 */
const char *
cfg_check_bearer_token(const char *s)
{
	static const char why[] = "a bearer token: letters, digits and - . _ ~ + /, "
				  "then optional trailing '=' (RFC 6750 b64token)";
	const char *p = s;

	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
	       (*p != '\0' && strchr("-._~+/", *p) != NULL))
		p++;
	if (p == s)
		return why;
	while (*p == '=')
		p++;
	return *p == '\0' ? NULL : why;
}

const char *
cfg_check_origin(const char *s)
{
	const char *host;

	if (strcmp(s, "*") == 0)
		return NULL;
	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return "\"*\" or an origin like https://app.example.com (scheme, host, port)";
	if (*host == '\0' || strchr(host, '/') != NULL)
		return "an origin without path or trailing '/' (https://app.example.com)";
	for (; *host; host++)
		if (*host <= ' ' || *host >= 0x7f || *host == ',')
			return "an origin without spaces or commas";
	return NULL;
}

const char *
cfg_check_stun_url(const char *s)
{
	if (strncmp(s, "stun:", 5) != 0 && strncmp(s, "stuns:", 6) != 0)
		return "a STUN URL like stun:stun.example.org:3478";
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '"' || *s == '\\')
			return "a STUN URL without spaces, quotes or control characters";
	return NULL;
}

const char *
cfg_check_realm(const char *s)
{
	/* RFC 8489 §14.9: quoted-string, < 128 characters; we allow no quotes at all. */
	if (strlen(s) > 127)
		return "a realm of at most 127 bytes";
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == '"' || *s == '\\' || *s == 0x7f)
			return "a realm without quotes, backslashes or control characters";
	return NULL;
}

/* --- specials --- */

const char *
cfg_scalar_kind(const struct cfg_node *v)
{
	return v->kind == CFG_MAP ? "a mapping" : v->kind == CFG_SEQ ? "a list" : "a value";
}

/* The expanded text of a scalar, or NULL with an error. */
char *
cfg_scalar_text(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path, bool secret)
{
	if (v->kind != CFG_SCALAR) {
		cfg_error(ctx, &v->pos, "%s: expected a single value, got %s", path,
		          cfg_scalar_kind(v));
		return NULL;
	}
	if (v->null)
		return strdup("");
	return cfg_expand(ctx, v, path, secret);
}

void
cfg_bad_value(struct cfg_ctx *ctx, const struct cfg_pos *pos, const char *path,
              const char *expected, const char *got, bool secret)
{
	char qb[64];

	if (secret)
		cfg_error(ctx, pos, "%s: expected %s", path, expected);
	else
		cfg_error(ctx, pos, "%s: expected %s, got \"%s\"", path, expected,
		          cfg_quote(got, qb, sizeof(qb)));
}

int
cfg_sp_log_level(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	char *s = cfg_scalar_text(ctx, v, path, false);
	int lvl;

	if (s == NULL)
		return -EINVAL;
	lvl = s[0] ? ice_log_level_parse(s) : ICE_LOG_INFO;
	if (lvl < 0)
		cfg_bad_value(ctx, &v->pos, path, "one of debug, info, warn, error", s, false);
	else
		ctx->cfg->log_level = lvl;
	free(s);
	return lvl < 0 ? -EINVAL : 0;
}

static const char *const credential_formats[] = {
	[ICE_CREDENTIAL_COTURN] = "coturn",
	[ICE_CREDENTIAL_HEX_SHA256] = "hex-sha256",
};

const char *
cfg_credential_format_name(enum ice_credential_format f)
{
	return (size_t)f < ICE_ARRAY_SIZE(credential_formats) ? credential_formats[f] : "?";
}

int
cfg_sp_credential_format(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	char *s = cfg_scalar_text(ctx, v, path, false);
	int rc = -EINVAL;

	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < ICE_ARRAY_SIZE(credential_formats); i++) {
		if (strcmp(s, credential_formats[i]) == 0) {
			ctx->cfg->turn.credential_format = (enum ice_credential_format)i;
			rc = 0;
		}
	}
	if (rc < 0)
		cfg_bad_value(ctx, &v->pos, path, "one of coturn, hex-sha256", s, false);
	free(s);
	return rc;
}

int
cfg_sp_log_format(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	char *s = cfg_scalar_text(ctx, v, path, false);
	int rc = 0;

	if (s == NULL)
		return -EINVAL;
	if (s[0] == '\0' || strcmp(s, "text") == 0) {
		ctx->cfg->log_format = ICE_LOG_TEXT;
	} else if (strcmp(s, "json") == 0) {
		ctx->cfg->log_format = ICE_LOG_JSON;
	} else {
		cfg_bad_value(ctx, &v->pos, path, "text or json", s, false);
		rc = -EINVAL;
	}
	free(s);
	return rc;
}

int
cfg_sp_workers(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	char *s = cfg_scalar_text(ctx, v, path, false);
	char exp[64];
	int rc;

	if (s == NULL)
		return -EINVAL;
	rc = cfg_parse_workers(s, ICE_CONFIG_MAX_WORKERS, &ctx->cfg->workers, &ctx->workers_auto);
	if (rc) {
		snprintf(exp, sizeof(exp), "\"auto\" or a number from 1 to %d",
		         ICE_CONFIG_MAX_WORKERS);
		cfg_bad_value(ctx, &v->pos, path, exp, s, false);
	}
	free(s);
	return rc ? -EINVAL : 0;
}

/* A list of addresses (one per family) becomes the comma text the env
 * override takes too; cfg_pubip_resolve parses both. */
static char *
pubip_list_text(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	char *out, *s;

	if (v->kind != CFG_SEQ || v->n == 0 || v->n > 2) {
		cfg_error(ctx, &v->pos,
		          "%s: expected \"auto\", an IP address, or a list of at most two "
		          "(one IPv4, one IPv6)",
		          path);
		return NULL;
	}
	if ((out = cfg_scalar_text(ctx, v->items[0], path, false)) == NULL)
		return NULL;
	if (v->n == 2) {
		char *b = cfg_scalar_text(ctx, v->items[1], path, false);
		size_t len = strlen(out) + (b ? strlen(b) : 0) + 2;

		if (b == NULL || (s = malloc(len)) == NULL) {
			free(b);
			free(out);
			return NULL;
		}
		snprintf(s, len, "%s,%s", out, b);
		free(b);
		free(out);
		out = s;
	}
	return out;
}

static int
pubip(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path, struct cfg_pubip_raw *raw)
{
	char *s = v->kind == CFG_SCALAR ? cfg_scalar_text(ctx, v, path, false)
	                                : pubip_list_text(ctx, v, path);

	if (s == NULL)
		return -EINVAL;
	free(raw->value);
	raw->value = s;
	raw->pos = v->pos;
	return 0;
}

int
cfg_sp_stun_pubip(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	return pubip(ctx, v, path, &ctx->stun_pubip);
}

int
cfg_sp_turn_pubip(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	return pubip(ctx, v, path, &ctx->turn_pubip);
}

static int
sp_secret(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path, char **dst,
          struct cfg_pos *pos)
{
	char *s = cfg_scalar_text(ctx, v, path, true);

	if (s == NULL)
		return -EINVAL;
	*dst = s;
	*pos = v->pos;
	return 0;
}

int
cfg_sp_auth_secret(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	return sp_secret(ctx, v, path, &ctx->auth_secret, &ctx->auth_secret_pos);
}

int
cfg_sp_auth_secret_file(struct cfg_ctx *ctx, const struct cfg_node *v, const char *path)
{
	return sp_secret(ctx, v, path, &ctx->auth_secret_file, &ctx->auth_secret_file_pos);
}
