/*
 * ice_config_print: the effective configuration as YAML with the same key
 * names as the input, so `icestation --print-config` shows what the daemon
 * will really do (defaults filled in, "auto" resolved, env applied). Secrets
 * and bearer tokens print as "***". The output loads again (strings are
 * double-quoted and '$' is written as "$$") once the masked values are put
 * back; a masked bearer token is refused at load, so a dump copied verbatim
 * can never run with "***" as a live token.
 */
#include <errno.h>
#include <stdio.h>

#include "icestation/log.h"

#include "cfg.h"

static void
put_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; s != NULL && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '$')
			fputs("$$", fp);
		else if (c < ' ' || c == 0x7f)
			fprintf(fp, "\\x%02x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

static void
kv_str(FILE *fp, int ind, const char *key, const char *val)
{
	fprintf(fp, "%*s%s: ", ind, "", key);
	if (val == NULL)
		fputs("null", fp);
	else
		put_str(fp, val);
	fputc('\n', fp);
}

static void
kv_u(FILE *fp, int ind, const char *key, unsigned long v, const char *suffix)
{
	fprintf(fp, "%*s%s: %lu%s\n", ind, "", key, v, suffix);
}

static void
kv_bool(FILE *fp, int ind, const char *key, bool v)
{
	fprintf(fp, "%*s%s: %s\n", ind, "", key, v ? "true" : "false");
}

static void
kv_strlist(FILE *fp, int ind, const char *key, char *const *arr, size_t n, bool mask)
{
	size_t i;

	fprintf(fp, "%*s%s: [", ind, "", key);
	for (i = 0; i < n; i++) {
		if (i)
			fputs(", ", fp);
		put_str(fp, mask ? "***" : arr[i]);
	}
	fputs("]\n", fp);
}

static void
kv_iplist(FILE *fp, int ind, const char *key, const struct ice_addr *arr, size_t n)
{
	char ip[ICE_ADDR_STRLEN];
	size_t i;

	fprintf(fp, "%*s%s: [", ind, "", key);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s\"%s\"", i ? ", " : "", ice_addr_ip_str(&arr[i], ip, sizeof(ip)));
	fputs("]\n", fp);
}

static void
kv_cidrs(FILE *fp, int ind, const char *key, const struct ice_cidr *arr, size_t n)
{
	char buf[ICE_ADDR_STRLEN];
	size_t i;

	fprintf(fp, "%*s%s: [", ind, "", key);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s\"%s\"", i ? ", " : "", ice_cidr_str(&arr[i], buf, sizeof(buf)));
	fputs("]\n", fp);
}

static void
kv_transports(FILE *fp, int ind, unsigned mask)
{
	const char *sep = "";

	fprintf(fp, "%*stransports: [", ind, "");
	if (mask & ICE_TRANSPORT_UDP)
		fprintf(fp, "%sudp", sep), sep = ", ";
	if (mask & ICE_TRANSPORT_TCP)
		fprintf(fp, "%stcp", sep), sep = ", ";
	if (mask & ICE_TRANSPORT_TLS)
		fprintf(fp, "%stls", sep);
	fputs("]\n", fp);
}

/* The note for a public address (one family) no listen address receives. */
static const char *
unlistened(const struct ice_public_ip *p, const struct ice_addr *a, const struct ice_addr *listen,
           size_t n)
{
	if (ice_public_ip_check(p->source, a, listen, n) != ICE_PUBLIC_IP_NOT_LISTENED)
		return "";
	if (p->second.family == 0)
		return "; no listen address receives it: not ready";
	return a->family == AF_INET ? "; no listen address receives the IPv4 one: not ready"
	                            : "; no listen address receives the IPv6 one: not ready";
}

