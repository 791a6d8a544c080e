/*
 * TURN Allocate / Refresh on a fake clock: the 401 first leg, the success
 * response's attributes, retransmission (same success) and 437, every
 * Allocate error code in a table (400, 420, 437, 440, 442, 508), DONT-FRAGMENT,
 * LIFETIME clamping, Refresh and delete, exact expiry boundaries, EVEN-PORT
 * and RESERVATION-TOKEN, address families, TCP close. Auth and quotas are in
 * test_turn_auth.c.
 */
#include "icestation/log.h"

#include "turn_harness.h"

static void
test_allocate_success(void)
{
	struct harness h;
	struct ice_addr relayed, mapped;
	const struct stun_attr *at;
	uint32_t lifetime = 0;

	h_config(&h);
	h_start(&h);

	/* First leg: 401 with REALM, NONCE (cookie), PASSWORD-ALGORITHMS, no MI. */
	h_get_nonce(&h);
	CHECK(h.resp.integrity < 0);
	at = stun_msg_find(&h.resp, STUN_ATTR_REALM);
	CHECK(at != NULL && at->len == strlen(H_REALM));
	CHECK(h.nonce_len == LTC_NONCE_LEN && memcmp(h.nonce, "obMatJos2", 9) == 0);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_PASSWORD_ALGORITHMS) != NULL);
	CHECK_EQ_INT(h.io->opens, 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_401), 1);

	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK(h_resp_signed(&h));
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_SOFTWARE) != NULL);
	relayed = h_relayed(&h, 0);
	CHECK_EQ_INT(relayed.family, AF_INET);
	CHECK(relayed.ip[0] == 203 && relayed.ip[3] == 10); /* public IP, not 198.51.100.1 */
	CHECK_EQ_INT(relayed.port, h.io->relays[0].addr.port);
	at = stun_msg_find(&h.resp, STUN_ATTR_XOR_MAPPED_ADDRESS);
	REQUIRE(at != NULL && stun_attr_xor_addr(&h.resp, at, &mapped) == 0);
	CHECK(ice_addr_equal(&mapped, &h.ft.client));
	at = stun_msg_find(&h.resp, STUN_ATTR_LIFETIME);
	REQUIRE(at != NULL && stun_attr_u32(at, &lifetime) == 0);
	CHECK_EQ_INT(lifetime, 600);
	CHECK_EQ_INT(h.io->opens, 1);
	CHECK_EQ_INT(h.io->last_req.family, AF_INET);
	CHECK(!h.io->last_req.even_port && !h.io->last_req.dont_fragment);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOCATIONS), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOC_CREATED), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_SUCCESS), 1);
	h_stop(&h);
}

static void
test_retransmission(void)
{
	struct harness h;
	struct treq r;
	struct ice_addr first;
	uint8_t tid[STUN_TID_LEN];

	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	memcpy(tid, r.tid, sizeof(tid));
	stun_build_requested_transport(&r.b, 17);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	first = h_relayed(&h, 0);

	/* RFC 8656 §7.2: same transaction id -> the same success, no new relay. */
	treq_begin_tid(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_requested_transport(&r.b, 17);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK(h_resp_signed(&h));
	{
		struct ice_addr again = h_relayed(&h, 0);

		CHECK(ice_addr_equal(&again, &first));
	}
	CHECK_EQ_INT(h.io->opens, 1);
	/* Another transaction on a live 5-tuple -> 437 (signed: auth passed). */
	CHECK_EQ_INT(h_allocate(&h), 437);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h.io->opens, 1);
	h_stop(&h);
}

static void
test_no_allocation_437(void)
{
	struct harness h;
	struct treq r;

	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);
	CHECK_EQ_INT(h_refresh(&h, -1), 437);
	CHECK(h.resp.integrity < 0); /* answered before any crypto */
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 437);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 437);
	/* unsigned, too: no allocation is the first thing checked */
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), 437);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_437), 4);
	/* unknown method -> 400 */
	treq_begin(&r, 0x0ff, STUN_CLASS_REQUEST);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), 400);
	/* responses and stray indications from clients are dropped silently */
	treq_begin(&r, STUN_METHOD_BINDING, STUN_CLASS_SUCCESS);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), -1);
	treq_begin(&r, STUN_METHOD_BINDING, STUN_CLASS_INDICATION);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), -1);
	/* Binding requests are answered without auth */
	treq_begin(&r, STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
	treq_finish(&r);
	CHECK_EQ_INT(h_send(&h, &r), 0);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_XOR_MAPPED_ADDRESS) != NULL);
	h_stop(&h);
}

