/*
 * A per-thread random number generator whose outputs an observer cannot
 * predict: SipHash-2-4 (a keyed pseudo-random function) over a counter,
 * under a 128-bit key from the kernel's CSPRNG (getrandom). Seeing any
 * number of outputs tells nothing about the next one without the key, which
 * never leaves the process; the Linux kernel draws its own ephemeral port
 * offsets from SipHash the same way (secure_ipv4_port_ephemeral). A
 * xorshift seeded once, as relays used before, is linear: a handful of
 * observed relay ports give away its state and every port after them.
 * About 20 ns an output, no syscall, no lock: one generator per thread.
 */
#ifndef ICESTATION_RNG_H
#define ICESTATION_RNG_H

#include <stdint.h>

#include "icestation/siphash.h"

struct ice_rng {
	struct ice_siphash_key key;
	uint64_t ctr;
};

/* Key rng from getrandom. Returns 0 or -errno (the kernel refused). */
int ice_rng_init(struct ice_rng *rng);

/* Key rng with key (tests: a reproducible stream). */
void ice_rng_init_key(struct ice_rng *rng, const struct ice_siphash_key *key);

/* The next 64 random bits. */
uint64_t ice_rng_u64(struct ice_rng *rng);

/* A uniform integer in [0, n), without modulo bias (n > 0). */
uint32_t ice_rng_below(struct ice_rng *rng, uint32_t n);

#endif
