/*
 * The self-test behind GET /admin/v1/selftest (src/selftest): one run at a
 * time on the main loop; requests that come while it runs join it and get
 * the same report, so a status page and icestationctl pressing at once cost
 * one run and one set of allocations.
 */
#include <errno.h>
#include <time.h>

#include "icestation/log.h"

#include "daemon.h"

int64_t
daemon_clock_offset_ms(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)rt.tv_sec - mono.tv_sec) * 1000 + (rt.tv_nsec - mono.tv_nsec) / 1000000;
}

static void
on_report(void *arg, cJSON *report)
{
	struct daemon *d = arg;
	size_t n = d->n_st_wait;
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(report, "ok");

	d->selftest = NULL; /* it freed itself */
	d->n_st_wait = 0;
	log_info("self-test: %s", cJSON_IsTrue(ok) ? "passed" : "failed (see its report)");
	/* Each waiter takes its own copy; the last takes the original. */
	for (size_t i = 0; i < n; i++)
		d->st_wait[i].cb(d->st_wait[i].arg,
		                 i + 1 < n ? cJSON_Duplicate(report, true) : report);
	if (n == 0)
		cJSON_Delete(report);
}

int
daemon_selftest(struct daemon *d, ice_admin_report_cb cb, void *arg)
{
	struct ice_selftest_env env = {
		.cfg = d->cfg,
		.stun_public = d->host.stun_public,
		.turn_public = d->host.turn_public,
		.live_allocations = ice_net_allocations(d->net),
		.clock_offset_ms = d->clock_offset_ms,
	};

	if (d->n_st_wait == DAEMON_SELFTEST_WAITERS)
		return -EAGAIN;
	if (d->selftest == NULL) {
		d->selftest = ice_selftest_start(d->base, &env, on_report, d);
		if (d->selftest == NULL)
			return -ENOMEM;
		log_info("self-test: started");
	}
	d->st_wait[d->n_st_wait].cb = cb;
	d->st_wait[d->n_st_wait].arg = arg;
	d->n_st_wait++;
	return 0;
}

void
daemon_selftest_stop(struct daemon *d)
{
	ice_selftest_free(d->selftest);
	d->selftest = NULL;
	d->n_st_wait = 0;
}
