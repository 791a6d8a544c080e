/*
 * The process-wide half of the bandwidth limits (bandwidth.c is the
 * worker's): per-user records that the workers' per-user shares are
 * balanced through, the rolling daily byte budget of each user, and each
 * worker's relayed rate for bps-capacity. Workers come here once per tick
 * and at Allocate, under one mutex of its own; never per packet.
 *
 * A record lives while a worker's user entry points at it, and after that
 * for as long as its budget still counts bytes (24 h), so a user cannot
 * reset the budget by closing every allocation; the records are capped
 * (the oldest idle one goes first), which bounds the memory a stream of
 * fresh user names can take.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "turn_int.h"

enum {
	BW_HOURS = 24,
	BW_MAX_IDLE = 100000, /* idle records kept for their budget, at most */
};

struct turn_bwu {
	struct htab_node node;
	struct turn_bwu *idle_prev, *idle_next; /* while refs == 0, oldest first */
	unsigned refs;                          /* workers' user entries pointing here */
	uint64_t hours[BW_HOURS];               /* bytes per hour, ring indexed by unix hour */
	uint64_t hour;                          /* the unix hour of the newest slot */
	uint16_t name_len;
	uint64_t *demand; /* [2][workers]: offered bytes/s per direction and worker */
	char name[];
};

struct turn_bw_shared {
	pthread_mutex_t lock;
	struct ice_siphash_key key;
	struct htab users;
	size_t n_idle;
	struct turn_bwu *idle_head, *idle_tail;
	unsigned workers;
	_Atomic uint64_t rate_bps[TURN_BW_MAX_WORKERS]; /* each worker's relayed rate */
};

