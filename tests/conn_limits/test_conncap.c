/*
 * The per-address cap pool (util/conncap), pure, on a fake clock: caps per
 * class and per source (ports ignored, IPv6 by /64, IPv4-mapped as IPv4),
 * eviction order (oldest pending, then oldest served, pinned never), a
 * window full of sources (admitted untracked, counted), the table growing
 * with its counts, one log line per source per minute, and what the gate
 * counts.
 */
#include <sys/socket.h>

#include <stddef.h>
#include <string.h>

#include "icestation/conncap.h"

#include "testutil.h"

struct conn {
	int id;
	struct ice_conncap_node node;
};

static struct ice_addr
ip(const char *s, uint16_t port)
{
	struct ice_addr a;

	REQUIRE(ice_addr_parse_ip(&a, s, port) == 0);
	return a;
}

static int
id_of(const struct ice_conncap_node *n)
{
	return n == NULL
	               ? -1
	               : ((const struct conn *)((const char *)n - offsetof(struct conn, node)))->id;
}

static const struct ice_siphash_key test_key = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };

static void
test_caps(void)
{
	struct ice_conncap *cc = ice_conncap_new(16, &test_key, NULL);
	struct ice_conncap_node *victim;
	struct conn c[8];
	struct ice_addr a = ip("192.0.2.1", 1000), b = ip("192.0.2.2", 1000);

	REQUIRE(cc != NULL);
	ice_conncap_set_cap(cc, ICE_CONNCAP_TCP, 3);
	ice_conncap_set_cap(cc, ICE_CONNCAP_TLS, 1);
	for (int i = 0; i < 3; i++) {
		a.port = (uint16_t)(1000 + i); /* ports are not sources */
		CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &a, false, &victim),
		             ICE_CONNCAP_ADMIT);
		c[i].id = i;
		CHECK(ice_conncap_add(cc, &c[i].node, ICE_CONNCAP_TCP, &a));
	}
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &a), 3);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &a, false, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	/* At its cap even when the pool is full: refused, never an eviction. */
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &a, true, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	CHECK(victim == NULL);
	/* Another class has its own cap; another source its own count. */
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TLS, &a, false, &victim), ICE_CONNCAP_ADMIT);
	c[3].id = 3;
	ice_conncap_add(cc, &c[3].node, ICE_CONNCAP_TLS, &a);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TLS, &a, false, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &b, false, &victim), ICE_CONNCAP_ADMIT);
	/* No cap on a class: never refused for its address. */
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_HTTP, &a, false, &victim),
	             ICE_CONNCAP_ADMIT);
	/* A closed connection gives its place back. */
	ice_conncap_remove(cc, &c[0].node);
	ice_conncap_remove(cc, &c[0].node); /* twice: ignored */
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &a), 2);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &a, false, &victim), ICE_CONNCAP_ADMIT);
	/* A cap raised live applies to the next decision. */
	ice_conncap_set_cap(cc, ICE_CONNCAP_TLS, 2);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TLS, &a, false, &victim), ICE_CONNCAP_ADMIT);
	ice_conncap_remove(cc, &c[1].node);
	ice_conncap_remove(cc, &c[2].node);
	ice_conncap_remove(cc, &c[3].node);
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &a), 0);
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TLS, &a), 0);
	ice_conncap_free(cc);
}

static void
test_sources(void)
{
	struct ice_conncap *cc = ice_conncap_new(16, &test_key, NULL);
	struct ice_conncap_node *victim;
	struct conn c[4];
	struct ice_addr a1 = ip("2001:db8:1:2::1", 1), a2 = ip("2001:db8:1:2:ffff::9", 2);
	struct ice_addr other = ip("2001:db8:1:3::1", 1), v4 = ip("198.51.100.7", 1);
	struct ice_addr mapped = ip("::ffff:198.51.100.7", 1);

	REQUIRE(cc != NULL);
	ice_conncap_set_cap(cc, ICE_CONNCAP_HTTP, 2);
	ice_conncap_add(cc, &c[0].node, ICE_CONNCAP_HTTP, &a1);
	ice_conncap_add(cc, &c[1].node, ICE_CONNCAP_HTTP, &a2);
	/* One /64, one source: the third from any address in it is refused. */
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_HTTP, &a1), 2);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_HTTP, &a1, false, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_HTTP, &a2, false, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_HTTP, &other, false, &victim),
	             ICE_CONNCAP_ADMIT);
	/* An IPv4 client on a dual-stack socket is its IPv4 address. */
	ice_conncap_add(cc, &c[2].node, ICE_CONNCAP_HTTP, &v4);
	ice_conncap_add(cc, &c[3].node, ICE_CONNCAP_HTTP, &mapped);
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_HTTP, &v4), 2);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_HTTP, &mapped, false, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	for (int i = 0; i < 4; i++)
		ice_conncap_remove(cc, &c[i].node);
	ice_conncap_free(cc);
}

