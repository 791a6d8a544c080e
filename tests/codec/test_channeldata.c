/*
 * ChannelData framing (datagram and stream padding rules), RFC 7983 demux,
 * and TCP stream framing fed through every split of a byte stream.
 */
#include <errno.h>
#include <string.h>

#include "icestation/stun.h"

#include "guard.h"
#include "testutil.h"

static struct guard g;

struct cdcase {
	const char *name;
	uint8_t bytes[12];
	size_t len;
	bool stream;
	int rc;          /* expected return */
	size_t data_len; /* when rc > 0 */
};

static const struct cdcase cdcases[] = {
	{ "udp exact, 5 bytes", { 0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5 }, 9, false, 9, 5 },
	{ "udp padded to 4", { 0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0 }, 12, false, 12, 5 },
	{ "udp 4 trailing bytes",
	  { 0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0, 0, 0, 0 },
	  12,
	  false,
	  -EBADMSG,
	  0 },
	{ "udp length lies", { 0x40, 0x00, 0x00, 0x08, 1, 2, 3, 4 }, 8, false, -EBADMSG, 0 },
	{ "udp empty payload", { 0x4f, 0xff, 0x00, 0x00 }, 4, false, 4, 0 },
	{ "udp truncated header", { 0x40, 0x00, 0x00 }, 3, false, -EMSGSIZE, 0 },
	{ "tcp padded", { 0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0 }, 12, true, 12, 5 },
	{ "tcp unpadded is incomplete",
	  { 0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5 },
	  9,
	  true,
	  -EMSGSIZE,
	  0 },
	{ "tcp frame followed by more",
	  { 0x40, 0x01, 0x00, 0x02, 1, 2, 0, 0, 0x40, 0x01 },
	  10,
	  true,
	  8,
	  2 },
	{ "channel 0x3fff", { 0x3f, 0xff, 0x00, 0x00 }, 4, false, -EBADMSG, 0 },
	{ "tcp channel 0x3fff", { 0x3f, 0xff, 0x00, 0x00 }, 4, true, -EBADMSG, 0 },
	/* RFC 5766's 0x5000-0x7FFF (reserved by RFC 8656) are accepted. */
	{ "udp channel 0x5000", { 0x50, 0x00, 0x00, 0x02, 7, 8 }, 6, false, 6, 2 },
	{ "tcp channel 0x5000", { 0x50, 0x00, 0x00, 0x02, 7, 8, 0, 0 }, 8, true, 8, 2 },
	{ "udp channel 0x7fff", { 0x7f, 0xff, 0x00, 0x03, 1, 2, 3, 0 }, 8, false, 8, 3 },
	{ "tcp channel 0x7fff", { 0x7f, 0xff, 0x00, 0x00 }, 4, true, 4, 0 },
	{ "udp channel 0x7fff length lies",
	  { 0x7f, 0xff, 0x00, 0x09, 1, 2, 3, 4 },
	  8,
	  false,
	  -EBADMSG,
	  0 },
	{ "udp 0x7fff 4 trailing bytes",
	  { 0x7f, 0xff, 0x00, 0x01, 1, 0, 0, 0, 0 },
	  9,
	  false,
	  -EBADMSG,
	  0 },
	/* 0x8000 and up: the first byte is RTP's (128-191) or beyond. */
	{ "udp channel 0x8000", { 0x80, 0x00, 0x00, 0x00 }, 4, false, -EBADMSG, 0 },
	{ "tcp channel 0x8000", { 0x80, 0x00, 0x00, 0x00 }, 4, true, -EBADMSG, 0 },
	{ "udp channel 0xffff", { 0xff, 0xff, 0x00, 0x00 }, 4, false, -EBADMSG, 0 },
	{ "tcp channel 0xbfff", { 0xbf, 0xff, 0x00, 0x00 }, 4, true, -EBADMSG, 0 },
};

static void
test_parse(void)
{
	for (size_t i = 0; i < ICE_ARRAY_SIZE(cdcases); i++) {
		const struct cdcase *c = &cdcases[i];
		const uint8_t *p = guard_put(&g, c->bytes, c->len), *data = NULL;
		uint16_t ch = 0;
		size_t dlen = 0;
		int rc = channeldata_parse(p, c->len, c->stream, &ch, &data, &dlen);

		if (rc != c->rc)
			fprintf(stderr, "case '%s': %d != %d\n", c->name, rc, c->rc);
		CHECK_EQ_INT(rc, c->rc);
		if (rc > 0) {
			CHECK_EQ_INT(ch, (c->bytes[0] << 8) | c->bytes[1]);
			CHECK(data == p + 4);
			CHECK_EQ_INT(dlen, c->data_len);
		}
	}
	CHECK_EQ_INT(channeldata_frame_len(5, false), 9);
	CHECK_EQ_INT(channeldata_frame_len(5, true), 12);
	CHECK_EQ_INT(channeldata_frame_len(8, true), 12);
	CHECK_EQ_INT(channeldata_frame_len(0, true), 4);
	{
		uint8_t h[4];
		channeldata_put_header(h, 0x4abc, 1234);
		CHECK(h[0] == 0x4a && h[1] == 0xbc && h[2] == 0x04 && h[3] == 0xd2);
	}
}