/* ---- Allocate error table ---- */

static void
add_tcp(struct stun_builder *b)
{
	stun_build_requested_transport(b, 6);
}

static void
add_sctp(struct stun_builder *b)
{
	stun_build_requested_transport(b, 132);
}

static void
add_udp(struct stun_builder *b)
{
	stun_build_requested_transport(b, 17);
}

static void
add_none(struct stun_builder *b)
{
	(void)b;
}

static void
add_token_and_even(struct stun_builder *b)
{
	add_udp(b);
	stun_build_u64(b, STUN_ATTR_RESERVATION_TOKEN, 0x1234);
	stun_build_attr(b, STUN_ATTR_EVEN_PORT, "\x00", 1);
}

static void
add_token_and_family(struct stun_builder *b)
{
	add_udp(b);
	stun_build_u64(b, STUN_ATTR_RESERVATION_TOKEN, 0x1234);
	stun_build_address_family(b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET);
}

static void
add_unknown_token(struct stun_builder *b)
{
	add_udp(b);
	stun_build_u64(b, STUN_ATTR_RESERVATION_TOKEN, 0xdeadbeef00ull);
}

static void
add_both_families(struct stun_builder *b)
{
	add_udp(b);
	stun_build_address_family(b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET);
	stun_build_address_family(b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, AF_INET6);
}

