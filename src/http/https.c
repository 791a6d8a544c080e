/*
 * HTTPS for the ICE API (http.tls): the context evhttp's connections are
 * wrapped in (conns.c makes each bufferevent), with the daemon's one TLS
 * policy (include/icestation/tls.h), and its reload: a new pair that loads
 * and matches replaces the old for new connections; a bad one leaves the
 * old in force. Keep-alive is evhttp's, unchanged by TLS.
 */
#include <errno.h>
#include <stdio.h>

#include <openssl/ssl.h>

#include "icestation/log.h"
#include "icestation/tls.h"

#include "http_int.h"

static SSL_CTX *
https_ctx_new(const struct ice_config_http *hc, char *err, size_t errlen)
{
	/* ALPN http/1.1 when offered (curl also offers h2, which evhttp lacks);
	 * a client offering neither is served HTTP/1.1 anyway. */
	return ice_tls_ctx_new(hc->tls_cert, hc->tls_key, "\x08http/1.1", err, errlen);
}

int
http_tls_init(struct ice_http *h)
{
	char err[512];
	SSL_CTX *ctx;

	if (!h->cfg->http.tls_enabled)
		return 0;
	ctx = https_ctx_new(&h->cfg->http, err, sizeof(err));
	if (ctx == NULL) {
		log_errorx("http: tls: %s", err);
		return -EINVAL;
	}
	ice_http_conns_set_tls(h->conns, ctx);
	h->tls_expiry = ice_tls_ctx_expiry(ctx);
	SSL_CTX_free(ctx); /* the tracker holds its own reference */
	h->tls_on = true;
	return 0;
}

int
ice_http_reload_tls(struct ice_http *h, const struct ice_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	/* HTTPS on or off is a restart-only change (reload.c keeps it). */
	if (!h->tls_on || !cfg->http.tls_enabled)
		return 0;
	ctx = https_ctx_new(&cfg->http, err, errlen);
	if (ctx == NULL)
		return -EINVAL;
	ice_http_conns_set_tls(h->conns, ctx);
	h->tls_expiry = ice_tls_ctx_expiry(ctx);
	SSL_CTX_free(ctx);
	return 0;
}

uint64_t
ice_http_tls_expiry(const struct ice_http *h)
{
	return h != NULL && h->tls_on ? h->tls_expiry : 0;
}
