/*
 * The host's interface addresses (hostaddr.h): getifaddrs, then sorted and
 * without repeats (an address on two interfaces, a link-local on several).
 */
#include "icestation/hostaddr.h"

#include <sys/socket.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>

static int
addr_cmp(const void *pa, const void *pb)
{
	const struct ice_addr *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->ip, b->ip, sizeof(a->ip));
}

int
ice_host_addrs_read(struct ice_host_addrs *out)
{
	struct ifaddrs *list, *i;
	struct ice_addr a, *v;
	size_t n = 0, k = 0;

	memset(out, 0, sizeof(*out));
	if (getifaddrs(&list) < 0)
		return -errno;
	for (i = list; i != NULL; i = i->ifa_next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL) {
		freeifaddrs(list);
		return -ENOMEM;
	}
	n = 0;
	for (i = list; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || ice_addr_from_sockaddr(&a, i->ifa_addr) < 0)
			continue;
		a.port = 0;
		a.pad = 0;
		v[n++] = a;
	}
	freeifaddrs(list);
	if (n > 0) {
		qsort(v, n, sizeof(*v), addr_cmp);
		for (size_t j = 1; j < n; j++)
			if (addr_cmp(&v[j], &v[k]) != 0)
				v[++k] = v[j];
		n = k + 1;
	}
	if (n > ICE_HOST_MAX_ADDRS) {
		out->truncated = true;
		n = ICE_HOST_MAX_ADDRS;
	}
	out->v = v;
	out->n = n;
	return 0;
}

bool
ice_host_addrs_equal(const struct ice_host_addrs *a, const struct ice_host_addrs *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(a->v[0])) == 0);
}

size_t
ice_host_addrs_count_missing(const struct ice_host_addrs *a, const struct ice_host_addrs *b)
{
	size_t missing = 0;

	for (size_t i = 0; i < a->n; i++)
		if (b->n == 0 || bsearch(&a->v[i], b->v, b->n, sizeof(b->v[0]), addr_cmp) == NULL)
			missing++;
	return missing;
}

void
ice_host_addrs_fini(struct ice_host_addrs *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}
