/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's event loop (see loop.h).
 *
 * Each watched fd has a slot; epoll's data carries (generation << 32 |
 * slot), and a slot's generation changes when it is freed, so an event
 * already returned by epoll_wait() for an fd removed by an earlier
 * callback of the same pass is recognised and dropped.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "control/loop.h"

/* Events taken from epoll per pass: a bound, not a limit on fds. */
#define LOOP_EVENTS_MAX 32

struct loop_fd {
	int fd; /* -1: free */
	uint32_t gen;
	loop_fd_fn fn;
	void *ctx;
};

struct loop {
	int epfd;
	int sigfd;
	bool stop;
	int stop_signal;
	uint64_t now_ms;
	sigset_t old_mask;
	struct loop_timers timers;
	struct loop_fd fds[LOOP_FDS_MAX];
};

/* ---- timers ------------------------------------------------------------ */

void
loop_timers_init(struct loop_timers *ts)
{
	unsigned i;

	memset(ts, 0, sizeof(*ts));
	for (i = 0; i < LOOP_TIMERS_MAX; i++)
		ts->t[i].due_ms = LOOP_NEVER;
}

int
loop_timers_add(struct loop_timers *ts, loop_timer_fn fn, void *ctx)
{
	struct loop_timer *t;

	if (ts->count == LOOP_TIMERS_MAX)
		return -ENOSPC;
	t = &ts->t[ts->count];
	t->fn = fn;
	t->ctx = ctx;
	t->due_ms = LOOP_NEVER;
	t->firing = false;
	return (int)ts->count++;
}

void
loop_timers_arm(struct loop_timers *ts, int id, uint64_t due_ms)
{
	if (id < 0 || (unsigned)id >= ts->count)
		return;
	ts->t[id].due_ms = due_ms;
	ts->t[id].firing = false;
}

void
loop_timers_cancel(struct loop_timers *ts, int id)
{
	loop_timers_arm(ts, id, LOOP_NEVER);
}

uint64_t
loop_timers_next(const struct loop_timers *ts)
{
	uint64_t next = LOOP_NEVER;
	unsigned i;

	for (i = 0; i < ts->count; i++)
		if (ts->t[i].due_ms < next)
			next = ts->t[i].due_ms;
	return next;
}

unsigned
loop_timers_run(struct loop_timers *ts, uint64_t now_ms)
{
	unsigned i, fired = 0;

	/* Mark first: what a callback arms now waits for the next pass. */
	for (i = 0; i < ts->count; i++)
		ts->t[i].firing = ts->t[i].due_ms <= now_ms;
	for (;;) {
		struct loop_timer *t = NULL;

		for (i = 0; i < ts->count; i++)
			if (ts->t[i].firing &&
			    (t == NULL || ts->t[i].due_ms < t->due_ms))
				t = &ts->t[i];
		if (t == NULL)
			return fired;
		t->firing = false;
		t->due_ms = LOOP_NEVER;
		fired++;
		t->fn(t->ctx, now_ms);
	}
}

/* ---- the loop ---------------------------------------------------------- */

uint64_t
loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
loop_signal_ready(void *ctx, int fd, uint32_t events)
{
	struct loop *l = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		l->stop = true;
		l->stop_signal = (int)si.ssi_signo;
	}
}

struct loop *
loop_create(void)
{
	struct loop *l;
	sigset_t mask;
	unsigned i;
	int err;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	for (i = 0; i < LOOP_FDS_MAX; i++)
		l->fds[i].fd = -1;
	loop_timers_init(&l->timers);
	l->now_ms = loop_clock_ms();
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto free_loop;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, &l->old_mask) != 0)
		goto close_epoll;
	l->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0)
		goto restore_mask;
	err = loop_fd_add(l, l->sigfd, EPOLLIN, loop_signal_ready, l);
	if (err != 0) {
		errno = -err;
		goto close_sigfd;
	}
	return l;

close_sigfd:
	err = errno;
	close(l->sigfd);
	errno = err;
restore_mask:
	err = errno;
	sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
	errno = err;
close_epoll:
	err = errno;
	close(l->epfd);
	errno = err;
free_loop:
	err = errno;
	free(l);
	errno = err;
	return NULL;
}

void
loop_destroy(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->sigfd);
	close(l->epfd);
	sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
	free(l);
}

static int
loop_slot(const struct loop *l, int fd)
{
	unsigned i;

	for (i = 0; i < LOOP_FDS_MAX; i++)
		if (l->fds[i].fd == fd)
			return (int)i;
	return -1;
}

int
loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *ctx)
{
	struct epoll_event ev;
	int slot;

	if (fd < 0)
		return -EBADF;
	if (loop_slot(l, fd) >= 0)
		return -EEXIST;
	slot = loop_slot(l, -1);
	if (slot < 0)
		return -ENOSPC;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = ((uint64_t)l->fds[slot].gen << 32) | (uint32_t)slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -errno;
	l->fds[slot].fd = fd;
	l->fds[slot].fn = fn;
	l->fds[slot].ctx = ctx;
	return 0;
}

int
loop_fd_mod(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev;
	int slot = loop_slot(l, fd);

	if (slot < 0)
		return -ENOENT;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = ((uint64_t)l->fds[slot].gen << 32) | (uint32_t)slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
		return -errno;
	return 0;
}

int
loop_fd_del(struct loop *l, int fd)
{
	int slot = loop_slot(l, fd);

	if (slot < 0 || fd < 0)
		return -ENOENT;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[slot].fd = -1;
	l->fds[slot].gen++;
	l->fds[slot].fn = NULL;
	l->fds[slot].ctx = NULL;
	return 0;
}

int
loop_timer_add(struct loop *l, loop_timer_fn fn, void *ctx)
{
	return loop_timers_add(&l->timers, fn, ctx);
}

void
loop_timer_arm(struct loop *l, int id, uint64_t due_ms)
{
	loop_timers_arm(&l->timers, id, due_ms);
}

void
loop_timer_arm_in(struct loop *l, int id, uint64_t delay_ms)
{
	loop_timers_arm(&l->timers, id, l->now_ms + delay_ms);
}

void
loop_timer_cancel(struct loop *l, int id)
{
	loop_timers_cancel(&l->timers, id);
}

uint64_t
loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

int
loop_stop_signal(const struct loop *l)
{
	return l->stop_signal;
}

int
loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_EVENTS_MAX];

	l->stop = false;
	while (!l->stop) {
		uint64_t next = loop_timers_next(&l->timers);
		int timeout = -1, n, i;

		l->now_ms = loop_clock_ms();
		if (next != LOOP_NEVER)
			timeout = next <= l->now_ms
					  ? 0
					  : (int)(next - l->now_ms > 60000
							  ? 60000
							  : next - l->now_ms);
		n = epoll_wait(l->epfd, evs, LOOP_EVENTS_MAX, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->now_ms = loop_clock_ms();
		for (i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			struct loop_fd *f;

			if (slot >= LOOP_FDS_MAX)
				continue;
			f = &l->fds[slot];
			if (f->fd < 0 || f->gen != gen)
				continue; /* removed earlier in this pass */
			f->fn(f->ctx, f->fd, evs[i].events);
		}
		loop_timers_run(&l->timers, l->now_ms);
	}
	return 0;
}
