/*
 * The typed scalar parsers on their own: what they accept, what they refuse,
 * and the edges of every range.
 */
#include <errno.h>
#include <string.h>

#include "cfg.h"
#include "testutil.h"

static void
test_bool(void)
{
	static const char *const yes[] = { "true", "True", "YES", "on" };
	static const char *const no[] = { "false", "no", "Off", "NO" };
	static const char *const bad[] = { "", "1", "0", "y", "maybe", "true " };
	bool b;
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(yes); i++) {
		b = false;
		CHECK(cfg_parse_bool(yes[i], &b) == 0 && b);
	}
	for (i = 0; i < ICE_ARRAY_SIZE(no); i++) {
		b = true;
		CHECK(cfg_parse_bool(no[i], &b) == 0 && !b);
	}
	for (i = 0; i < ICE_ARRAY_SIZE(bad); i++)
		CHECK_EQ_INT(cfg_parse_bool(bad[i], &b), -EINVAL);
}

static void
test_u32(void)
{
	uint32_t v = 0;

	CHECK(cfg_parse_u32("0", 0, 10, &v) == 0 && v == 0);
	CHECK(cfg_parse_u32("10", 0, 10, &v) == 0 && v == 10);
	CHECK_EQ_INT(cfg_parse_u32("11", 0, 10, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_u32("0", 1, 10, &v), -ERANGE);
	CHECK(cfg_parse_u32("4294967295", 0, UINT32_MAX, &v) == 0 && v == UINT32_MAX);
	CHECK_EQ_INT(cfg_parse_u32("4294967296", 0, UINT32_MAX, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_u32("99999999999999999999999999", 0, UINT32_MAX, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_u32("-1", 0, 10, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_u32("+1", 0, 10, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_u32(" 1", 0, 10, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_u32("1 ", 0, 10, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_u32("0x10", 0, 100, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_u32("", 0, 10, &v), -EINVAL);
}

static void
test_duration(void)
{
	uint32_t v = 0;

	CHECK(cfg_parse_duration("600", 1, 3600, &v) == 0 && v == 600);
	CHECK(cfg_parse_duration("600s", 1, 3600, &v) == 0 && v == 600);
	CHECK(cfg_parse_duration("10m", 1, 3600, &v) == 0 && v == 600);
	CHECK(cfg_parse_duration("1h", 1, 3600, &v) == 0 && v == 3600);
	CHECK(cfg_parse_duration("24h", 1, 86400 * 30, &v) == 0 && v == 86400);
	CHECK_EQ_INT(cfg_parse_duration("3601s", 1, 3600, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_duration("2h", 1, 3600, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_duration("0", 1, 3600, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_duration("99999999999h", 1, 3600, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_duration("10x", 1, 3600, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_duration("10ms", 1, 3600, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_duration("1h30m", 1, 86400, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_duration("s", 1, 3600, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_duration("-5s", 1, 3600, &v), -EINVAL);
}

static void
test_ports(void)
{
	uint16_t p = 0, lo = 0, hi = 0;

	CHECK(cfg_parse_port("1", &p) == 0 && p == 1);
	CHECK(cfg_parse_port("65535", &p) == 0 && p == 65535);
	CHECK(cfg_parse_port("0", &p) != 0);
	CHECK(cfg_parse_port("65536", &p) != 0);
	CHECK(cfg_parse_port("abc", &p) != 0);

	CHECK(cfg_parse_port_range("49152-65535", &lo, &hi) == 0 && lo == 49152 && hi == 65535);
	CHECK(cfg_parse_port_range("3478-3478", &lo, &hi) == 0 && lo == 3478 && hi == 3478);
	CHECK_EQ_INT(cfg_parse_port_range("60000-50000", &lo, &hi), -ERANGE);
	CHECK_EQ_INT(cfg_parse_port_range("0-100", &lo, &hi), -EINVAL);
	CHECK_EQ_INT(cfg_parse_port_range("100-", &lo, &hi), -EINVAL);
	CHECK_EQ_INT(cfg_parse_port_range("-100", &lo, &hi), -EINVAL);
	CHECK_EQ_INT(cfg_parse_port_range("100", &lo, &hi), -EINVAL);
	CHECK_EQ_INT(cfg_parse_port_range("1-2-3", &lo, &hi), -EINVAL);
	CHECK_EQ_INT(cfg_parse_port_range("1234567-2", &lo, &hi), -EINVAL);
}

static void
test_hostport(void)
{
	struct ice_addr a;
	char buf[ICE_ADDR_STRLEN];

	CHECK(cfg_parse_hostport("0.0.0.0:8080", &a) == 0 && a.family == AF_INET && a.port == 8080);
	CHECK(cfg_parse_hostport("[::]:8080", &a) == 0 && a.family == AF_INET6);
	CHECK(cfg_parse_hostport("[2001:db8::1]:443", &a) == 0);
	CHECK_STR(ice_addr_str(&a, buf, sizeof(buf)), "[2001:db8::1]:443");
	CHECK(cfg_parse_hostport("::1:8080", &a) != 0);         /* v6 needs brackets */
	CHECK(cfg_parse_hostport("[127.0.0.1]:8080", &a) != 0); /* v4 must not have them */
	CHECK(cfg_parse_hostport("localhost:8080", &a) != 0);   /* no names */
	CHECK(cfg_parse_hostport("0.0.0.0", &a) != 0);
	CHECK(cfg_parse_hostport("0.0.0.0:", &a) != 0);
	CHECK(cfg_parse_hostport("0.0.0.0:0", &a) != 0);
	CHECK(cfg_parse_hostport(":8080", &a) != 0);
	CHECK(cfg_parse_hostport("[::1:8080", &a) != 0);
	CHECK(cfg_parse_hostport("[::1]8080", &a) != 0);
}

static void
test_workers_transport(void)
{
	unsigned n = 99, bit = 0;
	bool is_auto = false;

	CHECK(cfg_parse_workers("auto", 64, &n, &is_auto) == 0 && is_auto);
	CHECK(cfg_parse_workers("1", 64, &n, &is_auto) == 0 && !is_auto && n == 1);
	CHECK(cfg_parse_workers("64", 64, &n, &is_auto) == 0 && n == 64);
	CHECK(cfg_parse_workers("65", 64, &n, &is_auto) != 0);
	CHECK(cfg_parse_workers("0", 64, &n, &is_auto) != 0);
	CHECK(cfg_parse_workers("", 64, &n, &is_auto) != 0);

	CHECK(cfg_parse_transport("udp", &bit) == 0 && bit == ICE_TRANSPORT_UDP);
	CHECK(cfg_parse_transport("TCP", &bit) == 0 && bit == ICE_TRANSPORT_TCP);
	CHECK(cfg_parse_transport("tls", &bit) == 0 && bit == ICE_TRANSPORT_TLS);
	CHECK(cfg_parse_transport("dtls", &bit) != 0);
}

int
main(void)
{
	test_bool();
	test_u32();
	test_duration();
	test_ports();
	test_hostport();
	test_workers_transport();
	TEST_DONE();
}
