/*
 * The daemon's life on the main thread: start the workers, the HTTP API and
 * the admin API, tell systemd when it serves, then run the main loop until
 * SIGTERM/SIGINT or the end of a drain. SIGHUP reloads the configuration,
 * SIGUSR1 starts a drain. A periodic tick ends a drain, expires
 * revocations and pings the watchdog; the host's addresses are followed by
 * hostwatch.c.
 */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "icestation/log.h"
#include "icestation/turn_revoke.h"

uint64_t
daemon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
daemon_unix_s(void)
{
	return (uint64_t)time(NULL);
}

void
daemon_exit(struct daemon *d, int code)
{
	d->exit_code = code;
	event_base_loopbreak(d->base);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[4096];
	uint64_t gen;

	(void)what;
	switch (sig) {
	case SIGHUP:
		log_info("received SIGHUP, reloading %s", d->path);
		(void)daemon_reload(d, err, sizeof(err), &gen);
		break;
	case SIGUSR1:
		log_info("received SIGUSR1, draining");
		(void)daemon_drain(d);
		break;
	default:
		log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		notify_stopping();
		daemon_exit(d, 0);
		break;
	}
}

/* Readiness is reported to systemd once, when the workers' listeners run. */
static void
on_ready_poll(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, DAEMON_READY_POLL_MS * 1000 };

	(void)fd;
	(void)what;
	if (!ice_net_ready(d->net)) {
		evtimer_add(d->ev_ready, &tv);
		return;
	}
	log_info("ready: %u worker(s) serving", d->cfg->workers);
	notify_ready(d);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	daemon_control_tick(d);
	certwatch_tick(d);
	notify_watchdog(d);
}

static bool
hook_ready(void *ctx)
{
	const struct daemon *d = ctx;

	return d->net != NULL && ice_net_ready(d->net);
}

static bool
hook_relay_family(void *ctx, int family)
{
	const struct daemon *d = ctx;

	return ice_net_relay_family(d->net, family);
}

static bool
hook_draining(void *ctx)
{
	return ((const struct daemon *)ctx)->draining;
}

static bool
hook_revoked(void *ctx, const char *user, size_t len)
{
	const struct daemon *d = ctx;

	return revlist_api_refused(&d->revs, user, len, daemon_unix_s());
}

static size_t
hook_nodes(void *ctx, struct ice_http_node *out, size_t max)
{
	return daemon_cluster_http_nodes(ctx, out, max);
}

static const char *
public_ip_source(const struct ice_public_ip *p)
{
	switch (p->source) {
	case ICE_PUBLIC_IP_ENV:
		return "from the environment";
	case ICE_PUBLIC_IP_AUTO:
		return p->addr.family == 0 ? "auto found none" : "auto-detected";
	default:
		return "configured";
	}
}

/* An unusable public address keeps /readyz at 503: say why and what to set,
 * for each family public-ip advertises (dual stack). */
static void
log_unusable_of(const struct ice_config *cfg, const char *section, const struct ice_public_ip *p)
{
	struct ice_addr pair[2];
	char why[512];

	if (p->addr.family == 0) {
		if (ice_config_public_unusable(cfg, section, &p->addr, why, sizeof(why)))
			log_errorx("%s: not ready: %s", section, why);
		return;
	}
	ice_public_ip_pair(&p->addr, p, pair);
	for (int i = 0; i < 2; i++)
		if (pair[i].family != 0 &&
		    ice_config_public_unusable(cfg, section, &pair[i], why, sizeof(why)))
			log_errorx("%s: not ready: %s", section, why);
}

static void
log_unusable(const struct ice_config *cfg)
{
	if (cfg->stun.enabled)
		log_unusable_of(cfg, "stun", &cfg->stun.public_ip);
	if (cfg->turn.enabled)
		log_unusable_of(cfg, "turn", &cfg->turn.public_ip);
}

/* " and 2001:db8::7" for a dual-stack public-ip, else "". */
static const char *
second_ip(const struct ice_public_ip *p, char *buf, size_t len)
{
	char ip[ICE_ADDR_STRLEN];

	buf[0] = '\0';
	if (p->second.family != 0)
		snprintf(buf, len, " and %s", ice_addr_ip_str(&p->second, ip, sizeof(ip)));
	return buf;
}

static void
log_summary(const struct daemon *d)
{
	const struct ice_config *cfg = d->cfg;
	char buf[ICE_ADDR_STRLEN], b2[ICE_ADDR_STRLEN + 8];

	if (cfg->stun.enabled)
		log_info("stun: port %u, public address %s%s (%s)", cfg->stun.port,
		         ice_addr_ip_str(&d->host.stun_public, buf, sizeof(buf)),
		         second_ip(&cfg->stun.public_ip, b2, sizeof(b2)),
		         public_ip_source(&cfg->stun.public_ip));
	if (cfg->turn.enabled)
		log_info("turn: port %u, realm %s, public address %s%s (%s), max %u allocations",
		         cfg->turn.port, cfg->turn.realm,
		         ice_addr_ip_str(&d->host.turn_public, buf, sizeof(buf)),
		         second_ip(&cfg->turn.public_ip, b2, sizeof(b2)),
		         public_ip_source(&cfg->turn.public_ip), cfg->turn.max_allocations);
	if (cfg->http.enabled)
		log_info("http: listening on %s",
		         ice_addr_str(&cfg->http.listen, buf, sizeof(buf)));
	log_unusable(cfg);
}

