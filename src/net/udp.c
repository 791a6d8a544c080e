/*
 * UDP listeners: drain the socket with recvmmsg in fixed batches into the
 * worker's batch slots (batch.h), dispatch each datagram, and send the
 * replies of the batch with one sendmmsg. No allocation, no lock, no log
 * per packet.
 *
 * Wildcard sockets (0.0.0.0, ::) receive IP_PKTINFO / IPV6_PKTINFO with each
 * datagram and reply with the same address as source, so a multi-homed host
 * answers from the address the client contacted.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/udp.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <event2/event.h>

#include "net_internal.h"

/* The local address a datagram was sent to: from pktinfo, or the bound one. */
static void
udp_local(const struct net_listener *l, struct msghdr *mh, struct net_pkt *pkt)
{
	struct cmsghdr *c;

	pkt->local = l->addr;
	pkt->ifindex = 0;
	if (!l->wildcard)
		return;
	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(pkt->local.ip, &pi.ipi_addr, 4);
			pkt->ifindex = pi.ipi_ifindex;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi6;

			memcpy(&pi6, CMSG_DATA(c), sizeof(pi6));
			memcpy(pkt->local.ip, &pi6.ipi6_addr, 16);
			pkt->ifindex = (int)pi6.ipi6_ifindex;
		}
	}
}

static void
udp_rx_one(struct net_worker *w, struct net_listener *l, unsigned i)
{
	struct msghdr *mh = &w->batch.rx_msgs[i].msg_hdr;
	struct net_pkt pkt;

	if (mh->msg_flags & MSG_TRUNC) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_TRUNCATED);
		return;
	}
	pkt.transport = ICE_TRANSPORT_UDP;
	pkt.l = l;
	pkt.conn = NULL;
	if (ice_addr_from_sockaddr(&pkt.remote, (struct sockaddr *)&w->batch.rx_names[i]) < 0) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_MALFORMED);
		return;
	}
	udp_local(l, mh, &pkt);
	net_dispatch(w, &pkt, net_batch_rx_data(&w->batch, i), w->batch.rx_msgs[i].msg_len);
}

/*
 * Replies and relayed datagrams are not sent here but at the end of the
 * event-loop pass (net_batch_pass_end, worker.c): every socket that was
 * ready in the same epoll round adds to one sendmmsg batch, so peer data from
 * many relay sockets to clients of one listener goes out in one call.
 */
static void
udp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;
	struct net_worker *w = l->w;
	unsigned batch, i, first, room;
	int n;

	(void)what;
	w->now = net_clock_ms();
	for (batch = 0; batch < NET_UDP_MAX_BATCHES; batch++) {
		first = net_batch_rx_slots(&w->batch, l->wildcard, &room);
		n = recvmmsg(fd, w->batch.rx_msgs + first, room, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Listeners are unconnected and have no IP_RECVERR:
			 * Linux tells them of no ICMP error (a client gone
			 * away), so any errno here is a real failure. */
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ice_metrics_inc(w->m, ICE_M_NET_UDP_RX_ERRORS);
			break;
		}
		ice_metrics_add(w->m, ICE_M_NET_UDP_RX, (uint64_t)n);
		for (i = 0; i < (unsigned)n; i++)
			udp_rx_one(w, l, first + i);
		net_batch_rx_done(&w->batch, first, (unsigned)n);
		if ((unsigned)n < room)
			break;
	}
}

int
net_udp_start(struct net_listener *l)
{
	l->ev = event_new(l->w->base, l->fd, EV_READ | EV_PERSIST, udp_on_read, l);
	if (l->ev == NULL)
		return -ENOMEM;
	if (event_add(l->ev, NULL) < 0)
		return -EIO;
	return 0;
}
