/*
 * alloc-cycle mode of the load generator: Allocate + Refresh(0) cycles on
 * --sockets client slots, every cycle a new client on a new 5-tuple.
 *
 * Closed loop by default (a slot starts its next cycle as soon as one ends:
 * the cycle rate benchmark). With --churn-rate R the starts are paced at R
 * per second instead, so the churn load a server gets does not depend on
 * how fast it answers (the cluster case of bench/churn.py runs it beside a
 * relay measurement, and compares two servers under the same churn).
 * --cycles caps the cycles started, and SIGTERM ends the run early; either
 * way the cycles in flight finish (bounded) and the JSON says why it ended.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <stdio.h>
#include <unistd.h>

#include "loadgen.h"

enum {
	CYCLE_IPS = 200, /* client addresses --client-ip + 0..199 */
};

/* Whether --cycles still allows a cycle to start. */
static bool
may_start(const struct lg *g)
{
	return g->o.max_cycles <= 0 || g->started < g->o.max_cycles;
}

/*
 * Give slot a a fresh 5-tuple and start a new client from scratch: no nonce,
 * so every cycle is the full flow a new client goes through (Allocate ->
 * 401 -> authenticated Allocate -> Refresh(0)) on both servers alike. Reusing
 * a 5-tuple at once would measure the server's delayed clean-up instead
 * (coturn answers 437 until its lifetime-0 timer has run).
 */
int
lg_cycle_restart(struct lg *g, struct lg_alloc *a, uint64_t idx)
{
	close(a->fd);
	/* After a wrap-around of the tuple space (long soaks) a tuple may still
	 * be held by a long-lived slot: take the next one. At most n_al tuples
	 * are held, so n_al + 1 in a row find a free one (8 did not: the soak's
	 * 32 steady flows hold 32 in a row, and 60-minute soaks wrapped into
	 * them after about 158,000 operations and stopped). */
	a->fd = -1;
	for (int tries = 0; a->fd < 0 && tries <= g->n_al; tries++) {
		uint64_t k = g->tuple_ctr++;
		uint32_t ip =
			g->o.client_ip + (uint32_t)((k / (uint64_t)g->o.client_ports) % CYCLE_IPS);
		a->fd = lg_udp_socket(ip, g->o.client_port + (int)(k % (uint64_t)g->o.client_ports),
		                      &a->local);
	}
	if (a->fd < 0)
		return -1;
	if (connect(a->fd, (struct sockaddr *)&g->o.server, sizeof(g->o.server)) < 0)
		return -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = idx };
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, a->fd, &ev) < 0)
		return -1;
	a->nonce[0] = 0;
	a->state = AS_ALLOC;
	a->tries = 0;
	a->challenges = 0;
	a->last_error = 0;
	return lg_send_req(g, a, true);
}

/* Move slot i on after a response or a time-out; counts finished cycles. A
 * slot that may not start again at once (stopping, paced, capped) idles. */
static int
cycle_step(struct lg *g, uint64_t i, bool starting)
{
	struct lg_alloc *a = &g->al[i];
	switch (a->state) {
	case AS_READY: /* allocated: release at once */
		a->state = AS_FREE;
		a->tries = 0;
		return lg_send_req(g, a, true);
	case AS_DONE:
		if (a->last_error == 0)
			g->cycles++;
		/* fall through */
	case AS_FAILED:
		if (!starting || g->o.churn_rate > 0 || !may_start(g)) {
			a->state = AS_IDLE;
			return 0;
		}
		g->started++;
		return lg_cycle_restart(g, a, i);
	default:
		return 0;
	}
}

/* --churn-rate: start idle slots as tokens accrue (at most 100 ms worth at
 * once, so a stall is not made up by a burst). */
static int
pace(struct lg *g, double *tokens, double dt)
{
	double cap = 1 + g->o.churn_rate / 10;
	*tokens += dt * g->o.churn_rate;
	if (*tokens > cap)
		*tokens = cap;
	for (int i = 0; i < g->n_al && *tokens >= 1 && may_start(g); i++) {
		if (g->al[i].state != AS_IDLE)
			continue;
		*tokens -= 1;
		g->started++;
		if (lg_cycle_restart(g, &g->al[i], (uint64_t)i) < 0)
			return -1;
	}
	return 0;
}

static bool
all_idle(const struct lg *g)
{
	for (int i = 0; i < g->n_al; i++)
		if (g->al[i].state != AS_IDLE)
			return false;
	return true;
}