static void
test_eviction_order(void)
{
	struct ice_conncap *cc = ice_conncap_new(8, &test_key, NULL);
	struct ice_conncap_node *victim;
	struct conn c[4];
	struct ice_addr a = ip("192.0.2.1", 1), nb = ip("192.0.2.9", 1);

	REQUIRE(cc != NULL);
	ice_conncap_set_cap(cc, ICE_CONNCAP_TCP, 8);
	for (int i = 0; i < 4; i++) {
		c[i].id = i;
		ice_conncap_add(cc, &c[i].node, i == 2 ? ICE_CONNCAP_TLS : ICE_CONNCAP_TCP, &a);
	}
	/* Not full: nothing to evict. */
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, false, &victim),
	             ICE_CONNCAP_ADMIT);
	/* Full: the oldest pending, whatever its class. */
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim), ICE_CONNCAP_EVICT);
	CHECK_EQ_INT(id_of(victim), 0);
	/* 0 and 2 completed a request: pending ones go first, 1 then 3. */
	ice_conncap_served(cc, &c[2].node);
	ice_conncap_served(cc, &c[0].node);
	ice_conncap_served(cc, &c[0].node); /* again: nothing moves */
	ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim);
	CHECK_EQ_INT(id_of(victim), 1);
	ice_conncap_remove(cc, &c[1].node);
	ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim);
	CHECK_EQ_INT(id_of(victim), 3);
	ice_conncap_served(cc, &c[3].node);
	/* Then the served, oldest served first: 2, 0, 3. */
	ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim);
	CHECK_EQ_INT(id_of(victim), 2);
	/* Pinned (an allocation over it): never a victim. */
	ice_conncap_pin(cc, &c[2].node, true);
	ice_conncap_pin(cc, &c[0].node, true);
	ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim);
	CHECK_EQ_INT(id_of(victim), 3);
	ice_conncap_pin(cc, &c[3].node, true);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim),
	             ICE_CONNCAP_REFUSE_FULL);
	CHECK(victim == NULL);
	/* Unpinned: served again, the newest of them. */
	ice_conncap_pin(cc, &c[0].node, false);
	ice_conncap_pin(cc, &c[3].node, false);
	ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim);
	CHECK_EQ_INT(id_of(victim), 0);
	/* A pinned connection that closes leaves cleanly. */
	ice_conncap_remove(cc, &c[2].node);
	ice_conncap_remove(cc, &c[0].node);
	ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim);
	CHECK_EQ_INT(id_of(victim), 3);
	ice_conncap_remove(cc, &c[3].node);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &nb, true, &victim),
	             ICE_CONNCAP_REFUSE_FULL);
	CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &a), 0);
	ice_conncap_free(cc);
}

/* home of an IPv4 source as conncap.c computes it (the key, then the family). */
static size_t
home_of(const struct ice_addr *a, size_t mask)
{
	uint8_t h[9] = { 0 };

	memcpy(h, a->ip, 4);
	h[8] = AF_INET;
	return (size_t)ice_siphash(&test_key, h, sizeof(h)) & mask;
}

/* n IPv4 sources whose windows start on the same slot of a table of mask + 1. */
static void
colliding(struct ice_addr *out, size_t n, size_t mask)
{
	size_t home = (size_t)-1, found = 0;

	for (uint32_t x = 1; found < n && x < (1u << 20); x++) {
		struct ice_addr a = { .family = AF_INET,
			              .ip = { 10, (uint8_t)(x >> 16), (uint8_t)(x >> 8),
			                      (uint8_t)x } };

		if (home == (size_t)-1)
			home = home_of(&a, mask);
		if (home_of(&a, mask) == home)
			out[found++] = a;
	}
	REQUIRE(found == n);
}

static void
test_window_full(void)
{
	struct ice_metrics *m = ice_metrics_block_new();
	struct ice_conncap *cc = ice_conncap_new(4, &test_key, m);
	struct ice_addr src[ICE_CONNCAP_PROBE + 1];
	struct conn c[ICE_CONNCAP_PROBE + 1];
	struct ice_conncap_node *victim;
	uint32_t sup;

	REQUIRE(m != NULL && cc != NULL);
	REQUIRE(ice_conncap_capacity(cc) == 64);
	colliding(src, ICE_CONNCAP_PROBE + 1, ice_conncap_capacity(cc) - 1);
	ice_conncap_set_cap(cc, ICE_CONNCAP_TCP, 1);
	for (int i = 0; i < ICE_CONNCAP_PROBE; i++)
		CHECK(ice_conncap_add(cc, &c[i].node, ICE_CONNCAP_TCP, &src[i]));
	/* The ninth finds its window taken by sources with connections:
	 * admitted, untracked, counted; never refused for its address. */
	CHECK(!ice_conncap_add(cc, &c[8].node, ICE_CONNCAP_TCP, &src[8]));
	CHECK_EQ_INT(ice_metrics_sum(ICE_M_CONN_TCP_UNTRACKED), 1);
	CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &src[8], false, &victim),
	             ICE_CONNCAP_ADMIT);
	/* It cannot be logged about either (no entry to hold its minute). */
	CHECK(!ice_conncap_log_due(cc, &src[8], 1000, &sup));
	/* Its close touches no one else's count. */
	ice_conncap_remove(cc, &c[8].node);
	for (int i = 0; i < ICE_CONNCAP_PROBE; i++)
		CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &src[i]), 1);
	/* Growing the table keeps every count, and removals still find them. */
	CHECK_EQ_INT(ice_conncap_reserve(cc, 1000), 0);
	CHECK_EQ_INT(ice_conncap_capacity(cc), 2048);
	CHECK_EQ_INT(ice_conncap_reserve(cc, 10), 0); /* never shrinks */
	CHECK_EQ_INT(ice_conncap_capacity(cc), 2048);
	for (int i = 0; i < ICE_CONNCAP_PROBE; i++) {
		CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &src[i]), 1);
		CHECK_EQ_INT(ice_conncap_check(cc, ICE_CONNCAP_TCP, &src[i], false, &victim),
		             ICE_CONNCAP_REFUSE_ADDR);
		ice_conncap_remove(cc, &c[i].node);
		CHECK_EQ_INT(ice_conncap_count(cc, ICE_CONNCAP_TCP, &src[i]), 0);
	}
	ice_conncap_free(cc);
}

