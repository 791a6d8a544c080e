/*
 * A stream's input: read (through SSL on TLS), cut into STUN and ChannelData
 * frames, hand each to the dispatcher; and the read and write events that
 * drive it, the TLS handshake included.
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
#include "stream_frame.h"

/*
 * Over its bandwidth (turn said wait) or a request over the per-IP rate
 * limit (dispatch said wait): the frame at the head stays in c->in
 * and nothing more is read until the wait is over, so TCP's flow control
 * slows the client down instead of us dropping its data. The frame
 * deadline does not run meanwhile: the hold is ours, not the client's.
 */
static bool
conn_pause(struct net_conn *c, long wait_ms)
{
	struct timeval tv = { (time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000 };

	if (c->ev_resume == NULL) {
		c->ev_resume = event_new(c->w->base, -1, 0, stream_on_resume, c);
		if (c->ev_resume == NULL)
			return false;
	}
	c->paused = true;
	event_del(c->ev_read);
	evtimer_add(c->ev_resume, &tv);
	return true;
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
	enum stream_cut cut;
	size_t n, off = 0;
	bool completed = false;
	long wait = 0;

	while (!c->dead) {
		cut = stream_frame_cut(c->in + off, c->in_len - off, c->l->tcp_frame_max, &n);
		if (cut == STREAM_CUT_MORE)
			break;
		if (cut != STREAM_CUT_FRAME) {
			stream_kill(c, cut == STREAM_CUT_OVERSIZED
			                       ? ICE_M_NET_TCP_CLOSED_OVERSIZED
			                       : ICE_M_NET_TCP_CLOSED_BAD_FRAME);
			return false;
		}
		wait = net_dispatch(c->w, &pkt, c->in + off, n);
		if (wait > 0)
			break;
		if (c->takeover != NET_TAKE_NONE) {
			/* RFC 6062: no more frames here. A handover leaves the
			 * ConnectionBind in for the worker that takes it. */
			if (c->takeover == NET_TAKE_BIND)
				off += n;
			break;
		}
		off += n;
		completed = true;
	}
	/* Datagrams to peers point into c->in: out before it moves. */
	net_batch_flush(&c->w->batch);
	if (c->takeover != NET_TAKE_NONE) {
		net_stream_takeover(c, off); /* c is gone */
		return false;
	}
	if (c->dead)
		return false;
	/* A whole frame came: a client, not a flood's half-open connection. */
	if (completed && c->capn.state == ICE_CONNCAP_PENDING)
		ice_conncap_served(c->w->cap, &c->capn);
	/* The rest to the front, with room for the whole of its first frame. */
	if (stream_frame_keep(&c->in, &c->in_len, &c->in_cap, off, c->l->tcp_frame_max) < 0) {
		stream_kill(c, ICE_M_NET_TCP_CLOSED_OVERSIZED);
		return false;
	}
	if (wait > 0) {
		c->frame_start = 0;
		return conn_pause(c, wait);
	}
	if (c->in_len == 0)
		c->frame_start = 0;
	else if (completed || c->frame_start == 0)
		c->frame_start = c->w->now;
	return true;
}

/* One read into buf[0..len) (len > 0): see net_sock_read. */
static ssize_t
conn_read(struct net_conn *c, uint8_t *buf, size_t len)
{
	return net_sock_read(c->fd, c->ssl, buf, len, &c->tls_want_write);
}

/* Dispatch the frames in c->in (conn_frames also makes room for the rest of
 * a partial one). Returns false if c was closed or is closing. */
static bool
conn_take(struct net_conn *c)
{
	struct net_worker *w = c->w; /* c may be gone (a takeover frees it) */

	if (!conn_frames(c)) {
		/* frames before the bad one may have queued sends */
		net_batch_flush(&w->batch);
		return false; /* conn_kill scheduled the close */
	}
	return true;
}

/*
 * Read, frame and dispatch. Plain TCP reads once per event (the fd stays
 * readable if more is queued, and other connections get their turn); TLS
 * reads until the SSL holds nothing more, since bytes it has already pulled
 * off the fd will not wake us again. TLS hands out one record per read, so
 * records are gathered while the SSL holds more and there is room, then
 * framed together: a burst of frames goes to the peers in one batch, not
 * one sendmmsg per record. Returns false if c was closed.
 */
static bool
conn_input(struct net_conn *c)
{
	struct net_worker *w = c->w;
	ice_ms_t deadline;
	bool unframed = false; /* TLS: records gathered in c->in, not framed yet */
	ssize_t r;

	if (c->paused)
		return true; /* stream_on_resume reads on */
	do {
		/* conn_frames leaves room for the rest of a partial frame
		 * (stream_frame_keep); a full buffer here would make recv
		 * return 0 and look like a hang-up, so refuse it as the
		 * oversize it is. */
		if (c->in_len == c->in_cap) {
			stream_close(c, ICE_M_NET_TCP_CLOSED_OVERSIZED);
			return false;
		}
		r = conn_read(c, c->in + c->in_len, c->in_cap - c->in_len);
		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			/* What came before the close or the error still goes out. */
			if (unframed && !conn_take(c))
				return false;
			stream_close(c, r == 0 ? ICE_M_NET_TCP_CLOSED_PEER : stream_io_reason(r));
			return false;
		}
		c->in_len += (size_t)r;
		c->last_rx = w->now;
		unframed = c->ssl != NULL && c->in_len < c->in_cap && net_tls_pending(c->ssl);
		if (!unframed && !conn_take(c))
			return false;
	} while (!c->paused && c->ssl != NULL && net_tls_pending(c->ssl));
	if (unframed && !conn_take(c))
		return false;
	if (c->ssl != NULL)
		stream_write_interest(c); /* the read may wait for writable */
	/* A frame just started: its deadline may come before the armed one. */
	deadline = stream_deadline(c);
	if (deadline != 0 && deadline < c->timer_at)
		stream_arm(c, deadline);
	return true;
}

