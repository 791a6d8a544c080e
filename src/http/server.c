/*
 * The HTTP server: evhttp setup, routing and replies. Its connections are
 * bounded by a tracker (include/icestation/http_conns.h: the global and
 * per-address limits, fair eviction, the whole-request deadline libevent 2.1
 * lacks).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "icestation/log.h"

#include "http_int.h"

/*
 * The Date header value (RFC 9110 IMF-fixdate), formatted when the second
 * changes. evhttp would otherwise format it for every response (time, gmtime_r,
 * a printf: about a tenth of the user CPU of a request); a Date already present
 * makes it skip that. Own tables, so the locale cannot change the names.
 */
static const char *
http_date(struct ice_http *h)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	if (now == h->date_at && h->date[0] != '\0')
		return h->date;
	if (gmtime_r(&now, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11)
		return "Thu, 01 Jan 1970 00:00:00 GMT";
	snprintf(h->date, sizeof(h->date), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
	         tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
	h->date_at = now;
	return h->date;
}

void
http_header(struct evhttp_request *req, const char *key, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), key, value);
}

/*
 * Content-Length, unless the status forbids it (RFC 9110 §8.6). Given by us,
 * evhttp skips its own (a printf per response).
 */
static void
content_length(struct evhttp_request *req, int code, size_t len)
{
	char digits[24], n[24];
	size_t i = 0, j = 0;

	if (code < 200 || code == 204 || code == 304)
		return;
	do {
		digits[i++] = (char)('0' + len % 10);
		len /= 10;
	} while (len != 0);
	while (i > 0)
		n[j++] = digits[--i];
	n[j] = '\0';
	http_header(req, "Content-Length", n);
}

/*
 * evhttp 2.1 writes the body of a HEAD answer anyway (only its Content-Length
 * is left out), so the client reads it as the start of the next response on
 * a kept-alive connection. Drop the body; say its length, as GET would.
 */
static void
head_strip(struct evhttp_request *req, int code, size_t body_len)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	size_t len = evbuffer_get_length(out);

	content_length(req, code, len + body_len);
	evbuffer_drain(out, len);
}

void
http_reply(struct ice_http *h, struct evhttp_request *req, int code, const char *reason,
           const char *body, size_t body_len)
{
	static const enum ice_metric_id by_class[] = {
		ICE_M_HTTP_REQ_2XX, ICE_M_HTTP_REQ_2XX, ICE_M_HTTP_REQ_3XX,
		ICE_M_HTTP_REQ_4XX, ICE_M_HTTP_REQ_5XX,
	};
	int cls = code / 100 - 1;

	ice_metrics_inc(h->m, by_class[cls < 0 ? 0 : cls > 4 ? 4 : cls]);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		head_strip(req, code, body_len);
	} else {
		struct evbuffer *out = evhttp_request_get_output_buffer(req);

		if (body != NULL && body_len > 0)
			evbuffer_add(out, body, body_len);
		content_length(req, code, evbuffer_get_length(out));
	}
	ice_http_conns_served(h->conns, req);
	http_header(req, "Date", http_date(h));
	evhttp_send_reply(req, code, reason, NULL);
}

void
http_reply_error(struct ice_http *h, struct evhttp_request *req, int code, const char *reason,
                 const char *error, const char *detail)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	/* error and detail are ours (constants, or config text without quotes or
	 * backslashes), never request bytes: no escaping. */
	evbuffer_add_printf(out, "{\"error\":\"%s\",\"detail\":\"%s\"}\n", error, detail);
	http_header(req, "Content-Type", "application/json");
	http_header(req, "Cache-Control", "no-store");
	http_reply(h, req, code, reason, NULL, 0);
}

static void
reply_405(struct ice_http *h, struct evhttp_request *req, const char *allow)
{
	http_header(req, "Allow", allow);
	http_reply_error(h, req, 405, "Method Not Allowed", "method_not_allowed",
	                 "use one of the methods in the Allow header");
}

