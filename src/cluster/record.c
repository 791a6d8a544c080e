/*
 * The node record codec. A record comes from another node through Redis, so
 * decoding trusts nothing: every field is type- and range-checked and a bad
 * record is refused whole (the caller skips that node and counts it).
 */
#include "record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "icestation/config.h"

static const char *const services[] = { [ICE_CLUSTER_STUN] = "stun", [ICE_CLUSTER_TURN] = "turn" };

static const struct {
	const char *name;
	uint8_t bit;
} transports[] = {
	{ "udp", ICE_TRANSPORT_UDP },
	{ "tcp", ICE_TRANSPORT_TCP },
	{ "tls", ICE_TRANSPORT_TLS },
};

bool
cl_id_is_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > ICE_CLUSTER_ID_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

bool
cl_user_is_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= ICE_CLUSTER_USER_MAX || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return i > 0;
}

static const char *
transport_name(uint8_t bit)
{
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(transports); i++)
		if (transports[i].bit == bit)
			return transports[i].name;
	return NULL;
}

static cJSON *
endpoints_json(const struct ice_cluster_node *n)
{
	cJSON *arr = cJSON_CreateArray(), *ep;
	char addr[ICE_ADDR_STRLEN];
	const char *t;
	size_t i;

	for (i = 0; arr != NULL && i < n->n_ep; i++) {
		t = transport_name(n->ep[i].transport);
		if (t == NULL || n->ep[i].service >= ICE_ARRAY_SIZE(services) ||
		    services[n->ep[i].service] == NULL)
			continue;
		ep = cJSON_CreateArray();
		if (ep == NULL || !cJSON_AddItemToArray(arr, ep) ||
		    !cJSON_AddItemToArray(ep, cJSON_CreateString(services[n->ep[i].service])) ||
		    !cJSON_AddItemToArray(ep, cJSON_CreateString(t)) ||
		    !cJSON_AddItemToArray(ep, cJSON_CreateString(ice_addr_str(&n->ep[i].addr, addr,
		                                                              sizeof(addr))))) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

int
cl_record_encode(const struct ice_cluster_node *n, char *buf, size_t len)
{
	cJSON *o = cJSON_CreateObject();
	char inst[17];
	size_t used;
	int rc = -ENOMEM;

	snprintf(inst, sizeof(inst), "%016" PRIx64, n->instance);
	if (o == NULL || !cJSON_AddNumberToObject(o, "v", CL_RECORD_VERSION) ||
	    !cJSON_AddStringToObject(o, "id", n->id) || !cJSON_AddStringToObject(o, "inst", inst) ||
	    !cJSON_AddStringToObject(o, "ver", n->version) ||
	    !cJSON_AddNumberToObject(o, "gen", (double)n->generation) ||
	    !cJSON_AddStringToObject(o, "turns", n->turns_host) ||
	    !cJSON_AddItemToObject(o, "ep", endpoints_json(n)) ||
	    !cJSON_AddNumberToObject(o, "alloc", n->allocations) ||
	    !cJSON_AddNumberToObject(o, "max", n->max_allocations) ||
	    !cJSON_AddNumberToObject(o, "rx", (double)n->rx_bps) ||
	    !cJSON_AddNumberToObject(o, "tx", (double)n->tx_bps) ||
	    !cJSON_AddBoolToObject(o, "drain", n->draining) ||
	    !cJSON_AddNumberToObject(o, "at", (double)n->written_ms))
		goto out;
	if (!cJSON_PrintPreallocated(o, buf, (int)ICE_MIN(len, (size_t)INT32_MAX), false)) {
		rc = -ENOSPC;
		goto out;
	}
	used = strlen(buf);
	rc = used + 1 < len ? (int)used : -ENOSPC; /* cJSON wants 5 spare bytes; keep 1 */
out:
	cJSON_Delete(o);
	return rc;
}

/* --- decoding --- */

/* A non-negative integral number up to max (exact in a double: max <= 2^53). */
static int
get_uint(const cJSON *o, const char *key, uint64_t max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double d;

	if (!cJSON_IsNumber(v))
		return -EBADMSG;
	d = v->valuedouble;
	if (!(d >= 0) || d > (double)max || (double)(uint64_t)d != d)
		return -EBADMSG;
	*out = (uint64_t)d;
	return 0;
}

/* A string of at most max bytes, no control bytes, copied with its NUL. */
static int
get_str(const cJSON *o, const char *key, char *out, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	size_t n, i;

	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return -EBADMSG;
	n = strlen(v->valuestring);
	if (n > max)
		return -EBADMSG;
	for (i = 0; i < n; i++)
		if ((unsigned char)v->valuestring[i] < ' ' || v->valuestring[i] == 0x7f)
			return -EBADMSG;
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

/* "ip:port" or "[v6]:port" with a port 1-65535. */
static int
parse_addr(const char *s, struct ice_addr *out)
{
	char ip[ICE_ADDR_STRLEN];
	const char *colon = strrchr(s, ':'), *ipstart = s;
	size_t n;
	char *end;
	unsigned long port;

	if (colon == NULL)
		return -EBADMSG;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 2 || colon[-1] != ']')
			return -EBADMSG;
		ipstart = s + 1;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(ip) || colon[1] < '1' || colon[1] > '9')
		return -EBADMSG;
	memcpy(ip, ipstart, n);
	ip[n] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port > 65535 || ice_addr_parse_ip(out, ip, (uint16_t)port) != 0)
		return -EBADMSG;
	if ((s[0] == '[') != (out->family == AF_INET6))
		return -EBADMSG;
	return 0;
}

