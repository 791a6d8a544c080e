/*
 * Per-source connection counts and the eviction lists of a pool. See
 * include/icestation/conncap.h. Entries never move while they count a
 * connection, and a lookup scans its whole window (no tombstones: an entry
 * is only ever emptied or overwritten in place, as in ratelimit.c).
 */
#include "icestation/conncap.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conncap_int.h"

/* The source key of a: IPv4 (a mapped IPv6 one too), or the IPv6 /64. 0 if unset. */
uint8_t
cc_key(const struct ice_addr *a, uint8_t key[8])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(key, 0, 8);
	if (a->family == AF_INET) {
		memcpy(key, a->ip, 4);
		return AF_INET;
	}
	if (a->family != AF_INET6)
		return 0;
	if (memcmp(a->ip, mapped, sizeof(mapped)) == 0) {
		memcpy(key, a->ip + 12, 4);
		return AF_INET;
	}
	memcpy(key, a->ip, 8);
	return AF_INET6;
}

static size_t
cc_home(const struct ice_conncap *cc, const uint8_t key[8], uint8_t family)
{
	uint8_t h[9];

	memcpy(h, key, 8);
	h[8] = family;
	return (size_t)ice_siphash(&cc->key, h, sizeof(h));
}

static bool
cc_counts(const struct cc_entry *e)
{
	for (size_t i = 0; i < ICE_CONNCAP_CLASSES; i++)
		if (e->count[i] != 0)
			return true;
	return false;
}

/* The entry of key in slots[0..mask], or NULL. */
static struct cc_entry *
cc_find(struct cc_entry *slots, size_t mask, size_t home, const uint8_t key[8], uint8_t family)
{
	for (size_t i = 0; i < ICE_CONNCAP_PROBE; i++) {
		struct cc_entry *e = &slots[(home + i) & mask];

		if (e->family == family && memcmp(e->key, key, 8) == 0)
			return e;
	}
	return NULL;
}

/*
 * How dear a slot is to take for a new source: 0 empty, 1 an entry kept for
 * an old log line only, 2 one whose line is recent (forgetting it may let
 * one line more through), 3 one that counts connections (never taken).
 */
static int
cc_rank(const struct cc_entry *e, ice_ms_t now)
{
	if (e->family == 0)
		return 0;
	if (cc_counts(e))
		return 3;
	return e->logged && now - e->last_log < ICE_CONNCAP_LOG_MS ? 2 : 1;
}

/* Take the cheapest slot of key's window for it, or NULL when each counts connections. */
static struct cc_entry *
cc_claim(struct cc_entry *slots, size_t mask, size_t home, const uint8_t key[8], uint8_t family,
         ice_ms_t now)
{
	struct cc_entry *best = NULL;
	int best_rank = 3;

	for (size_t i = 0; i < ICE_CONNCAP_PROBE && best_rank > 0; i++) {
		struct cc_entry *e = &slots[(home + i) & mask];
		int r = cc_rank(e, now);

		if (r < best_rank) {
			best = e;
			best_rank = r;
		}
	}
	if (best == NULL)
		return NULL;
	memset(best, 0, sizeof(*best));
	memcpy(best->key, key, 8);
	best->family = family;
	return best;
}

/* An empty slot in the window at home, or NULL. */
static struct cc_entry *
cc_empty(struct cc_entry *slots, size_t mask, size_t home)
{
	for (size_t i = 0; i < ICE_CONNCAP_PROBE; i++)
		if (slots[(home + i) & mask].family == 0)
			return &slots[(home + i) & mask];
	return NULL;
}

struct cc_entry *
cc_lookup(const struct ice_conncap *cc, const struct ice_addr *src, uint8_t key[8], uint8_t *family)
{
	*family = cc_key(src, key);
	if (*family == 0)
		return NULL;
	return cc_find(cc->slots, cc->mask, cc_home(cc, key, *family), key, *family);
}

struct cc_entry *
cc_lookup_or_claim(struct ice_conncap *cc, const struct ice_addr *src, ice_ms_t now)
{
	uint8_t key[8], family;
	struct cc_entry *e = cc_lookup(cc, src, key, &family);

	if (e != NULL || family == 0)
		return e;
	return cc_claim(cc->slots, cc->mask, cc_home(cc, key, family), key, family, now);
}

static size_t
cc_slots_for(size_t max_conns)
{
	size_t n = 64;

	while (n < 2 * max_conns && n < ICE_CONNCAP_MAX_SLOTS)
		n <<= 1;
	return n;
}

static void
list_init(struct ice_conncap_node *head)
{
	head->prev = head->next = head;
}

