/*
 * The host as the daemon sees it, kept current: every interface address
 * (the peer policy denies them, docs/turn.md) and the public IPs in force
 * (public-ip: auto follows the host, docs/configuration.md).
 *
 * A NETLINK_ROUTE socket on the main loop hears address changes
 * (RTM_NEWADDR, RTM_DELADDR) and, while a public-ip is auto, route changes
 * (the outward address depends on them). A message only marks what must be
 * read again: a burst of changes (an interface coming up brings a dozen) is
 * gathered for HOSTWATCH_SETTLE_MS, then the addresses are read once and the
 * outward address asked once, and a change becomes one new generation. An
 * overflowed socket (ENOBUFS: messages lost) reads everything again, so the
 * view cannot drift. Netlink is required: getifaddrs needs it too (the
 * unit's RestrictAddressFamilies= allows AF_NETLINK).
 */
#include <sys/socket.h>

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "icestation/log.h"

#include "daemon.h"

static bool
any_auto(const struct ice_config *cfg)
{
	return (cfg->stun.enabled && cfg->stun.public_ip.source == ICE_PUBLIC_IP_AUTO) ||
	       (cfg->turn.enabled && cfg->turn.public_ip.source == ICE_PUBLIC_IP_AUTO);
}

/* Route messages matter only while a public IP follows the outward route;
 * a router's full table would otherwise wake us for nothing. */
static void
routes_subscribe(struct hostwatch *hw, bool on)
{
	static const int groups[] = { RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE };

	if (hw->fd < 0 || hw->routes_on == on)
		return;
	for (size_t i = 0; i < ICE_ARRAY_SIZE(groups); i++)
		if (setsockopt(hw->fd, SOL_NETLINK,
		               on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &groups[i],
		               sizeof(groups[i])) < 0)
			log_warn("host: netlink route group %d", groups[i]);
	hw->routes_on = on;
}

static int
netlink_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
		                  .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Read the addresses again; true when they changed (now in hw->addrs). */
static bool
addrs_refresh(struct daemon *d)
{
	struct hostwatch *hw = &d->host;
	struct ice_host_addrs now;
	size_t added, removed;
	int r = ice_host_addrs_read(&now);

	if (r < 0) {
		/* Keep the last list: denying too much beats denying too little. */
		log_errorx("host: cannot read the interface addresses: %s; keeping the last %zu",
		           strerror(-r), hw->addrs.n);
		return false;
	}
	if (ice_host_addrs_equal(&now, &hw->addrs)) {
		ice_host_addrs_fini(&now);
		return false;
	}
	added = ice_host_addrs_count_missing(&now, &hw->addrs);
	removed = ice_host_addrs_count_missing(&hw->addrs, &now);
	if (now.truncated && !hw->addrs.truncated)
		log_warnx("host: more than %d interface addresses; the rest are not denied as "
		          "peers (list them in denied-peer-ip)",
		          ICE_HOST_MAX_ADDRS);
	ice_host_addrs_fini(&hw->addrs);
	hw->addrs = now;
	ice_metrics_inc(d->m, ICE_M_HOST_ADDR_CHANGES);
	ice_metrics_set(d->m, ICE_M_HOST_ADDRS, hw->addrs.n);
	log_info("host: interface addresses changed (%zu added, %zu removed, %zu now); peers on "
	         "them are denied from the next generation",
	         added, removed, hw->addrs.n);
	return true;
}

/* One public IP that follows the outward address; true when it moved. */
static bool
public_follow(struct daemon *d, const char *name, const struct ice_public_ip *cfg,
              struct ice_addr *cur, const struct ice_addr *outward, enum ice_metric_id metric)
{
	char was[ICE_ADDR_STRLEN], now[ICE_ADDR_STRLEN];

	if (cfg->source != ICE_PUBLIC_IP_AUTO || ice_addr_ip_equal(cur, outward))
		return false;
	log_info("%s: public address %s -> %s (public-ip: auto follows the host): new "
	         "allocations and the ICE API advertise it; live allocations keep theirs",
	         name, ice_addr_ip_str(cur, was, sizeof(was)),
	         ice_addr_ip_str(outward, now, sizeof(now)));
	*cur = *outward;
	ice_metrics_inc(d->m, metric);
	return true;
}

static bool
relay_range_has(const struct ice_config_turn *t, const struct ice_addr *a)
{
	for (size_t i = 0; i < t->n_relay_ip_range; i++)
		if (ice_cidr_contains(&t->relay_ip_range[i], a))
			return true;
	return false;
}

/* Ask for the outward address again; true when a public IP in force moved. */
static bool
public_refresh(struct daemon *d)
{
	const struct ice_config *cfg = d->cfg;
	struct hostwatch *hw = &d->host;
	struct ice_addr out, old_turn = hw->turn_public;
	char buf[ICE_ADDR_STRLEN];
	bool fallback, moved = false;

	if (!any_auto(cfg))
		return false;
	ice_config_outward_addr(&out, &fallback);
	if (fallback) {
		/* Nothing routes outward for now (a link down): the last address
		 * is likelier to work again than 127.0.0.1. */
		log_debug("host: no outward address; the public address stays");
		return false;
	}
	if (cfg->stun.enabled)
		moved |= public_follow(d, "stun", &cfg->stun.public_ip, &hw->stun_public, &out,
		                       ICE_M_PUBLIC_IP_CHANGES_STUN);
	if (cfg->turn.enabled && public_follow(d, "turn", &cfg->turn.public_ip, &hw->turn_public,
	                                       &out, ICE_M_PUBLIC_IP_CHANGES_TURN)) {
		moved = true;
		if (relay_range_has(&cfg->turn, &old_turn) && !relay_range_has(&cfg->turn, &out))
			log_warnx("turn: the public address %s is outside relay-ip-range, which is "
			          "restart-only: relays stay where they were bound and are "
			          "advertised on %s as behind a NAT; restart to bind them there",
			          ice_addr_ip_str(&out, buf, sizeof(buf)), buf);
	}
	if (moved && d->http != NULL &&
	    ice_http_set_public_ip(d->http, &hw->stun_public, &hw->turn_public) < 0)
		log_errorx("host: http: out of memory: the ICE API keeps the previous address");
	if (moved)
		daemon_cluster_reloaded(d); /* the other nodes hand out the new address */
	return moved;
}

