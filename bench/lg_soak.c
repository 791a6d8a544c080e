/*
 * soak mode: hold load for --duration seconds (minutes to hours), every
 * activity paced by a token bucket so the rates are what the options say,
 * whatever the server does:
 *
 *   steady flows  al[0..flows): lg_flow.c
 *   churn         al[flows..flows+allocs): each operation takes the next live
 *                 allocation and, in turn, 5 of 10 times Refreshes it, 4 of 10
 *                 releases it (Refresh 0) and 1 of 10 abandons it (closes the
 *                 socket, leaving it to expire; only until abandon_end seconds
 *                 before the end, so every abandoned one has expired by then).
 *                 A released or abandoned slot starts over at once on a fresh
 *                 5-tuple (Allocate, 401, Allocate, CreatePermission), so the
 *                 number of live allocations stays at --allocs.
 *   floods        lg_flood.c
 *
 * One JSON line per second on stdout ("event":"tick", cumulative counts), then
 * after the end (or SIGTERM/SIGINT): a one-second drain, "event":"final" with
 * the exact flow loss, the release of every allocation, "event":"released".
 */
#include "lg_soak.h"

#include <sys/epoll.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
churn_slot(const struct lg_soak *s, uint64_t idx)
{
	return idx >= (uint64_t)s->flows && idx < (uint64_t)s->g->n_al;
}

/* A churn slot that finished: count it and, if it no longer holds an
 * allocation, start it over on a fresh 5-tuple. -1 on a local error. */
static int
churn_settle(struct lg_soak *s, uint64_t idx, uint8_t before)
{
	struct lg_alloc *a = &s->g->al[idx];

	switch (a->state) {
	case AS_READY:
		if (before == AS_BIND)
			s->allocated++;
		else if (before == AS_REFRESH)
			s->refreshed++;
		return 0;
	case AS_DONE:
		s->deleted++;
		break;
	case AS_FAILED:
		s->churn_failed++;
		break;
	default:
		return 0;
	}
	return lg_stop ? 0 : lg_cycle_restart(s->g, a, idx);
}

static int
churn_read(struct lg_soak *s, uint64_t idx)
{
	struct lg_alloc *a = &s->g->al[idx];
	uint8_t buf[LG_PKT_MAX];

	for (;;) {
		ssize_t n = recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return 0;
		struct lg_resp r;
		if (lg_parse(&r, buf, (size_t)n) != 0)
			continue;
		uint8_t before = a->state;
		if (lg_on_turn_resp(s->g, a, &r) == 1 && churn_settle(s, idx, before) < 0)
			return -1;
	}
}

/* One churn operation on the next live allocation. */
static int
churn_op(struct lg_soak *s, double now)
{
	struct lg *g = s->g;
	int n = g->o.allocs;

	for (int tries = 0; tries < n; tries++) {
		uint64_t idx = (uint64_t)(s->flows + s->churn_cursor);
		struct lg_alloc *a = &g->al[idx];
		s->churn_cursor = (s->churn_cursor + 1) % n;
		if (a->state != AS_READY)
			continue;
		long op = s->op_counter++ % 10;
		s->ops++;
		a->tries = 0;
		a->challenges = 0;
		if (op == 9 && now < s->abandon_until) {
			s->abandoned++;
			return lg_cycle_restart(g, a, idx);
		}
		a->state = op < 5 ? AS_REFRESH : AS_FREE;
		a->rebind = false;
		return lg_send_req(g, a, true);
	}
	return 0; /* none live right now */
}

static int
churn_tick(struct lg_soak *s, double dt, double now)
{
	s->churn_tokens += dt * s->g->o.churn_rate;
	if (s->churn_tokens > 1 + s->g->o.churn_rate / 10)
		s->churn_tokens = 1 + s->g->o.churn_rate / 10;
	for (; s->churn_tokens >= 1; s->churn_tokens -= 1)
		if (churn_op(s, now) < 0)
			return -1;
	return 0;
}

/* Retransmissions and give-ups; a churn slot given up starts over. */
static int
timeouts(struct lg_soak *s, double now)
{
	struct lg *g = s->g;

	lg_check_timeouts(g, 0, g->n_al, now);
	for (int i = 0; i < s->flows; i++)
		if (g->al[i].state == AS_FAILED && g->al[i].last_error == 408) {
			g->al[i].last_error = -408; /* counted once */
			s->flow_errors++;
		}
	for (uint64_t i = (uint64_t)s->flows; i < (uint64_t)g->n_al; i++)
		if (g->al[i].state == AS_FAILED && churn_settle(s, i, AS_FAILED) < 0)
			return -1;
	return 0;
}

