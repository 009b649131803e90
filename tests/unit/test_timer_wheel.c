/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * timer_wheel: fires at the deadline and not before, cancel, re-arm, far
 * deadlines (several revolutions), budgets, rare advances, past deadlines,
 * re-arming from the callback, visiting every timer (timer_wheel_each),
 * and a random run against a model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/timer_wheel.h"

#define NODES 256

struct fired {
	unsigned n;
	uint32_t user[4096];
	uint64_t deadline[4096];
	uint64_t now;
};

static void
on_fire(void *ctx, struct timer_node *node)
{
	struct fired *f = ctx;

	/* Never before its deadline. */
	assert_true(node->deadline_ms <= f->now);
	assert_false(timer_node_is_armed(node));
	f->user[f->n] = node->user;
	f->deadline[f->n] = node->deadline_ms;
	f->n++;
}

static unsigned
advance(struct timer_wheel *tw, struct fired *f, uint64_t now, unsigned budget)
{
	f->now = now;
	return timer_wheel_advance(tw, now, budget, on_fire, f);
}

static void
test_create_invalid(void **state)
{
	(void)state;
	assert_null(timer_wheel_create(0));
	assert_null(timer_wheel_create(3));
	assert_null(timer_wheel_create(1000));
}

static void
test_fires_at_deadline(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(64);
	struct timer_node a, b;
	struct fired f = {0};
	uint64_t t;

	(void)state;
	timer_node_init(&a, 1);
	timer_node_init(&b, 2);
	timer_wheel_arm(tw, &a, 10);
	timer_wheel_arm(tw, &b, 20);
	assert_int_equal(timer_wheel_armed(tw), 2);
	for (t = 0; t < 10; t++)
		assert_int_equal(advance(tw, &f, t, 100), 0);
	assert_int_equal(advance(tw, &f, 10, 100), 1);
	assert_int_equal(f.user[0], 1);
	for (t = 11; t < 20; t++)
		assert_int_equal(advance(tw, &f, t, 100), 0);
	assert_int_equal(advance(tw, &f, 20, 100), 1);
	assert_int_equal(f.user[1], 2);
	assert_int_equal(timer_wheel_armed(tw), 0);
	timer_wheel_destroy(tw);
}

static void
test_cancel_and_rearm(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(16);
	struct timer_node a, b;
	struct fired f = {0};

	(void)state;
	timer_node_init(&a, 1);
	timer_node_init(&b, 2);
	timer_wheel_arm(tw, &a, 5);
	timer_wheel_arm(tw, &b, 5);
	timer_wheel_cancel(tw, &a);
	timer_wheel_cancel(tw, &a); /* twice is harmless */
	assert_false(timer_node_is_armed(&a));
	/* Re-arm moves b later (renewed lease). */
	timer_wheel_arm(tw, &b, 9);
	assert_int_equal(timer_wheel_armed(tw), 1);
	assert_int_equal(advance(tw, &f, 8, 100), 0);
	assert_int_equal(advance(tw, &f, 9, 100), 1);
	assert_int_equal(f.user[0], 2);
	assert_int_equal(f.deadline[0], 9);
	timer_wheel_destroy(tw);
}

/* 16 slots; deadlines several revolutions away fire exactly on time. */
static void
test_far_future(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(16);
	struct timer_node a, b;
	struct fired f = {0};
	uint64_t t;

	(void)state;
	timer_node_init(&a, 1);
	timer_node_init(&b, 2);
	timer_wheel_arm(tw, &a, 16 * 5 + 3); /* 83 */
	timer_wheel_arm(tw, &b, 3);          /* same slot, due first */
	for (t = 0; t < 83; t++) {
		advance(tw, &f, t, 100);
		if (t < 3)
			assert_int_equal(f.n, 0);
		else
			assert_int_equal(f.n, 1);
	}
	assert_int_equal(f.user[0], 2);
	assert_int_equal(advance(tw, &f, 83, 100), 1);
	assert_int_equal(f.user[1], 1);
	timer_wheel_destroy(tw);
}

