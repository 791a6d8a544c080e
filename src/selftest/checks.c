/*
 * Checks that send nothing: relay-port-range against the kernel's ephemeral
 * port range (ports any program's outgoing sockets may take), the fd limit
 * against what max-allocations and the TCP connection limits need, and the
 * clock that TURN REST credentials carry their expiry in. Each reads a few
 * bytes from /proc or one system call: nothing here blocks the loop.
 */
#include <sys/resource.h>
#include <sys/timex.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_int.h"

#define PROC_PORTS    "/proc/sys/net/ipv4/ip_local_port_range"
#define PROC_RESERVED "/proc/sys/net/ipv4/ip_local_reserved_ports"

enum {
	CLOCK_JUMP_MS = 2000, /* more than this between the clocks since start is a step */
	FD_SLACK = 64,        /* listeners, eventfds, the HTTP and admin APIs, logs */
};

/* The first line of a small /proc file. 0 or -1. */
static int
read_line(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "re");
	int r = -1;

	if (fp == NULL)
		return -1;
	if (fgets(buf, (int)cap, fp) != NULL)
		r = 0;
	fclose(fp);
	return r;
}

/* Whether port is in the kernel's reserved list ("8080,9000-9010"). */
static bool
reserved(const char *list, unsigned port)
{
	for (const char *p = list; *p != '\0';) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (end == p)
			break;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		if (port >= lo && port <= hi)
			return true;
		p = *end == ',' ? end + 1 : end;
		if (*end != ',')
			break;
	}
	return false;
}

void
st_check_relay_ports(struct ice_selftest *t)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	unsigned lo, hi, overlap = 0, span = (unsigned)tc->relay_port_max - tc->relay_port_min + 1;
	char line[256], resv[4096] = "";
	enum st_status st = ST_OK;
	char detail[ST_DETAIL_MAX] = "";

	if (!tc->enabled)
		return;
	if (read_line(PROC_PORTS, line, sizeof(line)) < 0 || sscanf(line, "%u %u", &lo, &hi) != 2) {
		st_check_add(t, "relay_port_range", ST_WARN, "cannot read " PROC_PORTS);
		return;
	}
	(void)read_line(PROC_RESERVED, resv, sizeof(resv));
	for (unsigned p = ICE_MAX(lo, (unsigned)tc->relay_port_min);
	     p <= ICE_MIN(hi, (unsigned)tc->relay_port_max); p++)
		overlap += !reserved(resv, p);
	if (overlap > 0) {
		st = ST_WARN;
		st_appendf(detail, sizeof(detail),
		           "%u of the %u ports of relay-port-range %u-%u lie in the kernel's "
		           "ephemeral range %u-%u (" PROC_PORTS "): any program's outgoing "
		           "connections may take them, and Allocates then fail with 508. Move "
		           "relay-port-range out of it, narrow the ephemeral range, or reserve "
		           "the ports (net.ipv4.ip_local_reserved_ports)",
		           overlap, span, tc->relay_port_min, tc->relay_port_max, lo, hi);
	} else {
		st_appendf(detail, sizeof(detail),
		           "relay-port-range %u-%u (%u ports) lies outside the kernel's ephemeral "
		           "range %u-%u (or is reserved)",
		           tc->relay_port_min, tc->relay_port_max, span, lo, hi);
	}
	if (span < tc->max_allocations) {
		st = ST_WARN;
		st_appendf(detail, sizeof(detail),
		           "; it holds %u ports per relay address but max-allocations is %u", span,
		           tc->max_allocations);
	}
	st_check_add(t, "relay_port_range", st, "%s", detail);
}

/* File descriptors open now in this process. */
static unsigned
fds_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
}

