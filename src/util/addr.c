/*
 * Address value helpers: conversions between struct ice_addr and sockaddr,
 * literal parsing and formatting, CIDR matching.
 */
#include "icestation/addr.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ice_addr_iplen(const struct ice_addr *a)
{
	switch (a->family) {
	case AF_INET:
		return 4;
	case AF_INET6:
		return 16;
	default:
		return 0;
	}
}

bool
ice_addr_ip_equal(const struct ice_addr *a, const struct ice_addr *b)
{
	int n = ice_addr_iplen(a);

	return a->family == b->family && memcmp(a->ip, b->ip, (size_t)n) == 0;
}

bool
ice_addr_equal(const struct ice_addr *a, const struct ice_addr *b)
{
	return a->port == b->port && ice_addr_ip_equal(a, b);
}

bool
ice_addr_is_unspecified(const struct ice_addr *a)
{
	static const uint8_t zero[16];
	int n = ice_addr_iplen(a);

	return n > 0 && memcmp(a->ip, zero, (size_t)n) == 0;
}

bool
ice_addr_is_loopback(const struct ice_addr *a)
{
	static const uint8_t v6_lo[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->ip[0] == 127;
	return a->family == AF_INET6 && memcmp(a->ip, v6_lo, 16) == 0;
}

bool
ice_addr_is_private(const struct ice_addr *a)
{
	const uint8_t *ip = a->ip;

	if (a->family == AF_INET)
		return ip[0] == 10 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
		       (ip[0] == 192 && ip[1] == 168) || (ip[0] == 100 && (ip[1] & 0xc0) == 64) ||
		       (ip[0] == 169 && ip[1] == 254);
	return a->family == AF_INET6 &&
	       ((ip[0] & 0xfe) == 0xfc || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80));
}

int
ice_addr_parse_ip(struct ice_addr *out, const char *s, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->ip) == 1) {
		out->family = AF_INET;
	} else if (inet_pton(AF_INET6, s, out->ip) == 1) {
		out->family = AF_INET6;
	} else {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	out->port = port;
	return 0;
}

const char *
ice_addr_ip_str(const struct ice_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (a->family == 0 || inet_ntop(a->family, a->ip, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "(none)");
	return buf;
}

const char *
ice_addr_str(const struct ice_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	ice_addr_ip_str(a, ip, sizeof(ip));
	if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}

socklen_t
ice_addr_to_sockaddr(const struct ice_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip, 4);
		return sizeof(*sin);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->ip, 16);
		return sizeof(*sin6);
	}
	return 0;
}

int
ice_addr_from_sockaddr(struct ice_addr *out, const struct sockaddr *sa)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		out->family = AF_INET;
		out->port = ntohs(sin->sin_port);
		memcpy(out->ip, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		out->family = AF_INET6;
		out->port = ntohs(sin6->sin6_port);
		memcpy(out->ip, &sin6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static void
cidr_mask(struct ice_cidr *c)
{
	int bytes = c->family == AF_INET ? 4 : 16;

	for (int i = 0; i < bytes; i++) {
		int bits = (int)c->prefix - i * 8;

		if (bits >= 8)
			continue;
		c->ip[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
}

int
ice_cidr_parse(struct ice_cidr *out, const char *s)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t iplen = slash ? (size_t)(slash - s) : strlen(s);
	struct ice_addr a;
	long prefix;
	int maxbits;

	memset(out, 0, sizeof(*out));
	if (iplen == 0 || iplen >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (ice_addr_parse_ip(&a, ip, 0) < 0)
		return -EINVAL;
	maxbits = a.family == AF_INET ? 32 : 128;
	prefix = maxbits;
	if (slash) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || prefix < 0 || prefix > maxbits)
			return -EINVAL;
	}
	out->family = a.family;
	out->prefix = (uint8_t)prefix;
	memcpy(out->ip, a.ip, sizeof(out->ip));
	cidr_mask(out);
	return 0;
}

bool
ice_cidr_contains(const struct ice_cidr *c, const struct ice_addr *a)
{
	int full, rem;

	if (c->family != a->family)
		return false;
	full = c->prefix / 8;
	rem = c->prefix % 8;
	if (memcmp(c->ip, a->ip, (size_t)full) != 0)
		return false;
	if (rem == 0)
		return true;
	return ((a->ip[full] ^ c->ip[full]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

const char *
ice_cidr_str(const struct ice_cidr *c, char *buf, size_t len)
{
	struct ice_addr a = { .family = c->family };
	char ip[INET6_ADDRSTRLEN];

	memcpy(a.ip, c->ip, sizeof(a.ip));
	snprintf(buf, len, "%s/%u", ice_addr_ip_str(&a, ip, sizeof(ip)), c->prefix);
	return buf;
}
