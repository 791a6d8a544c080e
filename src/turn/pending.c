/*
 * Allocates that wait for the cluster (settings.cluster_quota): an Allocate
 * that passed every local check asks the cluster for the user's
 * cluster-wide quota (turn_io.quota_ask, answered within quota-timeout by
 * the main thread's Redis client) and is parked here, request bytes and
 * all, answering nothing meanwhile. When the answer comes, the request is
 * handled again from the start with the verdict at hand, as if it had just
 * arrived: so every check (the local count, the 5-tuple, the ports) sees
 * the state of that moment. The client retransmits meanwhile (those copies
 * are dropped, counted) and gets one answer. Other clients of the worker
 * are never held up.
 *
 * Bounded: TURN_PENDING_MAX requests wait at once per worker, each at most
 * TURN_PENDING_MSG_MAX bytes; a request that does not fit is decided on
 * the local count alone (counted as degraded), as when Redis is away.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "turn_int.h"

enum {
	/* The cluster answers within quota-timeout (50 ms by default); this
	 * only catches an answer that never comes... */
	TURN_PENDING_MS = 2000,
	/* ... and this how long a late answer may still release what it holds. */
	TURN_PENDING_LATE_MS = 30000,
};

struct turn_pending {
	bool used, gone; /* gone: its stream closed; the answer only releases */
	uint64_t cookie;
	struct turn_5tuple ft;
	ice_ms_t deadline;
	uint16_t len, user_len;
	char user[TURN_USER_INFO_MAX];
	uint8_t msg[TURN_PENDING_MSG_MAX];
};

static struct turn_pending *
pending_find_ft(struct turn_server *srv, const struct turn_5tuple *ft)
{
	for (size_t i = 0; i < TURN_PENDING_MAX && srv->n_pending > 0; i++) {
		struct turn_pending *p = &srv->pending[i];

		if (p->used && !p->gone && p->ft.proto == ft->proto &&
		    ice_addr_equal(&p->ft.client, &ft->client) &&
		    ice_addr_equal(&p->ft.server, &ft->server))
			return p;
	}
	return NULL;
}

int
turn_pending_park(struct turn_server *srv, const struct turn_ctx *c, const char *user, size_t len)
{
	struct turn_pending *p;

	if (pending_find_ft(srv, c->ft) != NULL) {
		turn_count(srv, ICE_M_TURN_CLUSTER_RETRANSMIT);
		return 0; /* a retransmission: the first copy's answer will come */
	}
	if (c->msg->len > TURN_PENDING_MSG_MAX || len > sizeof(p->user))
		return -E2BIG;
	if (srv->pending == NULL) {
		srv->pending = calloc(TURN_PENDING_MAX, sizeof(*srv->pending));
		if (srv->pending == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < TURN_PENDING_MAX; i++) {
		p = &srv->pending[i];
		if (p->used)
			continue;
		p->cookie = ++srv->pending_seq;
		if (srv->io.quota_ask(srv->io.ctx, user, len, p->cookie) < 0)
			return -EAGAIN;
		p->used = true;
		p->gone = false;
		p->ft = *c->ft;
		p->deadline = c->now + TURN_PENDING_MS;
		p->len = (uint16_t)c->msg->len;
		memcpy(p->msg, c->msg->buf, c->msg->len);
		p->user_len = (uint16_t)len;
		memcpy(p->user, user, len);
		srv->n_pending++;
		turn_count(srv, ICE_M_TURN_CLUSTER_ASKED);
		return 0;
	}
	return -ENOSPC;
}

static void
pending_free(struct turn_server *srv, struct turn_pending *p)
{
	p->used = false;
	srv->n_pending--;
}

static bool
verdict_held(int v)
{
	return v == TURN_CQ_OK || v == TURN_CQ_DEGRADED;
}

/*
 * Handle p's request again with verdict v. keep: p stays, gone, so a late
 * answer can still release what it holds (a timeout); else p is freed.
 */
static void
pending_run(struct turn_server *srv, struct turn_pending *p, int v, ice_ms_t now, bool keep)
{
	uint8_t buf[TURN_PENDING_MSG_MAX];
	struct turn_5tuple ft = p->ft;
	size_t len = p->len;
	struct stun_msg msg;

	memcpy(buf, p->msg, len);
	if (keep) {
		p->gone = true;
		p->deadline = now + TURN_PENDING_LATE_MS;
	} else {
		pending_free(srv, p);
	}
	/* Bytes we parsed once already; a failure here would be a bug. */
	if (stun_parse(&msg, buf, len) != (int)len) {
		if (verdict_held(v))
			srv->io.quota_release(srv->io.ctx, p->user, p->user_len);
		return;
	}
	turn_handle_stun_verdict(srv, &msg, &ft, now, v);
}

void
turn_quota_answer(struct turn_server *srv, uint64_t cookie, enum turn_cluster_verdict v,
                  ice_ms_t now)
{
	srv->now = now;
	for (size_t i = 0; srv->pending != NULL && i < TURN_PENDING_MAX; i++) {
		struct turn_pending *p = &srv->pending[i];

		if (!p->used || p->cookie != cookie)
			continue;
		if (p->gone) {
			/* Its stream closed, or it was decided locally at the
			 * timeout: only give back what the cluster holds. */
			if (verdict_held((int)v))
				srv->io.quota_release(srv->io.ctx, p->user, p->user_len);
			turn_count(srv, ICE_M_TURN_CLUSTER_LATE);
			pending_free(srv, p);
			return;
		}
		pending_run(srv, p, (int)v, now, false);
		return;
	}
}

void
turn_pending_close(struct turn_server *srv, const struct turn_5tuple *ft)
{
	struct turn_pending *p;

	while ((p = pending_find_ft(srv, ft)) != NULL) {
		p->gone = true;
		p->deadline = srv->now + TURN_PENDING_LATE_MS;
	}
}

void
turn_pending_expire(struct turn_server *srv, ice_ms_t now)
{
	for (size_t i = 0; srv->n_pending > 0 && i < TURN_PENDING_MAX; i++) {
		struct turn_pending *p = &srv->pending[i];

		if (!p->used || now < p->deadline)
			continue;
		if (p->gone) {
			pending_free(srv, p); /* no answer ever came */
			continue;
		}
		/* No answer in time: the local count decides, as when degraded;
		 * the slot waits a while longer for a late answer to release. */
		turn_count(srv, ICE_M_TURN_CLUSTER_TIMEOUT);
		pending_run(srv, p, TURN_CQ_LOCAL, now, true);
	}
}

void
turn_pending_fini(struct turn_server *srv)
{
	free(srv->pending);
	srv->pending = NULL;
	srv->n_pending = 0;
}
