/*
 * public-ip on a dual-stack host (issue 22): a list with at most one address
 * per family, the env override's comma list, the errors for two addresses of
 * one family and for a family nothing serves, and "auto" finding each family.
 *
 * Run with the argument "netns", the test expects the namespace ctest makes
 * for it (tests/config/CMakeLists.txt: unshare --net, a veth holding
 * 198.51.100.9/24 and 2001:db8:1::9/64, a default route of each family) and
 * checks that auto finds both of those addresses. connect() on a UDP socket
 * sends nothing, so no packet leaves even that namespace.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/config.h"
#include "icestation/log.h"

#include "testutil.h"

static char err[8192];

static const char *
data(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", CFG_DATA, name);
	return buf;
}

static struct ice_config *
load_data(const char *name)
{
	return ice_config_load(data(name), err, sizeof(err));
}

static const char *
ip_of(const struct ice_addr *a)
{
	static char buf[4][ICE_ADDR_STRLEN];
	static int i;

	i = (i + 1) % 4;
	if (a->family == 0)
		return "(none)";
	return ice_addr_ip_str(a, buf[i], sizeof(buf[i]));
}

/* Load must fail with msg in the error text, at file. */
static void
expect_error(const char *name, const char *msg)
{
	struct ice_config *cfg = load_data(name);

	CHECK(cfg == NULL);
	if (strstr(err, data(name)) == NULL || strstr(err, msg) == NULL) {
		fprintf(stderr, "  %s: want \"%s\"\n  got \"%s\"\n", name, msg, err);
		CHECK(!"error text");
	} else {
		CHECK(true);
	}
	ice_config_free(cfg);
}

static void
test_list(void)
{
	struct ice_config *cfg = load_data("dualstack_list.yml");

	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->stun.public_ip.source, ICE_PUBLIC_IP_LITERAL);
	CHECK_STR(ip_of(&cfg->stun.public_ip.addr), "198.51.100.7");
	CHECK_STR(ip_of(&cfg->stun.public_ip.second), "2001:db8::7");
	/* Written IPv6 first: IPv4 still comes first. */
	CHECK_STR(ip_of(&cfg->turn.public_ip.addr), "198.51.100.8");
	CHECK_STR(ip_of(&cfg->turn.public_ip.second), "2001:db8::8");
	CHECK_STR(ip_of(ice_public_ip_of(&cfg->turn.public_ip, AF_INET6)), "2001:db8::8");
	CHECK_STR(ip_of(ice_public_ip_of(&cfg->turn.public_ip, AF_INET)), "198.51.100.8");
	ice_config_free(cfg);
}

static void
test_env(void)
{
	struct ice_config *cfg;

	setenv("PEERS_TURN_PUBLIC_IP", "2001:db8::50, 198.51.100.50", 1);
	setenv("PEERS_STUN_PUBLIC_IP", "2001:db8::51", 1);
	cfg = load_data("dualstack_list.yml");
	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->turn.public_ip.source, ICE_PUBLIC_IP_ENV);
	CHECK_STR(ip_of(&cfg->turn.public_ip.addr), "198.51.100.50");
	CHECK_STR(ip_of(&cfg->turn.public_ip.second), "2001:db8::50");
	/* One address replaces the YAML's two: IPv6 only. */
	CHECK_STR(ip_of(&cfg->stun.public_ip.addr), "2001:db8::51");
	CHECK_EQ_INT(cfg->stun.public_ip.second.family, 0);
	ice_config_free(cfg);

	setenv("PEERS_TURN_PUBLIC_IP", "198.51.100.50,198.51.100.51", 1);
	cfg = load_data("dualstack_list.yml");
	CHECK(cfg == NULL);
	CHECK(strstr(err, "environment variable PEERS_TURN_PUBLIC_IP: two IPv4 addresses in "
	                  "\"198.51.100.50,198.51.100.51\"; give at most one address per family") !=
	      NULL);
	ice_config_free(cfg);
	unsetenv("PEERS_TURN_PUBLIC_IP");
	unsetenv("PEERS_STUN_PUBLIC_IP");
}

static void
test_errors(void)
{
	expect_error("dualstack_two_v4.yml",
	             "6:22: public-ip: two IPv4 addresses in \"198.51.100.7,198.51.100.8\"; give "
	             "at most one address per family (one IPv4, one IPv6)");
	expect_error("dualstack_three.yml",
	             "6:22: peers.node.server.subserver.stun.public-ip: expected \"auto\", an "
	             "IP address, or a list of at most two (one IPv4, one "
	             "IPv6)");
	expect_error("dualstack_no_listener.yml",
	             "6:22: public-ip: an IPv6 public address is advertised but no listen address "
	             "is IPv6; add one to listen or drop the address");
	expect_error("dualstack_no_relay.yml",
	             "10:22: public-ip: an IPv6 public address is advertised but relay-ip-range "
	             "has no IPv6 prefix, so no relay of that family can be opened");
}

