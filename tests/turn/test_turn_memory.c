/*
 * Memory bound of the data structures (issue 6: <= 1 KiB per allocation at
 * 10k allocations): 10,000 allocations in one turn_server, each with one
 * permission and one channel, then all expire. Reports bytes per allocation
 * (pools + indexes, i.e. what the server maps for them) and checks that the
 * memory goes back to about where it started. A unit bound on the data
 * structures, not a timing test.
 */
#include <stdio.h>

#include "turn_harness.h"
#include "turn_int.h"

enum {
	N = 10000
};

int
main(void)
{
	struct harness h;
	size_t base, full, after, per;
	char ip[32];

	h_config(&h);
	h.cfg.turn.max_allocations = N;
	h.cfg.turn.max_allocations_per_user = 0;
	h.cfg.turn.allocations_per_minute_per_user = 0;
	h_start(&h);
	base = turn_server_memory(h.srv);
	h_get_nonce(&h);
	for (int i = 0; i < N; i++) {
		h_set_client(&h, "192.0.2.1", (uint16_t)(1024 + i), TURN_PROTO_UDP);
		REQUIRE(h_allocate(&h) == 0);
		snprintf(ip, sizeof(ip), "8.%d.%d.%d", i >> 16, (i >> 8) & 0xff, i & 0xff);
		REQUIRE(h_bind(&h, 0x4000, ip, 5000) == 0);
	}
	CHECK_EQ_INT(turn_server_allocations(h.srv), N);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_PERMISSIONS), N);
	CHECK_EQ_INT(h_metric(&h, ICE_M_TURN_CHANNELS), N);
	full = turn_server_memory(h.srv);
	per = (full - base) / N;
	printf("sizeof: alloc %zu, perm %zu, chan %zu; server %zu\n", sizeof(struct turn_alloc),
	       sizeof(struct turn_perm), sizeof(struct turn_chan), sizeof(struct turn_server));
	printf("memory: base %zu, %d allocations %zu, %zu bytes per allocation (with 1 "
	       "permission + 1 channel)\n",
	       base, N, full, per);
	CHECK(per <= 1024);

	/* Everything expires; the pools unmap and the indexes shrink. */
	h_at(&h, h.now + 900 * 1000);
	CHECK_EQ_INT(turn_server_allocations(h.srv), 0);
	CHECK_EQ_INT(h.io->n_open, 0);
	after = turn_server_memory(h.srv);
	printf("memory after release: %zu (base %zu)\n", after, base);
	CHECK(after <= base + 3 * ICE_POOL_CHUNK + 64 * 1024);
	h_stop(&h);
	TEST_DONE();
}
