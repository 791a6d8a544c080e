/*
 * Config loader: the shipped conf/ tree, every error class with its exact
 * file:line:col, env expansion and overrides, secrets, print round trip.
 * Data files live in tests/config/data (CFG_DATA), the shipped tree in conf/
 * (CFG_CONF).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/config.h"
#include "icestation/log.h"

#include "config_buffer.h"
#include "testutil.h"

static char err[8192];
static char tmpdir[] = "/tmp/icecfg-XXXXXX";

static const char *
data(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", CFG_DATA, name);
	return buf[i];
}

/* Families that route outward here: relay-ip-range: auto takes each. */
static int
outward_families(void)
{
	struct ice_addr a;

	return (ice_config_outward_of(AF_INET, &a) == 0) +
	       (ice_config_outward_of(AF_INET6, &a) == 0);
}

static struct ice_config *
load_data(const char *name)
{
	return ice_config_load(data(name), err, sizeof(err));
}

/* Load must fail and err must contain "<data>/<file>:<rest>". */
static void
expect_error(const char *name, const char *file_in_msg, const char *rest)
{
	struct ice_config *cfg = load_data(name);
	char want[1024];

	snprintf(want, sizeof(want), "%s:%s", data(file_in_msg), rest);
	CHECK(cfg == NULL);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "  %s: want \"%s\"\n  got \"%s\"\n", name, want, err);
		CHECK(!"error text");
	} else {
		CHECK(true);
	}
	ice_config_free(cfg);
}

static void
test_unknown_keys(void)
{
	expect_error("stun_unknown_key.yml", "stun_unknown_key.yml",
	             "7:11: unknown key \"prot\" in peers.node.server.subserver.stun");
	expect_error("turn_unknown_key.yml", "turn_unknown_key.yml",
	             "10:13: unknown key \"certificate\" in peers.node.server.subserver.turn.tls");
	expect_error("http_unknown_key.yml", "http_unknown_key.yml",
	             "6:9: unknown key \"listne\" in peers.node.server.http");
}

static void
test_mistyped(void)
{
	expect_error("bad_port.yml", "bad_port.yml",
	             "6:17: peers.node.server.subserver.stun.port: expected a port number 1-65535, "
	             "got \"abc\"");
	expect_error("bad_int.yml", "bad_int.yml",
	             "8:28: peers.node.server.subserver.turn.max-allocations: expected an integer "
	             "from 1 to 1000000, got \"-1\"");
	expect_error("bad_duration.yml", "bad_duration.yml",
	             "8:32: peers.node.server.subserver.turn.allocation-lifetime: expected a "
	             "duration from 1s to 3600s");
	expect_error("lifetime_too_long.yml", "lifetime_too_long.yml",
	             "8:32: peers.node.server.subserver.turn.allocation-lifetime: \"2h\" is out of "
	             "range: expected a duration from 1s to 3600s");
	expect_error("bad_bool.yml", "bad_bool.yml",
	             "6:20: peers.node.server.subserver.stun.enabled: expected true or false");
	expect_error("bad_cidr.yml", "bad_cidr.yml",
	             "10:15: peers.node.server.subserver.turn.denied-peer-ip: expected a CIDR");
	expect_error("bad_port_range.yml", "bad_port_range.yml",
	             "8:29: peers.node.server.subserver.turn.relay-port-range: \"60000-50000\" is "
	             "out of range: expected a port range A-B");
	/* One file, three errors: all are reported, not just the first. */
	expect_error("bad_listen.yml", "bad_listen.yml",
	             "5:17: peers.node.server.http.listen: expected an IP address and port");
	CHECK(strstr(err, "bad_listen.yml:8:29: peers.node.server.subserver.stun.listen: "
	                  "expected a literal IP address") != NULL);
	CHECK(strstr(err, "bad_listen.yml:9:29: peers.node.server.subserver.stun.transports: "
	                  "expected a list of udp, tcp, got \"quic\"") != NULL);
	expect_error("alias.yml", "alias.yml", "7:15: YAML aliases");
	expect_error("tls_no_cert.yml", "tls_no_cert.yml",
	             "8:11: subserver.turn.transports has tls, so tls.cert and tls.key");
}

static void
test_structure_errors(void)
{
	expect_error("dup_same_file.yml", "dup_same_file.yml", "8:11: duplicate key \"port\"");
	CHECK(strstr(err, "(first defined at ") != NULL);
	CHECK(strstr(err, "dup_same_file.yml:6:11)") != NULL);

	expect_error("dup_main.yml", "dup_inc.yml", "6:11: duplicate key \"port\"");
	CHECK(strstr(err, "dup_main.yml:7:11)") != NULL);

	expect_error("cycle_a.yml", "cycle_b.yml",
	             "3:7: include cycle: \"" CFG_DATA "/cycle_a.yml\" is already being loaded");
	expect_error("missing_include.yml", "missing_include.yml",
	             "3:13: cannot read include \"" CFG_DATA
	             "/does_not_exist.yml\": No such file or directory");
	expect_error("bad_syntax.yml", "bad_syntax.yml", "7:10: YAML syntax error: ");

	CHECK(ice_config_load(CFG_DATA "/nope.yml", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "nope.yml: cannot read config: No such file or directory") != NULL);
}

