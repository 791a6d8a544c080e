/*
 * libFuzzer target for the pure TURN state machine (src/turn), on the fake
 * clock and fake turn_io of tests/turn/turn_harness.h. A fresh server per
 * input; the input is a program of operations:
 *
 *   0 CLIENT  c                 switch among six client 5-tuples (UDP v4,
 *                               a second UDP v4 IP, TCP v4, UDP v6, and two
 *                               streams for RFC 6062 data connections: TCP
 *                               from the first IP, TLS from a third)
 *   1 RAW     len:u16 bytes     a datagram/frame from the client, through
 *                               stun_frame_decode and turn_handle_frame as
 *                               net/ does (a well-framed message with a
 *                               malformed attribute too: turn answers a
 *                               request 400 and drops the rest)
 *   2 SIGNED  m c cred n (type:u16 len:u8 value)*n
 *                               a request the fuzzer signs with a REST
 *                               credential and the last NONCE seen, so the
 *                               mutator reaches code behind the MAC check;
 *                               cred picks the secret, the expiry, a bare
 *                               "<expiry>" username, USERHASH in place of
 *                               USERNAME (from the ICE API's table), the
 *                               SHA-256 password algorithm, and (bit 3)
 *                               MESSAGE-INTEGRITY-SHA256
 *   3 CHANDATA ch:u16 len:u16 bytes
 *                               a ChannelData frame (padded on TCP)
 *   4 PEER    relay peer len:u16 bytes
 *                               a datagram from a peer on an open relay socket
 *   5 CLOCK   scale n:u16       advance the fake clock (ms, s or min; at most
 *                               an hour per step) and run
 *                               turn_expire: lifetimes, quarantine, nonces,
 *                               REST expiry and reservations all time out
 *   6 CLOSE                     the client's TCP connection closes
 *   7 REPLAY                    retransmit the last SIGNED request (same tid)
 *   8 TCP     what k ...        what net reports of RFC 6062 connections:
 *                               0 a peer (peer) connects to the k-th TCP relay;
 *                               1 the k-th open connection's connect ended
 *                               (ok or refused); 2 it closed; 3 len:u16 bytes
 *                               moved on it (dir)
 *
 * In SIGNED, an XOR-PEER-ADDRESS of length 1 is replaced by peer[value], a
 * RESERVATION-TOKEN of length 0 by the last token the server handed out, and
 * a CONNECTION-ID of length 0 by the last connection id it named.
 * The server runs with userhash on (nonces advertise username anonymity)
 * and a credential grace of 120 s, so CLOCK reaches both sides of it.
 *
 * Properties beyond "no crash, no leak, no UB": every STUN answer parses
 * byte-exact with a FINGERPRINT and goes to the 5-tuple that asked; relayed
 * data reaches the client as a well-formed Data indication or ChannelData
 * frame for its transport; the fake I/O never sees a send on a closed or
 * dormant relay, a double close, or a socket left open after
 * turn_server_free; this worker's allocation count equals the shared one and
 * never exceeds max-allocations. RFC 6062: a late Connect answer or a
 * ConnectionAttempt goes to a stream 5-tuple, parses and names a connection;
 * turn binds and closes only peer connections net holds open, counts bytes
 * on every one of them, and holds exactly as many as net (the gauge).
 *
 * Seeds: FUZZ_TURN_WRITE_SEEDS=<dir> ./fuzz_turn writes fuzz/corpus/turn/
 * from the harness's own request builders and exits.
 */
#include <sys/stat.h>

#include <stdio.h>

#include "icestation/auth_userhash.h"

#include "fuzz_in.h"
#include "fuzz_pool.h"
#include "fuzz_prop.h"
#include "fuzz_random.h"
#include "turn/turn_harness.h"

enum {
	OP_CLIENT,
	OP_RAW,
	OP_SIGNED,
	OP_CHANDATA,
	OP_PEER,
	OP_CLOCK,
	OP_CLOSE,
	OP_REPLAY,
	OP_TCP,
	N_OPS,
	N_CLIENTS = 6,
	MAX_FRAME = 1600, /* fits the harness's send slots with any framing */
	MAX_OPS = 64,
};

