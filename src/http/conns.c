/*
 * Connection tracking for an evhttp server (include/icestation/http_conns.h):
 * adoption, the limits, the request deadline, and the close notice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "icestation/http_conns.h"
#include "icestation/log.h"
#include "icestation/siphash.h"

struct hc_conn {
	struct ice_http_conns *t;
	struct bufferevent *bev; /* ours until adopted (we hold a reference) */
	struct evhttp_connection *evcon;
	struct event *deadline;
	struct hc_conn *next_pending;
	ice_ms_t due; /* close unless a request completes before this */
	uint32_t answered;
	bool refuse; /* HTTPS without the memory for TLS: closed at adoption */
	void (*watch)(struct evhttp_connection *, void *); /* ice_http_conns_watch */
	void *watch_arg;
	struct ice_conncap_node node;
};

struct ice_http_conns {
	struct event_base *base;
	struct ice_metrics *m;
	const struct ice_http_conns_ids *ids; /* NULL: the pool's families only */
	enum ice_conncap_class cls;
	struct ice_conncap *cap;
	struct event *adopt_ev;  /* runs once per loop turn after accepts */
	struct hc_conn *pending; /* accepted, not yet adopted */
	struct hc_conn **table;  /* evcon -> conn, open addressing */
	size_t table_mask;
	uint32_t n_open, max;
	uint32_t timeout_ms;
	SSL_CTX *tls_ctx; /* HTTPS: one reference; NULL for plain HTTP */
};

/* Count in the ICE API's own metrics, when the tracker has them. */
#define COUNT(t, field, delta)                                                                \
	do {                                                                                  \
		if ((t)->ids != NULL)                                                         \
			ice_metrics_add((t)->m, (t)->ids->field, (uint64_t)(int64_t)(delta)); \
	} while (0)

/*
 * CLOCK_MONOTONIC_COARSE: a vDSO read of the tick, no syscall; its few ms of
 * granularity are nothing next to a timeout counted in seconds.
 */
ice_ms_t
ice_http_conns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (ice_ms_t)ts.tv_sec * 1000u + (ice_ms_t)ts.tv_nsec / 1000000u;
}

/* Pointers are not attacker-chosen, so a multiplicative hash is enough. */
static size_t
conn_slot(const struct ice_http_conns *t, const void *evcon)
{
	uint64_t x = (uint64_t)(uintptr_t)evcon;

	return (size_t)((x >> 4) * 0x9E3779B97F4A7C15ull >> 20) & t->table_mask;
}

static void
conn_table_put(struct ice_http_conns *t, struct hc_conn *c)
{
	size_t i = conn_slot(t, c->evcon);

	while (t->table[i] != NULL)
		i = (i + 1) & t->table_mask;
	t->table[i] = c;
}

static struct hc_conn *
conn_table_get(const struct ice_http_conns *t, const void *evcon)
{
	for (size_t i = conn_slot(t, evcon);; i = (i + 1) & t->table_mask) {
		struct hc_conn *c = t->table[i];

		if (c == NULL || c->evcon == evcon)
			return c;
	}
}

/* Linear probing removal by backward shift: no tombstones to accumulate. */
static void
conn_table_del(struct ice_http_conns *t, const struct hc_conn *c)
{
	size_t i = conn_slot(t, c->evcon), j;

	while (t->table[i] != c)
		i = (i + 1) & t->table_mask;
	t->table[i] = NULL;
	for (j = (i + 1) & t->table_mask; t->table[j] != NULL; j = (j + 1) & t->table_mask) {
		struct hc_conn *e = t->table[j];
		size_t home = conn_slot(t, e->evcon);

		/* e may move into the hole if its home is not in (i, j]. */
		if (((j - home) & t->table_mask) >= ((j - i) & t->table_mask)) {
			t->table[i] = e;
			t->table[j] = NULL;
			i = j;
		}
	}
}

static void
deadline_timer_add(struct hc_conn *c, ice_ms_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->deadline, &tv);
}

