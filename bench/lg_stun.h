/*
 * The load generator's own minimal STUN/TURN client codec. It is deliberately
 * independent of src/codec: the benchmark must stay correct against coturn and
 * must not share a bug with the server it measures. Only what a TURN client
 * needs: build requests with MESSAGE-INTEGRITY + FINGERPRINT, read the few
 * attributes a client looks at, REST credentials and the long-term key.
 */
#ifndef LG_STUN_H
#define LG_STUN_H

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	LG_STUN_HDR = 20,
	LG_MAGIC = 0x2112A442,
	LG_BINDING_REQ = 0x0001,
	LG_BINDING_OK = 0x0101,
	LG_ALLOCATE = 0x0003,
	LG_REFRESH = 0x0004,
	LG_SEND_IND = 0x0016,
	LG_DATA_IND = 0x0017,
	LG_CREATE_PERM = 0x0008,
	LG_CHANNEL_BIND = 0x0009,
	LG_CLASS_OK = 0x0100,
	LG_CLASS_ERR = 0x0110,
	LG_A_USERNAME = 0x0006,
	LG_A_MI = 0x0008,
	LG_A_ERROR = 0x0009,
	LG_A_CHANNEL = 0x000C,
	LG_A_LIFETIME = 0x000D,
	LG_A_XOR_PEER = 0x0012,
	LG_A_DATA = 0x0013,
	LG_A_REALM = 0x0014,
	LG_A_NONCE = 0x0015,
	LG_A_XOR_RELAYED = 0x0016,
	LG_A_REQ_TRANSPORT = 0x0019,
	LG_A_XOR_MAPPED = 0x0020,
	LG_A_FINGERPRINT = 0x8028,
	LG_MAX_NONCE = 128,
	LG_MAX_REALM = 128,
};

/* Writer over a caller buffer; errors are sticky (len set to 0 on overflow). */
struct lg_wr {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

/* Start a message of the given full type (method|class) and transaction id. */
void lg_msg_init(struct lg_wr *w, uint8_t *buf, size_t cap, uint16_t type, const uint8_t tid[12]);
/* Append an attribute (value copied, padded to 4). */
void lg_attr(struct lg_wr *w, uint16_t type, const void *val, size_t len);
void lg_attr_u32(struct lg_wr *w, uint16_t type, uint32_t v);
/* XOR-*-ADDRESS for an IPv4 address. */
void lg_attr_xor4(struct lg_wr *w, uint16_t type, const struct sockaddr_in *sin);
/* USERNAME, REALM, NONCE, MESSAGE-INTEGRITY (HMAC-SHA1 with key[16]), FINGERPRINT. */
void lg_auth(struct lg_wr *w, const char *user, const char *realm, const char *nonce,
             const uint8_t key[16]);
void lg_fingerprint(struct lg_wr *w);
/* Bytes written, or 0 after an overflow. */
size_t lg_msg_len(const struct lg_wr *w);

/* What a client reads from a response or indication; views into the buffer. */
struct lg_resp {
	uint16_t type;
	uint8_t tid[12];
	int error; /* ERROR-CODE, 0 if none */
	const uint8_t *nonce;
	size_t nonce_len;
	const uint8_t *realm;
	size_t realm_len;
	bool has_relayed;
	struct sockaddr_in relayed; /* XOR-RELAYED-ADDRESS (IPv4) */
	bool has_mapped;
	const uint8_t *data; /* DATA attribute (Data indication) */
	size_t data_len;
	size_t mi_off; /* offset of MESSAGE-INTEGRITY, 0 if absent */
	const uint8_t *buf;
	size_t len;
};

/*
 * Parse a STUN message: header, bounded attribute walk, FINGERPRINT checked
 * when present. Returns 0, or -1 when the bytes are not a well-formed STUN
 * message.
 */
int lg_parse(struct lg_resp *r, const uint8_t *buf, size_t len);

/* Check MESSAGE-INTEGRITY against key[16]: 0 on match, -1 if absent or wrong. */
int lg_check_mi(const struct lg_resp *r, const uint8_t key[16]);

/*
 * REST credential (coturn use-auth-secret): writes "<expiry>:<user>" into
 * username (cap ucap) and base64(HMAC-SHA1(secret, username)) into pass
 * (cap >= 29). Returns 0 or -1.
 */
int lg_rest_cred(const char *secret, long long expiry, const char *user, char *username,
                 size_t ucap, char *pass, size_t pcap);

/* Long-term key MD5(username ":" realm ":" password). */
void lg_lt_key(const char *username, const char *realm, const char *pass, uint8_t key[16]);

/* CRC-32 as FINGERPRINT uses it (before the XOR). */
uint32_t lg_crc32(const uint8_t *buf, size_t len);

#endif