static const struct {
	const char *ip;
	uint16_t port;
	uint8_t proto;
} clients[N_CLIENTS] = {
	{ "192.0.2.1", 40000, TURN_PROTO_UDP }, { "192.0.2.2", 40001, TURN_PROTO_UDP },
	{ "192.0.2.1", 40002, TURN_PROTO_TCP }, { "2001:db8:9::1", 40003, TURN_PROTO_UDP },
	{ "192.0.2.1", 40004, TURN_PROTO_TCP }, { "192.0.2.3", 40005, TURN_PROTO_TLS },
};

/* Allowed public peers, then ones the policy denies. */
static const struct {
	const char *ip;
	uint16_t port;
} peers[] = {
	{ "8.8.8.8", 5000 },       { "1.1.1.1", 5001 },       { "2001:4860::8888", 5002 },
	{ "8.8.4.4", 0 },          { "127.0.0.1", 5004 },     { "10.0.0.1", 5005 },
	{ "::ffff:127.0.0.1", 6 }, { "198.51.100.1", 50001 }, { "203.0.113.10", 3478 },
	{ "64:ff9b::a00:1", 7 },
};

static const uint16_t methods[] = {
	STUN_METHOD_ALLOCATE,     STUN_METHOD_REFRESH, STUN_METHOD_CREATE_PERMISSION,
	STUN_METHOD_CHANNEL_BIND, STUN_METHOD_SEND,    STUN_METHOD_DATA,
	STUN_METHOD_BINDING,      STUN_METHOD_CONNECT, STUN_METHOD_CONNECTION_BIND,
};

struct fz {
	struct harness h;
	struct turn_5tuple ft[N_CLIENTS];
	int cur;
	uint8_t token[8];
	bool have_token;
	struct treq last; /* the last SIGNED request, for REPLAY */
	bool have_last;
	uint8_t last_cls; /* class of the last answer */
	uint32_t conn_id; /* the last CONNECTION-ID the server named (RFC 6062) */
	bool have_conn_id;
	bool bound[N_CLIENTS]; /* a data connection now: net relays it raw */
};

static struct ice_metrics *metrics;
static struct fake_io *fio; /* one per process, reset per input (h_start) */
static bool trace;          /* FUZZ_TURN_TRACE=1: print every answer (to check seeds) */

static void
peer_addr(struct ice_addr *a, uint8_t i)
{
	i %= ICE_ARRAY_SIZE(peers);
	PROP(ice_addr_parse_ip(a, peers[i].ip, peers[i].port) == 0);
}

/* A CONNECTION-ID the server named (Connect success, ConnectionAttempt). */
static void
learn_conn_id(struct fz *f, const struct stun_msg *m)
{
	const struct stun_attr *a = stun_msg_find(m, STUN_ATTR_CONNECTION_ID);

	if (a != NULL && stun_attr_u32(a, &f->conn_id) == 0)
		f->have_conn_id = true;
}

/*
 * What turn sent on its own (RFC 6062): a late Connect answer or a
 * ConnectionAttempt, to a stream client, well-formed, naming a connection
 * when it succeeds.
 */
static void
check_async_send(struct fz *f, int before)
{
	struct fake_io *io = f->h.io;
	struct stun_msg m;

	if (io->n_client == before)
		return;
	PROP(io->n_client == before + 1);
	PROP(io->client_where == TURN_BUF_SCRATCH);
	PROP(io->client_ft.proto != TURN_PROTO_UDP);
	PROP(stun_parse(&m, io->client_buf, io->client_len) == (int)io->client_len);
	PROP(m.fingerprint >= 0);
	if (m.method == STUN_METHOD_CONNECTION_ATTEMPT) {
		PROP(m.cls == STUN_CLASS_INDICATION);
		PROP(stun_msg_find(&m, STUN_ATTR_XOR_PEER_ADDRESS) != NULL);
	} else {
		PROP(m.method == STUN_METHOD_CONNECT);
		PROP(m.cls == STUN_CLASS_ERROR || m.cls == STUN_CLASS_SUCCESS);
	}
	if (m.cls != STUN_CLASS_ERROR)
		PROP(stun_msg_find(&m, STUN_ATTR_CONNECTION_ID) != NULL);
	learn_conn_id(f, &m);
}

