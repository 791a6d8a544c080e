/*
 * Private to src/net: a generation is everything a worker reads that another
 * thread made, in one immutable, reference-counted object: the configuration
 * snapshot, the revocation set, the drain flag, the server's own addresses
 * and the host's interface addresses for the peer policy, and the turn
 * settings derived from them. The main
 * thread builds a new one for every reload, revocation or drain and posts it
 * to each worker's mailbox; a worker swaps it in between event-loop passes
 * and drops its reference to the old one, and the last reference frees it
 * (and with it, possibly, the old configuration snapshot).
 */
#ifndef ICESTATION_NET_GEN_H
#define ICESTATION_NET_GEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "icestation/config.h"
#include "icestation/turn.h"
#include "icestation/turn_policy.h"

struct ice_net;
struct ssl_ctx_st;
struct turn_revocations;

struct net_gen {
	_Atomic unsigned refs;
	struct ice_config *cfg;           /* one reference */
	struct turn_revocations *revoked; /* one reference, or NULL */
	bool draining;
	struct ssl_ctx_st *tls_ctx; /* TURN over TLS: one reference, or NULL */
	struct ice_cidr self[TURN_POLICY_MAX_SELF];
	size_t n_self;
	struct ice_addr *local; /* the host's interface addresses (owned copy) */
	size_t n_local;
	struct turn_settings turn; /* points into cfg, self and revoked */
};

/*
 * A generation of net for cfg, revoked (may be NULL) and draining, with one
 * reference; it takes its own references to cfg and revoked. Restart-only
 * parts (listen addresses, relay addresses) come from the net as started,
 * the host's addresses and public IPs from the last ice_net_set_host.
 * NULL on ENOMEM. Main thread.
 */
struct net_gen *net_gen_new(const struct ice_net *net, struct ice_config *cfg,
                            struct turn_revocations *revoked, bool draining);

/* Take one more reference (returns g) / drop one; any thread; accept NULL. */
struct net_gen *net_gen_ref(struct net_gen *g);
void net_gen_unref(struct net_gen *g);

#endif
