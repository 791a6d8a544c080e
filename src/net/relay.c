/*
 * Relay sockets: what struct turn_io asks of the world. One UDP socket per
 * allocation (and address family), bound on a local address inside
 * relay-ip-range and a port of relay-port-range, polled on the worker's own
 * event_base. Every worker binds from the same range: bind() is the arbiter,
 * EADDRINUSE sends us to the next port. No SO_REUSEADDR/REUSEPORT here, so
 * two relays can never share a port.
 *
 * A handle is an index into the worker's slot table (chunks of
 * NET_RELAY_CHUNK, allocated lazily up to what max-allocations needs; slot
 * pointers stay stable while the slot is in use, and events carry handles,
 * not pointers): O(1) handle -> fd. When the two top chunks are both empty
 * the top one is freed (one empty chunk stays to absorb churn), so the table
 * shrinks back after a mass release instead of pinning the worker's heap.
 * Dormant EVEN-PORT reservations live in one process-wide table behind a
 * mutex (Allocate time only), since the client may come back through another
 * worker to adopt one.
 *
 * Peer datagrams are read with recvmmsg into the worker's receive slots,
 * which keep TURN_PEER_HEADROOM bytes in front and TURN_PEER_TAILROOM behind
 * each datagram so turn frames the Data indication or ChannelData in place;
 * its send_client queues them by reference and the batch goes out with one
 * sendmmsg per listener socket. Datagrams to peers join the same send batch,
 * keyed by relay fd.
 */
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "net_internal.h"

static bool
relay_range_has(const struct ice_config *cfg, const struct ice_addr *a)
{
	size_t i;

	for (i = 0; i < cfg->turn.n_relay_ip_range; i++)
		if (ice_cidr_contains(&cfg->turn.relay_ip_range[i], a))
			return true;
	return false;
}

/* Add a to the relay address list unless it is there already or the list is full. */
static void
relay_addr_add(struct ice_net *net, const struct ice_addr *a)
{
	size_t k;

	for (k = 0; k < net->n_relay_addrs; k++)
		if (ice_addr_ip_equal(&net->relay_addrs[k], a))
			return;
	if (k < NET_MAX_RELAY_ADDRS)
		net->relay_addrs[net->n_relay_addrs++] = *a;
}

/*
 * A single-host entry (/32, /128) names the address to bind as given: the
 * host may own it without listing it on an interface (127.0.0.2 on lo, an
 * AnyIP route, a VIP). bind() on port 0 says whether it is local; a refusal
 * fails the start with the entry named, rather than the first Allocate.
 */
