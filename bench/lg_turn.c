/*
 * TURN client state machine of the load generator: many allocations at once,
 * each on its own client socket (a distinct 5-tuple), driven by one epoll
 * loop with a bounded number of transactions in flight, retransmission and
 * the 401 -> nonce -> retry flow. The Allocate + Refresh(0) cycles
 * (lg_cycle.c) and the soak drive the same machine; it also speaks
 * bench/forwarder's registration when the "server" is the bare forwarder.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

enum {
	MAX_TRIES = 6,
	MAX_CHALLENGES = 4,
	SETUP_WINDOW = 64,   /* transactions in flight during set-up */
	STREAM_RTO_MULT = 4, /* TCP/TLS: no retransmission; give up after 4x as long */
};

static const double RTO = 0.25; /* seconds before a retransmission */

/* Forwarder registration: "FWDREG" + peer IPv4 + port, answered "FWDOK\0" + relay. */
static const char FWD_REG[6] = { 'F', 'W', 'D', 'R', 'E', 'G' };
static const char FWD_OK[6] = { 'F', 'W', 'D', 'O', 'K', 0 };
static const char FWD_DEL[6] = { 'F', 'W', 'D', 'D', 'E', 'L' };

static void
ensure_key(struct lg *g, struct lg_alloc *a)
{
	if (!a->have_key && g->realm[0]) {
		lg_lt_key(a->username, g->realm, a->pass, a->key);
		a->have_key = true;
	}
}

/* Build the request for a's current state into a->req. */
static void
build_req(struct lg *g, struct lg_alloc *a)
{
	struct lg_wr w;
	if (g->o.forwarder) {
		uint8_t *p = a->req;
		memcpy(p, a->state == AS_FREE ? FWD_DEL : FWD_REG, 6);
		memcpy(p + 6, &a->peer.sin_addr.s_addr, 4);
		memcpy(p + 10, &a->peer.sin_port, 2);
		a->req_len = 12;
		return;
	}
	lg_new_tid(g, a->tid);
	switch (a->state) {
	case AS_ALLOC:
		lg_msg_init(&w, a->req, sizeof(a->req), LG_ALLOCATE, a->tid);
		lg_attr_u32(&w, LG_A_REQ_TRANSPORT, 17u << 24);
		if (g->o.lifetime > 0)
			lg_attr_u32(&w, LG_A_LIFETIME, (uint32_t)g->o.lifetime);
		break;
	case AS_BIND:
		if (a->ind) {
			lg_msg_init(&w, a->req, sizeof(a->req), LG_CREATE_PERM, a->tid);
		} else {
			lg_msg_init(&w, a->req, sizeof(a->req), LG_CHANNEL_BIND, a->tid);
			lg_attr_u32(&w, LG_A_CHANNEL, (uint32_t)a->channel << 16);
		}
		lg_attr_xor4(&w, LG_A_XOR_PEER, &a->peer);
		break;
	case AS_REFRESH:
		lg_msg_init(&w, a->req, sizeof(a->req), LG_REFRESH, a->tid);
		lg_attr_u32(&w, LG_A_LIFETIME, (uint32_t)g->o.lifetime);
		break;
	default: /* AS_FREE */
		lg_msg_init(&w, a->req, sizeof(a->req), LG_REFRESH, a->tid);
		lg_attr_u32(&w, LG_A_LIFETIME, 0);
		break;
	}
	const char *nonce = a->nonce[0] || g->fresh_tuples ? a->nonce : g->nonce;
	ensure_key(g, a);
	if (nonce[0] && a->have_key)
		lg_auth(&w, a->username, g->realm, nonce, a->key);
	lg_fingerprint(&w);
	a->req_len = (uint16_t)lg_msg_len(&w);
}

int
lg_send_req(struct lg *g, struct lg_alloc *a, bool rebuild)
{
	if (rebuild)
		build_req(g, a);
	else
		g->retransmits++;
	a->sent_at = lg_now();
	if (a->conn)
		return lg_stream_send(a, a->req, a->req_len, 1) < 0 ? -1 : 0;
	if (send(a->fd, a->req, a->req_len, 0) < 0 && errno != EAGAIN)
		return -1;
	return 0;
}

static void
fail(struct lg *g, struct lg_alloc *a, int code)
{
	a->state = AS_FAILED;
	a->last_error = code;
	g->failed++;
	if (code > 0 && code < (int)(sizeof(g->errors) / sizeof(g->errors[0])))
		g->errors[code]++;
}

static void
copy_view(char *dst, size_t cap, const uint8_t *v, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = 0;
}

