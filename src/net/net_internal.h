/*
 * Private to src/net: the worker and the net object. Each piece has its own
 * header: batch.h (the datagram batch), listen.h (listening sockets and the
 * packet 5-tuple), stream.h (TCP/TLS connections), relay.h (relay sockets),
 * gen.h (generations), mailbox.h (commands and answers between threads).
 * One struct net_worker per thread: every field is touched only by that
 * thread once it runs, except `running` and `passes` (atomics the main
 * thread reads) and the mailbox (its own lock).
 */
#ifndef ICESTATION_NET_INTERNAL_H
#define ICESTATION_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/config.h"
#include "icestation/conncap.h"
#include "icestation/hostaddr.h"
#include "icestation/metrics.h"
#include "icestation/net.h"
#include "icestation/ratelimit.h"
#include "icestation/stun.h"
#include "icestation/turn.h"

#include "batch.h"
#include "gen.h"
#include "listen.h"
#include "mailbox.h"
#include "relay.h"
#include "stream.h"
#include "tcp_relay.h"

struct event;
struct event_base;
struct ssl_st;     /* OpenSSL's SSL, used through tls.c only */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

enum {
	/* Per-worker rate-limit tables: requests, and 401/438 challenges. */
	NET_RL_ENTRIES = 8192,
	NET_CHALLENGE_ENTRIES = 4096,
	/* Event log lines per source: one a second, a burst of five. */
	NET_LOG_RPS = 1,
	NET_LOG_BURST = 5,
	NET_LOG_RL_ENTRIES = 1024,
	/* Listen addresses x ((STUN + TURN) x (UDP + TCP) + TURN over TLS). */
	NET_MAX_LISTENERS = ICE_CONFIG_MAX_LISTEN * (2 * 2 + 1),
	NET_SOCK_BUF = 1 << 20, /* SO_RCVBUF/SO_SNDBUF asked for (the kernel may cap) */
	/* Local addresses relays may bind (per family, from relay-ip-range). */
	NET_MAX_RELAY_ADDRS = 8,
	/* turn_expire tick. */
	NET_TURN_TICK_MS = 100,
	/* Every worker wakes at least this often, so the watchdog sees it pass. */
	NET_HEARTBEAT_MS = 1000,
	/* Commands a worker takes per loop pass. */
	NET_CMDS_PER_PASS = 16,
};

struct net_worker {
	struct ice_net *net;
	struct net_gen *gen;          /* the generation this worker runs on (one reference) */
	const struct ice_config *cfg; /* gen->cfg */
	unsigned id;
	struct event_base *base;
	pthread_t thread;
	bool started;
	atomic_bool running;
	_Atomic uint64_t passes; /* event-loop passes completed (the watchdog) */
	atomic_bool stop_req;    /* ice_net_stop asks the loop to end */
	struct net_mailbox mailbox;
	struct event *ev_mail, *ev_heartbeat;
	struct ice_metrics *m;        /* created at thread start */
	struct ice_ratelimit *rl;     /* NULL = no rate limit */
	struct ice_ratelimit *log_rl; /* event lines per source (events.c) */
	/* 401/438 challenges over UDP per source, lent to turn; NULL = none. */
	struct ice_ratelimit *challenge_rl;
	ice_ms_t now; /* read once per callback (batch) */

	struct net_listener listeners[NET_MAX_LISTENERS];
	size_t n_listeners;

	struct net_batch batch;

	/* TCP and TLS client connections, at most stun.tcp-max-connections,
	 * capped per source and evicted fairly by cap (tcp.c). Per worker:
	 * see tcp.c for what that means without steering. */
	struct net_conn *conns; /* doubly linked, for teardown */
	size_t n_conns;
	struct ice_conncap *cap;
	uint8_t tcp_reply[NET_TX_SLOT_LEN];

