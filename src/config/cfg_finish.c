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

static void
outward(struct cfg_ctx *ctx)
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
 * warning. For auto the same is a fault, judged where the address in force
 * is used (ice_public_ip_check), since auto follows the host.
 */
static void
warn_unlistened(const struct ice_public_ip *p, const struct ice_addr *listen, size_t n,
                const char *section)
{
	char ip[ICE_ADDR_STRLEN];

	if (p->source == ICE_PUBLIC_IP_AUTO || p->addr.family == 0 ||
	    ice_public_ip_check(ICE_PUBLIC_IP_AUTO, &p->addr, listen, n) == ICE_PUBLIC_IP_USABLE)
		return;
	log_warnx("config: subserver.%s.public-ip %s is not an address any %s.listen address "
	          "receives: clients reach it only if something forwards it here",
	          section, ice_addr_ip_str(&p->addr, ip, sizeof(ip)), section);
}

/* auto: nothing found leaves the address unset (not ready, main says what to
 * set); a private address is what a cloud VM behind 1:1 NAT finds. */
static void
auto_pubip(struct cfg_ctx *ctx, const char *envname, struct ice_public_ip *out)
{
	char ip[ICE_ADDR_STRLEN];

	outward(ctx);
	if (ctx->outward_is_fallback) {
		memset(&out->addr, 0, sizeof(out->addr));
		return;
	}
	out->addr = ctx->outward;
	if (ice_addr_is_private(&out->addr))
		log_warnx("config: public-ip auto found %s, a private address: clients outside "
		          "this network cannot reach it. On a cloud VM behind 1:1 NAT set %s to "
		          "the public address (or write this one in public-ip to keep it)",
		          ice_addr_ip_str(&out->addr, ip, sizeof(ip)), envname);
}

/* The env override wins, then a YAML literal, then auto. */
static int
resolve_pubip(struct cfg_ctx *ctx, const char *envname, const struct cfg_pubip_raw *raw,
              struct ice_public_ip *out)
{
	const char *env = getenv(envname);
	char qb[64];
	int rc = 0;

	out->source = ICE_PUBLIC_IP_AUTO;
	if (raw->value != NULL && raw->value[0] != '\0' && strcmp(raw->value, "auto") != 0) {
		if (ice_addr_parse_ip(&out->addr, raw->value, 0) ||
		    ice_addr_is_unspecified(&out->addr)) {
			cfg_error(
				ctx, &raw->pos,
				"public-ip: expected \"auto\" or a literal, specified IP address, "
				"got \"%s\"",
				cfg_quote(raw->value, qb, sizeof(qb)));
			rc = -EINVAL;
		}
		out->source = ICE_PUBLIC_IP_LITERAL;
	}
	if (env != NULL && env[0] != '\0') {
		if (ice_addr_parse_ip(&out->addr, env, 0) || ice_addr_is_unspecified(&out->addr)) {
			cfg_error(ctx, NULL,
			          "environment variable %s: expected a literal, specified IP "
			          "address, got \"%s\"",
			          envname, cfg_quote(env, qb, sizeof(qb)));
			return -EINVAL;
		}
		out->source = ICE_PUBLIC_IP_ENV;
		return rc;
	}
	if (out->source == ICE_PUBLIC_IP_AUTO)
		auto_pubip(ctx, envname, out);
	return rc;
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
		outward(ctx);
		if (ctx->outward_is_fallback)
			log_warnx(
				"config: relay-ip-range auto: no interface routes outward; relays "
				"bind 127.0.0.1 (set relay-ip-range)");
		if (t->n_relay_ip_range >= ICE_CONFIG_MAX_CIDRS) {
			cfg_error(ctx, &ctx->relay_pos, "relay-ip-range: too many entries");
			return -EINVAL;
		}
		c = &t->relay_ip_range[t->n_relay_ip_range++];
		memset(c, 0, sizeof(*c));
		c->family = ctx->outward.family;
		c->prefix = ctx->outward.family == AF_INET ? 32 : 128;
		memcpy(c->ip, ctx->outward.ip, sizeof(c->ip));
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
	if (resolve_pubip(ctx, "PEERS_TURN_PUBLIC_IP", &ctx->turn_pubip, &t->public_ip))
		rc = -EINVAL;
	warn_unlistened(&t->public_ip, t->listen, t->n_listen, "turn");
	if (finish_relay(ctx))
		rc = -EINVAL;
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
	if (resolve_pubip(ctx, "PEERS_STUN_PUBLIC_IP", &ctx->stun_pubip, &s->public_ip))
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
