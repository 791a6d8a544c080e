/*
 * Bandwidth limits, the worker's half (issue 18; docs/turn.md says what each
 * key does). Every limit is a token bucket (bandwidth.h):
 *
 *  - max-bps-per-allocation: one bucket per allocation and direction.
 *  - max-bps-per-user: one bucket per user and direction on each worker,
 *    whose rate is this worker's share of the limit. Shares follow offered
 *    demand: each tick every worker publishes what its users offered (bytes
 *    before any drop, smoothed) and takes limit x mine / total. No lock or
 *    atomic per packet; a change of demand is followed within a tick or
 *    two, and a bucket holds TURN_BW_BURST_MS of its rate, which bounds the
 *    error (docs/turn.md).
 *  - max-bytes-per-user-per-day: relayed bytes, both directions, charged to
 *    the user's rolling 24 h each tick. Once spent, new Allocates get 486
 *    and the user's live allocations keep budget-floor-bps each way (a call
 *    degrades to audio instead of dropping mid-sentence; closing it would
 *    also lose what the budget is for, a bound on cost).
 *  - bps-capacity: each worker publishes its relayed rate each tick; an
 *    Allocate that finds the node at or above the capacity gets 486. Live
 *    allocations keep their share.
 *
 * Over a limit, a UDP packet is dropped and counted by limit and direction.
 * A TCP or TLS client sending to a peer is not read until its frame fits
 * (backpressure through TCP flow control) instead of being dropped.
 */
#include <errno.h>
#include <string.h>

#include "turn_int.h"

enum {
	BW_FLOOR_DEFAULT_BPS = 64000, /* Opus voice with room; a video call drops to audio */
	BW_EXPIRE_BATCH = 256,
};

void
turn_bucket_set(struct turn_bucket *b, uint64_t bps, ice_ms_t now)
{
	b->rate = bps / 8;
	b->depth =
		(int64_t)ICE_MAX(b->rate * TURN_BW_BURST_MS / 1000, (uint64_t)TURN_BW_BURST_MIN) *
		1000;
	b->tokens = b->depth;
	b->last = now;
}

void
turn_bucket_rerate(struct turn_bucket *b, uint64_t bps, ice_ms_t now)
{
	bool had_limit = b->rate != 0;
	int64_t tokens;

	turn_bucket_fill(b, now);
	tokens = b->tokens;
	turn_bucket_set(b, bps, now);
	/* What it held (or owed) carries over, capped at the new depth; a
	 * bucket that had no limit starts full. */
	if (had_limit && tokens < b->depth)
		b->tokens = tokens;
}

static bool
per_user(const struct turn_server *srv)
{
	return srv->set.max_bps_per_user != 0 || srv->set.max_bytes_per_user_per_day != 0;
}

static uint64_t
floor_bps(const struct turn_server *srv)
{
	return srv->set.budget_floor_bps ? srv->set.budget_floor_bps : BW_FLOOR_DEFAULT_BPS;
}

/* The per-allocation rate in force for a (the floor while its user is over budget). */
static uint64_t
alloc_bps(const struct turn_server *srv, const struct turn_alloc *a)
{
	uint64_t bps = srv->set.max_bps_per_allocation;

	if (a->wuser != NULL && a->wuser->bw_over)
		bps = bps != 0 ? ICE_MIN(bps, floor_bps(srv)) : floor_bps(srv);
	return bps;
}

void
turn_bw_alloc_init(struct turn_server *srv, struct turn_alloc *a, ice_ms_t now)
{
	uint64_t bps = alloc_bps(srv, a);

	turn_bucket_set(&a->bw[TURN_DIR_TO_PEER], bps, now);
	turn_bucket_set(&a->bw[TURN_DIR_TO_CLIENT], bps, now);
	if (a->wuser != NULL && a->wuser->bw_over)
		srv->bw_throttled++;
}

int
turn_bw_user_attach(struct turn_server *srv, struct turn_wuser *u, ice_ms_t now)
{
	uint64_t bps = srv->set.max_bps_per_user;

	if (per_user(srv)) {
		u->bwu = turn_bw_user_get(turn_shared_bw(srv->sh), u->name, u->name_len);
		if (u->bwu == NULL)
			return -ENOMEM;
	}
	/* Until the first tick, an even part of the limit over the workers. */
	if (bps != 0)
		bps = ICE_MAX(bps / ICE_MAX(srv->set.workers, 1u), 1u);
	turn_bucket_set(&u->bw[TURN_DIR_TO_PEER], bps, now);
	turn_bucket_set(&u->bw[TURN_DIR_TO_CLIENT], bps, now);
	return 0;
}

void
turn_bw_user_detach(struct turn_server *srv, struct turn_wuser *u)
{
	struct turn_wuser **pp;

	if (u->bw_active) {
		for (pp = &srv->bw_active; *pp != u; pp = &(*pp)->bw_next)
			;
		*pp = u->bw_next;
	}
	if (u->bwu != NULL) {
		/* What it relayed since the last tick still counts. */
		if (u->bw_relayed > 0)
			(void)turn_bw_user_charge(turn_shared_bw(srv->sh), u->bwu, u->bw_relayed,
			                          srv->unix_s, srv->set.max_bytes_per_user_per_day);
		turn_bw_user_put(turn_shared_bw(srv->sh), u->bwu, srv->wid);
	}
	u->bwu = NULL;
}

