/*
 * Long-term credential check for TURN requests (RFC 8489 §9.2.4) over REST
 * usernames. Every secret is tried in order (rotation: [0] current, then the
 * previous ones) only for a request with no cached credential, i.e. the
 * Allocate; the allocation then keeps the derived key with its HMAC pads
 * absorbed, and later requests cost one HMAC.
 *
 * Expiry: an Allocate needs an unexpired credential; a request on the
 * allocation the credential made is allowed up to grace_s past it (the
 * rule and its reason are in docs/turn.md).
 *
 * MD5 and SHA-256 come from OpenSSL's low-level functions on the stack (as
 * src/auth/rest.c does for SHA-1): EVP would allocate a context per call on
 * the request path.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "icestation/auth.h"
#include "icestation/auth_ltc.h"

const uint16_t ltc_password_algorithms[2] = { STUN_PASSWORD_ALG_SHA256, STUN_PASSWORD_ALG_MD5 };

int
ltc_key_derive(uint16_t pw_alg, const uint8_t *username, size_t username_len, const char *realm,
               size_t realm_len, const char *password, size_t password_len,
               uint8_t key[LTC_KEY_MAX])
{
	int ok = 1;

	if (pw_alg == STUN_PASSWORD_ALG_MD5) {
		MD5_CTX c;

		ok &= MD5_Init(&c);
		ok &= MD5_Update(&c, username, username_len);
		ok &= MD5_Update(&c, ":", 1);
		ok &= MD5_Update(&c, realm, realm_len);
		ok &= MD5_Update(&c, ":", 1);
		ok &= MD5_Update(&c, password, password_len);
		ok &= MD5_Final(key, &c);
		OPENSSL_cleanse(&c, sizeof(c));
		return ok ? MD5_DIGEST_LENGTH : -EIO;
	}
	if (pw_alg == STUN_PASSWORD_ALG_SHA256) {
		SHA256_CTX c;

		ok &= SHA256_Init(&c);
		ok &= SHA256_Update(&c, username, username_len);
		ok &= SHA256_Update(&c, ":", 1);
		ok &= SHA256_Update(&c, realm, realm_len);
		ok &= SHA256_Update(&c, ":", 1);
		ok &= SHA256_Update(&c, password, password_len);
		ok &= SHA256_Final(key, &c);
		OPENSSL_cleanse(&c, sizeof(c));
		return ok ? SHA256_DIGEST_LENGTH : -EIO;
	}
	return -EINVAL;
}

static int
fail(struct ltc_result *r, int code, enum ltc_why why)
{
	r->code = code;
	r->why = why;
	return code;
}

/*
 * RFC 8489 §9.2.4: our nonces always carry the "password algorithms" feature,
 * so a request with neither PASSWORD-ALGORITHM nor PASSWORD-ALGORITHMS means
 * MD5 (an RFC 5389 client); otherwise both must be there, the list must be
 * exactly the one we offered, and the choice must be on it.
 * 0 and *alg, or -EBADMSG (answer 400).
 */
static int
negotiate(const struct stun_msg *msg, uint16_t *alg)
{
	const struct stun_attr *one = stun_msg_find(msg, STUN_ATTR_PASSWORD_ALGORITHM);
	const struct stun_attr *list = stun_msg_find(msg, STUN_ATTR_PASSWORD_ALGORITHMS);
	struct stun_pwalg_iter it;
	const uint8_t *params;
	size_t params_len, n = 0;
	uint16_t chosen, a;
	bool listed = false;
	int rc;

	if (one == NULL && list == NULL) {
		*alg = STUN_PASSWORD_ALG_MD5;
		return 0;
	}
	if (one == NULL || list == NULL)
		return -EBADMSG;
	if (stun_attr_password_algorithm(one, &chosen, &params, &params_len) < 0 || params_len != 0)
		return -EBADMSG;
	stun_pwalgs_init(&it, list);
	while ((rc = stun_pwalgs_next(&it, &a, &params, &params_len)) > 0) {
		if (n >= ICE_ARRAY_SIZE(ltc_password_algorithms) ||
		    a != ltc_password_algorithms[n] || params_len != 0)
			return -EBADMSG;
		listed |= a == chosen;
		n++;
	}
	if (rc < 0 || n != ICE_ARRAY_SIZE(ltc_password_algorithms) || !listed)
		return -EBADMSG;
	*alg = chosen;
	return 0;
}

/* Check with a cached credential: its precomputed pads when they fit the attribute. */
static int
check_cached(const struct stun_msg *msg, const struct ltc_cred *cred, bool mi256)
{
	enum stun_hmac_alg want = mi256 ? STUN_HMAC_SHA256 : STUN_HMAC_SHA1;

	if (cred->mac.alg == (uint32_t)want)
		return stun_msg_check_integrity_k(msg, &cred->mac);
	return stun_msg_check_integrity(msg, cred->key, cred->key_len);
}

/* Try every secret; on a match fill r->fresh. 0 or -EACCES. */
static int
check_secrets(const struct ltc_config *c, const struct stun_msg *msg, uint16_t alg, uint64_t expiry,
              struct ltc_result *r)
{
	char password[ICE_REST_PASSWORD_MAX + 1];
	uint8_t key[LTC_KEY_MAX];
	int rc = -EACCES;

