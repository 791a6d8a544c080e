/*
 * RFC 6062 data connections as turn keeps them: one struct turn_tconn per
 * peer data connection, in its allocation's list and in the server's index
 * by CONNECTION-ID, with one timer (the Connect's 30 s, then the
 * ConnectionBind's 30 s), and what net reports about them: a connect that
 * ended, bytes relayed, a side that closed. The sockets and the bytes
 * themselves are net's (turn_io tcp_*); turn holds the protocol state.
 *
 * A CONNECTION-ID is the worker id in the top 8 bits and a per-worker
 * sequence in the low 24 (never 0, never one in use): the worker that
 * receives a ConnectionBind can tell which worker holds the connection.
 * Ids need not be secret: a ConnectionBind must carry the credentials of
 * the allocation's user.
 */
#include <errno.h>
#include <string.h>

#include "turn_int.h"

enum {
	CONN_SEQ_BITS = 24,
	CONN_SEQ_MASK = (1u << CONN_SEQ_BITS) - 1,
};

static uint64_t
id_hash(uint32_t id)
{
	/* Ids are ours, not a client's choice: Fibonacci hashing spreads them. */
	return (uint64_t)id * 0x9E3779B97F4A7C15ull;
}

struct turn_tconn *
turn_tconn_find(struct turn_server *srv, uint32_t id)
{
	uint64_t h = id_hash(id);

	for (struct htab_node *n = htab_first(&srv->tconns, h); n != NULL; n = n->next) {
		struct turn_tconn *t = TURN_CONTAINER(n, struct turn_tconn, node);

		if (t->id == id)
			return t;
	}
	return NULL;
}

/* The next free id of this worker. */
static uint32_t
next_id(struct turn_server *srv)
{
	uint32_t id;

	/* At most 2^24 - 1 ids are in use (the pool cannot hold more), so a
	 * free one always exists; live ones are skipped. */
	do {
		srv->tconn_seq = (srv->tconn_seq + 1) & CONN_SEQ_MASK;
		id = (srv->wid & 0xffu) << CONN_SEQ_BITS | srv->tconn_seq;
	} while (srv->tconn_seq == 0 || turn_tconn_find(srv, id) != NULL);
	return id;
}

bool
turn_tconn_full(const struct turn_server *srv, const struct turn_alloc *a)
{
	uint32_t max = srv->set.max_tcp_connections ? srv->set.max_tcp_connections
	                                            : TURN_TCP_DEFAULT_CONNECTIONS;

	return a->n_tconns >= max;
}

struct turn_tconn *
turn_tconn_new(struct turn_server *srv, struct turn_alloc *a, const struct ice_addr *peer,
               uint8_t state)
{
	struct turn_tconn *t = ice_pool_get(srv->tconn_pool);

	if (t == NULL)
		return NULL;
	t->alloc = a;
	t->peer = *peer;
	t->state = state;
	t->handle = -1;
	t->id = next_id(srv);
	htab_insert(&srv->tconns, &t->node, id_hash(t->id));
	t->next = a->tconns;
	if (a->tconns != NULL)
		a->tconns->pprev = &t->next;
	t->pprev = &a->tconns;
	a->tconns = t;
	a->n_tconns++;
	turn_count(srv, ICE_M_TURN_TCP_CONNECTIONS);
	return t;
}

void
turn_tconn_free(struct turn_server *srv, struct turn_tconn *t, bool close_net)
{
	if (close_net && t->handle >= 0)
		srv->io.tcp_close(srv->io.ctx, t->handle);
	timerwheel_del(&srv->tconn_timers, &t->timer);
	htab_remove(&srv->tconns, &t->node);
	*t->pprev = t->next;
	if (t->next != NULL)
		t->next->pprev = t->pprev;
	t->alloc->n_tconns--;
	ice_metrics_dec(srv->m, ICE_M_TURN_TCP_CONNECTIONS);
	ice_pool_put(srv->tconn_pool, t);
}

void
turn_tconn_arm(struct turn_server *srv, struct turn_tconn *t, ice_ms_t now, unsigned s)
{
	timerwheel_add(&srv->tconn_timers, &t->timer, now + (ice_ms_t)s * 1000);
}

void
turn_tconn_answer(struct turn_server *srv, struct turn_tconn *t, int code, ice_ms_t now)
{
	struct turn_alloc *a = t->alloc;
	struct stun_msg m = { .method = STUN_METHOD_CONNECT, .cls = STUN_CLASS_REQUEST };
	struct ltc_cred cred;
	struct ltc_result res = { .mi = t->mi, .mi256 = t->mi256, .cred = &cred };
	struct turn_ctx c = { .srv = srv,
		              .ltc = &srv->ltc,
		              .msg = &m,
		              .ft = &a->ft,
		              .now = now,
		              .auth = &res,
		              .a = a };
	struct turn_reply r;

	/* The request is long gone: its answer is signed as it would have
	 * been then, with the allocation's key and the integrity it used. */
	memcpy(m.tid, t->tid, STUN_TID_LEN);
	turn_cred_load(&a->cred, &cred);
	turn_reply_begin(&c, &r, code);
	if (code == 0)
		stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, t->id);
	turn_reply_send(&c, &r);
	explicit_bzero(&cred, sizeof(cred));
}