static void
test_demux(void)
{
	static const struct {
		uint8_t b;
		enum stun_demux want;
	} t[] = {
		{ 0, STUN_DEMUX_STUN },          { 3, STUN_DEMUX_STUN },
		{ 4, STUN_DEMUX_OTHER },         { 20, STUN_DEMUX_OTHER },
		{ 63, STUN_DEMUX_OTHER },        { 64, STUN_DEMUX_CHANNELDATA },
		{ 79, STUN_DEMUX_CHANNELDATA },  { 80, STUN_DEMUX_CHANNELDATA },
		{ 127, STUN_DEMUX_CHANNELDATA }, { 128, STUN_DEMUX_OTHER },
		{ 191, STUN_DEMUX_OTHER },       { 255, STUN_DEMUX_OTHER },
	};
	for (size_t i = 0; i < ICE_ARRAY_SIZE(t); i++)
		CHECK_EQ_INT(stun_demux(guard_put(&g, &t[i].b, 1), 1), t[i].want);
	CHECK_EQ_INT(stun_demux(guard_put(&g, NULL, 0), 0), STUN_DEMUX_OTHER);
}

/*
 * A TCP byte stream: STUN request, ChannelData with a 5-byte payload (padded
 * to 8), STUN response with an attribute, empty ChannelData, ChannelData on
 * RFC 5766's channels 0x5000 and 0x7FFF. Delivered in every possible
 * two-piece split and in single bytes, it must come out as the same six
 * frames.
 */
static const uint8_t stream[] = {
	0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,    2,    3, 4, 5, 6,
	7,    8,    9,    10,   11,   12,                                 /* Binding request, 20 */
	0x40, 0x00, 0x00, 0x05, 'h',  'e',  'l',  'l',  'o',  0,    0, 0, /* ChannelData, 12 */
	0x01, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1,    2,    3, 4, 5, 6,
	7,    8,    9,    10,   11,   12,   0x00, 0x0d, 0x00, 0x04, 0, 0, 2, 0x58, /* 28 */
	0x4f, 0xff, 0x00, 0x00,                        /* empty ChannelData, 4 */
	0x50, 0x00, 0x00, 0x03, 'a',  'b',  'c',  0,   /* channel 0x5000, 8 */
	0x7f, 0xff, 0x00, 0x04, 'w',  'x',  'y',  'z', /* channel 0x7fff, 8 */
};
static const size_t frames[] = { 20, 12, 28, 4, 8, 8 };
static const uint16_t frame_channel[] = { 0, 0x4000, 0, 0x4fff, 0x5000, 0x7fff };
static const char *const frame_data[] = { NULL, "hello", NULL, "", "abc", "wxyz" };

/* Reassemble stream[] delivered in pieces of the given sizes; returns frames seen. */
static size_t
feed(const size_t *pieces, size_t npieces)
{
	uint8_t acc[sizeof(stream)];
	size_t have = 0, pos = 0, nframes = 0;

	for (size_t i = 0; i < npieces; i++) {
		memcpy(acc + have, stream + pos, pieces[i]);
		have += pieces[i];
		pos += pieces[i];
		for (;;) {
			const uint8_t *p = guard_put(&g, acc, have);
			int n = stun_stream_frame_len(p, have);

			REQUIRE(n >= 0);
			if (n == 0)
				break;
			REQUIRE(nframes < ICE_ARRAY_SIZE(frames));
			CHECK_EQ_INT(n, frames[nframes]);
			if (frame_data[nframes] != NULL) {
				const char *want = frame_data[nframes];
				uint16_t ch;
				const uint8_t *d;
				size_t dlen;
				CHECK_EQ_INT(stun_demux(p, have), STUN_DEMUX_CHANNELDATA);
				CHECK_EQ_INT(channeldata_parse(p, have, true, &ch, &d, &dlen), n);
				CHECK_EQ_INT(ch, frame_channel[nframes]);
				CHECK(dlen == strlen(want) && memcmp(d, want, dlen) == 0);
			} else {
				struct stun_msg m;
				CHECK_EQ_INT(stun_demux(p, have), STUN_DEMUX_STUN);
				CHECK_EQ_INT(stun_parse(&m, p, have), n);
			}
			nframes++;
			memmove(acc, acc + n, have - (size_t)n);
			have -= (size_t)n;
		}
	}
	CHECK_EQ_INT(have, 0);
	return nframes;
}

static void
test_stream(void)
{
	size_t ones[sizeof(stream)];

	for (size_t cut = 0; cut <= sizeof(stream); cut++) {
		size_t pieces[2] = { cut, sizeof(stream) - cut };
		CHECK_EQ_INT(feed(pieces, 2), ICE_ARRAY_SIZE(frames));
	}
	for (size_t i = 0; i < sizeof(stream); i++)
		ones[i] = 1;
	CHECK_EQ_INT(feed(ones, sizeof(stream)), ICE_ARRAY_SIZE(frames));

	/* Not STUN, not ChannelData: the connection is to be closed. */
	{
		static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00 };
		static const uint8_t rtp[] = { 0x80, 0x00, 0x00, 0x00 };
		static const uint8_t above[] = { 0xbf, 0xff, 0x00, 0x00 };
		static const uint8_t badcookie[] = { 0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x43 };
		static const uint8_t oddlen[] = { 0, 1, 0, 2 };
		static const uint8_t huge[] = { 0, 1, 0xff, 0xfc, 0x21, 0x12, 0xa4, 0x42 };
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, tls, 4), 4), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, rtp, 4), 4), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, rtp, 1), 1), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, above, 4), 4), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, badcookie, 8), 8), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, oddlen, 4), 4), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, huge, 8), 8), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, tls, 1), 1), -EBADMSG);
		CHECK_EQ_INT(stun_stream_frame_len(guard_put(&g, oddlen, 1), 1), 0);
	}
}

int
main(void)
{
	guard_init(&g);
	test_parse();
	test_demux();
	test_stream();
	guard_fini(&g);
	TEST_DONE();
}
