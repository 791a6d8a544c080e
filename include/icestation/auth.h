/*
 * TURN REST API credentials (draft-uberti-behave-turn-rest, coturn's
 * use-auth-secret): username = "<expiry unix time>:<user>", password =
 * base64(HMAC-SHA1(secret, username)). Pure: time is a parameter.
 */
#ifndef ICESTATION_AUTH_H
#define ICESTATION_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/common.h"

enum {
	ICE_REST_USER_MAX = 256,		/* user part (user_did) bytes */
	ICE_REST_USERNAME_MAX = 21 + ICE_REST_USER_MAX, /* "<u64>:" + user + NUL */
	ICE_REST_PASSWORD_LEN = 28,		/* base64 of 20 bytes, without NUL */
};

/*
 * Mint a credential for user (may be empty: anonymous) valid until expiry
 * (unix seconds). Writes a NUL-terminated username (cap ICE_REST_USERNAME_MAX)
 * and a NUL-terminated password (cap ICE_REST_PASSWORD_LEN + 1).
 * Returns 0, -ENAMETOOLONG if user is longer than ICE_REST_USER_MAX, -EIO if
 * OpenSSL fails.
 */
int ice_rest_mint(const uint8_t *secret, size_t secret_len, uint64_t expiry, const char *user,
		  char *username, char *password);

/*
 * Compute the password for an already-formed username (the TURN side: the
 * client sent USERNAME). username need not be NUL-terminated.
 * Writes ICE_REST_PASSWORD_LEN bytes plus a NUL. Returns 0 or -EIO.
 */
int ice_rest_password(const uint8_t *secret, size_t secret_len, const char *username,
		      size_t username_len, char *password);

/*
 * Split a REST username at its first colon. Returns 0 and sets *expiry and the
 * user view (pointing into username), or -EBADMSG when the prefix is not a
 * decimal unix time followed by ':'.
 */
int ice_rest_username_split(const char *username, size_t username_len, uint64_t *expiry,
			    const char **user, size_t *user_len);

#endif