static int
relay_host_add(struct ice_net *net, const struct ice_cidr *c)
{
	struct sockaddr_storage ss;
	char buf[ICE_ADDR_STRLEN];
	struct ice_addr a = { 0 };
	socklen_t sslen;
	int fd, err = 0;

	a.family = c->family;
	memcpy(a.ip, c->ip, sizeof(a.ip));
	fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a.family == AF_INET6) {
		int v = 1;

		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	sslen = ice_addr_to_sockaddr(&a, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		err = errno;
	close(fd);
	if (err != 0) {
		log_errorx("turn: relay-ip-range %s: cannot bind relay sockets there (%s): "
		           "the address is not local to this host",
		           ice_cidr_str(c, buf, sizeof(buf)), strerror(err));
		return -EADDRNOTAVAIL;
	}
	relay_addr_add(net, &a);
	return 0;
}

/*
 * A public IP outside relay-ip-range is a NAT in front of the relays: every
 * relay of that family is advertised on it (turn/alloc.c), so two relay
 * addresses could hand out the same advertised port. Keep the first address
 * of that family only, as one public IP maps to one private one.
 */
static void
relay_addrs_behind_nat(struct ice_net *net)
{
	const struct ice_addr *pub = &net->cfg->turn.public_ip.addr;
	char buf[ICE_ADDR_STRLEN], pbuf[ICE_ADDR_STRLEN];
	size_t k, n = 0;
	bool seen = false;

	if (pub->family == 0 || relay_range_has(net->cfg, pub))
		return;
	for (k = 0; k < net->n_relay_addrs; k++) {
		if (net->relay_addrs[k].family == pub->family) {
			if (seen) {
				log_warnx(
					"turn: relay address %s not used: public-ip %s is outside "
					"relay-ip-range (NAT), and one public IP fronts one relay "
					"address",
					ice_addr_ip_str(&net->relay_addrs[k], buf, sizeof(buf)),
					ice_addr_ip_str(pub, pbuf, sizeof(pbuf)));
				continue;
			}
			seen = true;
		}
		net->relay_addrs[n++] = net->relay_addrs[k];
	}
	net->n_relay_addrs = n;
}

int
net_relay_addrs_init(struct ice_net *net)
{
	const struct ice_config *cfg = net->cfg;
	char buf[ICE_ADDR_STRLEN];
	struct ifaddrs *ifa = NULL, *i;
	struct ice_addr a;
	const struct ice_cidr *c;
	bool wide = false;
	size_t k;
	int r;

	net->n_relay_addrs = 0;
	for (k = 0; k < cfg->turn.n_relay_ip_range; k++) {
		c = &cfg->turn.relay_ip_range[k];
		if (c->prefix != (c->family == AF_INET ? 32 : 128)) {
			wide = true;
			continue;
		}
		r = relay_host_add(net, c);
		if (r < 0)
			return r;
	}
	if (wide || cfg->turn.n_relay_ip_range == 0) {
		if (getifaddrs(&ifa) < 0) {
			log_error("net: getifaddrs");
			return -errno;
		}
		for (i = ifa; i != NULL; i = i->ifa_next) {
			if (i->ifa_addr == NULL || ice_addr_from_sockaddr(&a, i->ifa_addr) < 0)
				continue;
			/* A link-local relay would need a scope id in every sendto. */
			if (a.family == AF_INET6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80)
				continue;
			if (relay_range_has(cfg, &a))
				relay_addr_add(net, &a);
		}
		freeifaddrs(ifa);
	}
	relay_addrs_behind_nat(net);
	if (net->n_relay_addrs == 0) {
		log_errorx("turn: no local interface address inside relay-ip-range%s%s: relay "
		           "sockets could not bind; set relay-ip-range to an address of this host",
		           cfg->turn.n_relay_ip_range ? " " : "",
		           cfg->turn.n_relay_ip_range
		                   ? ice_cidr_str(&cfg->turn.relay_ip_range[0], buf, sizeof(buf))
		                   : "");
		return -EADDRNOTAVAIL;
	}
	for (k = 0; k < net->n_relay_addrs; k++)
		log_info("turn: relays bind %s",
		         ice_addr_ip_str(&net->relay_addrs[k], buf, sizeof(buf)));
	return 0;
}

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

/* A bound, non-blocking UDP socket on a:port, or -errno (-EADDRINUSE: try another). */
static int
relay_bind(const struct ice_addr *a, uint16_t port)
{
	struct sockaddr_storage ss;
	struct ice_addr b = *a;
	socklen_t sslen;
	int fd, err, v;

	fd = socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->family == AF_INET6) {
		v = 1;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	b.port = port;
	sslen = ice_addr_to_sockaddr(&b, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	v = NET_RELAY_SOCK_BUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	return fd;
}

static uint64_t
relay_rand(struct net_worker *w)
{
	/* xorshift64: port starts only need to spread, not to be secret
	 * (the 5-tuple a peer must guess is protected by permissions). */
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

/*
 * Bind a relay socket (and, for reserve_next, port+1 too) from a random
 * start, probing at most NET_RELAY_BIND_TRIES ports. *fd2 is -1 unless
 * reserve_next. Returns 0 with *port, or -EADDRINUSE (range exhausted), or
 * another -errno.
 */
static int
relay_bind_range(struct net_worker *w, const struct ice_addr *a, const struct turn_relay_req *req,
                 int *fd, int *fd2, uint16_t *port)
{
	uint32_t lo = w->cfg->turn.relay_port_min, hi = w->cfg->turn.relay_port_max;
	uint32_t step = req->even_port ? 2 : 1, span, start, p, k, tries;
	int r;

	if (req->even_port && lo % 2)
		lo++;
	if (req->reserve_next && hi > lo)
		hi--; /* port+1 must be inside the range too */
	if (hi < lo)
		return -EADDRINUSE;
	span = (hi - lo) / step + 1;
	tries = ICE_MIN(span, (uint32_t)NET_RELAY_BIND_TRIES);
	start = (uint32_t)(relay_rand(w) % span);
	*fd2 = -1;
	for (k = 0; k < tries; k++) {
		p = lo + ((start + k) % span) * step;
		r = relay_bind(a, (uint16_t)p);
		if (r == -EADDRINUSE)
			continue;
		if (r < 0)
			return r;
		*fd = r;
		if (req->reserve_next) {
			int r2 = relay_bind(a, (uint16_t)(p + 1));

			if (r2 < 0) {
				close(*fd);
				if (r2 == -EADDRINUSE)
					continue;
				return r2;
			}
			*fd2 = r2;
		}
		*port = (uint16_t)p;
		return 0;
	}
	return -EADDRINUSE;
}

/*
 * Bind on one of the relay addresses of req->family: allocations are spread
 * round robin over them (each address adds a whole port range), and when
 * one address has no free port within the probe the next is tried. *a is
 * the address bound. -EAFNOSUPPORT when the family has no relay address.
 */
static int
relay_bind_any(struct net_worker *w, const struct turn_relay_req *req, int *fd, int *fd2,
               uint16_t *port, const struct ice_addr **a)
{
	const struct ice_net *net = w->net;
	size_t n = net->n_relay_addrs, k;
	int r = -EAFNOSUPPORT;

	for (k = 0; k < n; k++) {
		const struct ice_addr *c = &net->relay_addrs[(w->relay_rr + k) % n];

		if (c->family != req->family)
			continue;
		r = relay_bind_range(w, c, req, fd, fd2, port);
		if (r == -EADDRINUSE)
			continue;
		if (r == 0) {
			*a = c;
			w->relay_rr = (unsigned)((w->relay_rr + k + 1) % n);
		}
		return r;
	}
	return r;
}

static struct net_relay *
relay_slot(struct net_worker *w, int handle)
{
	size_t c = (size_t)handle / NET_RELAY_CHUNK;

	if (handle < 0 || c >= w->n_relay_chunks)
		return NULL;
	return &w->relay_chunks[c][(size_t)handle % NET_RELAY_CHUNK];
}

/* A chunk of slots with the count of those in use. The count comes last so
 * relay_chunks[c] is the chunk itself and the slots keep the alignment
 * calloc gives them (the hot path's cache-line layout is unchanged). */
struct relay_chunk {
	struct net_relay slots[NET_RELAY_CHUNK];
	size_t used;
};

static struct relay_chunk *
chunk_of(struct net_worker *w, size_t c)
{
	return (struct relay_chunk *)(void *)((char *)w->relay_chunks[c] -
	                                      offsetof(struct relay_chunk, slots));
}

static struct net_relay *
relay_slot_get(struct net_worker *w)
{
	struct relay_chunk *rc;
	struct net_relay *chunk, *s;
	size_t i, base;

	if (w->relay_free < 0) {
		if (w->n_relay_chunks == w->max_relay_chunks)
			return NULL;
		rc = calloc(1, sizeof(*rc));
		if (rc == NULL)
			return NULL;
		chunk = rc->slots;
		base = w->n_relay_chunks * NET_RELAY_CHUNK;
		for (i = 0; i < NET_RELAY_CHUNK; i++) {
			chunk[i].w = w;
			chunk[i].fd = -1;
			chunk[i].handle = (int)(base + i);
			chunk[i].next_free = i + 1 < NET_RELAY_CHUNK ? (int)(base + i + 1) : -1;
		}
		w->relay_chunks[w->n_relay_chunks++] = chunk;
		w->relay_free = (int)base;
	}
	s = relay_slot(w, w->relay_free);
	w->relay_free = s->next_free;
	chunk_of(w, (size_t)s->handle / NET_RELAY_CHUNK)->used++;
	return s;
}

/*
 * Free the top chunks while the one below is empty too, then drop their
 * slots from the free list (one walk of it). Runs only when a chunk has just
 * emptied, on the close path.
 */
static void
relay_chunks_shrink(struct net_worker *w)
{
	size_t n = w->n_relay_chunks;
	int *pp;

	while (n >= 2 && chunk_of(w, n - 1)->used == 0 && chunk_of(w, n - 2)->used == 0)
		n--;
	if (n == w->n_relay_chunks)
		return;
	for (pp = &w->relay_free; *pp >= 0;) {
		if ((size_t)*pp / NET_RELAY_CHUNK >= n)
			*pp = relay_slot(w, *pp)->next_free;
		else
			pp = &relay_slot(w, *pp)->next_free;
	}
	while (w->n_relay_chunks > n) {
		w->n_relay_chunks--;
		free(chunk_of(w, w->n_relay_chunks));
		w->relay_chunks[w->n_relay_chunks] = NULL;
	}
}

static void
relay_slot_put(struct net_worker *w, struct net_relay *s)
{
	s->fd = -1;
	s->conn = NULL;
	s->spare = false;
	s->spare_busy = false;
	s->next_free = w->relay_free;
	w->relay_free = s->handle;
	if (--chunk_of(w, (size_t)s->handle / NET_RELAY_CHUNK)->used == 0)
		relay_chunks_shrink(w);
}

/* Drain one ready relay socket (at most NET_UDP_MAX_BATCHES recvmmsg). */
static void
relay_read(struct net_worker *w, struct net_relay *s)
{
	struct ice_addr peer;
	struct msghdr *mh;
	unsigned batch, i, k, first, room;
	int n, fd = s->fd, handle = s->handle;

	for (batch = 0; batch < NET_UDP_MAX_BATCHES; batch++) {
		first = net_udp_rx_slots(w, false, &room);
		n = recvmmsg(fd, w->rx_msgs + first, room, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ICMP port unreachable from a peer we sent to
			 * surfaces as ECONNREFUSED: not an error of ours. */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED)
				ice_metrics_inc(w->m, ICE_M_NET_RELAY_RX_ERRORS);
			break;
		}
		ice_metrics_add(w->m, ICE_M_NET_RELAY_RX, (uint64_t)n);
		if (s->spare) {
			/* Late datagrams for a released allocation. */
			ice_metrics_add(w->m, ICE_M_NET_RELAY_SPARE_DROPPED, (uint64_t)n);
			s->spare_busy = true;
			net_udp_rx_done(w, first, (unsigned)n);
			if ((unsigned)n < room)
				break;
			continue;
		}
		for (i = 0; i < (unsigned)n; i++) {
			k = first + i;
			mh = &w->rx_msgs[k].msg_hdr;
			if (mh->msg_flags & MSG_TRUNC) {
				ice_metrics_inc(w->m, ICE_M_NET_RELAY_TRUNCATED);
				continue;
			}
			if (ice_addr_from_sockaddr(&peer, (struct sockaddr *)&w->rx_names[k]) < 0)
				continue;
			turn_handle_peer(w->turn, handle, &peer, w->rx_buf[k] + TURN_PEER_HEADROOM,
			                 w->rx_msgs[k].msg_len, w->now);
		}
		/* The framed datagrams point into the slots: held until the
		 * send batch goes out (end of the loop iteration). */
		net_udp_rx_done(w, first, (unsigned)n);
		/* turn may have closed this very relay (it never does from
		 * turn_handle_peer today, but the slot would be reused, or its
		 * chunk freed: look it up again rather than trust s). */
		if ((unsigned)n < room || relay_slot(w, handle) != s || s->fd != fd)
			break;
	}
}

/*
 * The relay set is readable: read every relay it reports ready. Level
 * triggered, so a relay left with data (batch cap) or beyond
 * NET_RELAY_EVENTS keeps the set readable and comes back next pass.
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
		s = relay_slot(w, (int)evs[i].data.u32);
		/* Closed earlier in this pass: close() left the set already. */
		if (s != NULL && s->fd >= 0)
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
	/* An Allocate over TCP: the connection now lives as long as this. */
	if (w->cur_pkt != NULL && w->cur_pkt->conn != NULL) {
		s->conn = w->cur_pkt->conn;
		net_tcp_hold(s->conn, +1);
	}
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_SOCKETS);
	return 0;
}

