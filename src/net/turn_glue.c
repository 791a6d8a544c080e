/*
 * THE TURN SEAM: the pure state machine (include/icestation/turn.h) on the
 * worker's sockets. One turn_shared for the process (created with the net
 * layer), one turn_server per worker, touched only by that worker's thread.
 *
 *  - Input: dispatch.c decodes every frame (stun_frame_decode) and answers
 *    Binding on its stateless fast path; on a listener whose roles include
 *    NET_ROLE_TURN everything else goes to turn_handle_frame. A STUN-only
 *    listener drops TURN traffic and counts it as
 *    icestation_net_turn_unhandled_total; silence, not a 4xx, so a client
 *    pointed at the wrong port retries elsewhere as it would after loss.
 *  - The 5-tuple's link is the struct net_listener * (UDP) or the struct
 *    net_conn * (TCP/TLS) the message came on, and its scope the arrival
 *    interface (a link-local client's reply needs it); turn hands both back
 *    in send_client and never looks at them.
 *  - send_client: UDP joins the worker's batch on the listener's fd, by
 *    reference for TURN_BUF_CALLER (a relayed datagram framed in place in
 *    the receive slot) or copied for TURN_BUF_SCRATCH (a response); TCP is
 *    appended to the stream's bounded output (backpressure closes it, and
 *    the close ends its allocation).
 *  - link_hold: turn counts the allocations made over a stream; while one
 *    holds it the stream has no idle timeout. turn is the one owner of that
 *    count.
 *  - tcp_*: RFC 6062 relays (tcp_relay.h): listeners, data connections, and
 *    a ConnectionBind for another worker's connection handed over there
 *    before turn sees it.
 *  - event: what the operator should hear of, logged by events.c.
 *  - Settings: from the worker's generation (gen.h); a new generation
 *    reconfigures turn between loop passes.
 *  - Time: w->now, read once per callback; wall-clock seconds (REST username
 *    expiry) updated per request and per tick, never per relayed packet.
 *  - turn_expire runs from one periodic event per worker (NET_TURN_TICK_MS).
 *  - Memory after a mass release: the pools unmap their empty chunks, but
 *    what turn frees with free() (hash arrays halving, grown time rings,
 *    and everything libevent and the codecs freed meanwhile) stays in
 *    glibc's arenas, whose tops are pinned by live blocks. When a worker's
 *    allocations plus the per-user entries fall to half of their high-water
 *    mark (by at least TRIM_MIN_DROP) the tick calls malloc_trim(0), which
 *    also madvises free pages inside the heaps; at most once per
 *    TRIM_INTERVAL_MS across the process (it walks every arena under their
 *    locks), never per packet.
 */
#include <sys/socket.h>

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "net_internal.h"

static uint64_t
unix_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

int
net_turn_shared_init(struct ice_net *net)
{
	const struct ice_config *cfg = net->cfg;
	struct turn_settings quotas = {
		.max_allocations = cfg->turn.max_allocations,
		.max_allocations_per_user = cfg->turn.max_allocations_per_user,
		.allocations_per_minute_per_user = cfg->turn.allocations_per_minute_per_user,
		.workers = cfg->workers,
		.userhash_table_size = cfg->turn.userhash ? cfg->turn.userhash_table_size : 0,
	};
	size_t i;
	int r;

	pthread_mutex_init(&net->dormant_lock, NULL);
	for (i = 0; i < NET_DORMANT_MAX; i++)
		net->dormant[i].fd = -1;
	if (!cfg->turn.enabled)
		return 0;
	/* TLS is a TURN transport: its certificate is loaded with the rest of
	 * the TURN state, so a bad file fails the start. */
	r = net_tls_init(net);
	if (r < 0)
		return r;
	r = net_relay_addrs_init(net);
	if (r < 0)
		return r;
	r = net_relay_ports_init(net);
	if (r < 0)
		return r;
	r = net_if_addrs_load(net);
	if (r < 0)
		return r;
	net->turn_shared = turn_shared_new(&quotas);
	if (net->turn_shared == NULL) {
		log_errorx("turn: cannot create the shared TURN state");
		return -ENOMEM;
	}
	return 0;
}

struct ltc_userhash *
ice_net_userhash(const struct ice_net *net)
{
	return net->turn_shared != NULL ? turn_shared_userhash(net->turn_shared) : NULL;
}

