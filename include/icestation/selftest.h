/*
 * The self-test (docs/operations.md, "Self-test"): a real TURN exchange from
 * inside the daemon against its own advertised address, over every served
 * transport (UDP, TCP, TLS), with the timing of each step and, when one
 * fails, the likely cause in plain words:
 *   credential   mint a TURN REST credential with the secret in force
 *   allocate     401 challenge, then an authenticated Allocate
 *   permission   CreatePermission for the self-test's peer socket
 *   to_peer      a Send indication reaches the peer socket, bytes checked
 *   to_client    the peer's datagram comes back as a Data indication
 *   refresh      Refresh with LIFETIME 0 ends the allocation
 * and checks that send nothing anywhere: the public address against this
 * host's addresses, relay-port-range against the kernel's ephemeral range,
 * the fd limit against max-allocations, the clock, and the TLS certificate.
 *
 * It contacts only addresses configured on this host: when the public
 * address is not one of them (a NAT), the exchange runs against a local
 * address the daemon serves, and the report says so.
 *
 * Runs on the caller's event loop and never blocks it (sockets are
 * non-blocking, every step has a deadline, the whole run at most
 * ICE_SELFTEST_TIMEOUT_MS). Main thread only.
 */
#ifndef ICESTATION_SELFTEST_H
#define ICESTATION_SELFTEST_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "icestation/config.h"

struct event_base;
struct ice_selftest;

enum {
	ICE_SELFTEST_TIMEOUT_MS = 20000, /* the whole run, whatever happens */
	ICE_SELFTEST_STEP_MS = 2000,     /* one step (a request with its retries) */
};

/* The REST user part of the self-test's credentials (its quota key). */
#define ICE_SELFTEST_USER "icestation-selftest"

/* What the daemon knows that the configuration does not say. */
struct ice_selftest_env {
	struct ice_config *cfg; /* the snapshot in force: a reference is taken */
	/* The public IPs in force (port 0; family 0 = none): with public-ip:
	 * auto they follow the host and may differ from cfg's. */
	struct ice_addr stun_public, turn_public;
	uint32_t live_allocations; /* allocations alive now (explains a 508) */
	int64_t clock_offset_ms;   /* realtime minus monotonic ms at daemon start */
};

/*
 * The report, owned by the callee (free with cJSON_Delete):
 *   {"ok": bool, "ms": total, "steps": [{"name", "transport", "ok",
 *    "skipped", "ms", "detail"}], "checks": [{"name", "ok", "status"
 *    ("ok"|"warn"|"fail"), "detail"}], "target": {...}}
 * ok is false when a step failed or a check says "fail"; a warning does
 * not fail the test. NULL on ENOMEM.
 */
typedef void (*ice_selftest_cb)(void *arg, cJSON *report);

/*
 * Start a self-test on base. env is read for the call (the snapshot gets a
 * reference). cb runs once, later, from base's loop (never from inside this
 * call); the self-test has freed itself by then, so the caller forgets its
 * pointer in cb. Returns NULL on ENOMEM.
 */
struct ice_selftest *ice_selftest_start(struct event_base *base, const struct ice_selftest_env *env,
                                        ice_selftest_cb cb, void *arg);

/* Stop a self-test that has not reported (cb never runs). Accepts NULL. */
void ice_selftest_free(struct ice_selftest *t);

#endif
