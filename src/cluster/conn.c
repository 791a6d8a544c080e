/*
 * One Redis connection on the caller's event_base. hiredis 0.14 has no
 * timeouts in its async API, so each request takes a slot from a fixed pool
 * and the slot's own libevent timer bounds it: when it fires, the caller
 * hears -ETIMEDOUT and the slot stays with hiredis until the late reply (or
 * the connection's end) gives it back. A slot still unanswered one command
 * timeout later means Redis is stalled: the connection is dropped, which
 * hands every slot back. So a stall costs at most n_slots requests of
 * memory, and a request beyond that fails at once (queue_full).
 *
 * Connecting never blocks: host names go through evdns, the TCP connect is
 * non-blocking with a deadline, and a failure retries after an exponential
 * backoff with jitter. Logging of the up/down state is the owner's (once per
 * change); this file logs each attempt at debug level only.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <hiredis/adapters/libevent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "icestation/log.h"

#include "cluster_int.h"

static void
ms_to_tv(uint32_t ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
slot_put(struct cl_conn *conn, struct cl_slot *s)
{
	evtimer_del(&s->timer);
	s->fn = NULL;
	s->arg = NULL;
	s->answered = false;
	s->next_free = conn->free;
	conn->free = s;
	conn->in_use--;
	ice_metrics_dec(conn->c->m, ICE_M_CLUSTER_PENDING);
}

/* hiredis: a reply, or NULL when the context goes away with this pending. */
static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cl_slot *s = privdata;
	struct cl_conn *conn = s->conn;
	cl_reply_fn fn = s->fn;
	void *arg = s->arg;
	bool call = !s->answered && !conn->closing;

	(void)ac;
	slot_put(conn, s);
	if (call)
		fn(arg, reply, reply != NULL ? 0 : -ENOTCONN);
}

static void
on_slot_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cl_slot *s = arg;
	struct cl_conn *conn = s->conn;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (s->answered) {
		cl_conn_drop(conn, "no reply within %u ms after a timeout (Redis stalled?)",
		             conn->c->s.command_timeout_ms);
		return;
	}
	s->answered = true;
	cl_count(conn->c, ICE_M_CLUSTER_ERR_TIMEOUT);
	ms_to_tv(conn->c->s.command_timeout_ms, &tv);
	evtimer_add(&s->timer, &tv);
	s->fn(s->arg, NULL, -ETIMEDOUT);
}

int
cl_conn_send(struct cl_conn *conn, uint32_t timeout_ms, cl_reply_fn fn, void *arg, int argc,
             const char **argv, const size_t *argvlen)
{
	struct cl_slot *s;
	struct timeval tv;

	if (conn->ac == NULL || conn->state < CL_HANDSHAKE || conn->dropping)
		return -ENOTCONN;
	s = conn->free;
	if (s == NULL) {
		cl_count(conn->c, ICE_M_CLUSTER_ERR_QUEUE_FULL);
		return -ENOBUFS;
	}
	if (redisAsyncCommandArgv(conn->ac, on_reply, s, argc, argv, argvlen) != REDIS_OK)
		return -ENOTCONN;
	conn->free = s->next_free;
	conn->in_use++;
	ice_metrics_inc(conn->c->m, ICE_M_CLUSTER_PENDING);
	s->fn = fn;
	s->arg = arg;
	s->answered = false;
	ms_to_tv(timeout_ms, &tv);
	evtimer_add(&s->timer, &tv);
	return 0;
}

uint32_t
cl_conn_room(const struct cl_conn *conn)
{
	if (conn->ac == NULL || conn->state < CL_HANDSHAKE || conn->dropping)
		return 0;
	return conn->n_slots - conn->in_use;
}

/* --- connect, lose, retry --- */

