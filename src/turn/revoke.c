/*
 * The revocation set: a sorted array searched by bisection. It is rebuilt
 * whole on every change (revocations are rare and few: an operator's
 * action), so it needs no lock and no index maintenance; workers compare
 * against it only on authenticated requests, never per relayed packet.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/turn_revoke.h"

#include "turn_int.h"

struct turn_revocations {
	_Atomic unsigned refs;
	size_t n;
	struct turn_revocation v[];
};

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, ICE_MIN(alen, blen));

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
entry_cmp(const void *pa, const void *pb)
{
	const struct turn_revocation *a = pa, *b = pb;

	return name_cmp(a->user, a->user_len, b->user, b->user_len);
}

struct turn_revocations *
turn_revocations_new(const struct turn_revocation *v, size_t n)
{
	struct turn_revocations *r;
	size_t names = 0, i;
	char *p;

	for (i = 0; i < n; i++)
		names += v[i].user_len + 1;
	r = calloc(1, sizeof(*r) + n * sizeof(r->v[0]) + names);
	if (r == NULL)
		return NULL;
	atomic_init(&r->refs, 1);
	p = (char *)(r->v + n);
	for (i = 0; i < n; i++) {
		r->v[i] = v[i];
		memcpy(p, v[i].user, v[i].user_len);
		p[v[i].user_len] = '\0';
		r->v[i].user = p;
		p += v[i].user_len + 1;
	}
	r->n = n;
	qsort(r->v, r->n, sizeof(r->v[0]), entry_cmp);
	return r;
}

struct turn_revocations *
turn_revocations_ref(struct turn_revocations *r)
{
	if (r != NULL)
		atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

void
turn_revocations_unref(struct turn_revocations *r)
{
	if (r != NULL && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		free(r);
}

const struct turn_revocation *
turn_revocations_find(const struct turn_revocations *r, const char *user, size_t len)
{
	size_t lo = 0, hi, mid;
	int c;

	if (r == NULL)
		return NULL;
	hi = r->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = name_cmp(user, len, r->v[mid].user, r->v[mid].user_len);
		if (c == 0)
			return &r->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
turn_revocations_count(const struct turn_revocations *r)
{
	return r != NULL ? r->n : 0;
}

const struct turn_revocation *
turn_revocations_at(const struct turn_revocations *r, size_t i)
{
	return r != NULL && i < r->n ? &r->v[i] : NULL;
}

bool
turn_revoked(const struct turn_revocations *r, const char *user, size_t len, uint64_t expiry)
{
	const struct turn_revocation *e = turn_revocations_find(r, user, len);

	return e != NULL && expiry <= e->refuse_upto;
}
