/*
 * Permissions and channel bindings (RFC 8656 §9, §12): the objects, their
 * indexes keyed by (allocation, peer) with SipHash, their timers, and the
 * CreatePermission and ChannelBind handlers.
 *
 * A channel pins the permission for its peer's IP (it keeps a pointer), so
 * the data paths never look the permission up again. A permission that
 * expires while pinned stays allocated, dead by its timestamp, until the
 * last channel lets go. An expired channel is kept 5 minutes more, unusable
 * for data, so that neither its number nor its peer can be rebound to
 * something else while stale packets may still be in flight (§12).
 */
#include <sys/socket.h>

#include <string.h>

#include "turn_int.h"

static uint64_t
peer_hash(const struct turn_server *srv, const struct turn_alloc *a, const struct ice_addr *peer,
          bool with_port)
{
	uint8_t k[sizeof(uintptr_t) + 3 + 16];
	uintptr_t ap = (uintptr_t)a;
	int n = ice_addr_iplen(peer);

	memcpy(k, &ap, sizeof(ap));
	k[sizeof(ap)] = peer->family;
	k[sizeof(ap) + 1] = with_port ? (uint8_t)(peer->port >> 8) : 0;
	k[sizeof(ap) + 2] = with_port ? (uint8_t)peer->port : 0;
	memcpy(k + sizeof(ap) + 3, peer->ip, (size_t)n);
	return ice_siphash(&srv->hkey, k, sizeof(ap) + 3 + (size_t)n);
}

static uint64_t
num_hash(const struct turn_server *srv, const struct turn_alloc *a, uint16_t number)
{
	uint8_t k[sizeof(uintptr_t) + 2];
	uintptr_t ap = (uintptr_t)a;

	memcpy(k, &ap, sizeof(ap));
	k[sizeof(ap)] = (uint8_t)(number >> 8);
	k[sizeof(ap) + 1] = (uint8_t)number;
	return ice_siphash(&srv->hkey, k, sizeof(k));
}

struct turn_perm *
turn_perm_find(struct turn_server *srv, struct turn_alloc *a, const struct ice_addr *peer)
{
	uint64_t h = peer_hash(srv, a, peer, false);

	for (struct htab_node *n = htab_first(&srv->perms, h); n != NULL; n = n->next) {
		struct turn_perm *p = TURN_CONTAINER(n, struct turn_perm, node);

		if (n->hash == h && p->alloc == a && ice_addr_ip_equal(&p->ip, peer))
			return p;
	}
	return NULL;
}

struct turn_chan *
turn_chan_find_num(struct turn_server *srv, struct turn_alloc *a, uint16_t number)
{
	uint64_t h = num_hash(srv, a, number);

	for (struct htab_node *n = htab_first(&srv->chan_num, h); n != NULL; n = n->next) {
		struct turn_chan *c = TURN_CONTAINER(n, struct turn_chan, by_num);

		if (n->hash == h && c->alloc == a && c->number == number)
			return c;
	}
	return NULL;
}

struct turn_chan *
turn_chan_find_peer(struct turn_server *srv, struct turn_alloc *a, const struct ice_addr *peer)
{
	uint64_t h = peer_hash(srv, a, peer, true);

	for (struct htab_node *n = htab_first(&srv->chan_peer, h); n != NULL; n = n->next) {
		struct turn_chan *c = TURN_CONTAINER(n, struct turn_chan, by_peer);

		if (n->hash == h && c->alloc == a && ice_addr_equal(&c->peer, peer))
			return c;
	}
	return NULL;
}

/* ---- permission objects ---- */

void
turn_perm_free(struct turn_server *srv, struct turn_perm *p)
{
	htab_remove(&srv->perms, &p->node);
	timerwheel_del(&srv->perm_timers, &p->timer);
	*p->pprev = p->next;
	if (p->next != NULL)
		p->next->pprev = p->pprev;
	p->alloc->n_perms--;
	ice_metrics_dec(srv->m, ICE_M_TURN_PERMISSIONS);
	ice_pool_put(srv->perm_pool, p);
}

void
turn_perm_release(struct turn_server *srv, struct turn_perm *p)
{
	/* Unarmed means its timer fired while pinned: it is dead, free it now. */
	if (--p->n_chans == 0 && !timerwheel_node_is_armed(&p->timer))
		turn_perm_free(srv, p);
}

static void
perm_refresh(struct turn_server *srv, struct turn_perm *p, ice_ms_t now)
{
	p->expires = now + (ice_ms_t)TURN_PERMISSION_LIFETIME_S * 1000;
	if (!timerwheel_node_is_armed(&p->timer) || p->expires < p->timer.deadline)
		timerwheel_add(&srv->perm_timers, &p->timer, p->expires);
}

