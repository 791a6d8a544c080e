/*
 * The node registry: this node's record, written every heartbeat with a TTL
 * of node-ttl, and the list of every node's record read back by the same
 * script (one round trip per heartbeat). Each cached record keeps its own
 * expiry (now + the PTTL Redis reported), so a node that stops
 * heartbeating leaves every answer within node-ttl of its last write,
 * whatever the reader's heartbeat phase, with no clock shared between
 * nodes. ICE answers read the cached list: they never wait for Redis.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "cluster_int.h"
#include "record.h"

int
cl_registry_init(struct ice_cluster *c)
{
	c->cache = calloc(ICE_CLUSTER_MAX_NODES + 1, sizeof(*c->cache));
	c->scratch = calloc(ICE_CLUSTER_MAX_NODES + 1, sizeof(*c->scratch));
	if (c->cache == NULL || c->scratch == NULL)
		return -ENOMEM;
	snprintf(c->self.id, sizeof(c->self.id), "%s", c->s.node_id);
	snprintf(c->self.version, sizeof(c->self.version), "%s", ICESTATION_VERSION);
	c->self.instance = c->instance;
	return 0;
}

static void
set_nodes_gauge(struct ice_cluster *c, size_t n)
{
	ice_metrics_add(c->m, ICE_M_CLUSTER_NODES, (uint64_t)n - (uint64_t)c->n_cache);
	c->n_cache = n;
}

void
cl_registry_fini(struct ice_cluster *c)
{
	if (c->cache != NULL)
		set_nodes_gauge(c, 0);
	free(c->cache);
	free(c->scratch);
	c->cache = c->scratch = NULL;
}

/* This node as it is now: its static record, its live load, its drain flag. */
static void
self_live(struct ice_cluster *c, struct ice_cluster_node *out)
{
	struct ice_cluster_load load = { 0 };

	*out = c->self;
	if (c->cb.load != NULL) {
		c->cb.load(c->cb.arg, &load);
		out->allocations = load.allocations;
		out->rx_bps = load.rx_bps;
		out->tx_bps = load.tx_bps;
	}
	out->draining = c->draining;
	out->expires = UINT64_MAX;
}

/*
 * The record we replaced was written by another instance although we had
 * written it before: two processes share one node-id and hide each other.
 * (A restart finds its predecessor's record once; that is not it.)
 */
static void
check_previous(struct ice_cluster *c, const redisReply *prev)
{
	if (prev->type != REDIS_REPLY_STRING || prev->len != 16 || c->hb_ok_at == 0 ||
	    memcmp(prev->str, c->instance_hex, 16) == 0 || c->dup_logged)
		return;
	log_warnx("cluster: another node (instance %.16s) also uses node-id %s; give every "
	          "node its own",
	          prev->str, c->self.id);
	c->dup_logged = true;
}

/* The heartbeat script's reply: {previous instance, record, pttl, record, pttl, ...}. */
static void
take_list(struct ice_cluster *c, const redisReply *r, ice_ms_t now)
{
	size_t i, n = 0;

	if (r->elements == 0) {
		cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
		return;
	}
	check_previous(c, r->element[0]);
	for (i = 1; i + 1 < r->elements && n < ICE_CLUSTER_MAX_NODES; i += 2) {
		const redisReply *rec = r->element[i], *ttl = r->element[i + 1];

		if (rec->type != REDIS_REPLY_STRING || ttl->type != REDIS_REPLY_INTEGER ||
		    ttl->integer <= 0 || cl_record_decode(&c->cache[n], rec->str, rec->len) != 0) {
			cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
			continue;
		}
		c->cache[n].expires = now + (ice_ms_t)ttl->integer;
		if (c->cache[n].instance != c->instance &&
		    strcmp(c->cache[n].id, c->self.id) == 0 && !c->dup_logged) {
			/* Two processes writing one record: each hides the other. */
			log_warnx("cluster: another node (instance %016llx) also uses node-id %s; "
			          "give every node its own",
			          (unsigned long long)c->cache[n].instance, c->self.id);
			c->dup_logged = true;
		}
		n++;
	}
	set_nodes_gauge(c, n);
	c->cache_at = now;
}

static void
on_heartbeat(void *arg, const redisReply *r, int err)
{
	struct ice_cluster *c = arg;
	ice_ms_t now = cl_now_ms();

	c->hb_inflight = false;
	if (err == 0 && !cl_reply_is_error(c, r)) {
		if (r->type == REDIS_REPLY_ARRAY) {
			take_list(c, r, now);
			c->hb_ok_at = now;
		} else {
			cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
		}
	}
	if (c->hb_again) {
		c->hb_again = false;
		cl_registry_heartbeat(c);
	}
}

