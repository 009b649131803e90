/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's peers: one UDP socket bound to control.mgmt_addr, the
 * other nodes of the cluster from the profile's [peer NAME] sections.
 * Sends a struct raft_msg to a peer by node id; receives datagrams,
 * decodes them (raft_wire.h), checks that the sender's address and the
 * message's `from` name the same peer, and hands Raft messages to a
 * callback. Counts, per peer: datagrams sent and received, send errors,
 * and refused datagrams by reason. Also sends and records the liveness
 * beacon (RAFT_WIRE_TYPE_PING) for failure detection, and reports a peer
 * whose host refused a datagram with ICMP port unreachable: its host is
 * up but no latch-control listens there (the process died or stopped).
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_PEER_H
#define LATCH_CONTROL_PEER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/loop.h"
#include "control/raft_wire.h"
#include "firmware-cfg/profile.h"

/* Why a datagram was refused besides the codec's verdicts. */
#define PEER_DROP_LIST(X)                                                   \
	X(WRONG_FROM, "wrong_from") /* from != the id of its source addr */ \
	X(WRONG_TO, "wrong_to")     /* to is not this node */

enum peer_drop {
#define PEER_DROP_ENUM(name, text) PEER_DROP_##name,
	PEER_DROP_LIST(PEER_DROP_ENUM)
#undef PEER_DROP_ENUM
		PEER_DROP_MAX,
};

extern const char *const peer_drop_names[PEER_DROP_MAX];

struct peer_stats {
	uint64_t sent;
	uint64_t send_errors;
	uint64_t refused;  /* ICMP port unreachable for what we sent it */
	uint64_t received; /* accepted: decoded and checked */
	uint64_t decode_errors[RAFT_WIRE_V_MAX]; /* [OK] stays 0 */
	uint64_t drops[PEER_DROP_MAX];
};

struct peer {
	char name[PROFILE_NAME_MAX];
	uint8_t id;
	struct sockaddr_in mgmt;
	uint32_t data_be;
	uint64_t last_contact_ms; /* 0: never heard from */
	uint64_t last_beacon_ms;  /* last beacon sent to it */
	struct peer_stats stats;
};

/* Liveness as cluster_status shows it. */
enum peer_state {
	PEER_UNKNOWN = 0, /* not heard from, and too early to tell */
	PEER_UP = 1,      /* heard from within election_ms */
	PEER_DOWN = 2,
};

/* A Raft message from peer @from (already checked). */
typedef void (*peer_recv_fn)(void *ctx, const struct raft_msg *m,
			     uint64_t now_ms);
/* Peer @id's host answered a datagram with ICMP port unreachable. */
typedef void (*peer_gone_fn)(void *ctx, uint8_t id, uint64_t now_ms);

struct peer_set;

/*
 * Bind a UDP socket to @p->control_mgmt and register it with @l; @fn
 * gets every accepted Raft message, @gone (may be NULL) every refusal.
 * With no mgmt_addr (a single node) nothing is bound and the set is
 * empty. NULL and errno (EADDRINUSE...). Start-up only.
 */
struct peer_set *peer_create(struct loop *l, const struct profile *p,
			     peer_recv_fn fn, peer_gone_fn gone, void *ctx);
void peer_destroy(struct peer_set *ps);

/* Send @m to peer m->to. 0, -ENOENT (no such peer), -EINVAL (codec) or
 * -errno of sendto (also counted as a send error). */
int peer_send(struct peer_set *ps, const struct raft_msg *m);

/*
 * Send the liveness beacon to every peer heard from within @slow_ms, and
 * to the others once per @slow_ms. A host that is down answers no ARP:
 * the kernel holds each datagram to it, charged to our socket's send
 * buffer, until resolution fails (seconds). At a 2 ms beacon that filled
 * the buffer in half a second and every send failed, to live peers too
 * (a lab node partitioned away left the other two unable to keep a
 * leader). A live peer beacons back every period, so it stays fast.
 */
void peer_ping_all(struct peer_set *ps, uint64_t now_ms, uint64_t slow_ms);

unsigned peer_count(const struct peer_set *ps);
const struct peer *peer_at(const struct peer_set *ps, unsigned i);

/* Datagrams from addresses that are no peer (dropped, counted here). */
uint64_t peer_unknown_source(const struct peer_set *ps);

/*
 * Liveness of @pr at @now_ms: up if heard within @window_ms; down if
 * not, once @window_ms have passed since @start_ms; else unknown. Pure.
 */
enum peer_state peer_state_at(const struct peer *pr, uint64_t now_ms,
			      uint64_t start_ms, uint64_t window_ms);

const char *peer_state_name(enum peer_state s);

#endif /* LATCH_CONTROL_PEER_H */
