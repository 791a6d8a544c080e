/*
 * Operational endpoints: /healthz (the loop answers), /readyz (listeners bound
 * and every public address usable), /metrics (Prometheus text format 0.0.4:
 * each family's # HELP and # TYPE once, then its samples; the per-thread
 * blocks are summed when scraped).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_int.h"

int
ops_init(struct ice_http *h)
{
	size_t n = 0;
	bool *done;

	/* Group the descriptors by family, in order of first appearance. */
	h->metric_order = calloc(ICE_M_COUNT, sizeof(*h->metric_order));
	h->metric_family_start = calloc(ICE_M_COUNT, sizeof(*h->metric_family_start));
	done = calloc(ICE_M_COUNT, sizeof(*done));
	if (h->metric_order == NULL || h->metric_family_start == NULL || done == NULL) {
		free(done);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ICE_M_COUNT; i++) {
		if (done[i])
			continue;
		h->metric_family_start[n] = true;
		for (size_t j = i; j < ICE_M_COUNT; j++) {
			if (!done[j] &&
			    strcmp(ice_metric_descs[j].name, ice_metric_descs[i].name) == 0) {
				done[j] = true;
				h->metric_order[n++] = (uint16_t)j;
			}
		}
	}
	free(done);
	return 0;
}

void
ops_fini(struct ice_http *h)
{
	free(h->metric_order);
	free(h->metric_family_start);
	h->metric_order = NULL;
	h->metric_family_start = NULL;
}

static void
reply_json(struct ice_http *h, struct evhttp_request *req, int code, const char *reason,
           const char *body)
{
	http_header(req, "Content-Type", "application/json");
	http_header(req, "Cache-Control", "no-store");
	http_reply(h, req, code, reason, body, strlen(body));
}

void
ops_healthz(struct ice_http *h, struct evhttp_request *req)
{
	reply_json(h, req, 200, "OK", "{\"status\":\"ok\"}\n");
}

static const char *const fam_name[2] = { "ipv4", "ipv6" };

/* "name":["ipv4","ipv6"]: the families of pub[] that are advertised. */
static void
add_families(struct evbuffer *out, const char *name, const struct ice_addr pub[2])
{
	const char *sep = "";

	evbuffer_add_printf(out, ",\"%s\":[", name);
	for (int i = 0; i < 2; i++)
		if (pub[i].family != 0) {
			evbuffer_add_printf(out, "%s\"%s\"", sep, fam_name[i]);
			sep = ",";
		}
	evbuffer_add_printf(out, "]");
}

/* Each advertised TURN family needs a relay address of its own. */
static size_t
relay_missing(const struct ice_http *h, const struct ice_addr turn[2], const char **missing)
{
	static const char *const what[2] = { "turn ipv4 relay address", "turn ipv6 relay address" };
	size_t n = 0;

	if (h->hooks == NULL || h->hooks->relay_family == NULL)
		return 0;
	for (int i = 0; i < 2; i++)
		if (turn[i].family != 0 && !h->hooks->relay_family(h->hooks->ctx, turn[i].family))
			missing[n++] = what[i];
	return n;
}

/*
 * The public addresses of section clients cannot use (ice_config_public_faults)
 * into missing: "<section> public address" with one family advertised (or
 * none found), else one entry per family that fails.
 */
static size_t
public_missing(const struct ice_config *cfg, const char *section, const struct ice_addr *followed,
               const char **missing)
{
	static const char *const names[2][3] = {
		{ "stun public address", "stun ipv4 public address", "stun ipv6 public address" },
		{ "turn public address", "turn ipv4 public address", "turn ipv6 public address" },
	};
	const struct ice_public_ip *p;
	const char *const *nm;
	char why[512];
	unsigned f = ice_config_public_faults(cfg, section, followed, why, sizeof(why));
	size_t n = 0;

	if (strcmp(section, "stun") == 0) {
		p = &cfg->stun.public_ip;
		nm = names[0];
	} else {
		p = &cfg->turn.public_ip;
		nm = names[1];
	}
	if (f == 0)
		return 0;
	if ((f & ICE_PUBLIC_FAULT_NONE) || p->second.family == 0) {
		missing[n++] = nm[0];
		return n;
	}
	if (f & ICE_PUBLIC_FAULT_V4)
		missing[n++] = nm[1];
	if (f & ICE_PUBLIC_FAULT_V6)
		missing[n++] = nm[2];
	return n;
}