void
cl_registry_heartbeat(struct ice_cluster *c)
{
	struct ice_cluster_node rec;
	char buf[ICE_CLUSTER_RECORD_MAX], ttl[16], max[16];
	const char *argv[5];
	size_t lens[5];
	int len;

	if (c->left || !cl_cmd_ready(c))
		return;
	if (c->hb_inflight) {
		c->hb_again = true; /* a change (draining) goes out right after */
		return;
	}
	self_live(c, &rec);
	rec.written_ms = cl_unix_ms();
	len = cl_record_encode(&rec, buf, sizeof(buf));
	if (len < 0) {
		log_warnx("cluster: cannot encode this node's record: %s", strerror(-len));
		return;
	}
	snprintf(ttl, sizeof(ttl), "%u", c->s.node_ttl_ms);
	snprintf(max, sizeof(max), "%d", ICE_CLUSTER_MAX_NODES);
	argv[0] = c->s.node_id, lens[0] = strlen(c->s.node_id);
	argv[1] = c->instance_hex, lens[1] = 16;
	argv[2] = buf, lens[2] = (size_t)len;
	argv[3] = ttl, lens[3] = strlen(ttl);
	argv[4] = max, lens[4] = strlen(max);
	if (cl_script_call(c, CL_SCRIPT_HEARTBEAT, c->s.command_timeout_ms, on_heartbeat, c, 5,
	                   argv, lens) == 0)
		c->hb_inflight = true;
}

void
cl_registry_cmd_state(struct ice_cluster *c, bool ready)
{
	/* A list read before the outage says nothing about now: until the next one, self alone. */
	c->cache_at = 0;
	c->hb_again = false;
	if (ready)
		cl_registry_heartbeat(c);
}

int
ice_cluster_set_local(struct ice_cluster *c, const struct ice_cluster_node *self)
{
	char id[sizeof(c->self.id)];

	if (self->n_ep > ICE_CLUSTER_MAX_ENDPOINTS ||
	    memchr(self->turns_host, '\0', sizeof(self->turns_host)) == NULL ||
	    memchr(self->version, '\0', sizeof(self->version)) == NULL)
		return -EINVAL;
	memcpy(id, c->self.id, sizeof(id));
	c->self = *self;
	memcpy(c->self.id, id, sizeof(id));
	c->self.instance = c->instance;
	cl_registry_heartbeat(c);
	return 0;
}

void
ice_cluster_set_draining(struct ice_cluster *c, bool draining)
{
	if (c->draining == draining)
		return;
	c->draining = draining;
	log_info("cluster: node %s %s", c->s.node_id,
	         draining ? "draining: no longer handed out" : "no longer draining");
	cl_registry_heartbeat(c);
}

/* --- leave --- */

static void
on_left(void *arg, const redisReply *r, int err)
{
	struct ice_cluster *c = arg;
	int result = err;

	if (err == 0 && cl_reply_is_error(c, r))
		result = -EIO;
	if (c->leave_done != NULL)
		c->leave_done(c->leave_arg, result);
}

int
ice_cluster_leave(struct ice_cluster *c, void (*done)(void *arg, int result), void *arg)
{
	const char *argv[2] = { c->s.node_id, c->instance_hex };
	int rc;

	if (!cl_cmd_ready(c) || c->left)
		return -ENOTCONN;
	c->leave_done = done;
	c->leave_arg = arg;
	rc = cl_script_call(c, CL_SCRIPT_LEAVE, c->s.command_timeout_ms, on_left, c, 2, argv, NULL);
	if (rc != 0)
		return rc;
	c->left = true;
	log_info("cluster: node %s leaves the cluster", c->s.node_id);
	return 0;
}

/* --- reading the list --- */

/* True when the list is fresh enough to answer from. */
static bool
list_usable(const struct ice_cluster *c, ice_ms_t now)
{
	return cl_cmd_ready(c) && c->cache_at != 0 && now - c->cache_at <= c->s.node_ttl_ms;
}

size_t
ice_cluster_ice_nodes(struct ice_cluster *c, struct ice_cluster_node *out, size_t max)
{
	size_t idx[64], want, n = 1, k, i;
	ice_ms_t now = cl_now_ms();

	if (max == 0)
		return 0;
	self_live(c, &c->scratch[0]);
	if (!list_usable(c, now)) {
		cl_count(c, ICE_M_CLUSTER_DEGRADED_NODES);
		out[0] = c->scratch[0];
		return 1;
	}
	for (i = 0; i < c->n_cache; i++)
		if (strcmp(c->cache[i].id, c->self.id) != 0)
			c->scratch[n++] = c->cache[i];
	want = ICE_MIN(ICE_MIN(max, (size_t)c->s.ice_nodes), ICE_ARRAY_SIZE(idx));
	k = ice_cluster_select(c->scratch, n, 0, c->s.strategy, now, want, idx);
	for (i = 0; i < k; i++)
		out[i] = c->scratch[idx[i]];
	return k;
}

size_t
ice_cluster_nodes(struct ice_cluster *c, struct ice_cluster_node *out, size_t max)
{
	ice_ms_t now = cl_now_ms();
	size_t i, n = 0;

	if (max == 0)
		return 0;
	self_live(c, &out[n++]);
	for (i = 0; i < c->n_cache && n < max; i++)
		if (strcmp(c->cache[i].id, c->self.id) != 0 && c->cache[i].expires > now)
			out[n++] = c->cache[i];
	return n;
}
