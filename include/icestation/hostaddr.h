/*
 * The host's interface addresses: every IPv4 and IPv6 address of every
 * interface, as getifaddrs reads them (a netlink dump), sorted and without
 * repeats so that two reads compare with one memcmp. The peer policy denies
 * them (docs/turn.md); the main thread reads them again whenever the kernel
 * reports an address change (src/main/hostwatch.c).
 */
#ifndef ICESTATION_HOSTADDR_H
#define ICESTATION_HOSTADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "icestation/addr.h"

enum {
	/* Addresses kept; a host with more has the rest left out, and
	 * `truncated` says so (the caller logs it). */
	ICE_HOST_MAX_ADDRS = 1024,
};

struct ice_host_addrs {
	struct ice_addr *v; /* sorted by family then IP, distinct, port 0; owned */
	size_t n;
	bool truncated; /* the host had more than ICE_HOST_MAX_ADDRS */
};

/*
 * Read the host's addresses into *out, which must be empty (zeroed or
 * finished). 0, or -errno from getifaddrs, or -ENOMEM (*out stays empty).
 */
int ice_host_addrs_read(struct ice_host_addrs *out);

/* True when a and b hold the same addresses. */
bool ice_host_addrs_equal(const struct ice_host_addrs *a, const struct ice_host_addrs *b);

/* How many addresses of a are not in b (for "2 added, 1 removed"). */
size_t ice_host_addrs_count_missing(const struct ice_host_addrs *a, const struct ice_host_addrs *b);

/* Free the array and empty *a; accepts an empty one. */
void ice_host_addrs_fini(struct ice_host_addrs *a);

#endif
