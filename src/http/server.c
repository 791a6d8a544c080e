/*
 * The HTTP server: evhttp setup, routing, replies, and the connection bounds
 * libevent 2.1 lacks.
 *
 * evhttp 2.1 has no connection limit (evhttp_set_max_connections is 2.2) and no
 * whole-request deadline: its timeout is per read, so a client dribbling one
 * header byte at a time keeps a connection forever. Both are built here from
 * public API: evhttp_set_bevcb tells us of every new connection (we create its
 * bufferevent); the evhttp_connection wrapping it is known once evhttp has set
 * its callbacks, so a deferred event "adopts" new connections in the same loop
 * turn, before any of their I/O: it closes those over max-connections, sets a
 * close callback (the only end-of-connection notice evhttp gives) and arms a
 * deadline for the next complete request.
 *
 * The deadline is lazy (nginx's NGX_TIMER_LAZY_DELAY idea): an answer only
 * moves c->due; the timer, armed once per connection, re-arms itself for the
 * remainder when it finds due moved. Re-adding a timer per request cost a
 * min-heap delete and insert under the base lock on every answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "icestation/log.h"

#include "http_int.h"

struct http_conn {
	struct ice_http *h;
	struct bufferevent *bev; /* ours until adopted (we hold a reference) */
	struct evhttp_connection *evcon;
	struct event *deadline;
	struct http_conn *next_pending;
	ice_ms_t due; /* close unless a request completes before this */
	uint32_t answered;
};

/*
 * CLOCK_MONOTONIC_COARSE: a vDSO read of the tick, no syscall; its few ms of
 * granularity are nothing next to a timeout counted in seconds.
 */
static ice_ms_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (ice_ms_t)ts.tv_sec * 1000u + (ice_ms_t)ts.tv_nsec / 1000000u;
}

/* Pointers are not attacker-chosen, so a multiplicative hash is enough. */
static size_t
conn_slot(const struct ice_http *h, const void *evcon)
{
	uint64_t x = (uint64_t)(uintptr_t)evcon;

	return (size_t)((x >> 4) * 0x9E3779B97F4A7C15ull >> 20) & h->table_mask;
}

static void
conn_table_put(struct ice_http *h, struct http_conn *c)
{
	size_t i = conn_slot(h, c->evcon);

	while (h->table[i] != NULL)
		i = (i + 1) & h->table_mask;
	h->table[i] = c;
}

static struct http_conn *
conn_table_get(const struct ice_http *h, const void *evcon)
{
	for (size_t i = conn_slot(h, evcon);; i = (i + 1) & h->table_mask) {
		struct http_conn *c = h->table[i];

		if (c == NULL || c->evcon == evcon)
			return c;
	}
}

/* Linear probing removal by backward shift: no tombstones to accumulate. */
static void
conn_table_del(struct ice_http *h, const struct http_conn *c)
{
	size_t i = conn_slot(h, c->evcon), j;

	while (h->table[i] != c)
		i = (i + 1) & h->table_mask;
	h->table[i] = NULL;
	for (j = (i + 1) & h->table_mask; h->table[j] != NULL; j = (j + 1) & h->table_mask) {
		struct http_conn *e = h->table[j];
		size_t home = conn_slot(h, e->evcon);

		/* e may move into the hole if its home is not in (i, j]. */
		if (((j - home) & h->table_mask) >= ((j - i) & h->table_mask)) {
			h->table[i] = e;
			h->table[j] = NULL;
			i = j;
		}
	}
}

static void
deadline_timer_add(struct http_conn *c, ice_ms_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->deadline, &tv);
}

/* evhttp's close notice: the evcon is still valid, its fd about to close. */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *c = arg;
	struct ice_http *h = c->h;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (c->answered == 0 && evtimer_pending(c->deadline, NULL))
		ice_metrics_inc(h->m, ICE_M_HTTP_CONN_UNANSWERED);
	conn_table_del(h, c);
	event_free(c->deadline);
	free(c);
	h->n_open--;
	ice_metrics_dec(h->m, ICE_M_HTTP_CONN_OPEN);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	ice_ms_t now = now_ms();

	(void)fd;
	(void)what;
	if (c->due > now) {
		/* An answer moved the deadline since the timer was set. */
		deadline_timer_add(c, c->due - now);
		return;
	}
	ice_metrics_inc(c->h->m,
	                c->answered ? ICE_M_HTTP_TIMEOUT_IDLE : ICE_M_HTTP_TIMEOUT_REQUEST);
	/* Runs on_conn_close, which frees c. */
	evhttp_connection_free(c->evcon);
}

