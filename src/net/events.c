/*
 * The operator's log of what turn reports (turn_io.event): failed
 * authentications, refused Allocates and denied peers, one line each,
 * rate-limited per source address so a flood cannot fill the journal
 * (suppressed lines are counted); and one session record per allocation
 * that ends, the usage and audit trail, never limited. Every line carries
 * its facts as fields (text key=value, JSON members, or journal fields).
 * No line ever holds a credential. With logger.mask-addresses, client and
 * peer addresses lose their host part (IPv4 to /24, IPv6 to /48, port
 * dropped): enough to see a network, not a person.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "icestation/log.h"

#include "net_internal.h"

enum {
	EV_MAX_FIELDS = 14,
};

static const char *
proto_name(uint8_t proto)
{
	return proto == TURN_PROTO_UDP ? "udp" : proto == TURN_PROTO_TCP ? "tcp" : "tls";
}

/* An address for the log: whole, or its network only when masking. */
static const char *
addr_text(const struct net_worker *w, const struct ice_addr *a, bool port, char *buf, size_t len)
{
	struct ice_addr m = *a;

	if (!w->cfg->log_mask)
		return port ? ice_addr_str(a, buf, len) : ice_addr_ip_str(a, buf, len);
	if (m.family == AF_INET)
		m.ip[3] = 0;
	else
		memset(m.ip + 6, 0, 10);
	return ice_addr_ip_str(&m, buf, len);
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

struct ev_line {
	struct ice_log_field f[EV_MAX_FIELDS];
	size_t n;
};

static void
field(struct ev_line *l, const char *key, const char *value)
{
	if (l->n < EV_MAX_FIELDS)
		l->f[l->n++] = (struct ice_log_field){ key, value };
}

static void
session_record(struct net_worker *w, const struct turn_event *ev, struct ev_line *l, char *user,
               char *cl)
{
	const struct turn_traffic *t = ev->traffic;
	char id[24], rl[ICE_ADDR_STRLEN], dur[32], nums[4][24];

	snprintf(id, sizeof(id), "%016" PRIx64, ev->alloc_id);
	snprintf(dur, sizeof(dur), "%" PRIu64 ".%03" PRIu64, ev->duration_ms / 1000,
	         ev->duration_ms % 1000);
	snprintf(nums[0], sizeof(nums[0]), "%" PRIu64, t->to_peer_bytes);
	snprintf(nums[1], sizeof(nums[1]), "%" PRIu64, t->to_peer_pkts);
	snprintf(nums[2], sizeof(nums[2]), "%" PRIu64, t->to_client_bytes);
	snprintf(nums[3], sizeof(nums[3]), "%" PRIu64, t->to_client_pkts);
	field(l, "event", "session_end");
	field(l, "id", id);
	field(l, "user", user);
	field(l, "client", cl);
	field(l, "transport", proto_name(ev->ft->proto));
	field(l, "relay", ice_addr_str(ev->relay, rl, sizeof(rl)));
	field(l, "duration_s", dur);
	field(l, "to_peer_bytes", nums[0]);
	field(l, "to_peer_packets", nums[1]);
	field(l, "to_client_bytes", nums[2]);
	field(l, "to_client_packets", nums[3]);
	field(l, "reason", ev->why);
	(void)w;
	ice_log_fields(ICE_LOG_INFO, "turn: session end", l->f, l->n);
}

void
net_turn_event(void *ctx, const struct turn_event *ev)
{
	static const char *const msgs[] = {
		[TURN_EV_AUTH_FAILED] = "turn: authentication failed",
		[TURN_EV_REFUSED] = "turn: allocate refused",
		[TURN_EV_PEER_DENIED] = "turn: peer denied",
		[TURN_EV_ALLOC_MOVED] = "turn: allocation moved",
	};
	static const char *const names[] = {
		[TURN_EV_AUTH_FAILED] = "auth_failed",
		[TURN_EV_REFUSED] = "allocate_refused",
		[TURN_EV_PEER_DENIED] = "peer_denied",
		[TURN_EV_ALLOC_MOVED] = "allocation_moved",
	};
	struct net_worker *w = ctx;
	struct ev_line l = { .n = 0 };
	char cl[ICE_ADDR_STRLEN], pl[ICE_ADDR_STRLEN], code[8], user[TURN_USER_INFO_MAX + 1];
	size_t ulen = ev->user != NULL ? ICE_MIN(ev->user_len, (size_t)TURN_USER_INFO_MAX) : 0;

	if (ice_log_level_cur < ICE_LOG_INFO)
		return;
	/* The user key is a REST user part: printable, but not ours to trust. */
	for (size_t i = 0; i < ulen; i++)
		user[i] = (unsigned char)ev->user[i] < 0x20 || ev->user[i] == 0x7f ? '?'
		                                                                   : ev->user[i];
	user[ulen] = '\0';
	addr_text(w, &ev->ft->client, true, cl, sizeof(cl));
	if (ev->kind == TURN_EV_ALLOC_END) {
		session_record(w, ev, &l, user, cl);
		return;
	}
	if (!event_allowed(w, &ev->ft->client))
		return;
	snprintf(code, sizeof(code), "%d", ev->code);
	field(&l, "event", names[ev->kind]);
	field(&l, "reason", ev->why);
	field(&l, "code", code);
	field(&l, "client", cl);
	field(&l, "transport", proto_name(ev->ft->proto));
	field(&l, "user", user);
	if (ev->kind == TURN_EV_PEER_DENIED)
		field(&l, "peer", addr_text(w, ev->peer, false, pl, sizeof(pl)));
	if (ev->kind == TURN_EV_ALLOC_MOVED)
		field(&l, "from", addr_text(w, ev->from, true, pl, sizeof(pl)));
	ice_log_fields(ICE_LOG_INFO, msgs[ev->kind], l.f, l.n);
}
