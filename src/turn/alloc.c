/*
 * Allocate and Refresh (RFC 8656 §7, RFC 6156 for families, §7.2 for
 * EVEN-PORT and RESERVATION-TOKEN). Attribute checks run in the RFC's order
 * and answer with its codes; quotas are taken before any socket is opened and
 * given back (rate timestamp included) if the Allocate fails afterwards.
 *
 * Lifetime: max(default, min(requested, 3600 s)), default = the configured
 * allocation-lifetime (RFC 8656 §7.2 and §7.3: a client can ask for more, not
 * for less; Refresh with LIFETIME 0 deletes).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "icestation/log.h"

#include "turn_int.h"

/*
 * XOR-RELAYED-ADDRESS: the relay's port on the public IP when that is of the
 * relay's family and outside relay-ip-range (a 1:1 NAT in front of the relay
 * address; net then binds relays on one address of that family, so the
 * advertised ports stay distinct). A public IP inside relay-ip-range means
 * the relay addresses are reachable as they are: each relay is advertised as
 * its own address, so several relay addresses can share a port number.
 */
static void
advertised(const struct turn_server *srv, const struct turn_relay *r, struct ice_addr *out)
{
	const struct turn_settings *s = &srv->set;
	const struct ice_addr *pub = r->addr.family == AF_INET6 ? &s->public_v6 : &s->public_v4;
	size_t i;

	*out = r->addr;
	if (pub->family != r->addr.family)
		return;
	for (i = 0; i < s->n_relay_ip_range; i++)
		if (ice_cidr_contains(&s->relay_ip_range[i], pub))
			return;
	memcpy(out->ip, pub->ip, sizeof(out->ip));
}

void
turn_reply_allocate_success(struct turn_ctx *c, struct turn_alloc *a)
{
	struct turn_reply r;
	struct ice_addr adv;

	turn_reply_begin(c, &r, 0);
	for (int i = 0; i < 2; i++) {
		if (a->relay[i].handle < 0)
			continue;
		advertised(c->srv, &a->relay[i], &adv);
		stun_build_xor_addr(&r.b, STUN_ATTR_XOR_RELAYED_ADDRESS, &adv);
	}
	if (a->addr_err_code != 0)
		stun_build_address_error(&r.b, AF_INET6, a->addr_err_code, NULL);
	stun_build_u32(&r.b, STUN_ATTR_LIFETIME, a->lifetime_s);
	if (a->token != 0)
		stun_build_u64(&r.b, STUN_ATTR_RESERVATION_TOKEN, a->token);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_MAPPED_ADDRESS, &c->ft->client);
	turn_mobility_ticket(c, a, &r.b);
	turn_reply_send(c, &r);
}

/*
 * The lifetime a request asks for, clamped: seconds, 0 when it asks for 0
 * (Refresh: delete), -1 when LIFETIME is malformed.
 */
static int64_t
lifetime_of(const struct turn_ctx *c)
{
	const struct stun_attr *at = stun_msg_find(c->msg, STUN_ATTR_LIFETIME);
	uint32_t v;

	if (at == NULL)
		return c->srv->default_lifetime_s;
	if (stun_attr_u32(at, &v) < 0)
		return -1;
	if (v == 0)
		return 0;
	v = ICE_MIN(v, c->srv->max_lifetime_s);
	return ICE_MAX(v, c->srv->default_lifetime_s);
}

/* What the Allocate asks for, once the attributes check out. */
struct alloc_args {
	struct turn_relay_req req;
	int add_family; /* ADDITIONAL-ADDRESS-FAMILY: AF_INET6, or 0 */
	uint64_t token; /* RESERVATION-TOKEN, or 0 */
	uint32_t lifetime_s;
	bool mobile; /* asked for a MOBILITY-TICKET */
	bool tcp;    /* REQUESTED-TRANSPORT TCP: RFC 6062 relays */
};

