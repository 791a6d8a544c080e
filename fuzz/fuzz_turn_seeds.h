/*
 * The seed corpus of fuzz/fuzz_turn.c: op programs built with the harness's
 * request builders, written by FUZZ_TURN_WRITE_SEEDS=<dir> ./fuzz_turn.
 * Included by fuzz_turn.c only (it needs its ops and methods tables); kept
 * apart so the target itself stays one screenful of properties.
 */
#ifndef ICESTATION_FUZZ_TURN_SEEDS_H
#define ICESTATION_FUZZ_TURN_SEEDS_H

struct seed {
	uint8_t b[4096];
	size_t n;
};

static void
s_u8(struct seed *s, uint8_t v)
{
	PROP(s->n < sizeof(s->b));
	s->b[s->n++] = v;
}

static void
s_u16(struct seed *s, uint16_t v)
{
	s_u8(s, (uint8_t)(v >> 8));
	s_u8(s, (uint8_t)v);
}

static void
s_bytes(struct seed *s, const void *p, size_t n)
{
	PROP(s->n + n <= sizeof(s->b));
	if (n > 0)
		memcpy(s->b + s->n, p, n);
	s->n += n;
}

/* RAW: an unauthenticated request (the first leg, answered 401 + NONCE). */
static void
s_raw_unauth(struct seed *s, uint16_t method)
{
	struct treq r;

	treq_begin(&r, method, STUN_CLASS_REQUEST);
	if (method == STUN_METHOD_ALLOCATE)
		stun_build_requested_transport(&r.b, 17);
	treq_finish(&r);
	s_u8(s, OP_RAW);
	s_u16(s, (uint16_t)r.len);
	s_bytes(s, r.buf, (size_t)r.len);
}

/* SIGNED header: method index into methods[], credential, n attributes. */
static void
s_signed_cls(struct seed *s, uint8_t method_idx, uint8_t cls, uint8_t cred, uint8_t nattr)
{
	s_u8(s, OP_SIGNED);
	s_u8(s, method_idx);
	s_u8(s, cls == STUN_CLASS_INDICATION);
	s_u8(s, cred);
	s_u8(s, nattr);
}

static void
s_signed(struct seed *s, uint8_t method_idx, uint8_t cred, uint8_t nattr)
{
	s_signed_cls(s, method_idx, STUN_CLASS_REQUEST, cred, nattr);
}

static void
s_attr(struct seed *s, uint16_t type, const void *v, uint8_t len)
{
	s_u16(s, type);
	s_u8(s, len);
	s_bytes(s, v, len);
}

static void
s_transport(struct seed *s)
{
	static const uint8_t udp[4] = { 17, 0, 0, 0 };

	s_attr(s, STUN_ATTR_REQUESTED_TRANSPORT, udp, 4);
}

static void
s_peer(struct seed *s, uint8_t idx)
{
	s_attr(s, STUN_ATTR_XOR_PEER_ADDRESS, &idx, 1);
}

static void
s_channel(struct seed *s, uint16_t ch)
{
	uint8_t v[4] = { (uint8_t)(ch >> 8), (uint8_t)ch, 0, 0 };

	s_attr(s, STUN_ATTR_CHANNEL_NUMBER, v, 4);
}

static void
s_allocate(struct seed *s, uint8_t cred)
{
	s_raw_unauth(s, STUN_METHOD_ALLOCATE);
	s_signed(s, 0, cred, 1);
	s_transport(s);
}

static void
s_chandata(struct seed *s, uint16_t ch, const char *payload)
{
	s_u8(s, OP_CHANDATA);
	s_u16(s, ch);
	s_u16(s, (uint16_t)strlen(payload));
	s_bytes(s, payload, strlen(payload));
}

static void
s_from_peer(struct seed *s, uint8_t relay, uint8_t peer, const char *payload)
{
	s_u8(s, OP_PEER);
	s_u8(s, relay);
	s_u8(s, peer);
	s_u16(s, (uint16_t)strlen(payload));
	s_bytes(s, payload, strlen(payload));
}

static void
s_clock(struct seed *s, uint8_t scale, uint16_t n)
{
	s_u8(s, OP_CLOCK);
	s_u8(s, scale);
	s_u16(s, n);
}

/* RFC 6062 seeds: indexes into methods[], and the TCP op. */
enum {
	S_M_CREATE_PERMISSION = 2,
	S_M_CONNECT = 7,
	S_M_CONNECTION_BIND = 8,
};

