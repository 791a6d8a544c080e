/*
 * Per-source-IP token buckets in a fixed-size table (WireGuard ratelimiter
 * style). Pure: the caller passes `now`; no clock, no lock, no allocation after
 * ice_ratelimit_new. One table per worker thread (single owner).
 *
 * Keys: an IPv4 address, or the /64 prefix of an IPv6 address (one host
 * usually owns a whole /64, so keying on the full address would hand an
 * attacker 2^64 buckets). Ports are ignored.
 *
 * The table is open-addressed with a bounded probe window, keyed by SipHash
 * under a random key so a client cannot aim collisions at one window. When the
 * window of a new key is full, a stale entry (its bucket would be full again,
 * so forgetting it changes nothing) is reused first; otherwise the entry seen
 * longest ago is evicted and the caller is told, so it can count it.
 */
#ifndef ICESTATION_RATELIMIT_H
#define ICESTATION_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/siphash.h"

enum {
	ICE_RATELIMIT_PROBE = 8, /* slots searched per key */
};

enum ice_ratelimit_verdict {
	ICE_RL_DENY = 0,         /* over the limit: drop */
	ICE_RL_ALLOW = 1,        /* within the limit */
	ICE_RL_ALLOW_EVICTED = 2 /* allowed; a live entry of another IP was evicted to make room */
};

struct ice_ratelimit;

/*
 * New table: rps tokens per second refill, burst tokens depth (a new IP starts
 * with a full bucket), room for max_entries IPs (rounded up to a power of two,
 * at least ICE_RATELIMIT_PROBE). key is copied. "No limit" (rps 0) is the
 * caller's business: it simply creates no table. Returns an owned table
 * (free with ice_ratelimit_free), or NULL if rps or burst is 0, or on
 * allocation failure.
 */
struct ice_ratelimit *ice_ratelimit_new(uint32_t rps, uint32_t burst, size_t max_entries,
                                        const struct ice_siphash_key *key);

/* Free; accepts NULL. */
void ice_ratelimit_free(struct ice_ratelimit *rl);

/*
 * Take one token from src's bucket at time now (monotonic ms; may stand still,
 * must not go backwards by much: a step back is treated as no time passing).
 * Returns ICE_RL_DENY when the bucket is empty, otherwise ICE_RL_ALLOW or
 * ICE_RL_ALLOW_EVICTED. An unset address (family 0) is always denied.
 */
enum ice_ratelimit_verdict ice_ratelimit_take(struct ice_ratelimit *rl, const struct ice_addr *src,
                                              ice_ms_t now);

/*
 * The same for a caller named by an opaque byte string (an identity) instead
 * of an address. The table keeps a 64-bit SipHash of key[0..len) under its
 * random key, in a class of its own: never the bucket of an address, and
 * two identities share one only on a hash collision (2^-64 per pair).
 */
enum ice_ratelimit_verdict ice_ratelimit_take_key(struct ice_ratelimit *rl, const void *key,
                                                  size_t len, ice_ms_t now);

/* Number of slots in the table (after rounding). */
size_t ice_ratelimit_capacity(const struct ice_ratelimit *rl);

#endif
