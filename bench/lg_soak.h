/*
 * Soak mode of the load generator (lg_soak.c, lg_flow.c, lg_flood.c): paced,
 * open-loop load held for minutes to hours. Steady flows measure loss
 * exactly (every datagram carries its flow and sequence number), the churn
 * keeps a fixed number of allocations alive while replacing them, and the
 * floods send bad input whose every datagram the server must count under
 * one known reason. Private to bench/.
 */
#ifndef LG_SOAK_H
#define LG_SOAK_H

#include "loadgen.h"

/* Flood kinds: each maps to exactly one server counter (docs/reliability.md). */
enum lg_flood_kind {
	FL_NOT_STUN,      /* 0xFF bytes: stun_dropped{not_stun} */
	FL_MALFORMED,     /* header claims a body it lacks: stun_dropped{malformed} */
	FL_TRUNCATED,     /* 4200 bytes, over the receive slot: stun_dropped{truncated} */
	FL_NO_ALLOCATION, /* ChannelData from a tuple without allocation */
	FL_NO_CREDS,      /* Allocate without MESSAGE-INTEGRITY: 401 */
	FL_BAD_INTEGRITY, /* right user and nonce, wrong key: 401 */
	FL_EXPIRED,       /* REST username expired (right key): 401 */
	FL_BAD_NONCE,     /* a nonce the server never minted: 438 (RFC 8489 §9.2.4) */
	FL_KINDS,
};

/* Counters per flow direction: 0 = client to peer, 1 = peer to client. */
struct lg_flowdir {
	long sent, received, late; /* late: arrived after a higher sequence number */
	long missing;              /* sum over flows of (highest seen + 1 - received) */
};

struct lg_soak {
	struct lg *g;
	int flows; /* al[0..flows) */
	double start, end, abandon_until;
	/* flows */
	uint64_t *tx_seq[2], *rx_next[2];
	long *rx_n[2];
	struct lg_flowdir dir[2];
	long flow_bad; /* arrivals that are not one of our datagrams */
	int flow_cursor;
	double flow_tokens, last_refresh_scan;
	long flow_refreshes, flow_errors;
	/* churn */
	int churn_cursor;
	double churn_tokens;
	long ops, refreshed, deleted, abandoned, allocated, churn_failed;
	long op_counter;
	/* floods */
	int flood_fd[FL_KINDS];
	struct sockaddr_in flood_addr[FL_KINDS];
	long flood_sent[FL_KINDS], flood_401[FL_KINDS], flood_other[FL_KINDS];
	long nonce_fetches;
	double fetch_at[FL_KINDS];
	uint8_t fetch_tid[FL_KINDS][12];
	char flood_nonce[FL_KINDS][LG_MAX_NONCE + 1];
	double flood_tokens;
	uint64_t idx_flood; /* epoll index of flood socket 0 */
};

/* Flows: set up the per-flow tables (0 or -1), pace sends, read arrivals. */
int lg_flow_init(struct lg_soak *s);
void lg_flow_send(struct lg_soak *s, double dt);
/* Read everything pending on flow client socket a (data and responses). */
void lg_flow_read_client(struct lg_soak *s, struct lg_alloc *a);
/* Read everything pending on peer socket fd. */
void lg_flow_read_peer(struct lg_soak *s, int fd);
/* Renew the allocations, permissions and channels of flows due for it. */
void lg_flow_refresh(struct lg_soak *s, double now);
/* "c2p":{...},"p2c":{...} (no braces around). */
void lg_flow_print(const struct lg_soak *s);
void lg_flow_fini(struct lg_soak *s);

/* Floods: open one socket per kind (0 or -1), pace sends, read answers. */
int lg_flood_init(struct lg_soak *s);
void lg_flood_send(struct lg_soak *s, double dt);
void lg_flood_read(struct lg_soak *s, int kind);
/* "flood":{...} (no braces around). */
void lg_flood_print(const struct lg_soak *s);
void lg_flood_fini(struct lg_soak *s);

#endif
