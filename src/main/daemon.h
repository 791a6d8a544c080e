/*
 * Private to src/main: the daemon object the main thread runs, and the
 * pieces of it each file of this folder owns:
 *   main.c       command line
 *   daemon.c     start, the main loop, signals, the periodic tick, stop
 *   reload.c     configuration reload (SIGHUP, systemctl reload, admin API)
 *   control.c    drain and revocation, and the admin API's operations
 *   status.c     the admin status object
 *   selftest.c   the self-test behind GET /admin/v1/selftest
 *   notify.c     systemd: readiness, reload, watchdog, socket activation
 *   revocations.c the revocation list and its state file
 *   cluster.c    the Redis-backed cluster (registry, quotas, revocations)
 *   hostwatch.c  the host's addresses and public IPs, kept current (netlink)
 */
#ifndef ICESTATION_MAIN_DAEMON_H
#define ICESTATION_MAIN_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "icestation/admin.h"
#include "icestation/config.h"
#include "icestation/hostaddr.h"
#include "icestation/http.h"
#include "icestation/metrics.h"
#include "icestation/net.h"
#include "icestation/selftest.h"
#include "icestation/tls.h"

#include "revocations.h"

struct event;
struct event_base;
struct ice_cluster;
struct ice_cluster_node;

enum {
	DAEMON_TICK_MS = 250, /* drain check, revocation expiry, watchdog */
	DAEMON_READY_POLL_MS = 20,
	DAEMON_MAX_PASSED_FDS = 64,  /* socket activation */
	DAEMON_SELFTEST_WAITERS = 8, /* admin requests sharing one self-test run */
};

enum {
	/* A burst of address or route changes is gathered this long into one
	 * re-read and one generation (docs/turn.md promises 2 s in all). */
	HOSTWATCH_SETTLE_MS = 250,
	HOSTWATCH_READS_PER_WAKE = 64, /* netlink datagrams per wake-up */
};

/* The host as the daemon sees it (hostwatch.c). */
struct hostwatch {
	int fd;              /* NETLINK_ROUTE, -1 before the start */
	struct event *ev_io; /* on fd */
	struct event *ev_settle;
	bool addrs_dirty, routes_dirty, routes_on;
	struct ice_metrics *m;
	struct ice_host_addrs addrs;              /* every interface address */
	struct ice_addr stun_public, turn_public; /* in force (port 0) */
};

/* certwatch.c: the TLS pairs on disk, and their expiry. */
enum {
	CERTWATCH_TURN,
	CERTWATCH_HTTP,
	CERTWATCH_N
};

struct certwatch_one {
	bool on;                          /* this listener serves TLS */
	struct ice_tls_files_stamp stamp; /* the files as last loaded or tried */
	uint64_t next_ms;                 /* next stat (monotonic ms) */
	uint64_t warned_ms;               /* last expiry warning; 0 = none yet */
	bool retry;                       /* the changed pair failed once: try again */
};

struct certwatch {
	struct certwatch_one l[CERTWATCH_N];
	uint64_t gauges_ms; /* last update of the seconds-left gauges */
};

/* A unix socket systemd passed in (the admin API's). */
struct passed_unix {
	int fd;
	char path[108];
	bool used;
};

struct daemon {
	const char *path;
	struct ice_config *cfg; /* in force; one reference */
	struct event_base *base;
	struct ice_net *net;
	struct ice_http *http;
	struct ice_admin *admin;
	struct ice_metrics *m; /* the main thread's block */
	struct ice_http_hooks hooks;
	struct ice_admin_ops admin_ops;

	struct hostwatch host;
	struct certwatch certwatch;

	struct revlist revs;
	struct turn_revocations *rev_set; /* the workers' copy of revs (one reference) */

	struct ice_cluster *cluster; /* NULL without a cluster section */
	/* Relayed bytes each way, summed over the workers at the last tick, and
	 * the rates (bytes/s) the cluster record and the status page show. */
	uint64_t bytes_to_peer, bytes_to_client, bytes_at_ms;
	uint64_t rate_to_peer_Bps, rate_to_client_Bps;

	bool draining;
	uint64_t drain_deadline_ms;
	uint64_t started_unix;
	uint64_t started_ms;

	struct event *ev_term, *ev_int, *ev_hup, *ev_usr1, *ev_ready, *ev_tick;
	bool notified_ready;
	uint64_t watchdog_usec; /* WATCHDOG_USEC, 0 = none */
	uint64_t watchdog_last_ms;
	bool watchdog_stalled; /* logged once per stall, not per tick */

	/* Socket activation: INET sockets (net, HTTP, admin over TCP) and unix ones. */
	struct ice_listen_fd passed[DAEMON_MAX_PASSED_FDS];
	bool passed_taken[DAEMON_MAX_PASSED_FDS]; /* owned by the HTTP or admin API now */
	size_t n_passed;
	struct passed_unix passed_unix[DAEMON_MAX_PASSED_FDS];
	size_t n_passed_unix;

