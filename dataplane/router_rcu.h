/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Publishing route tables to the workers by RCU (rte_rcu_qsbr): the shell
 * around the pure router (router.h). The main lcore builds a new table off
 * the fast path and calls router_swap(); workers read the table through
 * one pointer and report a quiescent state once per loop pass, so the old
 * table is freed only when no worker can still hold it. No packet is lost
 * and no worker pauses (docs/design.md; docs/routing.md, "integration").
 *
 * What a worker loop must do (worker w, QSBR thread id w):
 *
 *   router_rcu_register(rr, w);            once, before the loop
 *   while (!*stop) {
 *       t = router_rcu_current(rr);        once per pass, before rx use
 *       ... rx_burst; for each frame not claimed by the lock path:
 *           router_route(t, data, len, &d); count d.reason;
 *           act on the returned action ...
 *       ... tx_burst ...
 *       router_rcu_quiescent(rr, w);       last: t is not used after it
 *       if idle and about to sleep:
 *           router_rcu_offline(rr, w); sleep; router_rcu_online(rr, w);
 *   }
 *   router_rcu_unregister(rr, w);          after the loop
 *
 * A worker must not keep @t across router_rcu_quiescent(), nor across
 * router_rcu_offline(): load it again with router_rcu_current().
 */
#ifndef LATCH_ROUTER_RCU_H
#define LATCH_ROUTER_RCU_H

#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "dataplane/router.h"

struct router_rcu {
	struct rte_rcu_qsbr *qsbr; /* sized for @workers reader threads */
	uint32_t workers;
	/* The published table; written only by router_swap (main lcore). */
	struct route_table *current;
};

/*
 * Create the QSBR variable for @workers worker lcores (thread ids
 * 0..workers-1) on NUMA @socket_id and publish @initial (may be NULL:
 * route nothing; ownership passes to @rr). NULL and rte_errno on failure.
 * Main lcore, start-up, before the workers are launched.
 */
struct router_rcu *router_rcu_create(uint32_t workers, int socket_id,
				     struct route_table *initial);

/*
 * Free the QSBR variable and the current table. Main lcore, after every
 * worker has stopped (rte_eal_mp_wait_lcore).
 */
void router_rcu_destroy(struct router_rcu *rr);

/*
 * Publish @next (ownership passes to @rr; may be NULL) and free the table
 * it replaces once every registered, online worker has passed a quiescent
 * state: store-release of the pointer, rte_rcu_qsbr_synchronize(), then
 * router_table_destroy(old). Blocks the caller for one grace period (one
 * loop pass of the slowest worker). Main lcore or a control thread, never
 * a worker (it would wait for itself); one caller at a time.
 */
void router_swap(struct router_rcu *rr, struct route_table *next);

/* Worker @thread_id: register with QSBR and go online. 0 or -errno. */
int router_rcu_register(struct router_rcu *rr, unsigned int thread_id);

/* Worker @thread_id: go offline and unregister, after its loop. */
void router_rcu_unregister(struct router_rcu *rr, unsigned int thread_id);

/* The table to use for this loop pass (NULL: no routes). Worker. */
static inline const struct route_table *
router_rcu_current(const struct router_rcu *rr)
{
	return __atomic_load_n(&rr->current, __ATOMIC_ACQUIRE);
}

/* End of a loop pass: the worker holds no table pointer. Worker. */
static inline void
router_rcu_quiescent(struct router_rcu *rr, unsigned int thread_id)
{
	rte_rcu_qsbr_quiescent(rr->qsbr, thread_id);
}

/* Around an idle sleep, so router_swap() does not wait for the sleeper. */
static inline void
router_rcu_offline(struct router_rcu *rr, unsigned int thread_id)
{
	rte_rcu_qsbr_thread_offline(rr->qsbr, thread_id);
}

static inline void
router_rcu_online(struct router_rcu *rr, unsigned int thread_id)
{
	rte_rcu_qsbr_thread_online(rr->qsbr, thread_id);
}

#endif /* LATCH_ROUTER_RCU_H */
