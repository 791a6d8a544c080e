/*
 * State shared by every worker's TURN server: the global allocation count
 * (an atomic, so the max-allocations check needs no lock), per-user quota
 * entries and EVEN-PORT reservations behind one mutex. Only Allocate and
 * allocation teardown come here; the packet path never does.
 *
 * A user entry exists while the user holds allocations, and afterwards for as
 * long as its recent Allocate times still matter to the per-minute limit
 * (with no per-minute limit, not at all; with no per-user limit either, no
 * entry is made: the bench's and coturn's --user-quota=0 setting); idle
 * entries are reaped oldest-first on later Allocates and from every worker's
 * timer tick (so they go once their minute has passed even if nobody
 * allocates again), and the table is capped so a stream of fresh usernames
 * cannot grow it without bound. Entries come from two size-class pools
 * (mmap'ed chunks that are unmapped as they empty) and the index is a
 * shrinking htab, so memory falls back after a burst of users instead of
 * staying in the malloc arena.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "turn_int.h"

struct turn_user {
	struct htab_node node;                   /* in turn_shared.users */
	struct turn_user *idle_prev, *idle_next; /* on the idle list while n_allocs == 0 */
	uint32_t n_allocs;
	uint32_t n_times; /* entries used in times[] (<= rate) */
	uint32_t head;    /* oldest entry once the ring is full */
	ice_ms_t last;    /* newest Allocate time */
	ice_ms_t evicted; /* the time the newest record overwrote (for undo) */
	bool did_evict;   /* the newest record overwrote one (else it appended) */
	uint16_t name_len;
	/* Ring of the last `rate` Allocate times. It starts inline (after the
	 * name, TURN_USER_TIMES_INLINE entries) and grows by doubling up to
	 * `rate` only as the user makes Allocates: sized by the limit up front,
	 * a generous allocations-per-minute-per-user made every user entry cost
	 * rate x 8 bytes (8 MB each at 1,000,000), however few it allocated.
	 * While it is not full, head is 0 and entries are times[0..n_times). */
	uint32_t cap;
	ice_ms_t *times;
	char name[];
};

enum {
	TURN_USER_TIMES_INLINE = 4,
	/* Pool size classes by name bytes held inline (multiples of 8 so the
	 * time ring after the name stays aligned): REST usernames with a short
	 * user part ("<expiry>:<user>") take the first, a user_did the second,
	 * anything up to STUN_MAX_USERNAME_LEN the last. */
	TURN_USER_CLASSES = 3,
	TURN_USER_NAME_MAX = (STUN_MAX_USERNAME_LEN + 7) & ~7,
	/* Idle users dropped per tick at most, so one tick never holds the lock long. */
	TURN_USER_REAP_BATCH = 4096,
};

static const uint16_t user_class_name[TURN_USER_CLASSES] = { 32, 128, TURN_USER_NAME_MAX };

#define USER_BYTES(name_cap) \
	(sizeof(struct turn_user) + (name_cap) + TURN_USER_TIMES_INLINE * sizeof(ice_ms_t))

struct turn_reservation {
	uint64_t token; /* 0: free or taken */
	int handle;
	struct ice_addr addr;
	ice_ms_t expires;
};

struct turn_shared {
	_Atomic uint32_t n_allocs;
	_Atomic uint32_t max_allocs; /* read without the lock by the total check */
	_Atomic bool user_limits;    /* per_user or rate set: read without the lock */
	uint32_t per_user;           /* per_user and rate: under the lock */
	uint32_t rate;
	struct ltc_nonce_key nonce_key;
	struct ice_ticket_keys ticket_keys; /* mobility tickets: any worker opens any */
	struct ice_siphash_key hkey;
	struct ltc_userhash *userhash; /* usernames the ICE API minted (config userhash), or NULL */

	pthread_mutex_t lock;
	struct htab users;
	struct ice_pool *user_pool[TURN_USER_CLASSES];
	size_t n_users;
	size_t max_users;
	struct turn_user *idle_head, *idle_tail;

	struct turn_reservation resv[TURN_MAX_RESERVATIONS];
	uint32_t resv_head, resv_count;
	uint64_t resv_seq;

