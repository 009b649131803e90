/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Waking a sleeping worker (docs/design.md, "idle policy").
 *
 * Under the sleep idle policy a worker with nothing to do sleeps for up
 * to workers.idle_sleep_us. Work that others give it would wait out that
 * sleep: a view from latch-control (relayed by the main lcore), a frame
 * another worker hands over, a replication frame on a port that has no
 * Rx interrupt. So each worker has a wake word and an eventfd:
 *
 *   worker, idle:                        giver, after queueing work:
 *     wake_announce(wk);                   wake_kick(wk);
 *     if (its rings are still empty)
 *         wake_sleep(wk, fds, n, us);
 *
 * wake_announce() and wake_kick() each put a full barrier between their
 * store and their load (Dekker), so either the giver sees the worker
 * asleep and writes the eventfd, or the worker's check sees the work: no
 * wake-up is lost. A kick costs a write(2) only when the worker slept,
 * never per packet of a busy worker.
 *
 * wake_sleep() waits in ppoll(2) on the eventfd and on @fds (a port's
 * Rx-queue interrupt fds, drivers/port.h: a frame arriving there wakes
 * the worker too), with a microsecond timeout, so timers and ports
 * without interrupts (memif) are polled as before.
 *
 * Threads: wake_init/wake_fini on the main lcore while no worker runs;
 * announce and sleep on the owning worker only; kick from any thread.
 */
#ifndef LATCH_WAKE_H
#define LATCH_WAKE_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>

/* Most caller fds a sleep waits on besides the eventfd. */
#define WAKE_FDS_MAX 15

struct wake {
	int fd;          /* eventfd, non-blocking; -1 before wake_init */
	uint32_t asleep; /* 1 from wake_announce() to the end of a sleep */
	uint64_t kicks;  /* eventfd writes (the giver's side; approximate) */
} __rte_cache_aligned;

/* Create @wk's eventfd. Returns 0 or -errno. */
int wake_init(struct wake *wk);

/* Close it; safe on a @wk whose wake_init() failed (fd -1). */
void wake_fini(struct wake *wk);

/* Worker: from now on, givers write the eventfd. Check the inputs after
 * this, then sleep or call wake_cancel(). */
static inline void
wake_announce(struct wake *wk)
{
	__atomic_store_n(&wk->asleep, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Worker: the check found work; givers stop writing. */
static inline void
wake_cancel(struct wake *wk)
{
	__atomic_store_n(&wk->asleep, 0, __ATOMIC_RELAXED);
}

/* What ended a wake_sleep(). */
enum wake_reason {
	WAKE_TIMEOUT = 0, /* or a signal */
	WAKE_KICKED = 1,  /* the eventfd */
	WAKE_FD = 2,      /* one of the caller's fds (and not the eventfd) */
};

/*
 * Worker, after wake_announce() on a @wk that wake_init() opened: sleep
 * until the eventfd or one of @fds (@n <= WAKE_FDS_MAX of them, events
 * POLLIN; revents are not kept) is readable, or @us
 * microseconds passed. Drains the eventfd, clears the wake word. Returns
 * an enum wake_reason.
 */
int wake_sleep(struct wake *wk, struct pollfd *fds, unsigned n, uint32_t us);

/* Any thread, after the work it gives is visible (enqueued): wake the
 * worker if it announced sleep. */
void wake_kick_slow(struct wake *wk);

static inline void
wake_kick(struct wake *wk)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (unlikely(__atomic_load_n(&wk->asleep, __ATOMIC_RELAXED) != 0))
		wake_kick_slow(wk);
}

#endif /* LATCH_WAKE_H */
