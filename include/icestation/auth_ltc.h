/*
 * STUN long-term credential mechanism (RFC 8489 §9.2) over TURN REST
 * usernames ("<expiry>:<user>" or a bare "<expiry>", password derived from
 * the username and a shared secret in one of the formats of auth.h), with
 * stateless nonces. Pure: both clocks come in as parameters; nothing here
 * allocates, locks or logs (the USERHASH table of auth_userhash.h, which
 * locks, is consulted only for an Allocate that carries USERHASH).
 *
 * Nonce: "obMatJos2" + four base64 characters of the 24 security-feature
 * bits (RFC 8489 §9.2; "password algorithms" is bit 0 and "username
 * anonymity" bit 1, counted from the least significant end as erratum 6290
 * corrects: "AAAB" or "AAAD") + base64url(ts32 || tag64), ts = monotonic
 * seconds when minted, tag = SipHash-2-4 under the nonce key over ts and the
 * client's side of its 5-tuple (client address, client port, transport).
 * Not the server address: the nodes of a cluster behind one anycast address
 * or load balancer each see another local address for the same client.
 * Minting and checking cost one SipHash and keep no state, so a flood of
 * unauthenticated requests creates nothing.
 */
#ifndef ICESTATION_AUTH_LTC_H
#define ICESTATION_AUTH_LTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/auth.h"
#include "icestation/auth_userhash.h"
#include "icestation/common.h"
#include "icestation/hmac.h"
#include "icestation/siphash.h"
#include "icestation/stun.h"

enum {
	LTC_NONCE_LEN = 9 + 4 + 16, /* cookie + features + base64url(12 bytes) */
	LTC_KEY_MAX = 32,           /* SHA-256 key; an MD5 key uses 16 */
	LTC_NONCE_LIFETIME_MS = 600 * 1000,
};

/* STUN Security Feature bits of the nonce cookie (RFC 8489 §18.1, erratum 6290). */
enum ltc_feature {
	LTC_FEATURE_PASSWORD_ALGORITHMS = 1u << 0,
	LTC_FEATURE_USERNAME_ANONYMITY = 1u << 1, /* conforming clients then send USERHASH */
};

struct ltc_nonce_key {
	struct ice_siphash_key k;
	uint32_t features; /* enum ltc_feature bits the cookie carries; the caller may add some */
};

/*
 * What of the client's 5-tuple a nonce is bound to. client is borrowed;
 * transport is the caller's own number for UDP, TCP and TLS (turn's enum
 * turn_proto).
 */
struct ltc_tuple {
	const struct ice_addr *client; /* address and port, as the server sees them */
	uint8_t transport;
};

/* Fill a fresh random nonce key (features: password algorithms). 0 or -errno. */
int ltc_nonce_key_init(struct ltc_nonce_key *k);

/*
 * Derive the nonce key from material[0..len) (a secret every node of a
 * cluster shares, or bytes kept in Redis): the first 16 bytes of
 * SHA-256("icestation nonce key v1" NUL material). The same material gives
 * the same key, so a nonce minted by one node verifies on another (given the
 * same feature bits). Features: password algorithms. Returns 0, -EINVAL for
 * empty material, -EIO if OpenSSL fails.
 */
int ltc_nonce_key_from_bytes(struct ltc_nonce_key *k, const uint8_t *material, size_t len);

/*
 * Write a nonce for the 5-tuple t at monotonic time now into out (exactly
 * LTC_NONCE_LEN bytes, not NUL-terminated). Borrows everything for the call.
 */
void ltc_nonce_mint(const struct ltc_nonce_key *k, const struct ltc_tuple *t, ice_ms_t now,
                    uint8_t out[LTC_NONCE_LEN]);

/*
 * Check a nonce a client echoed. Returns 0 when we minted it for this client
 * address, port and transport less than lifetime ago, -ESTALE when we minted
 * it but it is older, -EBADMSG when it is not ours (wrong format or feature
 * bits, forged, minted for another client address, port or transport, or
 * from the future).
 */
