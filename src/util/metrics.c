/*
 * The registry of per-thread metric blocks. Blocks are registered at thread
 * start under a mutex (rare) and summed by the /metrics reader; the hot path
 * only touches its own block with relaxed loads and stores.
 */
#include "icestation/metrics.h"

#include <pthread.h>
#include <stdlib.h>

#define ICE_METRIC(id, mname, mlabels, mhelp, mtype)                                              \
	[ICE_M_##id] = {                                                                          \
		.name = (mname), .labels = (mlabels), .help = (mhelp), .type = ICE_METRIC_##mtype \
	},
const struct ice_metric_desc ice_metric_descs[ICE_M_COUNT] = {
#include "icestation/metrics/all.def"
};
#undef ICE_METRIC

enum {
	METRICS_MAX_BLOCKS = 256,
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ice_metrics *_Atomic blocks[METRICS_MAX_BLOCKS];
static _Atomic size_t n_blocks;

struct ice_metrics *
ice_metrics_block_new(void)
{
	struct ice_metrics *m;
	size_t n;

	/* Cache-line aligned so two workers' counters never share a line. */
	if (posix_memalign((void **)&m, 64, sizeof(*m)) != 0)
		return NULL;
	for (size_t i = 0; i < ICE_M_COUNT; i++)
		atomic_init(&m->v[i], 0);

	pthread_mutex_lock(&registry_lock);
	n = atomic_load(&n_blocks);
	if (n == METRICS_MAX_BLOCKS) {
		pthread_mutex_unlock(&registry_lock);
		free(m);
		return NULL;
	}
	atomic_store(&blocks[n], m);
	atomic_store(&n_blocks, n + 1);
	pthread_mutex_unlock(&registry_lock);
	return m;
}

uint64_t
ice_metrics_sum(enum ice_metric_id id)
{
	size_t n = atomic_load(&n_blocks);
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		struct ice_metrics *m = atomic_load(&blocks[i]);

		if (m != NULL)
			sum += atomic_load_explicit(&m->v[id], memory_order_relaxed);
	}
	return sum;
}
