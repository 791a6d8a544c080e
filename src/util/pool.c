/*
 * Chunked object pool. Each chunk is ICE_POOL_CHUNK bytes aligned to its own
 * size, so ice_pool_put finds the chunk of an object by masking its address
 * (no per-object header). A chunk hands out never-used slots with a bump index
 * before reusing freed ones, so a fresh chunk touches only the pages it uses.
 * Chunks with free slots sit on a list; a chunk that empties is unmapped
 * unless it is the pool's only spare.
 */
#include "icestation/pool.h"

#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct free_slot {
	struct free_slot *next;
};

/* The header at the start of each chunk; the slots follow, 16-byte aligned. */
struct chunk {
	struct chunk *next, *prev;         /* on the pool's list of chunks with free slots */
	struct chunk *all_next, *all_prev; /* on the list of every chunk */
	struct free_slot *free;            /* slots given back */
	uint32_t used;                     /* objects out */
	uint32_t bump;                     /* slots below this index were handed out once */
	uint8_t *objs;                     /* first slot */
};

struct ice_pool {
	size_t obj_size; /* rounded to 16 */
	size_t per_chunk;
	size_t max_objs;
	size_t in_use;
	size_t n_chunks;
	size_t n_empty; /* chunks with used == 0 */
	struct chunk *avail;
	struct chunk *all;
};

enum {
	POOL_ALIGN = 16,
	CHUNK_HDR = (sizeof(struct chunk) + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1),
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
	p->obj_size = (obj_size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
	p->per_chunk = (ICE_POOL_CHUNK - CHUNK_HDR) / p->obj_size;
	p->max_objs = max_objs;
	return p;
}

/* mmap a chunk aligned to its size: over-map, then trim both ends. */
static struct chunk *
chunk_map(void)
{
	size_t len = 2 * (size_t)ICE_POOL_CHUNK;
	uint8_t *raw, *aligned;
	uintptr_t a;

	raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)raw + ICE_POOL_CHUNK - 1) & ~(uintptr_t)(ICE_POOL_CHUNK - 1);
	aligned = (uint8_t *)a;
	if (aligned > raw)
		munmap(raw, (size_t)(aligned - raw));
	if (aligned + ICE_POOL_CHUNK < raw + len)
		munmap(aligned + ICE_POOL_CHUNK, (size_t)(raw + len - (aligned + ICE_POOL_CHUNK)));
	return (struct chunk *)aligned;
}

static void
avail_push(struct ice_pool *p, struct chunk *c)
{
	c->prev = NULL;
	c->next = p->avail;
	if (p->avail != NULL)
		p->avail->prev = c;
	p->avail = c;
}

static void
avail_remove(struct ice_pool *p, struct chunk *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		p->avail = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

/* Unmap c, which must be off the avail list or about to be forgotten with it. */
static void
chunk_unmap(struct ice_pool *p, struct chunk *c)
{
	if (c->all_prev != NULL)
		c->all_prev->all_next = c->all_next;
	else
		p->all = c->all_next;
	if (c->all_next != NULL)
		c->all_next->all_prev = c->all_prev;
	munmap(c, ICE_POOL_CHUNK);
	p->n_chunks--;
}

void *
ice_pool_get(struct ice_pool *p)
{
	struct chunk *c;
	void *obj;

	if (p->max_objs != 0 && p->in_use >= p->max_objs)
		return NULL;
	c = p->avail;
	if (c == NULL) {
		c = chunk_map();
		if (c == NULL)
			return NULL;
		/* mmap gives zeroed pages: only the header needs setting. */
		c->objs = (uint8_t *)c + CHUNK_HDR;
		c->all_next = p->all;
		if (p->all != NULL)
			p->all->all_prev = c;
		p->all = c;
		p->n_chunks++;
		p->n_empty++;
		avail_push(p, c);
	}
	if (c->free != NULL) {
		obj = c->free;
		c->free = c->free->next;
		memset(obj, 0, p->obj_size);
	} else {
		/* Never handed out: still zero from mmap. */
		obj = c->objs + (size_t)c->bump * p->obj_size;
		c->bump++;
	}
	if (c->used++ == 0)
		p->n_empty--;
	if (c->used == p->per_chunk)
		avail_remove(p, c);
	p->in_use++;
	return obj;
}

void
ice_pool_put(struct ice_pool *p, void *obj)
{
	struct chunk *c;
	struct free_slot *f = obj;

	if (obj == NULL)
		return;
	c = (struct chunk *)((uintptr_t)obj & ~(uintptr_t)(ICE_POOL_CHUNK - 1));
	if (c->used == p->per_chunk)
		avail_push(p, c);
	f->next = c->free;
	c->free = f;
	c->used--;
	p->in_use--;
	if (c->used > 0)
		return;
	if (p->n_empty == 0) {
		/* Keep one empty chunk so alloc/free churn at a boundary never maps. */
		p->n_empty++;
		return;
	}
	avail_remove(p, c);
	chunk_unmap(p, c);
}

void
ice_pool_free(struct ice_pool *p)
{
	if (p == NULL)
		return;
	while (p->all != NULL)
		chunk_unmap(p, p->all);
	free(p);
}

size_t
ice_pool_in_use(const struct ice_pool *p)
{
	return p->in_use;
}

size_t
ice_pool_mapped(const struct ice_pool *p)
{
	return p->n_chunks * (size_t)ICE_POOL_CHUNK;
}

size_t
ice_pool_per_chunk(const struct ice_pool *p)
{
	return p->per_chunk;
}
