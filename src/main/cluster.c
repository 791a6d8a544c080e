/*
 * The daemon's side of the cluster (docs/cluster.md): the Redis client of
 * src/cluster on the main loop, fed and consulted from here.
 *  - This node's record: its static part from the configuration (again on
 *    reload), its load (allocations, relayed bytes/s each way) at each
 *    heartbeat, draining at once.
 *  - Cluster-wide per-user quotas: the workers' asks (ice_net's quota
 *    hooks) go to ice_cluster_quota_acquire; answers go back to the asking
 *    worker's mailbox. A release follows every allocation the cluster
 *    counted.
 *  - Revocations: ours are published; every node's (ours included, once
 *    more) are applied locally, idempotently.
 *  - The ICE API lists the nodes the cluster hands out (http hook).
 *  - On stop, the record is removed so other nodes stop listing us at once.
 * The cluster section is restart-only: a reload changes nothing here but
 * the record's generation.
 */
#include "icestation/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "daemon.h"

enum {
	LEAVE_WAIT_MS = 500, /* how long a stop waits for the record's removal */
};

struct quota_ask {
	struct daemon *d;
	unsigned worker;
	uint64_t cookie;
};

static enum turn_cluster_verdict
verdict_of(enum ice_cluster_quota q)
{
	switch (q) {
	case ICE_CLUSTER_QUOTA_OK:
		return TURN_CQ_OK;
	case ICE_CLUSTER_QUOTA_OVER_USER:
		return TURN_CQ_OVER_USER;
	case ICE_CLUSTER_QUOTA_OVER_RATE:
		return TURN_CQ_OVER_RATE;
	default:
		return TURN_CQ_DEGRADED;
	}
}

static void
on_quota(void *arg, enum ice_cluster_quota result)
{
	struct quota_ask *q = arg;

	if (ice_net_quota_answer(q->d->net, q->worker, q->cookie, verdict_of(result)) < 0 &&
	    (result == ICE_CLUSTER_QUOTA_OK || result == ICE_CLUSTER_QUOTA_DEGRADED))
		/* The worker decides locally at its timeout; the late answer
		 * that would release this is lost with the mailbox slot. */
		log_warnx("cluster: a worker's mailbox is full; one quota answer lost");
	free(q);
}

static int
hook_ask(void *ctx, unsigned worker, uint64_t cookie, const char *user)
{
	struct daemon *d = ctx;
	struct quota_ask *q = malloc(sizeof(*q));
	enum ice_cluster_quota r;

	if (q == NULL)
		return (int)TURN_CQ_DEGRADED; /* holds one: released with the allocation */
	*q = (struct quota_ask){ .d = d, .worker = worker, .cookie = cookie };
	r = ice_cluster_quota_acquire(d->cluster, user, on_quota, q);
	if (r == ICE_CLUSTER_QUOTA_PENDING)
		return -EINPROGRESS;
	free(q);
	return (int)verdict_of(r);
}

static void
hook_release(void *ctx, const char *user)
{
	struct daemon *d = ctx;

	ice_cluster_quota_release(d->cluster, user);
}

static void
on_load(void *arg, struct ice_cluster_load *out)
{
	struct daemon *d = arg;

	out->allocations = ice_net_allocations(d->net);
	out->rx_bps = d->rate_to_peer_Bps;
	out->tx_bps = d->rate_to_client_Bps;
}

static void
on_revoked(void *arg, const char *user, uint64_t revoked_at, uint64_t until)
{
	(void)daemon_revoke_from_cluster(arg, user, strlen(user), revoked_at, until);
}

static void
on_state(void *arg, bool up)
{
	(void)arg;
	(void)up; /* the layer logs and counts each change itself */
}

