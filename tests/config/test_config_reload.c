/*
 * A reload's decision (ice_config_reload_keep): restart-only keys keep the
 * running value and are named, live keys come from the new tree, the
 * generation moves on by one. Trees are loaded from memory
 * (config_buffer.h); tests/live covers the daemon around it.
 */
#include <stdio.h>
#include <string.h>

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

int
main(void)
{
	ice_log_set_level(ICE_LOG_ERROR);
	test_live_and_restart_only();
	test_nothing_restart_only();
	test_short_buffer();
	TEST_DONE();
}
