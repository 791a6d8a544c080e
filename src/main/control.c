/*
 * Drain and revocation, and the admin API's operations. Every change the
 * workers must see becomes a new generation (ice_net_reconfigure): the
 * configuration in force, the revocation set, the drain flag and the host's
 * addresses and public IPs (hostwatch.c), together.
 *
 * Drain: new Allocates are refused (300 with ALTERNATE-SERVER, or 486),
 * /readyz says "draining", live allocations go on; the daemon exits 0 when
 * the last allocation ends or drain-timeout passes.
 *
 * Revocation: the user's credentials minted before now are refused, the
 * ICE API refuses to mint for the user until `until`, and the user's live
 * allocations are closed on every worker within a loop pass.
 */
#include <errno.h>
#include <string.h>

#include "icestation/log.h"

#include "daemon.h"

int
daemon_push(struct daemon *d)
{
	struct ice_net_host host;

	hostwatch_view(d, &host);
	if (ice_net_set_host(d->net, &host) < 0)
		return -ENOMEM;
	return ice_net_reconfigure(d->net, d->cfg, d->rev_set, d->draining);
}

int
daemon_drain(struct daemon *d)
{
	if (d->draining)
		return 0;
	d->draining = true;
	d->drain_deadline_ms = daemon_now_ms() + (uint64_t)d->cfg->drain_timeout_s * 1000;
	ice_metrics_set(d->m, ICE_M_DRAINING, 1);
	daemon_cluster_draining(d);
	log_info("drain: refusing new allocations; %u live, exiting when none is left or in %us",
	         ice_net_allocations(d->net), d->cfg->drain_timeout_s);
	return daemon_push(d);
}

/* The workers' copy of the list changed: a new set, a new generation. */
static int
revocations_changed(struct daemon *d)
{
	struct turn_revocations *set = revlist_snapshot(&d->revs);
	int r;

	if (set == NULL)
		return -ENOMEM;
	turn_revocations_unref(d->rev_set);
	d->rev_set = set;
	ice_metrics_set(d->m, ICE_M_TURN_REVOCATIONS, d->revs.n);
	r = revlist_save(&d->revs, d->cfg->state_dir);
	if (r < 0) {
		ice_metrics_inc(d->m, ICE_M_REVOCATION_SAVE_ERRORS);
		log_errorx("revocations: cannot save to %s: %s (kept in memory)", d->cfg->state_dir,
		           strerror(-r));
	}
	return daemon_push(d);
}

/* Add the revocation, give it to the workers, close the user's allocations. */
static int
revoke_here(struct daemon *d, const char *user, size_t len, uint64_t at, uint64_t until)
{
	int r = revlist_add(&d->revs, user, len, at, d->cfg->turn.credential_ttl_s, until);

	if (r < 0)
		return r;
	log_info("revoked %.*s%s", (int)len, user, until ? " (with an end time)" : "");
	r = revocations_changed(d);
	/* After the new set: the closed user cannot allocate again meanwhile. */
	if (ice_net_close_user(d->net, user, len) < 0)
		log_warnx("revoke: a worker's mailbox is full; its allocations of %.*s end "
		          "when they next refresh",
		          (int)len, user);
	return r;
}

int
daemon_revoke(struct daemon *d, const char *user, size_t len, uint64_t until)
{
	uint64_t now = daemon_unix_s();
	char name[TURN_USER_INFO_MAX + 1];
	int r = revoke_here(d, user, len, now, until);

	if (r == 0 && len < sizeof(name)) {
		memcpy(name, user, len);
		name[len] = '\0';
		daemon_cluster_revoke(d, name, now, until);
	}
	return r;
}

int
daemon_revoke_from_cluster(struct daemon *d, const char *user, size_t len, uint64_t revoked_at,
                           uint64_t until)
{
	for (size_t i = 0; i < d->revs.n; i++)
		if (d->revs.v[i].user_len == len && memcmp(d->revs.v[i].user, user, len) == 0 &&
		    d->revs.v[i].revoked_at >= revoked_at)
			return 0; /* ours, echoed, or one we already have */
	return revoke_here(d, user, len, revoked_at, until);
}

int
daemon_unrevoke(struct daemon *d, const char *user, size_t len)
{
	int r = revlist_remove(&d->revs, user, len);

	if (r < 0)
		return r;
	log_info("unrevoked %.*s", (int)len, user);
	return revocations_changed(d);
}

