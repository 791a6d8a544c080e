/*
 * The admin API's server: its listener (a unix socket made here or passed
 * in, or TCP), the bearer-token check on TCP, routing, and JSON replies.
 * A unix socket is created with mode 0600 inside its directory; a socket
 * file left by a dead daemon is replaced, one a live daemon answers on is
 * not (two daemons would otherwise take each other's admin API).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "icestation/log.h"

#include "admin_srv.h"

void
admin_reply_json(struct evhttp_request *req, int code, const char *reason, cJSON *body)
{
	char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (text == NULL) {
		code = 500;
		reason = "Internal Server Error";
		evbuffer_add_printf(out, "{\"error\":\"no_memory\"}\n");
	} else {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
	}
	free(text);
	cJSON_Delete(body);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, NULL);
}

void
admin_reply_error(struct evhttp_request *req, int code, const char *reason, const char *error,
                  const char *detail)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL) {
		cJSON_AddStringToObject(o, "error", error);
		if (detail != NULL)
			cJSON_AddStringToObject(o, "detail", detail);
	}
	admin_reply_json(req, code, reason, o);
}

/* TCP only: one of the configured tokens, compared in constant time. */
static bool
authorized(const struct ice_admin *a, struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	bool ok = false;
	size_t len;

	if (a->unix_path != NULL || a->fd_passed_unix)
		return true; /* the socket's file mode is the guard */
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	len = strlen(h);
	for (size_t i = 0; i < a->n_tokens; i++)
		ok |= strlen(a->tokens[i]) == len && CRYPTO_memcmp(a->tokens[i], h, len) == 0;
	return ok;
}

static enum admin_method
method_of(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return ADMIN_GET;
	case EVHTTP_REQ_POST:
		return ADMIN_POST;
	case EVHTTP_REQ_DELETE:
		return ADMIN_DELETE;
	default:
		return ADMIN_OTHER;
	}
}

void
admin_watch(struct ice_admin *a, struct evhttp_connection *evcon,
            void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	if (ice_http_conns_watch(a->conns, evcon, cb, arg) < 0)
		evhttp_connection_set_closecb(evcon, cb, arg);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct ice_admin *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct admin_req r;
	int code;

	/* A whole request came in: this connection is a client's, not a
	 * flood's half-open one (evicted last). Its token is checked next. */
	ice_http_conns_served(a->conns, req);

	code = admin_route(method_of(req), uri ? evhttp_uri_get_path(uri) : NULL,
	                   uri ? evhttp_uri_get_query(uri) : NULL, &r);
	/* The status page's files hold no data: a browser loads them without a
	 * token and then sends its token with each API call. */
	if (!(code == 0 && admin_route_is_public(&r)) && !authorized(a, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"icestation-admin\"");
		admin_reply_error(req, 401, "Unauthorized", "unauthorized",
		                  "send Authorization: Bearer <admin token>");
		return;
	}
	switch (code) {
	case 0:
		admin_handle(a, req, &r);
		return;
	case 405:
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", r.allow);
		admin_reply_error(req, 405, "Method Not Allowed", "method_not_allowed", r.allow);
		return;
	case 404:
		admin_reply_error(req, 404, "Not Found", "not_found", "no such admin endpoint");
		return;
	default:
		admin_reply_error(req, 400, "Bad Request", "bad_request",
		                  "bad user, id, until or query parameter");
		return;
	}
}

/* Whether a daemon answers on the socket at path (then it is not ours to take). */
static bool
unix_live(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return live;
}

/* Make the socket's directory when it is missing (mode 0700), as systemd's
 * RuntimeDirectory= would: one level only, never a whole tree. */
static void
unix_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) == 0)
		log_info("admin: created %s", dir);
}

static int
unix_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	unix_dir(path);
	if (unix_live(&sun))
		return -EADDRINUSE;
	(void)unlink(path); /* stale: its daemon is gone */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* 0600 from the start: no window where another user could connect. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int
