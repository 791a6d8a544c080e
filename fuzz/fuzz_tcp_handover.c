/*
 * libFuzzer target for the RFC 6062 data-connection handover: a client's
 * new data connection that the kernel's SO_REUSEPORT hash gave to worker
 * B while worker A holds its peer connections (net/tcp_takeover.c,
 * tcp_relay.h). Two turn servers share one turn_shared, on the fake clock
 * and I/O of tests/turn/turn_harness.h. A holds a TCP allocation with two
 * peer connections waiting for their ConnectionBind (one accepted, one from
 * a Connect). The input is a program that builds the data connection's
 * byte stream; the stream is then walked the way net's conn_frames walks
 * one: cut into frames (stun_stream_frame_len), each decoded
 * (stun_frame_decode) and given to the turn of the worker the stream is on,
 * unless turn_tcp_route names the other worker and the stream holds no
 * allocation there, in which case the stream moves, that frame unread; once
 * a ConnectionBind succeeds (tcp_bind) the rest is the client's raw bytes
 * for the peer and is never framed.
 *
 *   0 RAW   len:u8 bytes          bytes as they are
 *   1 BIND  which cred            a ConnectionBind the fuzzer signs: which
 *                                 names A's accepted or connected one, an id
 *                                 of worker B, of a worker that does not
 *                                 exist, a fuzzer u32, or none; cred is the
 *                                 allocation's user, another user, or none
 *   2 OTHER which                 another signed request on the stream: a TCP
 *                                 or UDP Allocate, Binding, Refresh, Connect
 *
 * Properties: a frame is handled by exactly one worker, and a move happens
 * only for a ConnectionBind naming the other worker, which then handles
 * that very frame; a bind happens at most once, on A, for the connection
 * the ConnectionBind named, right after its success answer on this stream;
 * nothing after it is framed, and the bytes after it are counted for that
 * connection; B never binds; answers go only to this stream; both workers
 * end with every socket closed and every hold given back.
 *
 * Seeds: FUZZ_HANDOVER_WRITE_SEEDS=<dir> ./fuzz_tcp_handover writes
 * fuzz/corpus/tcp_handover/ and exits.
 */
#include <sys/stat.h>

#include <stdio.h>

#include "fuzz_in.h"
#include "fuzz_prop.h"
#include "turn/turn_harness.h"

enum {
	OP_RAW,
	OP_BIND,
	OP_OTHER,
	N_OPS,
	MAX_STREAM = 4096,
	MAX_OPS = 24,
	WORKER_A = 1,
	WORKER_B = 0,
};

struct fz {
	struct harness a, b;
	struct turn_5tuple data; /* the client's data connection */
	uint8_t nonce[STUN_MAX_NONCE_LEN];
	size_t nonce_len;
	uint32_t id[2]; /* A's pending connections: accepted, connected */
	int handle[2];
	uint8_t stream[MAX_STREAM];
	size_t len;
};

static struct ice_metrics *metrics_a, *metrics_b;
static bool trace; /* FUZZ_HANDOVER_TRACE=1: print each frame's fate (to check seeds) */

static void
append(struct fz *f, const void *p, size_t n)
{
	n = ICE_MIN(n, sizeof(f->stream) - f->len);
	memcpy(f->stream + f->len, p, n);
	f->len += n;
}

/* Sign r with cred (NULL: unsigned) and the data connection's nonce, append it. */
static void
append_req(struct fz *f, struct treq *r, const struct tcred *cred)
{
	if (cred != NULL)
		treq_sign(r, cred, H_REALM, f->nonce, f->nonce_len, false);
	stun_build_fingerprint(&r->b);
	r->len = stun_build_finish(&r->b);
	if (r->len > 0)
		append(f, r->buf, (size_t)r->len);
}

static void
op_bind(struct fz *f, struct in *in)
{
	uint8_t which = in_u8(in) % 6, who = in_u8(in) % 3;
	uint32_t id = 0;
	struct tcred other;
	struct treq r;

	treq_begin(&r, STUN_METHOD_CONNECTION_BIND, STUN_CLASS_REQUEST);
	switch (which) {
	case 0:
	case 1:
		id = f->id[which];
		break;
	case 2:
		id = (uint32_t)WORKER_B << 24 | 1;
		break;
	case 3:
		id = (uint32_t)7 << 24 | (f->id[0] & 0xffffff); /* no worker 7 */
		break;
	case 4:
		for (int i = 0; i < 4; i++)
			id = id << 8 | in_u8(in);
		break;
	default:
		break; /* no CONNECTION-ID */
	}
	if (which != 5)
		stun_build_u32(&r.b, STUN_ATTR_CONNECTION_ID, id);
	if (who == 1)
		tcred_mint(&other, H_SECRET, H_UNIX0 + 3600, "did:peers:mallory", H_REALM,
		           STUN_PASSWORD_ALG_MD5);
	append_req(f, &r, who == 0 ? &f->a.cred : who == 1 ? &other : NULL);
}

