/*
 * Stream client transports of the load generator: an allocation held over a
 * TCP or TLS connection (RFC 8656 §3.1), with the stream framing of STUN
 * messages and ChannelData (RFC 8656 §12.5: ChannelData padded to a
 * multiple of 4). Peers stay UDP.
 *
 * TLS runs over memory BIOs: the generator moves the bytes between the
 * socket and OpenSSL itself, so a burst of frames is one TLS record per
 * frame (what a browser's TURN/TLS client sends) written to the socket with
 * one send(), and a read never leaves decrypted bytes hidden inside OpenSSL
 * where epoll cannot see them. The server's certificate is verified against
 * --tls-ca for the name "localhost"; no SNI and no ALPN are sent (Firefox
 * and most TURN clients send neither).
 *
 * Connections close with SO_LINGER 0 (a reset): a bench run leaves no
 * TIME_WAIT on the generator's fixed client ports, so the next run can bind
 * them again at once.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loadgen.h"

enum {
	IN_CAP = 64 * 1024,   /* plaintext not yet framed: several full frames */
	OUT_CAP = 128 * 1024, /* bytes the kernel has not taken yet */
	HANDSHAKE_MS = 5000,
	READS_PER_CALL = 8, /* reads per readiness event, then other sockets get a turn */
};

struct lg_conn {
	SSL *ssl; /* TLS only */
	BIO *rbio, *wbio;
	uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len;
};

int
lg_stream_init(struct lg *g)
{
	if (g->o.transport != LG_TLS)
		return 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -1;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (!g->o.tls_ca || SSL_CTX_load_verify_locations(ctx, g->o.tls_ca, NULL) != 1) {
		fprintf(stderr, "loadgen: --tls-ca: cannot load %s\n",
		        g->o.tls_ca ? g->o.tls_ca : "(not given)");
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	g->tls_ctx = ctx;
	return 0;
}

/* Move what OpenSSL wrote into the output buffer. -1 if it does not fit. */
static int
take_records(struct lg_conn *c)
{
	size_t pending = (size_t)BIO_ctrl_pending(c->wbio);
	if (pending > OUT_CAP - c->out_len)
		return -1;
	if (pending > 0 && BIO_read(c->wbio, c->out + c->out_len, (int)pending) != (int)pending)
		return -1;
	c->out_len += pending;
	return 0;
}

/* Send what the kernel takes now. 0, or -1 on a broken connection. */
static int
flush_out(struct lg_conn *c, int fd)
{
	size_t off = 0;
	while (off < c->out_len) {
		ssize_t n = send(fd, c->out + off, c->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	return 0;
}

/* Wait up to ms for events on fd. */
static bool
wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	return ms > 0 && poll(&p, 1, ms) > 0;
}

/* TLS handshake over the memory BIOs, bounded by HANDSHAKE_MS. 0 or -1. */
static int
handshake(struct lg_conn *c, int fd)
{
	uint8_t buf[16384];
	double deadline = lg_now() + HANDSHAKE_MS / 1000.0;
	for (;;) {
		int r = SSL_do_handshake(c->ssl);
		if (take_records(c) < 0 || flush_out(c, fd) < 0)
			return -1;
		int left = (int)((deadline - lg_now()) * 1000);
		if (c->out_len > 0) {
			if (!wait_fd(fd, POLLOUT, left))
				return -1;
			continue;
		}
		if (r == 1)
			return 0;
		if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
			fprintf(stderr, "loadgen: TLS handshake: ");
			ERR_print_errors_fp(stderr);
			fprintf(stderr, "(verify: %s)\n",
			        X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
			return -1;
		}
		if (!wait_fd(fd, POLLIN, left))
			return -1;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n > 0 && BIO_write(c->rbio, buf, (int)n) != (int)n)
			return -1;
	}
}

static struct lg_conn *
conn_new(struct lg *g, int fd)
{
	struct lg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->in = malloc(IN_CAP);
	c->out = malloc(OUT_CAP);
	if (!c->in || !c->out)
		goto fail;
	if (g->tls_ctx) {
		c->ssl = SSL_new(g->tls_ctx);
		c->rbio = BIO_new(BIO_s_mem());
		c->wbio = BIO_new(BIO_s_mem());
		if (!c->ssl || !c->rbio || !c->wbio) {
			BIO_free(c->rbio);
			BIO_free(c->wbio);
			goto fail;
		}
		SSL_set_bio(c->ssl, c->rbio, c->wbio); /* the SSL owns them from here */
		SSL_set_connect_state(c->ssl);
		if (SSL_set1_host(c->ssl, "localhost") != 1 || handshake(c, fd) < 0)
			goto fail;
	}
	return c;
fail:
	SSL_free(c->ssl);
	free(c->in);
	free(c->out);
	free(c);
	return NULL;
}

int
lg_stream_open(struct lg *g, struct lg_alloc *a, uint32_t ip, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	int one = 1, sz = 1 << 21;
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&a->local, 0, sizeof(a->local));
	a->local.sin_family = AF_INET;
	a->local.sin_addr.s_addr = htonl(ip);
	a->local.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&a->local, sizeof(a->local)) < 0) {
		fprintf(stderr, "loadgen: bind tcp port %d: %s\n", port, strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&g->o.server, sizeof(g->o.server)) < 0 &&
	    errno != EINPROGRESS) {
		perror("loadgen: connect");
		goto fail;
	}
	/* Connected (loopback) once writable; the handshake waits itself. */
	int err = 0;
	socklen_t elen = sizeof(err);
	if (!wait_fd(fd, POLLOUT, HANDSHAKE_MS) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
		fprintf(stderr, "loadgen: connect: %s\n", strerror(err ? err : ETIMEDOUT));
		goto fail;
	}
	a->conn = conn_new(g, fd);
	if (!a->conn)
		goto fail;
	a->fd = fd;
	return fd;
