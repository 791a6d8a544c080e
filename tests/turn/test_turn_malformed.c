/*
 * Requests that are well framed but carry a malformed comprehension-required
 * attribute (stun_parse -EPROTO), on the fake clock: once authenticated they
 * get a signed 400 and change nothing (no relay opened, the allocation left
 * as it was); unauthenticated ones get the usual 401 challenge, so a
 * stranger learns nothing; a Binding gets a plain 400; indications are
 * dropped and counted. And RFC 8656 §7.2: EVEN-PORT with RESERVATION-TOKEN
 * is 400 whether the EVEN-PORT is well formed or not.
 */
#include "turn_harness.h"

/* Finish r (signed with h's credential and nonce when sign), expect -EPROTO
 * naming bad, send it; its answer code, -1 for none. */
static int
send_bad(struct harness *h, struct treq *r, bool sign, uint16_t bad)
{
	if (sign)
		treq_sign(r, &h->cred, H_REALM, h->nonce, h->nonce_len, false);
	stun_build_fingerprint(&r->b);
	r->len = stun_build_finish(&r->b);
	REQUIRE(r->len > 0);
	REQUIRE(stun_parse(&r->msg, r->buf, (size_t)r->len) == -EPROTO);
	CHECK_EQ_INT(r->msg.bad_attr, bad);
	return h_send(h, r);
}

static void
test_allocate(void)
{
	struct harness h;
	struct treq r;

	h_config(&h);
	h_start(&h);
	h_get_nonce(&h);

	/* an EVEN-PORT of 4 bytes beside a RESERVATION-TOKEN: what got no
	 * answer at all when the codec dropped the whole message */
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x80\0\0\0", 4);
	stun_build_u64(&r.b, STUN_ATTR_RESERVATION_TOKEN, 0x1234);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_EVEN_PORT), 400);
	CHECK(h_resp_signed(&h));
	/* a lone EVEN-PORT of 4 bytes, a LIFETIME of 3, a REQUESTED-TRANSPORT of 1 */
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\0\0\0\0", 4);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_EVEN_PORT), 400);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_LIFETIME, "\0\0\x0e", 3);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_LIFETIME), 400);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_REQUESTED_TRANSPORT, "\x11", 1);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_REQUESTED_TRANSPORT), 400);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h.io->opens, 0);
	CHECK_EQ_INT(turn_shared_allocations(h.sh), 0);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_400), 4);

	/* unauthenticated: the challenge, not the 400 */
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x80\0\0\0", 4);
	CHECK_EQ_INT(send_bad(&h, &r, false, STUN_ATTR_EVEN_PORT), 401);
	CHECK(h.resp.integrity < 0);
	/* with a wrong credential: 401 too */
	h_mint(&h, "guess", 3600, "did:peers:mallory");
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x80\0\0\0", 4);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_EVEN_PORT), 401);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_RESP_400), 4);

	/* a well-formed EVEN-PORT with RESERVATION-TOKEN: 400 as well */
	h_mint(&h, H_SECRET, 3600, "did:peers:alice");
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 17);
	stun_build_attr(&r.b, STUN_ATTR_EVEN_PORT, "\x80", 1);
	stun_build_u64(&r.b, STUN_ATTR_RESERVATION_TOKEN, 0x1234);
	CHECK_EQ_INT(h_send_signed(&h, &r), 400);
	CHECK_EQ_INT(h.io->opens, 0);
	/* and the client's next good Allocate works */
	CHECK_EQ_INT(h_allocate(&h), 0);
	h_stop(&h);
}

static void
test_on_allocation(void)
{
	struct harness h;
	struct treq r;

	h_config(&h);
	h_start(&h);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);

	/* Refresh with a 2-byte LIFETIME: 400, and not read as "no LIFETIME"
	 * (which would refresh) nor as 0 (which would delete) */
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_LIFETIME, "\0\0", 2);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_LIFETIME), 400);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(turn_server_allocations(h.srv), 1);
	h_at(&h, H_T0 + 600 * 1000);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 0); /* its lifetime did not move */
	CHECK_EQ_INT(h_allocate(&h), 0);

	/* CreatePermission with an XOR-PEER-ADDRESS of the wrong length */
	treq_begin(&r, STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, "\0\x01\0\0\0\0\0\0\0\0\0\0", 12);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_XOR_PEER_ADDRESS), 400);
	/* ChannelBind with a 2-byte CHANNEL-NUMBER */
	treq_begin(&r, STUN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_CHANNEL_NUMBER, "\x40\0", 2);
	{
		struct ice_addr peer;

		REQUIRE(ice_addr_parse_ip(&peer, "8.8.8.8", 5000) == 0);
		stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &peer);
	}
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_CHANNEL_NUMBER), 400);
	CHECK(h_resp_signed(&h));
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), 0);
	/* another user's credential still gets 441 first */
	h_mint(&h, H_SECRET, 3600, "did:peers:bob");
	treq_begin(&r, STUN_METHOD_REFRESH, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_LIFETIME, "\0\0", 2);
	CHECK_EQ_INT(send_bad(&h, &r, true, STUN_ATTR_LIFETIME), 441);
	h_stop(&h);
}

static void
test_binding_and_indications(void)
{
	struct harness h;
	struct treq r;

	h_config(&h);
	h_start(&h);
	/* Binding: no auth, a plain 400 */
	treq_begin(&r, STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
	stun_build_attr(&r.b, STUN_ATTR_PRIORITY, "\0\0", 2);
	CHECK_EQ_INT(send_bad(&h, &r, false, STUN_ATTR_PRIORITY), 400);
	CHECK(h.resp.integrity < 0);

	/* Send indication with a malformed attribute: dropped, counted */
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_permission(&h, "8.8.8.8", 0), 0);
	{
		struct ice_addr peer;
		int before = h.io->n_peer;

		REQUIRE(ice_addr_parse_ip(&peer, "8.8.8.8", 5000) == 0);
		treq_begin(&r, STUN_METHOD_SEND, STUN_CLASS_INDICATION);
		stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &peer);
		stun_build_attr(&r.b, STUN_ATTR_DATA, "ping", 4);
		stun_build_attr(&r.b, STUN_ATTR_DONT_FRAGMENT, "x", 1);
		CHECK_EQ_INT(send_bad(&h, &r, false, STUN_ATTR_DONT_FRAGMENT), -1);
		CHECK_EQ_INT(h.io->n_peer, before);
		CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_DROP_MALFORMED), 1);
		/* the same without the bad attribute goes through */
		CHECK_EQ_INT(h_send_ind(&h, "8.8.8.8", 5000, "ping", false), 1);
	}
	h_stop(&h);
}

int
main(void)
{
	test_allocate();
	test_on_allocation();
	test_binding_and_indications();
	TEST_DONE();
}
