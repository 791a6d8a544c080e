/*
 * Private to src/selftest: one transport's probe, shared by probe.c (the
 * connection, the requests and the order of the steps) and relay.c (the
 * peer socket and the datagrams relayed each way).
 */
#ifndef ICESTATION_SELFTEST_PROBE_H
#define ICESTATION_SELFTEST_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "st_int.h"

struct event;
struct st_conn;

enum {
	PROBE_RTO_MS = 250,
	PROBE_RESEND_MS = 250,
	PROBE_PAYLOAD = 48,
	PROBE_PEER_PORT_TRIES = 64,
};

enum phase {
	PH_ALLOC,
	PH_PERM,
	PH_TO_PEER,
	PH_TO_CLIENT,
	PH_REFRESH,
	PH_DONE
};

struct st_probe {
	struct ice_selftest *t;
	uint8_t proto;
	struct ice_addr to;
	struct st_conn *conn;
	struct st_auth auth;
	enum phase phase;
	struct st_step *step;
	struct event *ev_timer;
	uint64_t deadline_us, next_us;
	unsigned rto_ms;
	/* The request in flight. */
	uint8_t req[ST_FRAME_MAX];
	size_t req_len;
	uint8_t tid[STUN_TID_LEN];
	bool challenged;  /* the first Allocate's 401 was answered */
	bool reauth_done; /* one 438 per step was answered with a retry */
	/* What the exchange found. */
	bool allocated, opened;
	struct ice_addr relayed, mapped;
	int peer_fd;
	struct event *ev_peer;
	struct ice_addr peer, relay_src;
	uint8_t out[PROBE_PAYLOAD], back[PROBE_PAYLOAD];
};

/* probe.c */
/* (Re)arm the step's timer ms from now, never past its deadline. */
void probe_arm(struct st_probe *p, unsigned ms);
/* Fail the running step with the cause; the allocation is still released. */
void probe_fail(struct st_probe *p, const char *fmt, ...) ICE_PRINTF(2, 3);
/* The running step is done: start the next one (or finish). */
void probe_next(struct st_probe *p);

/* relay.c */
/* Open the peer socket on the relay address at a free relay port. 0 or -errno. */
int probe_peer_open(struct st_probe *p);
/* Send the running relay step's datagram (again), and arm the resend timer. */
void probe_send_relayed(struct st_probe *p);
/* A Data indication from the daemon (the to_client step's). */
void probe_on_data(struct st_probe *p, const struct stun_msg *m);

#endif
