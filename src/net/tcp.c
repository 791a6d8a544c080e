/*
 * TCP listeners and client connections (RFC 8489 §6.2.2, RFC 8656 §6.3 /
 * §12.5 framing). Each connection has a bounded input buffer holding at most
 * one frame plus whatever the peer already sent of the next, a bounded output
 * buffer used only when the kernel's send buffer is full, an idle timeout and
 * a frame-completion deadline (a peer trickling a frame one byte at a time is
 * closed, not waited for). One lazily re-armed timer per connection: reads
 * only record the time; the timer, when it fires, works out which deadline
 * passed, so the packet path never touches the timer heap.
 *
 * TLS (turns:) connections are the same connections with an SSL object on the
 * fd (tls.c): the handshake runs under the frame-completion deadline, then
 * every read and write goes through SSL. OpenSSL may need the other
 * direction (a handshake flight, a write waiting for a read), so the write
 * event is wanted while output is pending or an SSL call asked for it.
 *
 * The output buffer is a ring (power-of-two capacity, grown by doubling up to
 * NET_TCP_OUT_MAX): a slow reader at the bound costs one copy in and one copy
 * out per byte, never a compaction of everything pending per queued packet.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "net_internal.h"

struct net_conn {
	struct net_worker *w;
	struct net_listener *l;
	struct net_conn *prev, *next;
	int fd;
	struct event *ev_read, *ev_write, *ev_timer;
	struct ice_addr local, remote;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out; /* ring, allocated on first short write; pending bytes start at out_head */
	size_t out_head, out_len, out_cap;
	struct ssl_st *ssl;       /* TLS only, else NULL */
	bool tls_ready;           /* handshake done */
	bool tls_want_write;      /* the last handshake step or read waits for writable */
	bool tls_write_wait_read; /* the last write waits for readable */
	ice_ms_t last_rx;         /* for the idle timeout */
	ice_ms_t frame_start;     /* first byte of the incomplete frame; 0 = none */
	ice_ms_t timer_at;        /* when ev_timer fires */
	unsigned n_relays;        /* relay sockets of allocations made over it: no idle timeout */
	bool dead;                /* close at the next safe point, counted as dead_reason */
	enum ice_metric_id dead_reason;
};

static ice_ms_t
conn_idle_ms(const struct net_conn *c)
{
	return (ice_ms_t)c->w->cfg->stun.tcp_idle_timeout_s * 1000;
}

/* The frame deadline never exceeds the idle timeout: an operator who wants
 * idle clients gone in 5 s does not want a 10 s frame either. */
static ice_ms_t
conn_frame_ms(const struct net_conn *c)
{
	ice_ms_t idle = conn_idle_ms(c);

	return idle > 0 && idle < NET_TCP_FRAME_TIMEOUT_MS ? idle : NET_TCP_FRAME_TIMEOUT_MS;
}

static void
conn_arm(struct net_conn *c, ice_ms_t at)
{
	ice_ms_t now = c->w->now;
	ice_ms_t d = at > now ? at - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(d / 1000),
		              .tv_usec = (suseconds_t)(d % 1000) * 1000 };

	c->timer_at = at;
	event_add(c->ev_timer, &tv);
}

/* Next deadline of c, or 0 if none. A connection carrying an allocation has
 * no idle deadline; its timer still wakes once per idle period so the idle
 * rule resumes without a re-arm when the allocation ends. */
static ice_ms_t
conn_deadline(const struct net_conn *c)
{
	ice_ms_t idle = conn_idle_ms(c), at = 0;

	if (idle > 0)
		at = (c->n_relays > 0 ? ICE_MAX(c->last_rx, c->w->now) : c->last_rx) + idle;
	if (c->frame_start != 0 && (at == 0 || c->frame_start + conn_frame_ms(c) < at))
		at = c->frame_start + conn_frame_ms(c);
	return at;
}

