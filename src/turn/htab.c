/*
 * Intrusive chained hash table with power-of-two buckets. Resizing rehashes
 * with the stored hash, so keys are never re-read. A failed grow leaves the
 * table working at a higher load; a failed shrink keeps the larger array.
 */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>

static size_t
round_pow2(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int
htab_init(struct htab *t, size_t min_buckets)
{
	size_t nb = round_pow2(min_buckets < 8 ? 8 : min_buckets);

	t->b = calloc(nb, sizeof(*t->b));
	if (t->b == NULL)
		return -ENOMEM;
	t->mask = nb - 1;
	t->n = 0;
	t->min = nb;
	return 0;
}

void
htab_fini(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->mask = 0;
	t->n = 0;
}

static void
resize(struct htab *t, size_t nb)
{
	struct htab_node **nbk = calloc(nb, sizeof(*nbk));

	if (nbk == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		struct htab_node *n = t->b[i];

		while (n != NULL) {
			struct htab_node *next = n->next;
			size_t j = n->hash & (nb - 1);

			n->next = nbk[j];
			nbk[j] = n;
			n = next;
		}
	}
	free(t->b);
	t->b = nbk;
	t->mask = nb - 1;
}

void
htab_insert(struct htab *t, struct htab_node *node, uint64_t h)
{
	struct htab_node **head = &t->b[h & t->mask];

	node->hash = h;
	node->next = *head;
	*head = node;
	t->n++;
	if (t->n > t->mask + 1)
		resize(t, (t->mask + 1) * 2);
}

void
htab_remove(struct htab *t, struct htab_node *node)
{
	struct htab_node **pp = &t->b[node->hash & t->mask];

	while (*pp != NULL && *pp != node)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return; /* not in the table: a caller bug, but harmless */
	*pp = node->next;
	node->next = NULL;
	t->n--;
	if (t->mask + 1 > t->min && t->n < (t->mask + 1) / 8)
		resize(t, (t->mask + 1) / 2);
}