struct turn_bw_shared *
turn_bw_shared_new(unsigned workers)
{
	struct turn_bw_shared *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->workers = ICE_MAX(1u, ICE_MIN(workers, (unsigned)TURN_BW_MAX_WORKERS));
	if (htab_init(&b->users, 64) < 0 || ice_siphash_key_random(&b->key) < 0) {
		htab_fini(&b->users);
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

static void
bwu_free(struct turn_bwu *u)
{
	free(u->demand);
	free(u);
}

void
turn_bw_shared_free(struct turn_bw_shared *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i <= b->users.mask; i++) {
		struct htab_node *n = b->users.b[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			bwu_free(TURN_CONTAINER(n, struct turn_bwu, node));
		}
	}
	htab_fini(&b->users);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void
idle_unlink(struct turn_bw_shared *b, struct turn_bwu *u)
{
	if (u->idle_prev != NULL)
		u->idle_prev->idle_next = u->idle_next;
	else
		b->idle_head = u->idle_next;
	if (u->idle_next != NULL)
		u->idle_next->idle_prev = u->idle_prev;
	else
		b->idle_tail = u->idle_prev;
	u->idle_prev = u->idle_next = NULL;
	b->n_idle--;
}

static struct turn_bwu *
bwu_find(struct turn_bw_shared *b, const char *name, size_t len, uint64_t h)
{
	for (struct htab_node *n = htab_first(&b->users, h); n != NULL; n = n->next) {
		struct turn_bwu *u = TURN_CONTAINER(n, struct turn_bwu, node);

		if (n->hash == h && u->name_len == len && memcmp(u->name, name, len) == 0)
			return u;
	}
	return NULL;
}

/* Move the ring to hour, clearing the hours skipped. */
static void
budget_advance(struct turn_bwu *u, uint64_t hour)
{
	if (hour <= u->hour)
		return;
	for (uint64_t h = u->hour + 1; h <= hour && h <= u->hour + BW_HOURS; h++)
		u->hours[h % BW_HOURS] = 0;
	u->hour = hour;
}

static uint64_t
budget_used(struct turn_bwu *u, uint64_t unix_s)
{
	uint64_t sum = 0;

	budget_advance(u, unix_s / 3600);
	for (int i = 0; i < BW_HOURS; i++)
		sum += u->hours[i];
	return sum;
}

struct turn_bwu *
turn_bw_user_get(struct turn_bw_shared *b, const char *name, size_t len)
{
	uint64_t h = ice_siphash(&b->key, name, len);
	struct turn_bwu *u;

	if (len > UINT16_MAX)
		return NULL;
	pthread_mutex_lock(&b->lock);
	u = bwu_find(b, name, len, h);
	if (u == NULL) {
		u = calloc(1, sizeof(*u) + len + 1);
		if (u != NULL)
			u->demand = calloc(2 * (size_t)b->workers, sizeof(u->demand[0]));
		if (u != NULL && u->demand == NULL) {
			free(u);
			u = NULL;
		}
		if (u != NULL) {
			memcpy(u->name, name, len);
			u->name_len = (uint16_t)len;
			htab_insert(&b->users, &u->node, h);
		}
	} else if (u->refs == 0) {
		idle_unlink(b, u);
	}
	if (u != NULL)
		u->refs++;
	pthread_mutex_unlock(&b->lock);
	return u;
}

void
turn_bw_user_put(struct turn_bw_shared *b, struct turn_bwu *u, unsigned worker)
{
	if (u == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	u->demand[worker % b->workers] = 0;
	u->demand[b->workers + worker % b->workers] = 0;
	if (--u->refs == 0) {
		/* Kept for its budget; the oldest idle one goes past the cap. */
		u->idle_prev = b->idle_tail;
		if (b->idle_tail != NULL)
			b->idle_tail->idle_next = u;
		else
			b->idle_head = u;
		b->idle_tail = u;
		if (++b->n_idle > BW_MAX_IDLE) {
			struct turn_bwu *old = b->idle_head;

			idle_unlink(b, old);
			htab_remove(&b->users, &old->node);
			bwu_free(old);
		}
	}
	pthread_mutex_unlock(&b->lock);
}

uint64_t
turn_bw_user_share(struct turn_bw_shared *b, struct turn_bwu *u, unsigned worker, int dir,
                   uint64_t demand_Bps, uint64_t limit_bps)
{
	uint64_t *d = u->demand + (size_t)dir * b->workers;
	uint64_t total = 0, share;
	unsigned active = 0;

	pthread_mutex_lock(&b->lock);
	d[worker % b->workers] = demand_Bps;
	for (unsigned i = 0; i < b->workers; i++) {
		total += d[i];
		active += d[i] != 0;
	}
	pthread_mutex_unlock(&b->lock);
	/* Shares follow offered demand; a worker with none yet gets an even
	 * part, so a new flow starts at once (the sum may overshoot by that
	 * part for one tick). */
	if (total == 0 || demand_Bps == 0)
		share = limit_bps / (active + 1);
	else
		share = (uint64_t)((double)limit_bps * (double)demand_Bps / (double)total);
	return share > 0 ? share : 1;
}

bool
turn_bw_user_charge(struct turn_bw_shared *b, struct turn_bwu *u, uint64_t bytes, uint64_t unix_s,
                    uint64_t budget)
{
	bool over;

	pthread_mutex_lock(&b->lock);
	budget_advance(u, unix_s / 3600);
	u->hours[(unix_s / 3600) % BW_HOURS] += bytes;
	over = budget != 0 && budget_used(u, unix_s) >= budget;
	pthread_mutex_unlock(&b->lock);
	return over;
}

bool
turn_bw_budget_spent(struct turn_bw_shared *b, const char *name, size_t len, uint64_t unix_s,
                     uint64_t budget)
{
	uint64_t h = ice_siphash(&b->key, name, len);
	struct turn_bwu *u;
	bool spent = false;

	if (budget == 0)
		return false;
	pthread_mutex_lock(&b->lock);
	u = bwu_find(b, name, len, h);
	if (u != NULL)
		spent = budget_used(u, unix_s) >= budget;
	pthread_mutex_unlock(&b->lock);
	return spent;
}

void
turn_bw_expire(struct turn_bw_shared *b, uint64_t unix_s, size_t max)
{
	struct turn_bwu *u;

	pthread_mutex_lock(&b->lock);
	/* Idle records whose budget counts nothing any more. */
	while ((u = b->idle_head) != NULL && max-- > 0) {
		if (budget_used(u, unix_s) != 0)
			break;
		idle_unlink(b, u);
		htab_remove(&b->users, &u->node);
		bwu_free(u);
	}
	pthread_mutex_unlock(&b->lock);
}

void
turn_bw_publish_rate(struct turn_bw_shared *b, unsigned worker, uint64_t bps)
{
	atomic_store_explicit(&b->rate_bps[worker % TURN_BW_MAX_WORKERS], bps,
	                      memory_order_relaxed);
}

uint64_t
turn_bw_node_rate(const struct turn_bw_shared *b)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < TURN_BW_MAX_WORKERS; i++)
		sum += atomic_load_explicit(&b->rate_bps[i], memory_order_relaxed);
	return sum;
}
