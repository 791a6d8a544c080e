/*
 * Private to src/net: a worker's datagram batch, shared by its UDP listeners
 * and its relay sockets. Datagrams come in through recvmmsg into fixed
 * receive slots (with TURN_PEER_HEADROOM in front and TURN_PEER_TAILROOM
 * behind each, so turn frames a relayed datagram in place), and go out
 * through one sendmmsg per socket, queued either by reference (a relayed
 * datagram still in its receive slot, or a TCP input buffer) or copied
 * into a send slot (a reply). The batch goes out at the end of each
 * event-loop pass, when it is full, when the receive slots run short, or
 * before a datagram for another socket is queued. No allocation, no lock.
 */
#ifndef ICESTATION_NET_BATCH_H
#define ICESTATION_NET_BATCH_H

#include <sys/socket.h>

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/metrics.h"
#include "icestation/turn.h"

enum {
	/* Datagrams per recvmmsg / sendmmsg call. */
	NET_UDP_BATCH = 32,
	/* Largest UDP_SEGMENT (GSO) send: its segments together, under the
	 * 64 KiB IP datagram limit with room for headers. */
	NET_UDP_GSO_BYTES = 60000,
	/* recvmmsg calls per readiness event, so one busy socket cannot starve
	 * the others sharing the loop (then libevent calls us again). */
	NET_UDP_MAX_BATCHES = 8,
	/* Receive slot. STUN over UDP stays under the path MTU; a longer datagram
	 * arrives with MSG_TRUNC and is dropped and counted (reason "truncated").
	 * 4096 covers every 1500-byte path with room to spare; jumbo-frame TURN
	 * media (up to 9000) would need this raised. */
	NET_UDP_SLOT_LEN = 4096,
	/* Receive slot stride: the framing room around NET_UDP_SLOT_LEN bytes. */
	NET_RX_SLOT_STRIDE = TURN_PEER_HEADROOM + NET_UDP_SLOT_LEN + TURN_PEER_TAILROOM,
	/* One copied reply (Binding, TURN responses: turn's scratch is 1 KiB).
	 * Relayed data never lands here: it is queued by reference. */
	NET_TX_SLOT_LEN = 1024,
};

union net_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* A GSO message's control data: the source (pktinfo) and UDP_SEGMENT. */
union net_gso_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
};

struct net_batch {
	struct ice_metrics *m; /* the worker's block, set at thread start */

	/* Receive slots. A callback receives into [rx_used, NET_UDP_BATCH):
	 * slots before rx_used may hold datagrams queued by reference. */
	unsigned rx_used;
	struct mmsghdr rx_msgs[NET_UDP_BATCH];
	struct iovec rx_iov[NET_UDP_BATCH];
	struct sockaddr_storage rx_names[NET_UDP_BATCH];
	union net_cmsg rx_cmsg[NET_UDP_BATCH];
	uint8_t rx_buf[NET_UDP_BATCH][NET_RX_SLOT_STRIDE]; /* data at +TURN_PEER_HEADROOM */

	/* Send batch: datagrams from one socket (tx_fd). */
	int tx_fd;
	bool tx_relay;   /* tx_fd is a relay socket (counted as relay tx) */
	bool tx_gso_off; /* UDP_SEGMENT refused by this host (EIO): never again */
	unsigned tx_n;
	struct mmsghdr tx_msgs[NET_UDP_BATCH];
	struct iovec tx_iov[NET_UDP_BATCH];
	struct sockaddr_storage tx_names[NET_UDP_BATCH];
	union net_cmsg tx_cmsg[NET_UDP_BATCH];
	union net_gso_cmsg tx_gso_cmsg[NET_UDP_BATCH];
	uint8_t tx_buf[NET_UDP_BATCH][NET_TX_SLOT_LEN];
};

/* An empty batch (tx_fd -1). */
void net_batch_init(struct net_batch *b);

/* Send every queued datagram; the receive slots are free again after. */
void net_batch_flush(struct net_batch *b);

/* Flush first if what is queued went out on fd (before fd closes or changes). */
void net_batch_flush_fd(struct net_batch *b, int fd);

/*
 * Queue one datagram buf[0..len) on fd to `to`. from: the source address to
 * force with pktinfo (wildcard listener) or NULL; ifindex its interface (0:
 * routing decides). copy: copy buf into a send slot (it dies on return; len
 * <= NET_TX_SLOT_LEN or it is dropped and counted); else buf is queued by
 * reference and must live until the next flush (the end of the current
 * callback). Flushes first when the batch is full or holds another fd.
 * relay: fd is a relay socket (metrics).
 */
void net_batch_queue(struct net_batch *b, int fd, bool relay, const struct ice_addr *to,
                     const struct ice_addr *from, int ifindex, const uint8_t *buf, size_t len,
                     bool copy);

/*
 * A send slot to build one reply of at most *cap bytes for fd in place;
 * queue it with net_batch_queue(..., slot, len, false) before asking again.
 */
uint8_t *net_batch_reply_slot(struct net_batch *b, int fd, size_t *cap);

/*
 * Receive slots for the next recvmmsg: flushes the send batch when too few
 * are free, prepares the free ones (no control data when !want_cmsg) and
 * returns the first; *n is how many are free.
 */
unsigned net_batch_rx_slots(struct net_batch *b, bool want_cmsg, unsigned *n);

/* n datagrams were received from slot first on: keep them until the flush. */
void net_batch_rx_done(struct net_batch *b, unsigned first, unsigned n);

/* The end of one event-loop pass: send the batch, free the slots. */
void net_batch_pass_end(struct net_batch *b);

/* Received datagram i: its payload (at TURN_PEER_HEADROOM into the slot). */
static inline uint8_t *
net_batch_rx_data(struct net_batch *b, unsigned i)
{
	return b->rx_buf[i] + TURN_PEER_HEADROOM;
}

#endif