static void
schedule_retry(struct cl_conn *conn)
{
	const struct ice_cluster_settings *s = &conn->c->s;
	struct timeval tv;
	uint32_t ms, jitter;

	conn->state = CL_DOWN;
	if (conn->closing)
		return;
	if (conn->backoff_ms == 0)
		conn->backoff_ms = s->reconnect_min_ms;
	ms = conn->backoff_ms;
	/* Up to a quarter of jitter: nodes that lost Redis together do not return in step. */
	evutil_secure_rng_get_bytes(&jitter, sizeof(jitter));
	ms += jitter % (ms / 4 + 1);
	conn->backoff_ms = ICE_MIN(conn->backoff_ms * 2, s->reconnect_max_ms);
	ms_to_tv(ms, &tv);
	evtimer_add(conn->timer, &tv);
	log_debug("cluster: %s connection: retry in %u ms", conn->name, ms);
}

/* The context is gone (freed by hiredis or by us): tell the owner, retry later. */
static void
lost(struct cl_conn *conn, bool was_ready)
{
	conn->ac = NULL;
	evtimer_del(conn->timer);
	cl_count(conn->c, was_ready ? ICE_M_CLUSTER_ERR_LOST : ICE_M_CLUSTER_ERR_CONNECT);
	log_debug("cluster: %s connection: %s", conn->name, conn->why);
	schedule_retry(conn);
	if (conn->on_lost != NULL)
		conn->on_lost(conn, was_ready);
}

static void
on_drop(evutil_socket_t fd, short what, void *arg)
{
	struct cl_conn *conn = arg;
	bool was_ready = conn->state == CL_READY;

	(void)fd;
	(void)what;
	conn->drop_pending = false;
	if (conn->ac == NULL)
		return;
	conn->dropping = true;
	redisAsyncFree(conn->ac); /* pending slots get on_reply(NULL) */
	conn->dropping = false;
	lost(conn, was_ready);
}

void
cl_conn_drop(struct cl_conn *conn, const char *fmt, ...)
{
	va_list ap;

	if (conn->ac == NULL || conn->drop_pending)
		return; /* nothing to drop, or the first reason stands */
	conn->drop_pending = true;
	va_start(ap, fmt);
	vsnprintf(conn->why, sizeof(conn->why), fmt, ap);
	va_end(ap);
	event_active(conn->drop, EV_TIMEOUT, 0);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct cl_conn *conn = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context when this returns. */
		snprintf(conn->why, sizeof(conn->why), "connect failed: %s", ac->errstr);
		lost(conn, false);
		return;
	}
	conn->state = CL_HANDSHAKE;
	if (conn->on_connected != NULL)
		conn->on_connected(conn);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cl_conn *conn = ac->data;
	bool was_ready = conn->state == CL_READY;

	if (conn->dropping || conn->closing)
		return; /* our own redisAsyncFree; on_drop carries on */
	snprintf(conn->why, sizeof(conn->why), "connection lost: %s",
	         status == REDIS_OK ? "closed by Redis" : ac->errstr);
	lost(conn, was_ready);
}

