/*
 * STUN (RFC 8489, RFC 5389 compatible) and TURN (RFC 8656) message codec, and
 * ChannelData framing. Pure functions over byte buffers: no sockets, no clock,
 * no malloc. A parsed message is a set of views into the caller's buffer.
 */
#ifndef ICESTATION_STUN_H
#define ICESTATION_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/common.h"
#include "icestation/hmac.h"

enum {
	STUN_HEADER_LEN = 20,
	STUN_MAGIC_COOKIE = 0x2112A442,
	STUN_TID_LEN = 12,
	STUN_MAX_ATTRS = 40,  /* attributes kept per message; more = -EBADMSG */
	STUN_MAX_UNKNOWN = 8, /* unknown comprehension-required types reported */
	STUN_HMAC_SHA1_LEN = 20,
	STUN_HMAC_SHA256_LEN = 32,
	STUN_FINGERPRINT_XOR = 0x5354554e,
	STUN_MAX_USERNAME_LEN = 513,
	STUN_MAX_REALM_LEN = 763,
	STUN_MAX_NONCE_LEN = 763,
	STUN_MAX_REASON_LEN = 763,
	STUN_MAX_MSG_LEN = 65535,      /* header + body; larger messages are -EBADMSG */
	STUN_MIN_HMAC_SHA256_LEN = 16, /* shortest truncated MESSAGE-INTEGRITY-SHA256 */
	CHANNELDATA_HEADER_LEN = 4,
	/* RFC 5766's 0x4000-0x7FFF, not RFC 8656's 0x4000-0x4FFF: RFC 5766
	 * clients (coturn's turnutils_uclient) still pick from the whole old
	 * range. See docs/codec.md for why RFC 7983 demultiplexing allows it. */
	CHANNEL_MIN = 0x4000,
	CHANNEL_MAX = 0x7FFF,
};

enum stun_class {
	STUN_CLASS_REQUEST = 0,
	STUN_CLASS_INDICATION = 1,
	STUN_CLASS_SUCCESS = 2,
	STUN_CLASS_ERROR = 3,
};

enum stun_method {
	STUN_METHOD_BINDING = 0x001,
	STUN_METHOD_ALLOCATE = 0x003,
	STUN_METHOD_REFRESH = 0x004,
	STUN_METHOD_SEND = 0x006,
	STUN_METHOD_DATA = 0x007,
	STUN_METHOD_CREATE_PERMISSION = 0x008,
	STUN_METHOD_CHANNEL_BIND = 0x009,
	/* RFC 6062 TCP relays */
	STUN_METHOD_CONNECT = 0x00A,
	STUN_METHOD_CONNECTION_BIND = 0x00B,
	STUN_METHOD_CONNECTION_ATTEMPT = 0x00C,
};

enum stun_attr_type {
	/* comprehension-required (0x0000-0x7FFF) */
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_ATTR_CHANNEL_NUMBER = 0x000C,
	STUN_ATTR_LIFETIME = 0x000D,
	STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	STUN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
	STUN_ATTR_EVEN_PORT = 0x0018,
	STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	STUN_ATTR_DONT_FRAGMENT = 0x001A,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
	STUN_ATTR_USERHASH = 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_ATTR_RESERVATION_TOKEN = 0x0022,
	STUN_ATTR_CONNECTION_ID = 0x002A, /* RFC 6062 */
	/* comprehension-optional (0x8000-0xFFFF) */
	STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
	STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
	STUN_ATTR_ICMP = 0x8004,
	STUN_ATTR_MOBILITY_TICKET = 0x8030, /* RFC 8016 */
	/* ADDITIONAL-ADDRESS-FAMILY as drafts of RFC 8656 numbered it, which
	 * coturn's clients still send (turnutils_uclient -Z). */
	STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT = 0x8032,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_ALTERNATE_SERVER = 0x8023,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_ICE_CONTROLLED = 0x8029,
	STUN_ATTR_ICE_CONTROLLING = 0x802A,
	STUN_ATTR_PRIORITY = 0x0024,
	STUN_ATTR_USE_CANDIDATE = 0x0025,
};

enum stun_password_algorithm {
	STUN_PASSWORD_ALG_MD5 = 0x0001,
	STUN_PASSWORD_ALG_SHA256 = 0x0002,
};

/* One attribute: a view into the message buffer. */
struct stun_attr {
	uint16_t type;
	uint16_t len;    /* value length, without padding */
	uint16_t offset; /* offset of the attribute header from the message start */
	const uint8_t *value;
};

/*
 * A parsed message. All pointers borrow the buffer given to stun_parse.
 * Attributes that follow MESSAGE-INTEGRITY(-SHA256) other than the ones RFC 8489
 * allows there are ignored and not listed, as the RFC requires.
 */
