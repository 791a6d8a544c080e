/*
 * One worker: its event_base (no libevent locking: nothing but the owner
 * thread touches it), its listening sockets, its TURN state, and its loop.
 * The loop runs one epoll round per pass; what the ready sockets queued goes
 * out in one batch at its end, and then, at that boundary and never in the
 * middle of a packet, the worker takes its mail: a new generation, and
 * commands from the main thread.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"
#include "icestation/siphash.h"

#include "net_internal.h"

/* The eventfd only says "mail"; it is read at the end of the pass. */
static void
worker_on_mail(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Keeps an idle worker passing, for the watchdog. */
static void
worker_on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* A per-source limiter of rps and burst, or NULL for none (rps 0, or no
 * memory: logged, and the worker runs unlimited rather than not at all).
 * Per worker with no lock: steer.c sends every packet of one source address
 * to one worker, so a worker's table is the daemon's for its addresses. */
static struct ice_ratelimit *
limiter_new(uint32_t rps, uint32_t burst, size_t entries, unsigned id, const char *what)
{
	struct ice_siphash_key key;
	struct ice_ratelimit *rl;

	if (rps == 0)
		return NULL;
	if (ice_siphash_key_random(&key) < 0)
		return NULL;
	rl = ice_ratelimit_new(rps, burst ? burst : rps, entries, &key);
	if (rl == NULL)
		log_warnx("net: worker %u: no memory for the %s", id, what);
	return rl;
}

/* The stream pool's limits from w->cfg (a reload changes them live; a
 * bigger tcp-max-connections grows the table, or keeps the old one fuller
 * without memory). */
static void
caps_apply(struct net_worker *w)
{
	const struct ice_config *cfg = w->cfg;

	if (ice_conncap_reserve(w->cap, cfg->stun.tcp_max_connections) < 0)
		log_warnx("net: worker %u: no memory to grow the per-address table", w->id);
	ice_conncap_set_cap(w->cap, ICE_CONNCAP_TCP, cfg->stun.tcp_max_connections_per_address);
	ice_conncap_set_cap(w->cap, ICE_CONNCAP_TLS, cfg->turn.tls.max_connections_per_address);
	ice_conncap_set_mask(w->cap, cfg->log_mask);
}

/* The request limiter of cfg (stun.rate-limit; dispatch.c takes from it). */
static struct ice_ratelimit *
ratelimit_for(const struct ice_config *cfg, unsigned id)
{
	return limiter_new(cfg->stun.rate_rps, cfg->stun.rate_burst, NET_RL_ENTRIES, id,
	                   "rate limiter");
}

/* (Re)build the 401/438 limiter of w->cfg (turn.challenge-rate-limit) and
 * lend it to w's turn_server. A new table starts with full buckets. */
static void
challenge_limit_apply(struct net_worker *w)
{
	const struct ice_config_turn *t = &w->cfg->turn;

	if (w->turn != NULL)
		turn_server_set_challenge_limit(w->turn, NULL);
	ice_ratelimit_free(w->challenge_rl);
	w->challenge_rl = limiter_new(t->challenge_rps, t->challenge_burst, NET_CHALLENGE_ENTRIES,
	                              w->id, "401 limiter");
	if (w->turn != NULL)
		turn_server_set_challenge_limit(w->turn, w->challenge_rl);
}

/* Mail nobody will run (the worker is gone): what it owns is freed. */
static void
worker_drop_mail(struct net_worker *w)
{
	struct net_cmd cmds[NET_CMDS_PER_PASS];
	struct net_gen *g;
	size_t n;

	if (w->mailbox.efd < 0)
		return;
	do {
		n = net_mailbox_take(&w->mailbox, &g, cmds, NET_CMDS_PER_PASS);
		net_gen_unref(g);
		for (size_t i = 0; i < n; i++)
			if (cmds[i].kind == NET_CMD_ADOPT)
				net_detached_free(cmds[i].detached);
	} while (n > 0);
}

void
net_worker_free(struct net_worker *w)
{
	if (w == NULL)
		return;
	worker_drop_mail(w);
	net_stream_close_all(w);
	net_turn_worker_fini(w);
	net_listeners_close(w);
	if (w->ev_mail != NULL)
		event_free(w->ev_mail);
	if (w->ev_heartbeat != NULL)
		event_free(w->ev_heartbeat);
	net_mailbox_fini(&w->mailbox);
	if (w->base != NULL)
		event_base_free(w->base);
	ice_ratelimit_free(w->rl);
	ice_ratelimit_free(w->log_rl);
	ice_conncap_free(w->cap);
	ice_ratelimit_free(w->challenge_rl);
	net_gen_unref(w->gen);
	free(w);
}

struct net_worker *
net_worker_new(struct ice_net *net, unsigned id)
{
	const struct timeval beat = { NET_HEARTBEAT_MS / 1000, (NET_HEARTBEAT_MS % 1000) * 1000 };
	struct ice_siphash_key key;
	struct event_config *ec;
	struct net_worker *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		log_errorx("net: out of memory");
		return NULL;
	}
	w->net = net;
	w->gen = net_gen_ref(net->gen);
	w->cfg = w->gen->cfg;
	w->id = id;
	w->mailbox.efd = -1;
	w->relay_ep = -1;
	net_batch_init(&w->batch);
	atomic_init(&w->running, false);
	atomic_init(&w->stop_req, false);
	atomic_init(&w->passes, 0);

	ec = event_config_new();
	if (ec == NULL)
		goto fail;
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (w->base == NULL) {
		log_errorx("net: worker %u: cannot create event loop", id);
		goto fail;
	}
	if (net_mailbox_init(&w->mailbox) < 0) {
		log_error("net: worker %u: eventfd", id);
		goto fail;
	}
	w->ev_mail = event_new(w->base, w->mailbox.efd, EV_READ | EV_PERSIST, worker_on_mail, w);
	w->ev_heartbeat = event_new(w->base, -1, EV_PERSIST, worker_on_heartbeat, w);
	if (w->ev_mail == NULL || w->ev_heartbeat == NULL || event_add(w->ev_mail, NULL) < 0 ||
	    event_add(w->ev_heartbeat, &beat) < 0)
		goto fail;
	w->rl = ratelimit_for(w->cfg, id);
	if (ice_siphash_key_random(&key) == 0)
		w->log_rl = ice_ratelimit_new(NET_LOG_RPS, NET_LOG_BURST, NET_LOG_RL_ENTRIES, &key);
	if (ice_siphash_key_random(&key) < 0 ||
	    (w->cap = ice_conncap_new(w->cfg->stun.tcp_max_connections, &key, NULL)) == NULL) {
		log_errorx("net: worker %u: no memory for the per-address table", id);
		goto fail;
	}
	caps_apply(w);
	if (net_listeners_open(w, net->cfg) < 0)
		goto fail;
	if (net_turn_worker_init(w) < 0) {
		log_errorx("net: worker %u: TURN state", id);
		goto fail;
	}
	challenge_limit_apply(w);
	return w;
fail:
	net_worker_free(w);
	return NULL;
}

