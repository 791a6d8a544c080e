/*
 * Relay port choice: a shared bitmap of taken ports per relay address, a
 * uniform draw among the free ones, and a quarantine for released ones
 * (include/icestation/portpick.h says why).
 *
 * Bit b of word i of a row is port 64 * i + b. The candidates of a draw are
 * the ports want allows (a window, even ports, or even ports with a free
 * successor) and the caller's others (spares), and every draw is uniform
 * over the free ones and the others: a probe picks among all of them
 * uniformly and keeps what it picked unless it is a taken port, which makes
 * the kept one uniform among the rest; the exact draw counts the free ports
 * and picks the r-th. Either way no port is favoured by being next to taken
 * ones, as it is when a scan starts at a random port.
 */
#include "icestation/portpick.h"

#include <errno.h>
#include <stdlib.h>

#define EVEN_BITS 0x5555555555555555ull /* bits of even ports in a word */

static _Atomic uint64_t *
row_words(const struct ice_portmap *m, unsigned row)
{
	return m->bits + (size_t)row * ICE_PORTMAP_WORDS;
}

int
ice_portmap_init(struct ice_portmap *m, unsigned rows)
{
	m->rows = rows;
	m->bits = NULL;
	if (rows == 0)
		return 0;
	/* calloc'd zeros are valid free atomics; pages stay untouched until used. */
	m->bits = calloc((size_t)rows * ICE_PORTMAP_WORDS, sizeof(m->bits[0]));
	return m->bits == NULL ? -ENOMEM : 0;
}

void
ice_portmap_fini(struct ice_portmap *m)
{
	free(m->bits);
	m->bits = NULL;
	m->rows = 0;
}

/* Bits of word i inside [lo, hi]. */
static uint64_t
window_bits(const struct ice_portwant *want, uint32_t i)
{
	uint32_t first = i * 64, last = first + 63;
	uint64_t mask = ~0ull;

	if (want->lo > first)
		mask &= ~0ull << (want->lo - first);
	if (want->hi < last)
		mask &= ~0ull >> (last - want->hi);
	return mask;
}

/* Bits of word i that want could return now. */
static uint64_t
eligible(const _Atomic uint64_t *words, const struct ice_portwant *want, uint32_t i)
{
	uint64_t f = ~atomic_load_explicit(&words[i], memory_order_relaxed) & window_bits(want, i);

	if (want->pair)
		return f & (f >> 1) & EVEN_BITS; /* p even, so p + 1 is in the same word */
	if (want->even)
		return f & EVEN_BITS;
	return f;
}

uint32_t
ice_portmap_count(const struct ice_portmap *m, unsigned row, const struct ice_portwant *want)
{
	const _Atomic uint64_t *words = row_words(m, row);
	uint32_t n = 0;

	if (want->lo > want->hi)
		return 0;
	for (uint32_t i = want->lo / 64u; i <= want->hi / 64u; i++)
		n += (uint32_t)__builtin_popcountll(eligible(words, want, i));
	return n;
}

/* The r-th port (from 0) want could return now, or -1 if there are fewer. */
static int
select_nth(const _Atomic uint64_t *words, const struct ice_portwant *want, uint32_t r)
{
	uint64_t e;
	uint32_t c;

	for (uint32_t i = want->lo / 64u; i <= want->hi / 64u; i++) {
		e = eligible(words, want, i);
		c = (uint32_t)__builtin_popcountll(e);
		if (r >= c) {
			r -= c;
			continue;
		}
		while (r-- > 0)
			e &= e - 1; /* drop the lowest set bit */
		return (int)(i * 64 + (uint32_t)__builtin_ctzll(e));
	}
	return -1;
}

/* Take port (and port + 1 for want->pair) atomically: true if all were free. */
static bool
claim(_Atomic uint64_t *words, const struct ice_portwant *want, uint32_t port)
{
	uint64_t mask = (want->pair ? 3ull : 1ull) << (port % 64);
	uint64_t old = atomic_fetch_or_explicit(&words[port / 64], mask, memory_order_relaxed);

	if ((old & mask) == 0)
		return true;
	/* Give back what this call set; the rest was someone else's. */
	if (mask & ~old)
		atomic_fetch_and_explicit(&words[port / 64], ~(mask & ~old), memory_order_relaxed);
	return false;
}

/* Candidates of want: n ports first, first + step, ... (n 0: none). */
static uint32_t
candidates(const struct ice_portwant *want, uint32_t *first, uint32_t *step)
{
	uint32_t lo = want->lo, hi = want->hi;

	*step = (want->even || want->pair) ? 2 : 1;
	if (*step == 2)
		lo += lo & 1;
	if (want->pair) {
		if (hi == 0)
			return 0;
		hi--; /* the successor must be inside too */
	}
	*first = lo;
	return lo > hi ? 0 : (hi - lo) / *step + 1;
}

