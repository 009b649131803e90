/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peer links (docs/cluster.md, "Peer links"): keeping a node's ports of
 * role peer connected.
 *
 * A peer link is a point-to-point port to one peer's dataplane (net_memif
 * in the lab, a NIC port cabled to the peer elsewhere). Workers send that
 * peer's partition replication on it while it is up, and by the client
 * port otherwise (worker_repl_slot), so a link that is down costs speed,
 * never an entry. A memif server accepts its client again by itself; a
 * memif client whose server went away (the peer's latchd was restarted)
 * stays down until it dials again, which only a port stop and start do.
 * peer_links_tend() does that on the main lcore: it clears the port's
 * port_on flag, waits on the router's QSBR until every worker has ended
 * the pass that may have read it (workers poll and send only on ports
 * that are on), restarts the port and sets the flag again. It dials at
 * once when a link is seen down, then after 100 ms doubling to 2 s while
 * the server is not there (each failed dial logs a line from the PMD).
 *
 * Threads: main lcore only.
 */
#ifndef LATCH_PEER_LINK_H
#define LATCH_PEER_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "drivers/port.h"
#include "firmware-cfg/profile.h"

struct peer_link {
	struct port *port;
	uint8_t slot;          /* its index in the profile's ports */
	bool up;               /* as last seen by peer_links_tend() */
	uint64_t next_dial_ms; /* a client dials again from then on */
	uint32_t backoff_ms;   /* wait after the next failed dial */
	uint32_t dials;        /* restarts so far (the log says) */
};

struct peer_links {
	struct peer_link links[PROFILE_PORTS_MAX];
	unsigned count;
	uint8_t *port_on;          /* worker_shared.port_on */
	struct rte_rcu_qsbr *qsbr; /* the workers' pass boundaries */
};

/*
 * Take the ports of role peer among @ports (@count, after port_init) and
 * set port_on[slot] to whether each started. @qsbr must have every worker
 * registered while it runs.
 */
void peer_links_init(struct peer_links *pl, struct port *ports, uint16_t count,
		     uint8_t *port_on, struct rte_rcu_qsbr *qsbr);

/* Log links that went up or down; dial again those that need it. */
void peer_links_tend(struct peer_links *pl, uint64_t now_ms);

#endif /* LATCH_PEER_LINK_H */
