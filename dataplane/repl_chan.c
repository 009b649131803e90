/* SPDX-License-Identifier: BSD-3-Clause */
/* The local control channel's latchd end (repl_chan.h). */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_log.h>

#include "control/raft/raft_chan.h"
#include "dataplane/repl_chan.h"

/*
 * Datagrams read from the client per pass: a view (every heartbeat) and
 * a few pulls are all latch-control sends; the bound keeps a flood from
 * holding the main lcore.
 */
#define REPL_CHAN_DOWN_BUDGET 64
/* Reports taken from one worker's ring per pass (its ring's size). */
#define REPL_CHAN_UP_BURST 16

struct repl_chan {
	int wake_fd; /* eventfd: a worker queued a report */
	int listen_fd;
	int client_fd; /* -1: none */
	uint16_t workers;
	struct rte_ring *down[LATCH_PARTITIONS_MAX];
	struct rte_ring *up[LATCH_PARTITIONS_MAX];
	struct wake *const *wake; /* by worker (worker_shared), or NULL */
	struct repl_chan_counters c;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct repl_chan *
repl_chan_create(const char *path, struct rte_ring **down, struct rte_ring **up,
		 struct wake *const *wake, uint16_t workers)
{
	struct sockaddr_un sa;
	struct repl_chan *c;
	uint16_t w;
	int err;

	if (workers == 0 || workers > LATCH_PARTITIONS_MAX ||
	    strlen(path) >= sizeof(sa.sun_path)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->client_fd = -1;
	c->workers = workers;
	c->wake = wake;
	for (w = 0; w < workers; w++) {
		c->down[w] = down[w];
		c->up[w] = up[w];
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0)
		goto free_chan;
	c->listen_fd = socket(AF_UNIX,
			      SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		goto close_wake;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, strlen(c->path));
	unlink(c->path); /* a socket left by a crashed latchd */
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->listen_fd, 4) < 0)
		goto close_listen;
	return c;

close_listen:
	err = errno;
	close(c->listen_fd);
	errno = err;
close_wake:
	err = errno;
	close(c->wake_fd);
	errno = err;
free_chan:
	err = errno;
	free(c);
	errno = err;
	return NULL;
}

void
repl_chan_destroy(struct repl_chan *c)
{
	if (c == NULL)
		return;
	if (c->client_fd >= 0)
		close(c->client_fd);
	close(c->listen_fd);
	close(c->wake_fd);
	unlink(c->path);
	free(c);
}

int
repl_chan_wake_fd(const struct repl_chan *c)
{
	return c->wake_fd;
}

unsigned
repl_chan_pollfds(const struct repl_chan *c, struct pollfd *fds)
{
	unsigned n = 0;

	fds[n].fd = c->wake_fd;
	fds[n].events = POLLIN;
	fds[n++].revents = 0;
	fds[n].fd = c->listen_fd;
	fds[n].events = POLLIN;
	fds[n++].revents = 0;
	if (c->client_fd >= 0) {
		fds[n].fd = c->client_fd;
		fds[n].events = POLLIN;
		fds[n++].revents = 0;
	}
	return n;
}

static void
repl_chan_drop_client(struct repl_chan *c)
{
	if (c->client_fd >= 0)
		close(c->client_fd);
	c->client_fd = -1;
}

/* A new latch-control replaces the old (it restarted). */
static void
repl_chan_accept(struct repl_chan *c)
{
	int fd =
		accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	repl_chan_drop_client(c);
	c->client_fd = fd;
	c->c.connections++;
	RTE_LOG(INFO, USER1, "repl.sock: latch-control connected\n");
}

static void
repl_chan_enqueue(struct repl_chan *c, uint16_t w,
		  const struct raft_chan_down *d)
{
	if (rte_ring_sp_enqueue_elem(c->down[w], (void *)d, sizeof(*d)) != 0) {
		c->c.down_full++;
		return;
	}
	c->c.down_relayed++;
	/* A view or pull waits for no sleeping worker: a vote waits for the
	 * workers' reports of it (docs/cluster.md). */
	if (c->wake != NULL)
		wake_kick(c->wake[w]);
}

/* One datagram from latch-control: check it, give it to its worker(s). */
static void
repl_chan_relay(struct repl_chan *c, const struct raft_chan_down *d)
{
	uint16_t w;

	if (d->type == RAFT_CHAN_VIEW && d->partition == RAFT_CHAN_ALL) {
		for (w = 0; w < c->workers; w++)
			repl_chan_enqueue(c, w, d);
	} else if ((d->type == RAFT_CHAN_VIEW || d->type == RAFT_CHAN_PULL) &&
		   d->partition < c->workers) {
		repl_chan_enqueue(c, d->partition, d);
	} else {
		c->c.down_bad++;
	}
}

static void
repl_chan_read(struct repl_chan *c)
{
	/* One byte more than a message, so a longer datagram is seen. */
	union {
		struct raft_chan_down d;
		uint8_t bytes[sizeof(struct raft_chan_down) + 1];
	} buf;
	unsigned i;
	ssize_t n;

	for (i = 0; i < REPL_CHAN_DOWN_BUDGET && c->client_fd >= 0; i++) {
		n = recv(c->client_fd, &buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				repl_chan_drop_client(c);
			return;
		}
		if (n == 0) { /* latch-control went away */
			RTE_LOG(INFO, USER1,
				"repl.sock: latch-control disconnected\n");
			repl_chan_drop_client(c);
			return;
		}
		if ((size_t)n != sizeof(struct raft_chan_down)) {
			c->c.down_bad++;
			continue;
		}
		repl_chan_relay(c, &buf.d);
	}
}

/* Every report in the up rings to the client; dropped if none or full. */
static void
repl_chan_write_reports(struct repl_chan *c)
{
	struct raft_chan_report reps[REPL_CHAN_UP_BURST];
	unsigned n, i;
	uint16_t w;

	for (w = 0; w < c->workers; w++) {
		n = rte_ring_sc_dequeue_burst_elem(c->up[w], reps,
						   sizeof(reps[0]),
						   REPL_CHAN_UP_BURST, NULL);
		for (i = 0; i < n; i++) {
			if (c->client_fd < 0 ||
			    send(c->client_fd, &reps[i], sizeof(reps[i]),
				 MSG_DONTWAIT | MSG_NOSIGNAL) !=
				    (ssize_t)sizeof(reps[i])) {
				if (c->client_fd >= 0 && errno != EAGAIN &&
				    errno != EWOULDBLOCK && errno != ENOBUFS)
					repl_chan_drop_client(c);
				c->c.reports_dropped++;
				continue;
			}
			c->c.reports_sent++;
		}
	}
}

void
repl_chan_process(struct repl_chan *c, const struct pollfd *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (fds[i].revents == 0)
			continue;
		if (fds[i].fd == c->wake_fd) {
			uint64_t count;

			/* Reset it; the rings say what is waiting. */
			(void)!read(c->wake_fd, &count, sizeof(count));
		} else if (fds[i].fd == c->listen_fd)
			repl_chan_accept(c);
		else if (fds[i].fd == c->client_fd) {
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
				repl_chan_read(c);
		}
	}
	repl_chan_write_reports(c);
}

void
repl_chan_counters(const struct repl_chan *c, struct repl_chan_counters *out)
{
	*out = c->c;
}
