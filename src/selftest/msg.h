/*
 * Private to src/selftest: the client side of STUN/TURN messages (msg.c).
 */
#ifndef ICESTATION_SELFTEST_MSG_H
#define ICESTATION_SELFTEST_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "icestation/addr.h"
#include "icestation/auth_ltc.h"
#include "icestation/stun.h"

/* Long-term credentials: the REST pair, then the server's realm and nonce. */
struct st_auth {
	const char *username; /* borrowed, NUL-terminated */
	const char *password;
	bool keyed; /* realm, nonce and key known (after a 401) */
	char realm[STUN_MAX_REALM_LEN + 1];
	uint8_t nonce[STUN_MAX_NONCE_LEN];
	size_t nonce_len;
	uint8_t key[LTC_KEY_MAX];
	size_t key_len;
};

struct st_req {
	uint16_t method; /* ALLOCATE (asks for a UDP relay), REFRESH, CREATE_PERMISSION */
	uint8_t tid[STUN_TID_LEN];
	bool has_lifetime;
	uint32_t lifetime_s;
	const struct ice_addr *peer; /* XOR-PEER-ADDRESS, or NULL */
};

struct st_answer {
	int code; /* 0 for a success, else the STUN error code */
	char reason[128];
	struct ice_addr relayed; /* XOR-RELAYED-ADDRESS (family 0 if absent) */
	struct ice_addr mapped;  /* XOR-MAPPED-ADDRESS */
	uint32_t lifetime;
};

/* A fresh random transaction id. 0 or -EIO. */
int st_msg_tid(uint8_t tid[STUN_TID_LEN]);

/*
 * Build request r into buf[0..cap), with USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY once a is keyed, and FINGERPRINT. Returns the length or
 * the builder's -errno.
 */
int st_msg_request(const struct st_auth *a, const struct st_req *r, uint8_t *buf, size_t cap);

/* A Send indication carrying data[0..len) to peer. Length or -errno. */
int st_msg_send_ind(const struct ice_addr *peer, const uint8_t *data, size_t len, uint8_t *buf,
                    size_t cap);

/*
 * Read m as the answer to transaction tid. A 401 or 438 keys a with its
 * realm and nonce. Returns 0 with *ans filled, -ENOENT when m answers
 * something else, -EACCES when a success fails its integrity check,
 * -EBADMSG when an attribute does not decode.
 */
int st_msg_answer(struct st_auth *a, const struct stun_msg *m, const uint8_t tid[STUN_TID_LEN],
                  struct st_answer *ans);

/* A Data indication's peer and payload (a view into m). 0, -ENOENT, -EBADMSG. */
int st_msg_data_ind(const struct stun_msg *m, struct ice_addr *peer, const uint8_t **data,
                    size_t *len);

#endif
