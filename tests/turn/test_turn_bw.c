/*
 * Bandwidth limits (bandwidth.c, shared_bw.c) on the fake clock: the token
 * bucket's exact admission at its limit, its burst and its refill; the
 * per-allocation limit with its drops counted; the per-user limit shared by
 * two workers by demand; TCP backpressure (a wait, no drop); the daily
 * budget (486, then the floor rate); bps-capacity (486 while the node
 * relays at it).
 */
#include "bandwidth.h"
#include "turn_harness.h"

static uint8_t payload[1000];

static int
alloc_from(struct harness *h, uint16_t port, const char *user)
{
	h_set_client(h, "192.0.2.1", port, TURN_PROTO_UDP);
	h_mint(h, H_SECRET, 3600, user);
	return h_allocate(h);
}

/* ChannelData of len bytes on channel 0x4000; returns turn's wait. */
static long
chan(struct harness *h, size_t len)
{
	return turn_handle_channeldata(h->srv, &h->ft, 0x4000, payload, len, h->now);
}

/* Tick every 100 ms up to t (turn_expire runs the bandwidth tick). */
static void
ticks_to(struct harness *h, ice_ms_t t)
{
	while (h->now + 100 <= t) {
		h->now += 100;
		turn_expire(h->srv, h->now);
	}
	h->now = t;
}

static void
test_bucket(void)
{
	struct turn_bucket b;

	turn_bucket_set(&b, 8000, 0); /* 1000 B/s; depth: the 3000 B minimum */
	CHECK(turn_bucket_fits(&b, 3000, 0));
	turn_bucket_take(&b, 3000);
	CHECK(!turn_bucket_fits(&b, 1, 0));
	CHECK(!turn_bucket_fits(&b, 1000, 999));
	CHECK(turn_bucket_fits(&b, 1000, 1000)); /* exactly one second of rate */
	turn_bucket_take(&b, 1000);
	CHECK(!turn_bucket_fits(&b, 1, 1000));
	CHECK_EQ_INT((int)turn_bucket_wait(&b, 500), 500);
	/* Refill stops at the depth: a long idle buys one burst, no more. */
	CHECK(turn_bucket_fits(&b, 3000, 1000000));
	turn_bucket_take(&b, 1);
	CHECK(!turn_bucket_fits(&b, 3000, 1000000));
	/* A packet larger than the depth passes from a full bucket, in debt. */
	CHECK(turn_bucket_fits(&b, 5000, 1000001));
	turn_bucket_take(&b, 5000);               /* -2000 B: owed for two seconds */
	CHECK(!turn_bucket_fits(&b, 1, 1002000)); /* -1 B */
	CHECK(turn_bucket_fits(&b, 1, 1002002));  /* +1 B */
	CHECK(!turn_bucket_fits(&b, 1000, 1003000));
	CHECK(turn_bucket_fits(&b, 1000, 1003001));
	/* 0: no limit at all. */
	turn_bucket_set(&b, 0, 0);
	CHECK(turn_bucket_fits(&b, 1u << 30, 0));
	/* A faster rate: the burst is a fifth of a second of it. */
	turn_bucket_set(&b, 8000000, 0); /* 1 MB/s */
	turn_bucket_take(&b, 1);
	CHECK(!turn_bucket_fits(&b, 200000, 0));
	CHECK(turn_bucket_fits(&b, 199999, 0));
}

static void
test_per_allocation(void)
{
	struct harness h;
	struct ice_addr relayed;
	int sent = 0;

	h_config(&h);
	h.cfg.turn.max_bps_per_allocation = 80000; /* 10000 B/s each way */
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 2000, "did:peers:fast"), 0);
	relayed = h_relayed(&h, 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	/* 1000 B every 10 ms (100 kB/s) for 2 s: the burst, then the rate. */
	for (int i = 0; i < 200; i++) {
		int before = h.io->n_peer;

		CHECK_EQ_INT((int)chan(&h, 1000), 0);
		sent += h.io->n_peer - before;
		h.now += 10;
	}
	/* 3000 B of burst plus 10000 B/s over the 1.99 s after the first. */
	CHECK(sent >= 22 && sent <= 23);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_DROP_ALLOCATION_TO_PEER), 200 - sent);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_DROPB_ALLOCATION_TO_PEER),
	             (200 - sent) * 1000);
	/* The other direction has its own bucket, full. */
	CHECK_EQ_INT(
		h_from_peer(&h, h_handle_of(&h, relayed.port), "8.8.8.8", 5000, "to the client"),
		1);
	/* A reload lifting the limit opens it. */
	h.cfg.turn.max_bps_per_allocation = 0;
	h_settings(&h);
	(void)turn_server_reconfigure(h.srv, &h.set, h.now);
	CHECK_EQ_INT((int)chan(&h, 1000), 0);
	CHECK_EQ_INT((int)chan(&h, 1000), 0);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_DROP_ALLOCATION_TO_PEER), 200 - sent);
	h_stop(&h);
}

/* TCP to a peer: over the limit the frame waits (backpressure), nothing dropped. */
static void
test_stream_wait(void)
{
	struct harness h;
	long wait;

	h_config(&h);
	h.cfg.turn.max_bps_per_allocation = 8000; /* 1000 B/s */
	h_start(&h);
	h_set_client(&h, "192.0.2.1", 2100, TURN_PROTO_TCP);
	CHECK_EQ_INT(h_allocate(&h), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	CHECK_EQ_INT((int)chan(&h, 1000), 0);
	CHECK_EQ_INT((int)chan(&h, 1000), 0);
	CHECK_EQ_INT((int)chan(&h, 1000), 0);
	wait = chan(&h, 1000);
	CHECK_EQ_INT((int)wait, 1000); /* the bucket is empty: a second of rate */
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_DROP_ALLOCATION_TO_PEER), 0);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_STREAM_WAITS), 1);
	h.now += (ice_ms_t)wait;
	CHECK_EQ_INT((int)chan(&h, 1000), 0); /* offered again, it passes */
	h_stop(&h);
}

