/*
 * CRC-32 (ISO-HDLC: reflected, polynomial 0xEDB88320, init and final XOR
 * 0xFFFFFFFF) for STUN FINGERPRINT, slicing-by-8: eight 256-entry tables let
 * the loop consume 8 bytes per step instead of 1. The tables are built once
 * by a constructor, before main and before any worker thread exists, so the
 * packet path never branches on "initialised yet".
 */
#include <stdint.h>
#include <string.h>

#include "icestation/stun.h"

static uint32_t crc_tab[8][256];

__attribute__((constructor)) static void
crc32_tables_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] =
				(crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xFF];
}

uint32_t
stun_crc32(const uint8_t *buf, size_t len)
{
	uint32_t c = 0xFFFFFFFFu;

	while (len >= 8) {
		/* Byte loads keep this endian- and alignment-neutral. */
		uint32_t lo = c ^ ((uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
		                   (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24);
		c = crc_tab[7][lo & 0xFF] ^ crc_tab[6][(lo >> 8) & 0xFF] ^
		    crc_tab[5][(lo >> 16) & 0xFF] ^ crc_tab[4][lo >> 24] ^ crc_tab[3][buf[4]] ^
		    crc_tab[2][buf[5]] ^ crc_tab[1][buf[6]] ^ crc_tab[0][buf[7]];
		buf += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_tab[0][(c ^ *buf++) & 0xFF];
	return c ^ 0xFFFFFFFFu;
}