static void
add_v6(struct stun_builder *b)
{
	add_udp(b);
	stun_build_address_family(b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
}

static void
add_family_byte_3(struct stun_builder *b)
{
	add_udp(b);
	stun_build_attr(b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, "\x03\x00\x00\x00", 4);
}

static void
add_additional_v4(struct stun_builder *b)
{
	add_udp(b);
	stun_build_address_family(b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, AF_INET);
}

static void
add_even_r_and_additional(struct stun_builder *b)
{
	add_udp(b);
	stun_build_attr(b, STUN_ATTR_EVEN_PORT, "\x80", 1);
	stun_build_address_family(b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, AF_INET6);
}

static void
add_unknown_attr(struct stun_builder *b)
{
	add_udp(b);
	stun_build_attr(b, 0x7777, "abcd", 4);
}

static const struct {
	const char *name;
	void (*add)(struct stun_builder *b);
	int want;
	uint16_t unknown; /* expected in UNKNOWN-ATTRIBUTES for 420 */
} alloc_errors[] = {
	{ "no REQUESTED-TRANSPORT", add_none, 400, 0 },
	/* RFC 6062 §5.1: a TCP relay over a UDP client connection (these run
	 * over UDP); over TCP it works (test_turn_tcp.c). */
	{ "TCP relay over UDP", add_tcp, 400, 0 },
	{ "SCTP relay", add_sctp, 442, 0 },
	{ "RESERVATION-TOKEN with EVEN-PORT", add_token_and_even, 400, 0 },
	{ "RESERVATION-TOKEN with REQUESTED-ADDRESS-FAMILY", add_token_and_family, 400, 0 },
	{ "unknown RESERVATION-TOKEN", add_unknown_token, 508, 0 },
	{ "REQUESTED- and ADDITIONAL-ADDRESS-FAMILY", add_both_families, 400, 0 },
	{ "IPv6 without an IPv6 relay range", add_v6, 440, 0 },
	{ "address family 0x03", add_family_byte_3, 440, 0 },
	{ "ADDITIONAL-ADDRESS-FAMILY IPv4", add_additional_v4, 400, 0 },
	{ "EVEN-PORT R with ADDITIONAL-ADDRESS-FAMILY", add_even_r_and_additional, 400, 0 },
	{ "unknown comprehension-required attribute", add_unknown_attr, 420, 0x7777 },
};

static void
test_allocate_errors(void)
{
	for (size_t i = 0; i < ICE_ARRAY_SIZE(alloc_errors); i++) {
		struct harness h;
		struct treq r;
		int code;

		h_config(&h);
		h_start(&h);
		h_get_nonce(&h);
		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		alloc_errors[i].add(&r.b);
		code = h_send_signed(&h, &r);
		if (code != alloc_errors[i].want)
			fprintf(stderr, "case \"%s\": got %d\n", alloc_errors[i].name, code);
		CHECK_EQ_INT(code, alloc_errors[i].want);
		CHECK(h_resp_signed(&h)); /* errors after auth are signed */
		if (alloc_errors[i].unknown) {
			const struct stun_attr *u =
				stun_msg_find(&h.resp, STUN_ATTR_UNKNOWN_ATTRIBUTES);

			CHECK(u != NULL && u->len == 2 &&
			      u->value[0] == (alloc_errors[i].unknown >> 8) &&
			      u->value[1] == (alloc_errors[i].unknown & 0xff));
		}
		/* Nothing stays behind: no relay, no quota. */
		CHECK_EQ_INT(h.io->n_open, 0);
		CHECK_EQ_INT(turn_shared_allocations(h.sh), 0);
		CHECK_EQ_INT(turn_server_allocations(h.srv), 0);
		/* The same 5-tuple can still allocate. */
		CHECK_EQ_INT(h_allocate(&h), 0);
		h_stop(&h);
	}
}

/* DONT-FRAGMENT: honoured when relays can set DF, else 420 naming it (RFC 8656 §7.2). */
static void
test_dont_fragment(void)
{
	struct harness h;
	struct treq r;
	const struct stun_attr *u;

	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_attr(&r.b, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK(h.io->last_req.dont_fragment);
	h_stop(&h);

	h_config(&h);
	h_start(&h);
	turn_server_free(h.srv);
	h.tio.dont_fragment = false;
	h.srv = turn_server_new(&h.set, h.sh, &h.tio, 0, h.now, H_UNIX0);
	REQUIRE(h.srv != NULL);
	turn_server_set_metrics(h.srv, h.m);
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_attr(&r.b, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
	CHECK_EQ_INT(h_send_signed(&h, &r), 420);
	u = stun_msg_find(&h.resp, STUN_ATTR_UNKNOWN_ATTRIBUTES);
	CHECK(u != NULL && u->len == 2 && u->value[0] == 0x00 && u->value[1] == 0x1A);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_420), 1);
	CHECK_EQ_INT(h.io->opens, 0);
	h_stop(&h);
}

static uint32_t
resp_lifetime(const struct harness *h)
{
	const struct stun_attr *at = stun_msg_find(&h->resp, STUN_ATTR_LIFETIME);
	uint32_t v = 0;

	REQUIRE(at != NULL && stun_attr_u32(at, &v) == 0);
	return v;
}

static void
test_lifetimes(void)
{
	static const struct {
		uint32_t asked;
		uint32_t granted;
	} rows[] = {
		{ 0, 600 }, /* Allocate: 0 is not "delete" here; the default applies */
		{ 10, 600 }, { 599, 600 }, { 1200, 1200 }, { 3600, 3600 }, { 100000, 3600 },
	};

	for (size_t i = 0; i < ICE_ARRAY_SIZE(rows); i++) {
		struct harness h;
		struct treq r;

		h_config(&h);
		h_start(&h);
		h_get_nonce(&h);
		treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
		add_udp(&r.b);
		stun_build_u32(&r.b, STUN_ATTR_LIFETIME, rows[i].asked);
		CHECK_EQ_INT(h_send_signed(&h, &r), 0);
		CHECK_EQ_INT(resp_lifetime(&h), rows[i].granted);
		/* Refresh clamps the same way (asked 0 would delete: skip it). */
		if (rows[i].asked != 0) {
			CHECK_EQ_INT(h_refresh(&h, rows[i].asked), 0);
			CHECK_EQ_INT(resp_lifetime(&h), rows[i].granted);
			CHECK(h_resp_signed(&h));
		}
		h_stop(&h);
	}
}

/* The allocation lives exactly its lifetime: alive at t-1, gone at t. */
static void
test_expiry_boundary(void)
{
	struct harness h;
	ice_ms_t t;

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(h_allocate(&h), 0);
	t = h.now + 600 * 1000;
	h_at(&h, t - 1);
	CHECK_EQ_INT(h.io->closes, 0);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	h_at(&h, t);
	CHECK_EQ_INT(h.io->closes, 1);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOC_END_EXPIRED), 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOCATIONS), 0);
	h_at(&h, t + 1);
	CHECK_EQ_INT(h_refresh(&h, -1), 437);

	/* A Refresh at t-1 moves the end to t-1+600 s; the wheel is not
	 * re-armed, the first timer fires at t and re-arms itself. */
	CHECK_EQ_INT(h_allocate(&h), 0);
	t = h.now + 600 * 1000;
	h.now = t - 1;
	CHECK_EQ_INT(h_refresh(&h, -1), 0);
	h_at(&h, t);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	h_at(&h, t - 1 + 600 * 1000 - 1);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	h_at(&h, t - 1 + 600 * 1000);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 0);

	/* A request arriving after the end sees no allocation even if the
	 * timers have not run (lookups honour the exact time). */
	CHECK_EQ_INT(h_allocate(&h), 0);
	h.now += 600 * 1000;
	CHECK_EQ_INT(h_refresh(&h, -1), 437);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 0);
	h_stop(&h);
}

