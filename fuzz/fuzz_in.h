/*
 * A fuzz input read as a program: bytes taken from the front, zeros once
 * it runs out, so every input is a complete program (fuzz_turn,
 * fuzz_tcp_handover).
 */
#ifndef ICESTATION_FUZZ_IN_H
#define ICESTATION_FUZZ_IN_H

#include <stddef.h>
#include <stdint.h>

struct in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t
in_u8(struct in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t
in_u16(struct in *in)
{
	uint16_t hi = in_u8(in);

	return (uint16_t)(hi << 8 | in_u8(in));
}

/* Up to want bytes (fewer at the end of the input), borrowed from it. */
static inline const uint8_t *
in_bytes(struct in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;

	*got = want < in->left ? want : in->left;
	in->p += *got;
	in->left -= *got;
	return p;
}

#endif
