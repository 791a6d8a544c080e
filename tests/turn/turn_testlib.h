/*
 * Helpers shared by the tests in tests/turn: build client requests with the
 * codec's builder and REST credentials, and parse what the server answers.
 * Header-only (static functions), one copy per test binary.
 */
#ifndef ICESTATION_TESTS_TURN_TESTLIB_H
#define ICESTATION_TESTS_TURN_TESTLIB_H

#include <string.h>

#include "icestation/auth.h"
#include "icestation/auth_ltc.h"
#include "icestation/stun.h"

#include "testutil.h"

struct treq {
	uint8_t buf[2048];
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];
	int len;
	struct stun_msg msg;
};

/* A client credential as the HTTP API would mint it. */
struct tcred {
	char username[ICE_REST_USERNAME_MAX];
	char password[ICE_REST_PASSWORD_MAX + 1];
	uint8_t key[LTC_KEY_MAX];
	int key_len;
};

static uint32_t t_tid_counter = 1;

static inline void
treq_begin(struct treq *r, uint16_t method, uint8_t cls)
{
	memset(r->tid, 0, sizeof(r->tid));
	memcpy(r->tid, "tst", 3);
	r->tid[8] = (uint8_t)(t_tid_counter >> 24);
	r->tid[9] = (uint8_t)(t_tid_counter >> 16);
	r->tid[10] = (uint8_t)(t_tid_counter >> 8);
	r->tid[11] = (uint8_t)t_tid_counter;
	t_tid_counter++;
	stun_build_init(&r->b, r->buf, sizeof(r->buf), method, cls, r->tid);
}

/* Re-begin with a given transaction id (retransmissions). */
static inline void
treq_begin_tid(struct treq *r, uint16_t method, uint8_t cls, const uint8_t tid[STUN_TID_LEN])
{
	memcpy(r->tid, tid, STUN_TID_LEN);
	stun_build_init(&r->b, r->buf, sizeof(r->buf), method, cls, r->tid);
}

/* The long-term key of c's username and password (pw_alg MD5 or SHA-256). */
static inline void
tcred_key(struct tcred *c, const char *realm, uint16_t pw_alg)
{
	c->key_len = ltc_key_derive(pw_alg, (const uint8_t *)c->username, strlen(c->username),
	                            realm, strlen(realm), c->password, strlen(c->password), c->key);
	REQUIRE(c->key_len > 0);
}

/* A credential in format fmt: "<expiry>:<user>", or a bare "<expiry>" when user is NULL. */
static inline void
tcred_mint_fmt(struct tcred *c, enum ice_rest_format fmt, const char *secret, uint64_t expiry,
               const char *user, const char *realm, uint16_t pw_alg)
{
	REQUIRE(ice_rest_mint(fmt, (const uint8_t *)secret, strlen(secret), expiry,
	                      user != NULL ? user : "", c->username, c->password) > 0);
	if (user == NULL) {
		c->username[strlen(c->username) - 1] = '\0'; /* drop the colon */
		REQUIRE(ice_rest_password(fmt, (const uint8_t *)secret, strlen(secret), c->username,
		                          strlen(c->username), c->password) > 0);
	}
	tcred_key(c, realm, pw_alg);
}

static inline void
tcred_mint(struct tcred *c, const char *secret, uint64_t expiry, const char *user,
           const char *realm, uint16_t pw_alg)
{
	tcred_mint_fmt(c, ICE_REST_COTURN, secret, expiry, user, realm, pw_alg);
}

/*
 * USERNAME, REALM, NONCE, then MESSAGE-INTEGRITY (or -SHA256) with the
 * credential's key, and FINGERPRINT; parse the result into r->msg.
 */
static inline void
treq_sign(struct treq *r, const struct tcred *c, const char *realm, const uint8_t *nonce,
          size_t nonce_len, bool sha256)
{
	stun_build_attr(&r->b, STUN_ATTR_USERNAME, c->username, strlen(c->username));
	stun_build_attr(&r->b, STUN_ATTR_REALM, realm, strlen(realm));
	stun_build_attr(&r->b, STUN_ATTR_NONCE, nonce, nonce_len);
	if (sha256)
		stun_build_integrity_sha256(&r->b, c->key, (size_t)c->key_len);
	else
		stun_build_integrity(&r->b, c->key, (size_t)c->key_len);
}

static inline void
treq_finish(struct treq *r)
{
	stun_build_fingerprint(&r->b);
	r->len = stun_build_finish(&r->b);
	REQUIRE(r->len > 0);
	REQUIRE(stun_parse(&r->msg, r->buf, (size_t)r->len) == r->len);
}

/* Error code of a parsed response, 0 for a success response. */
static inline int
tmsg_code(const struct stun_msg *m)
{
	const struct stun_attr *a;
	const char *reason;
	size_t rlen;
	int code = -1;

	if (m->cls == STUN_CLASS_SUCCESS)
		return 0;
	a = stun_msg_find(m, STUN_ATTR_ERROR_CODE);
	if (a == NULL || stun_attr_error_code(a, &code, &reason, &rlen) < 0)
		return -1;
	return code;
}

#endif
