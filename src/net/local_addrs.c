/*
 * The host's own addresses, read at start: the local addresses relays may
 * bind (interface addresses inside relay-ip-range, or single-host entries
 * bound as given) and every interface address (denied as peers, until the
 * main thread's watch of the host gives newer ones).
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/log.h"

#include "net_internal.h"

static bool
relay_range_has(const struct ice_config *cfg, const struct ice_addr *a)
{
	size_t i;

	for (i = 0; i < cfg->turn.n_relay_ip_range; i++)
		if (ice_cidr_contains(&cfg->turn.relay_ip_range[i], a))
			return true;
	return false;
}

/* Add a to the relay address list unless it is there already or the list is full. */
static void
relay_addr_add(struct ice_net *net, const struct ice_addr *a)
{
	size_t k;

	for (k = 0; k < net->n_relay_addrs; k++)
		if (ice_addr_ip_equal(&net->relay_addrs[k], a))
			return;
	if (k < NET_MAX_RELAY_ADDRS)
		net->relay_addrs[net->n_relay_addrs++] = *a;
}

/*
 * A single-host entry (/32, /128) names the address to bind as given: the
 * host may own it without listing it on an interface (127.0.0.2 on lo, an
 * AnyIP route, a VIP). bind() on port 0 says whether it is local; a refusal
 * fails the start with the entry named, rather than the first Allocate.
 */
static int
relay_host_add(struct ice_net *net, const struct ice_cidr *c)
{
	struct sockaddr_storage ss;
	char buf[ICE_ADDR_STRLEN];
	struct ice_addr a = { 0 };
	socklen_t sslen;
	int fd, err = 0;

	a.family = c->family;
	memcpy(a.ip, c->ip, sizeof(a.ip));
	fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a.family == AF_INET6) {
		int v = 1;

		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	sslen = ice_addr_to_sockaddr(&a, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		err = errno;
	close(fd);
	if (err != 0) {
		log_errorx("turn: relay-ip-range %s: cannot bind relay sockets there (%s): "
		           "the address is not local to this host",
		           ice_cidr_str(c, buf, sizeof(buf)), strerror(err));
		return -EADDRNOTAVAIL;
	}
	relay_addr_add(net, &a);
	return 0;
}

/*
 * A public IP outside relay-ip-range is a NAT in front of the relays: every
 * relay of that family is advertised on it (turn/alloc.c), so two relay
 * addresses could hand out the same advertised port. Keep the first address
 * of that family only, as one public IP maps to one private one. Called once
 * per public family (dual stack).
 */
static void
relay_addrs_behind_nat(struct ice_net *net, const struct ice_addr *pub)
{
	char buf[ICE_ADDR_STRLEN], pbuf[ICE_ADDR_STRLEN];
	size_t k, n = 0;
	bool seen = false;

	if (pub->family == 0 || relay_range_has(net->cfg, pub))
		return;
	for (k = 0; k < net->n_relay_addrs; k++) {
		if (net->relay_addrs[k].family == pub->family) {
			if (seen) {
				log_warnx(
					"turn: relay address %s not used: public-ip %s is outside "
					"relay-ip-range (NAT), and one public IP fronts one relay "
					"address",
					ice_addr_ip_str(&net->relay_addrs[k], buf, sizeof(buf)),
					ice_addr_ip_str(pub, pbuf, sizeof(pbuf)));
				continue;
			}
			seen = true;
		}
		net->relay_addrs[n++] = net->relay_addrs[k];
	}
	net->n_relay_addrs = n;
}

int
net_relay_addrs_init(struct ice_net *net)
{
	const struct ice_config *cfg = net->cfg;
	char buf[ICE_ADDR_STRLEN];
	struct ifaddrs *ifa = NULL, *i;
	struct ice_addr a;
	const struct ice_cidr *c;
	bool wide = false;
	size_t k;
	int r;

	net->n_relay_addrs = 0;
	for (k = 0; k < cfg->turn.n_relay_ip_range; k++) {
		c = &cfg->turn.relay_ip_range[k];
		if (c->prefix != (c->family == AF_INET ? 32 : 128)) {
			wide = true;
			continue;
		}
		r = relay_host_add(net, c);
		if (r < 0)
			return r;
	}
	if (wide || cfg->turn.n_relay_ip_range == 0) {
		if (getifaddrs(&ifa) < 0) {
			log_error("net: getifaddrs");
			return -errno;
		}
		for (i = ifa; i != NULL; i = i->ifa_next) {
			if (i->ifa_addr == NULL || ice_addr_from_sockaddr(&a, i->ifa_addr) < 0)
				continue;
			/* A link-local relay would need a scope id in every sendto. */
			if (a.family == AF_INET6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80)
				continue;
			if (relay_range_has(cfg, &a))
				relay_addr_add(net, &a);
		}
		freeifaddrs(ifa);
	}
	relay_addrs_behind_nat(net, &net->cfg->turn.public_ip.addr);
	relay_addrs_behind_nat(net, &net->cfg->turn.public_ip.second);
	if (net->n_relay_addrs == 0) {
		log_errorx("turn: no local interface address inside relay-ip-range%s%s: relay "
		           "sockets could not bind; set relay-ip-range to an address of this host",
		           cfg->turn.n_relay_ip_range ? " " : "",
		           cfg->turn.n_relay_ip_range
		                   ? ice_cidr_str(&cfg->turn.relay_ip_range[0], buf, sizeof(buf))
		                   : "");
		return -EADDRNOTAVAIL;
	}
	for (k = 0; k < net->n_relay_addrs; k++)
		log_info("turn: relays bind %s",
		         ice_addr_ip_str(&net->relay_addrs[k], buf, sizeof(buf)));
	return 0;
}

/* Every interface address, which the peer policy denies, until the main
 * thread's watch of the host gives newer ones (ice_net_set_host). */
int
net_if_addrs_load(struct ice_net *net)
{
	int r = ice_host_addrs_read(&net->host_addrs);

	if (r < 0)
		log_errorx("net: cannot read the interface addresses: %s", strerror(-r));
	return r;
}

bool
ice_net_relay_family(const struct ice_net *net, int family)
{
	for (size_t k = 0; net != NULL && k < net->n_relay_addrs; k++)
		if (net->relay_addrs[k].family == family)
			return true;
	return false;
}