static void
test_refresh_delete(void)
{
	struct harness h;

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(resp_lifetime(&h), 0);
	CHECK(h_resp_signed(&h)); /* signed with the key the allocation held */
	CHECK_EQ_INT(h.io->closes, 1);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOC_END_DELETED), 1);
	CHECK_EQ_INT(h_refresh(&h, 0), 437);
	/* The 5-tuple is free again. */
	CHECK_EQ_INT(h_allocate(&h), 0);
	/* Refresh with a family the allocation lacks: 443; an unknown attribute: 420.
	 * (Malformed attribute lengths never get here: stun_parse rejects them.) */
	{
		struct treq r;

		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		stun_build_address_family(&r.b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
		CHECK_EQ_INT(h_send_signed(&h, &r), 443);
		treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
		stun_build_attr(&r.b, 0x7001, "x", 1);
		CHECK_EQ_INT(h_send_signed(&h, &r), 420);
	}
	h_stop(&h);
}

/* ---- EVEN-PORT and RESERVATION-TOKEN ---- */

static void
test_even_port(void)
{
	struct harness h;
	struct treq r;
	const struct stun_attr *tok;
	uint64_t token;
	struct ice_addr first, second;
	int reserved;

	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x00", 1);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	first = h_relayed(&h, 0);
	CHECK_EQ_INT(first.port % 2, 0);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_RESERVATION_TOKEN) == NULL);

	/* R bit: reserve port+1, hand out a token */
	h_set_client(&h, "192.0.2.1", 40001, TURN_PROTO_UDP);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x80", 1);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	first = h_relayed(&h, 0);
	CHECK_EQ_INT(first.port % 2, 0);
	tok = stun_msg_find(&h.resp, STUN_ATTR_RESERVATION_TOKEN);
	REQUIRE(tok != NULL && stun_attr_u64(tok, &token) == 0);
	reserved = h_handle_of(&h, (uint16_t)(first.port + 1));
	CHECK(reserved >= 0 && h.io->relays[reserved].dormant);

	/* another 5-tuple redeems it: the adjacent odd port */
	h_set_client(&h, "192.0.2.1", 40002, TURN_PROTO_UDP);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_u64(&r.b, STUN_ATTR_RESERVATION_TOKEN, token);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	second = h_relayed(&h, 0);
	CHECK_EQ_INT(second.port, first.port + 1);
	CHECK_EQ_INT(h.io->last_req.adopt, reserved);
	CHECK(!h.io->relays[reserved].dormant);
	/* a token works once */
	h_set_client(&h, "192.0.2.1", 40003, TURN_PROTO_UDP);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_u64(&r.b, STUN_ATTR_RESERVATION_TOKEN, token);
	CHECK_EQ_INT(h_send_signed(&h, &r), 508);

	/* an unredeemed reservation is closed after 30 s */
	h_set_client(&h, "192.0.2.1", 40004, TURN_PROTO_UDP);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x80", 1);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	first = h_relayed(&h, 0);
	reserved = h_handle_of(&h, (uint16_t)(first.port + 1));
	REQUIRE(reserved >= 0);
	h_at(&h, h.now + TURN_RESERVATION_LIFETIME_S * 1000 - 1);
	CHECK(h.io->relays[reserved].open);
	h_at(&h, h.now + 1);
	CHECK(!h.io->relays[reserved].open);
	h_stop(&h);
}

/* ---- address families (RFC 6156, RFC 8656 §7.2 dual allocation) ---- */