/*
 * Readiness per family (ice_config_public_faults): an auto address that no
 * listen address receives is a fault of its own family only; a written one
 * is the operator's word; auto finding nothing is a fault of no family.
 */
static void
test_faults(void)
{
	struct ice_config *cfg = load_data("dualstack_list.yml");
	struct ice_config_stun *s;
	struct ice_addr none;
	char why[512];

	REQUIRE(cfg != NULL);
	s = &cfg->stun;
	memset(&none, 0, sizeof(none));
	CHECK_EQ_INT(ice_config_public_faults(cfg, "stun", &s->public_ip.addr, why, sizeof(why)),
	             0);
	CHECK_STR(why, "");
	s->public_ip.source = ICE_PUBLIC_IP_AUTO;
	ice_addr_parse_ip(&s->listen[0], "127.0.0.1", 0);
	ice_addr_parse_ip(&s->listen[1], "::", 0);
	s->n_listen = 2;
	CHECK_EQ_INT(ice_config_public_faults(cfg, "stun", &s->public_ip.addr, why, sizeof(why)),
	             ICE_PUBLIC_FAULT_V4);
	CHECK(strstr(why, "198.51.100.7 is not received") != NULL);
	ice_addr_parse_ip(&s->listen[0], "0.0.0.0", 0);
	ice_addr_parse_ip(&s->listen[1], "::1", 0);
	CHECK_EQ_INT(ice_config_public_faults(cfg, "stun", &s->public_ip.addr, why, sizeof(why)),
	             ICE_PUBLIC_FAULT_V6);
	CHECK(strstr(why, "2001:db8::7 is not received") != NULL);
	ice_addr_parse_ip(&s->listen[0], "127.0.0.1", 0);
	CHECK_EQ_INT(ice_config_public_faults(cfg, "stun", &s->public_ip.addr, why, sizeof(why)),
	             ICE_PUBLIC_FAULT_V4 | ICE_PUBLIC_FAULT_V6);
	/* The daemon's followed address unset: auto found nothing. */
	CHECK_EQ_INT(ice_config_public_faults(cfg, "stun", &none, why, sizeof(why)),
	             ICE_PUBLIC_FAULT_NONE);
	CHECK(strstr(why, "found no interface") != NULL);
	ice_config_free(cfg);
}

/* In the namespace of CMakeLists.txt: auto finds each family. */
static void
test_auto_netns(void)
{
	struct ice_config *cfg = load_data("dualstack_auto.yml");

	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->stun.public_ip.source, ICE_PUBLIC_IP_AUTO);
	CHECK_STR(ip_of(&cfg->stun.public_ip.addr), "198.51.100.9");
	CHECK_STR(ip_of(&cfg->stun.public_ip.second), "2001:db8:1::9");
	CHECK_STR(ip_of(&cfg->turn.public_ip.addr), "198.51.100.9");
	CHECK_STR(ip_of(&cfg->turn.public_ip.second), "2001:db8:1::9");
	/* relay-ip-range: auto takes each family's outward address too. */
	CHECK_EQ_INT(cfg->turn.n_relay_ip_range, 2);
	CHECK(ice_cidr_contains(&cfg->turn.relay_ip_range[0], &cfg->turn.public_ip.addr));
	CHECK(ice_cidr_contains(&cfg->turn.relay_ip_range[1], &cfg->turn.public_ip.second));
	ice_config_free(cfg);

	/* Only the families served: STUN listens on IPv4 only. */
	cfg = load_data("dualstack_auto_v4listen.yml");
	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	CHECK_STR(ip_of(&cfg->stun.public_ip.addr), "198.51.100.9");
	CHECK_EQ_INT(cfg->stun.public_ip.second.family, 0);
	ice_config_free(cfg);
}

int
main(int argc, char **argv)
{
	ice_log_set_level(ICE_LOG_ERROR);
	unsetenv("PEERS_TURN_PUBLIC_IP");
	unsetenv("PEERS_STUN_PUBLIC_IP");
	if (argc > 1 && strcmp(argv[1], "netns") == 0) {
		test_auto_netns();
		TEST_DONE();
	}
	test_list();
	test_env();
	test_errors();
	test_faults();
	TEST_DONE();
}
