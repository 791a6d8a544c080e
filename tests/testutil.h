/*
 * Minimal unit-test macros: each failed check prints file:line and the
 * expression, and the test exits non-zero at the end (or at once for REQUIRE).
 */
#ifndef ICESTATION_TESTUTIL_H
#define ICESTATION_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failures;
static int t_checks;

#define CHECK(expr)                                                                              \
	do {                                                                                     \
		t_checks++;                                                                      \
		if (!(expr)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
			t_failures++;                                                            \
		}                                                                                \
	} while (0)

#define REQUIRE(expr)                                                                              \
	do {                                                                                       \
		t_checks++;                                                                        \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #expr); \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                      \
	do {                                                                                    \
		long long t_a = (long long)(a), t_b = (long long)(b);                           \
		t_checks++;                                                                     \
		if (t_a != t_b) {                                                               \
			fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s (%lld) != %s (%lld)\n", \
			        __FILE__, __LINE__, #a, t_a, #b, t_b);                          \
			t_failures++;                                                           \
		}                                                                               \
	} while (0)

#define CHECK_STR(a, b)                                                                          \
	do {                                                                                     \
		const char *t_a = (a), *t_b = (b);                                               \
		t_checks++;                                                                      \
		if (t_a == NULL || t_b == NULL || strcmp(t_a, t_b) != 0) {                       \
			fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__, \
			        __LINE__, t_a ? t_a : "(null)", t_b ? t_b : "(null)");           \
			t_failures++;                                                            \
		}                                                                                \
	} while (0)

/* Call at the end of main(). Fails a test that checked nothing. */
#define TEST_DONE()                                                       \
	do {                                                              \
		if (t_checks == 0) {                                      \
			fprintf(stderr, "no checks ran\n");               \
			return 1;                                         \
		}                                                         \
		printf("%d checks, %d failures\n", t_checks, t_failures); \
		return t_failures ? 1 : 0;                                \
	} while (0)

#endif