	struct turn_bw_shared *bw; /* its own lock (shared_bw.c) */
};

/* Live users are bounded by max_allocations; idle ones by this cap. */
static size_t
users_cap(uint32_t max_allocs)
{
	return 2 * (size_t)(max_allocs ? max_allocs : 100000) + 1024;
}

struct turn_shared *
turn_shared_new(const struct turn_settings *s)
{
	struct turn_shared *sh = calloc(1, sizeof(*sh));

	if (sh == NULL)
		return NULL;
	atomic_init(&sh->max_allocs, s->max_allocations);
	sh->per_user = s->max_allocations_per_user;
	sh->rate = s->allocations_per_minute_per_user;
	atomic_init(&sh->user_limits, sh->per_user != 0 || sh->rate != 0);
	sh->max_users = users_cap(s->max_allocations);
	sh->bw = turn_bw_shared_new(s->workers);
	if (sh->bw == NULL)
		goto fail;
	for (int i = 0; i < TURN_USER_CLASSES; i++) {
		sh->user_pool[i] = ice_pool_new(USER_BYTES(user_class_name[i]), 0);
		if (sh->user_pool[i] == NULL)
			goto fail;
	}
	if (htab_init(&sh->users, 64) < 0 || ltc_nonce_key_init(&sh->nonce_key) < 0 ||
	    ice_ticket_keys_init(&sh->ticket_keys) < 0 || ice_siphash_key_random(&sh->hkey) < 0 ||
	    pthread_mutex_init(&sh->lock, NULL) != 0)
		goto fail;
	if (s->userhash_table_size > 0) {
		/* Advertised in the nonce cookie: RFC 8489 clients then send USERHASH. */
		sh->userhash = ltc_userhash_new(s->userhash_table_size);
		if (sh->userhash == NULL)
			goto fail;
		sh->nonce_key.features |= LTC_FEATURE_USERNAME_ANONYMITY;
	}
	return sh;
fail:
	htab_fini(&sh->users);
	for (int i = 0; i < TURN_USER_CLASSES; i++)
		ice_pool_free(sh->user_pool[i]);
	turn_bw_shared_free(sh->bw);
	free(sh);
	return NULL;
}

struct turn_bw_shared *
turn_shared_bw(struct turn_shared *sh)
{
	return sh->bw;
}

uint64_t
turn_shared_relay_bps(const struct turn_shared *sh)
{
	return turn_bw_node_rate(sh->bw);
}

/* The size class of a name of len bytes (len <= TURN_USER_NAME_MAX). */
static int
user_class(size_t len)
{
	int c = 0;

	while (len > user_class_name[c])
		c++;
	return c;
}

static ice_ms_t *
user_inline_times(struct turn_user *u)
{
	return (ice_ms_t *)(void *)(u->name + user_class_name[user_class(u->name_len)]);
}

static void
user_free(struct turn_shared *sh, struct turn_user *u)
{
	if (u->times != user_inline_times(u))
		free(u->times);
	ice_pool_put(sh->user_pool[user_class(u->name_len)], u);
}

