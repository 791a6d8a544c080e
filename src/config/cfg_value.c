/*
 * Typed scalars: text (already ${VAR}-expanded) to values, strictly. No
 * leading '+' or '-', no whitespace, no trailing garbage, no octal or hex:
 * an operator who writes "port: 0x50" or "lifetime: 10x" gets an error, not a
 * guess. Pure functions; the schema walker turns failures into messages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

int
cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < ICE_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Decimal digits only, into a uint64 that saturates; *end past the digits. */
static int
parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX / 2; /* far beyond any range we accept */
		else
			v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*end = p;
	return 0;
}

int
cfg_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	const char *end;
	uint64_t v;

	if (parse_digits(s, &v, &end) || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t mul;
};

/* Digits, then one of units' suffixes (or none: bare), scaled, in [min, max]. */
static int
parse_scaled(const char *s, uint64_t bare, const struct unit *units, uint32_t min, uint32_t max,
             uint32_t *out)
{
	const char *end;
	uint64_t v, mul = bare;
	size_t n;

	if (parse_digits(s, &v, &end))
		return -EINVAL;
	for (; *end != '\0' && units->suffix != NULL; units++) {
		n = strlen(units->suffix);
		if (strncmp(end, units->suffix, n) == 0 && end[n] == '\0') {
			mul = units->mul;
			end += n;
			break;
		}
	}
	if (*end != '\0')
		return -EINVAL;
	if (v > UINT32_MAX)
		return -ERANGE;
	v *= mul;
	if (v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/* Digits with an optional SI suffix (k/K, M, G, T: powers of 1000), up to 10^15. */
static int
parse_si(const char *s, uint64_t *out)
{
	static const struct {
		char c;
		uint64_t mul;
	} si[] = { { 'k', 1000 },
		   { 'K', 1000 },
		   { 'M', 1000000 },
		   { 'G', 1000000000 },
		   { 'T', 1000000000000 } };
	const char *end;
	uint64_t v, mul = 1;

	if (parse_digits(s, &v, &end))
		return -EINVAL;
	if (*end != '\0') {
		for (size_t i = 0; i < sizeof(si) / sizeof(si[0]) && mul == 1; i++)
			if (end[0] == si[i].c && end[1] == '\0')
				mul = si[i].mul;
		if (mul == 1)
			return -EINVAL;
	}
	if (v > 1000000000000000ull / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int
cfg_parse_si(const char *s, uint64_t *out)
{
	return parse_si(s, out);
}

int
cfg_parse_duration(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	static const struct unit units[] = { { "s", 1 }, { "m", 60 }, { "h", 3600 }, { NULL, 0 } };

	return parse_scaled(s, 1, units, min, max, out);
}

int
cfg_parse_duration_ms(const char *s, uint32_t min_ms, uint32_t max_ms, uint32_t *out)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { NULL, 0 },
	};

	return parse_scaled(s, 1000, units, min_ms, max_ms, out);
}

int
cfg_parse_port(const char *s, uint16_t *out)
{
	uint32_t v;
	int rc = cfg_parse_u32(s, 1, 65535, &v);

	if (rc == 0)
		*out = (uint16_t)v;
	return rc;
}

int
cfg_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	const char *dash = strchr(s, '-');
	char first[8];
	size_t n;

	if (dash == NULL || dash == s)
		return -EINVAL;
	n = (size_t)(dash - s);
	if (n >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, n);
	first[n] = '\0';
	if (cfg_parse_port(first, lo) || cfg_parse_port(dash + 1, hi))
		return -EINVAL;
	if (*lo > *hi)
		return -ERANGE;
	return 0;
}

int
cfg_parse_hostport(const char *s, struct ice_addr *out)
{
	char host[64];
	const char *colon, *hstart = s;
	uint16_t port;
	size_t n;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		hstart = s + 1;
		n = (size_t)(close - hstart);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -EINVAL; /* bare IPv6 needs brackets */
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, hstart, n);
	host[n] = '\0';
	if (cfg_parse_port(colon + 1, &port))
		return -EINVAL;
	/* "[1.2.3.4]:80" is not a thing; brackets are for IPv6 only. */
	if (ice_addr_parse_ip(out, host, port))
		return -EINVAL;
	if ((s[0] == '[') != (out->family == AF_INET6))
		return -EINVAL;
	return 0;
}

int
cfg_parse_transport(const char *s, unsigned *bit)
{
	if (strcasecmp(s, "udp") == 0)
		*bit = ICE_TRANSPORT_UDP;
	else if (strcasecmp(s, "tcp") == 0)
		*bit = ICE_TRANSPORT_TCP;
	else if (strcasecmp(s, "tls") == 0)
		*bit = ICE_TRANSPORT_TLS;
	else
		return -EINVAL;
	return 0;
}

int
cfg_parse_workers(const char *s, unsigned max, unsigned *out, bool *is_auto)
{
	uint32_t v;
	int rc;

	*is_auto = false;
	if (strcasecmp(s, "auto") == 0) {
		*is_auto = true;
		*out = 0;
		return 0;
	}
	rc = cfg_parse_u32(s, 1, max, &v);
	if (rc == 0)
		*out = v;
	return rc;
}
