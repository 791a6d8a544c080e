/*
 * Test driver for the cluster layer: one "node" (an ice_cluster on its own
 * event_base) built from a real icestation config file, driven line by line
 * on stdin by the Python tests, answering and reporting events on stdout.
 *
 *   cluster_driver -c peers.yml
 *
 * Commands (one per line)            Answers / events
 *   load ALLOCS RX TX                  ok
 *   drain 0|1                          ok
 *   max N        (max_allocations)     ok
 *   ice                                ice N ID...
 *   nodes                              nodes N ID:ALLOCS:DRAINING:MAX...
 *   acquire TAG USER                   acquire TAG ok|over_user|over_rate|degraded MS
 *   release USER                       ok
 *   revoke USER SECONDS                revoke RC   (until = now + SECONDS)
 *   leave                              leave RC, then left RC
 *   metric NAME{LABELS}                metric VALUE
 *   status                             status up=.. pending=.. users=.. outbox=.. nodes=..
 *   quit                               bye (then exit 0)
 *                                      state up|down; revoked USER AT UNTIL
 *
 * Test-only settings from the environment: CLUSTER_MAX_PENDING,
 * CLUSTER_MAX_USERS, CLUSTER_COMMAND_TIMEOUT_MS, CLUSTER_RECONNECT_MAX_MS.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/cluster.h"
#include "icestation/config.h"
#include "icestation/log.h"
#include "icestation/metrics.h"

struct driver {
	struct event_base *base;
	struct ice_cluster *c;
	struct ice_cluster_load load;
	struct ice_cluster_node self;
	char line[1024];
	size_t used;
};

struct pending_acq {
	char tag[32];
	struct timespec t0;
};

static double
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void out(const char *fmt, ...) ICE_PRINTF(1, 2);

static void
out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const char *
quota_name(enum ice_cluster_quota q)
{
	switch (q) {
	case ICE_CLUSTER_QUOTA_OK:
		return "ok";
	case ICE_CLUSTER_QUOTA_OVER_USER:
		return "over_user";
	case ICE_CLUSTER_QUOTA_OVER_RATE:
		return "over_rate";
	case ICE_CLUSTER_QUOTA_DEGRADED:
		return "degraded";
	default:
		return "pending";
	}
}

static void
cb_load(void *arg, struct ice_cluster_load *l)
{
	struct driver *d = arg;

	*l = d->load;
}

static void
cb_revoked(void *arg, const char *user, uint64_t at, uint64_t until)
{
	(void)arg;
	out("revoked %s %llu %llu", user, (unsigned long long)at, (unsigned long long)until);
}

static void
cb_state(void *arg, bool up)
{
	(void)arg;
	out("state %s", up ? "up" : "down");
}

static void
on_quota(void *arg, enum ice_cluster_quota q)
{
	struct pending_acq *p = arg;

	out("acquire %s %s %.1f", p->tag, quota_name(q), ms_since(&p->t0));
	free(p);
}

static void
on_left(void *arg, int rc)
{
	(void)arg;
	out("left %d", rc);
}

static void
cmd_acquire(struct driver *d, const char *tag, const char *user)
{
	struct pending_acq *p = calloc(1, sizeof(*p));
	enum ice_cluster_quota q;

	if (p == NULL)
		exit(2);
	snprintf(p->tag, sizeof(p->tag), "%s", tag);
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	q = ice_cluster_quota_acquire(d->c, user, on_quota, p);
	if (q != ICE_CLUSTER_QUOTA_PENDING)
		on_quota(p, q);
}

static void
cmd_list(struct driver *d, bool ice)
{
	static struct ice_cluster_node nodes[ICE_CLUSTER_MAX_NODES + 1];
	char buf[8192];
	size_t n, i, off = 0;

	n = ice ? ice_cluster_ice_nodes(d->c, nodes, ICE_CLUSTER_MAX_NODES + 1)
	        : ice_cluster_nodes(d->c, nodes, ICE_CLUSTER_MAX_NODES + 1);
	buf[0] = '\0';
	for (i = 0; i < n && off < sizeof(buf) - 128; i++) {
		if (ice)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, " %s", nodes[i].id);
		else
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, " %s:%u:%d:%u",
			                        nodes[i].id, nodes[i].allocations,
			                        nodes[i].draining, nodes[i].max_allocations);
	}
	out("%s %zu%s", ice ? "ice" : "nodes", n, buf);
}

static void
cmd_metric(const char *want)
{
	char name[256];
	size_t i;

	for (i = 0; i < ICE_M_COUNT; i++) {
		const struct ice_metric_desc *m = &ice_metric_descs[i];

		if (m->labels[0] != '\0')
			snprintf(name, sizeof(name), "%s{%s}", m->name, m->labels);
		else
			snprintf(name, sizeof(name), "%s", m->name);
		if (strcmp(name, want) == 0) {
			out("metric %llu",
			    (unsigned long long)ice_metrics_sum((enum ice_metric_id)i));
			return;
		}
	}
	out("metric none");
}

static void
cmd_status(struct driver *d)
{
	struct ice_cluster_status st;

	ice_cluster_status(d->c, &st);
	out("status up=%d pending=%u users=%u outbox=%u nodes=%u", st.up, st.pending, st.users,
	    st.outbox, st.nodes);
}

static void
run_line(struct driver *d, char *line)
{
	char a[300] = "", b[300] = "", c[64] = "", w[16] = "";
	unsigned long long x = 0, y = 0, z = 0;

	if (sscanf(line, "%15s", w) != 1)
		return;
	if (strcmp(w, "load") == 0 && sscanf(line, "load %llu %llu %llu", &x, &y, &z) == 3) {
		d->load.allocations = (uint32_t)x;
		d->load.rx_bps = y;
		d->load.tx_bps = z;
		out("ok");
	} else if (strcmp(w, "drain") == 0 && sscanf(line, "drain %llu", &x) == 1) {
		ice_cluster_set_draining(d->c, x != 0);
		out("ok");
	} else if (strcmp(w, "max") == 0 && sscanf(line, "max %llu", &x) == 1) {
		d->self.max_allocations = (uint32_t)x;
		out(ice_cluster_set_local(d->c, &d->self) == 0 ? "ok" : "error");
	} else if (strcmp(w, "ice") == 0 || strcmp(w, "nodes") == 0) {
		cmd_list(d, w[0] == 'i');
	} else if (strcmp(w, "acquire") == 0 && sscanf(line, "acquire %31s %299s", c, a) == 2) {
		cmd_acquire(d, c, a);
	} else if (strcmp(w, "release") == 0 && sscanf(line, "release %299s", a) == 1) {
		ice_cluster_quota_release(d->c, a);
		out("ok");
	} else if (strcmp(w, "revoke") == 0 && sscanf(line, "revoke %299s %llu", a, &x) == 2) {
		uint64_t now = (uint64_t)time(NULL);

		out("revoke %d", ice_cluster_revoke(d->c, a, now, now + x));
	} else if (strcmp(w, "leave") == 0) {
		out("leave %d", ice_cluster_leave(d->c, on_left, d));
	} else if (strcmp(w, "metric") == 0 && sscanf(line, "metric %299s", b) == 1) {
		cmd_metric(b);
	} else if (strcmp(w, "status") == 0) {
		cmd_status(d);
	} else if (strcmp(w, "quit") == 0) {
		out("bye");
		event_base_loopbreak(d->base);
	} else {
		out("error unknown command: %s", line);
	}
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct driver *d = arg;
	ssize_t n;
	char *nl;

	(void)what;
	n = read(fd, d->line + d->used, sizeof(d->line) - 1 - d->used);
	if (n <= 0) {
		event_base_loopbreak(d->base); /* the test went away */
		return;
	}
	d->used += (size_t)n;
	d->line[d->used] = '\0';
	while ((nl = strchr(d->line, '\n')) != NULL) {
		*nl = '\0';
		run_line(d, d->line);
		d->used -= (size_t)(nl + 1 - d->line);
		memmove(d->line, nl + 1, d->used + 1);
	}
	if (d->used == sizeof(d->line) - 1)
		d->used = 0; /* an overlong line is dropped */
}

