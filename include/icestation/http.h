/*
 * The HTTP API: ICE configuration, /metrics, /healthz, /readyz (evhttp on the
 * event_base its caller runs). See docs/api.md.
 */
#ifndef ICESTATION_HTTP_H
#define ICESTATION_HTTP_H

#include <stdbool.h>

#include <event2/event.h>

#include "icestation/config.h"

struct ice_http;

struct ice_http_hooks {
	/* true once every configured STUN/TURN listener is bound (net layer). */
	bool (*listeners_ready)(void *ctx);
	void *ctx;
};

/*
 * Create the API server on base (an event_base the caller runs on its own
 * thread), binding cfg->http.listen. cfg and hooks are borrowed and must
 * outlive the server. Returns NULL (and logs why) on failure.
 */
struct ice_http *ice_http_new(struct event_base *base, const struct ice_config *cfg,
                              const struct ice_http_hooks *hooks);

/* Free; accepts NULL. Call on the loop's thread after the loop stopped. */
void ice_http_free(struct ice_http *http);

#endif
