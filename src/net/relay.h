/*
 * Private to src/net: relay sockets, the UDP sockets of allocations. A
 * worker keeps them in a slot table (relay_slots.c: handle = index, O(1)
 * handle -> socket, chunks freed again after a mass release), keeps
 * released ones bound for a while as spares (relay_spare.c), draws the
 * address and port of new ones at random and binds them (relay_ports.c),
 * and reads them through its own epoll set (relay.c). Dormant EVEN-PORT
 * reservations live process-wide (relay_dormant.c).
 */
#ifndef ICESTATION_NET_RELAY_H
#define ICESTATION_NET_RELAY_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/portpick.h"
#include "icestation/rng.h"
#include "icestation/turn.h"

struct net_worker;
struct ice_net;
struct event;

enum {
	NET_RELAY_SOCK_BUF = 256 * 1024, /* a few hundred ms of video; charged only when queued */
	NET_RELAY_CHUNK = 256,           /* slots per chunk: pointers stay stable */
	/* Handles at or above this name a dormant EVEN-PORT reservation in the
	 * process-wide table (any worker may adopt or close it). */
	NET_DORMANT_BASE = 1 << 24,
	NET_DORMANT_MAX = TURN_MAX_RESERVATIONS,
	NET_RELAY_EVENTS = 64, /* ready relay sockets taken per epoll_wait */
	/* Ports drawn per relay_open before answering 508, when bind() keeps
	 * finding them held by another process. */
	NET_RELAY_BIND_TRIES = 128,
	/* Spares: at most this many per worker and family, for at most this long. */
	NET_RELAY_SPARE_MAX = 64,
	NET_RELAY_SPARE_MS = 2000,
	/* A released port, spare or closed, goes to no one for this long
	 * (docs/relay.md, "Port choice", says why 250 ms). */
	NET_RELAY_QUARANTINE_MS = 250,
	/* Ports a worker holds in quarantine per family (8 bytes each): the
	 * full 250 ms up to 16,000 releases a second; beyond, the oldest are
	 * freed early. */
	NET_RELAY_QUARANTINE_MAX = 4096,
	NET_RELAY_ROWS = 8, /* relay addresses per family (NET_MAX_RELAY_ADDRS) */
	/* Error-queue messages (ICMP errors) read per relay and pass. */
	NET_RELAY_ERRQ_MAX = 16,
};

/* One relay socket of a worker; handle = its index in the worker's table. */
struct net_relay {
	struct net_worker *w;
	int fd; /* -1: free */
	int handle;
	int next_free;
	bool df_alloc;   /* DONT-FRAGMENT asked at Allocate */
	bool df_on;      /* what the socket does now */
	bool spare;      /* released, kept bound for reuse (no allocation) */
	bool spare_busy; /* a datagram reached it as a spare: close, never reuse */
	bool bufs_sized; /* SO_RCVBUF/SO_SNDBUF, IP_RECVERR set (at its first datagram) */
	uint8_t row;     /* bound's index among its family's relay addresses */
	struct ice_addr bound;
};

/* The worker's slot table. */
struct net_relay_table {
	struct net_relay **chunks;
	size_t n_chunks, max_chunks;
	int free; /* free list head, -1 = empty */
};

/* Spare relay sockets per family (0 IPv4, 1 IPv6), in release order. */
struct net_spare {
	int handle;
	uint16_t port;
	uint8_t row;
	ice_ms_t since;
};

struct net_spares {
	struct net_spare_list {
		struct net_spare e[NET_RELAY_SPARE_MAX];
		unsigned n;
	} fam[2];
};

/* One family's relay port space, process-wide: a row per relay address. */
struct net_relay_fam {
	struct ice_portmap map;
	unsigned n_rows;
	const struct ice_addr *addr[NET_RELAY_ROWS]; /* into ice_net.relay_addrs */
};

/* A worker's side of the port choice. */
struct net_relay_pick {
	struct ice_rng rng;
	struct ice_portq q[2];            /* quarantined ports per family */
	uint8_t order[2][NET_RELAY_ROWS]; /* this round's relay address order */
	unsigned pos[2];                  /* next in the round */
};

/* Family index: 0 IPv4, 1 IPv6. */
static inline unsigned
net_relay_fi(int family)
{
	return family == AF_INET6 ? 1u : 0u;
}

/* The process-wide dormant reservations, behind their own lock. */
struct net_dormant {
	int fd; /* -1: free */
	struct ice_addr bound;
};

/* relay_slots.c ---------------------------------------------------------- */

/* Size the table for max slots. 0 or -ENOMEM. */
int net_relay_table_init(struct net_relay_table *t, size_t max);
/* Free the chunks (every slot must be free). */
void net_relay_table_fini(struct net_relay_table *t);
/* The slot of handle, or NULL outside the table. */
struct net_relay *net_relay_slot(struct net_relay_table *t, int handle);
/* A free slot (fd -1) of w, or NULL when the table is full or out of memory. */
struct net_relay *net_relay_slot_get(struct net_worker *w);
/* Give s back (its fd already closed or handed on). */
void net_relay_slot_put(struct net_worker *w, struct net_relay *s);
/* Highest handle the table can hold + 1 (for walks). */
int net_relay_table_span(const struct net_relay_table *t);