/* Link a fresh pool object p as the permission of a for peer's IP. */
static void
perm_install(struct turn_server *srv, struct turn_alloc *a, struct turn_perm *p,
             const struct ice_addr *peer, bool self)
{
	p->alloc = a;
	p->ip = *peer;
	p->ip.port = 0;
	p->self = self;
	p->next = a->perms;
	if (p->next != NULL)
		p->next->pprev = &p->next;
	a->perms = p;
	p->pprev = &a->perms;
	a->n_perms++;
	htab_insert(&srv->perms, &p->node, peer_hash(srv, a, peer, false));
	ice_metrics_inc(srv->m, ICE_M_TURN_PERMISSIONS);
}

void
turn_perm_timer_fired(void *ctx, struct timerwheel_node *n)
{
	struct turn_server *srv = ctx;
	struct turn_perm *p = TURN_CONTAINER(n, struct turn_perm, timer);

	if (p->expires > n->deadline)
		timerwheel_add(&srv->perm_timers, &p->timer, p->expires);
	else if (p->n_chans == 0)
		turn_perm_free(srv, p);
	/* else: pinned by a channel; freed when the last one lets go. */
}

/* ---- channel objects ---- */

void
turn_chan_free(struct turn_server *srv, struct turn_chan *c)
{
	htab_remove(&srv->chan_num, &c->by_num);
	htab_remove(&srv->chan_peer, &c->by_peer);
	timerwheel_del(&srv->chan_timers, &c->timer);
	*c->pprev = c->next;
	if (c->next != NULL)
		c->next->pprev = c->pprev;
	c->alloc->n_chans--;
	turn_perm_release(srv, c->perm);
	ice_metrics_dec(srv->m, ICE_M_TURN_CHANNELS);
	ice_pool_put(srv->chan_pool, c);
}

void
turn_chan_timer_fired(void *ctx, struct timerwheel_node *n)
{
	struct turn_server *srv = ctx;
	struct turn_chan *c = TURN_CONTAINER(n, struct turn_chan, timer);
	ice_ms_t quarantine_end = c->expires + (ice_ms_t)TURN_CHANNEL_QUARANTINE_S * 1000;

	if (c->bound && c->expires > n->deadline) {
		timerwheel_add(&srv->chan_timers, &c->timer, c->expires);
	} else if (c->bound) {
		c->bound = false;
		timerwheel_add(&srv->chan_timers, &c->timer, quarantine_end);
	} else if (quarantine_end > n->deadline) {
		timerwheel_add(&srv->chan_timers, &c->timer, quarantine_end);
	} else {
		turn_chan_free(srv, c);
	}
}

/* ---- shared checks ---- */

int
turn_check_peer(struct turn_ctx *c, const struct stun_attr *at, struct ice_addr *peer, bool *self)
{
	enum turn_deny why;

	if (stun_attr_xor_addr(c->msg, at, peer) < 0)
		return 400;
	why = turn_policy_check(&c->srv->policy, peer, self);
	if (why != TURN_DENY_NONE) {
		struct turn_event ev = { .kind = TURN_EV_PEER_DENIED,
			                 .ft = c->ft,
			                 .code = 403,
			                 .why = turn_deny_str(why),
			                 .peer = peer };

		turn_count_deny(c->srv, why);
		if (c->srv->io.event != NULL) {
			turn_user_key(c->auth, &ev.user, &ev.user_len);
			c->srv->io.event(c->srv->io.ctx, &ev);
		}
		return 403;
	}
	if (turn_alloc_relay_for(c->a, peer->family) == NULL)
		return 443;
	return 0;
}

/* ---- CreatePermission ---- */

void
turn_handle_create_permission(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	struct turn_alloc *a = c->a;
	struct ice_addr peers[STUN_MAX_ATTRS];
	bool selfs[STUN_MAX_ATTRS], fresh[STUN_MAX_ATTRS];
	struct turn_perm *objs[STUN_MAX_ATTRS];
	const struct stun_attr *at;
	size_t n = 0, n_new = 0, got = 0;
	struct turn_reply r;

	/* All-or-nothing (RFC 8656 §10.2): judge every address before touching any. */
	stun_attr_foreach(c->msg, at) {
		int code;

		if (at->type != STUN_ATTR_XOR_PEER_ADDRESS)
			continue;
		code = turn_check_peer(c, at, &peers[n], &selfs[n]);
		if (code != 0) {
			turn_reply_error(c, code);
			return;
		}
		fresh[n] = turn_perm_find(srv, a, &peers[n]) == NULL;
		for (size_t j = 0; fresh[n] && j < n; j++)
			if (ice_addr_ip_equal(&peers[j], &peers[n]))
				fresh[n] = false; /* listed twice */
		n_new += fresh[n];
		n++;
	}
	if (n == 0) {
		turn_reply_error(c, 400);
		return;
	}
	if (a->n_perms + n_new > TURN_MAX_PERMISSIONS) {
		turn_count(srv, ICE_M_TURN_QUOTA_PERMISSIONS);
		turn_reply_error(c, 508);
		return;
	}
	for (; got < n_new; got++) {
		objs[got] = ice_pool_get(srv->perm_pool);
		if (objs[got] == NULL)
			break;
	}
	if (got < n_new) {
		while (got > 0)
			ice_pool_put(srv->perm_pool, objs[--got]);
		turn_reply_error(c, 508);
		return;
	}
	for (size_t i = 0, k = 0; i < n; i++) {
		struct turn_perm *p = turn_perm_find(srv, a, &peers[i]);

		if (p == NULL) {
			p = objs[k++];
			perm_install(srv, a, p, &peers[i], selfs[i]);
		}
		perm_refresh(srv, p, c->now);
	}
	turn_reply_begin(c, &r, 0);
	turn_reply_send(c, &r);
}

