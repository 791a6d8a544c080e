/*
 * The object pool (include/icestation/pool.h) on malloc, for fuzz targets:
 * defining every ice_pool_* function here keeps src/util/pool.c out of the
 * executable. Two reasons:
 *   - AddressSanitizer sees each TURN object (allocation, permission,
 *     channel, user) as a heap block of its own, so one object's overflow
 *     into the next slot of a chunk, or a use after ice_pool_put, is
 *     reported; inside a 64 KiB chunk both are valid memory;
 *   - a fresh server per input mapped and unmapped a chunk per pool used
 *     (four system calls and a dozen page faults each): a third of
 *     fuzz_turn's time.
 * Same contract: zeroed 16-byte-aligned objects, max_objs enforced,
 * ice_pool_free frees what is still out. The real pool has its own test
 * (tests/turn/test_pool.c). Include from one .c file of a target only.
 */
#ifndef ICESTATION_FUZZ_POOL_H
#define ICESTATION_FUZZ_POOL_H

#include <stdlib.h>
#include <string.h>

#include "icestation/pool.h"

struct ice_pool {
	size_t obj_size, max_objs;
	void **out; /* the objects handed out, in no order */
	size_t n_out, cap;
};

struct ice_pool *
ice_pool_new(size_t obj_size, size_t max_objs)
{
	struct ice_pool *p;

	if (obj_size == 0 || obj_size > ICE_POOL_CHUNK / 4)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->obj_size = obj_size;
	p->max_objs = max_objs;
	return p;
}

void
ice_pool_free(struct ice_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_out; i++)
		free(p->out[i]);
	free(p->out);
	free(p);
}

void *
ice_pool_get(struct ice_pool *p)
{
	void *obj;

	if (p->max_objs != 0 && p->n_out >= p->max_objs)
		return NULL;
	if (p->n_out == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		void **out = realloc(p->out, cap * sizeof(*out));

		if (out == NULL)
			return NULL;
		p->out = out;
		p->cap = cap;
	}
	/* Exactly obj_size: ASan's redzone starts at the object's end. */
	if (posix_memalign(&obj, 16, p->obj_size) != 0)
		return NULL;
	memset(obj, 0, p->obj_size);
	p->out[p->n_out++] = obj;
	return obj;
}

void
ice_pool_put(struct ice_pool *p, void *obj)
{
	if (obj == NULL)
		return;
	for (size_t i = 0; i < p->n_out; i++) {
		if (p->out[i] == obj) {
			p->out[i] = p->out[--p->n_out];
			free(obj);
			return;
		}
	}
	abort(); /* not from this pool, or put twice: a bug the real pool would hide */
}

size_t
ice_pool_in_use(const struct ice_pool *p)
{
	return p->n_out;
}

size_t
ice_pool_mapped(const struct ice_pool *p)
{
	return p->n_out * p->obj_size;
}

size_t
ice_pool_per_chunk(const struct ice_pool *p)
{
	return ICE_POOL_CHUNK / ((p->obj_size + 15) & ~(size_t)15);
}

#endif
