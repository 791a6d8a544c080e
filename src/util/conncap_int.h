/*
 * Private to src/util: the pool of conncap.h, shared by conncap.c (the
 * table and the lists) and conncap_gate.c (metrics and log lines).
 */
#ifndef ICESTATION_CONNCAP_INT_H
#define ICESTATION_CONNCAP_INT_H

#include "icestation/conncap.h"

/* What the pool counts, per class: the order of each class's block in conncap.def. */
enum cc_event {
	CC_EV_REFUSED_ADDR,
	CC_EV_REFUSED_FULL,
	CC_EV_EVICTED_PENDING,
	CC_EV_EVICTED_SERVED,
	CC_EV_UNTRACKED,
	CC_EV_COUNT,
};

_Static_assert(ICE_M_CONN_ADMIN_UNTRACKED ==
                       ICE_M_CONN_HTTP_REFUSED_ADDR + ICE_CONNCAP_CLASSES * CC_EV_COUNT - 1,
               "conncap.def: one block of CC_EV_COUNT metrics per class, in class order");

static inline enum ice_metric_id
cc_metric(unsigned cls, enum cc_event ev)
{
	return (enum ice_metric_id)(ICE_M_CONN_HTTP_REFUSED_ADDR + cls * CC_EV_COUNT + ev);
}

struct cc_entry {
	ice_ms_t last_log;                   /* when its last line went out (if logged) */
	uint32_t count[ICE_CONNCAP_CLASSES]; /* connections it holds, per class */
	uint32_t suppressed;                 /* lines left out since the last one */
	uint8_t key[8];                      /* IPv4 address, or IPv6 /64 */
	uint8_t family;                      /* 0 = empty slot */
	bool logged;
};

struct ice_conncap {
	struct ice_siphash_key key;
	struct ice_metrics *m;
	uint32_t cap[ICE_CONNCAP_CLASSES]; /* per address; 0 = none */
	bool mask_addrs;
	/* List heads (circular, the head a sentinel): oldest first. */
	struct ice_conncap_node pending, served;
	size_t mask; /* slots - 1 */
	struct cc_entry *slots;
};

/* The source key of a (IPv4, a mapped IPv6 as IPv4, or the IPv6 /64): family, 0 if unset. */
uint8_t cc_key(const struct ice_addr *a, uint8_t key[8]);

/* src's entry, or NULL; key and family are filled either way. */
struct cc_entry *cc_lookup(const struct ice_conncap *cc, const struct ice_addr *src, uint8_t key[8],
                           uint8_t *family);

/* src's entry, made if it has none (NULL: no room, or src unset). */
struct cc_entry *cc_lookup_or_claim(struct ice_conncap *cc, const struct ice_addr *src,
                                    ice_ms_t now);

#endif
