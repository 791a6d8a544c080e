/*
 * Relay port choice (RFC 8656 §7.2: a TURN server should use an RFC 6056
 * randomized port assignment). Pure: no sockets and no clock (time comes
 * in as `now`), randomness from a caller's struct ice_rng.
 *
 * struct ice_portmap says which ports of each relay address (a row) are
 * taken: one bit per port 0..65535, shared by every worker thread. A worker
 * claims a port with an atomic fetch_or before it binds it, so the workers
 * never draw the same port and each sees what the others hold; bind() keeps
 * the last word, since another process may hold a port too. Ports are
 * drawn uniformly among the free ones (RFC 6056 §3.3.2, Algorithm 2: a new
 * random draw on every collision), and after a few draws that hit taken
 * ports, among the free ones counted exactly, so a nearly full range still
 * yields its last free port at a bounded cost (one pass over the window's
 * bitmap, 256 words for 16,384 ports) and never a scan from a guessable
 * place.
 *
 * struct ice_portq is one worker's quarantine: ports it released stay
 * taken for q->ms, so no worker hands a port just freed to the next client.
 */
#ifndef ICESTATION_PORTPICK_H
#define ICESTATION_PORTPICK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "icestation/common.h"
#include "icestation/rng.h"

enum {
	ICE_PORTMAP_WORDS = 65536 / 64, /* bitmap words per row */
	ICE_PORTMAP_PROBES = 8,         /* random draws before the exact count */
	ICE_PORTMAP_RACES = 16,         /* exact draws lost to another thread before giving up */
};

struct ice_portmap {
	unsigned rows;
	_Atomic uint64_t *bits; /* rows * ICE_PORTMAP_WORDS; bit set = taken */
};

/* What a draw may return: a port of [lo, hi]; even: an even one (EVEN-PORT);
 * pair: an even one whose successor is free and inside too (the R bit),
 * both then taken. */
struct ice_portwant {
	uint16_t lo, hi;
	bool even, pair;
};

/* Rows of all-free ports. 0 or -ENOMEM. */
int ice_portmap_init(struct ice_portmap *m, unsigned rows);
/* Free the bitmap (accepts a zeroed map). */
void ice_portmap_fini(struct ice_portmap *m);

/* How many ports of row want could return now (pair: how many pairs). */
uint32_t ice_portmap_count(const struct ice_portmap *m, unsigned row,
                           const struct ice_portwant *want);

/*
 * Take a port of row drawn uniformly among the free ones want allows (and
 * its successor for want->pair): 0 with *port, or -ENOSPC when none is free
 * (or, in the unlikely case, when other threads won ICE_PORTMAP_RACES exact
 * draws in a row).
 */
int ice_portmap_take(struct ice_portmap *m, struct ice_rng *rng, unsigned row,
                     const struct ice_portwant *want, uint16_t *port);

/*
 * One uniform draw among the free ports of row that want allows and
 * n_extra other candidates (a worker's spare sockets there): returns
 * k < n_extra for candidate k, n_extra with *port taken as by
 * ice_portmap_take, or -ENOSPC when there is neither. Expected cost O(1)
 * while most candidates are free: a probe draws among all ports of the
 * window and the others, and keeps what it drew unless a taken port.
 */
int ice_portmap_choose(struct ice_portmap *m, struct ice_rng *rng, unsigned row,
                       const struct ice_portwant *want, uint32_t n_extra, uint16_t *port);

/* Take port of row if it is free: true when it was (and is now taken). */
bool ice_portmap_claim(struct ice_portmap *m, unsigned row, uint16_t port);
/* Free port of row. */
void ice_portmap_put(struct ice_portmap *m, unsigned row, uint16_t port);
bool ice_portmap_is_taken(const struct ice_portmap *m, unsigned row, uint16_t port);

/* A worker's quarantine: released ports in release order. */
struct ice_portq_entry {
	uint32_t since; /* now's low 32 bits: a quarantine is far shorter than 49 days */
	uint16_t port;
	uint8_t row;
};

struct ice_portq {
	struct ice_portq_entry *e; /* a ring of cap */
	uint32_t cap, head, n;
	ice_ms_t ms;
};

/* Room for cap ports, each held ms. 0 or -ENOMEM. */
int ice_portq_init(struct ice_portq *q, uint32_t cap, ice_ms_t ms);
/* Free the queue (its ports stay as they are; accepts a zeroed queue). */
void ice_portq_fini(struct ice_portq *q);
/*
 * Quarantine port of row (taken in m) from now: it stays taken until
 * ice_portq_expire sees q->ms pass. A full queue ends its oldest entry early.
 */
void ice_portq_push(struct ice_portq *q, struct ice_portmap *m, unsigned row, uint16_t port,
                    ice_ms_t now);
/* Free the ports quarantined at least q->ms before now; returns how many. */
uint32_t ice_portq_expire(struct ice_portq *q, struct ice_portmap *m, ice_ms_t now);
/* Free every quarantined port at once; returns how many. */
uint32_t ice_portq_flush(struct ice_portq *q, struct ice_portmap *m);

#endif