/* Move to generation g (its reference is taken over). */
static void
worker_take_gen(struct net_worker *w, struct net_gen *g)
{
	struct net_gen *old = w->gen;
	bool limits = g->cfg->stun.rate_rps != old->cfg->stun.rate_rps ||
	              g->cfg->stun.rate_burst != old->cfg->stun.rate_burst;
	bool challenge = g->cfg->turn.challenge_rps != old->cfg->turn.challenge_rps ||
	                 g->cfg->turn.challenge_burst != old->cfg->turn.challenge_burst;

	w->gen = g;
	w->cfg = g->cfg;
	if (limits) {
		/* A new limit starts with full buckets: a reload never punishes. */
		ice_ratelimit_free(w->rl);
		w->rl = ratelimit_for(w->cfg, w->id);
	}
	caps_apply(w);
	if (challenge)
		challenge_limit_apply(w);
	net_turn_reconfigure(w);
	net_gen_unref(old);
}

static void
worker_run_cmd(struct net_worker *w, const struct net_cmd *c)
{
	struct net_query_part *part = c->q != NULL ? &c->q->parts[w->id] : NULL;

	switch (c->kind) {
	case NET_CMD_CLOSE_USER:
		if (w->turn != NULL)
			(void)turn_server_close_user(w->turn, c->user, c->user_len, w->now);
		break;
	case NET_CMD_CLOSE_ALLOC:
		assert(part != NULL); /* a query always carries its reply */
		part->rc = w->turn != NULL ? turn_server_close_alloc(w->turn, c->alloc_id, w->now)
		                           : -ENOENT;
		break;
	case NET_CMD_QUOTA:
		if (w->turn != NULL)
			turn_quota_answer(w->turn, c->alloc_id,
			                  (enum turn_cluster_verdict)c->verdict, w->now);
		break;
	case NET_CMD_SYNC:
		/* The mailbox is in order and a generation is taken before the
		 * commands of its pass: everything posted before is applied. */
		assert(part != NULL);
		part->rc = 0;
		break;
	case NET_CMD_ADOPT:
		net_tcp_adopt(w, c->detached);
		break;
	case NET_CMD_LIST:
		assert(part != NULL);
		part->rc = 0;
		if (w->turn != NULL)
			part->total =
				turn_server_list(w->turn, c->user_len ? c->user : NULL, c->user_len,
			                         part->items, 0, part->n, w->now);
		part->n = ICE_MIN(part->n, part->total);
		break;
	}
	/* Relay closes may have queued nothing, but send what is there now. */
	net_batch_flush(&w->batch);
	if (c->q != NULL)
		net_replies_post(&w->net->replies, c->q);
}

