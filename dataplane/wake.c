/* SPDX-License-Identifier: BSD-3-Clause */
/* Waking a sleeping worker (wake.h). */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "dataplane/wake.h"

/* The eventfd first, then the caller's fds. */
#define WAKE_FDS_MAX 16

int
wake_init(struct wake *wk)
{
	wk->asleep = 0;
	wk->kicks = 0;
	wk->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return wk->fd < 0 ? -errno : 0;
}

void
wake_fini(struct wake *wk)
{
	if (wk->fd > 0)
		close(wk->fd);
	wk->fd = -1;
}

int
wake_sleep(struct wake *wk, struct pollfd *fds, unsigned n, uint32_t us)
{
	struct pollfd all[WAKE_FDS_MAX];
	struct timespec ts = {
		.tv_sec = us / 1000000u,
		.tv_nsec = (long)(us % 1000000u) * 1000,
	};
	uint64_t count;
	unsigned i, k = 0;
	int ret;

	if (wk->fd >= 0) {
		all[k].fd = wk->fd;
		all[k].events = POLLIN;
		all[k].revents = 0;
		k++;
	}
	for (i = 0; i < n && k < WAKE_FDS_MAX; i++) {
		all[k].fd = fds[i].fd;
		all[k].events = POLLIN;
		all[k].revents = 0;
		k++;
	}
	ret = ppoll(all, k, &ts, NULL);
	__atomic_store_n(&wk->asleep, 0, __ATOMIC_RELAXED);
	if (ret <= 0)
		return WAKE_TIMEOUT;
	if (wk->fd >= 0 && (all[0].revents & POLLIN) != 0) {
		(void)!read(wk->fd, &count, sizeof(count));
		return WAKE_KICKED;
	}
	return WAKE_FD;
}

void
wake_kick_slow(struct wake *wk)
{
	const uint64_t one = 1;

	if (wk->fd < 0)
		return;
	__atomic_fetch_add(&wk->kicks, 1, __ATOMIC_RELAXED);
	(void)!write(wk->fd, &one, sizeof(one));
}
