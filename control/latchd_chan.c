/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's channel to latchd (see latchd_chan.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/latchd_chan.h"

struct pending {
	latchd_answer_fn fn;
	void *ctx;
};

struct latchd_chan {
	struct loop *loop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t poll_ms;
	latchd_report_fn report_fn;
	void *report_ctx;
	int fd; /* -1: not connected */
	bool connecting;
	int poll_timer;
	int reconnect_timer;
	uint32_t backoff_ms;
	bool status_pending;
	uint64_t status_sent_ms;
	struct latchd_report rep;
	bool reported_up;
	unsigned pending_head;
	unsigned pending_count;
	struct pending pending[LATCHD_CHAN_PENDING_MAX];
	char *in;
	size_t in_len;
	char *out;
	size_t out_len;
	size_t out_cap;
	struct latchd_chan_stats stats;
};

static void chan_connect(struct latchd_chan *ch);

static bool
chan_is_up(const struct latchd_chan *ch, uint64_t now_ms)
{
	return ch->rep.last_answer_ms != 0 &&
	       now_ms - ch->rep.last_answer_ms <=
		       (uint64_t)ch->poll_ms * LATCHD_CHAN_DOWN_POLLS;
}

void
latchd_chan_report(const struct latchd_chan *ch, uint64_t now_ms,
		   struct latchd_report *out)
{
	*out = ch->rep;
	out->up = ch->fd >= 0 && !ch->connecting && chan_is_up(ch, now_ms);
	out->epoch_changed = false;
}

const struct latchd_chan_stats *
latchd_chan_stats(const struct latchd_chan *ch)
{
	return &ch->stats;
}

/* Tell the report callback if liveness changed (or @force). */
static void
chan_report(struct latchd_chan *ch, bool force, bool epoch_changed)
{
	uint64_t now = loop_now_ms(ch->loop);
	struct latchd_report r;

	latchd_chan_report(ch, now, &r);
	r.epoch_changed = epoch_changed;
	if (!force && r.up == ch->reported_up)
		return;
	ch->reported_up = r.up;
	if (ch->report_fn != NULL)
		ch->report_fn(ch->report_ctx, &r, now);
}

static void
chan_close(struct latchd_chan *ch)
{
	if (ch->fd < 0)
		return;
	loop_fd_del(ch->loop, ch->fd);
	close(ch->fd);
	ch->fd = -1;
	ch->connecting = false;
	ch->stats.disconnects++;
	ch->in_len = 0;
	ch->out_len = 0;
	ch->status_pending = false;
	/* Whoever waits learns the answer will not come. */
	while (ch->pending_count > 0) {
		struct pending p = ch->pending[ch->pending_head];

		ch->pending_head =
			(ch->pending_head + 1) % LATCHD_CHAN_PENDING_MAX;
		ch->pending_count--;
		if (p.fn != NULL)
			p.fn(p.ctx, NULL);
	}
	loop_timer_arm_in(ch->loop, ch->reconnect_timer, ch->backoff_ms);
	ch->backoff_ms = ch->backoff_ms * 2 > LATCHD_CHAN_BACKOFF_MAX_MS
				 ? LATCHD_CHAN_BACKOFF_MAX_MS
				 : ch->backoff_ms * 2;
	chan_report(ch, false, false);
}

static void
chan_want(struct latchd_chan *ch)
{
	uint32_t ev = EPOLLIN;

	if (ch->connecting || ch->out_len > 0)
		ev |= EPOLLOUT;
	loop_fd_mod(ch->loop, ch->fd, ev);
}

static void
chan_flush(struct latchd_chan *ch)
{
	while (ch->out_len > 0) {
		ssize_t n = send(ch->fd, ch->out, ch->out_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			chan_close(ch);
			return;
		}
		memmove(ch->out, ch->out + n, ch->out_len - (size_t)n);
		ch->out_len -= (size_t)n;
	}
	chan_want(ch);
}

