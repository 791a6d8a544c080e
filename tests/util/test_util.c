/*
 * util/: address parsing and CIDR matching, SipHash-2-4 reference vectors,
 * metric block summing.
 */
#include <arpa/inet.h>

#include "icestation/addr.h"
#include "icestation/metrics.h"
#include "icestation/siphash.h"

#include "testutil.h"

static void
test_addr(void)
{
	struct ice_addr a, b;
	struct sockaddr_storage ss;
	char buf[ICE_ADDR_STRLEN];

	CHECK_EQ_INT(ice_addr_parse_ip(&a, "192.0.2.7", 3478), 0);
	CHECK_EQ_INT(a.family, AF_INET);
	CHECK_STR(ice_addr_str(&a, buf, sizeof(buf)), "192.0.2.7:3478");
	CHECK_EQ_INT(ice_addr_parse_ip(&b, "2001:db8::1", 5349), 0);
	CHECK_STR(ice_addr_str(&b, buf, sizeof(buf)), "[2001:db8::1]:5349");
	CHECK_STR(ice_addr_ip_str(&b, buf, sizeof(buf)), "2001:db8::1");
	CHECK(ice_addr_parse_ip(&a, "example.org", 0) < 0);
	CHECK(ice_addr_parse_ip(&a, "1.2.3.4:5", 0) < 0);
	CHECK(ice_addr_parse_ip(&a, "", 0) < 0);

	/* sockaddr round trip, both families */
	CHECK_EQ_INT(ice_addr_parse_ip(&a, "::ffff:10.0.0.1", 9), 0);
	CHECK(ice_addr_to_sockaddr(&a, &ss) == sizeof(struct sockaddr_in6));
	CHECK_EQ_INT(ice_addr_from_sockaddr(&b, (struct sockaddr *)&ss), 0);
	CHECK(ice_addr_equal(&a, &b));
	CHECK_EQ_INT(b.family, AF_INET6); /* mapped stays v6: policy decides */
	b.port = 10;
	CHECK(!ice_addr_equal(&a, &b));
	CHECK(ice_addr_ip_equal(&a, &b));
}

/* Classification: each address with (unspecified, loopback, private). */
static void
test_addr_kinds(void)
{
	static const struct {
		const char *ip;
		bool unspec, loop, priv;
	} rows[] = {
		{ "0.0.0.0", true, false, false },
		{ "::", true, false, false },
		{ "127.0.0.1", false, true, false },
		{ "127.255.0.9", false, true, false },
		{ "::1", false, true, false },
		{ "::2", false, false, false },
		{ "10.1.2.3", false, false, true },
		{ "172.16.0.1", false, false, true },
		{ "172.31.255.255", false, false, true },
		{ "172.32.0.1", false, false, false },
		{ "192.168.4.5", false, false, true },
		{ "192.169.0.1", false, false, false },
		{ "100.64.0.1", false, false, true },
		{ "100.128.0.1", false, false, false },
		{ "169.254.1.1", false, false, true },
		{ "fd00::5", false, false, true },
		{ "fe80::1", false, false, true },
		{ "fec0::1", false, false, false },
		{ "192.0.2.2", false, false, false },
		{ "2001:db8::1", false, false, false },
	};
	struct ice_addr a;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CHECK_EQ_INT(ice_addr_parse_ip(&a, rows[i].ip, 0), 0);
		CHECK(ice_addr_is_unspecified(&a) == rows[i].unspec);
		CHECK(ice_addr_is_loopback(&a) == rows[i].loop);
		CHECK(ice_addr_is_private(&a) == rows[i].priv);
	}
	memset(&a, 0, sizeof(a));
	CHECK(!ice_addr_is_unspecified(&a) && !ice_addr_is_loopback(&a) &&
	      !ice_addr_is_private(&a));
}

