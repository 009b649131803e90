/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Waking a sleeping worker (dataplane/wake.c): a kick writes the eventfd
 * only when the worker announced sleep, a kick wakes a sleeper before its
 * timeout, so does a readable fd of the caller's, and a sleep with
 * nothing to wake it times out. No timing is asserted: the sleeps that
 * must be woken have timeouts of minutes, so a test that returns at all
 * was woken, and wake_sleep() says by what.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/wake.h"

/* Long enough that returning means woken (60 s). */
#define FOREVER_US 60000000u

static void
test_kick_without_sleeper_writes_nothing(void **state)
{
	struct wake wk;
	uint64_t count;

	(void)state;
	assert_int_equal(wake_init(&wk), 0);
	wake_kick(&wk);
	assert_int_equal(wk.kicks, 0);
	assert_int_equal(read(wk.fd, &count, sizeof(count)), -1);
	/* Announced, then cancelled (the worker found work): the same. */
	wake_announce(&wk);
	wake_cancel(&wk);
	wake_kick(&wk);
	assert_int_equal(wk.kicks, 0);
	wake_fini(&wk);
}

/* A kick between announce and sleep is not lost: the sleep returns at
 * once, woken, and leaves the eventfd drained and the word clear. */
static void
test_kick_before_sleep_is_kept(void **state)
{
	struct wake wk;
	uint64_t count;

	(void)state;
	assert_int_equal(wake_init(&wk), 0);
	wake_announce(&wk);
	wake_kick(&wk);
	assert_int_equal(wk.kicks, 1);
	assert_int_equal(wake_sleep(&wk, NULL, 0, FOREVER_US), WAKE_KICKED);
	assert_int_equal(wk.asleep, 0);
	assert_int_equal(read(wk.fd, &count, sizeof(count)), -1);
	/* Nothing left to wake the next sleep: it times out. */
	wake_announce(&wk);
	assert_int_equal(wake_sleep(&wk, NULL, 0, 1000), WAKE_TIMEOUT);
	wake_fini(&wk);
}

struct kicker {
	struct wake *wk;
};

static void *
kicker_main(void *arg)
{
	struct kicker *k = arg;

	/* Until the sleeper has announced; then a kick must land. */
	while (__atomic_load_n(&k->wk->asleep, __ATOMIC_ACQUIRE) == 0)
		usleep(100);
	usleep(1000);
	wake_kick(k->wk);
	return NULL;
}

/* Another thread's kick ends a sleep of a minute. */
static void
test_kick_from_another_thread(void **state)
{
	struct kicker k;
	struct wake wk;
	pthread_t t;

	(void)state;
	assert_int_equal(wake_init(&wk), 0);
	k.wk = &wk;
	assert_int_equal(pthread_create(&t, NULL, kicker_main, &k), 0);
	wake_announce(&wk);
	assert_int_equal(wake_sleep(&wk, NULL, 0, FOREVER_US), WAKE_KICKED);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(wk.kicks, 1);
	wake_fini(&wk);
}

/* A readable fd of the caller's (a port queue's) ends a sleep too, and
 * is not read: the frame stays for rx_burst. */
static void
test_caller_fd_wakes(void **state)
{
	struct pollfd fds[2];
	struct wake wk;
	int pa[2], pb[2];
	char c;

	(void)state;
	assert_int_equal(wake_init(&wk), 0);
	assert_int_equal(pipe(pa), 0);
	assert_int_equal(pipe(pb), 0);
	fds[0].fd = pa[0];
	fds[1].fd = pb[0];
	assert_int_equal(write(pb[1], "x", 1), 1);
	wake_announce(&wk);
	assert_int_equal(wake_sleep(&wk, fds, 2, FOREVER_US), WAKE_FD);
	assert_int_equal(read(pb[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(wk.kicks, 0);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
	wake_fini(&wk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kick_without_sleeper_writes_nothing),
		cmocka_unit_test(test_kick_before_sleep_is_kept),
		cmocka_unit_test(test_kick_from_another_thread),
		cmocka_unit_test(test_caller_fd_wakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
