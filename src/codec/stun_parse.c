/*
 * STUN message parsing (RFC 8489, RFC 5389 compatible): bytes -> struct
 * stun_msg, views only, no allocation. Every read goes through struct rd.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "icestation/stun.h"

#include "rd.h"

enum stun_demux
stun_demux(const uint8_t *buf, size_t len)
{
	/*
	 * RFC 7983 §7: 0-3 STUN, 64-79 TURN channel; DTLS (20-63) and RTP
	 * (128-191) are not ours. 80-127 are widened to ChannelData for RFC
	 * 5766's channels 0x5000-0x7FFF: RFC 7983 leaves 80-127 unassigned
	 * apart from those channels, and the server's client socket carries no
	 * DTLS or RTP anyway (docs/codec.md).
	 */
	if (len == 0)
		return STUN_DEMUX_OTHER;
	if (buf[0] <= 3)
		return STUN_DEMUX_STUN;
	if (buf[0] >= 64 && buf[0] <= 127)
		return STUN_DEMUX_CHANNELDATA;
	return STUN_DEMUX_OTHER;
}

uint16_t
stun_msg_type(uint16_t method, uint8_t cls)
{
	return (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
	                  ((cls & 1) << 4) | ((cls & 2) << 7));
}

/* Attributes the codec understands; others are unknown (RFC 8489 §15). */
static bool
attr_is_known(uint16_t t)
{
	switch (t) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_USERNAME:
	case STUN_ATTR_MESSAGE_INTEGRITY:
	case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_DATA:
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_EVEN_PORT:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case STUN_ATTR_PASSWORD_ALGORITHM:
	case STUN_ATTR_USERHASH:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_CONNECTION_ID:
	case STUN_ATTR_PRIORITY:
	case STUN_ATTR_USE_CANDIDATE:
	case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
	case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT:
	case STUN_ATTR_ADDRESS_ERROR_CODE:
	case STUN_ATTR_PASSWORD_ALGORITHMS:
	case STUN_ATTR_ALTERNATE_DOMAIN:
	case STUN_ATTR_ICMP:
	case STUN_ATTR_MOBILITY_TICKET:
	case STUN_ATTR_SOFTWARE:
	case STUN_ATTR_ALTERNATE_SERVER:
	case STUN_ATTR_FINGERPRINT:
	case STUN_ATTR_ICE_CONTROLLED:
	case STUN_ATTR_ICE_CONTROLLING:
		return true;
	default:
		return false;
	}
}

/* An address value: family 0x01 with 4 address bytes or 0x02 with 16. */
static bool
addr_len_ok(const uint8_t *v, uint16_t len)
{
	if (len == 8)
		return v[1] == 0x01;
	if (len == 20)
		return v[1] == 0x02;
	return false;
}

/*
 * Size rules for the comprehension-required attributes and the
 * integrity/fingerprint trio. A malformed integrity or fingerprint attribute
 * breaks the framing (-EBADMSG, dropped); any other malformed one leaves a
 * well-framed message with a bad attribute (-EPROTO, a request gets 400).
 * Comprehension-optional attributes are checked by their decoders when
 * someone uses them: an odd SOFTWARE must not cost a client its Binding
 * response.
 */
static bool
attr_len_ok(uint16_t type, const uint8_t *v, uint16_t len)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
		return addr_len_ok(v, len);
	case STUN_ATTR_USERNAME:
		return len <= STUN_MAX_USERNAME_LEN;
	case STUN_ATTR_REALM:
		return len <= STUN_MAX_REALM_LEN;
	case STUN_ATTR_NONCE:
		return len <= STUN_MAX_NONCE_LEN;
	case STUN_ATTR_ERROR_CODE:
		return len >= 4 && len <= 4 + STUN_MAX_REASON_LEN;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		return len % 2 == 0;
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_PRIORITY:
	case STUN_ATTR_CONNECTION_ID:
	case STUN_ATTR_FINGERPRINT:
		return len == 4;
	case STUN_ATTR_EVEN_PORT:
		return len == 1;
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_USE_CANDIDATE:
		return len == 0;
	case STUN_ATTR_RESERVATION_TOKEN:
		return len == 8;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		return len == STUN_HMAC_SHA1_LEN;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		/* RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4. */
		return len >= STUN_MIN_HMAC_SHA256_LEN && len <= STUN_HMAC_SHA256_LEN &&
		       len % 4 == 0;
	case STUN_ATTR_USERHASH:
		return len == 32;
	case STUN_ATTR_PASSWORD_ALGORITHM:
		return len >= 4 && (size_t)ice_ld_be16(v + 2) <= (size_t)len - 4;
	default:
		return true;
	}
}

static int
push_attr(struct stun_msg *msg, uint16_t type, uint16_t len, const uint8_t *v, size_t off)
{
	struct stun_attr *a;

	if (msg->n_attrs >= STUN_MAX_ATTRS)
		return -EBADMSG;
	a = &msg->attrs[msg->n_attrs];
	a->type = type;
	a->len = len;
	a->offset = (uint16_t)off; /* off < STUN_MAX_MSG_LEN, checked in stun_parse */
	a->value = v;
	return (int)msg->n_attrs++;
}

