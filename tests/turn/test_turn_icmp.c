/*
 * ICMP errors for relayed datagrams (RFC 8656 §11) on a fake clock: net
 * hands turn_handle_icmp the offending datagram's destination and the ICMP
 * type, code and MTU; the client gets a Data indication with
 * XOR-PEER-ADDRESS and ICMP (no DATA) only for a peer whose IP holds a live
 * permission, only for the types §11 names, at most TURN_ICMP_PER_S a
 * second per allocation, and every outcome is counted.
 */
#include "turn_harness.h"

/* An ICMP error for ip:port on relay handle; returns client sends made. */
static int
h_icmp(struct harness *h, int handle, const char *ip, uint16_t port, bool v6, uint8_t type,
       uint8_t code, uint32_t info)
{
	struct turn_icmp icmp = { .v6 = v6, .type = type, .code = code, .info = info };
	struct ice_addr a;
	int before = h->io->n_client;

	REQUIRE(ice_addr_parse_ip(&a, ip, port) == 0);
	turn_handle_icmp(h->srv, handle, &a, &icmp, h->now);
	if (h->io->n_client != before)
		CHECK(h->io->client_where == TURN_BUF_SCRATCH);
	return h->io->n_client - before;
}

/* The last thing sent to the client is a Data indication for ip:port with
 * ICMP type/code/data and no DATA. */
static void
check_icmp_indication(const struct harness *h, const char *ip, uint16_t port, uint8_t type,
                      uint8_t code, uint32_t data)
{
	struct stun_msg ind;
	struct ice_addr peer, want;
	uint8_t t, c;
	uint32_t d;

	REQUIRE(stun_parse(&ind, h->io->client_buf, h->io->client_len) == (int)h->io->client_len);
	CHECK(ind.cls == STUN_CLASS_INDICATION && ind.method == STUN_METHOD_DATA);
	REQUIRE(stun_msg_find(&ind, STUN_ATTR_XOR_PEER_ADDRESS) != NULL);
	REQUIRE(stun_attr_xor_addr(&ind, stun_msg_find(&ind, STUN_ATTR_XOR_PEER_ADDRESS), &peer) ==
	        0);
	REQUIRE(ice_addr_parse_ip(&want, ip, port) == 0);
	CHECK(ice_addr_ip_equal(&peer, &want) && peer.port == port);
	REQUIRE(stun_msg_find(&ind, STUN_ATTR_ICMP) != NULL);
	CHECK_EQ_INT(stun_attr_icmp(stun_msg_find(&ind, STUN_ATTR_ICMP), &t, &c, &d), 0);
	CHECK_EQ_INT(t, type);
	CHECK_EQ_INT(c, code);
	CHECK_EQ_INT(d, data);
	CHECK(stun_msg_find(&ind, STUN_ATTR_DATA) == NULL);
	CHECK(memcmp(&h->io->client_ft.client, &h->ft.client, sizeof(h->ft.client)) == 0);
}

static int
setup(struct harness *h)
{
	h->lifetime = 3600;
	CHECK_EQ_INT(h_allocate(h), 0);
	return h_handle_of(h, h_relayed(h, 0).port);
}

static void
test_icmp_v4(void)
{
	struct harness h;
	int relay;

	h_config(&h);
	h_start(&h);
	relay = setup(&h);
	REQUIRE(relay >= 0);

	/* no permission: dropped, counted */
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 5004, false, 3, 3, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_NO_PERMISSION), 1);

	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	/* port unreachable: the peer's port is kept (the permission's IP is what counts) */
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 5004, false, 3, 3, 0), 1);
	check_icmp_indication(&h, "8.8.8.8", 5004, 3, 3, 0);
	/* fragmentation needed carries the next-hop MTU; other codes carry 0 */
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 3, 4, 1280), 1);
	check_icmp_indication(&h, "8.8.8.8", 9, 3, 4, 1280);
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 3, 1, 77), 1);
	check_icmp_indication(&h, "8.8.8.8", 9, 3, 1, 0);
	/* time exceeded */
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 11, 0, 0), 1);
	check_icmp_indication(&h, "8.8.8.8", 9, 11, 0, 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_RELAYED), 4);
	/* parameter problem, redirect, source quench: not what §11 relays */
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 12, 0, 0), 0);
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 5, 1, 0), 0);
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 4, 0, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_IGNORED_TYPE), 3);
	/* another IP of the same /24 has no permission */
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.9", 9, false, 3, 3, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_NO_PERMISSION), 2);
	/* an unknown relay handle */
	CHECK_EQ_INT(h_icmp(&h, 999, "8.8.8.8", 9, false, 3, 3, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_NO_ALLOCATION), 1);
	/* nothing of this is relayed data */
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RELAY_PKTS_TO_CLIENT_IND), 0);

	/* the permission's exact end: relayed at t-1, dropped at t */
	h.now += 1000; /* a fresh rate window */
	{
		ice_ms_t t = h.now - 1000 + 300 * 1000;

		h.now = t - 1;
		CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 3, 3, 0), 1);
		h.now = t;
		CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 3, 3, 0), 0);
		CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_NO_PERMISSION), 3);
	}
	/* a deleted allocation's relay: no allocation */
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 9, false, 3, 3, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_NO_ALLOCATION), 2);
	h_stop(&h);
}

