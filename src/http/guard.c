/*
 * What guards the ICE API against its callers. Whoever reaches the API can
 * mint TURN credentials for any user_did, so the shipped listen address is
 * loopback, behind the Station's reverse proxy; listening anywhere else
 * with neither bearer tokens nor a trusted identity header is logged at
 * start, where the operator looks.
 *
 * Everything here is derived from the configuration snapshot by
 * http_guard_init, which a reload may call again with a new snapshot.
 */
#include "icestation/log.h"

#include "http_int.h"

static void
warn_exposure(const struct ice_config_http *hc)
{
	char where[ICE_ADDR_STRLEN];

	if (ice_addr_is_loopback(&hc->listen) || hc->n_bearer_tokens > 0 ||
	    hc->identity_header != NULL)
		return;
	log_warnx("http: the ICE API listens on %s with neither bearer-tokens nor an "
	          "identity-header: anyone who reaches it can mint TURN credentials for any "
	          "user_did. Listen on 127.0.0.1 behind the Station's reverse proxy, or set "
	          "http.bearer-tokens",
	          ice_addr_str(&hc->listen, where, sizeof(where)));
}

int
http_guard_init(struct ice_http *h)
{
	warn_exposure(&h->cfg->http);
	return 0;
}