tcp_listen(const struct ice_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = ice_addr_to_sockaddr(a, &ss);
	int fd, one = 1, r;

	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void
tokens_free(struct ice_admin *a)
{
	for (size_t i = 0; i < a->n_tokens; i++) {
		explicit_bzero(a->tokens[i], strlen(a->tokens[i]));
		free(a->tokens[i]);
	}
	a->n_tokens = 0;
}

/* What the connection tracker takes from cfg (max-connections is restart-only). */
static void
conns_limits(const struct ice_config *cfg, struct ice_http_conns_limits *lim)
{
	lim->max = cfg->admin.max_connections;
	lim->per_address = cfg->admin.max_connections_per_address;
	lim->timeout_ms = ADMIN_TIMEOUT_S * 1000u;
	lim->mask_addrs = cfg->log_mask;
}

int
ice_admin_reconfigure(struct ice_admin *a, const struct ice_config *cfg)
{
	char *copy[ICE_CONFIG_MAX_TOKENS];
	size_t n = cfg->admin.n_bearer_tokens;
	struct ice_http_conns_limits lim;

	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(cfg->admin.bearer_tokens[i]);
		if (copy[i] == NULL) {
			while (i-- > 0)
				free(copy[i]);
			return -ENOMEM;
		}
	}
	tokens_free(a);
	memcpy(a->tokens, copy, n * sizeof(copy[0]));
	a->n_tokens = n;
	if (a->conns != NULL) {
		conns_limits(cfg, &lim);
		ice_http_conns_set(a->conns, &lim);
	}
	return 0;
}

/* Whether fd is a unix socket (a passed-in listener is guarded by its mode). */
static bool
fd_is_unix(int fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX;
}

struct ice_admin *
ice_admin_new(struct event_base *base, const struct ice_config *cfg,
              const struct ice_admin_ops *ops, int fd)
{
	const struct ice_config_admin *ac = &cfg->admin;
	char where[ICE_ADDR_STRLEN];
	struct ice_admin *a = calloc(1, sizeof(*a));
	struct ice_http_conns_limits lim;

	if (a == NULL)
		return NULL;
	a->ops = *ops;
	a->base = base;
	a->evh = evhttp_new(base);
	a->m = ice_metrics_block_new();
	conns_limits(cfg, &lim);
	if (a->evh != NULL && a->m != NULL)
		a->conns = ice_http_conns_new(base, a->evh, ICE_CONNCAP_ADMIN, &lim, a->m, NULL);
	if (a->conns == NULL || ice_admin_reconfigure(a, cfg) < 0)
		goto fail;
	if (fd >= 0) {
		a->fd_passed_unix = fd_is_unix(fd);
	} else if (ac->unix_path != NULL) {
		fd = unix_listen(ac->unix_path);
		if (fd < 0) {
			errno = -fd;
			log_error("admin: cannot listen on unix:%s%s", ac->unix_path,
			          fd == -EADDRINUSE ? " (another icestation answers there)" : "");
			goto fail;
		}
		a->unix_path = strdup(ac->unix_path);
	} else {
		fd = tcp_listen(&ac->listen);
		if (fd < 0) {
			errno = -fd;
			log_error("admin: cannot listen on %s",
			          ice_addr_str(&ac->listen, where, sizeof(where)));
			goto fail;
		}
	}
	if (evhttp_accept_socket_with_handle(a->evh, fd) == NULL) {
		close(fd);
		goto fail;
	}
	evhttp_set_allowed_methods(a->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
	                                           EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	                                           EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(a->evh, 8192);
	evhttp_set_max_body_size(a->evh, 4096);
	evhttp_set_timeout(a->evh, ADMIN_TIMEOUT_S);
	evhttp_set_gencb(a->evh, on_request, a);
	if (ac->unix_path != NULL)
		log_info("admin: listening on unix:%s", ac->unix_path);
	else if (ac->listen.family != 0)
		log_info("admin: listening on %s", ice_addr_str(&ac->listen, where, sizeof(where)));
	return a;
fail:
	ice_admin_free(a);
	return NULL;
}

void
ice_admin_free(struct ice_admin *a)
{
	if (a == NULL)
		return;
	/* Closing the connections runs the close callbacks of pending requests. */
	if (a->evh != NULL)
		evhttp_free(a->evh);
	ice_http_conns_free(a->conns);
	admin_pending_free_all(a);
	if (a->unix_path != NULL)
		(void)unlink(a->unix_path);
	free(a->unix_path);
	tokens_free(a);
	free(a);
}
