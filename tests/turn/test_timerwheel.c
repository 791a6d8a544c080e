/*
 * Timer wheel: exact firing at every level boundary, re-arming, disarming
 * from a callback, far deadlines through the overflow list, and a randomized
 * comparison against a brute-force model.
 */
#include <stdlib.h>
#include <string.h>

#include "icestation/timerwheel.h"

#include "testutil.h"

struct item {
	struct timerwheel_node node;
	ice_ms_t fired_at; /* 0 = not fired */
	int fires;
};

static ice_ms_t g_now;
static struct timerwheel *g_w;
static struct item *g_victim; /* disarmed by the next callback, if set */
static struct item *g_rearm;  /* re-armed +10 ms by its own callback once */

static void
on_fire(void *ctx, struct timerwheel_node *n)
{
	struct item *it = (struct item *)n;

	(void)ctx;
	it->fired_at = g_now;
	it->fires++;
	CHECK(!timerwheel_node_is_armed(n));
	CHECK(n->deadline <= g_now);
	if (g_victim != NULL) {
		timerwheel_del(g_w, &g_victim->node);
		g_victim = NULL;
	}
	if (it == g_rearm) {
		g_rearm = NULL;
		timerwheel_add(g_w, n, g_now + 10);
	}
}

static void
run_to(struct timerwheel *w, ice_ms_t t)
{
	g_now = t;
	timerwheel_run(w, t);
}

/* Each deadline fires at exactly its tick, never one early. */
static void
test_exact(ice_ms_t start)
{
	static const ice_ms_t deltas[] = { 0,      1,       63,       64,       65,
		                           4095,   4096,    4097,     262143,   262144,
		                           600000, 3600000, 16777215, 16777216, 20000000 };
	struct item items[ICE_ARRAY_SIZE(deltas)];
	struct timerwheel w;

	memset(items, 0, sizeof(items));
	timerwheel_init(&w, start, on_fire, NULL);
	g_w = &w;
	for (size_t i = 0; i < ICE_ARRAY_SIZE(deltas); i++)
		timerwheel_add(&w, &items[i].node, start + deltas[i]);
	CHECK_EQ_INT(timerwheel_count(&w), ICE_ARRAY_SIZE(deltas));
	for (size_t i = 0; i < ICE_ARRAY_SIZE(deltas); i++) {
		ice_ms_t d = start + deltas[i];

		if (d > start) {
			run_to(&w, d - 1);
			CHECK_EQ_INT(items[i].fires, 0);
		}
		run_to(&w, d);
		CHECK_EQ_INT(items[i].fires, 1);
		CHECK_EQ_INT(items[i].fired_at, d);
	}
	CHECK_EQ_INT(timerwheel_count(&w), 0);
}

static void
test_rearm_and_del(void)
{
	struct item a, b, c;
	struct timerwheel w;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	timerwheel_init(&w, 1000, on_fire, NULL);
	g_w = &w;
	timerwheel_add(&w, &a.node, 2000);
	timerwheel_add(&w, &a.node, 1500); /* re-arm earlier */
	timerwheel_add(&w, &b.node, 1500);
	timerwheel_add(&w, &c.node, 1500);
	CHECK_EQ_INT(timerwheel_count(&w), 3);
	timerwheel_del(&w, &c.node);
	timerwheel_del(&w, &c.node); /* second del is a no-op */
	CHECK_EQ_INT(timerwheel_count(&w), 2);
	/* a and b share a slot: whichever fires first disarms the other. */
	g_victim = &b;
	run_to(&w, 1500);
	CHECK_EQ_INT(a.fires + b.fires, 1);
	CHECK_EQ_INT(c.fires, 0);
	CHECK_EQ_INT(timerwheel_count(&w), 0);
	run_to(&w, 5000);
	CHECK_EQ_INT(a.fires + b.fires, 1);

	/* A callback re-arming itself fires again 10 ms later, not a revolution later. */
	memset(&a, 0, sizeof(a));
	g_rearm = &a;
	timerwheel_add(&w, &a.node, 6000);
	run_to(&w, 6000);
	CHECK_EQ_INT(a.fires, 1);
	run_to(&w, 6009);
	CHECK_EQ_INT(a.fires, 1);
	run_to(&w, 6010);
	CHECK_EQ_INT(a.fires, 2);

	/* A deadline in the past fires on the next run. */
	memset(&b, 0, sizeof(b));
	timerwheel_add(&w, &b.node, 10);
	run_to(&w, 6011);
	CHECK_EQ_INT(b.fires, 1);
	/* Running backwards does nothing. */
	run_to(&w, 5);
	CHECK_EQ_INT(timerwheel_count(&w), 0);
}

