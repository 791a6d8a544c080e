/*
 * The dispatch seam: every UDP datagram and every complete TCP frame lands
 * here with its 5-tuple. The per-IP request rate limit, decoding
 * (stun_frame_decode: RFC 7983 demultiplexing and the parse), the stateless
 * Binding service (RFC 8489 §6.3), and the hand-off of everything TURN to
 * turn_glue.c. Peer mistakes are counted, never logged. A request that is
 * well framed but has a malformed attribute (STUN_FRAME_BAD_ATTR) goes on: a
 * Binding is answered 400 here, a TURN request goes to turn, which
 * authenticates it before its 400.
 */
#include <errno.h>

#include "net_internal.h"

/*
 * Reply path for the handler of pkt: reply_buf returns scratch of *cap
 * bytes to build one reply in (a UDP send slot, or the worker's TCP
 * scratch); reply_send queues len bytes of it back to pkt->remote from
 * pkt->local over pkt's transport.
 */
static uint8_t *
reply_buf(struct net_worker *w, const struct net_pkt *pkt, size_t *cap)
{
	if (pkt->transport != ICE_TRANSPORT_UDP) {
		*cap = sizeof(w->tcp_reply);
		return w->tcp_reply;
	}
	return net_batch_reply_slot(&w->batch, pkt->l->fd, cap);
}

static void
reply_send(struct net_worker *w, const struct net_pkt *pkt, const uint8_t *buf, size_t len)
{
	if (pkt->transport != ICE_TRANSPORT_UDP) {
		net_stream_send(pkt->conn, buf, len);
		return;
	}
	/* Built in place in the next free slot (reply_buf): no copy. */
	net_batch_queue(&w->batch, pkt->l->fd, false, &pkt->remote,
	                pkt->l->wildcard ? &pkt->local : NULL, pkt->ifindex, buf, len, false);
}

/* Class bits of a STUN message type (RFC 8489 §5): C1 is bit 8, C0 bit 4. */
static unsigned
stun_type_class(const uint8_t *buf)
{
	uint16_t type = (uint16_t)(buf[0] << 8 | buf[1]);

	return ((type >> 7) & 2u) | ((type >> 4) & 1u);
}

/*
 * Binding success (XOR-MAPPED-ADDRESS of the source as we saw it, SOFTWARE),
 * 400 (a malformed attribute: ERROR-CODE alone, the smallest answer, since
 * the source may be spoofed) or 420 (UNKNOWN-ATTRIBUTES). FINGERPRINT only
 * when the request carried one: RFC 8489 §7.3 has the server mirror the
 * client, and a client that did not ask (RFC 3489-era parsers, some embedded
 * stacks) may choke on it.
 */
static void
binding_answer(struct net_worker *w, const struct net_pkt *pkt, const struct stun_msg *req)
{
	enum ice_metric_id result = ICE_M_STUN_BINDING_SUCCESS;
	struct stun_builder b;
	uint8_t *buf;
	size_t cap;
	int len;

	buf = reply_buf(w, pkt, &cap);
	if (req->bad_attr != 0) {
		stun_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_ERROR, req->tid);
		stun_build_error(&b, 400, NULL);
		result = ICE_M_STUN_BINDING_400;
		goto finish;
	}
	if (req->n_unknown > 0) {
		stun_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_ERROR, req->tid);
		stun_build_error(&b, 420, NULL);
		stun_build_unknown_attrs(&b, req->unknown, req->n_unknown);
		result = ICE_M_STUN_BINDING_420;
	} else {
		stun_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, req->tid);
		stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &pkt->remote);
	}
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, ICESTATION_SOFTWARE,
	                sizeof(ICESTATION_SOFTWARE) - 1);
finish:
	if (req->fingerprint >= 0)
		stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len < 0) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_BUILD);
		return;
	}
	reply_send(w, pkt, buf, (size_t)len);
	ice_metrics_inc(w->m, result);
}

static void
dispatch_binding(struct net_worker *w, const struct net_pkt *pkt, const struct stun_msg *msg)
{
	switch (msg->cls) {
	case STUN_CLASS_REQUEST:
		ice_metrics_inc(w->m, ICE_M_STUN_BINDING_REQUESTS);
		binding_answer(w, pkt, msg);
		break;
	case STUN_CLASS_INDICATION:
		/* Keepalive (RFC 8489 §6.3.2): nothing to answer. */
		ice_metrics_inc(w->m, ICE_M_STUN_BINDING_INDICATIONS);
		break;
	default:
		/* Responses go server -> client; one arriving here is a
		 * reflection attempt or a confused peer. */
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_UNEXPECTED_CLASS);
		break;
	}
}

