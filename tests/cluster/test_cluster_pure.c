/*
 * The pure parts of the cluster layer: node health and ICE ordering for both
 * strategies, the node record codec (round trip and hostile input), the
 * over-admission bound, the shared nonce key, and the node record built from
 * a config. No Redis, no clock.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "icestation/cluster.h"
#include "icestation/config.h"

#include "config_buffer.h"
#include "record.h"
#include "testutil.h"

static struct ice_cluster_node
node(const char *id, uint32_t allocs, uint32_t max, bool draining, ice_ms_t expires)
{
	struct ice_cluster_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "%s", id);
	n.allocations = allocs;
	n.max_allocations = max;
	n.draining = draining;
	n.expires = expires;
	return n;
}

static void
test_healthy(void)
{
	struct ice_cluster_node n = node("a", 5, 10, false, 1000);

	CHECK(ice_cluster_node_is_healthy(&n, 999));
	CHECK(!ice_cluster_node_is_healthy(&n, 1000)); /* expired at its deadline */
	n.allocations = 10;
	CHECK(!ice_cluster_node_is_healthy(&n, 0)); /* full */
	n.max_allocations = 0;
	CHECK(ice_cluster_node_is_healthy(&n, 0)); /* no limit known */
	n.draining = true;
	CHECK(!ice_cluster_node_is_healthy(&n, 0));
}

static void
test_select(void)
{
	/* now = 100: "gone" expired, "drain" draining, "full" at its limit. */
	struct ice_cluster_node nodes[] = {
		node("self", 50, 100, false, 1000), node("b", 7, 100, false, 1000),
		node("gone", 0, 100, false, 100),   node("c", 3, 100, false, 1000),
		node("drain", 0, 100, true, 1000),  node("full", 100, 100, false, 1000),
		node("a", 7, 100, false, 1000),
	};
	size_t idx[8], n;

	/* self-first: self, then the others by allocations, ties by id. */
	n = ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_SELF_FIRST, 100, 8, idx);
	REQUIRE(n == 4);
	CHECK_STR(nodes[idx[0]].id, "self");
	CHECK_STR(nodes[idx[1]].id, "c");
	CHECK_STR(nodes[idx[2]].id, "a");
	CHECK_STR(nodes[idx[3]].id, "b");

	/* Only `want` come back, and they are the best ones. */
	n = ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_SELF_FIRST, 100, 2, idx);
	REQUIRE(n == 2);
	CHECK_STR(nodes[idx[0]].id, "self");
	CHECK_STR(nodes[idx[1]].id, "c");

	/* least-loaded: self takes its place by load (50: last). */
	n = ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_LEAST_LOADED, 100, 8, idx);
	REQUIRE(n == 4);
	CHECK_STR(nodes[idx[0]].id, "c");
	CHECK_STR(nodes[idx[1]].id, "a");
	CHECK_STR(nodes[idx[2]].id, "b");
	CHECK_STR(nodes[idx[3]].id, "self");
	n = ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_LEAST_LOADED, 100, 1, idx);
	REQUIRE(n == 1);
	CHECK_STR(nodes[idx[0]].id, "c");

	/* An unhealthy self is not first: draining self leaves the list. */
	nodes[0].draining = true;
	n = ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_SELF_FIRST, 100, 8, idx);
	REQUIRE(n == 3);
	CHECK_STR(nodes[idx[0]].id, "c");
	nodes[0].draining = false;

	/* No self index: plain least-loaded among all. */
	n = ice_cluster_select(nodes, 7, SIZE_MAX, ICE_CLUSTER_SELF_FIRST, 100, 8, idx);
	REQUIRE(n == 4);
	CHECK_STR(nodes[idx[0]].id, "c");
	CHECK_STR(nodes[idx[3]].id, "self");

	/* Later, everything but the unexpired ones is gone. */
	n = ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_SELF_FIRST, 1000, 8, idx);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(ice_cluster_select(nodes, 7, 0, ICE_CLUSTER_SELF_FIRST, 100, 0, idx), 0);
}

