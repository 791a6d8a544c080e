/*
 * HMAC-SHA1 and HMAC-SHA256 without heap allocation, for STUN
 * MESSAGE-INTEGRITY(-SHA256) and anything else on a hot path. OpenSSL 3's
 * HMAC()/EVP_MAC allocate a context per call; this keeps the two SHA states
 * with the key already absorbed (ipad/opad), so a caller that reuses a key
 * (a TURN allocation's long-term key) pays two compressions less per message
 * and never touches malloc.
 */
#ifndef ICESTATION_HMAC_H
#define ICESTATION_HMAC_H

#include <stddef.h>
#include <stdint.h>

enum stun_hmac_alg {
	STUN_HMAC_SHA1 = 1,   /* 20-byte MAC: MESSAGE-INTEGRITY, REST credentials */
	STUN_HMAC_SHA256 = 2, /* 32-byte MAC: MESSAGE-INTEGRITY-SHA256 */
};

enum {
	STUN_HMAC_MAX_LEN = 32,
	STUN_HMAC_STATE_WORDS = 16, /* 128 bytes: room for SHA_CTX or SHA256_CTX */
};

/*
 * A key with the inner and outer pads absorbed. Plain memory: copy it, keep
 * it inside another struct, no _fini needed (call stun_hmac_key_wipe to
 * scrub secrets). Fields are private to src/codec/hmac.c.
 */
struct stun_hmac_key {
	uint32_t alg; /* enum stun_hmac_alg, 0 = not initialised */
	uint32_t mac_len;
	uint64_t inner[STUN_HMAC_STATE_WORDS];
	uint64_t outer[STUN_HMAC_STATE_WORDS];
};

/* A running HMAC computation: begin from a key, update, end. */
struct stun_hmac_ctx {
	const struct stun_hmac_key *key;
	uint64_t state[STUN_HMAC_STATE_WORDS];
};

/*
 * Absorb key[0..keylen) (any length; longer than a block is hashed first, as
 * RFC 2104 says) into *k. Borrows key only during the call.
 * Returns 0, or -EINVAL for an unknown alg.
 */
int stun_hmac_key_init(struct stun_hmac_key *k, enum stun_hmac_alg alg, const uint8_t *key,
                       size_t keylen);

/* Scrub the key material (OPENSSL_cleanse). */
void stun_hmac_key_wipe(struct stun_hmac_key *k);

/* Start a MAC with key k; k is borrowed until stun_hmac_end. */
void stun_hmac_begin(struct stun_hmac_ctx *c, const struct stun_hmac_key *k);

/* Feed data[0..len). */
void stun_hmac_update(struct stun_hmac_ctx *c, const void *data, size_t len);

/* Write the full MAC (20 or 32 bytes) to out. Returns its length. */
size_t stun_hmac_end(struct stun_hmac_ctx *c, uint8_t out[STUN_HMAC_MAX_LEN]);

/*
 * One shot: MAC of data[0..len) under key[0..keylen). Returns the MAC length
 * (20 or 32), or -EINVAL for an unknown alg.
 */
int stun_hmac(enum stun_hmac_alg alg, const uint8_t *key, size_t keylen, const void *data,
              size_t len, uint8_t out[STUN_HMAC_MAX_LEN]);

#endif
