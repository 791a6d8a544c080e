/*
 * A reload's decision (ice_config_reload_keep): the keys that need new
 * sockets or threads (listen addresses, ports, transports, workers,
 * relay-ip-range, the HTTP and admin listeners, the cluster section)
 * cannot change while running, so the snapshot a reload puts in force keeps
 * their running values and names each that changed; everything else comes
 * from the new tree. Pure: src/main/reload.c calls it between loading the
 * tree and swapping it in, fuzz/fuzz_reload.c on sequences of trees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/config.h"

/* The keys that changed: their names in text[0..len), and how many. */
struct restart_list {
	char *text;
	size_t len, used;
	int n;
};

/* A name that does not fit is left out of the text, still counted. */
static void
restart_add(struct restart_list *r, const char *key)
{
	int n;

	r->n++;
	if (r->len == 0)
		return;
	n = snprintf(r->text + r->used, r->len - r->used, "%s%s", r->used ? ", " : "", key);
	if (n > 0 && r->used + (size_t)n < r->len)
		r->used += (size_t)n;
	else
		r->text[r->used] = '\0';
}

static bool
addrs_differ(const struct ice_addr *a, size_t na, const struct ice_addr *b, size_t nb)
{
	if (na != nb)
		return true;
	for (size_t i = 0; i < na; i++)
		if (!ice_addr_equal(&a[i], &b[i]))
			return true;
	return false;
}

static bool
str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Keep old's value of a restart-only scalar in new, noting a change. */
#define KEEP(r, key, oldv, newv)                 \
	do {                                     \
		if ((oldv) != (newv)) {          \
			restart_add((r), (key)); \
			(newv) = (oldv);         \
		}                                \
	} while (0)

static void
keep_listen(struct restart_list *r, const char *key, const struct ice_addr *old, size_t nold,
            struct ice_addr *new, size_t *nnew)
{
	if (!addrs_differ(old, nold, new, *nnew))
		return;
	restart_add(r, key);
	memcpy(new, old, nold * sizeof(*old));
	*nnew = nold;
}

static void
keep_turn(struct restart_list *r, const struct ice_config_turn *o, struct ice_config_turn *n)
{
	KEEP(r, "subserver.turn.enabled", o->enabled, n->enabled);
	KEEP(r, "subserver.turn.port", o->port, n->port);
	KEEP(r, "subserver.turn.transports", o->transports, n->transports);
	KEEP(r, "subserver.turn.tls (on/off)", o->tls.enabled, n->tls.enabled);
	KEEP(r, "subserver.turn.tls.port", o->tls.port, n->tls.port);
	/* The USERHASH table and the nonce cookie's bit are made at start. */
	KEEP(r, "subserver.turn.userhash", o->userhash, n->userhash);
	KEEP(r, "subserver.turn.userhash-table-size", o->userhash_table_size,
	     n->userhash_table_size);
	keep_listen(r, "subserver.turn.listen", o->listen, o->n_listen, n->listen, &n->n_listen);
	if (n->n_relay_ip_range != o->n_relay_ip_range ||
	    memcmp(n->relay_ip_range, o->relay_ip_range,
	           o->n_relay_ip_range * sizeof(o->relay_ip_range[0])) != 0) {
		restart_add(r, "subserver.turn.relay-ip-range");
		memcpy(n->relay_ip_range, o->relay_ip_range, sizeof(o->relay_ip_range));
		n->n_relay_ip_range = o->n_relay_ip_range;
	}
}

/* Keep old's copy of a restart-only string in *new. -ENOMEM if it cannot. */
static int
keep_str(struct restart_list *r, const char *key, const char *old, char **new)
{
	if (!str_differ(old, *new))
		return 0;
	if (key != NULL) /* NULL: a part of another key, named there */
		restart_add(r, key);
	free(*new);
	*new = old != NULL ? strdup(old) : NULL;
	return old != NULL && *new == NULL ? -ENOMEM : 0;
}

/*
 * The whole cluster section is restart-only: the Redis client runs on the
 * settings it started with, and the admin view and this node's record
 * must say the same.
 */