	for (size_t i = 0; i < c->n_secrets; i++) {
		int klen, plen;

		plen = ice_rest_password(c->format, (const uint8_t *)c->secrets[i],
		                         c->secret_lens[i], (const char *)r->username,
		                         r->username_len, password);
		if (plen < 0)
			continue;
		klen = ltc_key_derive(alg, r->username, r->username_len, c->realm, c->realm_len,
		                      password, (size_t)plen, key);
		if (klen < 0 || stun_msg_check_integrity(msg, key, (size_t)klen) != 0)
			continue;
		memcpy(r->fresh.key, key, (size_t)klen);
		r->fresh.key_len = (uint8_t)klen;
		r->fresh.pw_alg = (uint8_t)alg;
		r->fresh.expiry = expiry;
		stun_hmac_key_init(&r->fresh.mac, r->mi256 ? STUN_HMAC_SHA256 : STUN_HMAC_SHA1, key,
		                   (size_t)klen);
		r->secret_index = (int)i;
		r->cred = &r->fresh;
		rc = 0;
		break;
	}
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/*
 * Who is asking: USERNAME, or the username a USERHASH resolves to. With a
 * cached credential (the caller matched the USERHASH to the allocation) none
 * is needed. 0, or -ENOENT (answer 401).
 */
static int
resolve_username(const struct ltc_config *c, const struct stun_msg *msg, uint64_t unix_s,
                 bool cached, struct ltc_result *r)
{
	const struct stun_attr *un = stun_msg_find(msg, STUN_ATTR_USERNAME);
	const struct stun_attr *uh = stun_msg_find(msg, STUN_ATTR_USERHASH);
	int n;

	if (uh != NULL)
		r->userhash = uh->value; /* the codec checked its 32 bytes */
	if (un != NULL) {
		r->username = un->value;
		r->username_len = un->len;
		return 0;
	}
	if (cached)
		return 0;
	if (c->userhash == NULL)
		return -ENOENT;
	n = ltc_userhash_find(c->userhash, uh->value, unix_s, r->name, sizeof(r->name));
	if (n < 0)
		return -ENOENT;
	r->username = (const uint8_t *)r->name;
	r->username_len = (size_t)n;
	return 0;
}

int
ltc_verify(const struct ltc_config *c, const struct stun_msg *msg, const struct ltc_tuple *t,
           ice_ms_t now, uint64_t unix_s, const struct ltc_cred *cached, struct ltc_result *r)
{
	const struct stun_attr *realm, *nonce;
	uint64_t expiry = 0, limit;
	uint16_t alg;
	int nrc;

	r->code = 0;
	r->why = LTC_OK;
	r->username = NULL;
	r->username_len = 0;
	r->user = NULL;
	r->user_len = 0;
	r->userhash = NULL;
	r->secret_index = -1;
	r->cred = NULL;
	r->mi = msg->integrity >= 0;
	r->mi256 = msg->integrity_sha256 >= 0;
	if (!r->mi && !r->mi256)
		return fail(r, 401, LTC_NO_INTEGRITY);

	realm = stun_msg_find(msg, STUN_ATTR_REALM);
	nonce = stun_msg_find(msg, STUN_ATTR_NONCE);
	if (realm == NULL || nonce == NULL ||
	    (stun_msg_find(msg, STUN_ATTR_USERNAME) == NULL &&
	     stun_msg_find(msg, STUN_ATTR_USERHASH) == NULL))
		return fail(r, 400, LTC_MISSING_ATTR);

	/* A nonce we never minted for this 5-tuple (forged, replayed from
	 * another one, from before a restart): 438 and a fresh one, as coturn
	 * answers, before any key is derived, so junk costs one SipHash. */
	nrc = ltc_nonce_check(c->nonce_key, t, nonce->value, nonce->len,
	                      ltc_nonce_now(c, now, unix_s), c->nonce_lifetime);
	if (nrc == -EBADMSG)
		return fail(r, 438, LTC_BAD_NONCE);
	if (negotiate(msg, &alg) < 0)
		return fail(r, 400, LTC_BAD_ALGORITHMS);
	if (realm->len != c->realm_len || memcmp(realm->value, c->realm, c->realm_len) != 0)
		return fail(r, 401, LTC_BAD_REALM);
	if (resolve_username(c, msg, unix_s, cached != NULL, r) < 0)
		return fail(r, 401, LTC_BAD_USERNAME);
	if (r->username != NULL &&
	    ice_rest_username_split((const char *)r->username, r->username_len, &expiry, &r->user,
	                            &r->user_len) < 0)
		return fail(r, 401, LTC_BAD_USERNAME);
	if (cached != NULL) {
		expiry = cached->expiry;
		limit = expiry > UINT64_MAX - c->grace_s ? UINT64_MAX : expiry + c->grace_s;
	} else {
		limit = expiry;
	}
	if (unix_s > limit)
		return fail(r, 401, LTC_EXPIRED);

	if (cached != NULL && cached->pw_alg == alg) {
		if (check_cached(msg, cached, r->mi256) != 0)
			return fail(r, 401, LTC_BAD_INTEGRITY);
		r->cred = cached;
	} else if (r->username == NULL || check_secrets(c, msg, alg, expiry, r) != 0) {
		/* No username (a USERHASH matched only by the allocation's tag)
		 * leaves nothing to derive a key for another algorithm from. */
		return fail(r, 401, LTC_BAD_INTEGRITY);
	}
	/* After the integrity check, as the RFC orders it: only a client that
	 * holds the credential learns that it should simply retry. */
	if (nrc == -ESTALE)
		return fail(r, 438, LTC_STALE_NONCE);
	return 0;
}
