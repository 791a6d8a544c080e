/*
 * STUN long-term credential mechanism (RFC 8489 §9.2) over TURN REST
 * usernames ("<expiry>:<user>", password = base64(HMAC-SHA1(secret,
 * username))), with stateless nonces. Pure: both clocks come in as
 * parameters; nothing here allocates, locks or logs.
 *
 * Nonce: "obMatJos2" + "AAAB" (the RFC 8489 §9.2 nonce cookie and the
 * security-feature set with "password algorithms" on, bit 0 counted from the
 * least significant bit as erratum 6290 corrects) + base64url(ts32 || tag64),
 * ts = monotonic seconds when minted, tag = SipHash-2-4 under a per-process
 * random key over ts and the client IP. Minting and checking cost one SipHash
 * and keep no state, so a flood of unauthenticated requests creates nothing.
 */
#ifndef ICESTATION_AUTH_LTC_H
#define ICESTATION_AUTH_LTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/hmac.h"
#include "icestation/siphash.h"
#include "icestation/stun.h"

enum {
	LTC_NONCE_LEN = 9 + 4 + 16, /* cookie + features + base64url(12 bytes) */
	LTC_KEY_MAX = 32,           /* SHA-256 key; an MD5 key uses 16 */
	LTC_NONCE_LIFETIME_MS = 600 * 1000,
};

struct ltc_nonce_key {
	struct ice_siphash_key k;
};

/* Fill a fresh random nonce key. 0 or -errno (getrandom failed). */
int ltc_nonce_key_init(struct ltc_nonce_key *k);

/*
 * Write a nonce for a client at monotonic time now into out (exactly
 * LTC_NONCE_LEN bytes, not NUL-terminated). Borrows everything for the call.
 */
void ltc_nonce_mint(const struct ltc_nonce_key *k, const struct ice_addr *client, ice_ms_t now,
                    uint8_t out[LTC_NONCE_LEN]);

/*
 * Check a nonce a client echoed. Returns 0 when we minted it for this client IP
 * less than lifetime ago, -ESTALE when we minted it but it is older, -EBADMSG
 * when it is not ours (wrong format, forged, another client IP, or from the
 * future).
 */
int ltc_nonce_check(const struct ltc_nonce_key *k, const struct ice_addr *client,
                    const uint8_t *nonce, size_t len, ice_ms_t now, ice_ms_t lifetime);

/*
 * The long-term key: MD5 or SHA-256 of "username:realm:password" (RFC 8489
 * §9.2.2; OpaqueString is the identity on the ASCII of REST credentials).
 * pw_alg is STUN_PASSWORD_ALG_MD5 or _SHA256. Returns the key length (16 or
 * 32), or -EINVAL for another algorithm, -EIO if OpenSSL fails.
 */
int ltc_key_derive(uint16_t pw_alg, const uint8_t *username, size_t username_len, const char *realm,
                   size_t realm_len, const char *password, size_t password_len,
                   uint8_t key[LTC_KEY_MAX]);

/* What the mechanism needs, borrowed from the configuration snapshot. */
struct ltc_config {
	const char *realm;
	size_t realm_len;
	const char *const *secrets; /* [0] current, the rest previous (rotation) */
	const size_t *secret_lens;
	size_t n_secrets;
	const struct ltc_nonce_key *nonce_key;
	ice_ms_t nonce_lifetime;
};

/*
 * A verified credential, cached in a TURN allocation so its later requests
 * skip the REST HMAC and the key derivation. mac is the key with the HMAC pads
 * absorbed, for the integrity attribute the client used when it was made.
 */
struct ltc_cred {
	struct stun_hmac_key mac;
	uint8_t key[LTC_KEY_MAX];
	uint8_t key_len;
	uint8_t pw_alg;  /* enum stun_password_algorithm */
	uint64_t expiry; /* REST expiry, unix seconds */
};

/* Why a request failed authentication (for counters). */
enum ltc_why {
	LTC_OK = 0,
	LTC_NO_INTEGRITY,   /* 401: no MESSAGE-INTEGRITY(-SHA256): the normal first try */
	LTC_MISSING_ATTR,   /* 400: integrity but no USERNAME, REALM or NONCE */
	LTC_BAD_NONCE,      /* 401: a nonce we did not mint for this client */
	LTC_BAD_ALGORITHMS, /* 400: PASSWORD-ALGORITHM(S) do not match what we offered */
	LTC_BAD_REALM,      /* 401 */
	LTC_BAD_USERNAME,   /* 401: not a REST username, or USERHASH (unsupported) */
	LTC_EXPIRED,        /* 401: REST username past its expiry */
	LTC_BAD_INTEGRITY,  /* 401: no secret produces this MAC */
	LTC_STALE_NONCE,    /* 438: right credentials, nonce too old */
};

struct ltc_result {
	int code; /* 0 = authenticated, else the STUN error code: 400, 401 or 438 */
	enum ltc_why why;
	const uint8_t *username; /* USERNAME value (view into the message), or NULL */
	size_t username_len;
	const char *user; /* REST user part, view into username */
	size_t user_len;
	bool mi, mi256;              /* integrity attributes present in the request */
	int secret_index;            /* which secret matched (0 current, >0 previous), -1 cached */
	const struct ltc_cred *cred; /* on success: the cached cred or &fresh */
	struct ltc_cred fresh;       /* filled when no usable cache was given */
};

/*
 * Authenticate a request (RFC 8489 §9.2.4 order). client is the source
 * address (nonces are bound to its IP); now is monotonic ms (nonce age);
 * unix_s is wall-clock seconds (REST expiry). cached, when not NULL, is the
 * credential of the allocation this request belongs to and the caller has
 * checked that USERNAME is the same: its key is used if the algorithm agrees.
 * Borrows everything for the call; r->cred and r->username point into cached,
 * r or msg. Returns r->code.
 */
int ltc_verify(const struct ltc_config *c, const struct stun_msg *msg,
               const struct ice_addr *client, ice_ms_t now, uint64_t unix_s,
               const struct ltc_cred *cached, struct ltc_result *r);

/* The PASSWORD-ALGORITHMS we offer, in preference order, for 401/438 answers. */
extern const uint16_t ltc_password_algorithms[2];

#endif
