/*
 * The cluster object: two Redis connections on the caller's loop (commands;
 * pub/sub, which RESP2 cannot mix with commands; handshake.c sets them up),
 * the up/down state shown by icestation_cluster_redis_up, the state callback
 * and one log line per change, and the heartbeat tick that drives the
 * registry, the quota write-back and the revocation outbox.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "icestation/log.h"

#include "cluster_int.h"
#include "record.h"

enum {
	CL_SUB_SLOTS = 4, /* AUTH, and room to spare */
	CL_DEFAULT_COMMAND_TIMEOUT_MS = 1000,
	CL_DEFAULT_BACKOFF_MIN_MS = 100,
	CL_DEFAULT_BACKOFF_MAX_MS = 2000,
};

/* One metrics block for the layer: the main thread is its only writer. */
static struct ice_metrics *cl_metrics;

ice_ms_t
cl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ice_ms_t)ts.tv_sec * 1000 + (ice_ms_t)ts.tv_nsec / 1000000;
}

uint64_t
cl_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *
cl_key(const struct ice_cluster *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", c->s.key_prefix, name);
	return buf;
}

void
cl_count(struct ice_cluster *c, enum ice_metric_id id)
{
	ice_metrics_inc(c->m, id);
}

bool
cl_cmd_ready(const struct ice_cluster *c)
{
	return c->cmd.state == CL_READY;
}

bool
ice_cluster_is_up(const struct ice_cluster *c)
{
	return c->up;
}

/* --- up/down: one log line and one callback per change --- */

void
cl_update_up(struct ice_cluster *c, const struct cl_conn *failed)
{
	bool up = c->cmd.state == CL_READY && c->sub.state == CL_READY;

	if (!up && failed != NULL && !c->down_logged) {
		log_warnx("cluster: Redis %s %s (%s connection: %s); serving on local state, "
		          "reconnecting",
		          c->where, c->up ? "lost" : "unreachable", failed->name, failed->why);
		c->down_logged = true;
	}
	if (up == c->up)
		return;
	c->up = up;
	if (up) {
		log_info("cluster: Redis %s reachable; node %s (instance %s) registered", c->where,
		         c->s.node_id, c->instance_hex);
		c->down_logged = false;
		ice_metrics_inc(c->m, ICE_M_CLUSTER_REDIS_UP);
		cl_revoke_load(c);
	} else {
		ice_metrics_dec(c->m, ICE_M_CLUSTER_REDIS_UP);
	}
	if (c->cb.state != NULL)
		c->cb.state(c->cb.arg, up);
}

static void
on_lost(struct cl_conn *conn, bool was_ready)
{
	struct ice_cluster *c = conn->c;

	if (conn == &c->cmd && was_ready)
		cl_registry_cmd_state(c, false);
	cl_update_up(c, conn);
}

/* --- the tick --- */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ice_cluster *c = arg;
	ice_ms_t now = cl_now_ms();

	(void)fd;
	(void)what;
	if (cl_cmd_ready(c))
		cl_registry_heartbeat(c);
	cl_quota_tick(c, now);
	cl_revoke_flush(c);
	/*
	 * Each heartbeat publishes on our ping channel. Heartbeats kept
	 * succeeding for node-ttl but no ping came: the subscriber connection
	 * is dead without knowing it (a silent network drop), so revocations
	 * would be missed. Drop it; the reconnect reloads the set.
	 */
	if (c->sub.state == CL_READY && c->hb_ok_at > c->sub_seen + c->s.node_ttl_ms)
		cl_conn_drop(&c->sub, "no message on the ping channel for %u ms", c->s.node_ttl_ms);
}

/* --- new/free --- */

static int
check_settings(const struct ice_cluster_settings *s)
{
	struct ice_addr a;

	if ((s->redis_unix == NULL) == (s->redis_host == NULL) || s->key_prefix == NULL ||
	    s->key_prefix[0] == '\0' || strlen(s->key_prefix) > 64 || s->node_id == NULL ||
	    !cl_id_is_valid(s->node_id, strlen(s->node_id)) || s->heartbeat_ms == 0 ||
	    s->node_ttl_ms < s->heartbeat_ms || s->quota_timeout_ms == 0 || s->ice_nodes == 0)
		return -EINVAL;
	if (s->redis_host != NULL &&
	    (s->redis_port == 0 ||
	     (ice_addr_parse_ip(&a, s->redis_host, 0) != 0 && strchr(s->redis_host, ':') != NULL)))
		return -EINVAL;
	return 0;
}

static char *
dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*fail = true;
	return d;
}

