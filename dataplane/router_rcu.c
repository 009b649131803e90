/* SPDX-License-Identifier: BSD-3-Clause */
/* RCU publication of route tables (router_rcu.h). */
#include <errno.h>

#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "dataplane/router_rcu.h"

struct router_rcu *
router_rcu_create(uint32_t workers, int socket_id, struct route_table *initial)
{
	struct router_rcu *rr;
	size_t sz;

	if (workers == 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	rr = rte_zmalloc_socket("router_rcu", sizeof(*rr), RTE_CACHE_LINE_SIZE,
				socket_id);
	if (rr == NULL) {
		rte_errno = ENOMEM;
		goto fail;
	}
	sz = rte_rcu_qsbr_get_memsize(workers);
	rr->qsbr = rte_zmalloc_socket("router_qsbr", sz, RTE_CACHE_LINE_SIZE,
				      socket_id);
	if (rr->qsbr == NULL) {
		rte_errno = ENOMEM;
		goto free_rr;
	}
	if (rte_rcu_qsbr_init(rr->qsbr, workers) != 0)
		goto free_qsbr; /* rte_errno set by rte_rcu_qsbr_init */
	rr->workers = workers;
	rr->current = initial;
	return rr;

free_qsbr:
	rte_free(rr->qsbr);
free_rr:
	rte_free(rr);
fail:
	RTE_LOG(ERR, USER1, "router: cannot create QSBR for %u workers\n",
		workers);
	return NULL;
}

void
router_rcu_destroy(struct router_rcu *rr)
{
	if (rr == NULL)
		return;
	router_table_destroy(rr->current);
	rte_free(rr->qsbr);
	rte_free(rr);
}

void
router_swap(struct router_rcu *rr, struct route_table *next)
{
	struct route_table *old = rr->current;

	__atomic_store_n(&rr->current, next, __ATOMIC_RELEASE);
	/* The caller is not a reader: it holds no thread id. */
	rte_rcu_qsbr_synchronize(rr->qsbr, RTE_QSBR_THRID_INVALID);
	router_table_destroy(old);
}

int
router_rcu_register(struct router_rcu *rr, unsigned int thread_id)
{
	int rc;

	if (thread_id >= rr->workers)
		return -EINVAL;
	rc = rte_rcu_qsbr_thread_register(rr->qsbr, thread_id);
	if (rc != 0)
		return -rte_errno;
	rte_rcu_qsbr_thread_online(rr->qsbr, thread_id);
	return 0;
}

void
router_rcu_unregister(struct router_rcu *rr, unsigned int thread_id)
{
	rte_rcu_qsbr_thread_offline(rr->qsbr, thread_id);
	rte_rcu_qsbr_thread_unregister(rr->qsbr, thread_id);
}
