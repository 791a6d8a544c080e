/*
 * TCP listening sockets (STUN/TURN over TCP and TLS): accept in batches,
 * refuse beyond the per-worker connection limit, back off briefly when out
 * of file descriptors, and hand each connection to a new stream (stream.h).
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

static void
listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;
	struct net_worker *w = l->w;
	const struct timeval pause = { 0, NET_TCP_ACCEPT_PAUSE_MS * 1000 };
	struct sockaddr_storage ss;
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
		if (w->n_conns >= w->cfg->stun.tcp_max_connections) {
			ice_metrics_inc(w->m, ICE_M_NET_TCP_REJECTED);
			close(cfd);
			continue;
		}
		net_stream_new(l, cfd, &ss);
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
