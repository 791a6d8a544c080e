/*
 * RFC 8016 mobility: an allocation that survives its client's address
 * change. A client asks with an empty MOBILITY-TICKET in its Allocate; every
 * success for that allocation (Allocate, Refresh) then carries a fresh
 * ticket. From a new 5-tuple, a Refresh with the ticket moves the allocation
 * there, relay address, permissions and channels included, once it
 * authenticates with the allocation's own credential; the old 5-tuple no
 * longer reaches it.
 *
 * The ticket is sealed (auth_ticket.h: AES-128-GCM, rotating keys) over the
 * allocation's id, its move count, the unix time it expires and its
 * transport. So it cannot be read or forged; it is refused after the
 * allocation's expiry or once its key has rotated out; and one used for a
 * move (or issued before one) is refused afterwards, because the move count
 * it carries is behind. Errors, as RFC 8016 §3.2 and coturn use them: 405
 * when mobility is off here, 400 for a ticket we cannot accept, 437 when
 * its allocation is gone, 441 (dispatch.c) for another user's credential.
 *
 * An allocation lives on one worker. A ticket presented on another (the
 * client's new address hashed to another worker) is refused with 437,
 * counted apart: the client makes a new allocation (docs/turn.md).
 */
#include <errno.h>
#include <string.h>

#include "icestation/byteorder.h"

#include "turn_int.h"

enum {
	PLAIN_LEN = 8 + 4 + 8 + 1,
	TICKET_LEN = PLAIN_LEN + ICE_TICKET_OVERHEAD,
};

struct ticket {
	uint64_t id;
	uint32_t seq;
	uint64_t expires_unix_s;
	uint8_t proto;
};

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
turn_mobility_asked(const struct turn_ctx *c)
{
	const struct stun_attr *at = stun_msg_find(c->msg, STUN_ATTR_MOBILITY_TICKET);

	if (at == NULL)
		return 0;
	if (!c->srv->set.mobility) {
		turn_count(c->srv, ICE_M_TURN_MOBILITY_FORBIDDEN);
		return 405;
	}
	return at->len == 0 ? 1 : 400; /* RFC 8016 §3.1: the request's ticket is empty */
}

void
turn_mobility_ticket(struct turn_ctx *c, const struct turn_alloc *a, struct stun_builder *b)
{
	struct turn_server *srv = c->srv;
	uint8_t plain[PLAIN_LEN], out[TICKET_LEN], *p = plain;
	uint64_t left_s = a->expires > c->now ? (a->expires - c->now + 999) / 1000 : 0;

	if (!a->mobile)
		return;
	put_u64(p, a->id);
	p += 8;
	ice_st_be32(p, a->mob_seq);
	p += 4;
	put_u64(p, srv->unix_s + left_s);
	p += 8;
	*p = a->ft.proto;
	/* Without a ticket the client cannot move, and says so by its next
	 * move failing; the allocation itself is unharmed. */
	if (ice_ticket_seal(turn_shared_ticket_keys(srv->sh), srv->unix_s, plain, sizeof(plain),
	                    out, sizeof(out)) == (int)sizeof(out))
		stun_build_attr(b, STUN_ATTR_MOBILITY_TICKET, out, sizeof(out));
	explicit_bzero(plain, sizeof(plain));
}

/* Open a ticket: 0, or -EBADMSG / -ESTALE as ice_ticket_open. */
static int
ticket_open(const struct turn_server *srv, const struct stun_attr *at, struct ticket *t)
{
	uint8_t plain[PLAIN_LEN];
	const uint8_t *p = plain;
	int n = ice_ticket_open(turn_shared_ticket_keys(srv->sh), srv->unix_s, at->value, at->len,
	                        plain, sizeof(plain));

	if (n < 0)
		return n == -ESTALE ? -ESTALE : -EBADMSG;
	if (n != PLAIN_LEN)
		return -EBADMSG;
	memset(t, 0, sizeof(*t));
	t->id = get_u64(p);
	p += 8;
	t->seq = ice_ld_be32(p);
	p += 4;
	t->expires_unix_s = get_u64(p);
	p += 8;
	t->proto = *p;
	return 0;
}

/* Count a refused move under id; returns code. */
static int
refuse(struct turn_ctx *c, enum ice_metric_id id, int code)
{
	turn_count(c->srv, id);
	return code;
}

int
turn_mobility_lookup(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	const struct stun_attr *at = stun_msg_find(c->msg, STUN_ATTR_MOBILITY_TICKET);
	struct turn_alloc *a;
	struct ticket t;
	int rc;

	if (at == NULL)
		return 437;
	if (!srv->set.mobility)
		return refuse(c, ICE_M_TURN_MOBILITY_FORBIDDEN, 405);
	rc = ticket_open(srv, at, &t);
	if (rc == -ESTALE || (rc == 0 && srv->unix_s > t.expires_unix_s))
		return refuse(c, ICE_M_TURN_MOBILITY_EXPIRED, 400);
	/* A move keeps the transport: a stream allocation's frames cannot
	 * become datagrams. */
	if (rc < 0 || t.proto != c->ft->proto)
		return refuse(c, ICE_M_TURN_MOBILITY_BAD_TICKET, 400);
	if ((unsigned)(t.id >> 48) != srv->wid)
		return refuse(c, ICE_M_TURN_MOBILITY_OTHER_WORKER, 437);
	a = turn_alloc_find_id(srv, t.id);
	if (a != NULL && c->now >= a->expires)
		a = NULL; /* due: its timer ends it at this pass */
	if (a == NULL || !a->mobile)
		return refuse(c, ICE_M_TURN_MOBILITY_GONE, 437);
	if (a->mob_seq != t.seq)
		return refuse(c, ICE_M_TURN_MOBILITY_REPLAYED, 400);
	c->a = a;
	c->moving = true;
	return 0;
}

void
turn_mobility_move(struct turn_ctx *c)
{
	struct turn_server *srv = c->srv;
	struct turn_alloc *a = c->a;
	struct ice_addr from = a->ft.client;

	turn_alloc_move(srv, a, c->ft);
	a->mob_seq++;
	turn_count(srv, ICE_M_TURN_MOBILITY_MOVED);
	if (srv->io.event != NULL) {
		struct turn_event ev = { .kind = TURN_EV_ALLOC_MOVED,
			                 .ft = &a->ft,
			                 .from = &from,
			                 .alloc_id = a->id,
			                 .why = "mobility" };

		turn_user_key(c->auth, &ev.user, &ev.user_len);
		srv->io.event(srv->io.ctx, &ev);
	}
}