int ltc_nonce_check(const struct ltc_nonce_key *k, const struct ltc_tuple *t, const uint8_t *nonce,
                    size_t len, ice_ms_t now, ice_ms_t lifetime);

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
	enum ice_rest_format format; /* how a password derives from a username */
	const struct ltc_nonce_key *nonce_key;
	ice_ms_t nonce_lifetime;
	/* Nonce ages read on the wall clock (unix time) rather than the
	 * monotonic one: with a key several nodes share, a nonce minted on one
	 * node is checked on another, whose monotonic clock means nothing to
	 * it. A clock step then only costs the client one 438. */
	bool nonce_unix_clock;
	/* Seconds a credential may be past its expiry on requests of an
	 * allocation it made (Refresh, CreatePermission, ChannelBind): browsers do
	 * not fetch a new one mid-call. An Allocate gets no grace. */
	uint32_t grace_s;
	struct ltc_userhash *userhash; /* usernames the ICE API minted, or NULL */
};

/* The time a nonce is minted and checked at: now (monotonic ms) or, with
 * c->nonce_unix_clock, unix_s in ms. */
static inline ice_ms_t
ltc_nonce_now(const struct ltc_config *c, ice_ms_t now, uint64_t unix_s)
{
	return c->nonce_unix_clock ? (ice_ms_t)unix_s * 1000 : now;
}

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
	LTC_MISSING_ATTR,   /* 400: integrity but no USERNAME/USERHASH, REALM or NONCE */
	LTC_BAD_NONCE,      /* 438: a nonce we never minted for this 5-tuple (as coturn) */
	LTC_BAD_ALGORITHMS, /* 400: PASSWORD-ALGORITHM(S) do not match what we offered */
	LTC_BAD_REALM,      /* 401 */
	LTC_BAD_USERNAME,   /* 401: not a REST username, or a USERHASH we cannot resolve */
	LTC_EXPIRED,        /* 401: REST username past its expiry (plus grace on an allocation) */
	LTC_BAD_INTEGRITY,  /* 401: no secret produces this MAC */
	LTC_STALE_NONCE,    /* 438: right credentials, nonce too old */
};

struct ltc_result {
	int code; /* 0 = authenticated, else the STUN error code: 400, 401 or 438 */
	enum ltc_why why;
	/* The username: the USERNAME value (a view into the message) or the one a
	 * USERHASH resolved to (in name below); NULL when a USERHASH request was
	 * checked against cached alone. */
	const uint8_t *username;
	size_t username_len;
	const char *user; /* REST user part, view into username (empty: anonymous) */
	size_t user_len;
	const uint8_t *userhash; /* USERHASH value (view into the message), or NULL */
	char name[ICE_REST_USERNAME_MAX];
	bool mi, mi256;              /* integrity attributes present in the request */
	int secret_index;            /* which secret matched (0 current, >0 previous), -1 cached */
	const struct ltc_cred *cred; /* on success: the cached cred or &fresh */
	struct ltc_cred fresh;       /* filled when no usable cache was given */
};

/*
 * Authenticate a request (RFC 8489 §9.2.4 order; a nonce we never minted for
 * t is answered 438 before any key is derived, as coturn does). t is the
 * client's side of its 5-tuple (nonces are bound to it); now is monotonic ms (nonce age);
 * unix_s is wall-clock seconds (REST expiry). cached, when not NULL, is the
 * credential of the allocation this request belongs to and the caller has
 * checked that USERNAME (or USERHASH) is the one that made it: its key is
 * used if the algorithm agrees, and its expiry gets c->grace_s. Without
 * cached, USERHASH is resolved through c->userhash. Borrows everything for
 * the call; r->cred, r->username and r->userhash point into cached, r or msg.
 * Returns r->code.
 */
int ltc_verify(const struct ltc_config *c, const struct stun_msg *msg, const struct ltc_tuple *t,
               ice_ms_t now, uint64_t unix_s, const struct ltc_cred *cached, struct ltc_result *r);

/* The PASSWORD-ALGORITHMS we offer, in preference order, for 401/438 answers. */
extern const uint16_t ltc_password_algorithms[2];

#endif
