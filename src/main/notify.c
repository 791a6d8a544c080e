/*
 * systemd: readiness and reload notifications, the watchdog, and socket
 * activation (LISTEN_FDS). The watchdog is fed at half of WATCHDOG_USEC and
 * only while every worker has completed an event-loop pass since the last
 * ping, so a stuck worker gets the daemon restarted (WatchdogSec= in the
 * unit). Without systemd every call here does nothing.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "icestation/log.h"

#include "daemon.h"

void
notify_ready(struct daemon *d)
{
	d->notified_ready = true;
	sd_notifyf(0, "READY=1\nSTATUS=serving generation %llu with %u worker(s)%s",
	           (unsigned long long)d->cfg->generation, d->cfg->workers,
	           d->draining ? ", draining" : "");
}

void
notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	           (unsigned long long)ts.tv_sec * 1000000ull +
	                   (unsigned long long)ts.tv_nsec / 1000ull);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
notify_watchdog_init(struct daemon *d)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		d->watchdog_usec = usec;
		log_info("watchdog: pinging every %llu ms while every worker runs",
		         (unsigned long long)(usec / 2000));
	}
}

void
notify_watchdog(struct daemon *d)
{
	uint64_t now = daemon_now_ms();

	if (d->watchdog_usec == 0 || now - d->watchdog_last_ms < d->watchdog_usec / 2000)
		return;
	/* A pass since the last look is the proof of life (each worker passes
	 * at least once a second, NET_HEARTBEAT_MS). */
	if (!ice_net_progress(d->net)) {
		if (!d->watchdog_stalled)
			log_warnx("watchdog: a worker has not completed a loop pass; not pinging");
		d->watchdog_stalled = true;
		return;
	}
	if (d->watchdog_stalled)
		log_info("watchdog: every worker passes again; pinging");
	d->watchdog_stalled = false;
	d->watchdog_last_ms = now;
	sd_notify(0, "WATCHDOG=1");
}

static void
passed_add(struct daemon *d, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0) {
		log_warn("socket activation: fd %d", fd);
		close(fd);
		return;
	}
	if (ss.ss_family == AF_UNIX && d->n_passed_unix < DAEMON_MAX_PASSED_FDS) {
		struct passed_unix *p = &d->passed_unix[d->n_passed_unix++];
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;

		p->fd = fd;
		snprintf(p->path, sizeof(p->path), "%.*s", (int)sizeof(p->path) - 1, sun->sun_path);
		return;
	}
	if (d->n_passed < DAEMON_MAX_PASSED_FDS &&
	    ice_addr_from_sockaddr(&d->passed[d->n_passed].addr, (struct sockaddr *)&ss) == 0) {
		d->passed[d->n_passed].fd = fd;
		d->passed[d->n_passed].type = type;
		d->n_passed++;
		return;
	}
	log_warnx("socket activation: fd %d is neither an inet nor a unix socket; closed", fd);
	close(fd);
}

int
notify_listen_fds(struct daemon *d)
{
	int n = sd_listen_fds(1);

	if (n < 0) {
		errno = -n;
		log_error("socket activation: LISTEN_FDS");
		return n;
	}
	for (int i = 0; i < n; i++)
		passed_add(d, SD_LISTEN_FDS_START + i);
	if (n > 0)
		log_info("socket activation: %d socket(s) passed in", n);
	return 0;
}

/*
 * systemd passes blocking sockets (unless NonBlocking=yes), and libevent's
 * listener accepts until EAGAIN: on a blocking socket its second accept()
 * would stall the main loop (no HTTP answer, no reload, no watchdog ping).
 */
static int
nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return fd;
}

int
notify_take_stream(struct daemon *d, const struct ice_addr *addr, const char *unix_path)
{
	for (size_t i = 0; addr != NULL && i < d->n_passed; i++) {
		struct ice_listen_fd *p = &d->passed[i];

		if (!p->used && p->type == SOCK_STREAM && ice_addr_equal(&p->addr, addr)) {
			p->used = true;
			d->passed_taken[i] = true;
			return nonblocking(p->fd);
		}
	}
	for (size_t i = 0; unix_path != NULL && i < d->n_passed_unix; i++) {
		struct passed_unix *p = &d->passed_unix[i];

		if (!p->used && strcmp(p->path, unix_path) == 0) {
			p->used = true;
			return nonblocking(p->fd);
		}
	}
	return -1;
}

void
notify_close_unused(struct daemon *d)
{
	char buf[ICE_ADDR_STRLEN];

	for (size_t i = 0; i < d->n_passed; i++) {
		if (d->passed_taken[i])
			continue; /* the HTTP or admin API serves it now */
		if (!d->passed[i].used)
			log_warnx("socket activation: nothing here serves %s (%s); closed",
			          ice_addr_str(&d->passed[i].addr, buf, sizeof(buf)),
			          d->passed[i].type == SOCK_DGRAM ? "udp" : "tcp");
		/* net serves dups of what it uses: the original goes either way. */
		close(d->passed[i].fd);
	}
	for (size_t i = 0; i < d->n_passed_unix; i++)
		if (!d->passed_unix[i].used) {
			log_warnx("socket activation: nothing here serves unix:%s; closed",
			          d->passed_unix[i].path);
			close(d->passed_unix[i].fd);
		}
}