	/* TURN (turn_glue.c) and its relay sockets (relay*.c). */
	struct turn_server *turn;
	struct event *ev_turn_tick;
	struct net_relay_table relays;
	struct net_spares spares;
	struct net_relay_pick pick; /* relay address and port choice (relay_ports.c) */
	/* Relay sockets are polled by the worker's own epoll set (data = the
	 * handle), itself one event on base: no libevent event, no malloc and
	 * no evmap entry per relay. -1 without TURN. */
	int relay_ep;
	struct event *ev_relay_ep;
	struct net_tcp_relays tcp; /* RFC 6062 listeners and data connections */
};

/* A query in flight from the main thread to every worker (net.c). */
struct net_query {
	struct net_query *next; /* the net's queries in flight (main thread) */
	unsigned pending;       /* parts not answered yet (main thread only) */
	ice_net_list_cb list_cb;
	ice_net_close_cb close_cb;
	bool sync; /* ice_net_sync: close_cb(arg, 0 or -EAGAIN) */
	void *arg;
	/* Each worker writes only its own part; the main thread reads them
	 * after the worker's answer came through the reply queue. */
	struct net_query_part {
		int rc;
		size_t total, n;
		struct turn_alloc_info *items;
	} parts[];
};

struct ice_net {
	struct ice_config *cfg;       /* the snapshot at start: restart-only keys (one reference) */
	struct ice_listen_fd *passed; /* socket activation, during ice_net_new only */
	size_t n_passed;
	struct net_gen *gen; /* the latest generation posted (main thread; one reference) */
	struct net_worker **workers;
	unsigned n_workers;
	bool stopped;
	struct net_replies replies;
	struct event *ev_replies;               /* on the main thread's base (ice_net_attach) */
	struct event *ev_quota_flush;           /* sends the releases waiting in the ring */
	unsigned queries_in_flight;             /* main thread */
	struct net_query *queries;              /* those in flight (main thread) */
	struct ice_net_quota_hooks quota_hooks; /* main thread */
	uint64_t *seen_passes;                  /* the watchdog's last look at each worker */

	struct turn_shared *turn_shared; /* NULL when TURN is off */
	/* Addresses relays bind: local interface addresses inside relay-ip-range. */
	struct ice_addr relay_addrs[NET_MAX_RELAY_ADDRS];
	size_t n_relay_addrs;
	/* Their ports, taken or free, per family (relay_ports.c; atomic bits). */
	struct net_relay_fam relay_fam[2];
	/* What the main thread last said of the host (ice_net_set_host; read at
	 * start until then): every interface address, which the peer policy
	 * denies, and the public IPs in force (family 0: the configuration's). */
	struct ice_host_addrs host_addrs;
	struct ice_addr public_stun, public_turn;
	pthread_mutex_t dormant_lock; /* Allocate-time only */
	struct net_dormant dormant[NET_DORMANT_MAX];
	/* TURN over TLS: the certificate and key in force (main thread; each
	 * generation holds its own reference for its workers: OpenSSL locks
	 * the context's counts and session cache itself). NULL when tls is off. */
	struct ssl_ctx_st *tls_ctx;
};

/* net.c: a finished query's callback (main thread). */
void ice_net_list_done(struct ice_net *net, struct net_query *q);
void ice_net_close_done(struct ice_net *net, struct net_query *q);

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
ice_ms_t net_clock_ms(void);

/* local_addrs.c: the relay addresses inside relay-ip-range (0, or
 * -EADDRNOTAVAIL logged) and every interface address (0 or -errno, logged). */
int net_relay_addrs_init(struct ice_net *net);
int net_if_addrs_load(struct ice_net *net);