static int
keep_cluster(struct restart_list *r, const struct ice_config_cluster *o,
             struct ice_config_cluster *n)
{
	KEEP(r, "cluster.enabled", o->enabled, n->enabled);
	KEEP(r, "cluster.heartbeat", o->heartbeat_ms, n->heartbeat_ms);
	KEEP(r, "cluster.node-ttl", o->node_ttl_ms, n->node_ttl_ms);
	KEEP(r, "cluster.quota-timeout", o->quota_timeout_ms, n->quota_timeout_ms);
	KEEP(r, "cluster.ice-api.nodes", o->ice_nodes, n->ice_nodes);
	KEEP(r, "cluster.ice-api.strategy", o->strategy, n->strategy);
	n->redis_port = o->redis_port;
	n->redis_db = o->redis_db;
	if (str_differ(o->redis_password, n->redis_password))
		restart_add(r, "cluster.redis-password-file (its content)");
	if (n->redis_password != NULL) {
		explicit_bzero(n->redis_password, strlen(n->redis_password));
		free(n->redis_password);
	}
	n->redis_password = o->redis_password != NULL ? strdup(o->redis_password) : NULL;
	if (o->redis_password != NULL && n->redis_password == NULL)
		return -ENOMEM;
	if (keep_str(r, "cluster.redis", o->redis_url, &n->redis_url) < 0 ||
	    keep_str(NULL, NULL, o->redis_host, &n->redis_host) < 0 ||
	    keep_str(NULL, NULL, o->redis_unix, &n->redis_unix) < 0 ||
	    keep_str(r, "cluster.redis-password-file", o->redis_password_file,
	             &n->redis_password_file) < 0 ||
	    keep_str(r, "cluster.key-prefix", o->key_prefix, &n->key_prefix) < 0 ||
	    keep_str(r, "cluster.node-id", o->node_id, &n->node_id) < 0)
		return -ENOMEM;
	return 0;
}

/* Returns -ENOMEM if a string could not be kept. */
static int
keep_restart_only(struct restart_list *r, const struct ice_config *o, struct ice_config *n)
{
	KEEP(r, "workers", o->workers, n->workers);
	KEEP(r, "http.enabled", o->http.enabled, n->http.enabled);
	KEEP(r, "http.max-connections", o->http.max_connections, n->http.max_connections);
	KEEP(r, "http.tls (on/off)", o->http.tls_enabled, n->http.tls_enabled);
	if (!ice_addr_equal(&o->http.listen, &n->http.listen)) {
		restart_add(r, "http.listen");
		n->http.listen = o->http.listen;
	}
	KEEP(r, "admin.enabled", o->admin.enabled, n->admin.enabled);
	KEEP(r, "admin.max-connections", o->admin.max_connections, n->admin.max_connections);
	if (!ice_addr_equal(&o->admin.listen, &n->admin.listen) ||
	    str_differ(o->admin.unix_path, n->admin.unix_path)) {
		restart_add(r, "admin.listen");
		n->admin.listen = o->admin.listen;
		free(n->admin.unix_path);
		n->admin.unix_path = o->admin.unix_path ? strdup(o->admin.unix_path) : NULL;
		if (o->admin.unix_path != NULL && n->admin.unix_path == NULL)
			return -ENOMEM;
	}
	KEEP(r, "subserver.stun.enabled", o->stun.enabled, n->stun.enabled);
	KEEP(r, "subserver.stun.port", o->stun.port, n->stun.port);
	KEEP(r, "subserver.stun.transports", o->stun.transports, n->stun.transports);
	keep_listen(r, "subserver.stun.listen", o->stun.listen, o->stun.n_listen, n->stun.listen,
	            &n->stun.n_listen);
	keep_turn(r, &o->turn, &n->turn);
	return keep_cluster(r, &o->cluster, &n->cluster);
}

int
ice_config_reload_keep(const struct ice_config *cur, struct ice_config *next, char *changed,
                       size_t len)
{
	struct restart_list r = { .text = changed, .len = len };

	if (len > 0)
		changed[0] = '\0';
	if (keep_restart_only(&r, cur, next) < 0)
		return -ENOMEM;
	next->generation = cur->generation + 1;
	return r.n;
}