/* RFC 8656 §7.2 steps 3-9. Returns 0, or the error code to answer. */
static int
parse_allocate(struct turn_ctx *c, struct alloc_args *x)
{
	const struct stun_msg *m = c->msg;
	const struct stun_attr *rt = stun_msg_find(m, STUN_ATTR_REQUESTED_TRANSPORT);
	const struct stun_attr *tok = stun_msg_find(m, STUN_ATTR_RESERVATION_TOKEN);
	const struct stun_attr *even = stun_msg_find(m, STUN_ATTR_EVEN_PORT);
	const struct stun_attr *raf = stun_msg_find(m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY);
	const struct stun_attr *aaf = stun_msg_find(m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY);
	int64_t lt;
	uint8_t proto;
	int rc, fam;

	memset(x, 0, sizeof(*x));
	/* A dual allocation as coturn's clients ask for it: the draft number. */
	if (aaf == NULL)
		aaf = stun_msg_find(m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT);
	/* No REQUESTED-ADDRESS-FAMILY (every browser): the family the client
	 * came over, as coturn and pion do, when relays of it exist; else
	 * IPv4, RFC 8656's default. */
	x->req.family =
		c->ft->client.family == AF_INET6 && c->srv->set.relay_v6 ? AF_INET6 : AF_INET;
	x->req.adopt = -1;
	if (rt == NULL || stun_attr_requested_transport(rt, &proto) < 0)
		return 400;
	if (proto == 6) {
		rc = turn_tcp_allocate_check(c); /* RFC 6062 */
		if (rc != 0)
			return rc;
		x->tcp = true;
	} else if (proto != 17) {
		return 442;
	}
	x->req.dont_fragment = stun_msg_find(m, STUN_ATTR_DONT_FRAGMENT) != NULL;
	if (tok != NULL) {
		if (even != NULL || raf != NULL || aaf != NULL)
			return 400;
		if (stun_attr_u64(tok, &x->token) < 0 || x->token == 0)
			return 400;
	}
	if (raf != NULL && aaf != NULL)
		return 400;
	if (raf != NULL) {
		rc = stun_attr_address_family(raf, &fam);
		if (rc == -EAFNOSUPPORT)
			return 440;
		if (rc < 0)
			return 400;
		x->req.family = fam;
	}
	if (x->token == 0 &&
	    !(x->req.family == AF_INET ? c->srv->set.relay_v4 : c->srv->set.relay_v6))
		return 440;
	if (even != NULL) {
		bool r;

		if (stun_attr_even_port(even, &r) < 0)
			return 400;
		if (r && aaf != NULL)
			return 400;
		x->req.even_port = true;
		x->req.reserve_next = r;
	}
	if (aaf != NULL) {
		rc = stun_attr_address_family(aaf, &fam);
		if (rc == -EAFNOSUPPORT)
			return 440;
		if (rc < 0 || fam == AF_INET)
			return 400;
		x->add_family = AF_INET6;
		x->req.family = AF_INET; /* a dual allocation is IPv4 plus IPv6 */
	}
	lt = lifetime_of(c);
	if (lt < 0)
		return 400;
	x->lifetime_s = lt == 0 ? c->srv->default_lifetime_s : (uint32_t)lt;
	rc = turn_mobility_asked(c);
	if (rc > 1)
		return rc;
	x->mobile = rc == 1;
	return 0;
}

/* relay_open's failure as an answer. */
static int
open_error(struct turn_server *srv, int rc)
{
	switch (rc) {
	case -EAFNOSUPPORT:
		return 440;
	case -EADDRINUSE:
	case -ENOSPC:
	case -EMFILE:
	case -ENFILE:
		turn_count(srv, ICE_M_TURN_QUOTA_PORTS);
		return 508;
	default:
		return 500;
	}
}

/* Tell net why an Allocate was refused (the operator's log). */
static void
refused(struct turn_ctx *c, int code, const char *why)
{
	struct turn_event ev = { .kind = TURN_EV_REFUSED, .ft = c->ft, .code = code, .why = why };

	if (c->srv->io.event == NULL)
		return;
	turn_user_key(c->auth, &ev.user, &ev.user_len);
	c->srv->io.event(c->srv->io.ctx, &ev);
}

enum {
	ANON_KEY_MAX = sizeof("anon:") + ICE_ADDR_STRLEN + sizeof("/64"),
};

/*
 * The quota key of an anonymous REST username ("<expiry>:"): "anon:" and the
 * client's IPv4 address or IPv6 /64 ("anon:2001:db8:1:2::/64"), text like
 * every other user key, and no DID. Every fetch mints a new anonymous
 * username, so keyed by it each fetch was a fresh quota; keyed by the
 * address, one client shares one. Returns the length.
 */
static size_t
anon_key(const struct ice_addr *client, char key[ANON_KEY_MAX])
{
	struct ice_addr a = *client;
	char ip[ICE_ADDR_STRLEN];
	int n;

	if (a.family == AF_INET6)
		memset(a.ip + 8, 0, 8);
	ice_addr_ip_str(&a, ip, sizeof(ip));
	n = snprintf(key, ANON_KEY_MAX, a.family == AF_INET6 ? "anon:%s/64" : "anon:%s", ip);
	return n > 0 && n < ANON_KEY_MAX ? (size_t)n : 0;
}

