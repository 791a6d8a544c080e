/*
 * Relay sockets: what struct turn_io asks of the world. One UDP socket per
 * allocation (and address family), bound on a relay address and a port of
 * relay-port-range drawn at random (relay_ports.c), polled through the
 * worker's own epoll set. No SO_REUSEADDR or SO_REUSEPORT here, so two
 * relays can never share a port.
 *
 * Peer datagrams are read with recvmmsg into the worker's batch (batch.h),
 * whose slots keep room around each datagram so turn frames the Data
 * indication or ChannelData in place; send_client queues them by reference
 * and the batch goes out with one sendmmsg per listener socket. Datagrams
 * to peers join the same batch, keyed by relay fd.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "net_internal.h"

bool
net_relay_can_df(void)
{
#if defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_DO) && defined(IPV6_DONTFRAG)
	return true;
#else
	return false;
#endif
}

static int
relay_set_df(int fd, int family, bool on)
{
	int v;

	if (family == AF_INET) {
		v = on ? IP_PMTUDISC_DO : IP_PMTUDISC_WANT;
		return setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	}
	v = on ? 1 : 0;
	return setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &v, sizeof(v));
}

/*
 * Size s's socket buffers for media, once, when it first carries a datagram
 * either way. Most relays never do (a browser drops the relay candidate when
 * a direct path wins), and these are two of the six syscalls a fresh relay
 * cost (socket, bind, two setsockopt, epoll_ctl, close). The first
 * datagrams of a relay are ICE checks, small and paced, so the default
 * buffer holds them until the media starts. ICMP errors (relay_icmp.c) are
 * asked for here too: only a relay that has sent can get one.
 */
static void
relay_size_bufs(struct net_relay *s)
{
	int v = NET_RELAY_SOCK_BUF;

	s->bufs_sized = true;
	(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	(void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	(void)net_relay_recverr_on(s->fd, s->bound.family);
}

/* Drain one ready relay socket (at most NET_UDP_MAX_BATCHES recvmmsg). */
static void
relay_read(struct net_worker *w, struct net_relay *s)
{
	struct ice_addr peer;
	struct msghdr *mh;
	unsigned batch, i, k, first, room;
	int n, fd = s->fd, handle = s->handle;

	if (!s->bufs_sized && !s->spare)
		relay_size_bufs(s);
	for (batch = 0; batch < NET_UDP_MAX_BATCHES; batch++) {
		first = net_batch_rx_slots(&w->batch, false, &room);
		n = recvmmsg(fd, w->batch.rx_msgs + first, room, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* An ICMP error queued since the last read
			 * (ECONNREFUSED, EHOSTUNREACH, ...): read the queue,
			 * then the datagrams behind it. */
			if (net_relay_read_errors(w, s) > 0 &&
			    net_relay_slot(&w->relays, handle) == s && s->fd == fd)
				continue;
			ice_metrics_inc(w->m, ICE_M_NET_RELAY_RX_ERRORS);
			break;
		}
		ice_metrics_add(w->m, ICE_M_NET_RELAY_RX, (uint64_t)n);
		if (s->spare) {
			/* Late datagrams for a released allocation. */
			ice_metrics_add(w->m, ICE_M_NET_RELAY_SPARE_DROPPED, (uint64_t)n);
			s->spare_busy = true;
			net_batch_rx_done(&w->batch, first, (unsigned)n);
			if ((unsigned)n < room)
				break;
			continue;
		}
		for (i = 0; i < (unsigned)n; i++) {
			k = first + i;
			mh = &w->batch.rx_msgs[k].msg_hdr;
			if (mh->msg_flags & MSG_TRUNC) {
				ice_metrics_inc(w->m, ICE_M_NET_RELAY_TRUNCATED);
				continue;
			}
			if (ice_addr_from_sockaddr(&peer,
			                           (struct sockaddr *)&w->batch.rx_names[k]) < 0)
				continue;
			turn_handle_peer(w->turn, handle, &peer, net_batch_rx_data(&w->batch, k),
			                 w->batch.rx_msgs[k].msg_len, w->now);
		}
		/* The framed datagrams point into the slots: held until the
		 * send batch goes out (end of the loop iteration). */
		net_batch_rx_done(&w->batch, first, (unsigned)n);
		/* turn may have closed this very relay (it never does from
		 * turn_handle_peer today, but the slot would be reused, or its
		 * chunk freed: look it up again rather than trust s). */
		if ((unsigned)n < room || net_relay_slot(&w->relays, handle) != s || s->fd != fd)
			break;
	}
}

/*
 * The relay set is readable: read every relay it reports ready, its error
 * queue first (EPOLLERR: ICMP errors, relay_icmp.c), so its datagrams are
 * not held up by their report. Level triggered, so a relay left with data
 * or errors (batch caps) or beyond NET_RELAY_EVENTS keeps the set readable
 * and comes back next pass.
 */
static void
relay_ep_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct epoll_event evs[NET_RELAY_EVENTS];
	struct net_worker *w = arg;
	struct net_relay *s;
	int i, n;

	(void)what;
	w->now = net_clock_ms();
	n = epoll_wait(fd, evs, NET_RELAY_EVENTS, 0);
	for (i = 0; i < n; i++) {
		s = net_relay_slot(&w->relays, (int)evs[i].data.u32);
		/* Closed earlier in this pass: close() left the set already. */
		if (s == NULL || s->fd < 0)
			continue;
		if (evs[i].events & EPOLLERR)
			(void)net_relay_read_errors(w, s);
		if (evs[i].events & EPOLLIN)
			relay_read(w, s);
	}
}

/* The worker's relay epoll set and its event (before the worker thread runs). */
static int
relay_ep_open(struct net_worker *w)
{
	w->relay_ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->relay_ep < 0)
		return -errno;
	w->ev_relay_ep = event_new(w->base, w->relay_ep, EV_READ | EV_PERSIST, relay_ep_on_read, w);
	if (w->ev_relay_ep == NULL || event_add(w->ev_relay_ep, NULL) < 0) {
		if (w->ev_relay_ep != NULL)
			event_free(w->ev_relay_ep);
		w->ev_relay_ep = NULL;
		close(w->relay_ep);
		w->relay_ep = -1;
		return -ENOMEM;
	}
	return 0;
}

