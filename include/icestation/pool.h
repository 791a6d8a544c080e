/*
 * Fixed-size object pool for per-worker state (TURN allocations, permissions,
 * channels). Objects come from 64 KiB chunks mapped on demand with mmap and
 * unmapped when they empty out (one empty chunk is kept to absorb churn), so
 * resident memory follows the live object count and falls after a burst.
 * Single-threaded: one pool per worker, no lock. Never called per packet.
 */
#ifndef ICESTATION_POOL_H
#define ICESTATION_POOL_H

#include <stddef.h>

enum {
	ICE_POOL_CHUNK = 64 * 1024, /* bytes per chunk, also its alignment */
};

struct ice_pool;

/*
 * A pool of objects of obj_size bytes (at most ICE_POOL_CHUNK / 4), holding
 * at most max_objs at once (0 = no limit). Returns the pool or NULL (ENOMEM,
 * or obj_size 0 or too large). Maps nothing until the first get.
 */
struct ice_pool *ice_pool_new(size_t obj_size, size_t max_objs);

/* Unmap every chunk and free the pool; outstanding objects die. Accepts NULL. */
void ice_pool_free(struct ice_pool *p);

/*
 * A zeroed object, 16-byte aligned, owned by the caller until ice_pool_put.
 * NULL when max_objs are out or mmap fails.
 */
void *ice_pool_get(struct ice_pool *p);

/* Give obj (from ice_pool_get on this pool) back. Accepts NULL. */
void ice_pool_put(struct ice_pool *p, void *obj);

/* Objects currently out. */
size_t ice_pool_in_use(const struct ice_pool *p);

/* Bytes currently mapped for chunks (what the pool costs in address space). */
size_t ice_pool_mapped(const struct ice_pool *p);

/* Objects one chunk holds. */
size_t ice_pool_per_chunk(const struct ice_pool *p);

#endif
