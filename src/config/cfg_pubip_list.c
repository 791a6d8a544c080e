/*
 * public-ip as written: "auto", one address, or a list with at most one
 * address per family (a dual-stack host: [203.0.113.7, "2001:db8::7"]). The
 * env overrides (PEERS_STUN_PUBLIC_IP, PEERS_TURN_PUBLIC_IP) take the same
 * text as a comma list. A family advertised explicitly must be served: a
 * listener of that family, and for TURN a relay-ip-range of it, or clients
 * handed that URL (or relay) would find nothing there. "auto" finds each
 * family's outward address and keeps only the families served.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "cfg.h"

enum {
	PUBIP_MAX_TEXT = 256
};

const struct ice_addr *
ice_public_ip_of(const struct ice_public_ip *p, int family)
{
	if (family == 0)
		return NULL;
	if (p->addr.family == family)
		return &p->addr;
	if (p->second.family == family)
		return &p->second;
	return NULL;
}

void
ice_public_ip_pair(const struct ice_addr *followed, const struct ice_public_ip *p,
                   struct ice_addr out[2])
{
	const struct ice_addr *cand[2] = { followed->family != 0 ? followed : &p->addr,
		                           &p->second };

	memset(out, 0, 2 * sizeof(out[0]));
	for (int i = 0; i < 2; i++) {
		int k = cand[i]->family == AF_INET ? 0 : 1;

		if (cand[i]->family != 0 && out[k].family == 0)
			out[k] = *cand[i];
	}
}

static const char *
family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* Put a into out by family, IPv4 in addr; -EEXIST if that family is set. */
static int
place(struct ice_public_ip *out, const struct ice_addr *a)
{
	if (ice_public_ip_of(out, a->family) != NULL)
		return -EEXIST;
	if (out->addr.family == 0) {
		out->addr = *a;
	} else if (a->family == AF_INET) {
		out->second = out->addr;
		out->addr = *a;
	} else {
		out->second = *a;
	}
	return 0;
}

/* Parse a comma list into out; errors name where (pos, or the variable:
 * then "auto" is no choice). */
static int
parse_list(struct cfg_ctx *ctx, const char *text, const struct cfg_pos *pos, const char *where,
           struct ice_public_ip *out)
{
	const char *expect = pos != NULL ? "\"auto\" or a literal" : "a literal";

	char buf[PUBIP_MAX_TEXT], qb[64], *save = NULL, *tok;
	struct ice_addr a;

	if (strlen(text) >= sizeof(buf)) {
		cfg_error(ctx, pos, "%s: too long", where);
		return -EINVAL;
	}
	memcpy(buf, text, strlen(text) + 1);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		if (ice_addr_parse_ip(&a, tok, 0) || ice_addr_is_unspecified(&a)) {
			cfg_error(ctx, pos, "%s: expected %s, specified IP address, got \"%s\"",
			          where, expect, cfg_quote(tok, qb, sizeof(qb)));
			return -EINVAL;
		}
		if (place(out, &a) < 0) {
			cfg_error(ctx, pos,
			          "%s: two %s addresses in \"%s\"; give at most one address per "
			          "family (one IPv4, one IPv6)",
			          where, family_name(a.family), cfg_quote(text, qb, sizeof(qb)));
			return -EINVAL;
		}
	}
	if (out->addr.family == 0) {
		cfg_error(ctx, pos, "%s: expected %s, specified IP address, got none", where,
		          expect);
		return -EINVAL;
	}
	return 0;
}

bool
cfg_listens_on(const struct ice_addr *listen, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (listen[i].family == family)
			return true;
	return false;
}

static bool
ranges_have(const struct ice_cidr *ranges, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (ranges[i].family == family)
			return true;
	return false;
}

