/*
 * Failures in plain words: what an error code or a socket error most likely
 * means for this configuration, so the report names the cause and not only
 * the symptom. The peer policy's verdict comes from turn/policy.c itself,
 * so the self-test explains exactly what the server decides.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "icestation/turn.h"
#include "icestation/turn_policy.h"

#include "st_int.h"

enum {
	CAUSE_PORT_PROBES = 256
};

const char *
st_policy_reason(const struct ice_config *cfg, const struct ice_addr *peer)
{
	struct turn_settings s = { 0 };
	struct turn_policy p;
	struct ice_cidr self = { .family = peer->family };
	enum turn_deny why;

	/* The peer is this server's own address: the "another allocation"
	 * rule applies to it at a relay port, as for the daemon's own. */
	self.prefix = (uint8_t)(ice_addr_iplen(peer) * 8);
	memcpy(self.ip, peer->ip, sizeof(self.ip));
	s.self = &self;
	s.n_self = 1;
	s.relay_port_min = s.relay_port_max = peer->port;
	if (cfg != NULL) {
		s.denied_peer_ip = cfg->turn.denied_peer_ip;
		s.n_denied_peer_ip = cfg->turn.n_denied_peer_ip;
		s.allowed_peer_ip = cfg->turn.allowed_peer_ip;
		s.n_allowed_peer_ip = cfg->turn.n_allowed_peer_ip;
	}
	turn_policy_init(&p, &s);
	why = turn_policy_check(&p, peer, NULL);
	switch (why) {
	case TURN_DENY_NONE:
		return NULL;
	case TURN_DENY_LINK_LOCAL:
		return "link-local";
	case TURN_DENY_CGNAT:
		return "carrier-grade NAT (100.64.0.0/10)";
	case TURN_DENY_CONFIG:
		return "denied-peer-ip";
	default:
		return turn_deny_str(why);
	}
}

static void
listen_list(const struct ice_config *cfg, char *buf, size_t cap)
{
	char a[ICE_ADDR_STRLEN];

	buf[0] = '\0';
	for (size_t i = 0; i < cfg->turn.n_listen; i++)
		st_appendf(buf, cap, "%s%s", i ? ", " : "",
		           ice_addr_ip_str(&cfg->turn.listen[i], a, sizeof(a)));
}

void
st_cause_socket(struct ice_selftest *t, uint8_t proto, const struct ice_addr *to, int err,
                char *buf, size_t cap)
{
	const char *name = st_proto_name(proto);
	char a[ICE_ADDR_STRLEN], l[ST_DETAIL_MAX / 2];

	ice_addr_str(to, a, sizeof(a));
	switch (err) {
	case ECONNREFUSED:
		if (proto == TURN_PROTO_UDP)
			st_appendf(buf, cap, "nothing answers on UDP %s (ICMP port unreachable)",
			           a);
		else
			st_appendf(
				buf, cap,
				"nothing accepts TCP connections on %s (connection refused): the "
				"%s listener is not running, or a firewall on this host rejects it",
				a, name);
		break;
	case ETIMEDOUT:
		st_appendf(buf, cap,
		           "no answer from %s over %s within %d ms: a firewall on this host drops "
		           "the packets, or the daemon's workers are stuck",
		           a, name, ICE_SELFTEST_STEP_MS);
		break;
	default:
		st_appendf(buf, cap, "%s over %s: %s", a, name, strerror(err));
		break;
	}
	if (!st_listen_covers(t->cfg, to)) {
		listen_list(t->cfg, l, sizeof(l));
		st_appendf(buf, cap, "; the daemon listens on %s only (turn.listen), not on %s", l,
		           ice_addr_ip_str(to, a, sizeof(a)));
	}
}

