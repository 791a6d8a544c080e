/*
 * Private to src/selftest: one client connection to the daemon (conn.c),
 * over UDP (a connected socket, so an ICMP port unreachable comes back as
 * ECONNREFUSED), TCP or TLS (libevent bufferevents; frames cut by
 * stun_stream_frame_len).
 */
#ifndef ICESTATION_SELFTEST_CONN_H
#define ICESTATION_SELFTEST_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "icestation/addr.h"

struct event_base;
struct st_conn;

struct st_conn_ops {
	/* Connected (TLS: handshake done). Always later than st_conn_open. */
	void (*on_open)(void *arg);
	/* One datagram or one whole stream frame, borrowed for the call. */
	void (*on_frame)(void *arg, const uint8_t *buf, size_t len);
	/* The connection failed or closed: err is an errno (0 if the peer
	 * closed), tls the OpenSSL reason when a TLS handshake failed, or "".
	 * Nothing more comes after it. */
	void (*on_error)(void *arg, int err, const char *tls);
};

/*
 * Connect to `to` over proto (enum turn_proto). tls (TLS only) is borrowed
 * for the call, sni may be NULL. The callbacks must not free the
 * connection. Returns 0 with *out set, or -errno when the socket cannot
 * even be made (then nothing is called).
 */
int st_conn_open(struct event_base *base, uint8_t proto, const struct ice_addr *to, SSL_CTX *tls,
                 const char *sni, const struct st_conn_ops *ops, void *arg, struct st_conn **out);

/* Send one message (a datagram, or bytes on the stream). 0 or -errno. */
int st_conn_send(struct st_conn *c, const uint8_t *buf, size_t len);

/* The local address (for the report). 0 or -errno. */
int st_conn_local(const struct st_conn *c, struct ice_addr *out);

/* The certificate the TLS server presented (a new reference), or NULL. */
X509 *st_conn_peer_cert(const struct st_conn *c);

/* Close and free; accepts NULL. */
void st_conn_free(struct st_conn *c);

#endif
