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

void
ops_readyz(struct ice_http *h, struct evhttp_request *req)
{
	const struct ice_config *cfg = h->cfg;
	const char *missing[3];
	char why[512];
	size_t n = 0;
	struct evbuffer *out;

	if (h->hooks != NULL && h->hooks->draining != NULL && h->hooks->draining(h->hooks->ctx)) {
		reply_json(h, req, 503, "Service Unavailable", "{\"status\":\"draining\"}\n");
		return;
	}
	if (h->hooks == NULL || h->hooks->listeners_ready == NULL ||
	    !h->hooks->listeners_ready(h->hooks->ctx))
		missing[n++] = "listeners";
	if (cfg->stun.enabled &&
	    ice_config_public_unusable(cfg, "stun", &h->public_stun, why, sizeof(why)))
		missing[n++] = "stun public address";
	if (cfg->turn.enabled &&
	    ice_config_public_unusable(cfg, "turn", &h->public_turn, why, sizeof(why)))
		missing[n++] = "turn public address";
	if (n == 0) {
		reply_json(h, req, 200, "OK", "{\"status\":\"ready\"}\n");
		return;
	}
	out = evhttp_request_get_output_buffer(req);
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