static int
copy_settings(struct ice_cluster *c, const struct ice_cluster_settings *s)
{
	bool fail = false;

	c->s = *s;
	c->s.redis_unix = c->own_unix = dup_or_null(s->redis_unix, &fail);
	c->s.redis_host = c->own_host = dup_or_null(s->redis_host, &fail);
	c->s.redis_password = c->own_password = dup_or_null(s->redis_password, &fail);
	c->s.key_prefix = c->own_prefix = dup_or_null(s->key_prefix, &fail);
	c->s.node_id = c->own_id = dup_or_null(s->node_id, &fail);
	if (c->s.command_timeout_ms == 0)
		c->s.command_timeout_ms = CL_DEFAULT_COMMAND_TIMEOUT_MS;
	if (c->s.max_pending == 0)
		c->s.max_pending = ICE_CLUSTER_DEFAULT_PENDING;
	if (c->s.max_users == 0)
		c->s.max_users = ICE_CLUSTER_DEFAULT_USERS;
	if (c->s.max_outbox == 0)
		c->s.max_outbox = ICE_CLUSTER_DEFAULT_OUTBOX;
	if (c->s.reconnect_min_ms == 0)
		c->s.reconnect_min_ms = CL_DEFAULT_BACKOFF_MIN_MS;
	if (c->s.reconnect_max_ms < c->s.reconnect_min_ms)
		c->s.reconnect_max_ms = ICE_MAX(CL_DEFAULT_BACKOFF_MAX_MS, c->s.reconnect_min_ms);
	if (s->redis_unix != NULL)
		snprintf(c->where, sizeof(c->where), "unix:%s", s->redis_unix);
	else
		snprintf(c->where, sizeof(c->where),
		         strchr(s->redis_host, ':') != NULL ? "redis://[%s]:%u/%u"
		                                            : "redis://%s:%u/%u",
		         s->redis_host, s->redis_port, s->redis_db);
	return fail ? -ENOMEM : 0;
}

static int
setup_dns(struct ice_cluster *c)
{
	struct ice_addr a;

	if (c->s.redis_host == NULL || ice_addr_parse_ip(&a, c->s.redis_host, 0) == 0)
		return 0;
	c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (c->dns == NULL) {
		/* No usable resolv.conf: the hosts file still names Redis (compose, tests). */
		c->dns = evdns_base_new(c->base, 0);
		if (c->dns == NULL)
			return -ENOMEM;
		evdns_base_load_hosts(c->dns, NULL);
		log_warnx("cluster: no DNS servers in /etc/resolv.conf; %s must be in /etc/hosts",
		          c->s.redis_host);
	}
	return 0;
}

static int
setup(struct ice_cluster *c)
{
	struct timeval tv;
	int rc;

	if (cl_metrics == NULL)
		cl_metrics = ice_metrics_block_new();
	c->m = cl_metrics;
	evutil_secure_rng_get_bytes(&c->instance, sizeof(c->instance));
	snprintf(c->instance_hex, sizeof(c->instance_hex), "%016llx",
	         (unsigned long long)c->instance);
	TAILQ_INIT(&c->dirty);
	TAILQ_INIT(&c->aged);
	TAILQ_INIT(&c->outbox);
	if ((rc = cl_scripts_init(c)) || (rc = setup_dns(c)) ||
	    (rc = cl_conn_init(&c->cmd, c, "commands", c->s.max_pending)) ||
	    (rc = cl_conn_init(&c->sub, c, "pub/sub", CL_SUB_SLOTS)) ||
	    (rc = cl_registry_init(c)) || (rc = cl_quota_init(c)))
		return rc;
	c->cmd.on_connected = cl_handshake_cmd;
	c->sub.on_connected = cl_handshake_sub;
	c->cmd.on_lost = c->sub.on_lost = on_lost;
	c->tick = event_new(c->base, -1, EV_PERSIST, on_tick, c);
	if (c->tick == NULL)
		return -ENOMEM;
	tv.tv_sec = c->s.heartbeat_ms / 1000;
	tv.tv_usec = (suseconds_t)(c->s.heartbeat_ms % 1000) * 1000;
	event_add(c->tick, &tv);
	return 0;
}

struct ice_cluster *
ice_cluster_new(struct event_base *base, const struct ice_cluster_settings *s,
                const struct ice_cluster_callbacks *cb, int *err)
{
	struct ice_cluster *c;
	int rc;

	if (base == NULL || s == NULL || check_settings(s) != 0) {
		*err = -EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	c->base = base;
	if (cb != NULL)
		c->cb = *cb;
	rc = copy_settings(c, s);
	if (rc == 0)
		rc = setup(c);
	if (rc != 0) {
		ice_cluster_free(c);
		*err = rc;
		return NULL;
	}
	log_info("cluster: node %s joins through Redis %s (key prefix \"%s\")", c->s.node_id,
	         c->where, c->s.key_prefix);
	cl_conn_start(&c->cmd);
	cl_conn_start(&c->sub);
	return c;
}

void
ice_cluster_free(struct ice_cluster *c)
{
	if (c == NULL)
		return;
	if (c->up)
		ice_metrics_dec(c->m, ICE_M_CLUSTER_REDIS_UP);
	c->cb = (struct ice_cluster_callbacks){ 0 };
	cl_conn_fini(&c->cmd);
	cl_conn_fini(&c->sub);
	cl_registry_fini(c);
	cl_quota_fini(c);
	cl_revoke_fini(c);
	if (c->dns != NULL)
		evdns_base_free(c->dns, 0);
	if (c->tick != NULL)
		event_free(c->tick);
	free(c->own_unix);
	free(c->own_host);
	if (c->own_password != NULL) {
		explicit_bzero(c->own_password, strlen(c->own_password));
		free(c->own_password);
	}
	free(c->own_prefix);
	free(c->own_id);
	free(c);
}

void
ice_cluster_status(const struct ice_cluster *c, struct ice_cluster_status *st)
{
	ice_ms_t now = cl_now_ms();

	memset(st, 0, sizeof(*st));
	st->up = c->up;
	st->pending = c->cmd.in_use + c->sub.in_use;
	st->users = (uint32_t)c->n_users;
	st->outbox = c->n_outbox;
	st->nodes = (uint32_t)c->n_cache;
	st->list_age_ms = c->cache_at != 0 ? now - c->cache_at : UINT64_MAX;
}
