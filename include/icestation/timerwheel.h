/*
 * Hierarchical hashed timer wheel (Varghese & Lauck scheme 7), 1 ms ticks.
 * Pure: time comes in as `now`; nothing here reads a clock or allocates.
 * Nodes are intrusive (STYLE §6): an object embeds a struct timerwheel_node,
 * so arming and disarming never allocate and cost O(1). timerwheel_run fires
 * every node whose deadline is <= now, exactly, in O(expired + busy blocks
 * crossed): an idle stretch costs one step, however long.
 *
 * Four levels of 64 slots cover 2^24 ms (4.66 h) ahead; a deadline further out
 * waits on an overflow list that is re-sorted every 4.66 h.
 */
#ifndef ICESTATION_TIMERWHEEL_H
#define ICESTATION_TIMERWHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/common.h"

enum {
	TIMERWHEEL_BITS = 6,
	TIMERWHEEL_SLOTS = 1 << TIMERWHEEL_BITS,
	TIMERWHEEL_LEVELS = 4,
};

struct timerwheel_node {
	struct timerwheel_node *next;
	struct timerwheel_node **pprev; /* NULL when not armed */
	ice_ms_t deadline;
};

struct timerwheel;

/*
 * Called by timerwheel_run for each expired node, already disarmed. The
 * callback may arm, disarm or free any node, this one included.
 */
typedef void (*timerwheel_cb)(void *ctx, struct timerwheel_node *node);

struct timerwheel {
	struct timerwheel_node *slot[TIMERWHEEL_LEVELS][TIMERWHEEL_SLOTS];
	struct timerwheel_node *overflow;
	/* Bit s set when slot[l][s] may be non-empty (cleared lazily). */
	uint64_t busy[TIMERWHEEL_LEVELS];
	ice_ms_t cur; /* the next tick timerwheel_run will process */
	size_t n;     /* armed nodes */
	timerwheel_cb cb;
	void *ctx;
};

/* Start an empty wheel at time now. cb(ctx, node) is called for expired nodes. */
void timerwheel_init(struct timerwheel *w, ice_ms_t now, timerwheel_cb cb, void *ctx);

/* Zero a node so it reads as not armed (objects from a zeroing pool already are). */
static inline void
timerwheel_node_init(struct timerwheel_node *n)
{
	n->next = NULL;
	n->pprev = NULL;
	n->deadline = 0;
}

static inline bool
timerwheel_node_is_armed(const struct timerwheel_node *n)
{
	return n->pprev != NULL;
}

/*
 * Arm n to fire at deadline (re-arming it if already armed). A deadline in the
 * past fires at the next timerwheel_run. n is borrowed until it fires or is
 * disarmed; it must not be freed while armed.
 */
void timerwheel_add(struct timerwheel *w, struct timerwheel_node *n, ice_ms_t deadline);

/* Disarm n. A no-op when n is not armed. */
void timerwheel_del(struct timerwheel *w, struct timerwheel_node *n);

/*
 * Advance the wheel to now and fire every node with deadline <= now. A now
 * earlier than the previous call does nothing. Returns the number fired.
 */
size_t timerwheel_run(struct timerwheel *w, ice_ms_t now);

/* Armed nodes. */
static inline size_t
timerwheel_count(const struct timerwheel *w)
{
	return w->n;
}

#endif
