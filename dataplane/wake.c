/* SPDX-License-Identifier: BSD-3-Clause */
/* Waking a sleeping worker (wake.h). */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "dataplane/wake.h"

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
	if (wk->fd >= 0)
		close(wk->fd);
	wk->fd = -1;
}

int
wake_sleep(struct wake *wk, struct pollfd *fds, unsigned n, uint32_t us)
{
	struct pollfd all[1 + WAKE_FDS_MAX];
	struct timespec ts = {
		.tv_sec = us / 1000000u,
		.tv_nsec = (long)(us % 1000000u) * 1000,
	};
	uint64_t count;
	unsigned i;
	int ret;

	/* The eventfd first, then the caller's fds. */
	if (n > WAKE_FDS_MAX)
		n = WAKE_FDS_MAX;
	for (i = 0; i <= n; i++) {
		all[i].fd = i == 0 ? wk->fd : fds[i - 1].fd;
		all[i].events = POLLIN;
		all[i].revents = 0;
	}
	ret = ppoll(all, n + 1, &ts, NULL);
	__atomic_store_n(&wk->asleep, 0, __ATOMIC_RELAXED);
	if (ret <= 0)
		return WAKE_TIMEOUT;
	if ((all[0].revents & POLLIN) != 0) {
		(void)!read(wk->fd, &count, sizeof(count));
		return WAKE_KICKED;
	}
	return WAKE_FD;
}

void
wake_kick_slow(struct wake *wk)
{
	const uint64_t one = 1;

	__atomic_fetch_add(&wk->kicks, 1, __ATOMIC_RELAXED);
	(void)!write(wk->fd, &one, sizeof(one));
}
