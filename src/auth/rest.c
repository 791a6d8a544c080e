/*
 * TURN REST API credentials. The coturn format is byte-compatible with
 * coturn's use-auth-secret: password = base64(HMAC-SHA1(secret,
 * "<expiry>:<user>")); the hex-sha256 format (the Station seed's variant) is
 * lower-case hex(HMAC-SHA256(secret, username)).
 *
 * The HMAC is the codec's (src/codec/hmac.c, over OpenSSL's SHA block
 * functions with the state on the stack) instead of EVP_MAC or HMAC(): those
 * fetch an algorithm and allocate a context on every call, and
 * ice_rest_password runs on the TURN request path, where nothing may
 * allocate.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "icestation/auth.h"
#include "icestation/hmac.h"

enum {
	SHA1_LEN = 20,
	SHA256_LEN = 32,
	U64_DIGITS_MAX = 20,
};

static void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
ice_rest_password(enum ice_rest_format fmt, const uint8_t *secret, size_t secret_len,
                  const char *username, size_t username_len, char *password)
{
	uint8_t mac[STUN_HMAC_MAX_LEN];
	int rc;

	switch (fmt) {
	case ICE_REST_COTURN:
		rc = stun_hmac(STUN_HMAC_SHA1, secret, secret_len, username, username_len, mac);
		/* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters plus a NUL. */
		if (rc == SHA1_LEN && EVP_EncodeBlock((unsigned char *)password, mac, SHA1_LEN) ==
		                              ICE_REST_PASSWORD_LEN)
			rc = ICE_REST_PASSWORD_LEN;
		else
			rc = -EIO;
		break;
	case ICE_REST_HEX_SHA256:
		rc = stun_hmac(STUN_HMAC_SHA256, secret, secret_len, username, username_len, mac);
		if (rc == SHA256_LEN) {
			hex_encode(mac, SHA256_LEN, password);
			rc = 2 * SHA256_LEN;
		} else {
			rc = -EIO;
		}
		break;
	default:
		rc = -EINVAL;
		break;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int
ice_rest_mint(enum ice_rest_format fmt, const uint8_t *secret, size_t secret_len, uint64_t expiry,
              const char *user, char *username, char *password)
{
	size_t user_len = user != NULL ? strlen(user) : 0;
	int n;

	if (user_len > ICE_REST_USER_MAX)
		return -ENAMETOOLONG;
	n = snprintf(username, ICE_REST_USERNAME_MAX, "%llu:%s", (unsigned long long)expiry,
	             user != NULL ? user : "");
	if (n < 0 || (size_t)n >= ICE_REST_USERNAME_MAX)
		return -ENAMETOOLONG;
	return ice_rest_password(fmt, secret, secret_len, username, (size_t)n, password);
}

int
ice_rest_username_split(const char *username, size_t username_len, uint64_t *expiry,
                        const char **user, size_t *user_len)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < username_len && username[i] != ':'; i++) {
		unsigned d = (unsigned char)username[i] - '0';

		if (d > 9 || i >= U64_DIGITS_MAX)
			return -EBADMSG;
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	if (i == 0)
		return -EBADMSG;
	*expiry = v;
	if (i == username_len) {
		/* A bare "<expiry>" (turnutils_uclient -W without -u): coturn
		 * accepts it as an anonymous credential, and so do we. */
		*user = username + i;
		*user_len = 0;
		return 0;
	}
	*user = username + i + 1;
	*user_len = username_len - i - 1;
	return 0;
}