int
daemon_revocations_start(struct daemon *d)
{
	const char *dir = d->cfg->state_dir;
	int r = revlist_load(&d->revs, dir, daemon_unix_s());

	if (r < 0) {
		/* Starting without them would silently lift every revocation. */
		log_errorx("revocations: cannot read %s/revocations.json: %s", dir, strerror(-r));
		return r;
	}
	if (dir == NULL)
		log_info("revocations are not kept across restarts: no state-directory "
		         "(systemd's StateDirectory= sets one)");
	else if (d->revs.n > 0)
		log_info("revocations: %zu loaded from %s", d->revs.n, dir);
	d->rev_set = revlist_snapshot(&d->revs);
	ice_metrics_set(d->m, ICE_M_TURN_REVOCATIONS, d->revs.n);
	return d->rev_set == NULL ? -ENOMEM : 0;
}

/* The relayed rates each way, from the workers' counters. */
static void
rates_tick(struct daemon *d)
{
	uint64_t now = daemon_now_ms();
	uint64_t to_peer = ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_PEER_CD) +
	                   ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_PEER_IND);
	uint64_t to_client = ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_CLIENT_CD) +
	                     ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_CLIENT_IND);
	uint64_t dt = now - d->bytes_at_ms;

	if (d->bytes_at_ms != 0 && dt > 0) {
		d->rate_to_peer_Bps = (to_peer - d->bytes_to_peer) * 1000 / dt;
		d->rate_to_client_Bps = (to_client - d->bytes_to_client) * 1000 / dt;
	}
	d->bytes_to_peer = to_peer;
	d->bytes_to_client = to_client;
	d->bytes_at_ms = now;
}

void
daemon_control_tick(struct daemon *d)
{
	uint32_t n;

	rates_tick(d);
	if (revlist_prune(&d->revs, daemon_unix_s()) > 0)
		(void)revocations_changed(d);
	if (!d->draining)
		return;
	n = ice_net_allocations(d->net);
	if (n == 0) {
		log_info("drain: no allocation left, exiting");
		daemon_exit(d, 0);
	} else if (daemon_now_ms() >= d->drain_deadline_ms) {
		log_info("drain: drain-timeout reached with %u allocation(s) left, exiting", n);
		daemon_exit(d, 0);
	}
}

/* ---- the admin API's operations ---- */

static cJSON *
op_status(void *ctx)
{
	return daemon_status(ctx);
}

static int
op_reload(void *ctx, char *err, size_t errlen, uint64_t *generation)
{
	return daemon_reload(ctx, err, errlen, generation);
}

static int
op_drain(void *ctx)
{
	return daemon_drain(ctx);
}

static int
op_revoke(void *ctx, const char *user, size_t len, uint64_t until)
{
	return daemon_revoke(ctx, user, len, until);
}

static int
op_unrevoke(void *ctx, const char *user, size_t len)
{
	return daemon_unrevoke(ctx, user, len);
}

static cJSON *
op_revocations(void *ctx)
{
	return daemon_revocations_json(ctx);
}

static int
op_list(void *ctx, const char *user, size_t len, ice_net_list_cb cb, void *arg)
{
	struct daemon *d = ctx;

	return ice_net_list(d->net, user, len, 10000, cb, arg);
}

static int
op_kill(void *ctx, uint64_t id, ice_net_close_cb cb, void *arg)
{
	struct daemon *d = ctx;

	return ice_net_close_alloc(d->net, id, cb, arg);
}

static int
op_sync(void *ctx, ice_net_close_cb cb, void *arg)
{
	struct daemon *d = ctx;

	return d->net != NULL ? ice_net_sync(d->net, cb, arg) : -EAGAIN;
}

static cJSON *
op_cluster(void *ctx)
{
	return daemon_cluster_json(ctx);
}

static int
op_selftest(void *ctx, ice_admin_report_cb cb, void *arg)
{
	return daemon_selftest(ctx, cb, arg);
}

void
daemon_admin_ops(struct daemon *d, struct ice_admin_ops *ops)
{
	*ops = (struct ice_admin_ops){
		.ctx = d,
		.status = op_status,
		.reload = op_reload,
		.drain = op_drain,
		.revoke = op_revoke,
		.unrevoke = op_unrevoke,
		.revocations = op_revocations,
		.list = op_list,
		.kill = op_kill,
		.sync = op_sync,
		.cluster = op_cluster,
		.selftest = op_selftest,
	};
}
