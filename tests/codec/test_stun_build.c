/*
 * Builder: a message using every builder call round-trips through the
 * parser and decoders; every cap below the full size fails with -ENOBUFS
 * and never writes past cap (the area ends at a PROT_NONE page). Decoder
 * edge cases sit here too.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <string.h>

#include "icestation/stun.h"

#include "guard.h"
#include "testutil.h"

static struct guard g;
static const uint8_t tid[STUN_TID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static const uint8_t key[] = "long-term-key";

static void
mkaddr(struct ice_addr *a, int family, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)family;
	a->port = port;
	REQUIRE(inet_pton(family, ip, a->ip) == 1);
}

/* Everything the builder can write, in one error response. */
static int
build_all(uint8_t *buf, size_t cap)
{
	struct stun_builder b;
	struct ice_addr v4, v6;
	static const uint16_t unk[] = { 0x0033, 0x7fff, 0x0044 };
	static const uint16_t algs[] = { STUN_PASSWORD_ALG_MD5, STUN_PASSWORD_ALG_SHA256 };
	struct stun_hmac_key k;

	mkaddr(&v4, AF_INET, "203.0.113.7", 3478);
	mkaddr(&v6, AF_INET6, "2001:db8::1", 65535);
	stun_hmac_key_init(&k, STUN_HMAC_SHA256, key, sizeof(key) - 1);
	stun_build_init(&b, buf, cap, STUN_METHOD_ALLOCATE, STUN_CLASS_ERROR, tid);
	stun_build_error(&b, 438, NULL);
	stun_build_unknown_attrs(&b, unk, 3);
	stun_build_attr(&b, STUN_ATTR_REALM, "example.org", 11);
	stun_build_attr(&b, STUN_ATTR_NONCE, "nonce-1", 7);
	stun_build_password_algorithms(&b, algs, 2);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &v4);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &v6);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &v6);
	stun_build_addr(&b, STUN_ATTR_ALTERNATE_SERVER, &v4);
	stun_build_u32(&b, STUN_ATTR_LIFETIME, 600);
	stun_build_u64(&b, STUN_ATTR_RESERVATION_TOKEN, 0x0102030405060708ull);
	stun_build_channel(&b, 0x4001);
	stun_build_requested_transport(&b, 17);
	stun_build_address_family(&b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
	stun_build_address_error(&b, AF_INET6, 440, NULL);
	stun_build_icmp(&b, 3, 4, 1400);
	stun_build_attr(&b, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, ICESTATION_SOFTWARE, strlen(ICESTATION_SOFTWARE));
	stun_build_integrity(&b, key, sizeof(key) - 1);
	stun_build_integrity_k(&b, &k);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

static void
test_roundtrip(void)
{
	uint8_t buf[1024];
	struct stun_msg m;
	struct ice_addr a, want;
	const struct stun_attr *at;
	const char *reason;
	size_t rlen, plen;
	const uint8_t *params;
	uint32_t u32, data;
	uint64_t u64;
	uint16_t ch, alg;
	uint8_t proto, itype, icode;
	int len, code, fam, n;
	struct stun_pwalg_iter it;

	len = build_all(buf, sizeof(buf));
	REQUIRE(len > 0);
	CHECK_EQ_INT(len % 4, 0);
	CHECK_EQ_INT(stun_parse(&m, guard_put(&g, buf, (size_t)len), (size_t)len), len);
	CHECK(m.method == STUN_METHOD_ALLOCATE && m.cls == STUN_CLASS_ERROR);
	CHECK(memcmp(m.tid, tid, sizeof(tid)) == 0);
	CHECK_EQ_INT(m.n_attrs, 21);
	CHECK_EQ_INT(stun_msg_check_integrity(&m, key, sizeof(key) - 1), 0);
	{
		struct stun_hmac_key k1;
		stun_hmac_key_init(&k1, STUN_HMAC_SHA1, key, sizeof(key) - 1);
		CHECK_EQ_INT(stun_msg_check_integrity_k(&m, &k1), 0);
	}

	CHECK_EQ_INT(stun_attr_error_code(stun_msg_find(&m, STUN_ATTR_ERROR_CODE), &code, &reason,
	                                  &rlen),
	             0);
	CHECK(code == 438 && rlen == 11 && memcmp(reason, "Stale Nonce", 11) == 0);
	at = stun_msg_find(&m, STUN_ATTR_UNKNOWN_ATTRIBUTES);
	CHECK(at && at->len == 6 && at->value[0] == 0x00 && at->value[1] == 0x33 &&
	      at->value[5] == 0x44);
	stun_pwalgs_init(&it, stun_msg_find(&m, STUN_ATTR_PASSWORD_ALGORITHMS));
	CHECK_EQ_INT(stun_pwalgs_next(&it, &alg, &params, &plen), 1);
	CHECK(alg == STUN_PASSWORD_ALG_MD5 && plen == 0);
	CHECK_EQ_INT(stun_pwalgs_next(&it, &alg, &params, &plen), 1);
	CHECK(alg == STUN_PASSWORD_ALG_SHA256 && plen == 0);
	CHECK_EQ_INT(stun_pwalgs_next(&it, &alg, &params, &plen), 0);

	/* Both XOR-RELAYED-ADDRESS (RFC 8656 dual allocation), in order. */
	n = 0;
	stun_attr_foreach(&m, at) {
		if (at->type != STUN_ATTR_XOR_RELAYED_ADDRESS)
			continue;
		CHECK_EQ_INT(stun_attr_xor_addr(&m, at, &a), 0);
		if (n++ == 0)
			mkaddr(&want, AF_INET, "203.0.113.7", 3478);
		else
			mkaddr(&want, AF_INET6, "2001:db8::1", 65535);
		CHECK(memcmp(&a, &want, sizeof(a)) == 0);
	}
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(stun_attr_addr(stun_msg_find(&m, STUN_ATTR_ALTERNATE_SERVER), &a), 0);
	mkaddr(&want, AF_INET, "203.0.113.7", 3478);
	CHECK(memcmp(&a, &want, sizeof(a)) == 0);
	CHECK_EQ_INT(stun_attr_u32(stun_msg_find(&m, STUN_ATTR_LIFETIME), &u32), 0);
	CHECK_EQ_INT(u32, 600);
	CHECK_EQ_INT(stun_attr_u64(stun_msg_find(&m, STUN_ATTR_RESERVATION_TOKEN), &u64), 0);
	CHECK(u64 == 0x0102030405060708ull);
	CHECK_EQ_INT(stun_attr_channel(stun_msg_find(&m, STUN_ATTR_CHANNEL_NUMBER), &ch), 0);
	CHECK_EQ_INT(ch, 0x4001);
	CHECK_EQ_INT(stun_attr_requested_transport(stun_msg_find(&m, STUN_ATTR_REQUESTED_TRANSPORT),
	                                           &proto),
	             0);
	CHECK_EQ_INT(proto, 17);
	CHECK_EQ_INT(stun_attr_address_family(stun_msg_find(&m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY),
	                                      &fam),
	             0);
	CHECK_EQ_INT(fam, AF_INET6);
	CHECK_EQ_INT(stun_attr_address_error(stun_msg_find(&m, STUN_ATTR_ADDRESS_ERROR_CODE), &fam,
	                                     &code, &reason, &rlen),
	             0);
	CHECK(fam == AF_INET6 && code == 440 && rlen == strlen("Address Family not Supported"));
	CHECK_EQ_INT(stun_attr_icmp(stun_msg_find(&m, STUN_ATTR_ICMP), &itype, &icode, &data), 0);
	CHECK(itype == 3 && icode == 4 && data == 1400);
	at = stun_msg_find(&m, STUN_ATTR_DONT_FRAGMENT);
	CHECK(at && at->len == 0);
	at = stun_msg_find(&m, STUN_ATTR_SOFTWARE);
	CHECK(at && at->len == strlen(ICESTATION_SOFTWARE));
}

/* Every cap short of the full length: -ENOBUFS, nothing written past cap. */
static void
test_overrun(void)
{
	uint8_t ref[1024];
	int full = build_all(ref, sizeof(ref));

	REQUIRE(full > 0);
	for (int cap = 0; cap <= full; cap++) {
		uint8_t *area = guard_area(&g, (size_t)cap);
		int rc = build_all(area, (size_t)cap);

		if (cap < full)
			CHECK_EQ_INT(rc, -ENOBUFS);
		else
			CHECK(rc == full && memcmp(area, ref, (size_t)full) == 0);
		/* The bytes in front of the area are untouched. */
		CHECK(g.map[g.page - (size_t)cap - 1] == 0xEE);
	}
}

static void
test_sticky_and_limits(void)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct ice_addr bad;
	char longreason[STUN_MAX_REASON_LEN + 2];

	/* FINGERPRINT must be last. */
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, tid);
	stun_build_fingerprint(&b);
	stun_build_u32(&b, STUN_ATTR_LIFETIME, 1);
	CHECK_EQ_INT(stun_build_finish(&b), -EINVAL);

	/* Unset family; the error sticks through later successful-looking calls. */
	memset(&bad, 0, sizeof(bad));
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, tid);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &bad);
	stun_build_u32(&b, STUN_ATTR_LIFETIME, 1);
	CHECK_EQ_INT(stun_build_finish(&b), -EAFNOSUPPORT);

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_ERROR, tid);
	stun_build_error(&b, 200, NULL);
	CHECK_EQ_INT(stun_build_finish(&b), -EINVAL);

	memset(longreason, 'x', sizeof(longreason) - 1);
	longreason[sizeof(longreason) - 1] = 0;
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_ERROR, tid);
	stun_build_error(&b, 400, longreason);
	CHECK_EQ_INT(stun_build_finish(&b), -EINVAL);

	/* A value longer than a STUN length can say. */
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	stun_build_attr(&b, STUN_ATTR_DATA, buf, 70000);
	CHECK_EQ_INT(stun_build_finish(&b), -EMSGSIZE);

	/* Header-only message. */
	stun_build_init(&b, buf, 20, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid);
	CHECK_EQ_INT(stun_build_finish(&b), 20);
	CHECK(buf[0] == 0 && buf[1] == 1 && buf[2] == 0 && buf[3] == 0 && buf[4] == 0x21);

	CHECK_STR(stun_error_reason(401), "Unauthorized");
	CHECK_STR(stun_error_reason(437), "Allocation Mismatch");
	CHECK_STR(stun_error_reason(443), "Peer Address Family Mismatch");
	CHECK_STR(stun_error_reason(486), "Allocation Quota Reached");
	CHECK_STR(stun_error_reason(508), "Insufficient Capacity");
	CHECK_STR(stun_error_reason(499), "Error");
}