/*
 * tls.c: TURN over TLS on the stream connections. net_tls_init creates
 * net->tls_ctx when turn.transports has tls (certificate and key loaded, a bad
 * file logged by name): 0 or -errno. net_tls_fini frees it.
 * net_tls_new: an SSL in accept state on fd, owned by the caller (NULL: no
 * memory); net_tls_free frees it, first trying a close_notify if notify.
 * net_tls_handshake: 1 done, 0 in progress (*want_write: wait for writable,
 * else readable), or -errno / -EPROTO (failed) / -EBADRQC (the client sent a
 * plain HTTP request instead of a ClientHello). net_tls_read: bytes > 0, 0
 * when the peer closed, -EAGAIN (*want_write: the read needs the socket
 * writable), -EPROTO or -errno. net_tls_write: bytes > 0 (one record at a
 * time), -EAGAIN (*want_read: wait for readable), -EPROTO or -errno; after
 * -EAGAIN the retry must offer the same bytes again (they may have moved) and
 * at least as many. net_tls_pending: decrypted or undecrypted bytes wait
 * inside the SSL (the fd may not poll readable for them).
 */
int net_tls_init(struct ice_net *net);
void net_tls_fini(struct ice_net *net);
/* A generation's reference to a context (NULL passes), and its release. */
struct ssl_ctx_st *net_tls_ctx_ref(struct ssl_ctx_st *ctx);
void net_tls_ctx_unref(struct ssl_ctx_st *ctx);
struct ssl_st *net_tls_new(struct ssl_ctx_st *ctx, int fd);
void net_tls_free(struct ssl_st *ssl, bool notify);
int net_tls_handshake(struct ssl_st *ssl, bool *want_write);
ssize_t net_tls_read(struct ssl_st *ssl, void *buf, size_t len, bool *want_write);
ssize_t net_tls_write(struct ssl_st *ssl, const void *buf, size_t len, bool *want_read);
bool net_tls_pending(const struct ssl_st *ssl);

/*
 * sockio.c: one read into buf[0..len) (len > 0) of a TCP connection, through
 * ssl when not NULL: bytes, 0 at the peer's close, -EAGAIN (*want_write:
 * TLS needs the socket writable), or -errno (-EPROTO: TLS failure). One
 * write: bytes taken, -EAGAIN (*want_read: TLS needs it readable), or
 * -errno; TLS takes one record per call and, after -EAGAIN, must be offered
 * the same bytes again.
 */
ssize_t net_sock_read(int fd, struct ssl_st *ssl, uint8_t *buf, size_t len, bool *want_write);
ssize_t net_sock_write(int fd, struct ssl_st *ssl, const uint8_t *buf, size_t len, bool *want_read);

/*
 * dispatch.c: one packet from pkt's 5-tuple, buf[0..len) borrowed for the
 * call. Demultiplexes, rate-limits requests, answers Binding, hands the
 * rest to turn (turn_glue.c). Never logs per packet. Returns 0, or (a stream
 * over its bandwidth, or a stream request over the per-IP rate limit) the ms
 * to wait before offering the same frame again.
 */
long net_dispatch(struct net_worker *w, const struct net_pkt *pkt, const uint8_t *buf, size_t len);

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
/* A decoded TURN frame from pkt's 5-tuple; returns turn_handle_frame's wait. */
long net_turn_dispatch(struct net_worker *w, const struct net_pkt *pkt, const struct stun_frame *f);
/* A stream closed: end the allocation made over it. */
void net_turn_stream_closed(struct net_worker *w, struct net_conn *conn);
/* The worker moved to w->gen: give turn its settings. */
void net_turn_reconfigure(struct net_worker *w);

/* events.c: what turn reports, logged for the operator (turn_io.event). */
void net_turn_event(void *ctx, const struct turn_event *ev);

/* worker.c: a worker (its sockets bound, its thread not started) or NULL,
 * logged; its thread's main; freeing (accepts NULL); its mail, between
 * passes. */
struct net_worker *net_worker_new(struct ice_net *net, unsigned id);
void *net_worker_main(void *arg);
void net_worker_free(struct net_worker *w);
void net_worker_run_mail(struct net_worker *w);

#endif
