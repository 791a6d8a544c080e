/*
 * The stream framer (src/net/stream_frame.h): what the front of a TCP/TLS
 * client's stream is (a whole frame, the start of one, garbage, too long),
 * each case placed right before a guard page so an over-read faults; then
 * the input buffer: the rest moved to the front and grown to the whole of
 * the frame it starts, never past the listener's maximum.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/stun.h"

#include "codec/guard.h"
#include "stream_frame.h"
#include "testutil.h"

enum {
	TURN_MAX = 20 + 65535, /* NET_TCP_FRAME_MAX: a listener serving TURN */
	STUN_MAX = 4096,       /* NET_TCP_STUN_FRAME_MAX: a STUN-only one */
};

static struct guard g;

/* A STUN header: type, body length, cookie, transaction id 0x11... */
static size_t
stun_hdr(uint8_t *p, uint16_t type, uint16_t len, uint32_t cookie)
{
	p[0] = (uint8_t)(type >> 8);
	p[1] = (uint8_t)type;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[4] = (uint8_t)(cookie >> 24);
	p[5] = (uint8_t)(cookie >> 16);
	p[6] = (uint8_t)(cookie >> 8);
	p[7] = (uint8_t)cookie;
	memset(p + 8, 0x11, 12);
	return 20;
}

static size_t
cd_hdr(uint8_t *p, uint16_t channel, uint16_t len)
{
	p[0] = (uint8_t)(channel >> 8);
	p[1] = (uint8_t)channel;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	return 4;
}

/* Cut bytes[0..len) (at the guard page) with max; check the answer. */
static void
cut_case(const char *name, const uint8_t *bytes, size_t len, size_t max, enum stream_cut want,
         size_t want_len)
{
	size_t n = 12345;
	enum stream_cut got = stream_frame_cut(guard_put(&g, bytes, len), len, max, &n);

	if (got != want || n != want_len)
		fprintf(stderr, "%s: got cut %d len %zu, want %d len %zu\n", name, (int)got, n,
		        (int)want, want_len);
	CHECK(got == want);
	CHECK_EQ_INT(n, want_len);
}

static void
test_stun(void)
{
	uint8_t b[64] = { 0 };

	stun_hdr(b, 0x0001, 0, STUN_MAGIC_COOKIE);
	cut_case("binding, whole", b, 20, TURN_MAX, STREAM_CUT_FRAME, 20);
	cut_case("binding, 19 of 20", b, 19, TURN_MAX, STREAM_CUT_MORE, 20);
	cut_case("binding, 4 of 20", b, 4, TURN_MAX, STREAM_CUT_MORE, 20);
	cut_case("binding, 3 of 20", b, 3, TURN_MAX, STREAM_CUT_MORE, 0);
	cut_case("nothing in", b, 0, TURN_MAX, STREAM_CUT_MORE, 0);
	/* A frame and the start of the next: only the first is cut. */
	stun_hdr(b, 0x0003, 8, STUN_MAGIC_COOKIE);
	stun_hdr(b + 28, 0x0001, 0, STUN_MAGIC_COOKIE);
	cut_case("allocate, next one behind it", b, 28 + 10, TURN_MAX, STREAM_CUT_FRAME, 28);
	stun_hdr(b, 0x0001, 6, STUN_MAGIC_COOKIE);
	cut_case("length not a multiple of 4", b, 4, TURN_MAX, STREAM_CUT_BAD, 0);
	stun_hdr(b, 0x0001, 0, 0xdeadbeef);
	cut_case("wrong cookie, whole", b, 20, TURN_MAX, STREAM_CUT_BAD, 0);
	/* Decided at the eighth byte, not once 20 + 64 bytes have come. */
	stun_hdr(b, 0x0001, 64, 0xdeadbeef);
	cut_case("wrong cookie, 8 bytes in", b, 8, TURN_MAX, STREAM_CUT_BAD, 0);
	cut_case("cookie not in yet", b, 7, TURN_MAX, STREAM_CUT_MORE, 84);
	/* 20 + 65532 is over a message's 65535 bytes: too long at the fourth
	 * byte, although a TURN listener takes 20 + 65535. */
	stun_hdr(b, 0x0001, 65532, STUN_MAGIC_COOKIE);
	cut_case("over 65535", b, 4, TURN_MAX, STREAM_CUT_OVERSIZED, 0);
	stun_hdr(b, 0x0001, 65512, STUN_MAGIC_COOKIE);
	cut_case("65532, the largest", b, 8, TURN_MAX, STREAM_CUT_MORE, 65532);
	/* A STUN-only listener takes 4096 bytes: 20 + 4080 is too long. */
	stun_hdr(b, 0x0001, 4080, STUN_MAGIC_COOKIE);
	cut_case("over a STUN listener's max", b, 4, STUN_MAX, STREAM_CUT_OVERSIZED, 0);
	cut_case("at a STUN listener's max", b, 20, STUN_MAX + 4, STREAM_CUT_MORE, 4100);
}

