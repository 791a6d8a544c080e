/*
 * What no single key can check: defaults that depend on other keys, "auto"
 * values (workers, public-ip, relay-ip-range), the env overrides, and rules
 * spanning keys (tls needs cert and key, per-user quota <= total, ...).
 * Runs once the schema walk is clean.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/log.h"

#include "cfg.h"

static const struct cfg_pos *
seen(struct cfg_ctx *ctx, enum cfg_seen_id id, enum cfg_seen_id alt)
{
	if (ctx->has_seen[id])
		return &ctx->seen[id];
	if (ctx->has_seen[alt])
		return &ctx->seen[alt];
	return NULL;
}

void
cfg_outward(struct cfg_ctx *ctx)
{
	char ip[ICE_ADDR_STRLEN];

	if (ctx->outward_done)
		return;
	ice_config_outward_addr(&ctx->outward, &ctx->outward_is_fallback);
	ctx->outward_done = true;
	if (!ctx->outward_is_fallback)
		log_debug("config: outward interface address is %s",
		          ice_addr_ip_str(&ctx->outward, ip, sizeof(ip)));
}

static void
default_listen(struct ice_addr *listen, size_t *n)
{
	if (*n != 0)
		return;
	ice_addr_parse_ip(&listen[0], "0.0.0.0", 0);
	ice_addr_parse_ip(&listen[1], "::", 0);
	*n = 2;
}

/*
 * A written public address that no listen address receives: the operator's
 * word about the network (a NAT or a forwarder may deliver it), so only a
 * warning, for each family written. For auto the same is a fault, judged
 * where the address in force is used (ice_public_ip_check), since auto
 * follows the host.
 */
static void
warn_unlistened(const struct ice_public_ip *p, const struct ice_addr *listen, size_t n,
                const char *section)
{
	const struct ice_addr *fam[2] = { &p->addr, &p->second };
	char ip[ICE_ADDR_STRLEN];

	if (p->source == ICE_PUBLIC_IP_AUTO)
		return;
	for (int i = 0; i < 2; i++) {
		if (fam[i]->family == 0 || ice_public_ip_check(ICE_PUBLIC_IP_AUTO, fam[i], listen,
		                                               n) == ICE_PUBLIC_IP_USABLE)
			continue;
		log_warnx("config: subserver.%s.public-ip %s is not an address any %s.listen "
		          "address receives: clients reach it only if something forwards it here",
		          section, ice_addr_ip_str(fam[i], ip, sizeof(ip)), section);
	}
}

static int
check_transports(struct cfg_ctx *ctx, unsigned mask, enum cfg_seen_id id, const char *what)
{
	if (mask != 0)
		return 0;
	cfg_error(ctx, seen(ctx, id, id),
	          "subserver.%s.transports: at least one transport "
	          "is needed while %s is enabled",
	          what, what);
	return -EINVAL;
}

static int
check_readable(struct cfg_ctx *ctx, const char *path, enum cfg_seen_id id, const char *what)
{
	if (access(path, R_OK) == 0)
		return 0;
	cfg_error(ctx, seen(ctx, id, id), "tls.%s \"%s\": cannot read: %s", what, path,
	          strerror(errno));
	return -EINVAL;
}

static int
finish_tls(struct cfg_ctx *ctx)
{
	struct ice_config *cfg = ctx->cfg;
	struct ice_config_tls *tls = &cfg->turn.tls;
	const struct cfg_pos *tpos;
	const char *other = NULL;
	int rc = 0;

	tls->enabled = cfg->turn.transports & ICE_TRANSPORT_TLS;
	if (!tls->enabled) {
		if (tls->cert != NULL || tls->key != NULL)
			log_warnx("config: tls.cert/tls.key are set but subserver.turn.transports "
			          "has no tls; no TLS listener");
		return 0;
	}
	tpos = seen(ctx, CFG_SEEN_TURN_TRANSPORTS, CFG_SEEN_TURN);
	if (tls->cert == NULL || tls->key == NULL) {
		cfg_error(ctx, tpos,
		          "subserver.turn.transports has tls, so tls.cert and tls.key "
		          "must both be set");
		return -EINVAL;
	}
	if (check_readable(ctx, tls->cert, CFG_SEEN_TLS_CERT, "cert"))
		rc = -EINVAL;
	if (check_readable(ctx, tls->key, CFG_SEEN_TLS_KEY, "key"))
		rc = -EINVAL;
	/* One TCP port cannot be both: the kernel gives a connection to one
	 * socket (the most specific address), which cannot tell TLS from a
	 * plain STUN/TURN stream. */
	if ((cfg->turn.transports & ICE_TRANSPORT_TCP) && tls->port == cfg->turn.port)
		other = "subserver.turn.port";
	else if (cfg->stun.enabled && (cfg->stun.transports & ICE_TRANSPORT_TCP) &&
	         tls->port == cfg->stun.port)
		other = "subserver.stun.port";
	if (other != NULL) {
		cfg_error(ctx, seen(ctx, CFG_SEEN_TLS_PORT, CFG_SEEN_TURN_TRANSPORTS),
		          "subserver.turn.tls.port %u is also %s, a plain TCP port: one port "
		          "cannot serve both; use another port (5349 is the standard one)",
		          tls->port, other);
		rc = -EINVAL;
	}
	return rc;
}