struct stun_msg {
	const uint8_t *buf; /* the message, header included */
	size_t len;         /* STUN_HEADER_LEN + body length */
	uint16_t type;      /* raw message type */
	uint16_t method;    /* enum stun_method (12 bits) */
	uint8_t cls;        /* enum stun_class */
	uint8_t tid[STUN_TID_LEN];

	struct stun_attr attrs[STUN_MAX_ATTRS];
	size_t n_attrs;

	/* Unknown comprehension-required attribute types, for a 420 answer. */
	uint16_t unknown[STUN_MAX_UNKNOWN];
	size_t n_unknown;

	/* Index into attrs[] or -1. */
	int16_t integrity;        /* MESSAGE-INTEGRITY */
	int16_t integrity_sha256; /* MESSAGE-INTEGRITY-SHA256 */
	int16_t fingerprint;      /* FINGERPRINT (already verified by stun_parse) */

	/* The first known comprehension-required attribute whose value has the
	 * wrong size or layout (not listed in attrs[]), 0 if none: stun_parse
	 * then returns -EPROTO. */
	uint16_t bad_attr;
};

/*
 * RFC 7983 demultiplexing of the first byte of a datagram or stream frame,
 * with ChannelData widened to RFC 5766's 64..127 (on a TURN server's client
 * socket no DTLS or RTP can arrive, so nothing else claims 80..127).
 */
enum stun_demux {
	STUN_DEMUX_STUN,        /* 0..3 */
	STUN_DEMUX_CHANNELDATA, /* 64..127: channels 0x4000-0x7FFF */
	STUN_DEMUX_OTHER,       /* DTLS, RTP, garbage: not ours */
};

/* Classify a packet by its first byte. len 0 is STUN_DEMUX_OTHER. */
enum stun_demux stun_demux(const uint8_t *buf, size_t len);

/*
 * Decode one STUN message from buf[0..len). Checks: first two bits zero, magic
 * cookie, body length a multiple of 4 and within len, every attribute inside the
 * body, at most one MESSAGE-INTEGRITY / -SHA256 / FINGERPRINT in the allowed
 * order and of the right size, FINGERPRINT value correct; then the size of
 * each known comprehension-required attribute. Never allocates, never reads
 * past len. Bytes past the STUN length are left to the caller (TCP streams).
 * Returns bytes consumed (> 0); -EMSGSIZE if buf holds less than the message
 * claims (or less than a header); -EBADMSG if the framing is broken (drop
 * it: nothing says it is STUN from who it seems); -EPROTO if the framing is
 * sound but a known comprehension-required attribute is malformed (a LIFETIME
 * of 3 bytes, an EVEN-PORT of 4, ...): *msg is then complete (msg->len bytes,
 * every other attribute listed) with the first offender in msg->bad_attr, and
 * a request is answered 400 Bad Request (RFC 8489 §14.8: "the request was
 * malformed"; see docs/codec.md), anything else dropped. A caller that
 * treats every negative return as "drop" stays safe.
 */
int stun_parse(struct stun_msg *msg, const uint8_t *buf, size_t len);

/* First attribute of the given type, or NULL. */
const struct stun_attr *stun_msg_find(const struct stun_msg *msg, uint16_t type);

#define stun_attr_foreach(msg, a) \
	for ((a) = (msg)->attrs; (a) < (msg)->attrs + (msg)->n_attrs; (a)++)

/*
 * Decode an XOR-*-ADDRESS attribute value (XOR-MAPPED, XOR-PEER, XOR-RELAYED).
 * Returns 0, or -EBADMSG (bad length or family).
 */
int stun_attr_xor_addr(const struct stun_msg *msg, const struct stun_attr *a, struct ice_addr *out);

/* Decode MAPPED-ADDRESS / ALTERNATE-SERVER (not XORed). 0 or -EBADMSG. */
int stun_attr_addr(const struct stun_attr *a, struct ice_addr *out);

/* Decode a 4-byte attribute (LIFETIME, PRIORITY, ...). 0 or -EBADMSG. */
int stun_attr_u32(const struct stun_attr *a, uint32_t *out);

/* CHANNEL-NUMBER: 2-byte number + 2 RFFU bytes. 0 or -EBADMSG. */
int stun_attr_channel(const struct stun_attr *a, uint16_t *out);

/* REQUESTED-TRANSPORT: protocol number (17 = UDP, 6 = TCP). 0 or -EBADMSG. */
int stun_attr_requested_transport(const struct stun_attr *a, uint8_t *proto);

/* REQUESTED-/ADDITIONAL-ADDRESS-FAMILY: 0x01 IPv4, 0x02 IPv6 -> AF_INET/AF_INET6. */
int stun_attr_address_family(const struct stun_attr *a, int *family);