/* ---- ChannelBind ---- */

/* Validate a ChannelBind; 0 with *number and *peer filled, or the code to answer. */
static int
bind_args(struct turn_ctx *c, uint16_t *number, struct ice_addr *peer, bool *self)
{
	const struct stun_attr *ch = stun_msg_find(c->msg, STUN_ATTR_CHANNEL_NUMBER);
	const struct stun_attr *pa = stun_msg_find(c->msg, STUN_ATTR_XOR_PEER_ADDRESS);
	int code;

	if (ch == NULL || pa == NULL || stun_attr_channel(ch, number) < 0)
		return 400;
	if (*number < CHANNEL_MIN || *number > TURN_CHANNEL_MAX)
		return 400;
	code = turn_check_peer(c, pa, peer, self);
	if (code != 0)
		return code;
	if (peer->port == 0)
		return 400;
	return 0;
}

/* A new channel (and, if needed, its permission). NULL when out of room (508). */
static struct turn_chan *
chan_create(struct turn_server *srv, struct turn_alloc *a, uint16_t number,
            const struct ice_addr *peer, bool self)
{
	struct turn_perm *p = turn_perm_find(srv, a, peer);
	struct turn_chan *ch;

	if (a->n_chans >= TURN_MAX_CHANNELS) {
		turn_count(srv, ICE_M_TURN_QUOTA_CHANNELS);
		return NULL;
	}
	if (p == NULL && a->n_perms >= TURN_MAX_PERMISSIONS) {
		turn_count(srv, ICE_M_TURN_QUOTA_PERMISSIONS);
		return NULL;
	}
	ch = ice_pool_get(srv->chan_pool);
	if (ch == NULL)
		return NULL;
	if (p == NULL) {
		p = ice_pool_get(srv->perm_pool);
		if (p == NULL) {
			ice_pool_put(srv->chan_pool, ch);
			return NULL;
		}
		perm_install(srv, a, p, peer, self);
	}
	p->n_chans++;
	ch->alloc = a;
	ch->perm = p;
	ch->peer = *peer;
	ch->number = number;
	ch->next = a->chans;
	if (ch->next != NULL)
		ch->next->pprev = &ch->next;
	a->chans = ch;
	ch->pprev = &a->chans;
	a->n_chans++;
	htab_insert(&srv->chan_num, &ch->by_num, num_hash(srv, a, number));
	htab_insert(&srv->chan_peer, &ch->by_peer, peer_hash(srv, a, peer, true));
	ice_metrics_inc(srv->m, ICE_M_TURN_CHANNELS);
	return ch;
}

void
turn_handle_channel_bind(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	struct turn_alloc *a = c->a;
	struct turn_chan *by_num, *by_peer;
	struct ice_addr peer;
	uint16_t number;
	bool self;
	struct turn_reply r;
	int code = bind_args(c, &number, &peer, &self);

	if (code != 0) {
		turn_reply_error(c, code);
		return;
	}
	/* RFC 8656 §11.2: the number must not be bound to another peer, nor the
	 * peer to another number (quarantined bindings included). */
	by_num = turn_chan_find_num(srv, a, number);
	by_peer = turn_chan_find_peer(srv, a, &peer);
	if ((by_num != NULL && by_num != by_peer) || (by_peer != NULL && by_peer != by_num)) {
		turn_reply_error(c, 400);
		return;
	}
	if (by_num == NULL) {
		by_num = chan_create(srv, a, number, &peer, self);
		if (by_num == NULL) {
			turn_reply_error(c, 508);
			return;
		}
	}
	by_num->bound = true;
	by_num->expires = c->now + (ice_ms_t)TURN_CHANNEL_LIFETIME_S * 1000;
	if (!timerwheel_node_is_armed(&by_num->timer) || by_num->expires < by_num->timer.deadline)
		timerwheel_add(&srv->chan_timers, &by_num->timer, by_num->expires);
	/* A binding installs or refreshes the permission too (§11.2). */
	perm_refresh(srv, by_num->perm, c->now);
	turn_reply_begin(c, &r, 0);
	turn_reply_send(c, &r);
}
