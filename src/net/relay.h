/*
 * Private to src/net: relay sockets, the UDP sockets of allocations. A
 * worker keeps them in a slot table (relay_slots.c: handle = index, O(1)
 * handle -> socket, chunks freed again after a mass release), keeps
 * released ones bound for a while as spares (relay_spare.c), binds new
 * ones (relay.c) and reads them through its own epoll set. Dormant
 * EVEN-PORT reservations live process-wide (relay_dormant.c).
 */
#ifndef ICESTATION_NET_RELAY_H
#define ICESTATION_NET_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
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
	NET_RELAY_EVENTS = 64,      /* ready relay sockets taken per epoll_wait */
	NET_RELAY_BIND_TRIES = 128, /* ports probed per relay_open before answering 508 */
	/* Spares: at most this many per worker and family, for at most this long. */
	NET_RELAY_SPARE_MAX = 64,
	NET_RELAY_SPARE_MS = 2000,
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
	bool bufs_sized; /* SO_RCVBUF/SO_SNDBUF set (at its first datagram) */
	struct ice_addr bound;
};

/* The worker's slot table. */
struct net_relay_table {
	struct net_relay **chunks;
	size_t n_chunks, max_chunks;
	int free; /* free list head, -1 = empty */
};

/* Spare relay sockets per family (0 IPv4, 1 IPv6), oldest first. */
struct net_spares {
	struct net_spare_ring {
		struct {
			int handle;
			uint64_t since;
		} e[NET_RELAY_SPARE_MAX];
		unsigned head, n;
	} ring[2];
	unsigned cap; /* per family; 0 when the port range is too small */
};

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

/* Spares allowed per family for a worker of cfg's range and worker count. */
unsigned net_spare_cap(uint32_t port_min, uint32_t port_max, unsigned workers);
/* Keep s (just released by turn) as a spare; false when it must be closed. */
bool net_spare_put(struct net_worker *w, struct net_relay *s);
/* A quiet spare for req, or NULL; busy spares met on the way are closed. */
struct net_relay *net_spare_take(struct net_worker *w, const struct turn_relay_req *req);
/* Close the spares of family (AF_UNSPEC: all); true if there was one. */
bool net_spare_close(struct net_worker *w, int family);
/* Close the spares released before now - NET_RELAY_SPARE_MS. */
void net_spare_expire(struct net_worker *w, uint64_t now);

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
/* Close s's socket and free its slot (spares, busy spares, shutdown). */
void net_relay_release(struct net_worker *w, struct net_relay *s);
/* struct turn_io callbacks (ctx = the worker). */
int net_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res);
void net_relay_close(void *ctx, int handle);
void net_relay_send_peer(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf,
                         size_t len, unsigned flags);
/* Whether relay sockets can set DF. */
bool net_relay_can_df(void);

#endif
