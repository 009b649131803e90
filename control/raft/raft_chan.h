/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The local control channel between a node's control plane (the control
 * half of Raft, control/raft/raft.h) and its dataplane (one partition
 * replicator per worker, dataplane/prepl.h); docs/raft.md, "the split".
 * In the product it is a Unix socket (FIFO, may lose nothing but may be
 * slow); the simulator makes it a FIFO queue with delay and loss, which
 * both halves tolerate: the control plane resends its view every heartbeat
 * and the dataplane reports every heartbeat.
 *
 * Down (control -> dataplane): VIEW, what the dataplane may do in which
 * term; PULL, fetch a partition's tail from a peer (docs/raft.md, "pull").
 * Up (dataplane -> control): REPORT, one per partition: its positions,
 * leader progress, the dataplane incarnation, and any higher term seen.
 *
 * Freshness: a view carries (ctl_incarnation, seq), strictly increasing
 * for one control plane start; every report echoes the last view its
 * partition applied. A report whose echo is at least the seq of the view
 * that moved the dataplane into the current term shows every entry the
 * partition acknowledged in earlier terms: after that view it acks only
 * the leader of the current term (paper §5.2, §5.4.1 as applied to the
 * split). The control plane grants votes and sends its own VOTEs only on
 * such fresh reports.
 *
 * Every message has a fixed size (no codec needed for the Unix socket).
 */
#ifndef LATCH_RAFT_CHAN_H
#define LATCH_RAFT_CHAN_H

#include <stdint.h>

#include "control/raft/raft_msg.h"

/* What the view lets the dataplane do. */
enum raft_view_role {
	RAFT_VIEW_NONE = 0,     /* no leader known: APPEND from any node */
	RAFT_VIEW_FOLLOWER = 1, /* accept APPEND/SNAPSHOT from leader only */
	RAFT_VIEW_LEADER = 2,   /* lead every partition in term */
};

/* view.flags */
#define RAFT_VIEW_F_TRANSFER 0x01 /* leader transfer: refuse proposals */

/* report.flags */
#define RAFT_REPORT_F_AMNESIC     0x01 /* not caught up (diskless rule) */
#define RAFT_REPORT_F_LEAD_FAILED 0x02 /* could not append its no-op */

enum raft_chan_type {
	RAFT_CHAN_VIEW = 1,
	RAFT_CHAN_PULL = 2,
	RAFT_CHAN_REPORT = 3,
};

/*
 * VIEW. Applied by a dataplane only if dp_incarnation is its own (a view
 * meant for the dataplane before a restart is void) and (ctl_incarnation,
 * seq) is newer than the last applied; term never decreases.
 * counted: voters whose acks count toward commit (no amnesia, as their
 * control planes said). caught_up_incarnation: the persisted verdict of
 * the diskless rule; the dataplane is amnesic unless it equals its own
 * incarnation.
 */
struct raft_chan_view {
	uint64_t ctl_incarnation;
	uint64_t seq;
	uint64_t dp_incarnation;
	uint64_t term;
	uint64_t caught_up_incarnation;
	uint8_t role;   /* enum raft_view_role */
	uint8_t leader; /* RAFT_NONE unless role is FOLLOWER or LEADER */
	uint8_t voters; /* configuration in force (mask) */
	uint8_t counted;
	uint8_t flags;    /* RAFT_VIEW_F_* */
	uint8_t learners; /* replicated to, never counted (mask) */
	uint8_t pad[2];
};

/* PULL: the partition fetches its tail from node @from's worker. */
struct raft_chan_pull {
	uint8_t from;
	uint8_t pad[7];
};

/* Control -> dataplane. partition: RAFT_CHAN_ALL for a VIEW. */
#define RAFT_CHAN_ALL 0xffff
struct raft_chan_down {
	uint8_t type; /* RAFT_CHAN_VIEW or RAFT_CHAN_PULL */
	uint8_t pad0;
	uint16_t partition;
	uint32_t pad1;
	union {
		struct raft_chan_view view;
		struct raft_chan_pull pull;
	} u;
};

/*
 * REPORT of one partition. seq/ctl_incarnation echo the last view applied
 * (0 before any). term and role are that view's. seen_term/seen_from: an
 * APPEND, SNAPSHOT or reply of a term above the view's, or an APPEND of
 * the view's term while no leader is known, came from seen_from (0: none).
 * Leader only: term_start (its no-op), match and peer_incarnation per
 * node (its replicator's progress, for the caught-up verdict and leader
 * transfer).
 */
struct raft_chan_report {
	uint64_t ctl_incarnation;
	uint64_t seq;
	uint64_t incarnation; /* this dataplane's */
	uint64_t term;
	uint64_t seen_term;
	struct raft_pos last;
	uint64_t commit;
	uint64_t applied;
	uint64_t term_start;
	uint64_t match[RAFT_NODES_MAX];
	uint64_t peer_incarnation[RAFT_NODES_MAX];
	uint16_t partition;
	uint8_t role; /* enum raft_view_role */
	uint8_t flags;
	uint8_t seen_from;
	uint8_t pad[3];
};

_Static_assert(sizeof(struct raft_chan_view) == 48, "fixed size");
_Static_assert(sizeof(struct raft_chan_report) == 216, "fixed size");

#endif /* LATCH_RAFT_CHAN_H */
