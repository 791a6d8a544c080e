/*
 * Types and macros shared by every layer. Nothing here allocates or does I/O.
 */
#ifndef ICESTATION_COMMON_H
#define ICESTATION_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The one time type: monotonic milliseconds. Pure code receives it as `now`. */
typedef uint64_t ice_ms_t;

#define ICE_NODISCARD    __attribute__((warn_unused_result))
#define ICE_PRINTF(f, a) __attribute__((format(printf, (f), (a))))
#define ICE_UNUSED       __attribute__((unused))
#define ICE_LIKELY(x)    (__builtin_expect(!!(x), 1))
#define ICE_UNLIKELY(x)  (__builtin_expect(!!(x), 0))

#define ICE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ICE_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define ICE_MAX(a, b)     ((a) > (b) ? (a) : (b))

#define ICESTATION_VERSION  "0.1.0"
#define ICESTATION_SOFTWARE "icestation/" ICESTATION_VERSION

#endif