/* Signals, the readiness poll and the tick. 0 or -ENOMEM. */
static int
events_start(struct daemon *d)
{
	const struct timeval now = { 0, 0 };
	const struct timeval tick = { 0, DAEMON_TICK_MS * 1000 };

	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->ev_usr1 = evsignal_new(d->base, SIGUSR1, on_signal, d);
	d->ev_ready = evtimer_new(d->base, on_ready_poll, d);
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	if (d->ev_term == NULL || d->ev_int == NULL || d->ev_hup == NULL || d->ev_usr1 == NULL ||
	    d->ev_ready == NULL || d->ev_tick == NULL || evsignal_add(d->ev_term, NULL) < 0 ||
	    evsignal_add(d->ev_int, NULL) < 0 || evsignal_add(d->ev_hup, NULL) < 0 ||
	    evsignal_add(d->ev_usr1, NULL) < 0 || evtimer_add(d->ev_ready, &now) < 0 ||
	    event_add(d->ev_tick, &tick) < 0)
		return -ENOMEM;
	return 0;
}

static void
events_free(struct daemon *d)
{
	struct event **evs[] = { &d->ev_term, &d->ev_int,   &d->ev_hup,
		                 &d->ev_usr1, &d->ev_ready, &d->ev_tick };

	for (size_t i = 0; i < ICE_ARRAY_SIZE(evs); i++) {
		if (*evs[i] != NULL)
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
}

/* The HTTP and admin APIs, on their passed sockets if systemd gave them. 0 or -1. */
static int
apis_start(struct daemon *d)
{
	const struct ice_config *cfg = d->cfg;
	int fd;

	if (cfg->http.enabled) {
		fd = notify_take_stream(d, &cfg->http.listen, NULL);
		d->http = ice_http_new(d->base, cfg, &d->hooks, fd);
		if (d->http == NULL ||
		    ice_http_set_public_ip(d->http, &d->host.stun_public, &d->host.turn_public) < 0)
			return -1;
	}
	if (cfg->admin.enabled) {
		fd = notify_take_stream(d, cfg->admin.listen.family ? &cfg->admin.listen : NULL,
		                        cfg->admin.unix_path);
		daemon_admin_ops(d, &d->admin_ops);
		d->admin = ice_admin_new(d->base, cfg, &d->admin_ops, fd);
		if (d->admin == NULL)
			return -1;
	}
	return 0;
}

static struct event_base *
base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base = NULL;

	/* Only this thread touches the main loop (workers answer through the
	 * net's reply queue), so it needs no libevent lock on every event. */
	if (ec != NULL) {
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
		base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	return base;
}

int
daemon_run(struct ice_config *cfg, const char *path)
{
	struct daemon d = {
		.path = path,
		.cfg = ice_config_ref(cfg),
		.host = { .fd = -1 },
	};
	int rc = 1;

	d.hooks = (struct ice_http_hooks){ .listeners_ready = hook_ready,
		                           .relay_family = hook_relay_family,
		                           .draining = hook_draining,
		                           .user_revoked = hook_revoked,
		                           .nodes = hook_nodes,
		                           .ctx = &d };
	d.m = ice_metrics_block_new();
	d.started_unix = daemon_unix_s();
	d.started_ms = daemon_now_ms();
	d.clock_offset_ms = daemon_clock_offset_ms();
	ice_metrics_add(d.m, ICE_M_PROCESS_START_TIME, d.started_unix);
	ice_metrics_inc(d.m, ICE_M_CONFIG_LOADS);
	ice_metrics_set(d.m, ICE_M_CONFIG_GENERATION, cfg->generation);
	d.base = base_new();
	if (d.base == NULL) {
		log_errorx("cannot create the main event loop");
		goto out_cfg;
	}
	if (notify_listen_fds(&d) < 0 || daemon_revocations_start(&d) < 0)
		goto out_base;
	d.net = ice_net_new(cfg, d.passed, d.n_passed);
	if (d.net == NULL || ice_net_attach(d.net, d.base) < 0)
		goto out_net;
	d.hooks.userhash = ice_net_userhash(d.net);
	if (hostwatch_start(&d) < 0 || daemon_push(&d) < 0 || apis_start(&d) < 0 ||
	    daemon_cluster_start(&d) < 0)
		goto out_apis;
	certwatch_rearm(&d);
	notify_close_unused(&d);
	if (ice_net_start(d.net) < 0) {
		log_errorx("cannot start the worker threads");
		goto out_stop;
	}
	if (events_start(&d) < 0) {
		log_errorx("cannot set up signal handling");
		goto out_stop;
	}
	notify_watchdog_init(&d);
	log_summary(&d);

	if (event_base_dispatch(d.base) < 0)
		log_errorx("main event loop failed");
	else
		rc = d.exit_code;

out_stop:
	daemon_cluster_stop(&d);
	ice_net_stop(d.net);
	events_free(&d);
out_apis:
	daemon_cluster_stop(&d);
	ice_net_stop(d.net);
	daemon_selftest_stop(&d);
	ice_admin_free(d.admin);
	ice_http_free(d.http);
out_net:
	ice_net_free(d.net);
	hostwatch_stop(&d);
out_base:
	event_base_free(d.base);
	turn_revocations_unref(d.rev_set);
	revlist_free(&d.revs);
out_cfg:
	ice_config_unref(d.cfg);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