/*
 * One draw among the free candidates of want on row and n_extra others:
 * k < n_extra for other k, n_extra with *port taken, -ENOSPC for neither.
 * A probe picks one of the candidates or the others uniformly and keeps it
 * if it is another or a free port, which makes the kept one uniform among
 * those; after ICE_PORTMAP_PROBES misses the free ports are counted.
 */
static int
draw(struct ice_portmap *m, struct ice_rng *rng, unsigned row, const struct ice_portwant *want,
     uint32_t n_extra, uint16_t *port)
{
	_Atomic uint64_t *words = row_words(m, row);
	uint32_t first, step, n, c, r;
	int k;

	n = candidates(want, &first, &step);
	if (n + n_extra == 0)
		return -ENOSPC;
	for (int i = 0; i < ICE_PORTMAP_PROBES; i++) {
		r = ice_rng_below(rng, n + n_extra);
		if (r >= n)
			return (int)(r - n);
		if (claim(words, want, first + step * r)) {
			*port = (uint16_t)(first + step * r);
			return (int)n_extra;
		}
	}
	/* Mostly taken: count the free ones and draw among them. Another
	 * thread may take the drawn one first; then draw again. */
	for (int race = 0; race < ICE_PORTMAP_RACES; race++) {
		c = ice_portmap_count(m, row, want);
		if (c + n_extra == 0)
			return -ENOSPC;
		r = ice_rng_below(rng, c + n_extra);
		if (r >= c)
			return (int)(r - c);
		k = select_nth(words, want, r);
		if (k >= 0 && claim(words, want, (uint32_t)k)) {
			*port = (uint16_t)k;
			return (int)n_extra;
		}
	}
	return n_extra > 0 ? (int)ice_rng_below(rng, n_extra) : -ENOSPC;
}

int
ice_portmap_take(struct ice_portmap *m, struct ice_rng *rng, unsigned row,
                 const struct ice_portwant *want, uint16_t *port)
{
	return draw(m, rng, row, want, 0, port) == 0 ? 0 : -ENOSPC;
}

int
ice_portmap_choose(struct ice_portmap *m, struct ice_rng *rng, unsigned row,
                   const struct ice_portwant *want, uint32_t n_extra, uint16_t *port)
{
	return draw(m, rng, row, want, n_extra, port);
}

bool
ice_portmap_claim(struct ice_portmap *m, unsigned row, uint16_t port)
{
	const struct ice_portwant one = { .lo = port, .hi = port };

	return claim(row_words(m, row), &one, port);
}

void
ice_portmap_put(struct ice_portmap *m, unsigned row, uint16_t port)
{
	atomic_fetch_and_explicit(&row_words(m, row)[port / 64], ~(1ull << (port % 64)),
	                          memory_order_relaxed);
}

bool
ice_portmap_is_taken(const struct ice_portmap *m, unsigned row, uint16_t port)
{
	uint64_t w = atomic_load_explicit(&row_words(m, row)[port / 64], memory_order_relaxed);

	return (w >> (port % 64)) & 1;
}

int
ice_portq_init(struct ice_portq *q, uint32_t cap, ice_ms_t ms)
{
	q->cap = cap ? cap : 1;
	q->head = q->n = 0;
	q->ms = ms;
	q->e = calloc(q->cap, sizeof(q->e[0]));
	return q->e == NULL ? -ENOMEM : 0;
}

void
ice_portq_fini(struct ice_portq *q)
{
	free(q->e);
	q->e = NULL;
	q->cap = q->head = q->n = 0;
}

/* Free the oldest quarantined port. */
static void
portq_pop(struct ice_portq *q, struct ice_portmap *m)
{
	const struct ice_portq_entry *e = &q->e[q->head];

	ice_portmap_put(m, e->row, e->port);
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

void
ice_portq_push(struct ice_portq *q, struct ice_portmap *m, unsigned row, uint16_t port,
               ice_ms_t now)
{
	struct ice_portq_entry *e;

	if (q->n == q->cap)
		portq_pop(q, m);
	e = &q->e[(q->head + q->n++) % q->cap];
	e->since = (uint32_t)now;
	e->port = port;
	e->row = (uint8_t)row;
}

uint32_t
ice_portq_expire(struct ice_portq *q, struct ice_portmap *m, ice_ms_t now)
{
	uint32_t n = 0;

	while (q->n > 0 && (uint32_t)now - q->e[q->head].since >= q->ms) {
		portq_pop(q, m);
		n++;
	}
	return n;
}

uint32_t
ice_portq_flush(struct ice_portq *q, struct ice_portmap *m)
{
	uint32_t n = q->n;

	while (q->n > 0)
		portq_pop(q, m);
	return n;
}