static void
adopt_one(struct ice_http *h, struct http_conn *c)
{
	void *cbarg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
	/* evhttp freed the connection already (it failed to set it up). */
	if (cbarg == NULL)
		goto out_free;
	c->evcon = cbarg;
	if (h->n_open >= h->cfg->http.max_connections) {
		ice_metrics_inc(h->m, ICE_M_HTTP_CONN_REJECTED);
		bufferevent_decref(c->bev);
		evhttp_connection_free(c->evcon);
		goto out_free_nobev;
	}
	c->deadline = evtimer_new(h->base, on_deadline, c);
	if (c->deadline == NULL) {
		bufferevent_decref(c->bev);
		evhttp_connection_free(c->evcon);
		goto out_free_nobev;
	}
	bufferevent_decref(c->bev);
	h->n_open++;
	ice_metrics_inc(h->m, ICE_M_HTTP_CONN_OPEN);
	conn_table_put(h, c);
	evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
	c->due = now_ms() + h->timeout_ms;
	deadline_timer_add(c, h->timeout_ms);
	return;

out_free:
	bufferevent_decref(c->bev);
out_free_nobev:
	free(c);
}

static void
on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct ice_http *h = arg;
	struct http_conn *c;

	struct http_conn *fifo = NULL;

	(void)fd;
	(void)what;
	/* The list is newest first; adopt in accept order, so the limit refuses the newest. */
	while ((c = h->pending) != NULL) {
		h->pending = c->next_pending;
		c->next_pending = fifo;
		fifo = c;
	}
	while ((c = fifo) != NULL) {
		fifo = c->next_pending;
		adopt_one(h, c);
	}
}

/* evhttp asks for the bufferevent of each accepted connection. */
static struct bufferevent *
on_new_conn(struct event_base *base, void *arg)
{
	struct ice_http *h = arg;
	struct http_conn *c;
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		/*
		 * Out of memory: served but not tracked. Without a deadline,
		 * bufferevent timeouts (reset by every read, so weaker) still
		 * keep a silent client from holding it forever.
		 */
		struct timeval tv = { (time_t)(h->timeout_ms / 1000), 0 };

		bufferevent_set_timeouts(bev, &tv, &tv);
		return bev;
	}
	ice_metrics_inc(h->m, ICE_M_HTTP_CONN_ACCEPTED);
	c->h = h;
	c->bev = bev;
	/* Keeps bev readable in on_adopt even if evhttp gave up on it. */
	bufferevent_incref(bev);
	c->next_pending = h->pending;
	h->pending = c;
	event_active(h->adopt_ev, EV_TIMEOUT, 0);
	return bev;
}

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
	struct http_conn *c = conn_table_get(h, evhttp_request_get_connection(req));
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
	if (c != NULL) {
		c->answered++;
		c->due = now_ms() + h->timeout_ms;
	}
	http_header(req, "Date", http_date(h));
	evhttp_send_reply(req, code, reason, NULL);
}

void
http_reply_error(struct ice_http *h, struct evhttp_request *req, int code, const char *reason,
                 const char *error, const char *detail)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	/* error and detail are constants of ours, never request bytes: no escaping. */
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

struct ice_http *
ice_http_new(struct event_base *base, const struct ice_config *cfg,
             const struct ice_http_hooks *hooks, int fd)
{
	const struct ice_config_http *hc = &cfg->http;
	struct ice_http *h;
	size_t slots = 16;

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
	h->timeout_ms = (hc->timeout_s ? hc->timeout_s : 10) * 1000u;

	while (slots < 2 * (size_t)hc->max_connections + 2)
		slots <<= 1;
	h->table = calloc(slots, sizeof(*h->table));
	h->table_mask = slots - 1;
	h->evh = evhttp_new(base);
	h->adopt_ev = event_new(base, -1, 0, on_adopt, h);
	h->resume_ev = evtimer_new(base, on_accept_resume, h);
	if (h->m == NULL || h->table == NULL || h->evh == NULL || h->adopt_ev == NULL ||
	    h->resume_ev == NULL) {
		log_errorx("http: out of memory");
		goto fail;
	}
	if (ice_api_init(h) < 0 || ops_init(h) < 0) {
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
	evhttp_set_bevcb(h->evh, on_new_conn, h);
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
	int r = rerender(h, cfg, &cfg->stun.public_ip.addr, &cfg->turn.public_ip.addr);

	if (r < 0)
		return r;
	h->timeout_ms = (cfg->http.timeout_s ? cfg->http.timeout_s : 10) * 1000u;
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
	struct http_conn *c;

	if (h == NULL)
		return;
	for (struct ice_http **p = &servers; *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	/* Closes every connection: on_conn_close frees the adopted ones. */
	if (h->evh != NULL)
		evhttp_free(h->evh);
	while ((c = h->pending) != NULL) {
		h->pending = c->next_pending;
		bufferevent_decref(c->bev);
		free(c);
	}
	if (h->adopt_ev != NULL)
		event_free(h->adopt_ev);
	if (h->resume_ev != NULL)
		event_free(h->resume_ev);
	ice_api_fini(h);
	ops_fini(h);
	free(h->table);
	free(h);
}
