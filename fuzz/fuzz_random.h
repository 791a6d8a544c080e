/*
 * A deterministic getrandom(2) for fuzz targets whose code under test draws
 * keys and IVs (hash keys, nonce and ticket keys, ticket IVs): it replaces
 * libc's for the whole executable, and fuzz_random_reset() restarts its
 * stream at every input. So an input behaves the same in every run (hash
 * tables iterate in the same order, tickets are the same bytes) and a crash
 * reproduces from its file alone; and the target makes no system call for
 * its keys (fuzz_turn made five per input). Include from one .c file of a
 * target only: it defines getrandom.
 */
#ifndef ICESTATION_FUZZ_RANDOM_H
#define ICESTATION_FUZZ_RANDOM_H

#include <sys/random.h>
#include <sys/types.h>

#include <stdint.h>
#include <string.h>

static uint64_t fuzz_random_state;

static inline void
fuzz_random_reset(void)
{
	fuzz_random_state = 0x6a09e667f3bcc908ull;
}

/* splitmix64: any fixed stream does; this one is short and well mixed. */
static inline uint64_t
fuzz_random_next(void)
{
	uint64_t z = (fuzz_random_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags);

ssize_t
getrandom(void *buf, size_t len, unsigned int flags)
{
	uint8_t *p = buf;

	(void)flags;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = fuzz_random_next();

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return (ssize_t)len;
}

#endif
