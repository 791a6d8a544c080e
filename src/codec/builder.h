/*
 * Private to the codec: the builder primitive shared by stun_build.c and
 * stun_integrity.c.
 */
#ifndef ICESTATION_CODEC_BUILDER_H
#define ICESTATION_CODEC_BUILDER_H

#include "icestation/stun.h"

/*
 * Append an attribute header for a len-byte value, write its padding and
 * update the header length. Returns where the value goes (len bytes), or
 * NULL with b->err set (sticky).
 */
uint8_t *stun_build_reserve(struct stun_builder *b, uint16_t type, size_t len);

#endif
