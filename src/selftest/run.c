/*
 * The self-test run: the checks that need no packet, the credential, then
 * one probe per served transport in turn (UDP, TCP, TLS: one allocation at
 * a time, so max-allocations-per-user 1 still passes), the certificate
 * check, and the report. Probes are started and freed from a deferred
 * event, never from inside their own callbacks. A deadline bounds the
 * whole run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/err.h>

#include "icestation/turn.h"

#include "st_int.h"

uint64_t
st_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
st_appendf(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strnlen(buf, cap);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

const char *
st_proto_name(uint8_t proto)
{
	return proto == TURN_PROTO_UDP ? "udp" : proto == TURN_PROTO_TCP ? "tcp" : "tls";
}

struct st_step *
st_step_begin(struct ice_selftest *t, const char *name, uint8_t proto)
{
	struct st_step *s = &t->steps[t->n_steps < ST_MAX_STEPS ? t->n_steps++ : ST_MAX_STEPS - 1];

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->proto = proto;
	s->status = ST_FAIL;
	s->start_us = st_now_us();
	return s;
}

void
st_step_end(struct st_step *s, enum st_status status, const char *fmt, ...)
{
	va_list ap;

	s->status = status;
	s->ms = status == ST_SKIP ? 0 : (double)(st_now_us() - s->start_us) / 1000.0;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
}

void
st_check_add(struct ice_selftest *t, const char *name, enum st_status status, const char *fmt, ...)
{
	struct st_check *c;
	va_list ap;

	if (t->n_checks == ST_MAX_CHECKS)
		return;
	c = &t->checks[t->n_checks++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

/* Step "credential": mint as the ICE API does, with the secret in force. */
static bool
mint(struct ice_selftest *t)
{
	const struct ice_config_turn *tc = &t->cfg->turn;
	struct st_step *s = st_step_begin(t, "credential", 0);
	uint64_t expiry = (uint64_t)time(NULL) + tc->credential_ttl_s;
	int r;

	if (tc->n_auth_secrets == 0) {
		st_step_end(s, ST_FAIL, "no auth secret is loaded");
		return false;
	}
	r = ice_rest_mint((enum ice_rest_format)tc->credential_format,
	                  (const uint8_t *)tc->auth_secrets[0], tc->auth_secret_lens[0], expiry,
	                  ICE_SELFTEST_USER, t->username, t->password);
	if (r < 0) {
		st_step_end(s, ST_FAIL, "minting failed: %s", strerror(-r));
		return false;
	}
	st_step_end(s, ST_OK, "username %s, valid %u s (credential-ttl)", t->username,
	            tc->credential_ttl_s);
	return true;
}

static void
finish(struct ice_selftest *t)
{
	ice_selftest_cb cb = t->cb;
	void *arg = t->arg;
	cJSON *report;

	st_check_cert(t);
	report = st_report(t);
	ice_selftest_free(t);
	cb(arg, report);
}

static void
on_next(evutil_socket_t fd, short what, void *arg)
{
	struct ice_selftest *t = arg;

	(void)fd;
	(void)what;
	st_probe_free(t->probe);
	t->probe = NULL;
	while (t->cur < t->n_protos) {
		uint8_t proto = t->protos[t->cur++];

		if (!evtimer_pending(t->ev_deadline, NULL)) {
			st_step_end(st_step_begin(t, "allocate", proto), ST_FAIL,
			            "not run: the self-test ran out of time (%d ms in all)",
			            ICE_SELFTEST_TIMEOUT_MS);
			continue;
		}
		t->probe = st_probe_start(t, proto);
		if (t->probe != NULL)
			return;
		st_step_end(st_step_begin(t, "allocate", proto), ST_FAIL, "out of memory");
	}
	finish(t);
}

void
st_probe_finished(struct ice_selftest *t)
{
	event_active(t->ev_next, EV_TIMEOUT, 0);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct ice_selftest *t = arg;
	char why[128];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "the self-test ran out of time (%d ms in all)",
	         ICE_SELFTEST_TIMEOUT_MS);
	if (t->probe != NULL)
		st_probe_abort(t->probe, why);
}

/* TLS without verification: the probe must reach the relay even with a bad
 * certificate, whose faults cert.c names instead. ALPN as browsers' TURN. */
static SSL_CTX *
tls_client(void)
{
	static const unsigned char alpn[] = "\x09stun.turn";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	(void)SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
	return ctx;
}

static void
plan_transports(struct ice_selftest *t)
{
	const struct ice_config_turn *tc = &t->cfg->turn;

	if (tc->transports & ICE_TRANSPORT_UDP)
		t->protos[t->n_protos++] = TURN_PROTO_UDP;
	if (tc->transports & ICE_TRANSPORT_TCP)
		t->protos[t->n_protos++] = TURN_PROTO_TCP;
	if (tc->tls.enabled && t->tls != NULL)
		t->protos[t->n_protos++] = TURN_PROTO_TLS;
}

struct ice_selftest *
ice_selftest_start(struct event_base *base, const struct ice_selftest_env *env, ice_selftest_cb cb,
                   void *arg)
{
	struct ice_selftest *t = calloc(1, sizeof(*t));
	const struct timeval limit = { ICE_SELFTEST_TIMEOUT_MS / 1000, 0 };

	if (t == NULL)
		return NULL;
	t->base = base;
	t->env = *env;
	t->cfg = ice_config_ref(env->cfg);
	t->env.cfg = t->cfg;
	t->cb = cb;
	t->arg = arg;
	t->t0_us = st_now_us();
	t->ev_next = event_new(base, -1, 0, on_next, t);
	t->ev_deadline = evtimer_new(base, on_deadline, t);
	if (t->ev_next == NULL || t->ev_deadline == NULL || evtimer_add(t->ev_deadline, &limit) < 0)
		goto fail;
	if (t->cfg->turn.enabled && t->cfg->turn.tls.enabled && (t->tls = tls_client()) == NULL)
		goto fail;
	if (st_host_load(&t->host) < 0)
		st_check_add(t, "host_addresses", ST_WARN,
		             "cannot list this host's addresses (getifaddrs failed)");
	st_plan_make(t);
	st_check_relay_ports(t);
	st_check_fd_limit(t);
	st_check_clock(t);
	if (t->cfg->turn.enabled && mint(t))
		plan_transports(t);
	event_active(t->ev_next, EV_TIMEOUT, 0);
	return t;
fail:
	ice_selftest_free(t);
	return NULL;
}

void
ice_selftest_free(struct ice_selftest *t)
{
	if (t == NULL)
		return;
	st_probe_free(t->probe);
	if (t->ev_next != NULL)
		event_free(t->ev_next);
	if (t->ev_deadline != NULL)
		event_free(t->ev_deadline);
	X509_free(t->tls_cert);
	SSL_CTX_free(t->tls);
	ice_config_unref(t->cfg);
	explicit_bzero(t->password, sizeof(t->password));
	free(t);
	ERR_clear_error();
}
