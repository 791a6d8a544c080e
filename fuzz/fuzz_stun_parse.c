/*
 * libFuzzer target for stun_parse. Beyond "does not crash" it checks
 * properties: every listed attribute decodes without reading out of bounds,
 * raw-key and precomputed-key integrity checks agree, the stream framer and
 * the parser agree on the length, and the message re-encodes through the
 * builder into something that parses back to the same attributes and
 * verifies with the key it was signed with. A well-framed message with a
 * malformed attribute (-EPROTO) obeys all of that too: it names a known
 * comprehension-required type, and what it lists, re-encoded, is clean.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icestation/stun.h"

#include "fuzz_prop.h"

static const uint8_t key[] = "fuzz-key";

static void
decode_all(const struct stun_msg *m)
{
	const struct stun_attr *a;

	stun_attr_foreach(m, a) {
		struct ice_addr addr;
		struct stun_pwalg_iter it;
		const char *reason;
		const uint8_t *params;
		size_t rlen, plen;
		uint32_t u32;
		uint64_t u64;
		uint16_t u16;
		uint8_t u8, u8b;
		int i1, i2, rc;
		bool b;

		switch (a->type) {
		case STUN_ATTR_XOR_MAPPED_ADDRESS:
		case STUN_ATTR_XOR_PEER_ADDRESS:
		case STUN_ATTR_XOR_RELAYED_ADDRESS:
			/* stun_parse checked family and length of these. */
			PROP(stun_attr_xor_addr(m, a, &addr) == 0);
			break;
		case STUN_ATTR_MAPPED_ADDRESS:
			PROP(stun_attr_addr(a, &addr) == 0);
			break;
		case STUN_ATTR_ALTERNATE_SERVER:
			(void)stun_attr_addr(a, &addr);
			break;
		case STUN_ATTR_LIFETIME:
		case STUN_ATTR_PRIORITY:
			PROP(stun_attr_u32(a, &u32) == 0);
			break;
		case STUN_ATTR_ICE_CONTROLLED:
		case STUN_ATTR_ICE_CONTROLLING:
			(void)stun_attr_u64(a, &u64);
			break;
		case STUN_ATTR_RESERVATION_TOKEN:
			PROP(stun_attr_u64(a, &u64) == 0);
			break;
		case STUN_ATTR_CHANNEL_NUMBER:
			PROP(stun_attr_channel(a, &u16) == 0);
			break;
		case STUN_ATTR_REQUESTED_TRANSPORT:
			PROP(stun_attr_requested_transport(a, &u8) == 0);
			break;
		case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
			rc = stun_attr_address_family(a, &i1);
			PROP(rc == 0 || rc == -EAFNOSUPPORT);
			break;
		case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
			(void)stun_attr_address_family(a, &i1);
			break;
		case STUN_ATTR_EVEN_PORT:
			PROP(stun_attr_even_port(a, &b) == 0);
			break;
		case STUN_ATTR_ERROR_CODE:
			if (stun_attr_error_code(a, &i1, &reason, &rlen) == 0)
				PROP(i1 >= 300 && i1 <= 699 && rlen + 4 == a->len);
			break;
		case STUN_ATTR_ADDRESS_ERROR_CODE:
			(void)stun_attr_address_error(a, &i1, &i2, &reason, &rlen);
			break;
		case STUN_ATTR_ICMP:
			(void)stun_attr_icmp(a, &u8, &u8b, &u32);
			break;
		case STUN_ATTR_PASSWORD_ALGORITHM:
			(void)stun_attr_password_algorithm(a, &u16, &params, &plen);
			break;
		case STUN_ATTR_PASSWORD_ALGORITHMS:
			stun_pwalgs_init(&it, a);
			while ((rc = stun_pwalgs_next(&it, &u16, &params, &plen)) > 0)
				PROP(params >= a->value && params + plen <= a->value + a->len);
			break;
		default:
			break;
		}
	}
}

static void
check_integrity(const struct stun_msg *m)
{
	struct stun_hmac_key k1, k256;
	int raw, viak;

	stun_hmac_key_init(&k1, STUN_HMAC_SHA1, key, sizeof(key) - 1);
	stun_hmac_key_init(&k256, STUN_HMAC_SHA256, key, sizeof(key) - 1);
	raw = stun_msg_check_integrity(m, key, sizeof(key) - 1);
	viak = stun_msg_check_integrity_k(m, m->integrity_sha256 >= 0 ? &k256 : &k1);
	PROP(raw == viak);
	PROP(raw == 0 || raw == -EACCES || raw == -ENOENT);
	PROP((raw == -ENOENT) == (m->integrity < 0 && m->integrity_sha256 < 0));
}

