/*
 * Revoked users: an immutable set, built whole by the control thread each
 * time the list changes and handed to every worker with its new settings
 * (struct turn_settings.revoked). Reference counted: the control thread
 * holds one reference, each worker one; the last unref frees it. Reads take
 * no lock; nothing in it changes after turn_revocations_new.
 */
#ifndef ICESTATION_TURN_REVOKE_H
#define ICESTATION_TURN_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct turn_revocation {
	const char *user; /* the REST user part (after the first colon) */
	size_t user_len;
	uint64_t revoked_at; /* unix seconds */
	/* Credentials of user whose REST expiry is at or below this are refused:
	 * those minted before the revocation (revoked_at + credential-ttl). */
	uint64_t refuse_upto;
	uint64_t until; /* the ICE API mints none for user before this; 0 = until lifted */
};

struct turn_revocations;

/*
 * A set holding copies of v[0..n) (names copied; the caller gives each name
 * once). Returns it with one reference, or NULL on ENOMEM.
 */
struct turn_revocations *turn_revocations_new(const struct turn_revocation *v, size_t n);

/* Take one more reference; returns r. Accepts NULL. Any thread. */
struct turn_revocations *turn_revocations_ref(struct turn_revocations *r);

/* Drop one reference, freeing r with the last. Accepts NULL. Any thread. */
void turn_revocations_unref(struct turn_revocations *r);

/* The entry for user[0..len), or NULL. r may be NULL (no revocations). */
const struct turn_revocation *turn_revocations_find(const struct turn_revocations *r,
                                                    const char *user, size_t len);

/* Entries held, and the i-th (sorted by name), for listings and the state file. */
size_t turn_revocations_count(const struct turn_revocations *r);
const struct turn_revocation *turn_revocations_at(const struct turn_revocations *r, size_t i);

#endif
