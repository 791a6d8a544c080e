/*
 * Entry point for STUN messages from clients: class and method dispatch,
 * then the checks every TURN request shares, in this order:
 *   Allocate:       auth (401/400/438) -> live 5-tuple (same transaction:
 *                   resend the success, else 437) -> malformed attribute
 *                   (400) -> unknown attributes (420)
 *   other requests: no allocation on the 5-tuple (437, before any crypto so
 *                   junk costs nothing; a Refresh may name one with a
 *                   mobility ticket, mobility.c) -> auth with the
 *                   allocation's cached key (matched by USERNAME or
 *                   USERHASH) -> another username (441) -> malformed
 *                   attribute (400) -> unknown attributes (420)
 *   ConnectionBind: see tcp_relay.c: the allocation is the one its
 *                   CONNECTION-ID names, then as other requests
 *   Binding:        malformed (400) -> unknown attributes (420) -> success,
 *                   no auth
 *   Send:           see relay.c; other indications and responses are dropped,
 *                   as is any indication with a malformed attribute.
 * A malformed attribute (msg->bad_attr, stun_parse's -EPROTO) is answered
 * after authentication, like an unknown one, so a stranger learns nothing
 * and its client gets a signed 400.
 */
#include <string.h>

#include "turn_int.h"

static void
add_unknown(uint16_t *out, size_t *n, uint16_t type)
{
	for (size_t i = 0; i < *n; i++)
		if (out[i] == type)
			return;
	if (*n < STUN_MAX_UNKNOWN)
		out[(*n)++] = type;
}

/*
 * Unknown comprehension-required attributes of msg, into out[STUN_MAX_UNKNOWN]:
 * those the codec did not know (msg->unknown: the codec's table is the one list
 * of what this server understands), and DONT-FRAGMENT in an Allocate when
 * relays cannot set DF (RFC 8656 §7.2). Returns how many.
 */
static size_t
unknown_attrs(const struct turn_server *srv, const struct stun_msg *msg, uint16_t *out)
{
	const struct stun_attr *a;
	size_t n = 0;

	for (size_t i = 0; i < msg->n_unknown; i++)
		add_unknown(out, &n, msg->unknown[i]);
	if (msg->method != STUN_METHOD_ALLOCATE || srv->io.dont_fragment)
		return n;
	stun_attr_foreach(msg, a) {
		if (a->type == STUN_ATTR_DONT_FRAGMENT)
			add_unknown(out, &n, a->type);
	}
	return n;
}

/* 420 if needed; true when the request may go on. */
static bool
check_unknown(struct turn_ctx *c)
{
	uint16_t types[STUN_MAX_UNKNOWN];
	size_t n = unknown_attrs(c->srv, c->msg, types);

	if (n == 0)
		return true;
	turn_reply_unknown(c, types, n);
	return false;
}

/* 400 for a malformed attribute (signed once authenticated); true when none. */
static bool
check_malformed(struct turn_ctx *c)
{
	if (c->msg->bad_attr == 0)
		return true;
	turn_reply_error(c, 400);
	return false;
}

/* Count an authentication failure; returns its name for the operator's log. */
static const char *
count_auth_failure(struct turn_server *srv, enum ltc_why why)
{
	switch (why) {
	case LTC_OK:
		return "ok";
	case LTC_NO_INTEGRITY:
	case LTC_MISSING_ATTR:
		turn_count(srv, ICE_M_TURN_AUTH_MISSING);
		return "no_credentials";
	case LTC_BAD_NONCE:
		turn_count(srv, ICE_M_TURN_AUTH_NONCE_BAD);
		return "bad_nonce";
	case LTC_STALE_NONCE:
		turn_count(srv, ICE_M_TURN_AUTH_NONCE_STALE);
		return "stale_nonce";
	case LTC_EXPIRED:
		turn_count(srv, ICE_M_TURN_AUTH_EXPIRED);
		return "expired_username";
	case LTC_BAD_REALM:
	case LTC_BAD_USERNAME:
	case LTC_BAD_ALGORITHMS:
		turn_count(srv, ICE_M_TURN_AUTH_BAD_USERNAME);
		return "bad_username";
	case LTC_BAD_INTEGRITY:
		turn_count(srv, ICE_M_TURN_AUTH_BAD_INTEGRITY);
		return "bad_integrity";
	}
	return "unknown";
}

/*
 * Tell net of a failed authentication worth the operator's attention: not
 * the first, credential-less try every client makes, nor a stale nonce
 * (the normal retry after ten minutes).
 */
