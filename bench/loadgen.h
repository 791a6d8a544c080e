/*
 * Shared state of the load generator (bench/loadgen*.c). One thread, epoll,
 * batched sendmmsg/recvmmsg; the server's CPU time comes from /proc/PID/stat.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <netinet/in.h>

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lg_stun.h"

enum {
	LG_BATCH_MAX = 64,
	LG_PKT_MAX = 1600,
	LG_USER_MAX = 96,
};

/* Client transport to the server; peers are UDP in every case. */
enum lg_transport {
	LG_UDP,
	LG_TCP,
	LG_TLS
};

struct lg_opts {
	const char *mode; /* binding | relay | alloc-cycle | alloc-hold */
	struct sockaddr_in server;
	int server_pid; /* 0: no CPU/RSS figures */
	const char *secret;
	double duration; /* measured window, seconds */
	double warmup;
	int allocs;   /* relay / alloc-hold: allocations held */
	int active;   /* relay: the pump drives the first `active` only (0: all) */
	int sockets;  /* binding / alloc-cycle: client sockets */
	int sizes[4]; /* relay payload sizes */
	int n_sizes;
	bool dir_c2p, dir_p2c;
	uint32_t client_ip; /* host order: first client address */
	int client_port, client_ports;
	uint32_t peer_ip;
	int peer_port, peers;
	int window; /* packets or transactions in flight */
	int batch;
	bool forwarder;  /* relay setup via bench/forwarder's registration */
	bool indication; /* Send/Data indications instead of ChannelData */
	int lifetime;
	double timeout;      /* setup phase deadline, seconds */
	double release_wait; /* relay / alloc-hold: seconds after the release before RSS */
	/* soak mode (lg_soak.c): rates are per second, bounded by main(). */
	int flows;          /* steady flows: al[0..flows), half ChannelData, half Send/Data */
	double flow_pps;    /* per flow and direction */
	double churn_rate;  /* churn operations (Refresh, Refresh(0), abandon) */
	double flood_rate;  /* per flood kind */
	uint32_t flood_ip;  /* first flood source address (one per kind) */
	double abandon_end; /* stop abandoning allocations this long before the end */
	/* alloc-cycle: --churn-rate paces cycle starts when > 0 (else closed
	 * loop); --cycles caps the cycles started (0: no cap). */
	long max_cycles;
	enum lg_transport transport;
	const char *tls_ca; /* --tls-ca: PEM the server's certificate must chain to */
};

enum lg_alloc_state {
	AS_IDLE,
	AS_ALLOC, /* Allocate (or forwarder registration) sent */
	AS_BIND,  /* ChannelBind / CreatePermission sent */
	AS_READY,
	AS_FREE,    /* Refresh(0) sent */
	AS_REFRESH, /* Refresh with the lifetime sent (soak: keep an allocation alive) */
	AS_DONE,
	AS_FAILED,
};

struct lg_conn;
struct ssl_ctx_st;

struct lg_alloc {
	int fd;
	struct lg_conn *conn; /* TCP/TLS client transport (lg_stream.c), else NULL */
	struct sockaddr_in local;
	struct sockaddr_in relay;
	struct sockaddr_in peer; /* the generator's peer socket this allocation talks to */
	int peer_idx;
	uint16_t channel;
	bool ind;    /* bind with CreatePermission (Send/Data), not ChannelBind */
	bool rebind; /* after a Refresh, renew the permission or channel too */
	uint8_t state;
	uint8_t tries;
	uint8_t challenges;
	int last_error;
	double sent_at;
	double cycle_start;
	uint8_t tid[12];
	uint16_t req_len;
	char username[LG_USER_MAX];
	char pass[32];
	uint8_t key[16];
	bool have_key;
	char nonce[LG_MAX_NONCE + 1];
	uint8_t req[512];
	uint8_t *tmpl; /* relay: prebuilt ChannelData / Send indication */
	uint16_t tmpl_len;
};

struct lg {
	struct lg_opts o;
	int ep;
	struct lg_alloc *al;
	int n_al;
	int *peer_fd;
	struct sockaddr_in *peer_addr;
	char realm[LG_MAX_REALM + 1];
	char nonce[LG_MAX_NONCE + 1]; /* last nonce seen: tried first by new transactions */
	uint64_t tid_ctr;
	bool no_bind;      /* alloc-cycle: Allocate then Refresh(0), no channel */
	bool fresh_tuples; /* alloc-cycle: each cycle a new 5-tuple without a nonce */
	uint64_t tuple_ctr;
	struct ssl_ctx_st *tls_ctx; /* --transport tls */
	long conn_closed;           /* stream connections the server closed or broke */
	/* Setup / cycle statistics. */
	long done, failed, retransmits, challenges, cycles;
	long started;    /* alloc-cycle: cycles started */
	int errors[700]; /* count per STUN error code seen */
};

