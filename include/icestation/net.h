/*
 * The net layer: worker threads, each with its own event_base and its own
 * SO_REUSEPORT listening sockets, relay sockets and timers. See docs/stun.md.
 */
#ifndef ICESTATION_NET_H
#define ICESTATION_NET_H

#include <stdbool.h>

#include "icestation/config.h"

struct ice_net;

/*
 * Create the net layer for cfg (borrowed, must outlive it): binds every
 * listening socket of every worker so bind errors surface here.
 * Returns NULL and logs why on failure.
 */
struct ice_net *ice_net_new(const struct ice_config *cfg);

/* Start one thread per worker, each running its own event_base. 0 or -errno. */
int ice_net_start(struct ice_net *net);

/* true once every configured listener of every worker is bound and its loop runs. Any thread. */
bool ice_net_ready(const struct ice_net *net);

/* Ask every worker to stop and join the threads. Idempotent. */
void ice_net_stop(struct ice_net *net);

/* Free; accepts NULL. Call after ice_net_stop. */
void ice_net_free(struct ice_net *net);

#endif
