/*
 * What guards the ICE API against its callers. Whoever reaches the API can
 * mint TURN credentials for any user_did, so:
 *
 *  - the shipped listen address is loopback, behind the Station's reverse
 *    proxy; listening anywhere else with neither bearer tokens nor a
 *    trusted identity header is logged at start, where the operator looks;
 *  - each caller gets a token bucket of requests (http.rate-limit): the
 *    identity from the trusted header when one is configured and sent,
 *    else the client IP as the TCP connection shows it. Behind a reverse
 *    proxy that is the proxy's address, so without the identity header the
 *    bucket is shared by every caller of the Station (docs/api.md says so).
 *
 * Everything here is derived from the configuration snapshot by
 * http_guard_init, which a reload may call again with a new snapshot.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "icestation/log.h"
#include "icestation/siphash.h"

#include "http_int.h"

enum {
	/* Callers remembered at once; an idle caller's bucket is full again
	 * after burst / rate seconds and its slot is reused first. */
	GUARD_RL_ENTRIES = 4096,
};

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
http_guard_init(struct ice_http *h, const struct ice_config *old)
{
	const struct ice_config_http *hc = &h->cfg->http;
	struct ice_siphash_key key;
	struct ice_ratelimit *rl = NULL;
	int rc;

	warn_exposure(hc);
	/* Same limit: the callers keep their buckets. */
	if (old != NULL && old->http.rate_rps == hc->rate_rps &&
	    old->http.rate_burst == hc->rate_burst)
		return 0;
	if (hc->rate_rps > 0) {
		rc = ice_siphash_key_random(&key);
		if (rc < 0)
			return rc;
		rl = ice_ratelimit_new(hc->rate_rps, hc->rate_burst ? hc->rate_burst : hc->rate_rps,
		                       GUARD_RL_ENTRIES, &key);
		if (rl == NULL)
			return -ENOMEM;
	}
	ice_ratelimit_free(h->rl);
	h->rl = rl;
	return 0;
}

void
http_guard_fini(struct ice_http *h)
{
	ice_ratelimit_free(h->rl);
	h->rl = NULL;
}

/* The TCP peer; an IPv4 client of a dual-stack socket as plain IPv4. */
static int
peer_addr(struct evhttp_request *req, struct ice_addr *out)
{
	const struct sockaddr *sa = evhttp_connection_get_addr(evhttp_request_get_connection(req));

	if (sa == NULL || ice_addr_from_sockaddr(out, sa) < 0)
		return -ENOTCONN;
	if (out->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)out->ip)) {
		memmove(out->ip, out->ip + 12, 4);
		memset(out->ip + 4, 0, 12);
		out->family = AF_INET;
	}
	return 0;
}

bool
http_guard_admit(struct ice_http *h, struct evhttp_request *req)
{
	const char *hdr = h->cfg->http.identity_header, *who = NULL;
	enum ice_ratelimit_verdict v;
	struct ice_addr peer;
	ice_ms_t now;

	if (h->rl == NULL)
		return true;
	now = ice_http_conns_now_ms();
	if (hdr != NULL)
		who = evhttp_find_header(evhttp_request_get_input_headers(req), hdr);
	if (who != NULL && who[0] != '\0')
		v = ice_ratelimit_take_key(h->rl, who, strnlen(who, ICE_REST_USER_MAX + 1), now);
	else if (peer_addr(req, &peer) == 0)
		v = ice_ratelimit_take(h->rl, &peer, now);
	else
		return true; /* no peer address: nothing to key on (never seen on TCP) */
	if (v == ICE_RL_ALLOW_EVICTED)
		ice_metrics_inc(h->m, ICE_M_HTTP_RATE_EVICTIONS);
	if (v != ICE_RL_DENY)
		return true;
	ice_metrics_inc(h->m, ICE_M_HTTP_RATE_LIMITED);
	/* A token comes back within a second at any rate of 1/s or more. */
	http_header(req, "Retry-After", "1");
	http_reply_error(h, req, 429, "Too Many Requests", "rate_limited",
	                 "too many requests from this caller; retry after Retry-After seconds");
	return false;
}
