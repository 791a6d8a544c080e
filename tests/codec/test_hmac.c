/*
 * The allocation-free HMAC and CRC-32 against independent oracles: OpenSSL's
 * one-shot HMAC() and a bitwise CRC-32, over key lengths around the block
 * size and message lengths around the slicing stride.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "icestation/hmac.h"
#include "icestation/stun.h"

#include "testutil.h"

static uint32_t
crc32_bitwise(const uint8_t *p, size_t len)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
	}
	return ~c;
}

static void
test_hmac(void)
{
	static const size_t keylens[] = { 0, 1, 16, 20, 32, 63, 64, 65, 200 };
	static const size_t msglens[] = { 0, 1, 55, 56, 63, 64, 65, 119, 120, 1000 };
	uint8_t key[200], msg[1000];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13 + 1);

	for (int alg = STUN_HMAC_SHA1; alg <= STUN_HMAC_SHA256; alg++) {
		const EVP_MD *md = alg == STUN_HMAC_SHA1 ? EVP_sha1() : EVP_sha256();

		for (size_t ki = 0; ki < ICE_ARRAY_SIZE(keylens); ki++) {
			struct stun_hmac_key k;

			REQUIRE(stun_hmac_key_init(&k, alg, key, keylens[ki]) == 0);
			for (size_t mi = 0; mi < ICE_ARRAY_SIZE(msglens); mi++) {
				uint8_t want[32], got[32], got2[32];
				unsigned wlen = 0;
				struct stun_hmac_ctx c;
				size_t len = msglens[mi];

				HMAC(md, key, (int)keylens[ki], msg, len, want, &wlen);
				CHECK_EQ_INT(stun_hmac(alg, key, keylens[ki], msg, len, got), wlen);
				CHECK(memcmp(got, want, wlen) == 0);
				/* Precomputed key, fed in three uneven pieces, reused. */
				stun_hmac_begin(&c, &k);
				stun_hmac_update(&c, msg, len / 3);
				stun_hmac_update(&c, msg + len / 3, len / 2 - len / 3);
				stun_hmac_update(&c, msg + len / 2, len - len / 2);
				CHECK_EQ_INT(stun_hmac_end(&c, got2), wlen);
				CHECK(memcmp(got2, want, wlen) == 0);
			}
			stun_hmac_key_wipe(&k);
			CHECK_EQ_INT(k.alg, 0);
		}
	}
	{
		struct stun_hmac_key k;
		uint8_t out[32];
		CHECK_EQ_INT(stun_hmac_key_init(&k, 3, key, 1), -EINVAL);
		CHECK_EQ_INT(stun_hmac(0, key, 1, msg, 1, out), -EINVAL);
	}
}

static void
test_crc(void)
{
	uint8_t buf[300];

	CHECK_EQ_INT(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
	CHECK_EQ_INT(stun_crc32(buf, 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	/* Every length and a few misalignments. */
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 1 + len / 16)
			CHECK_EQ_INT(stun_crc32(buf + off, len), crc32_bitwise(buf + off, len));
}

int
main(void)
{
	test_hmac();
	test_crc();
	TEST_DONE();
}
