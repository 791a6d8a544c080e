/*
 * One client frame, classified and decoded: the single place where bytes
 * from a client become a STUN message or a ChannelData view. net's
 * dispatcher, the TURN state machine's tests and the fuzzer all start here,
 * so what the daemon accepts is what they test.
 */
#include <errno.h>

#include "icestation/stun.h"

void
stun_frame_decode(struct stun_frame *f, const uint8_t *buf, size_t len, bool stream)
{
	int r;

	f->channel = 0;
	f->data = NULL;
	f->data_len = 0;
	switch (stun_demux(buf, len)) {
	case STUN_DEMUX_CHANNELDATA:
		r = channeldata_parse(buf, len, stream, &f->channel, &f->data, &f->data_len);
		f->kind = r < 0 ? STUN_FRAME_MALFORMED : STUN_FRAME_CHANNELDATA;
		return;
	case STUN_DEMUX_STUN:
		break;
	default:
		f->kind = STUN_FRAME_NOT_STUN;
		return;
	}
	r = stun_parse(&f->msg, buf, len);
	/* A datagram (or frame) is exactly one message: trailing bytes mean
	 * it is not the STUN it claims to be. */
	if (r == -EPROTO && f->msg.len == len)
		f->kind = STUN_FRAME_BAD_ATTR;
	else
		f->kind = r < 0 || (size_t)r != len ? STUN_FRAME_MALFORMED : STUN_FRAME_STUN;
}
