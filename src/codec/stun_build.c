/*
 * STUN message builder: writes into a caller buffer, never past cap. The
 * header length is kept current after every attribute, so MESSAGE-INTEGRITY
 * and FINGERPRINT can hash the buffer as it stands.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "icestation/stun.h"

#include "builder.h"
#include "rd.h"

void
stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method, uint8_t cls,
                const uint8_t tid[STUN_TID_LEN])
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	b->pad = 0;
	b->fingerprinted = false;
	if (cap < STUN_HEADER_LEN) {
		b->err = -ENOBUFS;
		return;
	}
	ice_st_be16(buf, stun_msg_type(method, cls));
	ice_st_be16(buf + 2, 0);
	ice_st_be32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, tid, STUN_TID_LEN);
	b->len = STUN_HEADER_LEN;
}

void
stun_build_set_padding(struct stun_builder *b, uint8_t byte)
{
	b->pad = byte;
}

uint8_t *
stun_build_reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	size_t need;
	uint8_t *p;

	if (b->err)
		return NULL;
	if (b->fingerprinted) {
		b->err = -EINVAL; /* FINGERPRINT must be last */
		return NULL;
	}
	if (len > UINT16_MAX) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	need = 4 + stun_pad4(len);
	if (b->len + need > STUN_MAX_MSG_LEN) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	if (need > b->cap - b->len) {
		b->err = -ENOBUFS;
		return NULL;
	}
	p = b->buf + b->len;
	ice_st_be16(p, type);
	ice_st_be16(p + 2, (uint16_t)len);
	memset(p + 4 + len, b->pad, stun_pad4(len) - len);
	b->len += need;
	ice_st_be16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p + 4;
}

void
stun_build_attr(struct stun_builder *b, uint16_t type, const void *value, size_t len)
{
	uint8_t *p = stun_build_reserve(b, type, len);

	if (p && len)
		memcpy(p, value, len);
}

void
stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t *p = stun_build_reserve(b, type, 4);

	if (p)
		ice_st_be32(p, v);
}

void
stun_build_u64(struct stun_builder *b, uint16_t type, uint64_t v)
{
	uint8_t *p = stun_build_reserve(b, type, 8);

	if (p) {
		ice_st_be32(p, (uint32_t)(v >> 32));
		ice_st_be32(p + 4, (uint32_t)v);
	}
}

/* Write family/port/address; returns the value pointer or NULL. */
static uint8_t *
put_addr(struct stun_builder *b, uint16_t type, const struct ice_addr *addr)
{
	size_t iplen;
	uint8_t *p;

	if (b->err)
		return NULL;
	if (addr->family == AF_INET)
		iplen = 4;
	else if (addr->family == AF_INET6)
		iplen = 16;
	else {
		b->err = -EAFNOSUPPORT;
		return NULL;
	}
	p = stun_build_reserve(b, type, 4 + iplen);
	if (!p)
		return NULL;
	p[0] = 0;
	p[1] = iplen == 4 ? 0x01 : 0x02;
	ice_st_be16(p + 2, addr->port);
	memcpy(p + 4, addr->ip, iplen);
	return p;
}

void
stun_build_addr(struct stun_builder *b, uint16_t type, const struct ice_addr *addr)
{
	put_addr(b, type, addr);
}

void
stun_build_xor_addr(struct stun_builder *b, uint16_t type, const struct ice_addr *addr)
{
	uint8_t *p = put_addr(b, type, addr);
	size_t iplen;

	if (!p)
		return;
	iplen = p[1] == 0x01 ? 4 : 16;
	ice_st_be16(p + 2, (uint16_t)(addr->port ^ (STUN_MAGIC_COOKIE >> 16)));
	/* cookie || tid, which is exactly header bytes 4..20. */
	for (size_t i = 0; i < iplen; i++)
		p[4 + i] ^= b->buf[4 + i];
}

void
stun_build_channel(struct stun_builder *b, uint16_t channel)
{
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_CHANNEL_NUMBER, 4);

	if (p) {
		ice_st_be16(p, channel);
		ice_st_be16(p + 2, 0);
	}
}

