/*
 * The self-test's connections to its own daemon. UDP is a connected,
 * non-blocking socket read by an event; TCP and TLS connect without
 * blocking, then become bufferevents (TLS through libevent's OpenSSL
 * filter, its handshake after the TCP connection is up, so a refused
 * connection and a failed handshake have different causes). Every callback
 * runs from the loop, never from inside a call of this file's API.
 */
#include "conn.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "icestation/stun.h"
#include "icestation/turn.h"

#include "st_int.h"

struct st_conn {
	uint8_t proto;
	struct st_conn_ops ops;
	void *arg;
	int fd;                  /* UDP; TCP and TLS until connected */
	struct event *ev_read;   /* UDP */
	struct event *ev_open;   /* UDP: on_open, deferred; TCP, TLS: connected */
	struct bufferevent *bev; /* TCP, TLS, once connected */
	SSL *ssl;                /* TLS, until the bufferevent takes it */
	bool opened, failed;
};

static void
fail(struct st_conn *c, int err, const char *tls)
{
	if (c->failed)
		return;
	c->failed = true;
	if (c->ev_read != NULL)
		event_del(c->ev_read);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	c->ops.on_error(c->arg, err, tls);
}

static void
udp_on_open(evutil_socket_t fd, short what, void *arg)
{
	struct st_conn *c = arg;

	(void)fd;
	(void)what;
	c->ops.on_open(c->arg);
}

static void
udp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct st_conn *c = arg;
	uint8_t buf[ST_FRAME_MAX];

	(void)what;
	for (int i = 0; i < 16 && !c->failed; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				fail(c, errno, "");
			return;
		}
		c->ops.on_frame(c->arg, buf, (size_t)n);
	}
}

static int
udp_open(struct st_conn *c, struct event_base *base, const struct ice_addr *to)
{
	struct sockaddr_storage ss;
	socklen_t len = ice_addr_to_sockaddr(to, &ss);

	c->fd = socket(to->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	c->ev_read = event_new(base, c->fd, EV_READ | EV_PERSIST, udp_on_read, c);
	c->ev_open = event_new(base, -1, 0, udp_on_open, c);
	if (c->ev_read == NULL || c->ev_open == NULL || event_add(c->ev_read, NULL) < 0)
		return -ENOMEM;
	event_active(c->ev_open, EV_TIMEOUT, 0);
	return 0;
}

static void
stream_on_read(struct bufferevent *bev, void *arg)
{
	struct st_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->failed) {
		size_t have = evbuffer_get_length(in);
		size_t look = ICE_MIN(have, (size_t)ST_FRAME_MAX);
		uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)look);
		int n = p != NULL ? stun_stream_frame_len(p, look) : 0;

		if (n < 0 || (n == 0 && look == ST_FRAME_MAX)) {
			fail(c, EBADMSG, "");
			return;
		}
		if (n == 0)
			return;
		c->ops.on_frame(c->arg, p, (size_t)n);
		evbuffer_drain(in, (size_t)n);
	}
}

/* The OpenSSL reason of a failed handshake, if the failure was one. */
static const char *
tls_reason(struct bufferevent *bev, char *buf, size_t cap)
{
	unsigned long e, last = 0;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		last = e;
	if (last == 0)
		return "";
	ERR_error_string_n(last, buf, cap);
	return buf;
}

static void
stream_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct st_conn *c = arg;
	char reason[256] = "";
	int err = EVUTIL_SOCKET_ERROR();
	const char *tls;

	if (what & BEV_EVENT_CONNECTED) {
		c->opened = true;
		c->ops.on_open(c->arg);
		return;
	}
	tls = c->proto == TURN_PROTO_TLS ? tls_reason(bev, reason, sizeof(reason)) : "";
	if (*tls == '\0' && !c->opened && c->proto == TURN_PROTO_TLS)
		tls = "the server closed the connection during the handshake";
	if (what & BEV_EVENT_EOF)
		fail(c, 0, tls);
	else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		fail(c, *tls ? 0 : (err ? err : EIO), tls);
}

