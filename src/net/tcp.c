/*
 * TCP listeners and client connections (RFC 8489 §6.2.2, RFC 8656 §6.3 /
 * §12.5 framing). Each connection has a bounded input buffer holding at most
 * one frame plus whatever the peer already sent of the next, a bounded output
 * buffer used only when the kernel's send buffer is full, an idle timeout and
 * a frame-completion deadline (a peer trickling a frame one byte at a time is
 * closed, not waited for). One lazily re-armed timer per connection: reads
 * only record the time; the timer, when it fires, works out which deadline
 * passed, so the packet path never touches the timer heap.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

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
	uint8_t *out; /* allocated on first short write */
	size_t out_off, out_len, out_cap;
	ice_ms_t last_rx;     /* for the idle timeout */
	ice_ms_t frame_start; /* first byte of the incomplete frame; 0 = none */
	ice_ms_t timer_at;    /* when ev_timer fires */
	unsigned n_relays;    /* relay sockets of allocations made over it: no idle timeout */
	bool dead;            /* close at the next safe point, counted as dead_reason */
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

/* Write out as much of the pending output as the kernel takes. */
static int
conn_flush(struct net_conn *c)
{
	ssize_t r;

	while (c->out_len > 0) {
		r = send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)r;
		c->out_len -= (size_t)r;
	}
	c->out_off = 0;
	return 0;
}

static void
conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;

	(void)fd;
	(void)what;
	if (conn_flush(c) < 0) {
		conn_close(c, ICE_M_NET_TCP_CLOSED_ERROR);
		return;
	}
	if (c->out_len == 0)
		event_del(c->ev_write);
}

/* Queue len bytes behind what is pending. Returns 0 or -ENOBUFS (over the bound). */
static int
conn_queue(struct net_conn *c, const uint8_t *buf, size_t len)
{
	size_t need, cap;
	uint8_t *p;

	if (c->out_off > 0 && c->out_len > 0)
		memmove(c->out, c->out + c->out_off, c->out_len);
	c->out_off = 0;
	need = c->out_len + len;
	if (need > NET_TCP_OUT_MAX)
		return -ENOBUFS;
	if (need > c->out_cap) {
		cap = c->out_cap ? c->out_cap : NET_TCP_OUT_INIT;
		while (cap < need)
			cap *= 2;
		cap = ICE_MIN(cap, (size_t)NET_TCP_OUT_MAX);
		p = realloc(c->out, cap);
		if (p == NULL)
			return -ENOBUFS;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

void
net_tcp_send(struct net_conn *c, const uint8_t *buf, size_t len)
{
	ssize_t r = 0;

	if (c->dead)
		return;
	if (c->out_len == 0) {
		do
			r = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_kill(c, ICE_M_NET_TCP_CLOSED_ERROR);
			return;
		}
		if (r < 0)
			r = 0;
		if ((size_t)r == len)
			return;
	}
	/* The client is not reading fast enough: hold a bounded amount, then
	 * give up on it rather than buffer without limit. */
	if (conn_queue(c, buf + r, len - (size_t)r) < 0) {
		conn_kill(c, ICE_M_NET_TCP_CLOSED_BACKPRESSURE);
		return;
	}
	event_add(c->ev_write, NULL);
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
		.transport = ICE_TRANSPORT_TCP,
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

static void
conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	struct net_worker *w = c->w;
	ice_ms_t deadline;
	ssize_t r;

	(void)what;
	w->now = net_clock_ms();
	do
		r = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		conn_close(c, ICE_M_NET_TCP_CLOSED_PEER);
		return;
	}
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_close(c, ICE_M_NET_TCP_CLOSED_ERROR);
		return;
	}
	c->in_len += (size_t)r;
	c->last_rx = w->now;
	if (!conn_frames(c)) {
		net_udp_flush(w); /* frames before the bad one may have queued sends */
		return;           /* conn_kill scheduled the close */
	}
	if (!conn_grow(c)) {
		conn_close(c, ICE_M_NET_TCP_CLOSED_OVERSIZED);
		return;
	}
	/* A frame just started: its deadline may come before the armed one. */
	deadline = conn_deadline(c);
	if (deadline != 0 && deadline < c->timer_at)
		conn_arm(c, deadline);
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
