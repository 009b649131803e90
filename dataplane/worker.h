/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker lcores: the fast path of latchd.
 *
 * Worker w owns partition w: RX and TX queue w on every port, the lock
 * table of partition w, its notifications and its timers. A worker lcore
 * runs one or more workers, a pass of each in turn (worker_run). Nothing
 * of a worker is written by another thread. A request that arrives on the wrong
 * queue (RSS without flow rules) is handed to its owner through a
 * single-producer single-consumer ring (docs/design.md, "partitions").
 *
 * Life cycle (main lcore, start-up): worker_shared_init() once, then
 * worker_create() for each worker, then worker_run() on each worker lcore
 * (through rte_eal_remote_launch) with the partitions it serves.
 * At shut-down: set *stop, rte_eal_mp_wait_lcore(), worker_destroy(),
 * worker_shared_fini().
 */
#ifndef LATCH_WORKER_H
#define LATCH_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "control/raft/raft_chan.h"
#include "firmware-cfg/profile.h"
#include "dataplane/lock_table.h"
#include "dataplane/router.h"
#include "dataplane/router_rcu.h"
#include "dataplane/shard_map.h"
#include "dataplane/wake.h"

/* Counter slots of routes and backends (route_conf.h assigns them). */
#define WORKER_ROUTES_MAX   ROUTER_ROUTES_MAX
#define WORKER_BACKENDS_MAX PROFILE_BACKENDS_MAX
/* No TX port given: a frame leaves by the port it came in on. */
#define WORKER_VIA_RX 0xffu
/* No port slot (a DPDK port id that is not ours, a node without a link). */
#define WORKER_PORT_NONE UINT8_MAX

/*
 * Another shard group as a worker forwards to it: the rewrite of
 * router_rewrite() (its udp_port is replaced by the request's own).
 */
struct worker_group_hop {
	uint32_t id;
	struct router_backend be; /* MAC and IPv4 of the group's address */
	uint8_t via;              /* port slot, or WORKER_VIA_RX */
};

/* One port as every worker sees it (filled by the main lcore). */
struct worker_port {
	uint16_t port_id;
	uint8_t role;     /* enum profile_port_role */
	uint32_t addr_be; /* IPv4 address latchd answers on */
	struct rte_ether_addr mac;
	struct rte_mempool *pool; /* for packets a worker originates */
	/* rx_intr_fd[q]: readable while RX queue q holds a frame, or -1
	 * (drivers/port.h, port_rx_intr_fd): a sleeping worker w waits on
	 * its queue's. */
	int rx_intr_fd[LATCH_PARTITIONS_MAX];
};

/*
 * A node of the cluster as a worker reaches it (replicated mode,
 * docs/cluster.md): its dataplane's address and MAC on the client port.
 */
struct worker_node {
	bool known; /* a [peer] with this id (or ourselves) */
	uint32_t ip_be;
	uint8_t mac[6];
	/* Its peer link's port slot (role peer), or WORKER_PORT_NONE:
	 * replication to it leaves there while the link is up, else by the
	 * client port (docs/cluster.md, "Peer links"). */
	uint8_t link_slot;
};

/* Read-only after start-up, shared by all workers. */
struct worker_shared {
	const struct profile *profile;
	uint16_t workers;
	uint16_t ports_count;
	struct worker_port ports[PROFILE_PORTS_MAX];
	uint64_t tsc_hz;
	uint64_t epoch; /* boot epoch: the term of single-node entries */
	/* handoff[src][dst]: SPSC rings of misplaced requests */
	struct rte_ring *handoff[LATCH_PARTITIONS_MAX][LATCH_PARTITIONS_MAX];
	volatile bool *stop;
	/* Routing (docs/routing.md): tables by RCU; NULL before set-up. */
	struct router_rcu *router;
	/* Shard groups: NULL when the node is alone (node.group = 0). */
	const struct shard_map *shards;
	uint32_t group_id; /* ours */
	/* hops[i] is shards->group_ids[i]'s */
	struct worker_group_hop hops[PROFILE_GROUPS_MAX];
	/*
	 * Replicated mode (docs/cluster.md): on when the profile has a
	 * [peer]. Worker p owns partition p's replicator; chan_down[p] (main
	 * -> worker, struct raft_chan_down) and chan_up[p] (worker -> main,
	 * struct raft_chan_report) are SPSC rings of fixed-size elements.
	 */
	bool replicated;
	uint8_t node_id;
	uint8_t client_slot;     /* port of peer traffic: the first client */
	uint16_t repl_port_base; /* worker p sends from/to this + p */
	uint32_t repl_heartbeat_ms;
	struct worker_node nodes[RAFT_NODES_MAX]; /* by node id */
	struct rte_ring *chan_down[LATCH_PARTITIONS_MAX];
	struct rte_ring *chan_up[LATCH_PARTITIONS_MAX];
	int chan_up_wake; /* eventfd written after a report; -1: none */
	/*
	 * wake[w]: the wake word and eventfd (dataplane/wake.h) of the
	 * lcore that runs worker w, kicked by whoever queues work for it
	 * (handoff rings, chan_down); the partitions of one lcore share
	 * one. NULL: workers sleep without being woken. The one mutable
	 * thing here, reached through pointers that are not.
	 */
	struct wake *const *wake;
	/*
	 * port_on[slot]: 1 while workers may poll and send on the port. The
	 * main lcore clears a peer link's, waits until every worker has
	 * ended the pass that may have read it (the router's QSBR), restarts
	 * the link and sets it again (dataplane/peer_link.h). Other ports
	 * stay 1 (worker_shared_init). Besides the wake words, the one thing
	 * here that changes after start-up.
	 */
	uint8_t port_on[PROFILE_PORTS_MAX];
};

