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

struct event;
struct event_base;

enum {
	/* Datagrams per recvmmsg / sendmmsg call. */
	NET_UDP_BATCH = 32,
	/* recvmmsg calls per readiness event, so one busy socket cannot starve
	 * the others sharing the loop (then libevent calls us again). */
	NET_UDP_MAX_BATCHES = 8,
	/* Receive slot. STUN over UDP stays under the path MTU; a longer datagram
	 * arrives with MSG_TRUNC and is dropped and counted (reason "truncated").
	 * 4096 covers every 1500-byte path with room to spare; jumbo-frame TURN
	 * media (up to 9000) would need this raised. */
	NET_UDP_SLOT_LEN = 4096,
	/* One reply (Binding success, 420, and later TURN responses). */
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
	/* (STUN + TURN) x listen addresses x (UDP + TCP). */
	NET_MAX_LISTENERS = 2 * ICE_CONFIG_MAX_LISTEN * 2,
	NET_SOCK_BUF = 1 << 20, /* SO_RCVBUF/SO_SNDBUF asked for (the kernel may cap) */
};

/* What a listening socket serves (one socket set when stun.port == turn.port). */
enum net_role {
	NET_ROLE_STUN = 1u << 0,
	NET_ROLE_TURN = 1u << 1,
};

struct net_worker;
struct net_conn;

struct net_listener {
	struct net_worker *w;
	int fd;
	enum ice_transport transport; /* ICE_TRANSPORT_UDP or ICE_TRANSPORT_TCP */
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
	struct net_conn *conn; /* TCP only, else NULL */
	int ifindex;           /* UDP on a wildcard socket: arrival interface */
};

union net_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
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

	/* UDP receive batch. */
	struct mmsghdr rx_msgs[NET_UDP_BATCH];
	struct iovec rx_iov[NET_UDP_BATCH];
	struct sockaddr_storage rx_names[NET_UDP_BATCH];
	union net_cmsg rx_cmsg[NET_UDP_BATCH];
	uint8_t rx_buf[NET_UDP_BATCH][NET_UDP_SLOT_LEN];

	/* UDP send batch: replies to one socket, flushed after each receive
	 * batch (or when full, or before queueing for another socket). */
	int tx_fd;
	unsigned tx_n;
	struct mmsghdr tx_msgs[NET_UDP_BATCH];
	struct iovec tx_iov[NET_UDP_BATCH];
	struct sockaddr_storage tx_names[NET_UDP_BATCH];
	union net_cmsg tx_cmsg[NET_UDP_BATCH];
	uint8_t tx_buf[NET_UDP_BATCH][NET_TX_SLOT_LEN];

	/* TCP client connections. */
	struct net_conn *conns; /* doubly linked, for teardown */
	size_t n_conns;
	uint8_t tcp_reply[NET_TX_SLOT_LEN];

	void *turn; /* TURN's per-worker state, owned by turn_glue.c */
};

struct ice_net {
	const struct ice_config *cfg;
	struct net_worker **workers;
	unsigned n_workers;
	bool stopped;
};

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
ice_ms_t net_clock_ms(void);

/* listen.c: create every listening socket of w from cfg. 0 or -errno (logged). */
int net_listeners_open(struct net_worker *w);
/* Close w's listening sockets and free their events. */
void net_listeners_close(struct net_worker *w);

/* udp.c: register the read event of a UDP listener. 0 or -errno. */
int net_udp_start(struct net_listener *l);
/* Send every queued UDP reply. */
void net_udp_flush(struct net_worker *w);

/* tcp.c: register the accept event of a TCP listener. 0 or -errno. */
int net_tcp_start(struct net_listener *l);
/* Close every client connection of w (shutdown). */
void net_tcp_close_all(struct net_worker *w);
/* Append len bytes to conn's output; may close conn (backpressure). */
void net_tcp_send(struct net_conn *conn, const uint8_t *buf, size_t len);

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
int net_turn_worker_init(struct net_worker *w);
void net_turn_worker_fini(struct net_worker *w);
void net_turn_dispatch(struct net_worker *w, const struct net_pkt *pkt, const struct stun_msg *msg,
                       const uint8_t *buf, size_t len);
void net_turn_conn_closed(struct net_worker *w, struct net_conn *conn);

#endif
