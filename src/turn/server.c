/*
 * The per-worker TURN server: its pools, indexes and timer wheels, the
 * lookups every path uses, and allocation teardown. Each object keeps its
 * exact expiry time and every lookup honours it, so behaviour at a lifetime
 * boundary is exact whenever net runs turn_expire; the wheels only reclaim.
 * A refresh that extends a lifetime does not touch the wheel: the old timer
 * fires, sees the later expiry and re-arms once (nginx's lazy timer update).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "turn_int.h"

enum {
	MIN_BUCKETS = 64,
};

void
turn_count(struct turn_server *srv, enum ice_metric_id id)
{
	ice_metrics_inc(srv->m, id);
}

void
turn_count_deny(struct turn_server *srv, enum turn_deny why)
{
	static const enum ice_metric_id ids[TURN_DENY_COUNT] = {
		[TURN_DENY_NONE] = ICE_M_TURN_DENY_CONFIG, /* unused */
		[TURN_DENY_LOOPBACK] = ICE_M_TURN_DENY_LOOPBACK,
		[TURN_DENY_UNSPECIFIED] = ICE_M_TURN_DENY_UNSPECIFIED,
		[TURN_DENY_MULTICAST] = ICE_M_TURN_DENY_MULTICAST,
		[TURN_DENY_LINK_LOCAL] = ICE_M_TURN_DENY_LINK_LOCAL,
		[TURN_DENY_BROADCAST] = ICE_M_TURN_DENY_BROADCAST,
		[TURN_DENY_METADATA] = ICE_M_TURN_DENY_METADATA,
		[TURN_DENY_PRIVATE] = ICE_M_TURN_DENY_PRIVATE,
		[TURN_DENY_CGNAT] = ICE_M_TURN_DENY_CGNAT,
		[TURN_DENY_RESERVED] = ICE_M_TURN_DENY_RESERVED,
		[TURN_DENY_SELF] = ICE_M_TURN_DENY_SELF,
		[TURN_DENY_CONFIG] = ICE_M_TURN_DENY_CONFIG,
	};

	if (why > TURN_DENY_NONE && why < TURN_DENY_COUNT)
		turn_count(srv, ids[why]);
}

/* ---- keys ---- */

static size_t
put_addr(uint8_t *k, const struct ice_addr *a)
{
	int n = ice_addr_iplen(a);

	k[0] = a->family;
	k[1] = (uint8_t)(a->port >> 8);
	k[2] = (uint8_t)a->port;
	memcpy(k + 3, a->ip, (size_t)n);
	return 3 + (size_t)n;
}

static uint64_t
ft_hash(const struct turn_server *srv, const struct turn_5tuple *ft)
{
	uint8_t k[2 * 19 + 1];
	size_t n = put_addr(k, &ft->client);

	n += put_addr(k + n, &ft->server);
	k[n++] = ft->proto;
	return ice_siphash(&srv->hkey, k, n);
}

static bool
ft_equal(const struct turn_5tuple *a, const struct turn_5tuple *b)
{
	return a->proto == b->proto && ice_addr_equal(&a->client, &b->client) &&
	       ice_addr_equal(&a->server, &b->server);
}

static uint64_t
handle_hash(int handle)
{
	/* Handles are net's small integers, not client input: Fibonacci hashing. */
	return (uint64_t)(uint32_t)handle * 0x9E3779B97F4A7C15ull;
}

uint64_t
turn_hash_username(const struct turn_server *srv, const uint8_t *u, size_t len)
{
	return ice_siphash(&srv->hkey, u, len);
}

void
turn_cred_store(struct turn_cred *dst, const struct ltc_cred *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->expiry = src->expiry;
	memcpy(dst->key, src->key, sizeof(dst->key));
	dst->key_len = src->key_len;
	dst->pw_alg = src->pw_alg;
	dst->mac_alg = (uint8_t)src->mac.alg;
}

