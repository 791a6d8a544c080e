/*
 * Token-bucket rate limiter keyed by source IP. See include/icestation/ratelimit.h.
 *
 * Tokens are kept in milli-tokens so the refill is exact integer arithmetic
 * with millisecond time: elapsed_ms * rps milli-tokens per elapsed interval.
 */
#include "icestation/ratelimit.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
	RL_FAMILY_KEY = 0xff,           /* rl_entry.family of an opaque key */
	RL_TOKEN = 1000,                /* one token in milli-tokens */
	RL_MAX_ELAPSED_MS = 1000000000, /* clamp so elapsed * rps cannot overflow */
};

struct rl_entry {
	uint64_t tokens; /* milli-tokens */
	ice_ms_t last;   /* time of the last take */
	uint8_t key[8];  /* IPv4 address, or IPv6 /64 prefix */
	uint8_t family;  /* 0 = empty slot */
};

struct ice_ratelimit {
	struct ice_siphash_key key;
	uint64_t cap;        /* burst in milli-tokens */
	uint64_t rps;        /* milli-tokens gained per elapsed ms */
	ice_ms_t full_after; /* ms after which an idle bucket is full again */
	size_t mask;         /* n_slots - 1 */
	struct rl_entry slots[];
};

struct ice_ratelimit *
ice_ratelimit_new(uint32_t rps, uint32_t burst, size_t max_entries,
                  const struct ice_siphash_key *key)
{
	struct ice_ratelimit *rl;
	size_t n = ICE_RATELIMIT_PROBE;

	if (rps == 0 || burst == 0 || key == NULL)
		return NULL;
	while (n < max_entries && n < ((size_t)1 << 24))
		n <<= 1;
	rl = calloc(1, sizeof(*rl) + n * sizeof(rl->slots[0]));
	if (rl == NULL)
		return NULL;
	rl->key = *key;
	rl->cap = (uint64_t)burst * RL_TOKEN;
	rl->rps = rps;
	rl->full_after = (rl->cap + rl->rps - 1) / rl->rps;
	rl->mask = n - 1;
	return rl;
}

void
ice_ratelimit_free(struct ice_ratelimit *rl)
{
	free(rl);
}

size_t
ice_ratelimit_capacity(const struct ice_ratelimit *rl)
{
	return rl->mask + 1;
}

/* Fill e->key and return the family, or 0 for an unset address. */
static uint8_t
rl_key(const struct ice_addr *a, uint8_t key[8])
{
	memset(key, 0, 8);
	if (a->family == AF_INET) {
		memcpy(key, a->ip, 4);
		return AF_INET;
	}
	if (a->family == AF_INET6) {
		memcpy(key, a->ip, 8);
		return AF_INET6;
	}
	return 0;
}

static void
rl_refill(const struct ice_ratelimit *rl, struct rl_entry *e, ice_ms_t now)
{
	uint64_t elapsed;

	if (now <= e->last)
		return;
	elapsed = now - e->last;
	if (elapsed >= rl->full_after || elapsed > RL_MAX_ELAPSED_MS)
		e->tokens = rl->cap;
	else
		e->tokens = ICE_MIN(rl->cap, e->tokens + elapsed * rl->rps);
	e->last = now;
}

static bool
rl_is_stale(const struct ice_ratelimit *rl, const struct rl_entry *e, ice_ms_t now)
{
	return now > e->last && now - e->last >= rl->full_after;
}

/* Replacement preference: 0 empty, 1 stale (forgetting it changes nothing), 2 live. */
static int
rl_rank(const struct ice_ratelimit *rl, const struct rl_entry *e, ice_ms_t now)
{
	if (e->family == 0)
		return 0;
	return rl_is_stale(rl, e, now) ? 1 : 2;
}

static enum ice_ratelimit_verdict
rl_take(struct ice_ratelimit *rl, const uint8_t key[8], uint8_t family, ice_ms_t now)
{
	struct rl_entry *e, *victim = NULL;
	enum ice_ratelimit_verdict verdict = ICE_RL_ALLOW;
	uint8_t hkey[9];
	size_t pos, i;

	memcpy(hkey, key, 8);
	hkey[8] = family;
	pos = (size_t)ice_siphash(&rl->key, hkey, sizeof(hkey));

	/* Entries are only ever overwritten in place, never removed, so a key
	 * is always inside the window of its hash: scan the whole window. */
	for (i = 0; i < ICE_RATELIMIT_PROBE; i++) {
		e = &rl->slots[(pos + i) & rl->mask];
		if (e->family == family && memcmp(e->key, key, 8) == 0)
			goto found;
		if (victim == NULL || rl_rank(rl, e, now) < rl_rank(rl, victim, now) ||
		    (rl_rank(rl, e, now) == 2 && rl_rank(rl, victim, now) == 2 &&
		     e->last < victim->last))
			victim = e;
	}
	/* New key: an empty or stale slot costs nothing; a live one is an eviction. */
	if (rl_rank(rl, victim, now) == 2)
		verdict = ICE_RL_ALLOW_EVICTED;
	e = victim;
	e->family = family;
	memcpy(e->key, key, 8);
	e->tokens = rl->cap;
	e->last = now;
	goto take;
found:
	rl_refill(rl, e, now);
take:
	if (e->tokens < RL_TOKEN)
		return ICE_RL_DENY;
	e->tokens -= RL_TOKEN;
	return verdict;
}

enum ice_ratelimit_verdict
ice_ratelimit_take(struct ice_ratelimit *rl, const struct ice_addr *src, ice_ms_t now)
{
	uint8_t key[8], family;

	family = rl_key(src, key);
	if (family == 0)
		return ICE_RL_DENY;
	return rl_take(rl, key, family, now);
}

enum ice_ratelimit_verdict
ice_ratelimit_take_key(struct ice_ratelimit *rl, const void *key, size_t len, ice_ms_t now)
{
	uint64_t h = ice_siphash(&rl->key, key, len);
	uint8_t k[8];

	memcpy(k, &h, sizeof(k));
	return rl_take(rl, k, RL_FAMILY_KEY, now);
}
