/*
 * The ICE answer in a cluster: one ice_servers entry per node the cluster
 * hands out (in its order), each with that node's STUN and TURN URLs and the
 * same credential (every node verifies the shared secret), then the public
 * fallback. Rendered per request with cJSON: the node list changes with
 * every heartbeat, so there is no template to keep.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "http_int.h"

static const char *
transport_arg(unsigned t)
{
	return t == ICE_TRANSPORT_UDP ? "?transport=udp" : "?transport=tcp";
}

static bool
add_str(cJSON *arr, const char *s)
{
	return cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

/* One node's entry: stun: first, then turn: (udp, tcp), then turns:. */
static bool
node_entry(cJSON *servers, const struct ice_http_node *n, const char *username,
           const char *password)
{
	cJSON *e = cJSON_CreateObject(), *urls;
	char hp[ICE_ADDR_STRLEN], url[ICE_ADDR_STRLEN + 300];
	static const unsigned order[] = { ICE_TRANSPORT_UDP, ICE_TRANSPORT_TCP, ICE_TRANSPORT_TLS };

	if (e == NULL || !cJSON_AddItemToArray(servers, e) ||
	    (urls = cJSON_AddArrayToObject(e, "urls")) == NULL)
		return false;
	for (size_t i = 0; i < n->n_ep; i++)
		if (!n->ep[i].turn) {
			snprintf(url, sizeof(url), "stun:%s",
			         ice_addr_str(&n->ep[i].addr, hp, sizeof(hp)));
			if (!add_str(urls, url))
				return false;
		}
	for (size_t k = 0; k < ICE_ARRAY_SIZE(order); k++)
		for (size_t i = 0; i < n->n_ep; i++) {
			if (!n->ep[i].turn || n->ep[i].transport != order[k])
				continue;
			if (order[k] == ICE_TRANSPORT_TLS)
				/* turns: with a host name only: Firefox ignores an
				 * IP literal there (docs/api.md). */
				if (n->turns_host[0] != '\0')
					snprintf(url, sizeof(url), "turns:%.253s:%u?transport=tcp",
					         n->turns_host, n->ep[i].addr.port);
				else
					continue;
			else
				snprintf(url, sizeof(url), "turn:%s%s",
				         ice_addr_str(&n->ep[i].addr, hp, sizeof(hp)),
				         transport_arg(order[k]));
			if (!add_str(urls, url))
				return false;
		}
	return cJSON_AddStringToObject(e, "username", username) != NULL &&
	       cJSON_AddStringToObject(e, "credential", password) != NULL;
}

int
ice_api_cluster_body(struct ice_http *h, struct evbuffer *out, const char *username,
                     const char *password)
{
	struct ice_http_node nodes[ICE_HTTP_MAX_NODES];
	const struct ice_config_turn *t = &h->cfg->turn;
	cJSON *root, *servers, *urls;
	size_t n;
	char *text = NULL;
	bool ok;

	if (h->hooks == NULL || h->hooks->nodes == NULL)
		return -ENOENT;
	n = h->hooks->nodes(h->hooks->ctx, nodes, ICE_HTTP_MAX_NODES);
	if (n == 0)
		return -ENOENT;
	root = cJSON_CreateObject();
	servers = cJSON_AddArrayToObject(root, "ice_servers");
	ok = servers != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = node_entry(servers, &nodes[i], username, password);
	if (ok && t->fallback_enabled && t->n_fallback_stun_servers > 0) {
		cJSON *e = cJSON_CreateObject();

		ok = e != NULL && cJSON_AddItemToArray(servers, e) &&
		     (urls = cJSON_AddArrayToObject(e, "urls")) != NULL;
		for (size_t i = 0; ok && i < t->n_fallback_stun_servers; i++)
			ok = add_str(urls, t->fallback_stun_servers[i]);
	}
	if (ok && cJSON_AddNumberToObject(root, "ttl", t->credential_ttl_s) != NULL)
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		return -ENOMEM;
	evbuffer_add(out, text, strlen(text));
	cJSON_free(text);
	return 0;
}