/* EVEN-PORT: R bit. 0 or -EBADMSG. */
int stun_attr_even_port(const struct stun_attr *a, bool *reserve_next);

/* ERROR-CODE: class*100+number, reason view. 0 or -EBADMSG. */
int stun_attr_error_code(const struct stun_attr *a, int *code, const char **reason,
                         size_t *reason_len);

/* Message type word for a method and class (the bit interleaving of RFC 8489 §5). */
uint16_t stun_msg_type(uint16_t method, uint8_t cls);

/* Decode an 8-byte attribute (ICE-CONTROLLED/-CONTROLLING, RESERVATION-TOKEN). 0 or -EBADMSG. */
int stun_attr_u64(const struct stun_attr *a, uint64_t *out);

/*
 * REQUESTED-/ADDITIONAL-ADDRESS-FAMILY note: stun_attr_address_family returns
 * -EBADMSG for a bad length and -EAFNOSUPPORT for a family byte other than
 * 0x01/0x02, so TURN can answer 440 rather than 400.
 */

/*
 * ADDRESS-ERROR-CODE (RFC 8656 §18.12): *family is AF_INET/AF_INET6, *code
 * class*100+number, reason a view into the message. 0 or -EBADMSG.
 */
int stun_attr_address_error(const struct stun_attr *a, int *family, int *code, const char **reason,
                            size_t *reason_len);

/*
 * ICMP (RFC 8656 §18.13): type and code bytes and the 4-byte error data (the
 * next-hop MTU for "fragmentation needed" / "packet too big"). 0 or -EBADMSG.
 */
int stun_attr_icmp(const struct stun_attr *a, uint8_t *type, uint8_t *code, uint32_t *data);

/*
 * PASSWORD-ALGORITHM (RFC 8489 §14.12): algorithm number and a view of its
 * parameters (empty for MD5 and SHA-256). 0 or -EBADMSG.
 */
int stun_attr_password_algorithm(const struct stun_attr *a, uint16_t *alg, const uint8_t **params,
                                 size_t *params_len);

/* Iterator over the entries of PASSWORD-ALGORITHMS (RFC 8489 §14.11). */
struct stun_pwalg_iter {
	const uint8_t *p; /* borrows the attribute value */
	size_t left;
};

/* Start iterating a PASSWORD-ALGORITHMS attribute. */
void stun_pwalgs_init(struct stun_pwalg_iter *it, const struct stun_attr *a);

/*
 * Next entry: returns 1 and fills alg/params, 0 at the end, -EBADMSG if an
 * entry runs past the attribute (stop iterating then).
 */
int stun_pwalgs_next(struct stun_pwalg_iter *it, uint16_t *alg, const uint8_t **params,
                     size_t *params_len);

/*
 * Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, with the
 * given key (constant-time compare). Returns 0 on match, -ENOENT when the
 * message carries neither, -EACCES on mismatch.
 */
int stun_msg_check_integrity(const struct stun_msg *msg, const uint8_t *key, size_t keylen);

/*
 * Verify with a precomputed key: an STUN_HMAC_SHA256 key checks
 * MESSAGE-INTEGRITY-SHA256 (full or truncated), an STUN_HMAC_SHA1 key checks
 * MESSAGE-INTEGRITY. Borrows k. Returns 0 on match, -ENOENT when the message
 * lacks that attribute, -EACCES on mismatch, -EINVAL for an uninitialised key.
 */
int stun_msg_check_integrity_k(const struct stun_msg *msg, const struct stun_hmac_key *k);

/* CRC-32 (ISO-HDLC, as in RFC 8489 FINGERPRINT before the XOR). */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

/*
 * Builder: writes a message into a caller buffer and never overruns it. Errors
 * are sticky: after the first failure every call is a no-op and
 * stun_build_finish returns the error (-ENOBUFS when cap is too small).
 */
struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	uint8_t pad;        /* padding byte (0 unless stun_build_set_padding) */
	bool fingerprinted; /* FINGERPRINT written: nothing may follow */
};

/* Start a message with the given method, class and transaction id. */
void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method, uint8_t cls,
                     const uint8_t tid[STUN_TID_LEN]);

/* Append an attribute with a raw value (padding added). */
void stun_build_attr(struct stun_builder *b, uint16_t type, const void *value, size_t len);
void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t v);
void stun_build_xor_addr(struct stun_builder *b, uint16_t type, const struct ice_addr *addr);
void stun_build_addr(struct stun_builder *b, uint16_t type, const struct ice_addr *addr);
void stun_build_channel(struct stun_builder *b, uint16_t channel);
void stun_build_requested_transport(struct stun_builder *b, uint8_t proto);
void stun_build_address_family(struct stun_builder *b, uint16_t type, int family);
/* ERROR-CODE with a reason phrase (NULL = the RFC's standard phrase for code). */
void stun_build_error(struct stun_builder *b, int code, const char *reason);
void stun_build_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n);
/* ADDRESS-ERROR-CODE (RFC 8656 §18.12): family + code + reason. */
void stun_build_address_error(struct stun_builder *b, int family, int code, const char *reason);