/* This node's record from the configuration in force. */
static void
record_set(struct daemon *d)
{
	struct ice_cluster_node self;

	if (ice_cluster_local_from_config(&self, d->cfg, d->cfg->generation) < 0)
		return;
	if (d->cfg->turn.tls.enabled && d->cfg->turn.tls.server_name != NULL)
		snprintf(self.turns_host, sizeof(self.turns_host), "%s",
		         d->cfg->turn.tls.server_name);
	/* The addresses in force: public-ip: auto follows the host (hostwatch.c). */
	for (size_t i = 0; i < self.n_ep; i++) {
		const struct ice_addr *pub = self.ep[i].service == ICE_CLUSTER_TURN
		                                     ? &d->host.turn_public
		                                     : &d->host.stun_public;
		uint16_t port = self.ep[i].addr.port;

		if (pub->family != 0) {
			self.ep[i].addr = *pub;
			self.ep[i].addr.port = port;
		}
	}
	(void)ice_cluster_set_local(d->cluster, &self);
}

int
daemon_cluster_start(struct daemon *d)
{
	const struct ice_cluster_callbacks cb = {
		.load = on_load, .revoked = on_revoked, .state = on_state, .arg = d
	};
	const struct ice_net_quota_hooks hooks = { .ask = hook_ask,
		                                   .release = hook_release,
		                                   .ctx = d };
	struct ice_cluster_settings s;
	int err = 0;

	if (!d->cfg->cluster.enabled)
		return 0;
	if (ice_cluster_settings_from_config(&s, d->cfg) < 0)
		return -EINVAL;
	d->cluster = ice_cluster_new(d->base, &s, &cb, &err);
	if (d->cluster == NULL) {
		log_errorx("cluster: cannot start the Redis client: %s", strerror(-err));
		return err;
	}
	record_set(d);
	ice_net_set_quota_hooks(d->net, &hooks);
	log_info("cluster: node %s, Redis %s", d->cfg->cluster.node_id,
	         d->cfg->cluster.redis_url ? d->cfg->cluster.redis_url : "");
	return 0;
}

void
daemon_cluster_reloaded(struct daemon *d)
{
	if (d->cluster != NULL)
		record_set(d);
}

void
daemon_cluster_draining(struct daemon *d)
{
	if (d->cluster != NULL)
		ice_cluster_set_draining(d->cluster, true);
}

void
daemon_cluster_revoke(struct daemon *d, const char *user, uint64_t revoked_at, uint64_t until)
{
	/* The record lives as long as it refuses something anywhere: the
	 * credentials minted before it, and the ICE API's until. */
	uint64_t keep = revoked_at + d->cfg->turn.credential_ttl_s;

	if (d->cluster == NULL)
		return;
	if (until > keep)
		keep = until;
	if (ice_cluster_revoke(d->cluster, user, revoked_at, keep) < 0)
		log_warnx("cluster: revocation of %s not published (outbox full); it holds here",
		          user);
}

static void
on_left(void *arg, int result)
{
	bool *done = arg;

	(void)result;
	*done = true;
}

void
daemon_cluster_stop(struct daemon *d)
{
	struct timeval tv = { 0, 20 * 1000 };
	uint64_t until = daemon_now_ms() + LEAVE_WAIT_MS;
	bool done = false;

	if (d->cluster == NULL)
		return;
	ice_net_set_quota_hooks(d->net, NULL);
	/* Gone from every list now, not after node-ttl: a short wait for Redis. */
	if (ice_cluster_leave(d->cluster, on_left, &done) == 0)
		while (!done && daemon_now_ms() < until) {
			event_base_loopexit(d->base, &tv);
			event_base_dispatch(d->base);
		}
	ice_cluster_free(d->cluster);
	d->cluster = NULL;
}

size_t
daemon_cluster_ice_nodes(struct daemon *d, struct ice_cluster_node *out, size_t max)
{
	return d->cluster != NULL ? ice_cluster_ice_nodes(d->cluster, out, max) : 0;
}

