/*
 * Peer-address policy table: every denied spelling from DESIGN §5 with its
 * reason, public addresses allowed, the server's own address (denied except
 * on relay ports), the host's interface addresses (a fake list: denied on
 * every port, IPv6 by its /64), denied-peer-ip, and the allowed-peer-ip
 * override.
 */
#include <sys/socket.h>

#include <string.h>

#include "icestation/turn_policy.h"

#include "testutil.h"

struct row {
	const char *ip;
	uint16_t port;
	enum turn_deny want;
};

static const struct row base_rows[] = {
	{ "127.0.0.1", 5000, TURN_DENY_LOOPBACK },
	{ "127.255.255.254", 5000, TURN_DENY_LOOPBACK },
	{ "::1", 5000, TURN_DENY_LOOPBACK },
	{ "::ffff:127.0.0.1", 5000, TURN_DENY_LOOPBACK },                     /* IPv4-mapped */
	{ "::127.0.0.1", 5000, TURN_DENY_LOOPBACK },                          /* IPv4-compatible */
	{ "::ffff:0:127.0.0.1", 5000, TURN_DENY_LOOPBACK },                   /* SIIT */
	{ "64:ff9b::7f00:1", 5000, TURN_DENY_LOOPBACK },                      /* NAT64 */
	{ "2002:7f00:1::", 5000, TURN_DENY_LOOPBACK },                        /* 6to4 */
	{ "2001:0:4136:e378:8000:63bf:80ff:fffe", 5000, TURN_DENY_LOOPBACK }, /* Teredo */
	{ "10.1.2.3", 5000, TURN_DENY_PRIVATE },
	{ "172.16.0.1", 5000, TURN_DENY_PRIVATE },
	{ "172.31.255.255", 5000, TURN_DENY_PRIVATE },
	{ "192.168.1.1", 5000, TURN_DENY_PRIVATE },
	{ "::ffff:10.1.2.3", 5000, TURN_DENY_PRIVATE },
	{ "64:ff9b::a01:203", 5000, TURN_DENY_PRIVATE },
	{ "2002:c0a8:101::1", 5000, TURN_DENY_PRIVATE },
	{ "169.254.169.254", 80, TURN_DENY_METADATA },
	{ "::ffff:169.254.169.254", 80, TURN_DENY_METADATA },
	{ "169.254.1.1", 5000, TURN_DENY_LINK_LOCAL },
	{ "fe80::1", 5000, TURN_DENY_LINK_LOCAL },
	{ "febf::1", 5000, TURN_DENY_LINK_LOCAL },
	{ "224.0.0.1", 5000, TURN_DENY_MULTICAST },
	{ "239.255.255.250", 1900, TURN_DENY_MULTICAST },
	{ "ff02::1", 5000, TURN_DENY_MULTICAST },
	{ "fc00::1", 5000, TURN_DENY_PRIVATE },
	{ "fd12:3456::1", 5000, TURN_DENY_PRIVATE },
	{ "fec0::1", 5000, TURN_DENY_PRIVATE },
	{ "64:ff9b:1::1", 5000, TURN_DENY_PRIVATE },
	{ "100.64.0.1", 5000, TURN_DENY_CGNAT },
	{ "100.127.255.255", 5000, TURN_DENY_CGNAT },
	{ "0.0.0.0", 5000, TURN_DENY_UNSPECIFIED },
	{ "0.1.2.3", 5000, TURN_DENY_UNSPECIFIED },
	{ "::", 5000, TURN_DENY_UNSPECIFIED },
	{ "255.255.255.255", 5000, TURN_DENY_BROADCAST },
	{ "240.0.0.1", 5000, TURN_DENY_RESERVED },
	{ "192.0.0.8", 5000, TURN_DENY_RESERVED },
	{ "198.18.0.1", 5000, TURN_DENY_RESERVED },
	{ "100::1", 5000, TURN_DENY_RESERVED },
	/* the server's own addresses: public IP and relay range, off relay ports */
	{ "203.0.113.10", 3478, TURN_DENY_SELF },
	{ "203.0.113.10", 22, TURN_DENY_SELF },
	{ "::ffff:203.0.113.10", 22, TURN_DENY_SELF },
	{ "198.51.100.7", 8080, TURN_DENY_SELF },
	/* ... but another allocation's relay port on them is fine */
	{ "203.0.113.10", 50000, TURN_DENY_NONE },
	/* denied-peer-ip */
	{ "8.8.4.4", 53, TURN_DENY_CONFIG },
	{ "::ffff:8.8.4.4", 53, TURN_DENY_CONFIG },
	{ "2001:db8:bad::1", 53, TURN_DENY_CONFIG },
	/* public */
	{ "8.8.8.8", 53, TURN_DENY_NONE },
	{ "1.1.1.1", 5000, TURN_DENY_NONE },
	{ "100.63.255.255", 5000, TURN_DENY_NONE },
	{ "100.128.0.0", 5000, TURN_DENY_NONE },
	{ "172.32.0.1", 5000, TURN_DENY_NONE },
	{ "2001:4860:4860::8888", 53, TURN_DENY_NONE },
	{ "::ffff:8.8.8.8", 53, TURN_DENY_NONE },
	{ "64:ff9b::808:808", 53, TURN_DENY_NONE },
	{ "2002:808:808::1", 53, TURN_DENY_NONE },
};