/* Check what the server just sent the client, and learn NONCE and tokens. */
static void
check_client_send(struct fz *f, int before, bool answer)
{
	struct fake_io *io = f->h.io;
	struct stun_msg m;
	const struct stun_attr *a;

	if (io->n_client == before)
		return;
	PROP(io->n_client == before + 1); /* one answer or one relayed datagram */
	if (answer) {
		/* An answer goes back to the 5-tuple that asked, from scratch. */
		PROP(io->client_where == TURN_BUF_SCRATCH);
		PROP(ice_addr_equal(&io->client_ft.client, &f->ft[f->cur].client) &&
		     io->client_ft.proto == f->ft[f->cur].proto);
	}
	if (stun_demux(io->client_buf, io->client_len) == STUN_DEMUX_CHANNELDATA) {
		const uint8_t *d;
		size_t dlen;
		uint16_t ch;
		bool stream = io->client_ft.proto != TURN_PROTO_UDP;

		PROP(!answer && io->client_where == TURN_BUF_CALLER);
		PROP(channeldata_parse(io->client_buf, io->client_len, stream, &ch, &d, &dlen) ==
		     (int)io->client_len);
		PROP(!stream || io->client_len % 4 == 0);
		return;
	}
	PROP(stun_parse(&m, io->client_buf, io->client_len) == (int)io->client_len);
	learn_conn_id(f, &m);
	if (!answer) {
		PROP(m.method == STUN_METHOD_DATA && m.cls == STUN_CLASS_INDICATION);
		PROP(stun_msg_find(&m, STUN_ATTR_DATA) != NULL);
		return;
	}
	PROP(m.cls == STUN_CLASS_SUCCESS || m.cls == STUN_CLASS_ERROR);
	PROP(m.fingerprint >= 0);
	f->last_cls = m.cls;
	if (trace)
		fprintf(stderr, "client %d: method 0x%03x -> %d\n", f->cur, m.method,
		        tmsg_code(&m));
	if (m.cls == STUN_CLASS_ERROR) {
		int code = -1;
		const char *reason;
		size_t rlen;

		a = stun_msg_find(&m, STUN_ATTR_ERROR_CODE);
		PROP(a != NULL && stun_attr_error_code(a, &code, &reason, &rlen) == 0);
		PROP(code >= 300 && code <= 699);
		a = stun_msg_find(&m, STUN_ATTR_NONCE);
		if (a != NULL && a->len <= sizeof(f->h.nonce)) {
			memcpy(f->h.nonce, a->value, a->len);
			f->h.nonce_len = a->len;
		}
	}
	a = stun_msg_find(&m, STUN_ATTR_RESERVATION_TOKEN);
	if (a != NULL && a->len == sizeof(f->token)) {
		memcpy(f->token, a->value, sizeof(f->token));
		f->have_token = true;
	}
}

static void
check_counts(struct fz *f)
{
	size_t mine = turn_server_allocations(f->h.srv);

	PROP(mine == turn_shared_allocations(f->h.sh));
	PROP(mine <= f->h.cfg.turn.max_allocations);
	PROP(f->h.io->n_open >= 0 && (size_t)f->h.io->n_open >= mine);
	/* turn holds exactly the peer connections net keeps open */
	PROP(h_metric(&f->h, ICE_M_TURN_TCP_CONNECTIONS) == (uint64_t)f->h.io->tcp_live);
	/* The harness's CHECKs in the fake I/O (sends on closed relays, double
	 * closes) count failures instead of aborting. */
	PROP(t_failures == 0);
}

/*
 * What net/ does with one datagram or stream frame from the client: the
 * shared decoder, then turn's one entry point. (net answers Binding on its
 * own fast path and drops responses before turn; turn answers Binding the
 * same way and drops responses too, so feeding it everything is faithful.)
 */
