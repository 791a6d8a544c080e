/*
 * Listening sockets of one worker. Every worker opens its own copy of every
 * (address, port, transport) with SO_REUSEPORT, so the kernel spreads client
 * 5-tuples across workers and each flow stays on one worker. When the STUN
 * and TURN ports and addresses coincide, one socket serves both roles, and
 * a specific address under a wildcard of the same port serves the
 * wildcard's roles too (specs_cover). TURN
 * over TLS gets its own TCP sockets on tls.port (transport ICE_TRANSPORT_TLS),
 * served as streams (stream.h) with tls.c's SSL layer. Listen addresses,
 * ports and transports are restart-only: they come from the snapshot the
 * net started with.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "net_internal.h"

static bool
addr_is_wildcard(const struct ice_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, (size_t)ice_addr_iplen(a)) == 0;
}

/* Add (or merge roles into) the listener for addr:port over transport. */
static int
spec_add(struct net_worker *w, const struct ice_addr *addr, uint16_t port, enum ice_transport t,
         unsigned role)
{
	struct net_listener *l;
	struct ice_addr a = *addr;
	size_t i;

	a.port = port;
	for (i = 0; i < w->n_listeners; i++) {
		l = &w->listeners[i];
		if (l->transport == t && ice_addr_equal(&l->addr, &a)) {
			l->roles |= role;
			return 0;
		}
	}
	if (w->n_listeners == NET_MAX_LISTENERS)
		return -E2BIG;
	l = &w->listeners[w->n_listeners++];
	memset(l, 0, sizeof(*l));
	l->w = w;
	l->fd = -1;
	l->transport = t;
	l->roles = role;
	l->addr = a;
	l->wildcard = addr_is_wildcard(&a);
	return 0;
}