static void
conn_close(struct net_conn *c, enum ice_metric_id reason)
{
	struct net_worker *w = c->w;

	net_turn_conn_closed(w, c);
	if (c->n_relays > 0)
		ice_metrics_dec(w->m, ICE_M_NET_TCP_TURN_HELD);
	ice_metrics_inc(w->m, reason);
	ice_metrics_dec(w->m, ICE_M_NET_TCP_ACTIVE);
	ice_metrics_add(w->m, ICE_M_NET_TCP_OUT_QUEUED, (uint64_t)0 - c->out_len);
	if (c->ssl != NULL) {
		ice_metrics_dec(w->m, ICE_M_NET_TLS_ACTIVE);
		net_tls_free(c->ssl, reason != ICE_M_NET_TCP_CLOSED_ERROR &&
		                             reason != ICE_M_NET_TCP_CLOSED_TLS &&
		                             reason != ICE_M_NET_TCP_CLOSED_PEER);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->n_conns--;
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_timer);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Close from a context that may still hold c (a handler mid-dispatch): the
 * timer event does it on the next loop turn. */
static void
conn_kill(struct net_conn *c, enum ice_metric_id reason)
{
	if (c->dead)
		return;
	c->dead = true;
	c->dead_reason = reason;
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_active(c->ev_timer, EV_TIMEOUT, 1);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	ice_ms_t at;

	(void)fd;
	(void)what;
	if (c->dead) {
		conn_close(c, c->dead_reason);
		return;
	}
	c->w->now = net_clock_ms();
	if (c->frame_start != 0 && c->w->now >= c->frame_start + conn_frame_ms(c)) {
		if (c->ssl != NULL && !c->tls_ready)
			ice_metrics_inc(c->w->m, ICE_M_NET_TLS_HS_TIMEOUT);
		conn_close(c, ICE_M_NET_TCP_CLOSED_SLOW);
		return;
	}
	if (conn_idle_ms(c) > 0 && c->n_relays == 0 && c->w->now >= c->last_rx + conn_idle_ms(c)) {
		conn_close(c, ICE_M_NET_TCP_CLOSED_IDLE);
		return;
	}
	at = conn_deadline(c);
	if (at != 0)
		conn_arm(c, at);
}

/*
 * One write of buf[0..len) (len > 0): bytes taken, -EAGAIN, or -errno
 * (-EPROTO: TLS failure). TLS takes one record per call and, after -EAGAIN,
 * must be offered the same bytes again.
 */
static ssize_t
conn_write(struct net_conn *c, const uint8_t *buf, size_t len)
{
	ssize_t r;

	if (c->ssl != NULL)
		return net_tls_write(c->ssl, buf, len, &c->tls_write_wait_read);
	do
		r = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

/* Close reason for a failed read or write. */
static enum ice_metric_id
conn_io_reason(ssize_t err)
{
	return err == -EPROTO ? ICE_M_NET_TCP_CLOSED_TLS : ICE_M_NET_TCP_CLOSED_ERROR;
}

/* Register for writability exactly when something waits for it. A write
 * blocked on a read (TLS) waits for the read event instead: the socket is
 * writable and would spin. */
static void
conn_write_interest(struct net_conn *c)
{
	if (c->dead)
		return; /* conn_kill unregistered it for good */
	if (c->tls_want_write || (c->out_len > 0 && !c->tls_write_wait_read))
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
}

/* Write out as much of the pending output as the socket takes: 0 or -errno. */
static int
conn_flush(struct net_conn *c)
{
	size_t n;
	ssize_t r;

	while (c->out_len > 0) {
		/* The contiguous run from the head: the ring never hands the
		 * same pending bytes out shorter (conn_queue restarts an empty
		 * ring at 0 and grows it without wrapping the pending data). */
		n = ICE_MIN(c->out_len, c->out_cap - c->out_head);
		r = conn_write(c, c->out + c->out_head, n);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		c->out_head = (c->out_head + (size_t)r) & (c->out_cap - 1);
		c->out_len -= (size_t)r;
		ice_metrics_add(c->w->m, ICE_M_NET_TCP_OUT_QUEUED, (uint64_t)-r);
	}
	c->out_head = 0;
	return 0;
}

/* Grow the ring to a power of two >= need, keeping the pending bytes
 * contiguous from the head. Returns false without memory. */
static bool
conn_out_grow(struct net_conn *c, size_t need)
{
	size_t cap = c->out_cap ? c->out_cap : NET_TCP_OUT_INIT, old = c->out_cap;
	size_t wrapped;
	uint8_t *p;

	while (cap < need)
		cap *= 2;
	p = realloc(c->out, cap);
	if (p == NULL)
		return false;
	/* The part that wrapped to the front moves behind the old end: cap is
	 * at least twice old, so it fits. */
	if (old > 0 && c->out_head + c->out_len > old) {
		wrapped = c->out_head + c->out_len - old;
		memcpy(p + old, p, wrapped);
	}
	c->out = p;
	c->out_cap = cap;
	return true;
}

/* Queue len bytes behind what is pending. Returns 0 or -ENOBUFS (over the bound). */
static int
conn_queue(struct net_conn *c, const uint8_t *buf, size_t len)
{
	size_t need = c->out_len + len, tail, first;

	if (need > NET_TCP_OUT_MAX)
		return -ENOBUFS;
	if (c->out_len == 0)
		c->out_head = 0;
	if (need > c->out_cap && !conn_out_grow(c, need))
		return -ENOBUFS;
	tail = (c->out_head + c->out_len) & (c->out_cap - 1);
	first = ICE_MIN(len, c->out_cap - tail);
	memcpy(c->out + tail, buf, first);
	memcpy(c->out, buf + first, len - first);
	c->out_len += len;
	ice_metrics_add(c->w->m, ICE_M_NET_TCP_OUT_QUEUED, len);
	return 0;
}

void
net_tcp_send(struct net_conn *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	ssize_t r;

	if (c->dead || len == 0)
		return;
	/* Nothing may overtake the pending output, nor the handshake. */
	while (c->out_len == 0 && (c->ssl == NULL || c->tls_ready) && off < len) {
		r = conn_write(c, buf + off, len - off);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			conn_kill(c, conn_io_reason(r));
			return;
		}
		off += (size_t)r;
	}
	if (off == len)
		return;
	/* The client is not reading fast enough: hold a bounded amount, then
	 * give up on it rather than buffer without limit. */
	if (conn_queue(c, buf + off, len - off) < 0) {
		conn_kill(c, ICE_M_NET_TCP_CLOSED_BACKPRESSURE);
		return;
	}
	conn_write_interest(c);
}

void
net_tcp_hold(struct net_conn *c, int delta)
{
	if (delta > 0) {
		if (c->n_relays++ == 0)
			ice_metrics_inc(c->w->m, ICE_M_NET_TCP_TURN_HELD);
		return;
	}
	if (c->n_relays == 0)
		return;
	if (--c->n_relays == 0) {
		ice_metrics_dec(c->w->m, ICE_M_NET_TCP_TURN_HELD);
		/* The idle period starts over from the allocation's end. */
		c->last_rx = ICE_MAX(c->last_rx, c->w->now);
	}
}

unsigned
net_tcp_holds(const struct net_conn *c)
{
	return c->n_relays;
}

const struct ice_addr *
net_tcp_local(const struct net_conn *c)
{
	return &c->local;
}

const struct ice_addr *
net_tcp_remote(const struct net_conn *c)
{
	return &c->remote;
}

enum ice_transport
net_tcp_transport(const struct net_conn *c)
{
	return c->l->transport;
}

/*
 * Length the frame at p claims (STUN: 20 + length; ChannelData: 4 + length
 * padded to 4 on a stream), 0 if fewer than 4 bytes are in, or -1 if the
 * stream is neither (garbage, or a STUN length that is not a multiple of 4).
 * Needed before the frame is complete, to size the buffer and enforce the cap.
 */
static long
frame_claim(const uint8_t *p, size_t len)
{
	size_t n;

	if (len < 4)
		return 0;
	n = (size_t)(p[2] << 8 | p[3]);
	switch (stun_demux(p, len)) {
	case STUN_DEMUX_STUN:
		return n % 4 == 0 ? (long)(STUN_HEADER_LEN + n) : -1;
	case STUN_DEMUX_CHANNELDATA:
		return (long)channeldata_frame_len(n, true);
	default:
		return -1;
	}
}

/* Dispatch every complete frame in c->in. Returns false if c must close. */
static bool
conn_frames(struct net_conn *c)
{
	struct net_pkt pkt = {
		.local = c->local,
		.remote = c->remote,
		.transport = c->l->transport,
		.l = c->l,
		.conn = c,
	};
	size_t off = 0;
	bool completed = false;
	long claim;
	int n;

	while (!c->dead && c->in_len - off >= 4) {
		claim = frame_claim(c->in + off, c->in_len - off);
		if (claim < 0) {
			conn_kill(c, ICE_M_NET_TCP_CLOSED_BAD_FRAME);
			return false;
		}
		if ((size_t)claim > c->l->tcp_frame_max) {
			conn_kill(c, ICE_M_NET_TCP_CLOSED_OVERSIZED);
			return false;
		}
		if ((size_t)claim > c->in_len - off)
			break;
		/* The codec frames it too: a disagreement means garbage. */
		n = stun_stream_frame_len(c->in + off, (size_t)claim);
		if (n != claim) {
			conn_kill(c, ICE_M_NET_TCP_CLOSED_BAD_FRAME);
			return false;
		}
		net_dispatch(c->w, &pkt, c->in + off, (size_t)n);
		off += (size_t)n;
		completed = true;
	}
	/* Datagrams to peers point into c->in: out before it moves. */
	net_udp_flush(c->w);
	if (c->dead)
		return false;
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->in_len == 0)
		c->frame_start = 0;
	else if (completed || c->frame_start == 0)
		c->frame_start = c->w->now;
	return true;
}