static void
op_other(struct fz *f, struct in *in)
{
	static const uint16_t methods[] = { STUN_METHOD_ALLOCATE, STUN_METHOD_ALLOCATE,
		                            STUN_METHOD_BINDING, STUN_METHOD_REFRESH,
		                            STUN_METHOD_CONNECT };
	uint8_t which = in_u8(in) % ICE_ARRAY_SIZE(methods);
	struct ice_addr peer;
	struct treq r;

	treq_begin(&r, methods[which], STUN_CLASS_REQUEST);
	if (which < 2)
		stun_build_requested_transport(&r.b, which == 0 ? 6 : 17);
	if (which == 4) {
		REQUIRE(ice_addr_parse_ip(&peer, "1.1.1.1", 443) == 0);
		stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &peer);
	}
	append_req(f, &r, &f->a.cred);
}

/* The harness of the worker with id wid. */
static struct harness *
worker(struct fz *f, int wid)
{
	return wid == WORKER_A ? &f->a : &f->b;
}

/* Allocations this stream holds on h (A's control connection holds one). */
static int
stream_holds(struct fz *f, struct harness *h)
{
	return h->io->holds - (h == &f->a ? 1 : 0);
}

/* After a bind on A: it was for the connection msg named, right after its answer. */
static void
check_bind(struct fz *f, const struct stun_msg *msg, int before)
{
	const struct stun_attr *at = stun_msg_find(msg, STUN_ATTR_CONNECTION_ID);
	struct fake_io *io = f->a.io;
	struct stun_msg m;
	uint32_t id;
	int k;

	PROP(msg->method == STUN_METHOD_CONNECTION_BIND && at != NULL);
	PROP(stun_attr_u32(at, &id) == 0);
	k = io->last_bind_handle - H_TCP_BASE;
	PROP(k >= 0 && k < H_TCP_MAX && io->tcp_ids[k] == id);
	PROP(id == f->id[0] || id == f->id[1]);
	PROP(io->last_bind_ft.link == f->data.link);
	PROP(io->n_client == before + 1 && io->client_ft.link == f->data.link);
	PROP(stun_parse(&m, io->client_buf, io->client_len) == (int)io->client_len);
	PROP(m.cls == STUN_CLASS_SUCCESS && m.method == STUN_METHOD_CONNECTION_BIND);
}

/* Walk the stream as conn_frames does; returns the id bound, or 0. */
static uint32_t
walk(struct fz *f)
{
	int cur = WORKER_B;
	size_t off = 0;
	struct stun_frame fr;

	while (f->len - off >= 4) {
		struct harness *h = worker(f, cur);
		int n = stun_stream_frame_len(f->stream + off, f->len - off), route;
		int before_a = f->a.io->n_client, before_b = f->b.io->n_client;
		int binds_a = f->a.io->n_tcp_binds;

		if (n <= 0)
			break; /* incomplete (net waits), or not a frame (net closes) */
		stun_frame_decode(&fr, f->stream + off, (size_t)n, true);
		route = fr.kind == STUN_FRAME_STUN ? turn_tcp_route(&fr.msg, (unsigned)cur, 2) : -1;
		if (route >= 0 && stream_holds(f, h) == 0) {
			/* Handed over, frame unread: the other worker takes this
			 * very frame (it names that worker: no move back). */
			PROP(fr.msg.method == STUN_METHOD_CONNECTION_BIND && route != cur);
			PROP(turn_tcp_route(&fr.msg, (unsigned)route, 2) < 0);
			if (trace)
				fprintf(stderr, "frame at %zu: handed to worker %d\n", off, route);
			cur = route;
			continue;
		}
		turn_handle_frame(h->srv, &fr, &f->data, h->now);
		if (trace)
			fprintf(stderr, "frame at %zu (%d bytes): worker %d, answered %d\n", off, n,
			        cur, h->io->n_client - (cur == WORKER_A ? before_a : before_b));
		PROP(f->b.io->n_tcp_binds == 0);
		/* answers only to this stream */
		if (f->a.io->n_client != before_a)
			PROP(f->a.io->client_ft.link == f->data.link);
		if (f->b.io->n_client != before_b)
			PROP(f->b.io->client_ft.link == f->data.link);
		if (f->a.io->n_tcp_binds != binds_a) {
			uint32_t id;

			PROP(cur == WORKER_A && f->a.io->n_tcp_binds == binds_a + 1);
			check_bind(f, &fr.msg, before_a);
			(void)stun_attr_u32(stun_msg_find(&fr.msg, STUN_ATTR_CONNECTION_ID), &id);
			off += (size_t)n;
			/* The rest is the client's, raw: counted, never framed. */
			PROP(turn_tcp_relayed(f->a.srv, id, true, f->len - off, f->a.now) == 0);
			if (trace)
				fprintf(stderr, "bound %08x, %zu raw bytes\n", id, f->len - off);
			return id;
		}
		off += (size_t)n;
	}
	return 0;
}

