/*
 * Source-address steering: every packet from one client address reaches the
 * same worker, whichever port it comes from.
 *
 * Each listening (address, port, transport) is one SO_REUSEPORT group with a
 * socket per worker, and the kernel would pick the socket by a hash of the
 * whole 5-tuple: one client IP using many source ports (or many TCP
 * connections) spreads over every worker, so any per-IP state a worker keeps
 * (the request rate limiter, the 401 limiter) allows workers x the
 * configured figure. A classic BPF program attached to the group
 * (SO_ATTACH_REUSEPORT_CBPF) picks the socket instead: it reads the source
 * address from the IP header (SKF_NET_OFF: the program's packet starts
 * after the UDP or TCP header) and returns a worker index. IPv6 uses the
 * /64 prefix, as the limiters do. Workers open their listeners in order, so
 * in every group socket i is worker i's; an index the group lacks makes the
 * kernel fall back to its own hash.
 *
 * The property this gives, which any per-source-address state may rely on:
 * an IPv4 address or IPv6 /64 is served by one worker, over UDP and TCP
 * alike (for TCP the program runs on the SYN; the connection stays where it
 * was accepted). The cost is in the kernel, a dozen BPF instructions per
 * datagram and per SYN; nothing on the worker's path changes. Many clients
 * behind one NAT address now load one worker, as one client's 5-tuple always
 * did.
 *
 * Sockets systemd passes in (socket activation) are not ours to steer: a
 * passed UDP socket is worker 0's alone (exact anyway), and a passed TCP
 * listener is shared by every worker, whichever accepts first, so there
 * per-address TCP state is per worker.
 */
#include <sys/socket.h>

#include <errno.h>
#include <linux/filter.h>

#include "net_internal.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

/*
 * The A/B builds of docs/performance.md: -DICE_NET_NO_STEER leaves the
 * kernel's 5-tuple hash; -DICE_NET_STEER_MIN_WORKERS=1 runs the program with
 * a single worker too (it then always answers 0), which isolates its cost.
 */
#ifndef ICE_NET_STEER_MIN_WORKERS
#define ICE_NET_STEER_MIN_WORKERS 2
#endif

enum {
	STEER_V4_SADDR = 12,     /* offset of the source address in the IPv4 header */
	STEER_V6_SADDR = 8,      /* and in the IPv6 header */
	STEER_MIX = 0x9E3779B1u, /* Fibonacci hashing: every address bit moves the result */
};

#define NET_LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + (off)))

int
net_steer_attach(int fd, int family, unsigned n_workers)
{
	struct sock_filter v4[] = {
		NET_LD(STEER_V4_SADDR),
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, STEER_MIX),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n_workers),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter v6[] = {
		NET_LD(STEER_V6_SADDR),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		NET_LD(STEER_V6_SADDR + 4),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, STEER_MIX),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n_workers),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

#ifdef ICE_NET_NO_STEER
	return 0;
#endif
	if (n_workers < ICE_NET_STEER_MIN_WORKERS)
		return 0;
	if (family == AF_INET)
		prog = (struct sock_fprog){ .len = ICE_ARRAY_SIZE(v4), .filter = v4 };
	else
		prog = (struct sock_fprog){ .len = ICE_ARRAY_SIZE(v6), .filter = v6 };
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}
