/*
 * Private to src/cluster: the node record as stored in Redis (JSON, so
 * `redis-cli GET icestation:node:<id>` is readable), its codec, and the
 * rules for ids and user names that every Redis key built here relies on.
 * Pure: no Redis, no clock.
 */
#ifndef ICESTATION_CLUSTER_RECORD_H
#define ICESTATION_CLUSTER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "icestation/cluster.h"

enum {
	CL_RECORD_VERSION = 1,
};

/*
 * Encode n (its expires field is not encoded) as one JSON object into
 * buf[0..len), NUL-terminated. Returns the length without the NUL, -ENOSPC
 * when it does not fit, -ENOMEM.
 */
int cl_record_encode(const struct ice_cluster_node *n, char *buf, size_t len);

/*
 * Decode buf[0..len) (need not be NUL-terminated) into *n; expires is set to
 * 0. Returns 0, or -EBADMSG for anything that is not a version-1 record with
 * every field well-formed and in range (unknown fields are ignored, so a
 * newer node may add some).
 */
int cl_record_decode(struct ice_cluster_node *n, const char *buf, size_t len);

/* True when s[0..len) is a node id: 1-63 of letters, digits, '.', '_', '-'. */
bool cl_id_is_valid(const char *s, size_t len);

/*
 * True when s is a user the cluster accepts: 1..ICE_CLUSTER_USER_MAX bytes,
 * no control byte, no space (a revocation message ends with the user).
 */
bool cl_user_is_valid(const char *s);

/*
 * Parse a revocation as stored ("<revoked_at> <until>", user NULL) or as
 * published ("<revoked_at> <until> <user>"): decimal unix seconds, one
 * space each, a valid user last. s[0..len) need not be NUL-terminated;
 * *user points into s (its length is what is left of len). Returns 0 or
 * -EBADMSG.
 */
int cl_revocation_parse(const char *s, size_t len, uint64_t *at, uint64_t *until,
                        const char **user);

#endif