int
latchd_chan_request(struct latchd_chan *ch, const char *json_line,
		    latchd_answer_fn fn, void *ctx)
{
	size_t len = strlen(json_line);
	unsigned slot;

	if (ch->fd < 0 || ch->connecting)
		return -ENOTCONN;
	if (ch->pending_count == LATCHD_CHAN_PENDING_MAX)
		return -EBUSY;
	if (ch->out_len + len + 1 > ch->out_cap) {
		size_t cap = (ch->out_len + len + 1) * 2;
		char *p = realloc(ch->out, cap);

		if (p == NULL)
			return -ENOMEM;
		ch->out = p;
		ch->out_cap = cap;
	}
	memcpy(ch->out + ch->out_len, json_line, len);
	ch->out[ch->out_len + len] = '\n';
	ch->out_len += len + 1;
	slot = (ch->pending_head + ch->pending_count) % LATCHD_CHAN_PENDING_MAX;
	ch->pending[slot].fn = fn;
	ch->pending[slot].ctx = ctx;
	ch->pending_count++;
	ch->stats.requests++;
	chan_flush(ch);
	return 0;
}

static void
on_status(void *ctx, struct json_object *a)
{
	struct latchd_chan *ch = ctx;
	struct json_object *epoch, *pid;
	uint64_t e;
	bool changed;

	ch->status_pending = false;
	if (a == NULL)
		return;
	if (!json_object_object_get_ex(a, "epoch", &epoch)) {
		ch->stats.bad_answers++;
		return;
	}
	e = (uint64_t)json_object_get_uint64(epoch);
	changed = ch->rep.epoch != 0 && e != ch->rep.epoch;
	ch->rep.epoch = e;
	if (json_object_object_get_ex(a, "pid", &pid))
		ch->rep.pid = (long)json_object_get_int64(pid);
	ch->rep.last_answer_ms = loop_now_ms(ch->loop);
	chan_report(ch, true, changed);
}

static void
chan_line(struct latchd_chan *ch, char *line)
{
	struct json_object *a = json_tokener_parse(line);
	struct pending p;

	ch->stats.answers++;
	if (a == NULL)
		ch->stats.bad_answers++;
	if (ch->pending_count == 0) {
		/* An answer nobody asked for: latchd and we disagree on
		 * the stream; start over. */
		json_object_put(a);
		chan_close(ch);
		return;
	}
	p = ch->pending[ch->pending_head];
	ch->pending_head = (ch->pending_head + 1) % LATCHD_CHAN_PENDING_MAX;
	ch->pending_count--;
	if (a != NULL && p.fn != NULL)
		p.fn(p.ctx, a);
	else if (p.fn == on_status)
		ch->status_pending = false;
	json_object_put(a);
}

static void
chan_readable(struct latchd_chan *ch)
{
	for (;;) {
		char buf[4096];
		ssize_t n = recv(ch->fd, buf, sizeof(buf), MSG_DONTWAIT);
		char *nl;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			chan_close(ch);
			return;
		}
		if (n < 0)
			return;
		if (ch->in_len + (size_t)n + 1 > LATCHD_CHAN_LINE_MAX) {
			chan_close(ch);
			return;
		}
		if (ch->in == NULL) {
			ch->in = malloc(LATCHD_CHAN_LINE_MAX);
			if (ch->in == NULL) {
				chan_close(ch);
				return;
			}
		}
		memcpy(ch->in + ch->in_len, buf, (size_t)n);
		ch->in_len += (size_t)n;
		while ((nl = memchr(ch->in, '\n', ch->in_len)) != NULL) {
			size_t used = (size_t)(nl - ch->in) + 1;

			*nl = '\0';
			chan_line(ch, ch->in);
			if (ch->fd < 0)
				return;
			memmove(ch->in, ch->in + used, ch->in_len - used);
			ch->in_len -= used;
		}
	}
}