/* evhttp's close notice: the evcon is still valid, its fd about to close. */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct hc_conn *c = arg;
	struct ice_http_conns *t = c->t;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (c->watch != NULL)
		c->watch(evcon, c->watch_arg);
	if (c->answered == 0 && evtimer_pending(c->deadline, NULL))
		COUNT(t, unanswered, 1);
	conn_table_del(t, c);
	ice_conncap_remove(t->cap, &c->node);
	event_free(c->deadline);
	free(c);
	t->n_open--;
	COUNT(t, open, -1);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct hc_conn *c = arg;
	ice_ms_t now = ice_http_conns_now_ms();

	(void)fd;
	(void)what;
	if (c->due > now) {
		/* An answer moved the deadline since the timer was set. */
		deadline_timer_add(c, c->due - now);
		return;
	}
	if (c->answered)
		COUNT(c->t, timeout_idle, 1);
	else
		COUNT(c->t, timeout_request, 1);
	/* Runs on_conn_close, which frees c. */
	evhttp_connection_free(c->evcon);
}

/* The client's address (family 0 for a unix socket: no per-address cap). */
static void
peer_of(struct evhttp_connection *evcon, struct ice_addr *a)
{
	const struct sockaddr *sa = evhttp_connection_get_addr(evcon);

	if (sa == NULL || ice_addr_from_sockaddr(a, sa) < 0)
		memset(a, 0, sizeof(*a));
}

/*
 * The limits for c: true to keep it. Room is made by closing the
 * connection eviction picks (its deadline stopped first, so its close is
 * not counted as unanswered: the eviction counted it).
 */
static bool
admit(struct ice_http_conns *t, struct hc_conn *c)
{
	struct ice_conncap_node *victim;
	struct ice_addr src;
	struct hc_conn *v;

	peer_of(c->evcon, &src);
	switch (ice_conncap_gate(t->cap, t->cls, &src, t->n_open >= t->max, ice_http_conns_now_ms(),
	                         &victim)) {
	case ICE_CONNCAP_ADMIT:
		break;
	case ICE_CONNCAP_EVICT:
		v = (struct hc_conn *)((char *)victim - offsetof(struct hc_conn, node));
		evtimer_del(v->deadline);
		evhttp_connection_free(v->evcon);
		break;
	case ICE_CONNCAP_REFUSE_FULL:
		COUNT(t, rejected, 1);
		return false;
	case ICE_CONNCAP_REFUSE_ADDR:
		return false;
	}
	ice_conncap_add(t->cap, &c->node, t->cls, &src);
	return true;
}

static void
adopt_one(struct ice_http_conns *t, struct hc_conn *c)
{
	void *cbarg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
	bufferevent_decref(c->bev);
	/* evhttp freed the connection already (it failed to set it up). */
	if (cbarg == NULL)
		goto out_free;
	c->evcon = cbarg;
	c->deadline = evtimer_new(t->base, on_deadline, c);
	if (c->refuse || c->deadline == NULL || !admit(t, c)) {
		evhttp_connection_free(c->evcon);
		goto out_free;
	}
	t->n_open++;
	COUNT(t, open, 1);
	conn_table_put(t, c);
	evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
	c->due = ice_http_conns_now_ms() + t->timeout_ms;
	deadline_timer_add(c, t->timeout_ms);
	return;

out_free:
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

static void
on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct ice_http_conns *t = arg;
	struct hc_conn *c, *fifo = NULL;

	(void)fd;
	(void)what;
	/* The list is newest first; adopt in accept order, so the limit refuses the newest. */
	while ((c = t->pending) != NULL) {
		t->pending = c->next_pending;
		c->next_pending = fifo;
		fifo = c;
	}
	while ((c = fifo) != NULL) {
		fifo = c->next_pending;
		adopt_one(t, c);
	}
}

/*
 * A bufferevent for a new connection: plain, or TLS in accept state (evhttp
 * sets the fd next; the handshake starts then). A peer that closes without
 * close_notify has sent a whole request or nothing: a clean close for us.
 */
static struct bufferevent *
bev_new(struct ice_http_conns *t, struct event_base *base)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (t->tls_ctx == NULL)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ssl = SSL_new(t->tls_ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return NULL;
	}
	/* CLOSE_ON_FREE: the bufferevent frees ssl and closes the fd. */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* evhttp asks for the bufferevent of each accepted connection. */
