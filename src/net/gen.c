/*
 * Generations (gen.h): built on the main thread from a configuration
 * snapshot, the revocation set and the drain flag; read by the workers.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include "icestation/auth_ltc.h"
#include "icestation/turn_revoke.h"

#include "net_internal.h"

static bool
addr_is_wildcard(const struct ice_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, (size_t)ice_addr_iplen(a)) == 0;
}

static void
self_add_cidr(struct net_gen *g, const struct ice_cidr *c)
{
	for (size_t i = 0; i < g->n_self; i++)
		if (memcmp(&g->self[i], c, sizeof(*c)) == 0)
			return;
	if (g->n_self < TURN_POLICY_MAX_SELF)
		g->self[g->n_self++] = *c;
}

static void
self_add(struct net_gen *g, const struct ice_addr *a)
{
	struct ice_cidr c;
	int n = ice_addr_iplen(a);

	if (n == 0 || addr_is_wildcard(a))
		return;
	memset(&c, 0, sizeof(c));
	c.family = a->family;
	c.prefix = (uint8_t)(n * 8);
	memcpy(c.ip, a->ip, (size_t)n);
	self_add_cidr(g, &c);
}

/* Listen addresses as the server's own. A wildcard adds nothing: the
 * interface addresses behind it are the host's, denied on every port
 * (g->local), as no relay of ours is there unless relay-ip-range says so. */
static void
self_add_listen(struct net_gen *g, const struct ice_addr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		self_add(g, &v[i]);
}

/* The server's own addresses for the peer policy: public IPs, listen and
 * relay addresses, and the relay-ip-range prefixes. */
static void
self_build(struct net_gen *g, const struct ice_net *net, const struct ice_config *cfg)
{
	const struct ice_config *boot = net->cfg;
	struct ice_addr turn[2], stun[2];

	ice_public_ip_pair(&net->public_turn, &cfg->turn.public_ip, turn);
	ice_public_ip_pair(&net->public_stun, &cfg->stun.public_ip, stun);
	for (int i = 0; i < 2; i++) {
		self_add(g, &turn[i]);
		self_add(g, &stun[i]);
	}
	if (boot->stun.enabled)
		self_add_listen(g, boot->stun.listen, boot->stun.n_listen);
	if (boot->turn.enabled)
		self_add_listen(g, boot->turn.listen, boot->turn.n_listen);
	for (size_t k = 0; k < net->n_relay_addrs; k++)
		self_add(g, &net->relay_addrs[k]);
	for (size_t i = 0; i < boot->turn.n_relay_ip_range; i++)
		self_add_cidr(g, &boot->turn.relay_ip_range[i]);
}

/* The turn settings of g: live keys from cfg, restart-only ones from the
 * net as started. */
static void
settings_build(struct net_gen *g, const struct ice_net *net, const struct ice_config *cfg)
{
	const struct ice_config_turn *t = &cfg->turn;
	struct turn_settings *s = &g->turn;
	struct ice_addr pub[2];

	memset(s, 0, sizeof(*s));
	s->realm = t->realm;
	s->secrets = (const char *const *)t->auth_secrets;
	s->secret_lens = t->auth_secret_lens;
	s->n_secrets = t->n_auth_secrets;
	s->allocation_lifetime_s = t->allocation_lifetime_s;
	s->max_allocations = t->max_allocations;
	s->max_allocations_per_user = t->max_allocations_per_user;
	s->allocations_per_minute_per_user = t->allocations_per_minute_per_user;
	s->max_bps_per_allocation = t->max_bps_per_allocation;
	s->max_bps_per_user = t->max_bps_per_user;
	s->max_bytes_per_user_per_day = t->max_bytes_per_user_per_day;
	s->budget_floor_bps = t->budget_floor_bps;
	s->bps_capacity = t->bps_capacity;
	s->tcp_relay = t->tcp_relay;
	s->max_tcp_connections = t->max_tcp_connections;
	s->workers = net->cfg->workers;
	/* The cluster section is restart-only: the net's first snapshot says. */
	s->cluster_quota = net->cfg->cluster.enabled && (t->max_allocations_per_user != 0 ||
	                                                 t->allocations_per_minute_per_user != 0);
	/* One nonce key for every node, from the secret they share; a new
	 * secret gives a new key (outstanding nonces then cost one 438). */
	if (net->cfg->cluster.enabled && s->n_secrets > 0) {
		struct ltc_nonce_key k;

		if (ltc_nonce_key_from_bytes(&k, (const uint8_t *)s->secrets[0],
		                             s->secret_lens[0]) == 0) {
			s->nonce_key_shared = true;
			s->shared_nonce_key = k.k;
		}
		explicit_bzero(&k, sizeof(k));
	}
	ice_public_ip_pair(&net->public_turn, &t->public_ip, pub);
	s->public_v4 = pub[0];
	s->public_v6 = pub[1];
	s->relay_ip_range = net->cfg->turn.relay_ip_range;
	s->n_relay_ip_range = net->cfg->turn.n_relay_ip_range;
	for (size_t k = 0; k < net->n_relay_addrs; k++) {
		s->relay_v4 |= net->relay_addrs[k].family == AF_INET;
		s->relay_v6 |= net->relay_addrs[k].family == AF_INET6;
	}
	s->denied_peer_ip = t->denied_peer_ip;
	s->n_denied_peer_ip = t->n_denied_peer_ip;
	s->allowed_peer_ip = t->allowed_peer_ip;
	s->n_allowed_peer_ip = t->n_allowed_peer_ip;
	s->self = g->self;
	s->n_self = g->n_self;
	s->local_addrs = g->local;
	s->n_local_addrs = g->n_local;
	s->relay_port_min = t->relay_port_min;
	s->relay_port_max = t->relay_port_max;
	s->draining = g->draining;
	s->alternate_server = t->alternate_server;
	s->mobility = t->mobility;
	s->revoked = g->revoked;
	s->credential_format = (uint8_t)t->credential_format;
	s->credential_grace_s = t->credential_grace_s;
	s->userhash_table_size = t->userhash ? t->userhash_table_size : 0;
}

struct net_gen *
net_gen_new(const struct ice_net *net, struct ice_config *cfg, struct turn_revocations *revoked,
            bool draining)
{
	struct net_gen *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	atomic_init(&g->refs, 1);
	g->cfg = ice_config_ref(cfg);
	g->revoked = turn_revocations_ref(revoked);
	g->draining = draining;
	g->tls_ctx = net_tls_ctx_ref(net->tls_ctx);
	/* A copy: the main thread replaces the net's list while workers still
	 * read this generation's. */
	if (net->host_addrs.n > 0) {
		g->local = calloc(net->host_addrs.n, sizeof(g->local[0]));
		if (g->local == NULL) {
			net_gen_unref(g);
			return NULL;
		}
		memcpy(g->local, net->host_addrs.v, net->host_addrs.n * sizeof(g->local[0]));
		g->n_local = net->host_addrs.n;
	}
	self_build(g, net, cfg);
	settings_build(g, net, cfg);
	return g;
}

struct net_gen *
net_gen_ref(struct net_gen *g)
{
	if (g != NULL)
		atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void
net_gen_unref(struct net_gen *g)
{
	if (g == NULL || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	turn_revocations_unref(g->revoked);
	net_tls_ctx_unref(g->tls_ctx);
	ice_config_unref(g->cfg);
	free(g->local);
	free(g);
}
