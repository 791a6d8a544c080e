/*
 * A reload's decision (ice_config_reload_keep): restart-only keys keep the
 * running value and are named, live keys come from the new tree, the
 * generation moves on by one, and a section the new tree switches off
 * keeps what it runs with. Trees are loaded from memory
 * (config_buffer.h); tests/live covers the daemon around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/config.h"
#include "icestation/log.h"

#include "config_buffer.h"
#include "testutil.h"

static char err[2048];

/* The tree the tests start from, with its varying parts as arguments. */
static struct ice_config *
tree(const char *workers, const char *turn_listen, const char *realm, const char *extra)
{
	char yml[2048];
	struct ice_config *cfg;

	snprintf(yml, sizeof(yml),
	         "peers:\n"
	         "  node:\n"
	         "    server:\n"
	         "      workers: %s\n"
	         "      admin: {listen: \"unix:/tmp/icestation-test-reload.sock\"}\n"
	         "      subserver:\n"
	         "        turn:\n"
	         "          realm: %s\n"
	         "          auth-secret: reload-test-secret-0123456789abcdef\n"
	         "          public-ip: 127.0.0.1\n"
	         "          relay-ip-range: 127.0.0.1/32\n"
	         "          listen: [%s]\n"
	         "%s",
	         workers, realm, turn_listen, extra);
	cfg = ice_config_load_buffer("reload.yml", yml, strlen(yml), err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "load failed:\n%s\n", err);
	return cfg;
}

static void
test_live_and_restart_only(void)
{
	struct ice_config *cur = tree("1", "127.0.0.1", "one.test", "");
	struct ice_config *next =
		tree("2", "127.0.0.2", "two.test", "          max-allocations: 77\n");
	char changed[ICE_CONFIG_RESTART_LEN];
	int n;

	REQUIRE(cur != NULL && next != NULL);
	cur->generation = 5;
	n = ice_config_reload_keep(cur, next, changed, sizeof(changed));
	CHECK_EQ_INT(n, 2);
	CHECK_STR(changed, "workers, subserver.turn.listen");
	/* Restart-only: the running values. */
	CHECK_EQ_INT(next->workers, 1);
	CHECK_EQ_INT(next->turn.n_listen, 1);
	CHECK(ice_addr_equal(&next->turn.listen[0], &cur->turn.listen[0]));
	/* Live: the new tree's. */
	CHECK_STR(next->turn.realm, "two.test");
	CHECK_EQ_INT(next->turn.max_allocations, 77);
	CHECK_EQ_INT(next->generation, 6);
	ice_config_free(next);
	ice_config_free(cur);
}

static void
test_nothing_restart_only(void)
{
	struct ice_config *cur = tree("1", "127.0.0.1", "one.test", "");
	struct ice_config *next = tree("1", "127.0.0.1", "two.test", "");
	char changed[8] = "junk";

	REQUIRE(cur != NULL && next != NULL);
	CHECK_EQ_INT(ice_config_reload_keep(cur, next, changed, sizeof(changed)), 0);
	CHECK_STR(changed, "");
	CHECK_EQ_INT(next->generation, cur->generation + 1);
	ice_config_free(next);
	ice_config_free(cur);
}

/* A name that does not fit is left out of the text, still counted. */
static void
test_short_buffer(void)
{
	struct ice_config *cur = tree("1", "127.0.0.1", "one.test", "");
	struct ice_config *next = tree("2", "127.0.0.2", "one.test", "");
	char changed[12];

	REQUIRE(cur != NULL && next != NULL);
	CHECK_EQ_INT(ice_config_reload_keep(cur, next, changed, sizeof(changed)), 2);
	CHECK_STR(changed, "workers");
	ice_config_free(next);
	ice_config_free(cur);
}

static char pem[] = "/tmp/icestation-test-reload-XXXXXX";

/* A tree of sections as given, the TURN one with a secret and a realm. */
static struct ice_config *
tree_of(const char *server, const char *stun, const char *turn)
{
	char yml[4096];
	struct ice_config *cfg;

	snprintf(yml, sizeof(yml),
	         "peers:\n  node:\n    server:\n      workers: 1\n%s"
	         "      subserver:\n%s%s",
	         server, stun, turn);
	cfg = ice_config_load_buffer("reload.yml", yml, strlen(yml), err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "load failed:\n%s\n", err);
	return cfg;
}

