/*
 * A stream's output: straight to the socket while the kernel takes it, else
 * into a ring (power-of-two capacity, grown by doubling up to
 * NET_TCP_OUT_MAX): a slow reader at the bound costs one copy in and one copy
 * out per byte, never a compaction of everything pending per queued packet.
 * Past the bound the client is closed rather than buffered without limit.
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

/*
 * One write of buf[0..len) (len > 0): bytes taken, -EAGAIN, or -errno
 * (-EPROTO: TLS failure). TLS takes one record per call and, after -EAGAIN,
 * must be offered the same bytes again.
 */
static ssize_t
conn_write(struct net_conn *c, const uint8_t *buf, size_t len)
{
	return net_sock_write(c->fd, c->ssl, buf, len, &c->tls_write_wait_read);
}

/* Close reason for a failed read or write. */
enum ice_metric_id
stream_io_reason(ssize_t err)
{
	return err == -EPROTO ? ICE_M_NET_TCP_CLOSED_TLS : ICE_M_NET_TCP_CLOSED_ERROR;
}

/* Register for writability exactly when something waits for it. A write
 * blocked on a read (TLS) waits for the read event instead: the socket is
 * writable and would spin. */
void
stream_write_interest(struct net_conn *c)
{
	if (c->dead)
		return; /* conn_kill unregistered it for good */
	if (c->tls_want_write || (c->out_len > 0 && !c->tls_write_wait_read))
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
}

/* Write out as much of the pending output as the socket takes: 0 or -errno. */
int
stream_flush(struct net_conn *c)
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
net_stream_send(struct net_conn *c, const uint8_t *buf, size_t len)
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
			stream_kill(c, stream_io_reason(r));
			return;
		}
		off += (size_t)r;
	}
	if (off == len)
		return;
	/* The client is not reading fast enough: hold a bounded amount, then
	 * give up on it rather than buffer without limit. */
	if (conn_queue(c, buf + off, len - off) < 0) {
		stream_kill(c, ICE_M_NET_TCP_CLOSED_BACKPRESSURE);
		return;
	}
	stream_write_interest(c);
}
