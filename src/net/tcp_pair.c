/*
 * An RFC 6062 data connection pair (tcp_relay.h): the peer's TCP socket
 * and, once the client's ConnectionBind bound it, the client's data
 * connection (plain or TLS). Bytes go raw both ways, each way through one
 * ring of NET_TCP_PAIR_BUF bytes: a side is read only while the ring it
 * fills has room and written while the ring it drains has bytes, so a side
 * that does not read stalls the other and nothing grows. Each read is
 * counted through turn_tcp_relayed, whose answer may pause that side
 * (bandwidth limits).
 *
 * Ends: an error on either side closes both at once; a side that ends its
 * stream (EOF) is read no more, and both close when what it sent has
 * reached the other side, or NET_TCP_DRAIN_MS later. Before the bind, peer
 * bytes wait for the client (turn's bind timeout bounds that). turn hears
 * of every close it did not ask for (turn_tcp_closed).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net_internal.h"

/* Bytes buffered one way: a power-of-two ring. */
struct net_ring {
	uint8_t *p;
	size_t head, len, cap;
};

struct net_pair;

struct net_side {
	struct net_pair *pair;
	int fd; /* -1: not attached (the client before its bind) */
	struct ssl_st *ssl;
	struct event *ev_read, *ev_write;
	struct net_ring *in, *out; /* the ring it fills, the ring it drains */
	bool rd_on, wr_on;         /* events registered */
	bool eof;                  /* its stream ended: read no more */
	bool paused;               /* over a bandwidth limit until the resume */
	bool want_write;           /* TLS: its last read waits for writable */
	bool write_wait_read;      /* TLS: its last write waits for readable */
	bool to_peer;              /* what it sends goes to the peer (the client side) */
};

struct net_pair {
	struct net_worker *w;
	int handle;
	uint32_t id;
	bool known;      /* turn knows id: report closes */
	bool connecting; /* a Connect's socket, not connected yet */
	struct net_side peer, client;
	struct net_ring to_client, to_peer;
	struct event *ev_timer;
	ice_ms_t drain_at, resume_at; /* 0 = none */
	/* Bytes may wait inside a side's SSL, which its socket will not
	 * announce: look at them from the timer, at once. (Never
	 * event_active on the sides' I/O events: libevent then skips
	 * registering them with epoll when they are added.) */
	bool kick;
};

/* ---- rings ---- */

static size_t
pow2_at_least(size_t n)
{
	size_t c = NET_TCP_PAIR_BUF;

	while (c < n)
		c *= 2;
	return c;
}

/* A ring holding data[0..len) (NULL, 0: empty) with room for at least
 * NET_TCP_PAIR_BUF. 0 or -ENOMEM. */
static int
ring_init(struct net_ring *r, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	r->cap = pow2_at_least(a_len + b_len);
	r->p = malloc(r->cap);
	if (r->p == NULL)
		return -ENOMEM;
	if (a_len > 0)
		memcpy(r->p, a, a_len);
	if (b_len > 0)
		memcpy(r->p + a_len, b, b_len);
	r->head = 0;
	r->len = a_len + b_len;
	return 0;
}

/* The bytes of r in order, as at most two runs. */
static void
ring_runs(const struct net_ring *r, const uint8_t **p1, size_t *n1, const uint8_t **p2, size_t *n2)
{
	*p1 = r->p + r->head;
	*n1 = ICE_MIN(r->len, r->cap - r->head);
	*p2 = r->p;
	*n2 = r->len - *n1;
}

static void
ring_fini(struct net_ring *r)
{
	free(r->p);
	memset(r, 0, sizeof(*r));
}

/* ---- interest and timers ---- */

static bool
side_attached(const struct net_side *s)
{
	return s->fd >= 0;
}

static struct net_side *
other_side(struct net_pair *p, struct net_side *s)
{
	return s == &p->peer ? &p->client : &p->peer;
}

static void
side_want(struct net_side *s, bool rd, bool wr)
{
	if (rd != s->rd_on) {
		if (rd)
			event_add(s->ev_read, NULL);
		else
			event_del(s->ev_read);
		s->rd_on = rd;
	}
	if (wr != s->wr_on) {
		if (wr)
			event_add(s->ev_write, NULL);
		else
			event_del(s->ev_write);
		s->wr_on = wr;
	}
}