/* Quotas, keyed by the user key (turn_user_key), or the client address when
 * anonymous. 0 or 486. */
static int
take_quota(struct turn_ctx *c, struct turn_user **user)
{
	const char *name, *why;
	char anon[ANON_KEY_MAX];
	size_t len;

	turn_user_key(c->auth, &name, &len);
	if (c->auth->user_len == 0) {
		len = anon_key(&c->ft->client, anon);
		name = anon;
	}
	switch (turn_shared_acquire(c->srv->sh, name, len, c->now, user)) {
	case TURN_QUOTA_OK:
		return 0;
	case TURN_QUOTA_TOTAL:
		turn_count(c->srv, ICE_M_TURN_QUOTA_TOTAL);
		why = "max_allocations";
		break;
	case TURN_QUOTA_USER:
		turn_count(c->srv, ICE_M_TURN_QUOTA_USER);
		why = "per_user";
		break;
	default:
		turn_count(c->srv, ICE_M_TURN_QUOTA_USER_RATE);
		why = "per_user_rate";
		break;
	}
	refused(c, 486, why);
	return 486;
}

/*
 * A draining server takes no new allocation: 300 Try Alternate with
 * ALTERNATE-SERVER when one is configured (RFC 8489 §10, signed like any
 * answer to an authenticated request), else 486 saying why. True when the
 * request was answered.
 */
static bool
refuse_draining(struct turn_ctx *c)
{
	const struct turn_settings *s = &c->srv->set;
	struct turn_reply r;

	if (!s->draining)
		return false;
	turn_count(c->srv, ICE_M_TURN_QUOTA_DRAINING);
	if (s->alternate_server.family != 0) {
		turn_reply_begin(c, &r, 300);
		stun_build_addr(&r.b, STUN_ATTR_ALTERNATE_SERVER, &s->alternate_server);
		turn_reply_send(c, &r);
		refused(c, 300, "draining");
		return true;
	}
	turn_reply_error_reason(c, 486, "Allocation Quota Reached: server draining");
	refused(c, 486, "draining");
	return true;
}

/* One relay socket: UDP, or a TCP listener for an RFC 6062 allocation. */
static int
open_one(struct turn_server *srv, const struct alloc_args *x, const struct turn_relay_req *req,
         struct turn_relay_res *res)
{
	if (x->tcp)
		return srv->io.tcp_relay_open(srv->io.ctx, req, res);
	return srv->io.relay_open(srv->io.ctx, req, res);
}

/* Open the relay socket(s) of a; 0 or the code to answer (a is then aborted by the caller). */
static int
open_relays(struct turn_ctx *c, struct turn_alloc *a, struct alloc_args *x)
{
	struct turn_server *srv = c->srv;
	struct turn_relay_res res = { .handle = -1, .reserved_handle = -1 };
	struct turn_relay_req req2;
	struct ice_addr next;
	int rc;

	rc = open_one(srv, x, &x->req, &res);
	if (rc < 0) {
		if (x->req.adopt >= 0)
			srv->io.relay_close(srv->io.ctx, x->req.adopt);
		return open_error(srv, rc);
	}
	a->relay[0].handle = res.handle;
	a->relay[0].addr = res.bound;
	if (x->req.reserve_next) {
		if (res.reserved_handle < 0)
			return 508;
		next = res.bound;
		next.port++;
		a->token = turn_shared_reserve(srv->sh, res.reserved_handle, &next, c->now);
		if (a->token == 0) {
			srv->io.relay_close(srv->io.ctx, res.reserved_handle);
			return 508;
		}
	}
	if (x->add_family == 0)
		return 0;
	/* Dual allocation: the IPv6 half may fail alone (ADDRESS-ERROR-CODE). */
	if (!srv->set.relay_v6) {
		a->addr_err_code = 440;
		return 0;
	}
	memset(&req2, 0, sizeof(req2));
	req2.family = AF_INET6;
	req2.dont_fragment = x->req.dont_fragment;
	req2.adopt = -1;
	res.handle = -1;
	res.reserved_handle = -1;
	rc = open_one(srv, x, &req2, &res);
	if (rc < 0) {
		a->addr_err_code = (uint16_t)open_error(srv, rc);
		return 0;
	}
	a->relay[1].handle = res.handle;
	a->relay[1].addr = res.bound;
	return 0;
}