static void
count_drop(struct turn_server *srv, int why, enum turn_dir dir, size_t len)
{
	static const enum ice_metric_id pkts[3][2] = {
		{ ICE_M_TURN_BW_DROP_ALLOCATION_TO_PEER, ICE_M_TURN_BW_DROP_ALLOCATION_TO_CLIENT },
		{ ICE_M_TURN_BW_DROP_USER_TO_PEER, ICE_M_TURN_BW_DROP_USER_TO_CLIENT },
		{ ICE_M_TURN_BW_DROP_BUDGET_TO_PEER, ICE_M_TURN_BW_DROP_BUDGET_TO_CLIENT },
	};
	static const enum ice_metric_id bytes[3][2] = {
		{ ICE_M_TURN_BW_DROPB_ALLOCATION_TO_PEER,
		  ICE_M_TURN_BW_DROPB_ALLOCATION_TO_CLIENT },
		{ ICE_M_TURN_BW_DROPB_USER_TO_PEER, ICE_M_TURN_BW_DROPB_USER_TO_CLIENT },
		{ ICE_M_TURN_BW_DROPB_BUDGET_TO_PEER, ICE_M_TURN_BW_DROPB_BUDGET_TO_CLIENT },
	};

	turn_count(srv, pkts[why][dir]);
	ice_metrics_add(srv->m, bytes[why][dir], len);
}

long
turn_bw_admit(struct turn_server *srv, struct turn_alloc *a, enum turn_dir dir, size_t len,
              ice_ms_t now)
{
	struct turn_wuser *u = a->wuser;
	struct turn_bucket *ab = &a->bw[dir], *ub = &u->bw[dir];
	/* A stream waits rather than drops: the client's to-peer frames, and
	 * both ways of an RFC 6062 TCP allocation. */
	bool stream = (dir == TURN_DIR_TO_PEER || a->tcp) && a->ft.proto != TURN_PROTO_UDP;
	int why = -1;

	if (!u->bw_active) {
		u->bw_active = true;
		u->bw_next = srv->bw_active;
		srv->bw_active = u;
	}
	u->bw_offered[dir] += len;
	if (!turn_bucket_fits(ab, len, now))
		why = u->bw_over ? 2 : 0;
	else if (!turn_bucket_fits(ub, len, now))
		why = 1;
	if (why >= 0) {
		if (stream) {
			/* Read nothing more until it fits: TCP flow control tells
			 * the client; its offer counts once. */
			u->bw_offered[dir] -= len;
			turn_count(srv, ICE_M_TURN_BW_STREAM_WAITS);
			return (long)ICE_MAX(turn_bucket_wait(why == 1 ? ub : ab, len), 1u);
		}
		count_drop(srv, why, dir, len);
		return -1;
	}
	turn_bucket_take(ab, len);
	turn_bucket_take(ub, len);
	u->bw_relayed += len;
	return 0;
}

/* After a wait answer (the offer taken back): the bytes count after all. */
void
turn_bw_charge(struct turn_alloc *a, enum turn_dir dir, size_t len)
{
	struct turn_wuser *u = a->wuser;

	turn_bucket_take(&a->bw[dir], len);
	turn_bucket_take(&u->bw[dir], len);
	u->bw_offered[dir] += len;
	u->bw_relayed += len;
}

/* The user is over budget from now on (or no longer): its allocations' rates. */
static void
user_over(struct turn_server *srv, struct turn_wuser *u, bool over, ice_ms_t now)
{
	if (u->bw_over == over)
		return;
	u->bw_over = over;
	for (struct turn_alloc *a = u->allocs; a != NULL; a = a->wnext) {
		turn_bucket_rerate(&a->bw[TURN_DIR_TO_PEER], alloc_bps(srv, a), now);
		turn_bucket_rerate(&a->bw[TURN_DIR_TO_CLIENT], alloc_bps(srv, a), now);
		srv->bw_throttled = over ? srv->bw_throttled + 1 : srv->bw_throttled - 1;
	}
}

/* One active user's tick: demand published, share taken, bytes charged. */
static void
user_tick(struct turn_server *srv, struct turn_wuser *u, ice_ms_t dt, ice_ms_t now)
{
	struct turn_bw_shared *b = turn_shared_bw(srv->sh);
	uint64_t limit = srv->set.max_bps_per_user;

	for (int d = 0; d < 2; d++) {
		/* Offered bytes/s, smoothed over about four ticks. */
		uint64_t inst = u->bw_offered[d] * 1000 / dt;

		u->bw_demand[d] = (u->bw_demand[d] * 3 + inst) / 4;
		u->bw_offered[d] = 0;
		if (limit != 0 && u->bwu != NULL)
			turn_bucket_rerate(
				&u->bw[d],
				turn_bw_user_share(b, u->bwu, srv->wid, d, u->bw_demand[d], limit),
				now);
	}
	if (u->bwu != NULL && u->bw_relayed > 0) {
		bool over = turn_bw_user_charge(b, u->bwu, u->bw_relayed, srv->unix_s,
		                                srv->set.max_bytes_per_user_per_day);

		u->bw_relayed = 0;
		user_over(srv, u, over, now);
	}
}

