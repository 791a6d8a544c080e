/*
 * Peer-address policy. The order is: allowed-peer-ip (wins), denied-peer-ip,
 * the built-in special-purpose ranges (RFC 6890 and friends), the server's
 * own addresses (where our relay ports are other allocations), then the
 * host's other interface addresses. An IPv6 address that carries an IPv4 address the
 * network will deliver to (mapped, compatible, SIIT, NAT64 64:ff9b::/96,
 * 6to4, Teredo's client) is judged by both spellings, so ::ffff:127.0.0.1 is
 * loopback and 2002:7f00:1:: is loopback too.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/turn_policy.h"

static bool
prefix_match(const uint8_t *ip, const uint8_t *pfx, unsigned bits)
{
	unsigned bytes = bits / 8, rem = bits % 8;

	if (memcmp(ip, pfx, bytes) != 0)
		return false;
	if (rem == 0)
		return true;
	return ((ip[bytes] ^ pfx[bytes]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

static enum turn_deny
check_v4(const uint8_t ip[4])
{
	static const struct {
		uint8_t ip[4];
		uint8_t bits;
		enum turn_deny why;
	} rules[] = {
		/* Most specific first: metadata sits inside link-local. */
		{ { 169, 254, 169, 254 }, 32, TURN_DENY_METADATA },
		{ { 255, 255, 255, 255 }, 32, TURN_DENY_BROADCAST },
		{ { 0, 0, 0, 0 }, 8, TURN_DENY_UNSPECIFIED },
		{ { 127, 0, 0, 0 }, 8, TURN_DENY_LOOPBACK },
		{ { 169, 254, 0, 0 }, 16, TURN_DENY_LINK_LOCAL },
		{ { 10, 0, 0, 0 }, 8, TURN_DENY_PRIVATE },
		{ { 172, 16, 0, 0 }, 12, TURN_DENY_PRIVATE },
		{ { 192, 168, 0, 0 }, 16, TURN_DENY_PRIVATE },
		{ { 100, 64, 0, 0 }, 10, TURN_DENY_CGNAT },
		{ { 224, 0, 0, 0 }, 4, TURN_DENY_MULTICAST },
		{ { 240, 0, 0, 0 }, 4, TURN_DENY_RESERVED },
		{ { 192, 0, 0, 0 }, 24, TURN_DENY_RESERVED },
		{ { 198, 18, 0, 0 }, 15, TURN_DENY_RESERVED },
	};

	for (size_t i = 0; i < ICE_ARRAY_SIZE(rules); i++)
		if (prefix_match(ip, rules[i].ip, rules[i].bits))
			return rules[i].why;
	return TURN_DENY_NONE;
}

static enum turn_deny
check_v6(const uint8_t ip[16])
{
	static const uint8_t unspec[16] = { 0 };
	static const uint8_t loop[16] = { [15] = 1 };
	static const struct {
		uint8_t ip[16];
		uint8_t bits;
		enum turn_deny why;
	} rules[] = {
		{ { 0xff }, 8, TURN_DENY_MULTICAST },
		{ { 0xfe, 0x80 }, 10, TURN_DENY_LINK_LOCAL },
		{ { 0xfe, 0xc0 }, 10, TURN_DENY_PRIVATE }, /* deprecated site-local */
		{ { 0xfc }, 7, TURN_DENY_PRIVATE },        /* ULA */
		{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, TURN_DENY_PRIVATE }, /* local NAT64 */
		{ { 0x01, 0x00 }, 64, TURN_DENY_RESERVED }, /* discard-only */
	};

	if (memcmp(ip, unspec, 16) == 0)
		return TURN_DENY_UNSPECIFIED;
	if (memcmp(ip, loop, 16) == 0)
		return TURN_DENY_LOOPBACK;
	for (size_t i = 0; i < ICE_ARRAY_SIZE(rules); i++)
		if (prefix_match(ip, rules[i].ip, rules[i].bits))
			return rules[i].why;
	return TURN_DENY_NONE;
}