/* Each family given must have a listener and (TURN) a relay range. */
static int
check_served(struct cfg_ctx *ctx, const struct cfg_pos *pos, const char *where,
             const struct ice_public_ip *p, const struct ice_addr *listen, size_t n_listen,
             const struct ice_cidr *ranges, size_t n_ranges, bool turn)
{
	const struct ice_addr *fam[2] = { &p->addr, &p->second };
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		int f = fam[i]->family;

		if (f == 0)
			continue;
		if (!cfg_listens_on(listen, n_listen, f)) {
			cfg_error(ctx, pos,
			          "%s: an %s public address is advertised but no listen address "
			          "is %s; add one to listen or drop the address",
			          where, family_name(f), family_name(f));
			rc = -EINVAL;
		}
		if (turn && !ranges_have(ranges, n_ranges, f)) {
			cfg_error(ctx, pos,
			          "%s: an %s public address is advertised but relay-ip-range has "
			          "no %s prefix, so no relay of that family can be opened",
			          where, family_name(f), family_name(f));
			rc = -EINVAL;
		}
	}
	return rc;
}

void
cfg_outward_families(struct cfg_ctx *ctx)
{
	static const int fams[2] = { AF_INET, AF_INET6 };

	if (ctx->outward_fam_done)
		return;
	for (int i = 0; i < 2; i++)
		if (ice_config_outward_of(fams[i], &ctx->outward_fam[i]) < 0)
			memset(&ctx->outward_fam[i], 0, sizeof(ctx->outward_fam[i]));
	ctx->outward_fam_done = true;
}

/* A private address found by auto is what a cloud VM behind 1:1 NAT finds. */
static void
warn_private(const struct ice_addr *a, const char *envname)
{
	char ip[ICE_ADDR_STRLEN];

	if (a->family != 0 && ice_addr_is_private(a))
		log_warnx("config: public-ip auto found %s, a private address: clients outside "
		          "this network cannot reach it. On a cloud VM behind 1:1 NAT set %s to "
		          "the public address (or write this one in public-ip to keep it)",
		          ice_addr_ip_str(a, ip, sizeof(ip)), envname);
}

/*
 * auto: each served family's outward address; else the single outward
 * guess (ice_public_ip_check then judges whether a listener receives it).
 * Nothing found at all leaves the address unset: not ready, and the daemon
 * says what to set.
 */
static void
resolve_auto(struct cfg_ctx *ctx, const char *envname, const struct ice_addr *listen,
             size_t n_listen, const struct ice_cidr *ranges, size_t n_ranges, bool turn,
             struct ice_public_ip *out)
{
	cfg_outward_families(ctx);
	for (int i = 0; i < 2; i++) {
		const struct ice_addr *a = &ctx->outward_fam[i];

		if (a->family == 0 || !cfg_listens_on(listen, n_listen, a->family) ||
		    (turn && !ranges_have(ranges, n_ranges, a->family)))
			continue;
		place(out, a);
	}
	if (out->addr.family == 0) {
		cfg_outward(ctx);
		if (!ctx->outward_is_fallback)
			out->addr = ctx->outward;
	}
	warn_private(&out->addr, envname);
	warn_private(&out->second, envname);
}

int
cfg_pubip_resolve(struct cfg_ctx *ctx, const char *envname, const struct cfg_pubip_raw *raw,
                  const struct ice_addr *listen, size_t n_listen, const struct ice_cidr *ranges,
                  size_t n_ranges, struct ice_public_ip *out)
{
	const char *env = getenv(envname);
	bool turn = ranges != NULL;
	int rc = 0;

	memset(&out->addr, 0, sizeof(out->addr));
	memset(&out->second, 0, sizeof(out->second));
	out->source = ICE_PUBLIC_IP_AUTO;
	if (env != NULL && env[0] != '\0') {
		char where[64];

		snprintf(where, sizeof(where), "environment variable %s", envname);
		out->source = ICE_PUBLIC_IP_ENV;
		if (parse_list(ctx, env, NULL, where, out) ||
		    check_served(ctx, NULL, where, out, listen, n_listen, ranges, n_ranges, turn))
			return -EINVAL;
	} else if (raw->value != NULL && raw->value[0] != '\0' && strcmp(raw->value, "auto") != 0) {
		out->source = ICE_PUBLIC_IP_LITERAL;
		if (parse_list(ctx, raw->value, &raw->pos, "public-ip", out) ||
		    check_served(ctx, &raw->pos, "public-ip", out, listen, n_listen, ranges,
		                 n_ranges, turn))
			rc = -EINVAL;
	}
	if (out->source == ICE_PUBLIC_IP_AUTO)
		resolve_auto(ctx, envname, listen, n_listen, ranges, n_ranges, turn, out);
	return rc;
}
