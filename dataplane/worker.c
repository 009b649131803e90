/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker lcores: the fast path of latchd (worker.h).
 *
 * One pass of the loop (STYLE.md, "the fast path"):
 *   1. check stop, read the clock once (now_ms);
 *   2. rx_burst queue w of every port, then dequeue the handoff rings
 *      addressed to w; parse, validate and act on each packet, the next
 *      one's data prefetched meanwhile;
 *   3. run due timers within a budget (lease/wait/session expiry, applied
 *      at once: on a single node the log commits at once) and retransmit
 *      due notifications;
 *   4. tx_burst what the pass produced, freeing what the NIC refused;
 *   5. apply the idle policy if the pass found nothing to do.
 *
 * Answers are made in place in the request's mbuf, so they are never
 * larger than the request (docs/design.md, "wire format"). Notifications
 * (GRANTED, LOST) are the only packets a worker allocates, from the pool
 * of the port the client wrote to.
 *
 * Nothing here takes a lock, makes a system call (but the idle sleep, the
 * eventfd write that wakes a sleeping worker we handed frames to, and the
 * report's wake-up of the main lcore) or allocates memory after
 * worker_create().
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/key_index.h"
#include "common/wire.h"
#include "control/raft_wire.h"
#include "dataplane/notify.h"
#include "dataplane/pkt.h"
#include "dataplane/prepl.h"
#include "dataplane/repl_pkt.h"
#include "dataplane/route_conf.h"
#include "dataplane/worker.h"
#include "drivers/port.h"

/* Largest rx burst: the profile's limit on workers.burst. */
#define WORKER_BURST_MAX 256
/*
 * Answers waiting for one port past which the worker reads no more from
 * it (its peer is not reading): two full bursts (own RX and handoff) plus
 * the notifications they may cause.
 */
#define WORKER_TX_HOLD 512
/*
 * Most packets read from one queue before any is answered: the depth
 * measure of shedding (worker_rx_port), up to workers.shed_depth and a
 * burst.
 */
#define WORKER_AHEAD_MAX (PROFILE_SHED_DEPTH_MAX + WORKER_BURST_MAX)
/*
 * Packets a pass may queue for one port before it flushes early: what
 * was waiting, a measured queue's packets and their notifications, all
 * answered even when the peer reads nothing meanwhile.
 */
#define WORKER_TX_MAX (WORKER_TX_HOLD + WORKER_AHEAD_MAX + WORKER_BURST_MAX)
/* Expiry entries applied per pass: bounds the time a pass spends on
 * timers; the rest wait for the next pass (lock_table_tick keeps them). */
#define WORKER_TICK_BUDGET 64
/* Most packets a pass reads from one port queue found deeper than
 * workers.shed_depth: a memif or NIC ring holds 1024-4096. */
#define WORKER_DRAIN_MAX 4096
/*
 * Answers a full TX ring keeps are dropped after the port took nothing
 * for this long: a peer that stopped reading. Long against a client
 * process's scheduling pauses (tens of ms on a shared core), short
 * against a lease (seconds).
 */
#define WORKER_TX_STUCK_MS 100
/* Notifications retransmitted per pass, for the same reason. */
#define WORKER_NOTIFY_BUDGET 64
/*
 * Longest single idle sleep, whatever idle_sleep_us says: a sleeping
 * worker must still expire leases about on time (1 ms is the timer
 * wheel's slot).
 */
#define WORKER_SLEEP_CAP_US 1000
/*
 * A port with an Rx interrupt fd (TAP) costs a readv on every poll
 * (dataplane/main.c, main_signals_block()). A worker spinning idle polls
 * it only every this many passes until it sleeps: a frame waits at most
 * this many cheap passes, and the lab's 1024-pass spin makes 64 system
 * calls, not 1024.
 */
#define WORKER_SYSCALL_PORT_STRIDE 16
/*
 * A busy worker of a single node polls such a port once this many us have
 * passed since the last poll, not every pass: a kernel client's frame
 * waits at most this much longer (its round trip through the kernel takes
 * tens of us), and at full load the readv of every pass was about 3 % of
 * a worker's time (docs/benchmarks.md). A replicating worker polls every
 * busy pass: its peers' APPENDs and acks come that way in the lab.
 */
#define WORKER_SYSCALL_PORT_BUSY_US 10
/*
 * Replicated mode (docs/cluster.md). Requests a leader's worker keeps
 * until their entries apply: a power of two, and above what one pass can
 * propose (two bursts), so it fills only when commits stall.
 */
#define WORKER_PENDING_MAX 1024
/*
 * Partition log ring: a power of two (plog.h). A leader holds at most
 * half of it and saves its whole table about once per that many entries
 * (docs/raft.md, "ring sizing"): with the lab's full 65 536-answer dedup
 * window that is 2.7 MB, about 0.9 ms, so the ring's size sets the
 * save's cost per entry. 131 072 entries of 144 bytes (18 MiB per
 * partition) put it near 47 bytes per entry; 32 768 at 190 (4.5 %
 * fewer grants/s in the 3-node bench, docs/benchmarks.md, session 10);
 * 4096 at 1.3 KB, when saves took 11 % of the workers' CPU. Every node
 * must use the same size: a follower stores what its leader's ring
 * holds.
 */
#define WORKER_REPL_ENTRIES 131072
/* Peer frames stay within this MTU (the lab's TAP, a NIC's default):
 * APPENDs carry as many entries as fit (plog_config.bytes_max). */
#define WORKER_REPL_MTU 1500
/* APPENDs in flight per follower: pipelining depth (docs/raft.md). */
#define WORKER_REPL_INFLIGHT 4
/* Channel messages a worker takes per pass: a view per heartbeat and a
 * few pulls is all latch-control sends. */
#define WORKER_CHAN_BURST 8
/* Elements of each channel ring (power of two): a report per partition
 * per heartbeat, drained by the main lcore every millisecond. */
#define WORKER_CHAN_RING 64
_Static_assert(PROFILE_PORTS_MAX < WORKER_PORT_NONE, "port slots fit");
_Static_assert(PROFILE_PORTS_MAX <= WAKE_FDS_MAX,
	       "a sleep waits on every port");
_Static_assert(WORKER_PENDING_MAX >= 2 * WORKER_BURST_MAX &&
		       (WORKER_PENDING_MAX & (WORKER_PENDING_MAX - 1)) == 0,
	       "a pass's proposals fit the pending table");
_Static_assert(sizeof(struct raft_chan_down) % 4 == 0 &&
		       sizeof(struct raft_chan_report) % 4 == 0,
	       "rte_ring_create_elem needs sizes that are multiples of 4");
_Static_assert(PKT_NOTIFY_FRAME_MAX <= NOTIFY_FRAME_MAX,
	       "a notification frame fits a pool entry");
_Static_assert(WORKER_TX_MAX >= 2 * WORKER_BURST_MAX,
	       "a pass's answers fit before an early flush");
/* Counter slots are indexed under a mask: a bad slot cannot write out of
 * bounds, whatever a table says. */
_Static_assert((WORKER_ROUTES_MAX & (WORKER_ROUTES_MAX - 1)) == 0 &&
		       (WORKER_BACKENDS_MAX & (WORKER_BACKENDS_MAX - 1)) == 0,
	       "counter slot arrays are powers of two");
_Static_assert(WORKER_VIA_RX == ROUTE_CONF_VIA_RX, "one 'RX port' mark");
_Static_assert(PROFILE_GROUPS_MAX <= SHARD_GROUPS_MAX, "groups fit the map");
/* Offset of the IPv4 TTL in an untagged frame (pkt_parse checked it). */
#define WORKER_TTL_OFF (14 + 8)

const char *const worker_drop_names[WORKER_DROP_MAX] = {
#define WORKER_DROP_NAME(name, str) [WORKER_DROP_##name] = str,
	WORKER_DROP_LIST(WORKER_DROP_NAME)
#undef WORKER_DROP_NAME
};

/* Drop reason of each pkt_parse() verdict that is not handled. */
static const uint8_t pkt_verdict_drop[PKT_VERDICT_MAX] = {
	[PKT_ARP_OTHER] = WORKER_DROP_not_for_us,
	[PKT_NOT_IPV4] = WORKER_DROP_not_ipv4,
	[PKT_NOT_UDP] = WORKER_DROP_not_udp,
	[PKT_IP_FRAGMENT] = WORKER_DROP_ip_fragment,
	[PKT_IP_OPTIONS] = WORKER_DROP_ip_options,
	[PKT_BAD_IP_LEN] = WORKER_DROP_bad_ip_len,
	[PKT_BAD_UDP_LEN] = WORKER_DROP_bad_udp_len,
	[PKT_TRUNCATED] = WORKER_DROP_truncated,
};

/* Drop reason (and, past BAD_VERSION, error answer) of a wire verdict. */
static const uint8_t wire_verdict_drop[LATCH_WIRE_VERDICT_MAX] = {
	[LATCH_WIRE_TRUNCATED] = WORKER_DROP_truncated,
	[LATCH_WIRE_BAD_MAGIC] = WORKER_DROP_bad_magic,
	[LATCH_WIRE_BAD_VERSION] = WORKER_DROP_bad_version,
	[LATCH_WIRE_UNKNOWN_OP] = WORKER_DROP_unknown_op,
	[LATCH_WIRE_BAD_FLAGS] = WORKER_DROP_bad_flags,
	[LATCH_WIRE_KEY_TOO_LONG] = WORKER_DROP_key_too_long,
	[LATCH_WIRE_LENGTH_MISMATCH] = WORKER_DROP_length_mismatch,
	[LATCH_WIRE_WRONG_PARTITION] = WORKER_DROP_wrong_partition,
	[LATCH_WIRE_ZERO_CLIENT] = WORKER_DROP_zero_client,
};

/* Counters written only by the owning worker, read by anyone. */
struct worker_counters {
#define WORKER_COUNTER_FIELD(name) uint64_t name;
	WORKER_COUNTER_LIST(WORKER_COUNTER_FIELD)
#undef WORKER_COUNTER_FIELD
	uint64_t drops[WORKER_DROP_MAX];
	uint64_t route_reasons[ROUTER_R_MAX];
	uint64_t route_forwarded[WORKER_ROUTES_MAX];
	uint64_t route_dropped[WORKER_ROUTES_MAX];
	uint64_t backend_forwarded[WORKER_BACKENDS_MAX];
} __rte_cache_aligned;

/* Packets queued for one port's TX queue during a pass. */
struct worker_txq {
	uint16_t count;
	bool stuck;        /* the last flush left packets behind */
	uint64_t stuck_ms; /* now_ms of the last flush that sent any */
	struct rte_mbuf *pkts[WORKER_TX_MAX];
};

/* The request being applied, for the REPLY effect. */
struct worker_current {
	struct rte_mbuf *mbuf; /* NULL outside a request (timers) */
	uint8_t *frame;
	const struct pkt_info *info;
	uint8_t slot; /* index of its port in sh->ports */
	bool answered;
};

/*
 * What an lcore knows of its idleness: empty passes in a row, over every
 * partition it runs, and the current sleep, which grows to the cap. The
 * partitions of one lcore share it (worker_run), so a port is polled as
 * busy or idle by what the whole lcore does.
 */
struct worker_idle {
	uint32_t polls;
	uint32_t sleep_us;
};

struct worker {
	/* Read-only after worker_create(). */
	const struct worker_shared *sh;
	const struct profile *profile;
	uint16_t index;
	uint16_t workers;
	uint16_t ports_count;
	uint16_t burst;
	uint16_t port_base;
	/* 2^64 / (TSC ticks per ms): now_ms = tsc * ms_mult >> 64. */
	uint64_t ms_mult;
	uint64_t syscall_port_tsc; /* WORKER_SYSCALL_PORT_BUSY_US in ticks */
	struct lock_table *table;
	struct conntrack *ct;   /* flows of 5-tuple routes; NULL: off */
	struct key_index *keys; /* the table's key -> slot index */
	struct notify_pool *notify;
	uint8_t port_slot[RTE_MAX_ETHPORTS]; /* DPDK port id -> sh->ports */

	/* Loop state. */
	uint64_t now_tsc; /* read once a pass */
	uint64_t now_ms;
	uint64_t port_polled_tsc[PROFILE_PORTS_MAX]; /* worker_port_due */
	uint64_t timers_ms; /* now_ms of the last timer run */
	bool timers_more;   /* the last run hit its budget */
	/* The idle state of the lcore that runs us, shared with the other
	 * partitions it runs (worker_run). */
	struct worker_idle *idle;
	/* Idle sleep (wake.h): our lcore's wake word (NULL: plain sleeps),
	 * the Rx interrupt fds of our queues, and the workers this pass
	 * handed frames to (bit d: worker d), kicked at the end of the pass. */
	struct wake *wake;
	struct pollfd sleep_fds[PROFILE_PORTS_MAX];
	unsigned sleep_fds_count;
	uint64_t kick_mask;
	/* Route table of this pass (router_rcu_current), NULL: no routes.
	 * Dead after the pass's router_rcu_quiescent(). */
	const struct route_table *rt;
	bool rcu_registered;
	/* The burst being handled lies deeper than workers.shed_depth in
	 * its queue: its ACQUIREs are answered BUSY (worker_main). */
	bool shedding;
	struct worker_current cur;

	/* Replicated mode (docs/cluster.md); repl NULL when alone. */
	struct prepl *repl;
	struct repl_pending pending;
	struct repl_pending_slot *pending_slots;
	bool repl_leading; /* prepl_is_leader() after the last event */
	uint64_t repl_term;
	/* Terms whose TAKEOVER entry this node proposed / applied (0: none):
	 * expiry is proposed only once the own term's one is applied. */
	uint64_t repl_takeover_proposed;
	uint64_t repl_takeover_applied;
	struct raft_msg rmsg; /* decode scratch */
	struct raft_chan_down chan_in[WORKER_CHAN_BURST];

	struct worker_counters c;
	struct worker_txq tx[PROFILE_PORTS_MAX] __rte_cache_aligned;
	struct rte_mbuf *rx[WORKER_BURST_MAX];
	struct rte_mbuf *ahead[WORKER_AHEAD_MAX]; /* worker_rx_port */
	/* Routing of the burst being handled, stage one (router_prepare):
	 * rprep[i] is rx[i]'s when rprep_ok[i] (worker_route_prepare), and
	 * rprep_cur the one of the packet in worker_handle(), or NULL. */
	const struct router_prep *rprep_cur;
	bool rprep_ok[WORKER_BURST_MAX];
	struct router_prep rprep[WORKER_BURST_MAX];
	struct lock_entry expire[WORKER_TICK_BUDGET];
};

/* ---- transmit ---------------------------------------------------------- */

static inline void
worker_drop(struct worker *w, struct rte_mbuf *m, enum worker_drop why)
{
	w->c.drops[why]++;
	rte_pktmbuf_free(m);
}

/* May port @slot be polled and sent on (worker.h, port_on)? */
static inline bool
worker_port_on(const struct worker_shared *sh, uint8_t slot)
{
	return __atomic_load_n(&sh->port_on[slot], __ATOMIC_ACQUIRE) != 0;
}

/* Free and count, as @why, everything @q holds. Returns 0 (left). */
static unsigned
worker_txq_drop(struct worker *w, struct worker_txq *q, enum worker_drop why)
{
	uint16_t i;

	w->c.drops[why] += q->count;
	for (i = 0; i < q->count; i++)
		rte_pktmbuf_free(q->pkts[i]);
	q->count = 0;
	q->stuck = false;
	return 0;
}

/*
 * Send what port @slot has queued. What the NIC refused waits for the
 * next pass, and is freed and counted once the port has taken nothing for
 * WORKER_TX_STUCK_MS. Returns the packets still queued.
 */
static unsigned
worker_tx_flush(struct worker *w, uint8_t slot)
{
	struct worker_txq *q = &w->tx[slot];
	uint16_t sent;

	if (q->count == 0)
		return 0;
	/* A peer link being restarted: Raft sends again. */
	if (unlikely(!worker_port_on(w->sh, slot)))
		return worker_txq_drop(w, q, WORKER_DROP_link_down);
	sent = rte_eth_tx_burst(w->sh->ports[slot].port_id, w->index, q->pkts,
				q->count);
	w->c.tx_packets += sent;
	if (likely(sent == q->count)) {
		q->count = 0;
		q->stuck = false;
		return 0;
	}
	/*
	 * The ring is full: the peer reads slower than we answer (a memif
	 * client busy sending). Keep what did not fit for the next pass
	 * rather than lose answers to a momentary stall; give up on them
	 * only when the port has taken nothing for WORKER_TX_STUCK_MS (a
	 * peer that is gone).
	 */
	if (sent > 0 || !q->stuck) {
		q->stuck = true;
		q->stuck_ms = w->now_ms;
	} else if (w->now_ms - q->stuck_ms >= WORKER_TX_STUCK_MS) {
		return worker_txq_drop(w, q, WORKER_DROP_tx_stuck);
	}
	memmove(q->pkts, q->pkts + sent,
		(q->count - sent) * sizeof(q->pkts[0]));
	q->count -= sent;
	return q->count;
}

/* Flush every port; returns the packets still waiting for room. */
static unsigned
worker_tx_flush_all(struct worker *w)
{
	unsigned left = 0;
	uint8_t slot;

	for (slot = 0; slot < w->ports_count; slot++)
		left += worker_tx_flush(w, slot);
	return left;
}

/* Queue @m for TX on port @slot, queue w->index. */
static inline void
worker_tx(struct worker *w, uint8_t slot, struct rte_mbuf *m)
{
	struct worker_txq *q = &w->tx[slot];

	if (unlikely(q->count == WORKER_TX_MAX) &&
	    worker_tx_flush(w, slot) == WORKER_TX_MAX) {
		worker_drop(w, m, WORKER_DROP_tx_full);
		return;
	}
	q->pkts[q->count++] = m;
}

/* ---- notifications ----------------------------------------------------- */

/* notify_send_fn: copy a notification frame into a fresh mbuf, queue it. */
static bool
worker_notify_send(void *ctx, uint16_t port_id, const uint8_t *frame,
		   uint16_t len)
{
	struct worker *w = ctx;
	uint8_t slot = w->port_slot[port_id];
	struct rte_mbuf *m;
	char *data;

	if (unlikely(slot == WORKER_PORT_NONE))
		return false;
	m = rte_pktmbuf_alloc(w->sh->ports[slot].pool);
	if (unlikely(m == NULL)) {
		w->c.drops[WORKER_DROP_no_mbuf]++;
		return false;
	}
	data = rte_pktmbuf_append(m, len);
	if (unlikely(data == NULL)) {
		rte_pktmbuf_free(m);
		w->c.drops[WORKER_DROP_no_mbuf]++;
		return false;
	}
	memcpy(data, frame, len);
	worker_tx(w, slot, m);
	return true;
}

/* GRANTED/LOST effect: build the frame, send it, keep it until ACKed. */
static void
worker_notify(struct worker *w, const struct lock_effect *fx)
{
	uint8_t frame[NOTIFY_FRAME_MAX];
	struct latch_wire_msg msg;
	struct pkt_client_addr to;
	const struct worker_port *port;
	uint8_t slot;
	size_t len;

	pkt_addr_unpack(fx->addr, &to);
	if (to.port_id >= RTE_MAX_ETHPORTS)
		return;
	slot = w->port_slot[to.port_id];
	if (slot == WORKER_PORT_NONE)
		return;
	port = &w->sh->ports[slot];

	memset(&msg, 0, sizeof(msg));
	msg.op = fx->kind == LOCK_FX_GRANTED ? LATCH_OP_GRANTED : LATCH_OP_LOST;
	msg.flags = fx->flags;
	msg.partition = w->index;
	msg.status = fx->status;
	msg.count = fx->count;
	msg.client_id = fx->client_id;
	msg.request_id = fx->request_id;
	msg.token = fx->token;
	msg.holder = fx->holder;
	msg.lease_ms = fx->lease_ms;
	msg.wait_ms = fx->wait_ms;
	if (fx->key != NULL) {
		msg.key_len = fx->key->len;
		msg.key = fx->key->bytes;
	}
	len = pkt_build_notify(frame, sizeof(frame), &to, port->mac.addr_bytes,
			       port->addr_be, &msg);
	LATCH_DEBUG_ASSERT(len != 0);
	if (len == 0)
		return;
	/* -ENOSPC: sent once, not kept (counted by the pool as full). */
	(void)notify_add(w->notify, fx->client_id, fx->request_id, fx->token,
			 to.port_id, frame, (uint16_t)len, w->now_ms,
			 worker_notify_send, w);
}

/* ---- requests ---------------------------------------------------------- */

/* Answer the current request in place and queue it. */
static void
worker_answer(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
	      const struct pkt_info *info, uint8_t slot,
	      const struct pkt_latch_answer *a)
{
	bool ok = pkt_latch_answer(frame + info->payload_off, info->payload_len,
				   a);

	LATCH_DEBUG_ASSERT(ok);
	(void)ok;
	pkt_answer_udp(frame, info, w->sh->ports[slot].mac.addr_bytes);
	worker_tx(w, slot, m);
}

/* lock_effect_fn: carry out what applying an entry asks. */
static void
worker_emit(void *ctx, const struct lock_effect *fx)
{
	struct worker *w = ctx;
	struct worker_current *cur = &w->cur;
	struct pkt_latch_answer a;

	switch (fx->kind) {
	case LOCK_FX_REPLY:
		/* Timer entries have no request; a second reply is a table
		 * bug, but never worth sending a packet twice. */
		/* Replicated: entries proposed elsewhere, or by a request
		 * that was redirected meanwhile, have no request here. */
		LATCH_DEBUG_ASSERT(w->repl != NULL ||
				   (cur->mbuf != NULL && !cur->answered));
		if (cur->mbuf == NULL || cur->answered)
			return;
		a.op = fx->op;
		a.flags = fx->flags;
		a.status = fx->status;
		a.count = fx->count;
		a.token = fx->token;
		a.holder = fx->holder;
		a.lease_ms = fx->lease_ms;
		a.wait_ms = fx->wait_ms;
		worker_answer(w, cur->mbuf, cur->frame, cur->info, cur->slot,
			      &a);
		cur->answered = true;
		break;
	case LOCK_FX_GRANTED:
	case LOCK_FX_LOST:
		/* Only the leader tells clients (docs/cluster.md). */
		if (w->repl != NULL && !prepl_is_leader(w->repl))
			break;
		worker_notify(w, fx);
		break;
	default:
		LATCH_DEBUG_ASSERT(!"unknown lock effect");
		break;
	}
}

/* Answer a request that failed validation with MALFORMED (or
 * WRONG_PARTITION and the partition count, which clients learn it from). */
static void
worker_answer_malformed(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
			const struct pkt_info *info, uint8_t slot,
			enum latch_wire_verdict v,
			const struct latch_wire_msg *msg)
{
	struct pkt_latch_answer a;

	memset(&a, 0, sizeof(a));
	a.op = msg->op;
	if (v == LATCH_WIRE_WRONG_PARTITION) {
		a.status = LATCH_S_WRONG_PARTITION;
		a.count = w->workers;
	} else {
		a.status = LATCH_S_MALFORMED;
	}
	w->c.drops[wire_verdict_drop[v]]++;
	w->c.answered_error++;
	worker_answer(w, m, frame, info, slot, &a);
}

/* Wire op -> log entry op, for the ops that change the table. */
static uint8_t
worker_entry_op(uint8_t op)
{
	switch (op) {
	case LATCH_OP_ACQUIRE:
		return LOCK_E_ACQUIRE;
	case LATCH_OP_RELEASE:
		return LOCK_E_RELEASE;
	case LATCH_OP_RENEW:
		return LOCK_E_RENEW;
	default:
		return LOCK_E_KEEPALIVE;
	}
}

/*
 * The log entry of a request (ACQUIRE, RELEASE, RENEW, KEEPALIVE), written
 * in place (built on the stack and copied out, it cost a 144-byte copy
 * per request).
 */
static void
worker_make_entry(struct worker *w, uint8_t *frame, const struct pkt_info *info,
		  uint8_t slot, const struct latch_wire_msg *msg,
		  struct lock_entry *e)
{
	struct pkt_client_addr from;

	e->op = worker_entry_op(msg->op);
	e->pad0 = 0;
	e->flags = msg->flags;
	e->lease_ms = msg->lease_ms;
	e->wait_ms = msg->wait_ms;
	e->pad1 = 0;
	e->client_id = msg->client_id;
	e->request_id = msg->request_id;
	e->token = msg->token;
	e->now_ms = w->now_ms;
	e->term = w->sh->epoch;
	pkt_client_from_request(frame, info, w->sh->ports[slot].port_id, &from);
	pkt_addr_pack(&e->addr, &from);
	if (msg->key_len == 0)
		memset(&e->key, 0, sizeof(e->key)); /* KEEPALIVE */
	else if (lock_key_set(&e->key, msg->key, msg->key_len) != 0)
		LATCH_ASSERT(!"decode let through a key lock_key_set refuses");
}

/* ACQUIRE, RELEASE, RENEW, KEEPALIVE: make the entry, apply it at once. */
static void
worker_apply_request(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		     const struct pkt_info *info, uint8_t slot,
		     const struct latch_wire_msg *msg)
{
	struct lock_entry e;

	worker_make_entry(w, frame, info, slot, msg, &e);
	w->cur.mbuf = m;
	w->cur.frame = frame;
	w->cur.info = info;
	w->cur.slot = slot;
	w->cur.answered = false;
	lock_table_apply(w->table, &e, worker_emit, w);
	if (unlikely(!w->cur.answered))
		rte_pktmbuf_free(m); /* the table always replies; be safe */
	w->cur.mbuf = NULL;
}

/*
 * QUERY: answered from the table's state, which it does not change.
 * @replica is LATCH_F_REPLICA when a follower answers from its applied
 * state, which may lag the leader's (docs/protocol.md), else 0.
 */
static void
worker_query(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
	     const struct pkt_info *info, uint8_t slot,
	     const struct latch_wire_msg *msg, uint16_t replica)
{
	struct pkt_latch_answer a;
	struct lock_query q;
	struct lock_key key;

	memset(&a, 0, sizeof(a));
	memset(&q, 0, sizeof(q));
	if (lock_key_set(&key, msg->key, msg->key_len) == 0 &&
	    lock_table_query(w->table, &key, w->now_ms, &q)) {
		a.flags = q.shared ? LATCH_F_SHARED : 0;
		a.count = q.holders;
		a.holder = q.holder;
		a.token = q.token;
		a.lease_ms = q.lease_left_ms;
		a.wait_ms = q.waiters;
	}
	a.flags |= replica;
	a.op = LATCH_OP_QUERY;
	a.status = LATCH_S_OK;
	worker_answer(w, m, frame, info, slot, &a);
}

/* TX port slot for a frame that came in on @slot and leaves by @via. */
static inline uint8_t
worker_out_slot(const struct worker *w, uint8_t via, uint8_t slot)
{
	return via < w->ports_count ? via : slot;
}

/*
 * Shard groups (docs/routing.md): if another group owns the key of @msg,
 * send the request there: destination MAC and IPv4 become the group's,
 * the UDP port and the source stay, so the owner answers the client
 * itself. Returns false if the key is ours (serve it here).
 */
static bool
worker_shard_forward(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		     const struct pkt_info *info, uint8_t slot,
		     const struct latch_wire_msg *msg)
{
	const struct worker_shared *sh = w->sh;
	const struct worker_group_hop *hop;
	struct router_backend be;
	uint16_t idx;
	uint8_t out;

	idx = maglev_lookup(sh->shards->table,
			    latch_key_hash(msg->key, msg->key_len));
	LATCH_DEBUG_ASSERT(idx < sh->shards->groups_count);
	hop = &sh->hops[idx];
	if (hop->id == sh->group_id)
		return false;
	/* Nodes whose maps disagree for a moment cannot loop a request. */
	if (unlikely(frame[WORKER_TTL_OFF] <= 1)) {
		worker_drop(w, m, WORKER_DROP_shard_ttl_expired);
		return true;
	}
	be = hop->be;
	be.udp_port = info->dst_port;
	router_rewrite(frame, &be);
	out = worker_out_slot(w, hop->via, slot);
	memcpy(frame + 6, sh->ports[out].mac.addr_bytes, 6);
	w->c.shard_forwarded++;
	worker_tx(w, out, m);
	return true;
}

/*
 * A frame that the lock path does not claim: route it by this pass's
 * table (docs/routing.md). Frames no route takes are dropped with
 * @pass_drop, the reason the worker's own path gives them.
 */
static void
worker_route(struct worker *w, struct rte_mbuf *m, uint8_t *frame, uint8_t slot,
	     enum worker_drop pass_drop)
{
	const struct route_table *t = w->rt;
	const struct router_route *r;
	const struct router_backend *be;
	struct router_decision d;
	enum router_action act;
	uint8_t out;

	/* router_route() reads one contiguous frame. */
	if (t == NULL || unlikely(m->nb_segs != 1)) {
		worker_drop(w, m, pass_drop);
		return;
	}
	/* Prepared with its burst (worker_route_prepare), or not: the
	 * same decision either way. */
	if (likely(w->rprep_cur != NULL))
		act = router_finish(t, w->ct, w->now_ms, frame, w->rprep_cur,
				    &d);
	else
		act = router_route_tracked(t, w->ct, w->now_ms, frame,
					   rte_pktmbuf_data_len(m), &d);
	switch (act) {
	case ROUTER_FORWARD:
		w->c.route_reasons[d.reason]++;
		r = &t->routes[d.route];
		be = &r->backends[d.backend];
		w->c.route_forwarded[r->user & (WORKER_ROUTES_MAX - 1)]++;
		w->c.backend_forwarded[route_conf_user_slot(be->user) &
				       (WORKER_BACKENDS_MAX - 1)]++;
		out = worker_out_slot(w, route_conf_user_via(be->user), slot);
		memcpy(frame + 6, w->sh->ports[out].mac.addr_bytes, 6);
		w->c.routed++;
		worker_tx(w, out, m);
		break;
	case ROUTER_DROP:
		w->c.route_reasons[d.reason]++;
		if (d.route != ROUTER_ROUTE_NONE)
			w->c.route_dropped[t->routes[d.route].user &
					   (WORKER_ROUTES_MAX - 1)]++;
		worker_drop(w, m, WORKER_DROP_route_drop);
		break;
	default:
		/* PASS: no route claims it; the worker's own path counts
		 * it among its drops too. */
		w->c.route_reasons[d.reason]++;
		worker_drop(w, m, pass_drop);
		break;
	}
}

/* ---- replicated mode (docs/cluster.md) --------------------------------- */

/* Answer a request in place with @status and nothing else. */
static void
worker_answer_status(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		     const struct pkt_info *info, uint8_t slot, uint8_t op,
		     uint16_t status, uint32_t count, uint64_t holder)
{
	struct pkt_latch_answer a;

	memset(&a, 0, sizeof(a));
	a.op = op;
	a.status = status;
	a.count = count;
	a.holder = holder;
	w->c.answered_error++;
	worker_answer(w, m, frame, info, slot, &a);
}

/* The leader this worker's view names, or RAFT_NONE. */
static uint8_t
worker_repl_leader(const struct worker *w)
{
	const struct raft_chan_view *v = &w->repl->view;

	if (v->seq == 0 || v->role == RAFT_VIEW_NONE ||
	    v->leader >= RAFT_NODES_MAX)
		return RAFT_NONE;
	return v->leader;
}

/*
 * This node does not lead the partition: with FORWARD, send the request
 * to the leader's dataplane (the source stays the client's, so the leader
 * answers it directly, as shard forwarding does); else answer NOT_LEADER
 * naming the leader (docs/protocol.md, "Redirects").
 */
static void
worker_not_leader(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		  const struct pkt_info *info, uint8_t slot, uint8_t op,
		  uint16_t flags)
{
	const struct worker_shared *sh = w->sh;
	uint8_t leader = worker_repl_leader(w);
	const struct worker_node *node =
		leader != RAFT_NONE ? &sh->nodes[leader] : NULL;
	static const uint8_t zero_mac[6];
	struct router_backend be;

	if (node != NULL && !node->known)
		node = NULL;
	if ((flags & LATCH_F_FORWARD) && node != NULL &&
	    leader != sh->node_id && memcmp(node->mac, zero_mac, 6) != 0 &&
	    m->nb_segs == 1) {
		if (unlikely(frame[WORKER_TTL_OFF] <= 1)) {
			worker_drop(w, m, WORKER_DROP_shard_ttl_expired);
			return;
		}
		memset(&be, 0, sizeof(be));
		memcpy(be.mac, node->mac, 6);
		be.ip_be = node->ip_be;
		be.udp_port = info->dst_port;
		router_rewrite(frame, &be);
		memcpy(frame + 6, sh->ports[sh->client_slot].mac.addr_bytes, 6);
		w->c.forwarded_to_leader++;
		worker_tx(w, sh->client_slot, m);
		return;
	}
	w->c.not_leader++;
	worker_answer_status(
		w, m, frame, info, slot, op, LATCH_S_NOT_LEADER,
		node != NULL ? leader : 0,
		node != NULL ? repl_redirect_holder(node->ip_be, w->port_base)
			     : 0);
}

/* A request kept in the pending table: its op and flags, decoded again. */
static void
worker_pending_redirect(struct worker *w, const struct repl_pending_slot *s)
{
	struct rte_mbuf *m = s->value;
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	struct latch_wire_msg msg;
	struct pkt_info info;

	if (pkt_parse(frame, rte_pktmbuf_data_len(m), &info) != PKT_UDP ||
	    latch_wire_decode(frame + info.payload_off, info.payload_len,
			      w->workers, &msg) != LATCH_WIRE_OK) {
		LATCH_DEBUG_ASSERT(!"a pending request no longer parses");
		rte_pktmbuf_free(m);
		return;
	}
	/* No FORWARD here: the request may already be in the log. */
	worker_not_leader(w, m, frame, &info, s->port, msg.op, 0);
}

/*
 * After every event given to the replicator: if it stopped leading or
 * the term moved, the requests it kept will not be answered by this
 * node's log: redirect them (the client retries with the same request
 * id; the dedup window answers a retry of one that did commit).
 */
static void
worker_repl_after(struct worker *w)
{
	bool leading = prepl_is_leader(w->repl);
	uint64_t term = w->repl->view.term;
	struct repl_pending_slot s;

	if ((w->repl_leading && !leading) || term != w->repl_term) {
		while (repl_pending_pop(&w->pending, &s))
			worker_pending_redirect(w, &s);
	}
	w->repl_leading = leading;
	w->repl_term = term;
}

/*
 * ACQUIRE, RELEASE, RENEW, KEEPALIVE in replicated mode: the leader
 * proposes the entry and keeps the request until the entry is applied
 * (answered by worker_repl_apply); others redirect.
 */
static void
worker_repl_request(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		    const struct pkt_info *info, uint8_t slot,
		    const struct latch_wire_msg *msg)
{
	struct repl_pending_slot s;
	struct lock_entry e;
	uint64_t next;
	int64_t idx;

	if (!prepl_is_leader(w->repl)) {
		worker_not_leader(w, m, frame, info, slot, msg->op, msg->flags);
		return;
	}
	next = plog_last_pos(w->repl->log).index + 1;
	if (!repl_pending_can_put(&w->pending, next)) {
		w->c.pending_full++;
		worker_answer_status(w, m, frame, info, slot, msg->op,
				     LATCH_S_BUSY, 0, 0);
		return;
	}
	worker_make_entry(w, frame, info, slot, msg, &e);
	e.term = w->repl->view.term;
	/* Kept first: nothing is applied inside prepl_propose(), but the
	 * table must hold the request before its index can commit. */
	repl_pending_put(&w->pending, next, e.client_id, e.request_id, m, slot);
	idx = prepl_propose(w->repl, &e, w->now_ms);
	if (unlikely(idx != (int64_t)next)) {
		(void)repl_pending_take(&w->pending, next, &s);
		LATCH_DEBUG_ASSERT(idx < 0);
		w->c.repl_propose_failed++;
		if (idx == -ENOTCONN)
			worker_not_leader(w, m, frame, info, slot, msg->op,
					  msg->flags);
		else
			worker_answer_status(w, m, frame, info, slot, msg->op,
					     LATCH_S_BUSY, 0, 0);
		return;
	}
	w->c.repl_proposed++;
}

/* prepl apply: a committed entry, in log order, on every replica. */
static void
worker_repl_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct worker *w = ctx;
	struct repl_pending_slot s;
	struct rte_mbuf *m = NULL;
	struct pkt_info info;
	uint8_t *frame;

	w->c.repl_applied++;
	if (repl_pending_take(&w->pending, index, &s)) {
		m = s.value;
		frame = rte_pktmbuf_mtod(m, uint8_t *);
		/* Another leader's entry took the index: not ours. */
		if (s.client_id != e->client_id ||
		    s.request_id != e->request_id ||
		    pkt_parse(frame, rte_pktmbuf_data_len(m), &info) !=
			    PKT_UDP) {
			worker_pending_redirect(w, &s);
			m = NULL;
		}
	}
	if (m != NULL) {
		w->cur.mbuf = m;
		w->cur.frame = frame;
		w->cur.info = &info;
		w->cur.slot = s.port;
		w->cur.answered = false;
	}
	/* One leader per term: a TAKEOVER of our leading term is ours. */
	if (e->op == LOCK_E_TAKEOVER)
		w->repl_takeover_applied = e->term;
	lock_table_apply(w->table, e, worker_emit, w);
	if (m != NULL && unlikely(!w->cur.answered))
		rte_pktmbuf_free(m);
	w->cur.mbuf = NULL;
}

