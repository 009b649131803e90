/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Keeping peer links connected (see peer_link.h).
 */
#include <stdio.h>
#include <string.h>

#include "dataplane/peer_link.h"

/* First wait before dialling a server that was not there, and the most. */
#define PEER_LINK_BACKOFF_MIN_MS 100
#define PEER_LINK_BACKOFF_MAX_MS 2000

#define PEER_LINK_LOG(link, fmt, ...)                             \
	fprintf(stderr, "latchd: peer link %s to %s: " fmt "\n",  \
		(link)->port->cfg->name, (link)->port->cfg->peer, \
		##__VA_ARGS__)

void
peer_links_init(struct peer_links *pl, struct port *ports, uint16_t count,
		uint8_t *port_on, struct rte_rcu_qsbr *qsbr)
{
	uint16_t i;

	memset(pl, 0, sizeof(*pl));
	pl->port_on = port_on;
	pl->qsbr = qsbr;
	for (i = 0; i < count; i++) {
		struct peer_link *link;

		if (ports[i].cfg == NULL ||
		    ports[i].cfg->role != PROFILE_PORT_PEER)
			continue;
		link = &pl->links[pl->count++];
		link->port = &ports[i];
		link->slot = (uint8_t)i;
		link->backoff_ms = PEER_LINK_BACKOFF_MIN_MS;
		__atomic_store_n(&port_on[i], ports[i].started ? 1 : 0,
				 __ATOMIC_RELEASE);
	}
}

/*
 * Stop and start @link's port with no worker on it: port_on cleared, then
 * a grace period (each worker reads port_on once per port per pass and
 * reports quiescent at the pass's end, or is offline asleep).
 */
static void
peer_link_redial(struct peer_links *pl, struct peer_link *link, uint64_t now_ms)
{
	int ret;

	if (link->port->started) {
		__atomic_store_n(&pl->port_on[link->slot], 0, __ATOMIC_RELEASE);
		rte_rcu_qsbr_synchronize(pl->qsbr, RTE_QSBR_THRID_INVALID);
	}
	ret = port_restart(link->port);
	link->dials++;
	if (ret == 0) {
		/* Connected; the memif handshake ends in the interrupt
		 * thread a few ms later. */
		__atomic_store_n(&pl->port_on[link->slot], 1, __ATOMIC_RELEASE);
		link->next_dial_ms = now_ms + PEER_LINK_BACKOFF_MAX_MS;
		link->backoff_ms = PEER_LINK_BACKOFF_MIN_MS;
		return;
	}
	link->next_dial_ms = now_ms + link->backoff_ms;
	link->backoff_ms = link->backoff_ms * 2 > PEER_LINK_BACKOFF_MAX_MS
				   ? PEER_LINK_BACKOFF_MAX_MS
				   : link->backoff_ms * 2;
}

void
peer_links_tend(struct peer_links *pl, uint64_t now_ms)
{
	unsigned i;

	for (i = 0; i < pl->count; i++) {
		struct peer_link *link = &pl->links[i];
		bool up = port_link_up(link->port);

		if (up != link->up) {
			PEER_LINK_LOG(link, "%s (%u dials).",
				      up ? "up"
					 : "down: replication to it "
					   "goes by the client port",
				      link->dials);
			link->up = up;
			/* Seen down: dial at once. */
			link->next_dial_ms = now_ms;
		}
		if (up || !port_dials(link->port) ||
		    now_ms < link->next_dial_ms)
			continue;
		peer_link_redial(pl, link, now_ms);
	}
}
