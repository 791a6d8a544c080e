/*
 * The net object: its workers' lifecycle, and the main thread's side of
 * their mailboxes. Listening sockets are bound in ice_net_new, so a port
 * already in use fails the start with a clear message. Everything the main
 * thread asks of a worker goes through the worker's mailbox; answers come
 * back through one reply queue read on the main thread's loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "net_internal.h"

ice_ms_t
net_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ice_ms_t)ts.tv_sec * 1000 + (ice_ms_t)ts.tv_nsec / 1000000;
}

struct ice_net *
ice_net_new(struct ice_config *cfg, struct ice_listen_fd *passed, size_t n_passed)
{
	struct ice_net *net;
	unsigned i, n = cfg->workers ? cfg->workers : 1;

	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return NULL;
	net->cfg = ice_config_ref(cfg);
	net->passed = passed;
	net->n_passed = n_passed;
	net->replies.efd = -1;
	if (net_replies_init(&net->replies) < 0 || net_turn_shared_init(net) < 0)
		goto fail;
	net->gen = net_gen_new(net, cfg, NULL, false);
	net->workers = calloc(n, sizeof(net->workers[0]));
	net->seen_passes = calloc(n, sizeof(net->seen_passes[0]));
	if (net->gen == NULL || net->workers == NULL || net->seen_passes == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		net->workers[i] = net_worker_new(net, i);
		if (net->workers[i] == NULL)
			goto fail;
		net->n_workers++;
	}
	if (net->workers[0]->n_listeners == 0)
		log_warnx("net: no STUN/TURN listener configured");
	net->passed = NULL; /* the caller's, for this call only */
	net->n_passed = 0;
	return net;
fail:
	net->stopped = true;
	ice_net_free(net);
	return NULL;
}

static void
query_free(struct net_query *q, unsigned n_workers)
{
	for (unsigned i = 0; i < n_workers; i++)
		free(q->parts[i].items);
	free(q);
}

static void query_unlink(struct ice_net *net, struct net_query *q);

static void on_quota(struct ice_net *net);

/* Releases wait in the ring for this timer (or the next ask): see
 * net_replies_post_quota. */
static void
quota_flush_arm(struct ice_net *net)
{
	const struct timeval every = { 0, NET_QUOTA_RELEASE_DELAY_MS * 1000 };

	if (net->ev_quota_flush == NULL)
		return;
	if (net->quota_hooks.release != NULL)
		event_add(net->ev_quota_flush, &every);
	else
		event_del(net->ev_quota_flush);
}

static void
on_quota_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	on_quota(arg);
}

void
ice_net_set_quota_hooks(struct ice_net *net, const struct ice_net_quota_hooks *h)
{
	/* What waits is the old hooks' to hear, not lost with them. */
	on_quota(net);
	memset(&net->quota_hooks, 0, sizeof(net->quota_hooks));
	if (h != NULL)
		net->quota_hooks = *h;
	quota_flush_arm(net);
}

int
ice_net_quota_answer(struct ice_net *net, unsigned worker, uint64_t cookie,
                     enum turn_cluster_verdict v)
{
	struct net_cmd c = { .kind = NET_CMD_QUOTA, .alloc_id = cookie, .verdict = (int)v };

	if (worker >= net->n_workers)
		return -ENOENT;
	return net_mailbox_post(&net->workers[worker]->mailbox, &c);
}

/* Quota asks and releases from the workers, to the cluster through the hooks. */
static void
on_quota(struct ice_net *net)
{
	const struct ice_net_quota_hooks *h = &net->quota_hooks;
	struct net_quota_msg m[16];
	size_t n;
	int v;

	while ((n = net_replies_take_quota(&net->replies, m, ICE_ARRAY_SIZE(m))) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (m[i].release) {
				if (h->release != NULL)
					h->release(h->ctx, m[i].user);
				continue;
			}
			/* No cluster any more (a restart-only change is pending):
			 * nothing is held, the local count decides. */
			v = h->ask != NULL ? h->ask(h->ctx, m[i].worker, m[i].cookie, m[i].user)
			                   : (int)TURN_CQ_DEGRADED;
			if (v >= 0)
				(void)ice_net_quota_answer(net, m[i].worker, m[i].cookie,
				                           (enum turn_cluster_verdict)v);
		}
		if (n < ICE_ARRAY_SIZE(m))
			break;
	}
}

/* Every worker answered (0), or one's mailbox was full (-EAGAIN). */
static void
sync_done(struct ice_net *net, struct net_query *q)
{
	int rc = 0;

	for (unsigned i = 0; i < net->n_workers; i++)
		if (q->parts[i].rc < 0)
			rc = q->parts[i].rc;
	q->close_cb(q->arg, rc);
}