void
turn_cred_load(const struct turn_cred *src, struct ltc_cred *dst)
{
	memset(dst, 0, sizeof(*dst));
	dst->expiry = src->expiry;
	memcpy(dst->key, src->key, sizeof(dst->key));
	dst->key_len = src->key_len;
	dst->pw_alg = src->pw_alg;
	/* mac.alg stays 0 (no cache) if this cannot be rebuilt: ltc_verify
	 * then derives the key again rather than trusting a zero mac. */
	if (src->mac_alg != 0 && stun_hmac_key_init(&dst->mac, (enum stun_hmac_alg)src->mac_alg,
	                                            src->key, src->key_len) < 0)
		memset(&dst->mac, 0, sizeof(dst->mac));
}

/* ---- lookups ---- */

static struct turn_alloc *
alloc_lookup(struct turn_server *srv, const struct turn_5tuple *ft)
{
	uint64_t h = ft_hash(srv, ft);

	for (struct htab_node *n = htab_first(&srv->by_ft, h); n != NULL; n = n->next) {
		struct turn_alloc *a = TURN_CONTAINER(n, struct turn_alloc, by_ft);

		if (n->hash == h && ft_equal(&a->ft, ft))
			return a;
	}
	return NULL;
}

struct turn_alloc *
turn_alloc_find(struct turn_server *srv, const struct turn_5tuple *ft, ice_ms_t now)
{
	struct turn_alloc *a = alloc_lookup(srv, ft);

	if (a != NULL && now >= a->expires) {
		/* Due but the wheel has not run yet: end it now, exactly on time. */
		turn_alloc_free(srv, a, TURN_END_EXPIRED);
		return NULL;
	}
	return a;
}

struct turn_relay *
turn_relay_find(struct turn_server *srv, int handle)
{
	uint64_t h = handle_hash(handle);

	for (struct htab_node *n = htab_first(&srv->by_handle, h); n != NULL; n = n->next) {
		struct turn_relay *r = TURN_CONTAINER(n, struct turn_relay, node);

		if (r->handle == handle)
			return r;
	}
	return NULL;
}

struct turn_relay *
turn_alloc_relay_for(struct turn_alloc *a, int family)
{
	for (int i = 0; i < 2; i++)
		if (a->relay[i].handle >= 0 && a->relay[i].addr.family == family)
			return &a->relay[i];
	return NULL;
}

/* ---- indexing and expiry ---- */

void
turn_alloc_index(struct turn_server *srv, struct turn_alloc *a)
{
	htab_insert(&srv->by_ft, &a->by_ft, ft_hash(srv, &a->ft));
	srv->n_allocs++;
	turn_count(srv, ICE_M_TURN_ALLOCATIONS);
	turn_count(srv, ICE_M_TURN_ALLOC_CREATED);
}

void
turn_alloc_index_relay(struct turn_server *srv, struct turn_relay *r)
{
	htab_insert(&srv->by_handle, &r->node, handle_hash(r->handle));
}

void
turn_alloc_set_expiry(struct turn_server *srv, struct turn_alloc *a, ice_ms_t expires)
{
	a->expires = expires;
	/* Later than the armed deadline: leave it, the timer re-arms when it fires. */
	if (!timerwheel_node_is_armed(&a->timer) || expires < a->timer.deadline)
		timerwheel_add(&srv->alloc_timers, &a->timer, expires);
}

static void
alloc_timer_fired(void *ctx, struct timerwheel_node *n)
{
	struct turn_server *srv = ctx;
	struct turn_alloc *a = TURN_CONTAINER(n, struct turn_alloc, timer);

	if (a->expires > n->deadline) {
		timerwheel_add(&srv->alloc_timers, &a->timer, a->expires);
		return;
	}
	turn_alloc_free(srv, a, TURN_END_EXPIRED);
}

