/*
 * Private to src/selftest: the run (run.c) and its pieces:
 *   run.c    the order of things, step and check records, the deadline
 *   probe.c  one transport's TURN exchange (allocate .. refresh)
 *   relay.c  its peer socket and the datagrams relayed each way
 *   conn.c   a UDP, TCP or TLS connection to the daemon on libevent
 *   msg.c    the client side of STUN/TURN messages (codec + auth)
 *   host.c   this host's addresses; where the probes go; the public address
 *   checks.c relay ports, fd limit, clock
 *   cert.c   the TLS certificate: names and expiry
 *   cause.c  failures in plain words (a 403, a 508, a socket error)
 *   report.c the JSON report
 */
#ifndef ICESTATION_SELFTEST_INT_H
#define ICESTATION_SELFTEST_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "icestation/addr.h"
#include "icestation/auth.h"
#include "icestation/common.h"
#include "icestation/config.h"
#include "icestation/selftest.h"
#include "icestation/stun.h"

struct event;
struct st_probe;

enum {
	ST_MAX_STEPS = 24,
	ST_MAX_CHECKS = 8,
	ST_NAME_MAX = 24,
	ST_DETAIL_MAX = 640,
	ST_HOST_MAX_ADDRS = 128,
	ST_MAX_TRANSPORTS = 3,
	ST_FRAME_MAX = 2048, /* the largest answer we expect (and the buffer for it) */
};

enum st_status {
	ST_OK,
	ST_WARN, /* checks only: worth fixing, does not fail the test */
	ST_FAIL,
	ST_SKIP, /* steps only: not run, and why */
};

struct st_step {
	char name[ST_NAME_MAX];
	uint8_t proto; /* enum turn_proto, 0 for none */
	enum st_status status;
	uint64_t start_us;
	double ms;
	char detail[ST_DETAIL_MAX];
};

struct st_check {
	char name[ST_NAME_MAX];
	enum st_status status;
	char detail[ST_DETAIL_MAX];
};

/* This host's addresses (getifaddrs), read once per run. */
struct st_host {
	struct ice_addr addrs[ST_HOST_MAX_ADDRS];
	size_t n;
};

/* Where the probes go, decided before any packet is sent. */
struct st_plan {
	struct ice_addr target;          /* the IP the probes allocate against (port 0) */
	struct ice_addr peer_ip;         /* the IP the peer socket binds: a relay address */
	bool public_local;               /* the TURN public address is one of the host's */
	char target_note[ST_DETAIL_MAX]; /* why target is not the public address */
	bool relay_checkable;            /* the peer policy admits the peer socket */
	char relay_skip[ST_DETAIL_MAX];  /* why the relay steps do not run */
	const char *deny_reason;         /* the policy's word for the peer, or NULL */
};

struct ice_selftest {
	struct event_base *base;
	struct ice_config *cfg;
	struct ice_selftest_env env;
	ice_selftest_cb cb;
	void *arg;

	struct st_host host;
	struct st_plan plan;
	char username[ICE_REST_USERNAME_MAX];
	char password[ICE_REST_PASSWORD_MAX + 1];
	SSL_CTX *tls; /* client context, no verification: cert.c judges the certificate */

	uint8_t protos[ST_MAX_TRANSPORTS]; /* enum turn_proto, in order */
	size_t n_protos, cur;
	struct st_probe *probe;
	X509 *tls_cert; /* what the TLS listener presented (one reference), or NULL */

	struct event *ev_next;     /* deferred: the next transport, or the end */
	struct event *ev_deadline; /* ICE_SELFTEST_TIMEOUT_MS */
	uint64_t t0_us;

	struct st_step steps[ST_MAX_STEPS];
	size_t n_steps;
	struct st_check checks[ST_MAX_CHECKS];
	size_t n_checks;
};

/* run.c */
uint64_t st_now_us(void);
/* Start a step (its clock runs from now); never NULL (the last slot is reused). */
struct st_step *st_step_begin(struct ice_selftest *t, const char *name, uint8_t proto);
void st_step_end(struct st_step *s, enum st_status status, const char *fmt, ...) ICE_PRINTF(3, 4);
void st_check_add(struct ice_selftest *t, const char *name, enum st_status status, const char *fmt,
                  ...) ICE_PRINTF(4, 5);
/* The probe is finished (called by probe.c; the run frees it later). */
void st_probe_finished(struct ice_selftest *t);
/* printf into a fixed buffer, appending; never overflows. */
void st_appendf(char *buf, size_t cap, const char *fmt, ...) ICE_PRINTF(3, 4);
const char *st_proto_name(uint8_t proto);

/* probe.c: run one transport's exchange; st_probe_finished when done. */
struct st_probe *st_probe_start(struct ice_selftest *t, uint8_t proto);
/* Fail the running step as timed out (the run's deadline). */
void st_probe_abort(struct st_probe *p, const char *why);
void st_probe_free(struct st_probe *p);

/* host.c */
int st_host_load(struct st_host *h);
bool st_host_has(const struct st_host *h, const struct ice_addr *a);
/* Whether the TURN listeners take packets sent to ip (a wildcard or that address). */
bool st_listen_covers(const struct ice_config *cfg, const struct ice_addr *ip);
/* Decide t->plan and add the public_address check. */
void st_plan_make(struct ice_selftest *t);

/* checks.c: the checks that send nothing and need no probe. */
void st_check_relay_ports(struct ice_selftest *t);
void st_check_fd_limit(struct ice_selftest *t);
void st_check_clock(struct ice_selftest *t);

/* cert.c: the certificate check (after the TLS probe, if any). */
void st_check_cert(struct ice_selftest *t);

/* cause.c: plain words for failures, appended to buf. */
void st_cause_socket(struct ice_selftest *t, uint8_t proto, const struct ice_addr *to, int err,
                     char *buf, size_t cap);
void st_cause_code(struct ice_selftest *t, uint16_t method, int code, const char *reason, char *buf,
                   size_t cap);
/* The peer policy's judgement of a (NULL = allowed), as turn/policy.c makes it. */
const char *st_policy_reason(const struct ice_config *cfg, const struct ice_addr *peer);

/* report.c */
cJSON *st_report(const struct ice_selftest *t);

#endif
