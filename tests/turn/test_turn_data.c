/*
 * TURN permissions, channels and the data paths on a fake clock:
 * CreatePermission (several peers, all-or-nothing), the peer-address policy
 * table through CreatePermission/ChannelBind (403 per spelling, counted by
 * reason) and Send (dropped, counted), the allowed-peer-ip override, 443;
 * Data indications and ChannelData framed in place, both directions, TCP
 * padding; permission and channel expiry at exact boundaries, channel
 * rebinding rules and the 5-minute quarantine.
 */
#include "turn_harness.h"

/* Allocate and return the fake relay handle. */
static int
setup(struct harness *h)
{
	struct ice_addr relayed;

	h->lifetime = 3600; /* outlive the permission and channel timelines below */
	CHECK_EQ_INT(h_allocate(h), 0);
	relayed = h_relayed(h, 0);
	return h_handle_of(h, relayed.port);
}

static void
test_permissions(void)
{
	struct harness h;
	struct stun_msg ind;
	const struct stun_attr *at;
	struct ice_addr peer;
	int relay;
	ice_ms_t t;

	h_config(&h);
	h_start(&h);
	relay = setup(&h);
	REQUIRE(relay >= 0);

	/* no permission yet: peer data and Send are dropped */
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1234, "hello"), 0);
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 1234, "hi", false), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_NO_PERMISSION), 2);

	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 1);
	t = h.now + 300 * 1000;

	/* peer -> client as a Data indication, framed in place */
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1234, "hello"), 1);
	REQUIRE(stun_parse(&ind, h.io->client_buf, h.io->client_len) == (int)h.io->client_len);
	CHECK(ind.cls == STUN_CLASS_INDICATION && ind.method == STUN_METHOD_DATA);
	at = stun_msg_find(&ind, STUN_ATTR_XOR_PEER_ADDRESS);
	REQUIRE(at != NULL && stun_attr_xor_addr(&ind, at, &peer) == 0);
	CHECK(peer.port == 1234 && peer.ip[0] == 8 && peer.ip[3] == 8);
	at = stun_msg_find(&ind, STUN_ATTR_DATA);
	CHECK(at != NULL && at->len == 5 && memcmp(at->value, "hello", 5) == 0);
	CHECK_EQ_INT(h.io->client_len % 4, 0);
	CHECK(h.io->client_ft.link == &h.ft);
	/* any port of the permitted IP; another IP is not */
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 9, "x"), 1);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.4.8", 1234, "x"), 0);
	/* unknown relay handle */
	CHECK_EQ_INT(h_from_peer(&h, 999, "8.8.8.8", 1234, "x"), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_UNKNOWN_RELAY), 1);

	/* client -> peer as a Send indication; DONT-FRAGMENT passes DF */
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 53, "query", false), 1);
	CHECK_EQ_INT(h.io->peer_handle, relay);
	CHECK(h.io->peer_addr.port == 53 && h.io->peer_len == 5);
	CHECK(memcmp(h.io->peer_buf, "query", 5) == 0);
	CHECK_EQ_INT(h.io->peer_flags, 0);
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 53, "query", true), 1);
	CHECK_EQ_INT(h.io->peer_flags, TURN_SEND_DF);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_PKTS_TO_PEER_IND), 2);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_BYTES_TO_PEER_IND), 10);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_PKTS_TO_CLIENT_IND), 2);

	/* exact lifetime: alive at t-1, gone at t (even before the wheel runs) */
	h.now = t - 1;
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1234, "x"), 1);
	h.now = t;
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1234, "x"), 0);
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 53, "q", false), 0);
	h_at(&h, t - 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 1);
	h_at(&h, t);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 0);

	/* a refresh at t-1 keeps it to t-1+300 s */
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	t = h.now + 300 * 1000;
	h.now = t - 1;
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	h_at(&h, t + 1000);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1234, "x"), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 1);
	h_at(&h, t - 1 + 300 * 1000);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 0);
	h_stop(&h);
}

