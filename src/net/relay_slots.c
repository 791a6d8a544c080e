/*
 * The relay slot table: a handle is an index into the worker's slots,
 * allocated in chunks of NET_RELAY_CHUNK lazily up to what max-allocations
 * needs. Slot pointers stay stable while the slot is in use, and events
 * carry handles, not pointers, so the handle -> socket step is O(1). When
 * the two top chunks are both empty the top one is freed (one empty chunk
 * stays to absorb churn), so the table shrinks back after a mass release
 * instead of pinning the worker's heap.
 */
#include <errno.h>
#include <stdlib.h>

#include "net_internal.h"

/* A chunk of slots with the count of those in use. The count comes last so
 * chunks[c] is the chunk itself and the slots keep the alignment calloc
 * gives them (the hot path's cache-line layout is unchanged). */
struct relay_chunk {
	struct net_relay slots[NET_RELAY_CHUNK];
	size_t used;
};

static struct relay_chunk *
chunk_of(struct net_relay_table *t, size_t c)
{
	return (struct relay_chunk *)(void *)((char *)t->chunks[c] -
	                                      offsetof(struct relay_chunk, slots));
}

int
net_relay_table_init(struct net_relay_table *t, size_t max)
{
	t->free = -1;
	t->n_chunks = 0;
	t->max_chunks = (max + NET_RELAY_CHUNK - 1) / NET_RELAY_CHUNK;
	t->chunks = calloc(t->max_chunks ? t->max_chunks : 1, sizeof(t->chunks[0]));
	return t->chunks == NULL ? -ENOMEM : 0;
}

void
net_relay_table_fini(struct net_relay_table *t)
{
	for (size_t c = 0; c < t->n_chunks; c++)
		free(chunk_of(t, c));
	free(t->chunks);
	t->chunks = NULL;
	t->n_chunks = 0;
	t->free = -1;
}

int
net_relay_table_span(const struct net_relay_table *t)
{
	return (int)(t->n_chunks * NET_RELAY_CHUNK);
}

struct net_relay *
net_relay_slot(struct net_relay_table *t, int handle)
{
	size_t c = (size_t)handle / NET_RELAY_CHUNK;

	if (handle < 0 || c >= t->n_chunks)
		return NULL;
	return &t->chunks[c][(size_t)handle % NET_RELAY_CHUNK];
}

struct net_relay *
net_relay_slot_get(struct net_worker *w)
{
	struct net_relay_table *t = &w->relays;
	struct relay_chunk *rc;
	struct net_relay *chunk, *s;
	size_t i, base;

	if (t->free < 0) {
		if (t->n_chunks == t->max_chunks)
			return NULL;
		rc = calloc(1, sizeof(*rc));
		if (rc == NULL)
			return NULL;
		chunk = rc->slots;
		base = t->n_chunks * NET_RELAY_CHUNK;
		for (i = 0; i < NET_RELAY_CHUNK; i++) {
			chunk[i].w = w;
			chunk[i].fd = -1;
			chunk[i].handle = (int)(base + i);
			chunk[i].next_free = i + 1 < NET_RELAY_CHUNK ? (int)(base + i + 1) : -1;
		}
		t->chunks[t->n_chunks++] = chunk;
		t->free = (int)base;
	}
	s = net_relay_slot(t, t->free);
	t->free = s->next_free;
	chunk_of(t, (size_t)s->handle / NET_RELAY_CHUNK)->used++;
	return s;
}

/*
 * Free the top chunks while the one below is empty too, then drop their
 * slots from the free list (one walk of it). Runs only when a chunk has just
 * emptied, on the close path.
 */
static void
chunks_shrink(struct net_relay_table *t)
{
	size_t n = t->n_chunks;
	int *pp;

	while (n >= 2 && chunk_of(t, n - 1)->used == 0 && chunk_of(t, n - 2)->used == 0)
		n--;
	if (n == t->n_chunks)
		return;
	for (pp = &t->free; *pp >= 0;) {
		if ((size_t)*pp / NET_RELAY_CHUNK >= n)
			*pp = net_relay_slot(t, *pp)->next_free;
		else
			pp = &net_relay_slot(t, *pp)->next_free;
	}
	while (t->n_chunks > n) {
		t->n_chunks--;
		free(chunk_of(t, t->n_chunks));
		t->chunks[t->n_chunks] = NULL;
	}
}

void
net_relay_slot_put(struct net_worker *w, struct net_relay *s)
{
	struct net_relay_table *t = &w->relays;

	s->fd = -1;
	s->spare = false;
	s->spare_busy = false;
	s->bufs_sized = false;
	s->next_free = t->free;
	t->free = s->handle;
	if (--chunk_of(t, (size_t)s->handle / NET_RELAY_CHUNK)->used == 0)
		chunks_shrink(t);
}