/* Why the cycling ended, or NULL while it goes on. */
static const char *
ended(const struct lg *g, double now, double t1)
{
	if (lg_stop)
		return "signal";
	if (!may_start(g) && all_idle(g))
		return "cap";
	return now >= t1 ? "time" : NULL;
}

/* Read the answers epoll reports and move their slots on. 0 or -1. */
static int
poll_slots(struct lg *g, bool starting)
{
	struct epoll_event evs[256];
	int n = epoll_wait(g->ep, evs, 256, 5);
	for (int k = 0; k < n; k++) {
		uint64_t idx = evs[k].data.u64;
		if (idx >= (uint64_t)g->n_al)
			continue;
		lg_drain_socket(g, &g->al[idx]);
		if (cycle_step(g, idx, starting) < 0)
			return -1;
	}
	lg_check_timeouts(g, 0, g->n_al, lg_now());
	return 0;
}

/* The counters at one edge of the measured window. */
struct edge {
	double t, cpu;
	long cycles, challenges, retransmits, failed;
};

static void
take_edge(const struct lg *g, struct edge *e, double now)
{
	e->t = now;
	e->cpu = lg_proc_cpu_us(g->o.server_pid);
	e->cycles = g->cycles;
	e->challenges = g->challenges;
	e->retransmits = g->retransmits;
	e->failed = g->failed;
}

int
lg_alloc_cycle(struct lg *g)
{
	double t_start = lg_now(), t0 = t_start + g->o.warmup, t1 = t0 + g->o.duration;
	double tokens = 1, last = t_start;
	struct edge e0 = { 0, -1, 0, 0, 0, 0 }, e1 = e0;
	bool in_window = false;
	const char *why = NULL;
	lg_catch_stop();
	g->no_bind = true;
	g->fresh_tuples = true;
	g->tuple_ctr = (uint64_t)g->n_al;
	for (int i = 0; i < g->n_al; i++) {
		struct lg_alloc *a = &g->al[i];
		if (g->o.churn_rate > 0 || !may_start(g)) {
			a->state = AS_IDLE; /* the pacer starts it (on a fresh tuple) */
			continue;
		}
		g->started++;
		a->state = AS_ALLOC;
		lg_send_req(g, a, true);
	}
	for (;;) {
		double now = lg_now();
		why = ended(g, now, t1);
		if (!in_window && (now >= t0 || why)) {
			in_window = true;
			take_edge(g, &e0, now);
		}
		if (why) {
			take_edge(g, &e1, now);
			break;
		}
		if (g->o.churn_rate > 0 && pace(g, &tokens, now - last) < 0)
			return 2;
		last = now;
		if (poll_slots(g, true) < 0)
			return 2;
		for (int i = 0; i < g->n_al; i++)
			if (g->al[i].state == AS_FAILED && cycle_step(g, (uint64_t)i, true) < 0)
				return 2;
	}
	/* Let the cycles in flight finish (bounded), then release what is held. */
	double end = lg_now() + 2.0;
	for (bool busy = true; busy && lg_now() < end;) {
		poll_slots(g, false);
		busy = false;
		for (int i = 0; i < g->n_al; i++) {
			cycle_step(g, (uint64_t)i, false);
			busy |= g->al[i].state != AS_IDLE;
		}
	}
	double secs = e1.t - e0.t, cycles = (double)(e1.cycles - e0.cycles);
	double cpu = e1.cpu - e0.cpu;
	printf("{\"mode\":\"alloc-cycle\",\"sockets\":%d,\"seconds\":%.3f,\"cycles\":%.0f,"
	       "\"cycles_per_s\":%.1f,\"cpu_us\":%.0f,\"cpu_us_per_op\":%.3f,"
	       "\"challenges_per_cycle\":%.3f,\"retransmits\":%ld,\"failed\":%ld,"
	       "\"started\":%ld,\"ended\":\"%s\",",
	       g->n_al, secs, cycles, secs > 0 ? cycles / secs : 0.0, cpu,
	       cycles > 0 && e0.cpu >= 0 ? cpu / cycles : -1.0,
	       cycles > 0 ? (double)(e1.challenges - e0.challenges) / cycles : 0.0,
	       e1.retransmits - e0.retransmits, e1.failed - e0.failed, g->started, why);
	lg_print_errors(g);
	printf("}\n");
	return cycles > 0 ? 0 : 1;
}
