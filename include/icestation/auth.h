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
	ICE_REST_USER_MAX = 256, /* user part (user_did) bytes */
	/* "<u64>:" (at most 21) + user + NUL: the size of a username buffer. */
	ICE_REST_USERNAME_MAX = 21 + ICE_REST_USER_MAX + 1,
	ICE_REST_PASSWORD_LEN = 28, /* base64 of 20 bytes, without NUL */
};

/*
 * Mint a credential for user (NUL-terminated; NULL or "" is anonymous and gives
 * the username "<expiry>:") valid until expiry (unix seconds). Writes a
 * NUL-terminated username into username[ICE_REST_USERNAME_MAX] and a
 * NUL-terminated password into password[ICE_REST_PASSWORD_LEN + 1]; borrows
 * everything for the call only. The caller validates user (the HTTP layer's
 * DID rule); this only bounds its length. Never allocates.
 * Returns 0, -ENAMETOOLONG if user is longer than ICE_REST_USER_MAX, -EIO if
 * OpenSSL fails.
 */
int ice_rest_mint(const uint8_t *secret, size_t secret_len, uint64_t expiry, const char *user,
                  char *username, char *password);

/*
 * Compute the password for an already-formed username (the TURN side: the
 * client sent USERNAME). username need not be NUL-terminated. Writes
 * ICE_REST_PASSWORD_LEN bytes plus a NUL into password. Never allocates and
 * takes no lock (RFC 2104 over OpenSSL SHA-1 on the stack), so it is safe on the
 * TURN request path; about 1 us per call. Returns 0 or -EIO.
 */
int ice_rest_password(const uint8_t *secret, size_t secret_len, const char *username,
                      size_t username_len, char *password);

/*
 * Split a REST username at its first colon. username[0..username_len) need not
 * be NUL-terminated. Returns 0 and sets *expiry and the user view (pointing
 * into username, possibly empty), or -EBADMSG when the prefix is not 1-20
 * decimal digits fitting a uint64_t followed by ':'.
 */
int ice_rest_username_split(const char *username, size_t username_len, uint64_t *expiry,
                            const char **user, size_t *user_len);

#endif