/* Several XOR-PEER-ADDRESS: all installed, or none (RFC 8656 §10.2). */
static void
test_permission_all_or_nothing(void)
{
	struct harness h;
	struct ice_addr a, b, bad;
	struct treq r;
	int relay;

	h_config(&h);
	h_start(&h);
	relay = setup(&h);
	REQUIRE(ice_addr_parse_ip(&a, "8.8.8.8", 0) == 0);
	REQUIRE(ice_addr_parse_ip(&b, "1.1.1.1", 0) == 0);
	REQUIRE(ice_addr_parse_ip(&bad, "10.0.0.1", 0) == 0);

	treq_begin(&r, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &bad);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &b);
	CHECK_EQ_INT(h_send_signed(&h, &r), 403);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1, "x"), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 0);

	treq_begin(&r, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &b);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a); /* listed twice */
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 1, "x"), 1);
	CHECK_EQ_INT(h_from_peer(&h, relay, "1.1.1.1", 1, "x"), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 2);

	/* no XOR-PEER-ADDRESS: 400 (malformed ones never pass stun_parse) */
	treq_begin(&r, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
	CHECK_EQ_INT(h_send_signed(&h, &r), 400);

	/* the per-allocation limit: 508, nothing installed */
	for (int i = 0; i < TURN_MAX_PERMISSIONS - 2; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "9.9.%d.%d", i / 200, i % 200 + 1);
		CHECK_EQ_INT(h_permission(&h, ip, 0), 0);
	}
	CHECK_EQ_INT(h_permission(&h, "9.8.7.6", 0), 508);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_QUOTA_PERMISSIONS), 1);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0); /* refreshing is fine */
	h_stop(&h);
}

/* Every denied spelling is refused by CreatePermission and ChannelBind. */
static const struct {
	const char *ip;
	uint16_t port;
	enum ice_metric_id reason;
} denied[] = {
	{ "127.0.0.1", 5000, ICE_M_TURN_DENY_LOOPBACK },
	{ "::1", 5000, ICE_M_TURN_DENY_LOOPBACK },
	{ "::ffff:127.0.0.1", 5000, ICE_M_TURN_DENY_LOOPBACK },
	{ "::127.0.0.1", 5000, ICE_M_TURN_DENY_LOOPBACK },
	{ "64:ff9b::7f00:1", 5000, ICE_M_TURN_DENY_LOOPBACK },
	{ "2002:7f00:1::", 5000, ICE_M_TURN_DENY_LOOPBACK },
	{ "10.1.2.3", 5000, ICE_M_TURN_DENY_PRIVATE },
	{ "::ffff:10.1.2.3", 5000, ICE_M_TURN_DENY_PRIVATE },
	{ "169.254.169.254", 80, ICE_M_TURN_DENY_METADATA },
	{ "224.0.0.1", 5000, ICE_M_TURN_DENY_MULTICAST },
	{ "ff02::1", 5000, ICE_M_TURN_DENY_MULTICAST },
	{ "fe80::1", 5000, ICE_M_TURN_DENY_LINK_LOCAL },
	{ "fc00::1", 5000, ICE_M_TURN_DENY_PRIVATE },
	{ "100.64.0.1", 5000, ICE_M_TURN_DENY_CGNAT },
	{ "0.0.0.0", 5000, ICE_M_TURN_DENY_UNSPECIFIED },
	{ "::", 5000, ICE_M_TURN_DENY_UNSPECIFIED },
	{ "255.255.255.255", 5000, ICE_M_TURN_DENY_BROADCAST },
	/* the server itself: its relay address and public IP, off the relay ports */
	{ "198.51.100.1", 3478, ICE_M_TURN_DENY_SELF },
	{ "203.0.113.10", 22, ICE_M_TURN_DENY_SELF },
};

static void
test_policy_table(void)
{
	struct harness h;
	int relay;

	h_config(&h);
	h_start(&h);
	relay = setup(&h);
	for (size_t i = 0; i < ICE_ARRAY_SIZE(denied); i++) {
		uint64_t before = h_metric(&h, denied[i].reason);
		int code = h_permission(&h, denied[i].ip, denied[i].port);

		if (code != 403)
			fprintf(stderr, "CreatePermission %s: %d\n", denied[i].ip, code);
		CHECK_EQ_INT(code, 403);
		CHECK(h_resp_signed(&h));
		CHECK_EQ_INT(h_bind(&h, 0x4000, denied[i].ip, denied[i].port), 403);
		CHECK_EQ_INT(h_metric(&h, denied[i].reason), before + 2);
		/* Send to it: dropped and counted by reason */
		CHECK_EQ_INT(h_send_ind(&h, denied[i].ip, denied[i].port, "x", false), 0);
		CHECK_EQ_INT(h_metric(&h, denied[i].reason), before + 3);
	}
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_403), 2 * ICE_ARRAY_SIZE(denied));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_DENIED_PEER), ICE_ARRAY_SIZE(denied));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 0);

	/* Another allocation's relay on this server (a relay port) is a fine peer:
	 * two clients both relayed through us. */
	CHECK_EQ_INT(h_permission(&h, "203.0.113.10", 50001), 0);
	CHECK_EQ_INT(h_send_ind(&h, "203.0.113.10", 50001, "x", false), 1);
	/* ... but the permission does not open the server's other ports */
	CHECK_EQ_INT(h_send_ind(&h, "203.0.113.10", 22, "x", false), 0);
	/* a public IPv6 peer on an IPv4 relay: 443 */
	CHECK_EQ_INT(h_permission(&h, "2001:4860:4860::8888", 0), 443);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "2001:4860:4860::8888", 53), 443);
	(void)relay;
	h_stop(&h);

	/* allowed-peer-ip overrides: tests on loopback, a LAN deployment */
	h_config(&h);
	h_cidr(&h.cfg.turn.allowed_peer_ip[0], "127.0.0.0/8");
	h_cidr(&h.cfg.turn.allowed_peer_ip[1], "10.0.0.0/8");
	h.cfg.turn.n_allowed_peer_ip = 2;
	h_cidr(&h.cfg.turn.denied_peer_ip[0], "1.1.1.0/24");
	h.cfg.turn.n_denied_peer_ip = 1;
	h_start(&h);
	relay = setup(&h);
	CHECK_EQ_INT(h_permission(&h, "127.0.0.1", 0), 0);
	CHECK_EQ_INT(h_permission(&h, "10.1.2.3", 0), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "127.0.0.1", 6000), 0);
	CHECK_EQ_INT(h_from_peer(&h, relay, "127.0.0.1", 6000, "lo"), 1);
	CHECK_EQ_INT(h_permission(&h, "192.168.0.1", 0), 403); /* still denied */
	CHECK_EQ_INT(h_permission(&h, "1.1.1.1", 0), 403);     /* denied-peer-ip */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DENY_CONFIG), 1);
	h_stop(&h);
}