/*
 * prepl prefetch: committed entries about to be applied. A follower
 * applies an APPEND's whole batch in one go and the leader a batch each
 * time a reply moves its commit index, so their cache misses can overlap
 * as a client burst's do (worker_prefetch_table). The dedup window and
 * request map are the hot misses there: in a 3-node lab three processes'
 * tables share one core's L2 (docs/benchmarks.md, session 10).
 */
static void
worker_repl_prefetch(void *ctx, const struct lock_entry *const *e, unsigned n)
{
	struct worker *w = ctx;
	struct lock_hint hints[PLOG_APPLY_BATCH];
	unsigned i;

	LATCH_DEBUG_ASSERT(n <= PLOG_APPLY_BATCH);
	for (i = 0; i < n; i++) {
		hints[i].op = e[i]->op;
		hints[i].client_id = e[i]->client_id;
		hints[i].request_id = e[i]->request_id;
		hints[i].token = e[i]->token;
		if (e[i]->op == LOCK_E_ACQUIRE && e[i]->key.len != 0)
			key_index_prefetch(w->keys, e[i]->key.bytes,
					   e[i]->key.len);
	}
	lock_table_prefetch_burst(w->table, hints, n);
}

/*
 * prepl save/load: the whole table as one snapshot (docs/snapshot.md),
 * sent in chunks by the replicator (docs/raft.md, "Snapshots in chunks").
 */