/* Set once SIGTERM or SIGINT arrives, after lg_catch_stop(). */
extern volatile sig_atomic_t lg_stop;
/* Catch SIGTERM and SIGINT into lg_stop: the paced modes (soak, paced
 * alloc-cycle) then wind down and print their result. */
void lg_catch_stop(void);
/* Monotonic seconds. */
double lg_now(void);
/* Server utime+stime in microseconds (all threads), or -1. */
double lg_proc_cpu_us(int pid);
/* Server VmRSS in KiB, or -1. */
long lg_proc_rss_kib(int pid);
/* UDP socket bound to ip:port (host order), non-blocking, big buffers. -1 on error. */
int lg_udp_socket(uint32_t ip, int port, struct sockaddr_in *bound);
/* Print "errors":{code:count,...} (no braces around, no newline). */
void lg_print_errors(struct lg *g);
/* Fill a fresh transaction id. */
void lg_new_tid(struct lg *g, uint8_t tid[12]);

/* Send (rebuild: build first, else retransmit) a's request for its state. 0 or -1. */
int lg_send_req(struct lg *g, struct lg_alloc *a, bool rebuild);
/* A TURN response r for a: answers 401/438 challenges, moves a on. Returns 1
 * when a finished a transaction (READY, DONE or FAILED), else 0. */
int lg_on_turn_resp(struct lg *g, struct lg_alloc *a, const struct lg_resp *r);
/* Retransmit transactions of al[lo..hi) older than the RTO, fail those out of
 * tries (408). Returns those failed. */
int lg_check_timeouts(struct lg *g, int lo, int hi, double now);
/* Read every pending answer on a's socket; returns transactions finished. */
int lg_drain_socket(struct lg *g, struct lg_alloc *a);
/* Give slot idx a fresh 5-tuple and start Allocate without a nonce. 0 or -1. */
int lg_cycle_restart(struct lg *g, struct lg_alloc *a, uint64_t idx);

/* Open client sockets and set up allocations (TURN or forwarder). 0 or -1. */
int lg_allocs_open(struct lg *g, int n);
/* Drive every allocation to READY (bind_peer) or to DONE (release). Returns allocations that
 * failed. */
int lg_allocs_run(struct lg *g, bool release);
/* alloc-cycle (lg_cycle.c): Allocate + Refresh(0) on each client socket for
 * the window, closed loop or paced; ends early on SIGTERM; prints JSON. */
int lg_alloc_cycle(struct lg *g);
/* relay pump over the ready allocations; appends JSON windows to stdout. */
int lg_relay_pump(struct lg *g, bool c2p, int size, bool first);
/* soak: churn, steady flows and floods for the duration; JSON lines. */
int lg_soak(struct lg *g);

/* Stream transports (lg_stream.c) -------------------------------------- */

/* Called for each complete frame read from a stream (STUN or padded ChannelData). */
typedef void (*lg_frame_cb)(void *arg, const uint8_t *frame, size_t len);

/* TLS context when --transport tls (verifies against --tls-ca). 0 or -1. */
int lg_stream_init(struct lg *g);
/* Connect a's client stream from ip:port (host order), TLS handshake done.
 * Sets a->fd and a->conn; returns the fd or -1. */
int lg_stream_open(struct lg *g, struct lg_alloc *a, uint32_t ip, int port);
/* Write copies of frame (one TLS record each) with one send(). Returns the
 * copies queued (fewer when the output is full), or -1 on a broken stream. */
int lg_stream_send(struct lg_alloc *a, const uint8_t *frame, size_t len, int copies);
/* Read what is there and call cb per complete frame. 0, or -1 when the
 * stream ended or broke (it is then closed and counted in g->conn_closed). */
int lg_stream_recv(struct lg *g, struct lg_alloc *a, lg_frame_cb cb, void *arg);
/* Close a's stream (a reset: no TIME_WAIT on the fixed client ports). */
void lg_stream_close(struct lg *g, struct lg_alloc *a);
/* Print "tls_version":...,"tls_cipher":..., (with the comma) when TLS is up. */
void lg_stream_describe(struct lg *g);

#endif