void
ops_readyz(struct ice_http *h, struct evhttp_request *req)
{
	const struct ice_config *cfg = h->cfg;
	const char *missing[7];
	struct ice_addr stun[2], turn[2];
	size_t n = 0;
	struct evbuffer *out;

	if (h->hooks != NULL && h->hooks->draining != NULL && h->hooks->draining(h->hooks->ctx)) {
		reply_json(h, req, 503, "Service Unavailable", "{\"status\":\"draining\"}\n");
		return;
	}
	if (h->hooks == NULL || h->hooks->listeners_ready == NULL ||
	    !h->hooks->listeners_ready(h->hooks->ctx))
		missing[n++] = "listeners";
	if (cfg->stun.enabled)
		n += public_missing(cfg, "stun", &h->public_stun, missing + n);
	if (cfg->turn.enabled)
		n += public_missing(cfg, "turn", &h->public_turn, missing + n);
	ice_public_ip_pair(&h->public_stun, &cfg->stun.public_ip, stun);
	ice_public_ip_pair(&h->public_turn, &cfg->turn.public_ip, turn);
	if (cfg->turn.enabled)
		n += relay_missing(h, turn, missing + n);
	out = evhttp_request_get_output_buffer(req);
	if (n == 0) {
		/* Ready, with the families each sub-server advertises. */
		evbuffer_add_printf(out, "{\"status\":\"ready\"");
		if (cfg->stun.enabled)
			add_families(out, "stun", stun);
		if (cfg->turn.enabled)
			add_families(out, "turn", turn);
		evbuffer_add_printf(out, "}\n");
		reply_json(h, req, 200, "OK", "");
		return;
	}
	evbuffer_add_printf(out, "{\"status\":\"not_ready\",\"missing\":[");
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(out, "%s\"%s\"", i ? "," : "", missing[i]);
	evbuffer_add_printf(out, "]}\n");
	http_header(req, "Content-Type", "application/json");
	http_header(req, "Cache-Control", "no-store");
	http_reply(h, req, 503, "Service Unavailable", NULL, 0);
}

/*
 * Heap bytes in use right now: what the allocator handed out and has not got
 * back, whatever it keeps cached or mapped (RSS counts those too). The fault
 * tests compare it with its baseline; under ASan, malloc is the sanitizer's,
 * so ask it instead of glibc.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ICE_HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ICE_HEAP_ASAN 1
#endif
#endif
#ifdef ICE_HEAP_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, which gcc's
 * packages do not ship). */
size_t __sanitizer_get_current_allocated_bytes(void);

static uint64_t
heap_in_use(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>

static uint64_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2(); /* every arena, plus mmap'ed blocks */

	return mi.uordblks + mi.hblkhd;
}
#endif

/* HELP text escaping per the 0.0.4 format: backslash and newline. */
static void
add_help(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

void
ops_metrics(struct ice_http *h, struct evhttp_request *req)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	/* Load figures are operational data: the token guards them like the API. */
	if (http_bearer_denied(h, req)) {
		http_reply_401(h, req);
		return;
	}
	for (size_t k = 0; k < ICE_M_COUNT; k++) {
		const struct ice_metric_desc *d = &ice_metric_descs[h->metric_order[k]];
		uint64_t v = ice_metrics_sum((enum ice_metric_id)h->metric_order[k]);

		if (h->metric_family_start[k]) {
			evbuffer_add_printf(out, "# HELP %s ", d->name);
			add_help(out, d->help);
			evbuffer_add_printf(out, "\n# TYPE %s %s\n", d->name,
			                    d->type == ICE_METRIC_GAUGE ? "gauge" : "counter");
		}
		evbuffer_add_printf(out, "%s%s%s%s ", d->name, d->labels[0] ? "{" : "", d->labels,
		                    d->labels[0] ? "}" : "");
		/* Gauges go down by adding (uint64_t)-1: read them back signed. */
		if (d->type == ICE_METRIC_GAUGE)
			evbuffer_add_printf(out, "%" PRId64 "\n", (int64_t)v);
		else
			evbuffer_add_printf(out, "%" PRIu64 "\n", v);
	}
	/* Read at scrape time, not counted. */
	evbuffer_add_printf(out,
	                    "# HELP icestation_process_heap_bytes Heap bytes allocated and not "
	                    "freed (glibc mallinfo2, or the sanitizer's allocator)\n"
	                    "# TYPE icestation_process_heap_bytes gauge\n"
	                    "icestation_process_heap_bytes %" PRIu64 "\n",
	                    heap_in_use());
	http_scrape_extra(h, out);
	http_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	http_header(req, "Cache-Control", "no-store");
	http_reply(h, req, 200, "OK", NULL, 0);
}
