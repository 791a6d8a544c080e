/*
 * ICMP errors for datagrams relay sockets sent (RFC 8656 §11). A relay that
 * has carried a datagram has IP_RECVERR (IPV6_RECVERR) on: the kernel then
 * queues every ICMP error for a datagram it sent on the socket's error
 * queue, with the offending datagram's destination (the peer, port
 * included) and the ICMP type, code and MTU, and the relay set reports the
 * socket with EPOLLERR. Without the option Linux drops ICMP errors for an
 * unconnected socket. Each one read goes to turn_handle_icmp, which decides
 * whether the client hears of it (permission, type, rate).
 *
 * The option has a cost this file also pays: each ICMP error sets the
 * socket's pending error, which the next recvmmsg or sendmmsg on it
 * returns once, instead of doing its work. relay.c reads the queue when
 * recvmmsg says so; batch.c sends a relay's refused datagram once more.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <linux/errqueue.h>
#include <string.h>

#include "net_internal.h"

int
net_relay_recverr_on(int fd, int family)
{
	int v = 1;

	if (family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &v, sizeof(v));
	return setsockopt(fd, IPPROTO_IP, IP_RECVERR, &v, sizeof(v));
}

/* Copy the extended error of one error-queue message into *ee; false when it has none. */
static bool
errqueue_ee(struct msghdr *mh, struct sock_extended_err *ee)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
			if (c->cmsg_len < CMSG_LEN(sizeof(*ee)))
				return false;
			memcpy(ee, CMSG_DATA(c), sizeof(*ee));
			return true;
		}
	}
	return false;
}

/* Hand one ICMP error to turn (or count it: a local error is no ICMP). */
static void
errqueue_one(struct net_worker *w, struct net_relay *s, const struct sockaddr_storage *name,
             const struct sock_extended_err *ee)
{
	struct turn_icmp icmp;
	struct ice_addr peer;

	if (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) {
		/* EMSGSIZE of a DF datagram, said again here: its send failed
		 * and was counted already. */
		ice_metrics_inc(w->m, ICE_M_NET_RELAY_ERRQ_LOCAL);
		return;
	}
	ice_metrics_inc(w->m, ICE_M_NET_RELAY_ERRQ_ICMP);
	if (ice_addr_from_sockaddr(&peer, (const struct sockaddr *)name) < 0)
		return;
	/* Late news for the allocation a spare served: not reused then. */
	if (s->spare)
		s->spare_busy = true;
	icmp.v6 = ee->ee_origin == SO_EE_ORIGIN_ICMP6;
	icmp.type = ee->ee_type;
	icmp.code = ee->ee_code;
	icmp.info = ee->ee_info;
	turn_handle_icmp(w->turn, s->handle, &peer, &icmp, w->now);
}

int
net_relay_read_errors(struct net_worker *w, struct net_relay *s)
{
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
		                       sizeof(struct sockaddr_in6))];
	} cb;
	struct sockaddr_storage name;
	struct sock_extended_err ee;
	struct msghdr mh;
	int n;

	for (n = 0; n < NET_RELAY_ERRQ_MAX; n++) {
		/* No iovec: the offending datagram's bytes are not needed. */
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &name;
		mh.msg_namelen = sizeof(name);
		mh.msg_control = cb.buf;
		mh.msg_controllen = sizeof(cb.buf);
		if (recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ice_metrics_inc(w->m, ICE_M_NET_RELAY_RX_ERRORS);
			break;
		}
		if (errqueue_ee(&mh, &ee))
			errqueue_one(w, s, &name, &ee);
	}
	return n;
}
