/*
 * Steady flows of the soak: al[0..flows) are allocations that live for the
 * whole run, the first half relaying by ChannelData, the second by Send/Data
 * indications, each paced at flow_pps datagrams per second in each direction.
 * Every datagram carries "SOAK", its flow, its direction and a sequence
 * number, so loss is counted exactly (sent - received after a drain) and a
 * gap shows up the moment a later datagram overtakes it. Each flow renews
 * its allocation and its channel or permission every lifetime/3 seconds.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_soak.h"

/* Payload: "SOAK", u16 flow, u8 direction, u8 0, u64 sequence, then filler. */
static const uint8_t MAGIC[4] = { 'S', 'O', 'A', 'K' };

int
lg_flow_init(struct lg_soak *s)
{
	for (int d = 0; d < 2; d++) {
		s->tx_seq[d] = calloc((size_t)s->flows + 1, sizeof(uint64_t));
		s->rx_next[d] = calloc((size_t)s->flows + 1, sizeof(uint64_t));
		s->rx_n[d] = calloc((size_t)s->flows + 1, sizeof(long));
		if (!s->tx_seq[d] || !s->rx_next[d] || !s->rx_n[d])
			return -1;
	}
	for (int i = 0; i < s->flows; i++)
		s->g->al[i].cycle_start = lg_now(); /* last renewal */
	return 0;
}

void
lg_flow_fini(struct lg_soak *s)
{
	for (int d = 0; d < 2; d++) {
		free(s->tx_seq[d]);
		free(s->rx_next[d]);
		free(s->rx_n[d]);
	}
}

static size_t
put_payload(struct lg_soak *s, uint8_t *p, int flow, int dir)
{
	size_t size = (size_t)s->g->o.sizes[0];
	uint64_t seq = s->tx_seq[dir][flow]++;
	uint16_t f = (uint16_t)flow;

	memset(p, 0x5A, size);
	memcpy(p, MAGIC, 4);
	memcpy(p + 4, &f, 2);
	p[6] = (uint8_t)dir;
	p[7] = 0;
	memcpy(p + 8, &seq, 8);
	return size;
}

/* Renewals keep the permission (or channel) installed: data may flow while
 * one is in progress. Anything else (failed, released) stops the flow. */
static bool
flow_live(const struct lg_alloc *a)
{
	return a->state == AS_READY || a->state == AS_REFRESH || a->state == AS_BIND;
}

static void
send_one(struct lg_soak *s, int flow, int dir)
{
	struct lg *g = s->g;
	struct lg_alloc *a = &g->al[flow];
	uint8_t buf[LG_PKT_MAX], payload[LG_PKT_MAX];
	size_t n = put_payload(s, payload, flow, dir);
	ssize_t r;

	if (dir == 1) {
		r = sendto(g->peer_fd[a->peer_idx], payload, n, 0, (struct sockaddr *)&a->relay,
		           sizeof(a->relay));
	} else if (!a->ind) {
		buf[0] = (uint8_t)(a->channel >> 8);
		buf[1] = (uint8_t)a->channel;
		buf[2] = (uint8_t)(n >> 8);
		buf[3] = (uint8_t)n;
		memcpy(buf + 4, payload, n);
		r = send(a->fd, buf, 4 + n, 0);
	} else {
		struct lg_wr w;
		uint8_t tid[12];
		lg_new_tid(g, tid);
		lg_msg_init(&w, buf, sizeof(buf), LG_SEND_IND, tid);
		lg_attr_xor4(&w, LG_A_XOR_PEER, &a->peer);
		lg_attr(&w, LG_A_DATA, payload, n);
		r = send(a->fd, buf, lg_msg_len(&w), 0);
	}
	/* A refusal by our own kernel is not the server's loss: undo the count. */
	if (r < 0)
		s->tx_seq[dir][flow]--;
	else
		s->dir[dir].sent++;
}

