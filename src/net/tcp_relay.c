/*
 * RFC 6062 relay listeners and the turn_io tcp_* callbacks (tcp_relay.h):
 * a TCP allocation's relayed address is a listening socket on a relay
 * address and a port of relay-port-range; peers that connect to it become
 * pairs turn is told of (turn_tcp_accepted), and a Connect opens a pair
 * from the same address and port. Everything here runs per connection or
 * per allocation, never per byte.
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

struct net_tcp_listener {
	struct net_worker *w;
	int fd, handle;
	struct ice_addr bound;
	unsigned row; /* of bound's address in the port map (relay_ports.c) */
	struct event *ev, *ev_pause;
};

/* ---- slot tables ---- */

int
net_tcp_slot_put(struct net_tcp_slots *t, void *p)
{
	unsigned i;

	if (t->used == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		void **v = realloc(t->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		memset(v + t->cap, 0, (cap - t->cap) * sizeof(*v));
		t->v = v;
		t->cap = cap;
	}
	/* Per connection, not per byte: a scan is fine, and the lowest free
	 * slot keeps the table dense. */
	for (i = 0; t->v[i] != NULL; i++)
		;
	t->v[i] = p;
	t->used++;
	return (int)i;
}

void *
net_tcp_slot_get(const struct net_tcp_slots *t, int handle)
{
	return handle >= 0 && (unsigned)handle < t->cap ? t->v[handle] : NULL;
}

void
net_tcp_slot_clear(struct net_tcp_slots *t, int handle)
{
	if (net_tcp_slot_get(t, handle) == NULL)
		return;
	t->v[handle] = NULL;
	t->used--;
}

static struct net_tcp_listener *
listener_of(struct net_worker *w, int handle)
{
	return net_tcp_slot_get(&w->tcp.listeners, handle - NET_TCP_RELAY_BASE);
}

/* ---- listeners ---- */

static void
listener_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net_tcp_listener *l = arg;

	(void)fd;
	(void)what;
	event_add(l->ev, NULL);
}

/* One accepted peer: a pair turn keeps, or closes at once. */
static void
accept_one(struct net_tcp_listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct net_worker *w = l->w;
	struct ice_addr peer;
	struct net_pair *p;
	uint32_t id;
	int one = 1;

	if (ice_addr_from_sockaddr(&peer, (const struct sockaddr *)ss) < 0) {
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p = net_pair_new(w, fd, false);
	if (p == NULL)
		return;
	if (turn_tcp_accepted(w->turn, l->handle, &peer, net_pair_handle(p), w->now, &id) < 0) {
		ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_REFUSED);
		net_pair_close(p, false);
		return;
	}
	net_pair_set_id(p, id);
	net_pair_start(p);
}

static void
listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	const struct timeval pause = { 0, NET_TCP_ACCEPT_PAUSE_MS * 1000 };
	struct net_tcp_listener *l = arg;
	struct net_worker *w = l->w;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int i, cfd, handle = l->handle;

	(void)what;
	w->now = net_clock_ms();
	for (i = 0; i < NET_TCP_RELAY_ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors: the backlog stays readable; pause. */
			ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_ACCEPT_ERRORS);
			event_del(l->ev);
			event_add(l->ev_pause, &pause);
			return;
		}
		accept_one(l, cfd, &ss);
		/* turn may have ended the allocation meanwhile (never today,
		 * but the listener would be gone: look it up again). */
		if (listener_of(w, handle) != l)
			return;
	}
}

static void
listener_free(struct net_tcp_listener *l)
{
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->ev_pause != NULL)
		event_free(l->ev_pause);
	if (l->fd >= 0) {
		close(l->fd);
		/* Its port rests in quarantine, as a UDP relay's does. */
		net_relay_port_release(l->w, &l->bound, l->row, true);
	}
	free(l);
}

/*
 * A TCP socket bound alone on a:port (drawn by net_relay_pick_port) with SO_REUSEADDR (a port whose
 * last connections linger in TIME_WAIT is free again), then marked SO_REUSEPORT for the Connect
 * sockets (see tcp_relay.h), listening. fd or -errno
 * (-EADDRINUSE: try another port).
 */
