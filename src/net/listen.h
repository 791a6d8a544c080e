/*
 * Private to src/net: listening sockets and the packet they hand on. Every
 * worker opens its own copy of each (address, port, transport) with
 * SO_REUSEPORT (listen.c); UDP ones are read in batches (udp.c), TCP and TLS
 * ones accept streams (tcp.c, stream.h).
 */
#ifndef ICESTATION_NET_LISTEN_H
#define ICESTATION_NET_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "icestation/addr.h"
#include "icestation/config.h"

struct net_worker;
struct net_conn;
struct event;

/* What a listening socket serves (one socket set when stun.port == turn.port). */
enum net_role {
	NET_ROLE_STUN = 1u << 0,
	NET_ROLE_TURN = 1u << 1,
};

struct net_listener {
	struct net_worker *w;
	int fd;
	enum ice_transport transport; /* ICE_TRANSPORT_UDP, _TCP or _TLS (a TCP socket) */
	unsigned roles;               /* enum net_role bits */
	bool wildcard;                /* bound to 0.0.0.0 or ::; local address from pktinfo */
	struct ice_addr addr;         /* bound address and port */
	struct event *ev;             /* read (UDP) or accept (TCP) */
	struct event *ev_pause;       /* TCP: re-enables accept after EMFILE */
	size_t tcp_frame_max;
};

/* One packet (UDP datagram or stream frame) and its 5-tuple. */
struct net_pkt {
	struct ice_addr local;  /* the address the client sent to */
	struct ice_addr remote; /* the client as the server sees it */
	enum ice_transport transport;
	struct net_listener *l;
	struct net_conn *conn; /* TCP and TLS only, else NULL */
	int ifindex;           /* UDP on a wildcard socket: arrival interface */
};

/*
 * steer.c: make every packet from one source address (IPv4, or IPv6 /64) to
 * the reuseport group of listener fd reach the socket of one worker out of
 * n_workers (classic BPF; socket i of the group must be worker i's).
 * 0 (also when n_workers < 2) or -errno.
 */
int net_steer_attach(int fd, int family, unsigned n_workers);

/* listen.c: create every listening socket of w from cfg. 0 or -errno (logged). */
int net_listeners_open(struct net_worker *w, const struct ice_config *cfg);
/* Close w's listening sockets and free their events. */
void net_listeners_close(struct net_worker *w);

/* udp.c: register the read event of a UDP listener. 0 or -errno. */
int net_udp_start(struct net_listener *l);

/* tcp.c: register the accept event of a TCP listener. 0 or -errno. */
int net_tcp_start(struct net_listener *l);

#endif