void
net_turn_shared_fini(struct ice_net *net)
{
	net_dormant_close_all(net);
	net_relay_ports_fini(net);
	net_tls_fini(net);
	turn_shared_free(net->turn_shared);
	net->turn_shared = NULL;
	ice_host_addrs_fini(&net->host_addrs);
	pthread_mutex_destroy(&net->dormant_lock);
}

static void
glue_send_client(void *ctx, const struct turn_5tuple *ft, const uint8_t *buf, size_t len,
                 enum turn_buf where)
{
	struct net_worker *w = ctx;
	const struct net_listener *l;

	if (ft->proto != TURN_PROTO_UDP) {
		net_stream_send(ft->link, buf, len);
		return;
	}
	l = ft->link;
	net_batch_queue(&w->batch, l->fd, false, &ft->client, l->wildcard ? &ft->server : NULL,
	                ft->scope, buf, len, where == TURN_BUF_SCRATCH);
}

/* One quota message to the main thread (NUL-terminated copy of the user). */
static int
glue_quota_post(struct net_worker *w, bool release, const char *user, size_t len, uint64_t cookie)
{
	struct net_quota_msg m = { .release = release, .worker = w->id, .cookie = cookie };

	if (len > TURN_USER_INFO_MAX)
		return -ENAMETOOLONG;
	memcpy(m.user, user, len);
	m.user[len] = '\0';
	m.user_len = (uint16_t)len;
	if (net_replies_post_quota(&w->net->replies, &m) < 0) {
		ice_metrics_inc(w->m, ICE_M_NET_QUOTA_RING_FULL);
		return -ENOBUFS;
	}
	return 0;
}

static int
glue_quota_ask(void *ctx, const char *user, size_t len, uint64_t cookie)
{
	return glue_quota_post(ctx, false, user, len, cookie);
}

static void
glue_quota_release(void *ctx, const char *user, size_t len)
{
	(void)glue_quota_post(ctx, true, user, len, 0);
}

static void
glue_link_hold(void *ctx, void *link, int delta)
{
	(void)ctx;
	net_stream_hold(link, delta);
}

int
net_turn_worker_init(struct net_worker *w)
{
	struct turn_io io = {
		.relay_open = net_relay_open,
		.relay_close = net_relay_close,
		.send_client = glue_send_client,
		.send_peer = net_relay_send_peer,
		.link_hold = glue_link_hold,
		.event = net_turn_event,
		.quota_ask = glue_quota_ask,
		.quota_release = glue_quota_release,
		.tcp_relay_open = net_tcp_relay_open,
		.tcp_relay_close = net_tcp_relay_close,
		.tcp_connect = net_tcp_connect,
		.tcp_bind = net_tcp_bind,
		.tcp_close = net_tcp_close,
		.ctx = w,
		.dont_fragment = net_relay_can_df(),
	};

	w->turn = NULL;
	w->relay_ep = -1;
	if (w->net->turn_shared == NULL)
		return 0;
	if (net_relay_worker_init(w) < 0 || net_tcp_relay_worker_init(w) < 0)
		return -ENOMEM;
	w->turn = turn_server_new(&w->gen->turn, w->net->turn_shared, &io, w->id, net_clock_ms(),
	                          unix_seconds());
	return w->turn == NULL ? -ENOMEM : 0;
}

void
net_turn_reconfigure(struct net_worker *w)
{
	if (w->turn == NULL)
		return;
	turn_server_set_unix_time(w->turn, unix_seconds());
	(void)turn_server_reconfigure(w->turn, &w->gen->turn, w->now);
}

enum {
	TRIM_MIN_DROP = 1024,    /* allocations (or user entries) gone before a trim is worth it */
	TRIM_INTERVAL_MS = 5000, /* process-wide: malloc_trim locks every arena */
};

/* Per worker thread (each runs its own tick): the state held (this worker's
 * allocations plus the process's per-user quota entries) at the high-water
 * mark and at the previous tick. The user entries count because their reap,
 * a minute after a burst of one-shot users, shrinks the user index: its
 * smaller arrays and the freed ones are left in a worker's arena. */
static _Thread_local size_t trim_high, trim_prev;
static _Atomic ice_ms_t trim_last;