static void
setup(struct fz *f)
{
	struct ice_addr peer, relayed;
	int relay;
	struct treq r;

	h_config(&f->a);
	f->a.wid = WORKER_A;
	f->a.m = metrics_a;
	h_start(&f->a);
	h_config(&f->b);
	f->b.wid = WORKER_B;
	f->b.join = f->a.sh;
	f->b.m = metrics_b;
	h_start(&f->b);
	f->b.cred = f->a.cred;

	/* A: a TCP allocation, a permission, an accepted and a connected peer. */
	h_set_client(&f->a, "192.0.2.1", 40000, TURN_PROTO_TCP);
	h_get_nonce(&f->a);
	treq_begin(&r, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_requested_transport(&r.b, 6);
	PROP(h_send_signed(&f->a, &r) == 0);
	relayed = h_relayed(&f->a, 0);
	relay = h_handle_of(&f->a, relayed.port);
	PROP(relay >= 0);
	PROP(h_permission(&f->a, "8.8.8.8", 0) == 0);
	PROP(ice_addr_parse_ip(&peer, "8.8.8.8", 5555) == 0);
	PROP(h_tcp_accept(&f->a, relay, &peer, &f->handle[0], &f->id[0]) == 0);
	treq_begin(&r, STUN_METHOD_CONNECT, STUN_CLASS_REQUEST);
	PROP(ice_addr_parse_ip(&peer, "8.8.4.4", 443) == 0);
	stun_build_xor_addr(&r.b, STUN_ATTR_XOR_PEER_ADDRESS, &peer);
	PROP(h_send_signed(&f->a, &r) == -1); /* answered when connected */
	f->id[1] = f->a.io->last_tcp_id;
	f->handle[1] = H_TCP_BASE + f->a.io->tcp_next - 1;
	turn_tcp_connected(f->a.srv, f->id[1], 0, f->a.now);
	PROP(f->id[0] >> 24 == WORKER_A && f->id[1] >> 24 == WORKER_A);

	/* The data connection, and a nonce of its own (from a 401 on A). */
	REQUIRE(ice_addr_parse_ip(&f->data.client, "192.0.2.1", 41000) == 0);
	REQUIRE(ice_addr_parse_ip(&f->data.server, "203.0.113.10", 3478) == 0);
	f->data.proto = TURN_PROTO_TCP;
	f->data.link = &f->data;
	f->a.ft = f->data;
	h_get_nonce(&f->a);
	memcpy(f->nonce, f->a.nonce, f->a.nonce_len);
	f->nonce_len = f->a.nonce_len;
}

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_HANDOVER_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	metrics_a = ice_metrics_block_new(); /* process-lifetime, never freed */
	metrics_b = ice_metrics_block_new();
	trace = getenv("FUZZ_HANDOVER_TRACE") != NULL;
	PROP(metrics_a != NULL && metrics_b != NULL);
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
	uint32_t bound;

	memset(&f, 0, sizeof(f));
	t_tid_counter = 1; /* transaction ids depend on the input only */
	setup(&f);
	for (int n = 0; n < MAX_OPS && in.left > 0; n++) {
		switch (in_u8(&in) % N_OPS) {
		case OP_RAW: {
			size_t want = in_u8(&in), got = ICE_MIN(want, in.left);

			append(&f, in.p, got);
			in.p += got;
			in.left -= got;
			break;
		}
		case OP_BIND:
			op_bind(&f, &in);
			break;
		default:
			op_other(&f, &in);
			break;
		}
	}
	bound = walk(&f);
	/* The other pending connection still waits; both go with A's end. */
	PROP(bound == 0 || bound == f.id[0] || bound == f.id[1]);
	h_stop(&f.b);
	h_stop(&f.a);
	PROP(t_failures == 0);
	return 0;
}

/* ---- seeds ---- */

static void
s_write(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *fp;

	PROP(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	fp = fopen(path, "wb");
	PROP(fp != NULL);
	PROP(fwrite(p, 1, n, fp) == n);
	PROP(fclose(fp) == 0);
}

static void
write_seeds(const char *dir)
{
	static const uint8_t bind_raw[] = { OP_BIND, 0, 0, OP_RAW, 5, 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t raw_then_bind[] = { OP_RAW, 20,      0x00, 0x01, 0x00, 0x00, 0x21,
		                                 0x12,   0xa4,    0x42, 't',  'i',  'd',  '-',
		                                 'b',    'i',     'n',  'd',  'i',  'n',  'g',
		                                 '!',    OP_BIND, 1,    0 };
	static const uint8_t refusals[] = { OP_BIND, 2, 0, OP_BIND, 3, 0, OP_BIND, 5, 0,
		                            OP_BIND, 0, 1, OP_BIND, 0, 2, OP_BIND, 1, 0 };
	static const uint8_t alloc_first[] = { OP_OTHER, 0, OP_BIND, 0, 0, OP_OTHER, 4 };

	(void)mkdir(dir, 0755);
	s_write(dir, "bind_then_raw", bind_raw, sizeof(bind_raw));
	s_write(dir, "binding_then_bind", raw_then_bind, sizeof(raw_then_bind));
	s_write(dir, "refusals_then_bind", refusals, sizeof(refusals));
	s_write(dir, "allocation_holds_stream", alloc_first, sizeof(alloc_first));
}
