/*
 * The admin API (docs/api.md): /admin/v1/{status, allocations, users/{u}/revoke,
 * revocations, reload, drain, selftest} over HTTP/1.1 with JSON in and out,
 * and the status page (GET /admin/, its files built into the binary), on its own
 * listener: a unix socket (mode 0600) by default, or TCP with bearer tokens.
 * Never on the public ICE-API listener. The layer only speaks HTTP; what
 * each route does is the caller's (struct ice_admin_ops), so it runs on the
 * main thread's loop and reaches the workers only through the net layer.
 */
#ifndef ICESTATION_ADMIN_H
#define ICESTATION_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "icestation/config.h"
#include "icestation/net.h"

struct event_base;
struct ice_admin;

/* A report that comes later (the self-test's), taken by the callee (NULL: ENOMEM). */
typedef void (*ice_admin_report_cb)(void *arg, cJSON *report);

/* What the routes do; every callback runs on the admin loop's thread. */
struct ice_admin_ops {
	void *ctx;
	/* The status object (owned by the caller of status), or NULL on ENOMEM. */
	cJSON *(*status)(void *ctx);
	/* Reload the configuration: 0 and *generation, or -EINVAL with the
	 * loader's "file:line:col: message" lines in err. */
	int (*reload)(void *ctx, char *err, size_t errlen, uint64_t *generation);
	/* Start draining (idempotent). 0 or -errno. */
	int (*drain)(void *ctx);
	/* Revoke user[0..len) until `until` (unix seconds, 0 = until lifted). 0 or -errno. */
	int (*revoke)(void *ctx, const char *user, size_t len, uint64_t until);
	/* Lift a revocation: 0, or -ENOENT. */
	int (*unrevoke)(void *ctx, const char *user, size_t len);
	/* The revocation list as a JSON array (owned by the caller), or NULL. */
	cJSON *(*revocations)(void *ctx);
	/* Start a listing (ice_net_list semantics): 0 or -errno. */
	int (*list)(void *ctx, const char *user, size_t len, ice_net_list_cb cb, void *arg);
	/* Start closing one allocation (ice_net_close_alloc semantics). */
	int (*kill)(void *ctx, uint64_t id, ice_net_close_cb cb, void *arg);
	/* cb(arg, 0 or -EAGAIN) once the workers have applied what the calls
	 * above changed (ice_net_sync). 0, or -EAGAIN: cb is not called. */
	int (*sync)(void *ctx, ice_net_close_cb cb, void *arg);
	/* The cluster view (owned by the caller), or NULL. */
	cJSON *(*cluster)(void *ctx);
	/* Run the self-test (or join the one running); cb later with its
	 * report. 0, -EAGAIN (too many waiting), -ENOMEM. */
	int (*selftest)(void *ctx, ice_admin_report_cb cb, void *arg);
};

/*
 * Serve the admin API of cfg->admin on base. fd >= 0 is a listening socket
 * passed in (systemd socket activation), used instead of creating one.
 * cfg is read for the call (tokens are copied); ops is copied. Returns NULL
 * and logs why on failure (a unix socket another live daemon owns is
 * refused, a stale one replaced).
 */
struct ice_admin *ice_admin_new(struct event_base *base, const struct ice_config *cfg,
                                const struct ice_admin_ops *ops, int fd);

/* Take the bearer tokens of cfg (a reload). 0 or -ENOMEM (old ones kept). */
int ice_admin_reconfigure(struct ice_admin *a, const struct ice_config *cfg);

/* Close the listener and every connection; removes a socket file it made. Accepts NULL. */
void ice_admin_free(struct ice_admin *a);

#endif