/* relay_spare.c ---------------------------------------------------------- */

/* Spares a worker may keep for family index fi: 1/16 of the family's port
 * space (relay addresses x relay-port-range) over all workers, at most
 * NET_RELAY_SPARE_MAX. */
unsigned net_spare_cap(const struct net_worker *w, unsigned fi);
/* Keep s (just released by turn) as a spare; false when it must be closed. */
bool net_spare_put(struct net_worker *w, struct net_relay *s);
/* Spares of family fi on row with a port want allows, out of quarantine. */
uint32_t net_spare_eligible(const struct net_worker *w, unsigned fi, unsigned row,
                            const struct ice_portwant *want);
/* The k-th of those (k < net_spare_eligible), out of the spares: returned
 * if quiet, else closed (its port quarantined) and NULL. */
struct net_relay *net_spare_take(struct net_worker *w, unsigned fi, unsigned row,
                                 const struct ice_portwant *want, uint32_t k);
/* Close the spares of family (AF_UNSPEC: all), their ports free at once;
 * true if there was one. */
bool net_spare_close(struct net_worker *w, int family);
/* Close the spares released NET_RELAY_SPARE_MS before now (their ports
 * quarantined) and free the ports whose quarantine ended. */
void net_spare_expire(struct net_worker *w, ice_ms_t now);

/* relay_icmp.c ----------------------------------------------------------- */

/* Have the kernel queue ICMP errors for fd's datagrams (IP_RECVERR,
 * IPV6_RECVERR). 0 or -1 with errno. */
int net_relay_recverr_on(int fd, int family);
/* Read up to NET_RELAY_ERRQ_MAX messages of s's error queue, each ICMP
 * error to turn_handle_icmp; returns how many were read. */
int net_relay_read_errors(struct net_worker *w, struct net_relay *s);

/* relay_ports.c ---------------------------------------------------------- */

/* The process-wide port maps, once the relay addresses are known. 0 or -ENOMEM. */
int net_relay_ports_init(struct ice_net *net);
void net_relay_ports_fini(struct ice_net *net);
/* A worker's generator (getrandom) and quarantines. 0 or -errno. */
int net_relay_pick_init(struct net_worker *w);
/* Free the worker's quarantined ports and its queues. */
void net_relay_pick_fini(struct net_worker *w);
/* Row of a (one of the relay addresses) among its family's. */
unsigned net_relay_row(const struct ice_net *net, const struct ice_addr *a);
/* The port of a relay socket just closed: quarantined, or free at once. */
void net_relay_port_release(struct net_worker *w, const struct ice_addr *bound, unsigned row,
                            bool quarantine);
/*
 * A relay socket for req (not an adoption): the address is the next of a
 * random round over the family's relay addresses, the port uniform among
 * the free ports there and the worker's spares out of quarantine. Returns 1
 * with *sp a reused spare (still in the relay set), 0 with *sp a new slot
 * and socket (and *fd2 bound on port + 1 for req->reserve_next, else -1),
 * -EAFNOSUPPORT (no relay address of the family), -EADDRINUSE (no free
 * port even after closing this worker's spares and ending its
 * quarantine), -ENOSPC (no slot) or another -errno.
 */
int net_relay_pick(struct net_worker *w, const struct turn_relay_req *req, struct net_relay **sp,
                   int *fd2);
/*
 * A port for a relay socket that is not a UDP relay (an RFC 6062 TCP relay
 * listener): the relay address and port drawn as net_relay_pick draws them,
 * from the same map and quarantine, so TCP and UDP relays get the same
 * unpredictable ports and never share a port number. bind_fn(a, port)
 * returns a socket bound there or -errno (-EADDRINUSE: another process has
 * it, try another). Returns bind_fn's fd with *bound and *row (give the
 * port back with net_relay_port_release once the socket is closed),
 * -EAFNOSUPPORT, -EADDRINUSE (no free port) or bind_fn's other -errno.
 */
int net_relay_pick_port(struct net_worker *w, int family,
                        int (*bind_fn)(const struct ice_addr *a, uint16_t port),
                        struct ice_addr *bound, unsigned *row);

/* relay_dormant.c -------------------------------------------------------- */

/* Park fd as a dormant reservation; returns its handle or -ENOSPC. */
int net_dormant_put(struct net_worker *w, int fd, const struct ice_addr *bound);
/* Take the dormant socket of handle: its fd (and *bound), or -ENOENT. */
int net_dormant_take(struct net_worker *w, int handle, struct ice_addr *bound);
/* Close every reservation (shutdown). */
void net_dormant_close_all(struct ice_net *net);

/* relay.c ---------------------------------------------------------------- */

/* The worker's relay table, spares and epoll set (before its thread runs). */
int net_relay_worker_init(struct net_worker *w);
/* Close every relay socket left and free the table. */
void net_relay_worker_fini(struct net_worker *w);
/* Close s's socket, release its port (quarantined or free at once) and
 * free its slot. */
void net_relay_release(struct net_worker *w, struct net_relay *s, bool quarantine);
/* struct turn_io callbacks (ctx = the worker). */
int net_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res);
void net_relay_close(void *ctx, int handle);
void net_relay_send_peer(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf,
                         size_t len, unsigned flags);
/* Whether relay sockets can set DF. */
bool net_relay_can_df(void);

#endif