static void
test_log_minute(void)
{
	struct ice_conncap *cc = ice_conncap_new(4, &test_key, NULL);
	struct ice_addr a = ip("192.0.2.1", 1), a6 = ip("2001:db8::1", 1);
	struct ice_addr a6b = ip("2001:db8::2", 1);
	uint32_t sup = 99;

	REQUIRE(cc != NULL);
	CHECK(ice_conncap_log_due(cc, &a, 5000, &sup));
	CHECK_EQ_INT(sup, 0);
	CHECK(!ice_conncap_log_due(cc, &a, 5001, &sup));
	CHECK(!ice_conncap_log_due(cc, &a, 5000 + ICE_CONNCAP_LOG_MS - 1, &sup));
	CHECK(ice_conncap_log_due(cc, &a, 5000 + ICE_CONNCAP_LOG_MS, &sup));
	CHECK_EQ_INT(sup, 2);
	/* A /64 is one source for the log too; another source its own minute. */
	CHECK(ice_conncap_log_due(cc, &a6, 66000, &sup));
	CHECK(!ice_conncap_log_due(cc, &a6b, 66001, &sup));
	CHECK(!ice_conncap_log_due(cc, &a, 66002, &sup));
	ice_conncap_free(cc);
}

static void
test_gate_counts(void)
{
	struct ice_metrics *m = ice_metrics_block_new();
	struct ice_conncap *cc = ice_conncap_new(2, &test_key, m);
	struct ice_conncap_node *victim;
	struct conn c[3];
	struct ice_addr a = ip("192.0.2.1", 1), b = ip("192.0.2.2", 1);

	REQUIRE(m != NULL && cc != NULL);
	ice_conncap_set_cap(cc, ICE_CONNCAP_ADMIN, 2);
	ice_conncap_add(cc, &c[0].node, ICE_CONNCAP_ADMIN, &a);
	ice_conncap_add(cc, &c[1].node, ICE_CONNCAP_ADMIN, &a);
	CHECK_EQ_INT(ice_conncap_gate(cc, ICE_CONNCAP_ADMIN, &a, true, 10, &victim),
	             ICE_CONNCAP_REFUSE_ADDR);
	CHECK_EQ_INT(ice_conncap_gate(cc, ICE_CONNCAP_ADMIN, &b, true, 11, &victim),
	             ICE_CONNCAP_EVICT);
	CHECK(victim == &c[0].node);
	ice_conncap_remove(cc, victim);
	ice_conncap_served(cc, &c[1].node);
	CHECK_EQ_INT(ice_conncap_gate(cc, ICE_CONNCAP_ADMIN, &b, true, 12, &victim),
	             ICE_CONNCAP_EVICT);
	CHECK(victim == &c[1].node);
	ice_conncap_pin(cc, &c[1].node, true);
	CHECK_EQ_INT(ice_conncap_gate(cc, ICE_CONNCAP_ADMIN, &b, true, 13, &victim),
	             ICE_CONNCAP_REFUSE_FULL);
	CHECK_EQ_INT(ice_conncap_gate(cc, ICE_CONNCAP_ADMIN, &b, false, 14, &victim),
	             ICE_CONNCAP_ADMIT);
	CHECK_EQ_INT(ice_metrics_sum(ICE_M_CONN_ADMIN_REFUSED_ADDR), 1);
	CHECK_EQ_INT(ice_metrics_sum(ICE_M_CONN_ADMIN_EVICTED_PENDING), 1);
	CHECK_EQ_INT(ice_metrics_sum(ICE_M_CONN_ADMIN_EVICTED_SERVED), 1);
	CHECK_EQ_INT(ice_metrics_sum(ICE_M_CONN_ADMIN_REFUSED_FULL), 1);
	CHECK_EQ_INT(ice_metrics_sum(ICE_M_CONN_HTTP_REFUSED_ADDR), 0);
	ice_conncap_remove(cc, &c[1].node);
	ice_conncap_free(cc);
}

int
main(void)
{
	test_caps();
	test_sources();
	test_eviction_order();
	test_window_full();
	test_log_minute();
	test_gate_counts();
	TEST_DONE();
}