void
stun_build_requested_transport(struct stun_builder *b, uint8_t proto)
{
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_REQUESTED_TRANSPORT, 4);

	if (p) {
		p[0] = proto;
		p[1] = p[2] = p[3] = 0;
	}
}

static int
family_to_wire(int family)
{
	if (family == AF_INET)
		return 0x01;
	if (family == AF_INET6)
		return 0x02;
	return -EAFNOSUPPORT;
}

void
stun_build_address_family(struct stun_builder *b, uint16_t type, int family)
{
	int fam = family_to_wire(family);
	uint8_t *p;

	if (fam < 0) {
		if (!b->err)
			b->err = fam;
		return;
	}
	p = stun_build_reserve(b, type, 4);
	if (p) {
		p[0] = (uint8_t)fam;
		p[1] = p[2] = p[3] = 0;
	}
}

const char *
stun_error_reason(int code)
{
	switch (code) {
	case 300:
		return "Try Alternate";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 405:
		return "Mobility Forbidden";
	case 420:
		return "Unknown Attribute";
	case 437:
		return "Allocation Mismatch";
	case 438:
		return "Stale Nonce";
	case 440:
		return "Address Family not Supported";
	case 441:
		return "Wrong Credentials";
	case 442:
		return "Unsupported Transport Protocol";
	case 443:
		return "Peer Address Family Mismatch";
	case 446:
		return "Connection Already Exists";
	case 447:
		return "Connection Timeout or Failure";
	case 486:
		return "Allocation Quota Reached";
	case 500:
		return "Server Error";
	case 508:
		return "Insufficient Capacity";
	default:
		return "Error";
	}
}

/* ERROR-CODE and ADDRESS-ERROR-CODE share class/number/reason. */
static void
put_code(struct stun_builder *b, uint16_t type, uint8_t first, int code, const char *reason)
{
	size_t rlen;
	uint8_t *p;

	if (b->err)
		return;
	if (code < 300 || code > 699) {
		b->err = -EINVAL;
		return;
	}
	if (!reason)
		reason = stun_error_reason(code);
	rlen = strlen(reason);
	if (rlen > STUN_MAX_REASON_LEN) {
		b->err = -EINVAL;
		return;
	}
	p = stun_build_reserve(b, type, 4 + rlen);
	if (!p)
		return;
	p[0] = first;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason, rlen);
}

void
stun_build_error(struct stun_builder *b, int code, const char *reason)
{
	put_code(b, STUN_ATTR_ERROR_CODE, 0, code, reason);
}

void
stun_build_address_error(struct stun_builder *b, int family, int code, const char *reason)
{
	int fam = family_to_wire(family);

	if (fam < 0) {
		if (!b->err)
			b->err = fam;
		return;
	}
	put_code(b, STUN_ATTR_ADDRESS_ERROR_CODE, (uint8_t)fam, code, reason);
}

void
stun_build_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *p;

	if (n > UINT16_MAX / 2) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	p = stun_build_reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		ice_st_be16(p + 2 * i, types[i]);
}

void
stun_build_password_algorithms(struct stun_builder *b, const uint16_t *algs, size_t n)
{
	uint8_t *p;

	if (n > UINT16_MAX / 4) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	p = stun_build_reserve(b, STUN_ATTR_PASSWORD_ALGORITHMS, 4 * n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++) {
		ice_st_be16(p + 4 * i, algs[i]);
		ice_st_be16(p + 4 * i + 2, 0);
	}
}

void
stun_build_password_algorithm(struct stun_builder *b, uint16_t alg)
{
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_PASSWORD_ALGORITHM, 4);

	if (p) {
		ice_st_be16(p, alg);
		ice_st_be16(p + 2, 0);
	}
}

void
stun_build_icmp(struct stun_builder *b, uint8_t type, uint8_t code, uint32_t data)
{
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_ICMP, 8);

	if (p) {
		ice_st_be16(p, 0);
		p[2] = type;
		p[3] = code;
		ice_st_be32(p + 4, data);
	}
}

int
stun_build_finish(struct stun_builder *b)
{
	return b->err ? b->err : (int)b->len;
}