/* Decoders given malformed values (attributes built by hand, guarded). */
struct dcase {
	const char *name;
	uint16_t type;
	uint8_t v[12];
	uint16_t len;
	int rc;
};

static const struct dcase dcases[] = {
	{ "ERROR-CODE class 2", STUN_ATTR_ERROR_CODE, { 0, 0, 2, 0 }, 4, -EBADMSG },
	{ "ERROR-CODE class 7", STUN_ATTR_ERROR_CODE, { 0, 0, 7, 0 }, 4, -EBADMSG },
	{ "ERROR-CODE number 100", STUN_ATTR_ERROR_CODE, { 0, 0, 4, 100 }, 4, -EBADMSG },
	{ "ERROR-CODE 699 ok", STUN_ATTR_ERROR_CODE, { 0, 0, 6, 99 }, 4, 0 },
	{ "ERROR-CODE short", STUN_ATTR_ERROR_CODE, { 0, 0, 4 }, 3, -EBADMSG },
	{ "ADDRESS-ERROR-CODE family 3",
	  STUN_ATTR_ADDRESS_ERROR_CODE,
	  { 3, 0, 4, 40 },
	  4,
	  -EBADMSG },
	{ "ADDRESS-ERROR-CODE ok", STUN_ATTR_ADDRESS_ERROR_CODE, { 1, 0, 5, 8 }, 4, 0 },
	{ "REQUESTED-ADDRESS-FAMILY 3",
	  STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
	  { 3 },
	  4,
	  -EAFNOSUPPORT },
	{ "REQUESTED-ADDRESS-FAMILY short",
	  STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
	  { 1 },
	  2,
	  -EBADMSG },
	{ "ALTERNATE-SERVER family 0",
	  STUN_ATTR_ALTERNATE_SERVER,
	  { 0, 0, 0, 1, 1, 2, 3, 4 },
	  8,
	  -EBADMSG },
	{ "ALTERNATE-SERVER short v6",
	  STUN_ATTR_ALTERNATE_SERVER,
	  { 0, 2, 0, 1, 1, 2, 3, 4 },
	  8,
	  -EBADMSG },
	{ "ALTERNATE-SERVER 7 bytes",
	  STUN_ATTR_ALTERNATE_SERVER,
	  { 0, 1, 0, 1, 1, 2, 3 },
	  7,
	  -EBADMSG },
	{ "EVEN-PORT empty", STUN_ATTR_EVEN_PORT, { 0 }, 0, -EBADMSG },
	{ "ICMP short", STUN_ATTR_ICMP, { 0, 0, 3, 4 }, 4, -EBADMSG },
	{ "PASSWORD-ALGORITHM trailing",
	  STUN_ATTR_PASSWORD_ALGORITHM,
	  { 0, 2, 0, 0, 9, 9, 9, 9 },
	  8,
	  -EBADMSG },
	{ "PASSWORD-ALGORITHM params overrun",
	  STUN_ATTR_PASSWORD_ALGORITHM,
	  { 0, 2, 0, 8, 1, 2 },
	  6,
	  -EBADMSG },
	{ "PASSWORD-ALGORITHM with params",
	  STUN_ATTR_PASSWORD_ALGORITHM,
	  { 0, 9, 0, 2, 7, 7, 0, 0 },
	  8,
	  0 },
};

