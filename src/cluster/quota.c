/*
 * Cluster-wide per-user quotas. Redis holds, per user, one field per node
 * instance with the allocations that instance holds (P qa:<user>), and the
 * times of the user's recent Allocates (P qr:<user>). The acquire script
 * sums the other live instances' fields, checks both limits and takes one
 * allocation atomically. A field of an instance whose liveness expired no
 * longer counts: a dead node does not leave its users at the limit.
 *
 * Every write of this node's field is absolute (the count this node holds),
 * never an increment, and all of them travel in order on one connection. So
 * whatever was lost (a timed-out acquire that did or did not run, a release
 * while Redis was away, a Redis restart that forgot everything), the next
 * write for that user repairs it. An entry is marked dirty whenever Redis
 * may disagree with it and written back as soon as there is room; on every
 * reconnect all of them are. The local table is bounded (max_users): past
 * it an acquire is DEGRADED, never a new allocation of memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/siphash.h"

#include "cluster_int.h"
#include "record.h"

enum {
	CL_QUOTA_KEY_TTL_S = 3600,       /* an idle user's hash goes; live entries rewrite it */
	CL_QUOTA_REFRESH_PER_TICK = 256, /* bounded work per heartbeat */
};

struct cl_user {
	struct ice_cluster *c; /* for the write-back replies */
	struct cl_user *hnext;
	TAILQ_ENTRY(cl_user) dirty_link; /* on c->dirty while Redis may disagree */
	TAILQ_ENTRY(cl_user) aged_link;  /* on c->aged, oldest write first */
	bool in_dirty;
	uint32_t held;    /* allocations of this user on this node (OK or DEGRADED) */
	uint32_t pending; /* acquires in flight */
	uint32_t writes;  /* field writes in flight */
	uint64_t seq;     /* bumped by every write sent for this user */
	ice_ms_t written_at;
	uint64_t hash;
	char name[];
};

struct cl_acq {
	struct ice_cluster *c;
	struct cl_user *u; /* NULL when only the per-minute limit is on */
	uint64_t seq;
	ice_cluster_quota_fn fn;
	void *arg;
	struct cl_acq *next_free;
};

static struct ice_siphash_key hash_key;

int
cl_quota_init(struct ice_cluster *c)
{
	uint32_t i;

	if (hash_key.k0 == 0 && hash_key.k1 == 0 && ice_siphash_key_random(&hash_key) != 0)
		return -EIO;
	for (c->n_buckets = 64; c->n_buckets < c->s.max_users / 8; c->n_buckets *= 2)
		;
	c->users = calloc(c->n_buckets, sizeof(*c->users));
	c->acqs = calloc(c->s.max_pending, sizeof(*c->acqs));
	if (c->users == NULL || c->acqs == NULL)
		return -ENOMEM;
	for (i = c->s.max_pending; i-- > 0;) {
		c->acqs[i].next_free = c->acq_free;
		c->acq_free = &c->acqs[i];
	}
	return 0;
}

void
cl_quota_fini(struct ice_cluster *c)
{
	struct cl_user *u;

	while (c->users != NULL && (u = TAILQ_FIRST(&c->aged)) != NULL) {
		TAILQ_REMOVE(&c->aged, u, aged_link);
		free(u);
	}
	free(c->users);
	free(c->acqs);
	c->users = NULL;
	c->acqs = NULL;
	c->n_users = 0;
}

/* --- the table --- */

