/*
 * TURN peer-address policy (DESIGN §5): which XOR-PEER-ADDRESS a client may
 * open a permission or channel to, or send to. Closed by default: loopback,
 * unspecified, multicast, link-local, broadcast, cloud metadata, private,
 * CGNAT, reserved, the server's own addresses and every address of the
 * host's interfaces are denied, and so is every IPv6 spelling that embeds
 * such an IPv4 address (IPv4-mapped, -compatible, SIIT, NAT64, 6to4,
 * Teredo). denied-peer-ip adds to the list; allowed-peer-ip wins over
 * everything (a LAN deployment allows its range, tests allow loopback).
 * Pure and read-only after init: safe to share between workers.
 */
#ifndef ICESTATION_TURN_POLICY_H
#define ICESTATION_TURN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/config.h"
#include "icestation/turn.h"

enum turn_deny {
	TURN_DENY_NONE = 0,
	TURN_DENY_LOOPBACK,    /* 127/8, ::1 */
	TURN_DENY_UNSPECIFIED, /* 0/8, :: */
	TURN_DENY_MULTICAST,   /* 224/4, ff00::/8 */
	TURN_DENY_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
	TURN_DENY_BROADCAST,   /* 255.255.255.255 */
	TURN_DENY_METADATA,    /* 169.254.169.254 */
	TURN_DENY_PRIVATE,  /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48 */
	TURN_DENY_CGNAT,    /* 100.64/10 */
	TURN_DENY_RESERVED, /* 240/4, 192.0.0/24, 198.18/15, 100::/64 */
	TURN_DENY_SELF,     /* the server's own address, outside the relay port range */
	TURN_DENY_CONFIG,   /* denied-peer-ip */
	TURN_DENY_LOCAL,    /* an address of the host's interfaces (IPv6: its /64) */
	TURN_DENY_COUNT,
};

enum {
	TURN_POLICY_MAX_SELF = 256, /* hosts with many interfaces (bridges, VPNs) */
	/* Host addresses kept per family; ICE_HOST_MAX_ADDRS (hostaddr.h), the
	 * most the host list holds, fits, so none is ever dropped here. */
	TURN_POLICY_MAX_LOCAL = 1024,
};

struct turn_policy {
	struct ice_cidr denied[ICE_CONFIG_MAX_CIDRS];
	size_t n_denied;
	struct ice_cidr allowed[ICE_CONFIG_MAX_CIDRS];
	size_t n_allowed;
	/* The server's own addresses (listen, public, relay ranges, extra). */
	struct ice_cidr self[TURN_POLICY_MAX_SELF];
	size_t n_self;
	uint16_t relay_port_min, relay_port_max;
	/* The host's interface addresses, sorted for a binary search: each
	 * IPv4 address, and the /64 of each IPv6 one (its first 8 bytes, big
	 * endian); those a built-in rule already denies are left out. */
	uint32_t local_v4[TURN_POLICY_MAX_LOCAL];
	size_t n_local_v4;
	uint64_t local_v6[TURN_POLICY_MAX_LOCAL];
	size_t n_local_v6;
};

/*
 * Build the policy from s (read for the call; the lists are copied): the
 * denied and allowed lists, the relay port range, s->self, the server's
 * own addresses and relay ranges (at most TURN_POLICY_MAX_SELF kept), and
 * s->local_addrs, the host's interface addresses (at most
 * TURN_POLICY_MAX_LOCAL per family kept). Sorts; call it on a reload, not
 * per packet.
 */
void turn_policy_init(struct turn_policy *p, const struct turn_settings *s);

/*
 * Add one of the server's own addresses. Returns 0, or -ENOSPC when
 * TURN_POLICY_MAX_SELF are set, -EINVAL for an address without a family.
 */
int turn_policy_add_self(struct turn_policy *p, const struct ice_addr *a);

/*
 * Judge a peer transport address. The port matters only for the server's own
 * addresses: one inside the relay port range is another allocation on this
 * server (two clients relayed through us), which is allowed, and *is_self is
 * set so a permission can re-check the port of each Send (may be NULL). The
 * host's other addresses are denied on every port (TURN_DENY_LOCAL): no
 * relay of ours listens there. Returns TURN_DENY_NONE or the reason.
 */
enum turn_deny turn_policy_check(const struct turn_policy *p, const struct ice_addr *peer,
                                 bool *is_self);

/* True when port is inside the relay port range. */
bool turn_policy_port_is_relay(const struct turn_policy *p, uint16_t port);

/* Metric label for a reason ("loopback", ...). */
const char *turn_deny_str(enum turn_deny reason);

#endif