static int
decode(const struct stun_attr *a)
{
	struct ice_addr addr;
	const char *reason;
	const uint8_t *params;
	size_t rlen, plen;
	int code, fam;
	bool r;
	uint8_t t, c;
	uint32_t d;
	uint16_t alg;

	switch (a->type) {
	case STUN_ATTR_ERROR_CODE:
		return stun_attr_error_code(a, &code, &reason, &rlen);
	case STUN_ATTR_ADDRESS_ERROR_CODE:
		return stun_attr_address_error(a, &fam, &code, &reason, &rlen);
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
		return stun_attr_address_family(a, &fam);
	case STUN_ATTR_ALTERNATE_SERVER:
		return stun_attr_addr(a, &addr);
	case STUN_ATTR_EVEN_PORT:
		return stun_attr_even_port(a, &r);
	case STUN_ATTR_ICMP:
		return stun_attr_icmp(a, &t, &c, &d);
	case STUN_ATTR_PASSWORD_ALGORITHM:
		return stun_attr_password_algorithm(a, &alg, &params, &plen);
	default:
		return -999;
	}
}

static void
test_decoders(void)
{
	for (size_t i = 0; i < ICE_ARRAY_SIZE(dcases); i++) {
		const struct dcase *d = &dcases[i];
		struct stun_attr a = { .type = d->type, .len = d->len, .offset = 20 };
		int rc;

		a.value = guard_put(&g, d->v, d->len);
		rc = decode(&a);
		if (rc != d->rc)
			fprintf(stderr, "decoder case '%s': %d != %d\n", d->name, rc, d->rc);
		CHECK_EQ_INT(rc, d->rc);
	}

	/* PASSWORD-ALGORITHMS: a second entry cut short stops the iteration. */
	{
		static const uint8_t v[] = { 0, 1, 0, 0, 0, 2, 0, 4, 1, 2 };
		struct stun_attr a = { .type = STUN_ATTR_PASSWORD_ALGORITHMS, .len = sizeof(v) };
		struct stun_pwalg_iter it;
		const uint8_t *params;
		size_t plen;
		uint16_t alg;

		a.value = guard_put(&g, v, sizeof(v));
		stun_pwalgs_init(&it, &a);
		CHECK_EQ_INT(stun_pwalgs_next(&it, &alg, &params, &plen), 1);
		CHECK_EQ_INT(alg, 1);
		CHECK_EQ_INT(stun_pwalgs_next(&it, &alg, &params, &plen), -EBADMSG);
		CHECK_EQ_INT(stun_pwalgs_next(&it, &alg, &params, &plen), 0);
	}
}

int
main(void)
{
	guard_init(&g);
	test_roundtrip();
	test_overrun();
	test_sticky_and_limits();
	test_decoders();
	guard_fini(&g);
	TEST_DONE();
}