/* The end of a burst: read what changed, and make one generation of it. */
static void
on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct hostwatch *hw = &d->host;
	bool addrs = hw->addrs_dirty, routes = hw->routes_dirty, changed = false;

	(void)fd;
	(void)what;
	hw->addrs_dirty = hw->routes_dirty = false;
	if (addrs)
		changed |= addrs_refresh(d);
	if (addrs || routes)
		changed |= public_refresh(d);
	if (changed && daemon_push(d) < 0)
		log_errorx("host: out of memory: the workers keep the previous generation");
}

static void
settle_arm(struct hostwatch *hw)
{
	const struct timeval tv = { 0, HOSTWATCH_SETTLE_MS * 1000 };

	if ((hw->addrs_dirty || hw->routes_dirty) && !evtimer_pending(hw->ev_settle, NULL))
		evtimer_add(hw->ev_settle, &tv);
}

/* Only the kernel's messages count; their content is read again whole. */
static void
on_netlink(evutil_socket_t fd, short what, void *arg)
{
	struct hostwatch *hw = arg;
	union {
		struct nlmsghdr h;
		char b[8192];
	} buf;

	(void)what;
	for (int i = 0; i < HOSTWATCH_READS_PER_WAKE; i++) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf.b, sizeof(buf.b), 0, (struct sockaddr *)&from, &fl);
		const struct nlmsghdr *h;
		size_t left;

		if (n < 0 && errno == ENOBUFS) {
			ice_metrics_inc(hw->m, ICE_M_HOST_NETLINK_OVERFLOWS);
			hw->addrs_dirty = hw->routes_dirty = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (from.nl_pid != 0)
			continue;
		left = (size_t)n;
		for (h = &buf.h; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR)
				hw->addrs_dirty = true;
			else if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE)
				hw->routes_dirty = true;
		}
	}
	settle_arm(hw);
}

int
hostwatch_start(struct daemon *d)
{
	struct hostwatch *hw = &d->host;
	int r;

	hw->m = d->m;
	hw->stun_public = d->cfg->stun.public_ip.addr;
	hw->turn_public = d->cfg->turn.public_ip.addr;
	/* Listen first, then read: a change in between is heard, not lost. */
	r = netlink_open();
	if (r < 0) {
		log_errorx("host: cannot open a netlink socket to follow the host's addresses: %s",
		           strerror(-r));
		return r;
	}
	hw->fd = r;
	hw->ev_settle = evtimer_new(d->base, on_settle, d);
	hw->ev_io = event_new(d->base, hw->fd, EV_READ | EV_PERSIST, on_netlink, hw);
	if (hw->ev_settle == NULL || hw->ev_io == NULL || event_add(hw->ev_io, NULL) < 0) {
		log_errorx("host: out of memory");
		return -ENOMEM;
	}
	hostwatch_reconfigure(d);
	r = ice_host_addrs_read(&hw->addrs);
	if (r < 0) {
		log_errorx("host: cannot read the interface addresses: %s", strerror(-r));
		return r;
	}
	if (hw->addrs.truncated)
		log_warnx("host: more than %d interface addresses; the rest are not denied as "
		          "peers (list them in denied-peer-ip)",
		          ICE_HOST_MAX_ADDRS);
	ice_metrics_set(d->m, ICE_M_HOST_ADDRS, hw->addrs.n);
	/* The loader resolved auto a moment ago; ask again now that changes
	 * are heard, so none in between is missed. */
	(void)public_refresh(d);
	return 0;
}

void
hostwatch_reconfigure(struct daemon *d)
{
	struct hostwatch *hw = &d->host;

	hw->stun_public = d->cfg->stun.public_ip.addr;
	hw->turn_public = d->cfg->turn.public_ip.addr;
	routes_subscribe(hw, any_auto(d->cfg));
}

void
hostwatch_view(const struct daemon *d, struct ice_net_host *out)
{
	const struct hostwatch *hw = &d->host;

	*out = (struct ice_net_host){ .addrs = hw->addrs.v,
		                      .n_addrs = hw->addrs.n,
		                      .stun_public = hw->stun_public,
		                      .turn_public = hw->turn_public };
}

void
hostwatch_stop(struct daemon *d)
{
	struct hostwatch *hw = &d->host;

	if (hw->ev_io != NULL)
		event_free(hw->ev_io);
	if (hw->ev_settle != NULL)
		event_free(hw->ev_settle);
	if (hw->fd >= 0)
		close(hw->fd);
	ice_host_addrs_fini(&hw->addrs);
	memset(hw, 0, sizeof(*hw));
	hw->fd = -1;
}