static void
relay_release(struct net_worker *w, struct net_relay *s)
{
	/* close() takes the socket out of the relay set (never dup'ed). */
	if (s->fd >= 0)
		close(s->fd);
	if (s->conn != NULL)
		net_tcp_hold(s->conn, -1);
	relay_slot_put(w, s);
}

/*
 * Spare relay sockets. Most allocations are released within seconds of
 * being made: a browser gathers a relay candidate for every call and drops
 * it when a direct path wins. A fresh relay socket costs six syscalls
 * (socket, bind, two setsockopt, epoll_ctl and, at the end, close), a
 * quarter of the server's CPU for an Allocate/Refresh(0) cycle. So a
 * released relay stays bound, and in the relay set under its own handle,
 * for up to NET_RELAY_SPARE_MS; the next plain Allocate of its family takes
 * the one released longest ago.
 *
 * Only a quiet spare is reused. A datagram reaching a spare (a peer of the
 * old allocation still sending: media, consent checks) is read, dropped and
 * marks the spare busy; a busy spare is closed instead of reused, and so is
 * one with a datagram queued at the moment it is taken (one MSG_PEEK recv,
 * still far cheaper than a fresh socket). A port some peer still aims at
 * thus never goes to a new client that might permit the same peer address
 * (every client of one SFU does); the port's next owner is the kernel's
 * choice again, as for any closed socket.
 *
 * The spares never hold more than 1/16 of the port range over all workers
 * (spare_cap). A worker that cannot bind (range full, or out of file
 * descriptors) closes its own spares and tries once more before it answers
 * 508; another worker's spares it cannot reach.
 */