static uint32_t
env_u32(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? (uint32_t)strtoul(v, NULL, 10) : 0;
}

int
main(int argc, char **argv)
{
	struct ice_cluster_callbacks cb = { cb_load, cb_revoked, cb_state, NULL };
	struct ice_cluster_settings s;
	struct driver d = { 0 };
	struct ice_config *cfg;
	struct event *ev;
	char err[2048];
	int rc;

	if (argc != 3 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: %s -c peers.yml\n", argv[0]);
		return 2;
	}
	ice_log_set_level(ICE_LOG_DEBUG);
	cfg = ice_config_load(argv[2], err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (ice_cluster_settings_from_config(&s, cfg) != 0 ||
	    ice_cluster_local_from_config(&d.self, cfg, 1) != 0) {
		fprintf(stderr, "no cluster section\n");
		return 2;
	}
	s.max_pending = env_u32("CLUSTER_MAX_PENDING");
	s.max_users = env_u32("CLUSTER_MAX_USERS");
	s.command_timeout_ms = env_u32("CLUSTER_COMMAND_TIMEOUT_MS");
	s.reconnect_max_ms = env_u32("CLUSTER_RECONNECT_MAX_MS");
	d.base = event_base_new();
	cb.arg = &d;
	d.c = ice_cluster_new(d.base, &s, &cb, &rc);
	if (d.base == NULL || d.c == NULL) {
		fprintf(stderr, "ice_cluster_new: %s\n", strerror(-rc));
		return 2;
	}
	ice_cluster_set_local(d.c, &d.self);
	ice_config_free(cfg); /* the cluster copied what it needs */
	ev = event_new(d.base, 0, EV_READ | EV_PERSIST, on_stdin, &d);
	event_add(ev, NULL);
	out("ready");
	event_base_dispatch(d.base);
	event_free(ev);
	ice_cluster_free(d.c);
	event_base_free(d.base);
	return 0;
}
