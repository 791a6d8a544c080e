/*
 * The client side of the self-test's TURN messages, on the project's own
 * codec (include/icestation/stun.h) and key derivation (auth_ltc.h): a
 * request with or without long-term credentials, a Send indication, and
 * the reading of an answer (its error code, or its addresses once its
 * MESSAGE-INTEGRITY checks out). MD5 keys and MESSAGE-INTEGRITY, as every
 * RFC 5766 client sends; no PASSWORD-ALGORITHM, which RFC 8489 leaves to
 * the client.
 */
#include "msg.h"

#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "icestation/auth_ltc.h"

int
st_msg_tid(uint8_t tid[STUN_TID_LEN])
{
	return getrandom(tid, STUN_TID_LEN, 0) == STUN_TID_LEN ? 0 : -EIO;
}

int
st_msg_request(const struct st_auth *a, const struct st_req *r, uint8_t *buf, size_t cap)
{
	struct stun_builder b;

	stun_build_init(&b, buf, cap, r->method, STUN_CLASS_REQUEST, r->tid);
	if (r->method == STUN_METHOD_ALLOCATE)
		stun_build_requested_transport(&b, 17); /* relays are UDP */
	if (r->has_lifetime)
		stun_build_u32(&b, STUN_ATTR_LIFETIME, r->lifetime_s);
	if (r->peer != NULL)
		stun_build_xor_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, r->peer);
	if (a->keyed) {
		stun_build_attr(&b, STUN_ATTR_USERNAME, a->username, strlen(a->username));
		stun_build_attr(&b, STUN_ATTR_REALM, a->realm, strlen(a->realm));
		stun_build_attr(&b, STUN_ATTR_NONCE, a->nonce, a->nonce_len);
		stun_build_integrity(&b, a->key, a->key_len);
	}
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

int
st_msg_send_ind(const struct ice_addr *peer, const uint8_t *data, size_t len, uint8_t *buf,
                size_t cap)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];
	int r = st_msg_tid(tid);

	if (r < 0)
		return r;
	stun_build_init(&b, buf, cap, STUN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, peer);
	stun_build_attr(&b, STUN_ATTR_DATA, data, len);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

/* A 401 or 438 brings the realm and a nonce: keep them and derive the key. */
static int
take_challenge(struct st_auth *a, const struct stun_msg *m)
{
	const struct stun_attr *realm = stun_msg_find(m, STUN_ATTR_REALM);
	const struct stun_attr *nonce = stun_msg_find(m, STUN_ATTR_NONCE);
	int n;

	if (realm == NULL || nonce == NULL || realm->len > STUN_MAX_REALM_LEN ||
	    nonce->len > STUN_MAX_NONCE_LEN)
		return -EBADMSG;
	memcpy(a->realm, realm->value, realm->len);
	a->realm[realm->len] = '\0';
	memcpy(a->nonce, nonce->value, nonce->len);
	a->nonce_len = nonce->len;
	n = ltc_key_derive(STUN_PASSWORD_ALG_MD5, (const uint8_t *)a->username, strlen(a->username),
	                   a->realm, realm->len, a->password, strlen(a->password), a->key);
	if (n < 0)
		return n;
	a->key_len = (size_t)n;
	a->keyed = true;
	return 0;
}

static void
take_error(const struct stun_msg *m, struct st_answer *ans)
{
	const struct stun_attr *e = stun_msg_find(m, STUN_ATTR_ERROR_CODE);
	const char *reason = "";
	size_t rlen = 0;

	ans->code = 0;
	if (e == NULL || stun_attr_error_code(e, &ans->code, &reason, &rlen) < 0 || ans->code == 0)
		ans->code = 500; /* an error answer without a readable code */
	rlen = ICE_MIN(rlen, sizeof(ans->reason) - 1);
	memcpy(ans->reason, reason, rlen);
	ans->reason[rlen] = '\0';
}

int
st_msg_answer(struct st_auth *a, const struct stun_msg *m, const uint8_t tid[STUN_TID_LEN],
              struct st_answer *ans)
{
	const struct stun_attr *at;

	memset(ans, 0, sizeof(*ans));
	if (memcmp(m->tid, tid, STUN_TID_LEN) != 0 ||
	    (m->cls != STUN_CLASS_SUCCESS && m->cls != STUN_CLASS_ERROR))
		return -ENOENT;
	if (m->cls == STUN_CLASS_ERROR) {
		take_error(m, ans);
		if ((ans->code == 401 || ans->code == 438) && take_challenge(a, m) < 0)
			return -EBADMSG;
		return 0;
	}
	/* A success must prove it knows our key (RFC 8489 §9.2.5). */
	if (a->keyed && stun_msg_check_integrity(m, a->key, a->key_len) != 0)
		return -EACCES;
	at = stun_msg_find(m, STUN_ATTR_XOR_RELAYED_ADDRESS);
	if (at != NULL && stun_attr_xor_addr(m, at, &ans->relayed) < 0)
		return -EBADMSG;
	at = stun_msg_find(m, STUN_ATTR_XOR_MAPPED_ADDRESS);
	if (at != NULL && stun_attr_xor_addr(m, at, &ans->mapped) < 0)
		return -EBADMSG;
	at = stun_msg_find(m, STUN_ATTR_LIFETIME);
	if (at != NULL && stun_attr_u32(at, &ans->lifetime) < 0)
		return -EBADMSG;
	return 0;
}

int
st_msg_data_ind(const struct stun_msg *m, struct ice_addr *peer, const uint8_t **data, size_t *len)
{
	const struct stun_attr *p = stun_msg_find(m, STUN_ATTR_XOR_PEER_ADDRESS);
	const struct stun_attr *d = stun_msg_find(m, STUN_ATTR_DATA);

	if (m->method != STUN_METHOD_DATA || m->cls != STUN_CLASS_INDICATION)
		return -ENOENT;
	if (p == NULL || d == NULL || stun_attr_xor_addr(m, p, peer) < 0)
		return -EBADMSG;
	*data = d->value;
	*len = d->len;
	return 0;
}
