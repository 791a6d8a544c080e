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
#include <sys/socket.h>

#include <errno.h>

#include "net_internal.h"

unsigned
net_spare_cap(uint32_t port_min, uint32_t port_max, unsigned workers)
{
	return ICE_MIN((uint32_t)NET_RELAY_SPARE_MAX,
	               (port_max - port_min + 1u) / (16u * ICE_MAX(workers, 1u)));
}

static unsigned
family_index(int family)
{
	return family == AF_INET6 ? 1u : 0u;
}

/* Keep s as a spare instead of closing it; false when it must be closed. */
bool
net_spare_put(struct net_worker *w, struct net_relay *s)
{
	struct net_spare_ring *r = &w->spares.ring[family_index(s->bound.family)];
	unsigned tail;

	/* DF on: a reset would cost the syscall the spare is meant to save. */
	if (r->n >= w->spares.cap || s->df_on)
		return false;
	s->spare = true;
	tail = (r->head + r->n++) % NET_RELAY_SPARE_MAX;
	r->e[tail].handle = s->handle;
	r->e[tail].since = w->now;
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE);
	return true;
}

/* The oldest spare of family fi, out of the ring (its fd still open). */
static struct net_relay *
spare_pop(struct net_worker *w, unsigned fi)
{
	struct net_spare_ring *r = &w->spares.ring[fi];
	struct net_relay *s;

	if (r->n == 0)
		return NULL;
	s = net_relay_slot(&w->relays, r->e[r->head].handle);
	r->head = (r->head + 1) % NET_RELAY_SPARE_MAX;
	r->n--;
	s->spare = false;
	ice_metrics_dec(w->m, ICE_M_NET_RELAY_SPARE);
	return s;
}

/* Whether nothing reached s while it was spare and nothing waits on it now. */
static bool
spare_quiet(const struct net_relay *s)
{
	uint8_t b;

	if (s->spare_busy)
		return false;
	return recv(s->fd, &b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) < 0 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A quiet spare for req, or NULL: EVEN-PORT and reservations need ports of
 * their own. Busy spares met on the way are closed. */
struct net_relay *
net_spare_take(struct net_worker *w, const struct turn_relay_req *req)
{
	struct net_relay *s;

	if (req->adopt >= 0 || req->even_port || req->reserve_next)
		return NULL;
	while ((s = spare_pop(w, family_index(req->family))) != NULL) {
		if (spare_quiet(s))
			return s;
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE_BUSY);
		net_relay_release(w, s);
	}
	return NULL;
}

/* Close the spares of family (AF_UNSPEC: all); true if there was one. */
bool
net_spare_close(struct net_worker *w, int family)
{
	struct net_relay *s;
	bool any = false;

	for (unsigned fi = 0; fi < 2; fi++) {
		if (family != AF_UNSPEC && fi != family_index(family))
			continue;
		while ((s = spare_pop(w, fi)) != NULL) {
			net_relay_release(w, s);
			any = true;
		}
	}
	return any;
}

void
net_spare_expire(struct net_worker *w, uint64_t now)
{
	struct net_spare_ring *r;

	for (unsigned fi = 0; fi < 2; fi++) {
		r = &w->spares.ring[fi];
		while (r->n > 0 && now - r->e[r->head].since >= NET_RELAY_SPARE_MS)
			net_relay_release(w, spare_pop(w, fi));
	}
}