static uint32_t
worker_repl_save(void *ctx, uint8_t *buf, uint32_t max)
{
	struct worker *w = ctx;
	int64_t len = lock_table_save(w->table, buf, max);

	if (len < 0) {
		/* Cannot happen: the buffer is sized for a full table
		 * (repl_snapshot_max). If it did, the log refuses to
		 * compact rather than keep a snapshot that forgot locks. */
		w->c.repl_snapshot_errors++;
		return PLOG_SAVE_FAILED;
	}
	return (uint32_t)len;
}

static void
worker_repl_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct worker *w = ctx;

	if (lock_table_load(w->table, buf, len) != 0)
		w->c.repl_snapshot_errors++;
}

/*
 * Propose this term's TAKEOVER entry (lock_table.h): every replica then
 * extends the inherited deadlines alike. Called from the takeover
 * callback and, if the ring was full or a transfer refused it, again
 * each pass until it is in the log.
 */
static void
worker_repl_propose_takeover(struct worker *w)
{
	struct lock_entry e;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_TAKEOVER;
	e.term = w->repl->view.term;
	e.now_ms = w->now_ms;
	if (prepl_propose(w->repl, &e, w->now_ms) >= 0)
		w->repl_takeover_proposed = e.term;
	else
		w->c.repl_expire_dropped++;
}

