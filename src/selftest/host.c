/*
 * This host's addresses, and the plan they give the probes: the address to
 * allocate against (the advertised public address when it is local, else a
 * local address the daemon serves), the relay address the peer socket binds,
 * and whether the peer policy lets the self-test's permission through. Also
 * the public_address check: a public address that is not on this host must
 * be a NAT's, and the operator says so with behind-nat.
 */
#include <sys/socket.h>

#include <ifaddrs.h>
#include <string.h>

#include "icestation/turn.h"

#include "st_int.h"

int
st_host_load(struct st_host *h)
{
	struct ifaddrs *ifa, *i;

	h->n = 0;
	if (getifaddrs(&ifa) < 0)
		return -1;
	for (i = ifa; i != NULL && h->n < ST_HOST_MAX_ADDRS; i = i->ifa_next)
		if (i->ifa_addr != NULL &&
		    ice_addr_from_sockaddr(&h->addrs[h->n], i->ifa_addr) == 0)
			h->addrs[h->n++].port = 0;
	freeifaddrs(ifa);
	return 0;
}

static bool
is_loopback(const struct ice_addr *a)
{
	static const uint8_t v6[16] = { [15] = 1 };

	return (a->family == AF_INET && a->ip[0] == 127) ||
	       (a->family == AF_INET6 && memcmp(a->ip, v6, 16) == 0);
}

static bool
is_wildcard(const struct ice_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, sizeof(zero)) == 0;
}

bool
st_host_has(const struct st_host *h, const struct ice_addr *a)
{
	if (a->family == 0)
		return false;
	if (is_loopback(a)) /* all of 127/8 is local, while lo lists 127.0.0.1 */
		return true;
	for (size_t i = 0; i < h->n; i++)
		if (ice_addr_ip_equal(&h->addrs[i], a))
			return true;
	return false;
}

bool
st_listen_covers(const struct ice_config *cfg, const struct ice_addr *ip)
{
	for (size_t i = 0; i < cfg->turn.n_listen; i++) {
		const struct ice_addr *l = &cfg->turn.listen[i];

		if (l->family == ip->family && (is_wildcard(l) || ice_addr_ip_equal(l, ip)))
			return true;
	}
	return false;
}

/*
 * A relay address of family (where relay sockets bind, as net/local_addrs.c
 * picks them: a single-host entry of relay-ip-range as given, or an
 * interface address inside a wider one). prefer, when it is one, wins.
 */
static bool
relay_addr(const struct ice_selftest *t, int family, const struct ice_addr *prefer,
           struct ice_addr *out)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	bool found = false;

	for (size_t k = 0; k < tc->n_relay_ip_range; k++) {
		const struct ice_cidr *c = &tc->relay_ip_range[k];
		bool host = c->prefix == (family == AF_INET ? 32 : 128);
		struct ice_addr one = { .family = c->family };

		if (c->family != family)
			continue;
		memcpy(one.ip, c->ip, sizeof(one.ip));
		for (size_t i = 0; i < (host ? 1 : t->host.n); i++) {
			const struct ice_addr *cand = host ? &one : &t->host.addrs[i];

			if (!host && !ice_cidr_contains(c, cand))
				continue;
			if (ice_addr_ip_equal(cand, prefer)) {
				*out = *cand;
				return true;
			}
			if (!found)
				*out = *cand;
			found = true;
		}
	}
	return found;
}

/* A local address the daemon serves TURN on, when the public one is not local. */
static void
local_target(struct ice_selftest *t, int family, struct ice_addr *out)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	struct ice_addr a = { .family = (uint8_t)family };

	for (size_t i = 0; i < tc->n_listen; i++)
		if (tc->listen[i].family == family && !is_wildcard(&tc->listen[i]) &&
		    st_host_has(&t->host, &tc->listen[i])) {
			*out = tc->listen[i];
			return;
		}
	if (relay_addr(t, family, &a, out) && st_listen_covers(t->cfg, out))
		return;
	for (size_t i = 0; i < t->host.n; i++)
		if (t->host.addrs[i].family == family && !is_loopback(&t->host.addrs[i]) &&
		    st_listen_covers(t->cfg, &t->host.addrs[i])) {
			*out = t->host.addrs[i];
			return;
		}
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;
	if (family == AF_INET)
		out->ip[0] = 127, out->ip[3] = 1;
	else
		out->ip[15] = 1;
}

