/*
 * Private to src/turn: an intrusive chained hash table. The node lives inside
 * the object (STYLE §6), so indexing an object never allocates; only the
 * bucket array does, when the table doubles or halves on a control-path
 * insert or remove (never on a lookup). Callers hash their own keys (SipHash
 * for anything a client chooses) and walk the chain comparing keys:
 *
 *	for (n = htab_first(t, h); n != NULL; n = n->next)
 *		if (n->hash == h && key_eq(container_of(n), key)) ...
 */
#ifndef ICESTATION_TURN_HTAB_H
#define ICESTATION_TURN_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct htab_node {
	struct htab_node *next;
	uint64_t hash;
};

struct htab {
	struct htab_node **b;
	size_t mask; /* buckets - 1; buckets is a power of two */
	size_t n;
	size_t min; /* never shrink below this many buckets */
};

/* An empty table of at least min_buckets (rounded up to a power of two). 0 or -ENOMEM. */
int htab_init(struct htab *t, size_t min_buckets);

/* Free the bucket array. The nodes belong to their objects. Accepts a zeroed table. */
void htab_fini(struct htab *t);

/* Head of the chain that a key hashing to h would be on. */
static inline struct htab_node *
htab_first(const struct htab *t, uint64_t h)
{
	return t->b[h & t->mask];
}

/* Link node under hash h. Grows the table past load 1 (if memory allows). */
void htab_insert(struct htab *t, struct htab_node *node, uint64_t h);

/* Unlink node (which must be in t). Shrinks the table below load 1/8. */
void htab_remove(struct htab *t, struct htab_node *node);

/* Bytes of bucket array (for the memory test). */
static inline size_t
htab_bytes(const struct htab *t)
{
	return (t->mask + 1) * sizeof(*t->b);
}

#endif