static void
dispatch(struct fz *f, const uint8_t *buf, size_t len)
{
	const struct turn_5tuple *ft = &f->ft[f->cur];
	struct stun_frame fr;
	int before = f->h.io->n_client, binds = f->h.io->n_tcp_binds;

	if (f->bound[f->cur])
		return; /* bytes for its peer: net never frames them */
	stun_frame_decode(&fr, buf, len, ft->proto != TURN_PROTO_UDP);
	turn_handle_frame(f->h.srv, &fr, ft, f->h.now);
	if (f->h.io->n_tcp_binds != binds) {
		/* RFC 6062: bound only by a ConnectionBind on this stream, after
		 * its success answer went out on it. */
		PROP(f->h.io->n_tcp_binds == binds + 1);
		PROP(fr.kind == STUN_FRAME_STUN && fr.msg.method == STUN_METHOD_CONNECTION_BIND);
		PROP(f->h.io->last_bind_ft.link == ft->link && ft->proto != TURN_PROTO_UDP);
		PROP(f->h.io->n_client == before + 1);
		PROP((f->h.io->client_buf[0] << 8 | f->h.io->client_buf[1]) ==
		     stun_msg_type(STUN_METHOD_CONNECTION_BIND, STUN_CLASS_SUCCESS));
		f->bound[f->cur] = true;
	}
	switch (fr.kind) {
	case STUN_FRAME_CHANNELDATA:
		PROP(fr.channel >= CHANNEL_MIN && fr.channel <= CHANNEL_MAX);
		PROP(f->h.io->n_client == before); /* ChannelData is never answered */
		if (trace)
			fprintf(stderr, "client %d: ChannelData 0x%04x, %d to peers\n", f->cur,
			        fr.channel, f->h.io->n_peer);
		return;
	case STUN_FRAME_STUN:
	case STUN_FRAME_BAD_ATTR:
		check_client_send(f, before, true);
		if (fr.msg.cls != STUN_CLASS_REQUEST)
			PROP(f->h.io->n_client == before);
		/* a malformed attribute never gets a success */
		if (fr.kind == STUN_FRAME_BAD_ATTR && f->h.io->n_client != before)
			PROP(f->last_cls == STUN_CLASS_ERROR);
		return;
	default:
		PROP(f->h.io->n_client == before); /* junk is never answered */
		return;
	}
}

