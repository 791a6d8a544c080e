/*
 * Private to src/net: the worker, its listeners, the packet 5-tuple handed to
 * the dispatcher, and the reply path. One struct net_worker per thread; every
 * field is touched only by that thread once it runs (no locks), except
 * `running`, which ice_net_ready reads.
 */
#ifndef ICESTATION_NET_INTERNAL_H
#define ICESTATION_NET_INTERNAL_H

#include <sys/socket.h>

#include <netinet/in.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/config.h"
#include "icestation/metrics.h"
#include "icestation/net.h"
#include "icestation/ratelimit.h"
#include "icestation/stun.h"
#include "icestation/turn.h"

struct event;
struct event_base;
struct ssl_st;     /* OpenSSL's SSL, used through tls.c only */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

enum {
	/* Datagrams per recvmmsg / sendmmsg call. */
	NET_UDP_BATCH = 32,
	/* Largest UDP_SEGMENT (GSO) send: its segments together, under the
	 * 64 KiB IP datagram limit with room for headers. */
	NET_UDP_GSO_BYTES = 60000,
	/* recvmmsg calls per readiness event, so one busy socket cannot starve
	 * the others sharing the loop (then libevent calls us again). */
	NET_UDP_MAX_BATCHES = 8,
	/* Receive slot. STUN over UDP stays under the path MTU; a longer datagram
	 * arrives with MSG_TRUNC and is dropped and counted (reason "truncated").
	 * 4096 covers every 1500-byte path with room to spare; jumbo-frame TURN
	 * media (up to 9000) would need this raised. */
	NET_UDP_SLOT_LEN = 4096,
	/* Receive slot stride: TURN frames a relayed datagram in place (Data
	 * indication or ChannelData header in front, padding behind), so every
	 * slot has that room around the NET_UDP_SLOT_LEN bytes recvmmsg fills. */
	NET_RX_SLOT_STRIDE = TURN_PEER_HEADROOM + NET_UDP_SLOT_LEN + TURN_PEER_TAILROOM,
	/* One copied reply (Binding, TURN responses: turn's scratch is 1 KiB).
	 * Relayed data never lands here: it is queued by reference. */
	NET_TX_SLOT_LEN = 1024,
	/* Largest TCP frame: STUN header + 16-bit length (ChannelData is smaller). */
	NET_TCP_FRAME_MAX = STUN_HEADER_LEN + 65535,
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
	/* Per-worker rate-limit table. */
	NET_RL_ENTRIES = 8192,
	/* Listen addresses x ((STUN + TURN) x (UDP + TCP) + TURN over TLS). */
	NET_MAX_LISTENERS = ICE_CONFIG_MAX_LISTEN * (2 * 2 + 1),
	NET_SOCK_BUF = 1 << 20, /* SO_RCVBUF/SO_SNDBUF asked for (the kernel may cap) */
	/* Relay sockets: one allocation's media, a few hundred ms of it at
	 * video rates. The kernel charges only what is queued. */
	NET_RELAY_SOCK_BUF = 256 * 1024,
	/* Relay slots are allocated in chunks so pointers stay stable. */
	NET_RELAY_CHUNK = 256,
	/* Handles at or above this name a dormant EVEN-PORT reservation in the
	 * process-wide table (any worker may adopt or close it). */
	NET_DORMANT_BASE = 1 << 24,
	NET_DORMANT_MAX = TURN_MAX_RESERVATIONS,
	/* Ready relay sockets taken per epoll_wait on the relay set. */
	NET_RELAY_EVENTS = 64,
	/* Ports probed per relay_open before answering 508. */
	NET_RELAY_BIND_TRIES = 128,
	/* Released relay sockets kept bound for the next Allocate (relay.c):
	 * at most this many per worker and family, for at most this long. */
	NET_RELAY_SPARE_MAX = 64,
	NET_RELAY_SPARE_MS = 2000,
	/* Local addresses relays may bind (per family, from relay-ip-range). */
	NET_MAX_RELAY_ADDRS = 8,
	/* turn_expire tick. */
	NET_TURN_TICK_MS = 100,
};

/* What a listening socket serves (one socket set when stun.port == turn.port). */
enum net_role {
	NET_ROLE_STUN = 1u << 0,
	NET_ROLE_TURN = 1u << 1,
};

struct net_worker;
struct net_conn;