void
net_worker_run_mail(struct net_worker *w)
{
	struct net_cmd cmds[NET_CMDS_PER_PASS];
	struct net_gen *g;
	size_t n;

	n = net_mailbox_take(&w->mailbox, &g, cmds, NET_CMDS_PER_PASS);
	if (g == NULL && n == 0)
		return;
	w->now = net_clock_ms();
	if (g != NULL)
		worker_take_gen(w, g);
	for (size_t i = 0; i < n; i++)
		worker_run_cmd(w, &cmds[i]);
}

void *
net_worker_main(void *arg)
{
	struct net_worker *w = arg;
	size_t i;
	int r = 0;

	w->m = ice_metrics_block_new();
	w->batch.m = w->m;
	ice_conncap_set_metrics(w->cap, w->m);
	w->now = net_clock_ms();
	for (i = 0; i < w->n_listeners && r == 0; i++) {
		if (w->listeners[i].transport == ICE_TRANSPORT_UDP)
			r = net_udp_start(&w->listeners[i]);
		else
			r = net_tcp_start(&w->listeners[i]);
	}
	if (r == 0)
		r = net_turn_worker_start(w);
	if (r < 0) {
		errno = -r;
		log_error("net: worker %u: cannot register listeners", w->id);
		return NULL;
	}
	/* What the main thread posted before the start (the revocations
	 * loaded from the state file) applies before the first packet. */
	net_worker_run_mail(w);
	atomic_store(&w->running, true);
	/* libevent 2.1 has no end-of-iteration hook: one pass at a time. */
	while (!atomic_load_explicit(&w->stop_req, memory_order_relaxed)) {
		r = event_base_loop(w->base, EVLOOP_ONCE);
		net_batch_pass_end(&w->batch);
		net_worker_run_mail(w);
		atomic_fetch_add_explicit(&w->passes, 1, memory_order_relaxed);
		if (r != 0 || event_base_got_break(w->base) || event_base_got_exit(w->base))
			break;
	}
	atomic_store(&w->running, false);
	net_batch_flush(&w->batch);
	return NULL;
}
