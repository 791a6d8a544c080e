/*
 * peers.node.server.cluster: every key of issue 14 parsed into the snapshot,
 * the defaults, the Redis URL forms, and each mistake reported at its
 * file:line:col. Without a cluster section nothing is enabled.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/config.h"

#include "cfg.h"
#include "config_buffer.h"
#include "testutil.h"

static char err[4096];

/* A minimal serving tree (STUN only) with the given text under server:. */
static struct ice_config *
load_with(const char *server_extra)
{
	char buf[4096];

	snprintf(buf, sizeof(buf),
	         "peers:\n"
	         "  node:\n"
	         "    server:\n"
	         "      subserver:\n"
	         "        stun: {public-ip: 192.0.2.1}\n"
	         "%s",
	         server_extra);
	return ice_config_load_buffer("mem.yml", buf, strlen(buf), err, sizeof(err));
}

static void
expect_error(const char *server_extra, const char *want)
{
	struct ice_config *cfg = load_with(server_extra);

	CHECK(cfg == NULL);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "  want \"%s\"\n  got  \"%s\"\n", want, err);
		CHECK(!"error text");
	}
	ice_config_free(cfg);
}

static void
test_absent(void)
{
	struct ice_config *cfg = load_with("");

	REQUIRE(cfg != NULL);
	CHECK(!cfg->cluster.enabled);
	CHECK(cfg->cluster.redis_host == NULL);
	CHECK(cfg->cluster.node_id == NULL);
	ice_config_free(cfg);
}

static void
test_full(void)
{
	char dir[] = "/tmp/icecluster-XXXXXX", path[600], yaml[1400];
	struct ice_config *cfg;
	FILE *fp;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/pw", dir);
	fp = fopen(path, "w");
	REQUIRE(fp != NULL);
	fputs("s3cr3t-pw\n", fp);
	fclose(fp);
	REQUIRE(chmod(path, 0600) == 0);
	snprintf(yaml, sizeof(yaml),
	         "      cluster:\n"
	         "        enabled: true\n"
	         "        redis: redis://10.1.2.3:6380/4\n"
	         "        redis-password-file: %s\n"
	         "        key-prefix: \"edge-a:\"\n"
	         "        node-id: node-1.example\n"
	         "        heartbeat: 500ms\n"
	         "        node-ttl: 3s\n"
	         "        quota-timeout: 20ms\n"
	         "        ice-api:\n"
	         "          nodes: 3\n"
	         "          strategy: least-loaded\n",
	         path);
	cfg = load_with(yaml);
	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	CHECK(cfg->cluster.enabled);
	CHECK_STR(cfg->cluster.redis_url, "redis://10.1.2.3:6380/4");
	CHECK_STR(cfg->cluster.redis_host, "10.1.2.3");
	CHECK(cfg->cluster.redis_unix == NULL);
	CHECK_EQ_INT(cfg->cluster.redis_port, 6380);
	CHECK_EQ_INT(cfg->cluster.redis_db, 4);
	CHECK_STR(cfg->cluster.redis_password, "s3cr3t-pw");
	CHECK_STR(cfg->cluster.key_prefix, "edge-a:");
	CHECK_STR(cfg->cluster.node_id, "node-1.example");
	CHECK_EQ_INT(cfg->cluster.heartbeat_ms, 500);
	CHECK_EQ_INT(cfg->cluster.node_ttl_ms, 3000);
	CHECK_EQ_INT(cfg->cluster.quota_timeout_ms, 20);
	CHECK_EQ_INT(cfg->cluster.ice_nodes, 3);
	CHECK_EQ_INT(cfg->cluster.strategy, ICE_CONFIG_CLUSTER_LEAST_LOADED);

	/* The printed form names the file, never the password, and loads again. */
	{
		char *text = NULL;
		size_t len = 0;
		struct ice_config *again;

		fp = open_memstream(&text, &len);
		REQUIRE(fp != NULL);
		CHECK_EQ_INT(ice_config_print(cfg, fp), 0);
		fclose(fp);
		CHECK(strstr(text, "s3cr3t") == NULL);
		CHECK(strstr(text, "quota-timeout: 20ms") != NULL);
		again = ice_config_load_buffer("printed.yml", text, len, err, sizeof(err));
		if (again == NULL)
			fprintf(stderr, "reload: %s\n---\n%s", err, text);
		REQUIRE(again != NULL);
		CHECK_EQ_INT(again->cluster.heartbeat_ms, 500);
		CHECK_EQ_INT(again->cluster.strategy, ICE_CONFIG_CLUSTER_LEAST_LOADED);
		CHECK_STR(again->cluster.redis_password, "s3cr3t-pw");
		ice_config_free(again);
		free(text);
	}
	ice_config_free(cfg);
	unlink(path);
	rmdir(dir);
}

