/*
 * libFuzzer target for the TCP/TLS stream framer (src/net/stream_frame.h):
 * an arbitrary byte stream, delivered in reads whose sizes the input
 * decides, goes through the loop of src/net/stream_in.c (read into the
 * room the buffer has; cut frames off the front with stream_frame_cut and
 * hand each on; stream_frame_keep moves the rest to the front and makes
 * room for the whole of its first frame), with the dispatcher's pauses
 * (a frame held at the front, then handed on again at the resume).
 *
 * Input: [flags][pause mask][P][plan: P bytes][the stream's bytes]
 *   flags bit 0: a STUN-only listener (4096-byte frames), else TURN's
 *   pause mask:  bit k % 8 set holds the k-th frame handed on once
 *   plan byte b: the sizes of the reads, in turn, again and again:
 *                b < 0xf0: the next b + 1 bytes of the stream;
 *                b >= 0xf0: (b - 0xef) * 4096 zero bytes, a stretch of
 *                payload no input of libFuzzer's size could carry.
 *                P = 0: the whole stream in one go (as much as fits each
 *                read). A read takes at most the room the buffer has; the
 *                rest comes with the next read, as from a socket.
 *
 * Properties, checked against a reference framer written here from the
 * RFCs (RFC 8489 §6.2.2 and §5; RFC 8656 §12.5), independent of the code
 * under test:
 *   - every frame handed on is exactly one well-formed STUN message header
 *     and body (first two bits zero, length a multiple of 4, the magic
 *     cookie, at most 65535 bytes in all; stun_parse never finds it
 *     truncated and stops at its end when it parses) or one ChannelData
 *     frame (channel 0x4000-0x7FFF, 4 + length padded to 4;
 *     channeldata_parse agrees), never longer than the listener's maximum,
 *     and the codec's own stun_stream_frame_len cuts it the same;
 *   - the frames handed on, then the bytes buffered, are exactly the bytes
 *     fed, in order, as long as the stream lives;
 *   - once not paused, the frames handed on are the reference's, and what
 *     is buffered is the start of the reference's next frame;
 *   - the stream is closed exactly when the bytes fed stop being a frame's
 *     possible start (garbage, a STUN length not a multiple of 4 or a
 *     wrong cookie, a frame over the maximum), at the read that brings the
 *     deciding byte, for that reason; the frames before it still go out;
 *     so garbage is never held, whatever the reads;
 *   - the buffer never holds more than it has room for, never grows past
 *     the larger of its first size and the maximum, and a read always has
 *     room (stream_in.c would close a full buffer as oversized).
 *
 * Not here: the socket, TLS and libevent around the loop (tests/net,
 * tests/tls443, tests/tcprelay), the frame deadline, and what the
 * dispatcher does with a frame (fuzz_turn, fuzz_stun_parse).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/byteorder.h"
#include "icestation/stun.h"

#include "../src/net/stream.h"
#include "../src/net/stream_frame.h"
#include "fuzz_prop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MAX_READS = 4096,
	MAX_FED = 1 << 20,
	FILL_UNIT = 4096,
	STUN_MAX = STUN_MAX_MSG_LEN,
};

/* The reference: what the first len bytes of a stream are. */
enum ref_verdict {
	REF_OPEN,      /* frames, then the possible start of one (or nothing) */
	REF_BAD,       /* garbage at pos */
	REF_OVERSIZED, /* a frame over the maximum at pos */
};

struct ref {
	size_t pos;      /* where the first frame not yet complete starts */
	size_t n_frames; /* complete frames before pos */
	enum ref_verdict verdict;
};

struct run {
	size_t max;      /* the listener's largest frame */
	uint8_t *fed;    /* every byte fed so far */
	size_t fed_len;  /* how many */
	size_t handed;   /* bytes handed on as frames */
	size_t n_handed; /* frames handed on */
	uint8_t pause_mask;
	bool paused;
	bool killed;
	enum stream_cut why; /* BAD or OVERSIZED, once killed */
	uint8_t *buf;
	size_t len, cap;
	struct ref ref;
};

