/*
 * The data paths (RFC 8656 §11, §12): Send indications and ChannelData from
 * the client to a peer, datagrams from a peer to the client, and ICMP errors
 * for datagrams to a peer back to the client. No allocation,
 * no lock, no log: one or two hash lookups and one send per packet. Peer
 * datagrams are framed in place in the caller's buffer (it leaves
 * TURN_PEER_HEADROOM bytes in front), so nothing is copied.
 */
#include <sys/socket.h>

#include <string.h>

#include "icestation/byteorder.h"

#include "turn_int.h"

long
turn_handle_send(struct turn_server *srv, const struct stun_msg *msg, const struct turn_5tuple *ft,
                 ice_ms_t now)
{
	long wait;
	const struct stun_attr *pa, *data, *at;
	struct turn_alloc *a = turn_alloc_find(srv, ft, now);
	struct turn_relay *relay;
	struct turn_perm *p;
	struct ice_addr peer;
	unsigned flags = 0;

	if (a == NULL) {
		turn_count(srv, ICE_M_TURN_DROP_NO_ALLOCATION);
		return 0;
	}
	if (a->tcp) {
		/* RFC 6062 allocations relay over their data connections only. */
		turn_count(srv, ICE_M_TURN_DROP_UNEXPECTED);
		return 0;
	}
	/* Indications are never answered: anything odd is dropped (RFC 8489 §6.3.2). */
	if (msg->n_unknown > 0) {
		turn_count(srv, ICE_M_TURN_DROP_MALFORMED);
		return 0;
	}
	stun_attr_foreach(msg, at) {
		if (at->type < 0x8000 && at->type != STUN_ATTR_XOR_PEER_ADDRESS &&
		    at->type != STUN_ATTR_DATA && at->type != STUN_ATTR_DONT_FRAGMENT) {
			turn_count(srv, ICE_M_TURN_DROP_MALFORMED);
			return 0;
		}
	}
	pa = stun_msg_find(msg, STUN_ATTR_XOR_PEER_ADDRESS);
	data = stun_msg_find(msg, STUN_ATTR_DATA);
	if (pa == NULL || data == NULL || stun_attr_xor_addr(msg, pa, &peer) < 0) {
		turn_count(srv, ICE_M_TURN_DROP_MALFORMED);
		return 0;
	}
	relay = turn_alloc_relay_for(a, peer.family);
	p = relay != NULL ? turn_perm_find(srv, a, &peer) : NULL;
	if (p == NULL || now >= p->expires) {
		/* Say why: a denied address never gets a permission. */
		enum turn_deny why = turn_policy_check(&srv->policy, &peer, NULL);

		if (why != TURN_DENY_NONE) {
			turn_count_deny(srv, why);
			turn_count(srv, ICE_M_TURN_DROP_DENIED_PEER);
		} else {
			turn_count(srv, ICE_M_TURN_DROP_NO_PERMISSION);
		}
		return 0;
	}
	if (p->self && !turn_policy_port_is_relay(&srv->policy, peer.port)) {
		turn_count_deny(srv, TURN_DENY_SELF);
		turn_count(srv, ICE_M_TURN_DROP_DENIED_PEER);
		return 0;
	}
	if (stun_msg_find(msg, STUN_ATTR_DONT_FRAGMENT) != NULL)
		flags |= TURN_SEND_DF;
	if (srv->bw_on && (wait = turn_bw_admit(srv, a, TURN_DIR_TO_PEER, data->len, now)) != 0)
		return wait > 0 ? wait : 0;
	srv->io.send_peer(srv->io.ctx, relay->handle, &peer, data->value, data->len, flags);
	a->traffic.to_peer_pkts++;
	a->traffic.to_peer_bytes += data->len;
	turn_count(srv, ICE_M_TURN_RELAY_PKTS_TO_PEER_IND);
	ice_metrics_add(srv->m, ICE_M_TURN_RELAY_BYTES_TO_PEER_IND, data->len);
	return 0;
}