/* Bytes this worker relayed in all, from its own counters: the relay path
 * counts them anyway, so the node's rate costs nothing per packet. */
static uint64_t
relayed_total(const struct turn_server *srv)
{
	static const enum ice_metric_id ids[] = {
		ICE_M_TURN_RELAY_BYTES_TO_PEER_IND,
		ICE_M_TURN_RELAY_BYTES_TO_PEER_CD,
		ICE_M_TURN_RELAY_BYTES_TO_CLIENT_IND,
		ICE_M_TURN_RELAY_BYTES_TO_CLIENT_CD,
	};
	uint64_t sum = 0;

	if (srv->m == NULL)
		return 0;
	for (size_t i = 0; i < ICE_ARRAY_SIZE(ids); i++)
		sum += atomic_load_explicit(&srv->m->v[ids[i]], memory_order_relaxed);
	return sum;
}

void
turn_bandwidth_tick(struct turn_server *srv, ice_ms_t now)
{
	ice_ms_t dt = now > srv->bw_tick_last ? now - srv->bw_tick_last : 0;
	uint64_t total = relayed_total(srv);
	struct turn_wuser *u, **pp;

	if (dt == 0)
		return;
	srv->bw_tick_last = now;
	/* Relayed rate of this worker, smoothed over about a second. */
	srv->bw_rate_Bps = (srv->bw_rate_Bps * 7 + (total - srv->bw_tick_total) * 1000 / dt) / 8;
	srv->bw_tick_total = total;
	turn_bw_publish_rate(turn_shared_bw(srv->sh), srv->wid, srv->bw_rate_Bps * 8);
	ice_metrics_set(srv->m, ICE_M_TURN_RELAY_BPS, srv->bw_rate_Bps * 8);
	for (pp = &srv->bw_active; (u = *pp) != NULL;) {
		user_tick(srv, u, dt, now);
		/* Quiet for a tick and no demand left: off the active list. */
		if (u->bw_demand[0] == 0 && u->bw_demand[1] == 0) {
			*pp = u->bw_next;
			u->bw_active = false;
			if (u->bwu != NULL && srv->set.max_bps_per_user != 0)
				for (int d = 0; d < 2; d++)
					(void)turn_bw_user_share(turn_shared_bw(srv->sh), u->bwu,
					                         srv->wid, d, 0,
					                         srv->set.max_bps_per_user);
			continue;
		}
		pp = &u->bw_next;
	}
	ice_metrics_set(srv->m, ICE_M_TURN_BW_THROTTLED, srv->bw_throttled);
	if (srv->wid == 0)
		turn_bw_expire(turn_shared_bw(srv->sh), srv->unix_s, BW_EXPIRE_BATCH);
}

void
turn_bw_reconfigure(struct turn_server *srv, ice_ms_t now)
{
	const struct turn_settings *s = &srv->set;

	srv->bw_on = s->max_bps_per_allocation != 0 || s->max_bps_per_user != 0 ||
	             s->max_bytes_per_user_per_day != 0;
	if (srv->wusers.b == NULL)
		return; /* a new server: no user yet */
	for (size_t i = 0; i <= srv->wusers.mask; i++)
		for (struct htab_node *n = srv->wusers.b[i]; n != NULL; n = n->next) {
			struct turn_wuser *u = TURN_CONTAINER(n, struct turn_wuser, node);

			if (s->max_bps_per_user == 0) {
				turn_bucket_rerate(&u->bw[0], 0, now);
				turn_bucket_rerate(&u->bw[1], 0, now);
			}
			for (struct turn_alloc *a = u->allocs; a != NULL; a = a->wnext) {
				turn_bucket_rerate(&a->bw[0], alloc_bps(srv, a), now);
				turn_bucket_rerate(&a->bw[1], alloc_bps(srv, a), now);
			}
		}
}

const char *
turn_bw_refuse(struct turn_server *srv, const char *user, size_t len)
{
	const struct turn_settings *s = &srv->set;

	if (s->bps_capacity != 0 && turn_shared_relay_bps(srv->sh) >= s->bps_capacity) {
		turn_count(srv, ICE_M_TURN_QUOTA_CAPACITY);
		return "Allocation Quota Reached: relay capacity full";
	}
	if (turn_bw_budget_spent(turn_shared_bw(srv->sh), user, len, srv->unix_s,
	                         s->max_bytes_per_user_per_day)) {
		turn_count(srv, ICE_M_TURN_QUOTA_BUDGET);
		return "Allocation Quota Reached: daily byte budget spent";
	}
	return NULL;
}