void
turn_alloc_free(struct turn_server *srv, struct turn_alloc *a, enum turn_end why)
{
	static const enum ice_metric_id end_ids[] = {
		[TURN_END_EXPIRED] = ICE_M_TURN_ALLOC_END_EXPIRED,
		[TURN_END_DELETED] = ICE_M_TURN_ALLOC_END_DELETED,
		[TURN_END_CLOSED] = ICE_M_TURN_ALLOC_END_CLOSED,
		[TURN_END_SHUTDOWN] = ICE_M_TURN_ALLOC_END_SHUTDOWN,
	};

	while (a->chans != NULL)
		turn_chan_free(srv, a->chans);
	while (a->perms != NULL)
		turn_perm_free(srv, a->perms);
	for (int i = 0; i < 2; i++) {
		struct turn_relay *r = &a->relay[i];

		if (r->handle < 0)
			continue;
		if (why != TURN_END_ABORTED)
			htab_remove(&srv->by_handle, &r->node);
		srv->io.relay_close(srv->io.ctx, r->handle);
		r->handle = -1;
	}
	timerwheel_del(&srv->alloc_timers, &a->timer);
	turn_shared_release(srv->sh, a->user, why == TURN_END_ABORTED);
	if (why != TURN_END_ABORTED && ice_log_level_cur >= ICE_LOG_DEBUG) {
		static const char *const whys[] = { "expired", "deleted", "connection closed",
			                            "shutdown" };
		char cl[ICE_ADDR_STRLEN];

		log_debug("turn: allocation for %s over %s ended: %s",
		          ice_addr_str(&a->ft.client, cl, sizeof(cl)), turn_proto_str(a->ft.proto),
		          whys[why]);
	}
	if (why != TURN_END_ABORTED) {
		htab_remove(&srv->by_ft, &a->by_ft);
		srv->n_allocs--;
		ice_metrics_dec(srv->m, ICE_M_TURN_ALLOCATIONS);
		turn_count(srv, end_ids[why]);
	}
	explicit_bzero(&a->cred, sizeof(a->cred));
	ice_pool_put(srv->alloc_pool, a);
}

/* ---- lifecycle ---- */

static void
relay_families(struct turn_server *srv, const struct ice_config *cfg)
{
	const struct ice_config_turn *t = &cfg->turn;

	for (size_t i = 0; i < t->n_relay_ip_range; i++) {
		srv->relay_v4 |= t->relay_ip_range[i].family == AF_INET;
		srv->relay_v6 |= t->relay_ip_range[i].family == AF_INET6;
	}
	if (t->n_relay_ip_range > 0)
		return;
	/* No relay range: relays bind where the server listens. */
	srv->relay_v4 = true;
	for (size_t i = 0; i < t->n_listen; i++)
		srv->relay_v6 |= t->listen[i].family == AF_INET6;
}

struct turn_server *
turn_server_new(const struct ice_config *cfg, struct turn_shared *sh, const struct turn_io *io,
                ice_ms_t now, uint64_t unix_s)
{
	const struct ice_config_turn *t = &cfg->turn;
	struct turn_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return NULL;
	srv->cfg = cfg;
	srv->sh = sh;
	srv->io = *io;
	srv->unix_s = unix_s;
	turn_policy_init(&srv->policy, cfg);
	relay_families(srv, cfg);
	srv->max_lifetime_s = TURN_MAX_LIFETIME_S;
	srv->default_lifetime_s =
		t->allocation_lifetime_s ? t->allocation_lifetime_s : TURN_DEFAULT_LIFETIME_S;
	srv->default_lifetime_s = ICE_MIN(srv->default_lifetime_s, srv->max_lifetime_s);

	srv->ltc.realm = t->realm ? t->realm : "";
	srv->ltc.realm_len = strlen(srv->ltc.realm);
	srv->ltc.secrets = (const char *const *)t->auth_secrets;
	srv->ltc.secret_lens = t->auth_secret_lens;
	srv->ltc.n_secrets = t->n_auth_secrets;
	srv->ltc.nonce_key = turn_shared_nonce_key(sh);
	srv->ltc.nonce_lifetime = LTC_NONCE_LIFETIME_MS;

	timerwheel_init(&srv->alloc_timers, now, alloc_timer_fired, srv);
	timerwheel_init(&srv->perm_timers, now, turn_perm_timer_fired, srv);
	timerwheel_init(&srv->chan_timers, now, turn_chan_timer_fired, srv);
	srv->alloc_pool = ice_pool_new(sizeof(struct turn_alloc), t->max_allocations);
	srv->perm_pool = ice_pool_new(sizeof(struct turn_perm), 0);
	srv->chan_pool = ice_pool_new(sizeof(struct turn_chan), 0);
	if (ice_siphash_key_random(&srv->hkey) < 0 || srv->alloc_pool == NULL ||
	    srv->perm_pool == NULL || srv->chan_pool == NULL ||
	    htab_init(&srv->by_ft, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->by_handle, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->perms, MIN_BUCKETS) < 0 || htab_init(&srv->chan_num, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->chan_peer, MIN_BUCKETS) < 0) {
		turn_server_free(srv);
		return NULL;
	}
	return srv;
}