static void
test_defaults(void)
{
	struct ice_config *cfg =
		load_with("      cluster:\n        redis: redis://redis.internal\n");
	char host[256];

	REQUIRE(cfg != NULL);
	CHECK(cfg->cluster.enabled);
	CHECK_STR(cfg->cluster.redis_host, "redis.internal");
	CHECK_EQ_INT(cfg->cluster.redis_port, 6379);
	CHECK_EQ_INT(cfg->cluster.redis_db, 0);
	CHECK(cfg->cluster.redis_password == NULL);
	CHECK_STR(cfg->cluster.key_prefix, "icestation:");
	REQUIRE(gethostname(host, sizeof(host)) == 0);
	CHECK_STR(cfg->cluster.node_id, host);
	CHECK_EQ_INT(cfg->cluster.heartbeat_ms, 1000);
	CHECK_EQ_INT(cfg->cluster.node_ttl_ms, 5000);
	CHECK_EQ_INT(cfg->cluster.quota_timeout_ms, 50);
	CHECK_EQ_INT(cfg->cluster.ice_nodes, 2);
	CHECK_EQ_INT(cfg->cluster.strategy, ICE_CONFIG_CLUSTER_SELF_FIRST);
	ice_config_free(cfg);

	cfg = load_with("      cluster:\n        enabled: false\n");
	REQUIRE(cfg != NULL);
	CHECK(!cfg->cluster.enabled);
	ice_config_free(cfg);
}

static void
test_urls(void)
{
	static const struct {
		const char *url, *host, *unix_path;
		unsigned port, db;
	} good[] = {
		{ "unix:/run/redis/redis.sock", NULL, "/run/redis/redis.sock", 6379, 0 },
		{ "redis://[::1]:7000/2", "::1", NULL, 7000, 2 },
		{ "redis://[2001:db8::5]", "2001:db8::5", NULL, 6379, 0 },
		{ "redis://127.0.0.1/", "127.0.0.1", NULL, 6379, 0 },
		{ "redis://localhost:19490/15", "localhost", NULL, 19490, 15 },
	};
	static const char *const bad[] = {
		"redis://",
		"redis://:6379",
		"redis://host:0",
		"redis://host:65536",
		"redis://host:12x",
		"redis://ho st",
		"redis://[::1",
		"redis://[127.0.0.1]:1",
		"redis://host/db",
		"redis://host/70000",
		"unix:relative.sock",
		"http://host",
		"redis://-host",
		"unix:/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct ice_config_cluster cl;
	const char *why;
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(good); i++) {
		memset(&cl, 0, sizeof(cl));
		CHECK_EQ_INT(cfg_parse_redis_url(good[i].url, &cl, &why), 0);
		if (good[i].host)
			CHECK_STR(cl.redis_host, good[i].host);
		else
			CHECK(cl.redis_host == NULL);
		if (good[i].unix_path)
			CHECK_STR(cl.redis_unix, good[i].unix_path);
		else
			CHECK(cl.redis_unix == NULL);
		CHECK_EQ_INT(cl.redis_port, good[i].port);
		CHECK_EQ_INT(cl.redis_db, good[i].db);
		cfg_cluster_free(&cl);
	}
	for (i = 0; i < ICE_ARRAY_SIZE(bad); i++) {
		memset(&cl, 0, sizeof(cl));
		if (cfg_parse_redis_url(bad[i], &cl, &why) != -EINVAL) {
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
			CHECK(!"bad URL accepted");
		} else {
			CHECK(why != NULL);
		}
		cfg_cluster_free(&cl);
	}
}