void
lg_flow_send(struct lg_soak *s, double dt)
{
	int pairs = 2 * s->flows;

	if (pairs == 0)
		return;
	s->flow_tokens += dt * s->g->o.flow_pps * pairs;
	if (s->flow_tokens > pairs) /* after a stall, catch up by one round only */
		s->flow_tokens = pairs;
	while (s->flow_tokens >= 1) {
		int k = s->flow_cursor;
		s->flow_cursor = (k + 1) % pairs;
		s->flow_tokens -= 1;
		if (flow_live(&s->g->al[k / 2]))
			send_one(s, k / 2, k % 2);
	}
}

/* Count one arrived payload for direction dir. */
static void
account(struct lg_soak *s, int dir, const uint8_t *p, size_t len)
{
	uint16_t flow;
	uint64_t seq;

	if (len != (size_t)s->g->o.sizes[0] || memcmp(p, MAGIC, 4) != 0 || p[6] != dir) {
		s->flow_bad++;
		return;
	}
	memcpy(&flow, p + 4, 2);
	memcpy(&seq, p + 8, 8);
	if (flow >= s->flows) {
		s->flow_bad++;
		return;
	}
	struct lg_flowdir *d = &s->dir[dir];
	d->received++;
	s->rx_n[dir][flow]++;
	if (seq >= s->rx_next[dir][flow]) {
		d->missing += (long)(seq - s->rx_next[dir][flow]);
		s->rx_next[dir][flow] = seq + 1;
	} else {
		d->late++;
		d->missing--;
	}
}

void
lg_flow_read_client(struct lg_soak *s, struct lg_alloc *a)
{
	uint8_t buf[LG_PKT_MAX];

	for (;;) {
		ssize_t n = recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return;
		if (n >= 4 && (buf[0] & 0xC0) == 0x40) {
			size_t len = (size_t)(buf[2] << 8 | buf[3]);
			if (len + 4 > (size_t)n) {
				s->flow_bad++;
				continue;
			}
			account(s, 1, buf + 4, len);
			continue;
		}
		struct lg_resp r;
		if (lg_parse(&r, buf, (size_t)n) != 0) {
			s->flow_bad++;
			continue;
		}
		if (r.type == LG_DATA_IND) {
			account(s, 1, r.data, r.data_len);
			continue;
		}
		uint8_t before = a->state;
		if (lg_on_turn_resp(s->g, a, &r) == 0)
			continue;
		if (a->state == AS_READY && before != AS_READY)
			s->flow_refreshes++;
		else if (a->state == AS_FAILED)
			s->flow_errors++;
	}
}

void
lg_flow_read_peer(struct lg_soak *s, int fd)
{
	uint8_t buf[LG_PKT_MAX];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return;
		account(s, 0, buf, (size_t)n);
	}
}

void
lg_flow_refresh(struct lg_soak *s, double now)
{
	double every = s->g->o.lifetime / 3.0;

	for (int i = 0; i < s->flows; i++) {
		struct lg_alloc *a = &s->g->al[i];
		if (a->state != AS_READY || now - a->cycle_start < every)
			continue;
		a->cycle_start = now;
		a->state = AS_REFRESH;
		a->rebind = true;
		a->tries = 0;
		a->challenges = 0;
		lg_send_req(s->g, a, true);
	}
}

void
lg_flow_print(const struct lg_soak *s)
{
	static const char *name[2] = { "c2p", "p2c" };

	for (int d = 0; d < 2; d++) {
		const struct lg_flowdir *x = &s->dir[d];
		printf("%s\"%s\":{\"sent\":%ld,\"received\":%ld,\"missing\":%ld,\"late\":%ld}",
		       d ? "," : "", name[d], x->sent, x->received, x->missing, x->late);
	}
	printf(",\"flow_bad\":%ld,\"flow_renewals\":%ld,\"flow_errors\":%ld", s->flow_bad,
	       s->flow_refreshes, s->flow_errors);
}