static void
route(struct evhttp_request *req, void *arg)
{
	struct ice_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	if (path == NULL) {
		http_reply_error(h, req, 400, "Bad Request", "bad_request", "unparsable URI");
		return;
	}
	if (strcmp(path, "/api/v1/turn/ice-servers") == 0 ||
	    strcmp(path, "/api/v1/ice/servers") == 0) {
		ice_api_handle(h, req);
		return;
	}
	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
	    strcmp(path, "/metrics") == 0) {
		if (!get)
			reply_405(h, req, "GET, HEAD");
		else if (path[1] == 'h')
			ops_healthz(h, req);
		else if (path[1] == 'r')
			ops_readyz(h, req);
		else
			ops_metrics(h, req);
		return;
	}
	http_reply_error(h, req, 404, "Not Found", "not_found", "no such endpoint");
}

void
http_reply_405_ice(struct ice_http *h, struct evhttp_request *req)
{
	reply_405(h, req, "GET, HEAD, OPTIONS");
}

/* Live servers, for on_accept_error: libevent hands an evhttp listener's
 * error callback the struct evhttp, not ours. One per process in practice. */
static struct ice_http *servers;

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ice_http *h = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(h->lev);
}

/*
 * accept() failed with an error that retrying at once cannot cure (EMFILE,
 * ENFILE, ENOMEM). Without this callback libevent logs a warning and returns
 * with the backlog still readable, so the HTTP loop spins at 100 % CPU and
 * logs without end until a descriptor frees up. Count it and stop listening
 * for 100 ms, as the TURN listeners do; the backlog waits in the kernel.
 */
static void
on_accept_error(struct evconnlistener *lev, void *evh)
{
	const struct timeval pause = { 0, 100 * 1000 };
	struct ice_http *h = servers;

	while (h != NULL && h->evh != evh)
		h = h->next;
	if (h == NULL)
		return; /* not ours: cannot happen */
	ice_metrics_inc(h->m, ICE_M_HTTP_ACCEPT_ERRORS);
	evconnlistener_disable(lev);
	evtimer_add(h->resume_ev, &pause);
}

static int
bind_listener(struct ice_http *h, int fd)
{
	char ip[ICE_ADDR_STRLEN], where[ICE_ADDR_STRLEN];
	const struct ice_addr *a = &h->cfg->http.listen;
	struct evhttp_bound_socket *bound;

	if (fd >= 0) {
		if (evhttp_accept_socket_with_handle(h->evh, fd) == NULL) {
			log_warnx("http: cannot serve the socket passed in");
			return -EINVAL;
		}
		return 0;
	}
	ice_addr_ip_str(a, ip, sizeof(ip));
	bound = evhttp_bind_socket_with_handle(h->evh, ip, a->port);
	if (bound == NULL) {
		log_warn("http: cannot listen on %s", ice_addr_str(a, where, sizeof(where)));
		return -EADDRNOTAVAIL;
	}
	h->lev = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(h->lev, on_accept_error);
	h->next = servers;
	servers = h;
	return 0;
}

/* What the connection tracker takes from cfg (max-connections is restart-only). */
static void
conns_limits(const struct ice_config *cfg, struct ice_http_conns_limits *lim)
{
	lim->max = cfg->http.max_connections;
	lim->per_address = cfg->http.max_connections_per_address;
	lim->timeout_ms = (cfg->http.timeout_s ? cfg->http.timeout_s : 10) * 1000u;
	lim->mask_addrs = cfg->log_mask;
}