long
turn_handle_channeldata(struct turn_server *srv, const struct turn_5tuple *ft, uint16_t channel,
                        const uint8_t *data, size_t len, ice_ms_t now)
{
	struct turn_alloc *a = turn_alloc_find(srv, ft, now);
	struct turn_relay *relay;
	struct turn_chan *c;
	long wait;

	if (a == NULL) {
		turn_count(srv, ICE_M_TURN_DROP_NO_ALLOCATION);
		return 0;
	}
	c = turn_chan_find_num(srv, a, channel);
	if (c == NULL || !c->bound || now >= c->expires) {
		turn_count(srv, ICE_M_TURN_DROP_BAD_CHANNEL);
		return 0;
	}
	if (now >= c->perm->expires) {
		turn_count(srv, ICE_M_TURN_DROP_NO_PERMISSION);
		return 0;
	}
	relay = turn_alloc_relay_for(a, c->peer.family);
	if (relay == NULL) {
		turn_count(srv, ICE_M_TURN_DROP_BAD_CHANNEL);
		return 0;
	}
	if (srv->bw_on && (wait = turn_bw_admit(srv, a, TURN_DIR_TO_PEER, len, now)) != 0)
		return wait > 0 ? wait : 0;
	srv->io.send_peer(srv->io.ctx, relay->handle, &c->peer, data, len, 0);
	a->traffic.to_peer_pkts++;
	a->traffic.to_peer_bytes += len;
	turn_count(srv, ICE_M_TURN_RELAY_PKTS_TO_PEER_CD);
	ice_metrics_add(srv->m, ICE_M_TURN_RELAY_BYTES_TO_PEER_CD, len);
	return 0;
}

/* XOR-PEER-ADDRESS value (RFC 8489 §14.2) for peer into p; returns its length. */
static size_t
put_xor_peer(uint8_t *p, const struct ice_addr *peer, const uint8_t tid[STUN_TID_LEN])
{
	uint8_t mask[16];

	ice_st_be32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, tid, STUN_TID_LEN);
	p[0] = 0;
	p[1] = peer->family == AF_INET ? 0x01 : 0x02;
	ice_st_be16(p + 2, (uint16_t)(peer->port ^ (STUN_MAGIC_COOKIE >> 16)));
	for (int i = 0; i < ice_addr_iplen(peer); i++)
		p[4 + i] = peer->ip[i] ^ mask[i];
	return 4 + (size_t)ice_addr_iplen(peer);
}

