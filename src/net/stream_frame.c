/*
 * Stream framing (stream_frame.h): where a STUN message or ChannelData frame
 * ends in a TCP or TLS client's byte stream, and the input buffer sized to
 * hold one whole frame.
 */
#include "stream_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/byteorder.h"
#include "icestation/stun.h"

/*
 * Length the frame at p claims (STUN: 20 + length; ChannelData: 4 + length
 * padded to 4 on a stream), 0 if fewer than 4 bytes are in, or -1 if the
 * stream is neither (garbage, or a STUN length that is not a multiple of 4).
 * Needed before the frame is complete, to size the buffer and enforce the cap.
 */
static long
frame_claim(const uint8_t *p, size_t len)
{
	size_t n;

	if (len < 4)
		return 0;
	n = ice_ld_be16(p + 2);
	switch (stun_demux(p, len)) {
	case STUN_DEMUX_STUN:
		return n % 4 == 0 ? (long)(STUN_HEADER_LEN + n) : -1;
	case STUN_DEMUX_CHANNELDATA:
		return (long)channeldata_frame_len(n, true);
	default:
		return -1;
	}
}

enum stream_cut
stream_frame_cut(const uint8_t *buf, size_t len, size_t max, size_t *frame_len)
{
	long claim = frame_claim(buf, len);

	*frame_len = 0;
	if (claim < 0)
		return STREAM_CUT_BAD;
	if (claim == 0)
		return STREAM_CUT_MORE;
	if ((size_t)claim > max)
		return STREAM_CUT_OVERSIZED;
	if ((size_t)claim > len) {
		*frame_len = (size_t)claim;
		return STREAM_CUT_MORE;
	}
	/* The codec frames it too: a disagreement means garbage. */
	if (stun_stream_frame_len(buf, (size_t)claim) != claim)
		return STREAM_CUT_BAD;
	*frame_len = (size_t)claim;
	return STREAM_CUT_FRAME;
}

int
stream_frame_keep(uint8_t **buf, size_t *len, size_t *cap, size_t off, size_t max)
{
	enum stream_cut cut;
	size_t want;
	uint8_t *p;

	if (off > 0) {
		memmove(*buf, *buf + off, *len - off);
		*len -= off;
	}
	cut = stream_frame_cut(*buf, *len, max, &want);
	if ((cut != STREAM_CUT_MORE && cut != STREAM_CUT_FRAME) || want <= *cap)
		return 0;
	p = realloc(*buf, want);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = want;
	return 0;
}
