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
 * Each rule is applied as soon as the bytes it reads are in, so a stream
 * that cannot be a client's is closed at the byte that shows it: the first
 * (RFC 7983: neither STUN nor ChannelData), the fourth (the length: a STUN
 * one not a multiple of 4, or any frame over the listener's maximum or, for
 * STUN, over a message's 65535 bytes), the eighth (STUN's magic cookie).
 * Waiting for the whole claimed length instead let a garbage header hold up
 * to 64 KiB of buffer until the frame deadline.
 */
enum stream_cut
stream_frame_cut(const uint8_t *buf, size_t len, size_t max, size_t *frame_len)
{
	enum stun_demux kind;
	size_t claim;

	*frame_len = 0;
	if (len == 0)
		return STREAM_CUT_MORE;
	kind = stun_demux(buf, len);
	if (kind == STUN_DEMUX_OTHER)
		return STREAM_CUT_BAD;
	if (len < 4)
		return STREAM_CUT_MORE;
	if (kind == STUN_DEMUX_STUN) {
		if (ice_ld_be16(buf + 2) % 4 != 0)
			return STREAM_CUT_BAD;
		claim = STUN_HEADER_LEN + (size_t)ice_ld_be16(buf + 2);
		if (claim > max || claim > STUN_MAX_MSG_LEN)
			return STREAM_CUT_OVERSIZED;
		if (len >= 8 && ice_ld_be32(buf + 4) != STUN_MAGIC_COOKIE)
			return STREAM_CUT_BAD;
	} else {
		claim = channeldata_frame_len(ice_ld_be16(buf + 2), true);
		if (claim > max)
			return STREAM_CUT_OVERSIZED;
	}
	*frame_len = claim;
	return claim <= len ? STREAM_CUT_FRAME : STREAM_CUT_MORE;
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
