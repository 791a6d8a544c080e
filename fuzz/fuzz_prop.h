/*
 * PROP(cond): a property the fuzz target checks on every input. A failure
 * names the condition and its line, then aborts, so libFuzzer records the
 * input as a crash (a plain assert would vanish under NDEBUG).
 */
#ifndef ICESTATION_FUZZ_PROP_H
#define ICESTATION_FUZZ_PROP_H

#include <stdio.h>
#include <stdlib.h>

#define PROP(cond)                                                                        \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__, \
			        __LINE__);                                                \
			abort();                                                          \
		}                                                                         \
	} while (0)

#endif