size_t
daemon_cluster_http_nodes(struct daemon *d, struct ice_http_node *out, size_t max)
{
	struct ice_cluster_node nodes[ICE_HTTP_MAX_NODES];
	size_t n;

	if (d->cluster == NULL)
		return 0;
	n = ice_cluster_ice_nodes(d->cluster, nodes, ICE_MIN(max, (size_t)ICE_HTTP_MAX_NODES));
	for (size_t i = 0; i < n; i++) {
		struct ice_http_node *o = &out[i];

		memset(o, 0, sizeof(*o));
		snprintf(o->turns_host, sizeof(o->turns_host), "%s", nodes[i].turns_host);
		for (size_t k = 0; k < nodes[i].n_ep && o->n_ep < ICE_HTTP_NODE_EPS; k++) {
			o->ep[o->n_ep].turn = nodes[i].ep[k].service == ICE_CLUSTER_TURN;
			o->ep[o->n_ep].transport = nodes[i].ep[k].transport;
			o->ep[o->n_ep].addr = nodes[i].ep[k].addr;
			o->n_ep++;
		}
	}
	return n;
}

static const char *
ep_name(const struct ice_cluster_endpoint *e)
{
	if (e->service != ICE_CLUSTER_TURN)
		return e->transport == ICE_TRANSPORT_UDP ? "stun_udp" : "stun_tcp";
	return e->transport == ICE_TRANSPORT_UDP   ? "turn_udp"
	       : e->transport == ICE_TRANSPORT_TCP ? "turn_tcp"
	                                           : "turn_tls";
}

cJSON *
daemon_cluster_json(struct daemon *d)
{
	static struct ice_cluster_node nodes[ICE_CLUSTER_MAX_NODES];
	struct ice_cluster_status st;
	char buf[ICE_ADDR_STRLEN];
	cJSON *o = cJSON_CreateObject(), *arr;
	ice_ms_t now = daemon_now_ms();
	size_t n;

	if (o == NULL)
		return NULL;
	cJSON_AddBoolToObject(o, "enabled", d->cluster != NULL);
	if (d->cluster == NULL)
		return o;
	ice_cluster_status(d->cluster, &st);
	cJSON_AddBoolToObject(o, "redis_up", st.up);
	cJSON_AddStringToObject(o, "node_id", d->cfg->cluster.node_id);
	cJSON_AddNumberToObject(o, "pending", st.pending);
	cJSON_AddNumberToObject(o, "users", st.users);
	cJSON_AddNumberToObject(o, "outbox", st.outbox);
	if (st.list_age_ms != UINT64_MAX)
		cJSON_AddNumberToObject(o, "list_age_ms", (double)st.list_age_ms);
	arr = cJSON_AddArrayToObject(o, "nodes");
	/* The main thread alone calls this: a static array keeps 256 nodes
	 * (about half a megabyte) off its stack. */
	n = ice_cluster_nodes(d->cluster, nodes, ICE_CLUSTER_MAX_NODES);
	for (size_t i = 0; arr != NULL && i < n; i++) {
		const struct ice_cluster_node *nd = &nodes[i];
		cJSON *e = cJSON_CreateObject(), *eps;

		cJSON_AddItemToArray(arr, e);
		cJSON_AddStringToObject(e, "id", nd->id);
		cJSON_AddStringToObject(e, "version", nd->version);
		cJSON_AddBoolToObject(e, "self", strcmp(nd->id, d->cfg->cluster.node_id) == 0);
		cJSON_AddStringToObject(e, "state",
		                        nd->draining                           ? "draining"
		                        : ice_cluster_node_is_healthy(nd, now) ? "healthy"
		                                                               : "full");
		cJSON_AddNumberToObject(e, "allocations", nd->allocations);
		cJSON_AddNumberToObject(e, "max_allocations", nd->max_allocations);
		cJSON_AddNumberToObject(e, "to_peer_bps", (double)nd->rx_bps * 8);
		cJSON_AddNumberToObject(e, "to_client_bps", (double)nd->tx_bps * 8);
		cJSON_AddNumberToObject(e, "generation", (double)nd->generation);
		cJSON_AddNumberToObject(e, "last_heartbeat_ms", (double)nd->written_ms);
		eps = cJSON_AddObjectToObject(e, "endpoints");
		for (size_t k = 0; eps != NULL && k < nd->n_ep; k++)
			cJSON_AddStringToObject(eps, ep_name(&nd->ep[k]),
			                        ice_addr_str(&nd->ep[k].addr, buf, sizeof(buf)));
	}
	return o;
}
