/*
 * MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256 and FINGERPRINT,
 * checked on parsed messages and appended by the builder (RFC 8489 §14.5-7).
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "icestation/stun.h"

#include "builder.h"
#include "rd.h"

/*
 * HMAC of buf[0..off) where the header length field is replaced by
 * adj_len: the length up to and including the integrity attribute, so
 * that anything after it (FINGERPRINT) does not change the MAC.
 */
static void
mac_upto(const struct stun_hmac_key *k, const uint8_t *buf, size_t off, size_t adj_len,
         uint8_t out[STUN_HMAC_MAX_LEN])
{
	struct stun_hmac_ctx c;
	uint8_t len[2];

	ice_st_be16(len, (uint16_t)adj_len);
	stun_hmac_begin(&c, k);
	stun_hmac_update(&c, buf, 2);
	stun_hmac_update(&c, len, 2);
	stun_hmac_update(&c, buf + 4, off - 4);
	stun_hmac_end(&c, out);
}

static int
check_attr(const struct stun_msg *msg, int idx, const struct stun_hmac_key *k)
{
	const struct stun_attr *a = &msg->attrs[idx];
	uint8_t mac[STUN_HMAC_MAX_LEN];
	size_t adj = (size_t)a->offset + 4 + a->len - STUN_HEADER_LEN;
	int rc;

	/* stun_parse enforced a->len (20, or 16..32 step 4) against the MAC size. */
	mac_upto(k, msg->buf, a->offset, adj, mac);
	rc = CRYPTO_memcmp(mac, a->value, a->len) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int
stun_msg_check_integrity_k(const struct stun_msg *msg, const struct stun_hmac_key *k)
{
	int idx;

	if (k->alg == STUN_HMAC_SHA256)
		idx = msg->integrity_sha256;
	else if (k->alg == STUN_HMAC_SHA1)
		idx = msg->integrity;
	else
		return -EINVAL;
	if (idx < 0)
		return -ENOENT;
	return check_attr(msg, idx, k);
}

int
stun_msg_check_integrity(const struct stun_msg *msg, const uint8_t *key, size_t keylen)
{
	struct stun_hmac_key k;
	enum stun_hmac_alg alg;
	int rc;

	if (msg->integrity_sha256 >= 0)
		alg = STUN_HMAC_SHA256;
	else if (msg->integrity >= 0)
		alg = STUN_HMAC_SHA1;
	else
		return -ENOENT;
	stun_hmac_key_init(&k, alg, key, keylen);
	rc = stun_msg_check_integrity_k(msg, &k);
	stun_hmac_key_wipe(&k);
	return rc;
}

void
stun_build_integrity_k(struct stun_builder *b, const struct stun_hmac_key *k)
{
	uint8_t mac[STUN_HMAC_MAX_LEN];
	uint16_t type;
	size_t off = b->len;
	uint8_t *p;

	if (b->err)
		return;
	if (k->alg == STUN_HMAC_SHA1)
		type = STUN_ATTR_MESSAGE_INTEGRITY;
	else if (k->alg == STUN_HMAC_SHA256)
		type = STUN_ATTR_MESSAGE_INTEGRITY_SHA256;
	else {
		b->err = -EINVAL;
		return;
	}
	/* Reserving first sets the header length to cover this attribute. */
	p = stun_build_reserve(b, type, k->mac_len);
	if (!p)
		return;
	mac_upto(k, b->buf, off, b->len - STUN_HEADER_LEN, mac);
	memcpy(p, mac, k->mac_len);
}

static void
build_integrity_raw(struct stun_builder *b, enum stun_hmac_alg alg, const uint8_t *key,
                    size_t keylen)
{
	struct stun_hmac_key k;

	if (b->err)
		return;
	stun_hmac_key_init(&k, alg, key, keylen);
	stun_build_integrity_k(b, &k);
	stun_hmac_key_wipe(&k);
}

void
stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	build_integrity_raw(b, STUN_HMAC_SHA1, key, keylen);
}

void
stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	build_integrity_raw(b, STUN_HMAC_SHA256, key, keylen);
}

void
stun_build_fingerprint(struct stun_builder *b)
{
	size_t off = b->len;
	uint8_t *p = stun_build_reserve(b, STUN_ATTR_FINGERPRINT, 4);

	if (!p)
		return;
	ice_st_be32(p, stun_crc32(b->buf, off) ^ STUN_FINGERPRINT_XOR);
	b->fingerprinted = true;
}