/*
 * The cluster-wide per-user quota, once the local count admitted c (user is
 * its local entry). Returns 0 to go on (*held: the cluster counts it until
 * quota_release), 486 to refuse, or -1 when the request now waits for the
 * cluster (nothing is answered; the local count is given back and taken
 * again when the answer comes, turn_quota_answer).
 */
static int
cluster_quota(struct turn_ctx *c, struct turn_user *user, bool *held)
{
	struct turn_server *srv = c->srv;
	int v = c->verdict;
	const char *name;
	size_t len;

	*held = false;
	if (!srv->set.cluster_quota || srv->io.quota_ask == NULL)
		return 0;
	turn_user_key(c->auth, &name, &len);
	if (v == TURN_CQ_NONE) {
		if (turn_pending_park(srv, c, name, len) == 0) {
			turn_shared_release(srv->sh, user, true);
			return -1;
		}
		turn_count(srv, ICE_M_TURN_CLUSTER_LOCAL);
		v = TURN_CQ_LOCAL;
	}
	if (v == TURN_CQ_OVER_USER || v == TURN_CQ_OVER_RATE) {
		turn_count(srv, ICE_M_TURN_CLUSTER_OVER);
		turn_count(srv, v == TURN_CQ_OVER_USER ? ICE_M_TURN_QUOTA_USER
		                                       : ICE_M_TURN_QUOTA_USER_RATE);
		refused(c, 486,
		        v == TURN_CQ_OVER_USER ? "cluster_per_user" : "cluster_per_user_rate");
		return 486;
	}
	*held = v == TURN_CQ_OK || v == TURN_CQ_DEGRADED;
	return 0;
}

/* Give back what the cluster holds for a request that will not allocate. */
static void
cluster_release(struct turn_ctx *c, bool held)
{
	const char *name;
	size_t len;

	if (!held)
		return;
	turn_user_key(c->auth, &name, &len);
	c->srv->io.quota_release(c->srv->io.ctx, name, len);
}

/* Relay capacity full, or the user's daily budget spent: 486 saying which. */
static bool
refuse_bandwidth(struct turn_ctx *c)
{
	const char *name, *why;
	size_t len;

	turn_user_key(c->auth, &name, &len);
	why = turn_bw_refuse(c->srv, name, len);
	if (why == NULL)
		return false;
	turn_reply_error_reason(c, 486, why);
	refused(c, 486, strstr(why, "budget") ? "daily_budget" : "bps_capacity");
	return true;
}

/* Make a visible: indexes, its user, its expiry, the stream's hold. */
static void
alloc_publish(struct turn_ctx *c, struct turn_alloc *a)
{
	struct turn_server *srv = c->srv;

	turn_alloc_index(srv, a);
	for (int i = 0; i < 2; i++)
		if (a->relay[i].handle >= 0)
			turn_alloc_index_relay(srv, &a->relay[i]);
	turn_alloc_set_expiry(srv, a, c->now + (ice_ms_t)a->lifetime_s * 1000);
	if (a->ft.proto != TURN_PROTO_UDP && srv->io.link_hold != NULL)
		srv->io.link_hold(srv->io.ctx, a->ft.link, +1);
}

/*
 * The tag later requests that carry USERHASH are matched by (dispatch.c):
 * SipHash of the USERHASH the Allocate sent, or of the one its USERNAME has
 * when userhash is on (one SHA-256, only then). 0 when neither.
 */
static uint64_t
userhash_tag(const struct turn_ctx *c)
{
	const struct turn_server *srv = c->srv;
	uint8_t h[LTC_USERHASH_LEN];

	if (c->auth->userhash != NULL)
		return turn_userhash_tag(srv, c->auth->userhash);
	if (srv->ltc.userhash == NULL ||
	    ltc_userhash_compute((const char *)c->auth->username, c->auth->username_len,
	                         srv->ltc.realm, srv->ltc.realm_len, h) < 0)
		return 0;
	return turn_userhash_tag(srv, h);
}

