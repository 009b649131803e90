/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchd's counters in DPDK telemetry, so that
 * `dpdk-telemetry.py -f latch-<node>` shows them beside DPDK's own:
 *
 *   /latch/stats       totals of every worker: counters, lock counters,
 *                      gauges, drops; "/latch/stats,W" gives worker W.
 *   /latch/workers     one array per counter, indexed by worker.
 *   /latch/drops       drops by reason, summed; "/latch/drops,W" for W.
 *   /latch/routes      per route and per backend counters (routing):
 *                      route/NAME/forwarded, backend/NAME/up, ...
 *
 * The callbacks run on DPDK's telemetry thread and read the workers only
 * through worker_stats_read(). telemetry_fini() waits for a callback in
 * progress, so the workers can be destroyed right after it.
 */
#ifndef LATCH_TELEMETRY_H
#define LATCH_TELEMETRY_H

#include "dataplane/control_sock.h"

/*
 * Register the /latch/ commands and show @view through them. 0 or
 * -errno. Main lcore, after rte_eal_init(), once.
 */
int telemetry_init(const struct latchd_view *view);

/*
 * Stop showing the view: later requests answer an error. Main lcore,
 * before the workers are destroyed. (DPDK cannot unregister a command.)
 */
void telemetry_fini(void);

#endif /* LATCH_TELEMETRY_H */