/* prepl takeover: every earlier entry is applied; replicate the takeover. */
static void
worker_repl_takeover(void *ctx, uint64_t now_ms)
{
	struct worker *w = ctx;

	(void)now_ms; /* == w->now_ms: prepl's clock is ours */
	worker_repl_propose_takeover(w);
}

/*
 * prepl report: up to the main lcore, which writes it to repl.sock. The
 * eventfd write wakes the main lcore now: a vote waits for these reports.
 * One syscall per report, i.e. per heartbeat or view change, never per
 * packet.
 */
static void
worker_repl_report(void *ctx, const struct raft_chan_report *rep)
{
	struct worker *w = ctx;
	const uint64_t one = 1;

	if (rte_ring_sp_enqueue_elem(w->sh->chan_up[w->index], (void *)rep,
				     sizeof(*rep)) != 0) {
		w->c.chan_reports_dropped++;
		return;
	}
	w->c.chan_reports++;
	if (w->sh->chan_up_wake >= 0)
		(void)!write(w->sh->chan_up_wake, &one, sizeof(one));
}

/*
 * The port replication to @node leaves by: its peer link while that is
 * on and up, else the client port (docs/cluster.md, "Peer links").
 */
static uint8_t
worker_repl_slot(const struct worker_shared *sh, const struct worker_node *node)
{
	uint8_t slot = node->link_slot;
	struct rte_eth_link link;

	if (slot == WORKER_PORT_NONE || !worker_port_on(sh, slot) ||
	    rte_eth_link_get_nowait(sh->ports[slot].port_id, &link) != 0 ||
	    link.link_status != RTE_ETH_LINK_UP)
		return sh->client_slot;
	return slot;
}

/*
 * prepl send: encode @msg into a frame from our repl port p to the
 * peer's, by its link or the client port (docs/cluster.md, "peer
 * traffic"). The addresses are the nodes' client-port ones either way.
 */
static void
worker_repl_send(void *ctx, const struct raft_msg *msg)
{
	struct worker *w = ctx;
	const struct worker_shared *sh = w->sh;
	const struct worker_port *client = &sh->ports[sh->client_slot];
	const struct worker_port *port;
	const struct worker_node *node;
	uint16_t udp_port = (uint16_t)(sh->repl_port_base + w->index);
	struct rte_mbuf *m;
	uint8_t *data, slot;
	size_t room, len;
	int plen;

	node = msg->to < RAFT_NODES_MAX ? &sh->nodes[msg->to] : NULL;
	if (unlikely(node == NULL || !node->known || node->ip_be == 0)) {
		w->c.repl_no_peer++;
		return;
	}
	slot = worker_repl_slot(sh, node);
	port = &sh->ports[slot];
	m = rte_pktmbuf_alloc(port->pool);
	if (unlikely(m == NULL)) {
		w->c.drops[WORKER_DROP_no_mbuf]++;
		return;
	}
	data = rte_pktmbuf_mtod(m, uint8_t *);
	room = rte_pktmbuf_tailroom(m);
	plen = room > PKT_UDP_PAYLOAD_OFF
		       ? raft_wire_encode(msg, data + PKT_UDP_PAYLOAD_OFF,
					  room - PKT_UDP_PAYLOAD_OFF)
		       : -ENOSPC;
	len = plen < 0 ? 0
		       : repl_pkt_headers(data, node->mac, port->mac.addr_bytes,
					  client->addr_be, node->ip_be,
					  udp_port, udp_port, (size_t)plen);
	if (unlikely(len == 0 || len > room ||
		     rte_pktmbuf_append(m, (uint16_t)len) == NULL)) {
		LATCH_DEBUG_ASSERT(!"a raft_msg does not fit an mbuf");
		rte_pktmbuf_free(m);
		w->c.drops[WORKER_DROP_no_mbuf]++;
		return;
	}
	w->c.repl_sent++;
	worker_tx(w, slot, m);
}

static const struct prepl_ops worker_repl_ops = {
	.send = worker_repl_send,
	.report = worker_repl_report,
	.apply = worker_repl_apply,
	.save = worker_repl_save,
	.load = worker_repl_load,
	.takeover = worker_repl_takeover,
	.prefetch = worker_repl_prefetch,
};

/*
 * Give @m, which came in on port @slot, to worker @dst through our SPSC
 * ring to it; the end of the pass wakes @dst if it sleeps (kick_mask).
 */
static void
worker_handoff(struct worker *w, struct rte_mbuf *m, uint16_t dst, uint8_t slot)
{
	struct rte_ring *ring = w->sh->handoff[w->index][dst];

	m->port = w->sh->ports[slot].port_id;
	if (ring == NULL || rte_ring_sp_enqueue(ring, m) != 0) {
		worker_drop(w, m, WORKER_DROP_handoff_full);
		return;
	}
	w->c.handoff_out++;
	w->kick_mask |= UINT64_C(1) << dst;
}

