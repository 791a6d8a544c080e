/*
 * Stateless nonces for the long-term credential mechanism: the nonce carries
 * its own mint time and a MAC binding it to the client's address, port and
 * transport, so checking it needs no table. SipHash-2-4 is a PRF with a 128-bit key; a 64-bit tag
 * means a forger needs ~2^63 online guesses per accepted nonce, and a nonce
 * alone grants nothing without the credential anyway.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "icestation/auth_ltc.h"
#include "icestation/byteorder.h"

static const char cookie_prefix[] = "obMatJos2"; /* RFC 8489 §9.2 nonce cookie */
enum {
	PREFIX_LEN = sizeof(cookie_prefix) - 1,
	FEATURES_LEN = 4, /* base64 of the 24 security-feature bits */
	COOKIE_LEN = PREFIX_LEN + FEATURES_LEN,
	RAW_LEN = 12, /* ts32 + tag64 */
	B64_LEN = 16,
	/* ts, transport, then the client as family, port, 16 IP bytes */
	TAG_IN_LEN = 4 + 1 + 1 + 2 + 16,
};

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/* The cookie's own alphabet is standard base64 (RFC 8489 §9.2). */
static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
ltc_nonce_key_init(struct ltc_nonce_key *k)
{
	k->features = LTC_FEATURE_PASSWORD_ALGORITHMS;
	return ice_siphash_key_random(&k->k);
}

int
ltc_nonce_key_from_bytes(struct ltc_nonce_key *k, const uint8_t *material, size_t len)
{
	static const char label[] = "icestation nonce key v1";
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	int ok = 1;

	if (len == 0)
		return -EINVAL;
	ok &= SHA256_Init(&c);
	ok &= SHA256_Update(&c, label, sizeof(label)); /* the NUL separates label and material */
	ok &= SHA256_Update(&c, material, len);
	ok &= SHA256_Final(d, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	if (!ok)
		return -EIO;
	k->k.k0 = ice_ld_be64(d);
	k->k.k1 = ice_ld_be64(d + 8);
	k->features = LTC_FEATURE_PASSWORD_ALGORITHMS;
	OPENSSL_cleanse(d, sizeof(d));
	return 0;
}

static size_t
put_addr(uint8_t *p, const struct ice_addr *a)
{
	p[0] = a->family;
	p[1] = (uint8_t)(a->port >> 8);
	p[2] = (uint8_t)a->port;
	memcpy(p + 3, a->ip, (size_t)ice_addr_iplen(a));
	return 3 + 16;
}

static uint64_t
tag(const struct ltc_nonce_key *k, uint32_t ts, const struct ltc_tuple *t)
{
	uint8_t in[TAG_IN_LEN];
	size_t n = 0;

	memset(in, 0, sizeof(in));
	ice_st_be32(in, ts);
	n += 4;
	in[n++] = t->transport;
	n += put_addr(in + n, t->client);
	return ice_siphash(&k->k, in, n);
}

/* "obMatJos2" + base64 of the 24 feature bits, numbered from the least
 * significant end (RFC 8489 §18.1 as erratum 6290 corrects it). */
static void
put_cookie(const struct ltc_nonce_key *k, uint8_t out[COOKIE_LEN])
{
	uint32_t v = k->features & 0xFFFFFF;

	memcpy(out, cookie_prefix, PREFIX_LEN);
	for (int i = 0; i < FEATURES_LEN; i++)
		out[PREFIX_LEN + i] = (uint8_t)b64std[(v >> (18 - 6 * i)) & 63];
}

/* 12 bytes -> 16 base64url characters (no padding: 12 is a multiple of 3). */
static void
encode(const uint8_t raw[RAW_LEN], uint8_t out[B64_LEN])
{
	for (int i = 0, o = 0; i < RAW_LEN; i += 3, o += 4) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o] = (uint8_t)b64url[(v >> 18) & 63];
		out[o + 1] = (uint8_t)b64url[(v >> 12) & 63];
		out[o + 2] = (uint8_t)b64url[(v >> 6) & 63];
		out[o + 3] = (uint8_t)b64url[v & 63];
	}
}

static int
b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static int
decode(const uint8_t in[B64_LEN], uint8_t raw[RAW_LEN])
{
	for (int i = 0, o = 0; i < B64_LEN; i += 4, o += 3) {
		uint32_t v = 0;

		for (int j = 0; j < 4; j++) {
			int d = b64val(in[i + j]);

			if (d < 0)
				return -EBADMSG;
			v = v << 6 | (uint32_t)d;
		}
		raw[o] = (uint8_t)(v >> 16);
		raw[o + 1] = (uint8_t)(v >> 8);
		raw[o + 2] = (uint8_t)v;
	}
	return 0;
}

void
ltc_nonce_mint(const struct ltc_nonce_key *k, const struct ltc_tuple *t, ice_ms_t now,
               uint8_t out[LTC_NONCE_LEN])
{
	uint32_t ts = (uint32_t)(now / 1000);
	uint8_t raw[RAW_LEN];

	ice_st_be32(raw, ts);
	ice_st_be64(raw + 4, tag(k, ts, t));
	put_cookie(k, out);
	encode(raw, out + COOKIE_LEN);
}

int
ltc_nonce_check(const struct ltc_nonce_key *k, const struct ltc_tuple *t, const uint8_t *nonce,
                size_t len, ice_ms_t now, ice_ms_t lifetime)
{
	uint8_t want_cookie[COOKIE_LEN], raw[RAW_LEN];
	uint32_t ts;
	ice_ms_t minted;

	if (len != LTC_NONCE_LEN)
		return -EBADMSG;
	/* The whole cookie, feature bits included: a nonce whose features were
	 * stripped on the way (a bid-down) is not one we minted. */
	put_cookie(k, want_cookie);
	if (memcmp(nonce, want_cookie, COOKIE_LEN) != 0)
		return -EBADMSG;
	if (decode(nonce + COOKIE_LEN, raw) < 0)
		return -EBADMSG;
	ts = ice_ld_be32(raw);
	/* One 64-bit compare: no byte-wise early exit to time. */
	if (ice_ld_be64(raw + 4) != tag(k, ts, t))
		return -EBADMSG;
	minted = (ice_ms_t)ts * 1000;
	if (minted > now)
		return -EBADMSG;
	/* ts is truncated to the second: age may read up to 999 ms short. */
	if (now - minted >= lifetime)
		return -ESTALE;
	return 0;
}
