/*
 * Minimal STUN/TURN client codec for the load generator (see lg_stun.h).
 */
#include "lg_stun.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static uint32_t crc_table[256];

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t
lg_crc32(const uint8_t *buf, size_t len)
{
	if (crc_table[1] == 0)
		crc_init();
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Keep the header's length field equal to the body written so far. */
static void
set_len(struct lg_wr *w)
{
	put16(w->buf + 2, (uint16_t)(w->len - LG_STUN_HDR));
}

void
lg_msg_init(struct lg_wr *w, uint8_t *buf, size_t cap, uint16_t type, const uint8_t tid[12])
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = cap < LG_STUN_HDR;
	if (w->overflow)
		return;
	put16(buf, type);
	put16(buf + 2, 0);
	put32(buf + 4, LG_MAGIC);
	memcpy(buf + 8, tid, 12);
	w->len = LG_STUN_HDR;
}

void
lg_attr(struct lg_wr *w, uint16_t type, const void *val, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;
	if (w->overflow || len > 0xFFFF || padded + 4 > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	uint8_t *p = w->buf + w->len;
	put16(p, type);
	put16(p + 2, (uint16_t)len);
	if (len)
		memcpy(p + 4, val, len);
	memset(p + 4 + len, 0, padded - len);
	w->len += 4 + padded;
	set_len(w);
}

void
lg_attr_u32(struct lg_wr *w, uint16_t type, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	lg_attr(w, type, b, 4);
}

void
lg_attr_xor4(struct lg_wr *w, uint16_t type, const struct sockaddr_in *sin)
{
	uint8_t b[8];
	b[0] = 0;
	b[1] = 0x01;
	put16(b + 2, (uint16_t)(ntohs(sin->sin_port) ^ (LG_MAGIC >> 16)));
	put32(b + 4, ntohl(sin->sin_addr.s_addr) ^ LG_MAGIC);
	lg_attr(w, type, b, 8);
}

void
lg_auth(struct lg_wr *w, const char *user, const char *realm, const char *nonce,
        const uint8_t key[16])
{
	lg_attr(w, LG_A_USERNAME, user, strlen(user));
	lg_attr(w, LG_A_REALM, realm, strlen(realm));
	lg_attr(w, LG_A_NONCE, nonce, strlen(nonce));
	if (w->overflow || w->cap - w->len < 24) {
		w->overflow = true;
		return;
	}
	/* RFC 8489 §14.5: the length field covers MESSAGE-INTEGRITY itself. */
	put16(w->buf + 2, (uint16_t)(w->len - LG_STUN_HDR + 24));
	unsigned int mlen = 20;
	uint8_t mac[20];
	HMAC(EVP_sha1(), key, 16, w->buf, w->len, mac, &mlen);
	lg_attr(w, LG_A_MI, mac, 20);
}

void
lg_fingerprint(struct lg_wr *w)
{
	if (w->overflow || w->cap - w->len < 8) {
		w->overflow = true;
		return;
	}
	put16(w->buf + 2, (uint16_t)(w->len - LG_STUN_HDR + 8));
	uint32_t crc = lg_crc32(w->buf, w->len) ^ 0x5354554eu;
	lg_attr_u32(w, LG_A_FINGERPRINT, crc);
}

size_t
lg_msg_len(const struct lg_wr *w)
{
	return w->overflow ? 0 : w->len;
}

static void
read_xor4(const uint8_t *v, size_t len, struct sockaddr_in *out, bool *ok)
{
	if (len != 8 || v[1] != 0x01)
		return;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)(get16(v + 2) ^ (LG_MAGIC >> 16)));
	out->sin_addr.s_addr = htonl(get32(v + 4) ^ LG_MAGIC);
	*ok = true;
}

int
lg_parse(struct lg_resp *r, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	if (len < LG_STUN_HDR || (buf[0] & 0xC0) || get32(buf + 4) != LG_MAGIC)
		return -1;
	size_t body = get16(buf + 2);
	if ((body & 3) || body > len - LG_STUN_HDR)
		return -1;
	r->type = get16(buf);
	memcpy(r->tid, buf + 8, 12);
	r->buf = buf;
	r->len = LG_STUN_HDR + body;
	size_t off = LG_STUN_HDR;
	while (body - (off - LG_STUN_HDR) >= 4) {
		uint16_t t = get16(buf + off);
		size_t alen = get16(buf + off + 2);
		size_t padded = (alen + 3) & ~(size_t)3;
		size_t left = body - (off - LG_STUN_HDR) - 4;
		if (padded > left)
			return -1;
		const uint8_t *v = buf + off + 4;
		switch (t) {
		case LG_A_ERROR:
			if (alen >= 4)
				r->error = (v[2] & 7) * 100 + v[3];
			break;
		case LG_A_NONCE:
			r->nonce = v;
			r->nonce_len = alen;
			break;
		case LG_A_REALM:
			r->realm = v;
			r->realm_len = alen;
			break;
		case LG_A_XOR_RELAYED:
			read_xor4(v, alen, &r->relayed, &r->has_relayed);
			break;
		case LG_A_XOR_MAPPED:
			r->has_mapped = true;
			break;
		case LG_A_DATA:
			r->data = v;
			r->data_len = alen;
			break;
		case LG_A_MI:
			if (alen == 20 && r->mi_off == 0)
				r->mi_off = off;
			break;
		case LG_A_FINGERPRINT: {
			if (alen != 4)
				return -1;
			uint32_t want = lg_crc32(buf, off) ^ 0x5354554eu;
			if (get32(v) != want)
				return -1;
			break;
		}
		default:
			break;
		}
		off += 4 + padded;
	}
	return off == r->len ? 0 : -1;
}

int
lg_check_mi(const struct lg_resp *r, const uint8_t key[16])
{
	uint8_t tmp[2048];
	if (r->mi_off == 0 || r->mi_off > sizeof(tmp))
		return -1;
	/* HMAC over the header (length patched to end after MESSAGE-INTEGRITY) and the body before
	 * it. */
	memcpy(tmp, r->buf, r->mi_off);
	put16(tmp + 2, (uint16_t)(r->mi_off - LG_STUN_HDR + 24));
	uint8_t mac[20];
	unsigned int mlen = sizeof(mac);
	if (!HMAC(EVP_sha1(), key, 16, tmp, r->mi_off, mac, &mlen))
		return -1;
	return memcmp(mac, r->buf + r->mi_off + 4, 20) == 0 ? 0 : -1;
}

int
lg_rest_cred(const char *secret, long long expiry, const char *user, char *username, size_t ucap,
             char *pass, size_t pcap)
{
	int n = snprintf(username, ucap, "%lld:%s", expiry, user);
	if (n < 0 || (size_t)n >= ucap || pcap < 29)
		return -1;
	uint8_t mac[20];
	unsigned int mlen = sizeof(mac);
	if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)username, (size_t)n,
	          mac, &mlen))
		return -1;
	EVP_EncodeBlock((unsigned char *)pass, mac, 20);
	return 0;
}

void
lg_lt_key(const char *username, const char *realm, const char *pass, uint8_t key[16])
{
	char tmp[1024];
	int n = snprintf(tmp, sizeof(tmp), "%s:%s:%s", username, realm, pass);
	unsigned int klen = 16;
	EVP_Digest(tmp, (size_t)n, key, &klen, EVP_md5(), NULL);
}
