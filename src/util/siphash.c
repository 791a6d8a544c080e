/*
 * SipHash-2-4 (Aumasson, Bernstein), the reference algorithm, for tables keyed
 * by client-controlled data.
 */
#include "icestation/siphash.h"

#include <sys/random.h>

#include <errno.h>
#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint64_t
ice_siphash(const struct ice_siphash_key *key, const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ key->k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ key->k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ key->k0;
	uint64_t v3 = 0x7465646279746573ULL ^ key->k1;
	uint64_t b = (uint64_t)len << 56;
	size_t left = len & 7;
	const uint8_t *end = in + (len - left);

	for (; in != end; in += 8) {
		uint64_t m = load_le64(in);

		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	switch (left) {
	case 7:
		b |= (uint64_t)in[6] << 48;
		/* fall through */
	case 6:
		b |= (uint64_t)in[5] << 40;
		/* fall through */
	case 5:
		b |= (uint64_t)in[4] << 32;
		/* fall through */
	case 4:
		b |= (uint64_t)in[3] << 24;
		/* fall through */
	case 3:
		b |= (uint64_t)in[2] << 16;
		/* fall through */
	case 2:
		b |= (uint64_t)in[1] << 8;
		/* fall through */
	case 1:
		b |= (uint64_t)in[0];
		break;
	default:
		break;
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

int
ice_siphash_key_random(struct ice_siphash_key *key)
{
	uint8_t buf[16];
	size_t got = 0;

	while (got < sizeof(buf)) {
		ssize_t r = getrandom(buf + got, sizeof(buf) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	memcpy(&key->k0, buf, 8);
	memcpy(&key->k1, buf + 8, 8);
	return 0;
}
