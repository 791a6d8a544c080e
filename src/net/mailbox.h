/*
 * Private to src/net: the typed mailbox the main thread writes to each worker
 * (bgpd's imsg, nginx's channel), and the reply queue the workers write back
 * to the main thread. A bounded ring under a mutex, woken through an
 * eventfd; the receiving loop drains it between event-loop passes, never in
 * the middle of a packet. New generations do not queue: a newer one replaces
 * one not yet taken (only the latest matters), so a burst of reloads can
 * never fill the ring.
 */
#ifndef ICESTATION_NET_MAILBOX_H
#define ICESTATION_NET_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/turn.h"

struct net_gen;
struct net_query;

enum {
	NET_MAILBOX_CAP = 64, /* queued commands per worker; more answers -EAGAIN */
	NET_REPLY_CAP = 1024, /* answers waiting for the main thread */
	/* Cluster quota asks and releases waiting for the main thread: an
	 * Allocate waits for at most TURN_PENDING_MAX per worker. */
	NET_QUOTA_CAP = 8192,
	/* A release reaches Redis at most this late: it wakes nobody but
	 * rides with the next ask or this flush (docs/cluster.md). */
	NET_QUOTA_RELEASE_DELAY_MS = 100,
};

enum net_cmd_kind {
	NET_CMD_CLOSE_USER,  /* end user's allocations (revoked) */
	NET_CMD_CLOSE_ALLOC, /* end one allocation; answers q */
	NET_CMD_LIST,        /* copy allocations into q */
	NET_CMD_QUOTA,       /* the cluster's answer for cookie */
	NET_CMD_SYNC,        /* answer q: what was posted before is applied */
	NET_CMD_ADOPT,       /* another worker hands over an RFC 6062 data connection */
};

struct net_detached;

struct net_cmd {
	enum net_cmd_kind kind;
	struct net_query *q;           /* where the answer goes (CLOSE_ALLOC, LIST), else NULL */
	uint64_t alloc_id;             /* CLOSE_ALLOC; QUOTA: the cookie */
	int verdict;                   /* QUOTA: enum turn_cluster_verdict */
	struct net_detached *detached; /* ADOPT: the stream, owned by the command */
	size_t user_len;
	char user[TURN_USER_INFO_MAX];
};

struct net_mailbox {
	pthread_mutex_t lock;
	int efd;             /* eventfd: readable while something waits */
	struct net_gen *gen; /* a new generation not yet taken, or NULL */
	struct net_cmd ring[NET_MAILBOX_CAP];
	unsigned head, n;
};

/* 0, or -errno (eventfd). */
int net_mailbox_init(struct net_mailbox *mb);
/* Drops a pending generation's reference. */
void net_mailbox_fini(struct net_mailbox *mb);
/* Queue cmd (copied). 0, or -EAGAIN when the ring is full. Any thread. */
int net_mailbox_post(struct net_mailbox *mb, const struct net_cmd *cmd);
/* Wake the receiver with nothing new (it checks its flags). */
void net_mailbox_wake(struct net_mailbox *mb);
/* Hand over a generation (its reference is taken over), replacing one not yet taken. */
void net_mailbox_post_gen(struct net_mailbox *mb, struct net_gen *gen);
/*
 * Receiver: clear the wakeup, take the pending generation (*gen, or NULL;
 * the caller owns the reference) and up to max commands into out. Returns
 * how many commands.
 */
size_t net_mailbox_take(struct net_mailbox *mb, struct net_gen **gen, struct net_cmd *out,
                        size_t max);

/* What a worker asks of the main thread about the cluster's quota. */
struct net_quota_msg {
	bool release; /* else an ask */
	unsigned worker;
	uint64_t cookie;
	uint16_t user_len;
	char user[TURN_USER_INFO_MAX + 1]; /* NUL-terminated */
};

/* The workers' answers to the main thread: queries done, and quota
 * messages, in two rings (a flood of one never crowds out the other). */
struct net_replies {
	pthread_mutex_t lock;
	int efd;
	struct net_query *ring[NET_REPLY_CAP];
	unsigned head, n;
	struct net_quota_msg *quota; /* NET_QUOTA_CAP */
	unsigned qhead, qn;
};

int net_replies_init(struct net_replies *r);
void net_replies_fini(struct net_replies *r);
/* A worker finished its part of q. Never fails: the ring holds a slot for
 * every query part in flight (queries are bounded by NET_REPLY_CAP / workers). */
void net_replies_post(struct net_replies *r, struct net_query *q);
/* Main thread: up to max answered parts. */
size_t net_replies_take(struct net_replies *r, struct net_query **out, size_t max);
/* A worker's quota message (copied). 0, or -ENOBUFS when the ring is full.
 * An ask wakes the main thread; a release does not (until a quarter of the
 * ring waits): the main thread's flush timer takes it within
 * NET_QUOTA_RELEASE_DELAY_MS, or the next ask before. */
int net_replies_post_quota(struct net_replies *r, const struct net_quota_msg *m);
/* Main thread: up to max quota messages. */
size_t net_replies_take_quota(struct net_replies *r, struct net_quota_msg *out, size_t max);

#endif
