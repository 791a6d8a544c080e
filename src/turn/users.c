/*
 * This worker's users: one entry per user key with the list of the user's
 * allocations on this worker, so a revocation closes exactly them and a
 * listing filtered by user walks only them. Made at the user's first
 * Allocate on the worker and freed with the last allocation, so an idle
 * user costs nothing. Worker-local: no lock (the quota counts that must be
 * process-wide live in shared.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "turn_int.h"

void
turn_user_key(const struct ltc_result *auth, const char **name, size_t *len)
{
	*name = auth->user;
	*len = auth->user_len;
	if (*len == 0) {
		*name = (const char *)auth->username;
		*len = auth->username_len;
	}
}

struct turn_wuser *
turn_wuser_find(struct turn_server *srv, const char *name, size_t len)
{
	uint64_t h = ice_siphash(&srv->hkey, name, len);

	for (struct htab_node *n = htab_first(&srv->wusers, h); n != NULL; n = n->next) {
		struct turn_wuser *u = TURN_CONTAINER(n, struct turn_wuser, node);

		if (n->hash == h && u->name_len == len && memcmp(u->name, name, len) == 0)
			return u;
	}
	return NULL;
}

int
turn_wuser_attach(struct turn_server *srv, struct turn_alloc *a, const char *name, size_t len)
{
	struct turn_wuser *u;

	if (len > UINT16_MAX)
		return -EINVAL;
	u = turn_wuser_find(srv, name, len);
	if (u == NULL) {
		u = calloc(1, sizeof(*u) + len + 1);
		if (u == NULL)
			return -ENOMEM;
		memcpy(u->name, name, len);
		u->name_len = (uint16_t)len;
		if (turn_bw_user_attach(srv, u, srv->now) < 0) {
			free(u);
			return -ENOMEM;
		}
		htab_insert(&srv->wusers, &u->node, ice_siphash(&srv->hkey, name, len));
	}
	a->wuser = u;
	a->wnext = u->allocs;
	if (u->allocs != NULL)
		u->allocs->wpprev = &a->wnext;
	a->wpprev = &u->allocs;
	u->allocs = a;
	u->n_allocs++;
	return 0;
}

void
turn_wuser_detach(struct turn_server *srv, struct turn_alloc *a)
{
	struct turn_wuser *u = a->wuser;

	if (u == NULL)
		return;
	*a->wpprev = a->wnext;
	if (a->wnext != NULL)
		a->wnext->wpprev = a->wpprev;
	a->wuser = NULL;
	if (--u->n_allocs == 0) {
		turn_bw_user_detach(srv, u);
		htab_remove(&srv->wusers, &u->node);
		free(u);
	}
}

void
turn_wusers_fini(struct turn_server *srv)
{
	/* Every allocation is gone by now, and with it every entry. */
	htab_fini(&srv->wusers);
}