/* Register each side for exactly what it waits for. */
static void
pair_interest(struct net_pair *p)
{
	struct net_side *sides[2] = { &p->peer, &p->client };

	for (int i = 0; i < 2; i++) {
		struct net_side *s = sides[i];
		bool live = side_attached(s) && !p->connecting;
		bool rd = live && ((!s->eof && !s->paused && s->in->len < s->in->cap) ||
		                   s->write_wait_read);
		bool wr = (live && ((s->out->len > 0 && !s->write_wait_read) || s->want_write)) ||
		          (s == &p->peer && p->connecting);

		if (side_attached(s))
			side_want(s, rd, wr);
	}
}

static void
pair_timer(struct net_pair *p)
{
	ice_ms_t at = p->drain_at, now = p->w->now, d;
	struct timeval tv;

	if (p->resume_at != 0 && (at == 0 || p->resume_at < at))
		at = p->resume_at;
	if (p->kick)
		at = now;
	if (at == 0) {
		event_del(p->ev_timer);
		return;
	}
	d = at > now ? at - now : 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(p->ev_timer, &tv);
}

static void
pair_kick(struct net_pair *p)
{
	p->kick = true;
	pair_timer(p);
}

/* ---- closing ---- */

static void
side_fini(struct net_side *s, bool notify)
{
	if (s->ev_read != NULL)
		event_free(s->ev_read);
	if (s->ev_write != NULL)
		event_free(s->ev_write);
	if (s->ssl != NULL)
		net_tls_free(s->ssl, notify);
	if (s->fd >= 0)
		close(s->fd);
}