static void
test_errors(void)
{
	/* The value, at line 7 column 16 (1-based), is what is wrong. */
	expect_error("      cluster:\n        redis: http://x\n",
	             "mem.yml:7:16: peers.node.server.cluster.redis: expected "
	             "redis://host[:port][/db] or unix:/absolute/path, got \"http://x\"");
	expect_error("      cluster:\n        redis: redis://user:pw@h:1/0\n",
	             "mem.yml:7:16: peers.node.server.cluster.redis: expected an address without "
	             "credentials (put the password in redis-password-file)");
	expect_error("      cluster:\n        redis: rediss://h:1/0\n",
	             "mem.yml:7:16: peers.node.server.cluster.redis: expected redis:// or unix: "
	             "(TLS to Redis");
	expect_error("      cluster:\n        redis: redis://h\n        hearbeat: 1s\n",
	             "mem.yml:8:9: unknown key \"hearbeat\" in peers.node.server.cluster");
	expect_error("      cluster:\n        redis: redis://h\n        ice-api: {strategy: "
	             "random}\n",
	             "mem.yml:8:29: peers.node.server.cluster.ice-api.strategy: expected "
	             "self-first or least-loaded, got \"random\"");
	expect_error("      cluster:\n        redis: redis://h\n        ice-api: {nodes: 0}\n",
	             "mem.yml:8:26: peers.node.server.cluster.ice-api.nodes: \"0\" is out of "
	             "range: expected an integer from 1 to 64");
	expect_error("      cluster:\n        redis: redis://h\n        heartbeat: 2s\n"
	             "        node-ttl: 3s\n",
	             "mem.yml:9:9: cluster.node-ttl (3000ms) must be at least two heartbeats "
	             "(4000ms)");
	expect_error("      cluster:\n        redis: redis://h\n        node-id: \"a b\"\n",
	             "mem.yml:8:18: peers.node.server.cluster.node-id: expected a node id: 1-63 "
	             "letters, digits");
	expect_error("      cluster:\n        redis: redis://h\n        key-prefix: \"a b\"\n",
	             "mem.yml:8:21: peers.node.server.cluster.key-prefix: expected a key prefix");
	expect_error("      cluster:\n        redis: redis://h\n        quota-timeout: 20s\n",
	             "mem.yml:8:24: peers.node.server.cluster.quota-timeout: \"20s\" is out of "
	             "range: expected a duration from 1ms to 10000ms");
	expect_error("      cluster:\n        redis: redis://h\n        quota-timeout: 5x\n",
	             "mem.yml:8:24: peers.node.server.cluster.quota-timeout: expected a duration "
	             "from 1ms to 10000ms");
	expect_error("      cluster:\n        node-id: n1\n",
	             "mem.yml:6:7: cluster is enabled but cluster.redis is not set");
	expect_error("      cluster:\n        redis: redis://h\n        redis-password-file: "
	             "/nonexistent/pw\n",
	             "mem.yml:8:9: cluster.redis-password-file \"/nonexistent/pw\": cannot "
	             "read: No such file or directory");
}

static void
test_duration_ms(void)
{
	uint32_t v = 0;

	CHECK_EQ_INT(cfg_parse_duration_ms("50ms", 1, 10000, &v), 0);
	CHECK_EQ_INT(v, 50);
	CHECK_EQ_INT(cfg_parse_duration_ms("2", 1, 10000, &v), 0);
	CHECK_EQ_INT(v, 2000);
	CHECK_EQ_INT(cfg_parse_duration_ms("1m", 1, 600000, &v), 0);
	CHECK_EQ_INT(v, 60000);
	CHECK_EQ_INT(cfg_parse_duration_ms("1h", 1, 600000, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_duration_ms("0ms", 1, 100, &v), -ERANGE);
	CHECK_EQ_INT(cfg_parse_duration_ms("5msx", 1, 100, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_duration_ms("ms", 1, 100, &v), -EINVAL);
	CHECK_EQ_INT(cfg_parse_duration_ms("99999999999ms", 1, 100, &v), -ERANGE);
}

int
main(void)
{
	test_absent();
	test_full();
	test_defaults();
	test_urls();
	test_errors();
	test_duration_ms();
	TEST_DONE();
}
