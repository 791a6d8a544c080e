/*
 * RFC 6062 client data connections: a client stream that stops being one
 * (tcp_relay.h). Two ways out, both marked during a frame's dispatch and
 * done by conn_frames once the dispatch returned (the stream's buffers are
 * in use until then):
 *
 *  - bind: turn accepted its ConnectionBind (tcp_bind). The stream is
 *    detached (fd, SSL, the bytes after the ConnectionBind, the answer
 *    still queued) and becomes the client side of the pair.
 *  - handover: its ConnectionBind names a connection another worker holds
 *    (a CONNECTION-ID carries its worker; SO_REUSEPORT spreads a client's
 *    connections over the workers). The stream, ConnectionBind still
 *    unread, travels to that worker through its mailbox, like any other
 *    command between threads, and carries on there as a stream: that
 *    worker's turn answers it. A stream that holds an allocation stays
 *    where it is (turn then refuses the ConnectionBind with 400).
 */
#include <stdlib.h>
#include <unistd.h>

#include "net_internal.h"

bool
net_tcp_want_handover(struct net_worker *w, struct net_conn *conn, const struct stun_msg *msg)
{
	int target = turn_tcp_route(msg, w->id, w->net->n_workers);

	if (target < 0 || net_stream_holds(conn) > 0)
		return false;
	conn->takeover = NET_TAKE_HANDOVER;
	conn->takeover_arg = target;
	return true;
}

void
net_detached_free(struct net_detached *d)
{
	if (d == NULL)
		return;
	net_tls_free(d->ssl, false);
	if (d->fd >= 0)
		close(d->fd);
	free(d->in);
	free(d->out);
	free(d);
}

/* Post d to worker target's mailbox (taken over either way). */
static void
handover_post(struct net_worker *w, unsigned target, struct net_detached *d)
{
	struct net_cmd cmd = { .kind = NET_CMD_ADOPT, .detached = d };

	if (net_mailbox_post(&w->net->workers[target]->mailbox, &cmd) < 0) {
		ice_metrics_inc(w->m, ICE_M_NET_TCP_HANDOVER_FAILED);
		net_detached_free(d);
		return;
	}
	ice_metrics_inc(w->m, ICE_M_NET_TCP_HANDOVERS);
}

void
net_stream_takeover(struct net_conn *c, size_t off)
{
	struct net_worker *w = c->w;
	enum net_takeover kind = c->takeover;
	int arg = c->takeover_arg;
	struct net_pair *p = kind == NET_TAKE_BIND ? net_tcp_slot_get(&w->tcp.pairs, arg) : NULL;
	struct net_detached *d;

	c->takeover = NET_TAKE_NONE;
	if (c->dead) {
		/* Not even its answer could be queued: the stream goes, and the
		 * peer connection it was bound to with it. */
		if (p != NULL)
			net_pair_close(p, true);
		return;
	}
	d = malloc(sizeof(*d));
	if (d == NULL) {
		stream_close(c, ICE_M_NET_TCP_CLOSED_ERROR);
		if (p != NULL)
			net_pair_close(p, true);
		return;
	}
	if (net_stream_detach(c, off, d) < 0) {
		free(d);
		if (p != NULL)
			net_pair_close(p, true);
		return;
	}
	if (kind == NET_TAKE_BIND)
		net_pair_attach(w, arg, d);
	else
		handover_post(w, (unsigned)arg, d);
}

void
net_tcp_adopt(struct net_worker *w, struct net_detached *d)
{
	/* Every worker opens a copy of every listening socket: its own copy
	 * of the one the stream was accepted on. */
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct net_listener *l = &w->listeners[i];

		if (l->transport != d->transport || !ice_addr_equal(&l->addr, &d->listen_addr))
			continue;
		if (net_stream_adopt(l, d) == 0) {
			ice_metrics_inc(w->m, ICE_M_NET_TCP_ADOPTED);
			net_detached_free(d); /* what adopt did not take */
			return;
		}
		break;
	}
	ice_metrics_inc(w->m, ICE_M_NET_TCP_HANDOVER_FAILED);
	net_detached_free(d);
}
