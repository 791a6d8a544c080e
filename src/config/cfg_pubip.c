/*
 * "public-ip: auto" and "relay-ip-range: auto": the local address of the
 * interface that routes outward. connect() on a UDP socket only asks the
 * kernel for a route and binds a source address; no packet is sent, so this
 * touches no outside host. The targets are documentation addresses (RFC 5737,
 * RFC 3849) that no real host answers on.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

/* Source address the kernel would use toward ip (a literal); 0 or -errno. */
static int
route_source(int family, const char *ip, struct ice_addr *out)
{
	struct sockaddr_storage ss, local;
	socklen_t sl, ll = sizeof(local);
	struct ice_addr dst;
	int fd, rc = 0;

	if (ice_addr_parse_ip(&dst, ip, 9)) /* discard port */
		return -EINVAL;
	sl = ice_addr_to_sockaddr(&dst, &ss);
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0) {
		rc = ice_addr_from_sockaddr(out, (struct sockaddr *)&local);
		out->port = 0;
	}
	return rc;
}

static bool
usable_if_addr(const struct ifaddrs *ifa)
{
	const struct sockaddr_in6 *s6;

	if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK))
		return false;
	if (ifa->ifa_addr->sa_family == AF_INET)
		return true;
	if (ifa->ifa_addr->sa_family != AF_INET6)
		return false;
	/* A link-local address is useless to a remote client. */
	s6 = (const struct sockaddr_in6 *)(const void *)ifa->ifa_addr;
	return !IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr);
}

/* First UP, non-loopback interface address; IPv4 preferred. 0 or -ENOENT. */
static int
first_if_addr(struct ice_addr *out)
{
	struct ifaddrs *list, *ifa;
	int want, rc = -ENOENT;

	if (getifaddrs(&list) != 0)
		return -errno;
	for (want = AF_INET; rc != 0 && want != 0; want = want == AF_INET ? AF_INET6 : 0) {
		for (ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
			if (!usable_if_addr(ifa) || ifa->ifa_addr->sa_family != want)
				continue;
			if (ice_addr_from_sockaddr(out, ifa->ifa_addr) == 0) {
				out->port = 0;
				rc = 0;
				break;
			}
		}
	}
	freeifaddrs(list);
	return rc;
}

/* Whether a socket bound to l receives what clients send to pub. */
static bool
listen_receives(const struct ice_addr *l, const struct ice_addr *pub)
{
	if (l->family != pub->family)
		return false;
	if (ice_addr_is_unspecified(l) || ice_addr_ip_equal(l, pub))
		return true;
	/* Behind NAT the public address is not a local one: a socket on a
	 * non-loopback address may still receive what is sent to it. */
	return !ice_addr_is_loopback(l) && !ice_addr_is_loopback(pub);
}

enum ice_public_ip_problem
ice_public_ip_check(enum ice_public_ip_source source, const struct ice_addr *addr,
                    const struct ice_addr *listen, size_t n)
{
	if (addr->family == 0)
		return ICE_PUBLIC_IP_NOT_FOUND;
	if (source != ICE_PUBLIC_IP_AUTO)
		return ICE_PUBLIC_IP_USABLE;
	for (size_t i = 0; i < n; i++)
		if (listen_receives(&listen[i], addr))
			return ICE_PUBLIC_IP_USABLE;
	return ICE_PUBLIC_IP_NOT_LISTENED;
}

bool
ice_config_public_unusable(const struct ice_config *cfg, const char *section,
                           const struct ice_addr *addr, char *buf, size_t len)
{
	bool stun = strcmp(section, "stun") == 0;
	const char *env = stun ? "PEERS_STUN_PUBLIC_IP" : "PEERS_TURN_PUBLIC_IP";
	enum ice_public_ip_source source =
		stun ? cfg->stun.public_ip.source : cfg->turn.public_ip.source;
	char ip[ICE_ADDR_STRLEN];

	switch (stun ? ice_public_ip_check(source, addr, cfg->stun.listen, cfg->stun.n_listen)
	             : ice_public_ip_check(source, addr, cfg->turn.listen, cfg->turn.n_listen)) {
	case ICE_PUBLIC_IP_NOT_FOUND:
		snprintf(buf, len,
		         "public-ip auto found no interface that routes outward, so no address to "
		         "hand to clients: set %s (or subserver.%s.public-ip) to the address "
		         "clients reach this server at",
		         env, section);
		return true;
	case ICE_PUBLIC_IP_NOT_LISTENED:
		snprintf(buf, len,
		         "the public address %s is not received by any subserver.%s.listen "
		         "address (loopback only, or another family), so clients sent there "
		         "reach nothing: add 0.0.0.0 (or ::, or the address) to listen, or set "
		         "%s (or public-ip) to an address it listens on",
		         ice_addr_ip_str(addr, ip, sizeof(ip)), section, env);
		return true;
	default:
		if (len > 0)
			buf[0] = '\0';
		return false;
	}
}

unsigned
ice_config_public_faults(const struct ice_config *cfg, const char *section,
                         const struct ice_addr *followed, char *buf, size_t len)
{
	const struct ice_public_ip *p =
		strcmp(section, "stun") == 0 ? &cfg->stun.public_ip : &cfg->turn.public_ip;
	struct ice_addr pair[2];
	unsigned faults = 0;
	char why[ICE_CONFIG_ERRLEN];

	/* The first address unset (auto found nothing, or no longer) is not
	 * ready whatever the second family has, as with one family. */
	if (followed->family == 0) {
		ice_config_public_unusable(cfg, section, followed, buf, len);
		return ICE_PUBLIC_FAULT_NONE;
	}
	ice_public_ip_pair(followed, p, pair);
	if (len > 0)
		buf[0] = '\0';
	/* IPv6 first so that buf ends with the IPv4 reason when both fail. */
	for (int i = 1; i >= 0; i--)
		if (pair[i].family != 0 &&
		    ice_config_public_unusable(cfg, section, &pair[i], why, sizeof(why))) {
			faults |= i == 0 ? ICE_PUBLIC_FAULT_V4 : ICE_PUBLIC_FAULT_V6;
			snprintf(buf, len, "%s", why);
		}
	return faults;
}

int
ice_config_outward_of(int family, struct ice_addr *out)
{
	return route_source(family, family == AF_INET ? "203.0.113.1" : "2001:db8::1", out);
}

void
ice_config_outward_addr(struct ice_addr *out, bool *fallback)
{
	*fallback = false;
	if (ice_config_outward_of(AF_INET, out) == 0)
		return;
	if (ice_config_outward_of(AF_INET6, out) == 0)
		return;
	if (first_if_addr(out) == 0)
		return;
	*fallback = true;
	ice_addr_parse_ip(out, "127.0.0.1", 0);
}
