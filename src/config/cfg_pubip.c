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

void
ice_config_outward_addr(struct ice_addr *out, bool *fallback)
{
	*fallback = false;
	if (route_source(AF_INET, "203.0.113.1", out) == 0)
		return;
	if (route_source(AF_INET6, "2001:db8::1", out) == 0)
		return;
	if (first_if_addr(out) == 0)
		return;
	*fallback = true;
	ice_addr_parse_ip(out, "127.0.0.1", 0);
}
