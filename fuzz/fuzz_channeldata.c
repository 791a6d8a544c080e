/*
 * libFuzzer target for ChannelData framing, RFC 7983 demux and TCP stream
 * framing. Properties: a frame the stream framer accepts is the frame the
 * ChannelData parser consumes; a parsed frame rebuilt from its header and
 * payload parses back identically; framing a stream in one piece or frame by
 * frame gives the same boundaries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/stun.h"

#include "fuzz_prop.h"

static void
one_datagram(const uint8_t *buf, size_t size)
{
	const uint8_t *d;
	size_t dlen;
	uint16_t ch;
	int rc = channeldata_parse(buf, size, false, &ch, &d, &dlen);

	PROP(rc == -EMSGSIZE || rc == -EBADMSG || rc > 0);
	if (rc > 0) {
		uint8_t *copy = malloc(CHANNELDATA_HEADER_LEN + dlen);
		const uint8_t *d2;
		size_t dlen2;
		uint16_t ch2;

		PROP((size_t)rc == size && d == buf + 4 && dlen + 4 <= size &&
		     size - dlen - 4 <= 3);
		PROP(ch >= CHANNEL_MIN && ch <= CHANNEL_MAX);
		PROP(stun_demux(buf, size) == STUN_DEMUX_CHANNELDATA);
		if (!copy)
			return;
		channeldata_put_header(copy, ch, (uint16_t)dlen);
		memcpy(copy + 4, d, dlen);
		PROP(channeldata_parse(copy, 4 + dlen, false, &ch2, &d2, &dlen2) ==
		     (int)(4 + dlen));
		PROP(ch2 == ch && dlen2 == dlen && memcmp(d2, d, dlen) == 0);
		PROP(channeldata_frame_len(dlen, false) == 4 + dlen);
		free(copy);
	}
}

static void
stream(const uint8_t *buf, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		int n = stun_stream_frame_len(buf + pos, size - pos);

		if (n <= 0)
			break;
		PROP((size_t)n <= size - pos && n >= 4);
		if (stun_demux(buf + pos, size - pos) == STUN_DEMUX_CHANNELDATA) {
			const uint8_t *d;
			size_t dlen;
			uint16_t ch;
			PROP(channeldata_parse(buf + pos, size - pos, true, &ch, &d, &dlen) == n);
			PROP(channeldata_frame_len(dlen, true) == (size_t)n);
			/* Exactly the frame is enough, one byte less is not. */
			PROP(stun_stream_frame_len(buf + pos, (size_t)n) == n);
			PROP(stun_stream_frame_len(buf + pos, (size_t)n - 1) == 0);
		}
		pos += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	one_datagram(buf, size);
	stream(buf, size);
	(void)stun_demux(buf, size);
	free(buf);
	return 0;
}
