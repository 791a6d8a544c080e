/*
 * The pure decisions of the cluster layer: which nodes an ICE answer lists
 * and in what order, and how far per-user quotas can overshoot while nodes
 * are cut off from Redis. No Redis, no clock: time comes in as `now`.
 */
#include <stdint.h>
#include <string.h>

#include "icestation/cluster.h"

bool
ice_cluster_node_is_healthy(const struct ice_cluster_node *n, ice_ms_t now)
{
	if (n->draining)
		return false;
	if (n->max_allocations != 0 && n->allocations >= n->max_allocations)
		return false;
	return n->expires > now;
}

/* a before b: fewer allocations, then the lower id. */
static bool
less_loaded(const struct ice_cluster_node *a, const struct ice_cluster_node *b)
{
	if (a->allocations != b->allocations)
		return a->allocations < b->allocations;
	return strcmp(a->id, b->id) < 0;
}

size_t
ice_cluster_select(const struct ice_cluster_node *nodes, size_t n, size_t self,
                   enum ice_cluster_strategy strategy, ice_ms_t now, size_t want, size_t *idx)
{
	size_t i, j, k, start = 0, count = 0;

	if (want == 0)
		return 0;
	if (strategy == ICE_CLUSTER_SELF_FIRST && self < n &&
	    ice_cluster_node_is_healthy(&nodes[self], now))
		idx[count++] = self, start = 1;
	/*
	 * Insertion sort of the healthy others into idx[start..]: n is at most
	 * ICE_CLUSTER_MAX_NODES + 1 and this runs per ICE request on the main
	 * loop, far from any packet; keeping only the best `want` bounds the
	 * array to the caller's size.
	 */
	for (i = 0; i < n; i++) {
		if ((start == 1 && i == self) || !ice_cluster_node_is_healthy(&nodes[i], now))
			continue;
		for (j = start; j < count && !less_loaded(&nodes[i], &nodes[idx[j]]); j++)
			;
		if (j >= want)
			continue;
		if (count < want)
			count++;
		for (k = count - 1; k > j; k--)
			idx[k] = idx[k - 1];
		idx[j] = i;
	}
	return count;
}

uint64_t
ice_cluster_quota_bound(uint32_t limit, uint32_t nodes, uint32_t degraded)
{
	uint64_t groups;

	if (limit == 0 || nodes == 0)
		return 0;
	if (degraded > nodes)
		degraded = nodes;
	/* Each cut-off node is a group of its own; the connected ones form one. */
	groups = degraded == nodes ? nodes : (uint64_t)degraded + 1;
	return (uint64_t)limit * groups;
}
