/*
 * The relay port choice on its own (issue 21): CPU per Allocate of what
 * src/net/relay_ports.c does besides the syscalls, with the bench's shape
 * (4 relay addresses x ports 37000-39999, 64 spares out of quarantine
 * scanned per draw) and the quarantine churning at one release per draw.
 * Prints one line per case. Usage: portpick_bench [draws]
 */
#include "icestation/portpick.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "icestation/rng.h"

struct spare {
	uint16_t port;
	uint8_t row;
	ice_ms_t since;
};

static double
cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Spares of row out of quarantine, as net_spare_eligible counts them. */
static uint32_t
eligible(const struct spare *sp, unsigned n, unsigned row, const struct ice_portwant *want,
         ice_ms_t now)
{
	uint32_t e = 0;

	for (unsigned i = 0; i < n && now - sp[i].since >= 250; i++)
		e += sp[i].row == row && sp[i].port >= want->lo && sp[i].port <= want->hi;
	return e;
}

int
main(int argc, char **argv)
{
	const struct ice_portwant want = { .lo = 37000, .hi = 39999 };
	struct spare sp[64];
	struct ice_portmap m;
	struct ice_portq q;
	struct ice_rng rng;
	long draws = argc > 1 ? atol(argv[1]) : 2000000;
	ice_ms_t now = 1000;
	unsigned spares;
	uint16_t port;
	double t0;
	int c;

	if (ice_portmap_init(&m, 4) < 0 || ice_portq_init(&q, 4096, 250) < 0 ||
	    ice_rng_init(&rng) < 0)
		return 1;
	for (unsigned i = 0; i < 64; i++)
		sp[i] = (struct spare){ .port = (uint16_t)(37000 + 40 * i),
			                .row = (uint8_t)(i % 4) };
	for (int with_spares = 0; with_spares < 2; with_spares++) {
		spares = with_spares ? 64 : 0;
		t0 = cpu_ns();
		for (long i = 0; i < draws; i++) {
			unsigned row = (unsigned)i & 3;
			uint32_t e = eligible(sp, spares, row, &want, ++now);

			c = ice_portmap_choose(&m, &rng, row, &want, e, &port);
			if (c >= 0 && (uint32_t)c == e) /* a free port: released at once */
				ice_portq_push(&q, &m, row, port, now);
			(void)ice_portq_expire(&q, &m, now);
		}
		printf("portpick: %.0f ns per Allocate (draw, quarantine push and expiry%s)\n",
		       (cpu_ns() - t0) / (double)draws, with_spares ? ", 64 spares scanned" : "");
	}
	ice_portq_fini(&q);
	ice_portmap_fini(&m);
	return 0;
}
