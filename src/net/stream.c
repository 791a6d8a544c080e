/*
 * A stream's life (stream.h): creation on accept, its timers and deadlines,
 * the hold of the allocations made over it, and closing.
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

/* TLS: the handshake deadline from the accept, or 0 once it is done (or for
 * plain TCP). Bounded by the idle timeout too, for the frame deadline's
 * reason. Read from the generation in force, so a reload moves it. */
static ice_ms_t
conn_handshake_due(const struct net_conn *c)
{
	ice_ms_t idle = conn_idle_ms(c);
	ice_ms_t hs = (ice_ms_t)c->w->cfg->turn.tls.handshake_timeout_s * 1000;

	if (c->ssl == NULL || c->tls_ready)
		return 0;
	return c->accepted_at + (idle > 0 && idle < hs ? idle : hs);
}

void
stream_arm(struct net_conn *c, ice_ms_t at)
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
ice_ms_t
stream_deadline(const struct net_conn *c)
{
	ice_ms_t idle = conn_idle_ms(c), at = 0, hs = conn_handshake_due(c);

	if (idle > 0)
		at = (c->n_holds > 0 ? ICE_MAX(c->last_rx, c->w->now) : c->last_rx) + idle;
	if (c->frame_start != 0 && (at == 0 || c->frame_start + conn_frame_ms(c) < at))
		at = c->frame_start + conn_frame_ms(c);
	if (hs != 0 && (at == 0 || hs < at))
		at = hs;
	return at;
}

/* Unlink c from its worker and free it and its events; its fd, SSL and
 * buffers are the caller's by now. */
static void
stream_release(struct net_conn *c, bool tls)
{
	struct net_worker *w = c->w;

	/* Closed or detached: out of the per-address pool either way. */
	ice_conncap_remove(w->cap, &c->capn);
	if (c->n_holds > 0)
		ice_metrics_dec(w->m, ICE_M_NET_TCP_TURN_HELD);
	ice_metrics_dec(w->m, ICE_M_NET_TCP_ACTIVE);
	ice_metrics_add(w->m, ICE_M_NET_TCP_OUT_QUEUED, (uint64_t)0 - c->out_len);
	if (tls)
		ice_metrics_dec(w->m, ICE_M_NET_TLS_ACTIVE);
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
	if (c->ev_resume != NULL)
		event_free(c->ev_resume);
	free(c);
}

void
stream_close(struct net_conn *c, enum ice_metric_id reason)
{
	struct net_worker *w = c->w;
	bool tls = c->ssl != NULL;
	int fd;

	net_turn_stream_closed(w, c);
	ice_metrics_inc(w->m, reason);
	if (tls)
		net_tls_free(c->ssl, reason != ICE_M_NET_TCP_CLOSED_ERROR &&
		                             reason != ICE_M_NET_TCP_CLOSED_TLS &&
		                             reason != ICE_M_NET_TCP_CLOSED_PEER);
	free(c->in);
	free(c->out);
	/* Events leave the epoll set before the fd number is free: closed
	 * first, another worker could accept the same number and our
	 * EPOLL_CTL_DEL would name its socket. */
	fd = c->fd;
	stream_release(c, tls);
	close(fd);
}

int
net_stream_detach(struct net_conn *c, size_t off, struct net_detached *d)
{
	size_t first;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (c->out_len > 0) {
		/* The ring's pending bytes, in order, as one run. */
		d->out = malloc(c->out_len);
		if (d->out == NULL) {
			stream_close(c, ICE_M_NET_TCP_CLOSED_ERROR);
			return -ENOMEM;
		}
		first = ICE_MIN(c->out_len, c->out_cap - c->out_head);
		memcpy(d->out, c->out + c->out_head, first);
		memcpy(d->out + first, c->out, c->out_len - first);
		d->out_len = c->out_len;
	}
	/* Whatever turn kept for this 5-tuple (an Allocate waiting for the
	 * cluster) ends with the stream. */
	net_turn_stream_closed(c->w, c);
	d->fd = c->fd;
	d->ssl = c->ssl;
	d->tls_want_write = c->tls_want_write;
	d->tls_write_wait_read = c->tls_write_wait_read;
	d->transport = c->l->transport;
	d->local = c->local;
	d->remote = c->remote;
	d->listen_addr = c->l->addr;
	d->in = c->in;
	d->in_off = off;
	d->in_len = c->in_len;
	d->in_cap = c->in_cap;
	free(c->out);
	stream_release(c, c->ssl != NULL);
	return 0;
}

/* Close from a context that may still hold c (a handler mid-dispatch): the
 * timer event does it on the next loop turn. */
void
stream_kill(struct net_conn *c, enum ice_metric_id reason)
{
	if (c->dead)
		return;
	c->dead = true;
	c->dead_reason = reason;
	/* Going anyway: no newcomer should pick it, nor its source count it. */
	ice_conncap_remove(c->w->cap, &c->capn);
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_active(c->ev_timer, EV_TIMEOUT, 1);
}

void
stream_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	ice_ms_t at;

	(void)fd;
	(void)what;
	if (c->dead) {
		stream_close(c, c->dead_reason);
		return;
	}
	c->w->now = net_clock_ms();
	at = conn_handshake_due(c);
	if (at != 0 && c->w->now >= at) {
		ice_metrics_inc(c->w->m, ICE_M_NET_TLS_HS_TIMEOUT);
		stream_close(c, ICE_M_NET_TCP_CLOSED_SLOW);
		return;
	}
	if (c->frame_start != 0 && c->w->now >= c->frame_start + conn_frame_ms(c)) {
		stream_close(c, ICE_M_NET_TCP_CLOSED_SLOW);
		return;
	}
	if (conn_idle_ms(c) > 0 && c->n_holds == 0 && c->w->now >= c->last_rx + conn_idle_ms(c)) {
		stream_close(c, ICE_M_NET_TCP_CLOSED_IDLE);
		return;
	}
	at = stream_deadline(c);
	if (at != 0)
		stream_arm(c, at);
}

