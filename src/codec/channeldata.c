/*
 * ChannelData framing (RFC 8656 §12.4-12.5) and TCP stream framing of STUN
 * and ChannelData messages.
 */
#include <errno.h>

#include "icestation/stun.h"

#include "rd.h"

int
channeldata_parse(const uint8_t *buf, size_t len, bool stream, uint16_t *channel,
                  const uint8_t **data, size_t *data_len)
{
	struct rd r;
	uint16_t ch, dlen;
	size_t frame;

	rd_init(&r, buf, len);
	if (rd_u16(&r, &ch) || rd_u16(&r, &dlen))
		return -EMSGSIZE;
	/* RFC 5766's 0x4000-0x7FFF (RFC 8656 reserves 0x5000-0x7FFF, but RFC
	 * 5766 clients use it); below 0x4000 is STUN, above 0x7FFF RTP. */
	if (ch < CHANNEL_MIN || ch > CHANNEL_MAX)
		return -EBADMSG;
	if (stream) {
		/* Over TCP the frame is always padded to a multiple of 4. */
		frame = CHANNELDATA_HEADER_LEN + stun_pad4(dlen);
		if (frame > len)
			return -EMSGSIZE;
	} else {
		/*
		 * A datagram holds one frame; padding is optional over UDP, so
		 * accept up to 3 trailing bytes and nothing else.
		 */
		if (dlen > r.left)
			return -EBADMSG;
		if (r.left - dlen > 3)
			return -EBADMSG;
		frame = len;
	}
	*channel = ch;
	*data = r.p;
	*data_len = dlen;
	return (int)frame;
}

void
channeldata_put_header(uint8_t hdr[CHANNELDATA_HEADER_LEN], uint16_t channel, uint16_t len)
{
	ice_st_be16(hdr, channel);
	ice_st_be16(hdr + 2, len);
}

size_t
channeldata_frame_len(size_t data_len, bool stream)
{
	return CHANNELDATA_HEADER_LEN + (stream ? stun_pad4(data_len) : data_len);
}

int
stun_stream_frame_len(const uint8_t *buf, size_t len)
{
	size_t frame;

	if (len == 0)
		return 0;
	if (stun_demux(buf, len) == STUN_DEMUX_CHANNELDATA) {
		if (len < CHANNELDATA_HEADER_LEN)
			return 0;
		frame = CHANNELDATA_HEADER_LEN + stun_pad4(ice_ld_be16(buf + 2));
	} else if (buf[0] <= 3) {
		if (len >= 8 && ice_ld_be32(buf + 4) != STUN_MAGIC_COOKIE)
			return -EBADMSG;
		if (len < 4)
			return 0;
		if (ice_ld_be16(buf + 2) & 3)
			return -EBADMSG;
		frame = STUN_HEADER_LEN + (size_t)ice_ld_be16(buf + 2);
		if (frame > STUN_MAX_MSG_LEN)
			return -EBADMSG; /* stun_parse would refuse it anyway */
		if (len < 8)
			return 0; /* the cookie decides whether this is STUN at all */
	} else {
		/* DTLS, RTP, ZRTP, garbage: not ours. */
		return -EBADMSG;
	}
	return len >= frame ? (int)frame : 0;
}