static struct cl_user *
user_find(struct ice_cluster *c, const char *name, uint64_t h)
{
	struct cl_user *u;

	for (u = c->users[h & (c->n_buckets - 1)]; u != NULL; u = u->hnext)
		if (u->hash == h && strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

static struct cl_user *
user_get(struct ice_cluster *c, const char *name)
{
	uint64_t h = ice_siphash(&hash_key, name, strlen(name));
	struct cl_user *u = user_find(c, name, h);
	size_t len;

	if (u != NULL || c->n_users >= c->s.max_users)
		return u;
	len = strlen(name);
	u = calloc(1, sizeof(*u) + len + 1);
	if (u == NULL)
		return NULL;
	memcpy(u->name, name, len + 1);
	u->c = c;
	u->hash = h;
	u->hnext = c->users[h & (c->n_buckets - 1)];
	c->users[h & (c->n_buckets - 1)] = u;
	TAILQ_INSERT_HEAD(&c->aged, u, aged_link); /* never written: the oldest */
	c->n_users++;
	return u;
}

static void
user_maybe_free(struct ice_cluster *c, struct cl_user *u)
{
	struct cl_user **pp;

	if (u->held != 0 || u->pending != 0 || u->writes != 0 || u->in_dirty)
		return;
	for (pp = &c->users[u->hash & (c->n_buckets - 1)]; *pp != u; pp = &(*pp)->hnext)
		;
	*pp = u->hnext;
	TAILQ_REMOVE(&c->aged, u, aged_link);
	c->n_users--;
	free(u);
}

static void
mark_dirty(struct ice_cluster *c, struct cl_user *u)
{
	if (u->in_dirty)
		return;
	u->in_dirty = true;
	TAILQ_INSERT_TAIL(&c->dirty, u, dirty_link);
}

/* A write for u is on its way: it is now the newest. */
static void
wrote(struct ice_cluster *c, struct cl_user *u)
{
	u->seq++;
	u->written_at = cl_now_ms();
	TAILQ_REMOVE(&c->aged, u, aged_link);
	TAILQ_INSERT_TAIL(&c->aged, u, aged_link);
}

/* --- write-back --- */

static void pump(struct ice_cluster *c);

static void
on_qset(void *arg, const redisReply *r, int err)
{
	struct cl_user *u = arg;
	struct ice_cluster *c = u->c;

	u->writes--;
	if (err != 0 || cl_reply_is_error(c, r)) {
		mark_dirty(c, u); /* retried at the next tick, not in a hot loop */
		return;
	}
	user_maybe_free(c, u);
	pump(c);
}

/* Write dirty entries while at least half the slots stay free for acquires. */
static void
pump(struct ice_cluster *c)
{
	const uint32_t reserve = c->cmd.n_slots / 2;
	struct cl_user *u;
	char ttl[16], n[16];
	const char *argv[4];

	if (!cl_cmd_ready(c))
		return;
	snprintf(ttl, sizeof(ttl), "%d", CL_QUOTA_KEY_TTL_S);
	while ((u = TAILQ_FIRST(&c->dirty)) != NULL && cl_conn_room(&c->cmd) > reserve) {
		snprintf(n, sizeof(n), "%u", u->held);
		argv[0] = c->instance_hex, argv[1] = ttl, argv[2] = u->name, argv[3] = n;
		if (cl_script_call(c, CL_SCRIPT_QSET, c->s.command_timeout_ms, on_qset, u, 4, argv,
		                   NULL) != 0)
			return;
		TAILQ_REMOVE(&c->dirty, u, dirty_link);
		u->in_dirty = false;
		u->writes++;
		wrote(c, u);
	}
}

void
cl_quota_tick(struct ice_cluster *c, ice_ms_t now)
{
	struct cl_user *u;
	unsigned n = 0;

	/* Rewrite entries before their hash can expire under a long-lived allocation. */
	TAILQ_FOREACH(u, &c->aged, aged_link) {
		if (n++ >= CL_QUOTA_REFRESH_PER_TICK ||
		    u->written_at + CL_QUOTA_KEY_TTL_S * 1000 / 2 > now)
			break;
		mark_dirty(c, u);
	}
	pump(c);
}

void
cl_quota_resync(struct ice_cluster *c)
{
	struct cl_user *u;

	/* Redis may have restarted empty, or missed releases: write everything again. */
	TAILQ_FOREACH(u, &c->aged, aged_link)
		mark_dirty(c, u);
	pump(c);
}

/* --- acquire and release --- */

static enum ice_cluster_quota
degraded(struct ice_cluster *c, struct cl_user *u)
{
	cl_count(c, ICE_M_CLUSTER_DEGRADED_QUOTA);
	if (u != NULL) {
		u->held++; /* the caller may admit on its local count: assume it did */
		mark_dirty(c, u);
	}
	return ICE_CLUSTER_QUOTA_DEGRADED;
}

/* The acquire script's reply {code, count}; -1 when it is not that shape. */
static int
acquire_code(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer < 0 ||
	    r->element[0]->integer > 2)
		return -1;
	return (int)r->element[0]->integer;
}

static void
on_acquire(void *arg, const redisReply *r, int err)
{
	static const enum ice_cluster_quota results[] = {
		ICE_CLUSTER_QUOTA_OK,
		ICE_CLUSTER_QUOTA_OVER_USER,
		ICE_CLUSTER_QUOTA_OVER_RATE,
	};
	static const enum ice_metric_id counters[] = {
		ICE_M_CLUSTER_QUOTA_OK,
		ICE_M_CLUSTER_QUOTA_OVER_USER,
		ICE_M_CLUSTER_QUOTA_OVER_RATE,
	};
	struct cl_acq *a = arg;
	struct ice_cluster *c = a->c;
	struct cl_user *u = a->u;
	ice_cluster_quota_fn fn = a->fn;
	void *fn_arg = a->arg;
	enum ice_cluster_quota result;
	int code = -1;

	if (err == 0 && !cl_reply_is_error(c, r)) {
		code = acquire_code(r);
		if (code < 0)
			cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
	}
	if (u != NULL)
		u->pending--;
	if (code < 0) {
		result = degraded(c, u);
	} else {
		result = results[code];
		cl_count(c, counters[code]);
		if (u != NULL && result == ICE_CLUSTER_QUOTA_OK)
			u->held++;
		/* A later write counted this one as admitted (or not): set the truth. */
		if (u != NULL && u->seq != a->seq)
			mark_dirty(c, u);
	}
	a->next_free = c->acq_free;
	c->acq_free = a;
	if (u != NULL) {
		pump(c);
		user_maybe_free(c, u);
	}
	fn(fn_arg, result);
}

enum ice_cluster_quota
ice_cluster_quota_acquire(struct ice_cluster *c, const char *user, ice_cluster_quota_fn fn,
                          void *arg)
{
	const uint32_t maxu = c->s.max_allocations_per_user;
	const uint32_t maxr = c->s.allocations_per_minute_per_user;
	char report[16], smaxu[16], smaxr[16], member[48], ttl[16];
	const char *argv[7];
	struct cl_user *u = NULL;
	struct cl_acq *a;

	if (maxu == 0 && maxr == 0)
		return ICE_CLUSTER_QUOTA_OK;
	if (fn == NULL || !cl_user_is_valid(user))
		return degraded(c, NULL);
	if (maxu != 0 && (u = user_get(c, user)) == NULL)
		return degraded(c, NULL); /* table full */
	a = c->acq_free;
	if (!cl_cmd_ready(c) || a == NULL)
		return degraded(c, u);
	snprintf(report, sizeof(report), "%u", u != NULL ? u->held + u->pending + 1 : 1);
	snprintf(smaxu, sizeof(smaxu), "%u", maxu);
	snprintf(smaxr, sizeof(smaxr), "%u", maxr);
	snprintf(member, sizeof(member), "%s:%llu", c->instance_hex,
	         (unsigned long long)++c->rate_seq);
	snprintf(ttl, sizeof(ttl), "%d", CL_QUOTA_KEY_TTL_S);
	argv[0] = user, argv[1] = c->instance_hex, argv[2] = report, argv[3] = smaxu;
	argv[4] = smaxr, argv[5] = member, argv[6] = ttl;
	if (cl_script_call(c, CL_SCRIPT_ACQUIRE, c->s.quota_timeout_ms, on_acquire, a, 7, argv,
	                   NULL) != 0)
		return degraded(c, u);
	c->acq_free = a->next_free;
	a->c = c;
	a->u = u;
	a->fn = fn;
	a->arg = arg;
	if (u != NULL) {
		u->pending++;
		wrote(c, u);
		a->seq = u->seq;
	}
	return ICE_CLUSTER_QUOTA_PENDING;
}

void
ice_cluster_quota_release(struct ice_cluster *c, const char *user)
{
	struct cl_user *u;

	if (c->s.max_allocations_per_user == 0 || !cl_user_is_valid(user))
		return;
	u = user_find(c, user, ice_siphash(&hash_key, user, strlen(user)));
	if (u == NULL || u->held == 0)
		return;
	u->held--;
	mark_dirty(c, u);
	pump(c);
}