static struct ice_cluster_node
full_record(void)
{
	struct ice_cluster_node n = node("node-1.eu", 12, 1000, true, 0);

	snprintf(n.version, sizeof(n.version), "0.1.0");
	snprintf(n.turns_host, sizeof(n.turns_host), "turn.example.org");
	n.instance = 0x0123456789abcdefULL;
	n.generation = 42;
	n.rx_bps = 123456789;
	n.tx_bps = 987654321;
	n.written_ms = 1765000000123ULL;
	n.n_ep = 4;
	n.ep[0] = (struct ice_cluster_endpoint){ ICE_CLUSTER_STUN, ICE_TRANSPORT_UDP, { 0 } };
	ice_addr_parse_ip(&n.ep[0].addr, "203.0.113.7", 3478);
	n.ep[1] = (struct ice_cluster_endpoint){ ICE_CLUSTER_TURN, ICE_TRANSPORT_UDP, { 0 } };
	ice_addr_parse_ip(&n.ep[1].addr, "203.0.113.7", 3478);
	n.ep[2] = (struct ice_cluster_endpoint){ ICE_CLUSTER_TURN, ICE_TRANSPORT_TCP, { 0 } };
	ice_addr_parse_ip(&n.ep[2].addr, "2001:db8::7", 3478);
	n.ep[3] = (struct ice_cluster_endpoint){ ICE_CLUSTER_TURN, ICE_TRANSPORT_TLS, { 0 } };
	ice_addr_parse_ip(&n.ep[3].addr, "2001:db8::7", 5349);
	return n;
}

static void
test_record_roundtrip(void)
{
	struct ice_cluster_node a = full_record(), b;
	char buf[ICE_CLUSTER_RECORD_MAX];
	int len;
	size_t i;

	len = cl_record_encode(&a, buf, sizeof(buf));
	REQUIRE(len > 0);
	CHECK_EQ_INT(strlen(buf), len);
	CHECK(strstr(buf, "\"ep\":[[\"stun\",\"udp\",\"203.0.113.7:3478\"]") != NULL);
	CHECK(strstr(buf, "\"turn\",\"tls\",\"[2001:db8::7]:5349\"") != NULL);
	CHECK(strstr(buf, "\"inst\":\"0123456789abcdef\"") != NULL);
	REQUIRE(cl_record_decode(&b, buf, (size_t)len) == 0);
	CHECK_STR(b.id, a.id);
	CHECK_STR(b.version, a.version);
	CHECK_STR(b.turns_host, a.turns_host);
	CHECK(b.instance == a.instance);
	CHECK_EQ_INT(b.generation, 42);
	CHECK_EQ_INT(b.allocations, 12);
	CHECK_EQ_INT(b.max_allocations, 1000);
	CHECK(b.rx_bps == a.rx_bps && b.tx_bps == a.tx_bps);
	CHECK(b.written_ms == a.written_ms);
	CHECK(b.draining);
	REQUIRE(b.n_ep == 4);
	for (i = 0; i < 4; i++) {
		CHECK_EQ_INT(b.ep[i].service, a.ep[i].service);
		CHECK_EQ_INT(b.ep[i].transport, a.ep[i].transport);
		CHECK(ice_addr_equal(&b.ep[i].addr, &a.ep[i].addr));
	}
	/* Too small a buffer is -ENOSPC, never a cut record. */
	CHECK_EQ_INT(cl_record_encode(&a, buf, 40), -ENOSPC);
}