static struct bufferevent *
on_new_conn(struct event_base *base, void *arg)
{
	struct ice_http_conns *t = arg;
	struct hc_conn *c;
	struct bufferevent *bev;

	bool refuse = false;

	bev = bev_new(t, base);
	if (bev == NULL && t->tls_ctx != NULL) {
		/* NULL would make evhttp serve the connection in clear text; a
		 * plain bufferevent closed at adoption refuses it instead. */
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		refuse = true;
	}
	if (bev == NULL)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		/*
		 * Out of memory: served but not tracked. Without a deadline,
		 * bufferevent timeouts (reset by every read, so weaker) still
		 * keep a silent client from holding it forever.
		 */
		struct timeval tv = { (time_t)(t->timeout_ms / 1000), 0 };

		/* Not TLS and not tracked: a timeout at once closes it before
		 * evhttp reads a request (a request already there may be read). */
		if (refuse)
			tv = (struct timeval){ 0, 1 };
		bufferevent_set_timeouts(bev, &tv, &tv);
		return bev;
	}
	COUNT(t, accepted, 1);
	c->t = t;
	c->bev = bev;
	c->refuse = refuse;
	/* Keeps bev readable in on_adopt even if evhttp gave up on it. */
	bufferevent_incref(bev);
	c->next_pending = t->pending;
	t->pending = c;
	event_active(t->adopt_ev, EV_TIMEOUT, 0);
	return bev;
}

struct ice_http_conns *
ice_http_conns_new(struct event_base *base, struct evhttp *evh, enum ice_conncap_class cls,
                   const struct ice_http_conns_limits *lim, struct ice_metrics *m,
                   const struct ice_http_conns_ids *ids)
{
	struct ice_http_conns *t = calloc(1, sizeof(*t));
	struct ice_siphash_key key;
	size_t slots = 16;

	if (t == NULL)
		return NULL;
	t->base = base;
	t->m = m;
	t->ids = ids;
	t->cls = cls;
	t->max = lim->max;
	while (slots < 2 * (size_t)lim->max + 2)
		slots <<= 1;
	t->table = calloc(slots, sizeof(*t->table));
	t->table_mask = slots - 1;
	t->adopt_ev = event_new(base, -1, 0, on_adopt, t);
	if (ice_siphash_key_random(&key) == 0)
		t->cap = ice_conncap_new(lim->max, &key, m);
	if (t->table == NULL || t->adopt_ev == NULL || t->cap == NULL) {
		ice_http_conns_free(t);
		return NULL;
	}
	ice_http_conns_set(t, lim);
	evhttp_set_bevcb(evh, on_new_conn, t);
	return t;
}

void
ice_http_conns_set(struct ice_http_conns *t, const struct ice_http_conns_limits *lim)
{
	t->timeout_ms = lim->timeout_ms;
	ice_conncap_set_cap(t->cap, t->cls, lim->per_address);
	ice_conncap_set_mask(t->cap, lim->mask_addrs);
}

void
ice_http_conns_served(struct ice_http_conns *t, struct evhttp_request *req)
{
	struct hc_conn *c = conn_table_get(t, evhttp_request_get_connection(req));

	if (c == NULL)
		return;
	if (c->answered++ == 0)
		ice_conncap_served(t->cap, &c->node);
	c->due = ice_http_conns_now_ms() + t->timeout_ms;
}

int
ice_http_conns_watch(struct ice_http_conns *t, struct evhttp_connection *evcon,
                     void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct hc_conn *c = conn_table_get(t, evcon);

	if (c == NULL)
		return -ENOENT;
	c->watch = cb;
	c->watch_arg = arg;
	return 0;
}

void
ice_http_conns_set_tls(struct ice_http_conns *t, SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	SSL_CTX_free(t->tls_ctx);
	t->tls_ctx = ctx;
}

void
ice_http_conns_free(struct ice_http_conns *t)
{
	struct hc_conn *c;

	if (t == NULL)
		return;
	while ((c = t->pending) != NULL) {
		t->pending = c->next_pending;
		bufferevent_decref(c->bev);
		free(c);
	}
	if (t->adopt_ev != NULL)
		event_free(t->adopt_ev);
	ice_conncap_free(t->cap);
	SSL_CTX_free(t->tls_ctx);
	free(t->table);
	free(t);
}
