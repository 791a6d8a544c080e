/*
 * Network byte order loads and stores on byte pointers: byte access keeps
 * them free of alignment and host-endianness assumptions, and compilers
 * fold them into one load/store plus a byte swap. They do no bounds
 * checking: the caller has checked the space (a struct rd cursor in the
 * codec, or a fixed header it built).
 */
#ifndef ICESTATION_BYTEORDER_H
#define ICESTATION_BYTEORDER_H

#include <stdint.h>

/* The big-endian 16-bit value at p[0..1]. */
static inline uint16_t
ice_ld_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* The big-endian 32-bit value at p[0..3]. */
static inline uint32_t
ice_ld_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Store v big-endian at p[0..1]. */
static inline void
ice_st_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Store v big-endian at p[0..3]. */
static inline void
ice_st_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The big-endian 64-bit value at p[0..7]. */
static inline uint64_t
ice_ld_be64(const uint8_t *p)
{
	return (uint64_t)ice_ld_be32(p) << 32 | ice_ld_be32(p + 4);
}

/* Store v big-endian at p[0..7]. */
static inline void
ice_st_be64(uint8_t *p, uint64_t v)
{
	ice_st_be32(p, (uint32_t)(v >> 32));
	ice_st_be32(p + 4, (uint32_t)v);
}

#endif
