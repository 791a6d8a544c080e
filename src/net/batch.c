/*
 * The datagram batch (batch.h): recvmmsg slots and the sendmmsg queue of one
 * worker, with UDP GSO for runs of equal-sized datagrams to one address.
 */
#include "batch.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/udp.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

void
net_batch_init(struct net_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->tx_fd = -1;
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
udp_gso_pack(struct net_batch *b)
{
	struct msghdr *a, *out;
	struct cmsghdr *c;
	unsigned i = 0, j = 0, k;
	size_t len, total, clen;
	uint16_t seg;

	while (i < b->tx_n) {
		a = &b->tx_msgs[i].msg_hdr;
		len = b->tx_iov[i].iov_len;
		total = len;
		k = 1;
		while (i + k < b->tx_n && len > 0 && b->tx_iov[i + k - 1].iov_len == len &&
		       b->tx_iov[i + k].iov_len <= len &&
		       total + b->tx_iov[i + k].iov_len <= NET_UDP_GSO_BYTES &&
		       udp_gso_joins(a, &b->tx_msgs[i + k].msg_hdr)) {
			total += b->tx_iov[i + k].iov_len;
			k++;
		}
		out = &b->tx_msgs[j].msg_hdr;
		if (j != i)
			*out = *a;
		if (k > 1) {
			/* The source's pktinfo (if any) first, then the segment size. */
			clen = out->msg_controllen;
			if (clen > 0)
				memcpy(b->tx_gso_cmsg[j].buf, out->msg_control, clen);
			out->msg_control = b->tx_gso_cmsg[j].buf;
			out->msg_controllen = clen + CMSG_SPACE(sizeof(seg));
			out->msg_iovlen = k;
			c = (struct cmsghdr *)(void *)(b->tx_gso_cmsg[j].buf + clen);
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
udp_send_unpacked(struct net_batch *b, const struct msghdr *mh, enum ice_metric_id ok,
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
		if (sendmsg(b->tx_fd, &one, MSG_DONTWAIT) >= 0)
			ice_metrics_inc(b->m, ok);
		else
			ice_metrics_inc(b->m, bad);
	}
}

void
net_batch_flush(struct net_batch *b)
{
	enum ice_metric_id ok = b->tx_relay ? ICE_M_NET_RELAY_TX : ICE_M_NET_UDP_TX;
	enum ice_metric_id bad = b->tx_relay ? ICE_M_NET_RELAY_TX_ERRORS : ICE_M_NET_UDP_TX_ERRORS;
	unsigned sent = 0, n = b->tx_n, k;
	uint64_t dgrams, gso, v;
	struct msghdr *mh;
	bool retried = false;
	int r;

#ifndef ICE_NET_NO_GSO /* -DICE_NET_NO_GSO: the A/B build of docs/performance.md */
	if (n > 1 && !b->tx_gso_off)
		n = udp_gso_pack(b);
#endif
	while (sent < n) {
		r = sendmmsg(b->tx_fd, b->tx_msgs + sent, n - sent, MSG_DONTWAIT);
		if (r > 0) {
			for (dgrams = 0, gso = 0, k = 0; k < (unsigned)r; k++) {
				v = b->tx_msgs[sent + k].msg_hdr.msg_iovlen;
				dgrams += v;
				if (v > 1)
					gso += v;
			}
			sent += (unsigned)r;
			retried = false;
			ice_metrics_add(b->m, ok, dgrams);
			if (gso > 0)
				ice_metrics_add(b->m, ICE_M_NET_UDP_GSO_DATAGRAMS, gso);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && b->tx_relay && !retried && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != ENOBUFS) {
			/* A relay socket reports an ICMP error for an earlier
			 * datagram (IP_RECVERR, relay_icmp.c) by refusing the
			 * next send, once, without trying it: try it again. */
			retried = true;
			continue;
		}
		mh = &b->tx_msgs[sent].msg_hdr;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			/* Socket buffer full: UDP gives no promise, drop the rest. */
			for (dgrams = 0, k = sent; k < n; k++)
				dgrams += b->tx_msgs[k].msg_hdr.msg_iovlen;
			ice_metrics_add(b->m, bad, dgrams);
			break;
		}
		if (r < 0 && mh->msg_iovlen > 1) {
			/* EIO: no checksum offload on the route's device, so no
			 * GSO on this host; EINVAL: segments over the path MTU
			 * (without GSO the kernel fragments them). Either way
			 * the datagrams go out one by one. */
			if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP)
				b->tx_gso_off = true;
			udp_send_unpacked(b, mh, ok, bad);
			sent++;
			retried = false;
			continue;
		}
		/* This one message is undeliverable (no route, bad source,
		 * EMSGSIZE with DF): skip it and keep the rest of the batch. */
		ice_metrics_inc(b->m, bad);
		sent++;
		retried = false;
	}
	b->tx_n = 0;
	b->tx_fd = -1;
	/* Nothing refers to the receive slots any more. */
	b->rx_used = 0;
}

void
net_batch_queue(struct net_batch *b, int fd, bool relay, const struct ice_addr *to,
                const struct ice_addr *from, int ifindex, const uint8_t *buf, size_t len, bool copy)
{
	struct msghdr *mh;
	unsigned i;

	if (copy && len > NET_TX_SLOT_LEN) {
		ice_metrics_inc(b->m, ICE_M_NET_TX_TOO_BIG);
		return;
	}
	if (b->tx_n == NET_UDP_BATCH || (b->tx_n > 0 && b->tx_fd != fd))
		net_batch_flush(b);
	i = b->tx_n;
	mh = &b->tx_msgs[i].msg_hdr;
	memset(mh, 0, sizeof(*mh));
	if (copy) {
		memcpy(b->tx_buf[i], buf, len);
		b->tx_iov[i].iov_base = b->tx_buf[i];
	} else {
		b->tx_iov[i].iov_base = (void *)(uintptr_t)buf;
	}
	b->tx_iov[i].iov_len = len;
	mh->msg_iov = &b->tx_iov[i];
	mh->msg_iovlen = 1;
	mh->msg_name = &b->tx_names[i];
	mh->msg_namelen = ice_addr_to_sockaddr(to, &b->tx_names[i]);
	if (from != NULL) {
		mh->msg_control = b->tx_cmsg[i].buf;
		mh->msg_controllen = udp_put_pktinfo(&b->tx_cmsg[i], from, ifindex);
	}
	b->tx_fd = fd;
	b->tx_relay = relay;
	b->tx_n++;
}

void
net_batch_flush_fd(struct net_batch *b, int fd)
{
	if (b->tx_n > 0 && b->tx_fd == fd)
		net_batch_flush(b);
}

uint8_t *
net_batch_reply_slot(struct net_batch *b, int fd, size_t *cap)
{
	if (b->tx_n == NET_UDP_BATCH || (b->tx_n > 0 && b->tx_fd != fd))
		net_batch_flush(b);
	*cap = NET_TX_SLOT_LEN;
	return b->tx_buf[b->tx_n];
}

unsigned
net_batch_rx_slots(struct net_batch *b, bool want_cmsg, unsigned *n)
{
	struct msghdr *mh;
	unsigned i;

	/* A nearly full slot table would make recvmmsg calls of a datagram or
	 * two: send what is queued and start over. */
	if (b->rx_used > NET_UDP_BATCH - NET_UDP_BATCH / 4)
		net_batch_flush(b);
	for (i = b->rx_used; i < NET_UDP_BATCH; i++) {
		mh = &b->rx_msgs[i].msg_hdr;
		b->rx_iov[i].iov_base = b->rx_buf[i] + TURN_PEER_HEADROOM;
		b->rx_iov[i].iov_len = NET_UDP_SLOT_LEN;
		mh->msg_iov = &b->rx_iov[i];
		mh->msg_iovlen = 1;
		mh->msg_name = &b->rx_names[i];
		mh->msg_namelen = sizeof(b->rx_names[i]);
		mh->msg_control = want_cmsg ? b->rx_cmsg[i].buf : NULL;
		mh->msg_controllen = want_cmsg ? sizeof(b->rx_cmsg[i].buf) : 0;
		mh->msg_flags = 0;
	}
	*n = NET_UDP_BATCH - b->rx_used;
	return b->rx_used;
}

void
net_batch_rx_done(struct net_batch *b, unsigned first, unsigned n)
{
	/* A flush while they were handled freed the slots before first only;
	 * with nothing queued, none is held. */
	b->rx_used = b->tx_n == 0 ? 0 : first + n;
}

void
net_batch_pass_end(struct net_batch *b)
{
	if (b->tx_n > 0)
		net_batch_flush(b);
	b->rx_used = 0;
}