static void
list_append(struct ice_conncap_node *head, struct ice_conncap_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void
list_unlink(struct ice_conncap_node *n)
{
	if (n->next == NULL)
		return; /* pinned: in no list */
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

struct ice_conncap *
ice_conncap_new(size_t max_conns, const struct ice_siphash_key *key, struct ice_metrics *m)
{
	struct ice_conncap *cc = calloc(1, sizeof(*cc));
	size_t n = cc_slots_for(max_conns);

	if (cc == NULL)
		return NULL;
	cc->slots = calloc(n, sizeof(*cc->slots));
	if (cc->slots == NULL) {
		free(cc);
		return NULL;
	}
	cc->mask = n - 1;
	cc->key = *key;
	cc->m = m;
	list_init(&cc->pending);
	list_init(&cc->served);
	return cc;
}

void
ice_conncap_free(struct ice_conncap *cc)
{
	if (cc == NULL)
		return;
	free(cc->slots);
	free(cc);
}

int
ice_conncap_reserve(struct ice_conncap *cc, size_t max_conns)
{
	size_t n = cc_slots_for(max_conns), i;
	struct cc_entry *slots, *e;

	if (n <= cc->mask + 1)
		return 0;
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	for (i = 0; i <= cc->mask; i++) {
		const struct cc_entry *old = &cc->slots[i];

		if (old->family == 0)
			continue;
		/* A bigger table has room for everything the old one held,
		 * bar a window crowded by chance: then that source is forgotten
		 * (its connections leave untracked; a log-only entry costs at
		 * most one line more). */
		e = cc_empty(slots, n - 1, cc_home(cc, old->key, old->family));
		if (e != NULL)
			*e = *old;
	}
	free(cc->slots);
	cc->slots = slots;
	cc->mask = n - 1;
	return 0;
}

void
ice_conncap_set_cap(struct ice_conncap *cc, enum ice_conncap_class cls, uint32_t cap)
{
	cc->cap[cls] = cap;
}

void
ice_conncap_set_metrics(struct ice_conncap *cc, struct ice_metrics *m)
{
	cc->m = m;
}

void
ice_conncap_set_mask(struct ice_conncap *cc, bool mask)
{
	cc->mask_addrs = mask;
}

size_t
ice_conncap_capacity(const struct ice_conncap *cc)
{
	return cc->mask + 1;
}

enum ice_conncap_verdict
ice_conncap_check(const struct ice_conncap *cc, enum ice_conncap_class cls,
                  const struct ice_addr *src, bool full, struct ice_conncap_node **victim)
{
	uint8_t key[8], family;
	const struct cc_entry *e = cc_lookup(cc, src, key, &family);

	*victim = NULL;
	if (e != NULL && cc->cap[cls] != 0 && e->count[cls] >= cc->cap[cls])
		return ICE_CONNCAP_REFUSE_ADDR;
	if (!full)
		return ICE_CONNCAP_ADMIT;
	if (cc->pending.next != &cc->pending)
		*victim = cc->pending.next;
	else if (cc->served.next != &cc->served)
		*victim = cc->served.next;
	return *victim != NULL ? ICE_CONNCAP_EVICT : ICE_CONNCAP_REFUSE_FULL;
}

bool
ice_conncap_add(struct ice_conncap *cc, struct ice_conncap_node *node, enum ice_conncap_class cls,
                const struct ice_addr *src)
{
	/* Time only ranks log-only entries; 0 makes every one of them fair
	 * game, and the connection is worth more than a log line. */
	struct cc_entry *e = cc_lookup_or_claim(cc, src, 0);

	memset(node, 0, sizeof(*node));
	node->cls = (uint8_t)cls;
	node->state = ICE_CONNCAP_PENDING;
	list_append(&cc->pending, node);
	if (e == NULL) {
		/* A unix socket has no source to count: not a full window. */
		if (src->family != 0)
			ice_metrics_inc(cc->m, cc_metric(cls, CC_EV_UNTRACKED));
		return false;
	}
	memcpy(node->key, e->key, 8);
	node->family = e->family;
	node->counted = true;
	e->count[cls]++;
	return true;
}

void
ice_conncap_served(struct ice_conncap *cc, struct ice_conncap_node *node)
{
	if (node->state != ICE_CONNCAP_PENDING)
		return;
	list_unlink(node);
	list_append(&cc->served, node);
	node->state = ICE_CONNCAP_SERVED;
}

void
ice_conncap_pin(struct ice_conncap *cc, struct ice_conncap_node *node, bool pinned)
{
	if (node->state == ICE_CONNCAP_OUT || pinned == (node->state == ICE_CONNCAP_PINNED))
		return;
	list_unlink(node);
	if (pinned) {
		node->state = ICE_CONNCAP_PINNED;
		return;
	}
	list_append(&cc->served, node);
	node->state = ICE_CONNCAP_SERVED;
}

void
ice_conncap_remove(struct ice_conncap *cc, struct ice_conncap_node *node)
{
	struct cc_entry *e;

	if (node->state == ICE_CONNCAP_OUT)
		return;
	list_unlink(node);
	node->state = ICE_CONNCAP_OUT;
	if (!node->counted)
		return;
	node->counted = false;
	e = cc_find(cc->slots, cc->mask, cc_home(cc, node->key, node->family), node->key,
	            node->family);
	/* Gone only if a reserve could not place it: nothing to uncount. */
	if (e == NULL || e->count[node->cls] == 0)
		return;
	e->count[node->cls]--;
	/* Kept while its log line is recent; empty once nothing needs it. */
	if (!cc_counts(e) && !e->logged)
		e->family = 0;
}

uint32_t
ice_conncap_count(const struct ice_conncap *cc, enum ice_conncap_class cls,
                  const struct ice_addr *src)
{
	uint8_t key[8], family;
	const struct cc_entry *e = cc_lookup(cc, src, key, &family);

	return e != NULL ? e->count[cls] : 0;
}

bool
ice_conncap_log_due(struct ice_conncap *cc, const struct ice_addr *src, ice_ms_t now,
                    uint32_t *suppressed)
{
	struct cc_entry *e = cc_lookup_or_claim(cc, src, now);

	*suppressed = 0;
	if (e == NULL)
		return false;
	if (e->logged && now - e->last_log < ICE_CONNCAP_LOG_MS) {
		e->suppressed++;
		return false;
	}
	*suppressed = e->suppressed;
	e->suppressed = 0;
	e->logged = true;
	e->last_log = now;
	return true;
}
