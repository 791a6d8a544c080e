/*
 * The admin API's status object: the daemon, then one entry per sub-server
 * in the shape of the Station's SubServer Info() (name, type, status,
 * addresses, protocol), and the revocation list.
 */
#include <stdio.h>

#include "daemon.h"

static void
add_transports(cJSON *o, unsigned t)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "transports");
	char proto[16] = "";

	if (t & ICE_TRANSPORT_UDP)
		cJSON_AddItemToArray(arr, cJSON_CreateString("udp"));
	if (t & ICE_TRANSPORT_TCP)
		cJSON_AddItemToArray(arr, cJSON_CreateString("tcp"));
	if (t & ICE_TRANSPORT_TLS)
		cJSON_AddItemToArray(arr, cJSON_CreateString("tls"));
	snprintf(proto, sizeof(proto), "%s%s%s", t & ICE_TRANSPORT_UDP ? "udp" : "",
	         (t & ICE_TRANSPORT_UDP) && (t & ~ICE_TRANSPORT_UDP) ? "+" : "",
	         t & ICE_TRANSPORT_TCP   ? (t & ICE_TRANSPORT_TLS ? "tcp+tls" : "tcp")
	         : t & ICE_TRANSPORT_TLS ? "tls"
	                                 : "");
	cJSON_AddStringToObject(o, "protocol", proto);
}

static void
add_listen(cJSON *o, const struct ice_addr *v, size_t n, uint16_t port)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "listen");
	char buf[ICE_ADDR_STRLEN];

	for (size_t i = 0; i < n; i++) {
		struct ice_addr a = v[i];

		a.port = port;
		cJSON_AddItemToArray(arr, cJSON_CreateString(ice_addr_str(&a, buf, sizeof(buf))));
	}
}

static void
add_public(cJSON *o, const struct ice_addr *p, uint16_t port)
{
	char buf[ICE_ADDR_STRLEN];
	struct ice_addr a = *p;

	a.port = port;
	if (a.family != 0)
		cJSON_AddStringToObject(o, "public_addr", ice_addr_str(&a, buf, sizeof(buf)));
	else
		cJSON_AddNullToObject(o, "public_addr");
}

static cJSON *
subserver(const struct daemon *d, const char *name, bool enabled)
{
	cJSON *o = cJSON_CreateObject();
	char type[32];

	snprintf(type, sizeof(type), "network.%s", name);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "status",
	                        !enabled      ? "stopped"
	                        : d->draining ? "draining"
	                                      : "running");
	return o;
}

/* Bytes and packets relayed since start, each way (the turn layer's
 * counters summed over workers), and the daemon's bit rate gauge: the
 * status page draws its chart from these. */
static void
add_relayed(cJSON *o)
{
	cJSON *r = cJSON_AddObjectToObject(o, "relayed");
	uint64_t to_peer = ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_PEER_CD) +
	                   ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_PEER_IND);
	uint64_t to_client = ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_CLIENT_CD) +
	                     ice_metrics_sum(ICE_M_TURN_RELAY_BYTES_TO_CLIENT_IND);

	cJSON_AddNumberToObject(r, "to_peer_bytes", (double)to_peer);
	cJSON_AddNumberToObject(r, "to_client_bytes", (double)to_client);
	cJSON_AddNumberToObject(r, "to_peer_packets",
	                        (double)(ice_metrics_sum(ICE_M_TURN_RELAY_PKTS_TO_PEER_CD) +
	                                 ice_metrics_sum(ICE_M_TURN_RELAY_PKTS_TO_PEER_IND)));
	cJSON_AddNumberToObject(r, "to_client_packets",
	                        (double)(ice_metrics_sum(ICE_M_TURN_RELAY_PKTS_TO_CLIENT_CD) +
	                                 ice_metrics_sum(ICE_M_TURN_RELAY_PKTS_TO_CLIENT_IND)));
	cJSON_AddNumberToObject(r, "bits_per_second",
	                        (double)ice_metrics_sum(ICE_M_TURN_RELAY_BPS));
}

cJSON *
daemon_status(struct daemon *d)
{
	const struct ice_config *cfg = d->cfg;
	cJSON *o = cJSON_CreateObject(), *subs, *s;
	unsigned turn_t = cfg->turn.transports | (cfg->turn.tls.enabled ? ICE_TRANSPORT_TLS : 0);

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", "icestation");
	cJSON_AddStringToObject(o, "version", ICESTATION_SOFTWARE);
	cJSON_AddStringToObject(o, "status", d->draining ? "draining" : "running");
	cJSON_AddNumberToObject(o, "uptime_s", (double)(daemon_now_ms() - d->started_ms) / 1000.0);
	cJSON_AddNumberToObject(o, "started", (double)d->started_unix);
	cJSON_AddNumberToObject(o, "generation", (double)cfg->generation);
	cJSON_AddNumberToObject(o, "workers", cfg->workers);
	cJSON_AddNumberToObject(o, "allocations", ice_net_allocations(d->net));
	cJSON_AddNumberToObject(o, "tcp_connections",
	                        (double)ice_metrics_sum(ICE_M_NET_TCP_ACTIVE));
	cJSON_AddNumberToObject(o, "tls_connections",
	                        (double)ice_metrics_sum(ICE_M_NET_TLS_ACTIVE));
	cJSON_AddNumberToObject(o, "revocations", (double)d->revs.n);
	add_relayed(o);
	subs = cJSON_AddArrayToObject(o, "subservers");
	s = subserver(d, "stun", cfg->stun.enabled);
	add_listen(s, cfg->stun.listen, cfg->stun.n_listen, cfg->stun.port);
	add_public(s, &d->host.stun_public, cfg->stun.port);
	add_transports(s, cfg->stun.transports);
	cJSON_AddItemToArray(subs, s);
	s = subserver(d, "turn", cfg->turn.enabled);
	add_listen(s, cfg->turn.listen, cfg->turn.n_listen, cfg->turn.port);
	add_public(s, &d->host.turn_public, cfg->turn.port);
	add_transports(s, turn_t);
	if (cfg->turn.realm != NULL)
		cJSON_AddStringToObject(s, "realm", cfg->turn.realm);
	if (cfg->turn.tls.enabled)
		cJSON_AddNumberToObject(s, "tls_port", cfg->turn.tls.port);
	cJSON_AddItemToArray(subs, s);
	return o;
}

cJSON *
daemon_revocations_json(struct daemon *d)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr != NULL && i < d->revs.n; i++) {
		const struct turn_revocation *e = &d->revs.v[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "user", e->user);
		cJSON_AddNumberToObject(o, "revoked_at", (double)e->revoked_at);
		cJSON_AddNumberToObject(o, "refuse_upto", (double)e->refuse_upto);
		cJSON_AddNumberToObject(o, "until", (double)e->until);
	}
	return arr;
}