void
net_stream_hold(struct net_conn *c, int delta)
{
	if (delta > 0) {
		if (c->n_holds++ == 0) {
			ice_metrics_inc(c->w->m, ICE_M_NET_TCP_TURN_HELD);
			ice_conncap_pin(c->w->cap, &c->capn, true);
		}
		return;
	}
	if (c->n_holds == 0)
		return;
	if (--c->n_holds == 0) {
		ice_metrics_dec(c->w->m, ICE_M_NET_TCP_TURN_HELD);
		/* Evictable again, as the newest of the served. */
		ice_conncap_pin(c->w->cap, &c->capn, false);
		/* The idle period starts over from the allocation's end. */
		c->last_rx = ICE_MAX(c->last_rx, c->w->now);
	}
}

unsigned
net_stream_holds(const struct net_conn *c)
{
	return c->n_holds;
}

const struct ice_addr *
net_stream_local(const struct net_conn *c)
{
	return &c->local;
}

const struct ice_addr *
net_stream_remote(const struct net_conn *c)
{
	return &c->remote;
}

enum ice_transport
net_stream_transport(const struct net_conn *c)
{
	return c->l->transport;
}

struct net_conn *
stream_of_node(struct ice_conncap_node *n)
{
	return (struct net_conn *)((char *)n - offsetof(struct net_conn, capn));
}

/* Give c (fields set) its events, link it into its worker and its
 * per-address pool (pending). 0 or -ENOMEM. */
static int
stream_attach(struct net_conn *c)
{
	struct net_worker *w = c->w;

	c->ev_read = event_new(w->base, c->fd, EV_READ | EV_PERSIST, stream_on_read, c);
	c->ev_write = event_new(w->base, c->fd, EV_WRITE | EV_PERSIST, stream_on_write, c);
	c->ev_timer = event_new(w->base, -1, 0, stream_on_timer, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_timer == NULL ||
	    event_add(c->ev_read, NULL) < 0)
		return -ENOMEM;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	ice_conncap_add(w->cap, &c->capn,
	                c->l->transport == ICE_TRANSPORT_TLS ? ICE_CONNCAP_TLS : ICE_CONNCAP_TCP,
	                &c->remote);
	ice_metrics_inc(w->m, ICE_M_NET_TCP_ACTIVE);
	if (c->ssl != NULL)
		ice_metrics_inc(w->m, ICE_M_NET_TLS_ACTIVE);
	if (stream_deadline(c) != 0)
		stream_arm(c, stream_deadline(c));
	else
		c->timer_at = UINT64_MAX;
	return 0;
}

/* Free a c that never got linked (its events, if made, included). */
static void
stream_discard(struct net_conn *c)
{
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	if (c->ev_timer != NULL)
		event_free(c->ev_timer);
	if (c->ev_resume != NULL)
		event_free(c->ev_resume);
	net_tls_free(c->ssl, false);
	free(c->in);
	free(c);
}

void
net_stream_new(struct net_listener *l, int fd, const struct ice_addr *remote)
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
	c->accepted_at = w->now;
	c->remote = *remote;
	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    ice_addr_from_sockaddr(&c->local, (const struct sockaddr *)&local) < 0)
		goto fail;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->transport == ICE_TRANSPORT_TLS) {
		c->ssl = net_tls_new(w->gen->tls_ctx, fd);
		if (c->ssl == NULL)
			goto fail;
	}
	c->in = malloc(NET_TCP_IN_INIT);
	c->in_cap = NET_TCP_IN_INIT;
	if (c->in == NULL || stream_attach(c) < 0)
		goto fail;
	ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPTED);
	return;
fail:
	ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPT_ERRORS);
	if (c != NULL)
		stream_discard(c);
	close(fd);
}

int
net_stream_adopt(struct net_listener *l, struct net_detached *d)
{
	struct net_worker *w = l->w;
	struct net_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	c->w = w;
	c->l = l;
	c->fd = d->fd;
	c->ssl = d->ssl;
	c->tls_ready = d->ssl != NULL;
	c->tls_want_write = d->tls_want_write;
	c->tls_write_wait_read = d->tls_write_wait_read;
	c->local = d->local;
	c->remote = d->remote;
	c->last_rx = w->now;
	c->accepted_at = w->now;
	memmove(d->in, d->in + d->in_off, d->in_len - d->in_off);
	c->in = d->in;
	c->in_len = d->in_len - d->in_off;
	c->in_cap = d->in_cap;
	/* Paused, with the resume due at once: the frames already in are
	 * dispatched first, then reading goes on (stream_on_resume). */
	c->paused = true;
	c->ev_resume = event_new(w->base, -1, 0, stream_on_resume, c);
	if (c->ev_resume == NULL || stream_attach(c) < 0) {
		c->ssl = NULL; /* still d's */
		c->in = NULL;
		stream_discard(c);
		return -ENOMEM;
	}
	/* It brought a whole frame (its ConnectionBind): served, as conn_frames
	 * would have marked it on its first worker. */
	ice_conncap_served(w->cap, &c->capn);
	event_del(c->ev_read);
	d->fd = -1;
	d->ssl = NULL;
	d->in = NULL;
	net_stream_send(c, d->out, d->out_len);
	event_active(c->ev_resume, EV_TIMEOUT, 1);
	return 0;
}

void
net_stream_close_all(struct net_worker *w)
{
	while (w->conns != NULL)
		stream_close(w->conns, ICE_M_NET_TCP_CLOSED_SHUTDOWN);
}
