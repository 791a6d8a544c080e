/*
 * THE TURN SEAM: the pure state machine (include/icestation/turn.h) on the
 * worker's sockets. One turn_shared for the process (created with the net
 * layer), one turn_server per worker, touched only by that worker's thread.
 *
 *  - Dispatch: on a listener whose roles include NET_ROLE_TURN, STUN
 *    requests and indications of TURN methods go to turn_handle_stun and
 *    ChannelData to turn_handle_channeldata (stream framing on TCP). Binding
 *    never gets here: dispatch.c answers it on its stateless fast path, the
 *    same on STUN and TURN ports (turn_handle_stun would answer it too).
 *    A STUN-only listener drops TURN traffic and counts it as
 *    icestation_net_turn_unhandled_total; silence, not a 4xx, so a client
 *    pointed at the wrong port retries elsewhere as it would after loss.
 *  - The 5-tuple's link is the struct net_listener * (UDP) or the struct
 *    net_conn * (TCP) the message came on; turn hands it back in send_client.
 *  - send_client: UDP joins the worker's sendmmsg batch on the listener's fd,
 *    by reference for TURN_BUF_CALLER (a relayed datagram framed in place in
 *    the receive slot) or copied for TURN_BUF_SCRATCH (a response); TCP is
 *    appended to the connection's bounded output (backpressure closes it,
 *    and the close ends its allocation).
 *  - Time: w->now, read once per callback; wall-clock seconds (REST username
 *    expiry) updated per request and per tick, never per relayed packet.
 *  - turn_expire runs from one periodic event per worker (NET_TURN_TICK_MS).
 *  - Memory after a mass release: the pools unmap their empty chunks, but
 *    what turn frees with free() (hash arrays halving, grown time rings,
 *    and everything libevent and the codecs freed meanwhile) stays in
 *    glibc's arenas, whose tops are pinned by live blocks. When a worker's
 *    allocations plus the per-user entries fall to half of their high-water
 *    mark (by at least TRIM_MIN_DROP) the tick calls malloc_trim(0), which
 *    also madvises free
 *    pages inside the heaps; at most once per TRIM_INTERVAL_MS across the
 *    process (it walks every arena under their locks), never per packet.
 *
 * Relay sockets are relay.c's; the TCP idle exemption of a connection that
 * carries an allocation is tcp.c's (net_tcp_hold, driven by relay open/close).
 */
#include <sys/socket.h>

#include <errno.h>
#include <ifaddrs.h>
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

/* Every interface address, for the "self" part of the peer policy. */
static int
if_addrs_load(struct ice_net *net)
{
	struct ifaddrs *ifa, *i;
	struct ice_addr a;
	size_t n = 0;

	if (getifaddrs(&ifa) < 0) {
		log_error("net: getifaddrs");
		return -errno;
	}
	for (i = ifa; i != NULL; i = i->ifa_next)
		n++;
	net->if_addrs = calloc(n ? n : 1, sizeof(net->if_addrs[0]));
	if (net->if_addrs == NULL) {
		freeifaddrs(ifa);
		return -ENOMEM;
	}
	for (i = ifa; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && ice_addr_from_sockaddr(&a, i->ifa_addr) == 0)
			net->if_addrs[net->n_if_addrs++] = a;
	freeifaddrs(ifa);
	return 0;
}

int
net_turn_shared_init(struct ice_net *net)
{
	const struct ice_config *cfg = net->cfg;
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
	r = if_addrs_load(net);
	if (r < 0)
		return r;
	net->turn_shared = turn_shared_new(cfg);
	if (net->turn_shared == NULL) {
		log_errorx("turn: cannot create the shared TURN state");
		return -ENOMEM;
	}
	return 0;
}

void
net_turn_shared_fini(struct ice_net *net)
{
	net_dormant_close_all(net);
	net_tls_fini(net);
	turn_shared_free(net->turn_shared);
	net->turn_shared = NULL;
	free(net->if_addrs);
	net->if_addrs = NULL;
	net->n_if_addrs = 0;
	pthread_mutex_destroy(&net->dormant_lock);
}

static void
glue_send_client(void *ctx, const struct turn_5tuple *ft, const uint8_t *buf, size_t len,
                 enum turn_buf where)
{
	struct net_worker *w = ctx;
	const struct net_listener *l;
	int ifindex = 0;

	if (ft->proto != TURN_PROTO_UDP) {
		net_tcp_send(ft->link, buf, len);
		return;
	}
	l = ft->link;
	/* A v6 link-local client needs the arrival interface; only the packet
	 * being handled knows it (relayed data goes to global addresses). */
	if (w->cur_pkt != NULL && w->cur_pkt->l == l)
		ifindex = w->cur_pkt->ifindex;
	net_udp_queue(w, l->fd, false, &ft->client, l->wildcard ? &ft->server : NULL, ifindex, buf,
	              len, where == TURN_BUF_SCRATCH);
}

/* The server's own addresses: what every listener is bound to, or every
 * interface address behind a wildcard one, and the relay addresses. */