static void
test_families(void)
{
	struct harness h;
	struct treq r;
	struct ice_addr a0, a1;
	const struct stun_attr *ae;

	h_config(&h);
	h_config_v6(&h);
	h_start(&h);
	h_get_nonce(&h);
	/* REQUESTED-ADDRESS-FAMILY IPv6: a v6 relay, advertised as bound (public IP is v4) */
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_address_family(&r.b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	a0 = h_relayed(&h, 0);
	CHECK_EQ_INT(a0.family, AF_INET6);
	CHECK_EQ_INT(h.io->last_req.family, AF_INET6);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 443); /* v4 peer on a v6 relay */
	CHECK_EQ_INT(h_permission(&h, "2001:4860:4860::8888", 0), 0);

	/* ADDITIONAL-ADDRESS-FAMILY: both */
	h_set_client(&h, "192.0.2.1", 40001, TURN_PROTO_UDP);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_address_family(&r.b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, AF_INET6);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	a0 = h_relayed(&h, 0);
	a1 = h_relayed(&h, 1);
	CHECK_EQ_INT(a0.family, AF_INET);
	CHECK_EQ_INT(a1.family, AF_INET6);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_ADDRESS_ERROR_CODE) == NULL);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	CHECK_EQ_INT(h_permission(&h, "2001:4860:4860::8888", 0), 0);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(h.io->n_open, 1); /* both halves closed, the first allocation remains */

	/* The draft number coturn's clients send (uclient -Z): both halves too. */
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_address_family(&r.b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT, AF_INET6);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK_EQ_INT(h_relayed(&h, 0).family, AF_INET);
	CHECK_EQ_INT(h_relayed(&h, 1).family, AF_INET6);
	CHECK_EQ_INT(h_refresh(&h, 0), 0);
	CHECK_EQ_INT(h.io->n_open, 1);

	/* the v6 half fails alone: success with ADDRESS-ERROR-CODE */
	h.io->fail_v6 = -EADDRINUSE;
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_address_family(&r.b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, AF_INET6);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	ae = stun_msg_find(&h.resp, STUN_ATTR_ADDRESS_ERROR_CODE);
	CHECK(ae != NULL);
	if (ae != NULL) {
		int fam, code;
		const char *reason;
		size_t rl;

		CHECK(stun_attr_address_error(ae, &fam, &code, &reason, &rl) == 0);
		CHECK_EQ_INT(fam, AF_INET6);
		CHECK_EQ_INT(code, 508);
	}
	a1 = h_relayed(&h, 1);
	CHECK_EQ_INT(a1.family, 0);
	h_stop(&h);

	/* no v6 range at all: ADDRESS-ERROR-CODE 440 */
	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	add_udp(&r.b);
	stun_build_address_family(&r.b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, AF_INET6);
	CHECK_EQ_INT(h_send_signed(&h, &r), 0);
	CHECK(stun_msg_find(&h.resp, STUN_ATTR_ADDRESS_ERROR_CODE) != NULL);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_SUCCESS), 1);
	h_stop(&h);
}

/* A TCP client's allocation ends with its connection (RFC 8656 §3.1). */
static void
test_tcp_close(void)
{
	struct harness h;

	h_config(&h);
	h_start(&h);
	ice_log_set_level(ICE_LOG_DEBUG); /* exercise the lifecycle debug lines */
	h_set_client(&h, "192.0.2.1", 40000, TURN_PROTO_TCP);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK(h.io->client_ft.proto == TURN_PROTO_TCP && h.io->client_ft.link == &h.ft);
	/* same addresses over UDP are another 5-tuple */
	h_set_client(&h, "192.0.2.1", 40000, TURN_PROTO_UDP);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 2);
	h_set_client(&h, "192.0.2.1", 40000, TURN_PROTO_TCP);
	turn_close_5tuple(h.srv, &h.ft, h.now);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	CHECK_EQ_INT(h.io->closes, 1);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_ALLOC_END_CLOSED), 1);
	turn_close_5tuple(h.srv, &h.ft, h.now); /* twice: nothing */
	CHECK_EQ_INT(h.io->closes, 1);
	h_stop(&h);
	ice_log_set_level(ICE_LOG_INFO);
}

int
main(void)
{
	test_allocate_success();
	test_retransmission();
	test_no_allocation_437();
	test_allocate_errors();
	test_dont_fragment();
	test_lifetimes();
	test_expiry_boundary();
	test_refresh_delete();
	test_even_port();
	test_families();
	test_tcp_close();
	TEST_DONE();
}
