/*
 * icestation: command line and daemon lifecycle. Loads the configuration
 * snapshot, starts the net workers and the HTTP API, tells systemd when it is
 * ready, and stops cleanly on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <systemd/sd-daemon.h>

#include "icestation/config.h"
#include "icestation/http.h"
#include "icestation/log.h"
#include "icestation/metrics.h"
#include "icestation/net.h"

#define DEFAULT_CONFIG "/etc/icestation/peers.yml"

enum {
	READY_POLL_MS = 20,
};

struct daemon {
	struct ice_config *cfg;
	struct event_base *base;
	struct ice_net *net;
	struct ice_http *http;
	struct event *sigterm, *sigint, *ready_poll;
	struct ice_metrics *metrics;
	bool notified_ready;
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: icestation [-c FILE] [--check-config] [--print-config]\n"
	            "       icestation --version | --help\n"
	            "\n"
	            "  -c, --config FILE   main configuration file (default " DEFAULT_CONFIG ")\n"
	            "      --check-config  validate the configuration, print errors, exit 0/1\n"
	            "      --print-config  print the effective configuration (secrets masked)\n"
	            "  -v, --version       print the version and exit\n"
	            "  -h, --help          print this help and exit\n");
}

static bool
net_ready_hook(void *ctx)
{
	const struct daemon *d = ctx;

	return d->net != NULL && ice_net_ready(d->net);
}

/*
 * glibc's malloc, tuned so memory goes back after a burst of allocations
 * (issue 6: RSS after release within 10 % of the start). By default the
 * mmap threshold rises to the largest block ever freed (the TURN hash
 * arrays reach 128-256 KiB at 10k allocations), and the trim threshold
 * with it, so the arrays end up inside a worker's arena, whose free top
 * malloc_trim() never shrinks (glibc 2.36 trims only the main heap's top).
 * Fixed values stop that drift: blocks of 64 KiB and more are their own
 * mappings and are unmapped on free, and an arena top above 128 KiB is
 * handed back when a large block is freed into it. Nothing on the packet
 * path allocates, so the cost (an mmap per hash resize) is Allocate-time.
 */
static void
malloc_tune(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	(void)mallopt(M_TOP_PAD, 64 * 1024);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(d->base);
}

/* Readiness is reported to systemd once, when the workers' listeners run. */
static void
on_ready_poll(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, READY_POLL_MS * 1000 };

	(void)fd;
	(void)what;
	if (!ice_net_ready(d->net)) {
		evtimer_add(d->ready_poll, &tv);
		return;
	}
	d->notified_ready = true;
	log_info("ready: %u worker(s) serving", d->cfg->workers);
	sd_notifyf(0, "READY=1\nSTATUS=serving with %u worker(s)", d->cfg->workers);
}

static const char *
public_ip_source(const struct ice_public_ip *p)
{
	switch (p->source) {
	case ICE_PUBLIC_IP_ENV:
		return "from the environment";
	case ICE_PUBLIC_IP_AUTO:
		return "auto-detected";
	default:
		return "configured";
	}
}

static void
log_summary(const struct ice_config *cfg)
{
	char buf[ICE_ADDR_STRLEN];

	if (cfg->stun.enabled)
		log_info("stun: port %u, public address %s (%s)", cfg->stun.port,
		         ice_addr_ip_str(&cfg->stun.public_ip.addr, buf, sizeof(buf)),
		         public_ip_source(&cfg->stun.public_ip));
	if (cfg->turn.enabled)
		log_info("turn: port %u, realm %s, public address %s (%s), max %u allocations",
		         cfg->turn.port, cfg->turn.realm,
		         ice_addr_ip_str(&cfg->turn.public_ip.addr, buf, sizeof(buf)),
		         public_ip_source(&cfg->turn.public_ip), cfg->turn.max_allocations);
	if (cfg->http.enabled)
		log_info("http: listening on %s",
		         ice_addr_str(&cfg->http.listen, buf, sizeof(buf)));
}

static int
run(struct ice_config *cfg)
{
	struct daemon d = { .cfg = cfg };
	struct ice_http_hooks hooks = { .listeners_ready = net_ready_hook, .ctx = &d };
	struct timeval tv = { 0, 0 };
	struct event_config *ec;
	int rc = 1;

	d.metrics = ice_metrics_block_new();
	ice_metrics_add(d.metrics, ICE_M_PROCESS_START_TIME, (uint64_t)time(NULL));
	ice_metrics_inc(d.metrics, ICE_M_CONFIG_LOADS);

	/* Only this thread touches the main loop (workers stop through their own
	 * eventfds), so it needs no libevent lock on every event add/delete. */
	ec = event_config_new();
	if (ec != NULL) {
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
		d.base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (d.base == NULL) {
		log_errorx("cannot create the main event loop");
		return 1;
	}
	d.net = ice_net_new(cfg);
	if (d.net == NULL)
		goto out_base;
	if (ice_net_attach(d.net, d.base) < 0)
		goto out_net;
	if (cfg->http.enabled) {
		d.http = ice_http_new(d.base, cfg, &hooks);
		if (d.http == NULL)
			goto out_net;
	}
	if (ice_net_start(d.net) < 0) {
		log_errorx("cannot start the worker threads");
		goto out_http;
	}

	d.sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.ready_poll = evtimer_new(d.base, on_ready_poll, &d);
	if (d.sigterm == NULL || d.sigint == NULL || d.ready_poll == NULL ||
	    evsignal_add(d.sigterm, NULL) < 0 || evsignal_add(d.sigint, NULL) < 0 ||
	    evtimer_add(d.ready_poll, &tv) < 0) {
		log_errorx("cannot set up signal handling");
		goto out_stop;
	}
	log_summary(cfg);

	if (event_base_dispatch(d.base) < 0)
		log_errorx("main event loop failed");
	else
		rc = 0;

out_stop:
	ice_net_stop(d.net);
	if (d.sigterm)
		event_free(d.sigterm);
	if (d.sigint)
		event_free(d.sigint);
	if (d.ready_poll)
		event_free(d.ready_poll);
out_http:
	ice_http_free(d.http);
out_net:
	ice_net_stop(d.net);
	ice_net_free(d.net);
out_base:
	event_base_free(d.base);
	if (rc == 0)
		log_info("stopped");
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool check = false, print = false;
	char err[4096];
	struct ice_config *cfg;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'P':
			print = true;
			break;
		case 'v':
			printf("%s\n", ICESTATION_SOFTWARE);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "icestation: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	cfg = ice_config_load(path, err, sizeof(err));
	if (cfg == NULL) {
		/* Errors are "file:line:col: message" lines, one per problem. */
		fprintf(stderr, "%s", err);
		if (err[0] != '\0' && err[strlen(err) - 1] != '\n')
			fputc('\n', stderr);
		fprintf(stderr, "icestation: configuration %s is invalid\n", path);
		return 1;
	}
	if (check || print) {
		rc = 0;
		if (print)
			rc = ice_config_print(cfg, stdout) < 0;
		if (check)
			fprintf(stderr, "icestation: configuration %s is valid\n", path);
		ice_config_free(cfg);
		return rc;
	}

	ice_log_set_level((enum ice_log_level)cfg->log_level);
	malloc_tune();
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0)
		fatalx("libevent has no pthreads support");
	log_info("%s starting with %s", ICESTATION_SOFTWARE, path);
	rc = run(cfg);
	ice_config_free(cfg);
	return rc;
}
