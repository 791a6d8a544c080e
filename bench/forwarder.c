/*
 * The benchmark's floor: a bare recvmmsg/sendmmsg UDP forwarder that does the
 * least work a STUN/TURN server could do for the same traffic, with no auth,
 * no lifetimes and no policy.
 *
 *  - A STUN request on the listening socket is echoed to its sender as a
 *    Binding success (type flipped, XOR-MAPPED-ADDRESS appended): the
 *    Binding ceiling.
 *  - "FWDREG" + peer IPv4/port from a client opens a relay socket for that
 *    client (the Allocate + ChannelBind of the benchmark), answered "FWDOK\0" +
 *    relay IPv4/port; "FWDDEL" closes it.
 *  - ChannelData-framed datagrams (first byte 0x40-0x4F) from a registered
 *    client are sent, header stripped, from its relay socket to its peer;
 *    datagrams arriving on a relay socket go back to the client with a 4-byte
 *    ChannelData header: the relay ceiling.
 *
 * Single thread, epoll, batches of 64. Loopback only. Runs until SIGTERM/SIGINT.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	BATCH = 64,
	PKT = 2048,
	MAX_RELAYS = 16384,
	HASH_SLOTS = 32768, /* power of two, > 2 * MAX_RELAYS */
	LISTEN_ID = 0xFFFFFFFFu,
};

struct relay {
	int fd; /* -1 when free */
	struct sockaddr_in client;
	struct sockaddr_in peer;
	uint8_t hdr[4];
};

static struct relay relays[MAX_RELAYS];
static int32_t slots[HASH_SLOTS]; /* relay index + 1, 0 empty, -1 deleted */
static int n_relays;
static uint32_t relay_ips[8];
static int n_relay_ips;
static int port_lo, port_hi, next_port;
static int lfd, ep;
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint32_t
addr_hash(const struct sockaddr_in *a)
{
	uint32_t h = a->sin_addr.s_addr * 2654435761u ^ (uint32_t)a->sin_port * 40503u;
	return (h ^ (h >> 15)) & (HASH_SLOTS - 1);
}

static bool
same(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static int
lookup(const struct sockaddr_in *a)
{
	for (uint32_t i = addr_hash(a), n = 0; n < HASH_SLOTS;
	     i = (i + 1) & (HASH_SLOTS - 1), n++) {
		if (slots[i] == 0)
			return -1;
		if (slots[i] > 0 && same(&relays[slots[i] - 1].client, a))
			return slots[i] - 1;
	}
	return -1;
}

/* Bind a relay socket on the next free (ip, port) of the configured range. */
static int
open_relay_socket(struct sockaddr_in *bound)
{
	int span = (port_hi - port_lo + 1) * n_relay_ips;
	for (int tries = 0; tries < span; tries++) {
		int k = next_port++ % span;
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		memset(bound, 0, sizeof(*bound));
		bound->sin_family = AF_INET;
		bound->sin_addr.s_addr = htonl(relay_ips[k / (port_hi - port_lo + 1)]);
		bound->sin_port = htons((uint16_t)(port_lo + k % (port_hi - port_lo + 1)));
		if (bind(fd, (struct sockaddr *)bound, sizeof(*bound)) == 0)
			return fd;
		close(fd);
	}
	return -1;
}

/* FWDREG: returns the relay index, or -1 when out of sockets. */
static int
do_register(const struct sockaddr_in *client, const uint8_t *msg, struct sockaddr_in *bound)
{
	int idx = lookup(client);
	if (idx >= 0) {
		socklen_t l = sizeof(*bound);
		getsockname(relays[idx].fd, (struct sockaddr *)bound, &l);
		return idx;
	}
	for (idx = 0; idx < MAX_RELAYS && relays[idx].fd >= 0; idx++)
		;
	if (idx == MAX_RELAYS)
		return -1;
	int fd = open_relay_socket(bound);
	if (fd < 0)
		return -1;
	struct relay *r = &relays[idx];
	r->fd = fd;
	r->client = *client;
	memset(&r->peer, 0, sizeof(r->peer));
	r->peer.sin_family = AF_INET;
	memcpy(&r->peer.sin_addr.s_addr, msg + 6, 4);
	memcpy(&r->peer.sin_port, msg + 10, 2);
	r->hdr[0] = 0x40;
	r->hdr[1] = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)idx };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	uint32_t i = addr_hash(client);
	while (slots[i] > 0)
		i = (i + 1) & (HASH_SLOTS - 1);
	slots[i] = idx + 1;
	n_relays++;
	return idx;
}