#define PLAIN_HTTP_BODY "This port speaks TLS only: use https:// or turns:.\n"

/* A browser or curl pointed at http:// on the TLS port: a 400 saying so,
 * as nginx answers, rather than a bare reset. One try, never queued. */
static void
tls_refuse_plain_http(struct net_conn *c)
{
	static const char reply[] = "HTTP/1.1 400 Bad Request\r\n"
				    "Content-Type: text/plain\r\n"
				    "Content-Length: 51\r\n"
				    "Connection: close\r\n\r\n" PLAIN_HTTP_BODY;
	_Static_assert(sizeof(PLAIN_HTTP_BODY) - 1 == 51, "Content-Length");

	(void)send(c->fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	ice_metrics_inc(c->w->m, ICE_M_NET_TLS_HS_PLAIN_HTTP);
	stream_close(c, ICE_M_NET_TCP_CLOSED_TLS);
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
	if (r == -EBADRQC) {
		tls_refuse_plain_http(c);
		return false;
	}
	if (r < 0) {
		/* Scanners and plain-TCP clients on the TLS port: counted, not
		 * logged (one line each would let anyone fill the log). */
		if (ICE_LOG_DEBUG <= ice_log_level_cur) {
			char buf[ICE_ADDR_STRLEN];

			log_debug("tls: handshake with %s failed: %s",
			          ice_addr_str(&c->remote, buf, sizeof(buf)), strerror(-r));
		}
		ice_metrics_inc(w->m, ICE_M_NET_TLS_HS_FAILED);
		stream_close(c, ICE_M_NET_TCP_CLOSED_TLS);
		return false;
	}
	if (r == 0) {
		stream_write_interest(c);
		return false;
	}
	ice_metrics_inc(w->m, ICE_M_NET_TLS_HS_OK);
	c->tls_ready = true; /* the handshake deadline is met; frames get their own */
	stream_write_interest(c);
	return true;
}

void
stream_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;

	(void)fd;
	(void)what;
	c->w->now = net_clock_ms();
	if (c->ssl != NULL) {
		if (!c->tls_ready && !conn_tls_accept(c))
			return;
		if (c->tls_write_wait_read && c->out_len > 0) {
			int r = stream_flush(c);

			if (r < 0) {
				stream_close(c, stream_io_reason(r));
				return;
			}
			stream_write_interest(c);
		}
	}
	(void)conn_input(c);
}

void
stream_on_write(evutil_socket_t fd, short what, void *arg)
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
	r = stream_flush(c);
	if (r < 0) {
		stream_close(c, stream_io_reason(r));
		return;
	}
	stream_write_interest(c);
}

void
stream_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->dead)
		return;
	c->w->now = net_clock_ms();
	c->paused = false;
	/* The frames held first; then read on, if they did not pause us again. */
	if (!conn_frames(c) || c->paused)
		return;
	event_add(c->ev_read, NULL);
	(void)conn_input(c);
}