void
st_check_fd_limit(struct ice_selftest *t)
{
	const struct ice_config *cfg = t->cfg;
	bool streams = (cfg->turn.enabled &&
	                (cfg->turn.transports & ICE_TRANSPORT_TCP || cfg->turn.tls.enabled)) ||
	               (cfg->stun.enabled && cfg->stun.transports & ICE_TRANSPORT_TCP);
	uint64_t relays = cfg->turn.enabled ? cfg->turn.max_allocations : 0;
	uint64_t conns = streams ? (uint64_t)cfg->workers * cfg->stun.tcp_max_connections : 0;
	unsigned open_now = fds_open();
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		st_check_add(t, "fd_limit", ST_WARN, "cannot read RLIMIT_NOFILE");
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < relays + FD_SLACK)
		st_check_add(
			t, "fd_limit", ST_FAIL,
			"the daemon may open %llu files (RLIMIT_NOFILE, %u open now) but "
			"max-allocations is %llu, one relay socket each: Allocates beyond "
			"about %llu fail with 508. Raise LimitNOFILE= or lower max-allocations",
			(unsigned long long)rl.rlim_cur, open_now, (unsigned long long)relays,
			(unsigned long long)(rl.rlim_cur > FD_SLACK ? rl.rlim_cur - FD_SLACK : 0));
	else if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < relays + conns + FD_SLACK)
		st_check_add(
			t, "fd_limit", ST_WARN,
			"the daemon may open %llu files (RLIMIT_NOFILE, %u open now): enough "
			"for max-allocations (%llu relay sockets) but not also for %llu TCP/TLS "
			"connections (tcp-max-connections x workers)",
			(unsigned long long)rl.rlim_cur, open_now, (unsigned long long)relays,
			(unsigned long long)conns);
	else
		st_check_add(t, "fd_limit", ST_OK,
		             "the daemon may open %llu files (%u open now): room for %llu relay "
		             "sockets (max-allocations) and %llu TCP/TLS connections",
		             (unsigned long long)rl.rlim_cur, open_now, (unsigned long long)relays,
		             (unsigned long long)conns);
}

static const char *
utc(time_t s, char *buf, size_t cap)
{
	struct tm tm;

	if (gmtime_r(&s, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)s);
	return buf;
}

void
st_check_clock(struct ice_selftest *t)
{
	struct timespec rt, mono;
	struct timex tx = { 0 };
	struct tm tm;
	char now[40], exp[40], detail[ST_DETAIL_MAX] = "";
	enum st_status st = ST_OK;
	int64_t jump_ms;
	int state;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	jump_ms = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000 +
	          (rt.tv_nsec - mono.tv_nsec) / 1000000 - t->env.clock_offset_ms;
	gmtime_r(&rt.tv_sec, &tm);
	if (tm.tm_year + 1900 < 2024 || tm.tm_year + 1900 > 2100) {
		st_check_add(t, "clock", ST_FAIL,
		             "the wall clock says %s: credentials carry their expiry as unix "
		             "time, so clients and other servers disagree with this one about "
		             "every credential. Set the clock (NTP)",
		             utc(rt.tv_sec, now, sizeof(now)));
		return;
	}
	st_appendf(detail, sizeof(detail), "%s", utc(rt.tv_sec, now, sizeof(now)));
	state = adjtimex(&tx);
	if (state == TIME_ERROR || (state >= 0 && (tx.status & STA_UNSYNC))) {
		st = ST_WARN;
		st_appendf(detail, sizeof(detail),
		           ", and the kernel says the clock is not synchronised (no NTP): servers "
		           "sharing the secret may judge a credential's expiry differently");
	} else if (state >= 0) {
		st_appendf(detail, sizeof(detail), ", synchronised");
	}
	if (jump_ms > CLOCK_JUMP_MS || jump_ms < -CLOCK_JUMP_MS) {
		st = ST_WARN;
		st_appendf(detail, sizeof(detail),
		           "; the wall clock moved %+lld s against the monotonic clock since the "
		           "daemon started (set by hand or stepped by NTP): credentials minted "
		           "before moved with it",
		           (long long)(jump_ms / 1000));
	}
	st_appendf(detail, sizeof(detail), "; a credential minted now expires %s",
	           utc(rt.tv_sec + (time_t)t->cfg->turn.credential_ttl_s, exp, sizeof(exp)));
	st_check_add(t, "clock", st, "%s", detail);
}