/*
 * The limiter runs before the parse, on the class bits only, so a flood costs
 * one table lookup per datagram. Only requests pay: they are what a spoofed
 * source can make us answer (reflection) and what costs CPU (Allocate's HMAC).
 * Indications and ChannelData are exempt: TURN media of an existing
 * allocation must never be throttled by a per-IP Binding limiter, and the TURN
 * layer checks their 5-tuple against its allocations before relaying.
 *
 * Over TCP and TLS a request over the limit is held, not dropped: a stream
 * client never retransmits (RFC 8489 §6.2.2), so a drop would leave it
 * waiting 39.5 s for an answer that cannot come. The source is real (the
 * handshake proved it) and there is nothing to reflect, so the connection's
 * reading pauses until a token is due and the request is served then: TCP's
 * flow control slows the client, as it does for bandwidth limits.
 * Returns 0 to go on, -1 to drop, or the ms to hold the frame.
 */
static long
dispatch_rate(struct net_worker *w, const struct net_pkt *pkt)
{
	uint32_t rps;

	switch (ice_ratelimit_take(w->rl, &pkt->remote, w->now)) {
	case ICE_RL_DENY:
		if (pkt->transport == ICE_TRANSPORT_UDP) {
			ice_metrics_inc(w->m, ICE_M_STUN_DROP_RATE_LIMITED);
			return -1;
		}
		ice_metrics_inc(w->m, ICE_M_STUN_RATE_LIMITED_HELD);
		rps = w->cfg->stun.rate_rps;
		/* One token's refill time (the limiter only exists when rps > 0). */
		return rps == 0 || rps >= 1000 ? 1 : (long)((1000 + rps - 1) / rps);
	case ICE_RL_ALLOW_EVICTED:
		ice_metrics_inc(w->m, ICE_M_NET_RATELIMIT_EVICTIONS);
		return 0;
	default:
		return 0;
	}
}

long
net_dispatch(struct net_worker *w, const struct net_pkt *pkt, const uint8_t *buf, size_t len)
{
	struct stun_frame f;
	enum stun_demux kind = stun_demux(buf, len);

	if (kind == STUN_DEMUX_OTHER) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_NOT_STUN);
		return 0;
	}
	if (kind == STUN_DEMUX_STUN) {
		if (len < STUN_HEADER_LEN) {
			ice_metrics_inc(w->m, ICE_M_STUN_DROP_MALFORMED);
			return 0;
		}
		if (w->rl != NULL && stun_type_class(buf) == STUN_CLASS_REQUEST) {
			long held = dispatch_rate(w, pkt);

			if (held != 0)
				return held < 0 ? 0 : held;
		}
	}
	stun_frame_decode(&f, buf, len, pkt->transport != ICE_TRANSPORT_UDP);
	switch (f.kind) {
	case STUN_FRAME_CHANNELDATA:
		return net_turn_dispatch(w, pkt, &f);
	case STUN_FRAME_STUN:
		break;
	case STUN_FRAME_BAD_ATTR:
		/* Well framed, one attribute malformed: a request is answered 400,
		 * the rest dropped; counted either way (a 400 is what a spoofed
		 * source could make us reflect). */
		ice_metrics_inc(w->m, ICE_M_STUN_MALFORMED_ATTR);
		if (f.msg.cls == STUN_CLASS_REQUEST)
			break;
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_MALFORMED);
		return 0;
	default:
		/* ChannelData that does not frame is TURN's to count. */
		if (kind == STUN_DEMUX_CHANNELDATA) {
			net_turn_dispatch(w, pkt, &f);
			return 0;
		}
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_MALFORMED);
		return 0;
	}
	if (f.msg.method == STUN_METHOD_BINDING) {
		dispatch_binding(w, pkt, &f.msg);
		return 0;
	}
	if (f.msg.cls == STUN_CLASS_SUCCESS || f.msg.cls == STUN_CLASS_ERROR) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_UNEXPECTED_CLASS);
		return 0;
	}
	return net_turn_dispatch(w, pkt, &f);
}
