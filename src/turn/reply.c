/*
 * Responses. Each is built in the server's scratch buffer and handed to
 * send_client as TURN_BUF_SCRATCH. A response to an authenticated request
 * carries the same integrity attribute(s) the request used (RFC 8489 §9.2.4),
 * keyed with the long-term key; challenges (401, 438) and answers to
 * unauthenticated requests carry none.
 */
#include <string.h>

#include "turn_int.h"

static enum ice_metric_id
code_metric(int code)
{
	switch (code) {
	case 0:
		return ICE_M_TURN_RESP_SUCCESS;
	case 300:
		return ICE_M_TURN_RESP_300;
	case 400:
		return ICE_M_TURN_RESP_400;
	case 401:
		return ICE_M_TURN_RESP_401;
	case 403:
		return ICE_M_TURN_RESP_403;
	case 420:
		return ICE_M_TURN_RESP_420;
	case 437:
		return ICE_M_TURN_RESP_437;
	case 438:
		return ICE_M_TURN_RESP_438;
	case 440:
		return ICE_M_TURN_RESP_440;
	case 441:
		return ICE_M_TURN_RESP_441;
	case 442:
		return ICE_M_TURN_RESP_442;
	case 443:
		return ICE_M_TURN_RESP_443;
	case 446:
		return ICE_M_TURN_RESP_446;
	case 447:
		return ICE_M_TURN_RESP_447;
	case 486:
		return ICE_M_TURN_RESP_486;
	case 508:
		return ICE_M_TURN_RESP_508;
	default:
		return ICE_M_TURN_RESP_500;
	}
}

static void
reply_begin(struct turn_ctx *c, struct turn_reply *r, int code, const char *reason)
{
	r->code = code;
	stun_build_init(&r->b, c->srv->tx, sizeof(c->srv->tx), c->msg->method,
	                code ? STUN_CLASS_ERROR : STUN_CLASS_SUCCESS, c->msg->tid);
	if (code)
		stun_build_error(&r->b, code, reason);
}

void
turn_reply_begin(struct turn_ctx *c, struct turn_reply *r, int code)
{
	reply_begin(c, r, code, NULL);
}

static void
add_integrity(struct stun_builder *b, const struct ltc_cred *cred, bool sha256)
{
	enum stun_hmac_alg want = sha256 ? STUN_HMAC_SHA256 : STUN_HMAC_SHA1;

	if (cred->mac.alg == (uint32_t)want)
		stun_build_integrity_k(b, &cred->mac);
	else if (sha256)
		stun_build_integrity_sha256(b, cred->key, cred->key_len);
	else
		stun_build_integrity(b, cred->key, cred->key_len);
}

void
turn_reply_send(struct turn_ctx *c, struct turn_reply *r)
{
	static const char software[] = ICESTATION_SOFTWARE;
	int len;

	stun_build_attr(&r->b, STUN_ATTR_SOFTWARE, software, sizeof(software) - 1);
	if (c->auth != NULL && c->auth->cred != NULL) {
		if (c->auth->mi)
			add_integrity(&r->b, c->auth->cred, false);
		if (c->auth->mi256)
			add_integrity(&r->b, c->auth->cred, true);
	}
	stun_build_fingerprint(&r->b);
	len = stun_build_finish(&r->b);
	if (len < 0) {
		turn_count(c->srv, ICE_M_TURN_DROP_BUILD);
		return;
	}
	c->srv->io.send_client(c->srv->io.ctx, c->ft, c->srv->tx, (size_t)len, TURN_BUF_SCRATCH);
	turn_count(c->srv, code_metric(r->code));
}

void
turn_reply_error(struct turn_ctx *c, int code)
{
	struct turn_reply r;

	turn_reply_begin(c, &r, code);
	turn_reply_send(c, &r);
}

void
turn_reply_error_reason(struct turn_ctx *c, int code, const char *reason)
{
	struct turn_reply r;

	reply_begin(c, &r, code, reason);
	turn_reply_send(c, &r);
}

void
turn_reply_challenge(struct turn_ctx *c, int code)
{
	struct turn_server *srv = c->srv;
	struct ltc_tuple t = turn_nonce_tuple(c);
	uint8_t nonce[LTC_NONCE_LEN];
	struct turn_reply r;

	c->auth = NULL;
	/* UDP only: a TCP or TLS source has completed a handshake, so it is
	 * no spoofed victim. Checked before the nonce's HMAC is spent. */
	if (c->ft->proto == TURN_PROTO_UDP && srv->challenge_rl != NULL &&
	    ice_ratelimit_take(srv->challenge_rl, &c->ft->client, c->now) == ICE_RL_DENY) {
		turn_count(srv, ICE_M_TURN_CHALLENGE_SUPPRESSED);
		return;
	}
	ltc_nonce_mint(srv->ltc.nonce_key, &t, ltc_nonce_now(&srv->ltc, c->now, srv->unix_s),
	               nonce);
	turn_reply_begin(c, &r, code);
	stun_build_attr(&r.b, STUN_ATTR_REALM, c->ltc->realm, c->ltc->realm_len);
	stun_build_attr(&r.b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
	stun_build_password_algorithms(&r.b, ltc_password_algorithms,
	                               ICE_ARRAY_SIZE(ltc_password_algorithms));
	turn_reply_send(c, &r);
}

void
turn_reply_unknown(struct turn_ctx *c, const uint16_t *types, size_t n)
{
	struct turn_reply r;

	turn_reply_begin(c, &r, 420);
	stun_build_unknown_attrs(&r.b, types, n);
	turn_reply_send(c, &r);
}