static void
test_record_hostile(void)
{
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"{\"v\":1}",
		"{\"v\":2,\"id\":\"a\"}",
		/* each of these breaks one field of an otherwise good record */
		"{\"v\":1,\"id\":\"a b\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"-000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":-1,\"turns\":\"\",\"ep\":[],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1.5,\"turns\":\"\",\"ep\":[],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[],\"alloc\":4294967296,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":1,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"a\\nb\",\"ep\":[],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[[\"turn\",\"udp\",\"1.2.3.4\"]],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[[\"turn\",\"udp\",\"1.2.3.4:0\"]],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[[\"turn\",\"udp\",\"::1:3478\"]],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[[\"turn\",\"sctp\",\"1.2.3.4:1\"]],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[[\"relay\",\"udp\",\"1.2.3.4:1\"]],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":[[\"turn\",\"udp\"]],\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,\"turns\":\"\",\"ep\":{},\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0}",
	};
	static const char good[] =
		"{\"v\":1,\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,"
		"\"turns\":\"\",\"ep\":[[\"turn\",\"udp\",\"[::1]:3478\"]],\"alloc\":0,\"max\":0,"
		"\"rx\":0,\"tx\":0,\"drain\":false,\"at\":0,\"future\":[1,2]}";
	struct ice_cluster_node n;
	char big[ICE_CLUSTER_RECORD_MAX + 64];
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(bad); i++) {
		if (cl_record_decode(&n, bad[i], strlen(bad[i])) != -EBADMSG) {
			fprintf(stderr, "  accepted bad[%zu]: %s\n", i, bad[i]);
			CHECK(!"hostile record accepted");
		}
		CHECK_EQ_INT(n.id[0], 0); /* nothing half-decoded is left behind */
	}
	/* The good one decodes (unknown fields ignored); cut anywhere, it does not. */
	CHECK_EQ_INT(cl_record_decode(&n, good, strlen(good)), 0);
	CHECK_EQ_INT(n.n_ep, 1);
	for (i = 0; i + 1 < strlen(good); i++)
		CHECK_EQ_INT(cl_record_decode(&n, good, i), -EBADMSG);
	/* Over the size limit, even when well-formed. */
	memset(big, ' ', sizeof(big));
	memcpy(big, good, strlen(good));
	CHECK_EQ_INT(cl_record_decode(&n, big, sizeof(big)), -EBADMSG);
	/* Too many endpoints. */
	{
		char many[4096];
		size_t off = (size_t)snprintf(many, sizeof(many), "{\"v\":1,\"ep\":[");

		for (i = 0; i <= ICE_CLUSTER_MAX_ENDPOINTS; i++)
			off += (size_t)snprintf(many + off, sizeof(many) - off,
			                        "%s[\"turn\",\"udp\",\"1.2.3.4:1\"]", i ? "," : "");
		snprintf(many + off, sizeof(many) - off,
		         "],\"id\":\"a\",\"inst\":\"0000000000000001\",\"ver\":\"x\",\"gen\":1,"
		         "\"turns\":\"\",\"alloc\":0,\"max\":0,\"rx\":0,\"tx\":0,\"drain\":false,"
		         "\"at\":0}");
		CHECK_EQ_INT(cl_record_decode(&n, many, strlen(many)), -EBADMSG);
	}
}

static void
test_names(void)
{
	char user[ICE_CLUSTER_USER_MAX + 2];

	CHECK(cl_id_is_valid("node-1.eu_x", 11));
	CHECK(!cl_id_is_valid("", 0));
	CHECK(!cl_id_is_valid("a:b", 3));
	CHECK(cl_user_is_valid("did:peers:alice"));
	CHECK(!cl_user_is_valid(""));
	CHECK(!cl_user_is_valid("al ice"));
	CHECK(!cl_user_is_valid("al\nice"));
	memset(user, 'u', sizeof(user));
	user[ICE_CLUSTER_USER_MAX] = '\0';
	CHECK(cl_user_is_valid(user));
	user[ICE_CLUSTER_USER_MAX] = 'u';
	user[ICE_CLUSTER_USER_MAX + 1] = '\0';
	CHECK(!cl_user_is_valid(user));
}

