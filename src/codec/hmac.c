/*
 * HMAC (RFC 2104) over OpenSSL's low-level SHA-1/SHA-256 block functions.
 * Those are deprecated in OpenSSL 3 in favour of EVP, but EVP_MAC allocates a
 * context per MAC, which the packet path cannot afford; the low-level
 * functions work on caller memory and remain in libcrypto.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "icestation/hmac.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

enum {
	HMAC_BLOCK = 64, /* SHA-1 and SHA-256 block size */
};

_Static_assert(sizeof(SHA_CTX) <= sizeof(((struct stun_hmac_key *)0)->inner),
               "SHA_CTX does not fit struct stun_hmac_key");
_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct stun_hmac_key *)0)->inner),
               "SHA256_CTX does not fit struct stun_hmac_key");

static void
hash_init(uint32_t alg, void *st)
{
	if (alg == STUN_HMAC_SHA1)
		SHA1_Init(st);
	else
		SHA256_Init(st);
}

static void
hash_update(uint32_t alg, void *st, const void *p, size_t len)
{
	if (alg == STUN_HMAC_SHA1)
		SHA1_Update(st, p, len);
	else
		SHA256_Update(st, p, len);
}

static void
hash_final(uint32_t alg, void *st, uint8_t *out)
{
	if (alg == STUN_HMAC_SHA1)
		SHA1_Final(out, st);
	else
		SHA256_Final(out, st);
}

int
stun_hmac_key_init(struct stun_hmac_key *k, enum stun_hmac_alg alg, const uint8_t *key,
                   size_t keylen)
{
	uint8_t pad[HMAC_BLOCK], hashed[STUN_HMAC_MAX_LEN];
	size_t i;

	if (alg != STUN_HMAC_SHA1 && alg != STUN_HMAC_SHA256)
		return -EINVAL;
	k->alg = alg;
	k->mac_len = alg == STUN_HMAC_SHA1 ? SHA_DIGEST_LENGTH : SHA256_DIGEST_LENGTH;
	if (keylen > HMAC_BLOCK) {
		hash_init(alg, k->inner);
		hash_update(alg, k->inner, key, keylen);
		hash_final(alg, k->inner, hashed);
		key = hashed;
		keylen = k->mac_len;
	}
	memset(pad, 0, sizeof(pad));
	if (keylen)
		memcpy(pad, key, keylen);
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] ^= 0x36;
	hash_init(alg, k->inner);
	hash_update(alg, k->inner, pad, HMAC_BLOCK);
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	hash_init(alg, k->outer);
	hash_update(alg, k->outer, pad, HMAC_BLOCK);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(hashed, sizeof(hashed));
	return 0;
}

void
stun_hmac_key_wipe(struct stun_hmac_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

void
stun_hmac_begin(struct stun_hmac_ctx *c, const struct stun_hmac_key *k)
{
	c->key = k;
	memcpy(c->state, k->inner, sizeof(c->state));
}

void
stun_hmac_update(struct stun_hmac_ctx *c, const void *data, size_t len)
{
	hash_update(c->key->alg, c->state, data, len);
}

size_t
stun_hmac_end(struct stun_hmac_ctx *c, uint8_t out[STUN_HMAC_MAX_LEN])
{
	const struct stun_hmac_key *k = c->key;
	uint8_t inner[STUN_HMAC_MAX_LEN];

	hash_final(k->alg, c->state, inner);
	memcpy(c->state, k->outer, sizeof(c->state));
	hash_update(k->alg, c->state, inner, k->mac_len);
	hash_final(k->alg, c->state, out);
	OPENSSL_cleanse(c->state, sizeof(c->state));
	return k->mac_len;
}

int
stun_hmac(enum stun_hmac_alg alg, const uint8_t *key, size_t keylen, const void *data, size_t len,
          uint8_t out[STUN_HMAC_MAX_LEN])
{
	struct stun_hmac_key k;
	struct stun_hmac_ctx c;
	int rc;

	rc = stun_hmac_key_init(&k, alg, key, keylen);
	if (rc < 0)
		return rc;
	stun_hmac_begin(&c, &k);
	stun_hmac_update(&c, data, len);
	rc = (int)stun_hmac_end(&c, out);
	stun_hmac_key_wipe(&k);
	return rc;
}