static void
test_env(void)
{
	struct ice_config *cfg;

	unsetenv("ICE_TEST_UNSET_VAR");
	expect_error("env_unset.yml", "env_unset.yml",
	             "6:18: peers.node.server.subserver.turn.realm: environment variable "
	             "ICE_TEST_UNSET_VAR is not set and has no default");

	unsetenv("ICE_TEST_HOST");
	setenv("ICE_TEST_DOMAIN", "example.net", 1);
	unsetenv("ICE_TEST_PORT");
	setenv("ICE_TEST_MAXALLOC", "77", 1);
	cfg = load_data("env_expand.yml");
	REQUIRE(cfg != NULL);
	/* Default used, a second variable, literal text, $$ and a lone $. */
	CHECK_STR(cfg->turn.realm, "fallback.example.net-$x-$y");
	CHECK_EQ_INT(cfg->turn.port, 3479);
	CHECK_EQ_INT(cfg->turn.max_allocations, 77);
	CHECK_EQ_INT(cfg->turn.n_auth_secrets, 1);
	CHECK_STR(cfg->turn.auth_secrets[0], "abcdefghijklmnopqrstuvwxyz");
	ice_config_free(cfg);

	/* Expansion happens before conversion, so a bad value is a typed error. */
	setenv("ICE_TEST_MAXALLOC", "lots", 1);
	expect_error("env_expand.yml", "env_expand.yml",
	             "9:28: peers.node.server.subserver.turn.max-allocations: expected an integer "
	             "from 1 to 1000000, got \"lots\"");
	/* Set but empty takes the default, as ${VAR:-x} does in sh. */
	setenv("ICE_TEST_MAXALLOC", "5", 1);
	setenv("ICE_TEST_HOST", "", 1);
	setenv("ICE_TEST_PORT", "4000", 1);
	cfg = load_data("env_expand.yml");
	REQUIRE(cfg != NULL);
	CHECK_STR(cfg->turn.realm, "fallback.example.net-$x-$y");
	CHECK_EQ_INT(cfg->turn.port, 4000);
	/* max-allocations 5 and no per-user key: the default (30) shrinks to
	 * the total instead of contradicting it. */
	CHECK_EQ_INT(cfg->turn.max_allocations_per_user, 5);
	CHECK_EQ_INT(cfg->turn.allocations_per_minute_per_user, 60);
	ice_config_free(cfg);
	unsetenv("ICE_TEST_PORT");
}

static void
test_buffer_expansion_errors(void)
{
	static const char *const bad[] = {
		"peers: {node: {server: {subserver: {stun: {port: \"${X\"}}}}}",
		"peers: {node: {server: {subserver: {stun: {port: \"${1X}\"}}}}}",
		"peers: {node: {server: {subserver: {stun: {port: \"${X:+y}\"}}}}}",
	};
	struct ice_config *cfg;
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(bad); i++) {
		cfg = ice_config_load_buffer("mem.yml", bad[i], strlen(bad[i]), err, sizeof(err));
		CHECK(cfg == NULL);
		CHECK(strncmp(err, "mem.yml:1:50: peers.node.server.subserver.stun.port: ", 53) ==
		      0);
		ice_config_free(cfg);
	}
}

/*
 * A bearer token is an RFC 6750 b64token. One with a space, quote or control
 * byte can never match what http_bearer_denied extracts from the header (it
 * trims spaces), so it would lock every client out; refuse it at load, and
 * never quote it in the error (it is a secret).
 */
static void
test_bearer_tokens(void)
{
	static const char *const bad[] = {
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"sec ret\"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"secret \"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"sec\\\"ret\"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"sec\\tret\"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"sec\\x01ret\"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"=secret\"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"sec=ret\"]}}}}",
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"s\\u00e9cret\"]}}}}",
	};
	static const char good[] =
		"peers: {node: {server: {subserver: {stun: {public-ip: 192.0.2.1}}, http: {bearer-tokens: [\"aZ09-._~+/==\", tok2]}}}}";
	struct ice_config *cfg;
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(bad); i++) {
		cfg = ice_config_load_buffer("mem.yml", bad[i], strlen(bad[i]), err, sizeof(err));
		CHECK(cfg == NULL);
		if (strstr(err, "peers.node.server.http.bearer-tokens: expected a bearer token") ==
		    NULL)
			fprintf(stderr, "  bad[%zu]: got \"%s\"\n", i, err);
		CHECK(strstr(err,
		             "peers.node.server.http.bearer-tokens: expected a bearer token") !=
		      NULL);
		CHECK(strstr(err, "ret") == NULL);
		ice_config_free(cfg);
	}
	cfg = ice_config_load_buffer("mem.yml", good, strlen(good), err, sizeof(err));
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->http.n_bearer_tokens, 2);
	CHECK_STR(cfg->http.bearer_tokens[0], "aZ09-._~+/==");
	ice_config_free(cfg);
}