/* MESSAGE-INTEGRITY over everything so far (length adjusted per RFC 8489). */
void stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);
/* MESSAGE-INTEGRITY-SHA256 (full 32-byte HMAC). */
void stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen);
/* FINGERPRINT; must be last. */
void stun_build_fingerprint(struct stun_builder *b);

/*
 * MESSAGE-INTEGRITY (SHA-1 key) or MESSAGE-INTEGRITY-SHA256 (SHA-256 key, full
 * 32 bytes) with a precomputed key. Borrows k.
 */
void stun_build_integrity_k(struct stun_builder *b, const struct stun_hmac_key *k);

/* An 8-byte attribute (RESERVATION-TOKEN, ICE-CONTROLLED, ...). */
void stun_build_u64(struct stun_builder *b, uint16_t type, uint64_t v);

/* PASSWORD-ALGORITHMS listing algs[0..n) (no parameters: MD5, SHA-256). */
void stun_build_password_algorithms(struct stun_builder *b, const uint16_t *algs, size_t n);

/* PASSWORD-ALGORITHM naming alg (no parameters). */
void stun_build_password_algorithm(struct stun_builder *b, uint16_t alg);

/* ICMP (RFC 8656 §18.13) for a Data indication. */
void stun_build_icmp(struct stun_builder *b, uint8_t type, uint8_t code, uint32_t data);

/*
 * Padding byte for the attributes that follow (default 0). RFC 8489 says
 * padding is ignored on receipt; RFC 5769's vectors pad with spaces, and a
 * byte-exact rebuild of them needs this.
 */
void stun_build_set_padding(struct stun_builder *b, uint8_t byte);

/* Total length written (> 0), or the sticky error. */
int stun_build_finish(struct stun_builder *b);

/* The standard reason phrase for an error code ("Unauthorized", ...), or "Error". */
const char *stun_error_reason(int code);

/*
 * ChannelData. On a datagram the frame is exactly 4 + length bytes (trailing
 * padding tolerated); on a stream (TCP) the frame is padded to a multiple of 4.
 * channeldata_parse: returns bytes consumed (>0), -EMSGSIZE if incomplete,
 * -EBADMSG if the channel number is outside 0x4000-0x7FFF or the length lies.
 */
int channeldata_parse(const uint8_t *buf, size_t len, bool stream, uint16_t *channel,
                      const uint8_t **data, size_t *data_len);

/* Write the 4-byte ChannelData header. */
void channeldata_put_header(uint8_t hdr[CHANNELDATA_HEADER_LEN], uint16_t channel, uint16_t len);

/* Bytes a frame of data_len occupies (stream: padded to 4). */
size_t channeldata_frame_len(size_t data_len, bool stream);

/* What one datagram or stream frame from a client is (stun_frame_decode). */
enum stun_frame_kind {
	STUN_FRAME_STUN,        /* msg holds the parsed message */
	STUN_FRAME_CHANNELDATA, /* channel, data[0..data_len) */
	STUN_FRAME_NOT_STUN,    /* neither by its first byte (RFC 7983): DTLS, RTP, junk */
	STUN_FRAME_MALFORMED,   /* starts like STUN or ChannelData but does not parse */
	/* A well-framed STUN message with a malformed comprehension-required
	 * attribute (stun_parse -EPROTO): msg is complete, msg.bad_attr names
	 * it. Answer a request 400; drop anything else. */
	STUN_FRAME_BAD_ATTR,
};

struct stun_frame {
	enum stun_frame_kind kind;
	struct stun_msg msg;
	uint16_t channel;
	const uint8_t *data; /* ChannelData payload, a view into the input */
	size_t data_len;
};

/*
 * Demultiplex (RFC 7983) and decode buf[0..len): one whole datagram
 * (stream false) or one complete stream frame (true, as
 * stun_stream_frame_len cut it). A STUN message must fill buf exactly.
 * f's views point into buf, which must outlive f. Pure; never allocates.
 */
void stun_frame_decode(struct stun_frame *f, const uint8_t *buf, size_t len, bool stream);

/*
 * Stream framing: length of the next complete frame (STUN or ChannelData) at
 * the start of buf, 0 if more bytes are needed, -EBADMSG if buf starts with
 * neither (the connection should be closed).
 */
int stun_stream_frame_len(const uint8_t *buf, size_t len);

#endif
