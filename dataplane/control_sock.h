/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchd's control socket: a Unix stream socket in the run directory that
 * answers line-delimited JSON requests ({"cmd":"stats"}, {"cmd":"status"},
 * and the routing commands route_add, route_del, route_list, backend_up,
 * backend_down, backend_add, backend_del) with one JSON line each.
 * latch-control, latchctl and the lab scripts use it; docs/operations.md
 * lists the commands.
 *
 * The main lcore serves it between its other duties: every socket is
 * non-blocking and the main loop blocks in poll() on the descriptors
 * control_sock_pollfds() hands out, so no worker is ever disturbed and the
 * main lcore does not spin.
 *
 * Thread safety: every function here runs on the main lcore only.
 */
#ifndef LATCH_CONTROL_SOCK_H
#define LATCH_CONTROL_SOCK_H

#include <poll.h>
#include <pthread.h>
#include <stdint.h>

#include "dataplane/route_conf.h"
#include "dataplane/router_rcu.h"
#include "dataplane/worker.h"
#include "drivers/port.h"
#include "firmware-cfg/profile.h"

/* Clients served at once; more are accepted and closed at once. */
#define CONTROL_CLIENTS_MAX 16
/* Longest request line; a client that sends a longer one is closed. */
#define CONTROL_LINE_MAX 4096
/* Descriptors control_sock_pollfds() may fill: listener + clients. */
#define CONTROL_POLLFDS_MAX (1 + CONTROL_CLIENTS_MAX)

/*
 * What latchd shows of itself: filled by main() once the workers exist,
 * read by the control socket (main lcore) and by telemetry (DPDK's
 * telemetry thread). Read-only while either can see it.
 */
struct latchd_view {
	const struct profile *profile;
	uint64_t epoch;
	uint64_t start_ns; /* CLOCK_MONOTONIC at start */
	uint16_t workers_count;
	struct worker *const *workers; /* [workers_count] */
	const unsigned *worker_lcores; /* lcore id of worker w */
	uint16_t ports_count;
	const struct port *ports; /* [ports_count] */
	/*
	 * Routing (docs/routing.md, "operation"): the control socket changes
	 * @routes and publishes tables through @router; it writes @routes
	 * under @routes_lock, which other threads (telemetry) hold to read.
	 */
	struct router_rcu *router;
	struct route_conf *routes;
	pthread_mutex_t *routes_lock;
};

struct control_sock;

/*
 * Route and backend counters of @sum (summed over workers) for route
 * @i of @rc, less what earlier routes of its slot counted. Any thread
 * that may read @rc.
 */
uint64_t latchd_route_forwarded(const struct route_conf *rc, uint16_t i,
				const struct worker_stats *sum);
uint64_t latchd_route_dropped(const struct route_conf *rc, uint16_t i,
			      const struct worker_stats *sum);
/* The same for backend @j of @rc (its counter slot, less what backends
 * deleted earlier counted there). */
uint64_t latchd_backend_forwarded(const struct route_conf *rc, uint16_t j,
				  const struct worker_stats *sum);

/*
 * Seconds since @view->start_ns. Any thread.
 */
uint64_t latchd_view_uptime_s(const struct latchd_view *view);

/*
 * Add @one's counters and gauges into @sum (gauges add up too: the locks
 * of all partitions). Any thread; pure.
 */
void latchd_stats_add(struct worker_stats *sum, const struct worker_stats *one);

/*
 * Bind and listen at @path (mode 0660), replacing a stale socket file.
 * Returns NULL and errno: EADDRINUSE if another process answers there,
 * ENAMETOOLONG if @path does not fit a sockaddr_un. Main lcore.
 */
struct control_sock *control_sock_create(const char *path,
					 const struct latchd_view *view);

/* Close every client and the listener, and remove the socket file. */
void control_sock_destroy(struct control_sock *cs);

/*
 * Fill @fds (room for CONTROL_POLLFDS_MAX) with the descriptors to poll
 * and the events wanted; returns how many. Pass the same array, after
 * poll(), to control_sock_process(). Main lcore.
 */
unsigned control_sock_pollfds(struct control_sock *cs, struct pollfd *fds);

/*
 * Accept, read, answer and write whatever poll() reported ready in @fds
 * (@n entries from control_sock_pollfds()). Never blocks. Main lcore.
 */
void control_sock_process(struct control_sock *cs, const struct pollfd *fds,
			  unsigned n);

#endif /* LATCH_CONTROL_SOCK_H */
