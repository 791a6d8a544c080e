/*
 * Server TLS contexts with the daemon's one policy (include/icestation/tls.h),
 * and what the daemon needs to know about a certificate file: when it
 * expires, its first DNS name, and whether it changed on disk.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "icestation/tls.h"

/* TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all AEAD). */
#define ICE_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"

/* The newest OpenSSL error as text (the reason a file was refused). */
static const char *
tls_err_str(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ALPN (RFC 7301): the first of ours the client offers; an offer without
 * any is not fatal (NOACK): browsers send none for TURN, say. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
	const unsigned char *ours = arg;

	(void)ssl;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours,
	                          (unsigned int)strlen((const char *)ours), in,
	                          inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *
ice_tls_ctx_new(const char *cert, const char *key, const char *alpn, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "icestation";
	char ebuf[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create the TLS context: %s",
		         tls_err_str(ebuf, sizeof(ebuf)));
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, ICE_TLS12_CIPHERS) != 1) {
		snprintf(err, errlen, "cannot set the protocol policy: %s",
		         tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
	                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Writers retry from buffers that may have moved or grown meanwhile
	 * (the TURN stream's ring, libevent's evbuffer), one record at a time. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (alpn != NULL)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)alpn);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "cannot load the certificate chain from %s: %s", cert,
		         tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "cannot load the private key from %s: %s", key,
		         tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
		         "the private key in %s does not match the certificate in %s: %s", key,
		         cert, tls_err_str(ebuf, sizeof(ebuf)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

uint64_t
ice_tls_ctx_expiry(const SSL_CTX *ctx)
{
	X509 *x = ctx != NULL ? SSL_CTX_get0_certificate(ctx) : NULL;
	const ASN1_TIME *t = x != NULL ? X509_get0_notAfter(x) : NULL;
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (uint64_t)timegm(&tm);
}

int
ice_tls_cert_first_dns(const char *path, char *out, size_t outlen)
{
	FILE *fp = fopen(path, "r");
	GENERAL_NAMES *names;
	X509 *x;
	int len = 0;

	if (fp == NULL)
		return -errno;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL) {
		ERR_clear_error();
		return -EBADMSG;
	}
	out[0] = '\0';
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *s;
		int n;

		if (g->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(g->d.dNSName);
		n = ASN1_STRING_length(g->d.dNSName);
		/* A wildcard names no host to connect to; NULs no host at all. */
		if (n <= 0 || (size_t)n >= outlen || memchr(s, '\0', (size_t)n) != NULL ||
		    s[0] == '*')
			continue;
		memcpy(out, s, (size_t)n);
		out[n] = '\0';
		len = n;
		break;
	}
	GENERAL_NAMES_free(names);
	X509_free(x);
	ERR_clear_error();
	return len;
}

static void
stamp_one(const char *path, uint64_t *v)
{
	struct stat st;

	if (path == NULL || stat(path, &st) != 0) {
		memset(v, 0, 4 * sizeof(*v));
		return;
	}
	v[0] = (uint64_t)st.st_dev ^ ((uint64_t)st.st_ino << 1);
	v[1] = (uint64_t)st.st_size;
	v[2] = (uint64_t)st.st_ctim.tv_sec;
	v[3] = (uint64_t)st.st_ctim.tv_nsec ^ ((uint64_t)st.st_mtim.tv_nsec << 1);
}

void
ice_tls_files_stamp(const char *cert, const char *key, struct ice_tls_files_stamp *out)
{
	stamp_one(cert, &out->v[0]);
	stamp_one(key, &out->v[4]);
}

bool
ice_tls_files_changed(const struct ice_tls_files_stamp *a, const struct ice_tls_files_stamp *b)
{
	return memcmp(a->v, b->v, sizeof(a->v)) != 0;
}