/*
 * A datagram to a replication port: partition p's raft_msg from worker p
 * of a peer. Handed to worker p if RSS put it elsewhere.
 */
static void
worker_handle_repl(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		   const struct pkt_info *info, uint8_t slot)
{
	uint16_t p = (uint16_t)(info->dst_port - w->sh->repl_port_base);
	struct raft_msg *msg = &w->rmsg;

	if (p != w->index) {
		worker_handoff(w, m, p, slot);
		return;
	}
	if (raft_wire_decode(frame + info->payload_off, info->payload_len,
			     msg) != RAFT_WIRE_V_OK) {
		w->c.repl_decode_errors++;
		rte_pktmbuf_free(m);
		return;
	}
	rte_pktmbuf_free(m);
	if (msg->log != w->index || msg->to != w->sh->node_id ||
	    msg->from >= RAFT_NODES_MAX || msg->from == w->sh->node_id ||
	    !w->sh->nodes[msg->from].known) {
		w->c.repl_misaddressed++;
		return;
	}
	w->c.repl_received++;
	prepl_recv(w->repl, msg, w->now_ms);
	worker_repl_after(w);
}

/*
 * Each pass: views and pulls from the main lcore, the replicator's timers
 * and, on a leader that took over, expiry entries proposed (not applied:
 * every replica applies them when committed). Returns the work done.
 */
static unsigned
worker_repl_pass(struct worker *w)
{
	const struct worker_shared *sh = w->sh;
	unsigned n, i, work = 0;
	int64_t idx;

	n = rte_ring_sc_dequeue_burst_elem(sh->chan_down[w->index], w->chan_in,
					   sizeof(w->chan_in[0]),
					   WORKER_CHAN_BURST, NULL);
	for (i = 0; i < n; i++) {
		if (w->chan_in[i].type == RAFT_CHAN_VIEW)
			w->c.chan_views++;
		else
			w->c.chan_pulls++;
		prepl_chan(w->repl, &w->chan_in[i], w->now_ms);
		worker_repl_after(w);
	}
	work += n;
	(void)prepl_tick(w->repl, w->now_ms);
	worker_repl_after(w);

	if (w->now_ms == w->timers_ms && !w->timers_more)
		return work;
	w->timers_ms = w->now_ms;
	n = 0;
	if (prepl_is_leader(w->repl) && w->repl->taken_over &&
	    w->repl_takeover_proposed != w->repl->view.term)
		worker_repl_propose_takeover(w);
	/*
	 * Expiry only once this term's TAKEOVER entry is applied here, so
	 * the timers run from the extended deadlines. Even without this
	 * wait replicas could not part: an EXPIRE proposed after the
	 * TAKEOVER follows it in the log and is re-checked, on every
	 * replica, against the deadlines it extended; the wait only saves
	 * proposing EXPIREs that would change nothing.
	 */
	if (prepl_is_leader(w->repl) && w->repl->taken_over &&
	    w->repl_takeover_applied == w->repl->view.term)
		n = lock_table_tick(w->table, w->now_ms, w->expire,
				    WORKER_TICK_BUDGET);
	for (i = 0; i < n; i++) {
		w->expire[i].term = w->repl->view.term;
		w->expire[i].now_ms = w->now_ms;
		idx = prepl_propose(w->repl, &w->expire[i], w->now_ms);
		if (idx < 0)
			w->c.repl_expire_dropped++;
	}
	i = notify_poll(w->notify, w->now_ms, WORKER_NOTIFY_BUDGET,
			worker_notify_send, w);
	w->timers_more = n == WORKER_TICK_BUDGET || i == WORKER_NOTIFY_BUDGET;
	return work + n + i;
}

/* A valid request of our partition, in replicated mode. */
static void
worker_repl_latch(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		  const struct pkt_info *info, uint8_t slot,
		  const struct latch_wire_msg *msg)
{
	switch (msg->op) {
	case LATCH_OP_ACQUIRE:
		w->c.req_acquire++;
		break;
	case LATCH_OP_RELEASE:
		w->c.req_release++;
		break;
	case LATCH_OP_RENEW:
		w->c.req_renew++;
		break;
	case LATCH_OP_KEEPALIVE:
		w->c.req_keepalive++;
		break;
	case LATCH_OP_QUERY:
		/* From the leader's applied state: not linearizable (a
		 * newer leader may exist; docs/cluster.md). Others answer
		 * from their own applied state, flagged REPLICA, unless
		 * the client asked for the leader (FORWARD). */
		w->c.req_query++;
		if (prepl_is_leader(w->repl))
			worker_query(w, m, frame, info, slot, msg, 0);
		else if (!(msg->flags & LATCH_F_FORWARD))
			worker_query(w, m, frame, info, slot, msg,
				     LATCH_F_REPLICA);
		else
			worker_not_leader(w, m, frame, info, slot, msg->op,
					  msg->flags);
		return;
	default:
		worker_answer_malformed(w, m, frame, info, slot,
					LATCH_WIRE_UNKNOWN_OP, msg);
		return;
	}
	worker_repl_request(w, m, frame, info, slot, msg);
}

/*
 * Shedding (worker_rx_port): refuse @msg, an ACQUIRE of our partition,
 * with BUSY before the table, and before its key is hashed to check the
 * partition: a refusal then costs the header's decode and the answer, a
 * fraction of a grant (docs/operations.md, "Overload"). A client that
 * named the wrong partition learns it on a retry that is not shed.
 * RELEASEs and the rest always go through, and so does what the key must
 * route first: replication, shard groups. Returns whether it answered.
 */
static bool
worker_shed_acquire(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		    const struct pkt_info *info, uint8_t slot,
		    const struct latch_wire_msg *msg)
{
	if (msg->op != LATCH_OP_ACQUIRE || msg->reply ||
	    msg->partition != w->index || w->repl != NULL ||
	    w->sh->shards != NULL)
		return false;
	w->c.req_acquire++;
	w->c.shed_busy++;
	worker_answer_status(w, m, frame, info, slot, msg->op, LATCH_S_BUSY, 0,
			     0);
	return true;
}

/* A UDP datagram to one of our partition ports. */
static void
worker_handle_latch(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		    const struct pkt_info *info, uint8_t slot)
{
	struct latch_wire_msg msg;
	enum latch_wire_verdict v;

	/* The partition is checked after the shedding test: a refusal
	 * needs no key hash (below). */
	v = latch_wire_decode(frame + info->payload_off, info->payload_len, 0,
			      &msg);
	if (likely(v == LATCH_WIRE_OK)) {
		if (unlikely(w->shedding) &&
		    worker_shed_acquire(w, m, frame, info, slot, &msg))
			return;
		v = latch_wire_check_partition(&msg, w->workers);
	}
	if (unlikely(v != LATCH_WIRE_OK)) {
		/* Not ours to answer (no magic, no fixed part), or an answer
		 * itself: answering those could loop between two servers. */
		if (v <= LATCH_WIRE_BAD_VERSION)
			worker_drop(w, m, wire_verdict_drop[v]);
		else if (msg.reply)
			worker_drop(w, m, WORKER_DROP_unknown_op);
		else
			worker_answer_malformed(w, m, frame, info, slot, v,
						&msg);
		return;
	}
	if (unlikely(msg.reply)) {
		worker_drop(w, m, WORKER_DROP_unknown_op);
		return;
	}

	/* Another group's key goes there, before any partition work. */
	if (w->sh->shards != NULL && msg.key_len > 0) {
		if (worker_shard_forward(w, m, frame, info, slot, &msg))
			return;
		w->c.shard_local++;
	}

	if (unlikely(msg.partition != w->index)) {
		/* RSS put it on our queue: hand it to the owner (SPSC). */
		worker_handoff(w, m, msg.partition, slot);
		return;
	}

	if (w->repl != NULL && msg.op != LATCH_OP_ACK) {
		worker_repl_latch(w, m, frame, info, slot, &msg);
		return;
	}

	switch (msg.op) {
	case LATCH_OP_ACQUIRE:
		w->c.req_acquire++;
		worker_apply_request(w, m, frame, info, slot, &msg);
		break;
	case LATCH_OP_RELEASE:
		w->c.req_release++;
		worker_apply_request(w, m, frame, info, slot, &msg);
		break;
	case LATCH_OP_RENEW:
		w->c.req_renew++;
		worker_apply_request(w, m, frame, info, slot, &msg);
		break;
	case LATCH_OP_KEEPALIVE:
		w->c.req_keepalive++;
		worker_apply_request(w, m, frame, info, slot, &msg);
		break;
	case LATCH_OP_QUERY:
		w->c.req_query++;
		worker_query(w, m, frame, info, slot, &msg, 0);
		break;
	case LATCH_OP_ACK:
		/* No answer: the ACK ends the exchange. */
		w->c.req_ack++;
		notify_ack(w->notify, msg.client_id, msg.request_id, msg.token);
		rte_pktmbuf_free(m);
		break;
	default:
		/* GRANTED and LOST travel from server to client only. */
		worker_answer_malformed(w, m, frame, info, slot,
					LATCH_WIRE_UNKNOWN_OP, &msg);
		break;
	}
}

/*
 * One packet received on port @slot (or handed off from it): classify it
 * and act. The slot comes from the loop, not from m->port, which not every
 * PMD fills (net_ring does not); handoff sets m->port for the owner.
 */
static void
worker_handle(struct worker *w, struct rte_mbuf *m, uint8_t slot)
{
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	const struct worker_port *port;
	struct pkt_info info;
	enum pkt_verdict v;

	port = &w->sh->ports[slot];

	v = pkt_parse(frame, rte_pktmbuf_data_len(m), &info);
	if (likely(v == PKT_UDP)) {
		/* addr_be 0: the port answers whatever address it is sent. */
		if (unlikely(port->addr_be != 0 &&
			     info.dst_ip_be != port->addr_be)) {
			worker_drop(w, m, WORKER_DROP_not_for_us);
		} else if (likely((uint16_t)(info.dst_port - w->port_base) <
				  w->workers)) {
			worker_handle_latch(w, m, frame, &info, slot);
		} else if (w->repl != NULL &&
			   (uint16_t)(info.dst_port - w->sh->repl_port_base) <
				   w->workers) {
			worker_handle_repl(w, m, frame, &info, slot);
		} else if (info.dst_port == PKT_PKTGEN_PROBE_PORT &&
			   w->profile->pktgen_reflect) {
			pkt_reflect(frame, &info);
			w->c.pktgen_reflected++;
			worker_tx(w, slot, m);
		} else {
			worker_route(w, m, frame, slot, WORKER_DROP_not_for_us);
		}
	} else if (v == PKT_ARP_REQUEST) {
		if (pkt_arp_reply(frame, &info, port->mac.addr_bytes,
				  port->addr_be)) {
			w->c.arp_replies++;
			worker_tx(w, slot, m);
		} else {
			worker_drop(w, m, WORKER_DROP_not_for_us);
		}
	} else if (v == PKT_ARP_OTHER) {
		worker_drop(w, m, pkt_verdict_drop[v]);
	} else {
		/* Not IPv4/UDP, or broken: the router counts why. */
		worker_route(w, m, frame, slot,
			     (enum worker_drop)pkt_verdict_drop[v]);
	}
}

/* Where a request's fixed part sits in an untagged IPv4/UDP frame
 * without IP options: what worker_prefetch_table() peeks at. */
