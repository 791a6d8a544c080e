/*
 * Stateless nonces for the long-term credential mechanism: the nonce carries
 * its own mint time and a MAC binding it to the client IP, so checking it needs
 * no table. SipHash-2-4 is a PRF with a 128-bit key; a 64-bit tag means a
 * forger needs ~2^63 online guesses per accepted nonce, and a nonce alone
 * grants nothing without the credential anyway.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "icestation/auth_ltc.h"

static const char cookie[] = "obMatJos2AAAB"; /* RFC 8489 §9.2 cookie + features */
enum {
	COOKIE_LEN = sizeof(cookie) - 1,
	RAW_LEN = 12, /* ts32 + tag64 */
	B64_LEN = 16,
};

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
ltc_nonce_key_init(struct ltc_nonce_key *k)
{
	return ice_siphash_key_random(&k->k);
}

static uint64_t
tag(const struct ltc_nonce_key *k, uint32_t ts, const struct ice_addr *client)
{
	uint8_t in[4 + 1 + 16];

	memset(in, 0, sizeof(in));
	in[0] = (uint8_t)(ts >> 24);
	in[1] = (uint8_t)(ts >> 16);
	in[2] = (uint8_t)(ts >> 8);
	in[3] = (uint8_t)ts;
	in[4] = client->family;
	memcpy(in + 5, client->ip, (size_t)ice_addr_iplen(client));
	return ice_siphash(&k->k, in, sizeof(in));
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
ltc_nonce_mint(const struct ltc_nonce_key *k, const struct ice_addr *client, ice_ms_t now,
               uint8_t out[LTC_NONCE_LEN])
{
	uint32_t ts = (uint32_t)(now / 1000);
	uint64_t t = tag(k, ts, client);
	uint8_t raw[RAW_LEN];

	for (int i = 0; i < 4; i++)
		raw[i] = (uint8_t)(ts >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		raw[4 + i] = (uint8_t)(t >> (56 - 8 * i));
	memcpy(out, cookie, COOKIE_LEN);
	encode(raw, out + COOKIE_LEN);
}

int
ltc_nonce_check(const struct ltc_nonce_key *k, const struct ice_addr *client, const uint8_t *nonce,
                size_t len, ice_ms_t now, ice_ms_t lifetime)
{
	uint8_t raw[RAW_LEN];
	uint32_t ts = 0;
	uint64_t t = 0, want;
	ice_ms_t minted;

	if (len != LTC_NONCE_LEN || memcmp(nonce, cookie, COOKIE_LEN) != 0)
		return -EBADMSG;
	if (decode(nonce + COOKIE_LEN, raw) < 0)
		return -EBADMSG;
	for (int i = 0; i < 4; i++)
		ts = ts << 8 | raw[i];
	for (int i = 0; i < 8; i++)
		t = t << 8 | raw[4 + i];
	want = tag(k, ts, client);
	/* One 64-bit compare: no byte-wise early exit to time. */
	if (t != want)
		return -EBADMSG;
	minted = (ice_ms_t)ts * 1000;
	if (minted > now)
		return -EBADMSG;
	/* ts is truncated to the second: age may read up to 999 ms short. */
	if (now - minted >= lifetime)
		return -ESTALE;
	return 0;
}