static void
auth_event(struct turn_ctx *c, const struct ltc_result *res, int code, const char *why)
{
	struct turn_event ev = {
		.kind = TURN_EV_AUTH_FAILED, .ft = c->ft, .code = code, .why = why
	};
	struct turn_server *srv = c->srv;

	if (srv->io.event == NULL || res->why == LTC_NO_INTEGRITY || res->why == LTC_STALE_NONCE)
		return;
	if (res->username != NULL)
		turn_user_key(res, &ev.user, &ev.user_len);
	srv->io.event(srv->io.ctx, &ev);
}

/* Authenticate c->msg; on failure answer it. true when c->auth is set. */
static bool
authenticate(struct turn_ctx *c, struct ltc_result *res, const struct ltc_cred *cached)
{
	struct turn_server *srv = c->srv;
	struct ltc_tuple t = turn_nonce_tuple(c);
	int code = ltc_verify(c->ltc, c->msg, &t, c->now, srv->unix_s, cached, res);
	const char *why;

	/* res->user is NULL only for a USERHASH matched against the
	 * allocation's own: revoking a user ends its allocations, so there is
	 * nothing left here to refuse. */
	if (code == 0 && srv->set.revoked != NULL && res->user != NULL &&
	    turn_revoked(srv->set.revoked, res->user, res->user_len, res->cred->expiry)) {
		/* Minted before the user was revoked: as good as a wrong key. */
		turn_count(srv, ICE_M_TURN_AUTH_REVOKED);
		auth_event(c, res, 401, "revoked");
		turn_reply_challenge(c, 401);
		return false;
	}
	if (code == 0) {
		if (res->secret_index > 0)
			turn_count(srv, ICE_M_TURN_AUTH_OLD_SECRET);
		c->auth = res;
		return true;
	}
	why = count_auth_failure(srv, res->why);
	auth_event(c, res, code, why);
	if (code == 400)
		turn_reply_error(c, 400);
	else
		turn_reply_challenge(c, code);
	return false;
}

static void
request_allocate(struct turn_ctx *c)
{
	struct ltc_result res;
	struct turn_alloc *a;

	if (!authenticate(c, &res, NULL))
		return;
	a = turn_alloc_find(c->srv, c->ft, c->now);
	if (a != NULL) {
		/* RFC 8656 §7.2: a retransmission gets the same success again. */
		if (memcmp(a->alloc_tid, c->msg->tid, STUN_TID_LEN) == 0)
			turn_reply_allocate_success(c, a);
		else
			turn_reply_error(c, 437);
		return;
	}
	if (check_malformed(c) && check_unknown(c))
		turn_handle_allocate(c);
}

/*
 * Whether msg names the user that made allocation a: its USERNAME, or its
 * USERHASH (RFC 8489 §14.4) matched against the allocation's own, so a later
 * request needs no table lookup.
 */
static bool
same_user(const struct turn_server *srv, const struct stun_msg *msg, const struct turn_alloc *a)
{
	const struct stun_attr *un = stun_msg_find(msg, STUN_ATTR_USERNAME);
	const struct stun_attr *uh;

	if (un != NULL)
		return turn_hash_username(srv, un->value, un->len) == a->username_hash;
	uh = stun_msg_find(msg, STUN_ATTR_USERHASH);
	return uh != NULL && turn_userhash_tag(srv, uh->value) == a->userhash_tag;
}

void
turn_on_allocation(struct turn_ctx *c, struct turn_alloc *a, void (*fn)(struct turn_ctx *c))
{
	const struct ltc_cred *cached = NULL;
	struct ltc_config ltc = c->srv->ltc;
	struct ltc_result res;
	struct ltc_cred cred;

	c->a = a;
	/* Its own realm: a reload may have changed the server's since. */
	ltc.realm = a->realm->s;
	ltc.realm_len = a->realm->len;
	c->ltc = &ltc;
	if (same_user(c->srv, c->msg, a)) {
		turn_cred_load(&a->cred, &cred);
		cached = &cred;
	}
	if (!authenticate(c, &res, cached))
		goto out;
	if (cached == NULL) {
		/* Valid credentials, but not the ones that made the allocation. */
		turn_reply_error(c, 441);
		return;
	}
	if (check_malformed(c) && check_unknown(c))
		fn(c);
out:
	if (cached != NULL)
		explicit_bzero(&cred, sizeof(cred));
}

static void
method_on_allocation(struct turn_ctx *c)
{
	switch (c->msg->method) {
	case STUN_METHOD_REFRESH:
		if (c->moving)
			turn_mobility_move(c);
		turn_handle_refresh(c);
		break;
	case STUN_METHOD_CREATE_PERMISSION:
		turn_handle_create_permission(c);
		break;
	case STUN_METHOD_CHANNEL_BIND:
		/* No channels on an RFC 6062 allocation: its data is TCP. */
		if (c->a->tcp)
			turn_reply_error(c, 400);
		else
			turn_handle_channel_bind(c);
		break;
	case STUN_METHOD_CONNECT:
		turn_handle_connect(c);
		break;
	}
}