static unsigned
family_index(int family)
{
	return family == AF_INET6 ? 1u : 0u;
}

/* Keep s as a spare instead of closing it; false when it must be closed. */
static bool
relay_spare_put(struct net_worker *w, struct net_relay *s)
{
	struct net_spare_ring *r = &w->spare[family_index(s->bound.family)];
	unsigned tail;

	/* DF on: a reset would cost the syscall the spare is meant to save. */
	if (r->n >= w->spare_cap || s->df_on)
		return false;
	if (s->conn != NULL)
		net_tcp_hold(s->conn, -1);
	s->conn = NULL;
	s->spare = true;
	tail = (r->head + r->n++) % NET_RELAY_SPARE_MAX;
	r->e[tail].handle = s->handle;
	r->e[tail].since = w->now;
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE);
	return true;
}

/* The oldest spare of family fi, out of the ring (its fd still open). */
static struct net_relay *
relay_spare_pop(struct net_worker *w, unsigned fi)
{
	struct net_spare_ring *r = &w->spare[fi];
	struct net_relay *s;

	if (r->n == 0)
		return NULL;
	s = relay_slot(w, r->e[r->head].handle);
	r->head = (r->head + 1) % NET_RELAY_SPARE_MAX;
	r->n--;
	s->spare = false;
	ice_metrics_dec(w->m, ICE_M_NET_RELAY_SPARE);
	return s;
}

