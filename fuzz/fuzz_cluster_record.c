/*
 * libFuzzer target for what the cluster layer reads from Redis, written by
 * other nodes (or anyone with access to Redis): node records and
 * revocation messages. The first byte picks the parser. Properties: a
 * record that decodes encodes again and decodes to the same node; a
 * revocation that parses has its user inside the input and valid.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../src/cluster/record.h"
#include "fuzz_prop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
record(const char *s, size_t len)
{
	static struct ice_cluster_node a, b;
	static char buf[ICE_CLUSTER_RECORD_MAX];
	size_t i;
	int n;

	if (cl_record_decode(&a, s, len) != 0)
		return;
	PROP(cl_id_is_valid(a.id, strlen(a.id)));
	PROP(a.n_ep <= ICE_CLUSTER_MAX_ENDPOINTS);
	n = cl_record_encode(&a, buf, sizeof(buf));
	PROP(n > 0);
	PROP(cl_record_decode(&b, buf, (size_t)n) == 0);
	PROP(strcmp(a.id, b.id) == 0 && strcmp(a.version, b.version) == 0 &&
	     strcmp(a.turns_host, b.turns_host) == 0);
	PROP(a.instance == b.instance && a.generation == b.generation &&
	     a.allocations == b.allocations && a.max_allocations == b.max_allocations &&
	     a.rx_bps == b.rx_bps && a.tx_bps == b.tx_bps && a.draining == b.draining &&
	     a.written_ms == b.written_ms && a.n_ep == b.n_ep);
	for (i = 0; i < a.n_ep; i++)
		PROP(memcmp(&a.ep[i], &b.ep[i], sizeof(a.ep[i])) == 0);
}

static void
revocation(const char *s, size_t len)
{
	uint64_t at, until;
	const char *user = NULL;

	if (cl_revocation_parse(s, len, &at, &until, &user) == 0) {
		PROP(user > s && user < s + len);
		PROP((size_t)(s + len - user) <= ICE_CLUSTER_USER_MAX);
	}
	cl_revocation_parse(s, len, &at, &until, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		revocation((const char *)data + 1, size - 1);
	else
		record((const char *)data + 1, size - 1);
	return 0;
}