static void
test_revocation_parse(void)
{
	static const char *const bad[] = {
		"",
		"1",
		"1 2",
		"1 2 ",
		"a 2 u",
		"1 b u",
		" 1 2 u",
		"1  2 u",
		"-1 2 u",
		"1 +2 u",
		"1 2 u v",
		"1 2 u\n",
		"1 99999999999999999999999 u",
		"1 2\tu",
	};
	uint64_t at = 0, until = 0;
	const char *user = NULL;
	char big[400];
	size_t i;

	CHECK_EQ_INT(cl_revocation_parse("17 42 did:peers:eve", 19, &at, &until, &user), 0);
	CHECK_EQ_INT(at, 17);
	CHECK_EQ_INT(until, 42);
	CHECK(user != NULL && strncmp(user, "did:peers:eve", 13) == 0);
	/* Not NUL-terminated: only len bytes count. */
	CHECK_EQ_INT(cl_revocation_parse("17 42 evexxx", 9, &at, &until, &user), 0);
	CHECK_EQ_INT(cl_revocation_parse("1700000000 1700086400", 21, &at, &until, NULL), 0);
	CHECK_EQ_INT(until, 1700086400);
	CHECK_EQ_INT(cl_revocation_parse("1 2 u", 5, &at, &until, NULL), -EBADMSG);
	CHECK_EQ_INT(cl_revocation_parse("1 2\0u", 5, &at, &until, NULL), -EBADMSG);
	for (i = 0; i < ICE_ARRAY_SIZE(bad); i++)
		if (cl_revocation_parse(bad[i], strlen(bad[i]), &at, &until, &user) != -EBADMSG) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(!"bad revocation accepted");
		}
	memset(big, 'u', sizeof(big));
	memcpy(big, "1 2 ", 4);
	CHECK_EQ_INT(cl_revocation_parse(big, 4 + ICE_CLUSTER_USER_MAX, &at, &until, &user), 0);
	CHECK_EQ_INT(cl_revocation_parse(big, 5 + ICE_CLUSTER_USER_MAX, &at, &until, &user),
	             -EBADMSG);
	CHECK_EQ_INT(cl_revocation_parse(big, sizeof(big), &at, &until, &user), -EBADMSG);
}

static void
test_bound(void)
{
	/* Nothing cut off: the limit holds exactly. */
	CHECK_EQ_INT(ice_cluster_quota_bound(2, 3, 0), 2);
	/* One of three cut off: it admits 2 alone, the other two share 2. */
	CHECK_EQ_INT(ice_cluster_quota_bound(2, 3, 1), 4);
	CHECK_EQ_INT(ice_cluster_quota_bound(2, 3, 2), 6);
	/* All cut off (Redis down): each node on its own. */
	CHECK_EQ_INT(ice_cluster_quota_bound(2, 3, 3), 6);
	CHECK_EQ_INT(ice_cluster_quota_bound(30, 5, 5), 150);
	CHECK_EQ_INT(ice_cluster_quota_bound(2, 3, 7), 6); /* clamped */
	CHECK_EQ_INT(ice_cluster_quota_bound(0, 3, 3), 0);
	CHECK_EQ_INT(ice_cluster_quota_bound(5, 0, 0), 0);
	CHECK(ice_cluster_quota_bound(UINT32_MAX, UINT32_MAX, UINT32_MAX) ==
	      (uint64_t)UINT32_MAX * UINT32_MAX);
}

