/*
 * Certificates kept current without a signal: every check-interval (the
 * tls.check-interval of each listener, 60 s by default) the cert and key
 * files are stat()ed; when their identity (device, inode, size, change
 * time) moved, the pair is loaded again as on SIGHUP: a good pair serves
 * new handshakes, a bad one is logged and counted and the old one stays.
 * A certbot renewal with no deploy hook thus takes effect within one
 * interval (two when a check fell between the cert and the key). A stat is cheaper and simpler than
 * inotify here: certbot swaps symlinks in a live/ directory, which an inotify watch on the file
 * misses.
 *
 * Each second the tick also sets the seconds left before each certificate
 * in force expires (icestation_tls_certificate_expiry_seconds) and warns,
 * once a day, about a certificate that expires within 14 days.
 */
#include <stdio.h>
#include <string.h>

#include "icestation/log.h"
#include "icestation/tls.h"

#include "daemon.h"

enum {
	CERTWATCH_WARN_S = 14 * 86400, /* warn this long before expiry */
	CERTWATCH_REWARN_MS = 86400 * 1000u,
};

static const char *const lname[CERTWATCH_N] = { "turn", "http" };

/* The pair of listener i in cfg, false when it serves no TLS. */
static bool
pair_of(const struct ice_config *cfg, int i, const char **cert, const char **key,
        uint32_t *interval_s)
{
	if (i == CERTWATCH_TURN) {
		*cert = cfg->turn.tls.cert;
		*key = cfg->turn.tls.key;
		*interval_s = cfg->turn.tls.check_interval_s;
		return cfg->turn.enabled && cfg->turn.tls.enabled;
	}
	*cert = cfg->http.tls_cert;
	*key = cfg->http.tls_key;
	*interval_s = cfg->http.tls_check_interval_s;
	return cfg->http.enabled && cfg->http.tls_enabled;
}

static uint64_t
expiry_of(const struct daemon *d, int i)
{
	return i == CERTWATCH_TURN ? ice_net_tls_expiry(d->net) : ice_http_tls_expiry(d->http);
}

static void
gauges(struct daemon *d, int i)
{
	static const enum ice_metric_id at[CERTWATCH_N] = { ICE_M_TLS_CERT_EXPIRY_TURN,
		                                            ICE_M_TLS_CERT_EXPIRY_HTTP };
	static const enum ice_metric_id left[CERTWATCH_N] = { ICE_M_TLS_CERT_LEFT_TURN,
		                                              ICE_M_TLS_CERT_LEFT_HTTP };
	uint64_t exp = expiry_of(d, i), now = daemon_unix_s();
	struct certwatch_one *w = &d->certwatch.l[i];

	ice_metrics_set(d->m, at[i], exp);
	/* A gauge is unsigned: an expired certificate reads 0 seconds left. */
	ice_metrics_set(d->m, left[i], exp > now ? exp - now : 0);
	if (exp == 0 || exp > now + CERTWATCH_WARN_S)
		return;
	if (w->warned_ms != 0 && daemon_now_ms() - w->warned_ms < CERTWATCH_REWARN_MS)
		return;
	w->warned_ms = daemon_now_ms();
	if (exp <= now)
		log_warnx("tls: the %s certificate has expired; clients refuse it until it is "
		          "renewed",
		          lname[i]);
	else
		log_warnx("tls: the %s certificate expires in %llu day(s) %llu hour(s); renew it",
		          lname[i], (unsigned long long)((exp - now) / 86400),
		          (unsigned long long)((exp - now) % 86400 / 3600));
}

/* Load listener i's pair; a failure is counted and logged only if loud. */
static int
load(struct daemon *d, const struct ice_config *cfg, int i, bool loud)
{
	char err[512];
	int r;

	if (i == CERTWATCH_TURN)
		r = ice_net_reload_tls(d->net, cfg, err, sizeof(err));
	else
		r = d->http != NULL ? ice_http_reload_tls(d->http, cfg, err, sizeof(err)) : 0;
	if (r < 0 && !loud) {
		log_debug("tls: the %s pair does not load yet (%s); trying again", lname[i], err);
		return r;
	}
	if (r < 0) {
		ice_metrics_inc(d->m, ICE_M_TLS_CERT_RELOAD_ERRORS);
		log_errorx("reload: tls (%s): %s; keeping the certificate in force", lname[i], err);
	} else {
		/* A new certificate gets its own warning, if it needs one. */
		d->certwatch.l[i].warned_ms = 0;
	}
	gauges(d, i);
	return r;
}

int
certwatch_reload_one(struct daemon *d, const struct ice_config *cfg, int i)
{
	return load(d, cfg, i, true);
}

void
certwatch_rearm(struct daemon *d)
{
	for (int i = 0; i < CERTWATCH_N; i++) {
		struct certwatch_one *w = &d->certwatch.l[i];
		const char *cert, *key;
		uint32_t iv;

		w->on = pair_of(d->cfg, i, &cert, &key, &iv);
		w->retry = false;
		if (w->on)
			ice_tls_files_stamp(cert, key, &w->stamp);
		w->next_ms = daemon_now_ms() + (uint64_t)iv * 1000;
		if (w->on)
			gauges(d, i);
	}
}

/*
 * The files of listener i moved: load them (the TURN pair reaches the
 * workers with a new generation). A renewal replaces cert and key one after
 * the other, so a check between the two sees a new certificate with the old
 * key: the first failure is quiet and retried at the next check; a pair
 * that still fails then, unchanged, is refused for good (logged, counted).
 */
static void
changed(struct daemon *d, int i, bool second_try)
{
	struct certwatch_one *w = &d->certwatch.l[i];

	if (!second_try)
		log_info("tls: the %s certificate or key changed on disk; reloading it", lname[i]);
	w->retry = false;
	if (load(d, d->cfg, i, second_try) < 0) {
		w->retry = !second_try;
		return;
	}
	if (i == CERTWATCH_TURN && daemon_push(d) < 0)
		log_errorx("tls: out of memory: the workers keep the previous certificate");
}

void
certwatch_tick(struct daemon *d)
{
	uint64_t now = daemon_now_ms();
	bool second = now - d->certwatch.gauges_ms >= 1000;

	if (second)
		d->certwatch.gauges_ms = now;
	for (int i = 0; i < CERTWATCH_N; i++) {
		struct certwatch_one *w = &d->certwatch.l[i];
		struct ice_tls_files_stamp st;
		const char *cert, *key;
		uint32_t iv;

		if (!w->on)
			continue;
		if (second)
			gauges(d, i);
		(void)pair_of(d->cfg, i, &cert, &key, &iv);
		if (iv == 0 || now < w->next_ms)
			continue;
		w->next_ms = now + (uint64_t)iv * 1000;
		ice_tls_files_stamp(cert, key, &st);
		if (ice_tls_files_changed(&st, &w->stamp)) {
			/* Stamped first: a bad pair is refused once, not every interval. */
			w->stamp = st;
			changed(d, i, false);
		} else if (w->retry) {
			changed(d, i, true);
		}
	}
}
