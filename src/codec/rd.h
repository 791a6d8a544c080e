/*
 * Private byte cursor for the codec (STYLE §5). Every read checks `left`
 * before touching memory and fails with -EBADMSG; nothing computes an end
 * pointer. Writers are the plain big-endian stores of icestation/byteorder.h into
 * space the caller has already bounds-checked.
 */
#ifndef ICESTATION_CODEC_RD_H
#define ICESTATION_CODEC_RD_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "icestation/byteorder.h"

struct rd {
	const uint8_t *p;
	size_t left;
};

static inline void
rd_init(struct rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->left = len;
}

static inline int
rd_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return -EBADMSG;
	*v = r->p[0];
	r->p += 1;
	r->left -= 1;
	return 0;
}

static inline int
rd_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return -EBADMSG;
	*v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

static inline int
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -EBADMSG;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

/* A view of the next len bytes; the cursor moves past them. */
static inline int
rd_bytes(struct rd *r, const uint8_t **p, size_t len)
{
	if (len > r->left)
		return -EBADMSG;
	*p = r->p;
	r->p += len;
	r->left -= len;
	return 0;
}

static inline int
rd_skip(struct rd *r, size_t len)
{
	if (len > r->left)
		return -EBADMSG;
	r->p += len;
	r->left -= len;
	return 0;
}

/* A bounded sub-reader over the next len bytes (one attribute value). */
static inline int
rd_sub(struct rd *r, struct rd *sub, size_t len)
{
	if (len > r->left)
		return -EBADMSG;
	sub->p = r->p;
	sub->left = len;
	r->p += len;
	r->left -= len;
	return 0;
}

/* Attribute values are padded to a multiple of 4 on the wire. */
static inline size_t
stun_pad4(size_t len)
{
	return (len + 3) & ~(size_t)3;
}

#endif
