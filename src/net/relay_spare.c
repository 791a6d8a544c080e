/*
 * Spare relay sockets. Most allocations are released within seconds of
 * being made: a browser gathers a relay candidate for every call and drops
 * it when a direct path wins. A fresh relay socket costs four syscalls
 * (socket, bind, epoll_ctl and, at the end, close). So a released relay
 * stays bound, and in the relay set under its own handle, for up to
 * NET_RELAY_SPARE_MS, as one more candidate of the port draw
 * (relay_ports.c): an Allocate draws uniformly among the free ports of an
 * address and the spares there, and a spare drawn is handed over as it is.
 * A spare younger than NET_RELAY_QUARANTINE_MS is no candidate, so the
 * port an allocation just released never goes to the next client.
 *
 * Only a quiet spare is reused. A datagram reaching a spare (a peer of the
 * old allocation still sending: media, consent checks) is read, dropped and
 * marks the spare busy; a busy spare is closed instead of reused, and so is
 * one with a datagram queued at the moment it is drawn (one MSG_PEEK recv,
 * still far cheaper than a fresh socket); its port is quarantined and
 * another is drawn. A port some peer still aims at thus never goes to a new
 * client that might permit the same peer address (every client of one SFU
 * does). The quarantine makes the check worth more: a peer still streaming
 * media (a packet every 20-60 ms) has been seen by the time a spare may be
 * drawn.
 *
 * The spares never hold more than 1/16 of the port space over all workers
 * (net_spare_cap). A worker that cannot bind (range full, or out of file
 * descriptors) closes its own spares and tries once more before it answers
 * 508; another worker's spares it cannot reach.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "net_internal.h"

unsigned
net_spare_cap(const struct net_worker *w, unsigned fi)
{
	const struct ice_config *cfg = w->cfg;
	uint32_t ports = cfg->turn.relay_port_max - cfg->turn.relay_port_min + 1u;
	uint32_t space = ports * w->net->relay_fam[fi].n_rows;

	return ICE_MIN((uint32_t)NET_RELAY_SPARE_MAX,
	               space / (16u * ICE_MAX(w->net->n_workers, 1u)));
}

/* Keep s as a spare instead of closing it; false when it must be closed. */
bool
net_spare_put(struct net_worker *w, struct net_relay *s)
{
	unsigned fi = net_relay_fi(s->bound.family);
	struct net_spare_list *l = &w->spares.fam[fi];
	struct net_spare *e;

	/* DF on: a reset would cost the syscall the spare is meant to save. */
	if (l->n >= net_spare_cap(w, fi) || s->df_on)
		return false;
	s->spare = true;
	e = &l->e[l->n++];
	e->handle = s->handle;
	e->port = s->bound.port;
	e->row = s->row;
	e->since = w->now;
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE);
	return true;
}

/* Whether e is on row with a port want allows. */
static bool
spare_fits(const struct net_spare *e, unsigned row, const struct ice_portwant *want)
{
	return e->row == row && e->port >= want->lo && e->port <= want->hi;
}

uint32_t
net_spare_eligible(const struct net_worker *w, unsigned fi, unsigned row,
                   const struct ice_portwant *want)
{
	const struct net_spare_list *l = &w->spares.fam[fi];
	uint32_t n = 0;

	/* In release order: the ones out of quarantine come first. */
	for (unsigned i = 0; i < l->n && w->now - l->e[i].since >= NET_RELAY_QUARANTINE_MS; i++)
		n += spare_fits(&l->e[i], row, want);
	return n;
}

/* Entry i of family fi out of the list (its fd still open, s->spare cleared). */
static struct net_relay *
spare_remove(struct net_worker *w, unsigned fi, unsigned i)
{
	struct net_spare_list *l = &w->spares.fam[fi];
	struct net_relay *s = net_relay_slot(&w->relays, l->e[i].handle);

	memmove(&l->e[i], &l->e[i + 1], (l->n - i - 1) * sizeof(l->e[0]));
	l->n--;
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

struct net_relay *
net_spare_take(struct net_worker *w, unsigned fi, unsigned row, const struct ice_portwant *want,
               uint32_t k)
{
	const struct net_spare_list *l = &w->spares.fam[fi];
	struct net_relay *s;
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (spare_fits(&l->e[i], row, want) && k-- == 0)
			break;
	if (i == l->n)
		return NULL; /* k was out of range: nothing taken */
	s = spare_remove(w, fi, i);
	if (spare_quiet(s)) {
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE_REUSED);
		return s;
	}
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_SPARE_BUSY);
	net_relay_release(w, s, true);
	return NULL;
}

bool
net_spare_close(struct net_worker *w, int family)
{
	bool any = false;

	for (unsigned fi = 0; fi < 2; fi++) {
		if (family != AF_UNSPEC && fi != net_relay_fi(family))
			continue;
		while (w->spares.fam[fi].n > 0) {
			net_relay_release(w, spare_remove(w, fi, 0), false);
			any = true;
		}
	}
	return any;
}

void
net_spare_expire(struct net_worker *w, ice_ms_t now)
{
	struct net_spare_list *l;

	for (unsigned fi = 0; fi < 2; fi++) {
		l = &w->spares.fam[fi];
		while (l->n > 0 && now - l->e[0].since >= NET_RELAY_SPARE_MS)
			net_relay_release(w, spare_remove(w, fi, 0), true);
		if (w->pick.q[fi].e != NULL)
			(void)ice_portq_expire(&w->pick.q[fi], &w->net->relay_fam[fi].map, now);
	}
}