static void
test_local_from_config(void)
{
	static const char yaml[] =
		"peers:\n"
		"  node:\n"
		"    server:\n"
		"      subserver:\n"
		"        stun: {public-ip: 192.0.2.1, port: 3478, transports: [udp]}\n"
		"        turn: {public-ip: 192.0.2.1, port: 3479, realm: r, auth-secret: "
		"0123456789abcdef0123,\n"
		"               relay-ip-range: 127.0.0.1/32, max-allocations: 77,\n"
		"               max-allocations-per-user: 3, allocations-per-minute-per-user: 9}\n"
		"      cluster: {redis: \"unix:/tmp/r.sock\", node-id: n7, quota-timeout: 30ms}\n";
	char err[1024];
	struct ice_config *cfg =
		ice_config_load_buffer("mem.yml", yaml, strlen(yaml), err, sizeof(err));
	struct ice_cluster_settings s;
	struct ice_cluster_node self;

	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	REQUIRE(ice_cluster_settings_from_config(&s, cfg) == 0);
	CHECK_STR(s.redis_unix, "/tmp/r.sock");
	CHECK(s.redis_host == NULL);
	CHECK_STR(s.node_id, "n7");
	CHECK_EQ_INT(s.quota_timeout_ms, 30);
	CHECK_EQ_INT(s.max_allocations_per_user, 3);
	CHECK_EQ_INT(s.allocations_per_minute_per_user, 9);
	REQUIRE(ice_cluster_local_from_config(&self, cfg, 5) == 0);
	CHECK_STR(self.id, "n7");
	CHECK_EQ_INT(self.generation, 5);
	CHECK_EQ_INT(self.max_allocations, 77);
	REQUIRE(self.n_ep == 3); /* stun/udp, turn/udp, turn/tcp */
	CHECK_EQ_INT(self.ep[0].service, ICE_CLUSTER_STUN);
	CHECK_EQ_INT(self.ep[0].addr.port, 3478);
	CHECK_EQ_INT(self.ep[2].service, ICE_CLUSTER_TURN);
	CHECK_EQ_INT(self.ep[2].transport, ICE_TRANSPORT_TCP);
	CHECK_EQ_INT(self.ep[2].addr.port, 3479);
	ice_config_free(cfg);
}

/* A dual-stack node's record: both families' endpoints, IPv4 first. */
static void
test_local_from_config_dual(void)
{
	static const char yaml[] =
		"peers:\n"
		"  node:\n"
		"    server:\n"
		"      subserver:\n"
		"        stun: {public-ip: [192.0.2.1, \"2001:db8::1\"], port: 3478, transports: [udp]}\n"
		"        turn: {public-ip: [\"2001:db8::1\", 192.0.2.1], port: 3479, realm: r,\n"
		"               auth-secret: 0123456789abcdef0123,\n"
		"               relay-ip-range: [127.0.0.1/32, \"::1/128\"]}\n"
		"      cluster: {redis: \"unix:/tmp/r.sock\", node-id: n8}\n";
	static const struct {
		uint8_t service, transport;
		const char *addr;
	} want[] = {
		{ ICE_CLUSTER_STUN, ICE_TRANSPORT_UDP, "192.0.2.1:3478" },
		{ ICE_CLUSTER_STUN, ICE_TRANSPORT_UDP, "[2001:db8::1]:3478" },
		{ ICE_CLUSTER_TURN, ICE_TRANSPORT_UDP, "192.0.2.1:3479" },
		{ ICE_CLUSTER_TURN, ICE_TRANSPORT_TCP, "192.0.2.1:3479" },
		{ ICE_CLUSTER_TURN, ICE_TRANSPORT_UDP, "[2001:db8::1]:3479" },
		{ ICE_CLUSTER_TURN, ICE_TRANSPORT_TCP, "[2001:db8::1]:3479" },
	};
	char err[1024], buf[ICE_ADDR_STRLEN];
	struct ice_config *cfg =
		ice_config_load_buffer("mem.yml", yaml, strlen(yaml), err, sizeof(err));
	struct ice_cluster_node self;

	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	REQUIRE(ice_cluster_local_from_config(&self, cfg, 1) == 0);
	REQUIRE(self.n_ep == ICE_ARRAY_SIZE(want));
	for (size_t i = 0; i < ICE_ARRAY_SIZE(want); i++) {
		CHECK_EQ_INT(self.ep[i].service, want[i].service);
		CHECK_EQ_INT(self.ep[i].transport, want[i].transport);
		CHECK_STR(ice_addr_str(&self.ep[i].addr, buf, sizeof(buf)), want[i].addr);
	}
	ice_config_free(cfg);
}

int
main(void)
{
	test_healthy();
	test_select();
	test_record_roundtrip();
	test_record_hostile();
	test_names();
	test_revocation_parse();
	test_bound();
	test_local_from_config();
	test_local_from_config_dual();
	TEST_DONE();
}