#define WORKER_PEEK_MSG_OFF (14 + 20 + 8)

/* The UDP destination port of an untagged frame without IP options. */
#define WORKER_PEEK_DPORT_OFF (14 + 20 + 2)

/*
 * Is the frame at @f (at least WORKER_PEEK_DPORT_OFF + 2 bytes) sent to
 * one of the lock ports, where worker_handle() hands requests to the
 * lock table? Routed latch messages (docs/routing.md, key "latch") look
 * like requests but go to a route's port: neither prefetch hints nor
 * routing's stage one should take one for the other. A peek: a frame it
 * misjudges is only prepared for nothing, or not prepared.
 */
static inline bool
worker_peek_lock_port(const struct worker *w, const uint8_t *f)
{
	return (uint16_t)(be_get16(f + WORKER_PEEK_DPORT_OFF) - w->port_base) <
	       w->workers;
}

/*
 * Before a burst is handled: run routing's stage one (router_prepare)
 * over every frame of it that may reach worker_route(), i.e. every one
 * not sent to a lock port, so that their key hashes overlap and their
 * Maglev entries are prefetched before the first is rewritten
 * (docs/benchmarks.md, "Routing"). worker_route() finishes a prepared
 * frame and routes the others (handoff, a lock port's broken frames)
 * whole; both give the same decision.
 */
static void
worker_route_prepare(struct worker *w, struct rte_mbuf **pkts, unsigned n)
{
	const struct route_table *t = w->rt;
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];
		const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
		uint16_t len = rte_pktmbuf_data_len(m);

		w->rprep_ok[i] = t != NULL && m->nb_segs == 1 &&
				 (len < WORKER_PEEK_DPORT_OFF + 2 ||
				  !worker_peek_lock_port(w, f));
		if (w->rprep_ok[i])
			router_prepare(t, f, len, &w->rprep[i]);
	}
}

/*
 * Before a burst is handled: read the ids of every lock request in it
 * that this worker will apply at once and let the lock table prefetch
 * what applying them touches, so their cache misses overlap instead of
 * queueing one after another (docs/benchmarks.md, "where the cycles
 * go"). A peek, not a parse: anything unusual (a tag, IP options, a
 * handoff) is simply not hinted, and a wrong hint costs a wasted
 * prefetch, never a wrong answer. Replicated requests apply later, once
 * committed: worker_repl_prefetch hints them then.
 */
static void
worker_prefetch_table(struct worker *w, struct rte_mbuf **pkts, unsigned n)
{
	struct lock_hint hints[WORKER_BURST_MAX];
	unsigned i, k = 0;

	if (w->repl != NULL)
		return;
	for (i = 0; i < n; i++) {
		const uint8_t *f = rte_pktmbuf_mtod(pkts[i], const uint8_t *);
		const uint8_t *msg = f + WORKER_PEEK_MSG_OFF;
		uint8_t op;

		if (rte_pktmbuf_data_len(pkts[i]) <
			    WORKER_PEEK_MSG_OFF + LATCH_MSG_FIXED_LEN ||
		    be_get16(f + 12) != RTE_ETHER_TYPE_IPV4 || f[14] != 0x45 ||
		    !worker_peek_lock_port(w, f) ||
		    be_get16(msg) != LATCH_MAGIC ||
		    be_get16(msg + offsetof(struct latch_hdr, partition)) !=
			    w->index)
			continue;
		op = msg[offsetof(struct latch_hdr, op)];
		/* A shed ACQUIRE never reaches the table. */
		if (op < LATCH_OP_ACQUIRE || op > LATCH_OP_KEEPALIVE ||
		    op == LATCH_OP_QUERY ||
		    (w->shedding && op == LATCH_OP_ACQUIRE))
			continue;
		/* The key index's bucket: with many keys an ACQUIRE's probe
		 * misses the cache (docs/benchmarks.md, session 8). */
		if (op == LATCH_OP_ACQUIRE) {
			uint16_t key_len = be_get16(
				msg + offsetof(struct latch_hdr, key_len));

			if (key_len != 0 && key_len <= LATCH_KEY_MAX &&
			    rte_pktmbuf_data_len(pkts[i]) >=
				    WORKER_PEEK_MSG_OFF + LATCH_MSG_FIXED_LEN +
					    key_len)
				key_index_prefetch(w->keys,
						   msg + LATCH_MSG_FIXED_LEN,
						   key_len);
		}
		hints[k].op = worker_entry_op(op);
		hints[k].client_id =
			be_get64(msg + offsetof(struct latch_hdr, client_id));
		hints[k].request_id =
			be_get64(msg + offsetof(struct latch_hdr, request_id));
		hints[k].token = be_get64(msg + sizeof(struct latch_hdr));
		k++;
	}
	if (k > 0)
		lock_table_prefetch_burst(w->table, hints, k);
}

/* A burst from port @slot: the lock table's memory prefetched for the
 * whole burst, then each packet handled while the next one's data is
 * fetched. */
static void
worker_handle_burst(struct worker *w, struct rte_mbuf **pkts, unsigned n,
		    uint8_t slot)
{
	unsigned i;

	worker_prefetch_table(w, pkts, n);
	worker_route_prepare(w, pkts, n);
	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		w->rprep_cur = w->rprep_ok[i] ? &w->rprep[i] : NULL;
		worker_handle(w, pkts[i], slot);
	}
	w->rprep_cur = NULL;
}

/* Handed-off packets: each carries its port in m->port (set by the
 * worker that received it). */
static void
worker_handle_handoff(struct worker *w, struct rte_mbuf **pkts, unsigned n)
{
	struct rte_mbuf *m;
	unsigned i;
	uint8_t slot;

	for (i = 0; i < n; i++) {
		m = pkts[i];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		slot = m->port < RTE_MAX_ETHPORTS ? w->port_slot[m->port]
						  : WORKER_PORT_NONE;
		if (unlikely(slot == WORKER_PORT_NONE))
			worker_drop(w, m, WORKER_DROP_not_for_us);
		else
			worker_handle(w, m, slot);
	}
}

/* ---- timers and idle --------------------------------------------------- */

/*
 * Expire due leases, waits and sessions and retransmit due notifications,
 * each within its budget. Runs once per millisecond, or at once again if
 * the last run left work. Returns the work done.
 */
static unsigned
worker_run_timers(struct worker *w)
{
	unsigned n, i, sent;

	if (w->now_ms == w->timers_ms && !w->timers_more)
		return 0;
	w->timers_ms = w->now_ms;

	n = lock_table_tick(w->table, w->now_ms, w->expire, WORKER_TICK_BUDGET);
	for (i = 0; i < n; i++) {
		/* Single node: proposed and committed at once. */
		w->expire[i].term = w->sh->epoch;
		w->expire[i].now_ms = w->now_ms;
		lock_table_apply(w->table, &w->expire[i], worker_emit, w);
	}
	sent = notify_poll(w->notify, w->now_ms, WORKER_NOTIFY_BUDGET,
			   worker_notify_send, w);
	w->timers_more =
		n == WORKER_TICK_BUDGET || sent == WORKER_NOTIFY_BUDGET;
	return n + sent;
}

/* Wake the workers this pass handed frames to, if they sleep. */
static void
worker_kick_handoffs(struct worker *w)
{
	uint64_t mask = w->kick_mask;

	w->kick_mask = 0;
	if (w->sh->wake == NULL)
		return;
	while (mask != 0) {
		wake_kick(w->sh->wake[__builtin_ctzll(mask)]);
		mask &= mask - 1;
	}
}

/* Work queued for us in a ring: the channel from the main lcore, or a
 * handoff from another worker. */
static bool
worker_rings_pending(const struct worker *w)
{
	const struct worker_shared *sh = w->sh;
	uint16_t src;

	if (sh->chan_down[w->index] != NULL &&
	    !rte_ring_empty(sh->chan_down[w->index]))
		return true;
	for (src = 0; src < w->workers; src++)
		if (sh->handoff[src][w->index] != NULL &&
		    !rte_ring_empty(sh->handoff[src][w->index]))
			return true;
	return false;
}

/*
 * What worker_run() keeps for the lcore it runs on: the partitions it
 * serves, their shared idle state, and the fds a sleep waits on (every
 * partition's Rx interrupt fds, up to WAKE_FDS_MAX; one beyond that is
 * polled when the sleep times out).
 */
struct worker_lcore {
	struct worker *const *ws;
	unsigned n;
	struct worker_idle idle;
	struct pollfd fds[WAKE_FDS_MAX];
	unsigned fds_count;
};

/*
 * Sleep up to @us, or until woken (wake.h): by a kick from whoever queues
 * work in the rings of one of the lcore's partitions (they share one wake
 * word), or by a frame on a port queue with an Rx interrupt fd. Without a
 * wake word, a plain nanosleep. Counted on the first partition.
 */
static void
worker_sleep(struct worker_lcore *lc, uint32_t us)
{
	struct worker *w0 = lc->ws[0];
	unsigned i;

	if (w0->wake == NULL) {
		rte_delay_us_sleep(us); /* nanosleep: yields the CPU */
		return;
	}
	wake_announce(w0->wake);
	for (i = 0; i < lc->n; i++) {
		if (worker_rings_pending(lc->ws[i])) {
			wake_cancel(w0->wake);
			return;
		}
	}
	switch (wake_sleep(w0->wake, lc->fds, lc->fds_count, us)) {
	case WAKE_KICKED:
		w0->c.idle_kicked++;
		break;
	case WAKE_FD:
		w0->c.idle_rx_woken++;
		break;
	default:
		break;
	}
}

/* Take the lcore's partitions offline (@online false) for RCU while it
 * sleeps, or back online: router_swap() does not wait for a sleeper. */
static void
worker_rcu_online(struct worker_lcore *lc, bool online)
{
	unsigned i;

	for (i = 0; i < lc->n; i++) {
		struct worker *w = lc->ws[i];

		if (!w->rcu_registered)
			continue;
		if (online)
			router_rcu_online(w->sh->router, w->index);
		else
			router_rcu_offline(w->sh->router, w->index);
	}
}

/*
 * After a pass over the lcore's partitions that found no work in any:
 * pause after idle_pause_polls of them, and with the SLEEP policy sleep
 * after idle_sleep_polls, doubling the sleep up to idle_sleep_us (and
 * never above WORKER_SLEEP_CAP_US, so timers run about every ms). Any
 * work resets it (l3fwd-power's scheme). A sleep ends early when work is
 * given to us (worker_sleep).
 *
 * Between pausing and sleeping, the SLEEP policy (cores shared, by
 * definition) also yields the CPU every idle_yield_polls passes: a
 * worker spinning on an empty queue held the CPU that another process's
 * worker, on the same core, needed to make the work it waits for. In the
 * 3-node lab a leader's worker spun while the follower's worker that had
 * to ack its APPEND waited for the scheduler; with the yield, replicated
 * p50 at 1 outstanding went 107 -> 38 us and answers at 32 outstanding
 * 175 k -> 440 k/s (docs/benchmarks.md). A worker alone on its core
 * returns from the yield at once. How often pays off depends on what a
 * pass costs: every 16th (the default) where idle passes read a TAP queue
 * now and then, every one where peers talk over memif links (replicated
 * p50 25 -> 15 us, docs/benchmarks.md).
 */