/* Whether nothing reached s while it was spare and nothing waits on it now. */
static bool
relay_spare_quiet(const struct net_relay *s)
{
	uint8_t b;

	if (s->spare_busy)
		return false;
	return recv(s->fd, &b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) < 0 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A quiet spare for req, or NULL: EVEN-PORT and reservations need ports of
 * their own. Busy spares met on the way are closed. */
static struct net_relay *
relay_spare_take(struct net_worker *w, const struct turn_relay_req *req)
{
	struct net_relay *s;

	if (req->adopt >= 0 || req->even_port || req->reserve_next)
		return NULL;
	while ((s = relay_spare_pop(w, family_index(req->family))) != NULL) {
		if (relay_spare_quiet(s))
			return s;
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE_BUSY);
		relay_release(w, s);
	}
	return NULL;
}

/* Close the spares of family (AF_UNSPEC: all); true if there was one. */
static bool
relay_spare_close(struct net_worker *w, int family)
{
	struct net_relay *s;
	bool any = false;

	for (unsigned fi = 0; fi < 2; fi++) {
		if (family != AF_UNSPEC && fi != family_index(family))
			continue;
		while ((s = relay_spare_pop(w, fi)) != NULL) {
			relay_release(w, s);
			any = true;
		}
	}
	return any;
}

