/*
 * SipHash-2-4 with a per-process random key, for every table keyed by data a
 * client controls (5-tuples, peer addresses, source IPs), so a client cannot
 * aim collisions at one bucket.
 */
#ifndef ICESTATION_SIPHASH_H
#define ICESTATION_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct ice_siphash_key {
	uint64_t k0, k1;
};

/* SipHash-2-4 of data[0..len) under key. */
uint64_t ice_siphash(const struct ice_siphash_key *key, const void *data, size_t len);

/* Fill key from the kernel's CSPRNG (getrandom). Returns 0 or -errno. */
int ice_siphash_key_random(struct ice_siphash_key *key);

#endif