/* One relay socket of a worker; handle = its index in the worker's table. */
struct net_relay {
	struct net_worker *w;
	int fd; /* -1: free */
	int handle;
	int next_free;
	bool df_alloc;         /* DONT-FRAGMENT asked at Allocate */
	bool df_on;            /* what the socket does now */
	bool spare;            /* released, kept bound for reuse (no allocation) */
	bool spare_busy;       /* a datagram reached it as a spare: close, never reuse */
	struct net_conn *conn; /* TCP/TLS client connection holding the allocation, or NULL */
	struct ice_addr bound;
};

struct net_listener {
	struct net_worker *w;
	int fd;
	enum ice_transport transport; /* ICE_TRANSPORT_UDP, _TCP or _TLS (a TCP socket) */
	unsigned roles;               /* enum net_role bits */
	bool wildcard;                /* bound to 0.0.0.0 or ::; local address from pktinfo */
	struct ice_addr addr;         /* bound address and port */
	struct event *ev;             /* read (UDP) or accept (TCP) */
	struct event *ev_pause;       /* TCP: re-enables accept after EMFILE */
	size_t tcp_frame_max;
};

/* One packet (UDP datagram or TCP frame) and its 5-tuple. */
struct net_pkt {
	struct ice_addr local;  /* the address the client sent to */
	struct ice_addr remote; /* the client as the server sees it */
	enum ice_transport transport;
	struct net_listener *l;
	struct net_conn *conn; /* TCP and TLS only, else NULL */
	int ifindex;           /* UDP on a wildcard socket: arrival interface */
};

union net_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* A GSO message's control data: the source (pktinfo) and UDP_SEGMENT. */
union net_gso_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
};

struct net_worker {
	struct ice_net *net;
	const struct ice_config *cfg;
	unsigned id;
	struct event_base *base;
	pthread_t thread;
	bool started;
	atomic_bool running;
	int stop_fd; /* eventfd written by ice_net_stop */
	struct event *ev_stop;
	struct ice_metrics *m;    /* created at thread start */
	struct ice_ratelimit *rl; /* NULL = no rate limit */
	ice_ms_t now;             /* read once per callback (batch) */

	struct net_listener listeners[NET_MAX_LISTENERS];
	size_t n_listeners;

	/* UDP receive slots, shared by every socket of the worker. A callback
	 * receives into [rx_used, NET_UDP_BATCH): slots before rx_used may hold
	 * datagrams queued by reference for the send batch, which goes out at
	 * the end of the event-loop iteration (or when the slots run out). */
	unsigned rx_used;
	struct mmsghdr rx_msgs[NET_UDP_BATCH];
	struct iovec rx_iov[NET_UDP_BATCH];
	struct sockaddr_storage rx_names[NET_UDP_BATCH];
	union net_cmsg rx_cmsg[NET_UDP_BATCH];
	uint8_t rx_buf[NET_UDP_BATCH][NET_RX_SLOT_STRIDE]; /* data at +TURN_PEER_HEADROOM */

	/* UDP send batch: datagrams from one socket (a listener or a relay),
	 * flushed at the end of each event-loop iteration (or when full, when
	 * the receive slots run out, or before queueing for another socket).
	 * Entries point into tx_buf (copied replies) or, by reference, into
	 * rx_buf or a TCP input buffer: so a TCP callback flushes before it
	 * returns or reuses its buffer. */
	int tx_fd;
	bool tx_relay;   /* tx_fd is a relay socket (counted as relay tx) */
	bool tx_gso_off; /* UDP_SEGMENT refused by this host (EIO): never again */
	unsigned tx_n;
	struct mmsghdr tx_msgs[NET_UDP_BATCH];
	struct iovec tx_iov[NET_UDP_BATCH];
	struct sockaddr_storage tx_names[NET_UDP_BATCH];
	union net_cmsg tx_cmsg[NET_UDP_BATCH];
	union net_gso_cmsg tx_gso_cmsg[NET_UDP_BATCH];
	uint8_t tx_buf[NET_UDP_BATCH][NET_TX_SLOT_LEN];

	/* TCP client connections. */
	struct net_conn *conns; /* doubly linked, for teardown */
	size_t n_conns;
	uint8_t tcp_reply[NET_TX_SLOT_LEN];