static void
worker_idle(struct worker_lcore *lc, unsigned work)
{
	const struct profile *p = lc->ws[0]->profile;
	struct worker_idle *idle = &lc->idle;
	uint32_t cap;

	if (work != 0) {
		idle->polls = 0;
		idle->sleep_us = 0;
		return;
	}
	if (p->idle == PROFILE_IDLE_POLL)
		return;
	if (idle->polls < UINT32_MAX)
		idle->polls++;
	if (p->idle == PROFILE_IDLE_SLEEP &&
	    idle->polls >= p->idle_sleep_polls) {
		cap = RTE_MIN(p->idle_sleep_us, (uint32_t)WORKER_SLEEP_CAP_US);
		idle->sleep_us = idle->sleep_us == 0
					 ? 1
					 : RTE_MIN(idle->sleep_us * 2, cap);
		lc->ws[0]->c.idle_sleeps++;
		/* The pass's tables were already given up (quiescent). */
		worker_rcu_online(lc, false);
		worker_sleep(lc, idle->sleep_us);
		worker_rcu_online(lc, true);
	} else if (idle->polls >= p->idle_pause_polls) {
		if (p->idle == PROFILE_IDLE_SLEEP &&
		    idle->polls % p->idle_yield_polls == 0)
			sched_yield();
		else
			rte_pause();
	}
}

/*
 * Receive and handle what port @slot's queue holds, if its answers have
 * room to go out. Without shedding (workers.shed_depth = 0), one burst
 * per pass.
 *
 * With shedding at depth D, the queue's depth is measured first: bursts
 * are read back to back while they come back full, up to D and a burst,
 * and none is answered until the reading stops. What was read before any
 * answer left was in the queue at once, so a client with N <= D requests
 * in flight never shows more than N, however fast it sends. (Counting
 * every packet a pass reads does not measure depth: a closed loop of 64
 * answered between bursts sends its next requests during the same pass,
 * and was refused.) Then the packets are handled a burst at a time, each
 * burst's answers sent before the next, and the ACQUIREs found deeper
 * than D are answered BUSY before the lock table (the "BUSY
 * answers instead of a collapse"), so the worker keeps granting at its
 * full rate instead of letting every request's wait grow. A queue found
 * deeper than D is read on, burst after burst, its ACQUIREs refused, until
 * a burst comes back short, its answers cannot go out, or
 * WORKER_DRAIN_MAX packets were read.
 */
static unsigned
worker_rx_port(struct worker *w, uint8_t slot)
{
	uint16_t port_id = w->sh->ports[slot].port_id;
	uint32_t shed_depth = w->profile->shed_depth;
	unsigned n, got, off, k;

	/* Answers cannot go out (the peer is not reading): leave its
	 * requests in the ring, which holds the sender back, rather than
	 * make answers there is no room for. */
	if (w->tx[slot].count + 2u * w->burst > WORKER_TX_HOLD)
		return 0;
	if (shed_depth == 0) {
		n = rte_eth_rx_burst(port_id, w->index, w->rx, w->burst);
		w->c.rx_packets += n;
		if (n > 0)
			worker_handle_burst(w, w->rx, n, slot);
		return n;
	}

	got = 0;
	do {
		n = rte_eth_rx_burst(port_id, w->index, w->ahead + got,
				     w->burst);
		got += n;
	} while (n == w->burst && got <= shed_depth);
	w->c.rx_packets += got;
	for (off = 0; off < got; off += k) {
		k = RTE_MIN(got - off, (unsigned)w->burst);
		/* The burst that crosses D is cut there. */
		if (off < shed_depth && off + k > shed_depth)
			k = shed_depth - off;
		w->shedding = off >= shed_depth;
		worker_handle_burst(w, w->ahead + off, k, slot);
		(void)worker_tx_flush(w, slot);
	}
	if (got <= shed_depth) {
		w->shedding = false;
		return got;
	}

	/* Deeper than D: whatever follows waited behind D or more. */
	w->shedding = true;
	while (n == w->burst && got < WORKER_DRAIN_MAX &&
	       w->tx[slot].count == 0) {
		n = rte_eth_rx_burst(port_id, w->index, w->rx, w->burst);
		if (n == 0)
			break;
		w->c.rx_packets += n;
		got += n;
		worker_handle_burst(w, w->rx, n, slot);
		(void)worker_tx_flush(w, slot);
	}
	w->shedding = false;
	return got;
}

/*
 * Poll port @slot this pass? (If so, the pass's time is noted as its last
 * poll.) Always, unless its queue costs a system call (it has an Rx
 * interrupt fd). Such a port is polled every pass after a
 * sleep (sleep_us set until work comes: a frame on that fd may be what
 * woke us); every WORKER_SYSCALL_PORT_STRIDE passes while spinning idle;
 * while busy, every pass when replicating, else once
 * WORKER_SYSCALL_PORT_BUSY_US have passed since its last poll.
 */
static inline bool
worker_port_due(struct worker *w, uint8_t slot)
{
	if (w->sh->ports[slot].rx_intr_fd[w->index] < 0)
		return true;
	if (w->idle->sleep_us == 0) {
		if (w->idle->polls != 0) {
			if ((w->idle->polls &
			     (WORKER_SYSCALL_PORT_STRIDE - 1)) != 0)
				return false;
		} else if (w->repl == NULL &&
			   w->now_tsc - w->port_polled_tsc[slot] <
				   w->syscall_port_tsc) {
			return false;
		}
	}
	w->port_polled_tsc[slot] = w->now_tsc;
	return true;
}

/* ---- the loop ---------------------------------------------------------- */

/*
 * The worker's clock in ms, read once a pass. A multiplication by the
 * reciprocal instead of a 64-bit division: the division was 8-12 % of a
 * routing worker's samples (perf), a pass often carrying a frame or two.
 * At most 1 ms behind tsc / (ticks per ms), and as monotonic.
 */
static inline uint64_t
worker_clock_ms(const struct worker *w, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * w->ms_mult) >> 64);
}

/* One pass over partition @w's ports, rings and timers. Returns the
 * work done. */
static unsigned
worker_pass(struct worker *w)
{
	const struct worker_shared *sh = w->sh;
	unsigned work = 0, n;
	uint16_t p, src;

	w->now_tsc = rte_get_tsc_cycles();
	w->now_ms = worker_clock_ms(w, w->now_tsc);
	/* Once per pass: the table stays valid until quiescent. */
	w->rt = w->rcu_registered ? router_rcu_current(sh->router) : NULL;

	for (p = 0; p < w->ports_count; p++)
		if (worker_port_on(sh, (uint8_t)p) &&
		    worker_port_due(w, (uint8_t)p))
			work += worker_rx_port(w, (uint8_t)p);
	for (src = 0; src < w->workers; src++) {
		struct rte_ring *r = sh->handoff[src][w->index];

		if (r == NULL)
			continue;
		n = rte_ring_sc_dequeue_burst(r, (void **)w->rx, w->burst,
					      NULL);
		if (n == 0)
			continue;
		w->c.handoff_in += n;
		work += n;
		worker_handle_handoff(w, w->rx, n);
	}

	if (w->repl != NULL)
		work += worker_repl_pass(w);
	else
		work += worker_run_timers(w);
	/* Answers waiting for room keep the worker awake. */
	work += worker_tx_flush_all(w);
	if (w->kick_mask != 0)
		worker_kick_handoffs(w);
	/* Last use of w->rt in this pass: routed frames are with the NIC,
	 * so a swap that returns has no packet of the old table still to
	 * send (docs/routing.md). */
	w->rt = NULL;
	if (w->rcu_registered)
		router_rcu_quiescent(sh->router, w->index);
	return work;
}

static void
worker_rcu_unregister(struct worker *const *ws, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (!ws[i]->rcu_registered)
			continue;
		router_rcu_unregister(ws[i]->sh->router, ws[i]->index);
		ws[i]->rcu_registered = false;
	}
}

int
worker_run(struct worker *const *ws, unsigned n)
{
	struct worker_lcore lc = {.ws = ws, .n = n};
	unsigned i, f, work;
	int ret;

	if (n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		/* One wake word per lcore (worker.h): a kick for any of its
		 * partitions must end its one sleep. */
		if (ws[i]->wake != ws[0]->wake) {
			RTE_LOG(ERR, USER1,
				"worker %u: not the wake word of worker %u, "
				"which shares its lcore\n",
				ws[i]->index, ws[0]->index);
			return -EINVAL;
		}
	}
	for (i = 0; i < n; i++) {
		struct worker *w = ws[i];

		w->idle = &lc.idle;
		for (f = 0;
		     f < w->sleep_fds_count && lc.fds_count < RTE_DIM(lc.fds);
		     f++)
			lc.fds[lc.fds_count++] = w->sleep_fds[f];
		if (w->sh->router == NULL)
			continue;
		/* QSBR thread id = worker index (router_rcu.h). */
		ret = router_rcu_register(w->sh->router, w->index);
		if (ret < 0) {
			RTE_LOG(ERR, USER1, "worker %u: RCU register: %s\n",
				w->index, strerror(-ret));
			worker_rcu_unregister(ws, i);
			return ret;
		}
		w->rcu_registered = true;
	}
	while (!*ws[0]->sh->stop) {
		work = 0;
		for (i = 0; i < n; i++)
			work += worker_pass(ws[i]);
		worker_idle(&lc, work);
	}
	worker_rcu_unregister(ws, n);
	for (i = 0; i < n; i++)
		ws[i]->idle = NULL;
	return 0;
}

/* ---- life cycle -------------------------------------------------------- */