/* Indications need unique, not secret, ids: "ICEs" + a counter. */
static void
indication_tid(struct turn_server *srv, uint8_t tid[STUN_TID_LEN])
{
	uint64_t seq = ++srv->ind_seq;

	memcpy(tid, "ICEs", 4);
	for (int i = 0; i < 8; i++)
		tid[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* Frame data as a Data indication in front of it; returns the frame start and *out_len. */
static uint8_t *
frame_data_indication(struct turn_server *srv, const struct ice_addr *peer, uint8_t *data,
                      size_t len, size_t *out_len)
{
	size_t addr_len = peer->family == AF_INET ? 8 : 20;
	size_t hdr = STUN_HEADER_LEN + 4 + addr_len + 4;
	size_t pad = (4 - (len & 3)) & 3;
	uint8_t *p = data - hdr;
	uint8_t tid[STUN_TID_LEN];

	indication_tid(srv, tid);
	ice_st_be16(p, stun_msg_type(STUN_METHOD_DATA, STUN_CLASS_INDICATION));
	ice_st_be16(p + 2, (uint16_t)(hdr - STUN_HEADER_LEN + len + pad));
	ice_st_be32(p + 4, STUN_MAGIC_COOKIE);
	memcpy(p + 8, tid, STUN_TID_LEN);
	ice_st_be16(p + 20, STUN_ATTR_XOR_PEER_ADDRESS);
	ice_st_be16(p + 22, (uint16_t)addr_len);
	put_xor_peer(p + 24, peer, tid);
	ice_st_be16(p + 24 + addr_len, STUN_ATTR_DATA);
	ice_st_be16(p + 26 + addr_len, (uint16_t)len);
	memset(data + len, 0, pad);
	*out_len = hdr + len + pad;
	return p;
}

void
turn_handle_peer(struct turn_server *srv, int handle, const struct ice_addr *peer, uint8_t *data,
                 size_t len, ice_ms_t now)
{
	struct turn_relay *relay = turn_relay_find(srv, handle);
	struct turn_alloc *a;
	struct turn_chan *c;
	struct turn_perm *p;
	uint8_t *frame;
	size_t frame_len;

	if (relay == NULL) {
		turn_count(srv, ICE_M_TURN_DROP_UNKNOWN_RELAY);
		return;
	}
	a = relay->alloc;
	if (now >= a->expires) {
		turn_count(srv, ICE_M_TURN_DROP_NO_ALLOCATION);
		return;
	}
	/* A bound channel pins its permission: one lookup for the common case. */
	c = turn_chan_find_peer(srv, a, peer);
	if (c != NULL && c->bound && now < c->expires && now < c->perm->expires) {
		bool stream = a->ft.proto != TURN_PROTO_UDP;

		if (len > 0xffff) {
			turn_count(srv, ICE_M_TURN_DROP_TOO_BIG);
			return;
		}
		if (srv->bw_on && turn_bw_admit(srv, a, TURN_DIR_TO_CLIENT, len, now) != 0)
			return;
		frame = data - CHANNELDATA_HEADER_LEN;
		channeldata_put_header(frame, c->number, (uint16_t)len);
		frame_len = channeldata_frame_len(len, stream);
		/* Stream framing pads to 4; zero the padding we send. */
		memset(data + len, 0, frame_len - CHANNELDATA_HEADER_LEN - len);
		srv->io.send_client(srv->io.ctx, &a->ft, frame, frame_len, TURN_BUF_CALLER);
		a->traffic.to_client_pkts++;
		a->traffic.to_client_bytes += len;
		turn_count(srv, ICE_M_TURN_RELAY_PKTS_TO_CLIENT_CD);
		ice_metrics_add(srv->m, ICE_M_TURN_RELAY_BYTES_TO_CLIENT_CD, len);
		return;
	}
	p = turn_perm_find(srv, a, peer);
	if (p == NULL || now >= p->expires) {
		turn_count(srv, ICE_M_TURN_DROP_NO_PERMISSION);
		return;
	}
	if (len + TURN_PEER_HEADROOM + TURN_PEER_TAILROOM > 0xffff + STUN_HEADER_LEN) {
		turn_count(srv, ICE_M_TURN_DROP_TOO_BIG);
		return;
	}
	if (srv->bw_on && turn_bw_admit(srv, a, TURN_DIR_TO_CLIENT, len, now) != 0)
		return;
	frame = frame_data_indication(srv, peer, data, len, &frame_len);
	srv->io.send_client(srv->io.ctx, &a->ft, frame, frame_len, TURN_BUF_CALLER);
	a->traffic.to_client_pkts++;
	a->traffic.to_client_bytes += len;
	turn_count(srv, ICE_M_TURN_RELAY_PKTS_TO_CLIENT_IND);
	ice_metrics_add(srv->m, ICE_M_TURN_RELAY_BYTES_TO_CLIENT_IND, len);
}

/*
 * The types RFC 8656 §11 relays: ICMPv4 destination unreachable (3) and time
 * exceeded (11); ICMPv6 destination unreachable (1), packet too big (2) and
 * time exceeded (3). The Error Data (§18.13) is the next-hop MTU for
 * "fragmentation needed" and "packet too big", else 0.
 */
static bool
icmp_relayed_type(const struct turn_icmp *icmp, uint32_t *data)
{
	*data = 0;
	if (icmp->v6) {
		if (icmp->type == 2)
			*data = icmp->info;
		return icmp->type >= 1 && icmp->type <= 3;
	}
	if (icmp->type == 3 && icmp->code == 4)
		*data = icmp->info;
	return icmp->type == 3 || icmp->type == 11;
}

/* Whether a may send one more ICMP indication in the second of now. */
static bool
icmp_admit(struct turn_alloc *a, ice_ms_t now)
{
	uint32_t s = (uint32_t)(now / 1000);

	if (a->icmp_s != s) {
		a->icmp_s = s;
		a->icmp_n = 0;
	}
	if (a->icmp_n >= TURN_ICMP_PER_S)
		return false;
	a->icmp_n++;
	return true;
}

void
turn_handle_icmp(struct turn_server *srv, int handle, const struct ice_addr *peer,
                 const struct turn_icmp *icmp, ice_ms_t now)
{
	struct turn_relay *relay = turn_relay_find(srv, handle);
	struct stun_builder b;
	struct turn_alloc *a;
	struct turn_perm *p;
	uint8_t tid[STUN_TID_LEN];
	uint32_t data;
	int len;

	if (relay == NULL || now >= relay->alloc->expires) {
		turn_count(srv, ICE_M_TURN_ICMP_NO_ALLOCATION);
		return;
	}
	a = relay->alloc;
	if (!icmp_relayed_type(icmp, &data)) {
		turn_count(srv, ICE_M_TURN_ICMP_IGNORED_TYPE);
		return;
	}
	/* The permission of the destination's IP, never the ICMP's source (§11). */
	p = turn_perm_find(srv, a, peer);
	if (p == NULL || now >= p->expires) {
		turn_count(srv, ICE_M_TURN_ICMP_NO_PERMISSION);
		return;
	}
	if (!icmp_admit(a, now)) {
		turn_count(srv, ICE_M_TURN_ICMP_RATE_LIMITED);
		return;
	}
	indication_tid(srv, tid);
	stun_build_init(&b, srv->tx, sizeof(srv->tx), STUN_METHOD_DATA, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, peer);
	stun_build_icmp(&b, icmp->type, icmp->code, data);
	len = stun_build_finish(&b);
	if (len < 0) {
		turn_count(srv, ICE_M_TURN_DROP_BUILD);
		return;
	}
	srv->io.send_client(srv->io.ctx, &a->ft, srv->tx, (size_t)len, TURN_BUF_SCRATCH);
	turn_count(srv, ICE_M_TURN_ICMP_RELAYED);
}