static void
test_channels(void)
{
	struct harness h;
	int relay;
	ice_ms_t t;
	uint16_t ch, len;

	h_config(&h);
	h_start(&h);
	relay = setup(&h);
	REQUIRE(relay >= 0);
	CHECK_EQ_INT(h_channeldata(&h, 0x4000, "x"), 0); /* not bound */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_BAD_CHANNEL), 1);

	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	CHECK(h_resp_signed(&h));
	t = h.now + 600 * 1000;
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 1); /* installed by the bind */

	/* client -> peer */
	CHECK_EQ_INT(h_channeldata(&h, 0x4000, "media"), 1);
	CHECK_EQ_INT(h.io->peer_handle, relay);
	CHECK(h.io->peer_addr.port == 5000 && h.io->peer_len == 5);
	CHECK(memcmp(h.io->peer_buf, "media", 5) == 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_PKTS_TO_PEER_CD), 1);
	/* peer -> client as ChannelData (UDP: no padding) */
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5000, "reply"), 1);
	ch = (uint16_t)(h.io->client_buf[0] << 8 | h.io->client_buf[1]);
	len = (uint16_t)(h.io->client_buf[2] << 8 | h.io->client_buf[3]);
	CHECK_EQ_INT(ch, 0x4000);
	CHECK_EQ_INT(len, 5);
	CHECK_EQ_INT(h.io->client_len, 9);
	CHECK(memcmp(h.io->client_buf + 4, "reply", 5) == 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_PKTS_TO_CLIENT_CD), 1);
	/* the same IP from another port has the permission but no channel */
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5001, "ind"), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_PKTS_TO_CLIENT_IND), 1);

	/* rebinding rules (RFC 8656 §11.2) */
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);   /* same: refresh */
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5001), 400); /* number taken */
	CHECK_EQ_INT(h_bind(&h, 0x4001, "8.8.8.8", 5000), 400); /* peer taken */
	CHECK_EQ_INT(h_bind(&h, 0x3FFF, "1.1.1.1", 5000), 400);
	CHECK_EQ_INT(h_bind(&h, 0x8000, "1.1.1.1", 5000), 400);
	CHECK_EQ_INT(h_bind(&h, 0x4001, "1.1.1.1", 0), 400); /* port 0 */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 1);
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST);
		stun_build_channel(&r.b, 0x4002);
		CHECK_EQ_INT(h_send_signed(&h, &r), 400); /* no XOR-PEER-ADDRESS */
	}
	t = h.now + 600 * 1000; /* the refresh above moved the end */

	/* The permission lasts 300 s; keep it alive past the channel's end. */
	h.now = t - 200 * 1000;
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	h_at(&h, t - 1);
	CHECK_EQ_INT(h_channeldata(&h, 0x4000, "x"), 1);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5000, "y"), 1);
	CHECK_EQ_INT(h.io->client_buf[0], 0x40);
	h_at(&h, t);
	CHECK_EQ_INT(h_channeldata(&h, 0x4000, "x"), 0);
	/* the peer still has a permission: it arrives as a Data indication */
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5000, "y"), 1);
	CHECK_EQ_INT(h.io->client_buf[0], 0x00);
	/* quarantine: the number and the peer stay reserved for 5 minutes */
	CHECK_EQ_INT(h_bind(&h, 0x4000, "1.1.1.1", 5000), 400);
	CHECK_EQ_INT(h_bind(&h, 0x4005, "8.8.8.8", 5000), 400);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 1);
	h_at(&h, t + 300 * 1000 - 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 1);
	h_at(&h, t + 300 * 1000);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "1.1.1.1", 5000), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4005, "8.8.8.8", 5000), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 2);

	/* RFC 5766's upper numbers (coturn's uclient uses them) bind too */
	CHECK_EQ_INT(h_bind(&h, 0x7FFF, "1.1.1.1", 5001), 0);
	CHECK_EQ_INT(h_channeldata(&h, 0x7FFF, "x"), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 3);

	/* a channel whose permission lapsed relays nothing, in either direction */
	t = h.now + 300 * 1000;
	h_at(&h, t);
	CHECK_EQ_INT(h_channeldata(&h, 0x4005, "x"), 0);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5000, "y"), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 2); /* pinned by the channels */
	CHECK_EQ_INT(h_channeldata(&h, 0x7FFF, "x"), 0);
	/* re-binding refreshes the permission too */
	CHECK_EQ_INT(h_bind(&h, 0x4005, "8.8.8.8", 5000), 0);
	CHECK_EQ_INT(h_channeldata(&h, 0x4005, "x"), 1);
	/* the allocation ending takes everything with it */
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), 0);
	CHECK_EQ_INT(h_channeldata(&h, 0x4005, "x"), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_NO_ALLOCATION), 1);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5000, "y"), 0);
	h_stop(&h);
}