static int
parse_endpoint(const cJSON *e, struct ice_cluster_endpoint *out)
{
	const cJSON *sv = cJSON_GetArrayItem(e, 0), *tv = cJSON_GetArrayItem(e, 1),
		    *av = cJSON_GetArrayItem(e, 2);
	size_t i;

	if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 3 || !cJSON_IsString(sv) ||
	    !cJSON_IsString(tv) || !cJSON_IsString(av))
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	for (i = 1; i < ICE_ARRAY_SIZE(services); i++)
		if (strcmp(sv->valuestring, services[i]) == 0)
			out->service = (uint8_t)i;
	for (i = 0; i < ICE_ARRAY_SIZE(transports); i++)
		if (strcmp(tv->valuestring, transports[i].name) == 0)
			out->transport = transports[i].bit;
	if (out->service == 0 || out->transport == 0)
		return -EBADMSG;
	return parse_addr(av->valuestring, &out->addr);
}

static int
parse_endpoints(const cJSON *o, struct ice_cluster_node *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "ep"), *e;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > ICE_CLUSTER_MAX_ENDPOINTS)
		return -EBADMSG;
	n->n_ep = 0;
	cJSON_ArrayForEach(e, arr)
	{
		if (parse_endpoint(e, &n->ep[n->n_ep]))
			return -EBADMSG;
		n->n_ep++;
	}
	return 0;
}

static int
decode_fields(const cJSON *o, struct ice_cluster_node *n)
{
	const uint64_t exact = (uint64_t)1 << 53;
	const cJSON *drain = cJSON_GetObjectItemCaseSensitive(o, "drain");
	char inst[17];
	uint64_t v, alloc, max;
	char *end;

	if (!cJSON_IsObject(o) || get_uint(o, "v", UINT32_MAX, &v) || v != CL_RECORD_VERSION)
		return -EBADMSG;
	if (get_str(o, "id", n->id, ICE_CLUSTER_ID_MAX) || !cl_id_is_valid(n->id, strlen(n->id)) ||
	    get_str(o, "ver", n->version, ICE_CLUSTER_VERSION_MAX) ||
	    get_str(o, "turns", n->turns_host, ICE_CLUSTER_HOST_MAX) ||
	    get_str(o, "inst", inst, 16) || strspn(inst, "0123456789abcdef") != 16)
		return -EBADMSG;
	n->instance = strtoull(inst, &end, 16);
	if (*end != '\0' || get_uint(o, "gen", exact, &n->generation) ||
	    get_uint(o, "alloc", UINT32_MAX, &alloc) || get_uint(o, "max", UINT32_MAX, &max) ||
	    get_uint(o, "rx", exact, &n->rx_bps) || get_uint(o, "tx", exact, &n->tx_bps) ||
	    get_uint(o, "at", exact, &n->written_ms) || !cJSON_IsBool(drain))
		return -EBADMSG;
	n->allocations = (uint32_t)alloc;
	n->max_allocations = (uint32_t)max;
	n->draining = cJSON_IsTrue(drain);
	return parse_endpoints(o, n);
}

int
cl_record_decode(struct ice_cluster_node *n, const char *buf, size_t len)
{
	cJSON *o;
	int rc;

	memset(n, 0, sizeof(*n));
	if (len > ICE_CLUSTER_RECORD_MAX)
		return -EBADMSG;
	o = cJSON_ParseWithLength(buf, len);
	if (o == NULL)
		return -EBADMSG;
	rc = decode_fields(o, n);
	cJSON_Delete(o);
	if (rc)
		memset(n, 0, sizeof(*n));
	return rc;
}

int
cl_revocation_parse(const char *s, size_t len, uint64_t *at, uint64_t *until, const char **user)
{
	char buf[64 + ICE_CLUSTER_USER_MAX];
	char *end, *p;

	if (len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return -EBADMSG;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -EBADMSG;
	errno = 0;
	*at = strtoull(buf, &end, 10);
	if (*end != ' ' || end[1] < '0' || end[1] > '9')
		return -EBADMSG;
	*until = strtoull(end + 1, &p, 10);
	if (errno == ERANGE)
		return -EBADMSG;
	if (user == NULL)
		return *p == '\0' ? 0 : -EBADMSG;
	if (*p != ' ' || !cl_user_is_valid(p + 1))
		return -EBADMSG;
	*user = s + (p + 1 - buf);
	return 0;
}
