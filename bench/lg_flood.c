/*
 * Floods of the soak: bad input at flood_rate datagrams per second per kind,
 * each kind from its own source address (flood_ip + kind) so that a kind
 * never shares a rate-limit bucket or a nonce with another. Every kind is
 * built to land on exactly one server counter (lg_soak.h), so the driver can
 * check that the server counted each datagram under its reason. Requests are
 * answered (401; 438 for a nonce the server never minted): the answers are
 * counted per kind, so a lost answer shows.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lg_soak.h"

enum {
	TRUNC_LEN = 4200
}; /* over the server's 4096-byte receive slot */

static const char *const kind_name[FL_KINDS] = {
	"not_stun",       "malformed",     "truncated",        "no_allocation",
	"no_credentials", "bad_integrity", "expired_username", "bad_nonce",
};

/* The kinds that need a nonce of their own address first. */
static bool
needs_nonce(int k)
{
	return k == FL_BAD_INTEGRITY || k == FL_EXPIRED;
}

int
lg_flood_init(struct lg_soak *s)
{
	struct lg *g = s->g;

	for (int k = 0; k < FL_KINDS; k++) {
		s->flood_fd[k] = lg_udp_socket(g->o.flood_ip + (uint32_t)k, g->o.client_port,
		                               &s->flood_addr[k]);
		if (s->flood_fd[k] < 0 || connect(s->flood_fd[k], (struct sockaddr *)&g->o.server,
		                                  sizeof(g->o.server)) < 0)
			return -1;
		struct epoll_event ev = { .events = EPOLLIN,
			                  .data.u64 = s->idx_flood + (uint64_t)k };
		if (epoll_ctl(g->ep, EPOLL_CTL_ADD, s->flood_fd[k], &ev) < 0)
			return -1;
	}
	return 0;
}

void
lg_flood_fini(struct lg_soak *s)
{
	for (int k = 0; k < FL_KINDS; k++)
		if (s->flood_fd[k] >= 0)
			close(s->flood_fd[k]);
}

/* An Allocate: credentials per kind (none for FL_NO_CREDS and nonce fetches). */
static size_t
build_allocate(struct lg_soak *s, int k, uint8_t *buf, size_t cap, uint8_t tid[12], bool fetch)
{
	struct lg *g = s->g;
	struct lg_wr w;
	char user[LG_USER_MAX], pass[32];
	uint8_t key[16];
	long long expiry = (long long)time(NULL) + 86400;

	lg_new_tid(g, tid);
	lg_msg_init(&w, buf, cap, LG_ALLOCATE, tid);
	lg_attr_u32(&w, LG_A_REQ_TRANSPORT, 17u << 24);
	if (!fetch && k != FL_NO_CREDS) {
		if (k == FL_EXPIRED)
			expiry = 1000000000; /* 2001 */
		lg_rest_cred(g->o.secret, expiry, "soak-flood", user, sizeof(user), pass,
		             sizeof(pass));
		if (k == FL_BAD_INTEGRITY)
			pass[0] ^= 1;
		lg_lt_key(user, g->realm, pass, key);
		lg_auth(&w, user, g->realm,
		        k == FL_BAD_NONCE ? "soak-never-minted" : s->flood_nonce[k], key);
	}
	lg_fingerprint(&w);
	return lg_msg_len(&w);
}

static void
send_kind(struct lg_soak *s, int k)
{
	uint8_t buf[TRUNC_LEN];
	uint8_t tid[12];
	size_t n = 0;
	bool fetch = needs_nonce(k) && !s->flood_nonce[k][0];

	switch (k) {
	case FL_NOT_STUN:
		n = 32;
		memset(buf, 0xFF, n);
		break;
	case FL_MALFORMED: /* a Binding indication (not rate limited) claiming 8 more bytes */
		n = LG_STUN_HDR;
		memset(buf, 0, n);
		buf[1] = 0x11;
		buf[3] = 8;
		buf[4] = 0x21, buf[5] = 0x12, buf[6] = 0xA4, buf[7] = 0x42;
		break;
	case FL_TRUNCATED:
		n = TRUNC_LEN;
		memset(buf, 0, n);
		break;
	case FL_NO_ALLOCATION:
		n = 8;
		memcpy(buf, "\x40\x00\x00\x04soak", n);
		break;
	default:
		if (!s->g->realm[0]) /* learnt from the set-up's first 401 */
			return;
		n = build_allocate(s, k, buf, sizeof(buf), tid, fetch);
		if (fetch) {
			/* One fetch at a time: its tid tells its answer apart. */
			if (lg_now() - s->fetch_at[k] < 1.0)
				return;
			s->fetch_at[k] = lg_now();
			memcpy(s->fetch_tid[k], tid, 12);
			s->nonce_fetches++;
			send(s->flood_fd[k], buf, n, 0);
			return;
		}
		break;
	}
	if (n > 0 && send(s->flood_fd[k], buf, n, 0) >= 0)
		s->flood_sent[k]++;
}

void
lg_flood_send(struct lg_soak *s, double dt)
{
	s->flood_tokens += dt * s->g->o.flood_rate;
	if (s->flood_tokens > 1 + s->g->o.flood_rate / 10) /* no burst after a stall */
		s->flood_tokens = 1 + s->g->o.flood_rate / 10;
	while (s->flood_tokens >= 1) {
		s->flood_tokens -= 1;
		for (int k = 0; k < FL_KINDS; k++)
			send_kind(s, k);
	}
}

void
lg_flood_read(struct lg_soak *s, int k)
{
	uint8_t buf[LG_PKT_MAX];

	for (;;) {
		ssize_t n = recv(s->flood_fd[k], buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return;
		struct lg_resp r;
		if (lg_parse(&r, buf, (size_t)n) != 0) {
			s->flood_other[k]++;
			continue;
		}
		if (needs_nonce(k) && memcmp(r.tid, s->fetch_tid[k], 12) == 0) {
			if (r.error == 401 && r.nonce && r.nonce_len < sizeof(s->flood_nonce[k])) {
				memcpy(s->flood_nonce[k], r.nonce, r.nonce_len);
				s->flood_nonce[k][r.nonce_len] = 0;
			}
			continue;
		}
		if (r.error == (k == FL_BAD_NONCE ? 438 : 401))
			s->flood_401[k]++;
		else
			s->flood_other[k]++;
	}
}

void
lg_flood_print(const struct lg_soak *s)
{
	printf("\"flood\":{");
	for (int k = 0; k < FL_KINDS; k++)
		printf("%s\"%s\":{\"sent\":%ld,\"answered_401\":%ld,\"other\":%ld}", k ? "," : "",
		       kind_name[k], s->flood_sent[k], s->flood_401[k], s->flood_other[k]);
	printf(",\"nonce_fetches\":%ld}", s->nonce_fetches);
}