	/* TURN (turn_glue.c, relay.c). */
	struct turn_server *turn;
	struct event *ev_turn_tick;
	const struct net_pkt *cur_pkt; /* the packet turn_handle_stun is handling */
	struct net_relay **relay_chunks;
	size_t n_relay_chunks, max_relay_chunks;
	int relay_free;    /* free list head, -1 = empty */
	uint64_t rng;      /* xorshift state for relay port starts */
	unsigned relay_rr; /* next relay address to try first (round robin) */
	/* Relay sockets are polled by the worker's own epoll set (data = the
	 * handle), itself one event on base: no libevent event, no malloc and
	 * no evmap entry per relay. -1 without TURN. */
	int relay_ep;
	struct event *ev_relay_ep;
	/* Spare relay sockets per family (0 IPv4, 1 IPv6), oldest first: a
	 * ring of handles with the time each was released. */
	struct net_spare_ring {
		struct {
			int handle;
			uint64_t since;
		} e[NET_RELAY_SPARE_MAX];
		unsigned head, n;
	} spare[2];
	unsigned spare_cap; /* per family; 0 when the port range is too small */
};

/* A dormant EVEN-PORT reservation: bound, not polled, owned by no worker. */
struct net_dormant {
	int fd; /* -1: free */
	struct ice_addr bound;
};

struct ice_net {
	const struct ice_config *cfg;
	struct net_worker **workers;
	unsigned n_workers;
	bool stopped;

	struct turn_shared *turn_shared; /* NULL when TURN is off */
	/* Addresses relays bind: local interface addresses inside relay-ip-range. */
	struct ice_addr relay_addrs[NET_MAX_RELAY_ADDRS];
	size_t n_relay_addrs;
	/* Interface addresses (wildcard listeners): "self" for the peer policy. */
	struct ice_addr *if_addrs;
	size_t n_if_addrs;
	pthread_mutex_t dormant_lock; /* Allocate-time only */
	struct net_dormant dormant[NET_DORMANT_MAX];
	/* TURN over TLS: certificate and key, shared read-only by every worker
	 * (OpenSSL locks the session cache itself). NULL when tls is off. */
	struct ssl_ctx_st *tls_ctx;
};

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
ice_ms_t net_clock_ms(void);

/* listen.c: create every listening socket of w from cfg. 0 or -errno (logged). */
int net_listeners_open(struct net_worker *w);
/* Close w's listening sockets and free their events. */
void net_listeners_close(struct net_worker *w);

/* udp.c: register the read event of a UDP listener. 0 or -errno. */
int net_udp_start(struct net_listener *l);
/* Send every queued UDP datagram. */
void net_udp_flush(struct net_worker *w);
/*
 * Queue one datagram buf[0..len) on fd to `to`. from: the source address to
 * force with pktinfo (wildcard listener) or NULL. copy: copy buf into a send
 * slot (it dies on return; len <= NET_TX_SLOT_LEN or it is dropped and
 * counted); else buf is queued by reference and must live until the next
 * net_udp_flush (the end of the current callback). Flushes first when the
 * batch is full or holds another fd. relay: fd is a relay socket (metrics).
 */
void net_udp_queue(struct net_worker *w, int fd, bool relay, const struct ice_addr *to,
                   const struct ice_addr *from, int ifindex, const uint8_t *buf, size_t len,
                   bool copy);
/*
 * Receive slots for the next recvmmsg (shared with relay.c): flushes the send
 * batch when every slot is taken, prepares the free slots (no control data
 * when !want_cmsg) and returns the first one; *n is how many are free.
 */
unsigned net_udp_rx_slots(struct net_worker *w, bool want_cmsg, unsigned *n);
/* n datagrams were received from slot first on: keep them until the flush. */
void net_udp_rx_done(struct net_worker *w, unsigned first, unsigned n);
/* The end of one event-loop iteration: send the batch, free the slots. */
void net_udp_iteration_end(struct net_worker *w);

/* tcp.c: register the accept event of a TCP listener. 0 or -errno. */
int net_tcp_start(struct net_listener *l);
/* Close every client connection of w (shutdown). */
void net_tcp_close_all(struct net_worker *w);
/* Append len bytes to conn's output; may close conn (backpressure). */
void net_tcp_send(struct net_conn *conn, const uint8_t *buf, size_t len);
/*
 * delta +1/-1: a relay socket of an allocation made over conn opened/closed.
 * While any is open the idle timeout does not apply (RFC 8656 §3.1: the
 * connection lives as long as its allocation); the frame deadline still does.
 */
void net_tcp_hold(struct net_conn *conn, int delta);
/* How many relay sockets hold conn. */
unsigned net_tcp_holds(const struct net_conn *conn);
/* The connection's 5-tuple addresses. */
const struct ice_addr *net_tcp_local(const struct net_conn *conn);
const struct ice_addr *net_tcp_remote(const struct net_conn *conn);
/* ICE_TRANSPORT_TCP or ICE_TRANSPORT_TLS: what the connection's listener serves. */
enum ice_transport net_tcp_transport(const struct net_conn *conn);

