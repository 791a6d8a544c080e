/*
 * The mailboxes (mailbox.h): a mutex-guarded ring and an eventfd per
 * direction. The lock is held for a copy, never across a callback, and only
 * the control path uses it: packets never touch a mailbox.
 */
#include "mailbox.h"

#include <sys/eventfd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

static void
wake(int efd)
{
	const uint64_t one = 1;

	/* EAGAIN means the counter is saturated: the reader is awake anyway. */
	(void)!write(efd, &one, sizeof(one));
}

static void
unwake(int efd)
{
	uint64_t v;

	(void)!read(efd, &v, sizeof(v));
}

int
net_mailbox_init(struct net_mailbox *mb)
{
	memset(mb, 0, sizeof(*mb));
	mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb->efd < 0)
		return -errno;
	pthread_mutex_init(&mb->lock, NULL);
	return 0;
}

void
net_mailbox_fini(struct net_mailbox *mb)
{
	if (mb->efd < 0)
		return;
	net_gen_unref(mb->gen);
	mb->gen = NULL;
	close(mb->efd);
	mb->efd = -1;
	pthread_mutex_destroy(&mb->lock);
}

int
net_mailbox_post(struct net_mailbox *mb, const struct net_cmd *cmd)
{
	int r = 0;

	pthread_mutex_lock(&mb->lock);
	if (mb->n == NET_MAILBOX_CAP)
		r = -EAGAIN;
	else
		mb->ring[(mb->head + mb->n++) % NET_MAILBOX_CAP] = *cmd;
	pthread_mutex_unlock(&mb->lock);
	if (r == 0)
		wake(mb->efd);
	return r;
}

void
net_mailbox_wake(struct net_mailbox *mb)
{
	wake(mb->efd);
}

void
net_mailbox_post_gen(struct net_mailbox *mb, struct net_gen *gen)
{
	struct net_gen *old;

	pthread_mutex_lock(&mb->lock);
	old = mb->gen;
	mb->gen = gen;
	pthread_mutex_unlock(&mb->lock);
	net_gen_unref(old);
	wake(mb->efd);
}

size_t
net_mailbox_take(struct net_mailbox *mb, struct net_gen **gen, struct net_cmd *out, size_t max)
{
	size_t n = 0;

	unwake(mb->efd);
	pthread_mutex_lock(&mb->lock);
	*gen = mb->gen;
	mb->gen = NULL;
	while (n < max && mb->n > 0) {
		out[n++] = mb->ring[mb->head];
		mb->head = (mb->head + 1) % NET_MAILBOX_CAP;
		mb->n--;
	}
	/* Left over (more than max): stay awake for the next pass. */
	if (mb->n > 0)
		wake(mb->efd);
	pthread_mutex_unlock(&mb->lock);
	return n;
}

int
net_replies_init(struct net_replies *r)
{
	memset(r, 0, sizeof(*r));
	r->quota = calloc(NET_QUOTA_CAP, sizeof(r->quota[0]));
	if (r->quota == NULL)
		return -ENOMEM;
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		free(r->quota);
		r->quota = NULL;
		return -errno;
	}
	pthread_mutex_init(&r->lock, NULL);
	return 0;
}

void
net_replies_fini(struct net_replies *r)
{
	if (r->efd < 0)
		return;
	free(r->quota);
	r->quota = NULL;
	close(r->efd);
	r->efd = -1;
	pthread_mutex_destroy(&r->lock);
}

int
net_replies_post_quota(struct net_replies *r, const struct net_quota_msg *m)
{
	bool wake_now;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->qn == NET_QUOTA_CAP)
		rc = -ENOBUFS;
	else
		r->quota[(r->qhead + r->qn++) % NET_QUOTA_CAP] = *m;
	/* A release waits for the next ask or the flush timer, unless the
	 * ring fills: under churn every release would otherwise cost the main
	 * thread a wake-up of its own, and a Redis round trip of its own. */
	wake_now = rc == 0 && (!m->release || r->qn >= NET_QUOTA_CAP / 4);
	pthread_mutex_unlock(&r->lock);
	if (wake_now)
		wake(r->efd);
	return rc;
}

size_t
net_replies_take_quota(struct net_replies *r, struct net_quota_msg *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	while (n < max && r->qn > 0) {
		out[n++] = r->quota[r->qhead];
		r->qhead = (r->qhead + 1) % NET_QUOTA_CAP;
		r->qn--;
	}
	if (r->qn > 0)
		wake(r->efd);
	pthread_mutex_unlock(&r->lock);
	return n;
}

void
net_replies_post(struct net_replies *r, struct net_query *q)
{
	pthread_mutex_lock(&r->lock);
	/* Room is reserved when the query is posted (net.c), so this holds. */
	if (r->n < NET_REPLY_CAP)
		r->ring[(r->head + r->n++) % NET_REPLY_CAP] = q;
	pthread_mutex_unlock(&r->lock);
	wake(r->efd);
}

size_t
net_replies_take(struct net_replies *r, struct net_query **out, size_t max)
{
	size_t n = 0;

	/* Cleared once here: net_replies_take_quota runs right after it. */
	unwake(r->efd);
	pthread_mutex_lock(&r->lock);
	while (n < max && r->n > 0) {
		out[n++] = r->ring[r->head];
		r->head = (r->head + 1) % NET_REPLY_CAP;
		r->n--;
	}
	if (r->n > 0)
		wake(r->efd);
	pthread_mutex_unlock(&r->lock);
	return n;
}
