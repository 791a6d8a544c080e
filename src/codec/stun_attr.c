/*
 * Attribute value decoders. Each takes an attribute that stun_parse listed
 * (so it lies inside the message) and checks the value's own layout.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "icestation/stun.h"

#include "rd.h"

/* Family byte -> AF_*, and the address length it implies. */
static int
family_from_wire(uint8_t fam, int *af, size_t *iplen)
{
	if (fam == 0x01) {
		*af = AF_INET;
		*iplen = 4;
		return 0;
	}
	if (fam == 0x02) {
		*af = AF_INET6;
		*iplen = 16;
		return 0;
	}
	return -EBADMSG;
}

static int
read_addr(const struct stun_attr *a, struct ice_addr *out)
{
	struct rd r;
	uint8_t rsvd, fam;
	uint16_t port;
	const uint8_t *ip;
	size_t iplen;
	int af;

	rd_init(&r, a->value, a->len);
	if (rd_u8(&r, &rsvd) || rd_u8(&r, &fam) || rd_u16(&r, &port))
		return -EBADMSG;
	if (family_from_wire(fam, &af, &iplen) < 0)
		return -EBADMSG;
	if (r.left != iplen || rd_bytes(&r, &ip, iplen))
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)af;
	out->port = port;
	memcpy(out->ip, ip, iplen);
	return 0;
}

int
stun_attr_addr(const struct stun_attr *a, struct ice_addr *out)
{
	return read_addr(a, out);
}

int
stun_attr_xor_addr(const struct stun_msg *msg, const struct stun_attr *a, struct ice_addr *out)
{
	uint8_t mask[16];
	int rc;

	rc = read_addr(a, out);
	if (rc < 0)
		return rc;
	/* RFC 8489 §14.2: port ^ top of cookie, address ^ (cookie || tid). */
	ice_st_be32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, msg->tid, STUN_TID_LEN);
	out->port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	for (int i = 0; i < (out->family == AF_INET ? 4 : 16); i++)
		out->ip[i] ^= mask[i];
	return 0;
}

int
stun_attr_u32(const struct stun_attr *a, uint32_t *out)
{
	if (a->len != 4)
		return -EBADMSG;
	*out = ice_ld_be32(a->value);
	return 0;
}

int
stun_attr_u64(const struct stun_attr *a, uint64_t *out)
{
	if (a->len != 8)
		return -EBADMSG;
	*out = (uint64_t)ice_ld_be32(a->value) << 32 | ice_ld_be32(a->value + 4);
	return 0;
}

int
stun_attr_channel(const struct stun_attr *a, uint16_t *out)
{
	if (a->len != 4)
		return -EBADMSG;
	*out = ice_ld_be16(a->value);
	return 0;
}

int
stun_attr_requested_transport(const struct stun_attr *a, uint8_t *proto)
{
	if (a->len != 4)
		return -EBADMSG;
	*proto = a->value[0];
	return 0;
}

int
stun_attr_address_family(const struct stun_attr *a, int *family)
{
	size_t iplen;

	if (a->len != 4)
		return -EBADMSG;
	if (family_from_wire(a->value[0], family, &iplen) < 0)
		return -EAFNOSUPPORT;
	return 0;
}

int
stun_attr_even_port(const struct stun_attr *a, bool *reserve_next)
{
	if (a->len != 1)
		return -EBADMSG;
	*reserve_next = (a->value[0] & 0x80) != 0;
	return 0;
}

/* Class (3 bits) and number (8 bits) as RFC 8489 §14.8 lays them out. */
static int
read_code(const uint8_t *v, int *code)
{
	int cls = v[2] & 0x07, num = v[3];

	if (cls < 3 || cls > 6 || num > 99)
		return -EBADMSG;
	*code = cls * 100 + num;
	return 0;
}

int
stun_attr_error_code(const struct stun_attr *a, int *code, const char **reason, size_t *reason_len)
{
	if (a->len < 4 || a->len > 4 + STUN_MAX_REASON_LEN)
		return -EBADMSG;
	if (read_code(a->value, code) < 0)
		return -EBADMSG;
	*reason = (const char *)a->value + 4;
	*reason_len = a->len - 4u;
	return 0;
}

int
stun_attr_address_error(const struct stun_attr *a, int *family, int *code, const char **reason,
                        size_t *reason_len)
{
	size_t iplen;

	if (a->len < 4 || a->len > 4 + STUN_MAX_REASON_LEN)
		return -EBADMSG;
	if (family_from_wire(a->value[0], family, &iplen) < 0)
		return -EBADMSG;
	if (read_code(a->value, code) < 0)
		return -EBADMSG;
	*reason = (const char *)a->value + 4;
	*reason_len = a->len - 4u;
	return 0;
}

int
stun_attr_icmp(const struct stun_attr *a, uint8_t *type, uint8_t *code, uint32_t *data)
{
	if (a->len != 8)
		return -EBADMSG;
	*type = a->value[2];
	*code = a->value[3];
	*data = ice_ld_be32(a->value + 4);
	return 0;
}

/* One algorithm entry: number, parameter length, parameters, padding. */
static int
read_pwalg(struct rd *r, uint16_t *alg, const uint8_t **params, size_t *params_len)
{
	uint16_t plen;

	if (rd_u16(r, alg) || rd_u16(r, &plen) || rd_bytes(r, params, plen))
		return -EBADMSG;
	*params_len = plen;
	/* Entries are padded to 4 inside the list; the last may end unpadded. */
	if (rd_skip(r, ICE_MIN(stun_pad4(plen) - plen, r->left)))
		return -EBADMSG;
	return 0;
}

int
stun_attr_password_algorithm(const struct stun_attr *a, uint16_t *alg, const uint8_t **params,
                             size_t *params_len)
{
	struct rd r;

	rd_init(&r, a->value, a->len);
	if (read_pwalg(&r, alg, params, params_len) < 0 || r.left != 0)
		return -EBADMSG;
	return 0;
}

void
stun_pwalgs_init(struct stun_pwalg_iter *it, const struct stun_attr *a)
{
	it->p = a->value;
	it->left = a->len;
}

int
stun_pwalgs_next(struct stun_pwalg_iter *it, uint16_t *alg, const uint8_t **params,
                 size_t *params_len)
{
	struct rd r;

	if (it->left == 0)
		return 0;
	rd_init(&r, it->p, it->left);
	if (read_pwalg(&r, alg, params, params_len) < 0) {
		it->left = 0;
		return -EBADMSG;
	}
	it->p = r.p;
	it->left = r.left;
	return 1;
}
