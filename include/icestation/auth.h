/*
 * TURN REST API credentials (draft-uberti-behave-turn-rest, coturn's
 * use-auth-secret): username = "<expiry unix time>:<user>" (or a bare
 * "<expiry unix time>", as coturn accepts and turnutils_uclient -W sends),
 * password = base64(HMAC-SHA1(secret, username)) in the coturn format, or
 * hex(HMAC-SHA256(secret, username)) in the hex-sha256 format. Pure: time is
 * a parameter. Never allocates.
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
	ICE_REST_PASSWORD_LEN = 28, /* coturn format: base64 of 20 bytes, without NUL */
	ICE_REST_PASSWORD_MAX = 64, /* the longest format (hex of 32 bytes), without NUL */
};

/* How a password derives from a username (config key credential-format, whose
 * enum ice_credential_format has the same values). */
enum ice_rest_format {
	ICE_REST_COTURN = 0,     /* base64(HMAC-SHA1(secret, username)): coturn's use-auth-secret */
	ICE_REST_HEX_SHA256 = 1, /* lower-case hex(HMAC-SHA256(secret, username)) */
};

/*
 * Mint a credential in format fmt for user (NUL-terminated; NULL or "" is
 * anonymous and gives the username "<expiry>:") valid until expiry (unix
 * seconds). Writes a NUL-terminated username into
 * username[ICE_REST_USERNAME_MAX] and a NUL-terminated password into
 * password[ICE_REST_PASSWORD_MAX + 1]; borrows everything for the call only.
 * The caller validates user (the HTTP layer's DID rule); this only bounds its
 * length. Returns the password length (28 or 64), -ENAMETOOLONG if user is
 * longer than ICE_REST_USER_MAX, -EINVAL for an unknown format, -EIO if
 * OpenSSL fails.
 */
int ice_rest_mint(enum ice_rest_format fmt, const uint8_t *secret, size_t secret_len,
                  uint64_t expiry, const char *user, char *username, char *password);

/*
 * Compute the password in format fmt for an already-formed username (the
 * TURN side: the client sent USERNAME). username need not be NUL-terminated.
 * Writes the password plus a NUL into password[ICE_REST_PASSWORD_MAX + 1].
 * Takes no lock and never allocates (the codec's HMAC over OpenSSL's hash
 * functions on the stack), so it is safe on the TURN request path; about
 * 1 us per call. Returns the password length (ICE_REST_PASSWORD_LEN = 28 for
 * coturn, 64 for hex-sha256), -EINVAL for an unknown format, -EIO if OpenSSL
 * fails.
 */
int ice_rest_password(enum ice_rest_format fmt, const uint8_t *secret, size_t secret_len,
                      const char *username, size_t username_len, char *password);

/*
 * Split a REST username at its first colon. username[0..username_len) need not
 * be NUL-terminated. A username of digits only (no colon) is a bare expiry
 * with an empty user, as coturn reads it. Returns 0 and sets *expiry and the
 * user view (pointing into username, possibly empty), or -EBADMSG when the
 * prefix is not 1-20 decimal digits fitting a uint64_t followed by ':' or by
 * the end.
 */
int ice_rest_username_split(const char *username, size_t username_len, uint64_t *expiry,
                            const char **user, size_t *user_len);

#endif