static void
connect_now(struct cl_conn *conn, const char *ip)
{
	const struct ice_cluster_settings *s = &conn->c->s;
	redisAsyncContext *ac;
	struct timeval tv;

	conn->state = CL_CONNECTING;
	ac = s->redis_unix != NULL ? redisAsyncConnectUnix(s->redis_unix)
	                           : redisAsyncConnect(ip, s->redis_port);
	if (ac == NULL || ac->err) {
		snprintf(conn->why, sizeof(conn->why), "connect failed: %s",
		         ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		lost(conn, false);
		return;
	}
	ac->data = conn;
	if (redisLibeventAttach(ac, conn->c->base) != REDIS_OK) {
		redisAsyncFree(ac);
		snprintf(conn->why, sizeof(conn->why), "cannot attach to the event loop");
		lost(conn, false);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	conn->ac = ac;
	/* The deadline covers the connect and the owner's handshake. */
	ms_to_tv(s->command_timeout_ms, &tv);
	evtimer_add(conn->timer, &tv);
}

static void
on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct cl_conn *conn = arg;
	char ip[INET6_ADDRSTRLEN];
	const void *a;

	conn->dns_req = NULL;
	if (result == EVUTIL_EAI_CANCEL || conn->closing || conn->state != CL_RESOLVING) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	if (result != 0 || res == NULL) {
		snprintf(conn->why, sizeof(conn->why), "cannot resolve %s: %s",
		         conn->c->s.redis_host, evutil_gai_strerror(result));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		lost(conn, false);
		return;
	}
	a = res->ai_family == AF_INET6
	            ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
	            : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	evutil_inet_ntop(res->ai_family, a, ip, sizeof(ip));
	evutil_freeaddrinfo(res);
	connect_now(conn, ip);
}

void
cl_conn_start(struct cl_conn *conn)
{
	const struct ice_cluster_settings *s = &conn->c->s;
	struct evutil_addrinfo hints;
	struct ice_addr literal;
	struct evdns_getaddrinfo_request *req;
	struct timeval tv;

	if (conn->closing || conn->state != CL_DOWN)
		return;
	if (s->redis_unix != NULL || ice_addr_parse_ip(&literal, s->redis_host, 0) == 0) {
		connect_now(conn, s->redis_host);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	conn->state = CL_RESOLVING;
	ms_to_tv(s->command_timeout_ms, &tv);
	evtimer_add(conn->timer, &tv);
	/* The callback may run before this returns (hosts file): then req is NULL. */
	req = evdns_getaddrinfo(conn->c->dns, s->redis_host, NULL, &hints, on_resolved, conn);
	if (conn->state == CL_RESOLVING)
		conn->dns_req = req;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cl_conn *conn = arg;

	(void)fd;
	(void)what;
	if (conn->state == CL_DOWN) {
		cl_conn_start(conn);
	} else if (conn->state == CL_RESOLVING) {
		if (conn->dns_req != NULL)
			evdns_getaddrinfo_cancel(conn->dns_req); /* on_resolved ignores it */
		conn->dns_req = NULL;
		snprintf(conn->why, sizeof(conn->why), "cannot resolve %s within %u ms",
		         conn->c->s.redis_host, conn->c->s.command_timeout_ms);
		lost(conn, false);
	} else if (conn->state == CL_CONNECTING || conn->state == CL_HANDSHAKE)
		cl_conn_drop(conn, "no answer within %u ms while connecting",
		             conn->c->s.command_timeout_ms);
}

void
cl_conn_set_ready(struct cl_conn *conn)
{
	conn->state = CL_READY;
	conn->backoff_ms = 0;
	evtimer_del(conn->timer);
}

int
cl_conn_init(struct cl_conn *conn, struct ice_cluster *c, const char *name, uint32_t n_slots)
{
	uint32_t i;

	memset(conn, 0, sizeof(*conn));
	conn->c = c;
	conn->name = name;
	conn->slots = calloc(n_slots, sizeof(*conn->slots));
	conn->timer = evtimer_new(c->base, on_timer, conn);
	conn->drop = event_new(c->base, -1, 0, on_drop, conn);
	if (conn->slots == NULL || conn->timer == NULL || conn->drop == NULL)
		return -ENOMEM;
	conn->n_slots = n_slots;
	for (i = n_slots; i-- > 0;) {
		conn->slots[i].conn = conn;
		evtimer_assign(&conn->slots[i].timer, c->base, on_slot_timer, &conn->slots[i]);
		conn->slots[i].next_free = conn->free;
		conn->free = &conn->slots[i];
	}
	return 0;
}

void
cl_conn_fini(struct cl_conn *conn)
{
	uint32_t i;

	conn->closing = true;
	if (conn->dns_req != NULL)
		evdns_getaddrinfo_cancel(conn->dns_req);
	conn->dns_req = NULL;
	if (conn->ac != NULL) {
		conn->dropping = true;
		redisAsyncFree(conn->ac);
		conn->ac = NULL;
	}
	for (i = 0; conn->slots != NULL && i < conn->n_slots; i++)
		evtimer_del(&conn->slots[i].timer);
	if (conn->timer != NULL)
		event_free(conn->timer);
	if (conn->drop != NULL)
		event_free(conn->drop);
	free(conn->slots);
	conn->slots = NULL;
	conn->timer = conn->drop = NULL;
}