static void
do_unregister(const struct sockaddr_in *client)
{
	for (uint32_t i = addr_hash(client), n = 0; n < HASH_SLOTS;
	     i = (i + 1) & (HASH_SLOTS - 1), n++) {
		if (slots[i] == 0)
			return;
		if (slots[i] > 0 && same(&relays[slots[i] - 1].client, client)) {
			struct relay *r = &relays[slots[i] - 1];
			close(r->fd);
			r->fd = -1;
			slots[i] = -1;
			n_relays--;
			return;
		}
	}
}

/* Outgoing batch on one socket; flushed when full or when the socket changes. */
struct outq {
	int fd;
	int n;
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH][2];
	struct sockaddr_in to[BATCH];
};

static void
flush(struct outq *q)
{
	int off = 0;
	while (off < q->n) {
		int n = sendmmsg(q->fd, q->mm + off, (unsigned)(q->n - off), 0);
		if (n <= 0)
			break; /* a full send buffer drops the rest, as a server would */
		off += n;
	}
	q->n = 0;
}

static void
queue(struct outq *q, int fd, const struct sockaddr_in *to, const void *h, size_t hlen,
      const void *p, size_t plen)
{
	if (q->n == BATCH || (q->n > 0 && q->fd != fd))
		flush(q);
	q->fd = fd;
	int i = q->n++;
	q->to[i] = *to;
	q->iov[i][0].iov_base = (void *)h;
	q->iov[i][0].iov_len = hlen;
	q->iov[i][1].iov_base = (void *)p;
	q->iov[i][1].iov_len = plen;
	memset(&q->mm[i], 0, sizeof(q->mm[i]));
	q->mm[i].msg_hdr.msg_name = &q->to[i];
	q->mm[i].msg_hdr.msg_namelen = sizeof(q->to[i]);
	q->mm[i].msg_hdr.msg_iov = q->iov[i];
	q->mm[i].msg_hdr.msg_iovlen = 2;
}

static uint8_t rbuf[BATCH][PKT];
static uint8_t reply[BATCH][64];
static struct sockaddr_in from[BATCH];

static int
recv_batch(int fd, struct mmsghdr *mm)
{
	static struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = rbuf[i];
		iov[i].iov_len = PKT;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &from[i];
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	return recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
}

/* Binding success: request header with the class flipped + XOR-MAPPED-ADDRESS. */
static size_t
binding_reply(uint8_t *out, const uint8_t *req, const struct sockaddr_in *src)
{
	memcpy(out, req, 20);
	out[0] = 0x01;
	out[1] = 0x01;
	out[2] = 0;
	out[3] = 12;
	uint8_t *a = out + 20;
	a[0] = 0x00;
	a[1] = 0x20;
	a[2] = 0;
	a[3] = 8;
	a[4] = 0;
	a[5] = 1;
	uint16_t port = (uint16_t)(ntohs(src->sin_port) ^ 0x2112);
	a[6] = (uint8_t)(port >> 8);
	a[7] = (uint8_t)port;
	uint32_t ip = ntohl(src->sin_addr.s_addr) ^ 0x2112A442u;
	a[8] = (uint8_t)(ip >> 24);
	a[9] = (uint8_t)(ip >> 16);
	a[10] = (uint8_t)(ip >> 8);
	a[11] = (uint8_t)ip;
	return 32;
}