static void
test_cidr(void)
{
	struct ice_cidr c;
	struct ice_addr a;
	char buf[64];

	CHECK_EQ_INT(ice_cidr_parse(&c, "10.1.2.3/8"), 0);
	CHECK_STR(ice_cidr_str(&c, buf, sizeof(buf)), "10.0.0.0/8");
	ice_addr_parse_ip(&a, "10.255.0.1", 0);
	CHECK(ice_cidr_contains(&c, &a));
	ice_addr_parse_ip(&a, "11.0.0.1", 0);
	CHECK(!ice_cidr_contains(&c, &a));

	CHECK_EQ_INT(ice_cidr_parse(&c, "172.16.0.0/12"), 0);
	ice_addr_parse_ip(&a, "172.31.255.255", 0);
	CHECK(ice_cidr_contains(&c, &a));
	ice_addr_parse_ip(&a, "172.32.0.0", 0);
	CHECK(!ice_cidr_contains(&c, &a));

	CHECK_EQ_INT(ice_cidr_parse(&c, "fc00::/7"), 0);
	ice_addr_parse_ip(&a, "fdff::1", 0);
	CHECK(ice_cidr_contains(&c, &a));
	ice_addr_parse_ip(&a, "fe00::1", 0);
	CHECK(!ice_cidr_contains(&c, &a));
	ice_addr_parse_ip(&a, "10.0.0.1", 0);
	CHECK(!ice_cidr_contains(&c, &a)); /* family mismatch */

	CHECK_EQ_INT(ice_cidr_parse(&c, "127.0.0.1"), 0);
	CHECK_EQ_INT(c.prefix, 32);
	CHECK_EQ_INT(ice_cidr_parse(&c, "0.0.0.0/0"), 0);
	ice_addr_parse_ip(&a, "203.0.113.9", 0);
	CHECK(ice_cidr_contains(&c, &a));

	CHECK(ice_cidr_parse(&c, "10.0.0.0/33") < 0);
	CHECK(ice_cidr_parse(&c, "10.0.0.0/") < 0);
	CHECK(ice_cidr_parse(&c, "10.0.0.0/-1") < 0);
	CHECK(ice_cidr_parse(&c, "10.0.0.0/8x") < 0);
	CHECK(ice_cidr_parse(&c, "::/129") < 0);
	CHECK(ice_cidr_parse(&c, "/8") < 0);
	CHECK(ice_cidr_parse(&c, "nonsense/8") < 0);
}

/* Reference vectors from the SipHash paper's vectors.h, key 00..0f, input 00..(n-1). */
static void
test_siphash(void)
{
	static const struct {
		size_t len;
		uint64_t want;
	} vec[] = {
		{ 0, 0x726fdb47dd0e0e31ULL },
		{ 1, 0x74f839c593dc67fdULL },
		{ 8, 0x93f5f5799a932462ULL },
		{ 15, 0xa129ca6149be45e5ULL },
	};
	struct ice_siphash_key key = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	uint8_t in[64];
	struct ice_siphash_key r1, r2;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	for (size_t i = 0; i < ICE_ARRAY_SIZE(vec); i++)
		CHECK(ice_siphash(&key, in, vec[i].len) == vec[i].want);
	CHECK_EQ_INT(ice_siphash_key_random(&r1), 0);
	CHECK_EQ_INT(ice_siphash_key_random(&r2), 0);
	CHECK(r1.k0 != r2.k0 || r1.k1 != r2.k1);
}

static void
test_metrics(void)
{
	struct ice_metrics *a = ice_metrics_block_new();
	struct ice_metrics *b = ice_metrics_block_new();

	REQUIRE(a != NULL && b != NULL);
	ice_metrics_inc(a, ICE_M_CONFIG_LOADS);
	ice_metrics_add(b, ICE_M_CONFIG_LOADS, 41);
	CHECK(ice_metrics_sum(ICE_M_CONFIG_LOADS) == 42);
	ice_metrics_dec(b, ICE_M_CONFIG_LOADS);
	CHECK(ice_metrics_sum(ICE_M_CONFIG_LOADS) == 41);
	CHECK_STR(ice_metric_descs[ICE_M_CONFIG_LOADS].name, "icestation_config_loads_total");
}

int
main(void)
{
	test_addr();
	test_addr_kinds();
	test_cidr();
	test_siphash();
	test_metrics();
	TEST_DONE();
}