/* Make room for the frame being received (up to the listener's maximum). */
static bool
conn_grow(struct net_conn *c)
{
	long claim = frame_claim(c->in, c->in_len);
	uint8_t *p;

	if (claim <= 0 || (size_t)claim <= c->in_cap)
		return true;
	if ((size_t)claim > c->l->tcp_frame_max)
		return false;
	p = realloc(c->in, (size_t)claim);
	if (p == NULL)
		return false;
	c->in = p;
	c->in_cap = (size_t)claim;
	return true;
}

/* One read into buf[0..len) (len > 0): bytes, 0 at the peer's close,
 * -EAGAIN, or -errno (-EPROTO: TLS failure). */
static ssize_t
conn_read(struct net_conn *c, uint8_t *buf, size_t len)
{
	ssize_t r;

	if (c->ssl != NULL)
		return net_tls_read(c->ssl, buf, len, &c->tls_want_write);
	do
		r = recv(c->fd, buf, len, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

/*
 * Read, frame and dispatch. Plain TCP reads once per event (the fd stays
 * readable if more is queued, and other connections get their turn); TLS
 * reads until the SSL holds nothing more, since bytes it has already pulled
 * off the fd will not wake us again. Returns false if c was closed.
 */
static bool
conn_input(struct net_conn *c)
{
	struct net_worker *w = c->w;
	ice_ms_t deadline;
	ssize_t r;

	do {
		/* conn_frames and conn_grow leave room for the rest of a
		 * partial frame; a full buffer here would make recv return 0
		 * and look like a hang-up, so refuse it as the oversize it is. */
		if (c->in_len == c->in_cap) {
			conn_close(c, ICE_M_NET_TCP_CLOSED_OVERSIZED);
			return false;
		}
		r = conn_read(c, c->in + c->in_len, c->in_cap - c->in_len);
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			conn_close(c, ICE_M_NET_TCP_CLOSED_PEER);
			return false;
		}
		if (r < 0) {
			conn_close(c, conn_io_reason(r));
			return false;
		}
		c->in_len += (size_t)r;
		c->last_rx = w->now;
		if (!conn_frames(c)) {
			net_udp_flush(w); /* frames before the bad one may have queued sends */
			return false;     /* conn_kill scheduled the close */
		}
		if (!conn_grow(c)) {
			conn_close(c, ICE_M_NET_TCP_CLOSED_OVERSIZED);
			return false;
		}
	} while (c->ssl != NULL && net_tls_pending(c->ssl));
	if (c->ssl != NULL)
		conn_write_interest(c); /* the read may wait for writable */
	/* A frame just started: its deadline may come before the armed one. */
	deadline = conn_deadline(c);
	if (deadline != 0 && deadline < c->timer_at)
		conn_arm(c, deadline);
	return true;
}

/* TLS: one handshake step. Returns true once it is done (then the caller
 * reads: application data may already wait), false while it goes on or if c
 * was closed. */
static bool
conn_tls_accept(struct net_conn *c)
{
	struct net_worker *w = c->w;
	int r;

	c->last_rx = w->now;
	r = net_tls_handshake(c->ssl, &c->tls_want_write);
	if (r < 0) {
		/* Scanners and plain-TCP clients on the TLS port: counted, not
		 * logged (one line each would let anyone fill the log). */
		if (ICE_LOG_DEBUG <= ice_log_level_cur) {
			char buf[ICE_ADDR_STRLEN];

			log_debug("tls: handshake with %s failed: %s",
			          ice_addr_str(&c->remote, buf, sizeof(buf)), strerror(-r));
		}
		ice_metrics_inc(w->m, ICE_M_NET_TLS_HS_FAILED);
		conn_close(c, ICE_M_NET_TCP_CLOSED_TLS);
		return false;
	}
	if (r == 0) {
		conn_write_interest(c);
		return false;
	}
	ice_metrics_inc(w->m, ICE_M_NET_TLS_HS_OK);
	c->tls_ready = true;
	c->frame_start = 0; /* the handshake's deadline is met; frames get their own */
	conn_write_interest(c);
	return true;
}

static void
conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;

	(void)fd;
	(void)what;
	c->w->now = net_clock_ms();
	if (c->ssl != NULL) {
		if (!c->tls_ready && !conn_tls_accept(c))
			return;
		if (c->tls_write_wait_read && c->out_len > 0) {
			int r = conn_flush(c);

			if (r < 0) {
				conn_close(c, conn_io_reason(r));
				return;
			}
			conn_write_interest(c);
		}
	}
	(void)conn_input(c);
}

