/*
 * SipHash-2-4 in counter mode (include/icestation/rng.h says why).
 */
#include "icestation/rng.h"

int
ice_rng_init(struct ice_rng *rng)
{
	rng->ctr = 0;
	return ice_siphash_key_random(&rng->key);
}

void
ice_rng_init_key(struct ice_rng *rng, const struct ice_siphash_key *key)
{
	rng->key = *key;
	rng->ctr = 0;
}

uint64_t
ice_rng_u64(struct ice_rng *rng)
{
	uint64_t c = rng->ctr++;

	return ice_siphash(&rng->key, &c, sizeof(c));
}

/*
 * Lemire's multiply-shift with rejection ("Fast random integer generation
 * in an interval", 2019): the high half of x * n is uniform once the few
 * low halves below 2^32 mod n are redrawn. n < 2^32 rejects with
 * probability under n / 2^32, so almost never for port counts.
 */
uint32_t
ice_rng_below(struct ice_rng *rng, uint32_t n)
{
	uint64_t m = (uint64_t)(uint32_t)ice_rng_u64(rng) * n;
	uint32_t floor;

	if ((uint32_t)m < n) {
		floor = (uint32_t)-n % n; /* 2^32 mod n */
		while ((uint32_t)m < floor)
			m = (uint64_t)(uint32_t)ice_rng_u64(rng) * n;
	}
	return (uint32_t)(m >> 32);
}