/* Random deadlines and random run steps against a brute-force model. */
static void
test_random(void)
{
	enum {
		N = 2000
	};
	struct item *items = calloc(N, sizeof(*items));
	ice_ms_t *due = calloc(N, sizeof(*due));
	struct timerwheel w;
	ice_ms_t now = 123456789;
	unsigned seed = 12345;
	int late = 0, early = 0, missing = 0;

	REQUIRE(items != NULL && due != NULL);
	timerwheel_init(&w, now, on_fire, NULL);
	g_w = &w;
	for (int i = 0; i < N; i++) {
		ice_ms_t d;

		seed = seed * 1103515245u + 12345u;
		switch (seed % 4) {
		case 0:
			d = seed % 100;
			break;
		case 1:
			d = seed % 10000;
			break;
		case 2:
			d = seed % 700000;
			break;
		default:
			d = seed % 30000000;
			break;
		}
		due[i] = now + d;
		timerwheel_add(&w, &items[i].node, due[i]);
	}
	while (timerwheel_count(&w) > 0) {
		seed = seed * 1103515245u + 12345u;
		now += 1 + seed % 50000;
		run_to(&w, now);
		for (int i = 0; i < N; i++) {
			if (due[i] <= now && items[i].fires == 0)
				missing++;
		}
	}
	for (int i = 0; i < N; i++) {
		/* fired at the first run whose now >= due: never early */
		if (items[i].fired_at < due[i])
			early++;
		if (items[i].fires != 1)
			late++;
	}
	CHECK_EQ_INT(missing, 0);
	CHECK_EQ_INT(early, 0);
	CHECK_EQ_INT(late, 0);
	free(items);
	free(due);
}

/*
 * Nodes armed and disarmed between runs, at every scale, while the wheel
 * moves on in steps from 1 ms to hours: a node armed mid-block, or just
 * before a boundary the next run jumps across, still fires on its tick.
 */
static void
test_random_interleaved(void)
{
	enum {
		N = 1500
	};
	static const ice_ms_t scale[] = { 70, 5000, 300000, 20000000 };
	struct item *items = calloc(N, sizeof(*items));
	ice_ms_t *due = calloc(N, sizeof(*due));
	bool *armed = calloc(N, sizeof(*armed));
	struct timerwheel w;
	ice_ms_t now = 987654321;
	unsigned seed = 777;
	int early = 0, missing = 0, twice = 0;

	REQUIRE(items != NULL && due != NULL && armed != NULL);
	timerwheel_init(&w, now, on_fire, NULL);
	g_w = &w;
	for (int round = 0; round < 4000; round++) {
		int i;

		seed = seed * 1103515245u + 12345u;
		i = (int)((seed >> 8) % N);
		if (!armed[i] || seed % 7 == 0) { /* arm, or move an armed one */
			due[i] = now + 1 + (seed >> 4) % scale[(seed >> 2) % 4];
			items[i].fires = 0;
			items[i].fired_at = 0;
			timerwheel_add(&w, &items[i].node, due[i]);
			armed[i] = true;
		} else if (seed % 5 == 0) {
			timerwheel_del(&w, &items[i].node);
			armed[i] = false;
		}
		seed = seed * 1103515245u + 12345u;
		now += (seed >> 3) % (seed % 3 == 0 ? 5000000 : 300);
		run_to(&w, now);
		for (int j = 0; j < N; j++) {
			if (!armed[j] || items[j].fires == 0) {
				missing += armed[j] && due[j] <= now;
				continue;
			}
			early += items[j].fired_at < due[j];
			twice += items[j].fires != 1;
			armed[j] = false;
		}
	}
	CHECK_EQ_INT(missing, 0);
	CHECK_EQ_INT(early, 0);
	CHECK_EQ_INT(twice, 0);
	free(items);
	free(due);
	free(armed);
}

int
main(void)
{
	test_exact(0);
	test_exact(1000);
	test_exact(16777216 - 3); /* a run crossing the overflow boundary */
	test_exact(((ice_ms_t)1 << 40) + 77);
	test_rearm_and_del();
	test_random();
	test_random_interleaved();
	TEST_DONE();
}