/* Make s (fd set; in the relay set unless fresh) the relay of the allocation req asks for. */
static int
relay_activate(struct net_worker *w, struct net_relay *s, const struct turn_relay_req *req,
               bool fresh)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)s->handle };

	if (fresh && epoll_ctl(w->relay_ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	s->df_alloc = req->dont_fragment;
	s->df_on = false;
	if (req->dont_fragment) {
		if (relay_set_df(s->fd, s->bound.family, true) < 0)
			return -errno;
		s->df_on = true;
	}
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_SOCKETS);
	return 0;
}

void
net_relay_release(struct net_worker *w, struct net_relay *s, bool quarantine)
{
	/* close() takes the socket out of the relay set (never dup'ed). */
	if (s->fd >= 0) {
		close(s->fd);
		net_relay_port_release(w, &s->bound, s->row, quarantine);
	}
	net_relay_slot_put(w, s);
}

/* A relay never handed out: closed, its port free again at once. */
static int
relay_open_fail(struct net_worker *w, struct net_relay *s, int r)
{
	if (s != NULL)
		net_relay_release(w, s, false);
	if (r == -EAFNOSUPPORT)
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_NO_ADDRESS);
	else if (r == -EADDRINUSE || r == -ENOSPC)
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_PORTS_EXHAUSTED);
	else
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_OPEN_ERROR);
	return r;
}

/* The dormant reservation req->adopt becomes a relay of this worker. */
static int
relay_adopt(struct net_worker *w, const struct turn_relay_req *req, struct net_relay **sp)
{
	struct net_relay *s = net_relay_slot_get(w);
	int r;

	if (s == NULL)
		return -ENOSPC;
	r = net_dormant_take(w, req->adopt, &s->bound);
	if (r < 0) {
		net_relay_slot_put(w, s);
		return r;
	}
	s->fd = r;
	s->row = (uint8_t)net_relay_row(w->net, &s->bound);
	*sp = s;
	return 0;
}

/* Park fd2 (bound on s's port + 1) as s's dormant reservation: 0 with
 * res->reserved_handle, or -ENOSPC (fd2 closed, its port free). */
static int
relay_reserve(struct net_worker *w, struct net_relay *s, int fd2, struct turn_relay_res *res)
{
	struct ice_addr b = s->bound;

	b.port = (uint16_t)(b.port + 1);
	res->reserved_handle = net_dormant_put(w, fd2, &b);
	if (res->reserved_handle >= 0)
		return 0;
	close(fd2);
	net_relay_port_release(w, &b, s->row, false);
	res->reserved_handle = -1;
	return -ENOSPC;
}