void
net_relay_spare_expire(struct net_worker *w, uint64_t now)
{
	struct net_spare_ring *r;

	for (unsigned fi = 0; fi < 2; fi++) {
		r = &w->spare[fi];
		while (r->n > 0 && now - r->e[r->head].since >= NET_RELAY_SPARE_MS)
			relay_release(w, relay_spare_pop(w, fi));
	}
}

/* Park fd as a dormant reservation; returns its handle or -ENOSPC. */
static int
dormant_put(struct net_worker *w, int fd, const struct ice_addr *bound)
{
	struct ice_net *net = w->net;
	int h = -ENOSPC;
	size_t i;

	pthread_mutex_lock(&net->dormant_lock);
	for (i = 0; i < NET_DORMANT_MAX; i++) {
		if (net->dormant[i].fd < 0) {
			net->dormant[i].fd = fd;
			net->dormant[i].bound = *bound;
			h = NET_DORMANT_BASE + (int)i;
			break;
		}
	}
	pthread_mutex_unlock(&net->dormant_lock);
	if (h >= 0)
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_DORMANT);
	return h;
}

/* Take the dormant socket of handle: its fd (and *bound), or -ENOENT. */
static int
dormant_take(struct net_worker *w, int handle, struct ice_addr *bound)
{
	struct ice_net *net = w->net;
	size_t i = (size_t)(handle - NET_DORMANT_BASE);
	int fd = -ENOENT;

	if (handle < NET_DORMANT_BASE || i >= NET_DORMANT_MAX)
		return -ENOENT;
	pthread_mutex_lock(&net->dormant_lock);
	if (net->dormant[i].fd >= 0) {
		fd = net->dormant[i].fd;
		*bound = net->dormant[i].bound;
		net->dormant[i].fd = -1;
	}
	pthread_mutex_unlock(&net->dormant_lock);
	if (fd >= 0)
		ice_metrics_dec(w->m, ICE_M_NET_RELAY_DORMANT);
	return fd;
}

void
net_dormant_close_all(struct ice_net *net)
{
	size_t i;

	for (i = 0; i < NET_DORMANT_MAX; i++) {
		if (net->dormant[i].fd >= 0)
			close(net->dormant[i].fd);
		net->dormant[i].fd = -1;
	}
}

static int
relay_open_fail(struct net_worker *w, struct net_relay *s, int r)
{
	if (s != NULL)
		relay_release(w, s);
	if (r == -EADDRINUSE || r == -ENOSPC)
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_PORTS_EXHAUSTED);
	else
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_OPEN_ERROR);
	return r;
}

int
net_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res)
{
	struct net_worker *w = ctx;
	const struct ice_addr *a = NULL;
	struct net_relay *s;
	uint16_t port = 0;
	int r, fd2 = -1;

	res->reserved_handle = -1;
	s = relay_spare_take(w, req);
	if (s != NULL) {
		r = relay_activate(w, s, req, false);
		if (r < 0)
			return relay_open_fail(w, s, r);
		res->handle = s->handle;
		res->bound = s->bound;
		return 0;
	}
	s = relay_slot_get(w);
	if (s == NULL)
		return relay_open_fail(w, NULL, -ENOSPC);
	if (req->adopt >= 0) {
		r = dormant_take(w, req->adopt, &s->bound);
		if (r < 0)
			return relay_open_fail(w, s, r);
		s->fd = r;
	} else {
		r = relay_bind_any(w, req, &s->fd, &fd2, &port, &a);
		/* Out of ports only this family's spares help; out of fds, any. */
		if ((r == -EADDRINUSE && relay_spare_close(w, req->family)) ||
		    ((r == -EMFILE || r == -ENFILE) && relay_spare_close(w, AF_UNSPEC)))
			r = relay_bind_any(w, req, &s->fd, &fd2, &port, &a);
		if (r == -EAFNOSUPPORT) {
			relay_slot_put(w, s);
			ice_metrics_inc(w->m, ICE_M_NET_RELAY_NO_ADDRESS);
			return r;
		}
		if (r < 0)
			return relay_open_fail(w, s, r);
		s->bound = *a;
		s->bound.port = port;
	}
	r = relay_activate(w, s, req, true);
	if (r < 0) {
		if (fd2 >= 0)
			close(fd2);
		return relay_open_fail(w, s, r);
	}
	if (fd2 >= 0) {
		struct ice_addr b = s->bound;

		b.port = (uint16_t)(b.port + 1);
		res->reserved_handle = dormant_put(w, fd2, &b);
		if (res->reserved_handle < 0) {
			close(fd2);
			res->reserved_handle = -1;
			net_relay_close(w, s->handle);
			return relay_open_fail(w, NULL, -ENOSPC);
		}
	}
	res->handle = s->handle;
	res->bound = s->bound;
	return 0;
}