static void
add_self_addresses(struct net_worker *w)
{
	const struct ice_net *net = w->net;
	const struct net_listener *l;
	size_t i, k;
	int r = 0;

	for (i = 0; i < w->n_listeners && r == 0; i++) {
		l = &w->listeners[i];
		if (!l->wildcard) {
			r = turn_server_add_self_address(w->turn, &l->addr);
			continue;
		}
		for (k = 0; k < net->n_if_addrs && r == 0; k++)
			if (net->if_addrs[k].family == l->addr.family)
				r = turn_server_add_self_address(w->turn, &net->if_addrs[k]);
	}
	for (k = 0; k < net->n_relay_addrs && r == 0; k++)
		r = turn_server_add_self_address(w->turn, &net->relay_addrs[k]);
	if (r < 0 && w->id == 0)
		log_warnx("turn: too many local addresses for the self-address list; the "
		          "relay-ip-range and listen addresses are still denied as peers");
}

int
net_turn_worker_init(struct net_worker *w)
{
	struct turn_io io = {
		.relay_open = net_relay_open,
		.relay_close = net_relay_close,
		.send_client = glue_send_client,
		.send_peer = net_relay_send_peer,
		.ctx = w,
		.dont_fragment = net_relay_can_df(),
	};

	w->turn = NULL;
	w->relay_free = -1;
	w->relay_ep = -1;
	if (w->net->turn_shared == NULL)
		return 0;
	if (net_relay_worker_init(w) < 0)
		return -ENOMEM;
	w->turn = turn_server_new(w->cfg, w->net->turn_shared, &io, net_clock_ms(), unix_seconds());
	if (w->turn == NULL)
		return -ENOMEM;
	add_self_addresses(w);
	return 0;
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
	net_relay_spare_expire(w, w->now);
	net_udp_flush(w);
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
	net_relay_worker_fini(w);
}

static void
turn_ft(struct turn_5tuple *ft, const struct net_pkt *pkt)
{
	ft->client = pkt->remote;
	ft->server = pkt->local;
	if (pkt->transport == ICE_TRANSPORT_UDP) {
		ft->proto = TURN_PROTO_UDP;
		ft->link = pkt->l;
	} else {
		ft->proto = pkt->transport == ICE_TRANSPORT_TLS ? TURN_PROTO_TLS : TURN_PROTO_TCP;
		ft->link = pkt->conn;
	}
}

void
net_turn_dispatch(struct net_worker *w, const struct net_pkt *pkt, const struct stun_msg *msg,
                  const uint8_t *buf, size_t len)
{
	struct turn_5tuple ft;
	const uint8_t *data;
	size_t data_len;
	uint16_t channel;

	if (w->turn == NULL || !(pkt->l->roles & NET_ROLE_TURN)) {
		ice_metrics_inc(w->m, ICE_M_NET_TURN_UNHANDLED);
		return;
	}
	turn_ft(&ft, pkt);
	if (msg == NULL) {
		if (channeldata_parse(buf, len, pkt->transport != ICE_TRANSPORT_UDP, &channel,
		                      &data, &data_len) < 0) {
			ice_metrics_inc(w->m, ICE_M_TURN_DROP_MALFORMED);
			return;
		}
		turn_handle_channeldata(w->turn, &ft, channel, data, data_len, w->now);
		return;
	}
	if (msg->cls == STUN_CLASS_REQUEST)
		turn_server_set_unix_time(w->turn, unix_seconds());
	w->cur_pkt = pkt;
	turn_handle_stun(w->turn, msg, &ft, w->now);
	w->cur_pkt = NULL;
}

/* Relay slots still pointing at conn after turn ended its allocation: a
 * 5-tuple mismatch between the Allocate and the close. Never expected; detach
 * so the slots cannot reach a freed connection. */
static void
detach_conn(struct net_worker *w, struct net_conn *conn)
{
	struct net_relay *s;
	size_t c, i;

	for (c = 0; c < w->n_relay_chunks; c++) {
		for (i = 0; i < NET_RELAY_CHUNK; i++) {
			s = &w->relay_chunks[c][i];
			if (s->fd >= 0 && s->conn == conn) {
				s->conn = NULL;
				net_tcp_hold(conn, -1);
			}
		}
	}
	log_warnx("turn: worker %u: a closed TCP connection still held relay sockets", w->id);
}

void
net_turn_conn_closed(struct net_worker *w, struct net_conn *conn)
{
	struct turn_5tuple ft;

	if (w->turn == NULL || net_tcp_holds(conn) == 0)
		return;
	ft.client = *net_tcp_remote(conn);
	ft.server = *net_tcp_local(conn);
	ft.proto = net_tcp_transport(conn) == ICE_TRANSPORT_TLS ? TURN_PROTO_TLS : TURN_PROTO_TCP;
	ft.link = conn;
	turn_close_5tuple(w->turn, &ft, w->now);
	if (net_tcp_holds(conn) > 0)
		detach_conn(w, conn);
}
