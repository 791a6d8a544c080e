/*
 * Relay pump: push datagrams through the held allocations in one direction
 * with a bounded number in flight (closed loop: the server is kept busy but
 * never drowned), count what arrives on the other side and read the server's
 * CPU time over the measured window. Loss = sent - received after a drain.
 *
 * With --active N the pump drives the first N allocations only, exactly as
 * if only N existed (same per-allocation bursts, same peer stepping), while
 * all --allocs stay live on the server: the one difference from a run with
 * --allocs N is the amount of live state.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

static const double STALL = 0.02; /* no arrival for this long: count in-flight as lost */
/* Over TCP/TLS the client's leg loses nothing: a short stall there means a
 * slow server, and refilling the window would only queue more in its socket
 * (an open loop that grows). Only the UDP leg can lose; give it longer. */
static const double STALL_STREAM = 0.25;
static const double DRAIN = 0.3;

struct pump {
	struct lg *g;
	bool c2p;
	int size;
	int n; /* allocations driven: al[0..n) */
	long sent, received, bad, stalls;
	long inflight;
	double last_rx;
	int cursor;           /* next allocation (c2p) */
	int *peer_next;       /* p2c: next allocation per peer socket */
	uint8_t bad_head[16]; /* the first malformed arrival, for the JSON */
	int bad_len;
	uint8_t payload[LG_PKT_MAX];
};

/* Prebuilt client->server datagram for allocation a: ChannelData or Send indication. */
static int
build_template(struct lg *g, struct lg_alloc *a, const uint8_t *payload, int size)
{
	free(a->tmpl);
	a->tmpl = malloc(LG_PKT_MAX);
	if (!a->tmpl)
		return -1;
	if (!g->o.indication) {
		a->tmpl[0] = (uint8_t)(a->channel >> 8);
		a->tmpl[1] = (uint8_t)a->channel;
		a->tmpl[2] = (uint8_t)(size >> 8);
		a->tmpl[3] = (uint8_t)size;
		memcpy(a->tmpl + 4, payload, (size_t)size);
		a->tmpl_len = (uint16_t)(4 + size);
		/* On a stream, padded to a multiple of 4 (RFC 8656 §12.5). */
		while (a->conn && a->tmpl_len % 4)
			a->tmpl[a->tmpl_len++] = 0;
		return 0;
	}
	struct lg_wr w;
	uint8_t tid[12];
	lg_new_tid(g, tid);
	lg_msg_init(&w, a->tmpl, LG_PKT_MAX, LG_SEND_IND, tid);
	lg_attr_xor4(&w, LG_A_XOR_PEER, &a->peer);
	lg_attr(&w, LG_A_DATA, payload, (size_t)size);
	a->tmpl_len = (uint16_t)lg_msg_len(&w);
	return a->tmpl_len ? 0 : -1;
}