void
net_relay_close(void *ctx, int handle)
{
	struct net_worker *w = ctx;
	struct ice_addr unused;
	struct net_relay *s;
	int fd;

	if (handle >= NET_DORMANT_BASE) {
		fd = dormant_take(w, handle, &unused);
		if (fd >= 0)
			close(fd);
		return;
	}
	s = relay_slot(w, handle);
	if (s == NULL || s->fd < 0 || s->spare)
		return;
	/* A queued datagram to this fd must not go out on a reused number. */
	if (w->tx_n > 0 && w->tx_fd == s->fd)
		net_udp_flush(w);
	ice_metrics_dec(w->m, ICE_M_NET_RELAY_SOCKETS);
	if (!relay_spare_put(w, s))
		relay_release(w, s);
}

void
net_relay_send_peer(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf,
                    size_t len, unsigned flags)
{
	struct net_worker *w = ctx;
	struct net_relay *s = relay_slot(w, handle);
	bool df;

	if (s == NULL || s->fd < 0)
		return;
	/* DF per Send indication: the socket option follows the last one
	 * asked, so a client that always (or never) asks costs no syscall. */
	df = s->df_alloc || (flags & TURN_SEND_DF);
	if (df != s->df_on) {
		if (w->tx_n > 0 && w->tx_fd == s->fd)
			net_udp_flush(w);
		if (relay_set_df(s->fd, s->bound.family, df) == 0)
			s->df_on = df;
	}
	net_udp_queue(w, s->fd, true, peer, NULL, 0, buf, len, false);
}

int
net_relay_worker_init(struct net_worker *w)
{
	const struct ice_config *cfg = w->cfg;
	size_t max;

	w->relay_free = -1;
	w->relay_ep = -1;
	if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
		w->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)w->id;
	/* Every allocation may sit on one worker (hashing is the kernel's),
	 * with a relay per family, plus adopted reservations. */
	max = (size_t)cfg->turn.max_allocations * 2 + NET_DORMANT_MAX;
	w->max_relay_chunks = (max + NET_RELAY_CHUNK - 1) / NET_RELAY_CHUNK;
	w->relay_chunks = calloc(w->max_relay_chunks, sizeof(w->relay_chunks[0]));
	if (w->relay_chunks == NULL)
		return -ENOMEM;
	w->spare_cap = ICE_MIN((uint32_t)NET_RELAY_SPARE_MAX,
	                       (cfg->turn.relay_port_max - cfg->turn.relay_port_min + 1u) /
	                               (16u * ICE_MAX(cfg->workers, 1u)));
	return relay_ep_open(w);
}

void
net_relay_worker_fini(struct net_worker *w)
{
	struct net_relay *s;
	size_t c;

	/* Spares through their rings, so the rings and the gauge end empty. */
	(void)relay_spare_close(w, AF_UNSPEC);
	/* By handle, top down: a release may free chunks above it (never the
	 * slot it is looking at), so each slot is looked up afresh. */
	for (int h = (int)(w->n_relay_chunks * NET_RELAY_CHUNK) - 1; h >= 0; h--) {
		s = relay_slot(w, h);
		if (s != NULL && s->fd >= 0) {
			s->conn = NULL; /* connections are gone by now */
			relay_release(w, s);
		}
	}
	for (c = 0; c < w->n_relay_chunks; c++)
		free(chunk_of(w, c));
	free(w->relay_chunks);
	w->relay_chunks = NULL;
	w->n_relay_chunks = 0;
	if (w->ev_relay_ep != NULL)
		event_free(w->ev_relay_ep);
	w->ev_relay_ep = NULL;
	if (w->relay_ep >= 0)
		close(w->relay_ep);
	w->relay_ep = -1;
}