void
turn_tconn_timer_fired(void *ctx, struct timerwheel_node *n)
{
	struct turn_server *srv = ctx;
	struct turn_tconn *t = TURN_CONTAINER(n, struct turn_tconn, timer);

	if (t->state == TURN_TC_CONNECTING) {
		/* RFC 6062 §5.2: the attempt timed out. */
		turn_count(srv, ICE_M_TURN_TCP_CONNECT_FAILED);
		turn_tconn_answer(srv, t, 447, srv->now);
	} else if (t->state == TURN_TC_PENDING) {
		/* RFC 6062 §5.2 and §5.3: no ConnectionBind within 30 s. */
		turn_count(srv, ICE_M_TURN_TCP_BIND_TIMEOUT);
	}
	turn_tconn_free(srv, t, true);
}

void
turn_tcp_connected(struct turn_server *srv, uint32_t id, int err, ice_ms_t now)
{
	struct turn_tconn *t = turn_tconn_find(srv, id);

	srv->now = now;
	if (t == NULL || t->state != TURN_TC_CONNECTING)
		return;
	if (err != 0) {
		turn_count(srv, ICE_M_TURN_TCP_CONNECT_FAILED);
		turn_tconn_answer(srv, t, 447, now);
		turn_tconn_free(srv, t, true);
		return;
	}
	turn_count(srv, ICE_M_TURN_TCP_CONNECTED);
	t->state = TURN_TC_PENDING;
	turn_tconn_answer(srv, t, 0, now);
	turn_tconn_arm(srv, t, now, TURN_TCP_BIND_TIMEOUT_S);
}

void
turn_tcp_closed(struct turn_server *srv, uint32_t id, ice_ms_t now)
{
	struct turn_tconn *t = turn_tconn_find(srv, id);

	srv->now = now;
	if (t == NULL)
		return;
	/* Net gives up a connect only through turn_tcp_connected; should it
	 * close one anyway, its Connect still gets its answer. */
	if (t->state == TURN_TC_CONNECTING) {
		turn_count(srv, ICE_M_TURN_TCP_CONNECT_FAILED);
		turn_tconn_answer(srv, t, 447, now);
	}
	turn_tconn_free(srv, t, false);
}

long
turn_tcp_relayed(struct turn_server *srv, uint32_t id, bool to_peer, size_t len, ice_ms_t now)
{
	struct turn_tconn *t = turn_tconn_find(srv, id);
	enum turn_dir dir = to_peer ? TURN_DIR_TO_PEER : TURN_DIR_TO_CLIENT;
	struct turn_alloc *a;
	long wait = 0;

	if (t == NULL)
		return -ENOENT;
	a = t->alloc;
	if (to_peer) {
		a->traffic.to_peer_bytes += len;
		a->traffic.to_peer_pkts++;
		ice_metrics_add(srv->m, ICE_M_TURN_RELAY_BYTES_TO_PEER_TCP, len);
	} else {
		a->traffic.to_client_bytes += len;
		a->traffic.to_client_pkts++;
		ice_metrics_add(srv->m, ICE_M_TURN_RELAY_BYTES_TO_CLIENT_TCP, len);
	}
	if (!srv->bw_on)
		return 0;
	/* The bytes are read already: over a limit they are charged all the
	 * same, and net stops reading that side until the debt is paid, which
	 * TCP's flow control passes on to the sender. */
	wait = turn_bw_admit(srv, a, dir, len, now);
	if (wait > 0)
		turn_bw_charge(a, dir, len);
	return wait > 0 ? wait : 0;
}

int
turn_tcp_conn_worker(const struct stun_msg *msg)
{
	const struct stun_attr *at;
	uint32_t id;

	if (msg->method != STUN_METHOD_CONNECTION_BIND || msg->cls != STUN_CLASS_REQUEST)
		return -1;
	at = stun_msg_find(msg, STUN_ATTR_CONNECTION_ID);
	if (at == NULL || stun_attr_u32(at, &id) < 0)
		return -1;
	return (int)(id >> CONN_SEQ_BITS);
}

int
turn_tcp_route(const struct stun_msg *msg, unsigned self, unsigned n_workers)
{
	int w = turn_tcp_conn_worker(msg);

	return w >= 0 && (unsigned)w != self && (unsigned)w < n_workers ? w : -1;
}
