/*
 * Dormant EVEN-PORT reservations (RFC 8656 §7.2, R bit): the socket on
 * port+1 stays bound but unpolled, owned by no worker, in one process-wide
 * table behind a mutex (taken at Allocate time only), since the client may
 * come back through another worker to adopt it with its RESERVATION-TOKEN.
 */
#include <unistd.h>

#include "net_internal.h"

/* Park fd as a dormant reservation; returns its handle or -ENOSPC. */
int
net_dormant_put(struct net_worker *w, int fd, const struct ice_addr *bound)
{
	struct ice_net *net = w->net;
	int h = -ENOSPC;
	size_t i;

	pthread_mutex_lock(&net->dormant_lock);
	for (i = 0; i < NET_DORMANT_MAX; i++) {
		if (net->dormant[i].fd < 0) {
			net->dormant[i].fd = fd;
			net->dormant[i].bound = *bound;
			h = NET_DORMANT_BASE + (int)i;
			break;
		}
	}
	pthread_mutex_unlock(&net->dormant_lock);
	if (h >= 0)
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_DORMANT);
	return h;
}

/* Take the dormant socket of handle: its fd (and *bound), or -ENOENT. */
int
net_dormant_take(struct net_worker *w, int handle, struct ice_addr *bound)
{
	struct ice_net *net = w->net;
	size_t i = (size_t)(handle - NET_DORMANT_BASE);
	int fd = -ENOENT;

	if (handle < NET_DORMANT_BASE || i >= NET_DORMANT_MAX)
		return -ENOENT;
	pthread_mutex_lock(&net->dormant_lock);
	if (net->dormant[i].fd >= 0) {
		fd = net->dormant[i].fd;
		*bound = net->dormant[i].bound;
		net->dormant[i].fd = -1;
	}
	pthread_mutex_unlock(&net->dormant_lock);
	if (fd >= 0)
		ice_metrics_dec(w->m, ICE_M_NET_RELAY_DORMANT);
	return fd;
}

void
net_dormant_close_all(struct ice_net *net)
{
	size_t i;

	for (i = 0; i < NET_DORMANT_MAX; i++) {
		if (net->dormant[i].fd >= 0)
			close(net->dormant[i].fd);
		net->dormant[i].fd = -1;
	}
}