/* The IPv4 address an IPv6 address delivers to, if it embeds one. */
static bool
embedded_v4(const uint8_t ip[16], struct ice_addr *v4, uint16_t port)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t siit[12] = { [8] = 0xff, [9] = 0xff };
	static const uint8_t compat[12] = { 0 };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const uint8_t teredo[4] = { 0x20, 0x01, 0x00, 0x00 };

	memset(v4, 0, sizeof(*v4));
	v4->family = AF_INET;
	v4->port = port;
	if (memcmp(ip, mapped, 12) == 0 || memcmp(ip, siit, 12) == 0 ||
	    memcmp(ip, compat, 12) == 0 || memcmp(ip, nat64, 12) == 0) {
		memcpy(v4->ip, ip + 12, 4);
		return true;
	}
	if (ip[0] == 0x20 && ip[1] == 0x02) { /* 6to4: 2002:AABB:CCDD::/48 */
		memcpy(v4->ip, ip + 2, 4);
		return true;
	}
	if (memcmp(ip, teredo, 4) == 0) { /* Teredo client address, bit-inverted */
		for (int i = 0; i < 4; i++)
			v4->ip[i] = (uint8_t)~ip[12 + i];
		return true;
	}
	return false;
}

static bool
in_list(const struct ice_cidr *list, size_t n, const struct ice_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (ice_cidr_contains(&list[i], a))
			return true;
	return false;
}

static uint32_t
v4_key(const uint8_t ip[4])
{
	return (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];
}

/* An IPv6 address's /64: the interface identifier is the host's to choose. */
static uint64_t
v6_key(const uint8_t ip[16])
{
	uint64_t k = 0;

	for (int i = 0; i < 8; i++)
		k = k << 8 | ip[i];
	return k;
}

static int
cmp32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int
cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static bool
is_local(const struct turn_policy *p, const struct ice_addr *a)
{
	uint32_t k4;
	uint64_t k6;

	if (a->family == AF_INET) {
		k4 = v4_key(a->ip);
		return bsearch(&k4, p->local_v4, p->n_local_v4, sizeof(k4), cmp32) != NULL;
	}
	k6 = v6_key(a->ip);
	return bsearch(&k6, p->local_v6, p->n_local_v6, sizeof(k6), cmp64) != NULL;
}

bool
turn_policy_port_is_relay(const struct turn_policy *p, uint16_t port)
{
	return port >= p->relay_port_min && port <= p->relay_port_max;
}

enum turn_deny
turn_policy_check(const struct turn_policy *p, const struct ice_addr *peer, bool *is_self)
{
	struct ice_addr v4;
	bool has_v4 = false, self;
	enum turn_deny why;

	if (is_self != NULL)
		*is_self = false;
	if (peer->family == AF_INET6)
		has_v4 = embedded_v4(peer->ip, &v4, peer->port);
	else if (peer->family != AF_INET)
		return TURN_DENY_UNSPECIFIED;

	if (in_list(p->allowed, p->n_allowed, peer) ||
	    (has_v4 && in_list(p->allowed, p->n_allowed, &v4)))
		return TURN_DENY_NONE;
	if (in_list(p->denied, p->n_denied, peer) ||
	    (has_v4 && in_list(p->denied, p->n_denied, &v4)))
		return TURN_DENY_CONFIG;

	why = peer->family == AF_INET ? check_v4(peer->ip) : check_v6(peer->ip);
	if (why == TURN_DENY_NONE && has_v4)
		why = check_v4(v4.ip);
	if (why != TURN_DENY_NONE)
		return why;

	self = in_list(p->self, p->n_self, peer) || (has_v4 && in_list(p->self, p->n_self, &v4));
	if (self) {
		/* Our own relay ports are other allocations: allowed. Anything
		 * else on our own address (the listener, SSH, the HTTP API) is
		 * not. */
		if (!turn_policy_port_is_relay(p, peer->port))
			return TURN_DENY_SELF;
		if (is_self != NULL)
			*is_self = true;
		return TURN_DENY_NONE;
	}
	/* The host's other addresses: no relay of ours is there, whatever
	 * the port, only the host's own services (coturn's CVE-2020-26262). */
	if (is_local(p, peer) || (has_v4 && is_local(p, &v4)))
		return TURN_DENY_LOCAL;
	return TURN_DENY_NONE;
}

