/*
 * Hierarchical timer wheel. A node sits at the lowest level whose current
 * revolution contains its deadline: level 0 holds the deadlines of the current
 * 64 ms block (slot = exact tick), level L the deadlines of the current
 * 64^(L+1) ms span (slot = which 64^L block). When the wheel reaches the start
 * of a block, that block's slot one level up is cascaded: its nodes move down.
 * A node therefore moves at most TIMERWHEEL_LEVELS times in its life, and
 * fires on its exact tick. Empty stretches are skipped with the busy bitmaps
 * of every level at once, so an idle hour costs a loop turn per busy block
 * crossed, not 3.6 million (nor the 880 of stepping every 4 s block).
 */
#include "icestation/timerwheel.h"

#include <stdint.h>
#include <string.h>

#define MASK          ((ice_ms_t)TIMERWHEEL_SLOTS - 1)
#define SHIFT(level)  ((unsigned)(level)*TIMERWHEEL_BITS)
#define SPAN(level)   ((ice_ms_t)1 << SHIFT(level))
#define INDEX(t, lvl) ((unsigned)(((t) >> SHIFT(lvl)) & MASK))

void
timerwheel_init(struct timerwheel *w, ice_ms_t now, timerwheel_cb cb, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->cur = now;
	w->cb = cb;
	w->ctx = ctx;
}

static void
link_head(struct timerwheel_node **head, struct timerwheel_node *n)
{
	n->next = *head;
	if (n->next != NULL)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

static void
unlink_node(struct timerwheel_node *n)
{
	*n->pprev = n->next;
	if (n->next != NULL)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
}

/* Place n relative to w->cur; n->deadline is already set. */
static void
place(struct timerwheel *w, struct timerwheel_node *n)
{
	ice_ms_t t = ICE_MAX(n->deadline, w->cur);

	for (unsigned l = 0; l < TIMERWHEEL_LEVELS; l++) {
		if ((t >> SHIFT(l + 1)) == (w->cur >> SHIFT(l + 1))) {
			unsigned s = INDEX(t, l);

			link_head(&w->slot[l][s], n);
			w->busy[l] |= (uint64_t)1 << s;
			return;
		}
	}
	link_head(&w->overflow, n);
}

void
timerwheel_add(struct timerwheel *w, struct timerwheel_node *n, ice_ms_t deadline)
{
	if (timerwheel_node_is_armed(n))
		unlink_node(n);
	else
		w->n++;
	n->deadline = deadline;
	place(w, n);
}

void
timerwheel_del(struct timerwheel *w, struct timerwheel_node *n)
{
	if (!timerwheel_node_is_armed(n))
		return;
	unlink_node(n);
	w->n--;
}

/* Detach a whole list, leaving its head empty. The first node's pprev still
 * names the old head: the caller re-points it or re-places every node. */
static struct timerwheel_node *
take(struct timerwheel_node **head)
{
	struct timerwheel_node *list = *head;

	*head = NULL;
	return list;
}

/* Re-place every node of a detached list relative to w->cur. */
static void
replace_all(struct timerwheel *w, struct timerwheel_node *list)
{
	while (list != NULL) {
		struct timerwheel_node *n = list;

		list = n->next;
		n->next = NULL;
		place(w, n);
	}
}

/* At tick t (not yet processed), move down every slot whose block starts at t. */
static void
cascade(struct timerwheel *w, ice_ms_t t)
{
	if ((t & (SPAN(TIMERWHEEL_LEVELS) - 1)) == 0)
		replace_all(w, take(&w->overflow));
	for (unsigned l = TIMERWHEEL_LEVELS - 1; l >= 1; l--) {
		unsigned s;

		if ((t & (SPAN(l) - 1)) != 0)
			continue;
		s = INDEX(t, l);
		if ((w->busy[l] & ((uint64_t)1 << s)) == 0)
			continue;
		w->busy[l] &= ~((uint64_t)1 << s);
		replace_all(w, take(&w->slot[l][s]));
	}
}

/* Lowest set bit of mask at position >= from, or -1. */
static int
next_bit(uint64_t mask, unsigned from)
{
	if (from >= 64)
		return -1;
	mask &= ~(uint64_t)0 << from;
	return mask ? __builtin_ctzll(mask) : -1;
}

/*
 * The first tick >= t (= w->cur) that has work: a busy level-0 slot in t's
 * block, the start of a busy block at a higher level (where it cascades),
 * or, with far deadlines waiting, the next overflow boundary. A level-L bit
 * names a block of the current level-(L+1) span that starts at or after t
 * (place() puts a deadline in t's own level-L block one level lower), so
 * the minimum over the levels skips every empty stretch at once. A stale
 * bit (cleared lazily) only stops the wheel early, never late.
 */
static ice_ms_t
next_tick(const struct timerwheel *w, ice_ms_t t)
{
	ice_ms_t best = UINT64_MAX;

	if (w->overflow != NULL)
		best = (t & (SPAN(TIMERWHEEL_LEVELS) - 1)) == 0
		               ? t
		               : (t | (SPAN(TIMERWHEEL_LEVELS) - 1)) + 1;
	for (unsigned l = 0; l < TIMERWHEEL_LEVELS; l++) {
		/* Inside a level-l block its slot has cascaded already. */
		unsigned from = INDEX(t, l) + ((t & (SPAN(l) - 1)) != 0);
		int b = next_bit(w->busy[l], from);
		ice_ms_t start;

		if (b < 0)
			continue;
		start = (t & ~(SPAN(l + 1) - 1)) | ((ice_ms_t)b << SHIFT(l));
		best = ICE_MIN(best, start);
	}
	return best;
}

size_t
timerwheel_run(struct timerwheel *w, ice_ms_t now)
{
	size_t fired = 0;

	while (w->cur <= now) {
		ice_ms_t t = next_tick(w, w->cur);
		struct timerwheel_node *list;
		unsigned s;

		if (t > now) {
			/* Nothing is due up to now, and no cascade is crossed. */
			w->cur = now + 1;
			break;
		}
		w->cur = t;
		if ((t & MASK) == 0)
			cascade(w, t);
		s = INDEX(t, 0);
		list = NULL;
		if (w->busy[0] & ((uint64_t)1 << s)) {
			w->busy[0] &= ~((uint64_t)1 << s);
			list = take(&w->slot[0][s]);
			/* A callback may disarm a later node of this list. */
			if (list != NULL)
				list->pprev = &list;
		}
		/* Callbacks that re-arm for "now" land on the next tick. */
		w->cur = t + 1;
		while (list != NULL) {
			struct timerwheel_node *n = list;

			unlink_node(n);
			w->n--;
			fired++;
			w->cb(w->ctx, n);
		}
	}
	return fired;
}