	/* The self-test running (NULL when none) and the requests waiting for it. */
	struct ice_selftest *selftest;
	struct {
		ice_admin_report_cb cb;
		void *arg;
	} st_wait[DAEMON_SELFTEST_WAITERS];
	size_t n_st_wait;
	int64_t clock_offset_ms; /* realtime - monotonic at start (the clock check) */

	int exit_code;
};

/* daemon.c */
int daemon_run(struct ice_config *cfg, const char *path);
uint64_t daemon_now_ms(void);
uint64_t daemon_unix_s(void);
/* Leave the main loop with code (0 after a completed drain). */
void daemon_exit(struct daemon *d, int code);

/* reload.c: 0 (*generation set), or -EINVAL with the reason in err. */
int daemon_reload(struct daemon *d, char *err, size_t errlen, uint64_t *generation);

/* control.c */
/* Give the workers a new generation (the config, revocations and drain flag in force). */
int daemon_push(struct daemon *d);
int daemon_drain(struct daemon *d);
int daemon_revoke(struct daemon *d, const char *user, size_t len, uint64_t until);
int daemon_unrevoke(struct daemon *d, const char *user, size_t len);
/* The drain's end and revocation expiry, from the tick. */
void daemon_control_tick(struct daemon *d);
/* Load the saved revocations (start). 0, or -errno logged. */
int daemon_revocations_start(struct daemon *d);
void daemon_admin_ops(struct daemon *d, struct ice_admin_ops *ops);

/* A revocation from the cluster (ours echoed, or another node's): applied
 * here unless an entry as recent is there already. 0 or -errno. */
int daemon_revoke_from_cluster(struct daemon *d, const char *user, size_t len, uint64_t revoked_at,
                               uint64_t until);

/* cluster.c (every call does nothing without a cluster section) */
int daemon_cluster_start(struct daemon *d);
void daemon_cluster_reloaded(struct daemon *d);
void daemon_cluster_draining(struct daemon *d);
void daemon_cluster_revoke(struct daemon *d, const char *user, uint64_t revoked_at, uint64_t until);
/* Leave the registry (a short wait for Redis) and free the client. */
void daemon_cluster_stop(struct daemon *d);
size_t daemon_cluster_ice_nodes(struct daemon *d, struct ice_cluster_node *out, size_t max);
/* The ICE API's hook: the nodes to list (0 without a cluster). */
size_t daemon_cluster_http_nodes(struct daemon *d, struct ice_http_node *out, size_t max);
cJSON *daemon_cluster_json(struct daemon *d);
/* hostwatch.c */
/* Read the host and start following it (d->base, d->cfg set). 0 or -errno, logged. */
int hostwatch_start(struct daemon *d);
/* d->cfg changed (reload): its public IPs are in force again, freshly resolved. */
void hostwatch_reconfigure(struct daemon *d);
/* What the next generation is built with; borrows d's list. */
void hostwatch_view(const struct daemon *d, struct ice_net_host *out);
/* Stop following; accepts a watch never started (fd -1). */
void hostwatch_stop(struct daemon *d);

/* certwatch.c */
/* Stamp the files of d->cfg's pairs, set the expiry gauges (start, reload). */
void certwatch_rearm(struct daemon *d);
/* From the tick: reload a pair whose files changed; refresh the gauges. */
void certwatch_tick(struct daemon *d);
/* Load listener i's pair (CERTWATCH_*) from cfg: 0, or -EINVAL logged and
 * counted with the old pair kept. The TURN pair needs daemon_push after. */
int certwatch_reload_one(struct daemon *d, const struct ice_config *cfg, int i);

/* selftest.c: realtime minus monotonic now, in ms. */
int64_t daemon_clock_offset_ms(void);
/* Start a self-test, or join the one running. 0, -EAGAIN, -ENOMEM. */
int daemon_selftest(struct daemon *d, ice_admin_report_cb cb, void *arg);
/* Stop a running self-test; its waiters get no answer (shutdown). */
void daemon_selftest_stop(struct daemon *d);

/* status.c */
cJSON *daemon_status(struct daemon *d);
cJSON *daemon_revocations_json(struct daemon *d);

/* notify.c */
void notify_ready(struct daemon *d);
void notify_reloading(void);
void notify_stopping(void);
/* Ping the watchdog if due and every worker passed since the last ping. */
void notify_watchdog(struct daemon *d);
void notify_watchdog_init(struct daemon *d);
/* Collect LISTEN_FDS (socket activation). 0 or -errno (logged). */
int notify_listen_fds(struct daemon *d);
/* A passed stream socket for addr (INET, when addr is not NULL) or the unix
 * path (when not NULL), marked used; -1 if none. */
int notify_take_stream(struct daemon *d, const struct ice_addr *addr, const char *unix_path);
/* Close the passed sockets nobody serves, with a warning each. */
void notify_close_unused(struct daemon *d);

#endif
