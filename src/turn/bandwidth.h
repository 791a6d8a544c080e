/*
 * Private to src/turn: token buckets for the bandwidth limits, inline so the
 * relay path pays a few arithmetic operations per packet and nothing else.
 * A bucket holds milli-bytes: rate (bytes/s) times elapsed ms, with no
 * division on the hot path.
 */
#ifndef ICESTATION_TURN_BANDWIDTH_H
#define ICESTATION_TURN_BANDWIDTH_H

#include <stdbool.h>
#include <stdint.h>

#include "icestation/common.h"

enum turn_dir {
	TURN_DIR_TO_PEER = 0,
	TURN_DIR_TO_CLIENT = 1,
};

/* A packet larger than the depth passes when the bucket is full and leaves
 * it in debt (negative), so the long-run rate holds for any packet size. */
struct turn_bucket {
	int64_t tokens; /* milli-bytes available (negative: owed) */
	int64_t depth;  /* milli-bytes the bucket holds at most */
	uint64_t rate;  /* bytes per second; 0 = no limit */
	ice_ms_t last;  /* when tokens were last topped up */
};

/* Set the rate (bits per second, 0 = no limit); the bucket starts full. */
void turn_bucket_set(struct turn_bucket *b, uint64_t bps, ice_ms_t now);

/* Change the rate, keeping what the bucket holds (capped at the new depth). */
void turn_bucket_rerate(struct turn_bucket *b, uint64_t bps, ice_ms_t now);

static inline void
turn_bucket_fill(struct turn_bucket *b, ice_ms_t now)
{
	if (now > b->last) {
		/* Capped so the product cannot overflow after a long idle. */
		uint64_t ms = now - b->last < 60000 ? now - b->last : 60000;
		int64_t add = (int64_t)(ms * b->rate);

		b->tokens = b->depth - b->tokens < add ? b->depth : b->tokens + add;
		b->last = now;
	}
}

/* What len bytes need before they may pass: all of it, or a full bucket. */
static inline int64_t
turn_bucket_need(const struct turn_bucket *b, uint64_t len)
{
	int64_t need = (int64_t)len * 1000;

	return need < b->depth ? need : b->depth;
}

/* Whether len bytes may pass now (no limit: always); nothing is taken. */
static inline bool
turn_bucket_fits(struct turn_bucket *b, uint64_t len, ice_ms_t now)
{
	if (b->rate == 0)
		return true;
	turn_bucket_fill(b, now);
	return b->tokens >= turn_bucket_need(b, len);
}

static inline void
turn_bucket_take(struct turn_bucket *b, uint64_t len)
{
	if (b->rate != 0)
		b->tokens -= (int64_t)len * 1000;
}

/* Milliseconds until len bytes may pass (for a paused stream), at least 1. */
static inline ice_ms_t
turn_bucket_wait(const struct turn_bucket *b, uint64_t len)
{
	int64_t short_by = turn_bucket_need(b, len) - b->tokens;

	if (b->rate == 0 || short_by <= 0)
		return 1;
	return ((uint64_t)short_by + b->rate - 1) / b->rate;
}

#endif
