/*
 * Transport addresses as the pure layers see them: a fixed-size value type,
 * cheap to copy, hash and compare, with no sockaddr in sight. net/ converts at
 * the socket boundary.
 */
#ifndef ICESTATION_ADDR_H
#define ICESTATION_ADDR_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stdint.h>

enum {
	ICE_ADDR_STRLEN = 64, /* "[v6]:port" plus NUL, with room to spare */
};

/*
 * family is AF_INET or AF_INET6 (0 = unset). An IPv4 address lives in ip[0..3],
 * the rest zero. port is in host byte order.
 */
struct ice_addr {
	uint8_t family;
	uint8_t pad;
	uint16_t port;
	uint8_t ip[16];
};

/* A network prefix: family, prefix length in bits, and the masked address. */
struct ice_cidr {
	uint8_t family;
	uint8_t prefix;
	uint8_t ip[16];
};

/* Bytes of ip[] that are significant for the family: 4, 16, or 0 if unset. */
int ice_addr_iplen(const struct ice_addr *a);

/* True when family, ip and port are all equal. */
bool ice_addr_equal(const struct ice_addr *a, const struct ice_addr *b);

/* True when family and ip are equal (ports ignored). */
bool ice_addr_ip_equal(const struct ice_addr *a, const struct ice_addr *b);

/* 0.0.0.0 or :: (a wildcard bind). False for an unset address. */
bool ice_addr_is_unspecified(const struct ice_addr *a);

/* 127.0.0.0/8 or ::1: reachable from this host only. */
bool ice_addr_is_loopback(const struct ice_addr *a);

/*
 * A private-use address that the Internet does not route to: 10/8,
 * 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 (ULA), and link-local
 * 169.254/16 and fe80::/10.
 */
bool ice_addr_is_private(const struct ice_addr *a);

/*
 * Parse a literal IPv4 or IPv6 address (no port, no brackets, no names) into
 * *out with the given port. Returns 0, or -EINVAL.
 */
int ice_addr_parse_ip(struct ice_addr *out, const char *s, uint16_t port);

/*
 * Format the IP only ("192.0.2.1", "2001:db8::1") into buf. Returns buf.
 */
const char *ice_addr_ip_str(const struct ice_addr *a, char *buf, size_t len);

/*
 * Format "ip:port", with IPv6 in brackets ("[::1]:3478"), into buf. Returns buf.
 */
const char *ice_addr_str(const struct ice_addr *a, char *buf, size_t len);

/* Convert to a sockaddr; returns the length to pass to bind/sendto. */
socklen_t ice_addr_to_sockaddr(const struct ice_addr *a, struct sockaddr_storage *ss);

/*
 * Convert from a sockaddr. An IPv4-mapped IPv6 address stays IPv6 (policy code
 * decides what it means). Returns 0, or -EAFNOSUPPORT.
 */
int ice_addr_from_sockaddr(struct ice_addr *out, const struct sockaddr *sa);

/* Parse "a.b.c.d/n" or "v6/n" (a bare address means a host prefix). 0 or -EINVAL. */
int ice_cidr_parse(struct ice_cidr *out, const char *s);

/* True when the IP of a falls inside c (family must match). */
bool ice_cidr_contains(const struct ice_cidr *c, const struct ice_addr *a);

/* Format "ip/prefix" into buf. Returns buf. */
const char *ice_cidr_str(const struct ice_cidr *c, char *buf, size_t len);

#endif
