/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's replication channel to latchd (see repl_chan.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/repl_chan.h"

struct repl_chan {
	struct loop *loop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	repl_report_fn fn;
	void *ctx;
	int fd; /* -1: not connected */
	int reconnect_timer;
	uint32_t backoff_ms;
	struct repl_chan_stats stats;
};

static void
chan_close(struct repl_chan *rc)
{
	if (rc->fd < 0)
		return;
	loop_fd_del(rc->loop, rc->fd);
	close(rc->fd);
	rc->fd = -1;
	rc->stats.disconnects++;
	loop_timer_arm_in(rc->loop, rc->reconnect_timer, rc->backoff_ms);
	rc->backoff_ms = rc->backoff_ms * 2 > REPL_CHAN_BACKOFF_MAX_MS
				 ? REPL_CHAN_BACKOFF_MAX_MS
				 : rc->backoff_ms * 2;
}

static void
chan_ready(void *ctx, int fd, uint32_t events)
{
	struct repl_chan *rc = ctx;
	/* One byte more than a report: a longer datagram shows as such
	 * instead of being silently truncated to the right size. */
	uint8_t buf[sizeof(struct raft_chan_report) + 1];
	struct raft_chan_report rep;

	(void)fd;
	for (;;) {
		ssize_t n = recv(rc->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			chan_close(rc);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((size_t)n != sizeof(rep)) {
			rc->stats.bad_reports++;
			continue;
		}
		memcpy(&rep, buf, sizeof(rep));
		rc->stats.reports++;
		rc->backoff_ms = REPL_CHAN_BACKOFF_MIN_MS;
		rc->fn(rc->ctx, &rep, loop_now_ms(rc->loop));
		if (rc->fd < 0)
			return;
	}
	if (events & (EPOLLHUP | EPOLLERR))
		chan_close(rc);
}

static void
chan_connect(void *ctx, uint64_t now_ms)
{
	struct repl_chan *rc = ctx;
	struct sockaddr_un sa;
	int fd;

	(void)now_ms;
	if (rc->fd >= 0)
		return;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto retry;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, rc->path, strlen(rc->path));
	/* A local SEQPACKET connect completes at once or fails. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    loop_fd_add(rc->loop, fd, EPOLLIN, chan_ready, rc) != 0) {
		close(fd);
		goto retry;
	}
	rc->fd = fd;
	rc->stats.connects++;
	return;

retry:
	loop_timer_arm_in(rc->loop, rc->reconnect_timer, rc->backoff_ms);
	rc->backoff_ms = rc->backoff_ms * 2 > REPL_CHAN_BACKOFF_MAX_MS
				 ? REPL_CHAN_BACKOFF_MAX_MS
				 : rc->backoff_ms * 2;
}

struct repl_chan *
repl_chan_create(struct loop *l, const char *path, repl_report_fn fn, void *ctx)
{
	struct repl_chan *rc;

	if (strlen(path) >= sizeof(rc->path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		return NULL;
	rc->loop = l;
	rc->fn = fn;
	rc->ctx = ctx;
	rc->fd = -1;
	rc->backoff_ms = REPL_CHAN_BACKOFF_MIN_MS;
	snprintf(rc->path, sizeof(rc->path), "%s", path);
	rc->reconnect_timer = loop_timer_add(l, chan_connect, rc);
	if (rc->reconnect_timer < 0) {
		free(rc);
		errno = ENOSPC;
		return NULL;
	}
	loop_timer_arm_in(l, rc->reconnect_timer, 0);
	return rc;
}

void
repl_chan_destroy(struct repl_chan *rc)
{
	if (rc == NULL)
		return;
	if (rc->fd >= 0) {
		loop_fd_del(rc->loop, rc->fd);
		close(rc->fd);
	}
	loop_timer_cancel(rc->loop, rc->reconnect_timer);
	free(rc);
}

int
repl_chan_send(struct repl_chan *rc, const struct raft_chan_down *d)
{
	ssize_t n;

	if (rc->fd < 0) {
		rc->stats.send_drops++;
		return -ENOTCONN;
	}
	n = send(rc->fd, d, sizeof(*d), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(*d)) {
		rc->stats.sent++;
		return 0;
	}
	rc->stats.send_drops++;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	n = n < 0 ? -errno : -EIO;
	chan_close(rc);
	return (int)n;
}

bool
repl_chan_is_connected(const struct repl_chan *rc)
{
	return rc->fd >= 0;
}

const struct repl_chan_stats *
repl_chan_stats(const struct repl_chan *rc)
{
	return &rc->stats;
}
