/*
 * One transport's TURN exchange with the daemon, as a state machine on the
 * loop: connect, Allocate (the 401 challenge, then with credentials),
 * CreatePermission for a peer socket, a Send indication to the peer and a
 * datagram back as a Data indication (bytes compared both ways), then
 * Refresh with LIFETIME 0. Each phase is one step of the report with its
 * own deadline (ICE_SELFTEST_STEP_MS); UDP requests are retransmitted
 * (RTO 250 ms, doubling) and relayed datagrams re-sent every 250 ms until
 * they arrive (relay.c). After a failure the allocation, if there is one,
 * is still released with Refresh(0).
 */
#include "probe.h"

#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/turn.h"

#include "conn.h"

static const char *const phase_names[] = { "allocate", "permission", "to_peer", "to_client",
	                                   "refresh" };

void
probe_arm(struct st_probe *p, unsigned ms)
{
	uint64_t now = st_now_us(), at = ICE_MIN(now + (uint64_t)ms * 1000, p->deadline_us);
	struct timeval tv = { (time_t)((at - now) / 1000000), (suseconds_t)((at - now) % 1000000) };

	p->next_us = at;
	evtimer_add(p->ev_timer, &tv);
}

static void
begin(struct st_probe *p, enum phase ph)
{
	p->phase = ph;
	p->step = st_step_begin(p->t, phase_names[ph], p->proto);
	p->deadline_us = p->step->start_us + (uint64_t)ICE_SELFTEST_STEP_MS * 1000;
	p->rto_ms = PROBE_RTO_MS;
	p->reauth_done = false;
}