static void
kv_pubip(FILE *fp, int ind, const struct ice_public_ip *p, const struct ice_addr *listen, size_t n)
{
	static const char *const src[] = {
		[ICE_PUBLIC_IP_LITERAL] = "from the config file",
		[ICE_PUBLIC_IP_ENV] = "from the environment",
		[ICE_PUBLIC_IP_AUTO] = "auto: the outward interface",
	};
	char ip[ICE_ADDR_STRLEN], ip6[ICE_ADDR_STRLEN];
	const char *why = (unsigned)p->source < ICE_ARRAY_SIZE(src) ? src[p->source] : "?";

	if (p->addr.family == 0)
		fprintf(fp, "%*spublic-ip: auto # found nothing: not ready\n", ind, "");
	else if (p->second.family == 0)
		fprintf(fp, "%*spublic-ip: \"%s\" # %s%s\n", ind, "",
		        ice_addr_ip_str(&p->addr, ip, sizeof(ip)), why,
		        unlistened(p, &p->addr, listen, n));
	else
		fprintf(fp, "%*spublic-ip: [\"%s\", \"%s\"] # %s%s%s\n", ind, "",
		        ice_addr_ip_str(&p->addr, ip, sizeof(ip)),
		        ice_addr_ip_str(&p->second, ip6, sizeof(ip6)), why,
		        unlistened(p, &p->addr, listen, n), unlistened(p, &p->second, listen, n));
	kv_bool(fp, ind, "behind-nat", p->behind_nat);
}

static void
print_http(FILE *fp, const struct ice_config_http *h)
{
	char buf[ICE_ADDR_STRLEN];

	fprintf(fp, "      http:\n");
	kv_bool(fp, 8, "enabled", h->enabled);
	kv_str(fp, 8, "listen", ice_addr_str(&h->listen, buf, sizeof(buf)));
	kv_strlist(fp, 8, "bearer-tokens", h->bearer_tokens, h->n_bearer_tokens, true);
	kv_str(fp, 8, "identity-header", h->identity_header);
	kv_strlist(fp, 8, "cors-origins", h->cors_origins, h->n_cors_origins, false);
	kv_u(fp, 8, "max-header-bytes", h->max_header_bytes, "");
	kv_u(fp, 8, "max-body-bytes", h->max_body_bytes, "");
	kv_u(fp, 8, "timeout", h->timeout_s, "s");
	kv_u(fp, 8, "max-connections", h->max_connections, "");
	kv_u(fp, 8, "max-connections-per-address", h->max_connections_per_address, "");
	fprintf(fp, "        rate-limit:\n");
	kv_u(fp, 10, "requests-per-second", h->rate_rps, "");
	kv_u(fp, 10, "burst", h->rate_burst, "");
	if (h->tls_enabled) {
		fprintf(fp, "        tls:\n");
		kv_str(fp, 10, "cert", h->tls_cert);
		kv_str(fp, 10, "key", h->tls_key);
		kv_u(fp, 10, "check-interval", h->tls_check_interval_s, "s");
	}
}

static void
print_admin(FILE *fp, const struct ice_config *cfg)
{
	const struct ice_config_admin *a = &cfg->admin;
	char buf[128];

	kv_u(fp, 6, "drain-timeout", cfg->drain_timeout_s, "s");
	kv_str(fp, 6, "state-directory", cfg->state_dir);
	fprintf(fp, "      admin:\n");
	kv_bool(fp, 8, "enabled", a->enabled);
	if (a->unix_path != NULL) {
		snprintf(buf, sizeof(buf), "unix:%s", a->unix_path);
		kv_str(fp, 8, "listen", buf);
	} else if (a->listen.family != 0) {
		kv_str(fp, 8, "listen", ice_addr_str(&a->listen, buf, sizeof(buf)));
	}
	kv_strlist(fp, 8, "bearer-tokens", a->bearer_tokens, a->n_bearer_tokens, true);
	kv_u(fp, 8, "max-connections", a->max_connections, "");
	kv_u(fp, 8, "max-connections-per-address", a->max_connections_per_address, "");
}

