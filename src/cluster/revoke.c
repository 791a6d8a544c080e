/*
 * Revocations. ice_cluster_revoke stores (user, revoked_at, until) in one
 * Redis hash that expires with its last entry and publishes it; every
 * node's subscriber connection hears it and hands it to the revoked
 * callback. Pub/sub forgets whatever was published while a node was away,
 * so each time both connections come up the whole set is read again and
 * delivered. While Redis is away, revocations made here wait in a bounded
 * outbox and go out on reconnect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "cluster_int.h"
#include "record.h"

struct cl_revocation {
	struct ice_cluster *c;
	TAILQ_ENTRY(cl_revocation) link;
	bool inflight;
	uint64_t at, until;
	char user[];
};

void
cl_revoke_fini(struct ice_cluster *c)
{
	struct cl_revocation *r;

	while (c->n_outbox > 0 && (r = TAILQ_FIRST(&c->outbox)) != NULL) {
		TAILQ_REMOVE(&c->outbox, r, link);
		free(r);
		c->n_outbox--;
	}
}

static void
deliver(struct ice_cluster *c, const char *user, size_t user_len, uint64_t at, uint64_t until)
{
	char name[ICE_CLUSTER_USER_MAX + 1];

	if (until <= cl_unix_ms() / 1000)
		return; /* over already: every credential it covers has expired */
	memcpy(name, user, user_len);
	name[user_len] = '\0';
	cl_count(c, ICE_M_CLUSTER_REVOCATIONS);
	if (c->cb.revoked != NULL)
		c->cb.revoked(c->cb.arg, name, at, until);
}

void
cl_revoke_on_message(struct ice_cluster *c, const redisReply *r)
{
	uint64_t at, until;
	const char *user;

	if (r->type != REDIS_REPLY_STRING ||
	    cl_revocation_parse(r->str, r->len, &at, &until, &user) != 0) {
		cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
		return;
	}
	deliver(c, user, r->len - (size_t)(user - r->str), at, until);
}

static void
on_set_loaded(void *arg, const redisReply *r, int err)
{
	struct ice_cluster *c = arg;
	uint64_t at, until;
	size_t i, n = 0;

	c->rv_loading = false;
	if (err != 0 || cl_reply_is_error(c, r))
		return; /* rv_need_load stays: the next tick tries again */
	if (r->type != REDIS_REPLY_ARRAY) {
		cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
		return;
	}
	c->rv_need_load = false;
	for (i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *u = r->element[i], *v = r->element[i + 1];

		if (u->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    u->len > ICE_CLUSTER_USER_MAX || memchr(u->str, '\0', u->len) != NULL ||
		    !cl_user_is_valid(u->str) ||
		    cl_revocation_parse(v->str, v->len, &at, &until, NULL)) {
			cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
			continue;
		}
		deliver(c, u->str, u->len, at, until);
		n++;
	}
	log_debug("cluster: revocation set loaded: %zu entries", n);
}

void
cl_revoke_load(struct ice_cluster *c)
{
	char key[128];
	const char *argv[2] = { "HGETALL", key };

	c->rv_need_load = true;
	if (c->rv_loading || !c->up)
		return;
	cl_key(c, "revoked", key, sizeof(key));
	if (cl_conn_send(&c->cmd, c->s.command_timeout_ms, on_set_loaded, c, 2, argv,
	                 (const size_t[]){ 7, strlen(key) }) == 0)
		c->rv_loading = true;
}

/* --- the outbox --- */

static void
on_stored(void *arg, const redisReply *r, int err)
{
	struct cl_revocation *e = arg;
	struct ice_cluster *c = e->c;

	e->inflight = false;
	if (err != 0 || cl_reply_is_error(c, r))
		return; /* stays in the outbox for the next tick */
	TAILQ_REMOVE(&c->outbox, e, link);
	c->n_outbox--;
	free(e);
}

void
cl_revoke_flush(struct ice_cluster *c)
{
	struct cl_revocation *e;
	char at[24], until[24];
	const char *argv[3];

	if (c->rv_need_load)
		cl_revoke_load(c);
	if (!cl_cmd_ready(c))
		return;
	TAILQ_FOREACH(e, &c->outbox, link) {
		if (e->inflight)
			continue;
		snprintf(at, sizeof(at), "%llu", (unsigned long long)e->at);
		snprintf(until, sizeof(until), "%llu", (unsigned long long)e->until);
		argv[0] = e->user, argv[1] = at, argv[2] = until;
		if (cl_script_call(c, CL_SCRIPT_REVOKE, c->s.command_timeout_ms, on_stored, e, 3,
		                   argv, NULL) != 0)
			return;
		e->inflight = true;
	}
}

int
ice_cluster_revoke(struct ice_cluster *c, const char *user, uint64_t revoked_at, uint64_t until)
{
	struct cl_revocation *e;
	size_t len;

	if (!cl_user_is_valid(user) || until <= revoked_at || until > UINT64_MAX / 1000)
		return -EINVAL;
	if (c->n_outbox >= c->s.max_outbox) {
		cl_count(c, ICE_M_CLUSTER_ERR_QUEUE_FULL);
		return -ENOBUFS;
	}
	len = strlen(user);
	e = calloc(1, sizeof(*e) + len + 1);
	if (e == NULL)
		return -ENOMEM;
	e->c = c;
	e->at = revoked_at;
	e->until = until;
	memcpy(e->user, user, len + 1);
	TAILQ_INSERT_TAIL(&c->outbox, e, link);
	c->n_outbox++;
	if (!cl_cmd_ready(c)) {
		cl_count(c, ICE_M_CLUSTER_DEGRADED_REVOKE);
		log_info("cluster: revocation of %s kept until Redis is back (%u waiting)", user,
		         c->n_outbox);
	}
	cl_revoke_flush(c);
	return 0;
}
