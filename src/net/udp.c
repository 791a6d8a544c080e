/*
 * UDP listeners: drain the socket with recvmmsg in fixed batches into the
 * worker's preallocated slots, dispatch each datagram, and send the replies
 * of the batch with one sendmmsg. No allocation, no lock, no log per packet.
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

/* Source address for a datagram from a wildcard socket. Returns the cmsg length. */
static size_t
udp_put_pktinfo(union net_cmsg *cb, const struct ice_addr *from, int ifindex)
{
	struct msghdr mh = { .msg_control = cb->buf, .msg_controllen = sizeof(cb->buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memset(cb, 0, sizeof(*cb));
	if (from->family == AF_INET) {
		struct in_pktinfo pi = { 0 };

		/* ifindex 0: let routing pick the interface; only the source
		 * address matters (ipi_spec_dst). */
		memcpy(&pi.ipi_spec_dst, from->ip, 4);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in6_pktinfo pi6 = { 0 };

	/* Keep the arrival interface: a link-local source needs its scope. */
	memcpy(&pi6.ipi6_addr, from->ip, 16);
	pi6.ipi6_ifindex = (unsigned)ifindex;
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi6));
	memcpy(CMSG_DATA(c), &pi6, sizeof(pi6));
	return CMSG_SPACE(sizeof(pi6));
}

/*
 * UDP GSO (UDP_SEGMENT): consecutive queued datagrams to the same address,
 * from the same source (the same pktinfo, or none), all of one length (the
 * last may be shorter), become one message whose iovecs are the datagrams
 * and which the kernel cuts back into them: one route lookup and one pass
 * down the stack for the run instead of one per datagram. Media to one peer
 * (client to peer) or from one peer (peer to client, framed to the same
 * length) and a client's burst of Binding replies come in such runs. The
 * queue's iovecs are contiguous, so a run is entry i with msg_iovlen k.
 * Returns the number of messages, packed in place.
 */
static bool
udp_gso_joins(const struct msghdr *a, const struct msghdr *b)
{
	return b->msg_namelen == a->msg_namelen &&
	       memcmp(b->msg_name, a->msg_name, a->msg_namelen) == 0 &&
	       b->msg_controllen == a->msg_controllen &&
	       (a->msg_controllen == 0 ||
	        memcmp(b->msg_control, a->msg_control, a->msg_controllen) == 0);
}

static unsigned
udp_gso_pack(struct net_worker *w)
{
	struct msghdr *a, *out;
	struct cmsghdr *c;
	unsigned i = 0, j = 0, k;
	size_t len, total, clen;
	uint16_t seg;

	while (i < w->tx_n) {
		a = &w->tx_msgs[i].msg_hdr;
		len = w->tx_iov[i].iov_len;
		total = len;
		k = 1;
		while (i + k < w->tx_n && len > 0 && w->tx_iov[i + k - 1].iov_len == len &&
		       w->tx_iov[i + k].iov_len <= len &&
		       total + w->tx_iov[i + k].iov_len <= NET_UDP_GSO_BYTES &&
		       udp_gso_joins(a, &w->tx_msgs[i + k].msg_hdr)) {
			total += w->tx_iov[i + k].iov_len;
			k++;
		}
		out = &w->tx_msgs[j].msg_hdr;
		if (j != i)
			*out = *a;
		if (k > 1) {
			/* The source's pktinfo (if any) first, then the segment size. */
			clen = out->msg_controllen;
			if (clen > 0)
				memcpy(w->tx_gso_cmsg[j].buf, out->msg_control, clen);
			out->msg_control = w->tx_gso_cmsg[j].buf;
			out->msg_controllen = clen + CMSG_SPACE(sizeof(seg));
			out->msg_iovlen = k;
			c = (struct cmsghdr *)(void *)(w->tx_gso_cmsg[j].buf + clen);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			seg = (uint16_t)len;
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
		i += k;
		j++;
	}
	return j;
}

/* A GSO message the kernel refused: its datagrams one by one. */
static void
udp_send_unpacked(struct net_worker *w, const struct msghdr *mh, enum ice_metric_id ok,
                  enum ice_metric_id bad)
{
	struct msghdr one = *mh;
	size_t s;

	/* The source's pktinfo, if any, precedes UDP_SEGMENT: keep only it. */
	one.msg_controllen = mh->msg_controllen - CMSG_SPACE(sizeof(uint16_t));
	if (one.msg_controllen == 0)
		one.msg_control = NULL;
	one.msg_iovlen = 1;
	for (s = 0; s < mh->msg_iovlen; s++) {
		one.msg_iov = mh->msg_iov + s;
		if (sendmsg(w->tx_fd, &one, MSG_DONTWAIT) >= 0)
			ice_metrics_inc(w->m, ok);
		else
			ice_metrics_inc(w->m, bad);
	}
}

void
net_udp_flush(struct net_worker *w)
{
	enum ice_metric_id ok = w->tx_relay ? ICE_M_NET_RELAY_TX : ICE_M_NET_UDP_TX;
	enum ice_metric_id bad = w->tx_relay ? ICE_M_NET_RELAY_TX_ERRORS : ICE_M_NET_UDP_TX_ERRORS;
	unsigned sent = 0, n = w->tx_n, k;
	uint64_t dgrams, gso, v;
	struct msghdr *mh;
	int r;

#ifndef ICE_NET_NO_GSO /* -DICE_NET_NO_GSO: the A/B build of docs/performance.md */
	if (n > 1 && !w->tx_gso_off)
		n = udp_gso_pack(w);
#endif
	while (sent < n) {
		r = sendmmsg(w->tx_fd, w->tx_msgs + sent, n - sent, MSG_DONTWAIT);
		if (r > 0) {
			for (dgrams = 0, gso = 0, k = 0; k < (unsigned)r; k++) {
				v = w->tx_msgs[sent + k].msg_hdr.msg_iovlen;
				dgrams += v;
				if (v > 1)
					gso += v;
			}
			sent += (unsigned)r;
			ice_metrics_add(w->m, ok, dgrams);
			if (gso > 0)
				ice_metrics_add(w->m, ICE_M_NET_UDP_GSO_DATAGRAMS, gso);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		mh = &w->tx_msgs[sent].msg_hdr;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			/* Socket buffer full: UDP gives no promise, drop the rest. */
			for (dgrams = 0, k = sent; k < n; k++)
				dgrams += w->tx_msgs[k].msg_hdr.msg_iovlen;
			ice_metrics_add(w->m, bad, dgrams);
			break;
		}
		if (r < 0 && mh->msg_iovlen > 1) {
			/* EIO: no checksum offload on the route's device, so no
			 * GSO on this host; EINVAL: segments over the path MTU
			 * (without GSO the kernel fragments them). Either way
			 * the datagrams go out one by one. */
			if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP)
				w->tx_gso_off = true;
			udp_send_unpacked(w, mh, ok, bad);
			sent++;
			continue;
		}
		/* This one message is undeliverable (no route, bad source,
		 * EMSGSIZE with DF): skip it and keep the rest of the batch. */
		ice_metrics_inc(w->m, bad);
		sent++;
	}
	w->tx_n = 0;
	w->tx_fd = -1;
	/* Nothing refers to the receive slots any more. */
	w->rx_used = 0;
}

void
net_udp_queue(struct net_worker *w, int fd, bool relay, const struct ice_addr *to,
              const struct ice_addr *from, int ifindex, const uint8_t *buf, size_t len, bool copy)
{
	struct msghdr *mh;
	unsigned i;

	if (copy && len > NET_TX_SLOT_LEN) {
		ice_metrics_inc(w->m, ICE_M_NET_TX_TOO_BIG);
		return;
	}
	if (w->tx_n == NET_UDP_BATCH || (w->tx_n > 0 && w->tx_fd != fd))
		net_udp_flush(w);
	i = w->tx_n;
	mh = &w->tx_msgs[i].msg_hdr;
	memset(mh, 0, sizeof(*mh));
	if (copy) {
		memcpy(w->tx_buf[i], buf, len);
		w->tx_iov[i].iov_base = w->tx_buf[i];
	} else {
		w->tx_iov[i].iov_base = (void *)(uintptr_t)buf;
	}
	w->tx_iov[i].iov_len = len;
	mh->msg_iov = &w->tx_iov[i];
	mh->msg_iovlen = 1;
	mh->msg_name = &w->tx_names[i];
	mh->msg_namelen = ice_addr_to_sockaddr(to, &w->tx_names[i]);
	if (from != NULL) {
		mh->msg_control = w->tx_cmsg[i].buf;
		mh->msg_controllen = udp_put_pktinfo(&w->tx_cmsg[i], from, ifindex);
	}
	w->tx_fd = fd;
	w->tx_relay = relay;
	w->tx_n++;
}

uint8_t *
net_reply_buf(struct net_worker *w, const struct net_pkt *pkt, size_t *cap)
{
	if (pkt->transport != ICE_TRANSPORT_UDP) {
		*cap = sizeof(w->tcp_reply);
		return w->tcp_reply;
	}
	if (w->tx_n == NET_UDP_BATCH || (w->tx_n > 0 && w->tx_fd != pkt->l->fd))
		net_udp_flush(w);
	*cap = NET_TX_SLOT_LEN;
	return w->tx_buf[w->tx_n];
}

void
net_reply_send(struct net_worker *w, const struct net_pkt *pkt, size_t len)
{
	if (pkt->transport != ICE_TRANSPORT_UDP) {
		net_tcp_send(pkt->conn, w->tcp_reply, len);
		return;
	}
	/* Built in place in the next free slot (net_reply_buf): no copy. */
	net_udp_queue(w, pkt->l->fd, false, &pkt->remote, pkt->l->wildcard ? &pkt->local : NULL,
	              pkt->ifindex, w->tx_buf[w->tx_n], len, false);
}

unsigned
net_udp_rx_slots(struct net_worker *w, bool want_cmsg, unsigned *n)
{
	struct msghdr *mh;
	unsigned i;

	/* A nearly full slot table would make recvmmsg calls of a datagram or
	 * two: send what is queued and start over. */
	if (w->rx_used > NET_UDP_BATCH - NET_UDP_BATCH / 4)
		net_udp_flush(w);
	for (i = w->rx_used; i < NET_UDP_BATCH; i++) {
		mh = &w->rx_msgs[i].msg_hdr;
		w->rx_iov[i].iov_base = w->rx_buf[i] + TURN_PEER_HEADROOM;
		w->rx_iov[i].iov_len = NET_UDP_SLOT_LEN;
		mh->msg_iov = &w->rx_iov[i];
		mh->msg_iovlen = 1;
		mh->msg_name = &w->rx_names[i];
		mh->msg_namelen = sizeof(w->rx_names[i]);
		mh->msg_control = want_cmsg ? w->rx_cmsg[i].buf : NULL;
		mh->msg_controllen = want_cmsg ? sizeof(w->rx_cmsg[i].buf) : 0;
		mh->msg_flags = 0;
	}
	*n = NET_UDP_BATCH - w->rx_used;
	return w->rx_used;
}

void
net_udp_rx_done(struct net_worker *w, unsigned first, unsigned n)
{
	/* A flush while they were handled freed the slots before first only;
	 * with nothing queued, none is held. */
	w->rx_used = w->tx_n == 0 ? 0 : first + n;
}

void
net_udp_iteration_end(struct net_worker *w)
{
	if (w->tx_n > 0)
		net_udp_flush(w);
	w->rx_used = 0;
}

static void
udp_rx_one(struct net_worker *w, struct net_listener *l, unsigned i)
{
	struct msghdr *mh = &w->rx_msgs[i].msg_hdr;
	struct net_pkt pkt;

	if (mh->msg_flags & MSG_TRUNC) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_TRUNCATED);
		return;
	}
	pkt.transport = ICE_TRANSPORT_UDP;
	pkt.l = l;
	pkt.conn = NULL;
	if (ice_addr_from_sockaddr(&pkt.remote, (struct sockaddr *)&w->rx_names[i]) < 0) {
		ice_metrics_inc(w->m, ICE_M_STUN_DROP_MALFORMED);
		return;
	}
	udp_local(l, mh, &pkt);
	net_dispatch(w, &pkt, w->rx_buf[i] + TURN_PEER_HEADROOM, w->rx_msgs[i].msg_len);
}

/*
 * Replies and relayed datagrams are not sent here but at the end of the
 * event-loop iteration (net_udp_iteration_end, net.c): every socket that was
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
		first = net_udp_rx_slots(w, l->wildcard, &room);
		n = recvmmsg(fd, w->rx_msgs + first, room, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ICMP errors from earlier sends surface here too
			 * (ECONNREFUSED...); they are not ours to act on. */
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ice_metrics_inc(w->m, ICE_M_NET_UDP_RX_ERRORS);
			break;
		}
		ice_metrics_add(w->m, ICE_M_NET_UDP_RX, (uint64_t)n);
		for (i = 0; i < (unsigned)n; i++)
			udp_rx_one(w, l, first + i);
		net_udp_rx_done(w, first, (unsigned)n);
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
