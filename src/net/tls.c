/*
 * TURN over TLS (RFC 8656 §3.1, `turns:`, port 5349): OpenSSL on the
 * connection code of tcp.c. A TLS connection is a TCP connection whose bytes
 * go through an SSL object bound to the same non-blocking fd (SSL_set_fd);
 * WANT_READ / WANT_WRITE become event registrations in tcp.c. This file holds
 * the process-wide SSL_CTX (certificate and key loaded once at startup, so a
 * bad file fails the start with a message naming it) and thin wrappers that
 * turn OpenSSL's return conventions into the -errno style of tcp.c.
 *
 * Policy: the daemon's one (include/icestation/tls.h, shared with HTTPS). ALPN
 * (RFC 7443): "stun.turn" or "stun.nat-discovery" is selected when offered;
 * a client offering neither still gets served (browsers send no ALPN).
 *
 * The OpenSSL error queue is per thread: every failure path empties it, so the
 * next SSL_get_error on the worker sees only its own call's outcome.
 *
 * Certificates reload (ice_net_reload_tls, on the main thread): a new
 * context is built from the files and, only if the pair loads and matches,
 * replaces the net's; the next generation hands it to the workers, whose
 * new handshakes use it. A live connection keeps the context it started
 * with (its SSL holds a reference). A bad pair leaves the old one in force.
 */
#include "icestation/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "icestation/log.h"

#include "net_internal.h"

/* A server context for t's pair (the policy of src/tls), or NULL with the reason. */
static SSL_CTX *
ctx_new(const struct ice_config_tls *t, char *err, size_t errlen)
{
	/* RFC 7443: a STUN protocol id when offered; a client offering neither
	 * is still served (browsers send no ALPN), since this speaks only STUN. */
	SSL_CTX *ctx = ice_tls_ctx_new(t->cert, t->key, "\x09stun.turn\x12stun.nat-discovery", err,
	                               errlen);

	/* Read what the socket holds into OpenSSL's buffer at once, not each
	 * record's header and then its body: one read() per burst of records
	 * instead of two per record. The stream reads on while SSL_has_pending()
	 * (net_tls_pending), which counts these buffered bytes, so none is left
	 * where epoll cannot see it. TURN streams only: the HTTPS side is
	 * libevent's bufferevent. */
	if (ctx != NULL)
		SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;
}

int
net_tls_init(struct ice_net *net)
{
	char err[512];

	net->tls_ctx = NULL;
	if (!net->cfg->turn.tls.enabled)
		return 0;
	net->tls_ctx = ctx_new(&net->cfg->turn.tls, err, sizeof(err));
	if (net->tls_ctx == NULL) {
		log_errorx("tls: %s", err);
		return -EINVAL;
	}
	return 0;
}

void
net_tls_fini(struct ice_net *net)
{
	SSL_CTX_free(net->tls_ctx);
	net->tls_ctx = NULL;
}

struct ssl_ctx_st *
net_tls_ctx_ref(struct ssl_ctx_st *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	return ctx;
}

void
net_tls_ctx_unref(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

int
ice_net_reload_tls(struct ice_net *net, const struct ice_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	/* TLS on or off needs listeners: a restart-only change. */
	if (net->tls_ctx == NULL || !cfg->turn.tls.enabled)
		return 0;
	ctx = ctx_new(&cfg->turn.tls, err, errlen);
	if (ctx == NULL)
		return -EINVAL;
	/* Live connections hold their own references (SSL_new took one). */
	SSL_CTX_free(net->tls_ctx);
	net->tls_ctx = ctx;
	return 0;
}

uint64_t
ice_net_tls_expiry(const struct ice_net *net)
{
	return ice_tls_ctx_expiry(net->tls_ctx);
}

SSL *
net_tls_new(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL) {
		ERR_clear_error();
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

void
net_tls_free(SSL *ssl, bool notify)
{
	if (ssl == NULL)
		return;
	/* One non-blocking attempt at close_notify; a peer that does not read
	 * it loses nothing it could still use. */
	if (notify && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
}

/*
 * Map the outcome of an SSL I/O call that returned r <= 0: -EAGAIN with
 * *want_write (the call needs the socket writable) or *want_read set, 0 for
 * the peer's close (close_notify, or a bare FIN: SSL_OP_IGNORE_UNEXPECTED_EOF),
 * -EPROTO for a TLS failure, -errno for a socket error.
 */
static int
tls_outcome(SSL *ssl, int r, bool *want_read, bool *want_write)
{
	int err = errno; /* before anything else can change it */
	int e = SSL_get_error(ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want_read = true;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
			*want_read = true;
			return -EAGAIN;
		}
		return err != 0 ? -err : 0;
	default:
		/* OpenSSL recognises "GET ", "POST " and the like in place of a
		 * ClientHello, and sends no alert: the client can read a reply. */
		if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_HTTP_REQUEST) {
			ERR_clear_error();
			return -EBADRQC;
		}
		/* Per connection, so debug only: a scanner must not fill the log. */
		if (ICE_LOG_DEBUG <= ice_log_level_cur) {
			char ebuf[256];

			ERR_error_string_n(ERR_peek_last_error(), ebuf, sizeof(ebuf));
			log_debug("tls: %s", ebuf);
		}
		ERR_clear_error();
		return -EPROTO;
	}
}

int
net_tls_handshake(SSL *ssl, bool *want_write)
{
	bool want_read = false;
	int r;

	*want_write = false;
	r = SSL_do_handshake(ssl);
	if (r == 1)
		return 1;
	r = tls_outcome(ssl, r, &want_read, want_write);
	if (r == -EAGAIN)
		return 0;
	/* A close in the middle of the handshake is a failed handshake too. */
	return r == 0 ? -ECONNRESET : r;
}

ssize_t
net_tls_read(SSL *ssl, void *buf, size_t len, bool *want_write)
{
	bool want_read = false;
	size_t n = 0;
	int r;

	*want_write = false;
	r = SSL_read_ex(ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	return tls_outcome(ssl, 0, &want_read, want_write);
}

ssize_t
net_tls_write(SSL *ssl, const void *buf, size_t len, bool *want_read)
{
	bool want_write = false;
	size_t n = 0;
	int r;

	*want_read = false;
	r = SSL_write_ex(ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	r = tls_outcome(ssl, 0, want_read, &want_write);
	/* A write never ends in a clean close: the peer is gone. */
	return r == 0 ? -EPIPE : r;
}

bool
net_tls_pending(const SSL *ssl)
{
	return SSL_has_pending(ssl) == 1;
}
