/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's event loop: descriptors with callbacks (epoll), timers
 * on the monotonic clock, and SIGINT/SIGTERM through a signalfd so a
 * signal is one more event and the loop ends cleanly between callbacks.
 *
 * Why our own and not libevent: the loop needs fds, one-shot timers and
 * two signals; with a fixed bound on each (LOOP_FDS_MAX, LOOP_TIMERS_MAX)
 * it is ~300 lines that allocate nothing after loop_create(), and its
 * timer part is pure, so tests drive it with a fake clock. libevent would
 * bring its own allocation, global state and a second style of callback.
 *
 * Everything runs on the thread that calls loop_run(): callbacks never
 * overlap, so the modules they call need no locks.
 */
#ifndef LATCH_CONTROL_LOOP_H
#define LATCH_CONTROL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* Descriptors watched at once: listeners, clients, peers, latchd, the
 * signalfd. Bounds the API's and HTTP's client counts with room left. */
#define LOOP_FDS_MAX 64
/* Timers: a handful per module (election, heartbeat, latchd poll, ...). */
#define LOOP_TIMERS_MAX 32
/* No timer armed: loop_timers_next() answers this. */
#define LOOP_NEVER UINT64_MAX

struct loop;

/* @events: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP as epoll reports them. */
typedef void (*loop_fd_fn)(void *ctx, int fd, uint32_t events);
typedef void (*loop_timer_fn)(void *ctx, uint64_t now_ms);

/* ---- timers: pure, so tests drive them with a fake clock -------------- */

struct loop_timer {
	loop_timer_fn fn; /* NULL: free slot */
	void *ctx;
	uint64_t due_ms; /* LOOP_NEVER: not armed */
	bool firing;     /* due in the pass under way */
};

struct loop_timers {
	unsigned count; /* slots handed out */
	struct loop_timer t[LOOP_TIMERS_MAX];
};

/* Empty set. */
void loop_timers_init(struct loop_timers *ts);

/* A new, unarmed timer: its id (>= 0), or -ENOSPC past LOOP_TIMERS_MAX. */
int loop_timers_add(struct loop_timers *ts, loop_timer_fn fn, void *ctx);

/* Fire timer @id once at @due_ms (re-arming moves it). */
void loop_timers_arm(struct loop_timers *ts, int id, uint64_t due_ms);

/* Disarm timer @id; it does not fire until armed again. */
void loop_timers_cancel(struct loop_timers *ts, int id);

/* Earliest due time of an armed timer, or LOOP_NEVER. */
uint64_t loop_timers_next(const struct loop_timers *ts);

/*
 * Fire every timer due at @now_ms, earliest first (ties by id). Each is
 * disarmed before its callback runs, which may re-arm it; one re-armed at
 * or before @now_ms fires in the next pass, not this one, so a pass is
 * bounded by LOOP_TIMERS_MAX callbacks. Returns how many fired.
 */
unsigned loop_timers_run(struct loop_timers *ts, uint64_t now_ms);

/* ---- the loop ---------------------------------------------------------- */

/*
 * Create a loop: an epoll instance and a signalfd for SIGINT and SIGTERM
 * (blocked for the calling thread, so create the loop before any other
 * thread). NULL and errno.
 */
struct loop *loop_create(void);
void loop_destroy(struct loop *l);

/* Watch @fd for @events, calling @fn. 0, -ENOSPC, -EEXIST or -errno. */
int loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
		void *ctx);
/* Change the events watched on @fd. 0, -ENOENT or -errno. */
int loop_fd_mod(struct loop *l, int fd, uint32_t events);
/*
 * Stop watching @fd (the caller closes it). Safe from any callback, even
 * for an fd whose event is pending in the same pass: it is not delivered.
 */
int loop_fd_del(struct loop *l, int fd);

/* Timers of the loop (see the pure functions above). */
int loop_timer_add(struct loop *l, loop_timer_fn fn, void *ctx);
void loop_timer_arm(struct loop *l, int id, uint64_t due_ms);
/* Arm timer @id @delay_ms after the loop's current time. */
void loop_timer_arm_in(struct loop *l, int id, uint64_t delay_ms);
void loop_timer_cancel(struct loop *l, int id);

/* The monotonic clock in ms, read once per pass (callbacks see it). */
uint64_t loop_now_ms(const struct loop *l);

/* Read CLOCK_MONOTONIC now, in ms. */
uint64_t loop_clock_ms(void);

/*
 * Run until loop_stop() or SIGINT/SIGTERM. 0 on a clean stop, -errno if
 * epoll fails. Returns the signal that stopped it through
 * loop_stop_signal().
 */
int loop_run(struct loop *l);

/* Make loop_run() return after the current pass. Callbacks may call it. */
void loop_stop(struct loop *l);

/* The signal that stopped the loop, or 0. */
int loop_stop_signal(const struct loop *l);

#endif /* LATCH_CONTROL_LOOP_H */