/*
 * tls.c: TURN over TLS on tcp.c's connections. net_tls_init creates
 * net->tls_ctx when turn.transports has tls (certificate and key loaded, a bad
 * file logged by name): 0 or -errno. net_tls_fini frees it.
 * net_tls_new: an SSL in accept state on fd, owned by the caller (NULL: no
 * memory); net_tls_free frees it, first trying a close_notify if notify.
 * net_tls_handshake: 1 done, 0 in progress (*want_write: wait for writable,
 * else readable), or -errno / -EPROTO (failed). net_tls_read: bytes > 0, 0
 * when the peer closed, -EAGAIN (*want_write: the read needs the socket
 * writable), -EPROTO or -errno. net_tls_write: bytes > 0 (one record at a
 * time), -EAGAIN (*want_read: wait for readable), -EPROTO or -errno; after
 * -EAGAIN the retry must offer the same bytes again (they may have moved) and
 * at least as many. net_tls_pending: decrypted or undecrypted bytes wait
 * inside the SSL (the fd may not poll readable for them).
 */
int net_tls_init(struct ice_net *net);
void net_tls_fini(struct ice_net *net);
struct ssl_st *net_tls_new(struct ssl_ctx_st *ctx, int fd);
void net_tls_free(struct ssl_st *ssl, bool notify);
int net_tls_handshake(struct ssl_st *ssl, bool *want_write);
ssize_t net_tls_read(struct ssl_st *ssl, void *buf, size_t len, bool *want_write);
ssize_t net_tls_write(struct ssl_st *ssl, const void *buf, size_t len, bool *want_read);
bool net_tls_pending(const struct ssl_st *ssl);

/*
 * dispatch.c: one packet from pkt's 5-tuple, buf[0..len) borrowed for the
 * call. Demultiplexes, rate-limits requests, answers Binding, hands TURN
 * methods and ChannelData to net_turn_dispatch. Never logs per packet.
 */
void net_dispatch(struct net_worker *w, const struct net_pkt *pkt, const uint8_t *buf, size_t len);

/*
 * Reply path for the handler of pkt: net_reply_buf returns scratch of *cap
 * bytes to build one reply in (a UDP send slot, or the worker's TCP scratch);
 * net_reply_send queues len bytes of it back to pkt->remote from pkt->local
 * over pkt's transport. Build and send one reply before asking for the next.
 */
uint8_t *net_reply_buf(struct net_worker *w, const struct net_pkt *pkt, size_t *cap);
void net_reply_send(struct net_worker *w, const struct net_pkt *pkt, size_t len);

/*
 * turn_glue.c: the seam the TURN state machine plugs into. See the comment
 * at the top of turn_glue.c for what TURN gets from the worker.
 */
int net_turn_shared_init(struct ice_net *net);
void net_turn_shared_fini(struct ice_net *net);
int net_turn_worker_init(struct net_worker *w);
/* On the worker thread once w->m exists: metrics, the expiry tick. 0 or -errno. */
int net_turn_worker_start(struct net_worker *w);
void net_turn_worker_fini(struct net_worker *w);
void net_turn_dispatch(struct net_worker *w, const struct net_pkt *pkt, const struct stun_msg *msg,
                       const uint8_t *buf, size_t len);
void net_turn_conn_closed(struct net_worker *w, struct net_conn *conn);

/*
 * relay.c: relay sockets behind struct turn_io. net_relay_addrs_init picks
 * the local addresses inside relay-ip-range (0, or -EADDRNOTAVAIL logged).
 * net_relay_worker_init/fini size and free w's slot table (fini closes any
 * socket left). net_dormant_close_all closes every reservation (shutdown).
 */
int net_relay_addrs_init(struct ice_net *net);
int net_relay_worker_init(struct net_worker *w);
void net_relay_worker_fini(struct net_worker *w);
void net_dormant_close_all(struct ice_net *net);
int net_relay_open(void *ctx, const struct turn_relay_req *req, struct turn_relay_res *res);
void net_relay_close(void *ctx, int handle);
/* Close the spare relay sockets of w released before now - NET_RELAY_SPARE_MS. */
void net_relay_spare_expire(struct net_worker *w, uint64_t now);
void net_relay_send_peer(void *ctx, int handle, const struct ice_addr *peer, const uint8_t *buf,
                         size_t len, unsigned flags);
/* Whether relay sockets can set DF. */
bool net_relay_can_df(void);

#endif