int
lg_on_turn_resp(struct lg *g, struct lg_alloc *a, const struct lg_resp *r)
{
	if (memcmp(r->tid, a->tid, 12) != 0)
		return 0; /* late answer to an earlier transmission */
	bool ok = (r->type & 0x0110) == LG_CLASS_OK;
	if (!ok) {
		if ((r->error == 401 || r->error == 438) && r->nonce &&
		    a->challenges < MAX_CHALLENGES) {
			a->challenges++;
			g->challenges++;
			copy_view(a->nonce, sizeof(a->nonce), r->nonce, r->nonce_len);
			memcpy(g->nonce, a->nonce, sizeof(g->nonce));
			if (r->realm && !g->realm[0])
				copy_view(g->realm, sizeof(g->realm), r->realm, r->realm_len);
			lg_send_req(g, a, true);
			return 0;
		}
		if (a->state == AS_FREE && r->error == 437) {
			a->state = AS_DONE; /* already gone: a retransmitted Refresh(0) */
			return 1;
		}
		fail(g, a, r->error > 0 ? r->error : 1);
		return 1;
	}
	if (a->have_key && lg_check_mi(r, a->key) != 0) {
		fail(g, a, 2); /* success without a valid MESSAGE-INTEGRITY */
		return 1;
	}
	a->challenges = 0;
	switch (a->state) {
	case AS_ALLOC:
		if (!r->has_relayed) {
			fail(g, a, 3);
			return 1;
		}
		a->relay = r->relayed;
		if (g->no_bind) {
			a->state = AS_READY;
			return 1;
		}
		a->state = AS_BIND;
		lg_send_req(g, a, true);
		return 0;
	case AS_BIND:
		a->state = AS_READY;
		return 1;
	case AS_REFRESH:
		a->state = a->rebind ? AS_BIND : AS_READY;
		if (a->rebind) {
			lg_send_req(g, a, true);
			return 0;
		}
		return 1;
	case AS_FREE:
		a->state = AS_DONE;
		return 1;
	default:
		return 0;
	}
}

/* A forwarder registration answer; returns 1 when a finished. */
static int
on_fwd_resp(struct lg *g, struct lg_alloc *a, const uint8_t *buf, size_t len)
{
	(void)g;
	if (a->state == AS_FREE) {
		a->state = AS_DONE;
		return 1;
	}
	if (a->state != AS_ALLOC || len != 12 || memcmp(buf, FWD_OK, 6) != 0)
		return 0;
	memset(&a->relay, 0, sizeof(a->relay));
	a->relay.sin_family = AF_INET;
	memcpy(&a->relay.sin_addr.s_addr, buf + 6, 4);
	memcpy(&a->relay.sin_port, buf + 10, 2);
	a->state = AS_READY;
	return 1;
}

/* a's client socket from ip:port: UDP connected to the server, or a stream. fd or -1. */
static int
client_open(struct lg *g, struct lg_alloc *a, uint32_t ip, int port)
{
	if (g->o.transport != LG_UDP)
		return lg_stream_open(g, a, ip, port);
	a->fd = lg_udp_socket(ip, port, &a->local);
	if (a->fd < 0 || connect(a->fd, (struct sockaddr *)&g->o.server, sizeof(g->o.server)) < 0)
		return -1;
	return a->fd;
}

int
lg_allocs_open(struct lg *g, int n)
{
	g->al = calloc((size_t)n, sizeof(*g->al));
	g->peer_fd = calloc((size_t)g->o.peers, sizeof(int));
	g->peer_addr = calloc((size_t)g->o.peers, sizeof(*g->peer_addr));
	if (!g->al || !g->peer_fd || !g->peer_addr)
		return -1;
	for (int i = 0; i < g->o.peers; i++) {
		g->peer_fd[i] = lg_udp_socket(g->o.peer_ip, g->o.peer_port + i, &g->peer_addr[i]);
		if (g->peer_fd[i] < 0)
			return -1;
	}
	long long expiry = (long long)time(NULL) + 86400;
	for (int i = 0; i < n; i++) {
		struct lg_alloc *a = &g->al[i];
		uint32_t ip = g->o.client_ip + (uint32_t)(i / g->o.client_ports);
		if (client_open(g, a, ip, g->o.client_port + i % g->o.client_ports) < 0)
			return -1;
		a->ind = g->o.indication;
		a->peer_idx = i % g->o.peers;
		a->peer = g->peer_addr[a->peer_idx];
		a->channel = (uint16_t)(0x4000 + i % 0x1000);
		char user[32];
		snprintf(user, sizeof(user), "bench%d", i);
		if (lg_rest_cred(g->o.secret, expiry, user, a->username, sizeof(a->username),
		                 a->pass, sizeof(a->pass)) < 0)
			return -1;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
		if (epoll_ctl(g->ep, EPOLL_CTL_ADD, a->fd, &ev) < 0)
			return -1;
		g->n_al++;
	}
	for (int i = 0; i < g->o.peers; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(n + i) };
		if (epoll_ctl(g->ep, EPOLL_CTL_ADD, g->peer_fd[i], &ev) < 0)
			return -1;
	}
	return 0;
}

