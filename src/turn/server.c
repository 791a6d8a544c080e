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
		[TURN_DENY_LOCAL] = ICE_M_TURN_DENY_LOCAL,
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

/* Ids are sequential: hashed with the key so a bucket is not guessable. */
static uint64_t
id_hash(const struct turn_server *srv, uint64_t id)
{
	uint8_t k[8];

	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(id >> (8 * i));
	return ice_siphash(&srv->hkey, k, sizeof(k));
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

struct turn_alloc *
turn_alloc_find_id(struct turn_server *srv, uint64_t id)
{
	uint64_t h = id_hash(srv, id);

	for (struct htab_node *n = htab_first(&srv->by_id, h); n != NULL; n = n->next) {
		struct turn_alloc *a = TURN_CONTAINER(n, struct turn_alloc, by_id);

		if (a->id == id)
			return a;
	}
	return NULL;
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
	htab_insert(&srv->by_id, &a->by_id, id_hash(srv, a->id));
	srv->n_allocs++;
	turn_count(srv, ICE_M_TURN_ALLOCATIONS);
	turn_count(srv, ICE_M_TURN_ALLOC_CREATED);
}

void
turn_alloc_move(struct turn_server *srv, struct turn_alloc *a, const struct turn_5tuple *ft)
{
	htab_remove(&srv->by_ft, &a->by_ft);
	if (a->ft.proto != TURN_PROTO_UDP && srv->io.link_hold != NULL) {
		srv->io.link_hold(srv->io.ctx, ft->link, +1);
		srv->io.link_hold(srv->io.ctx, a->ft.link, -1);
	}
	a->ft = *ft;
	htab_insert(&srv->by_ft, &a->by_ft, ft_hash(srv, &a->ft));
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

/* The session record: what net logs when an allocation ends. */
static void
alloc_end_event(struct turn_server *srv, const struct turn_alloc *a, enum turn_end why)
{
	static const char *const whys[] = {
		[TURN_END_EXPIRED] = "expired", [TURN_END_DELETED] = "deleted",
		[TURN_END_CLOSED] = "closed",   [TURN_END_SHUTDOWN] = "shutdown",
		[TURN_END_REVOKED] = "revoked", [TURN_END_KILLED] = "killed",
		[TURN_END_ABORTED] = "aborted",
	};
	struct turn_event ev = {
		.kind = TURN_EV_ALLOC_END,
		.ft = &a->ft,
		.alloc_id = a->id,
		.relay = &a->relay[0].addr,
		.traffic = &a->traffic,
		.end = why,
		.why = whys[why],
	};

	if (srv->io.event == NULL)
		return;
	if (a->wuser != NULL) {
		ev.user = a->wuser->name;
		ev.user_len = a->wuser->name_len;
	}
	ev.duration_ms = srv->now > a->created ? srv->now - a->created : 0;
	srv->io.event(srv->io.ctx, &ev);
}

void
turn_alloc_free(struct turn_server *srv, struct turn_alloc *a, enum turn_end why)
{
	static const enum ice_metric_id end_ids[] = {
		[TURN_END_EXPIRED] = ICE_M_TURN_ALLOC_END_EXPIRED,
		[TURN_END_DELETED] = ICE_M_TURN_ALLOC_END_DELETED,
		[TURN_END_CLOSED] = ICE_M_TURN_ALLOC_END_CLOSED,
		[TURN_END_SHUTDOWN] = ICE_M_TURN_ALLOC_END_SHUTDOWN,
		[TURN_END_REVOKED] = ICE_M_TURN_ALLOC_END_REVOKED,
		[TURN_END_KILLED] = ICE_M_TURN_ALLOC_END_KILLED,
	};
	bool visible = why != TURN_END_ABORTED;

	if (visible)
		alloc_end_event(srv, a, why);
	while (a->tconns != NULL)
		turn_tconn_free(srv, a->tconns, true);
	while (a->chans != NULL)
		turn_chan_free(srv, a->chans);
	while (a->perms != NULL)
		turn_perm_free(srv, a->perms);
	for (int i = 0; i < 2; i++) {
		struct turn_relay *r = &a->relay[i];

		if (r->handle < 0)
			continue;
		if (visible)
			htab_remove(&srv->by_handle, &r->node);
		if (a->tcp)
			srv->io.tcp_relay_close(srv->io.ctx, r->handle);
		else
			srv->io.relay_close(srv->io.ctx, r->handle);
		r->handle = -1;
	}
	timerwheel_del(&srv->alloc_timers, &a->timer);
	turn_shared_release(srv->sh, a->user, !visible);
	if (a->cluster_held && a->wuser != NULL)
		srv->io.quota_release(srv->io.ctx, a->wuser->name, a->wuser->name_len);
	if (a->wuser != NULL && a->wuser->bw_over)
		srv->bw_throttled--;
	turn_wuser_detach(srv, a);
	if (visible) {
		htab_remove(&srv->by_ft, &a->by_ft);
		htab_remove(&srv->by_id, &a->by_id);
		srv->n_allocs--;
		ice_metrics_dec(srv->m, ICE_M_TURN_ALLOCATIONS);
		turn_count(srv, end_ids[why]);
		if (a->ft.proto != TURN_PROTO_UDP && srv->io.link_hold != NULL)
			srv->io.link_hold(srv->io.ctx, a->ft.link, -1);
	}
	turn_realm_unref(a->realm);
	explicit_bzero(&a->cred, sizeof(a->cred));
	ice_pool_put(srv->alloc_pool, a);
}

/* ---- lifecycle ---- */

/*
 * Take s (and what it points at) as the settings from now on: the
 * credential mechanism, the lifetimes and the policy are derived from it.
 */
struct turn_realm *
turn_realm_ref(struct turn_realm *r)
{
	if (r != NULL)
		r->refs++;
	return r;
}

void
turn_realm_unref(struct turn_realm *r)
{
	if (r != NULL && --r->refs == 0)
		free(r);
}

/* srv->realm for name: kept when unchanged, else a new one. false on ENOMEM. */
static bool
realm_set(struct turn_server *srv, const char *name)
{
	size_t len = strlen(name);
	struct turn_realm *r;

	if (srv->realm != NULL && srv->realm->len == len && memcmp(srv->realm->s, name, len) == 0)
		return true;
	r = malloc(sizeof(*r) + len + 1);
	if (r == NULL)
		return false;
	r->refs = 1;
	r->len = len;
	memcpy(r->s, name, len + 1);
	turn_realm_unref(srv->realm);
	srv->realm = r;
	return true;
}

void
turn_settings_apply(struct turn_server *srv, const struct turn_settings *s)
{
	srv->set = *s;
	srv->max_lifetime_s = TURN_MAX_LIFETIME_S;
	srv->default_lifetime_s =
		s->allocation_lifetime_s ? s->allocation_lifetime_s : TURN_DEFAULT_LIFETIME_S;
	srv->default_lifetime_s = ICE_MIN(srv->default_lifetime_s, srv->max_lifetime_s);
	/* Out of memory, the old realm stays: its allocations still work. */
	if (realm_set(srv, s->realm ? s->realm : "")) {
		srv->ltc.realm = srv->realm->s;
		srv->ltc.realm_len = srv->realm->len;
	}
	srv->ltc.secrets = s->secrets;
	srv->ltc.secret_lens = s->secret_lens;
	srv->ltc.n_secrets = s->n_secrets;
	srv->ltc.format = (enum ice_rest_format)s->credential_format;
	srv->ltc.grace_s = s->credential_grace_s;
	/* A copy per server: the feature bits are the process's (userhash is
	 * restart-only), the key may come with a reload of the secret. */
	srv->nonce_key = *turn_shared_nonce_key(srv->sh);
	if (s->nonce_key_shared)
		srv->nonce_key.k = s->shared_nonce_key;
	srv->ltc.nonce_key = &srv->nonce_key;
	srv->ltc.nonce_unix_clock = s->nonce_key_shared;
	turn_policy_init(&srv->policy, s);
	turn_bw_reconfigure(srv, srv->now);
}

struct turn_server *
turn_server_new(const struct turn_settings *s, struct turn_shared *sh, const struct turn_io *io,
                unsigned id, ice_ms_t now, uint64_t unix_s)
{
	struct turn_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return NULL;
	srv->sh = sh;
	srv->io = *io;
	srv->unix_s = unix_s;
	srv->now = now;
	srv->id_base = (uint64_t)(id & 0xffffu) << 48;
	srv->wid = id;
	srv->bw_tick_last = now;
	turn_settings_apply(srv, s);
	srv->ltc.nonce_lifetime = LTC_NONCE_LIFETIME_MS;
	srv->ltc.userhash = turn_shared_userhash(sh);

	timerwheel_init(&srv->alloc_timers, now, alloc_timer_fired, srv);
	timerwheel_init(&srv->perm_timers, now, turn_perm_timer_fired, srv);
	timerwheel_init(&srv->chan_timers, now, turn_chan_timer_fired, srv);
	timerwheel_init(&srv->tconn_timers, now, turn_tconn_timer_fired, srv);
	srv->alloc_pool = ice_pool_new(sizeof(struct turn_alloc), s->max_allocations);
	srv->perm_pool = ice_pool_new(sizeof(struct turn_perm), 0);
	srv->chan_pool = ice_pool_new(sizeof(struct turn_chan), 0);
	srv->tconn_pool = ice_pool_new(sizeof(struct turn_tconn), 0);
	if (srv->realm == NULL || ice_siphash_key_random(&srv->hkey) < 0 ||
	    srv->alloc_pool == NULL || srv->perm_pool == NULL || srv->chan_pool == NULL ||
	    srv->tconn_pool == NULL || htab_init(&srv->by_ft, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->by_handle, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->by_id, MIN_BUCKETS) < 0 || htab_init(&srv->perms, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->chan_num, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->chan_peer, MIN_BUCKETS) < 0 ||
	    htab_init(&srv->wusers, MIN_BUCKETS) < 0 || htab_init(&srv->tconns, MIN_BUCKETS) < 0) {
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
	htab_fini(&srv->by_id);
	htab_fini(&srv->perms);
	htab_fini(&srv->chan_num);
	htab_fini(&srv->chan_peer);
	htab_fini(&srv->tconns);
	turn_wusers_fini(srv);
	turn_pending_fini(srv);
	turn_realm_unref(srv->realm);
	ice_pool_free(srv->alloc_pool);
	ice_pool_free(srv->perm_pool);
	ice_pool_free(srv->chan_pool);
	ice_pool_free(srv->tconn_pool);
	free(srv);
}

void
turn_server_set_metrics(struct turn_server *srv, struct ice_metrics *m)
{
	srv->m = m;
}

void
turn_server_set_challenge_limit(struct turn_server *srv, struct ice_ratelimit *rl)
{
	srv->challenge_rl = rl;
}

void
turn_server_set_unix_time(struct turn_server *srv, uint64_t unix_s)
{
	srv->unix_s = unix_s;
}

void
turn_expire(struct turn_server *srv, ice_ms_t now)
{
	srv->now = now;
	/* Channels first: they pin permissions, which pin nothing. */
	timerwheel_run(&srv->tconn_timers, now);
	timerwheel_run(&srv->chan_timers, now);
	timerwheel_run(&srv->perm_timers, now);
	timerwheel_run(&srv->alloc_timers, now);
	turn_shared_expire_reservations(srv->sh, &srv->io, now);
	turn_shared_expire_users(srv->sh, now);
	turn_bandwidth_tick(srv, now);
	if (srv->n_pending > 0)
		turn_pending_expire(srv, now);
}

void
turn_close_5tuple(struct turn_server *srv, const struct turn_5tuple *ft, ice_ms_t now)
{
	struct turn_alloc *a = alloc_lookup(srv, ft);

	srv->now = now;
	if (srv->n_pending > 0)
		turn_pending_close(srv, ft);
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
	       ice_pool_mapped(srv->chan_pool) + ice_pool_mapped(srv->tconn_pool) +
	       htab_bytes(&srv->tconns) + htab_bytes(&srv->by_ft) + htab_bytes(&srv->by_handle) +
	       htab_bytes(&srv->perms) + htab_bytes(&srv->chan_num) + htab_bytes(&srv->chan_peer);
}
