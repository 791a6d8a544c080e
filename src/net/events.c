/*
 * The operator's log of what turn reports (turn_io.event): failed
 * authentications, refused Allocates and denied peers, one line each,
 * rate-limited per source address so a flood cannot fill the journal
 * (suppressed lines are counted); and one session record per allocation
 * that ends, the usage and audit trail, never limited. No line ever holds
 * a credential.
 */
#include <inttypes.h>
#include <stdio.h>

#include "icestation/log.h"

#include "net_internal.h"

static const char *
proto_name(uint8_t proto)
{
	return proto == TURN_PROTO_UDP ? "udp" : proto == TURN_PROTO_TCP ? "tcp" : "tls";
}

/* One line per source per second (burst 5): false when over. */
static bool
event_allowed(struct net_worker *w, const struct ice_addr *src)
{
	if (w->log_rl == NULL)
		return true;
	if (ice_ratelimit_take(w->log_rl, src, w->now) != ICE_RL_DENY)
		return true;
	ice_metrics_inc(w->m, ICE_M_NET_LOG_SUPPRESSED);
	return false;
}

static void
session_record(const struct turn_event *ev)
{
	char cl[ICE_ADDR_STRLEN], rl[ICE_ADDR_STRLEN];
	const struct turn_traffic *t = ev->traffic;

	log_info("turn: session end id=%016" PRIx64 " user=%.*s client=%s transport=%s relay=%s "
	         "duration=%" PRIu64 ".%03" PRIu64 "s to_peer=%" PRIu64 "B/%" PRIu64 "pkt "
	         "to_client=%" PRIu64 "B/%" PRIu64 "pkt reason=%s",
	         ev->alloc_id, (int)ev->user_len, ev->user ? ev->user : "",
	         ice_addr_str(&ev->ft->client, cl, sizeof(cl)), proto_name(ev->ft->proto),
	         ice_addr_str(ev->relay, rl, sizeof(rl)), ev->duration_ms / 1000,
	         ev->duration_ms % 1000, t->to_peer_bytes, t->to_peer_pkts, t->to_client_bytes,
	         t->to_client_pkts, ev->why);
}

void
net_turn_event(void *ctx, const struct turn_event *ev)
{
	struct net_worker *w = ctx;
	char cl[ICE_ADDR_STRLEN], pl[ICE_ADDR_STRLEN];
	const char *user = ev->user ? ev->user : "";
	int ulen = (int)(ev->user ? ev->user_len : 0);

	if (ice_log_level_cur < ICE_LOG_INFO)
		return;
	if (ev->kind == TURN_EV_ALLOC_END) {
		session_record(ev);
		return;
	}
	if (!event_allowed(w, &ev->ft->client))
		return;
	ice_addr_str(&ev->ft->client, cl, sizeof(cl));
	switch (ev->kind) {
	case TURN_EV_AUTH_FAILED:
		log_info("turn: auth failed (%d %s) client=%s transport=%s user=%.*s", ev->code,
		         ev->why, cl, proto_name(ev->ft->proto), ulen, user);
		break;
	case TURN_EV_REFUSED:
		log_info("turn: allocate refused (%d %s) client=%s transport=%s user=%.*s",
		         ev->code, ev->why, cl, proto_name(ev->ft->proto), ulen, user);
		break;
	case TURN_EV_PEER_DENIED:
		log_info("turn: peer denied (%s) peer=%s client=%s transport=%s user=%.*s", ev->why,
		         ice_addr_ip_str(ev->peer, pl, sizeof(pl)), cl, proto_name(ev->ft->proto),
		         ulen, user);
		break;
	default:
		break;
	}
}
