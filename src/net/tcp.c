/*
 * TCP listening sockets (STUN/TURN over TCP and TLS): accept in batches,
 * apply the connection limits, back off briefly when out of file
 * descriptors, and hand each connection to a new stream (stream.h).
 *
 * The limits (conncap.h): a source address (IPv6: its /64) holds at most
 * stun.tcp-max-connections-per-address plain TCP connections and
 * turn.tls.max-connections-per-address TLS ones; the worker holds at most
 * stun.tcp-max-connections of both. When it is full, a newcomer under its
 * cap closes the oldest connection that has not completed a first frame,
 * else the oldest that has and carries no allocation; a connection an
 * allocation holds is never closed for a newcomer.
 *
 * The pool is per worker, with no lock, like every other per-source table.
 * When the listening groups steer by source address (one address, one
 * worker), a worker's counts are the daemon's. When they do not (the
 * kernel's 5-tuple hash, or a TCP listener systemd passed in), an address's
 * connections spread over the workers: it may then hold up to workers x
 * its cap, and the guarantee is per worker: on each, one address holds at
 * most its cap of that worker's connections, and a newcomer there evicts as
 * above. Either way no single address can fill a worker and keep others
 * out, which is what the cap is for.
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

static void
listener_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;

	(void)fd;
	(void)what;
	event_add(l->ev, NULL);
}

/*
 * Whether a connection from remote on l may be served: under its source's
 * cap, and with room in the worker, made by evicting when it is full. The
 * pool counts and logs refusals and evictions.
 */
static bool
conn_admit(struct net_listener *l, const struct ice_addr *remote)
{
	struct net_worker *w = l->w;
	enum ice_conncap_class cls =
		l->transport == ICE_TRANSPORT_TLS ? ICE_CONNCAP_TLS : ICE_CONNCAP_TCP;
	struct ice_conncap_node *victim;

	switch (ice_conncap_gate(w->cap, cls, remote,
	                         w->n_conns >= w->cfg->stun.tcp_max_connections, w->now, &victim)) {
	case ICE_CONNCAP_ADMIT:
		return true;
	case ICE_CONNCAP_EVICT:
		/* Top of the loop: the victim is on no call stack. */
		stream_close(stream_of_node(victim), ICE_M_NET_TCP_CLOSED_EVICTED);
		return true;
	case ICE_CONNCAP_REFUSE_ADDR:
		ice_metrics_inc(w->m, ICE_M_NET_TCP_REJECTED_ADDR);
		return false;
	case ICE_CONNCAP_REFUSE_FULL:
		ice_metrics_inc(w->m, ICE_M_NET_TCP_REJECTED);
		return false;
	}
	return false;
}

static void
listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;
	struct net_worker *w = l->w;
	const struct timeval pause = { 0, NET_TCP_ACCEPT_PAUSE_MS * 1000 };
	struct sockaddr_storage ss;
	struct ice_addr remote;
	socklen_t sslen;
	int i, cfd;

	(void)what;
	w->now = net_clock_ms();
	for (i = 0; i < NET_TCP_ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE/ENFILE/ENOMEM: the backlog stays readable, so
			 * stop listening briefly instead of spinning. */
			ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPT_ERRORS);
			event_del(l->ev);
			event_add(l->ev_pause, &pause);
			return;
		}
		if (ice_addr_from_sockaddr(&remote, (const struct sockaddr *)&ss) < 0) {
			ice_metrics_inc(w->m, ICE_M_NET_TCP_ACCEPT_ERRORS);
			close(cfd);
			continue;
		}
		if (!conn_admit(l, &remote)) {
			close(cfd);
			continue;
		}
		net_stream_new(l, cfd, &remote);
	}
}

int
net_tcp_start(struct net_listener *l)
{
	l->ev = event_new(l->w->base, l->fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	l->ev_pause = event_new(l->w->base, -1, 0, listener_on_resume, l);
	if (l->ev == NULL || l->ev_pause == NULL)
		return -ENOMEM;
	if (event_add(l->ev, NULL) < 0)
		return -EIO;
	return 0;
}