static int
specs_add(struct net_worker *w, const struct ice_addr *listen, size_t n, uint16_t port,
          unsigned transports, unsigned role)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (transports & ICE_TRANSPORT_UDP) {
			r = spec_add(w, &listen[i], port, ICE_TRANSPORT_UDP, role);
			if (r < 0)
				return r;
		}
		if (transports & ICE_TRANSPORT_TCP) {
			r = spec_add(w, &listen[i], port, ICE_TRANSPORT_TCP, role);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/*
 * The kernel gives a datagram or connection to the most specific socket
 * bound to its destination: one on 127.0.0.1:3478 takes all of 127.0.0.1's
 * traffic from one on 0.0.0.0:3478. So a specific address serves every role
 * a wildcard of its family, port and transport serves too: with stun on
 * 127.0.0.1 and turn on 0.0.0.0 (the Station's two files), TURN sent to
 * 127.0.0.1 is served, not dropped as unhandled on a STUN-only socket.
 * (Plain TCP and TLS on one port are refused by the configuration.)
 */
static void
specs_cover(struct net_worker *w)
{
	const struct net_listener *any;
	struct net_listener *l;

	for (size_t i = 0; i < w->n_listeners; i++) {
		any = &w->listeners[i];
		if (!any->wildcard)
			continue;
		for (size_t j = 0; j < w->n_listeners; j++) {
			l = &w->listeners[j];
			if (!l->wildcard && l->transport == any->transport &&
			    l->addr.family == any->addr.family && l->addr.port == any->addr.port)
				l->roles |= any->roles;
		}
	}
}

static const char *
transport_name(enum ice_transport t)
{
	return t == ICE_TRANSPORT_UDP ? "udp" : t == ICE_TRANSPORT_TCP ? "tcp" : "tls";
}

static int
setopt_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* Socket options, then bind (and listen for TCP). Returns the fd or -errno. */
static int
listener_socket(const struct net_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int type = l->transport == ICE_TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd, err;
	bool v6 = l->addr.family == AF_INET6;

	fd = socket(l->addr.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
	    setopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0)
		goto fail;
	/* "::" must not also grab IPv4: 0.0.0.0 has its own socket. */
	if (v6 && setopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0)
		goto fail;
	if (l->transport == ICE_TRANSPORT_UDP) {
		/* Best effort: the kernel caps at net.core.{r,w}mem_max. */
		(void)setopt_int(fd, SOL_SOCKET, SO_RCVBUF, NET_SOCK_BUF);
		(void)setopt_int(fd, SOL_SOCKET, SO_SNDBUF, NET_SOCK_BUF);
		/* A wildcard socket must answer from the address the request
		 * came to, or the client's NAT and ICE agent drop the reply. */
		if (l->wildcard && (v6 ? setopt_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
		                       : setopt_int(fd, IPPROTO_IP, IP_PKTINFO, 1)) < 0)
			goto fail;
	}
	sslen = ice_addr_to_sockaddr(&l->addr, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		goto fail;
	if (l->transport != ICE_TRANSPORT_UDP && listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

/* A passed-in socket for l (address, port and type match), or NULL. */
static struct ice_listen_fd *
passed_for(const struct net_worker *w, const struct net_listener *l)
{
	int type = l->transport == ICE_TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;

	for (size_t i = 0; i < w->net->n_passed; i++) {
		struct ice_listen_fd *p = &w->net->passed[i];

		if (p->type == type && ice_addr_equal(&p->addr, &l->addr))
			return p;
	}
	return NULL;
}

/*
 * Take a passed socket for l into *fd (a dup, so every worker closes its
 * own): 1 taken, 0 none passed (build one), -ENOENT drop l from this worker
 * (a passed UDP socket is served by worker 0 only), or -errno.
 */
static int
listener_passed(struct net_worker *w, struct net_listener *l, int *fd)
{
	struct ice_listen_fd *p = passed_for(w, l);

	if (p == NULL)
		return 0;
	if (l->transport == ICE_TRANSPORT_UDP && w->id != 0)
		return -ENOENT;
	*fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	(void)fcntl(*fd, F_SETFL, O_NONBLOCK);
	p->used = true;
	return 1;
}

int
net_listeners_open(struct net_worker *w, const struct ice_config *cfg)
{
	char buf[ICE_ADDR_STRLEN];
	struct net_listener *l;
	size_t i;
	int r = 0;

	w->n_listeners = 0;
	if (cfg->stun.enabled)
		r = specs_add(w, cfg->stun.listen, cfg->stun.n_listen, cfg->stun.port,
		              cfg->stun.transports, NET_ROLE_STUN);
	if (r == 0 && cfg->turn.enabled)
		r = specs_add(w, cfg->turn.listen, cfg->turn.n_listen, cfg->turn.port,
		              cfg->turn.transports, NET_ROLE_TURN);
	/* turns: on its own port (config refuses one shared with plain TCP).
	 * Binding is answered there too, like on every port. */
	for (i = 0; r == 0 && cfg->turn.enabled && cfg->turn.tls.enabled && i < cfg->turn.n_listen;
	     i++)
		r = spec_add(w, &cfg->turn.listen[i], cfg->turn.tls.port, ICE_TRANSPORT_TLS,
		             NET_ROLE_TURN);
	if (r < 0) {
		log_errorx("net: too many listeners (max %d)", NET_MAX_LISTENERS);
		return r;
	}
	specs_cover(w);
	for (i = 0; i < w->n_listeners; i++) {
		l = &w->listeners[i];
		l->tcp_frame_max =
			(l->roles & NET_ROLE_TURN) ? NET_TCP_FRAME_MAX : NET_TCP_STUN_FRAME_MAX;
		r = listener_passed(w, l, &l->fd);
		if (r == -ENOENT) {
			/* Not on this worker: close the gap in the array. */
			memmove(l, l + 1, (w->n_listeners - i - 1) * sizeof(*l));
			w->n_listeners--;
			i--;
			continue;
		}
		if (r == 1) {
			/* A wildcard UDP socket must tell us where each datagram went. */
			if (l->wildcard && l->transport == ICE_TRANSPORT_UDP &&
			    setopt_int(l->fd,
			               l->addr.family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
			               l->addr.family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO,
			               1) < 0)
				r = -errno;
			else
				continue;
		}
		if (r == 0)
			r = listener_socket(l);
		if (r < 0) {
			errno = -r;
			log_error("net: worker %u: cannot listen on %s/%s", w->id,
			          ice_addr_str(&l->addr, buf, sizeof(buf)),
			          transport_name(l->transport));
			return r;
		}
		l->fd = r;
		r = net_steer_attach(l->fd, l->addr.family, cfg->workers);
		if (r < 0 && w->id == 0) {
			errno = -r;
			log_warn("net: cannot steer %s/%s by source address; per-address limits "
			         "apply per worker there",
			         ice_addr_str(&l->addr, buf, sizeof(buf)),
			         transport_name(l->transport));
		}
	}
	return 0;
}

void
net_listeners_close(struct net_worker *w)
{
	struct net_listener *l;
	size_t i;

	for (i = 0; i < w->n_listeners; i++) {
		l = &w->listeners[i];
		if (l->ev != NULL)
			event_free(l->ev);
		if (l->ev_pause != NULL)
			event_free(l->ev_pause);
		if (l->fd >= 0)
			close(l->fd);
		l->ev = NULL;
		l->ev_pause = NULL;
		l->fd = -1;
	}
	w->n_listeners = 0;
}
