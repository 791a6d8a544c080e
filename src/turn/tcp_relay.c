/*
 * RFC 6062 TCP relays: the checks a TCP Allocate adds, Connect (§5.2),
 * ConnectionBind (§5.4) and the inbound peer connection that becomes a
 * ConnectionAttempt indication (§5.3). The data connections' objects and
 * timers are in tcp_conn.c; net opens, accepts and relays (turn_io tcp_*).
 *
 * Codes where the RFC leaves the choice (docs/turn.md): Connect or
 * ChannelBind on a UDP allocation, and ConnectionBind on a connection that
 * carries an allocation, get 400; a Connect past the allocation's
 * connection limit gets 508 (Insufficient Capacity).
 */
#include <errno.h>
#include <string.h>

#include "turn_int.h"

int
turn_tcp_allocate_check(const struct turn_ctx *c)
{
	const struct stun_msg *m = c->msg;
	const struct turn_server *srv = c->srv;

	if (!srv->set.tcp_relay || srv->io.tcp_relay_open == NULL)
		return 442;
	/* RFC 6062 §5.1: over TCP or TLS only, and none of the UDP-only
	 * attributes. */
	if (c->ft->proto == TURN_PROTO_UDP || stun_msg_find(m, STUN_ATTR_DONT_FRAGMENT) != NULL ||
	    stun_msg_find(m, STUN_ATTR_EVEN_PORT) != NULL ||
	    stun_msg_find(m, STUN_ATTR_RESERVATION_TOKEN) != NULL)
		return 400;
	return 0;
}

static struct turn_tconn *
tconn_by_peer(struct turn_alloc *a, const struct ice_addr *peer)
{
	for (struct turn_tconn *t = a->tconns; t != NULL; t = t->next)
		if (ice_addr_equal(&t->peer, peer))
			return t;
	return NULL;
}

void
turn_handle_connect(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	struct turn_alloc *a = c->a;
	const struct stun_attr *pa = stun_msg_find(c->msg, STUN_ATTR_XOR_PEER_ADDRESS);
	struct turn_tconn *t;
	struct ice_addr peer;
	bool self = false;
	int code, h;

	if (!a->tcp || pa == NULL) {
		turn_reply_error(c, 400);
		return;
	}
	/* Our own address passes only on a relay port (the policy sees it). */
	code = turn_check_peer(c, pa, &peer, &self);
	/* §5.2: one connection per peer transport address, pending or active. */
	if (code == 0 && tconn_by_peer(a, &peer) != NULL)
		code = 446;
	if (code == 0 && turn_tconn_full(srv, a)) {
		turn_count(srv, ICE_M_TURN_TCP_REFUSED_LIMIT);
		code = 508;
	}
	if (code != 0) {
		turn_reply_error(c, code);
		return;
	}
	t = turn_tconn_new(srv, a, &peer, TURN_TC_CONNECTING);
	if (t == NULL) {
		turn_reply_error(c, 500);
		return;
	}
	memcpy(t->tid, c->msg->tid, STUN_TID_LEN);
	t->mi = c->auth->mi;
	t->mi256 = c->auth->mi256;
	h = srv->io.tcp_connect(srv->io.ctx, turn_alloc_relay_for(a, peer.family)->handle, &peer,
	                        t->id);
	if (h < 0) {
		turn_count(srv, ICE_M_TURN_TCP_CONNECT_FAILED);
		turn_tconn_free(srv, t, false);
		turn_reply_error(c, 447);
		return;
	}
	/* Answered when net reports the outcome, or 447 at the timeout. */
	t->handle = h;
	turn_tconn_arm(srv, t, c->now, TURN_TCP_CONNECT_TIMEOUT_S);
}

/* The CONNECTION-ID of msg: 0, or -1 when missing or malformed. */
static int
conn_id_of(const struct stun_msg *msg, uint32_t *id)
{
	const struct stun_attr *at = stun_msg_find(msg, STUN_ATTR_CONNECTION_ID);

	return at != NULL && stun_attr_u32(at, id) == 0 ? 0 : -1;
}