static void
print_stun(FILE *fp, const struct ice_config_stun *s)
{
	fprintf(fp, "        stun:\n");
	kv_bool(fp, 10, "enabled", s->enabled);
	kv_u(fp, 10, "port", s->port, "");
	kv_pubip(fp, 10, &s->public_ip, s->listen, s->n_listen);
	fprintf(fp, "          rate-limit:\n");
	kv_u(fp, 12, "requests-per-second", s->rate_rps, "");
	kv_u(fp, 12, "burst", s->rate_burst, "");
	kv_iplist(fp, 10, "listen", s->listen, s->n_listen);
	kv_transports(fp, 10, s->transports);
	kv_u(fp, 10, "tcp-idle-timeout", s->tcp_idle_timeout_s, "s");
	kv_u(fp, 10, "tcp-max-connections", s->tcp_max_connections, "");
	kv_u(fp, 10, "tcp-max-connections-per-address", s->tcp_max_connections_per_address, "");
}

static void
print_turn(FILE *fp, const struct ice_config_turn *t)
{
	bool from_file = t->auth_secret_file != NULL;

	fprintf(fp, "        turn:\n");
	kv_bool(fp, 10, "enabled", t->enabled);
	kv_u(fp, 10, "port", t->port, "");
	kv_str(fp, 10, "realm", t->realm);
	kv_pubip(fp, 10, &t->public_ip, t->listen, t->n_listen);
	kv_iplist(fp, 10, "listen", t->listen, t->n_listen);
	kv_transports(fp, 10, t->transports);
	if (from_file)
		kv_str(fp, 10, "auth-secret-file", t->auth_secret_file);
	else
		kv_str(fp, 10, "auth-secret", t->n_auth_secrets ? "***" : NULL);
	kv_strlist(fp, 10, "previous-auth-secrets", t->auth_secrets + 1,
	           t->n_auth_secrets ? t->n_auth_secrets - 1 : 0, true);
	kv_cidrs(fp, 10, "relay-ip-range", t->relay_ip_range, t->n_relay_ip_range);
	fprintf(fp, "          relay-port-range: \"%u-%u\"\n", t->relay_port_min,
	        t->relay_port_max);
	kv_u(fp, 10, "max-allocations", t->max_allocations, "");
	kv_u(fp, 10, "max-allocations-per-user", t->max_allocations_per_user, "");
	kv_u(fp, 10, "allocations-per-minute-per-user", t->allocations_per_minute_per_user, "");
	kv_u(fp, 10, "allocation-lifetime", t->allocation_lifetime_s, "s");
	kv_u(fp, 10, "credential-ttl", t->credential_ttl_s, "s");
	fprintf(fp, "          max-bps-per-allocation: %llu\n",
	        (unsigned long long)t->max_bps_per_allocation);
	fprintf(fp, "          max-bps-per-user: %llu\n", (unsigned long long)t->max_bps_per_user);
	fprintf(fp, "          max-bytes-per-user-per-day: %llu\n",
	        (unsigned long long)t->max_bytes_per_user_per_day);
	fprintf(fp, "          budget-floor-bps: %llu\n", (unsigned long long)t->budget_floor_bps);
	fprintf(fp, "          bps-capacity: %llu\n", (unsigned long long)t->bps_capacity);
	fprintf(fp, "          mobility: %s\n", t->mobility ? "true" : "false");
	kv_u(fp, 10, "credential-grace", t->credential_grace_s, "s");
	fprintf(fp, "          credential-format: %s\n",
	        cfg_credential_format_name(t->credential_format));
	kv_bool(fp, 10, "userhash", t->userhash);
	kv_u(fp, 10, "userhash-table-size", t->userhash_table_size, "");
	kv_bool(fp, 10, "tcp-relay", t->tcp_relay);
	kv_u(fp, 10, "max-tcp-connections-per-allocation", t->max_tcp_connections, "");
	if (t->alternate_server.family != 0) {
		char alt[ICE_ADDR_STRLEN];

		kv_str(fp, 10, "alternate-server",
		       ice_addr_str(&t->alternate_server, alt, sizeof(alt)));
	}
	fprintf(fp, "          challenge-rate-limit:\n");
	kv_u(fp, 12, "responses-per-second", t->challenge_rps, "");
	kv_u(fp, 12, "burst", t->challenge_burst, "");
	kv_cidrs(fp, 10, "denied-peer-ip", t->denied_peer_ip, t->n_denied_peer_ip);
	kv_cidrs(fp, 10, "allowed-peer-ip", t->allowed_peer_ip, t->n_allowed_peer_ip);
	fprintf(fp, "          tls:\n");
	kv_u(fp, 12, "port", t->tls.port, "");
	kv_str(fp, 12, "cert", t->tls.cert);
	kv_str(fp, 12, "key", t->tls.key);
	kv_u(fp, 12, "max-connections-per-address", t->tls.max_connections_per_address, "");
	kv_u(fp, 12, "handshake-timeout", t->tls.handshake_timeout_s, "s");
	kv_str(fp, 12, "server-name", t->tls.server_name);
	kv_u(fp, 12, "check-interval", t->tls.check_interval_s, "s");
	fprintf(fp, "          ice-api:\n");
	kv_bool(fp, 12, "anonymous", t->anonymous);
	fprintf(fp, "            public-fallback:\n");
	kv_bool(fp, 14, "enabled", t->fallback_enabled);
	kv_strlist(fp, 14, "stun-servers", t->fallback_stun_servers, t->n_fallback_stun_servers,
	           false);
}