static void
cidr(struct ice_cidr *c, const char *s)
{
	REQUIRE(ice_cidr_parse(c, s) == 0);
}

/* The lists the settings borrow. */
static struct ice_cidr own[2], denied[2], allowed[3];

/* The server's own addresses (the public IP, the relay range) as net gives
 * them, and a denied-peer-ip list. */
static void
base_settings(struct turn_settings *s)
{
	memset(s, 0, sizeof(*s));
	cidr(&own[0], "203.0.113.10/32");
	cidr(&own[1], "198.51.100.0/28");
	s->self = own;
	s->n_self = 2;
	s->relay_port_min = 49152;
	s->relay_port_max = 65535;
	cidr(&denied[0], "8.8.4.0/24");
	cidr(&denied[1], "2001:db8:bad::/48");
	s->denied_peer_ip = denied;
	s->n_denied_peer_ip = 2;
}

static void
run_rows(const struct turn_policy *p, const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ice_addr a;
		enum turn_deny got;

		REQUIRE(ice_addr_parse_ip(&a, rows[i].ip, rows[i].port) == 0);
		got = turn_policy_check(p, &a, NULL);
		if (got != rows[i].want)
			fprintf(stderr, "%s port %u: got %s, want %s\n", rows[i].ip, rows[i].port,
			        turn_deny_str(got), turn_deny_str(rows[i].want));
		CHECK_EQ_INT(got, rows[i].want);
	}
}

/* A fake interface list as net reads it from the host. */
static const char *const host_addrs[] = {
	"192.0.2.10",         /* a second IPv4 address */
	"2001:db8:7::7",      /* a global IPv6 address */
	"2001:db8:7::abcd:1", /* a privacy address in the same /64 */
	"127.0.0.1",          /* these four a built-in rule denies already */
	"::1",                /* */
	"fe80::1",            /* */
	"10.0.0.5",           /* */
	"203.0.113.10",       /* also the server's own (its public IP) */
};

static const struct row local_rows[] = {
	{ "192.0.2.10", 22, TURN_DENY_LOCAL },
	{ "192.0.2.10", 8080, TURN_DENY_LOCAL },
	{ "192.0.2.10", 50000, TURN_DENY_LOCAL }, /* a relay port, but no relay of ours is there */
	{ "::ffff:192.0.2.10", 22, TURN_DENY_LOCAL },
	{ "2002:c000:20a::1", 22, TURN_DENY_LOCAL },  /* 6to4 */
	{ "64:ff9b::c000:20a", 22, TURN_DENY_LOCAL }, /* NAT64 */
	{ "192.0.2.9", 22, TURN_DENY_NONE },
	{ "192.0.2.11", 22, TURN_DENY_NONE },
	{ "2001:db8:7::7", 22, TURN_DENY_LOCAL },
	{ "2001:db8:7::abcd:1", 50000, TURN_DENY_LOCAL },
	{ "2001:db8:7::1", 22, TURN_DENY_LOCAL }, /* the rest of its /64 */
	{ "2001:db8:7:0:ffff:ffff:ffff:ffff", 22, TURN_DENY_LOCAL },
	{ "2001:db8:7:1::7", 22, TURN_DENY_NONE }, /* the next /64 */
	{ "2001:db8:6:ffff:ffff:ffff:ffff:ffff", 22, TURN_DENY_NONE },
	{ "127.0.0.1", 22, TURN_DENY_LOOPBACK }, /* a built-in reason keeps its name */
	{ "10.0.0.5", 22, TURN_DENY_PRIVATE },
	{ "fe80::1", 22, TURN_DENY_LINK_LOCAL },
	{ "203.0.113.10", 3478, TURN_DENY_SELF },  /* our own: self ... */
	{ "203.0.113.10", 50000, TURN_DENY_NONE }, /* ... and its relay ports stay open */
	{ "8.8.8.8", 53, TURN_DENY_NONE },
};

static struct ice_addr host[ICE_ARRAY_SIZE(host_addrs)];