static void
test_channeldata(void)
{
	uint8_t b[32] = { 0 };

	cd_hdr(b, 0x4000, 5);
	cut_case("5 bytes padded to 8", b, 12, TURN_MAX, STREAM_CUT_FRAME, 12);
	cut_case("padding not in yet", b, 9, TURN_MAX, STREAM_CUT_MORE, 12);
	cut_case("header only", b, 4, TURN_MAX, STREAM_CUT_MORE, 12);
	cd_hdr(b, 0x7fff, 0);
	cut_case("empty payload", b, 4, TURN_MAX, STREAM_CUT_FRAME, 4);
	cd_hdr(b, 0x4001, 65535);
	cut_case("largest, on a TURN listener", b, 4, TURN_MAX, STREAM_CUT_MORE, 4 + 65536);
	cut_case("largest, on a STUN listener", b, 4, STUN_MAX, STREAM_CUT_OVERSIZED, 0);
}

static void
test_garbage(void)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00 }; /* a ClientHello */
	static const uint8_t rtp[] = { 0x80, 0x60, 0x00, 0x01 };
	static const uint8_t http[] = { 'G', 'E', 'T', ' ' };

	cut_case("TLS on the TCP port", tls, sizeof(tls), TURN_MAX, STREAM_CUT_BAD, 0);
	/* The first byte decides: no need to wait for a header. */
	cut_case("TLS, first byte alone", tls, 1, TURN_MAX, STREAM_CUT_BAD, 0);
	cut_case("ChannelData, first byte alone", (const uint8_t *)"\x40", 1, TURN_MAX,
	         STREAM_CUT_MORE, 0);
	cut_case("RTP", rtp, sizeof(rtp), TURN_MAX, STREAM_CUT_BAD, 0);
	/* 'G' is 71: RFC 5766's channel range (0x4000-0x7FFF) takes 64-127,
	 * so "GET " frames as channel 0x4745 with 0x5420 bytes: a TURN
	 * listener waits for them (the frame deadline ends it), a STUN-only
	 * one refuses the length at once. */
	cut_case("HTTP on TURN", http, sizeof(http), TURN_MAX, STREAM_CUT_MORE, 4 + 0x5420);
	cut_case("HTTP on STUN", http, sizeof(http), STUN_MAX, STREAM_CUT_OVERSIZED, 0);
}

/*
 * stream_frame_keep on a malloc'ed buffer of cap bytes holding
 * bytes[0..len), off of them handed on: the rest must be at the front
 * (bytes[off..len)) and the buffer want_cap bytes.
 */
static void
keep_case(const char *name, const uint8_t *bytes, size_t len, size_t cap, size_t off, size_t max,
          size_t want_cap)
{
	uint8_t *p = malloc(cap);
	size_t n = len, c = cap;

	REQUIRE(p != NULL);
	memcpy(p, bytes, len);
	CHECK_EQ_INT(stream_frame_keep(&p, &n, &c, off, max), 0);
	if (n != len - off || c != want_cap || memcmp(p, bytes + off, n) != 0)
		fprintf(stderr, "%s: len %zu cap %zu, want %zu %zu\n", name, n, c, len - off,
		        want_cap);
	CHECK_EQ_INT(n, len - off);
	CHECK_EQ_INT(c, want_cap);
	CHECK(memcmp(p, bytes + off, n) == 0);
	free(p);
}

static void
test_keep(void)
{
	uint8_t b[64] = { 0 }, big[8];

	/* A Binding (20), ChannelData (12), the header of a 3000-byte one. */
	stun_hdr(b, 0x0001, 0, STUN_MAGIC_COOKIE);
	cd_hdr(b + 20, 0x4000, 5);
	cd_hdr(b + 32, 0x4002, 3000);
	memset(b + 36, 0xab, 4);
	/* Two frames handed on: the rest moved, the buffer grown to its
	 * whole length; with room already, nothing grows. */
	keep_case("grown for the next", b, 40, 48, 32, TURN_MAX, 3004);
	keep_case("already room", b + 32, 8, 3004, 0, TURN_MAX, 3004);
	/* Fewer than 4 bytes left: the length is not known, no growth. */
	keep_case("length not in", b, 22, 22, 20, TURN_MAX, 22);
	keep_case("all handed on", b, 32, 32, 32, TURN_MAX, 32);
	/* A whole frame held at the front (a pause) that fits: unchanged. */
	keep_case("held frame", b, 32, 32, 0, TURN_MAX, 32);
	/* A frame over the listener's maximum is never grown for. */
	cd_hdr(big, 0x4000, 5000);
	keep_case("over the maximum", big, 4, 16, 0, STUN_MAX, 16);
}

int
main(void)
{
	guard_init(&g);
	test_stun();
	test_channeldata();
	test_garbage();
	test_keep();
	guard_fini(&g);
	TEST_DONE();
}
