/*
 * Private to src/net: the framing of a TCP or TLS client's byte stream
 * (RFC 8489 §6.2.2: STUN messages back to back; RFC 8656 §12.5:
 * ChannelData padded to a multiple of 4 on a stream), and the input buffer
 * it sizes. Pure: no connection, socket or event, so the stream reader
 * (stream_in.c), its unit test (tests/net/test_stream_frame.c) and the
 * fuzzer (fuzz/fuzz_stream_frame.c) run the same decisions.
 *
 * The reader's loop, in short: read into the room the buffer has; cut
 * frames off the front with stream_frame_cut and hand each on until it says
 * MORE (or closes the stream); then stream_frame_keep moves what is left to
 * the front and makes room for the whole of the frame it starts.
 */
#ifndef ICESTATION_NET_STREAM_FRAME_H
#define ICESTATION_NET_STREAM_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum stream_cut {
	STREAM_CUT_FRAME,     /* a whole frame of *frame_len bytes: hand it on */
	STREAM_CUT_MORE,      /* the start of a frame: wait for more bytes */
	STREAM_CUT_BAD,       /* neither STUN nor ChannelData: close (bad frame) */
	STREAM_CUT_OVERSIZED, /* a frame longer than the listener takes: close */
};

/*
 * What buf[0..len), the unread front of a stream, starts with, on a
 * listener that takes frames of at most max bytes. *frame_len is the
 * frame's whole length: for FRAME, and for MORE once its 4-byte header is
 * in (0 before). A STUN message's length must be a multiple of 4, its
 * cookie right and its size at most 65535; a ChannelData frame counts its
 * padding. Decides at the byte that shows it (the first, fourth or eighth),
 * not once the claimed length has come. A frame it passes is one
 * stun_stream_frame_len cuts the same (the fuzzer checks it). Never reads
 * past len; borrows buf for the call.
 */
enum stream_cut stream_frame_cut(const uint8_t *buf, size_t len, size_t max, size_t *frame_len);

/*
 * After the frames in (*buf)[0..off) were handed on (off <= *len): move the
 * rest to the front (*len -= off), then grow the buffer (*buf, *cap:
 * malloc'ed, replaced by realloc) to the whole length of the frame that
 * rest starts with, so the next read has room for all of it. Only a frame
 * stream_frame_cut let pass is grown for, so *cap never exceeds the larger
 * of its first size and max. Returns 0, or -ENOMEM with *buf, *cap as they
 * were (the rest moved all the same).
 */
int stream_frame_keep(uint8_t **buf, size_t *len, size_t *cap, size_t off, size_t max);

#endif