/* How many of up to CAUSE_PORT_PROBES ports spread over the relay range bind. */
static void
relay_ports_free(const struct ice_selftest *t, unsigned *tried, unsigned *free_ports)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	unsigned span = (unsigned)tc->relay_port_max - tc->relay_port_min + 1;
	unsigned step = (span + CAUSE_PORT_PROBES - 1) / CAUSE_PORT_PROBES;
	struct sockaddr_storage ss;

	*tried = *free_ports = 0;
	for (unsigned port = tc->relay_port_min; port <= tc->relay_port_max; port += step) {
		struct ice_addr a = t->plan.peer_ip;
		int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		socklen_t len;

		if (fd < 0)
			return;
		a.port = (uint16_t)port;
		len = ice_addr_to_sockaddr(&a, &ss);
		++*tried;
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			++*free_ports;
		close(fd);
	}
}

static void
cause_508(struct ice_selftest *t, char *buf, size_t cap)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	unsigned tried, free_ports;
	char a[ICE_ADDR_STRLEN];

	if (t->env.live_allocations >= tc->max_allocations) {
		st_appendf(buf, cap, ": max-allocations (%u) is reached", tc->max_allocations);
		return;
	}
	relay_ports_free(t, &tried, &free_ports);
	st_appendf(buf, cap,
	           ": the daemon could not open a relay socket; %u of %u ports of "
	           "relay-port-range %u-%u tried on %s are free",
	           free_ports, tried, tc->relay_port_min, tc->relay_port_max,
	           ice_addr_ip_str(&t->plan.peer_ip, a, sizeof(a)));
	if (free_ports == 0)
		st_appendf(buf, cap,
		           ", and this daemon had %u allocation(s): another program holds the "
		           "relay ports. Stop it, or move relay-port-range to free ports",
		           t->env.live_allocations);
}

void
st_cause_code(struct ice_selftest *t, uint16_t method, int code, const char *reason, char *buf,
              size_t cap)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	const char *m = method == STUN_METHOD_ALLOCATE            ? "Allocate"
	                : method == STUN_METHOD_CREATE_PERMISSION ? "CreatePermission"
	                                                          : "Refresh";
	char a[ICE_ADDR_STRLEN];

	st_appendf(buf, cap, "%s answered %d %s", m, code,
	           *reason ? reason : stun_error_reason(code));
	switch (code) {
	case 300:
		st_appendf(buf, cap,
		           ": the daemon is draining and sends clients to another server");
		break;
	case 401:
		st_appendf(buf, cap,
		           ": the daemon refused a credential minted a moment ago with its own "
		           "secret: the clock jumped, or the user " ICE_SELFTEST_USER
		           " is revoked");
		break;
	case 403: {
		const char *why = t->plan.deny_reason;
		bool listed = why != NULL && strcmp(why, "denied-peer-ip") == 0;

		st_appendf(
			buf, cap,
			": the peer policy refuses the self-test's peer %s%s%s%s, so two clients "
			"of this server cannot relay to each other through this address",
			ice_addr_ip_str(&t->plan.peer_ip, a, sizeof(a)),
			why == NULL ? ""
			: listed    ? " (listed in "
				    : " (a ",
			why ? why : "",
			why == NULL ? ""
			: listed    ? ")"
				    : " address)");
		if (why != NULL && !listed)
			st_appendf(
				buf, cap,
				". Advertise a routable address, or (tests, LAN setups) add %s/%d "
				"to allowed-peer-ip",
				a, ice_addr_iplen(&t->plan.peer_ip) * 8);
		break;
	}
	case 440:
	case 443:
		st_appendf(buf, cap, ": no relay address of this family (relay-ip-range)");
		break;
	case 486:
		st_appendf(
			buf, cap,
			": a quota refused the self-test's user " ICE_SELFTEST_USER
			". Each run makes one allocation per transport, so with "
			"allocations-per-minute-per-user %u a run every few seconds reaches it; "
			"else max-allocations-per-user (%u), the daily byte budget, bps-capacity, "
			"or a drain (the daemon's log line names which)",
			tc->allocations_per_minute_per_user, tc->max_allocations_per_user);
		break;
	case 508:
		if (method == STUN_METHOD_ALLOCATE)
			cause_508(t, buf, cap);
		else
			st_appendf(buf, cap, ": the allocation holds too many permissions");
		break;
	default:
		break;
	}
}
