/*
 * Private to src/net: RFC 6062 TCP relays, the sockets behind turn's
 * tcp_* callbacks (turn.h "TCP relays").
 *
 *   tcp_relay.c     relay listeners (bound on a relay address and port,
 *                   accepting peers) and connecting out from them
 *   tcp_pair.c      a peer data connection and, once bound, the client
 *                   data connection: raw bytes both ways through two
 *                   bounded rings
 *   tcp_takeover.c  a client stream that stops being one: bound to a pair
 *                   by ConnectionBind, or handed to the worker its
 *                   CONNECTION-ID names
 *
 * Backpressure: a ring holds at most NET_TCP_PAIR_BUF bytes; a side is read
 * only while the ring it fills has room, so a side that does not read stops
 * the other (TCP's window tells the sender) and memory never grows. Before
 * the bind, peer bytes wait in the ring the same way (RFC 6062 §5.3).
 *
 * Ports: a listener binds its port alone (no SO_REUSEPORT yet), so bind()
 * arbitrates between allocations as for UDP relays; SO_REUSEPORT is set
 * once it is bound, so the Connect sockets of the same allocation can bind
 * that address and port too (RFC 6062 §5.2: the local end is the relayed
 * address). Another allocation's listener, binding without SO_REUSEPORT,
 * still finds the port taken.
 */
#ifndef ICESTATION_NET_TCP_RELAY_H
#define ICESTATION_NET_TCP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/config.h"
#include "icestation/turn.h"

struct net_worker;
struct net_conn;
struct event;
struct ssl_st;

enum {
	/* Listener handles: above every UDP relay handle (< 2^21 slots), below
	 * the dormant reservations (2^24). */
	NET_TCP_RELAY_BASE = 1 << 22,
	NET_TCP_PAIR_BUF = 16 * 1024, /* bytes each way per data connection */
	NET_TCP_RELAY_BACKLOG = 64,
	NET_TCP_RELAY_ACCEPT_BATCH = 16,
	/* One side closed: the other gets this long for what is buffered. */
	NET_TCP_DRAIN_MS = 5000,
};

/* A slot table: handle = index, NULL = free. */
struct net_tcp_slots {
	void **v;
	unsigned cap, used;
};

struct net_tcp_relays {
	struct net_tcp_slots listeners; /* struct net_tcp_listener, handle - NET_TCP_RELAY_BASE */
	struct net_tcp_slots pairs;     /* struct net_pair */
};

/* What a client stream leaves behind when it stops being one (stream.c). */
struct net_detached {
	int fd;
	struct ssl_st *ssl;
	bool tls_want_write, tls_write_wait_read;
	enum ice_transport transport;
	struct ice_addr local, remote; /* listener address: local as bound */
	struct ice_addr listen_addr;
	uint8_t *in; /* owned: the unread input is in[in_off .. in_len) */
	size_t in_off, in_len, in_cap;
	uint8_t *out; /* owned: output not yet written, in order */
	size_t out_len;
};

/* tcp_relay.c ------------------------------------------------------------ */

/* The worker's tables (before its thread runs), and their end. */
int net_tcp_relay_worker_init(struct net_worker *w);
void net_tcp_relay_worker_fini(struct net_worker *w);
/* turn_io callbacks (ctx = the worker). */
int net_tcp_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res);
void net_tcp_relay_close(void *ctx, int handle);
int net_tcp_connect(void *ctx, int relay_handle, const struct ice_addr *peer, uint32_t id);
void net_tcp_close(void *ctx, int handle);
void net_tcp_bind(void *ctx, int handle, const struct turn_5tuple *ft);
/* Slot tables: a free handle for p (or -ENOMEM), the object of handle, release. */
int net_tcp_slot_put(struct net_tcp_slots *t, void *p);
void *net_tcp_slot_get(const struct net_tcp_slots *t, int handle);
void net_tcp_slot_clear(struct net_tcp_slots *t, int handle);

/* tcp_pair.c ------------------------------------------------------------- */

struct net_pair;
/* A pair on a peer socket fd (taken over): connecting (waits for writable,
 * then turn_tcp_connected) or connected. NULL when out of memory (fd
 * closed). */
struct net_pair *net_pair_new(struct net_worker *w, int fd, bool connecting);
int net_pair_handle(const struct net_pair *p);
/* turn knows it as id from now on (it reports its closing). */
void net_pair_set_id(struct net_pair *p, uint32_t id);
/* Start reading the peer (after turn kept it). */
void net_pair_start(struct net_pair *p);
/* Attach the client's data connection d (taken over) to pair handle. */
void net_pair_attach(struct net_worker *w, int handle, struct net_detached *d);
/* Close both sides; report to turn when told (not when turn asked). */
void net_pair_close(struct net_pair *p, bool report);

/* tcp_takeover.c --------------------------------------------------------- */

/*
 * A frame on stream conn from the dispatcher: if it is a ConnectionBind
 * for a connection another worker holds, mark conn for handover and return
 * true (the frame is left in its input for that worker).
 */
bool net_tcp_want_handover(struct net_worker *w, struct net_conn *conn, const struct stun_msg *msg);
/* conn_frames saw conn's takeover mark: do it (off = bytes consumed). */
void net_stream_takeover(struct net_conn *c, size_t off);
/* A handed-over stream arrived in w's mailbox. */
void net_tcp_adopt(struct net_worker *w, struct net_detached *d);
/* Free what d holds (a handover nobody took). Accepts NULL. */
void net_detached_free(struct net_detached *d);

#endif
