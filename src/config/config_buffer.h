/*
 * In-memory entry point for the config loader, for the fuzzer and tests:
 * the same as ice_config_load, but the main file's bytes come from buf and
 * name is used for positions and as the base for relative includes (which
 * are still read from disk). Not part of the public API.
 */
#ifndef ICESTATION_CONFIG_BUFFER_H
#define ICESTATION_CONFIG_BUFFER_H

#include <stddef.h>

#include "icestation/config.h"

/*
 * Load a config whose main file is buf[0..len) (borrowed for the call).
 * Returns a new snapshot (free with ice_config_free) or NULL with errors in
 * err, exactly like ice_config_load.
 */
struct ice_config *ice_config_load_buffer(const char *name, const char *buf, size_t len, char *err,
                                          size_t errlen);

#endif