static void
test_local(void)
{
	static const struct row allowed_rows[] = {
		{ "192.0.2.10", 22, TURN_DENY_NONE },
		{ "2001:db8:7::7", 22, TURN_DENY_NONE },
		{ "2001:db8:7::8", 22, TURN_DENY_LOCAL }, /* the allowed /128 only */
	};
	static const struct row removed_rows[] = {
		{ "192.0.2.10", 22, TURN_DENY_NONE },
		{ "2001:db8:7::7", 22, TURN_DENY_LOCAL },
	};
	static struct ice_addr many[TURN_POLICY_MAX_LOCAL + 10];
	struct ice_cidr allow[2];
	struct turn_settings set;
	struct turn_policy p;

	for (size_t i = 0; i < ICE_ARRAY_SIZE(host_addrs); i++)
		REQUIRE(ice_addr_parse_ip(&host[i], host_addrs[i], 0) == 0);
	base_settings(&set);
	set.local_addrs = host;
	set.n_local_addrs = ICE_ARRAY_SIZE(host);
	turn_policy_init(&p, &set);
	run_rows(&p, local_rows, ICE_ARRAY_SIZE(local_rows));
	/* Built-in ones take no room; two addresses of one /64 take one. */
	CHECK_EQ_INT(p.n_local_v4, 2);
	CHECK_EQ_INT(p.n_local_v6, 1);
	/* Without the list, the same addresses are peers like any other. */
	set.n_local_addrs = 0;
	turn_policy_init(&p, &set);
	CHECK_EQ_INT(p.n_local_v4 + p.n_local_v6, 0);
	run_rows(&p, (const struct row[]){ { "192.0.2.10", 22, TURN_DENY_NONE } }, 1);

	/* allowed-peer-ip wins (the co-located media server, docs/turn.md). */
	set.n_local_addrs = ICE_ARRAY_SIZE(host);
	cidr(&allow[0], "192.0.2.10/32");
	cidr(&allow[1], "2001:db8:7::7/128");
	set.allowed_peer_ip = allow;
	set.n_allowed_peer_ip = 2;
	turn_policy_init(&p, &set);
	run_rows(&p, allowed_rows, ICE_ARRAY_SIZE(allowed_rows));

	/* An address the host no longer has is a peer again. */
	set.n_allowed_peer_ip = 0;
	set.local_addrs = host + 1;
	set.n_local_addrs = ICE_ARRAY_SIZE(host) - 1;
	turn_policy_init(&p, &set);
	run_rows(&p, removed_rows, ICE_ARRAY_SIZE(removed_rows));

	/* A longer list keeps TURN_POLICY_MAX_LOCAL per family, sorted. */
	for (size_t i = 0; i < ICE_ARRAY_SIZE(many); i++) {
		many[i].family = AF_INET;
		many[i].ip[0] = 198;
		many[i].ip[1] = 51;
		many[i].ip[2] = (uint8_t)(i >> 8);
		many[i].ip[3] = (uint8_t)i;
	}
	set.local_addrs = many;
	set.n_local_addrs = ICE_ARRAY_SIZE(many);
	turn_policy_init(&p, &set);
	CHECK_EQ_INT(p.n_local_v4, TURN_POLICY_MAX_LOCAL);
	run_rows(&p, (const struct row[]){ { "198.51.3.255", 22, TURN_DENY_LOCAL } }, 1);
	CHECK_STR(turn_deny_str(TURN_DENY_LOCAL), "local_address");
}

int
main(void)
{
	struct turn_settings set;
	struct turn_policy p;
	struct ice_addr a;
	bool self;

	base_settings(&set);
	turn_policy_init(&p, &set);
	run_rows(&p, base_rows, ICE_ARRAY_SIZE(base_rows));

	/* is_self marks a relay-port peer on our own address */
	REQUIRE(ice_addr_parse_ip(&a, "203.0.113.10", 50000) == 0);
	CHECK_EQ_INT(turn_policy_check(&p, &a, &self), TURN_DENY_NONE);
	CHECK(self);
	REQUIRE(ice_addr_parse_ip(&a, "8.8.8.8", 50000) == 0);
	CHECK_EQ_INT(turn_policy_check(&p, &a, &self), TURN_DENY_NONE);
	CHECK(!self);

	/* Addresses net learns at run time (wildcard listeners). */
	REQUIRE(ice_addr_parse_ip(&a, "192.0.2.55", 0) == 0);
	CHECK_EQ_INT(turn_policy_add_self(&p, &a), 0);
	a.port = 3478;
	CHECK_EQ_INT(turn_policy_check(&p, &a, NULL), TURN_DENY_SELF);

	/* allowed-peer-ip overrides every rule, in every spelling it covers */
	{
		static const struct row rows[] = {
			{ "127.0.0.1", 5000, TURN_DENY_NONE },
			{ "::ffff:127.0.0.1", 5000, TURN_DENY_NONE },
			{ "10.9.8.7", 5000, TURN_DENY_NONE },
			{ "8.8.4.4", 53, TURN_DENY_NONE },
			{ "::1", 5000, TURN_DENY_LOOPBACK }, /* not covered by a v4 prefix */
			{ "10.10.0.1", 5000, TURN_DENY_PRIVATE },
		};

		cidr(&allowed[0], "127.0.0.0/8");
		cidr(&allowed[1], "10.9.0.0/16");
		cidr(&allowed[2], "8.8.4.4/32");
		set.allowed_peer_ip = allowed;
		set.n_allowed_peer_ip = 3;
		turn_policy_init(&p, &set);
		run_rows(&p, rows, ICE_ARRAY_SIZE(rows));
	}
	test_local();
	CHECK_STR(turn_deny_str(TURN_DENY_METADATA), "metadata");
	CHECK_STR(turn_deny_str(TURN_DENY_COUNT), "unknown");
	TEST_DONE();
}