static void
pair_close_why(struct net_pair *p, bool report, enum ice_metric_id why)
{
	struct net_worker *w = p->w;

	if (report && p->known)
		turn_tcp_closed(w->turn, p->id, w->now);
	ice_metrics_inc(w->m, why);
	ice_metrics_dec(w->m, ICE_M_NET_TCP_RELAY_CONNECTIONS);
	ice_metrics_add(w->m, ICE_M_NET_TCP_RELAY_BUFFERED,
	                (uint64_t)0 - (p->to_client.len + p->to_peer.len));
	net_tcp_slot_clear(&w->tcp.pairs, p->handle);
	side_fini(&p->peer, false);
	side_fini(&p->client, why != ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
	if (p->ev_timer != NULL)
		event_free(p->ev_timer);
	ring_fini(&p->to_client);
	ring_fini(&p->to_peer);
	free(p);
}

void
net_pair_close(struct net_pair *p, bool report)
{
	pair_close_why(p, report, ICE_M_NET_TCP_RELAY_CLOSED_TURN);
}

/*
 * After any move: a side whose stream ended closes the pair once what it
 * sent is out (bound: within NET_TCP_DRAIN_MS), else the interest follows
 * the rings. Returns false if p was closed.
 */
static bool
pair_settle(struct net_pair *p)
{
	struct net_side *sides[2] = { &p->peer, &p->client };

	for (int i = 0; i < 2; i++) {
		struct net_side *s = sides[i];

		if (!side_attached(s) || !s->eof)
			continue;
		if (s->in->len == 0) {
			pair_close_why(p, true,
			               s->to_peer ? ICE_M_NET_TCP_RELAY_CLOSED_CLIENT
			                          : ICE_M_NET_TCP_RELAY_CLOSED_PEER);
			return false;
		}
		/* Not bound yet: the peer's last bytes wait for the client. */
		if (side_attached(&p->client) && p->drain_at == 0) {
			p->drain_at = p->w->now + NET_TCP_DRAIN_MS;
			pair_timer(p);
		}
	}
	pair_interest(p);
	return true;
}

/* ---- moving bytes ---- */

/* Write what s's ring holds into s. false if p was closed. */
static bool
pump_out(struct net_pair *p, struct net_side *s)
{
	struct net_ring *r = s->out;
	struct net_side *src = other_side(p, s);
	size_t before = r->len, run;
	ssize_t n;

	while (r->len > 0) {
		/* From the head, as long a run as there is: a TLS retry sees
		 * the same bytes again, and never fewer. */
		run = ICE_MIN(r->len, r->cap - r->head);
		n = net_sock_write(s->fd, s->ssl, r->p + r->head, run, &s->write_wait_read);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			pair_close_why(p, true, ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
			return false;
		}
		r->head = (r->head + (size_t)n) & (r->cap - 1);
		r->len -= (size_t)n;
	}
	if (r->len == 0)
		r->head = 0;
	ice_metrics_add(p->w->m, ICE_M_NET_TCP_RELAY_BUFFERED, (uint64_t)0 - (before - r->len));
	/* Room again for bytes already inside the source's SSL. */
	if (r->len < before && side_attached(src) && src->ssl != NULL && !src->eof &&
	    net_tls_pending(src->ssl))
		pair_kick(p);
	return true;
}

/* Count n bytes read from s; over a bandwidth limit, pause s. */
static void
account(struct net_pair *p, struct net_side *s, size_t n)
{
	long wait = turn_tcp_relayed(p->w->turn, p->id, s->to_peer, n, p->w->now);

	ice_metrics_add(p->w->m, ICE_M_NET_TCP_RELAY_BUFFERED, n);
	if (wait <= 0)
		return;
	s->paused = true;
	if (p->resume_at < p->w->now + (ice_ms_t)wait)
		p->resume_at = p->w->now + (ice_ms_t)wait;
	pair_timer(p);
}

/* Read s into its ring and pass it on. false if p was closed. */
static bool
pump_in(struct net_pair *p, struct net_side *s)
{
	struct net_ring *r = s->in;
	struct net_side *dst = other_side(p, s);
	size_t start, room;
	ssize_t n;

	do {
		if (s->eof || s->paused || r->len == r->cap)
			break;
		start = (r->head + r->len) & (r->cap - 1);
		room = ICE_MIN(r->cap - r->len, r->cap - start);
		n = net_sock_read(s->fd, s->ssl, r->p + start, room, &s->want_write);
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			s->eof = true;
			break;
		}
		if (n < 0) {
			pair_close_why(p, true, ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
			return false;
		}
		r->len += (size_t)n;
		account(p, s, (size_t)n);
		if (side_attached(dst) && !pump_out(p, dst))
			return false;
		/* Plain TCP: one read per event, others get their turn. TLS:
		 * on while its SSL holds more, which no event would announce. */
	} while (s->ssl != NULL && net_tls_pending(s->ssl));
	return true;
}

/* ---- events ---- */

static void
connect_done(struct net_pair *p)
{
	struct net_worker *w = p->w;
	int err = 0, handle = p->handle;
	socklen_t len = sizeof(err);

	if (getsockopt(p->peer.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	p->connecting = false;
	if (err != 0)
		ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_CONNECT_ERRORS);
	/* On failure turn answers 447 and closes p through tcp_close. */
	turn_tcp_connected(w->turn, p->id, -err, w->now);
	if (net_tcp_slot_get(&w->tcp.pairs, handle) != p)
		return;
	if (err != 0)
		pair_close_why(p, true, ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
	else
		pair_interest(p);
}

static void
side_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct net_side *s = arg;
	struct net_pair *p = s->pair;

	(void)fd;
	(void)what;
	p->w->now = net_clock_ms();
	if (s->write_wait_read && !pump_out(p, s))
		return;
	if (pump_in(p, s))
		(void)pair_settle(p);
}

static void
side_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct net_side *s = arg;
	struct net_pair *p = s->pair;

	(void)fd;
	(void)what;
	p->w->now = net_clock_ms();
	if (p->connecting) {
		connect_done(p);
		return;
	}
	if (s->want_write && !pump_in(p, s))
		return;
	if (pump_out(p, s))
		(void)pair_settle(p);
}

static void
pair_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct net_pair *p = arg;
	ice_ms_t now = net_clock_ms();

	(void)fd;
	(void)what;
	p->w->now = now;
	if (p->drain_at != 0 && now >= p->drain_at) {
		pair_close_why(p, true, ICE_M_NET_TCP_RELAY_CLOSED_DRAIN);
		return;
	}
	if (p->resume_at != 0 && now >= p->resume_at) {
		p->resume_at = 0;
		p->peer.paused = p->client.paused = false;
		p->kick = true;
	}
	if (p->kick) {
		p->kick = false;
		if (side_attached(&p->client) && p->client.ssl != NULL && !pump_in(p, &p->client))
			return;
	}
	pair_timer(p);
	(void)pair_settle(p);
}