void
turn_server_free(struct turn_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->by_ft.b != NULL) {
		/* Removing never reallocates the bucket array during this walk. */
		srv->by_ft.min = SIZE_MAX;
		srv->by_handle.min = SIZE_MAX;
		for (size_t i = 0; i <= srv->by_ft.mask; i++)
			while (srv->by_ft.b[i] != NULL)
				turn_alloc_free(
					srv,
					TURN_CONTAINER(srv->by_ft.b[i], struct turn_alloc, by_ft),
					TURN_END_SHUTDOWN);
	}
	if (srv->sh != NULL && srv->io.relay_close != NULL)
		turn_shared_expire_reservations(srv->sh, &srv->io, UINT64_MAX);
	htab_fini(&srv->by_ft);
	htab_fini(&srv->by_handle);
	htab_fini(&srv->perms);
	htab_fini(&srv->chan_num);
	htab_fini(&srv->chan_peer);
	ice_pool_free(srv->alloc_pool);
	ice_pool_free(srv->perm_pool);
	ice_pool_free(srv->chan_pool);
	free(srv);
}

void
turn_server_set_metrics(struct turn_server *srv, struct ice_metrics *m)
{
	srv->m = m;
}

void
turn_server_set_unix_time(struct turn_server *srv, uint64_t unix_s)
{
	srv->unix_s = unix_s;
}

int
turn_server_add_self_address(struct turn_server *srv, const struct ice_addr *a)
{
	return turn_policy_add_self(&srv->policy, a);
}

void
turn_expire(struct turn_server *srv, ice_ms_t now)
{
	/* Channels first: they pin permissions, which pin nothing. */
	timerwheel_run(&srv->chan_timers, now);
	timerwheel_run(&srv->perm_timers, now);
	timerwheel_run(&srv->alloc_timers, now);
	turn_shared_expire_reservations(srv->sh, &srv->io, now);
	turn_shared_expire_users(srv->sh, now);
}

void
turn_close_5tuple(struct turn_server *srv, const struct turn_5tuple *ft, ice_ms_t now)
{
	struct turn_alloc *a = alloc_lookup(srv, ft);

	(void)now;
	if (a != NULL)
		turn_alloc_free(srv, a, TURN_END_CLOSED);
}

size_t
turn_server_allocations(const struct turn_server *srv)
{
	return srv->n_allocs;
}

size_t
turn_server_memory(const struct turn_server *srv)
{
	return sizeof(*srv) + ice_pool_mapped(srv->alloc_pool) + ice_pool_mapped(srv->perm_pool) +
	       ice_pool_mapped(srv->chan_pool) + htab_bytes(&srv->by_ft) +
	       htab_bytes(&srv->by_handle) + htab_bytes(&srv->perms) + htab_bytes(&srv->chan_num) +
	       htab_bytes(&srv->chan_peer);
}