static void
request_on_allocation(struct turn_ctx *c)
{
	struct turn_alloc *a = turn_alloc_find(c->srv, c->ft, c->now);

	if (a == NULL) {
		/* A Refresh may name another 5-tuple's with a mobility ticket. */
		int code = c->msg->method == STUN_METHOD_REFRESH ? turn_mobility_lookup(c) : 437;

		if (code != 0) {
			turn_reply_error(c, code);
			return;
		}
		a = c->a;
	}
	turn_on_allocation(c, a, method_on_allocation);
}

static void
request_binding(struct turn_ctx *c)
{
	struct turn_reply r;

	if (!check_malformed(c) || !check_unknown(c))
		return;
	turn_reply_begin(c, &r, 0);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_MAPPED_ADDRESS, &c->ft->client);
	turn_reply_send(c, &r);
}

long
turn_handle_stun(struct turn_server *srv, const struct stun_msg *msg, const struct turn_5tuple *ft,
                 ice_ms_t now)
{
	return turn_handle_stun_verdict(srv, msg, ft, now, TURN_CQ_NONE);
}

long
turn_handle_stun_verdict(struct turn_server *srv, const struct stun_msg *msg,
                         const struct turn_5tuple *ft, ice_ms_t now, int verdict)
{
	struct turn_ctx c = {
		.srv = srv, .ltc = &srv->ltc, .msg = msg, .ft = ft, .now = now, .verdict = verdict
	};

	srv->now = now;
	if (msg->bad_attr != 0 && msg->cls != STUN_CLASS_REQUEST) {
		turn_count(srv, ICE_M_TURN_DROP_MALFORMED);
		return 0;
	}
	if (msg->cls == STUN_CLASS_INDICATION && msg->method == STUN_METHOD_SEND) {
		long wait = turn_handle_send(srv, msg, ft, now);

		/* A frame offered again after a wait counts once. */
		if (wait == 0)
			turn_count(srv, ICE_M_TURN_REQ_SEND);
		return wait;
	}
	if (msg->cls != STUN_CLASS_REQUEST) {
		/* Binding indications (keepalives), responses, stray Data indications. */
		turn_count(srv, ICE_M_TURN_DROP_UNEXPECTED);
		return 0;
	}
	switch (msg->method) {
	case STUN_METHOD_BINDING:
		turn_count(srv, ICE_M_TURN_REQ_BINDING);
		request_binding(&c);
		break;
	case STUN_METHOD_ALLOCATE:
		turn_count(srv, ICE_M_TURN_REQ_ALLOCATE);
		request_allocate(&c);
		break;
	case STUN_METHOD_REFRESH:
		turn_count(srv, ICE_M_TURN_REQ_REFRESH);
		request_on_allocation(&c);
		break;
	case STUN_METHOD_CREATE_PERMISSION:
		turn_count(srv, ICE_M_TURN_REQ_CREATE_PERMISSION);
		request_on_allocation(&c);
		break;
	case STUN_METHOD_CHANNEL_BIND:
		turn_count(srv, ICE_M_TURN_REQ_CHANNEL_BIND);
		request_on_allocation(&c);
		break;
	case STUN_METHOD_CONNECT:
		turn_count(srv, ICE_M_TURN_REQ_CONNECT);
		request_on_allocation(&c);
		break;
	case STUN_METHOD_CONNECTION_BIND:
		turn_count(srv, ICE_M_TURN_REQ_CONNECTION_BIND);
		turn_handle_connection_bind(&c);
		break;
	default:
		turn_count(srv, ICE_M_TURN_REQ_OTHER);
		turn_reply_error(&c, 400);
		break;
	}
	return 0;
}

long
turn_handle_frame(struct turn_server *srv, const struct stun_frame *f, const struct turn_5tuple *ft,
                  ice_ms_t now)
{
	switch (f->kind) {
	case STUN_FRAME_STUN:
	case STUN_FRAME_BAD_ATTR: /* turn_handle_stun answers requests 400, drops the rest */
		return turn_handle_stun(srv, &f->msg, ft, now);
	case STUN_FRAME_CHANNELDATA:
		return turn_handle_channeldata(srv, ft, f->channel, f->data, f->data_len, now);
	default:
		turn_count(srv, ICE_M_TURN_DROP_MALFORMED);
		return 0;
	}
}