static void
conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	int r;

	(void)fd;
	(void)what;
	c->w->now = net_clock_ms();
	if (c->ssl != NULL && !c->tls_ready) {
		if (!conn_tls_accept(c) || !conn_input(c))
			return;
	} else if (c->tls_want_write) {
		c->tls_want_write = false;
		if (!conn_input(c))
			return;
	}
	r = conn_flush(c);
	if (r < 0) {
		conn_close(c, conn_io_reason(r));
		return;
	}
	conn_write_interest(c);
}

static void
conn_new(struct net_listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct net_worker *w = l->w;
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	struct net_conn *c;
	int one = 1;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->w = w;
	c->l = l;
	c->fd = fd;
	c->last_rx = w->now;
	if (ice_addr_from_sockaddr(&c->remote, (const struct sockaddr *)ss) < 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    ice_addr_from_sockaddr(&c->local, (const struct sockaddr *)&local) < 0)
		goto fail;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->transport == ICE_TRANSPORT_TLS) {
		c->ssl = net_tls_new(w->net->tls_ctx, fd);
		if (c->ssl == NULL)
			goto fail;
		/* The handshake must finish within the frame deadline. */
		c->frame_start = w->now;
	}
	c->in = malloc(NET_TCP_IN_INIT);
	c->in_cap = NET_TCP_IN_INIT;
	c->ev_read = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->ev_write = event_new(w->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->ev_timer = event_new(w->base, -1, 0, conn_on_timer, c);
	if (c->in == NULL || c->ev_read == NULL || c->ev_write == NULL || c->ev_timer == NULL ||
	    event_add(c->ev_read, NULL) < 0)
		goto fail;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPTED);
	ice_metrics_inc(w->m, ICE_M_NET_TCP_ACTIVE);
	if (c->ssl != NULL)
		ice_metrics_inc(w->m, ICE_M_NET_TLS_ACTIVE);
	if (conn_deadline(c) != 0)
		conn_arm(c, conn_deadline(c));
	else
		c->timer_at = UINT64_MAX;
	return;