/* ---- life ---- */

static int
side_init(struct net_pair *p, struct net_side *s, int fd, struct net_ring *in, struct net_ring *out)
{
	struct event_base *base = p->w->base;

	s->pair = p;
	s->fd = fd;
	s->in = in;
	s->out = out;
	s->to_peer = s == &p->client;
	s->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, side_on_read, s);
	s->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, side_on_write, s);
	return s->ev_read != NULL && s->ev_write != NULL ? 0 : -ENOMEM;
}

struct net_pair *
net_pair_new(struct net_worker *w, int fd, bool connecting)
{
	struct net_pair *p = calloc(1, sizeof(*p));
	int h;

	if (p == NULL) {
		close(fd);
		return NULL;
	}
	p->w = w;
	p->connecting = connecting;
	p->client.fd = -1;
	p->peer.fd = -1;
	p->handle = -1;
	h = net_tcp_slot_put(&w->tcp.pairs, p);
	p->ev_timer = evtimer_new(w->base, pair_on_timer, p);
	if (h < 0 || p->ev_timer == NULL || ring_init(&p->to_client, NULL, 0, NULL, 0) < 0 ||
	    side_init(p, &p->peer, fd, &p->to_client, &p->to_peer) < 0) {
		if (p->peer.fd < 0)
			close(fd);
		p->handle = h;
		ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_CONNECTIONS);
		pair_close_why(p, false, ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
		return NULL;
	}
	p->handle = h;
	ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_CONNECTIONS);
	return p;
}

int
net_pair_handle(const struct net_pair *p)
{
	return p->handle;
}

void
net_pair_set_id(struct net_pair *p, uint32_t id)
{
	p->id = id;
	p->known = true;
}

void
net_pair_start(struct net_pair *p)
{
	pair_interest(p);
}

void
net_pair_attach(struct net_worker *w, int handle, struct net_detached *d)
{
	struct net_pair *p = net_tcp_slot_get(&w->tcp.pairs, handle);
	const uint8_t *r1, *r2;
	size_t n1, n2, left = d->in_len - d->in_off;
	struct net_ring to_client;

	if (p == NULL || side_attached(&p->client)) {
		net_detached_free(d); /* turn closed it meanwhile */
		return;
	}
	/* The ConnectionBind answer and what the stream still had to write
	 * go first, then the peer's bytes that waited; the client's bytes
	 * that followed its ConnectionBind start the way to the peer. */
	ring_runs(&p->to_client, &r1, &n1, &r2, &n2);
	if (ring_init(&p->to_peer, d->in + d->in_off, left, NULL, 0) < 0 ||
	    ring_init(&to_client, d->out, d->out_len, r1, n1) < 0) {
		net_detached_free(d);
		pair_close_why(p, true, ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
		return;
	}
	if (n2 > 0)
		memcpy(to_client.p + to_client.len, r2, n2);
	to_client.len += n2;
	ring_fini(&p->to_client);
	p->to_client = to_client;
	if (side_init(p, &p->client, d->fd, &p->to_peer, &p->to_client) < 0) {
		p->client.fd = -1; /* still d's */
		net_detached_free(d);
		pair_close_why(p, true, ICE_M_NET_TCP_RELAY_CLOSED_ERROR);
		return;
	}
	p->client.ssl = d->ssl;
	p->client.want_write = d->tls_want_write;
	p->client.write_wait_read = d->tls_write_wait_read;
	d->fd = -1;
	d->ssl = NULL;
	ice_metrics_add(w->m, ICE_M_NET_TCP_RELAY_BUFFERED, d->out_len);
	net_detached_free(d);
	if (left > 0)
		account(p, &p->client, left);
	if (!pump_out(p, &p->peer) || !pump_out(p, &p->client))
		return;
	/* Its SSL may hold bytes already read off the socket. */
	if (p->client.ssl != NULL)
		pair_kick(p);
	(void)pair_settle(p);
}