/* Over TCP, ChannelData to the client is padded to a multiple of 4 (zeros). */
static void
test_tcp_channeldata(void)
{
	struct harness h;
	int relay;

	h_config(&h);
	h_start(&h);
	h_set_client(&h, "192.0.2.1", 40000, TURN_PROTO_TCP);
	relay = setup(&h);
	CHECK_EQ_INT(h_bind(&h, 0x4abc, "8.8.8.8", 5000), 0);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 5000, "12345"), 1);
	CHECK_EQ_INT(h.io->client_len, 12);
	CHECK(h.io->client_buf[2] == 0 && h.io->client_buf[3] == 5);
	CHECK(h.io->client_buf[9] == 0 && h.io->client_buf[10] == 0 && h.io->client_buf[11] == 0);
	CHECK(h.io->client_ft.proto == TURN_PROTO_TCP);
	/* IPv6 peer Data indication header fits the headroom */
	h_stop(&h);

	h_config(&h);
	h_config_v6(&h);
	h_start(&h);
	{
		struct treq r;
		struct stun_msg ind;
		const struct stun_attr *at;

		h_get_nonce(&h);
		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		stun_build_requested_transport(&r.b, 17);
		stun_build_address_family(&r.b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
		CHECK_EQ_INT(h_send_signed(&h, &r), 0);
		relay = h_handle_of(&h, h_relayed(&h, 0).port);
		CHECK_EQ_INT(h_permission(&h, "2001:4860:4860::8888", 0), 0);
		CHECK_EQ_INT(h_from_peer(&h, relay, "2001:4860:4860::8888", 443, "abc"), 1);
		REQUIRE(stun_parse(&ind, h.io->client_buf, h.io->client_len) ==
		        (int)h.io->client_len);
		at = stun_msg_find(&ind, STUN_ATTR_DATA);
		CHECK(at != NULL && at->len == 3 && memcmp(at->value, "abc", 3) == 0);
		CHECK_EQ_INT(h.io->client_len, TURN_PEER_HEADROOM + 4);
	}
	h_stop(&h);
}

/* Malformed Send indications are dropped, counted, never answered. */
static void
test_bad_send(void)
{
	struct harness h;
	struct treq r;
	struct ice_addr a;

	h_config(&h);
	h_start(&h);
	/* no allocation */
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 53, "x", false), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_NO_ALLOCATION), 1);
	setup(&h);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	REQUIRE(ice_addr_parse_ip(&a, "8.8.8.8", 53) == 0);
	/* no DATA */
	treq_begin(&r, STUN_METHOD_SEND, STUN_CLASS_INDICATION);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), -1);
	/* an unknown comprehension-required attribute */
	treq_begin(&r, STUN_METHOD_SEND, STUN_CLASS_INDICATION);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &a);
	stun_build_attr(&r.b, STUN_ATTR_DATA, "x", 1);
	stun_build_attr(&r.b, 0x7123, "x", 1);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), -1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_MALFORMED), 2);
	CHECK_EQ_INT(h.io->n_peer, 0);
	h_stop(&h);
}

int
main(void)
{
	test_permissions();
	test_permission_all_or_nothing();
	test_policy_table();
	test_channels();
	test_tcp_channeldata();
	test_bad_send();
	TEST_DONE();
}
