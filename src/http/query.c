/*
 * The ICE-config request's input checks: percent-decoding, the user_did query
 * parameter, and the DID rule for identities. Pure functions over strings: they
 * are fuzzed and unit-tested without a socket, and they are strict on purpose,
 * since the identity ends up inside a TURN username and a JSON body.
 */
#include <errno.h>
#include <string.h>

#include "http_int.h"

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
http_pct_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < len) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -EBADMSG;
			hi = hex_val(src[i + 1]);
			lo = hex_val(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EBADMSG;
			c = hi << 4 | lo;
			if (c == 0)
				return -EBADMSG;
			i += 3;
		} else {
			/* A raw NUL would cut the C string the caller gets back. */
			if (c == 0)
				return -EBADMSG;
			if (c == '+')
				c = ' ';
			i++;
		}
		if (n + 1 >= cap)
			return -ENAMETOOLONG;
		dst[n++] = (char)c;
	}
	if (cap == 0)
		return -ENAMETOOLONG;
	dst[n] = '\0';
	return (int)n;
}

/* The parameter name we look for, compared after decoding. */
static bool
key_is_user_did(const char *key, size_t len)
{
	static const char name[] = "user_did";
	char buf[sizeof(name) + 1];
	int n;

	/* "user_did" is 8 bytes; an encoded spelling is at most 24. */
	if (len > 3 * (sizeof(name) - 1))
		return false;
	n = http_pct_decode(key, len, buf, sizeof(buf));
	return n == (int)sizeof(name) - 1 && memcmp(buf, name, sizeof(name) - 1) == 0;
}

int
http_query_user(const char *query, char *user)
{
	size_t qlen;
	bool found = false;

	user[0] = '\0';
	if (query == NULL)
		return 0;
	qlen = strnlen(query, HTTP_QUERY_MAX + 1);
	if (qlen > HTTP_QUERY_MAX)
		return -ENAMETOOLONG;

	for (size_t i = 0; i < qlen;) {
		const char *pair = query + i;
		const char *amp = memchr(pair, '&', qlen - i);
		size_t plen = amp ? (size_t)(amp - pair) : qlen - i;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;

		i += plen + 1;
		if (!key_is_user_did(pair, klen))
			continue;
		if (found) {
			user[0] = '\0';
			return -EEXIST;
		}
		found = true;
		if (eq != NULL) {
			const char *val = eq + 1;
			size_t vlen = plen - klen - 1;
			int n;

			if (vlen > HTTP_USER_RAW_MAX)
				return -ENAMETOOLONG;
			n = http_pct_decode(val, vlen, user, ICE_REST_USER_MAX + 1);
			if (n < 0) {
				/* Never hand back a half-decoded, unterminated value. */
				user[0] = '\0';
				return n;
			}
		}
	}
	return 0;
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * W3C DID Core 1.0 §3.1:
 *   did                = "did:" method-name ":" method-specific-id
 *   method-name        = 1*method-char ; %x61-7A / DIGIT
 *   method-specific-id = *( *idchar ":" ) 1*idchar
 *   idchar             = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded
 */
int
http_did_check(const char *user, size_t len)
{
	size_t i = 4, start;

	if (len == 0)
		return 0;
	if (len > ICE_REST_USER_MAX || len < 4 || memcmp(user, "did:", 4) != 0)
		return -EINVAL;

	start = i;
	while (i < len && (is_digit((unsigned char)user[i]) || (user[i] >= 'a' && user[i] <= 'z')))
		i++;
	if (i == start || i >= len || user[i] != ':')
		return -EINVAL;
	i++;

	start = i;
	while (i < len) {
		unsigned char c = (unsigned char)user[i];

		if (is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_' || c == ':') {
			i++;
		} else if (c == '%') {
			if (len - i < 3 || hex_val(user[i + 1]) < 0 || hex_val(user[i + 2]) < 0)
				return -EINVAL;
			i += 3;
		} else {
			return -EINVAL;
		}
	}
	if (i == start || user[len - 1] == ':')
		return -EINVAL;
	return 0;
}
