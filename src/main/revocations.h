/*
 * The revocation list the main thread keeps (the admin API's revoke and
 * unrevoke): one entry per user, with the time it was revoked, the bound on
 * credential expiry it refuses (credentials minted before the revocation)
 * and how long the ICE API refuses to mint for the user. Saved atomically
 * to <state-directory>/revocations.json on every change so it survives a
 * restart, and turned into an immutable set (turn_revoke.h) for the workers.
 */
#ifndef ICESTATION_MAIN_REVOCATIONS_H
#define ICESTATION_MAIN_REVOCATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/turn_revoke.h"

struct revlist {
	struct turn_revocation *v; /* names owned */
	size_t n, cap;
};

/*
 * Load dir/revocations.json into l (empty when dir is NULL or the file does
 * not exist). Entries past their keep time are dropped. Returns 0, or -errno
 * / -EBADMSG (the file is unreadable or not ours: l stays empty and the
 * caller logs; the file is left alone for the operator).
 */
int revlist_load(struct revlist *l, const char *dir, uint64_t now);

/* Write l to dir/revocations.json atomically (temp file, fsync, rename). 0 or -errno. */
int revlist_save(const struct revlist *l, const char *dir);

/*
 * Revoke user[0..len) at now: credentials expiring at or before now + ttl_s
 * are refused; the ICE API refuses the user until `until` (0: until
 * unrevoked). Replaces an earlier entry of the user. 0 or -ENOMEM.
 */
int revlist_add(struct revlist *l, const char *user, size_t len, uint64_t now, uint32_t ttl_s,
                uint64_t until);

/* Lift user's revocation. 0, or -ENOENT when there was none. */
int revlist_remove(struct revlist *l, const char *user, size_t len);

/* Drop entries that no longer refuse anything at now. Returns how many went. */
size_t revlist_prune(struct revlist *l, uint64_t now);

/* Whether the ICE API must refuse to mint for user at now. */
bool revlist_api_refused(const struct revlist *l, const char *user, size_t len, uint64_t now);

/* The workers' immutable copy (one reference), or NULL on ENOMEM. */
struct turn_revocations *revlist_snapshot(const struct revlist *l);

void revlist_free(struct revlist *l);

#endif