fail:
	close(fd);
	return -1;
}

int
lg_stream_send(struct lg_alloc *a, const uint8_t *frame, size_t len, int copies)
{
	struct lg_conn *c = a->conn;
	int done = 0;
	if (c->out_len > 0 && flush_out(c, a->fd) < 0)
		return -1;
	for (; done < copies; done++) {
		if (c->ssl) {
			/* A memory BIO takes every record: this cannot be short. */
			if (OUT_CAP - c->out_len < len + 256 ||
			    SSL_write(c->ssl, frame, (int)len) != (int)len || take_records(c) < 0)
				break;
		} else {
			if (OUT_CAP - c->out_len < len)
				break;
			memcpy(c->out + c->out_len, frame, len);
			c->out_len += len;
		}
	}
	return flush_out(c, a->fd) < 0 ? -1 : done;
}

/* Length of the frame at p (n bytes in): STUN or padded ChannelData; 0 if
 * not complete yet, -1 if the stream holds neither. */
static long
frame_len(const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	size_t len = (size_t)(p[2] << 8 | p[3]), want;
	if ((p[0] & 0xC0) == 0)
		want = LG_STUN_HDR + len;
	else if ((p[0] & 0xC0) == 0x40)
		want = 4 + ((len + 3) & ~(size_t)3);
	else
		return -1;
	return n >= want ? (long)want : 0;
}

/* Hand every complete frame to cb, keep the rest. -1 on a stream that is neither. */
static int
deliver(struct lg_conn *c, lg_frame_cb cb, void *arg)
{
	size_t off = 0;
	long n;
	while ((n = frame_len(c->in + off, c->in_len - off)) > 0) {
		cb(arg, c->in + off, (size_t)n);
		off += (size_t)n;
	}
	if (n < 0 || (c->in_len - off == IN_CAP))
		return -1;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

/* Decrypt what rbio holds into c->in. 0, or -1 at the peer's close or a TLS error. */
static int
decrypt(struct lg_conn *c, lg_frame_cb cb, void *arg)
{
	for (;;) {
		if (c->in_len == IN_CAP)
			return -1;
		int n = SSL_read(c->ssl, c->in + c->in_len, (int)(IN_CAP - c->in_len));
		if (n <= 0)
			return SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_READ ? 0 : -1;
		c->in_len += (size_t)n;
		if (deliver(c, cb, arg) < 0)
			return -1;
	}
}

int
lg_stream_recv(struct lg *g, struct lg_alloc *a, lg_frame_cb cb, void *arg)
{
	struct lg_conn *c = a->conn;
	static uint8_t buf[IN_CAP];
	for (int i = 0; i < READS_PER_CALL; i++) {
		ssize_t n;
		if (c->ssl)
			n = recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT);
		else
			n = recv(a->fd, c->in + c->in_len, IN_CAP - c->in_len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0)
			goto closed;
		if (c->ssl) {
			if (BIO_write(c->rbio, buf, (int)n) != (int)n || decrypt(c, cb, arg) < 0)
				goto closed;
			/* TLS 1.3 may answer a key update or a ticket: send it on. */
			if (take_records(c) < 0 || flush_out(c, a->fd) < 0)
				goto closed;
		} else {
			c->in_len += (size_t)n;
			if (deliver(c, cb, arg) < 0)
				goto closed;
		}
	}
	return 0;
closed:
	lg_stream_close(g, a);
	g->conn_closed++;
	return -1;
}

void
lg_stream_close(struct lg *g, struct lg_alloc *a)
{
	struct lg_conn *c = a->conn;
	if (!c)
		return;
	epoll_ctl(g->ep, EPOLL_CTL_DEL, a->fd, NULL);
	close(a->fd);
	a->fd = -1;
	SSL_free(c->ssl);
	free(c->in);
	free(c->out);
	free(c);
	a->conn = NULL;
	if (a->state == AS_READY)
		a->state = AS_FAILED; /* nothing more can be relayed through it */
}

void
lg_stream_describe(struct lg *g)
{
	for (int i = 0; i < g->n_al; i++) {
		struct lg_conn *c = g->al[i].conn;
		if (c && c->ssl) {
			printf("\"tls_version\":\"%s\",\"tls_cipher\":\"%s\",",
			       SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
			return;
		}
	}
}
