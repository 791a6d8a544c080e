/*
 * libFuzzer target for the config loader: the input is the main YAML file
 * (in memory, named fuzz.yml). Everything after it runs as in the daemon:
 * includes, ${VAR} expansion, the schema, cross-key checks. Any crash, leak
 * or sanitizer report is a bug; a NULL return with errors is the normal case.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "icestation/config.h"
#include "icestation/log.h"

#include "../src/config/config_buffer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct ice_config *cfg;
	char err[1024];
	FILE *null;

	if (!quiet) {
		ice_log_set_level(ICE_LOG_ERROR);
		/* A fixed secret so that TURN configs reach the later stages. */
		setenv("TURN_AUTH_SECRET", "fuzz-secret-0123456789abcdef", 1);
		quiet = 1;
	}
	cfg = ice_config_load_buffer("fuzz.yml", (const char *)data, size, err, sizeof(err));
	if (cfg != NULL) {
		null = fopen("/dev/null", "w");
		if (null != NULL) {
			ice_config_print(cfg, null);
			fclose(null);
		}
	}
	ice_config_free(cfg);
	return 0;
}
