/*
 * Which relay address and port a new relay socket gets (issue 21, RFC 8656
 * §7.2 and RFC 6056), and binding it.
 *
 * Address: the family's relay addresses are used in rounds, each round in
 * a new random order, so every address carries its share of the
 * allocations (each adds a whole port range) and the next one is not
 * known in advance. An address with nothing free passes to the next.
 *
 * Port: uniform among the free ports of relay-port-range on that address
 * and the worker's spares there that are out of quarantine
 * (ice_portmap_choose). A spare is one more candidate, as likely as any
 * free port, so spares make no port likelier than another: whoever saw
 * the ports released a moment ago can guess no better than anyone.
 * Drawing a spare saves the fresh socket's syscalls; drawing a free port
 * binds a new socket there. The port map is shared by the workers (atomic
 * bits), so a worker never draws a port another one holds; bind() still
 * decides against other processes: a port it finds taken is quarantined
 * here like a released one and another is drawn, at most
 * NET_RELAY_BIND_TRIES times.
 *
 * Quarantine: a released port (the socket closed, a busy spare, a port
 * another process held) stays taken for NET_RELAY_QUARANTINE_MS, and a
 * spare is not drawn before that age either, so the port an allocation
 * just gave up never goes to the next client. When a worker finds nothing
 * free it closes its own spares and ends its quarantine early, once, before
 * answering 508: a full range is served rather than refused.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <assert.h>
#include <errno.h>
#include <unistd.h>

#include "icestation/log.h"

#include "net_internal.h"

_Static_assert((int)NET_MAX_RELAY_ADDRS <= (int)NET_RELAY_ROWS, "a port map row per relay address");

int
net_relay_ports_init(struct ice_net *net)
{
	struct net_relay_fam *fam;
	int r;

	for (unsigned fi = 0; fi < 2; fi++)
		net->relay_fam[fi].n_rows = 0;
	for (size_t k = 0; k < net->n_relay_addrs; k++) {
		fam = &net->relay_fam[net_relay_fi(net->relay_addrs[k].family)];
		fam->addr[fam->n_rows++] = &net->relay_addrs[k];
	}
	for (unsigned fi = 0; fi < 2; fi++) {
		r = ice_portmap_init(&net->relay_fam[fi].map, net->relay_fam[fi].n_rows);
		if (r < 0)
			return r;
	}
	return 0;
}

void
net_relay_ports_fini(struct ice_net *net)
{
	for (unsigned fi = 0; fi < 2; fi++) {
		ice_portmap_fini(&net->relay_fam[fi].map);
		net->relay_fam[fi].n_rows = 0;
	}
}

int
net_relay_pick_init(struct net_worker *w)
{
	struct net_relay_pick *p = &w->pick;
	int r;

	r = ice_rng_init(&p->rng);
	if (r < 0) {
		log_errorx("net: worker %u: no random key for relay ports (getrandom: %d)", w->id,
		           r);
		return r;
	}
	for (unsigned fi = 0; fi < 2; fi++) {
		p->pos[fi] = NET_RELAY_ROWS; /* a new round at the first Allocate */
		if (w->net->relay_fam[fi].n_rows == 0)
			continue;
		r = ice_portq_init(&p->q[fi], NET_RELAY_QUARANTINE_MAX, NET_RELAY_QUARANTINE_MS);
		if (r < 0)
			return r;
	}
	return 0;
}

void
net_relay_pick_fini(struct net_worker *w)
{
	for (unsigned fi = 0; fi < 2; fi++) {
		if (w->pick.q[fi].e != NULL)
			(void)ice_portq_flush(&w->pick.q[fi], &w->net->relay_fam[fi].map);
		ice_portq_fini(&w->pick.q[fi]);
	}
}

unsigned
net_relay_row(const struct ice_net *net, const struct ice_addr *a)
{
	const struct net_relay_fam *fam = &net->relay_fam[net_relay_fi(a->family)];
	unsigned row;

	for (row = 0; row < fam->n_rows; row++)
		if (ice_addr_ip_equal(fam->addr[row], a))
			break;
	assert(row < fam->n_rows); /* relays bind relay addresses only */
	return row;
}

/* Quarantine port of row in family fi (taken in the map), from now. */
static void
port_quarantine(struct net_worker *w, unsigned fi, unsigned row, uint16_t port)
{
	ice_portq_push(&w->pick.q[fi], &w->net->relay_fam[fi].map, row, port, w->now);
}