/* The TCP connection is up (or failed): TLS starts its handshake now, so a
 * refused connection and a failed handshake are told apart. */
static void
on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct st_conn *c = arg;
	int err = 0, opts = BEV_OPT_CLOSE_ON_FREE;
	socklen_t len = sizeof(err);

	(void)what;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		fail(c, err, "");
		return;
	}
	if (c->proto == TURN_PROTO_TLS) {
		c->bev = bufferevent_openssl_socket_new(event_get_base(c->ev_open), fd, c->ssl,
		                                        BUFFEREVENT_SSL_CONNECTING, opts);
		c->ssl = NULL; /* the bufferevent frees it */
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(event_get_base(c->ev_open), fd, opts);
	}
	if (c->bev == NULL) {
		fail(c, ENOMEM, "");
		return;
	}
	c->fd = -1; /* the bufferevent closes it */
	bufferevent_setcb(c->bev, stream_on_read, NULL, stream_on_event, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
		fail(c, ENOMEM, "");
		return;
	}
	if (c->proto == TURN_PROTO_TCP) {
		c->opened = true;
		c->ops.on_open(c->arg);
	}
}

static int
stream_open(struct st_conn *c, struct event_base *base, const struct ice_addr *to, SSL_CTX *tls,
            const char *sni)
{
	struct sockaddr_storage ss;
	socklen_t len = ice_addr_to_sockaddr(to, &ss);

	if (c->proto == TURN_PROTO_TLS) {
		c->ssl = SSL_new(tls);
		if (c->ssl == NULL)
			return -ENOMEM;
		if (sni != NULL)
			(void)SSL_set_tlsext_host_name(c->ssl, sni);
	}
	c->fd = socket(to->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	c->ev_open = event_new(base, c->fd, EV_WRITE, on_connected, c);
	if (c->ev_open == NULL)
		return -ENOMEM;
	/* Refused or not, the answer comes as writability (SO_ERROR tells). */
	if (connect(c->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		event_active(c->ev_open, EV_WRITE, 0);
	else if (event_add(c->ev_open, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int
st_conn_open(struct event_base *base, uint8_t proto, const struct ice_addr *to, SSL_CTX *tls,
             const char *sni, const struct st_conn_ops *ops, void *arg, struct st_conn **out)
{
	struct st_conn *c = calloc(1, sizeof(*c));
	int r;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->proto = proto;
	c->ops = *ops;
	c->arg = arg;
	c->fd = -1;
	r = proto == TURN_PROTO_UDP ? udp_open(c, base, to) : stream_open(c, base, to, tls, sni);
	if (r < 0) {
		st_conn_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int
st_conn_send(struct st_conn *c, const uint8_t *buf, size_t len)
{
	if (c->failed || (c->proto != TURN_PROTO_UDP && c->bev == NULL))
		return -ENOTCONN;
	if (c->bev != NULL)
		return bufferevent_write(c->bev, buf, len) < 0 ? -ENOMEM : 0;
	if (send(c->fd, buf, len, 0) < 0)
		return -errno;
	return 0;
}

int
st_conn_local(const struct st_conn *c, struct ice_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = c->bev != NULL ? (int)bufferevent_getfd(c->bev) : c->fd;

	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return ice_addr_from_sockaddr(out, (struct sockaddr *)&ss);
}

X509 *
st_conn_peer_cert(const struct st_conn *c)
{
	SSL *ssl = c->bev != NULL && c->proto == TURN_PROTO_TLS
	                   ? bufferevent_openssl_get_ssl(c->bev)
	                   : NULL;

	return ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;
}

void
st_conn_free(struct st_conn *c)
{
	if (c == NULL)
		return;
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_open != NULL)
		event_free(c->ev_open);
	if (c->fd >= 0)
		close(c->fd);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	SSL_free(c->ssl);
	ERR_clear_error();
	free(c);
}
