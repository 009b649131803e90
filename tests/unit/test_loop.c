/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's event loop (control/loop.c): timers fire in due order
 * on a fake clock, re-arming inside a callback waits for the next pass,
 * cancelled timers stay silent; the real loop delivers fd events, drops
 * events of an fd removed in the same pass, and stops on SIGTERM.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/loop.h"

struct rec {
	struct loop_timers *ts;
	int order[16];
	unsigned n;
	int rearm_id;
	uint64_t rearm_at;
};

struct tctx {
	struct rec *rec;
	int id;
};

static void
on_timer(void *ctx, uint64_t now_ms)
{
	struct tctx *t = ctx;

	(void)now_ms;
	t->rec->order[t->rec->n++] = t->id;
	if (t->id == t->rec->rearm_id)
		loop_timers_arm(t->rec->ts, t->id, t->rec->rearm_at);
}

static void
test_timers_order(void **state)
{
	struct loop_timers ts;
	struct rec rec = {.ts = &ts, .rearm_id = -1};
	struct tctx c[5];
	int i;

	(void)state;
	loop_timers_init(&ts);
	assert_int_equal(loop_timers_next(&ts), LOOP_NEVER);
	for (i = 0; i < 5; i++) {
		c[i].rec = &rec;
		c[i].id = loop_timers_add(&ts, on_timer, &c[i]);
		assert_int_equal(c[i].id, i);
	}
	loop_timers_arm(&ts, 0, 300);
	loop_timers_arm(&ts, 1, 100);
	loop_timers_arm(&ts, 2, 200);
	loop_timers_arm(&ts, 3, 900);
	/* 4 never armed; 3 armed then cancelled. */
	loop_timers_cancel(&ts, 3);
	assert_int_equal(loop_timers_next(&ts), 100);
	assert_int_equal(loop_timers_run(&ts, 99), 0);
	assert_int_equal(loop_timers_run(&ts, 250), 2);
	assert_int_equal(rec.order[0], 1);
	assert_int_equal(rec.order[1], 2);
	assert_int_equal(loop_timers_next(&ts), 300);
	/* Moving a timer: only the new time counts. */
	loop_timers_arm(&ts, 0, 1000);
	assert_int_equal(loop_timers_run(&ts, 999), 0);
	assert_int_equal(loop_timers_run(&ts, 5000), 1);
	assert_int_equal(rec.order[2], 0);
	assert_int_equal(rec.n, 3);
	assert_int_equal(loop_timers_next(&ts), LOOP_NEVER);
}

/* A timer re-armed to "now" by its own callback fires once per pass. */
static void
test_timers_rearm_bounded(void **state)
{
	struct loop_timers ts;
	struct rec rec = {.ts = &ts, .rearm_id = 0, .rearm_at = 10};
	struct tctx c = {.rec = &rec};

	(void)state;
	loop_timers_init(&ts);
	c.id = loop_timers_add(&ts, on_timer, &c);
	loop_timers_arm(&ts, c.id, 10);
	assert_int_equal(loop_timers_run(&ts, 10), 1);
	assert_int_equal(loop_timers_next(&ts), 10);
	assert_int_equal(loop_timers_run(&ts, 10), 1);
	assert_int_equal(rec.n, 2);
}

static void
test_timers_bound(void **state)
{
	struct loop_timers ts;
	struct rec rec = {.ts = &ts, .rearm_id = -1};
	struct tctx c = {.rec = &rec};
	unsigned i;

	(void)state;
	loop_timers_init(&ts);
	for (i = 0; i < LOOP_TIMERS_MAX; i++)
		assert_true(loop_timers_add(&ts, on_timer, &c) >= 0);
	assert_int_equal(loop_timers_add(&ts, on_timer, &c), -ENOSPC);
}

struct fdctx {
	struct loop *l;
	int other_fd; /* removed by the first callback */
	unsigned calls[2];
	int fds[2];
};

static void
on_readable(void *ctx, int fd, uint32_t events)
{
	struct fdctx *f = ctx;
	char buf[8];
	unsigned which = fd == f->fds[0] ? 0 : 1;

	assert_true(events & EPOLLIN);
	f->calls[which]++;
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	/* Whichever comes first removes the other before it is seen. */
	loop_fd_del(f->l, f->fds[1 - which]);
	loop_stop(f->l);
}

static void
test_loop_fds_and_removal(void **state)
{
	int p0[2], p1[2];
	struct fdctx f = {0};

	(void)state;
	f.l = loop_create();
	assert_non_null(f.l);
	assert_int_equal(pipe(p0), 0);
	assert_int_equal(pipe(p1), 0);
	f.fds[0] = p0[0];
	f.fds[1] = p1[0];
	assert_int_equal(loop_fd_add(f.l, p0[0], EPOLLIN, on_readable, &f), 0);
	assert_int_equal(loop_fd_add(f.l, p1[0], EPOLLIN, on_readable, &f), 0);
	assert_int_equal(loop_fd_add(f.l, p1[0], EPOLLIN, on_readable, &f),
			 -EEXIST);
	/* Both readable before the loop looks: one pass sees both. */
	assert_int_equal(write(p0[1], "x", 1), 1);
	assert_int_equal(write(p1[1], "y", 1), 1);
	assert_int_equal(loop_run(f.l), 0);
	assert_int_equal(f.calls[0] + f.calls[1], 1);
	loop_destroy(f.l);
	close(p0[0]);
	close(p0[1]);
	close(p1[0]);
	close(p1[1]);
}

struct sigctx {
	struct loop *l;
	unsigned fired;
};

static void
on_raise(void *ctx, uint64_t now_ms)
{
	struct sigctx *s = ctx;

	(void)now_ms;
	s->fired++;
	raise(SIGTERM);
}

static void
test_loop_timer_then_sigterm(void **state)
{
	struct sigctx s = {0};
	int id;

	(void)state;
	s.l = loop_create();
	assert_non_null(s.l);
	id = loop_timer_add(s.l, on_raise, &s);
	assert_true(id >= 0);
	loop_timer_arm_in(s.l, id, 1);
	assert_int_equal(loop_run(s.l), 0);
	assert_int_equal(s.fired, 1);
	assert_int_equal(loop_stop_signal(s.l), SIGTERM);
	loop_destroy(s.l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_order),
		cmocka_unit_test(test_timers_rearm_bounded),
		cmocka_unit_test(test_timers_bound),
		cmocka_unit_test(test_loop_fds_and_removal),
		cmocka_unit_test(test_loop_timer_then_sigterm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
