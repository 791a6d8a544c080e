/*
 * libFuzzer target for sealed tickets (include/icestation/auth_ticket.h),
 * which carry a mobile allocation's identity (RFC 8016) through the
 * client: ice_ticket_open reads bytes any client can choose. Input: 5
 * bytes of unix time, 2 naming a bit, then the rest.
 * Properties:
 *   - the rest, opened as a ticket, never opens (no forgery) and answers
 *     only -EBADMSG or -ESTALE;
 *   - the rest (up to ICE_TICKET_PLAIN_MAX), sealed, opens to itself in its
 *     epoch and the next, is -ESTALE two epochs on and -EBADMSG an epoch
 *     before; with the named bit flipped or its last byte cut, -EBADMSG.
 * The master key is the kernel's (libc getrandom), drawn once: no input
 * can know it, so a forgery found would be a real one.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "icestation/auth_ticket.h"

#include "fuzz_prop.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	HDR = 7, /* 5 bytes of time, 2 of bit index */
	TICKET_MAX = ICE_TICKET_PLAIN_MAX + ICE_TICKET_OVERHEAD,
};

static struct ice_ticket_keys keys;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	PROP(ice_ticket_keys_init(&keys) == 0);
	return 0;
}

/* Open t at now; the plaintext's length, or the error. */
static int
open_at(uint64_t now, const uint8_t *t, size_t len, uint8_t *plain)
{
	return ice_ticket_open(&keys, now, t, len, plain, ICE_TICKET_PLAIN_MAX);
}

static void
round_trip(uint64_t now, unsigned bit, const uint8_t *plain, size_t len)
{
	uint8_t t[TICKET_MAX], back[ICE_TICKET_PLAIN_MAX];
	int n;

	n = ice_ticket_seal(&keys, now, plain, len, t, sizeof(t));
	PROP(n == (int)(len + ICE_TICKET_OVERHEAD));
	for (uint64_t later = 0; later <= ICE_TICKET_EPOCH_S; later += ICE_TICKET_EPOCH_S) {
		PROP(open_at(now + later, t, (size_t)n, back) == (int)len);
		PROP(memcmp(back, plain, len) == 0);
	}
	PROP(open_at(now + 2 * ICE_TICKET_EPOCH_S, t, (size_t)n, back) == -ESTALE);
	if (now >= ICE_TICKET_EPOCH_S)
		PROP(open_at(now - ICE_TICKET_EPOCH_S, t, (size_t)n, back) == -EBADMSG);
	PROP(open_at(now, t, (size_t)n - 1, back) == -EBADMSG);
	bit %= 8 * (unsigned)n;
	t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	n = open_at(now, t, (size_t)n, back);
	/* A flipped epoch bit can make the ticket two epochs old. */
	PROP(n == -EBADMSG || n == -ESTALE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t plain[ICE_TICKET_PLAIN_MAX];
	uint64_t now = 0;
	unsigned bit;
	int rc;

	if (size < HDR)
		return 0;
	/* 2^40 s: epochs stay inside the format's 32 bits. */
	for (int i = 0; i < 5; i++)
		now = now << 8 | data[i];
	bit = (unsigned)(data[5] << 8 | data[6]);
	data += HDR;
	size -= HDR;
	rc = open_at(now, data, size, plain);
	PROP(rc == -EBADMSG || rc == -ESTALE);
	round_trip(now, bit, data, size < ICE_TICKET_PLAIN_MAX ? size : ICE_TICKET_PLAIN_MAX);
	return 0;
}