#define ADMIN_UNIX "      admin: {listen: \"unix:/tmp/icestation-test-reload.sock\"}\n"
#define STUN_ON    "        stun: {public-ip: 127.0.0.1, listen: [127.0.0.1]}\n"
#define TURN_ON(extra)                                                               \
	"        turn:\n          realm: one.test\n          public-ip: 127.0.0.1\n" \
	"          auth-secret: reload-test-secret-0123456789abcdef\n"               \
	"          relay-ip-range: 127.0.0.1/32\n          listen: [127.0.0.1]\n" extra

/* A section the new tree switches off keeps running as it was, settings
 * whole: the tree's own are those of a section that is off. */
static void
test_switched_off(void)
{
	char changed[ICE_CONFIG_RESTART_LEN], turn[1024], https[512];
	struct ice_config *cur, *next;

	/* TURN off: it keeps its realm and secret (else every client 401). */
	cur = tree_of(ADMIN_UNIX, STUN_ON, TURN_ON(""));
	next = tree_of(ADMIN_UNIX, STUN_ON, "        turn: {enabled: false, max-allocations: 5}\n");
	REQUIRE(cur != NULL && next != NULL);
	CHECK(ice_config_reload_keep(cur, next, changed, sizeof(changed)) >= 1);
	CHECK(strstr(changed, "subserver.turn.enabled") != NULL);
	CHECK(next->turn.enabled);
	CHECK_STR(next->turn.realm, "one.test");
	CHECK_EQ_INT(next->turn.n_auth_secrets, 1);
	CHECK_STR(next->turn.auth_secrets[0], "reload-test-secret-0123456789abcdef");
	CHECK_EQ_INT(next->turn.max_allocations, cur->turn.max_allocations);
	ice_config_free(next);

	/* STUN off: it keeps its public address. */
	next = tree_of(ADMIN_UNIX, "        stun: {enabled: false}\n", TURN_ON(""));
	REQUIRE(next != NULL);
	CHECK(ice_config_reload_keep(cur, next, changed, sizeof(changed)) >= 1);
	CHECK(next->stun.enabled);
	CHECK(ice_addr_equal(&next->stun.public_ip.addr, &cur->stun.public_ip.addr));
	ice_config_free(next);

	/* The admin API from TCP to a unix socket: the TCP listener stays,
	 * and so do the bearer tokens it needs. */
	ice_config_free(cur);
	cur = tree_of(
		"      admin: {listen: 127.0.0.1:18990, bearer-tokens: [adm-0123456789abcdef]}\n",
		STUN_ON, TURN_ON(""));
	next = tree_of(ADMIN_UNIX, STUN_ON, TURN_ON(""));
	REQUIRE(cur != NULL && next != NULL);
	CHECK(ice_config_reload_keep(cur, next, changed, sizeof(changed)) >= 1);
	CHECK_STR(changed, "admin.listen");
	CHECK(next->admin.listen.family != 0 && next->admin.unix_path == NULL);
	CHECK_EQ_INT(next->admin.n_bearer_tokens, 1);
	CHECK_STR(next->admin.bearer_tokens[0], "adm-0123456789abcdef");
	ice_config_free(next);
	ice_config_free(cur);

	/* TLS and HTTPS off: the certificates in force stay theirs. */
	snprintf(turn, sizeof(turn),
	         TURN_ON("") "          transports: [udp, tcp, tls]\n"
	                     "          tls: {cert: %s, key: %s, server-name: turn.example.com}\n",
	         pem, pem);
	snprintf(https, sizeof(https), ADMIN_UNIX "      http: {tls: {cert: %s, key: %s}}\n", pem,
	         pem);
	cur = tree_of(https, STUN_ON, turn);
	next = tree_of(ADMIN_UNIX, STUN_ON, TURN_ON(""));
	REQUIRE(cur != NULL && next != NULL);
	CHECK_EQ_INT(ice_config_reload_keep(cur, next, changed, sizeof(changed)), 3);
	CHECK_STR(changed,
	          "http.tls (on/off), subserver.turn.transports, subserver.turn.tls (on/off)");
	CHECK(next->turn.tls.enabled && next->http.tls_enabled);
	CHECK_STR(next->turn.tls.cert, pem);
	CHECK_STR(next->turn.tls.key, pem);
	CHECK_STR(next->turn.tls.server_name, "turn.example.com");
	CHECK_STR(next->http.tls_cert, pem);
	CHECK_STR(next->http.tls_key, pem);
	ice_config_free(next);
	ice_config_free(cur);
}

int
main(void)
{
	int fd = mkstemp(pem);

	REQUIRE(fd >= 0);
	close(fd);
	ice_log_set_level(ICE_LOG_ERROR);
	test_live_and_restart_only();
	test_nothing_restart_only();
	test_short_buffer();
	test_switched_off();
	unlink(pem);
	TEST_DONE();
}