fail:
	ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPT_ERRORS);
	if (c != NULL) {
		if (c->ev_read != NULL)
			event_free(c->ev_read);
		if (c->ev_write != NULL)
			event_free(c->ev_write);
		if (c->ev_timer != NULL)
			event_free(c->ev_timer);
		net_tls_free(c->ssl, false);
		free(c->in);
		free(c);
	}
	close(fd);
}

static void
listener_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;

	(void)fd;
	(void)what;
	event_add(l->ev, NULL);
}

static void
listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;
	struct net_worker *w = l->w;
	const struct timeval pause = { 0, NET_TCP_ACCEPT_PAUSE_MS * 1000 };
	struct sockaddr_storage ss;
	socklen_t sslen;
	int i, cfd;

	(void)what;
	w->now = net_clock_ms();
	for (i = 0; i < NET_TCP_ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE/ENFILE/ENOMEM: the backlog stays readable, so
			 * stop listening briefly instead of spinning. */
			ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPT_ERRORS);
			event_del(l->ev);
			event_add(l->ev_pause, &pause);
			return;
		}
		if (w->n_conns >= w->cfg->stun.tcp_max_connections) {
			ice_metrics_inc(w->m, ICE_M_NET_TCP_REJECTED);
			close(cfd);
			continue;
		}
		conn_new(l, cfd, &ss);
	}
}

int
net_tcp_start(struct net_listener *l)
{
	l->ev = event_new(l->w->base, l->fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	l->ev_pause = event_new(l->w->base, -1, 0, listener_on_resume, l);
	if (l->ev == NULL || l->ev_pause == NULL)
		return -ENOMEM;
	if (event_add(l->ev, NULL) < 0)
		return -EIO;
	return 0;
}

void
net_tcp_close_all(struct net_worker *w)
{
	while (w->conns != NULL)
		conn_close(w->conns, ICE_M_NET_TCP_CLOSED_SHUTDOWN);
}