/* Workers' answers: a query is done when every worker answered its part. */
static void
on_replies(evutil_socket_t fd, short what, void *arg)
{
	struct ice_net *net = arg;
	struct net_query *qs[64];
	size_t n;

	(void)fd;
	(void)what;
	n = net_replies_take(&net->replies, qs, ICE_ARRAY_SIZE(qs));
	on_quota(net);
	for (size_t i = 0; i < n; i++) {
		struct net_query *q = qs[i];

		if (--q->pending > 0)
			continue;
		query_unlink(net, q);
		if (q->list_cb != NULL)
			ice_net_list_done(net, q);
		else if (q->sync)
			sync_done(net, q);
		else
			ice_net_close_done(net, q);
		query_free(q, net->n_workers);
	}
}

int
ice_net_attach(struct ice_net *net, struct event_base *base)
{
	net->ev_replies = event_new(base, net->replies.efd, EV_READ | EV_PERSIST, on_replies, net);
	net->ev_quota_flush = event_new(base, -1, EV_PERSIST, on_quota_flush, net);
	if (net->ev_replies == NULL || net->ev_quota_flush == NULL ||
	    event_add(net->ev_replies, NULL) < 0)
		return -ENOMEM;
	quota_flush_arm(net);
	return 0;
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

		r = -pthread_create(&w->thread, NULL, net_worker_main, w);
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

int
ice_net_reconfigure(struct ice_net *net, struct ice_config *cfg, struct turn_revocations *revoked,
                    bool draining)
{
	struct net_gen *g = net_gen_new(net, cfg, revoked, draining);

	if (g == NULL)
		return -ENOMEM;
	if (net->turn_shared != NULL)
		turn_shared_set_limits(net->turn_shared, &g->turn);
	for (unsigned i = 0; i < net->n_workers; i++)
		net_mailbox_post_gen(&net->workers[i]->mailbox, net_gen_ref(g));
	net_gen_unref(net->gen);
	net->gen = g;
	return 0;
}

int
ice_net_set_host(struct ice_net *net, const struct ice_net_host *h)
{
	struct ice_addr *v = NULL;

	if (h->n_addrs > 0) {
		v = calloc(h->n_addrs, sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		memcpy(v, h->addrs, h->n_addrs * sizeof(*v));
	}
	ice_host_addrs_fini(&net->host_addrs);
	net->host_addrs.v = v;
	net->host_addrs.n = h->n_addrs;
	net->public_stun = h->stun_public;
	net->public_turn = h->turn_public;
	return 0;
}

/* Post c to every worker; -EAGAIN if one mailbox was full. */
static int
post_all(struct ice_net *net, const struct net_cmd *c)
{
	int r = 0;

	for (unsigned i = 0; i < net->n_workers; i++)
		if (net_mailbox_post(&net->workers[i]->mailbox, c) < 0)
			r = -EAGAIN;
	return r;
}

int
ice_net_close_user(struct ice_net *net, const char *user, size_t len)
{
	struct net_cmd c = { .kind = NET_CMD_CLOSE_USER, .user_len = len };

	if (len > sizeof(c.user))
		return -ENAMETOOLONG;
	memcpy(c.user, user, len);
	return post_all(net, &c);
}

/* A query is in flight from its post until its last answer. */
static void
query_link(struct ice_net *net, struct net_query *q)
{
	q->next = net->queries;
	net->queries = q;
	net->queries_in_flight++;
}

static void
query_unlink(struct ice_net *net, struct net_query *q)
{
	struct net_query **pp = &net->queries;

	while (*pp != q)
		pp = &(*pp)->next;
	*pp = q->next;
	net->queries_in_flight--;
}

/* A query with a part per worker, if the reply queue has room for it. */
static struct net_query *
query_new(struct ice_net *net)
{
	struct net_query *q;

	if ((net->queries_in_flight + 1) * net->n_workers > NET_REPLY_CAP)
		return NULL;
	q = calloc(1, sizeof(*q) + net->n_workers * sizeof(q->parts[0]));
	if (q == NULL)
		return NULL;
	q->pending = net->n_workers;
	return q;
}

/* Post q's command to worker i; a full mailbox answers that part at once. */
static void
query_post(struct ice_net *net, struct net_query *q, unsigned i, struct net_cmd *c)
{
	c->q = q;
	if (net_mailbox_post(&net->workers[i]->mailbox, c) == 0)
		return;
	q->parts[i].rc = -EAGAIN;
	q->parts[i].n = 0;
	q->pending--;
}

int
ice_net_list(struct ice_net *net, const char *user, size_t len, size_t max_per_worker,
             ice_net_list_cb cb, void *arg)
{
	struct net_cmd c = { .kind = NET_CMD_LIST, .user_len = user != NULL ? len : 0 };
	struct net_query *q;
	unsigned i;

	if (user != NULL && len > sizeof(c.user))
		return -ENAMETOOLONG;
	if (user != NULL)
		memcpy(c.user, user, len);
	q = query_new(net);
	if (q == NULL)
		return -EAGAIN;
	q->list_cb = cb;
	q->arg = arg;
	for (i = 0; i < net->n_workers; i++) {
		q->parts[i].n = max_per_worker;
		if (max_per_worker > 0) {
			q->parts[i].items = calloc(max_per_worker, sizeof(q->parts[i].items[0]));
			if (q->parts[i].items == NULL) {
				query_free(q, net->n_workers);
				return -ENOMEM;
			}
		}
	}
	for (i = 0; i < net->n_workers; i++)
		query_post(net, q, i, &c);
	if (q->pending == 0) {
		query_free(q, net->n_workers);
		return -EAGAIN;
	}
	query_link(net, q);
	return 0;
}

void
ice_net_list_done(struct ice_net *net, struct net_query *q)
{
	struct turn_alloc_info *all = NULL;
	size_t n = 0, total = 0, k = 0;
	unsigned i;

	for (i = 0; i < net->n_workers; i++) {
		n += q->parts[i].n;
		total += q->parts[i].total;
	}
	if (n > 0)
		all = malloc(n * sizeof(*all));
	if (all == NULL)
		n = 0;
	for (i = 0; i < net->n_workers && all != NULL; i++) {
		memcpy(all + k, q->parts[i].items, q->parts[i].n * sizeof(*all));
		k += q->parts[i].n;
	}
	q->list_cb(q->arg, all, n, total);
	free(all);
}

int
ice_net_close_alloc(struct ice_net *net, uint64_t id, ice_net_close_cb cb, void *arg)
{
	struct net_cmd c = { .kind = NET_CMD_CLOSE_ALLOC, .alloc_id = id };
	unsigned wid = (unsigned)(id >> 48);
	struct net_query *q;

	if (wid >= net->n_workers)
		return -ENOENT;
	q = query_new(net);
	if (q == NULL)
		return -EAGAIN;
	q->close_cb = cb;
	q->arg = arg;
	q->pending = 1;
	for (unsigned i = 0; i < net->n_workers; i++)
		q->parts[i].rc = -ENOENT; /* only the id's worker answers */
	query_post(net, q, wid, &c);
	if (q->pending == 0) {
		query_free(q, net->n_workers);
		return -EAGAIN;
	}
	query_link(net, q);
	return 0;
}

int
ice_net_sync(struct ice_net *net, ice_net_close_cb cb, void *arg)
{
	struct net_cmd c = { .kind = NET_CMD_SYNC };
	struct net_query *q = query_new(net);

	if (q == NULL)
		return -EAGAIN;
	q->close_cb = cb;
	q->arg = arg;
	q->sync = true;
	for (unsigned i = 0; i < net->n_workers; i++)
		query_post(net, q, i, &c);
	if (q->pending == 0) {
		query_free(q, net->n_workers);
		return -EAGAIN;
	}
	query_link(net, q);
	return 0;
}

void
ice_net_close_done(struct ice_net *net, struct net_query *q)
{
	int rc = -ENOENT;

	for (unsigned i = 0; i < net->n_workers; i++)
		if (q->parts[i].rc != -ENOENT)
			rc = q->parts[i].rc;
	q->close_cb(q->arg, rc);
}

uint32_t
ice_net_allocations(const struct ice_net *net)
{
	return net->turn_shared != NULL ? turn_shared_allocations(net->turn_shared) : 0;
}

bool
ice_net_progress(struct ice_net *net)
{
	bool all = true;

	for (unsigned i = 0; i < net->n_workers; i++) {
		uint64_t p = atomic_load_explicit(&net->workers[i]->passes, memory_order_relaxed);

		if (p == net->seen_passes[i])
			all = false;
		net->seen_passes[i] = p;
	}
	return all;
}

void
ice_net_stop(struct ice_net *net)
{
	unsigned i;

	if (net == NULL || net->stopped)
		return;
	net->stopped = true;
	/* A flag, not a queued command: a full mailbox must not keep a
	 * worker running. */
	for (i = 0; i < net->n_workers; i++)
		if (net->workers[i]->started) {
			atomic_store(&net->workers[i]->stop_req, true);
			net_mailbox_wake(&net->workers[i]->mailbox);
		}
	for (i = 0; i < net->n_workers; i++) {
		if (net->workers[i]->started)
			pthread_join(net->workers[i]->thread, NULL);
		net->workers[i]->started = false;
	}
}

void
ice_net_free(struct ice_net *net)
{
	struct net_query *q;

	if (net == NULL)
		return;
	ice_net_stop(net);
	/* Queries nobody will answer now: freed with no callback (the main
	 * loop is gone); their answers, if any, are dropped with the ring. */
	while ((q = net->queries) != NULL) {
		net->queries = q->next;
		query_free(q, net->n_workers);
	}
	for (unsigned i = 0; i < net->n_workers; i++)
		net_worker_free(net->workers[i]);
	free(net->workers);
	free(net->seen_passes);
	if (net->ev_replies != NULL)
		event_free(net->ev_replies);
	if (net->ev_quota_flush != NULL)
		event_free(net->ev_quota_flush);
	net_replies_fini(&net->replies);
	net_turn_shared_fini(net);
	net_gen_unref(net->gen);
	ice_config_unref(net->cfg);
	free(net);
}
