/*
 * TURN REST API credentials, byte-compatible with coturn's use-auth-secret:
 * password = base64(HMAC-SHA1(secret, "<expiry>:<user>")).
 *
 * HMAC-SHA1 is built here from OpenSSL's SHA-1 block functions (RFC 2104)
 * instead of EVP_MAC or HMAC(): those fetch an algorithm and allocate a
 * context on every call, and ice_rest_password runs on the TURN request path,
 * where nothing may allocate. The SHA1_* functions are deprecated in OpenSSL 3
 * but remain in every 3.x release; the context lives on the stack.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "icestation/auth.h"

enum {
	SHA1_BLOCK = 64,
	SHA1_LEN = 20,
	U64_DIGITS_MAX = 20,
};

/* RFC 2104 HMAC-SHA1 into out[SHA1_LEN]. Returns 0 or -EIO. */
static int
hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t *out)
{
	uint8_t k[SHA1_BLOCK], pad[SHA1_BLOCK], inner[SHA1_LEN];
	SHA_CTX c;
	int ok = 1;

	memset(k, 0, sizeof(k));
	if (key_len > SHA1_BLOCK) {
		/* A long key is replaced by its digest, as RFC 2104 §2 says. */
		ok &= SHA1_Init(&c);
		ok &= SHA1_Update(&c, key, key_len);
		ok &= SHA1_Final(k, &c);
	} else if (key_len > 0) {
		memcpy(k, key, key_len);
	}

	for (size_t i = 0; i < SHA1_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ok &= SHA1_Init(&c);
	ok &= SHA1_Update(&c, pad, SHA1_BLOCK);
	ok &= SHA1_Update(&c, msg, msg_len);
	ok &= SHA1_Final(inner, &c);

	for (size_t i = 0; i < SHA1_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ok &= SHA1_Init(&c);
	ok &= SHA1_Update(&c, pad, SHA1_BLOCK);
	ok &= SHA1_Update(&c, inner, SHA1_LEN);
	ok &= SHA1_Final(out, &c);

	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	OPENSSL_cleanse(&c, sizeof(c));
	return ok ? 0 : -EIO;
}

int
ice_rest_password(const uint8_t *secret, size_t secret_len, const char *username,
                  size_t username_len, char *password)
{
	uint8_t mac[SHA1_LEN];
	int rc;

	rc = hmac_sha1(secret, secret_len, (const uint8_t *)username, username_len, mac);
	if (rc < 0)
		return rc;
	/* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters plus a NUL. */
	if (EVP_EncodeBlock((unsigned char *)password, mac, SHA1_LEN) != ICE_REST_PASSWORD_LEN)
		rc = -EIO;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int
ice_rest_mint(const uint8_t *secret, size_t secret_len, uint64_t expiry, const char *user,
              char *username, char *password)
{
	size_t user_len = user != NULL ? strlen(user) : 0;
	int n;

	if (user_len > ICE_REST_USER_MAX)
		return -ENAMETOOLONG;
	n = snprintf(username, ICE_REST_USERNAME_MAX, "%llu:%s", (unsigned long long)expiry,
	             user != NULL ? user : "");
	if (n < 0 || (size_t)n >= ICE_REST_USERNAME_MAX)
		return -ENAMETOOLONG;
	return ice_rest_password(secret, secret_len, username, (size_t)n, password);
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
	if (i == 0 || i == username_len)
		return -EBADMSG;
	*expiry = v;
	*user = username + i + 1;
	*user_len = username_len - i - 1;
	return 0;
}