/* Hand freed heap memory back to the kernel after a large release; see the top. */
static void
maybe_trim(struct net_worker *w)
{
	size_t n = turn_server_allocations(w->turn) + turn_shared_users(w->net->turn_shared);
	size_t prev = trim_prev;
	ice_ms_t last;

	trim_prev = n;
	if (n >= trim_high) {
		trim_high = n;
		return;
	}
	/* Wait for the release to settle (no drop since the last tick): trimming
	 * halfway through would leave the rest of it in the arena. */
	if (n != prev || trim_high - n < TRIM_MIN_DROP || n > trim_high / 2)
		return;
	last = atomic_load_explicit(&trim_last, memory_order_relaxed);
	if (last != 0 && w->now - last < TRIM_INTERVAL_MS)
		return;
	if (!atomic_compare_exchange_strong(&trim_last, &last, w->now))
		return; /* another worker is trimming now */
	trim_high = n;
	malloc_trim(0);
}

static void
turn_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct net_worker *w = arg;

	(void)fd;
	(void)what;
	w->now = net_clock_ms();
	turn_server_set_unix_time(w->turn, unix_seconds());
	turn_expire(w->turn, w->now);
	net_spare_expire(w, w->now);
	net_batch_flush(&w->batch);
	maybe_trim(w);
}

int
net_turn_worker_start(struct net_worker *w)
{
	const struct timeval tick = { 0, NET_TURN_TICK_MS * 1000 };

	if (w->turn == NULL)
		return 0;
	turn_server_set_metrics(w->turn, w->m);
	w->ev_turn_tick = event_new(w->base, -1, EV_PERSIST, turn_on_tick, w);
	if (w->ev_turn_tick == NULL || event_add(w->ev_turn_tick, &tick) < 0)
		return -ENOMEM;
	return 0;
}

void
net_turn_worker_fini(struct net_worker *w)
{
	if (w->ev_turn_tick != NULL)
		event_free(w->ev_turn_tick);
	w->ev_turn_tick = NULL;
	/* Ends every allocation: relay_close for each relay socket. */
	turn_server_free(w->turn);
	w->turn = NULL;
	net_tcp_relay_worker_fini(w);
	net_relay_worker_fini(w);
}

long
net_turn_dispatch(struct net_worker *w, const struct net_pkt *pkt, const struct stun_frame *f)
{
	struct turn_5tuple ft = {
		.client = pkt->remote,
		.server = pkt->local,
		.scope = pkt->ifindex,
	};

	if (w->turn == NULL || !(pkt->l->roles & NET_ROLE_TURN)) {
		ice_metrics_inc(w->m, ICE_M_NET_TURN_UNHANDLED);
		return 0;
	}
	if (pkt->transport == ICE_TRANSPORT_UDP) {
		ft.proto = TURN_PROTO_UDP;
		ft.link = pkt->l;
	} else if (f->kind == STUN_FRAME_STUN && net_tcp_want_handover(w, pkt->conn, &f->msg)) {
		return 0; /* an RFC 6062 data connection for another worker */
	} else {
		ft.proto = pkt->transport == ICE_TRANSPORT_TLS ? TURN_PROTO_TLS : TURN_PROTO_TCP;
		ft.link = pkt->conn;
	}
	if (f->kind == STUN_FRAME_STUN && f->msg.cls == STUN_CLASS_REQUEST)
		turn_server_set_unix_time(w->turn, unix_seconds());
	return turn_handle_frame(w->turn, f, &ft, w->now);
}

void
net_turn_stream_closed(struct net_worker *w, struct net_conn *conn)
{
	struct turn_5tuple ft;

	/* Also without a hold: an Allocate over it may wait for the cluster. */
	if (w->turn == NULL)
		return;
	ft.client = *net_stream_remote(conn);
	ft.server = *net_stream_local(conn);
	ft.proto =
		net_stream_transport(conn) == ICE_TRANSPORT_TLS ? TURN_PROTO_TLS : TURN_PROTO_TCP;
	ft.scope = 0;
	ft.link = conn;
	turn_close_5tuple(w->turn, &ft, w->now);
	/* turn releases its hold as it ends the allocation: one owner. */
	if (net_stream_holds(conn) != 0)
		log_warnx("turn: worker %u: a closed stream is still held by %u allocation(s)",
		          w->id, net_stream_holds(conn));
}
