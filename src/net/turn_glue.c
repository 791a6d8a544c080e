/*
 * THE TURN SEAM. Until the TURN state machine (src/turn/) is wired here, every
 * TURN message and ChannelData frame is dropped and counted as
 * icestation_net_turn_unhandled_total. Requests are deliberately NOT answered
 * with an error: a 4xx would tell a TURN client this server refuses TURN,
 * while silence makes it retry or fall back the way it does for loss.
 *
 * What the TURN engineer gets from the worker (all single-threaded, no locks):
 *
 *  - net_turn_worker_init/fini: create/destroy TURN's per-worker state
 *    (allocation table, timer wheel) in w->turn. Called from ice_net_new on
 *    the main thread before the worker runs, and from ice_net_free after it
 *    was joined. Metrics: w->m is created at thread start, so count from
 *    packet handlers only.
 *
 *  - net_turn_dispatch: one STUN message of a TURN method (Allocate, Refresh,
 *    CreatePermission, ChannelBind requests; Send indications) with msg
 *    parsed, or one ChannelData frame with msg == NULL; buf[0..len) is
 *    borrowed for the call. pkt carries the 5-tuple: pkt->local (the address
 *    the client contacted, pktinfo-exact on wildcard sockets), pkt->remote,
 *    pkt->transport, pkt->l->roles (check NET_ROLE_TURN: a STUN-only port
 *    must not serve TURN), and pkt->conn for TCP. Requests have already
 *    passed the per-IP rate limiter; ChannelData and indications bypass it.
 *
 *  - Answering the client: net_reply_buf(w, pkt, &cap) then
 *    net_reply_send(w, pkt, len). On UDP the reply joins the worker's
 *    sendmmsg batch (flushed after the receive batch); on TCP it is appended
 *    to the connection's bounded output (backpressure closes the connection,
 *    which calls net_turn_conn_closed).
 *
 *  - The clock: w->now, read once per callback; pass it to the pure turn/
 *    code. Timers: register events on w->base (one periodic tick driving a
 *    timer wheel, not one event per allocation).
 *
 *  - Relay sockets: created by the worker, registered on w->base with a read
 *    callback that uses the same recvmmsg batching as udp.c (w->rx_* slots are
 *    free between callbacks) and sends to the client through a UDP send path
 *    that takes the listener and 5-tuple (generalise net_reply_* into
 *    net_udp_queue(w, listener, local, remote, iov, n) for header + payload
 *    without copying the payload).
 *
 *  - net_turn_conn_closed: a TCP client connection is going away; RFC 8656
 *    §3.1 ends the allocations made over it.
 *
 *  - TCP idle timeout: tcp.c closes a connection silent for
 *    stun.tcp_idle_timeout_s. A connection that carries an allocation should
 *    live as long as the allocation instead: add a flag on struct net_conn
 *    that conn_deadline() honours, set when an Allocate succeeds over it.
 */
#include "net_internal.h"

int
net_turn_worker_init(struct net_worker *w)
{
	w->turn = NULL;
	return 0;
}

void
net_turn_worker_fini(struct net_worker *w)
{
	w->turn = NULL;
}

void
net_turn_dispatch(struct net_worker *w, const struct net_pkt *pkt, const struct stun_msg *msg,
                  const uint8_t *buf, size_t len)
{
	(void)pkt;
	(void)msg;
	(void)buf;
	(void)len;
	ice_metrics_inc(w->m, ICE_M_NET_TURN_UNHANDLED);
}

void
net_turn_conn_closed(struct net_worker *w, struct net_conn *conn)
{
	(void)w;
	(void)conn;
}
