/*
 * Lifecycle of the net layer: one worker per configured thread, each with its
 * own event_base (no libevent locking: nothing but the owner thread touches
 * it) and its own listening sockets, bound in ice_net_new so a port already
 * in use fails the start with a clear message. ice_net_stop wakes each loop
 * through an eventfd (so the bases need no evthread locks) and joins.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"
#include "icestation/siphash.h"

#include "net_internal.h"

ice_ms_t
net_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ice_ms_t)ts.tv_sec * 1000 + (ice_ms_t)ts.tv_nsec / 1000000;
}

static void
worker_free(struct net_worker *w)
{
	if (w == NULL)
		return;
	net_tcp_close_all(w);
	net_turn_worker_fini(w);
	net_listeners_close(w);
	if (w->ev_stop != NULL)
		event_free(w->ev_stop);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->base != NULL)
		event_base_free(w->base);
	ice_ratelimit_free(w->rl);
	free(w);
}

static void
worker_on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct net_worker *w = arg;
	uint64_t v;

	(void)what;
	(void)!read(fd, &v, sizeof(v));
	event_base_loopbreak(w->base);
}

static struct net_worker *
worker_new(struct ice_net *net, unsigned id)
{
	const struct ice_config *cfg = net->cfg;
	struct event_config *ec;
	struct ice_siphash_key key;
	struct net_worker *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		log_errorx("net: out of memory");
		return NULL;
	}
	w->net = net;
	w->cfg = cfg;
	w->id = id;
	w->stop_fd = -1;
	w->tx_fd = -1;
	w->relay_free = -1;
	w->relay_ep = -1;
	atomic_init(&w->running, false);

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
	w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->stop_fd < 0) {
		log_error("net: worker %u: eventfd", id);
		goto fail;
	}
	w->ev_stop = event_new(w->base, w->stop_fd, EV_READ | EV_PERSIST, worker_on_stop, w);
	if (w->ev_stop == NULL || event_add(w->ev_stop, NULL) < 0)
		goto fail;

	if (cfg->stun.rate_rps > 0) {
		r = ice_siphash_key_random(&key);
		if (r < 0) {
			errno = -r;
			log_error("net: random key");
			goto fail;
		}
		w->rl = ice_ratelimit_new(cfg->stun.rate_rps,
		                          cfg->stun.rate_burst ? cfg->stun.rate_burst
		                                               : cfg->stun.rate_rps,
		                          NET_RL_ENTRIES, &key);
		if (w->rl == NULL)
			goto fail;
	}
	if (net_listeners_open(w) < 0)
		goto fail;
	if (net_turn_worker_init(w) < 0) {
		log_errorx("net: worker %u: TURN state", id);
		goto fail;
	}
	return w;
fail:
	worker_free(w);
	return NULL;
}

struct ice_net *
ice_net_new(const struct ice_config *cfg)
{
	struct ice_net *net;
	unsigned i, n = cfg->workers ? cfg->workers : 1;

	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return NULL;
	net->cfg = cfg;
	if (net_turn_shared_init(net) < 0) {
		net->stopped = true;
		ice_net_free(net);
		return NULL;
	}
	net->workers = calloc(n, sizeof(net->workers[0]));
	if (net->workers == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		net->workers[i] = worker_new(net, i);
		if (net->workers[i] == NULL)
			goto fail;
		net->n_workers++;
	}
	if (net->workers[0]->n_listeners == 0)
		log_warnx("net: no STUN/TURN listener configured");
	return net;
fail:
	net->stopped = true;
	ice_net_free(net);
	return NULL;
}

static void *
worker_main(void *arg)
{
	struct net_worker *w = arg;
	size_t i;
	int r = 0;

	w->m = ice_metrics_block_new();
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
	atomic_store(&w->running, true);
	/* One epoll round per pass: what the ready sockets queued goes out in
	 * one batch at its end (libevent 2.1 has no end-of-iteration hook).
	 * worker_on_stop's loopbreak ends the pass and the loop. */
	for (;;) {
		r = event_base_loop(w->base, EVLOOP_ONCE);
		net_udp_iteration_end(w);
		if (r != 0 || event_base_got_break(w->base) || event_base_got_exit(w->base))
			break;
	}
	atomic_store(&w->running, false);
	net_udp_flush(w);
	return NULL;
}

int
ice_net_start(struct ice_net *net)
{
	sigset_t all, old;
	char name[16];
	unsigned i;
	int r = 0;

	/* Workers inherit a full signal mask: signals go to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < net->n_workers; i++) {
		struct net_worker *w = net->workers[i];

		r = -pthread_create(&w->thread, NULL, worker_main, w);
		if (r < 0) {
			errno = -r;
			log_error("net: cannot start worker %u", i);
			break;
		}
		w->started = true;
		snprintf(name, sizeof(name), "ice-net-%u", i % 1000);
		pthread_setname_np(w->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

bool
ice_net_ready(const struct ice_net *net)
{
	unsigned i;

	if (net == NULL || net->n_workers == 0)
		return false;
	for (i = 0; i < net->n_workers; i++)
		if (!atomic_load(&net->workers[i]->running))
			return false;
	return true;
}

void
ice_net_stop(struct ice_net *net)
{
	const uint64_t one = 1;
	unsigned i;

	if (net == NULL || net->stopped)
		return;
	net->stopped = true;
	for (i = 0; i < net->n_workers; i++)
		if (net->workers[i]->started)
			(void)!write(net->workers[i]->stop_fd, &one, sizeof(one));
	for (i = 0; i < net->n_workers; i++) {
		if (net->workers[i]->started)
			pthread_join(net->workers[i]->thread, NULL);
		net->workers[i]->started = false;
	}
}

void
ice_net_free(struct ice_net *net)
{
	unsigned i;

	if (net == NULL)
		return;
	ice_net_stop(net);
	for (i = 0; i < net->n_workers; i++)
		worker_free(net->workers[i]);
	free(net->workers);
	net_turn_shared_fini(net);
	free(net);
}