/* client -> server: up to budget datagrams, a few per allocation in turn. */
static void
send_c2p(struct pump *p, long budget)
{
	struct lg *g = p->g;
	struct mmsghdr mm[LG_BATCH_MAX];
	struct iovec iov[LG_BATCH_MAX];
	int per = g->o.batch;
	if (per * p->n > g->o.window)
		per = g->o.window / p->n;
	if (per < 1)
		per = 1;
	while (budget > 0) {
		struct lg_alloc *a = &g->al[p->cursor];
		p->cursor = (p->cursor + 1) % p->n;
		if (a->state != AS_READY)
			continue; /* refused at set-up: counted there */
		int k = (int)(budget < per ? budget : per);
		if (a->conn) {
			/* A stream: the burst as k frames in one send. */
			int n = lg_stream_send(a, a->tmpl, a->tmpl_len, k);
			if (n <= 0)
				break;
			p->sent += n;
			p->inflight += n;
			budget -= n;
			continue;
		}
		for (int i = 0; i < k; i++) {
			iov[i].iov_base = a->tmpl;
			iov[i].iov_len = a->tmpl_len;
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int n = sendmmsg(a->fd, mm, (unsigned)k, 0);
		if (n <= 0)
			break;
		p->sent += n;
		p->inflight += n;
		budget -= n;
	}
}

/* peer -> relay address: each peer socket sends a batch spread over its allocations
 * (allocation i talks to peer i % peers). Peers without a driven allocation stay quiet. */
static void
send_p2c(struct pump *p, long budget)
{
	struct lg *g = p->g;
	struct mmsghdr mm[LG_BATCH_MAX];
	struct iovec iov;
	iov.iov_base = p->payload;
	iov.iov_len = (size_t)p->size;
	for (int pi = 0; pi < g->o.peers && pi < p->n && budget > 0; pi++) {
		int k = 0, skipped = 0;
		while (k < g->o.batch && k < budget) {
			int idx = p->peer_next[pi];
			struct lg_alloc *a = &g->al[idx];
			p->peer_next[pi] = idx + g->o.peers < p->n ? idx + g->o.peers : pi;
			if (a->state != AS_READY) {
				if (++skipped > p->n)
					break;
				continue;
			}
			memset(&mm[k], 0, sizeof(mm[k]));
			mm[k].msg_hdr.msg_iov = &iov;
			mm[k].msg_hdr.msg_iovlen = 1;
			mm[k].msg_hdr.msg_name = &a->relay;
			mm[k].msg_hdr.msg_namelen = sizeof(a->relay);
			k++;
		}
		int n = k ? sendmmsg(g->peer_fd[pi], mm, (unsigned)k, 0) : 0;
		if (n <= 0)
			continue;
		p->sent += n;
		p->inflight += n;
		budget -= n;
	}
}

/* Is this datagram, arriving on the expected side, a correctly relayed one? */
static bool
valid(struct pump *p, const uint8_t *buf, size_t len)
{
	if (p->c2p)
		return len == (size_t)p->size;
	if (!p->g->o.indication)
		return len >= 4 + (size_t)p->size && (buf[0] & 0xF0) == 0x40 &&
		       (size_t)((buf[2] << 8) | buf[3]) == (size_t)p->size;
	struct lg_resp r;
	return lg_parse(&r, buf, len) == 0 && r.type == LG_DATA_IND &&
	       r.data_len == (size_t)p->size;
}

/* One arrival, relayed correctly (counted) or not (bad; the first kept for the JSON). */
static void
count_arrival(struct pump *p, const uint8_t *buf, size_t len, bool idle)
{
	if (!idle && valid(p, buf, len)) {
		p->received++;
		if (p->inflight > 0)
			p->inflight--;
		return;
	}
	if (p->bad++ == 0) {
		p->bad_len = (int)len;
		memcpy(p->bad_head, buf, len < sizeof(p->bad_head) ? len : sizeof(p->bad_head));
	}
}

static void
on_frame(void *arg, const uint8_t *buf, size_t len)
{
	count_arrival(arg, buf, len, false);
}

static void
on_frame_idle(void *arg, const uint8_t *buf, size_t len)
{
	count_arrival(arg, buf, len, true);
}

static void
on_frame_drop(void *arg, const uint8_t *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
}

/* Count what arrived on fd. idle: fd is an allocation the pump does not drive, so
 * anything arriving there went to the wrong allocation: counted bad. */
static void
recv_ready(struct pump *p, int fd, bool idle)
{
	static uint8_t bufs[LG_BATCH_MAX][LG_PKT_MAX];
	struct mmsghdr mm[LG_BATCH_MAX];
	struct iovec iov[LG_BATCH_MAX];
	for (int i = 0; i < LG_BATCH_MAX; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = LG_PKT_MAX;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(fd, mm, LG_BATCH_MAX, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++)
		count_arrival(p, bufs[i], mm[i].msg_len, idle);
	if (n > 0)
		p->last_rx = lg_now();
}

static void
poll_once(struct pump *p, int timeout_ms)
{
	struct lg *g = p->g;
	struct epoll_event evs[256];
	int n = epoll_wait(g->ep, evs, 256, timeout_ms);
	for (int k = 0; k < n; k++) {
		uint64_t idx = evs[k].data.u64;
		if (idx < (uint64_t)g->n_al && g->al[idx].conn) {
			/* A client stream: frames to count (p2c) or stray answers to drop. */
			struct lg_alloc *a = &g->al[idx];
			lg_frame_cb cb = p->c2p                  ? on_frame_drop
			                 : idx >= (uint64_t)p->n ? on_frame_idle
			                                         : on_frame;
			long seen = p->received + p->bad;
			lg_stream_recv(g, a, cb, p);
			if (p->received + p->bad != seen)
				p->last_rx = lg_now();
		} else if (idx < (uint64_t)g->n_al) {
			if (p->c2p) /* stray answers on client sockets: read and drop */
				recv(g->al[idx].fd, p->payload, sizeof(p->payload), MSG_DONTWAIT);
			else
				recv_ready(p, g->al[idx].fd, idx >= (uint64_t)p->n);
		} else {
			int fd = g->peer_fd[idx - (uint64_t)g->n_al];
			if (p->c2p)
				recv_ready(p, fd, false);
			else
				recv(fd, p->payload, sizeof(p->payload), MSG_DONTWAIT);
		}
	}
}

int
lg_relay_pump(struct lg *g, bool c2p, int size, bool first)
{
	struct pump p;
	memset(&p, 0, sizeof(p));
	p.g = g;
	p.c2p = c2p;
	p.size = size;
	for (int i = 0; i < size; i++)
		p.payload[i] = (uint8_t)(i * 7 + 1);
	p.n = g->o.active > 0 && g->o.active < g->n_al ? g->o.active : g->n_al;
	p.peer_next = calloc((size_t)g->o.peers, sizeof(int));
	if (!p.peer_next)
		return -1;
	for (int i = 0; i < g->o.peers; i++)
		p.peer_next[i] = i; /* only peers below p.n send: see send_p2c */
	for (int i = 0; i < p.n; i++)
		if (build_template(g, &g->al[i], p.payload, size) < 0)
			return -1;

	double start = lg_now(), t0 = start + g->o.warmup, t1 = t0 + g->o.duration;
	double w0 = 0, w1 = 0, cpu0 = -1, cpu1 = -1;
	double stall = g->o.transport == LG_UDP ? STALL : STALL_STREAM;
	long rx0 = 0, rx1 = 0;
	bool in_window = false;
	p.last_rx = start;
	for (;;) {
		double now = lg_now();
		if (!in_window && now >= t0) {
			in_window = true;
			w0 = now;
			cpu0 = lg_proc_cpu_us(g->o.server_pid);
			rx0 = p.received;
		}
		if (in_window && now >= t1) {
			w1 = now;
			cpu1 = lg_proc_cpu_us(g->o.server_pid);
			rx1 = p.received;
			break;
		}
		long budget = g->o.window - p.inflight;
		if (budget > 0) {
			if (c2p)
				send_c2p(&p, budget);
			else
				send_p2c(&p, budget);
		}
		poll_once(&p, budget > 0 ? 0 : 2);
		if (p.inflight > 0 && lg_now() - p.last_rx > stall) {
			p.inflight = 0; /* what is still out is lost; counted below */
			p.stalls++;
			p.last_rx = lg_now();
		}
	}
	double drain_end = lg_now() + DRAIN;
	while (lg_now() < drain_end)
		poll_once(&p, 10);
	double secs = w1 - w0, pkts = (double)(rx1 - rx0);
	long lost = p.sent - p.received;
	printf("%s{\"dir\":\"%s\",\"size\":%d,\"seconds\":%.3f,\"packets\":%.0f,\"pps\":%.1f,"
	       "\"cpu_us\":%.0f,\"cpu_us_per_op\":%.3f,\"sent\":%ld,\"received\":%ld,"
	       "\"lost\":%ld,\"loss\":%.6f,\"bad\":%ld,\"stalls\":%ld",
	       first ? "" : ",", c2p ? "c2p" : "p2c", size, secs, pkts, pkts / secs, cpu1 - cpu0,
	       pkts > 0 && cpu0 >= 0 ? (cpu1 - cpu0) / pkts : -1.0, p.sent, p.received, lost,
	       p.sent > 0 ? (double)lost / (double)p.sent : 0.0, p.bad, p.stalls);
	if (p.bad > 0) {
		/* What the first malformed arrival looked like: length and head. */
		printf(",\"bad_len\":%d,\"bad_head\":\"", p.bad_len);
		for (int i = 0; i < p.bad_len && i < (int)sizeof(p.bad_head); i++)
			printf("%02x", p.bad_head[i]);
		printf("\"");
	}
	printf("}");
	free(p.peer_next);
	return pkts > 0 ? 0 : 1;
}