/*
 * Per user, two workers: one user's allocation on each, the first offering
 * three times what the second does. After a second the sum holds the limit
 * within 10 % and the shares follow the demand.
 */
static void
test_per_user_two_workers(void)
{
	struct harness h, h2;
	struct fake_io *io2 = calloc(1, sizeof(*io2));
	struct turn_server *srv2;
	uint64_t got1 = 0, got2 = 0;

	REQUIRE(io2 != NULL);
	h_config(&h);
	h.cfg.workers = 2;
	h.cfg.turn.max_bps_per_user = 160000; /* 20000 B/s each way, for the two */
	h_start(&h);
	h2 = h;
	io2->next_port = 60000;
	h2.io = io2;
	h2.tio.ctx = io2;
	srv2 = turn_server_new(&h.set, h.sh, &h2.tio, 1, h.now, H_UNIX0);
	REQUIRE(srv2 != NULL);
	turn_server_set_metrics(srv2, h.m);
	h2.srv = srv2;
	CHECK_EQ_INT(alloc_from(&h, 2200, "did:peers:two"), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	h2.nonce_len = 0;
	CHECK_EQ_INT(alloc_from(&h2, 2201, "did:peers:two"), 0);
	CHECK_EQ_INT(h_bind(&h2, 0x4000, "8.8.8.8", 5000), 0);
	/* 3 s: worker 1 offers 30000 B/s, worker 2 10000 B/s (1000 B packets). */
	for (int ms = 0; ms < 3000; ms++) {
		int p1 = h.io->n_peer, p2 = io2->n_peer;

		if (ms % 100 == 0) {
			turn_expire(h.srv, h.now);
			turn_expire(srv2, h.now);
		}
		if (ms % 100 < 30)
			(void)chan(&h, 1000);
		if (ms % 100 < 10)
			(void)chan(&h2, 1000);
		if (ms >= 1000) {
			got1 += (uint64_t)(h.io->n_peer - p1) * 1000;
			got2 += (uint64_t)(io2->n_peer - p2) * 1000;
		}
		h.now++;
		h2.now = h.now;
	}
	/* Over the last 2 s: 40000 B allowed in all, within 10 %. */
	CHECK(got1 + got2 >= 36000 && got1 + got2 <= 44000);
	/* Demand 3:1, so the first gets about three quarters. */
	CHECK(got1 > 2 * got2);
	CHECK(h_metric(&h, ICE_M_TURN_BW_DROP_USER_TO_PEER) > 0);
	turn_server_free(srv2);
	CHECK_EQ_INT(io2->n_open, 0);
	free(io2);
	h_stop(&h);
}

static void
test_budget(void)
{
	struct harness h;

	h_config(&h);
	h.cfg.turn.max_bytes_per_user_per_day = 5000;
	h.cfg.turn.budget_floor_bps = 8000; /* 1000 B/s */
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 2300, "did:peers:spender"), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT((int)chan(&h, 1000), 0);
	CHECK_EQ_INT(h.io->n_peer, 6); /* no rate limit before the tick */
	ticks_to(&h, h.now + 100);     /* charged: 6000 >= 5000 */
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_THROTTLED), 1);
	/* The live allocation keeps the floor: 3000 B of burst, then 1000 B/s. */
	for (int i = 0; i < 10; i++)
		(void)chan(&h, 1000);
	CHECK_EQ_INT(h.io->n_peer, 6 + 3);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_BW_DROP_BUDGET_TO_PEER), 7);
	/* A new Allocate of the user: 486, saying why. */
	CHECK_EQ_INT(alloc_from(&h, 2301, "did:peers:spender"), 486);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_QUOTA_BUDGET), 1);
	/* Another user is not concerned. */
	CHECK_EQ_INT(alloc_from(&h, 2302, "did:peers:thrifty"), 0);
	h_stop(&h);
}

static void
test_capacity(void)
{
	struct harness h;

	h_config(&h);
	h.cfg.turn.bps_capacity = 80000; /* 10000 B/s for the node */
	h_start(&h);
	CHECK_EQ_INT(alloc_from(&h, 2400, "did:peers:a"), 0);
	CHECK_EQ_INT(h_bind(&h, 0x4000, "8.8.8.8", 5000), 0);
	/* 4000 B in a tick: 40000 B/s now, smoothed to 5000 B/s after it. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT((int)chan(&h, 1000), 0);
	ticks_to(&h, h.now + 100);
	CHECK(turn_shared_relay_bps(h.sh) >= 40000);
	for (int i = 0; i < 8; i++)
		(void)chan(&h, 1000);
	ticks_to(&h, h.now + 100);
	CHECK(turn_shared_relay_bps(h.sh) >= 80000);
	CHECK_EQ_INT(alloc_from(&h, 2401, "did:peers:b"), 486);
	CHECK_EQ_INT((int)h_metric(&h, ICE_M_TURN_QUOTA_CAPACITY), 1);
	/* Quiet for a while: the rate decays and Allocates come back. */
	ticks_to(&h, h.now + 5000);
	CHECK(turn_shared_relay_bps(h.sh) < 80000);
	CHECK_EQ_INT(alloc_from(&h, 2402, "did:peers:b"), 0);
	h_stop(&h);
}

int
main(void)
{
	memset(payload, 0x5a, sizeof(payload));
	test_bucket();
	test_per_allocation();
	test_stream_wait();
	test_per_user_two_workers();
	test_budget();
	test_capacity();
	TEST_DONE();
}