void
net_relay_port_release(struct net_worker *w, const struct ice_addr *bound, unsigned row,
                       bool quarantine)
{
	unsigned fi = net_relay_fi(bound->family);

	if (quarantine)
		port_quarantine(w, fi, row, bound->port);
	else
		ice_portmap_put(&w->net->relay_fam[fi].map, row, bound->port);
}

/* A bound, non-blocking UDP socket on a:port, or -errno (-EADDRINUSE: taken). */
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
	return fd;
}

/*
 * Bind port (and port + 1 when pair) of row, both taken in the map by the
 * draw. Returns 0 with *fd (and *fd2, else -1); on failure the ports are
 * given back, and one another process holds is quarantined (-EADDRINUSE).
 */
static int
bind_drawn(struct net_worker *w, unsigned fi, unsigned row, uint16_t port, bool pair, int *fd,
           int *fd2)
{
	struct net_relay_fam *fam = &w->net->relay_fam[fi];
	int r;

	*fd2 = -1;
	*fd = relay_bind(fam->addr[row], port);
	if (*fd < 0) {
		r = *fd;
		if (r == -EADDRINUSE)
			port_quarantine(w, fi, row, port);
		else
			ice_portmap_put(&fam->map, row, port);
		if (pair)
			ice_portmap_put(&fam->map, row, (uint16_t)(port + 1));
		return r;
	}
	if (!pair)
		return 0;
	*fd2 = relay_bind(fam->addr[row], (uint16_t)(port + 1));
	if (*fd2 >= 0)
		return 0;
	r = *fd2;
	*fd2 = -1;
	close(*fd);
	ice_portmap_put(&fam->map, row, port); /* never handed out */
	if (r == -EADDRINUSE)
		port_quarantine(w, fi, row, (uint16_t)(port + 1));
	else
		ice_portmap_put(&fam->map, row, (uint16_t)(port + 1));
	return r;
}

/* A slot for the socket just bound on port of row, or NULL (sockets closed). */
static struct net_relay *
fresh_slot(struct net_worker *w, unsigned fi, unsigned row, uint16_t port, int fd, int *fd2)
{
	struct net_relay_fam *fam = &w->net->relay_fam[fi];
	struct net_relay *s = net_relay_slot_get(w);

	if (s == NULL) {
		close(fd);
		ice_portmap_put(&fam->map, row, port);
		if (*fd2 >= 0) {
			close(*fd2);
			ice_portmap_put(&fam->map, row, (uint16_t)(port + 1));
			*fd2 = -1;
		}
		return NULL;
	}
	s->fd = fd;
	s->row = (uint8_t)row;
	s->bound = *fam->addr[row];
	s->bound.port = port;
	return s;
}

/*
 * Draw on row until a spare or a bound socket comes out (see
 * net_relay_pick for the returns); -ENOSPC when the row has nothing free
 * for want, -EADDRINUSE when *tries ran out.
 */
static int
pick_on_row(struct net_worker *w, unsigned fi, unsigned row, const struct ice_portwant *want,
            struct net_relay **sp, int *fd2, unsigned *tries)
{
	struct net_relay_fam *fam = &w->net->relay_fam[fi];
	bool plain = !want->even && !want->pair; /* EVEN-PORT needs ports of its own */
	uint32_t spares;
	uint16_t port;
	int c, r, fd;

	while (*tries < NET_RELAY_BIND_TRIES) {
		spares = plain ? net_spare_eligible(w, fi, row, want) : 0;
		c = ice_portmap_choose(&fam->map, &w->pick.rng, row, want, spares, &port);
		if (c < 0)
			return -ENOSPC;
		(*tries)++;
		if ((uint32_t)c < spares) {
			*sp = net_spare_take(w, fi, row, want, (uint32_t)c);
			if (*sp != NULL)
				return 1;
			continue; /* busy: closed, its port quarantined */
		}
		r = bind_drawn(w, fi, row, port, want->pair, &fd, fd2);
		if (r == -EADDRINUSE)
			continue;
		if (r < 0)
			return r;
		*sp = fresh_slot(w, fi, row, port, fd, fd2);
		return *sp != NULL ? 0 : -ENOSPC;
	}
	return -EADDRINUSE;
}