static void
test_secrets(void)
{
	struct ice_config *cfg;
	char path[600];
	int fd;

	unsetenv("ICE_TEST_UNSET_VAR");
	expect_error("no_secret.yml", "no_secret.yml",
	             "5:9: TURN is enabled but has no auth secret: set the TURN_AUTH_SECRET");
	CHECK(strstr(err, "auth-secret-file") != NULL);

	snprintf(path, sizeof(path), "%s/secret", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "file-secret-0123456789\n", 23) == 23);
	close(fd);
	setenv("ICE_TEST_SECRET_FILE", path, 1);
	unsetenv("ICE_TEST_SECRET");
	cfg = load_data("secret_file.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->turn.n_auth_secrets, 3);
	CHECK_STR(cfg->turn.auth_secrets[0], "file-secret-0123456789"); /* newline stripped */
	CHECK_EQ_INT(cfg->turn.auth_secret_lens[0], 22);
	CHECK_STR(cfg->turn.auth_secret_file, path);
	CHECK_STR(cfg->turn.auth_secrets[1], "old-secret-one-1234"); /* empty entry skipped */
	CHECK_STR(cfg->turn.auth_secrets[2], "old-secret-two-5678");
	ice_config_free(cfg);

	/* auth-secret wins over auth-secret-file when both are non-empty. */
	setenv("ICE_TEST_SECRET", "inline-secret-abcdefgh", 1);
	cfg = load_data("secret_file.yml");
	REQUIRE(cfg != NULL);
	CHECK_STR(cfg->turn.auth_secrets[0], "inline-secret-abcdefgh");
	CHECK(cfg->turn.auth_secret_file == NULL);
	ice_config_free(cfg);
	unsetenv("ICE_TEST_SECRET");

	/* An empty file is an error at the auth-secret-file value. */
	fd = open(path, O_WRONLY | O_TRUNC);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "\n", 1) == 1);
	close(fd);
	expect_error("secret_file.yml", "secret_file.yml", "8:29: auth-secret-file \"");
	CHECK(strstr(err, "\" is empty") != NULL);

	snprintf(path, sizeof(path), "%s/no-such-secret", tmpdir);
	setenv("ICE_TEST_SECRET_FILE", path, 1);
	expect_error("secret_file.yml", "secret_file.yml", "8:29: auth-secret-file \"");
	CHECK(strstr(err, "cannot read: No such file or directory") != NULL);

	setenv("ICE_TEST_SECRET_FILE", tmpdir, 1); /* a directory */
	expect_error("secret_file.yml", "secret_file.yml", "8:29: auth-secret-file \"");
	CHECK(strstr(err, "not a regular file") != NULL);
	unsetenv("ICE_TEST_SECRET_FILE");
}

