/*
 * What a pool's decision means for the operator: every refusal and eviction
 * counted by listener and reason, and one log line per source per minute
 * (the rest counted in icestation_log_suppressed_total and summed into the
 * next line's `suppressed` field). A line names the source as the pool
 * counts it: an IPv4 address or an IPv6 /64; with logger.mask-addresses,
 * cut as the other logs cut client addresses (IPv4 to /24, IPv6 to /48).
 */
#include <sys/socket.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "icestation/log.h"

#include "conncap_int.h"

static const char *const cls_names[ICE_CONNCAP_CLASSES] = {
	[ICE_CONNCAP_HTTP] = "http",
	[ICE_CONNCAP_TCP] = "tcp",
	[ICE_CONNCAP_TLS] = "tls",
	[ICE_CONNCAP_ADMIN] = "admin",
};

/* The source of key/family as text: "192.0.2.7" or "2001:db8:1:2::/64", masked when asked. */
static const char *
source_text(const uint8_t key[8], uint8_t family, bool mask, char *buf, size_t len)
{
	struct ice_addr a = { .family = family };
	size_t n;

	memcpy(a.ip, key, family == AF_INET ? 4 : 8);
	if (mask && family == AF_INET)
		a.ip[3] = 0;
	else if (mask)
		memset(a.ip + 6, 0, 10);
	ice_addr_ip_str(&a, buf, len);
	n = strlen(buf);
	if (family == AF_INET6 && n + 4 < len)
		snprintf(buf + n, len - n, "/%d", mask ? 48 : 64);
	return buf;
}

/* One line about the source of key/family, if its minute allows. */
static void
cc_log(struct ice_conncap *cc, const uint8_t key[8], uint8_t family, bool refused, unsigned cls,
       const char *reason, ice_ms_t now)
{
	struct ice_addr src = { .family = family };
	char text[ICE_ADDR_STRLEN], n[16];
	uint32_t suppressed;

	if (ice_log_level_cur < ICE_LOG_INFO)
		return;
	memcpy(src.ip, key, family == AF_INET ? 4 : 8);
	if (!ice_conncap_log_due(cc, &src, now, &suppressed)) {
		ice_metrics_inc(cc->m, ICE_M_NET_LOG_SUPPRESSED);
		return;
	}
	snprintf(n, sizeof(n), "%" PRIu32, suppressed);
	const struct ice_log_field f[] = {
		{ "event", refused ? "conn_refused" : "conn_evicted" },
		{ "listener", cls_names[cls] },
		{ "client", source_text(key, family, cc->mask_addrs, text, sizeof(text)) },
		{ "reason", reason },
		{ "suppressed", n },
	};
	ice_log_fields(ICE_LOG_INFO,
	               refused ? "conn: connection refused" : "conn: connection evicted", f,
	               ICE_ARRAY_SIZE(f));
}

enum ice_conncap_verdict
ice_conncap_gate(struct ice_conncap *cc, enum ice_conncap_class cls, const struct ice_addr *src,
                 bool full, ice_ms_t now, struct ice_conncap_node **victim)
{
	enum ice_conncap_verdict v = ice_conncap_check(cc, cls, src, full, victim);
	bool pending;
	uint8_t key[8], family;

	switch (v) {
	case ICE_CONNCAP_ADMIT:
		break;
	case ICE_CONNCAP_REFUSE_ADDR:
	case ICE_CONNCAP_REFUSE_FULL:
		ice_metrics_inc(cc->m,
		                cc_metric(cls, v == ICE_CONNCAP_REFUSE_ADDR ? CC_EV_REFUSED_ADDR
		                                                            : CC_EV_REFUSED_FULL));
		family = cc_key(src, key);
		if (family != 0)
			cc_log(cc, key, family, true, cls,
			       v == ICE_CONNCAP_REFUSE_ADDR ? "per_address" : "full", now);
		break;
	case ICE_CONNCAP_EVICT:
		pending = (*victim)->state == ICE_CONNCAP_PENDING;
		ice_metrics_inc(cc->m, cc_metric((*victim)->cls, pending ? CC_EV_EVICTED_PENDING
		                                                         : CC_EV_EVICTED_SERVED));
		/* An untracked victim has no key: nothing to name it by. */
		if ((*victim)->counted)
			cc_log(cc, (*victim)->key, (*victim)->family, false, (*victim)->cls,
			       pending ? "pending" : "served", now);
		break;
	}
	return v;
}