static void
add_self_cidr(struct turn_policy *p, const struct ice_cidr *c)
{
	if (p->n_self < TURN_POLICY_MAX_SELF)
		p->self[p->n_self++] = *c;
}

int
turn_policy_add_self(struct turn_policy *p, const struct ice_addr *a)
{
	struct ice_cidr c;
	int n = ice_addr_iplen(a);

	if (n == 0)
		return -EINVAL;
	if (p->n_self >= TURN_POLICY_MAX_SELF)
		return -ENOSPC;
	memset(&c, 0, sizeof(c));
	c.family = a->family;
	c.prefix = (uint8_t)(n * 8);
	memcpy(c.ip, a->ip, (size_t)n);
	p->self[p->n_self++] = c;
	return 0;
}

/* Sort v[0..*n) of size sz and drop repeats (many IPv6 addresses share a /64). */
static void
sort_unique(void *v, size_t *n, size_t sz, int (*cmp)(const void *, const void *))
{
	uint8_t *b = v;
	size_t k = 0;

	if (*n == 0)
		return;
	qsort(v, *n, sz, cmp);
	for (size_t i = 1; i < *n; i++)
		if (cmp(b + i * sz, b + k * sz) != 0)
			memmove(b + ++k * sz, b + i * sz, sz);
	*n = k + 1;
}

/* The host's addresses a built-in rule does not already deny (loopback,
 * link-local, ULA and private ones would only take room). */
static void
local_init(struct turn_policy *p, const struct ice_addr *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ice_addr *a = &v[i];

		if (a->family == AF_INET && check_v4(a->ip) == TURN_DENY_NONE &&
		    p->n_local_v4 < TURN_POLICY_MAX_LOCAL)
			p->local_v4[p->n_local_v4++] = v4_key(a->ip);
		else if (a->family == AF_INET6 && check_v6(a->ip) == TURN_DENY_NONE &&
		         p->n_local_v6 < TURN_POLICY_MAX_LOCAL)
			p->local_v6[p->n_local_v6++] = v6_key(a->ip);
	}
	sort_unique(p->local_v4, &p->n_local_v4, sizeof(p->local_v4[0]), cmp32);
	sort_unique(p->local_v6, &p->n_local_v6, sizeof(p->local_v6[0]), cmp64);
}

void
turn_policy_init(struct turn_policy *p, const struct turn_settings *s)
{
	memset(p, 0, sizeof(*p));
	p->n_denied = ICE_MIN(s->n_denied_peer_ip, ICE_ARRAY_SIZE(p->denied));
	for (size_t i = 0; i < p->n_denied; i++)
		p->denied[i] = s->denied_peer_ip[i];
	p->n_allowed = ICE_MIN(s->n_allowed_peer_ip, ICE_ARRAY_SIZE(p->allowed));
	for (size_t i = 0; i < p->n_allowed; i++)
		p->allowed[i] = s->allowed_peer_ip[i];
	p->relay_port_min = s->relay_port_min;
	p->relay_port_max = s->relay_port_max;
	for (size_t i = 0; i < s->n_self; i++)
		add_self_cidr(p, &s->self[i]);
	local_init(p, s->local_addrs, s->n_local_addrs);
}

const char *
turn_deny_str(enum turn_deny reason)
{
	static const char *const names[TURN_DENY_COUNT] = {
		[TURN_DENY_NONE] = "none",
		[TURN_DENY_LOOPBACK] = "loopback",
		[TURN_DENY_UNSPECIFIED] = "unspecified",
		[TURN_DENY_MULTICAST] = "multicast",
		[TURN_DENY_LINK_LOCAL] = "link_local",
		[TURN_DENY_BROADCAST] = "broadcast",
		[TURN_DENY_METADATA] = "metadata",
		[TURN_DENY_PRIVATE] = "private",
		[TURN_DENY_CGNAT] = "cgnat",
		[TURN_DENY_RESERVED] = "reserved",
		[TURN_DENY_SELF] = "self",
		[TURN_DENY_CONFIG] = "denied_peer_ip",
		[TURN_DENY_LOCAL] = "local_address",
	};

	if ((unsigned)reason >= TURN_DENY_COUNT)
		return "unknown";
	return names[reason];
}
