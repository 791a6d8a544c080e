/*
 * Counters and gauges. Each thread that counts owns one block (single writer,
 * relaxed atomics, no lock-prefixed instruction on the hot path); /metrics sums
 * the blocks when it is read. No metric carries a per-user or per-username label.
 *
 * Each layer lists its metrics in include/icestation/metrics/<layer>.def as
 *   ICE_METRIC(ID, "prometheus_name", "label=\"value\"" or "", "help", COUNTER|GAUGE)
 * Several IDs may share one name with different labels (one family).
 */
#ifndef ICESTATION_METRICS_H
#define ICESTATION_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "icestation/common.h"

enum ice_metric_type {
	ICE_METRIC_COUNTER,
	ICE_METRIC_GAUGE,
};

#define ICE_METRIC(id, name, labels, help, type) ICE_M_##id,
enum ice_metric_id {
#include "icestation/metrics/all.def"
	ICE_M_COUNT
};
#undef ICE_METRIC

struct ice_metric_desc {
	const char *name;
	const char *labels;
	const char *help;
	enum ice_metric_type type;
};

/* The descriptor table, indexed by enum ice_metric_id. */
extern const struct ice_metric_desc ice_metric_descs[ICE_M_COUNT];

struct ice_metrics {
	_Atomic uint64_t v[ICE_M_COUNT];
};

/*
 * Return a zeroed block registered for summing, owned by the registry for the
 * life of the process (blocks are never freed: threads are few and fixed).
 * Call at thread start, not per packet. Returns NULL on allocation failure.
 */
struct ice_metrics *ice_metrics_block_new(void);

/* Add n to a counter (or a signed delta, cast, to a gauge). Only the owner thread calls it. */
static inline void
ice_metrics_add(struct ice_metrics *m, enum ice_metric_id id, uint64_t n)
{
	uint64_t cur;

	if (m == NULL)
		return;
	cur = atomic_load_explicit(&m->v[id], memory_order_relaxed);
	atomic_store_explicit(&m->v[id], cur + n, memory_order_relaxed);
}

static inline void
ice_metrics_inc(struct ice_metrics *m, enum ice_metric_id id)
{
	ice_metrics_add(m, id, 1);
}

static inline void
ice_metrics_dec(struct ice_metrics *m, enum ice_metric_id id)
{
	ice_metrics_add(m, id, (uint64_t)-1);
}

/* Set a gauge the owner thread alone keeps (its block holds the whole value). */
static inline void
ice_metrics_set(struct ice_metrics *m, enum ice_metric_id id, uint64_t v)
{
	if (m != NULL)
		atomic_store_explicit(&m->v[id], v, memory_order_relaxed);
}

/* Sum of one metric over every registered block. Any thread. */
uint64_t ice_metrics_sum(enum ice_metric_id id);

#endif