/*
 * Advance the reference over s[0..len) from r->pos. Written from the RFCs
 * alone: the first byte says STUN (0-3) or ChannelData (64-127: channels
 * 0x4000-0x7FFF); anything else is garbage. A STUN header's length is a
 * multiple of 4 and its cookie 0x2112A442; a message is at most 65535
 * bytes in all (the codec's limit, STUN_MAX_MSG_LEN, not the RFC's). A
 * ChannelData frame on a stream is 4 + its length padded to 4.
 * Each rule is applied as soon as the bytes it reads are in.
 */
static void
ref_advance(struct ref *r, const uint8_t *s, size_t len, size_t max)
{
	while (r->verdict == REF_OPEN && r->pos < len) {
		const uint8_t *p = s + r->pos;
		size_t rest = len - r->pos, total;

		if (p[0] <= 3) {
			if (rest < 4)
				return;
			if (ice_ld_be16(p + 2) % 4 != 0) {
				r->verdict = REF_BAD;
				return;
			}
			total = 20 + (size_t)ice_ld_be16(p + 2);
			if (total > max || total > STUN_MAX) {
				r->verdict = REF_OVERSIZED;
				return;
			}
			if (rest < 8)
				return;
			if (ice_ld_be32(p + 4) != 0x2112A442) {
				r->verdict = REF_BAD;
				return;
			}
		} else if (p[0] >= 64 && p[0] <= 127) {
			if (rest < 4)
				return;
			total = 4 + (((size_t)ice_ld_be16(p + 2) + 3) & ~(size_t)3);
			if (total > max) {
				r->verdict = REF_OVERSIZED;
				return;
			}
		} else {
			r->verdict = REF_BAD;
			return;
		}
		if (rest < total)
			return;
		r->pos += total;
		r->n_frames++;
	}
}

/* A frame the framer hands on: well-formed, and the next bytes of the stream. */
static void
check_frame(struct run *rn, const uint8_t *f, size_t n)
{
	struct stun_frame fr;
	struct stun_msg msg;
	uint16_t ch, dlen = 0;
	const uint8_t *d;
	size_t data_len = 0;
	int r;

	PROP(n >= 4 && n <= rn->max);
	PROP(rn->handed + n <= rn->fed_len && memcmp(f, rn->fed + rn->handed, n) == 0);
	PROP(stun_stream_frame_len(f, n) == (int)n);
	stun_frame_decode(&fr, f, n, true);
	if (f[0] <= 3) {
		dlen = ice_ld_be16(f + 2);
		PROP(n == 20 + (size_t)dlen && dlen % 4 == 0 && n <= STUN_MAX);
		PROP(ice_ld_be32(f + 4) == STUN_MAGIC_COOKIE);
		r = stun_parse(&msg, f, n);
		PROP(r != -EMSGSIZE); /* the frame holds all the message claims */
		PROP(r < 0 || (size_t)r == n);
		PROP(fr.kind == STUN_FRAME_STUN || fr.kind == STUN_FRAME_BAD_ATTR ||
		     fr.kind == STUN_FRAME_MALFORMED);
	} else {
		PROP(f[0] >= 64 && f[0] <= 127);
		dlen = ice_ld_be16(f + 2);
		PROP(n == 4 + (((size_t)dlen + 3) & ~(size_t)3)); /* RFC 8656 §12.5 padding */
		PROP(channeldata_parse(f, n, true, &ch, &d, &data_len) == (int)n);
		PROP(data_len == dlen && d == f + 4 && ch == ice_ld_be16(f));
		PROP(fr.kind == STUN_FRAME_CHANNELDATA && fr.data_len == dlen);
	}
}

/* stream_in.c's conn_frames without the dispatcher: frames off the front,
 * each handed on unless the pause mask holds it, then the rest kept. */
static void
frames(struct run *rn)
{
	size_t n, off = 0;
	enum stream_cut cut;

	rn->paused = false;
	for (;;) {
		cut = stream_frame_cut(rn->buf + off, rn->len - off, rn->max, &n);
		if (cut == STREAM_CUT_MORE)
			break;
		if (cut != STREAM_CUT_FRAME) {
			rn->killed = true;
			rn->why = cut;
			PROP(cut == STREAM_CUT_BAD || cut == STREAM_CUT_OVERSIZED);
			return;
		}
		PROP(n <= rn->len - off);
		check_frame(rn, rn->buf + off, n);
		if (rn->pause_mask & (1u << (rn->n_handed % 8))) {
			/* Held: handed on at the resume, not held again. */
			rn->pause_mask &= (uint8_t) ~(1u << (rn->n_handed % 8));
			rn->paused = true;
			break;
		}
		rn->handed += n;
		rn->n_handed++;
		off += n;
	}
	PROP(stream_frame_keep(&rn->buf, &rn->len, &rn->cap, off, rn->max) == 0);
}