static void
s_tcp_allocate(struct seed *s, uint8_t cred, bool even_port)
{
	static const uint8_t tcp[4] = { 6, 0, 0, 0 };
	static const uint8_t even = 0;

	s_raw_unauth(s, STUN_METHOD_ALLOCATE);
	s_signed(s, 0, cred, even_port ? 2 : 1);
	s_attr(s, STUN_ATTR_REQUESTED_TRANSPORT, tcp, 4);
	if (even_port)
		s_attr(s, STUN_ATTR_EVEN_PORT, &even, 1);
}

/* ConnectionBind naming the last CONNECTION-ID (the empty placeholder). */
static void
s_bind_last(struct seed *s)
{
	s_signed(s, S_M_CONNECTION_BIND, 0, 1);
	s_attr(s, STUN_ATTR_CONNECTION_ID, NULL, 0);
}

static void
s_tcp(struct seed *s, uint8_t what, uint8_t k, uint8_t arg)
{
	s_u8(s, OP_TCP);
	s_u8(s, what);
	s_u8(s, k);
	if (what != 2) /* a close takes no argument */
		s_u8(s, arg);
	if (what == 3)
		s_u16(s, 1000);
}

static void
s_client(struct seed *s, uint8_t c)
{
	s_u8(s, OP_CLIENT);
	s_u8(s, c);
}