static void
on_listen(struct outq *q)
{
	struct mmsghdr mm[BATCH];
	int n = recv_batch(lfd, mm);
	for (int i = 0; i < n; i++) {
		const uint8_t *b = rbuf[i];
		size_t len = mm[i].msg_len;
		if (len == 12 && memcmp(b, "FWDREG", 6) == 0) {
			struct sockaddr_in bound;
			if (do_register(&from[i], b, &bound) < 0)
				continue;
			memcpy(reply[i], "FWDOK", 6);
			memcpy(reply[i] + 6, &bound.sin_addr.s_addr, 4);
			memcpy(reply[i] + 10, &bound.sin_port, 2);
			queue(q, lfd, &from[i], reply[i], 12, NULL, 0);
		} else if (len == 12 && memcmp(b, "FWDDEL", 6) == 0) {
			do_unregister(&from[i]);
			memcpy(reply[i], "FWDBYE", 6);
			queue(q, lfd, &from[i], reply[i], 6, NULL, 0);
		} else if (len >= 20 && b[0] < 2) {
			size_t rl = binding_reply(reply[i], b, &from[i]);
			queue(q, lfd, &from[i], reply[i], rl, NULL, 0);
		} else if (len >= 4 && (b[0] & 0xF0) == 0x40) {
			int idx = lookup(&from[i]);
			if (idx >= 0)
				queue(q, relays[idx].fd, &relays[idx].peer, b + 4, len - 4, NULL,
				      0);
		}
	}
	/* Replies and relayed data point into rbuf: send before the next recv. */
	flush(q);
}

static void
on_relay(struct outq *q, int idx)
{
	struct mmsghdr mm[BATCH];
	struct relay *r = &relays[idx];
	int n = recv_batch(r->fd, mm);
	for (int i = 0; i < n; i++) {
		size_t len = mm[i].msg_len;
		/* Header per datagram: the length differs, the channel does not. */
		reply[i][0] = r->hdr[0];
		reply[i][1] = r->hdr[1];
		reply[i][2] = (uint8_t)(len >> 8);
		reply[i][3] = (uint8_t)len;
		queue(q, lfd, &r->client, reply[i], 4, rbuf[i], len);
	}
	flush(q);
}

static int
parse_range(const char *s)
{
	if (sscanf(s, "%d-%d", &port_lo, &port_hi) != 2 || port_lo < 1 || port_hi > 65535 ||
	    port_lo > port_hi)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr,
		        "usage: forwarder LISTEN_IP:PORT RELAY_IP[,RELAY_IP...] PORT_LO-PORT_HI\n");
		return 2;
	}
	struct sockaddr_in la;
	memset(&la, 0, sizeof(la));
	la.sin_family = AF_INET;
	char host[64];
	const char *colon = strrchr(argv[1], ':');
	if (!colon || colon - argv[1] >= (long)sizeof(host))
		return 2;
	memcpy(host, argv[1], (size_t)(colon - argv[1]));
	host[colon - argv[1]] = 0;
	la.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &la.sin_addr) != 1)
		return 2;
	for (char *t = strtok(argv[2], ","); t && n_relay_ips < 8; t = strtok(NULL, ",")) {
		struct in_addr a;
		if (inet_pton(AF_INET, t, &a) != 1)
			return 2;
		relay_ips[n_relay_ips++] = ntohl(a.s_addr);
	}
	if (n_relay_ips == 0 || parse_range(argv[3]) < 0)
		return 2;
	for (int i = 0; i < MAX_RELAYS; i++)
		relays[i].fd = -1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int sz = 1 << 21;
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0) {
		perror("forwarder: bind");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LISTEN_ID };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	static struct outq q;
	printf("ready\n");
	fflush(stdout);
	struct epoll_event evs[256];
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 200);
		if (n < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == LISTEN_ID)
				on_listen(&q);
			else if (relays[evs[i].data.u32].fd >= 0)
				on_relay(&q, (int)evs[i].data.u32);
		}
	}
	return 0;
}