static void
chan_ready(void *ctx, int fd, uint32_t events)
{
	struct latchd_chan *ch = ctx;
	int err = 0;
	socklen_t len = sizeof(err);

	if (ch->connecting) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			chan_close(ch);
			return;
		}
		ch->connecting = false;
		ch->stats.connects++;
		ch->backoff_ms = LATCHD_CHAN_BACKOFF_MIN_MS;
		chan_want(ch);
		/* Ask at once: liveness is known a round trip later. */
		loop_timer_arm_in(ch->loop, ch->poll_timer, 0);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		chan_readable(ch);
	if (ch->fd >= 0 && (events & EPOLLOUT))
		chan_flush(ch);
}

static void
chan_connect(struct latchd_chan *ch)
{
	struct sockaddr_un sa;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto retry;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, ch->path, strlen(ch->path));
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
		close(fd);
		goto retry;
	}
	if (loop_fd_add(ch->loop, fd, EPOLLIN | EPOLLOUT, chan_ready, ch) !=
	    0) {
		close(fd);
		goto retry;
	}
	ch->fd = fd;
	ch->connecting = true;
	return;

retry:
	loop_timer_arm_in(ch->loop, ch->reconnect_timer, ch->backoff_ms);
	ch->backoff_ms = ch->backoff_ms * 2 > LATCHD_CHAN_BACKOFF_MAX_MS
				 ? LATCHD_CHAN_BACKOFF_MAX_MS
				 : ch->backoff_ms * 2;
}

static void
on_reconnect(void *ctx, uint64_t now_ms)
{
	struct latchd_chan *ch = ctx;

	(void)now_ms;
	if (ch->fd < 0)
		chan_connect(ch);
}

static void
on_poll(void *ctx, uint64_t now_ms)
{
	struct latchd_chan *ch = ctx;

	loop_timer_arm_in(ch->loop, ch->poll_timer, ch->poll_ms);
	/* Liveness may have lapsed with no event: report the change. */
	chan_report(ch, false, false);
	if (ch->fd < 0 || ch->connecting)
		return;
	if (ch->status_pending) {
		/* latchd accepted the connection but stopped answering
		 * (its main lcore is stuck): start over after a while. */
		if (now_ms - ch->status_sent_ms >
		    (uint64_t)ch->poll_ms * LATCHD_CHAN_DOWN_POLLS * 2)
			chan_close(ch);
		return;
	}
	if (latchd_chan_request(ch, "{\"cmd\":\"status\"}", on_status, ch) ==
	    0) {
		ch->status_pending = true;
		ch->status_sent_ms = now_ms;
	}
}

struct latchd_chan *
latchd_chan_create(struct loop *l, const char *path, uint32_t poll_ms,
		   latchd_report_fn fn, void *ctx)
{
	struct latchd_chan *ch;

	if (strlen(path) >= sizeof(ch->path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	ch->loop = l;
	snprintf(ch->path, sizeof(ch->path), "%s", path);
	ch->poll_ms = poll_ms;
	ch->report_fn = fn;
	ch->report_ctx = ctx;
	ch->fd = -1;
	ch->backoff_ms = LATCHD_CHAN_BACKOFF_MIN_MS;
	ch->poll_timer = loop_timer_add(l, on_poll, ch);
	ch->reconnect_timer = loop_timer_add(l, on_reconnect, ch);
	if (ch->poll_timer < 0 || ch->reconnect_timer < 0) {
		free(ch);
		errno = ENOSPC;
		return NULL;
	}
	loop_timer_arm_in(l, ch->poll_timer, poll_ms);
	chan_connect(ch);
	return ch;
}

void
latchd_chan_destroy(struct latchd_chan *ch)
{
	if (ch == NULL)
		return;
	ch->report_fn = NULL;
	chan_close(ch);
	loop_timer_cancel(ch->loop, ch->poll_timer);
	loop_timer_cancel(ch->loop, ch->reconnect_timer);
	free(ch->in);
	free(ch->out);
	free(ch);
}