/* Rebuild the listed attributes, sign, fingerprint, parse back, compare. */
static void
reencode(const struct stun_msg *m)
{
	static uint8_t out[STUN_MAX_MSG_LEN + 64];
	struct stun_builder b;
	struct stun_msg m2;
	size_t n = 0;
	int len;

	PROP(stun_msg_type(m->method, m->cls) == m->type);
	stun_build_init(&b, out, sizeof(out), m->method, m->cls, m->tid);
	for (size_t i = 0; i < m->n_attrs; i++) {
		const struct stun_attr *a = &m->attrs[i];

		if (a->type == STUN_ATTR_MESSAGE_INTEGRITY ||
		    a->type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
		    a->type == STUN_ATTR_FINGERPRINT)
			continue;
		stun_build_attr(&b, a->type, a->value, a->len);
		n++;
	}
	if (n + 3 > STUN_MAX_ATTRS)
		return;
	stun_build_integrity(&b, key, sizeof(key) - 1);
	stun_build_integrity_sha256(&b, key, sizeof(key) - 1);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len == -EMSGSIZE)
		return; /* the signature pushed it past 64 KiB */
	PROP(len > 0);
	PROP(stun_parse(&m2, out, (size_t)len) == len);
	PROP(m2.type == m->type && memcmp(m2.tid, m->tid, STUN_TID_LEN) == 0);
	PROP(m2.n_attrs == n + 3 && m2.n_unknown == 0);
	PROP(m2.integrity >= 0 && m2.integrity_sha256 >= 0 && m2.fingerprint >= 0);
	PROP(stun_msg_check_integrity(&m2, key, sizeof(key) - 1) == 0);
	for (size_t i = 0, j = 0; i < m->n_attrs; i++) {
		const struct stun_attr *a = &m->attrs[i];

		if (a->type == STUN_ATTR_MESSAGE_INTEGRITY ||
		    a->type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
		    a->type == STUN_ATTR_FINGERPRINT)
			continue;
		PROP(m2.attrs[j].type == a->type && m2.attrs[j].len == a->len);
		PROP(a->len == 0 || memcmp(m2.attrs[j].value, a->value, a->len) == 0);
		if (a->type == STUN_ATTR_XOR_PEER_ADDRESS) {
			struct ice_addr x1, x2;
			PROP(stun_attr_xor_addr(m, a, &x1) == 0);
			PROP(stun_attr_xor_addr(&m2, &m2.attrs[j], &x2) == 0);
			PROP(memcmp(&x1, &x2, sizeof(x1)) == 0);
		}
		j++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_msg m;
	int rc, frame;

	/* A copy of exactly size bytes, so ASan sees any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);

	rc = stun_parse(&m, buf, size);
	PROP(rc == -EMSGSIZE || rc == -EBADMSG || rc == -EPROTO ||
	     (rc >= STUN_HEADER_LEN && (size_t)rc <= size));
	if (rc == -EPROTO) {
		/* Well framed: a whole message, one known comprehension-required
		 * attribute malformed and left out. */
		PROP(m.len >= STUN_HEADER_LEN && m.len <= size);
		PROP(m.bad_attr != 0 && m.bad_attr < 0x8000);
		PROP(m.bad_attr != STUN_ATTR_MESSAGE_INTEGRITY &&
		     m.bad_attr != STUN_ATTR_MESSAGE_INTEGRITY_SHA256);
		if (stun_demux(buf, size) == STUN_DEMUX_STUN)
			PROP(stun_stream_frame_len(buf, size) == (int)m.len);
		for (size_t i = 0; i < m.n_attrs; i++)
			PROP(m.attrs[i].offset + 4u + m.attrs[i].len <= m.len);
		decode_all(&m);
		check_integrity(&m);
		reencode(&m);
	} else if (rc >= 0) {
		PROP(m.bad_attr == 0);
	}
	frame = stun_stream_frame_len(buf, size);
	/*
	 * Framer and parser agree on valid messages that RFC 7983 classifies
	 * as STUN (first byte 0-3); methods >= 0x080 have legal STUN headers
	 * but are demultiplexed away as "not STUN" on a shared port.
	 */
	if (rc > 0 && stun_demux(buf, size) == STUN_DEMUX_STUN)
		PROP(frame == rc);
	if (frame > 0 && stun_demux(buf, size) == STUN_DEMUX_STUN)
		PROP(stun_parse(&m, buf, (size_t)frame) != -EMSGSIZE);
	if (rc > 0) {
		rc = stun_parse(&m, buf, size);
		PROP(m.n_attrs <= STUN_MAX_ATTRS && m.n_unknown <= STUN_MAX_UNKNOWN);
		for (size_t i = 0; i < m.n_attrs; i++)
			PROP(m.attrs[i].offset + 4u + m.attrs[i].len <= m.len);
		decode_all(&m);
		check_integrity(&m);
		reencode(&m);
	}
	free(buf);
	return 0;
}
