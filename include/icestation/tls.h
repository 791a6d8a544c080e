/*
 * The one TLS policy of the daemon (src/tls): server contexts for TURN over
 * TLS (src/net) and HTTPS for the ICE API (src/http) are built here, so both
 * listeners offer the same versions and suites, and a certificate is read,
 * checked and described (expiry, host name) in one place.
 *
 * Policy: TLS 1.2 and 1.3 only; TLS 1.2 restricted to forward-secret AEAD
 * suites (ECDHE/DHE with AES-GCM or ChaCha20-Poly1305), TLS 1.3 with
 * OpenSSL's defaults (all AEAD); no compression, no renegotiation, server
 * cipher preference, one stateless session ticket per handshake.
 */
#ifndef ICESTATION_TLS_H
#define ICESTATION_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/*
 * A server context with the policy above for the PEM chain in cert and the
 * key in key (both borrowed for the call). alpn lists the protocols the
 * server selects, in its order of preference, in ALPN wire format
 * (length-prefixed, NUL-terminated as a C string; a static the context
 * borrows for its life), or NULL: no ALPN answer. A client offering none of
 * them is still served (no ALPN agreed). Returns owned (SSL_CTX_free), or
 * NULL with the reason, naming the file, in err. Empties the thread's
 * OpenSSL error queue.
 */
SSL_CTX *ice_tls_ctx_new(const char *cert, const char *key, const char *alpn, char *err,
                         size_t errlen);

/* Unix time of the notAfter of ctx's certificate, or 0 if it has none. */
uint64_t ice_tls_ctx_expiry(const SSL_CTX *ctx);

/*
 * The first DNS subjectAltName of the first certificate in the PEM file
 * path, copied into out (NUL-terminated). Returns its length, 0 when the
 * certificate has no DNS name (or only one too long for out), -errno when
 * the file cannot be read or parsed.
 */
int ice_tls_cert_first_dns(const char *path, char *out, size_t outlen);

/*
 * What a file watch compares (certwatch): device, inode, size and change
 * time of cert and key. A certbot renewal replaces the symlink target
 * (new inode) or rewrites the file (new ctime): either shows.
 */
struct ice_tls_files_stamp {
	uint64_t v[8];
};

/* Stamp the two files; a missing file stamps as zeros. */
void ice_tls_files_stamp(const char *cert, const char *key, struct ice_tls_files_stamp *out);

/* true if a and b differ. */
bool ice_tls_files_changed(const struct ice_tls_files_stamp *a,
                           const struct ice_tls_files_stamp *b);

#endif