static void
s_write(const char *dir, const char *name, const struct seed *s)
{
	char path[512];
	FILE *fp;

	PROP(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	fp = fopen(path, "wb");
	PROP(fp != NULL);
	PROP(fwrite(s->b, 1, s->n, fp) == s->n);
	PROP(fclose(fp) == 0);
}

static void
write_seeds(const char *dir)
{
	struct seed s;

	(void)mkdir(dir, 0755);

	/* Allocate, permission, Send, Data back, Refresh 0. */
	memset(&s, 0, sizeof(s));
	s_allocate(&s, 0);
	s_signed(&s, 2, 0, 1);
	s_peer(&s, 0);
	{
		static const char data[] = "ping";

		s_signed_cls(&s, 4, STUN_CLASS_INDICATION, 0, 2);
		s_peer(&s, 0);
		s_attr(&s, STUN_ATTR_DATA, data, 4);
	}
	s_from_peer(&s, 0, 0, "pong");
	s_signed(&s, 1, 0, 1);
	{
		static const uint8_t zero[4] = { 0 };

		s_attr(&s, STUN_ATTR_LIFETIME, zero, 4);
	}
	s_write(dir, "alloc_perm_send_refresh0", &s);

	/* Channels at both ends of RFC 5766's range, data both ways, expiry. */
	memset(&s, 0, sizeof(s));
	s_allocate(&s, 0);
	s_signed(&s, 3, 0, 2);
	s_channel(&s, 0x4000);
	s_peer(&s, 0);
	s_signed(&s, 3, 8, 2); /* MESSAGE-INTEGRITY-SHA256 */
	s_channel(&s, 0x7fff);
	s_peer(&s, 1);
	s_chandata(&s, 0x4000, "to peer 0");
	s_chandata(&s, 0x7fff, "to peer 1");
	s_from_peer(&s, 0, 1, "from peer 1");
	s_clock(&s, 2, 11); /* channels expire, quarantine starts */
	s_chandata(&s, 0x7fff, "late");
	s_u8(&s, OP_REPLAY);
	s_write(dir, "channels_expiry", &s);

	/* Over TCP: Allocate, channel 0x5000, padded ChannelData, close. */
	memset(&s, 0, sizeof(s));
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 2);
	s_allocate(&s, 0);
	s_signed(&s, 3, 0, 2);
	s_channel(&s, 0x5000);
	s_peer(&s, 1);
	s_chandata(&s, 0x5000, "abc");
	s_from_peer(&s, 0, 1, "12345");
	s_u8(&s, OP_CLOSE);
	s_write(dir, "tcp_channel_close", &s);

	/* EVEN-PORT R, then a second client redeems the token; SHA-256 password. */
	memset(&s, 0, sizeof(s));
	s_raw_unauth(&s, STUN_METHOD_ALLOCATE);
	s_signed(&s, 0, 5, 2);
	s_transport(&s);
	{
		static const uint8_t r_bit = 0x80;

		s_attr(&s, STUN_ATTR_EVEN_PORT, &r_bit, 1);
	}
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 1);
	s_raw_unauth(&s, STUN_METHOD_ALLOCATE);
	s_signed(&s, 0, 0, 2);
	s_transport(&s);
	s_attr(&s, STUN_ATTR_RESERVATION_TOKEN, NULL, 0);
	s_clock(&s, 1, 31); /* an unredeemed reservation would be closed */
	s_write(dir, "even_port_token", &s);

	/* Refusals: wrong secret, expired, denied peers, quota, stale nonce. */
	memset(&s, 0, sizeof(s));
	s_allocate(&s, 1);
	s_signed(&s, 0, 2, 1);
	s_transport(&s);
	s_signed(&s, 0, 4, 1);
	s_transport(&s);
	s_signed(&s, 2, 4, 2);
	s_peer(&s, 4);
	s_peer(&s, 5);
	s_signed(&s, 3, 4, 2);
	s_channel(&s, 0x8000);
	s_peer(&s, 0);
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 3);
	s_allocate(&s, 3); /* previous secret, from the IPv6 client */
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 0);
	s_clock(&s, 1, 590);
	s_signed(&s, 1, 4, 0); /* client 3's nonce: 438 with one for client 0 */
	{
		static const uint8_t hour[4] = { 0, 0, 0x0e, 0x10 };

		s_signed(&s, 1, 4, 1); /* Refresh for an hour: outlive the nonce */
		s_attr(&s, STUN_ATTR_LIFETIME, hour, 4);
	}
	s_clock(&s, 1, 601);
	s_signed(&s, 1, 4, 0); /* nonce older than 600 s: 438, fresh nonce */
	s_u8(&s, OP_REPLAY);   /* the same stale request again: 438 */
	s_signed(&s, 1, 4, 0);
	s_write(dir, "refusals", &s);

	/* Dual-stack allocation from the IPv6 client, lifetime, Binding. */
	memset(&s, 0, sizeof(s));
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 3);
	s_raw_unauth(&s, STUN_METHOD_BINDING);
	s_raw_unauth(&s, STUN_METHOD_ALLOCATE);
	s_signed(&s, 0, 0, 3);
	s_transport(&s);
	{
		static const uint8_t v6[4] = { 2, 0, 0, 0 };
		static const uint8_t life[4] = { 0, 0, 0x0e, 0x10 };

		s_attr(&s, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, v6, 4);
		s_attr(&s, STUN_ATTR_LIFETIME, life, 4);
	}
	s_signed(&s, 2, 0, 2);
	s_peer(&s, 0);
	s_peer(&s, 2);
	s_from_peer(&s, 1, 2, "v6 peer");
	s_clock(&s, 2, 61);
	s_write(dir, "dual_stack", &s);

	/* Malformed attributes: EVEN-PORT of 4 bytes beside a RESERVATION-TOKEN
	 * (400 once authenticated), a LIFETIME of 3 in a Refresh, a Send
	 * indication with a 1-byte DONT-FRAGMENT (dropped). */
	memset(&s, 0, sizeof(s));
	s_raw_unauth(&s, STUN_METHOD_ALLOCATE);
	{
		static const uint8_t even4[4] = { 0x80, 0, 0, 0 };
		static const uint8_t token[8] = { 0, 0, 0, 0, 0, 0, 0x12, 0x34 };
		static const uint8_t life3[3] = { 0, 0, 0x0e };
		static const uint8_t df1[1] = { 1 };
		static const char data[] = "ping";

		s_signed(&s, 0, 0, 3);
		s_transport(&s);
		s_attr(&s, STUN_ATTR_EVEN_PORT, even4, 4);
		s_attr(&s, STUN_ATTR_RESERVATION_TOKEN, token, 8);
		s_allocate(&s, 0);
		s_signed(&s, 1, 0, 1);
		s_attr(&s, STUN_ATTR_LIFETIME, life3, 3);
		s_signed(&s, 2, 0, 1);
		s_peer(&s, 0);
		s_signed_cls(&s, 4, STUN_CLASS_INDICATION, 0, 3);
		s_peer(&s, 0);
		s_attr(&s, STUN_ATTR_DATA, data, 4);
		s_attr(&s, STUN_ATTR_DONT_FRAGMENT, df1, 1);
	}
	s_write(dir, "malformed_attrs", &s);

	/* USERHASH in place of USERNAME (credential 7, 90 s), refreshed by
	 * hash; past its expiry within the 120 s grace, then beyond it; a bare
	 * "<expiry>" username (credential 6) from the second client. */
	memset(&s, 0, sizeof(s));
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 1);
	s_allocate(&s, 6);
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 0);
	s_allocate(&s, 7);
	s_signed(&s, 1, 7, 0);
	s_signed(&s, 2, 7, 1);
	s_peer(&s, 1);
	s_clock(&s, 1, 100);
	s_signed(&s, 1, 7, 0); /* past its expiry, in the grace */
	s_clock(&s, 1, 120);
	s_signed(&s, 1, 7, 0); /* beyond the grace: 401 */
	s_write(dir, "userhash_grace_bare", &s);

	/* A nonce replayed from another 5-tuple: 438, then the fresh one works. */
	memset(&s, 0, sizeof(s));
	s_raw_unauth(&s, STUN_METHOD_ALLOCATE);
	s_u8(&s, OP_CLIENT);
	s_u8(&s, 2); /* the same IP over TCP */
	s_signed(&s, 0, 0, 1);
	s_transport(&s);
	s_signed(&s, 0, 0, 1);
	s_transport(&s);
	s_write(dir, "nonce_other_5tuple", &s);

	/* RFC 6062: a TCP allocation, Connect, its connect done, ConnectionBind
	 * from a data connection, bytes, an inbound peer bound over TLS, a
	 * close, Refresh 0. */
	memset(&s, 0, sizeof(s));
	s_client(&s, 2);
	s_tcp_allocate(&s, 0, false);
	s_signed(&s, S_M_CREATE_PERMISSION, 0, 2);
	s_peer(&s, 0);
	s_peer(&s, 1);
	s_signed(&s, S_M_CONNECT, 0, 1);
	s_peer(&s, 0);
	s_tcp(&s, 1, 0, 0); /* connected */
	s_client(&s, 4);
	s_bind_last(&s);
	s_tcp(&s, 3, 0, 1); /* bytes to the peer */
	s_tcp(&s, 3, 0, 0); /* and back */
	s_tcp(&s, 0, 0, 1); /* peer 1 connects in: ConnectionAttempt */
	s_client(&s, 5);
	s_bind_last(&s); /* another IP: 401 with its nonce */
	s_bind_last(&s);
	s_tcp(&s, 2, 0, 0); /* the first closes */
	s_client(&s, 2);
	for (int i = 0; i < 2; i++) { /* client 5's nonce first: 401, then done */
		static const uint8_t zero[4] = { 0 };

		s_signed(&s, 1, 0, 1);
		s_attr(&s, STUN_ATTR_LIFETIME, zero, 4);
	}
	s_write(dir, "tcp_relay", &s);

	/* RFC 6062 refusals: over UDP, with EVEN-PORT, Connect on a UDP
	 * allocation, to a denied peer, twice (446), refused (447), the bind
	 * timeout, a ConnectionBind on the control connection. */
	memset(&s, 0, sizeof(s));
	s_tcp_allocate(&s, 0, false); /* client 0 is UDP: 400 */
	s_allocate(&s, 0);
	s_signed(&s, S_M_CONNECT, 0, 1);
	s_peer(&s, 0);
	s_client(&s, 2);
	s_tcp_allocate(&s, 0, true);
	s_signed(&s, 0, 0, 1);
	{
		static const uint8_t tcp[4] = { 6, 0, 0, 0 };

		s_attr(&s, STUN_ATTR_REQUESTED_TRANSPORT, tcp, 4);
	}
	s_signed(&s, S_M_CONNECT, 0, 1);
	s_peer(&s, 4);
	s_signed(&s, S_M_CONNECT, 0, 1);
	s_peer(&s, 0);
	s_signed(&s, S_M_CONNECT, 0, 1);
	s_peer(&s, 0);
	s_signed(&s, S_M_CONNECT, 0, 1);
	s_peer(&s, 1);
	s_tcp(&s, 1, 1, 1); /* refused */
	s_tcp(&s, 1, 0, 0);
	s_bind_last(&s);
	s_clock(&s, 1, 31);
	s_client(&s, 4);
	s_bind_last(&s);
	s_write(dir, "tcp_relay_refusals", &s);
}

#endif