/* Why a packet was dropped; one list makes the enum, names, counters. */
#define WORKER_DROP_LIST(X)                   \
	X(not_ipv4, "not_ipv4")               \
	X(not_udp, "not_udp")                 \
	X(not_for_us, "not_for_us")           \
	X(ip_fragment, "ip_fragment")         \
	X(ip_options, "ip_options")           \
	X(bad_ip_len, "bad_ip_len")           \
	X(bad_udp_len, "bad_udp_len")         \
	X(truncated, "truncated")             \
	X(bad_magic, "bad_magic")             \
	X(bad_version, "bad_version")         \
	X(unknown_op, "unknown_op")           \
	X(bad_flags, "bad_flags")             \
	X(key_too_long, "key_too_long")       \
	X(length_mismatch, "length_mismatch") \
	X(wrong_partition, "wrong_partition") \
	X(zero_client, "zero_client")         \
	X(handoff_full, "handoff_full")       \
	X(tx_full, "tx_full")                 \
	X(tx_stuck, "tx_stuck")               \
	X(link_down, "link_down")             \
	X(no_mbuf, "no_mbuf")                 \
	X(route_drop, "route_drop")           \
	X(shard_ttl_expired, "shard_ttl_expired")

enum worker_drop {
#define WORKER_DROP_ENUM(name, str) WORKER_DROP_##name,
	WORKER_DROP_LIST(WORKER_DROP_ENUM)
#undef WORKER_DROP_ENUM
		WORKER_DROP_MAX
};

/* Per-worker counters besides the lock table's. */
#define WORKER_COUNTER_LIST(X)  \
	X(rx_packets)           \
	X(tx_packets)           \
	X(req_acquire)          \
	X(req_release)          \
	X(req_renew)            \
	X(req_query)            \
	X(req_keepalive)        \
	X(req_ack)              \
	X(answered_error)       \
	X(handoff_out)          \
	X(handoff_in)           \
	X(arp_replies)          \
	X(pktgen_reflected)     \
	X(notify_sent)          \
	X(notify_retransmits)   \
	X(notify_acked)         \
	X(notify_gave_up)       \
	X(notify_full)          \
	X(idle_sleeps)          \
	X(idle_kicked)          \
	X(idle_rx_woken)        \
	X(shed_busy)            \
	X(routed)               \
	X(shard_forwarded)      \
	X(shard_local)          \
	X(repl_sent)            \
	X(repl_received)        \
	X(repl_decode_errors)   \
	X(repl_misaddressed)    \
	X(repl_no_peer)         \
	X(repl_proposed)        \
	X(repl_propose_failed)  \
	X(repl_applied)         \
	X(repl_expire_dropped)  \
	X(repl_snapshot_errors) \
	X(not_leader)           \
	X(forwarded_to_leader)  \
	X(pending_full)         \
	X(chan_views)           \
	X(chan_pulls)           \
	X(chan_reports)         \
	X(chan_reports_dropped) \
	X(conntrack_hits)       \
	X(conntrack_misses)     \
	X(conntrack_evictions)  \
	X(conntrack_expired)    \
	X(conntrack_moved)

struct worker_stats {
#define WORKER_STATS_FIELD(name) uint64_t name;
	WORKER_COUNTER_LIST(WORKER_STATS_FIELD)
#undef WORKER_STATS_FIELD
	uint64_t drops[WORKER_DROP_MAX];
	/* router_route() decisions by reason (router.h) */
	uint64_t route_reasons[ROUTER_R_MAX];
	/* per route / backend counter slot (route_conf.h) */
	uint64_t route_forwarded[WORKER_ROUTES_MAX];
	uint64_t route_dropped[WORKER_ROUTES_MAX];
	uint64_t backend_forwarded[WORKER_BACKENDS_MAX];
	struct lock_table_counters lock;
	struct lock_table_gauges gauges;
	uint32_t notify_pending;
};

struct worker;

/* Names of the drop reasons, indexed by enum worker_drop. */
extern const char *const worker_drop_names[WORKER_DROP_MAX];

/* Create the handoff rings. 0 or -errno (rte_errno set). Main lcore. */
int worker_shared_init(struct worker_shared *sh);
void worker_shared_fini(struct worker_shared *sh);

/*
 * Create worker @index (its lock table, rte_hash index, notification pool)
 * on NUMA @socket_id. NULL and rte_errno on failure. Main lcore, start-up.
 */
struct worker *worker_create(const struct worker_shared *sh, uint16_t index,
			     int socket_id);
void worker_destroy(struct worker *w);

/*
 * Run partitions @ws[0..n-1] on the calling lcore until *sh->stop, one
 * pass over each in turn, idle only when a pass over all of them found no
 * work (docs/design.md, "partitions and lcores"): an lcore serves several
 * partitions as DPDK's l3fwd serves several queues. They must share one
 * wake word (sh->wake). Returns 0, or -errno if they cannot start.
 */
int worker_run(struct worker *const *ws, unsigned n);

/*
 * Copy @w's counters and gauges into @out. Any thread: counters are
 * written only by the worker and read here without locks, so a reader
 * may see a value one update old, never a torn one (aligned 64-bit).
 */
void worker_stats_read(const struct worker *w, struct worker_stats *out);

#endif /* LATCH_WORKER_H */