static void
test_public_ip(void)
{
	struct ice_config *cfg;
	char ip[ICE_ADDR_STRLEN];

	unsetenv("PEERS_STUN_PUBLIC_IP");
	unsetenv("PEERS_TURN_PUBLIC_IP");
	cfg = load_data("public_ip.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->stun.public_ip.source, ICE_PUBLIC_IP_LITERAL);
	CHECK_STR(ice_addr_ip_str(&cfg->stun.public_ip.addr, ip, sizeof(ip)), "198.51.100.7");
	CHECK_EQ_INT(cfg->turn.public_ip.source, ICE_PUBLIC_IP_AUTO);
	CHECK(cfg->turn.public_ip.addr.family == AF_INET ||
	      cfg->turn.public_ip.addr.family == AF_INET6);
	/* An explicit relay-ip-range is kept as written; no auto entry is added. */
	CHECK_EQ_INT(cfg->turn.n_relay_ip_range, 2);
	ice_config_free(cfg);

	/* The env overrides both a literal and auto. */
	setenv("PEERS_STUN_PUBLIC_IP", "203.0.113.50", 1);
	setenv("PEERS_TURN_PUBLIC_IP", "2001:db8::50", 1);
	cfg = load_data("public_ip.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->stun.public_ip.source, ICE_PUBLIC_IP_ENV);
	CHECK_STR(ice_addr_ip_str(&cfg->stun.public_ip.addr, ip, sizeof(ip)), "203.0.113.50");
	CHECK_EQ_INT(cfg->turn.public_ip.source, ICE_PUBLIC_IP_ENV);
	CHECK_STR(ice_addr_ip_str(&cfg->turn.public_ip.addr, ip, sizeof(ip)), "2001:db8::50");
	ice_config_free(cfg);

	setenv("PEERS_TURN_PUBLIC_IP", "turn.example.org", 1);
	cfg = load_data("public_ip.yml");
	CHECK(cfg == NULL);
	CHECK(strstr(err, "environment variable PEERS_TURN_PUBLIC_IP: expected a literal, "
	                  "specified IP address, got \"turn.example.org\"") != NULL);
	unsetenv("PEERS_STUN_PUBLIC_IP");
	unsetenv("PEERS_TURN_PUBLIC_IP");

	expect_error("bad_public_ip.yml", "bad_public_ip.yml",
	             "6:22: public-ip: expected \"auto\" or a literal, specified IP address, got "
	             "\"my.host.example\"");
}

static void
test_workers(void)
{
	struct ice_config *cfg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	setenv("ICE_TEST_WORKERS", "auto", 1);
	cfg = load_data("workers.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->workers, ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu);
	ice_config_free(cfg);

	setenv("ICE_TEST_WORKERS", "7", 1);
	cfg = load_data("workers.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->workers, 7);
	ice_config_free(cfg);

	setenv("ICE_TEST_WORKERS", "65", 1);
	expect_error("workers.yml", "workers.yml",
	             "4:16: peers.node.server.workers: expected \"auto\" or a number from 1 to "
	             "64, got \"65\"");
	setenv("ICE_TEST_WORKERS", "0", 1);
	expect_error("workers.yml", "workers.yml", "4:16: peers.node.server.workers:");
	setenv("ICE_TEST_WORKERS", "two", 1);
	expect_error("workers.yml", "workers.yml", "4:16: peers.node.server.workers:");
	unsetenv("ICE_TEST_WORKERS");
}

/* 0 turns either per-user limit off (coturn's --user-quota=0); below 0 is an error. */
static void
test_user_quotas(void)
{
	struct ice_config *cfg;

	setenv("ICE_TEST_PER_USER", "0", 1);
	setenv("ICE_TEST_PER_MINUTE", "0", 1);
	cfg = load_data("user_quotas.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->turn.max_allocations_per_user, 0);
	CHECK_EQ_INT(cfg->turn.allocations_per_minute_per_user, 0);
	ice_config_free(cfg);

	/* A per-user value the operator wrote must fit max-allocations (1000). */
	setenv("ICE_TEST_PER_USER", "1001", 1);
	setenv("ICE_TEST_PER_MINUTE", "60", 1);
	expect_error("user_quotas.yml", "user_quotas.yml",
	             "8:11: max-allocations-per-user (1001) is larger than max-allocations (1000)");

	setenv("ICE_TEST_PER_USER", "3", 1);
	setenv("ICE_TEST_PER_MINUTE", "-1", 1);
	expect_error("user_quotas.yml", "user_quotas.yml",
	             "9:44: peers.node.server.subserver.turn.allocations-per-minute-per-user: "
	             "expected an integer from 0 to 1000000");
	unsetenv("ICE_TEST_PER_USER");
	unsetenv("ICE_TEST_PER_MINUTE");
}

/* credential-format, credential-grace (0 allowed), userhash-table-size: defaults and refusals. */
static void
test_credentials(void)
{
	struct ice_config *cfg;

	cfg = load_data("credentials.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->turn.credential_format, ICE_CREDENTIAL_COTURN);
	CHECK_EQ_INT(cfg->turn.credential_grace_s, 43200);
	CHECK(!cfg->turn.userhash);
	CHECK_EQ_INT(cfg->turn.userhash_table_size, 4096);
	ice_config_free(cfg);

	setenv("ICE_TEST_FORMAT", "hex-sha256", 1);
	setenv("ICE_TEST_GRACE", "0", 1);
	cfg = load_data("credentials.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->turn.credential_format, ICE_CREDENTIAL_HEX_SHA256);
	CHECK_EQ_INT(cfg->turn.credential_grace_s, 0);
	ice_config_free(cfg);

	setenv("ICE_TEST_FORMAT", "sha256", 1);
	expect_error("credentials.yml", "credentials.yml",
	             "8:30: peers.node.server.subserver.turn.credential-format: expected one of "
	             "coturn, hex-sha256, got \"sha256\"");
	unsetenv("ICE_TEST_FORMAT");
	setenv("ICE_TEST_GRACE", "31d", 1);
	expect_error("credentials.yml", "credentials.yml",
	             "9:29: peers.node.server.subserver.turn.credential-grace: expected a duration "
	             "from 0s to 2592000s");
	unsetenv("ICE_TEST_GRACE");
	setenv("ICE_TEST_UH_SIZE", "0", 1);
	expect_error("credentials.yml", "credentials.yml",
	             "10:32: peers.node.server.subserver.turn.userhash-table-size: \"0\" is out "
	             "of range: expected an integer from 1 to 1000000");
	unsetenv("ICE_TEST_UH_SIZE");
}

static void
test_ignored_and_includes(void)
{
	struct ice_config *cfg;
	char buf[ICE_ADDR_STRLEN];

	unsetenv("ICE_TEST_UNSET_VAR");
	/* Unknown sections are skipped, even with an unset ${VAR} inside them. */
	cfg = load_data("ignored_sections.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->log_level, ICE_LOG_WARN);
	CHECK(cfg->stun.enabled);
	CHECK(!cfg->turn.enabled);
	ice_config_free(cfg);

	/* includes as a YAML sequence, nested, relative to each including file. */
	cfg = load_data("seq_include.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->log_level, ICE_LOG_ERROR);
	CHECK_STR(ice_addr_str(&cfg->http.listen, buf, sizeof(buf)), "[::1]:20999");
	CHECK_EQ_INT(cfg->http.max_connections, 10);
	ice_config_free(cfg);
}

/* The connection limits' defaults (docs/configuration.md says why). */
static void
test_conn_defaults(void)
{
	struct ice_config *cfg = load_data("ignored_sections.yml");

	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->http.max_connections, 1024);
	CHECK_EQ_INT(cfg->http.max_connections_per_address, 128);
	CHECK_EQ_INT(cfg->admin.max_connections, 64);
	CHECK_EQ_INT(cfg->admin.max_connections_per_address, 16);
	CHECK_EQ_INT(cfg->stun.tcp_max_connections, 1024);
	CHECK_EQ_INT(cfg->stun.tcp_max_connections_per_address, 256);
	CHECK_EQ_INT(cfg->turn.tls.max_connections_per_address, 256);
	CHECK_EQ_INT(cfg->turn.tls.handshake_timeout_s, 10);
	ice_config_free(cfg);
}

static void
test_full(void)
{
	struct ice_config *cfg;
	char buf[ICE_ADDR_STRLEN];

	cfg = load_data("full.yml");
	REQUIRE(cfg != NULL);
	CHECK_EQ_INT(cfg->log_level, ICE_LOG_DEBUG);
	CHECK_EQ_INT(cfg->workers, 3);
	CHECK(cfg->http.enabled);
	CHECK_STR(ice_addr_str(&cfg->http.listen, buf, sizeof(buf)), "[::]:8081");
	CHECK_EQ_INT(cfg->http.n_bearer_tokens, 2);
	CHECK_STR(cfg->http.bearer_tokens[1], "tok-two");
	CHECK_STR(cfg->http.identity_header, "X-Peers-User");
	CHECK_EQ_INT(cfg->http.n_cors_origins, 2);
	CHECK_STR(cfg->http.cors_origins[0], "https://app.example.com");
	CHECK_EQ_INT(cfg->http.max_header_bytes, 16384);
	CHECK_EQ_INT(cfg->http.max_body_bytes, 0);
	CHECK_EQ_INT(cfg->http.timeout_s, 60);
	CHECK_EQ_INT(cfg->http.max_connections, 99);
	CHECK_EQ_INT(cfg->http.max_connections_per_address, 7);
	CHECK_EQ_INT(cfg->admin.max_connections, 9);
	CHECK_EQ_INT(cfg->admin.max_connections_per_address, 3);

	CHECK(cfg->stun.enabled);
	CHECK_EQ_INT(cfg->stun.port, 3479);
	CHECK_STR(ice_addr_ip_str(&cfg->stun.public_ip.addr, buf, sizeof(buf)), "2001:db8::7");
	CHECK_EQ_INT(cfg->stun.rate_rps, 0);
	CHECK_EQ_INT(cfg->stun.rate_burst, 5);
	CHECK_EQ_INT(cfg->stun.n_listen, 2); /* a comma string as a list */
	CHECK_STR(ice_addr_ip_str(&cfg->stun.listen[1], buf, sizeof(buf)), "::1");
	CHECK_EQ_INT(cfg->stun.transports, ICE_TRANSPORT_UDP);
	CHECK_EQ_INT(cfg->stun.tcp_idle_timeout_s, 120);
	CHECK_EQ_INT(cfg->stun.tcp_max_connections, 77);
	CHECK_EQ_INT(cfg->stun.tcp_max_connections_per_address, 0); /* 0: no cap */

	CHECK(cfg->turn.enabled);
	CHECK_EQ_INT(cfg->turn.port, 3480);
	CHECK_STR(cfg->turn.realm, "ex$ample.org");
	CHECK_EQ_INT(cfg->turn.n_listen, 1);
	CHECK_EQ_INT(cfg->turn.transports, ICE_TRANSPORT_UDP | ICE_TRANSPORT_TCP);
	CHECK(!cfg->turn.tls.enabled);
	CHECK_EQ_INT(cfg->turn.tls.port, 5350);
	CHECK_EQ_INT(cfg->turn.tls.max_connections_per_address, 5);
	CHECK_EQ_INT(cfg->turn.tls.handshake_timeout_s, 3);
	CHECK_EQ_INT(cfg->turn.n_auth_secrets, 2);
	CHECK_STR(cfg->turn.auth_secrets[1], "old-secret-abcdefgh");
	CHECK_EQ_INT(cfg->turn.n_relay_ip_range, 2); /* 127.0.0.1/32 plus auto */
	CHECK_EQ_INT(cfg->turn.relay_ip_range[0].prefix, 32);
	CHECK(cfg->turn.relay_ip_range[1].prefix == 32 ||
	      cfg->turn.relay_ip_range[1].prefix == 128);
	CHECK_EQ_INT(cfg->turn.relay_port_min, 30000);
	CHECK_EQ_INT(cfg->turn.relay_port_max, 30099);
	CHECK_EQ_INT(cfg->turn.max_allocations, 50);
	CHECK_EQ_INT(cfg->turn.max_allocations_per_user, 50);
	CHECK_EQ_INT(cfg->turn.allocations_per_minute_per_user, 7);
	CHECK_EQ_INT(cfg->turn.allocation_lifetime_s, 3600);
	CHECK_EQ_INT(cfg->turn.credential_ttl_s, 7200);
	CHECK_EQ_INT(cfg->turn.credential_grace_s, 1800);
	CHECK_EQ_INT(cfg->turn.credential_format, ICE_CREDENTIAL_HEX_SHA256);
	CHECK(cfg->turn.userhash);
	CHECK_EQ_INT(cfg->turn.userhash_table_size, 100);
	CHECK_EQ_INT(cfg->turn.n_denied_peer_ip, 1);
	CHECK_EQ_INT(cfg->turn.n_allowed_peer_ip, 2);
	CHECK_EQ_INT(cfg->turn.allowed_peer_ip[1].family, AF_INET6);
	CHECK(!cfg->turn.fallback_enabled);
	CHECK(cfg->turn.anonymous);
	CHECK_EQ_INT(cfg->turn.challenge_rps, 7);
	CHECK_EQ_INT(cfg->turn.challenge_burst, 9);
	ice_config_free(cfg);
}

/* Print, check masking, then load the printed text: same values come back. */
static void
test_print_roundtrip(void)
{
	struct ice_config *a, *b;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	a = load_data("full.yml");
	REQUIRE(a != NULL);
	fp = open_memstream(&text, &len);
	REQUIRE(fp != NULL);
	CHECK_EQ_INT(ice_config_print(a, fp), 0);
	fclose(fp);
	CHECK(strstr(text, "current-secret") == NULL);
	CHECK(strstr(text, "old-secret") == NULL);
	CHECK(strstr(text, "tok-one") == NULL);
	CHECK(strstr(text, "auth-secret: \"***\"") != NULL);
	CHECK(strstr(text, "bearer-tokens: [\"***\", \"***\"]") != NULL);
	CHECK(strstr(text, "realm: \"ex$$ample.org\"") != NULL);
	CHECK(strstr(text, "allocation-lifetime: 3600s") != NULL);

	/*
	 * The masked dump must not load as is: "***" would become a live,
	 * guessable bearer token. With the real tokens put back, it loads.
	 */
	b = ice_config_load_buffer("printed.yml", text, len, err, sizeof(err));
	CHECK(b == NULL);
	CHECK(strstr(err, "bearer-tokens: expected a bearer token") != NULL);
	ice_config_free(b);
	{
		static const char masked[] = "bearer-tokens: [\"***\", \"***\"]";
		static const char real[] = "bearer-tokens: [\"tok-one\", \"tok2\"]";
		char *at = strstr(text, masked), *fixed;

		REQUIRE(at != NULL);
		REQUIRE(sizeof(real) >= sizeof(masked));
		fixed = malloc(len + sizeof(real));
		REQUIRE(fixed != NULL);
		memcpy(fixed, text, (size_t)(at - text));
		strcpy(fixed + (at - text), real);
		strcat(fixed, at + sizeof(masked) - 1);
		free(text);
		text = fixed;
		len = strlen(text);
	}
	b = ice_config_load_buffer("printed.yml", text, len, err, sizeof(err));
	if (b == NULL)
		fprintf(stderr, "reload failed: %s\n---\n%s", err, text);
	REQUIRE(b != NULL);
	CHECK_STR(b->turn.realm, a->turn.realm);
	CHECK_EQ_INT(b->workers, a->workers);
	CHECK(memcmp(&b->http.listen, &a->http.listen, sizeof(a->http.listen)) == 0);
	CHECK(memcmp(b->stun.listen, a->stun.listen, sizeof(a->stun.listen)) == 0);
	CHECK(memcmp(b->turn.relay_ip_range, a->turn.relay_ip_range,
	             sizeof(a->turn.relay_ip_range)) == 0);
	CHECK(memcmp(b->turn.allowed_peer_ip, a->turn.allowed_peer_ip,
	             sizeof(a->turn.allowed_peer_ip)) == 0);
	CHECK_EQ_INT(b->turn.relay_port_max, a->turn.relay_port_max);
	CHECK_EQ_INT(b->turn.credential_ttl_s, a->turn.credential_ttl_s);
	CHECK_EQ_INT(b->turn.anonymous, a->turn.anonymous);
	CHECK_EQ_INT(b->turn.challenge_rps, a->turn.challenge_rps);
	CHECK_EQ_INT(b->turn.challenge_burst, a->turn.challenge_burst);
	CHECK_EQ_INT(b->http.rate_rps, a->http.rate_rps);
	CHECK_EQ_INT(b->turn.credential_grace_s, a->turn.credential_grace_s);
	CHECK_EQ_INT(b->turn.credential_format, a->turn.credential_format);
	CHECK(b->turn.userhash == a->turn.userhash);
	CHECK_EQ_INT(b->turn.userhash_table_size, a->turn.userhash_table_size);
	CHECK_EQ_INT(b->stun.transports, a->stun.transports);
	CHECK_EQ_INT(b->http.timeout_s, a->http.timeout_s);
	CHECK_EQ_INT(b->http.max_connections_per_address, a->http.max_connections_per_address);
	CHECK_EQ_INT(b->admin.max_connections, a->admin.max_connections);
	CHECK_EQ_INT(b->admin.max_connections_per_address, a->admin.max_connections_per_address);
	CHECK_EQ_INT(b->stun.tcp_max_connections_per_address,
	             a->stun.tcp_max_connections_per_address);
	CHECK_EQ_INT(b->turn.tls.max_connections_per_address,
	             a->turn.tls.max_connections_per_address);
	CHECK_EQ_INT(b->turn.tls.handshake_timeout_s, a->turn.tls.handshake_timeout_s);
	CHECK(memcmp(&b->turn.public_ip.addr, &a->turn.public_ip.addr, sizeof(struct ice_addr)) ==
	      0);
	CHECK_EQ_INT(b->log_level, a->log_level);
	ice_config_free(a);
	ice_config_free(b);
	free(text);
}

static void
test_shipped_conf(void)
{
	struct ice_config *cfg;
	char path[600], buf[ICE_ADDR_STRLEN];
	int fd;

	unsetenv("TURN_AUTH_SECRET");
	unsetenv("TURN_AUTH_SECRET_FILE");
	unsetenv("PEERS_DOMAIN");
	unsetenv("PEERS_TURN_RELAY_IP_RANGE");
	unsetenv("PEERS_STUN_PUBLIC_IP");
	unsetenv("PEERS_TURN_PUBLIC_IP");
	unsetenv("ICESTATION_WORKERS");
	unsetenv("ICESTATION_HTTP_LISTEN");
	unsetenv("ICESTATION_LOG_LEVEL");

	/* No secret at all: a clear refusal, never a fallback. */
	cfg = ice_config_load(CFG_CONF "/peers.yml", err, sizeof(err));
	CHECK(cfg == NULL);
	CHECK(strstr(err, CFG_CONF "/sub_turn.yml:6:9: TURN is enabled but has no auth secret") !=
	      NULL);

	/* What scripts/run.sh does on a fresh machine. */
	snprintf(path, sizeof(path), "%s/run-secret", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "0123456789abcdef0123456789abcdef\n", 33) == 33);
	close(fd);
	setenv("TURN_AUTH_SECRET_FILE", path, 1);
	cfg = ice_config_load(CFG_CONF "/peers.yml", err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	REQUIRE(cfg != NULL);
	CHECK_STR(cfg->path, CFG_CONF "/peers.yml");
	CHECK_EQ_INT(cfg->log_level, ICE_LOG_INFO);
	CHECK(cfg->workers >= 1);
	CHECK(cfg->http.enabled);
	CHECK_STR(ice_addr_str(&cfg->http.listen, buf, sizeof(buf)), "127.0.0.1:8080");
	CHECK(cfg->stun.enabled);
	CHECK_EQ_INT(cfg->stun.port, 3478);
	CHECK_EQ_INT(cfg->stun.rate_rps, 100);
	CHECK_EQ_INT(cfg->stun.rate_burst, 200);
	CHECK_EQ_INT(cfg->stun.n_listen, 2);
	CHECK_EQ_INT(cfg->stun.public_ip.source, ICE_PUBLIC_IP_AUTO);
	CHECK(cfg->stun.public_ip.addr.family != 0);
	CHECK(cfg->turn.enabled);
	CHECK_EQ_INT(cfg->turn.port, 3478);
	CHECK_STR(cfg->turn.realm, "localhost");
	CHECK_EQ_INT(cfg->turn.n_auth_secrets, 1);
	CHECK_STR(cfg->turn.auth_secrets[0], "0123456789abcdef0123456789abcdef");
	CHECK_STR(cfg->turn.auth_secret_file, path);
	/* auto: one relay prefix per family that routes outward (dual stack). */
	CHECK_EQ_INT(cfg->turn.n_relay_ip_range, outward_families());
	CHECK(ice_cidr_contains(&cfg->turn.relay_ip_range[0], &cfg->turn.public_ip.addr));
	CHECK_EQ_INT(cfg->turn.relay_port_min, 49152);
	CHECK_EQ_INT(cfg->turn.relay_port_max, 65535);
	CHECK_EQ_INT(cfg->turn.max_allocations, 1000);
	CHECK_EQ_INT(cfg->turn.max_allocations_per_user, 30);
	CHECK_EQ_INT(cfg->turn.allocations_per_minute_per_user, 60);
	CHECK_EQ_INT(cfg->turn.challenge_rps, 10);
	CHECK_EQ_INT(cfg->turn.challenge_burst, 50);
	CHECK_EQ_INT(cfg->http.rate_rps, 20);
	CHECK_EQ_INT(cfg->http.rate_burst, 100);
	CHECK_EQ_INT(cfg->turn.allocation_lifetime_s, 600);
	CHECK_EQ_INT(cfg->turn.credential_ttl_s, 86400);
	CHECK_EQ_INT(cfg->turn.credential_grace_s, 43200);
	CHECK_EQ_INT(cfg->turn.credential_format, ICE_CREDENTIAL_COTURN);
	CHECK(!cfg->turn.userhash);
	CHECK(cfg->turn.fallback_enabled);
	CHECK(!cfg->turn.anonymous);
	CHECK_EQ_INT(cfg->turn.n_fallback_stun_servers, 1);
	CHECK_STR(cfg->turn.fallback_stun_servers[0], "stun:stun.l.google.com:19302");
	CHECK(!cfg->turn.tls.enabled);
	ice_config_free(cfg);

	/* The Station's env: domain, secret, relay range and public IP. */
	setenv("PEERS_DOMAIN", "peers.example.org", 1);
	setenv("TURN_AUTH_SECRET", "env-secret-0123456789abcdef", 1);
	setenv("PEERS_TURN_RELAY_IP_RANGE", "10.0.0.0/24", 1);
	setenv("PEERS_TURN_PUBLIC_IP", "203.0.113.7", 1);
	cfg = ice_config_load(CFG_CONF "/peers.yml", err, sizeof(err));
	REQUIRE(cfg != NULL);
	CHECK_STR(cfg->turn.realm, "peers.example.org");
	CHECK_STR(cfg->turn.auth_secrets[0], "env-secret-0123456789abcdef");
	CHECK(cfg->turn.auth_secret_file == NULL);
	CHECK_EQ_INT(cfg->turn.n_relay_ip_range, 1);
	CHECK_STR(ice_cidr_str(&cfg->turn.relay_ip_range[0], buf, sizeof(buf)), "10.0.0.0/24");
	CHECK_EQ_INT(cfg->turn.public_ip.source, ICE_PUBLIC_IP_ENV);
	CHECK_EQ_INT(cfg->stun.public_ip.source, ICE_PUBLIC_IP_AUTO);
	ice_config_free(cfg);
	unsetenv("PEERS_DOMAIN");
	unsetenv("TURN_AUTH_SECRET");
	unsetenv("TURN_AUTH_SECRET_FILE");
	unsetenv("PEERS_TURN_RELAY_IP_RANGE");
	unsetenv("PEERS_TURN_PUBLIC_IP");
}

static void
test_err_truncation(void)
{
	char small[24];
	struct ice_config *cfg;

	memset(small, 'x', sizeof(small));
	cfg = ice_config_load(data("bad_listen.yml"), small, sizeof(small));
	CHECK(cfg == NULL);
	CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
	cfg = ice_config_load(data("bad_listen.yml"), NULL, 0);
	CHECK(cfg == NULL);
	ice_config_free(NULL);
}

int
main(void)
{
	char path[600];

	REQUIRE(mkdtemp(tmpdir) != NULL);
	ice_log_set_level(ICE_LOG_ERROR);
	test_unknown_keys();
	test_mistyped();
	test_structure_errors();
	test_env();
	test_buffer_expansion_errors();
	test_bearer_tokens();
	test_secrets();
	test_public_ip();
	test_workers();
	test_user_quotas();
	test_credentials();
	test_ignored_and_includes();
	test_full();
	test_print_roundtrip();
	test_shipped_conf();
	test_conn_defaults();
	test_err_truncation();
	snprintf(path, sizeof(path), "%s/secret", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/run-secret", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	TEST_DONE();
}