/* The k-th relay address to try for this Allocate in family fi. */
static unsigned
round_row(struct net_worker *w, unsigned fi, unsigned k)
{
	struct net_relay_pick *p = &w->pick;
	unsigned n = w->net->relay_fam[fi].n_rows, i, j;
	uint8_t t;

	if (p->pos[fi] >= n) {
		/* A new round in a new random order (Fisher-Yates). */
		for (i = 0; i < n; i++)
			p->order[fi][i] = (uint8_t)i;
		for (i = n - 1; i > 0; i--) {
			j = ice_rng_below(&p->rng, i + 1);
			t = p->order[fi][i];
			p->order[fi][i] = p->order[fi][j];
			p->order[fi][j] = t;
		}
		p->pos[fi] = 0;
	}
	return p->order[fi][(p->pos[fi] + k) % n];
}

/* Out of ports: close this worker's spares of fi and end its quarantine.
 * True if that freed anything. */
static bool
make_room(struct net_worker *w, unsigned fi)
{
	bool any = net_spare_close(w, fi == 1 ? AF_INET6 : AF_INET);

	return ice_portq_flush(&w->pick.q[fi], &w->net->relay_fam[fi].map) > 0 || any;
}

/* One pass over the family's addresses (see net_relay_pick). */
static int
pick_pass(struct net_worker *w, unsigned fi, const struct ice_portwant *want, struct net_relay **sp,
          int *fd2)
{
	unsigned n = w->net->relay_fam[fi].n_rows, tries = 0, k;
	int r = -EADDRINUSE;

	for (k = 0; k < n; k++) {
		r = pick_on_row(w, fi, round_row(w, fi, k), want, sp, fd2, &tries);
		if (r >= 0)
			w->pick.pos[fi] += k + 1;
		if (r != -ENOSPC && r != -EADDRINUSE)
			return r;
	}
	return -EADDRINUSE;
}

int
net_relay_pick(struct net_worker *w, const struct turn_relay_req *req, struct net_relay **sp,
               int *fd2)
{
	unsigned fi = net_relay_fi(req->family);
	struct net_relay_fam *fam = &w->net->relay_fam[fi];
	struct ice_portwant want = {
		.lo = (uint16_t)w->cfg->turn.relay_port_min,
		.hi = (uint16_t)w->cfg->turn.relay_port_max,
		.even = req->even_port,
		.pair = req->reserve_next,
	};
	bool fds_freed = false, room_made = false;
	int r;

	*fd2 = -1;
	if (fam->n_rows == 0)
		return -EAFNOSUPPORT;
	(void)ice_portq_expire(&w->pick.q[fi], &fam->map, w->now);
	for (;;) { /* at most three passes */
		r = pick_pass(w, fi, &want, sp, fd2);
		/* Out of fds: the spares of every family hold some. */
		if ((r == -EMFILE || r == -ENFILE) && !fds_freed) {
			fds_freed = true;
			if (net_spare_close(w, AF_UNSPEC))
				continue;
		}
		/* Out of ports: this worker's spares and quarantine hold the rest. */
		if (r == -EADDRINUSE && !room_made) {
			room_made = true;
			if (make_room(w, fi))
				continue;
		}
		return r;
	}
}

int
net_relay_pick_port(struct net_worker *w, int family,
                    int (*bind_fn)(const struct ice_addr *a, uint16_t port), struct ice_addr *bound,
                    unsigned *row_out)
{
	unsigned fi = net_relay_fi(family), n, tries, k, row;
	struct net_relay_fam *fam = &w->net->relay_fam[fi];
	struct ice_portwant want = {
		.lo = (uint16_t)w->cfg->turn.relay_port_min,
		.hi = (uint16_t)w->cfg->turn.relay_port_max,
	};
	bool room_made = false;
	uint16_t port;
	int fd;

	n = fam->n_rows;
	if (n == 0)
		return -EAFNOSUPPORT;
	(void)ice_portq_expire(&w->pick.q[fi], &fam->map, w->now);
	for (;;) { /* at most two passes */
		tries = 0;
		for (k = 0; k < n && tries < NET_RELAY_BIND_TRIES; k++) {
			row = round_row(w, fi, k);
			while (tries < NET_RELAY_BIND_TRIES &&
			       ice_portmap_take(&fam->map, &w->pick.rng, row, &want, &port) == 0) {
				tries++;
				fd = bind_fn(fam->addr[row], port);
				if (fd >= 0) {
					w->pick.pos[fi] += k + 1;
					*bound = *fam->addr[row];
					bound->port = port;
					*row_out = row;
					return fd;
				}
				if (fd != -EADDRINUSE) {
					ice_portmap_put(&fam->map, row, port);
					return fd;
				}
				/* Another process holds it: not drawn again for a while. */
				port_quarantine(w, fi, row, port);
			}
		}
		if (room_made || !make_room(w, fi))
			return -EADDRINUSE;
		room_made = true;
	}
}