void
probe_fail(struct st_probe *p, const char *fmt, ...)
{
	char why[ST_DETAIL_MAX];
	va_list ap;

	if (p->phase == PH_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	st_step_end(p->step, ST_FAIL, "%s", why);
	evtimer_del(p->ev_timer);
	memset(p->tid, 0, sizeof(p->tid)); /* a late answer is no one's */
	if (p->phase != PH_REFRESH && p->allocated && p->opened)
		p->phase = PH_TO_CLIENT; /* probe_next goes on to the refresh */
	else
		p->phase = PH_REFRESH; /* probe_next ends */
	probe_next(p);
}

static void
send_request(struct st_probe *p, uint16_t method)
{
	struct st_req r = { .method = method };
	int n;

	if (st_msg_tid(p->tid) < 0) {
		probe_fail(p, "no random bytes for a transaction id");
		return;
	}
	memcpy(r.tid, p->tid, sizeof(r.tid));
	if (method == STUN_METHOD_REFRESH)
		r.has_lifetime = true; /* LIFETIME 0: release */
	if (method == STUN_METHOD_CREATE_PERMISSION)
		r.peer = &p->peer;
	n = st_msg_request(&p->auth, &r, p->req, sizeof(p->req));
	if (n < 0) {
		probe_fail(p, "cannot build the request (%s)", strerror(-n));
		return;
	}
	p->req_len = (size_t)n;
	n = st_conn_send(p->conn, p->req, p->req_len);
	if (n < 0) {
		char why[ST_DETAIL_MAX] = "";

		st_cause_socket(p->t, p->proto, &p->to, -n, why, sizeof(why));
		probe_fail(p, "%s", why);
		return;
	}
	probe_arm(p, p->proto == TURN_PROTO_UDP ? p->rto_ms : ICE_SELFTEST_STEP_MS);
}

static uint16_t
phase_method(enum phase ph)
{
	return ph == PH_ALLOC  ? STUN_METHOD_ALLOCATE
	       : ph == PH_PERM ? STUN_METHOD_CREATE_PERMISSION
	                       : STUN_METHOD_REFRESH;
}

static void
start_permission(struct st_probe *p)
{
	char a[ICE_ADDR_STRLEN];
	int r;

	begin(p, PH_PERM);
	r = probe_peer_open(p);
	if (r < 0) {
		probe_fail(
			p,
			"cannot open the self-test's peer socket on %s in relay-port-range %u-%u "
			"(%s): the range is full, or the address is not this host's",
			ice_addr_ip_str(&p->t->plan.peer_ip, a, sizeof(a)),
			p->t->cfg->turn.relay_port_min, p->t->cfg->turn.relay_port_max,
			strerror(-r));
		return;
	}
	send_request(p, STUN_METHOD_CREATE_PERMISSION);
}

static void
skip_relay_steps(struct st_probe *p)
{
	for (enum phase ph = PH_PERM; ph <= PH_TO_CLIENT; ph++)
		st_step_end(st_step_begin(p->t, phase_names[ph], p->proto), ST_SKIP, "%s",
		            p->t->plan.relay_skip);
}

void
probe_next(struct st_probe *p)
{
	switch (p->phase) {
	case PH_ALLOC:
		if (p->t->plan.relay_checkable) {
			start_permission(p);
			return;
		}
		skip_relay_steps(p);
		/* fall through */
	case PH_TO_CLIENT:
		begin(p, PH_REFRESH);
		send_request(p, STUN_METHOD_REFRESH);
		return;
	case PH_PERM:
		begin(p, PH_TO_PEER);
		probe_send_relayed(p);
		return;
	case PH_TO_PEER:
		begin(p, PH_TO_CLIENT);
		probe_send_relayed(p);
		return;
	case PH_REFRESH:
	case PH_DONE:
		p->phase = PH_DONE;
		evtimer_del(p->ev_timer);
		st_probe_finished(p->t);
		return;
	}
}

/* A success answer: what the step found, then the next phase. */
static void
answered(struct st_probe *p, const struct st_answer *ans)
{
	char a[ICE_ADDR_STRLEN], b[ICE_ADDR_STRLEN], c[ICE_ADDR_STRLEN];

	evtimer_del(p->ev_timer);
	memset(p->tid, 0, sizeof(p->tid)); /* a retransmission's answer is no one's */
	switch (p->phase) {
	case PH_ALLOC:
		p->allocated = true;
		p->relayed = ans->relayed;
		p->mapped = ans->mapped;
		st_step_end(p->step, ST_OK, "relayed address %s, lifetime %u s (to %s, seen as %s)",
		            ice_addr_str(&ans->relayed, a, sizeof(a)), ans->lifetime,
		            ice_addr_str(&p->to, b, sizeof(b)),
		            ice_addr_str(&ans->mapped, c, sizeof(c)));
		break;
	case PH_PERM:
		st_step_end(p->step, ST_OK, "peer %s (the self-test's socket, a relay port)",
		            ice_addr_str(&p->peer, a, sizeof(a)));
		break;
	default:
		p->allocated = false;
		st_step_end(p->step, ST_OK, "the allocation is released");
		break;
	}
	probe_next(p);
}

static void
on_answer(struct st_probe *p, const struct stun_msg *m)
{
	struct st_answer ans;
	char why[ST_DETAIL_MAX] = "";
	int r = st_msg_answer(&p->auth, m, p->tid, &ans);

	if (r == -ENOENT || (p->phase != PH_ALLOC && p->phase != PH_PERM && p->phase != PH_REFRESH))
		return; /* a late answer to an earlier try */
	if (r == -EACCES) {
		probe_fail(p,
		           "the answer's MESSAGE-INTEGRITY does not check out with the credential "
		           "the self-test minted: the daemon uses another secret or realm");
		return;
	}
	if (r < 0) {
		probe_fail(p, "the answer does not decode (%s)", strerror(-r));
		return;
	}
	/* The 401 challenge of the first Allocate, or one stale nonce. */
	if ((ans.code == 401 && p->phase == PH_ALLOC && !p->challenged) ||
	    (ans.code == 438 && !p->reauth_done)) {
		p->challenged = true;
		p->reauth_done |= ans.code == 438;
		p->rto_ms = PROBE_RTO_MS;
		send_request(p, phase_method(p->phase));
		return;
	}
	if (ans.code != 0) {
		st_cause_code(p->t, phase_method(p->phase), ans.code, ans.reason, why, sizeof(why));
		probe_fail(p, "%s", why);
		return;
	}
	answered(p, &ans);
}

static void
on_frame(void *arg, const uint8_t *buf, size_t len)
{
	struct st_probe *p = arg;
	struct stun_frame f;

	if (p->phase == PH_DONE)
		return;
	stun_frame_decode(&f, buf, len, p->proto != TURN_PROTO_UDP);
	if (f.kind != STUN_FRAME_STUN)
		return;
	if (f.msg.cls == STUN_CLASS_INDICATION)
		probe_on_data(p, &f.msg);
	else
		on_answer(p, &f.msg);
}

static void
on_open(void *arg)
{
	struct st_probe *p = arg;

	p->opened = true;
	if (p->proto == TURN_PROTO_TLS && p->t->tls_cert == NULL)
		p->t->tls_cert = st_conn_peer_cert(p->conn);
	send_request(p, STUN_METHOD_ALLOCATE);
}

static void
on_error(void *arg, int err, const char *tls)
{
	struct st_probe *p = arg;
	char why[ST_DETAIL_MAX] = "", a[ICE_ADDR_STRLEN];

	p->allocated = false; /* nothing more can be sent on this connection */
	if (*tls)
		probe_fail(
			p,
			"the TLS handshake with %s failed (%s): the listener's certificate or key "
			"is unusable, or something other than icestation's TLS answers there",
			ice_addr_str(&p->to, a, sizeof(a)), tls);
	else if (err == 0)
		probe_fail(p, "the daemon closed the connection from %s during this step",
		           ice_addr_str(&p->to, a, sizeof(a)));
	else {
		st_cause_socket(p->t, p->proto, &p->to, err, why, sizeof(why));
		probe_fail(p, "%s", why);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct st_probe *p = arg;
	char why[ST_DETAIL_MAX] = "";

	(void)fd;
	(void)what;
	if (st_now_us() + 1000 >= p->deadline_us) {
		if (p->phase == PH_TO_PEER || p->phase == PH_TO_CLIENT) {
			probe_fail(
				p, "nothing arrived within %d ms (sent every %d ms): %s",
				ICE_SELFTEST_STEP_MS, PROBE_RESEND_MS,
				p->phase == PH_TO_PEER
					? "the relay did not pass the Send indication to the peer"
					: "the relay did not pass the peer's datagram back");
			return;
		}
		st_cause_socket(p->t, p->proto, &p->to, ETIMEDOUT, why, sizeof(why));
		probe_fail(p, "%s", why);
		return;
	}
	if (p->phase == PH_TO_PEER || p->phase == PH_TO_CLIENT) {
		probe_send_relayed(p);
	} else if (p->proto == TURN_PROTO_UDP && p->opened) {
		p->rto_ms *= 2;
		(void)st_conn_send(p->conn, p->req, p->req_len);
		probe_arm(p, p->rto_ms);
	} else {
		probe_arm(p, ICE_SELFTEST_STEP_MS);
	}
}

struct st_probe *
st_probe_start(struct ice_selftest *t, uint8_t proto)
{
	static const struct st_conn_ops ops = { on_open, on_frame, on_error };
	struct st_probe *p = calloc(1, sizeof(*p));
	const char *sni = t->cfg->turn.realm;
	char why[ST_DETAIL_MAX] = "";
	int r;

	if (p == NULL)
		return NULL;
	p->t = t;
	p->proto = proto;
	p->peer_fd = -1;
	p->auth.username = t->username;
	p->auth.password = t->password;
	p->to = t->plan.target;
	p->to.port = proto == TURN_PROTO_TLS ? t->cfg->turn.tls.port : t->cfg->turn.port;
	p->ev_timer = evtimer_new(t->base, on_timer, p);
	if (p->ev_timer == NULL || getrandom(p->out, sizeof(p->out), 0) != sizeof(p->out) ||
	    getrandom(p->back, sizeof(p->back), 0) != sizeof(p->back)) {
		st_probe_free(p);
		return NULL;
	}
	begin(p, PH_ALLOC);
	probe_arm(p, ICE_SELFTEST_STEP_MS);
	r = st_conn_open(t->base, proto, &p->to, t->tls, sni, &ops, p, &p->conn);
	if (r < 0) {
		st_cause_socket(t, proto, &p->to, -r, why, sizeof(why));
		probe_fail(p, "%s", why);
	}
	return p;
}

void
st_probe_abort(struct st_probe *p, const char *why)
{
	if (p->phase != PH_DONE) {
		p->allocated = false; /* no time left to release it: it expires */
		probe_fail(p, "%s", why);
	}
}

void
st_probe_free(struct st_probe *p)
{
	if (p == NULL)
		return;
	if (p->ev_timer != NULL)
		event_free(p->ev_timer);
	if (p->ev_peer != NULL)
		event_free(p->ev_peer);
	if (p->peer_fd >= 0)
		close(p->peer_fd);
	st_conn_free(p->conn);
	free(p);
}