/* The pending data connection msg names, or NULL. */
static struct turn_tconn *
pending_of(struct turn_server *srv, const struct stun_msg *msg, ice_ms_t now)
{
	struct turn_tconn *t;
	uint32_t id;

	if (conn_id_of(msg, &id) < 0)
		return NULL;
	t = turn_tconn_find(srv, id);
	if (t == NULL || t->state != TURN_TC_PENDING || now >= t->alloc->expires)
		return NULL;
	return t;
}

/* Authenticated as the allocation's user, attributes known: bind. */
static void
bind_authenticated(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	struct turn_tconn *t = pending_of(srv, c->msg, c->now);
	struct turn_reply r;

	/* Found by the caller a moment ago and nothing ran since. */
	if (t == NULL) {
		turn_reply_error(c, 400);
		return;
	}
	turn_reply_begin(c, &r, 0);
	turn_reply_send(c, &r);
	t->state = TURN_TC_BOUND;
	timerwheel_del(&srv->tconn_timers, &t->timer);
	turn_count(srv, ICE_M_TURN_TCP_BOUND);
	srv->io.tcp_bind(srv->io.ctx, t->handle, c->ft);
}

void
turn_handle_connection_bind(struct turn_ctx *c)
{
	struct turn_tconn *t;

	/* §5.4: on a new TCP or TLS connection of its own, naming a peer
	 * connection that waits for its bind. Ids are not secret, so this
	 * answers before authentication: it tells nothing worth a key. */
	if (c->ft->proto == TURN_PROTO_UDP || turn_alloc_find(c->srv, c->ft, c->now) != NULL ||
	    (t = pending_of(c->srv, c->msg, c->now)) == NULL) {
		turn_reply_error(c, 400);
		return;
	}
	/* With the credentials of the allocation's own user (§5.4). */
	turn_on_allocation(c, t->alloc, bind_authenticated);
}

/* The ConnectionAttempt indication for t to its allocation's client (§5.3). */
static void
send_attempt(struct turn_server *srv, struct turn_tconn *t)
{
	static const char software[] = ICESTATION_SOFTWARE;
	uint64_t seq = ++srv->ind_seq;
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];
	int len;

	memcpy(tid, "ICEc", 4);
	for (int i = 0; i < 8; i++)
		tid[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
	stun_build_init(&b, srv->tx, sizeof(srv->tx), STUN_METHOD_CONNECTION_ATTEMPT,
	                STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &t->peer);
	stun_build_u32(&b, STUN_ATTR_CONNECTION_ID, t->id);
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, software, sizeof(software) - 1);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len < 0) {
		turn_count(srv, ICE_M_TURN_DROP_BUILD);
		return;
	}
	srv->io.send_client(srv->io.ctx, &t->alloc->ft, srv->tx, (size_t)len, TURN_BUF_SCRATCH);
}

int
turn_tcp_accepted(struct turn_server *srv, int relay_handle, const struct ice_addr *peer,
                  int handle, ice_ms_t now, uint32_t *id)
{
	struct turn_relay *relay = turn_relay_find(srv, relay_handle);
	struct turn_tconn *t;
	struct turn_perm *p;
	struct turn_alloc *a;

	srv->now = now;
	if (relay == NULL || !relay->alloc->tcp || now >= relay->alloc->expires)
		return -ENOENT;
	a = relay->alloc;
	/* §5.3: only a peer the client gave a permission; our own address only
	 * from a port where a relay of ours may connect from. */
	p = turn_perm_find(srv, a, peer);
	if (p == NULL || now >= p->expires ||
	    (p->self && !turn_policy_port_is_relay(&srv->policy, peer->port))) {
		turn_count(srv, ICE_M_TURN_TCP_REFUSED_PERMISSION);
		return -EPERM;
	}
	if (turn_tconn_full(srv, a)) {
		turn_count(srv, ICE_M_TURN_TCP_REFUSED_LIMIT);
		return -ENOSPC;
	}
	t = turn_tconn_new(srv, a, peer, TURN_TC_PENDING);
	if (t == NULL)
		return -ENOMEM;
	t->handle = handle;
	turn_tconn_arm(srv, t, now, TURN_TCP_BIND_TIMEOUT_S);
	turn_count(srv, ICE_M_TURN_TCP_ACCEPTED);
	send_attempt(srv, t);
	*id = t->id;
	return 0;
}
