/*
 * The TLS keys that span the tree: http.tls (HTTPS for the ICE API: cert
 * and key together, both readable) and subserver.turn.tls.server-name, the
 * host name turns: URLs carry. Browsers disagree about turns: hosts: Firefox
 * ignores a turns: URL whose host is an IP literal (TLS needs a name to
 * verify), so a server-name is never one. Without the key, the certificate's
 * first DNS subjectAltName is taken (read here, at each load and reload);
 * with neither, the ICE API lists no turns: URL and the load says so.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/log.h"
#include "icestation/tls.h"

#include "cfg.h"

static const struct cfg_pos *
pos_of(struct cfg_ctx *ctx, enum cfg_seen_id id)
{
	return ctx->has_seen[id] ? &ctx->seen[id] : NULL;
}

static int
readable(struct cfg_ctx *ctx, const char *path, enum cfg_seen_id id, const char *key)
{
	if (access(path, R_OK) == 0)
		return 0;
	cfg_error(ctx, pos_of(ctx, id), "%s \"%s\": cannot read: %s", key, path, strerror(errno));
	return -EINVAL;
}

static int
finish_http_tls(struct cfg_ctx *ctx)
{
	struct ice_config_http *h = &ctx->cfg->http;
	int rc = 0;

	if (h->tls_cert == NULL && h->tls_key == NULL)
		return 0;
	if (h->tls_cert == NULL || h->tls_key == NULL) {
		cfg_error(ctx,
		          pos_of(ctx, h->tls_cert ? CFG_SEEN_HTTP_TLS_CERT : CFG_SEEN_HTTP_TLS_KEY),
		          "http.tls needs both cert and key");
		return -EINVAL;
	}
	h->tls_enabled = true;
	if (readable(ctx, h->tls_cert, CFG_SEEN_HTTP_TLS_CERT, "http.tls.cert"))
		rc = -EINVAL;
	if (readable(ctx, h->tls_key, CFG_SEEN_HTTP_TLS_KEY, "http.tls.key"))
		rc = -EINVAL;
	return rc;
}

/* A DNS name as URLs carry it: LDH labels and dots, not an IP literal. */
static bool
host_name_ok(const char *s)
{
	unsigned char buf[16];
	size_t n = strlen(s);

	if (n == 0 || n > 253 || inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	/* All digits and dots would read as an IPv4 address in a URL. */
	return strspn(s, "0123456789.") != n;
}

static int
finish_server_name(struct cfg_ctx *ctx)
{
	struct ice_config_tls *t = &ctx->cfg->turn.tls;
	char name[254];
	int n;

	if (!ctx->cfg->turn.enabled || !t->enabled)
		return 0;
	if (t->server_name != NULL) {
		if (host_name_ok(t->server_name))
			return 0;
		cfg_error(ctx, pos_of(ctx, CFG_SEEN_TLS_SERVER_NAME),
		          "tls.server-name \"%s\": expected a DNS host name, not an IP literal "
		          "(browsers ignore turns: URLs with an IP host)",
		          t->server_name);
		return -EINVAL;
	}
	n = t->cert != NULL ? ice_tls_cert_first_dns(t->cert, name, sizeof(name)) : 0;
	if (n > 0 && host_name_ok(name)) {
		t->server_name = strdup(name);
		return t->server_name != NULL ? 0 : -ENOMEM;
	}
	log_warnx("config: tls.server-name is not set and the certificate %s names no DNS host; "
	          "the ICE API lists no turns: URL (browsers ignore turns: with an IP host)",
	          t->cert != NULL ? t->cert : "(none)");
	return 0;
}

int
cfg_finish_tls_names(struct cfg_ctx *ctx)
{
	int rc = 0;

	if (finish_http_tls(ctx))
		rc = -EINVAL;
	if (finish_server_name(ctx))
		rc = -EINVAL;
	return rc;
}
