/*
 * Private to src/net: a stream is one TCP or TLS client connection
 * (RFC 8489 §6.2.2 and RFC 8656 §6.3 / §12.5 framing). It has a bounded
 * input buffer holding at most one frame plus whatever the peer already
 * sent of the next, a bounded output ring used only when the kernel's send
 * buffer is full, an idle timeout and a frame-completion deadline (a peer
 * trickling a frame one byte at a time is closed, not waited for). One
 * lazily re-armed timer per connection: reads only record the time; the
 * timer, when it fires, works out which deadline passed, so the packet path
 * never touches the timer heap.
 *
 * TLS (turns:) streams are the same with an SSL object on the fd (tls.c):
 * the handshake must complete within turn.tls.handshake-timeout of the
 * accept (or tcp-idle-timeout if shorter), then every read and write goes
 * through SSL. OpenSSL may need the other direction (a
 * handshake flight, a write waiting for a read), so the write event is
 * wanted while output is pending or an SSL call asked for it.
 *
 *   stream.c      lifecycle, timers, the hold of allocations
 *   stream_in.c   reading, framing, dispatch, the TLS handshake
 *   stream_out.c  writing and the output ring
 *   tcp.c         listening sockets: accept, the connection limits, eviction
 */
#ifndef ICESTATION_NET_STREAM_H
#define ICESTATION_NET_STREAM_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "icestation/addr.h"
#include "icestation/config.h"
#include "icestation/conncap.h"
#include "icestation/metrics.h"

struct net_worker;
struct net_listener;
struct event;
struct ssl_st;

enum {
	/* Largest TCP frame: STUN header + 16-bit length (ChannelData is smaller). */
	NET_TCP_FRAME_MAX = 20 + 65535,
	/* Largest frame on a listener that serves STUN only (no TURN data). */
	NET_TCP_STUN_FRAME_MAX = 4096,
	/* Input buffer at accept; grows to the claimed frame length when needed. */
	NET_TCP_IN_INIT = 2048,
	NET_TCP_OUT_INIT = 2048,
	/* Replies queued to a client that does not read; beyond it we close. */
	NET_TCP_OUT_MAX = 64 * 1024,
	/* A frame must complete within this (or the idle timeout if shorter). */
	NET_TCP_FRAME_TIMEOUT_MS = 10000,
	NET_TCP_ACCEPT_BATCH = 32,
	NET_TCP_ACCEPT_PAUSE_MS = 100,
};

struct net_conn {
	struct net_worker *w;
	struct net_listener *l;
	struct net_conn *prev, *next;
	int fd;
	struct event *ev_read, *ev_write, *ev_timer;
	struct ice_addr local, remote;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out; /* ring, allocated on first short write; pending bytes start at out_head */
	size_t out_head, out_len, out_cap;
	struct ssl_st *ssl;       /* TLS only, else NULL */
	bool tls_ready;           /* handshake done */
	bool tls_want_write;      /* the last handshake step or read waits for writable */
	bool tls_write_wait_read; /* the last write waits for readable */
	ice_ms_t last_rx;         /* for the idle timeout */
	ice_ms_t frame_start;     /* first byte of the incomplete frame; 0 = none */
	ice_ms_t timer_at;        /* when ev_timer fires */
	ice_ms_t accepted_at;     /* TLS: the handshake deadline runs from here */
	/* In w->cap: pending until a first frame, pinned while held. */
	struct ice_conncap_node capn;
	/* Allocations made over it (turn's link_hold): no idle timeout, never evicted. */
	unsigned n_holds;
	bool paused;             /* over its bandwidth: not read until ev_resume */
	struct event *ev_resume; /* made at the first pause */
	bool dead;               /* close at the next safe point, counted as dead_reason */
	enum ice_metric_id dead_reason;
	/* RFC 6062 (tcp_takeover.c): after the frame being dispatched the
	 * stream stops being one: bound to a peer data connection (arg: its
	 * handle) or handed to another worker (arg: the worker's id). */
	uint8_t takeover; /* enum net_takeover */
	int takeover_arg;
};

enum net_takeover {
	NET_TAKE_NONE,
	NET_TAKE_BIND,
	NET_TAKE_HANDOVER,
};

struct net_detached;

/* The rest of net --------------------------------------------------------- */

/* A new stream on an accepted fd from remote, admitted by tcp.c (fd taken
 * over; closed on failure, counted). */
void net_stream_new(struct net_listener *l, int fd, const struct ice_addr *remote);
/* Close every stream of w (shutdown). */
void net_stream_close_all(struct net_worker *w);
/* Append len bytes to c's output; may close c (backpressure), never at once. */
void net_stream_send(struct net_conn *c, const uint8_t *buf, size_t len);
/*
 * delta +1/-1: an allocation made over c became visible / ended (turn's
 * link_hold). While one holds it the idle timeout does not apply (RFC 8656
 * §3.1: the connection lives as long as its allocation) and no newcomer may
 * evict it; the frame deadline still applies.
 */
void net_stream_hold(struct net_conn *c, int delta);
/* How many allocations hold c. */
unsigned net_stream_holds(const struct net_conn *c);
/* The connection's 5-tuple addresses. */
const struct ice_addr *net_stream_local(const struct net_conn *c);
const struct ice_addr *net_stream_remote(const struct net_conn *c);
/* ICE_TRANSPORT_TCP or ICE_TRANSPORT_TLS: what the connection's listener serves. */
enum ice_transport net_stream_transport(const struct net_conn *c);
/*
 * Stop c being a stream (RFC 6062 takeover): d gets its fd, SSL, the input
 * from off on and the output not yet written (all owned by d now), and c is
 * freed without closing them; turn hears the stream's end. 0, or -ENOMEM
 * (c closed).
 */
int net_stream_detach(struct net_conn *c, size_t off, struct net_detached *d);
/*
 * A stream again, on w's listener l, from d (what it owns is taken over,
 * d left empty): its input is dispatched before anything more is read. 0,
 * or -ENOMEM (closed).
 */
int net_stream_adopt(struct net_listener *l, struct net_detached *d);

/* Shared by the stream files only ----------------------------------------- */

void stream_arm(struct net_conn *c, ice_ms_t at);
/* Next deadline of c, or 0 if none. */
ice_ms_t stream_deadline(const struct net_conn *c);
/* Close now (not from inside a dispatch that may still hold c). */
void stream_close(struct net_conn *c, enum ice_metric_id reason);
/* Close from a context that may still hold c: the timer does it next turn. */
void stream_kill(struct net_conn *c, enum ice_metric_id reason);
/* Register for writability exactly when something waits for it. */
void stream_write_interest(struct net_conn *c);
/* Write out as much pending output as the socket takes: 0 or -errno. */
int stream_flush(struct net_conn *c);
/* Close reason for a failed read or write. */
enum ice_metric_id stream_io_reason(ssize_t err);
void stream_on_read(evutil_socket_t fd, short what, void *arg);
void stream_on_write(evutil_socket_t fd, short what, void *arg);
void stream_on_timer(evutil_socket_t fd, short what, void *arg);
void stream_on_resume(evutil_socket_t fd, short what, void *arg);
/* The connection that owns a pool node. */
struct net_conn *stream_of_node(struct ice_conncap_node *n);

#endif
