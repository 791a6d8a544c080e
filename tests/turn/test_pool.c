/*
 * Object pool: zeroed aligned objects, the max_objs limit, reuse, and that
 * mapped memory falls back to at most one spare chunk after everything is
 * returned (what makes RSS drop after a burst of allocations).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/pool.h"

#include "testutil.h"

int
main(void)
{
	enum {
		N = 5000,
		SIZE = 200
	};
	struct ice_pool *p = ice_pool_new(SIZE, N);
	void **objs = calloc(N + 1, sizeof(*objs));
	size_t per, peak;
	int nonzero = 0, misaligned = 0;

	REQUIRE(p != NULL && objs != NULL);
	CHECK(ice_pool_new(0, 1) == NULL);
	CHECK(ice_pool_new(ICE_POOL_CHUNK, 1) == NULL);
	per = ice_pool_per_chunk(p);
	CHECK(per >= (ICE_POOL_CHUNK - 128) / 208);
	CHECK_EQ_INT(ice_pool_mapped(p), 0);

	for (int i = 0; i < N; i++) {
		objs[i] = ice_pool_get(p);
		REQUIRE(objs[i] != NULL);
		for (int j = 0; j < SIZE; j++)
			nonzero += ((uint8_t *)objs[i])[j] != 0;
		misaligned += ((uintptr_t)objs[i] & 15) != 0;
		memset(objs[i], 0xab, SIZE);
	}
	CHECK_EQ_INT(nonzero, 0);
	CHECK_EQ_INT(misaligned, 0);
	CHECK_EQ_INT(ice_pool_in_use(p), N);
	CHECK(ice_pool_get(p) == NULL); /* max_objs */
	peak = ice_pool_mapped(p);
	CHECK_EQ_INT(peak, ((N + per - 1) / per) * ICE_POOL_CHUNK);

	/* Reused slots come back zeroed too. */
	ice_pool_put(p, objs[17]);
	objs[17] = ice_pool_get(p);
	REQUIRE(objs[17] != NULL);
	for (int j = 0; j < SIZE; j++)
		nonzero += ((uint8_t *)objs[17])[j] != 0;
	CHECK_EQ_INT(nonzero, 0);

	for (int i = 0; i < N; i += 2)
		ice_pool_put(p, objs[i]);
	for (int i = 1; i < N; i += 2)
		ice_pool_put(p, objs[i]);
	ice_pool_put(p, NULL);
	CHECK_EQ_INT(ice_pool_in_use(p), 0);
	CHECK(ice_pool_mapped(p) <= ICE_POOL_CHUNK);

	/* Churn at the boundary keeps one chunk, never maps again. */
	for (int i = 0; i < 1000; i++) {
		void *o = ice_pool_get(p);

		REQUIRE(o != NULL);
		ice_pool_put(p, o);
		CHECK(ice_pool_mapped(p) == ICE_POOL_CHUNK);
	}
	/* Free with objects still out unmaps everything (ASan/LSan would see leaks). */
	for (int i = 0; i < 300; i++)
		objs[i] = ice_pool_get(p);
	ice_pool_free(p);
	ice_pool_free(NULL);
	free(objs);
	TEST_DONE();
}