int
worker_shared_init(struct worker_shared *sh)
{
	char name[RTE_RING_NAMESIZE];
	uint16_t s, d;
	int err;

	memset(sh->handoff, 0, sizeof(sh->handoff));
	memset(sh->port_on, 1, sizeof(sh->port_on));
	memset(sh->chan_down, 0, sizeof(sh->chan_down));
	memset(sh->chan_up, 0, sizeof(sh->chan_up));
	sh->chan_up_wake = -1;
	if (sh->profile == NULL || sh->workers == 0 ||
	    sh->workers > LATCH_PARTITIONS_MAX ||
	    sh->ports_count > PROFILE_PORTS_MAX || sh->stop == NULL) {
		rte_errno = EINVAL;
		return -EINVAL;
	}
	if (sh->tsc_hz == 0)
		sh->tsc_hz = rte_get_tsc_hz();

	for (s = 0; s < sh->workers; s++) {
		for (d = 0; d < sh->workers; d++) {
			if (s == d)
				continue;
			/* Unique per process: several latchd share a host. */
			snprintf(name, sizeof(name), "ho_%d_%u_%u",
				 (int)getpid(), s, d);
			sh->handoff[s][d] = rte_ring_create(
				name, sh->profile->ring_size, SOCKET_ID_ANY,
				RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (sh->handoff[s][d] == NULL)
				goto free_rings;
		}
	}
	for (d = 0; sh->replicated && d < sh->workers; d++) {
		snprintf(name, sizeof(name), "chd_%d_%u", (int)getpid(), d);
		sh->chan_down[d] = rte_ring_create_elem(
			name, sizeof(struct raft_chan_down), WORKER_CHAN_RING,
			SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (sh->chan_down[d] == NULL)
			goto free_rings;
		snprintf(name, sizeof(name), "chu_%d_%u", (int)getpid(), d);
		sh->chan_up[d] = rte_ring_create_elem(
			name, sizeof(struct raft_chan_report), WORKER_CHAN_RING,
			SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (sh->chan_up[d] == NULL)
			goto free_rings;
	}
	return 0;

free_rings:
	err = rte_errno != 0 ? rte_errno : ENOMEM;
	worker_shared_fini(sh);
	rte_errno = err;
	return -err;
}

void
worker_shared_fini(struct worker_shared *sh)
{
	struct rte_mbuf *m;
	uint16_t s, d;

	for (s = 0; s < LATCH_PARTITIONS_MAX; s++) {
		for (d = 0; d < LATCH_PARTITIONS_MAX; d++) {
			struct rte_ring *r = sh->handoff[s][d];

			if (r == NULL)
				continue;
			/* Packets still in flight between workers. */
			while (rte_ring_dequeue(r, (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(r);
			sh->handoff[s][d] = NULL;
		}
	}
	for (d = 0; d < LATCH_PARTITIONS_MAX; d++) {
		rte_ring_free(sh->chan_down[d]); /* NULL: nothing */
		rte_ring_free(sh->chan_up[d]);
		sh->chan_down[d] = NULL;
		sh->chan_up[d] = NULL;
	}
}

/* The lock table's sizes, from the profile's [table] and [lease]. */
static void
worker_table_config(const struct profile *p, struct lock_table_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* The table's slots are the key index's: same size. */
	cfg->locks_max = p->locks_max;
	cfg->holders_max = p->holders_max;
	cfg->waiters_max = p->waiters_max;
	cfg->sessions_max = p->sessions_max;
	cfg->dedup_max = p->dedup_max;
	cfg->lease_default_ms = p->lease_default_ms;
	cfg->lease_max_ms = p->lease_max_ms;
	cfg->wait_default_ms = p->wait_default_ms;
	cfg->wait_max_ms = p->wait_max_ms;
	cfg->session_default_ms = p->session_default_ms;
	cfg->session_max_ms = p->session_max_ms;
	cfg->timer_slots = p->timer_slots;
}

/*
 * Replicated mode: partition @w->index's replicator (incarnation = boot
 * epoch, docs/cluster.md) and the pending table. 0 or a positive errno
 * after logging. Start-up.
 */
static int
worker_repl_create(struct worker *w, int socket_id)
{
	const struct worker_shared *sh = w->sh;
	struct prepl_config cfg;
	struct lock_table_config tcfg;
	uint64_t snap_max;

	worker_table_config(sh->profile, &tcfg);
	snap_max = repl_snapshot_max(&tcfg);
	if (snap_max > PLOG_SNAPSHOT_LIMIT) {
		RTE_LOG(ERR, USER1,
			"worker %u: a full table's snapshot (%llu bytes) is "
			"above %u: smaller [table] pools\n",
			w->index, (unsigned long long)snap_max,
			PLOG_SNAPSHOT_LIMIT);
		return EINVAL;
	}
	w->pending_slots = rte_zmalloc_socket(
		"latch_pending", sizeof(*w->pending_slots) * WORKER_PENDING_MAX,
		RTE_CACHE_LINE_SIZE, socket_id);
	if (w->pending_slots == NULL ||
	    repl_pending_init(&w->pending, w->pending_slots,
			      WORKER_PENDING_MAX) != 0) {
		RTE_LOG(ERR, USER1, "worker %u: pending table: no memory\n",
			w->index);
		rte_free(w->pending_slots);
		w->pending_slots = NULL;
		return ENOMEM;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = sh->node_id;
	cfg.partition = w->index;
	cfg.heartbeat_ms = sh->repl_heartbeat_ms;
	cfg.log.entries_max = WORKER_REPL_ENTRIES;
	cfg.log.batch_max = RAFT_BATCH_MAX;
	cfg.log.bytes_max = RAFT_WIRE_APPEND_ENTRIES_IN(WORKER_REPL_MTU);
	cfg.log.inflight_max = WORKER_REPL_INFLIGHT;
	/* Two buffers of a full table's snapshot per partition (plog.h),
	 * allocated now and touched only as the state grows. */
	cfg.log.snapshot_max = (uint32_t)snap_max;
	cfg.log.chunk_max = RAFT_SNAPSHOT_MAX;
	w->repl = prepl_create(&cfg, &worker_repl_ops, w, sh->epoch);
	if (w->repl == NULL) {
		int err = errno != 0 ? errno : ENOMEM;

		RTE_LOG(ERR, USER1, "worker %u: partition replicator: %s\n",
			w->index, strerror(err));
		rte_free(w->pending_slots);
		w->pending_slots = NULL;
		return err;
	}
	return 0;
}

struct worker *
worker_create(const struct worker_shared *sh, uint16_t index, int socket_id)
{
	const struct profile *p = sh->profile;
	struct notify_config ncfg;
	struct lock_table_config tcfg;
	const char *why = NULL;
	struct worker *w;
	uint64_t tsc_hz;
	uint16_t i;
	int err;

	if (p == NULL || index >= sh->workers || p->burst == 0 ||
	    p->burst > WORKER_BURST_MAX ||
	    sh->ports_count > PROFILE_PORTS_MAX || sh->stop == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < sh->ports_count; i++) {
		if (sh->ports[i].port_id >= RTE_MAX_ETHPORTS ||
		    sh->ports[i].pool == NULL) {
			rte_errno = EINVAL;
			return NULL;
		}
	}
	worker_table_config(p, &tcfg);
	if (lock_table_config_check(&tcfg, &why) != 0) {
		RTE_LOG(ERR, USER1, "worker %u: lock table: %s\n", index,
			why != NULL ? why : "invalid");
		rte_errno = EINVAL;
		return NULL;
	}

	w = rte_zmalloc_socket("latch_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
			       socket_id);
	if (w == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	w->sh = sh;
	w->profile = p;
	w->index = index;
	w->workers = sh->workers;
	w->ports_count = sh->ports_count;
	w->burst = p->burst;
	w->port_base = p->port_base;
	tsc_hz = sh->tsc_hz != 0 ? sh->tsc_hz : rte_get_tsc_hz();
	w->ms_mult = UINT64_MAX / (tsc_hz >= 1000 ? tsc_hz / 1000 : 1);
	w->syscall_port_tsc = tsc_hz * WORKER_SYSCALL_PORT_BUSY_US / 1000000;
	memset(w->port_slot, WORKER_PORT_NONE, sizeof(w->port_slot));
	for (i = 0; i < sh->ports_count; i++)
		w->port_slot[sh->ports[i].port_id] = (uint8_t)i;
	if (sh->wake != NULL) {
		w->wake = sh->wake[index];
		for (i = 0; i < sh->ports_count; i++) {
			int fd = sh->ports[i].rx_intr_fd[index];

			if (fd < 0)
				continue;
			w->sleep_fds[w->sleep_fds_count].fd = fd;
			w->sleep_fds[w->sleep_fds_count].events = POLLIN;
			w->sleep_fds_count++;
		}
	}

	/*
	 * Our own index rather than rte_hash: it hands out the slot freed
	 * last, so a lock's record and key stay in cache when keys come and
	 * go; rte_hash's FIFO ring of free positions walks its whole key
	 * store (docs/design.md, "key index": +20 % answers/s measured).
	 */
	w->keys = key_index_create(p->locks_max, NULL);
	if (w->keys == NULL) {
		err = errno;
		RTE_LOG(ERR, USER1, "worker %u: key index of %u keys: %s\n",
			index, p->locks_max, strerror(err));
		goto free_worker;
	}
	w->table = lock_table_create(&tcfg, &key_index_ops, w->keys);
	if (w->table == NULL) {
		err = errno != 0 ? errno : ENOMEM;
		RTE_LOG(ERR, USER1, "worker %u: lock table: %s\n", index,
			strerror(err));
		goto free_keys;
	}
	ncfg.entries_max = p->notify_max;
	ncfg.retry_ms = p->notify_retry_ms;
	ncfg.retries = p->notify_retries;
	w->notify = notify_create(&ncfg);
	if (w->notify == NULL) {
		err = errno != 0 ? errno : ENOMEM;
		RTE_LOG(ERR, USER1, "worker %u: notification pool: %s\n", index,
			strerror(err));
		goto free_table;
	}
	if (p->conntrack_max > 0 &&
	    (w->ct = conntrack_create(p->conntrack_max)) == NULL) {
		err = errno;
		RTE_LOG(ERR, USER1, "worker %u: conntrack: %s\n", index,
			strerror(err));
		goto free_notify;
	}
	if (sh->replicated) {
		err = worker_repl_create(w, socket_id);
		if (err != 0)
			goto free_conntrack;
	}
	return w;

free_conntrack:
	conntrack_destroy(w->ct);
free_notify:
	notify_destroy(w->notify);
free_table:
	lock_table_destroy(w->table);
free_keys:
	key_index_destroy(w->keys);
free_worker:
	rte_free(w);
	rte_errno = err;
	return NULL;
}

void
worker_destroy(struct worker *w)
{
	uint16_t slot, i;

	if (w == NULL)
		return;
	/* Only after the lcore returned: nothing is in flight but this. */
	for (slot = 0; slot < PROFILE_PORTS_MAX; slot++) {
		for (i = 0; i < w->tx[slot].count; i++)
			rte_pktmbuf_free(w->tx[slot].pkts[i]);
		w->tx[slot].count = 0;
	}
	if (w->repl != NULL) {
		struct repl_pending_slot s;

		while (repl_pending_pop(&w->pending, &s))
			rte_pktmbuf_free(s.value);
		prepl_destroy(w->repl);
		rte_free(w->pending_slots);
	}
	notify_destroy(w->notify);
	conntrack_destroy(w->ct);
	lock_table_destroy(w->table);
	key_index_destroy(w->keys);
	rte_free(w);
}

void
worker_stats_read(const struct worker *w, struct worker_stats *out)
{
	const volatile struct worker_counters *c = &w->c;
	const struct notify_counters *nc = notify_counters(w->notify);
	unsigned i;

	memset(out, 0, sizeof(*out));
#define WORKER_STATS_COPY(name) out->name = c->name;
	WORKER_COUNTER_LIST(WORKER_STATS_COPY)
#undef WORKER_STATS_COPY
	for (i = 0; i < WORKER_DROP_MAX; i++)
		out->drops[i] = c->drops[i];
	for (i = 0; i < ROUTER_R_MAX; i++)
		out->route_reasons[i] = c->route_reasons[i];
	for (i = 0; i < WORKER_ROUTES_MAX; i++) {
		out->route_forwarded[i] = c->route_forwarded[i];
		out->route_dropped[i] = c->route_dropped[i];
	}
	for (i = 0; i < WORKER_BACKENDS_MAX; i++)
		out->backend_forwarded[i] = c->backend_forwarded[i];
	/* The pool keeps the notification counters; it is the worker's. */
	out->notify_sent = nc->sent;
	out->notify_retransmits = nc->retransmits;
	out->notify_acked = nc->acked;
	out->notify_gave_up = nc->gave_up;
	out->notify_full = nc->full;
	out->notify_pending = notify_pending(w->notify);
	if (w->ct != NULL) {
		const struct conntrack_counters *cc = conntrack_counters(w->ct);

#define WORKER_CT_COPY(name) out->conntrack_##name = cc->name;
		CONNTRACK_COUNTER_LIST(WORKER_CT_COPY)
#undef WORKER_CT_COPY
	}
	out->lock = *lock_table_counters(w->table);
	lock_table_gauges(w->table, &out->gauges);
}
