/*
 * Configuration reload: the whole tree is read again and validated before
 * anything changes (nginx's ngx_init_cycle: a failed build leaves the old
 * cycle in force). Keys that need new sockets or threads cannot change
 * while running: ice_config_reload_keep (src/config/cfg_reload.c) keeps
 * their running values in the new snapshot, so every layer keeps
 * describing what it actually serves, and a change to one is named in one
 * warning; everything else applies at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/log.h"

#include "daemon.h"

int
daemon_reload(struct daemon *d, char *err, size_t errlen, uint64_t *generation)
{
	char restart[ICE_CONFIG_RESTART_LEN];
	struct ice_config *cfg, *old = d->cfg;

	notify_reloading();
	ice_log_hold(true);
	cfg = ice_config_load(d->path, err, errlen);
	if (cfg != NULL) {
		ice_log_set_level((enum ice_log_level)cfg->log_level);
		ice_log_set_format((enum ice_log_format)cfg->log_format);
	}
	ice_log_hold(false);
	if (cfg == NULL || ice_config_reload_keep(old, cfg, restart, sizeof(restart)) < 0) {
		if (cfg != NULL)
			snprintf(err, errlen, "out of memory");
		ice_config_unref(cfg);
		ice_metrics_inc(d->m, ICE_M_CONFIG_RELOAD_ERROR);
		log_errorx("reload: %s is invalid; still running generation %llu:\n%s", d->path,
		           (unsigned long long)old->generation, err);
		notify_ready(d);
		return -EINVAL;
	}
	if (restart[0] != '\0')
		log_warnx("reload: changed but needs a restart (the running value stays): %s",
		          restart);
	/* The certificates: a new pair that fails keeps the old one (counted). */
	(void)certwatch_reload_one(d, cfg, CERTWATCH_TURN);
	(void)certwatch_reload_one(d, cfg, CERTWATCH_HTTP);
	d->cfg = cfg;
	certwatch_rearm(d);
	hostwatch_reconfigure(d);
	if (daemon_push(d) < 0)
		log_errorx("reload: out of memory: the workers keep the previous generation");
	if (d->admin != NULL && ice_admin_reconfigure(d->admin, cfg) < 0)
		log_errorx("reload: admin: out of memory: the previous tokens stay");
	if (d->http != NULL && ice_http_reconfigure(d->http, cfg) < 0)
		/* The ICE API still reads the old snapshot: it must outlive it
		 * (one snapshot kept, only when memory already ran out). */
		log_errorx("reload: http: out of memory: the ICE API keeps the previous settings");
	else
		/* Nothing here points at the old snapshot any more; the workers
		 * hold their own references until they move on. */
		ice_config_unref(old);
	ice_metrics_inc(d->m, ICE_M_CONFIG_RELOAD_OK);
	ice_metrics_inc(d->m, ICE_M_CONFIG_LOADS);
	ice_metrics_set(d->m, ICE_M_CONFIG_GENERATION, cfg->generation);
	daemon_cluster_reloaded(d);
	*generation = cfg->generation;
	log_info("reload: generation %llu in force", (unsigned long long)cfg->generation);
	notify_ready(d);
	return 0;
}