static int
finish_relay(struct cfg_ctx *ctx)
{
	struct ice_config_turn *t = &ctx->cfg->turn;
	struct ice_cidr *c;

	if (ctx->relay_auto) {
		/* Each family TURN listens on and routes outward (dual stack);
		 * else the single outward guess, as a host with no route has. */
		struct ice_addr pick[2];
		size_t n = 0;

		cfg_outward_families(ctx);
		for (int i = 0; i < 2; i++)
			if (ctx->outward_fam[i].family != 0 &&
			    cfg_listens_on(t->listen, t->n_listen, ctx->outward_fam[i].family))
				pick[n++] = ctx->outward_fam[i];
		if (n == 0) {
			cfg_outward(ctx);
			pick[n++] = ctx->outward;
			if (ctx->outward_is_fallback)
				log_warnx("config: relay-ip-range auto: no interface routes "
				          "outward; relays bind 127.0.0.1 (set relay-ip-range)");
		}
		if (t->n_relay_ip_range + n > ICE_CONFIG_MAX_CIDRS) {
			cfg_error(ctx, &ctx->relay_pos, "relay-ip-range: too many entries");
			return -EINVAL;
		}
		for (size_t k = 0; k < n; k++) {
			c = &t->relay_ip_range[t->n_relay_ip_range++];
			memset(c, 0, sizeof(*c));
			c->family = pick[k].family;
			c->prefix = pick[k].family == AF_INET ? 32 : 128;
			memcpy(c->ip, pick[k].ip, sizeof(c->ip));
		}
	}
	if (t->n_relay_ip_range == 0) {
		cfg_error(ctx, &ctx->relay_pos,
		          "relay-ip-range: expected \"auto\" or at least "
		          "one CIDR, got an empty list");
		return -EINVAL;
	}
	return 0;
}

static int
finish_turn(struct cfg_ctx *ctx)
{
	struct ice_config_turn *t = &ctx->cfg->turn;
	int rc = 0;

	if (t->realm == NULL) {
		cfg_error(ctx, seen(ctx, CFG_SEEN_REALM, CFG_SEEN_TURN),
		          "subserver.turn.realm must be set while TURN is enabled (the shipped "
		          "sub_turn.yml reads it from PEERS_DOMAIN)");
		rc = -EINVAL;
	}
	default_listen(t->listen, &t->n_listen);
	if (check_transports(ctx, t->transports, CFG_SEEN_TURN_TRANSPORTS, "turn"))
		rc = -EINVAL;
	/* The default per-user limit never exceeds a smaller total: only a
	 * per-user value the operator wrote can contradict max-allocations. */
	if (!ctx->has_seen[CFG_SEEN_PER_USER] && t->max_allocations_per_user > t->max_allocations)
		t->max_allocations_per_user = t->max_allocations;
	if (t->max_allocations_per_user > t->max_allocations) {
		cfg_error(ctx, seen(ctx, CFG_SEEN_PER_USER, CFG_SEEN_TURN),
		          "max-allocations-per-user (%u) is larger than max-allocations (%u)",
		          t->max_allocations_per_user, t->max_allocations);
		rc = -EINVAL;
	}
	if (t->fallback_enabled && t->n_fallback_stun_servers == 0) {
		cfg_error(ctx, seen(ctx, CFG_SEEN_FALLBACK, CFG_SEEN_TURN),
		          "ice-api.public-fallback is enabled but stun-servers is empty");
		rc = -EINVAL;
	}
	if (finish_tls(ctx))
		rc = -EINVAL;
	if (finish_relay(ctx))
		rc = -EINVAL;
	if (cfg_pubip_resolve(ctx, "PEERS_TURN_PUBLIC_IP", &ctx->turn_pubip, t->listen, t->n_listen,
	                      t->relay_ip_range, t->n_relay_ip_range, &t->public_ip))
		rc = -EINVAL;
	warn_unlistened(&t->public_ip, t->listen, t->n_listen, "turn");
	if (cfg_secrets_resolve(ctx))
		rc = -EINVAL;
	return rc;
}

static int
finish_stun(struct cfg_ctx *ctx)
{
	struct ice_config_stun *s = &ctx->cfg->stun;
	int rc = 0;

	default_listen(s->listen, &s->n_listen);
	if (check_transports(ctx, s->transports, CFG_SEEN_STUN_TRANSPORTS, "stun"))
		rc = -EINVAL;
	if (cfg_pubip_resolve(ctx, "PEERS_STUN_PUBLIC_IP", &ctx->stun_pubip, s->listen, s->n_listen,
	                      NULL, 0, &s->public_ip))
		rc = -EINVAL;
	warn_unlistened(&s->public_ip, s->listen, s->n_listen, "stun");
	return rc;
}

static void
finish_workers(struct cfg_ctx *ctx)
{
	long n;

	if (ctx->cfg->workers != 0 && !ctx->workers_auto)
		return;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > ICE_CONFIG_MAX_WORKERS)
		n = ICE_CONFIG_MAX_WORKERS;
	ctx->cfg->workers = (unsigned)n;
}

int
cfg_finish(struct cfg_ctx *ctx)
{
	struct ice_config *cfg = ctx->cfg;
	int rc = 0;

	finish_workers(ctx);
	if (!cfg->stun.enabled && !cfg->turn.enabled) {
		cfg_error(ctx, NULL,
		          "%s: neither subserver.stun nor subserver.turn is enabled; nothing to "
		          "serve",
		          cfg->path);
		return -EINVAL;
	}
	if (cfg->stun.enabled && finish_stun(ctx))
		rc = -EINVAL;
	if (cfg->turn.enabled && finish_turn(ctx))
		rc = -EINVAL;
	if (cfg_finish_admin(ctx))
		rc = -EINVAL;
	if (cfg_finish_tls_names(ctx))
		rc = -EINVAL;
	if (cfg_cluster_finish(ctx))
		rc = -EINVAL;
	return rc;
}
