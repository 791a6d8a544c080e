/*
 * Logging: one line per event to stderr, journald friendly ("<N>" priority
 * prefix when stderr is the journal). Never called per packet.
 * The macros check the level before evaluating their arguments.
 */
#ifndef ICESTATION_LOG_H
#define ICESTATION_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "icestation/common.h"

enum ice_log_level {
	ICE_LOG_ERROR = 3,
	ICE_LOG_WARN = 4,
	ICE_LOG_INFO = 6,
	ICE_LOG_DEBUG = 7,
};

/* Read by every thread, written on reload: relaxed atomics (a level change
 * needs no ordering with anything else). */
extern _Atomic int ice_log_level_cur;

enum ice_log_format {
	ICE_LOG_TEXT, /* timestamp, level word, message, key=value fields */
	ICE_LOG_JSON, /* one object per line: ts, level, msg, then the fields */
};

/* A named value of an event line (ice_log_fields); both strings borrowed. */
struct ice_log_field {
	const char *key; /* lower case, a-z 0-9 and '_' */
	const char *value;
};

/* Set the threshold; messages above it are not formatted. Any thread. */
void ice_log_set_level(enum ice_log_level level);

/*
 * on: hold this thread's lines back (up to 32) instead of writing them; off:
 * write what was held, at the level and in the format now in force. A
 * configuration's load holds its own warnings so they come out in the
 * format it chooses.
 */
void ice_log_hold(bool on);

/* Text or JSON lines on stderr (the journal, when stderr is it, gets fields either way). */
void ice_log_set_format(enum ice_log_format format);

/*
 * One event with its fields: "msg key=value ..." (text), a JSON object, or
 * journal fields ICESTATION_<KEY>. Dropped above the level. Never allocates.
 */
void ice_log_fields(enum ice_log_level level, const char *msg, const struct ice_log_field *f,
                    size_t n);

/* Parse "debug" | "info" | "warn" | "error"; returns the level or -EINVAL. */
int ice_log_level_parse(const char *s);

/* Emit one line. Use the macros below instead. */
void ice_log_emit(enum ice_log_level level, int errnum, const char *fmt, ...) ICE_PRINTF(3, 4);

#define ICE_LOG_AT(lvl, errnum, ...)                                                              \
	do {                                                                                      \
		if ((int)(lvl) <= atomic_load_explicit(&ice_log_level_cur, memory_order_relaxed)) \
			ice_log_emit((lvl), (errnum), __VA_ARGS__);                               \
	} while (0)

/* log_warn appends strerror(errno); the x variants do not. */
#define log_warn(...)   ICE_LOG_AT(ICE_LOG_WARN, errno, __VA_ARGS__)
#define log_warnx(...)  ICE_LOG_AT(ICE_LOG_WARN, 0, __VA_ARGS__)
#define log_error(...)  ICE_LOG_AT(ICE_LOG_ERROR, errno, __VA_ARGS__)
#define log_errorx(...) ICE_LOG_AT(ICE_LOG_ERROR, 0, __VA_ARGS__)
#define log_info(...)   ICE_LOG_AT(ICE_LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)  ICE_LOG_AT(ICE_LOG_DEBUG, 0, __VA_ARGS__)

/* Log at error level and exit(1). fatal appends strerror(errno). */
void fatal(const char *fmt, ...) ICE_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) ICE_PRINTF(1, 2) __attribute__((noreturn));

#endif