struct stream_ctx {
	struct lg *g;
	struct lg_alloc *a;
	int finished;
};

/* A frame from a's stream during set-up or release: only STUN answers count. */
static void
on_stream_frame(void *arg, const uint8_t *buf, size_t len)
{
	struct stream_ctx *x = arg;
	struct lg_resp r;
	if ((buf[0] & 0xC0) == 0 && lg_parse(&r, buf, len) == 0)
		x->finished += lg_on_turn_resp(x->g, x->a, &r);
}

int
lg_drain_socket(struct lg *g, struct lg_alloc *a)
{
	uint8_t buf[LG_PKT_MAX];
	int finished = 0;
	if (a->conn) {
		struct stream_ctx x = { g, a, 0 };
		if (lg_stream_recv(g, a, on_stream_frame, &x) < 0 &&
		    (a->state == AS_ALLOC || a->state == AS_BIND || a->state == AS_FREE)) {
			fail(g, a, 4); /* the server closed the connection mid-transaction */
			x.finished++;
		}
		return x.finished;
	}
	for (;;) {
		ssize_t n = recv(a->fd, buf, sizeof(buf), 0);
		if (n < 0)
			break;
		if (g->o.forwarder) {
			finished += on_fwd_resp(g, a, buf, (size_t)n);
			continue;
		}
		struct lg_resp r;
		if (lg_parse(&r, buf, (size_t)n) == 0)
			finished += lg_on_turn_resp(g, a, &r);
	}
	return finished;
}

int
lg_check_timeouts(struct lg *g, int lo, int hi, double now)
{
	int gave_up = 0;
	for (int i = lo; i < hi; i++) {
		struct lg_alloc *a = &g->al[i];
		if (a->state != AS_ALLOC && a->state != AS_BIND && a->state != AS_FREE &&
		    a->state != AS_REFRESH)
			continue;
		if (now - a->sent_at < RTO)
			continue;
		if (++a->tries >= MAX_TRIES * (a->conn ? STREAM_RTO_MULT : 1)) {
			fail(g, a, 408);
			gave_up++;
			continue;
		}
		/* A reliable transport is not retransmitted over (RFC 8489 §6.2.2). */
		if (a->conn)
			a->sent_at = now;
		else
			lg_send_req(g, a, false);
	}
	return gave_up;
}

int
lg_allocs_run(struct lg *g, bool release)
{
	int next = 0, inflight = 0, pending = 0;
	double deadline = lg_now() + g->o.timeout, last_scan = lg_now();
	for (int i = 0; i < g->n_al; i++)
		if (release ? g->al[i].state == AS_READY : g->al[i].state == AS_IDLE)
			pending++;
	int finished = 0, want = pending;
	long failed_before = g->failed;
	struct epoll_event evs[256];
	while (finished < want && lg_now() < deadline) {
		/* A server that refuses or ignores the whole first window will not
		 * do better for the rest: stop early with the error counts. */
		long failed = g->failed - failed_before;
		if (failed >= SETUP_WINDOW && finished == failed)
			break;
		while (inflight < SETUP_WINDOW && next < g->n_al) {
			struct lg_alloc *a = &g->al[next++];
			if (release ? a->state != AS_READY : a->state != AS_IDLE)
				continue;
			a->state = release ? AS_FREE : AS_ALLOC;
			a->tries = 0;
			a->challenges = 0;
			lg_send_req(g, a, true);
			inflight++;
		}
		int n = epoll_wait(g->ep, evs, 256, 5);
		for (int k = 0; k < n; k++) {
			uint64_t idx = evs[k].data.u64;
			if (idx >= (uint64_t)g->n_al)
				continue; /* peer socket */
			int f = lg_drain_socket(g, &g->al[idx]);
			finished += f;
			inflight -= f;
		}
		double now = lg_now();
		if (now - last_scan > RTO / 4) {
			/* Scan only what has been started: the rest is idle. */
			int f = lg_check_timeouts(g, 0, next, now);
			finished += f;
			inflight -= f;
			last_scan = now;
		}
	}
	int bad = 0;
	for (int i = 0; i < g->n_al; i++) {
		uint8_t s = g->al[i].state;
		if (release ? s != AS_DONE : s != AS_READY)
			bad++;
	}
	return bad;
}