static void
note_unknown(struct stun_msg *msg, uint16_t type)
{
	for (size_t i = 0; i < msg->n_unknown; i++)
		if (msg->unknown[i] == type)
			return;
	/* Past STUN_MAX_UNKNOWN the 420 lists the first few; still a 420. */
	if (msg->n_unknown < STUN_MAX_UNKNOWN)
		msg->unknown[msg->n_unknown++] = type;
}

static int
take_fingerprint(struct stun_msg *msg, const uint8_t *v, uint16_t len, size_t off)
{
	uint32_t want;
	int idx;

	if (len != 4)
		return -EBADMSG;
	/*
	 * The CRC covers everything before the attribute, with the header length
	 * as received; it counts FINGERPRINT, and anything after it is rejected.
	 */
	want = stun_crc32(msg->buf, off) ^ STUN_FINGERPRINT_XOR;
	if (ice_ld_be32(v) != want)
		return -EBADMSG;
	idx = push_attr(msg, STUN_ATTR_FINGERPRINT, len, v, off);
	if (idx < 0)
		return idx;
	msg->fingerprint = (int16_t)idx;
	return 0;
}

/* Apply RFC 8489 §14.5-14.7 ordering and record one attribute. */
static int
take_attr(struct stun_msg *msg, uint16_t type, uint16_t len, const uint8_t *v, size_t off)
{
	bool after_mi = msg->integrity >= 0;
	bool after_mi256 = msg->integrity_sha256 >= 0;
	int idx;

	if (msg->fingerprint >= 0)
		return -EBADMSG; /* nothing may follow FINGERPRINT */

	switch (type) {
	case STUN_ATTR_FINGERPRINT:
		return take_fingerprint(msg, v, len, off);
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		if (after_mi256)
			return -EBADMSG;
		if (!attr_len_ok(type, v, len))
			return -EBADMSG;
		idx = push_attr(msg, type, len, v, off);
		if (idx < 0)
			return idx;
		msg->integrity_sha256 = (int16_t)idx;
		return 0;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		if (after_mi)
			return -EBADMSG;
		if (after_mi256)
			return 0; /* only FINGERPRINT counts after -SHA256 */
		if (!attr_len_ok(type, v, len))
			return -EBADMSG;
		idx = push_attr(msg, type, len, v, off);
		if (idx < 0)
			return idx;
		msg->integrity = (int16_t)idx;
		return 0;
	default:
		break;
	}
	/* Not covered by the MAC: ignored, never listed (RFC 8489 §14.5). */
	if (after_mi || after_mi256)
		return 0;
	if (!attr_is_known(type)) {
		if (type < 0x8000)
			note_unknown(msg, type);
		return 0;
	}
	if (!attr_len_ok(type, v, len)) {
		/* Not listed, so no decoder ever sees it; the framing goes on
		 * being checked to the end. */
		if (msg->bad_attr == 0)
			msg->bad_attr = type;
		return 0;
	}
	idx = push_attr(msg, type, len, v, off);
	return idx < 0 ? idx : 0;
}

int
stun_parse(struct stun_msg *msg, const uint8_t *buf, size_t len)
{
	struct rd r, body;
	uint16_t type, blen;
	uint32_t cookie;
	const uint8_t *tid;
	int rc;

	if (len < STUN_HEADER_LEN)
		return -EMSGSIZE;
	rd_init(&r, buf, len);
	if (rd_u16(&r, &type) || rd_u16(&r, &blen) || rd_u32(&r, &cookie) ||
	    rd_bytes(&r, &tid, STUN_TID_LEN))
		return -EMSGSIZE;
	if ((type & 0xC000) || cookie != STUN_MAGIC_COOKIE || (blen & 3))
		return -EBADMSG;
	/* stun_attr.offset is 16 bits; no real STUN message comes near this. */
	if ((size_t)STUN_HEADER_LEN + blen > STUN_MAX_MSG_LEN)
		return -EBADMSG;
	if (rd_sub(&r, &body, blen) < 0)
		return -EMSGSIZE;

	msg->buf = buf;
	msg->len = STUN_HEADER_LEN + (size_t)blen;
	msg->type = type;
	msg->method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
	msg->cls = (uint8_t)(((type >> 4) & 1) | ((type >> 7) & 2));
	memcpy(msg->tid, tid, STUN_TID_LEN);
	msg->n_attrs = 0;
	msg->n_unknown = 0;
	msg->integrity = -1;
	msg->integrity_sha256 = -1;
	msg->fingerprint = -1;
	msg->bad_attr = 0;

	while (body.left > 0) {
		size_t off = (size_t)(body.p - buf);
		uint16_t at, alen;
		const uint8_t *v;

		if (rd_u16(&body, &at) || rd_u16(&body, &alen) || rd_bytes(&body, &v, alen) ||
		    rd_skip(&body, stun_pad4(alen) - alen))
			return -EBADMSG;
		rc = take_attr(msg, at, alen, v, off);
		if (rc < 0)
			return rc;
	}
	return msg->bad_attr != 0 ? -EPROTO : (int)msg->len;
}

const struct stun_attr *
stun_msg_find(const struct stun_msg *msg, uint16_t type)
{
	for (size_t i = 0; i < msg->n_attrs; i++)
		if (msg->attrs[i].type == type)
			return &msg->attrs[i];
	return NULL;
}
