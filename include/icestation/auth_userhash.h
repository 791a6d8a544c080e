/*
 * USERHASH (RFC 8489 §14.4) for REST credentials. A client that sends
 * USERHASH = SHA-256(username ":" realm) in place of USERNAME hides its user
 * id on the wire, but a REST server keeps no user list to look the hash up
 * in, and cannot invert it. So the ICE API records every username it mints
 * in this table, keyed by its USERHASH, until the credential expires; an
 * Allocate carrying USERHASH is resolved here. Later requests on the
 * allocation need no table: the allocation keeps a tag of its own USERHASH
 * (see src/turn).
 *
 * Bounded: a fixed number of entries allocated at start. When it is full the
 * oldest entry gives way (the ICE API mints with one TTL, so the oldest is
 * also the first to expire); an evicted or unknown hash answers 401, and the
 * client fetches a new credential. Per process: credentials minted by
 * another node, another tool or before a restart are not in it.
 *
 * Thread-safe: the HTTP thread adds, worker threads look up, under one
 * mutex held for a hash-chain walk and a copy. Entries are keyed by SipHash
 * of the USERHASH under a random key, so an API caller choosing user ids
 * cannot pile entries into one chain.
 */
#ifndef ICESTATION_AUTH_USERHASH_H
#define ICESTATION_AUTH_USERHASH_H

#include <stddef.h>
#include <stdint.h>

enum {
	LTC_USERHASH_LEN = 32,
};

struct ltc_userhash;

/*
 * USERHASH of a username in realm: SHA-256(username ":" realm) (RFC 8489
 * §14.4; OpaqueString is the identity on the ASCII of REST usernames).
 * Returns 0 or -EIO.
 */
int ltc_userhash_compute(const char *username, size_t username_len, const char *realm,
                         size_t realm_len, uint8_t out[LTC_USERHASH_LEN]);

/* A table of capacity entries (> 0). NULL on ENOMEM or getrandom failure. */
struct ltc_userhash *ltc_userhash_new(size_t capacity);

/* Free; accepts NULL. No other thread may use it any more. */
void ltc_userhash_free(struct ltc_userhash *t);

/*
 * Record username (at most ICE_REST_USERNAME_MAX - 1 bytes, need not be
 * NUL-terminated), minted for realm and valid until expiry (unix seconds).
 * The same username again only moves its expiry. Borrows everything for the
 * call. Returns 0, -ENAMETOOLONG, or -EIO (hashing failed).
 */
int ltc_userhash_add(struct ltc_userhash *t, const char *username, size_t username_len,
                     const char *realm, size_t realm_len, uint64_t expiry);

/*
 * Look up hash. On a hit copies the username into out[0..cap) (not
 * NUL-terminated) and returns its length; -ENOENT when the hash is unknown or
 * its entry expired before unix_s, -ENOBUFS when cap is too small.
 */
int ltc_userhash_find(struct ltc_userhash *t, const uint8_t hash[LTC_USERHASH_LEN], uint64_t unix_s,
                      char *out, size_t cap);

/* Entries held (live or not yet overwritten). */
size_t ltc_userhash_count(struct ltc_userhash *t);

#endif