/* Advanced rarely: one call after 10 s fires everything due, only that. */
static void
test_rare_advance(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(64);
	struct timer_node n[NODES];
	struct fired f = {0};
	unsigned i;

	(void)state;
	for (i = 0; i < NODES; i++) {
		timer_node_init(&n[i], i);
		/* Spread over 0..20 s, every slot used many times. */
		timer_wheel_arm(tw, &n[i], (uint64_t)i * 79 + 1);
	}
	advance(tw, &f, 10000, 1000);
	for (i = 0; i < NODES; i++)
		assert_int_equal(timer_node_is_armed(&n[i]),
				 (uint64_t)i * 79 + 1 > 10000);
	assert_int_equal(f.n, 10000 / 79 + 1);
	advance(tw, &f, 30000, 1000);
	assert_int_equal(f.n, NODES);
	assert_int_equal(timer_wheel_armed(tw), 0);
	timer_wheel_destroy(tw);
}

/* The budget bounds each call; the rest fires at the next ones. */
static void
test_budget(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(8);
	struct timer_node n[50];
	struct fired f = {0};
	unsigned i, total = 0;

	(void)state;
	for (i = 0; i < 50; i++) {
		timer_node_init(&n[i], i);
		timer_wheel_arm(tw, &n[i], 3 + i % 5);
	}
	for (i = 0; i < 12 && total < 50; i++) {
		unsigned got = advance(tw, &f, 100, 7);

		assert_true(got <= 7);
		total += got;
	}
	assert_int_equal(total, 50);
	assert_int_equal(advance(tw, &f, 100, 0), 0);
	assert_int_equal(timer_wheel_armed(tw), 0);
	timer_wheel_destroy(tw);
}

/* Budget 0 fires nothing and loses nothing. */
static void
test_budget_zero(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(8);
	struct timer_node a;
	struct fired f = {0};

	(void)state;
	timer_node_init(&a, 1);
	timer_wheel_arm(tw, &a, 2);
	assert_int_equal(advance(tw, &f, 50, 0), 0);
	assert_true(timer_node_is_armed(&a));
	assert_int_equal(advance(tw, &f, 51, 1), 1);
	timer_wheel_destroy(tw);
}

/* Arming in the past, after the wheel moved on, fires at the next call. */
static void
test_past_deadline(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(16);
	struct timer_node a;
	struct fired f = {0};

	(void)state;
	timer_node_init(&a, 1);
	advance(tw, &f, 1000, 10);
	timer_wheel_arm(tw, &a, 990);
	assert_int_equal(advance(tw, &f, 1001, 10), 1);
	timer_wheel_destroy(tw);
}

struct rearm_ctx {
	struct timer_wheel *tw;
	unsigned fired;
	uint64_t now;
};

static void
on_fire_rearm(void *arg, struct timer_node *node)
{
	struct rearm_ctx *c = arg;

	assert_true(node->deadline_ms <= c->now);
	c->fired++;
	if (c->fired < 5)
		timer_wheel_arm(c->tw, node, c->now + 16); /* one revolution */
}

/* The callback may re-arm the node into the slot being scanned. */
static void
test_rearm_in_callback(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(16);
	struct timer_node a;
	struct rearm_ctx c = {.tw = tw};
	uint64_t t;

	(void)state;
	timer_node_init(&a, 1);
	timer_wheel_arm(tw, &a, 4);
	for (t = 0; t <= 200; t++) {
		unsigned before = c.fired;

		c.now = t;
		timer_wheel_advance(tw, t, 10, on_fire_rearm, &c);
		if (c.fired != before)
			assert_int_equal(t, 4 + 16 * before);
	}
	assert_int_equal(c.fired, 5);
	assert_false(timer_node_is_armed(&a));
	timer_wheel_destroy(tw);
}

struct each_ctx {
	struct timer_wheel *tw;
	unsigned visits[64];
};

/* Even timers move 100 ms later, odd ones are dropped. */
static void
on_each(void *arg, struct timer_node *node)
{
	struct each_ctx *c = arg;

	assert_false(timer_node_is_armed(node));
	assert_true(node->user < 64);
	c->visits[node->user]++;
	if (node->user % 2 == 0)
		timer_wheel_arm(c->tw, node, node->deadline_ms + 100);
}

