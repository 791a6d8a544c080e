/*
 * Sealed tickets: a few bytes of server state handed to a client and taken
 * back later, encrypted and authenticated (AES-128-GCM) so the client can
 * neither read nor forge them. TURN mobility (RFC 8016) carries an
 * allocation's identity in one.
 *
 * Keys rotate without state: the key of epoch e (unix time / ICE_TICKET_EPOCH_S)
 * is HMAC-SHA256(master, "icestation ticket v1" || e) cut to 16 bytes, and a
 * ticket opens under its own epoch's key while that epoch is the current or
 * the previous one. So a ticket stays valid between one and two epochs after
 * it was sealed, and a key never outlives two epochs. Time comes in as a
 * parameter. Each call makes and frees one OpenSSL cipher context: tickets
 * are sealed and opened per request (Allocate, Refresh), never per packet.
 *
 * Format: version (1) | epoch (4) | IV (12) | ciphertext | tag (16); the
 * version and epoch are authenticated as associated data.
 */
#ifndef ICESTATION_AUTH_TICKET_H
#define ICESTATION_AUTH_TICKET_H

#include <stddef.h>
#include <stdint.h>

enum {
	ICE_TICKET_EPOCH_S = 3600, /* >= the longest allocation lifetime */
	ICE_TICKET_OVERHEAD = 1 + 4 + 12 + 16,
	ICE_TICKET_PLAIN_MAX = 128,
};

struct ice_ticket_keys {
	uint8_t master[32];
};

/* A fresh random master key. 0 or -errno (getrandom failed). */
int ice_ticket_keys_init(struct ice_ticket_keys *k);

/*
 * Seal plain[0..len) (len <= ICE_TICKET_PLAIN_MAX) at unix time now into out
 * (cap >= len + ICE_TICKET_OVERHEAD). Returns the ticket's length, or
 * -EINVAL (sizes), -EIO (OpenSSL or getrandom failed).
 */
int ice_ticket_seal(const struct ice_ticket_keys *k, uint64_t now, const uint8_t *plain, size_t len,
                    uint8_t *out, size_t cap);

/*
 * Open ticket[0..len) at unix time now into plain (cap bytes). Returns the
 * plaintext's length; -EBADMSG when the ticket is not one of ours (wrong
 * size or version, forged, altered, from a future epoch); -ESTALE when it
 * was sealed more than one epoch ago (its key is gone).
 */
int ice_ticket_open(const struct ice_ticket_keys *k, uint64_t now, const uint8_t *ticket,
                    size_t len, uint8_t *plain, size_t cap);

#endif
