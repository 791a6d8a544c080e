/*
 * The USERHASH table (include/icestation/auth_userhash.h): a ring of fixed
 * entries, filled in minting order and overwritten oldest first, indexed by
 * chained hash buckets. Everything is allocated by ltc_userhash_new; adding
 * and looking up never allocate.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "icestation/auth.h"
#include "icestation/auth_userhash.h"
#include "icestation/siphash.h"

struct entry {
	uint8_t hash[LTC_USERHASH_LEN];
	uint64_t expiry;
	int32_t next; /* next in the bucket's chain, -1 at the end */
	uint16_t len; /* 0: the slot is free */
	char name[ICE_REST_USERNAME_MAX];
};

struct ltc_userhash {
	pthread_mutex_t lock;
	struct ice_siphash_key key;
	size_t cap, n, head; /* head: the slot the next entry takes */
	size_t mask;         /* buckets - 1 */
	int32_t *bucket;     /* first entry of each chain, -1 when empty */
	struct entry *e;
};

int
ltc_userhash_compute(const char *username, size_t username_len, const char *realm, size_t realm_len,
                     uint8_t out[LTC_USERHASH_LEN])
{
	SHA256_CTX c;
	int ok = 1;

	ok &= SHA256_Init(&c);
	ok &= SHA256_Update(&c, username, username_len);
	ok &= SHA256_Update(&c, ":", 1);
	ok &= SHA256_Update(&c, realm, realm_len);
	ok &= SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	return ok ? 0 : -EIO;
}

struct ltc_userhash *
ltc_userhash_new(size_t capacity)
{
	struct ltc_userhash *t;
	size_t nb = 16;

	if (capacity == 0 || capacity > INT32_MAX / 4)
		return NULL;
	while (nb < 2 * capacity)
		nb *= 2;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cap = capacity;
	t->mask = nb - 1;
	t->bucket = malloc(nb * sizeof(t->bucket[0]));
	t->e = calloc(capacity, sizeof(t->e[0]));
	if (t->bucket == NULL || t->e == NULL || ice_siphash_key_random(&t->key) < 0) {
		free(t->bucket);
		free(t->e);
		free(t);
		return NULL;
	}
	memset(t->bucket, 0xff, nb * sizeof(t->bucket[0])); /* every chain -1 */
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void
ltc_userhash_free(struct ltc_userhash *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->bucket);
	free(t->e);
	free(t);
}

static int32_t *
chain_of(struct ltc_userhash *t, const uint8_t hash[LTC_USERHASH_LEN])
{
	return &t->bucket[ice_siphash(&t->key, hash, LTC_USERHASH_LEN) & t->mask];
}

/* The slot holding hash, or -1. Lock held. */
static int32_t
lookup(struct ltc_userhash *t, const uint8_t hash[LTC_USERHASH_LEN])
{
	for (int32_t i = *chain_of(t, hash); i >= 0; i = t->e[i].next)
		if (memcmp(t->e[i].hash, hash, LTC_USERHASH_LEN) == 0)
			return i;
	return -1;
}

/* Take slot i out of its chain and free it. Lock held. */
static void
evict(struct ltc_userhash *t, int32_t i)
{
	int32_t *link = chain_of(t, t->e[i].hash);

	while (*link != i)
		link = &t->e[*link].next;
	*link = t->e[i].next;
	t->e[i].len = 0;
	t->n--;
}

int
ltc_userhash_add(struct ltc_userhash *t, const char *username, size_t username_len,
                 const char *realm, size_t realm_len, uint64_t expiry)
{
	uint8_t hash[LTC_USERHASH_LEN];
	struct entry *e;
	int32_t i, *chain;

	if (username_len == 0 || username_len >= ICE_REST_USERNAME_MAX)
		return -ENAMETOOLONG;
	if (ltc_userhash_compute(username, username_len, realm, realm_len, hash) < 0)
		return -EIO;
	pthread_mutex_lock(&t->lock);
	i = lookup(t, hash);
	if (i >= 0) {
		/* The username holds its expiry: the same one again changes nothing. */
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	i = (int32_t)t->head;
	t->head = (t->head + 1) % t->cap;
	if (t->e[i].len != 0)
		evict(t, i);
	e = &t->e[i];
	memcpy(e->hash, hash, LTC_USERHASH_LEN);
	memcpy(e->name, username, username_len);
	e->len = (uint16_t)username_len;
	e->expiry = expiry;
	chain = chain_of(t, hash);
	e->next = *chain;
	*chain = i;
	t->n++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int
ltc_userhash_find(struct ltc_userhash *t, const uint8_t hash[LTC_USERHASH_LEN], uint64_t unix_s,
                  char *out, size_t cap)
{
	int32_t i;
	int rc = -ENOENT;

	pthread_mutex_lock(&t->lock);
	i = lookup(t, hash);
	if (i >= 0 && t->e[i].expiry >= unix_s) {
		if (t->e[i].len > cap) {
			rc = -ENOBUFS;
		} else {
			memcpy(out, t->e[i].name, t->e[i].len);
			rc = t->e[i].len;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

size_t
ltc_userhash_count(struct ltc_userhash *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}