struct ice_http *
ice_http_new(struct event_base *base, const struct ice_config *cfg,
             const struct ice_http_hooks *hooks, int fd)
{
	static const struct ice_http_conns_ids ids = {
		.accepted = ICE_M_HTTP_CONN_ACCEPTED,
		.open = ICE_M_HTTP_CONN_OPEN,
		.rejected = ICE_M_HTTP_CONN_REJECTED,
		.timeout_request = ICE_M_HTTP_TIMEOUT_REQUEST,
		.timeout_idle = ICE_M_HTTP_TIMEOUT_IDLE,
		.unanswered = ICE_M_HTTP_CONN_UNANSWERED,
	};
	const struct ice_config_http *hc = &cfg->http;
	struct ice_http_conns_limits lim;
	struct ice_http *h;

	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		log_errorx("http: out of memory");
		return NULL;
	}
	h->base = base;
	h->cfg = cfg;
	h->public_stun = cfg->stun.public_ip.addr;
	h->public_turn = cfg->turn.public_ip.addr;
	h->hooks = hooks;
	h->m = ice_metrics_block_new();
	h->evh = evhttp_new(base);
	conns_limits(cfg, &lim);
	h->resume_ev = evtimer_new(base, on_accept_resume, h);
	if (h->m != NULL && h->evh != NULL && h->resume_ev != NULL)
		h->conns = ice_http_conns_new(base, h->evh, ICE_CONNCAP_HTTP, &lim, h->m, &ids);
	if (h->conns == NULL) {
		log_errorx("http: out of memory");
		goto fail;
	}
	if (http_tls_init(h) < 0)
		goto fail;
	if (ice_api_init(h) < 0 || ops_init(h) < 0 || http_guard_init(h, NULL) < 0) {
		log_errorx("http: cannot build the response templates");
		goto fail;
	}

	evhttp_set_max_headers_size(h->evh, hc->max_header_bytes ? hc->max_header_bytes : 8192);
	evhttp_set_max_body_size(h->evh, hc->max_body_bytes);
	/*
	 * No evhttp timeout: it restarts on every read (a dribbling client
	 * outlives it) and costs timer-heap work on every read and write. The
	 * request deadline (timeout from accept or from the previous answer)
	 * bounds every phase, a response the client will not read included.
	 */
	/* Every method reaches route(), so the answer is ours (405), not a 501. */
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                           EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                           EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(h->evh, "application/json");
	evhttp_set_gencb(h->evh, route, h);
	if (bind_listener(h, fd) < 0)
		goto fail;
	return h;

fail:
	ice_http_free(h);
	return NULL;
}

/* Render the ICE answer for cfg and the public IPs given; on failure
 * everything stays as it was. 0 or -ENOMEM. */
static int
rerender(struct ice_http *h, const struct ice_config *cfg, const struct ice_addr *stun_ip,
         const struct ice_addr *turn_ip)
{
	const struct ice_config *old_cfg = h->cfg;
	struct ice_addr old_stun = h->public_stun, old_turn = h->public_turn;
	struct ice_api_tmpl old = h->tmpl;

	memset(&h->tmpl, 0, sizeof(h->tmpl));
	h->cfg = cfg;
	h->public_stun = *stun_ip;
	h->public_turn = *turn_ip;
	if (ice_api_init(h) < 0) {
		ice_api_fini(h);
		h->tmpl = old;
		h->cfg = old_cfg;
		h->public_stun = old_stun;
		h->public_turn = old_turn;
		return -ENOMEM;
	}
	ice_api_tmpl_free(&old);
	return 0;
}

int
ice_http_reconfigure(struct ice_http *h, const struct ice_config *cfg)
{
	const struct ice_config *old_cfg = h->cfg;
	int r = rerender(h, cfg, &cfg->stun.public_ip.addr, &cfg->turn.public_ip.addr);
	struct ice_http_conns_limits lim;

	if (r < 0)
		return r;
	conns_limits(cfg, &lim);
	ice_http_conns_set(h->conns, &lim);
	/* A limiter that cannot be built leaves the old one in force (logged). */
	if (http_guard_init(h, old_cfg) < 0)
		log_warnx("http: the new rate limit could not be built; the old one stays");
	return 0;
}

int
ice_http_set_public_ip(struct ice_http *h, const struct ice_addr *stun_ip,
                       const struct ice_addr *turn_ip)
{
	return rerender(h, h->cfg, stun_ip, turn_ip);
}

void
ice_http_free(struct ice_http *h)
{
	if (h == NULL)
		return;
	for (struct ice_http **p = &servers; *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	/* Closes every connection: the tracker hears of each. */
	if (h->evh != NULL)
		evhttp_free(h->evh);
	ice_http_conns_free(h->conns);
	if (h->resume_ev != NULL)
		event_free(h->resume_ev);
	ice_api_fini(h);
	ops_fini(h);
	http_guard_fini(h);
	free(h);
}
