/*
 * The control side of a worker's state machine: what the main thread asks
 * for through the worker's mailbox (net), applied between batches. A
 * reload's new settings, closing a revoked user's allocations or one
 * allocation by id, and the listing the admin API shows. These walk the
 * worker's allocations (O(allocations)), which is fine for an operator's
 * action and never happens on the packet path.
 */
#include <errno.h>
#include <string.h>

#include "turn_int.h"

/* Call fn on every allocation of srv; fn may free the one it is given. */
static void
for_each_alloc(struct turn_server *srv,
               void (*fn)(struct turn_server *, struct turn_alloc *, void *), void *arg)
{
	struct htab_node *n, *next;
	size_t min = srv->by_ft.min;

	/* No shrinking while we walk: a freed allocation must not move the
	 * buckets under us. The next remove shrinks as usual. */
	srv->by_ft.min = SIZE_MAX;
	for (size_t i = 0; i <= srv->by_ft.mask; i++)
		for (n = srv->by_ft.b[i]; n != NULL; n = next) {
			next = n->next;
			fn(srv, TURN_CONTAINER(n, struct turn_alloc, by_ft), arg);
		}
	srv->by_ft.min = min;
}

/* Whether the current policy still allows peer (a channel's peer, or a
 * permission's IP with the port that made it acceptable). */
static bool
peer_allowed(struct turn_server *srv, const struct ice_addr *peer, bool *self)
{
	*self = false;
	return turn_policy_check(&srv->policy, peer, self) == TURN_DENY_NONE;
}

static void
recheck_alloc(struct turn_server *srv, struct turn_alloc *a, void *arg)
{
	size_t *removed = arg;
	struct turn_tconn *t, *tnext;
	struct turn_chan *c, *cnext;
	struct turn_perm *p, *pnext;
	struct ice_addr ip;
	bool self, armed;

	/* RFC 6062 data connections to a peer now denied are closed (a
	 * Connect still under way is answered 403). */
	for (t = a->tconns; t != NULL; t = tnext) {
		tnext = t->next;
		if (peer_allowed(srv, &t->peer, &self))
			continue;
		if (t->state == TURN_TC_CONNECTING)
			turn_tconn_answer(srv, t, 403, srv->now);
		turn_tconn_free(srv, t, true);
		(*removed)++;
	}

	for (c = a->chans; c != NULL; c = cnext) {
		cnext = c->next;
		if (!peer_allowed(srv, &c->peer, &self)) {
			turn_chan_free(srv, c);
			(*removed)++;
		}
	}
	for (p = a->perms; p != NULL; p = pnext) {
		pnext = p->next;
		ip = p->ip;
		/* A permission to our own address was granted for a relay port;
		 * any relay port stands for it. */
		ip.port = p->self ? srv->policy.relay_port_min : 0;
		if (peer_allowed(srv, &ip, &self)) {
			p->self = self;
			continue;
		}
		/* Channels on a denied IP went above unless the address is ours
		 * and only the ports differ; they go with their permission. Only
		 * p can be freed by these (an expired, pinned permission goes
		 * with its last channel), so pnext stays valid. */
		armed = timerwheel_node_is_armed(&p->timer);
		for (c = a->chans; c != NULL; c = cnext) {
			cnext = c->next;
			if (c->perm == p) {
				turn_chan_free(srv, c);
				(*removed)++;
			}
		}
		if (armed)
			turn_perm_free(srv, p);
		(*removed)++;
	}
}

size_t
turn_server_reconfigure(struct turn_server *srv, const struct turn_settings *s, ice_ms_t now)
{
	size_t removed = 0;

	srv->now = now;
	turn_settings_apply(srv, s);
	for_each_alloc(srv, recheck_alloc, &removed);
	ice_metrics_add(srv->m, ICE_M_TURN_POLICY_REMOVED, removed);
	return removed;
}

size_t
turn_server_close_user(struct turn_server *srv, const char *user, size_t len, ice_ms_t now)
{
	struct turn_wuser *u;
	size_t n = 0;

	srv->now = now;
	/* The entry goes with its last allocation: look it up each time. */
	while ((u = turn_wuser_find(srv, user, len)) != NULL) {
		turn_alloc_free(srv, u->allocs, TURN_END_REVOKED);
		n++;
	}
	return n;
}

int
turn_server_close_alloc(struct turn_server *srv, uint64_t id, ice_ms_t now)
{
	struct turn_alloc *a = turn_alloc_find_id(srv, id);

	srv->now = now;
	if (a == NULL)
		return -ENOENT;
	turn_alloc_free(srv, a, TURN_END_KILLED);
	return 0;
}

static void
fill_info(const struct turn_server *srv, const struct turn_alloc *a, struct turn_alloc_info *o,
          ice_ms_t now)
{
	size_t n = 0;

	memset(o, 0, sizeof(*o));
	o->id = a->id;
	if (a->wuser != NULL) {
		n = ICE_MIN((size_t)a->wuser->name_len, (size_t)TURN_USER_INFO_MAX);
		memcpy(o->user, a->wuser->name, n);
	}
	o->user[n] = '\0';
	o->proto = a->ft.proto;
	o->client = a->ft.client;
	o->server = a->ft.server;
	for (int i = 0; i < 2; i++)
		if (a->relay[i].handle >= 0)
			o->relay[i] = a->relay[i].addr;
	o->created_unix_s = a->created_unix_s;
	o->expires_unix_s = srv->unix_s + (a->expires > now ? (a->expires - now) / 1000 : 0);
	o->n_perms = a->n_perms;
	o->n_chans = a->n_chans;
	o->traffic = a->traffic;
}

struct list_args {
	struct turn_alloc_info *out;
	size_t skip, max, seen;
	ice_ms_t now;
};

static void
list_one(struct turn_server *srv, struct turn_alloc *a, void *arg)
{
	struct list_args *l = arg;

	if (l->seen >= l->skip && l->seen - l->skip < l->max)
		fill_info(srv, a, &l->out[l->seen - l->skip], l->now);
	l->seen++;
}

size_t
turn_server_list(struct turn_server *srv, const char *user, size_t user_len,
                 struct turn_alloc_info *out, size_t skip, size_t max, ice_ms_t now)
{
	struct list_args l = { .out = out, .skip = skip, .max = max, .now = now };
	struct turn_wuser *u;

	if (user == NULL) {
		for_each_alloc(srv, list_one, &l);
		return l.seen;
	}
	u = turn_wuser_find(srv, user, user_len);
	for (struct turn_alloc *a = u != NULL ? u->allocs : NULL; a != NULL; a = a->wnext)
		list_one(srv, a, &l);
	return l.seen;
}