/*
 * timer_wheel_each hands every armed timer over exactly once, wherever it
 * sits (slots, later revolutions, the overdue list), and never one that is
 * not armed, even when the callback arms timers into slots still to come.
 */
static void
test_each(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(16);
	struct each_ctx c = {.tw = tw};
	struct timer_node n[40];
	struct fired f = {0};
	unsigned i;

	(void)state;
	for (i = 0; i < 40; i++)
		timer_node_init(&n[i], i);
	advance(tw, &f, 50, 10);
	/* Due now, a revolution and more ahead, and one overdue. */
	for (i = 0; i < 38; i++)
		timer_wheel_arm(tw, &n[i], 51 + i * 3);
	timer_wheel_arm(tw, &n[38], 20);
	timer_wheel_cancel(tw, &n[5]);
	assert_int_equal(timer_wheel_armed(tw), 38);

	timer_wheel_each(tw, on_each, &c);
	for (i = 0; i < 40; i++)
		assert_int_equal(c.visits[i], i == 5 || i == 39 ? 0 : 1);
	/* The even ones, n[38] among them. */
	assert_int_equal(timer_wheel_armed(tw), 20);
	for (i = 0; i < 39; i++)
		assert_int_equal(timer_node_is_armed(&n[i]), i % 2 == 0);
	assert_int_equal(n[38].deadline_ms, 120);
	/* They fire at their new deadlines and not before (on_fire). */
	assert_int_equal(advance(tw, &f, 150, 100), 1);
	assert_int_equal(advance(tw, &f, 300, 100), 19);
	assert_int_equal(timer_wheel_armed(tw), 0);
	timer_wheel_destroy(tw);
}

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

struct model_ctx {
	uint64_t now;
	uint64_t deadline[NODES];
	bool armed[NODES];
	unsigned fired;
};

static void
on_fire_model(void *arg, struct timer_node *node)
{
	struct model_ctx *m = arg;

	assert_true(m->armed[node->user]);
	assert_true(m->deadline[node->user] <= m->now);
	m->armed[node->user] = false;
	m->fired++;
}

/*
 * Random arm/cancel/advance (with jumps and small budgets) against a model:
 * nothing fires early, and after an unbounded advance nothing due remains.
 */
static void
test_random(void **state)
{
	struct timer_wheel *tw = timer_wheel_create(32);
	static struct timer_node n[NODES];
	struct model_ctx m = {0};
	unsigned op, i;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15ull;
	for (i = 0; i < NODES; i++)
		timer_node_init(&n[i], i);
	for (op = 0; op < 100000; op++) {
		unsigned what = (unsigned)(rng_next() % 10);

		i = (unsigned)(rng_next() % NODES);
		if (what < 5) {
			uint64_t d = m.now + rng_next() % 200;

			if (rng_next() % 8 == 0 && m.now > 50)
				d = m.now - rng_next() % 50; /* past */
			timer_wheel_arm(tw, &n[i], d);
			m.deadline[i] = d;
			m.armed[i] = true;
		} else if (what < 7) {
			timer_wheel_cancel(tw, &n[i]);
			m.armed[i] = false;
		} else {
			uint64_t step = rng_next() % 16 == 0 ? rng_next() % 500
							     : rng_next() % 4;
			unsigned budget = (unsigned)(rng_next() % 6);

			m.now += step;
			if (rng_next() % 4 == 0)
				budget = NODES;
			timer_wheel_advance(tw, m.now, budget, on_fire_model,
					    &m);
			if (budget == NODES) {
				for (i = 0; i < NODES; i++)
					assert_false(m.armed[i] &&
						     m.deadline[i] <= m.now);
			}
		}
		for (i = 0; i < NODES; i += 37)
			assert_int_equal(timer_node_is_armed(&n[i]),
					 m.armed[i]);
	}
	assert_true(m.fired > 1000);
	timer_wheel_destroy(tw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_fires_at_deadline),
		cmocka_unit_test(test_cancel_and_rearm),
		cmocka_unit_test(test_far_future),
		cmocka_unit_test(test_rare_advance),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_budget_zero),
		cmocka_unit_test(test_past_deadline),
		cmocka_unit_test(test_rearm_in_callback),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