/* The public_address check for one sub-server's public address. */
static void
check_public(struct ice_selftest *t, const char *what, const struct ice_addr *pub, bool behind_nat,
             const struct ice_addr *local)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	char a[ICE_ADDR_STRLEN], b[ICE_ADDR_STRLEN], name[ST_NAME_MAX];
	const char *kind = pub->family ? st_policy_reason(NULL, pub) : NULL;

	snprintf(name, sizeof(name), "public_address.%s", what);
	ice_addr_ip_str(pub, a, sizeof(a));
	if (pub->family == 0)
		st_check_add(t, name, ST_FAIL,
		             "no public address: public-ip is auto and no interface address was "
		             "found; set public-ip to the address clients reach this host at");
	else if (st_host_has(&t->host, pub) && kind != NULL)
		st_check_add(t, name, ST_WARN,
		             "%s is an address of this host, but a %s one: only clients %s can "
		             "reach it",
		             a, kind,
		             strcmp(kind, "loopback") == 0 ? "on this host" : "on its network");
	else if (st_host_has(&t->host, pub))
		st_check_add(t, name, ST_OK, "%s is an address of this host", a);
	else if (behind_nat)
		st_check_add(t, name, ST_OK,
		             "%s is not on this host, as behind-nat says: the NAT must forward UDP "
		             "and TCP %u, TCP %u (TLS) and UDP %u-%u (relays) to %s; the self-test "
		             "cannot see the NAT from inside",
		             a, tc->port, tc->tls.port, tc->relay_port_min, tc->relay_port_max,
		             ice_addr_ip_str(local, b, sizeof(b)));
	else
		st_check_add(
			t, name, ST_FAIL,
			"%s is not an address of this host, and behind-nat is not set: clients "
			"will send to %s and nothing here receives it. If this host is behind a "
			"NAT (a cloud VM with a private address), set behind-nat: true and have "
			"the NAT forward the ports to %s; if not, public-ip is wrong",
			a, a, ice_addr_ip_str(local, b, sizeof(b)));
}

/* Whether the self-test can reach the relay path, and if not, why. */
static void
plan_peer(struct ice_selftest *t)
{
	struct st_plan *pl = &t->plan;
	char a[ICE_ADDR_STRLEN], b[ICE_ADDR_STRLEN];
	struct ice_addr probe;

	if (!relay_addr(t, pl->target.family, &pl->target, &pl->peer_ip))
		pl->peer_ip = pl->target;
	probe = pl->peer_ip;
	probe.port = t->cfg->turn.relay_port_min;
	pl->deny_reason = st_policy_reason(t->cfg, &probe);
	pl->relay_checkable = pl->deny_reason == NULL || pl->public_local;
	if (!pl->relay_checkable)
		snprintf(pl->relay_skip, sizeof(pl->relay_skip),
		         "not run: the relay's own address %s is a %s address, which the peer "
		         "policy refuses (rightly, for clients); behind a NAT, relayed clients "
		         "reach each other through the public address %s, which the self-test "
		         "does not contact",
		         ice_addr_ip_str(&pl->peer_ip, a, sizeof(a)), pl->deny_reason,
		         ice_addr_ip_str(&t->env.turn_public, b, sizeof(b)));
}

void
st_plan_make(struct ice_selftest *t)
{
	const struct ice_config *cfg = t->cfg;
	struct st_plan *pl = &t->plan;
	const struct ice_addr *pub = &t->env.turn_public;
	char a[ICE_ADDR_STRLEN], b[ICE_ADDR_STRLEN];

	memset(pl, 0, sizeof(*pl));
	pl->public_local = st_host_has(&t->host, pub);
	if (pl->public_local) {
		pl->target = *pub;
	} else {
		local_target(t, pub->family ? pub->family : AF_INET, &pl->target);
		snprintf(pl->target_note, sizeof(pl->target_note),
		         "the public address %s is not on this host: the self-test ran against "
		         "%s, a local address the daemon serves",
		         pub->family ? ice_addr_ip_str(pub, a, sizeof(a)) : "(none)",
		         ice_addr_ip_str(&pl->target, b, sizeof(b)));
	}
	pl->target.port = 0;
	if (cfg->turn.enabled) {
		check_public(t, "turn", pub, cfg->turn.public_ip.behind_nat, &pl->target);
		plan_peer(t);
	}
	if (cfg->stun.enabled &&
	    (!cfg->turn.enabled || !ice_addr_ip_equal(&t->env.stun_public, pub)))
		check_public(t, "stun", &t->env.stun_public, cfg->stun.public_ip.behind_nat,
		             &pl->target);
}
