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
 * Nothing here takes a lock, makes a system call (but the idle sleep) or
 * allocates memory after worker_create().
 */
#include <errno.h>
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
#include "common/wire.h"
#include "dataplane/lock_index_rte.h"
#include "dataplane/notify.h"
#include "dataplane/pkt.h"
#include "dataplane/route_conf.h"
#include "dataplane/worker.h"

/* Largest rx burst: the profile's limit on workers.burst. */
#define WORKER_BURST_MAX 256
/*
 * Packets a pass may queue for one port before it flushes early: two full
 * bursts (own RX and handoff) plus the notifications they may cause.
 */
#define WORKER_TX_MAX 512
/* Expiry entries applied per pass: bounds the time a pass spends on
 * timers; the rest wait for the next pass (lock_table_tick keeps them). */
#define WORKER_TICK_BUDGET 64
/* Notifications retransmitted per pass, for the same reason. */
#define WORKER_NOTIFY_BUDGET 64
/*
 * Longest single idle sleep, whatever idle_sleep_us says: a sleeping
 * worker must still expire leases about on time (1 ms is the timer
 * wheel's slot).
 */
#define WORKER_SLEEP_CAP_US 1000
/* No mapping for a DPDK port id in port_slot[]. */
#define WORKER_PORT_NONE UINT8_MAX

_Static_assert(PROFILE_PORTS_MAX < WORKER_PORT_NONE, "port slots fit");
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

struct worker {
	/* Read-only after worker_create(). */
	const struct worker_shared *sh;
	const struct profile *profile;
	uint16_t index;
	uint16_t workers;
	uint16_t ports_count;
	uint16_t burst;
	uint16_t port_base;
	uint64_t tsc_per_ms;
	struct lock_table *table;
	struct rte_hash *hash;
	struct notify_pool *notify;
	uint8_t port_slot[RTE_MAX_ETHPORTS]; /* DPDK port id -> sh->ports */

	/* Loop state. */
	uint64_t now_ms;
	uint64_t timers_ms;  /* now_ms of the last timer run */
	bool timers_more;    /* the last run hit its budget */
	uint32_t idle_polls; /* empty passes in a row */
	uint32_t sleep_us;   /* current idle sleep; grows to the cap */
	/* Route table of this pass (router_rcu_current), NULL: no routes.
	 * Dead after the pass's router_rcu_quiescent(). */
	const struct route_table *rt;
	bool rcu_registered;
	struct worker_current cur;

	struct worker_counters c;
	struct worker_txq tx[PROFILE_PORTS_MAX] __rte_cache_aligned;
	struct rte_mbuf *rx[WORKER_BURST_MAX];
	struct lock_entry expire[WORKER_TICK_BUDGET];
};

/* ---- transmit ---------------------------------------------------------- */

/* Send what port @slot has queued; free and count what the NIC refused. */
static void
worker_tx_flush(struct worker *w, uint8_t slot)
{
	struct worker_txq *q = &w->tx[slot];
	uint16_t sent, i;

	if (q->count == 0)
		return;
	sent = rte_eth_tx_burst(w->sh->ports[slot].port_id, w->index, q->pkts,
				q->count);
	w->c.tx_packets += sent;
	if (unlikely(sent < q->count)) {
		w->c.drops[WORKER_DROP_tx_full] += q->count - sent;
		for (i = sent; i < q->count; i++)
			rte_pktmbuf_free(q->pkts[i]);
	}
	q->count = 0;
}

static void
worker_tx_flush_all(struct worker *w)
{
	uint8_t slot;

	for (slot = 0; slot < w->ports_count; slot++)
		worker_tx_flush(w, slot);
}

/* Queue @m for TX on port @slot, queue w->index. */
static inline void
worker_tx(struct worker *w, uint8_t slot, struct rte_mbuf *m)
{
	struct worker_txq *q = &w->tx[slot];

	if (unlikely(q->count == WORKER_TX_MAX))
		worker_tx_flush(w, slot);
	q->pkts[q->count++] = m;
}