static void
op_signed(struct fz *f, struct in *in)
{
	struct treq *r = &f->last;
	uint16_t method = methods[in_u8(in) % ICE_ARRAY_SIZE(methods)];
	uint8_t cls = in_u8(in) & 1 ? STUN_CLASS_INDICATION : STUN_CLASS_REQUEST;
	uint8_t cred = in_u8(in);
	uint8_t n = in_u8(in) % 8;
	bool sha256_alg = false, by_hash = false;

	switch (cred % 8) {
	case 1:
		h_mint(&f->h, "wrong-secret", 3600, "did:peers:alice");
		break;
	case 2:
		h_mint(&f->h, H_SECRET, -1, "did:peers:alice"); /* expired */
		break;
	case 3:
		h_mint(&f->h, H_OLD_SECRET, 60, "did:peers:bob");
		break;
	case 4:
		h_mint(&f->h, H_SECRET, 3600, ""); /* anonymous */
		break;
	case 5:
		tcred_mint(&f->h.cred, H_SECRET, H_UNIX0 + 3600, "did:peers:alice", H_REALM,
		           STUN_PASSWORD_ALG_SHA256);
		sha256_alg = true;
		break;
	case 6:
		/* a bare "<expiry>", short-lived: CLOCK takes it into its grace */
		tcred_mint(&f->h.cred, H_SECRET, H_UNIX0 + 60, NULL, H_REALM,
		           STUN_PASSWORD_ALG_MD5);
		break;
	case 7:
		/* minted by the "ICE API" (recorded for USERHASH), sent by hash */
		h_mint(&f->h, H_SECRET, 90, "did:peers:carol");
		PROP(ltc_userhash_add(turn_shared_userhash(f->h.sh), f->h.cred.username,
		                      strlen(f->h.cred.username), H_REALM, strlen(H_REALM),
		                      H_UNIX0 + 90) == 0);
		by_hash = true;
		break;
	default:
		h_mint(&f->h, H_SECRET, 3600, "did:peers:alice");
		break;
	}
	treq_begin(r, method, cls);
	for (uint8_t i = 0; i < n && in->left > 0; i++) {
		uint16_t type = in_u16(in);
		size_t len;
		const uint8_t *v = in_bytes(in, in_u8(in), &len);
		struct ice_addr a;

		if (type == STUN_ATTR_XOR_PEER_ADDRESS && len == 1) {
			peer_addr(&a, v[0]);
			stun_build_xor_addr(&r->b, type, &a);
		} else if (type == STUN_ATTR_RESERVATION_TOKEN && len == 0 && f->have_token) {
			stun_build_attr(&r->b, type, f->token, sizeof(f->token));
		} else if (type == STUN_ATTR_CONNECTION_ID && len == 0 && f->have_conn_id) {
			stun_build_u32(&r->b, type, f->conn_id);
		} else {
			stun_build_attr(&r->b, type, v, len);
		}
	}
	if (sha256_alg) {
		stun_build_password_algorithms(&r->b, ltc_password_algorithms,
		                               ICE_ARRAY_SIZE(ltc_password_algorithms));
		stun_build_password_algorithm(&r->b, STUN_PASSWORD_ALG_SHA256);
	}
	if (by_hash) {
		uint8_t uh[LTC_USERHASH_LEN];

		PROP(ltc_userhash_compute(f->h.cred.username, strlen(f->h.cred.username), H_REALM,
		                          strlen(H_REALM), uh) == 0);
		stun_build_attr(&r->b, STUN_ATTR_USERHASH, uh, sizeof(uh));
		stun_build_attr(&r->b, STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
		stun_build_attr(&r->b, STUN_ATTR_NONCE, f->h.nonce, f->h.nonce_len);
		if (cred & 8)
			stun_build_integrity_sha256(&r->b, f->h.cred.key,
			                            (size_t)f->h.cred.key_len);
		else
			stun_build_integrity(&r->b, f->h.cred.key, (size_t)f->h.cred.key_len);
	} else {
		treq_sign(r, &f->h.cred, H_REALM, f->h.nonce, f->h.nonce_len, cred & 8);
	}
	stun_build_fingerprint(&r->b);
	r->len = stun_build_finish(&r->b);
	f->have_last = r->len > 0;
	if (f->have_last)
		dispatch(f, r->buf, (size_t)r->len);
}

static void
op_peer(struct fz *f, struct in *in)
{
	struct fake_io *io = f->h.io;
	uint8_t pick = in_u8(in), pi = in_u8(in);
	size_t len;
	const uint8_t *p = in_bytes(in, in_u16(in) % MAX_FRAME, &len);
	uint8_t slot[H_SLOT];
	struct ice_addr a;
	int handle = -1, seen = 0, before = io->n_client;

	/* The pick-th relay that is open and not dormant (net polls only those). */
	for (int i = 0; i < io->next_handle; i++) {
		if (io->relays[i].open && !io->relays[i].dormant) {
			handle = i;
			if (seen++ == pick)
				break;
		}
	}
	if (handle < 0)
		return;
	peer_addr(&a, pi);
	memset(slot, 0xee, sizeof(slot));
	memcpy(slot + TURN_PEER_HEADROOM, p, len);
	turn_handle_peer(f->h.srv, handle, &a, slot + TURN_PEER_HEADROOM, len, f->h.now);
	check_client_send(f, before, false);
	if (io->n_client != before)
		PROP(io->client_where == TURN_BUF_CALLER);
	if (trace)
		fprintf(stderr, "peer %u -> relay %d: %s\n", pi, handle,
		        io->n_client == before ? "dropped"
		        : stun_demux(io->client_buf, io->client_len) == STUN_DEMUX_CHANNELDATA
		                ? "ChannelData"
		                : "Data indication");
}

static void
op_clock(struct fz *f, struct in *in)
{
	static const ice_ms_t scale[] = { 1, 1000, 60 * 1000, 7 };
	ice_ms_t step = scale[in_u8(in) % ICE_ARRAY_SIZE(scale)] * in_u16(in);

	/* net runs turn_expire every second or so; one step of at most an hour
	 * (the longest lifetime) covers every expiry. Longer jumps only make
	 * the timer wheel walk its empty 4.096 s blocks (~1M turns for the 45
	 * days a u16 of minutes allows), which is slow, not wrong. */
	step = ICE_MIN(step, (ice_ms_t)3600 * 1000);

	h_at(&f->h, f->h.now + step);
	turn_server_set_unix_time(f->h.srv, H_UNIX0 + (uint64_t)(f->h.now - H_T0) / 1000);
}

/* The k-th open one of the fake I/O's peer connections, or -1. */
static int
tcp_pick(const struct fake_io *io, uint8_t k)
{
	int found = -1, seen = 0;

	for (int i = 0; i < io->tcp_next; i++) {
		if (io->tcp_open[i]) {
			found = i;
			if (seen++ == k)
				break;
		}
	}
	return found;
}

static void
op_tcp(struct fz *f, struct in *in)
{
	struct fake_io *io = f->h.io;
	uint8_t what = in_u8(in) % 4, k = in_u8(in);
	int before = io->n_client, i, handle;
	struct ice_addr a;
	uint32_t id;

	if (what == 0) {
		/* A peer connects to the k-th open TCP relay. */
		int relay = -1, seen = 0;

		for (int r = 0; r < io->next_handle; r++) {
			if (io->relays[r].open && io->relays[r].tcp) {
				relay = r;
				if (seen++ == k)
					break;
			}
		}
		peer_addr(&a, in_u8(in));
		if (relay >= 0 && h_tcp_accept(&f->h, relay, &a, &handle, &id) == 0)
			PROP(io->n_client == before + 1); /* its ConnectionAttempt */
		check_async_send(f, before);
		return;
	}
	i = tcp_pick(io, k);
	if (i < 0)
		return;
	switch (what) {
	case 1:
		turn_tcp_connected(f->h.srv, io->tcp_ids[i], in_u8(in) & 1 ? -ECONNREFUSED : 0,
		                   f->h.now);
		break;
	case 2:
		h_tcp_closed(&f->h, H_TCP_BASE + i);
		break;
	default: {
		bool to_peer = in_u8(in) & 1;

		/* Every connection net holds is one turn knows. */
		PROP(turn_tcp_relayed(f->h.srv, io->tcp_ids[i], to_peer, in_u16(in), f->h.now) >=
		     0);
		break;
	}
	}
	check_async_send(f, before);
}

static void
run(struct fz *f, struct in *in)
{
	for (int n = 0; n < MAX_OPS && in->left > 0; n++) {
		switch (in_u8(in) % N_OPS) {
		case OP_CLIENT:
			f->cur = in_u8(in) % N_CLIENTS;
			break;
		case OP_RAW: {
			size_t len;
			const uint8_t *p = in_bytes(in, in_u16(in) % MAX_FRAME, &len);
			uint8_t *copy = malloc(len ? len : 1); /* exact size, for ASan */

			PROP(copy != NULL);
			memcpy(copy, p, len);
			dispatch(f, copy, len);
			free(copy);
			break;
		}
		case OP_SIGNED:
			op_signed(f, in);
			break;
		case OP_CHANDATA: {
			uint8_t frame[CHANNELDATA_HEADER_LEN + MAX_FRAME + 3] = { 0 };
			uint16_t ch = in_u16(in);
			size_t len;
			const uint8_t *p = in_bytes(in, in_u16(in) % MAX_FRAME, &len);
			bool stream = f->ft[f->cur].proto != TURN_PROTO_UDP;

			channeldata_put_header(frame, ch, (uint16_t)len);
			memcpy(frame + CHANNELDATA_HEADER_LEN, p, len);
			dispatch(f, frame, channeldata_frame_len(len, stream));
			break;
		}
		case OP_PEER:
			op_peer(f, in);
			break;
		case OP_CLOCK:
			op_clock(f, in);
			break;
		case OP_CLOSE:
			if (f->ft[f->cur].proto != TURN_PROTO_UDP && !f->bound[f->cur]) {
				size_t mine = turn_server_allocations(f->h.srv);
				int holds = f->h.io->holds;

				turn_close_5tuple(f->h.srv, &f->ft[f->cur], f->h.now);
				/* The allocation it held (if any) gave its hold back. */
				PROP(holds - f->h.io->holds ==
				     (int)(mine - turn_server_allocations(f->h.srv)));
			}
			break;
		case OP_REPLAY:
			if (f->have_last)
				dispatch(f, f->last.buf, (size_t)f->last.len);
			break;
		case OP_TCP:
			op_tcp(f, in);
			break;
		}
		check_counts(f);
	}
}

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_TURN_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	metrics = ice_metrics_block_new(); /* process-lifetime, never freed */
	fio = calloc(1, sizeof(*fio));     /* likewise */
	trace = getenv("FUZZ_TURN_TRACE") != NULL;
	PROP(metrics != NULL && fio != NULL);
	if (dir != NULL) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	struct in in = { data, size };

	memset(&f, 0, sizeof(f));
	t_tid_counter = 1; /* transaction ids, keys and IVs depend on the input only */
	fuzz_random_reset();
	h_config(&f.h);
	h_config_v6(&f.h); /* IPv6 and dual-stack relays too */
	f.h.cfg.turn.userhash = true;
	f.h.cfg.turn.userhash_table_size = 8;
	f.h.cfg.turn.credential_grace_s = 120;
	f.h.m = metrics;
	f.h.io = fio;
	h_start(&f.h);
	for (int i = 0; i < N_CLIENTS; i++) {
		h_set_client(&f.h, clients[i].ip, clients[i].port, clients[i].proto);
		f.ft[i] = f.h.ft;
		f.ft[i].link = &f.ft[i];
	}
	run(&f, &in);
	h_stop(&f.h); /* CHECKs every relay socket was closed */
	PROP(t_failures == 0);
	return 0;
}

#include "fuzz_turn_seeds.h"