static void
test_icmp_rate(void)
{
	struct harness h;
	int relay, i;

	h_config(&h);
	h_start(&h);
	relay = setup(&h);
	REQUIRE(relay >= 0);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	h.now = (h.now / 1000 + 1) * 1000; /* the start of a second */
	for (i = 0; i < TURN_ICMP_PER_S; i++)
		CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", (uint16_t)(1000 + i), false, 3, 3, 0), 1);
	/* the rest of that second is over the limit, however many come */
	for (i = 0; i < 50; i++)
		CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 2000, false, 3, 3, 0), 0);
	h.now += 999;
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 2000, false, 3, 3, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_RATE_LIMITED), 51);
	/* the next second: relayed again */
	h.now += 1;
	CHECK_EQ_INT(h_icmp(&h, relay, "8.8.8.8", 2000, false, 3, 3, 0), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_RELAYED), TURN_ICMP_PER_S + 1);
	/* Send indications and peer data go on, untouched by the limit */
	CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 2000, "still", false), 1);
	CHECK_EQ_INT(h_from_peer(&h, relay, "8.8.8.8", 2000, "back"), 1);
	h_stop(&h);
}

static void
test_icmp_v6(void)
{
	struct harness h;
	struct treq r;
	int relay;

	h_config(&h);
	h_config_v6(&h);
	h_start(&h);
	h.lifetime = 3600;
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_address_family(&r.b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
	stun_build_u32(&r.b, STUN_ATTR_LIFETIME, 3600);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	relay = h_handle_of(&h, h_relayed(&h, 0).port);
	REQUIRE(relay >= 0);
	CHECK_EQ_INT(h_permission(&h, "2001:4860:4860::8888", 0), 0);

	/* destination unreachable (port), packet too big (MTU), time exceeded */
	CHECK_EQ_INT(h_icmp(&h, relay, "2001:4860:4860::8888", 443, true, 1, 4, 0), 1);
	check_icmp_indication(&h, "2001:4860:4860::8888", 443, 1, 4, 0);
	CHECK_EQ_INT(h_icmp(&h, relay, "2001:4860:4860::8888", 443, true, 2, 0, 1280), 1);
	check_icmp_indication(&h, "2001:4860:4860::8888", 443, 2, 0, 1280);
	CHECK_EQ_INT(h_icmp(&h, relay, "2001:4860:4860::8888", 443, true, 3, 0, 9), 1);
	check_icmp_indication(&h, "2001:4860:4860::8888", 443, 3, 0, 0);
	/* parameter problem and anything else: dropped */
	CHECK_EQ_INT(h_icmp(&h, relay, "2001:4860:4860::8888", 443, true, 4, 0, 40), 0);
	CHECK_EQ_INT(h_icmp(&h, relay, "2001:4860:4860::8888", 443, true, 11, 0, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_IGNORED_TYPE), 2);
	/* ICMPv6 11 is no ICMPv6 error §11 names, though ICMPv4 11 is (above);
	 * another address of the same /64 has no permission */
	CHECK_EQ_INT(h_icmp(&h, relay, "2001:4860:4860::8844", 443, true, 1, 4, 0), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_NO_PERMISSION), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ICMP_RELAYED), 3);
	h_stop(&h);
}

int
main(void)
{
	test_icmp_v4();
	test_icmp_rate();
	test_icmp_v6();
	TEST_DONE();
}