static void
print_cluster(FILE *fp, const struct ice_config_cluster *c)
{
	fprintf(fp, "      cluster:\n");
	kv_bool(fp, 8, "enabled", c->enabled);
	kv_str(fp, 8, "redis", c->redis_url);
	kv_str(fp, 8, "redis-password-file", c->redis_password_file);
	kv_str(fp, 8, "key-prefix", c->key_prefix);
	kv_str(fp, 8, "node-id", c->node_id);
	kv_u(fp, 8, "heartbeat", c->heartbeat_ms, "ms");
	kv_u(fp, 8, "node-ttl", c->node_ttl_ms, "ms");
	kv_u(fp, 8, "quota-timeout", c->quota_timeout_ms, "ms");
	fprintf(fp, "        ice-api:\n");
	kv_u(fp, 10, "nodes", c->ice_nodes, "");
	kv_str(fp, 10, "strategy",
	       c->strategy == ICE_CONFIG_CLUSTER_LEAST_LOADED ? "least-loaded" : "self-first");
}

static const char *
level_name(int level)
{
	switch (level) {
	case ICE_LOG_ERROR:
		return "error";
	case ICE_LOG_WARN:
		return "warn";
	case ICE_LOG_DEBUG:
		return "debug";
	default:
		return "info";
	}
}

int
ice_config_print(const struct ice_config *cfg, FILE *fp)
{
	if (cfg == NULL || fp == NULL)
		return -EINVAL;
	fprintf(fp, "# effective configuration of %s, loaded from ", ICESTATION_SOFTWARE);
	put_str(fp, cfg->path);
	fprintf(fp, "\npeers:\n  logger:\n    level: %s\n", level_name(cfg->log_level));
	fprintf(fp, "    format: %s\n", cfg->log_format == ICE_LOG_JSON ? "json" : "text");
	kv_bool(fp, 4, "mask-addresses", cfg->log_mask);
	fprintf(fp, "  node:\n    server:\n      workers: %u\n", cfg->workers);
	print_http(fp, &cfg->http);
	print_admin(fp, cfg);
	if (cfg->cluster.enabled)
		print_cluster(fp, &cfg->cluster);
	fprintf(fp, "      subserver:\n");
	print_stun(fp, &cfg->stun);
	print_turn(fp, &cfg->turn);
	if (fflush(fp) != 0 || ferror(fp))
		return -EIO;
	return 0;
}