void
turn_shared_free(struct turn_shared *sh)
{
	if (sh == NULL)
		return;
	/* Only the out-of-line time rings need freeing one by one; the pools go whole. */
	for (size_t i = 0; i <= sh->users.mask; i++)
		for (struct htab_node *n = sh->users.b[i]; n != NULL; n = n->next) {
			struct turn_user *u = TURN_CONTAINER(n, struct turn_user, node);

			if (u->times != user_inline_times(u))
				free(u->times);
		}
	htab_fini(&sh->users);
	for (int i = 0; i < TURN_USER_CLASSES; i++)
		ice_pool_free(sh->user_pool[i]);
	turn_bw_shared_free(sh->bw);
	ltc_userhash_free(sh->userhash);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/* A new per-minute limit: every ring was laid out for the old one (its
 * indexes run modulo the limit), so each starts empty again. */
static void
rate_reset_all(struct turn_shared *sh)
{
	for (size_t i = 0; i <= sh->users.mask; i++)
		for (struct htab_node *n = sh->users.b[i]; n != NULL; n = n->next) {
			struct turn_user *u = TURN_CONTAINER(n, struct turn_user, node);

			if (u->times != user_inline_times(u))
				free(u->times);
			u->times = user_inline_times(u);
			u->cap = ICE_MIN(sh->rate, (uint32_t)TURN_USER_TIMES_INLINE);
			u->n_times = 0;
			u->head = 0;
			u->did_evict = false;
		}
}

void
turn_shared_set_limits(struct turn_shared *sh, const struct turn_settings *s)
{
	pthread_mutex_lock(&sh->lock);
	atomic_store(&sh->max_allocs, s->max_allocations);
	sh->max_users = users_cap(s->max_allocations);
	sh->per_user = s->max_allocations_per_user;
	if (sh->rate != s->allocations_per_minute_per_user) {
		sh->rate = s->allocations_per_minute_per_user;
		rate_reset_all(sh);
	}
	atomic_store(&sh->user_limits, sh->per_user != 0 || sh->rate != 0);
	pthread_mutex_unlock(&sh->lock);
}

uint32_t
turn_shared_allocations(const struct turn_shared *sh)
{
	return atomic_load_explicit(&sh->n_allocs, memory_order_relaxed);
}

size_t
turn_shared_users(struct turn_shared *sh)
{
	size_t n;

	pthread_mutex_lock(&sh->lock);
	n = sh->n_users;
	pthread_mutex_unlock(&sh->lock);
	return n;
}

const struct ice_ticket_keys *
turn_shared_ticket_keys(const struct turn_shared *sh)
{
	return &sh->ticket_keys;
}

const struct ltc_nonce_key *
turn_shared_nonce_key(const struct turn_shared *sh)
{
	return &sh->nonce_key;
}

struct ltc_userhash *
turn_shared_userhash(const struct turn_shared *sh)
{
	return sh->userhash;
}

static void
idle_remove(struct turn_shared *sh, struct turn_user *u)
{
	if (u->idle_prev != NULL)
		u->idle_prev->idle_next = u->idle_next;
	else
		sh->idle_head = u->idle_next;
	if (u->idle_next != NULL)
		u->idle_next->idle_prev = u->idle_prev;
	else
		sh->idle_tail = u->idle_prev;
	u->idle_prev = u->idle_next = NULL;
}

static void
idle_append(struct turn_shared *sh, struct turn_user *u)
{
	u->idle_next = NULL;
	u->idle_prev = sh->idle_tail;
	if (sh->idle_tail != NULL)
		sh->idle_tail->idle_next = u;
	else
		sh->idle_head = u;
	sh->idle_tail = u;
}

static void
user_delete(struct turn_shared *sh, struct turn_user *u)
{
	htab_remove(&sh->users, &u->node);
	idle_remove(sh, u);
	sh->n_users--;
	user_free(sh, u);
}

/*
 * Drop up to max idle users whose rate window has passed; past the cap, drop
 * the oldest anyway. The idle list is in release order, which is not exactly
 * last-Allocate order, so an entry can wait behind a younger one: it is then
 * reaped a little late, never early.
 */
static void
reap_idle(struct turn_shared *sh, ice_ms_t now, size_t max)
{
	while (sh->idle_head != NULL && max-- > 0) {
		struct turn_user *u = sh->idle_head;

		if (sh->rate != 0 && u->last + TURN_RATE_WINDOW_MS > now &&
		    sh->n_users < sh->max_users)
			break;
		user_delete(sh, u);
	}
}

void
turn_shared_expire_users(struct turn_shared *sh, ice_ms_t now)
{
	pthread_mutex_lock(&sh->lock);
	reap_idle(sh, now, TURN_USER_REAP_BATCH);
	pthread_mutex_unlock(&sh->lock);
}

static struct turn_user *
user_get(struct turn_shared *sh, const char *name, size_t len, ice_ms_t now)
{
	uint64_t h = ice_siphash(&sh->hkey, name, len);
	struct turn_user *u;

	for (struct htab_node *n = htab_first(&sh->users, h); n != NULL; n = n->next) {
		u = TURN_CONTAINER(n, struct turn_user, node);
		if (n->hash == h && u->name_len == len && memcmp(u->name, name, len) == 0)
			return u;
	}
	if (len > TURN_USER_NAME_MAX)
		return NULL; /* the codec caps USERNAME below this; never trust it here */
	reap_idle(sh, now, SIZE_MAX);
	u = ice_pool_get(sh->user_pool[user_class(len)]);
	if (u == NULL)
		return NULL;
	u->cap = ICE_MIN(sh->rate, (uint32_t)TURN_USER_TIMES_INLINE);
	u->name_len = (uint16_t)len;
	memcpy(u->name, name, len);
	u->times = user_inline_times(u);
	htab_insert(&sh->users, &u->node, h);
	sh->n_users++;
	idle_append(sh, u);
	return u;
}

/* Sliding window: allowed when fewer than rate Allocates happened in the last minute. */
static bool
rate_ok(const struct turn_shared *sh, const struct turn_user *u, ice_ms_t now)
{
	if (sh->rate == 0 || u->n_times < sh->rate)
		return true;
	return u->times[u->head] + TURN_RATE_WINDOW_MS <= now;
}

/* Room for one more time in a ring that is not full yet. false: out of memory. */
static bool
rate_room(const struct turn_shared *sh, struct turn_user *u)
{
	ice_ms_t *t;
	uint32_t cap;

	if (sh->rate == 0 || u->n_times < u->cap || u->cap == sh->rate)
		return true;
	cap = u->cap > sh->rate / 2 ? sh->rate : u->cap * 2;
	if (u->times == user_inline_times(u)) {
		t = malloc((size_t)cap * sizeof(*t));
		if (t != NULL)
			memcpy(t, u->times, (size_t)u->n_times * sizeof(*t));
	} else {
		t = realloc(u->times, (size_t)cap * sizeof(*t));
	}
	if (t == NULL)
		return false;
	u->times = t;
	u->cap = cap;
	return true;
}

static void
rate_record(const struct turn_shared *sh, struct turn_user *u, ice_ms_t now)
{
	u->last = now;
	if (sh->rate == 0)
		return;
	u->did_evict = u->n_times >= sh->rate;
	if (!u->did_evict) {
		u->times[(u->head + u->n_times) % sh->rate] = now;
		u->n_times++;
	} else {
		u->evicted = u->times[u->head];
		u->times[u->head] = now;
		u->head = (u->head + 1) % sh->rate;
	}
}

/* Forget the newest entry (an Allocate that failed after acquiring). */
static void
rate_unrecord(const struct turn_shared *sh, struct turn_user *u)
{
	if (sh->rate == 0 || u->n_times == 0)
		return;
	if (!u->did_evict) {
		u->n_times--;
		return;
	}
	/* The ring was full: the record overwrote the oldest time; put it back.
	 * (Two workers interleaving for one user can make this approximate,
	 * never unsafe.) */
	u->head = (u->head + sh->rate - 1) % sh->rate;
	u->times[u->head] = u->evicted;
}

enum turn_quota
turn_shared_acquire(struct turn_shared *sh, const char *name, size_t len, ice_ms_t now,
                    struct turn_user **user)
{
	struct turn_user *u;
	uint32_t n, max;
	enum turn_quota q = TURN_QUOTA_OK;

	*user = NULL;
	n = atomic_fetch_add_explicit(&sh->n_allocs, 1, memory_order_relaxed);
	max = atomic_load_explicit(&sh->max_allocs, memory_order_relaxed);
	if (max != 0 && n >= max) {
		atomic_fetch_sub_explicit(&sh->n_allocs, 1, memory_order_relaxed);
		return TURN_QUOTA_TOTAL;
	}
	/* No per-user quota configured: no entry, no lock, nothing to keep. */
	if (!atomic_load_explicit(&sh->user_limits, memory_order_relaxed))
		return TURN_QUOTA_OK;
	pthread_mutex_lock(&sh->lock);
	u = user_get(sh, name, len, now);
	if (u == NULL)
		q = TURN_QUOTA_TOTAL; /* out of memory: the server is full */
	else if (sh->per_user != 0 && u->n_allocs >= sh->per_user)
		q = TURN_QUOTA_USER;
	else if (!rate_ok(sh, u, now))
		q = TURN_QUOTA_RATE;
	else if (!rate_room(sh, u))
		q = TURN_QUOTA_TOTAL; /* out of memory: the server is full */
	if (q == TURN_QUOTA_OK) {
		rate_record(sh, u, now);
		if (u->n_allocs++ == 0)
			idle_remove(sh, u);
		*user = u;
	}
	pthread_mutex_unlock(&sh->lock);
	if (q != TURN_QUOTA_OK)
		atomic_fetch_sub_explicit(&sh->n_allocs, 1, memory_order_relaxed);
	return q;
}

void
turn_shared_release(struct turn_shared *sh, struct turn_user *u, bool undo_rate)
{
	if (u != NULL) {
		pthread_mutex_lock(&sh->lock);
		if (undo_rate)
			rate_unrecord(sh, u);
		if (--u->n_allocs == 0) {
			/* Without a per-minute limit an idle entry remembers
			 * nothing that matters: drop it now, not in a minute. */
			idle_append(sh, u);
			if (sh->rate == 0)
				user_delete(sh, u);
		}
		pthread_mutex_unlock(&sh->lock);
	}
	atomic_fetch_sub_explicit(&sh->n_allocs, 1, memory_order_relaxed);
}

uint64_t
turn_shared_reserve(struct turn_shared *sh, int handle, const struct ice_addr *addr, ice_ms_t now)
{
	struct turn_reservation *r;
	uint64_t token = 0;
	uint32_t idx;

	pthread_mutex_lock(&sh->lock);
	if (sh->resv_count < TURN_MAX_RESERVATIONS) {
		idx = (sh->resv_head + sh->resv_count) % TURN_MAX_RESERVATIONS;
		r = &sh->resv[idx];
		sh->resv_seq++;
		/* Unguessable high bits (a PRF of a counter), slot index low. */
		token = (ice_siphash(&sh->hkey, &sh->resv_seq, sizeof(sh->resv_seq)) << 8) | idx;
		if (token == 0)
			token = (uint64_t)1 << 8 | idx;
		r->token = token;
		r->handle = handle;
		r->addr = *addr;
		r->expires = now + (ice_ms_t)TURN_RESERVATION_LIFETIME_S * 1000;
		sh->resv_count++;
	}
	pthread_mutex_unlock(&sh->lock);
	return token;
}

int
turn_shared_take_reservation(struct turn_shared *sh, uint64_t token, ice_ms_t now, int *handle,
                             struct ice_addr *addr)
{
	struct turn_reservation *r = &sh->resv[(token & 0xff) % TURN_MAX_RESERVATIONS];
	int rc = -ENOENT;

	if (token == 0)
		return -ENOENT;
	pthread_mutex_lock(&sh->lock);
	if (r->token == token && now < r->expires) {
		*handle = r->handle;
		*addr = r->addr;
		r->token = 0; /* a hole; the ring head skips it when it gets there */
		rc = 0;
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

void
turn_shared_expire_reservations(struct turn_shared *sh, const struct turn_io *io, ice_ms_t now)
{
	int close_handles[TURN_MAX_RESERVATIONS];
	size_t n_close = 0;

	pthread_mutex_lock(&sh->lock);
	/* All reservations live the same time, so ring order is expiry order. */
	while (sh->resv_count > 0) {
		struct turn_reservation *r = &sh->resv[sh->resv_head];

		if (r->token != 0 && r->expires > now)
			break;
		if (r->token != 0)
			close_handles[n_close++] = r->handle;
		r->token = 0;
		sh->resv_head = (sh->resv_head + 1) % TURN_MAX_RESERVATIONS;
		sh->resv_count--;
	}
	pthread_mutex_unlock(&sh->lock);
	for (size_t i = 0; i < n_close; i++)
		io->relay_close(io->ctx, close_handles[i]);
}
