/*
 * The HTTP API: ICE configuration, /metrics, /healthz, /readyz (evhttp on the
 * event_base its caller runs). See docs/api.md.
 */
#ifndef ICESTATION_HTTP_H
#define ICESTATION_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "icestation/config.h"

struct ice_http;

enum {
	ICE_HTTP_NODE_EPS = 16, /* public addresses of one node */
	ICE_HTTP_MAX_NODES = 16,
};

/* A node the ICE answer lists (the cluster's; see docs/cluster.md). */
struct ice_http_node {
	char turns_host[254]; /* "" when it has no turns: host name */
	struct {
		bool turn;            /* else STUN */
		unsigned transport;   /* one enum ice_transport bit */
		struct ice_addr addr; /* with its port */
	} ep[ICE_HTTP_NODE_EPS];
	size_t n_ep;
};

struct ltc_userhash;

struct ice_http_hooks {
	/* true once every configured STUN/TURN listener is bound (net layer). */
	bool (*listeners_ready)(void *ctx);
	/* true when TURN can open a relay of family: /readyz reports each
	 * advertised family (dual stack). May be NULL (then: yes). */
	bool (*relay_family)(void *ctx, int family);
	/* true while the daemon drains: /readyz answers 503 "draining". May be NULL. */
	bool (*draining)(void *ctx);
	/* true when the ICE API must not mint for user (revoked). May be NULL. */
	bool (*user_revoked)(void *ctx, const char *user, size_t len);
	/* The nodes to list, in order, into out[0..max): 0 when there is no
	 * cluster (the answer is this node's, from the configuration). May be NULL. */
	size_t (*nodes)(void *ctx, struct ice_http_node *out, size_t max);
	void *ctx;
	/* Where every minted username is recorded for USERHASH (the TURN
	 * side's table, see auth_userhash.h), or NULL when userhash is off. */
	struct ltc_userhash *userhash;
};

/*
 * Create the API server on base (an event_base the caller runs on its own
 * thread), binding cfg->http.listen, or serving fd when fd >= 0 (a
 * listening socket passed in by systemd; taken over). cfg and hooks are
 * borrowed and must outlive the server (or the next ice_http_reconfigure).
 * Returns NULL (and logs why) on failure.
 */
struct ice_http *ice_http_new(struct event_base *base, const struct ice_config *cfg,
                              const struct ice_http_hooks *hooks, int fd);

/*
 * Serve cfg from now on (a reload): the ICE answer's template, tokens, CORS
 * origins, identity header, public fallback and timeout follow it; the
 * listener and connection table stay (restart-only). cfg is borrowed as in
 * ice_http_new; the old one is not used after this returns. 0, or -ENOMEM
 * (the old configuration stays in force).
 */
int ice_http_reconfigure(struct ice_http *http, const struct ice_config *cfg);

/*
 * Advertise stun_ip and turn_ip (port 0) in the ICE answer from now on, in
 * place of the configuration's public-ip: the daemon's newer answer to
 * public-ip: auto when the host's addresses change. Read for the call. The
 * next ice_http_reconfigure goes back to its configuration's (freshly
 * resolved) addresses. 0, or -ENOMEM (the previous answer stays).
 */
int ice_http_set_public_ip(struct ice_http *http, const struct ice_addr *stun_ip,
                           const struct ice_addr *turn_ip);

/*
 * Certificate reload for HTTPS (loop thread): a new context from cfg's
 * http.tls pair serves the connections accepted from now on. 0 (also when
 * HTTPS is off), or -EINVAL with the reason in err, the old pair kept.
 */
int ice_http_reload_tls(struct ice_http *http, const struct ice_config *cfg, char *err,
                        size_t errlen);

/* Unix time the HTTPS certificate in force expires; 0 without HTTPS. */
uint64_t ice_http_tls_expiry(const struct ice_http *http);

/* Free; accepts NULL. Call on the loop's thread after the loop stopped. */
void ice_http_free(struct ice_http *http);

#endif