int
net_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res)
{
	struct net_worker *w = ctx;
	struct net_relay *s = NULL;
	int r, fd2 = -1;
	bool fresh;

	res->reserved_handle = -1;
	if (req->adopt >= 0)
		r = relay_adopt(w, req, &s);
	else
		r = net_relay_pick(w, req, &s, &fd2);
	if (r < 0)
		return relay_open_fail(w, NULL, r);
	fresh = r == 0; /* a spare is in the relay set already */
	r = relay_activate(w, s, req, fresh);
	if (r < 0) {
		if (fd2 >= 0) {
			struct ice_addr b = s->bound;

			close(fd2);
			b.port = (uint16_t)(b.port + 1);
			net_relay_port_release(w, &b, s->row, false);
		}
		return relay_open_fail(w, s, r);
	}
	if (fd2 >= 0 && relay_reserve(w, s, fd2, res) < 0) {
		net_relay_close(w, s->handle);
		return relay_open_fail(w, NULL, -ENOSPC);
	}
	res->handle = s->handle;
	res->bound = s->bound;
	return 0;
}

void
net_relay_close(void *ctx, int handle)
{
	struct net_worker *w = ctx;
	struct ice_addr bound;
	struct net_relay *s;
	int fd;

	if (handle >= NET_DORMANT_BASE) {
		fd = net_dormant_take(w, handle, &bound);
		if (fd >= 0) {
			close(fd);
			net_relay_port_release(w, &bound, net_relay_row(w->net, &bound), true);
		}
		return;
	}
	s = net_relay_slot(&w->relays, handle);
	if (s == NULL || s->fd < 0 || s->spare)
		return;
	/* A queued datagram to this fd must not go out on a reused number. */
	net_batch_flush_fd(&w->batch, s->fd);
	ice_metrics_dec(w->m, ICE_M_NET_RELAY_SOCKETS);
	if (!net_spare_put(w, s))
		net_relay_release(w, s, true);
}

void
net_relay_send_peer(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf,
                    size_t len, unsigned flags)
{
	struct net_worker *w = ctx;
	struct net_relay *s = net_relay_slot(&w->relays, handle);
	bool df;

	if (s == NULL || s->fd < 0)
		return;
	if (!s->bufs_sized)
		relay_size_bufs(s);
	/* DF per Send indication: the socket option follows the last one
	 * asked, so a client that always (or never) asks costs no syscall. */
	df = s->df_alloc || (flags & TURN_SEND_DF);
	if (df != s->df_on) {
		net_batch_flush_fd(&w->batch, s->fd);
		if (relay_set_df(s->fd, s->bound.family, df) == 0)
			s->df_on = df;
	}
	net_batch_queue(&w->batch, s->fd, true, peer, NULL, 0, buf, len, false);
}

int
net_relay_worker_init(struct net_worker *w)
{
	const struct ice_config *cfg = w->net->cfg;
	int r;

	w->relay_ep = -1;
	r = net_relay_pick_init(w);
	if (r < 0)
		return r;
	/* Every allocation may sit on one worker (hashing is the kernel's),
	 * with a relay per family, plus adopted reservations. */
	r = net_relay_table_init(&w->relays,
	                         (size_t)cfg->turn.max_allocations * 2 + NET_DORMANT_MAX);
	if (r < 0)
		return r;
	return relay_ep_open(w);
}

void
net_relay_worker_fini(struct net_worker *w)
{
	struct net_relay *s;

	/* Spares through their lists, so the lists and the gauge end empty. */
	(void)net_spare_close(w, AF_UNSPEC);
	/* By handle, top down: a release may free chunks above it (never the
	 * slot it is looking at), so each slot is looked up afresh. */
	for (int h = net_relay_table_span(&w->relays) - 1; h >= 0; h--) {
		s = net_relay_slot(&w->relays, h);
		if (s != NULL && s->fd >= 0)
			net_relay_release(w, s, false);
	}
	net_relay_table_fini(&w->relays);
	net_relay_pick_fini(w);
	if (w->ev_relay_ep != NULL)
		event_free(w->ev_relay_ep);
	w->ev_relay_ep = NULL;
	if (w->relay_ep >= 0)
		close(w->relay_ep);
	w->relay_ep = -1;
}
