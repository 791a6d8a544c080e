/*
 * The net layer: worker threads, each with its own event_base and its own
 * SO_REUSEPORT listening sockets, relay sockets and timers. The main thread
 * talks to the workers only through their mailboxes: new generations
 * (reload, revocation list, drain), closing allocations, listings. See
 * docs/stun.md and docs/relay.md.
 *
 * Every function here is for the main thread, except ice_net_ready.
 */
#ifndef ICESTATION_NET_H
#define ICESTATION_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/config.h"
#include "icestation/turn.h"

struct ice_net;
struct event_base;
struct turn_revocations;

/* A listening socket handed to the daemon (systemd socket activation). */
struct ice_listen_fd {
	int fd;
	int type;             /* SOCK_STREAM or SOCK_DGRAM */
	struct ice_addr addr; /* where it is bound */
	bool used;            /* set by whoever serves it */
};

/*
 * Create the net layer for cfg (a reference is taken: restart-only keys are
 * read from it for the net's whole life): binds every listening socket of
 * every worker so bind errors surface here. A listener whose address, port
 * and type match one of passed[0..n_passed) serves that socket instead of
 * binding its own: a stream socket is shared by every worker (each accepts
 * from it), a datagram socket is served by worker 0 alone (a UDP flow must
 * stay on one worker, and a socket made elsewhere cannot join our
 * SO_REUSEPORT group). passed is read during the call only. Returns NULL and
 * logs why on failure.
 */
struct ice_net *ice_net_new(struct ice_config *cfg, struct ice_listen_fd *passed, size_t n_passed);

/* Deliver the workers' answers on base (the main thread's loop). 0 or -errno. */
int ice_net_attach(struct ice_net *net, struct event_base *base);

/* Start one thread per worker, each running its own event_base. 0 or -errno. */
int ice_net_start(struct ice_net *net);

/* true once every configured listener of every worker is bound and its loop runs. Any thread. */
bool ice_net_ready(const struct ice_net *net);

/* true when net has a relay address of family (AF_INET, AF_INET6). Any
 * thread: the relay addresses are fixed once ice_net_new returns. */
bool ice_net_relay_family(const struct ice_net *net, int family);

/*
 * Move every worker to a new generation: cfg (live keys; a reference is
 * taken), revoked (the revocation set, NULL for none; a reference is taken),
 * draining, and the host as ice_net_set_host last gave it. Workers switch at
 * their next loop pass; permissions and channels the new peer policy denies
 * are removed then. 0 or -ENOMEM.
 */
int ice_net_reconfigure(struct ice_net *net, struct ice_config *cfg,
                        struct turn_revocations *revoked, bool draining);

/*
 * What the host looks like now (the main thread's watch of it): addrs, every
 * address of every interface, which the peer policy denies (docs/turn.md);
 * and the STUN and TURN public IPs to advertise in place of the
 * configuration's (public-ip: auto followed; family 0 = the configuration's).
 */
struct ice_net_host {
	const struct ice_addr *addrs;
	size_t n_addrs;
	struct ice_addr stun_public, turn_public;
};

/*
 * Keep h (copied) for the generations that follow: it takes effect with the
 * next ice_net_reconfigure. Until the first call the net denies the
 * addresses it read at start and advertises the configuration's public IPs.
 * 0 or -ENOMEM (the previous view stays).
 */
int ice_net_set_host(struct ice_net *net, const struct ice_net_host *h);

/*
 * End every allocation of user[0..len) (the quota key: the REST user part)
 * on every worker, within a loop pass. 0, -ENAMETOOLONG (len over
 * TURN_USER_INFO_MAX), or -EAGAIN when a worker's mailbox is full (a stuck
 * worker; the workers that took it act on it).
 */
int ice_net_close_user(struct ice_net *net, const char *user, size_t len);

/*
 * List allocations (of user[0..len) only, when user is not NULL): at most
 * max_per_worker from each worker. cb runs later on the main thread's loop
 * with the items (borrowed for the call), how many, and how many matched in
 * all. 0, -EAGAIN (too many queries in flight or a mailbox full), -ENOMEM.
 */
typedef void (*ice_net_list_cb)(void *arg, const struct turn_alloc_info *items, size_t n,
                                size_t total);
int ice_net_list(struct ice_net *net, const char *user, size_t len, size_t max_per_worker,
                 ice_net_list_cb cb, void *arg);

/*
 * End the allocation with this id (its worker is in the id). cb runs later on
 * the main thread with 0 or -ENOENT. 0, -ENOENT (no such worker), -EAGAIN,
 * -ENOMEM.
 */
typedef void (*ice_net_close_cb)(void *arg, int rc);
int ice_net_close_alloc(struct ice_net *net, uint64_t id, ice_net_close_cb cb, void *arg);

/*
 * cb(arg, 0) later on the main thread once every worker has applied what was
 * posted to it before this call (a generation, closes), or cb(arg, -EAGAIN)
 * if a worker's mailbox was full (it applies them later). So an answer given
 * in cb is true of the next packet any worker reads. 0, or -EAGAIN (too
 * many queries in flight: cb is not called).
 */
int ice_net_sync(struct ice_net *net, ice_net_close_cb cb, void *arg);

/*
 * Load cfg's TURN certificate and key again; on success the next generation
 * (ice_net_reconfigure) gives them to new handshakes. 0, or -EINVAL with the
 * reason in err (the pair in force stays). TLS turned on or off needs a
 * restart: then nothing is done.
 */
int ice_net_reload_tls(struct ice_net *net, const struct ice_config *cfg, char *err, size_t errlen);

/* Unix time the TURN certificate in force expires; 0 without TLS. */
uint64_t ice_net_tls_expiry(const struct ice_net *net);

/*
 * The cluster-wide per-user quota (turn_settings.cluster_quota), answered on
 * the main thread. ask: return a verdict now (>= 0, enum
 * turn_cluster_verdict), or -EINPROGRESS and answer later with
 * ice_net_quota_answer(worker, cookie, ...). release: one allocation of
 * user ended (user NUL-terminated, borrowed for the call).
 */
struct ice_net_quota_hooks {
	int (*ask)(void *ctx, unsigned worker, uint64_t cookie, const char *user);
	void (*release)(void *ctx, const char *user);
	void *ctx;
};

/* Set (or clear, with NULL) the hooks. Main thread. */
void ice_net_set_quota_hooks(struct ice_net *net, const struct ice_net_quota_hooks *h);

/* The verdict for worker's ask of cookie. 0, or -EAGAIN (its mailbox is full:
 * the worker decides on its local count when the ask times out). */
int ice_net_quota_answer(struct ice_net *net, unsigned worker, uint64_t cookie,
                         enum turn_cluster_verdict v);

/* Allocations alive across all workers. */
uint32_t ice_net_allocations(const struct ice_net *net);

/*
 * The watchdog's question: has every worker completed an event-loop pass
 * since the last call? (Every worker passes at least once a second.)
 */
bool ice_net_progress(struct ice_net *net);

struct ltc_userhash;

/*
 * The TURN side's USERHASH table (the ICE API records minted usernames in
 * it), or NULL when TURN or its userhash key is off. Lives as long as net.
 */
struct ltc_userhash *ice_net_userhash(const struct ice_net *net);

/* Ask every worker to stop and join the threads. Idempotent. */
void ice_net_stop(struct ice_net *net);

/* Free; accepts NULL. Call after ice_net_stop. */
void ice_net_free(struct ice_net *net);

#endif
