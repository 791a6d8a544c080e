/*
 * Guard-page buffers for codec tests (STYLE §9): data is placed so that its
 * last byte is the last byte before a PROT_NONE page, so reading one byte
 * too far faults instead of silently passing.
 */
#ifndef ICESTATION_TEST_GUARD_H
#define ICESTATION_TEST_GUARD_H

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct guard {
	uint8_t *map;
	size_t page;
};

static inline void
guard_init(struct guard *g)
{
	g->page = (size_t)sysconf(_SC_PAGESIZE);
	g->map =
		mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED || mprotect(g->map + g->page, g->page, PROT_NONE) != 0) {
		perror("guard mmap");
		exit(2);
	}
}

/* Copy data[0..len) so that it ends exactly at the guard page. */
static inline uint8_t *
guard_put(struct guard *g, const void *data, size_t len)
{
	uint8_t *p;

	if (len > g->page) {
		fprintf(stderr, "guard_put: %zu bytes do not fit a page\n", len);
		exit(2);
	}
	p = g->map + g->page - len;
	if (len)
		memcpy(p, data, len);
	return p;
}

/* A writable area of cap bytes ending at the guard page (for builders). */
static inline uint8_t *
guard_area(struct guard *g, size_t cap)
{
	if (cap > g->page) {
		fprintf(stderr, "guard_area: %zu bytes do not fit a page\n", cap);
		exit(2);
	}
	memset(g->map, 0xEE, g->page);
	return g->map + g->page - cap;
}

static inline void
guard_fini(struct guard *g)
{
	munmap(g->map, 2 * g->page);
}

#endif
