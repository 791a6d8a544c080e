/*
 * A reload's decision (ice_config_reload_keep): the keys that need new
 * sockets or threads (listen addresses, ports, transports, workers,
 * relay-ip-range, the HTTP and admin listeners, the cluster section)
 * cannot change while running, so the snapshot a reload puts in force keeps
 * their running values and names each that changed; a section switched on
 * or off keeps its settings whole (keep_switched); everything else comes
 * from the new tree. Pure: src/main/reload.c calls it between loading the
 * tree and swapping it in, fuzz/fuzz_reload.c on sequences of trees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/config.h"

#include "cfg.h"

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

static int
dup_str(char **dst, const char *src)
{
	*dst = src != NULL ? strdup(src) : NULL;
	return src != NULL && *dst == NULL ? -ENOMEM : 0;
}

/* *n becomes a copy of *o, strings and all; on -ENOMEM *n is untouched. */
static int
copy_turn(struct ice_config_turn *n, const struct ice_config_turn *o)
{
	struct ice_config_turn t = *o;
	int rc = 0;

	/* Nothing of o's shared: each string t's own, or NULL. */
	t.realm = t.auth_secret_file = t.tls.cert = t.tls.key = t.tls.server_name = NULL;
	memset(t.auth_secrets, 0, sizeof(t.auth_secrets));
	memset(t.fallback_stun_servers, 0, sizeof(t.fallback_stun_servers));
	if (dup_str(&t.realm, o->realm) < 0 ||
	    dup_str(&t.auth_secret_file, o->auth_secret_file) < 0 ||
	    dup_str(&t.tls.cert, o->tls.cert) < 0 || dup_str(&t.tls.key, o->tls.key) < 0 ||
	    dup_str(&t.tls.server_name, o->tls.server_name) < 0)
		rc = -ENOMEM;
	for (size_t i = 0; i < o->n_auth_secrets && rc == 0; i++) {
		/* A secret from a file may hold any byte: copied by length. */
		t.auth_secrets[i] = malloc(o->auth_secret_lens[i] + 1);
		if (t.auth_secrets[i] == NULL)
			rc = -ENOMEM;
		else
			memcpy(t.auth_secrets[i], o->auth_secrets[i], o->auth_secret_lens[i] + 1);
	}
	for (size_t i = 0; i < o->n_fallback_stun_servers && rc == 0; i++)
		rc = dup_str(&t.fallback_stun_servers[i], o->fallback_stun_servers[i]);
	if (rc < 0) {
		cfg_turn_free(&t);
		return rc;
	}
	cfg_turn_free(n);
	*n = t;
	return 0;
}

/* The same for the admin section. */
static int
copy_admin(struct ice_config_admin *n, const struct ice_config_admin *o)
{
	struct ice_config_admin a = *o;
	int rc;

	memset(a.bearer_tokens, 0, sizeof(a.bearer_tokens));
	rc = dup_str(&a.unix_path, o->unix_path);
	for (size_t i = 0; i < o->n_bearer_tokens && rc == 0; i++)
		rc = dup_str(&a.bearer_tokens[i], o->bearer_tokens[i]);
	if (rc < 0) {
		cfg_admin_free(&a);
		return rc;
	}
	cfg_admin_free(n);
	*n = a;
	return 0;
}

/* The sections whose on/off (or listener) the new tree changes. */
struct switched {
	bool turn, stun, turn_tls, https, admin;
};

static void
switched_of(struct switched *sw, const struct ice_config *o, const struct ice_config *n)
{
	sw->turn = o->turn.enabled != n->turn.enabled;
	sw->stun = o->stun.enabled != n->stun.enabled;
	sw->turn_tls = o->turn.tls.enabled != n->turn.tls.enabled;
	sw->https = o->http.tls_enabled != n->http.tls_enabled;
	sw->admin = o->admin.enabled != n->admin.enabled ||
	            !ice_addr_equal(&o->admin.listen, &n->admin.listen) ||
	            str_differ(o->admin.unix_path, n->admin.unix_path);
}

/*
 * What a kept switch needs stays with it. Switching TURN, STUN, TURN's TLS,
 * HTTPS or the admin API's listener on or off needs a restart, so until
 * then the section runs as it does, with its running settings whole: the
 * new tree's are those of a section that is off there, which the loader
 * never checked (TURN off: no realm, no secret; STUN off: no public IP),
 * or they lack what the running listener needs (TLS or HTTPS off: no
 * certificate; the admin API off or on a unix socket: no bearer token for
 * its TCP listener). Taking them left a TURN that refused every client, an
 * admin API that refused every request. -ENOMEM if a copy fails.
 */
static int
keep_switched(const struct switched *sw, const struct ice_config *o, struct ice_config *n)
{
	if (sw->turn) {
		if (copy_turn(&n->turn, &o->turn) < 0)
			return -ENOMEM;
	} else if (sw->turn_tls) {
		if (keep_str(NULL, NULL, o->turn.tls.cert, &n->turn.tls.cert) < 0 ||
		    keep_str(NULL, NULL, o->turn.tls.key, &n->turn.tls.key) < 0 ||
		    keep_str(NULL, NULL, o->turn.tls.server_name, &n->turn.tls.server_name) < 0)
			return -ENOMEM;
	}
	if (sw->stun)
		n->stun = o->stun;
	if (sw->https) {
		if (keep_str(NULL, NULL, o->http.tls_cert, &n->http.tls_cert) < 0 ||
		    keep_str(NULL, NULL, o->http.tls_key, &n->http.tls_key) < 0)
			return -ENOMEM;
		n->http.tls_check_interval_s = o->http.tls_check_interval_s;
	}
	if (sw->admin && copy_admin(&n->admin, &o->admin) < 0)
		return -ENOMEM;
	return 0;
}

int
ice_config_reload_keep(const struct ice_config *cur, struct ice_config *next, char *changed,
                       size_t len)
{
	struct restart_list r = { .text = changed, .len = len };
	struct switched sw;

	if (len > 0)
		changed[0] = '\0';
	switched_of(&sw, cur, next); /* before the keys are kept */
	if (keep_restart_only(&r, cur, next) < 0 || keep_switched(&sw, cur, next) < 0)
		return -ENOMEM;
	next->generation = cur->generation + 1;
	return r.n;
}