/* After each pass: conservation, the cap, and agreement with the reference. */
static void
check_state(struct run *rn)
{
	ref_advance(&rn->ref, rn->fed, rn->fed_len, rn->max);
	if (rn->killed) {
		/* Closed for the first bad frame, everything before it handed on. */
		PROP(rn->ref.verdict != REF_OPEN);
		PROP(rn->why ==
		     (rn->ref.verdict == REF_BAD ? STREAM_CUT_BAD : STREAM_CUT_OVERSIZED));
		PROP(rn->n_handed == rn->ref.n_frames && rn->handed == rn->ref.pos);
		return;
	}
	PROP(rn->len <= rn->cap);
	PROP(rn->cap <= (rn->max > NET_TCP_IN_INIT ? rn->max : (size_t)NET_TCP_IN_INIT));
	PROP(rn->handed + rn->len == rn->fed_len);
	PROP(memcmp(rn->buf, rn->fed + rn->handed, rn->len) == 0);
	if (rn->paused) {
		/* Held at a whole frame, which the reference has counted;
		 * nothing past it looked at yet. */
		PROP(rn->n_handed < rn->ref.n_frames);
		return;
	}
	PROP(rn->ref.verdict == REF_OPEN); /* garbage is never kept */
	PROP(rn->n_handed == rn->ref.n_frames && rn->handed == rn->ref.pos);
}

/* One chunk of the stream, over as many reads as the room takes. */
static void
feed(struct run *rn, const uint8_t *p, size_t n, bool zeros)
{
	while (n > 0 && !rn->killed) {
		size_t take;

		if (rn->paused) { /* stream_on_resume: the held frames first */
			frames(rn);
			check_state(rn);
			continue;
		}
		PROP(rn->len < rn->cap); /* else stream_in.c closes it as oversized */
		take = rn->cap - rn->len < n ? rn->cap - rn->len : n;
		if (rn->fed_len + take > MAX_FED)
			return;
		if (zeros)
			memset(rn->buf + rn->len, 0, take);
		else
			memcpy(rn->buf + rn->len, p, take);
		memcpy(rn->fed + rn->fed_len, rn->buf + rn->len, take);
		rn->fed_len += take;
		rn->len += take;
		if (!zeros)
			p += take;
		n -= take;
		frames(rn);
		check_state(rn);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *fed;
	struct run rn = { .why = STREAM_CUT_MORE };
	const uint8_t *plan, *s;
	size_t n_plan, left;

	if (size < 3)
		return 0;
	if (fed == NULL && (fed = malloc(MAX_FED)) == NULL)
		abort();
	rn.max = (data[0] & 1) ? NET_TCP_STUN_FRAME_MAX : NET_TCP_FRAME_MAX;
	rn.pause_mask = data[1];
	n_plan = data[2];
	if (n_plan > size - 3)
		n_plan = size - 3;
	plan = data + 3;
	s = plan + n_plan;
	left = size - 3 - n_plan;
	rn.fed = fed;
	rn.cap = NET_TCP_IN_INIT; /* as net_stream_new makes it */
	rn.buf = malloc(rn.cap);
	if (rn.buf == NULL)
		abort();

	for (size_t i = 0; i < MAX_READS && !rn.killed && rn.fed_len < MAX_FED; i++) {
		uint8_t b = n_plan ? plan[i % n_plan] : 0xef;
		size_t want = n_plan ? (size_t)b + 1 : left;

		if (b >= 0xf0) {
			feed(&rn, NULL, (size_t)(b - 0xef) * FILL_UNIT, true);
		} else {
			want = want < left ? want : left;
			feed(&rn, s, want, false);
			s += want;
			left -= want;
		}
		if (left == 0 && i + 1 >= n_plan)
			break;
	}
	/* The stream's end: what was held goes out; what is left is a
	 * frame's start, never garbage (check_state). */
	while (rn.paused && !rn.killed) {
		frames(&rn);
		check_state(&rn);
	}
	free(rn.buf);
	return 0;
}