static inline void
worker_drop(struct worker *w, struct rte_mbuf *m, enum worker_drop why)
{
	w->c.drops[why]++;
	rte_pktmbuf_free(m);
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
		LATCH_DEBUG_ASSERT(cur->mbuf != NULL && !cur->answered);
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

/* ACQUIRE, RELEASE, RENEW, KEEPALIVE: make the entry, apply it at once. */
static void
worker_apply_request(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		     const struct pkt_info *info, uint8_t slot,
		     const struct latch_wire_msg *msg)
{
	struct pkt_client_addr from;
	struct lock_entry e;

	e.op = worker_entry_op(msg->op);
	e.pad0 = 0;
	e.flags = msg->flags;
	e.lease_ms = msg->lease_ms;
	e.wait_ms = msg->wait_ms;
	e.pad1 = 0;
	e.client_id = msg->client_id;
	e.request_id = msg->request_id;
	e.token = msg->token;
	e.now_ms = w->now_ms;
	e.term = w->sh->epoch;
	pkt_client_from_request(frame, info, w->sh->ports[slot].port_id, &from);
	pkt_addr_pack(&e.addr, &from);
	if (msg->key_len == 0)
		memset(&e.key, 0, sizeof(e.key)); /* KEEPALIVE */
	else if (lock_key_set(&e.key, msg->key, msg->key_len) != 0)
		LATCH_ASSERT(!"decode let through a key lock_key_set refuses");

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

/* QUERY: answered from the table's state, which it does not change. */
static void
worker_query(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
	     const struct pkt_info *info, uint8_t slot,
	     const struct latch_wire_msg *msg)
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
	uint8_t out;

	/* router_route() reads one contiguous frame. */
	if (t == NULL || unlikely(m->nb_segs != 1)) {
		worker_drop(w, m, pass_drop);
		return;
	}
	switch (router_route(t, frame, rte_pktmbuf_data_len(m), &d)) {
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

/* A UDP datagram to one of our partition ports. */
static void
worker_handle_latch(struct worker *w, struct rte_mbuf *m, uint8_t *frame,
		    const struct pkt_info *info, uint8_t slot)
{
	struct latch_wire_msg msg;
	enum latch_wire_verdict v;
	struct rte_ring *ring;

	v = latch_wire_decode(frame + info->payload_off, info->payload_len,
			      w->workers, &msg);
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
		ring = w->sh->handoff[w->index][msg.partition];
		m->port = w->sh->ports[slot].port_id;
		if (ring == NULL || rte_ring_sp_enqueue(ring, m) != 0) {
			worker_drop(w, m, WORKER_DROP_handoff_full);
			return;
		}
		w->c.handoff_out++;
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
		worker_query(w, m, frame, info, slot, &msg);
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

/* A burst from port @slot: each packet handled while the next one's data
 * is fetched. */
static void
worker_handle_burst(struct worker *w, struct rte_mbuf **pkts, unsigned n,
		    uint8_t slot)
{
	unsigned i;

	rte_prefetch0(rte_pktmbuf_mtod(pkts[0], void *));
	for (i = 0; i + 1 < n; i++) {
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		worker_handle(w, pkts[i], slot);
	}
	worker_handle(w, pkts[i], slot);
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

/*
 * After an empty pass: pause after idle_pause_polls of them, and with the
 * SLEEP policy sleep after idle_sleep_polls, doubling the sleep up to
 * idle_sleep_us (and never above WORKER_SLEEP_CAP_US, so timers run about
 * every ms). Any work resets it (l3fwd-power's scheme).
 */
static void
worker_idle(struct worker *w, unsigned work)
{
	const struct profile *p = w->profile;
	uint32_t cap;

	if (work != 0) {
		w->idle_polls = 0;
		w->sleep_us = 0;
		return;
	}
	if (p->idle == PROFILE_IDLE_POLL)
		return;
	if (w->idle_polls < UINT32_MAX)
		w->idle_polls++;
	if (p->idle == PROFILE_IDLE_SLEEP &&
	    w->idle_polls >= p->idle_sleep_polls) {
		cap = RTE_MIN(p->idle_sleep_us, (uint32_t)WORKER_SLEEP_CAP_US);
		w->sleep_us =
			w->sleep_us == 0 ? 1 : RTE_MIN(w->sleep_us * 2, cap);
		w->c.idle_sleeps++;
		/* Offline while asleep, so router_swap() does not wait for
		 * us; the pass's table was already given up (quiescent). */
		if (w->rcu_registered)
			router_rcu_offline(w->sh->router, w->index);
		rte_delay_us_sleep(w->sleep_us); /* nanosleep: yields the CPU */
		if (w->rcu_registered)
			router_rcu_online(w->sh->router, w->index);
	} else if (w->idle_polls >= p->idle_pause_polls) {
		rte_pause();
	}
}

/* ---- the loop ---------------------------------------------------------- */

int
worker_main(void *arg)
{
	struct worker *w = arg;
	const struct worker_shared *sh = w->sh;
	unsigned work, n;
	uint16_t p, src;
	int ret;

	if (sh->router != NULL) {
		/* QSBR thread id = worker index (router_rcu.h). */
		ret = router_rcu_register(sh->router, w->index);
		if (ret < 0) {
			RTE_LOG(ERR, USER1, "worker %u: RCU register: %s\n",
				w->index, strerror(-ret));
			return ret;
		}
		w->rcu_registered = true;
	}
	while (!*sh->stop) {
		work = 0;
		w->now_ms = rte_get_tsc_cycles() / w->tsc_per_ms;
		/* Once per pass: the table stays valid until quiescent. */
		w->rt = w->rcu_registered ? router_rcu_current(sh->router)
					  : NULL;

		for (p = 0; p < w->ports_count; p++) {
			n = rte_eth_rx_burst(sh->ports[p].port_id, w->index,
					     w->rx, w->burst);
			if (n == 0)
				continue;
			w->c.rx_packets += n;
			work += n;
			worker_handle_burst(w, w->rx, n, (uint8_t)p);
		}
		for (src = 0; src < w->workers; src++) {
			struct rte_ring *r = sh->handoff[src][w->index];

			if (r == NULL)
				continue;
			n = rte_ring_sc_dequeue_burst(r, (void **)w->rx,
						      w->burst, NULL);
			if (n == 0)
				continue;
			w->c.handoff_in += n;
			work += n;
			worker_handle_handoff(w, w->rx, n);
		}

		work += worker_run_timers(w);
		worker_tx_flush_all(w);
		/* Last use of w->rt in this pass: routed frames are with the
		 * NIC, so a swap that returns has no packet of the old table
		 * still to send (docs/routing.md). */
		w->rt = NULL;
		if (w->rcu_registered)
			router_rcu_quiescent(sh->router, w->index);
		worker_idle(w, work);
	}
	if (w->rcu_registered) {
		router_rcu_unregister(sh->router, w->index);
		w->rcu_registered = false;
	}
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
}

/* The lock table's sizes, from the profile's [table] and [lease]. */
static void
worker_table_config(const struct profile *p, struct lock_table_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* The table's slots are rte_hash positions: same size. */
	cfg->locks_max = lock_index_rte_entries(p->locks_max);
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
	w->tsc_per_ms = tsc_hz / 1000 != 0 ? tsc_hz / 1000 : 1;
	memset(w->port_slot, WORKER_PORT_NONE, sizeof(w->port_slot));
	for (i = 0; i < sh->ports_count; i++)
		w->port_slot[sh->ports[i].port_id] = (uint8_t)i;

	w->hash = lock_index_rte_create(index, p->locks_max, socket_id);
	if (w->hash == NULL) {
		err = rte_errno;
		RTE_LOG(ERR, USER1, "worker %u: rte_hash of %u keys: %s\n",
			index, p->locks_max, rte_strerror(err));
		goto free_worker;
	}
	w->table = lock_table_create(&tcfg, &lock_index_rte_ops, w->hash);
	if (w->table == NULL) {
		err = errno != 0 ? errno : ENOMEM;
		RTE_LOG(ERR, USER1, "worker %u: lock table: %s\n", index,
			strerror(err));
		goto free_hash;
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
	return w;

free_table:
	lock_table_destroy(w->table);
free_hash:
	lock_index_rte_destroy(w->hash);
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
	notify_destroy(w->notify);
	lock_table_destroy(w->table);
	lock_index_rte_destroy(w->hash);
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
	out->lock = *lock_table_counters(w->table);
	lock_table_gauges(w->table, &out->gauges);
}
