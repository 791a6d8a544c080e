/*
 * From the configuration snapshot to what the cluster layer uses: its
 * settings (Redis, timing, the two per-user limits) and this node's static
 * record (the addresses clients reach it at). The layer itself never reads
 * struct ice_config, so tests and the daemon can feed it the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "icestation/cluster.h"
#include "icestation/config.h"

int
ice_cluster_settings_from_config(struct ice_cluster_settings *s, const struct ice_config *cfg)
{
	const struct ice_config_cluster *cl = &cfg->cluster;

	memset(s, 0, sizeof(*s));
	if (!cl->enabled)
		return -EINVAL;
	s->redis_unix = cl->redis_unix;
	s->redis_host = cl->redis_host;
	s->redis_port = cl->redis_port;
	s->redis_db = cl->redis_db;
	s->redis_password = cl->redis_password;
	s->key_prefix = cl->key_prefix;
	s->node_id = cl->node_id;
	s->heartbeat_ms = cl->heartbeat_ms;
	s->node_ttl_ms = cl->node_ttl_ms;
	s->quota_timeout_ms = cl->quota_timeout_ms;
	s->ice_nodes = cl->ice_nodes;
	s->strategy = cl->strategy == ICE_CONFIG_CLUSTER_LEAST_LOADED ? ICE_CLUSTER_LEAST_LOADED
	                                                              : ICE_CLUSTER_SELF_FIRST;
	if (cfg->turn.enabled) {
		s->max_allocations_per_user = cfg->turn.max_allocations_per_user;
		s->allocations_per_minute_per_user = cfg->turn.allocations_per_minute_per_user;
	}
	return 0;
}

/* One endpoint per transport bit of mask at each public address (IPv4
 * first, dual stack). TLS only once, at the first: its URL names a host,
 * whose A and AAAA records give both families. */
static void
add_endpoints(struct ice_cluster_node *n, uint8_t service, unsigned mask,
              const struct ice_public_ip *pub, uint16_t port, uint16_t tls_port)
{
	static const uint8_t bits[] = { ICE_TRANSPORT_UDP, ICE_TRANSPORT_TCP, ICE_TRANSPORT_TLS };
	const struct ice_addr *addrs[2] = { &pub->addr, &pub->second };
	size_t i;

	for (int f = 0; f < 2; f++) {
		if (addrs[f]->family == 0)
			continue;
		for (i = 0; i < ICE_ARRAY_SIZE(bits) && n->n_ep < ICE_CLUSTER_MAX_ENDPOINTS; i++) {
			if (!(mask & bits[i]) || (f == 1 && bits[i] == ICE_TRANSPORT_TLS))
				continue;
			n->ep[n->n_ep].service = service;
			n->ep[n->n_ep].transport = bits[i];
			n->ep[n->n_ep].addr = *addrs[f];
			n->ep[n->n_ep].addr.port = bits[i] == ICE_TRANSPORT_TLS ? tls_port : port;
			n->n_ep++;
		}
	}
}

int
ice_cluster_local_from_config(struct ice_cluster_node *self, const struct ice_config *cfg,
                              uint64_t generation)
{
	const struct ice_config_cluster *cl = &cfg->cluster;

	memset(self, 0, sizeof(*self));
	if (!cl->enabled || cl->node_id == NULL || strlen(cl->node_id) > ICE_CLUSTER_ID_MAX)
		return -EINVAL;
	snprintf(self->id, sizeof(self->id), "%s", cl->node_id);
	snprintf(self->version, sizeof(self->version), "%s", ICESTATION_VERSION);
	self->generation = generation;
	if (cfg->stun.enabled)
		add_endpoints(self, ICE_CLUSTER_STUN, cfg->stun.transports & ~ICE_TRANSPORT_TLS,
		              &cfg->stun.public_ip, cfg->stun.port, 0);
	if (cfg->turn.enabled) {
		add_endpoints(self, ICE_CLUSTER_TURN, cfg->turn.transports, &cfg->turn.public_ip,
		              cfg->turn.port, cfg->turn.tls.port);
		self->max_allocations = cfg->turn.max_allocations;
	}
	return 0;
}