void
turn_handle_allocate(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	struct turn_user *user = NULL;
	struct turn_alloc *a;
	struct alloc_args x;
	struct ice_addr resv_addr;
	const char *name;
	size_t name_len;
	bool held;
	int code;

	if (refuse_draining(c) || refuse_bandwidth(c))
		return;
	code = parse_allocate(c, &x);
	if (code == 0)
		code = take_quota(c, &user);
	if (code != 0) {
		turn_reply_error(c, code);
		return;
	}
	code = cluster_quota(c, user, &held);
	if (code < 0)
		return; /* waits for the cluster: answered then */
	if (code == 0 && x.token != 0) {
		if (turn_shared_take_reservation(srv->sh, x.token, c->now, &x.req.adopt,
		                                 &resv_addr) < 0)
			code = 508;
		else
			x.req.family = resv_addr.family;
	}
	if (code != 0) {
		turn_shared_release(srv->sh, user, true);
		cluster_release(c, held);
		turn_reply_error(c, code);
		return;
	}
	a = ice_pool_get(srv->alloc_pool);
	turn_user_key(c->auth, &name, &name_len);
	if (a == NULL || turn_wuser_attach(srv, a, name, name_len) < 0) {
		if (a != NULL)
			ice_pool_put(srv->alloc_pool, a);
		if (x.req.adopt >= 0)
			srv->io.relay_close(srv->io.ctx, x.req.adopt);
		turn_shared_release(srv->sh, user, true);
		cluster_release(c, held);
		refused(c, 508, "max_allocations");
		turn_reply_error(c, 508);
		return;
	}
	a->relay[0].handle = a->relay[1].handle = -1;
	a->relay[0].alloc = a->relay[1].alloc = a;
	a->ft = *c->ft;
	a->user = user;
	a->id = srv->id_base | (++srv->alloc_seq & 0xffffffffffffull);
	a->realm = turn_realm_ref(srv->realm);
	a->created = c->now;
	a->created_unix_s = srv->unix_s;
	a->username_hash = turn_hash_username(srv, c->auth->username, c->auth->username_len);
	a->userhash_tag = userhash_tag(c);
	turn_cred_store(&a->cred, c->auth->cred);
	a->lifetime_s = x.lifetime_s;
	a->dont_fragment = x.req.dont_fragment;
	a->mobile = x.mobile;
	a->mob_seq = 0;
	if (a->mobile)
		turn_count(srv, ICE_M_TURN_MOBILITY_GRANTED);
	a->tcp = x.tcp;
	memcpy(a->alloc_tid, c->msg->tid, STUN_TID_LEN);
	turn_bw_alloc_init(srv, a, c->now);

	a->cluster_held = held;
	code = open_relays(c, a, &x);
	if (code != 0) {
		turn_alloc_free(srv, a, TURN_END_ABORTED); /* releases the cluster's hold */
		if (code == 508)
			refused(c, 508, "relay_ports");
		turn_reply_error(c, code);
		return;
	}
	alloc_publish(c, a);
	c->a = a;
	turn_reply_allocate_success(c, a);
	if (ice_log_level_cur >= ICE_LOG_DEBUG) {
		char cl[ICE_ADDR_STRLEN], rl[ICE_ADDR_STRLEN];

		log_debug("turn: allocation for %s over %s relays %s for %us",
		          ice_addr_str(&a->ft.client, cl, sizeof(cl)), turn_proto_str(a->ft.proto),
		          ice_addr_str(&a->relay[0].addr, rl, sizeof(rl)), a->lifetime_s);
	}
}

void
turn_handle_refresh(struct turn_ctx *c)
{
	struct turn_alloc *a = c->a;
	const struct stun_attr *raf = stun_msg_find(c->msg, STUN_ATTR_REQUESTED_ADDRESS_FAMILY);
	struct turn_reply r;
	int64_t lt;
	int fam;

	if (raf != NULL) {
		int rc = stun_attr_address_family(raf, &fam);

		if (rc < 0 && rc != -EAFNOSUPPORT) {
			turn_reply_error(c, 400);
			return;
		}
		/* RFC 8656 §7.3: asking about a family the allocation lacks is 443. */
		if (rc < 0 || turn_alloc_relay_for(a, fam) == NULL) {
			turn_reply_error(c, 443);
			return;
		}
	}
	lt = lifetime_of(c);
	if (lt < 0) {
		turn_reply_error(c, 400);
		return;
	}
	turn_reply_begin(c, &r, 0);
	stun_build_u32(&r.b, STUN_ATTR_LIFETIME, (uint32_t)lt);
	if (lt == 0) {
		/* Answer first: the reply is signed with the key the allocation holds. */
		turn_reply_send(c, &r);
		turn_alloc_free(c->srv, a, TURN_END_DELETED);
		c->a = NULL;
		return;
	}
	a->lifetime_s = (uint32_t)lt;
	turn_alloc_set_expiry(c->srv, a, c->now + (ice_ms_t)lt * 1000);
	turn_mobility_ticket(c, a, &r.b);
	turn_reply_send(c, &r);
}