static int
listener_bind(const struct ice_addr *a, uint16_t port)
{
	struct sockaddr_storage ss;
	struct ice_addr b = *a;
	socklen_t sslen;
	int fd, err, one = 1;

	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	b.port = port;
	sslen = ice_addr_to_sockaddr(&b, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    listen(fd, NET_TCP_RELAY_BACKLOG) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int
net_tcp_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res)
{
	struct net_worker *w = ctx;
	struct net_tcp_listener *l = calloc(1, sizeof(*l));
	int slot;

	if (l == NULL)
		return -ENOMEM;
	l->w = w;
	l->fd = net_relay_pick_port(w, req->family, listener_bind, &l->bound, &l->row);
	if (l->fd < 0) {
		int r = l->fd;

		ice_metrics_inc(w->m, r == -EADDRINUSE ? ICE_M_NET_RELAY_PORTS_EXHAUSTED
		                                       : ICE_M_NET_RELAY_OPEN_ERROR);
		free(l);
		return r;
	}
	l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	l->ev_pause = event_new(w->base, -1, 0, listener_on_resume, l);
	slot = net_tcp_slot_put(&w->tcp.listeners, l);
	if (l->ev == NULL || l->ev_pause == NULL || slot < 0 || event_add(l->ev, NULL) < 0) {
		if (slot >= 0)
			net_tcp_slot_clear(&w->tcp.listeners, slot);
		listener_free(l);
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_OPEN_ERROR);
		return -ENOMEM;
	}
	l->handle = NET_TCP_RELAY_BASE + slot;
	res->handle = l->handle;
	res->bound = l->bound;
	res->reserved_handle = -1;
	ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_LISTENERS);
	return 0;
}

void
net_tcp_relay_close(void *ctx, int handle)
{
	struct net_worker *w = ctx;
	struct net_tcp_listener *l = listener_of(w, handle);

	if (l == NULL)
		return;
	net_tcp_slot_clear(&w->tcp.listeners, handle - NET_TCP_RELAY_BASE);
	listener_free(l);
	ice_metrics_dec(w->m, ICE_M_NET_TCP_RELAY_LISTENERS);
}

/* ---- connecting out (Connect) ---- */

/* A socket bound on l's address and port (SO_REUSEPORT, as l), connecting
 * to peer. fd or -errno. */
static int
connect_from(const struct net_tcp_listener *l, const struct ice_addr *peer)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, err, one = 1;

	fd = socket(l->bound.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->bound.family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	sslen = ice_addr_to_sockaddr(&l->bound, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		goto fail;
	sslen = ice_addr_to_sockaddr(peer, &ss);
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

int
net_tcp_connect(void *ctx, int relay_handle, const struct ice_addr *peer, uint32_t id)
{
	struct net_worker *w = ctx;
	struct net_tcp_listener *l = listener_of(w, relay_handle);
	struct net_pair *p;
	int fd;

	if (l == NULL)
		return -ENOENT;
	fd = connect_from(l, peer);
	if (fd < 0) {
		ice_metrics_inc(w->m, ICE_M_NET_TCP_RELAY_CONNECT_ERRORS);
		return fd;
	}
	p = net_pair_new(w, fd, true);
	if (p == NULL)
		return -ENOMEM;
	net_pair_set_id(p, id);
	/* Even a connect that completed at once reports when writable, after
	 * this returns (turn.h: never before). */
	net_pair_start(p);
	return net_pair_handle(p);
}

void
net_tcp_close(void *ctx, int handle)
{
	struct net_worker *w = ctx;
	struct net_pair *p = net_tcp_slot_get(&w->tcp.pairs, handle);

	if (p != NULL)
		net_pair_close(p, false);
}

void
net_tcp_bind(void *ctx, int handle, const struct turn_5tuple *ft)
{
	struct net_conn *c = ft->link;

	(void)ctx;
	/* Done by conn_frames once this frame's dispatch returns: the
	 * stream's buffers are in use until then. */
	c->takeover = NET_TAKE_BIND;
	c->takeover_arg = handle;
}

/* ---- the worker's part ---- */

int
net_tcp_relay_worker_init(struct net_worker *w)
{
	memset(&w->tcp, 0, sizeof(w->tcp));
	return 0;
}

void
net_tcp_relay_worker_fini(struct net_worker *w)
{
	struct net_tcp_relays *t = &w->tcp;

	/* turn closed what it knew of; anything left goes now. */
	for (unsigned i = 0; i < t->pairs.cap; i++)
		if (t->pairs.v[i] != NULL)
			net_pair_close(t->pairs.v[i], false);
	for (unsigned i = 0; i < t->listeners.cap; i++)
		if (t->listeners.v[i] != NULL)
			net_tcp_relay_close(w, NET_TCP_RELAY_BASE + (int)i);
	free(t->pairs.v);
	free(t->listeners.v);
	memset(t, 0, sizeof(*t));
}