static int
dispatch(struct lg_soak *s, uint64_t idx)
{
	struct lg *g = s->g;

	if (idx < (uint64_t)s->flows)
		lg_flow_read_client(s, &g->al[idx]);
	else if (churn_slot(s, idx))
		return churn_read(s, idx);
	else if (idx < s->idx_flood)
		lg_flow_read_peer(s, g->peer_fd[idx - (uint64_t)g->n_al]);
	else
		lg_flood_read(s, (int)(idx - s->idx_flood));
	return 0;
}

static int
poll_once(struct lg_soak *s, int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(s->g->ep, evs, 256, timeout_ms);

	for (int k = 0; k < n; k++)
		if (dispatch(s, evs[k].data.u64) < 0)
			return -1;
	return 0;
}

static long
live(const struct lg_soak *s)
{
	long n = 0;
	for (int i = 0; i < s->g->n_al; i++) {
		uint8_t st = s->g->al[i].state;
		n += st == AS_READY || st == AS_REFRESH || st == AS_BIND || st == AS_FREE;
	}
	return n;
}

static void
print_line(struct lg_soak *s, const char *event, double now)
{
	struct lg *g = s->g;

	printf("{\"event\":\"%s\",\"t\":%.3f,\"live\":%ld,\"churn\":{\"ops\":%ld,\"allocated\":%ld,"
	       "\"refreshed\":%ld,\"deleted\":%ld,\"abandoned\":%ld,\"failed\":%ld},"
	       "\"challenges\":%ld,\"retransmits\":%ld,",
	       event, now - s->start, live(s), s->ops, s->allocated, s->refreshed, s->deleted,
	       s->abandoned, s->churn_failed, g->challenges, g->retransmits);
	lg_print_errors(g);
	printf(",");
	lg_flow_print(s);
	printf(",");
	lg_flood_print(s);
	printf("}\n");
	fflush(stdout);
}

/* Stop sending, let what is in flight arrive, then report. */
static void
drain(struct lg_soak *s, double secs)
{
	double end = lg_now() + secs;
	while (lg_now() < end)
		if (poll_once(s, 10) < 0)
			break;
}

int
lg_soak(struct lg *g)
{
	static struct lg_soak s;
	int n = g->o.flows + g->o.allocs;

	s.g = g;
	s.flows = g->o.flows;
	lg_catch_stop();
	/* Each slot uses only the nonce its own address was given: the server
	 * binds nonces to the client IP, and a borrowed one would be counted
	 * as a bad nonce, which the floods alone must move. */
	g->fresh_tuples = true;
	if (lg_allocs_open(g, n) < 0)
		return 2;
	for (int i = 0; i < n; i++)
		g->al[i].ind = i >= s.flows / 2; /* churn: CreatePermission */
	s.start = lg_now();
	int bad = lg_allocs_run(g, false);
	if (bad > 0) {
		fprintf(stderr, "loadgen: soak set-up: %d of %d allocations failed\n", bad, n);
		print_line(&s, "setup_failed", lg_now());
		return 1;
	}
	g->tuple_ctr = (uint64_t)n;
	s.idx_flood = (uint64_t)(n + g->o.peers);
	if (lg_flow_init(&s) < 0 || lg_flood_init(&s) < 0)
		return 2;
	double now = lg_now(), last = now, next_tick = now + 1, next_scan = now;
	s.start = now;
	s.end = now + g->o.duration;
	s.abandon_until = s.end - g->o.abandon_end;
	print_line(&s, "ready", now);
	int rc = 0;
	while (!lg_stop && now < s.end) {
		double dt = now - last;
		last = now;
		lg_flow_send(&s, dt);
		lg_flood_send(&s, dt);
		if (churn_tick(&s, dt, now) < 0 || poll_once(&s, 2) < 0) {
			rc = 2;
			break;
		}
		now = lg_now();
		if (now >= next_scan) {
			next_scan = now + 0.0625;
			if (timeouts(&s, now) < 0) {
				rc = 2;
				break;
			}
		}
		if (now >= next_tick) {
			next_tick += 1;
			lg_flow_refresh(&s, now);
			print_line(&s, "tick", now);
		}
	}
	lg_stop = 1;    /* no restarts from here on */
	drain(&s, 2.0); /* longer than a transaction's retransmissions (1.5 s) */
	print_line(&s, "final", lg_now());
	int held = 0;
	for (int i = 0; i < n; i++) {
		if (g->al[i].state == AS_READY)
			held++;
		else
			g->al[i].state = AS_DONE; /* holds nothing on the server */
	}
	int not_freed = lg_allocs_run(g, true);
	printf("{\"event\":\"released\",\"held\":%d,\"not_released\":%d}\n", held, not_freed);
	fflush(stdout);
	lg_flood_fini(&s);
	lg_flow_fini(&s);
	return rc;
}
