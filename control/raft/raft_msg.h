/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Messages between the Raft cores of a cluster (docs/raft.md).
 *
 * Every message has a fixed size so the shell (issue 6) can carry it in
 * one UDP datagram per type without a length-prefixed codec; the encoding
 * for the wire (byte order, trimming unused entries) comes later. The
 * control plane exchanges PREVOTE/VOTE/TIMEOUT_NOW/PULL; APPEND and
 * SNAPSHOT of a partition travel worker to worker, APPEND of the meta log
 * control plane to control plane.
 *
 * term: the sender's term, except in PREVOTE (the term the sender would
 * campaign in) and a granted PREVOTE_REPLY (that same term echoed).
 */
#ifndef LATCH_RAFT_MSG_H
#define LATCH_RAFT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <latch/proto.h>

#include "dataplane/lock_table.h"

/* Nodes of one cluster: 3 or 5 voters plus learners (DESIGN.md). */
#define RAFT_NODES_MAX 8
/* Partition logs plus the meta log (log id == partitions). */
#define RAFT_LOGS_MAX (LATCH_PARTITIONS_MAX + 1)
/*
 * Entries in one APPEND or PULL_REPLY at most. A log's bytes_max
 * (plog.h) bounds it too: 16 entries with keys of up to 16 bytes fit a
 * 1500-byte frame, 10 of the longest keys.
 */
#define RAFT_BATCH_MAX 16
/*
 * Snapshot bytes carried in one SNAPSHOT message: one chunk of a snapshot
 * of any size (docs/raft.md, "Snapshots in chunks"). 1024 keeps the
 * datagram (28-byte body header, 20-byte Raft header, 42 bytes of
 * Ethernet, IPv4 and UDP) inside one 1500-byte MTU frame, like APPEND.
 */
#define RAFT_SNAPSHOT_MAX 1024
/* No node: voted_for and leader when unknown. */
#define RAFT_NONE 0xff

enum raft_msg_type {
	RAFT_MSG_PREVOTE = 1, /* dissertation §9.6 */
	RAFT_MSG_PREVOTE_REPLY = 2,
	RAFT_MSG_VOTE = 3, /* paper §5.2, RequestVote */
	RAFT_MSG_VOTE_REPLY = 4,
	RAFT_MSG_APPEND = 5, /* paper §5.3, AppendEntries */
	RAFT_MSG_APPEND_REPLY = 6,
	RAFT_MSG_SNAPSHOT = 7,    /* paper §7, InstallSnapshot */
	RAFT_MSG_TIMEOUT_NOW = 8, /* dissertation §3.10, leader transfer */
	RAFT_MSG_PULL = 9,        /* latch: a pre-candidate fetches a tail */
	RAFT_MSG_PULL_REPLY = 10,
	RAFT_MSG_SNAPSHOT_REPLY = 11, /* latch: a chunk's ack (§7, chunked) */
	RAFT_MSG_TYPE_MAX = 12,
};

/* Position of a log's last entry (index 0, term 0 for an empty log). */
struct raft_pos {
	uint64_t term;
	uint64_t index;
};

/* PREVOTE and VOTE: the candidate's last position in every log. */
struct raft_msg_vote {
	uint16_t logs;    /* entries of pos[] used: partitions + 1 */
	uint8_t transfer; /* campaign started by TIMEOUT_NOW */
	uint8_t pad[5];
	struct raft_pos pos[RAFT_LOGS_MAX];
};

/* Replies carry the voter's positions so a refused pre-candidate can pull. */
struct raft_msg_vote_reply {
	uint16_t logs;
	uint8_t granted;
	uint8_t pad[5];
	struct raft_pos pos[RAFT_LOGS_MAX];
};

/*
 * APPEND (and PULL_REPLY): entries prev_index+1 .. prev_index+n.
 * In a PULL_REPLY, commit carries the source's last term instead, and
 * source_commit the source's commit index (docs/raft.md, "pull": the
 * puller commits what it now shares with the source's committed prefix).
 * caught_up_incarnation: non-zero when the leader has judged the
 * receiver's dataplane incarnation caught up (the diskless rule); the
 * two share a field so the wire layout does not change.
 */
struct raft_msg_append {
	uint64_t prev_index;
	uint64_t prev_term;
	uint64_t commit;
	union {
		uint64_t caught_up_incarnation; /* APPEND */
		uint64_t source_commit;         /* PULL_REPLY */
	};
	uint32_t n;
	uint32_t pad;
	struct lock_entry entries[RAFT_BATCH_MAX];
};

/*
 * success: index is the last index now known to match the leader's log.
 * failure: index is a hint: the follower's log may match up to it.
 * incarnation/amnesic: the sender's dataplane incarnation and whether it
 * still waits to be caught up (then it counts toward no commit).
 */
struct raft_msg_append_reply {
	uint64_t index;
	uint64_t incarnation;
	uint8_t success;
	uint8_t amnesic;
	uint8_t pad[6];
};

/*
 * One chunk of the snapshot of one log up to and including index (paper
 * §7, Figure 13: offset and done). data holds bytes offset .. offset +
 * len - 1 of a snapshot of total bytes; done is set exactly on the chunk
 * that ends it (offset + len == total). A snapshot that fits one message
 * is one chunk: offset 0, len == total, done.
 *
 * flags: RAFT_SNAPSHOT_F_PULLED marks a chunk that answers a PULL
 * (docs/raft.md, "Pulling a snapshot"): it comes from a peer that need
 * not lead, carries no term obligation and is never acknowledged; with
 * it, RAFT_SNAPSHOT_F_ASK marks the last chunk of that answer (the
 * puller then PULLs the next ones). incarnation: the sender's dataplane
 * incarnation; with from, it names whose bytes a pulled chunk holds.
 */
struct raft_msg_snapshot {
	uint64_t index;
	uint64_t term;
	uint32_t offset;
	uint32_t total;
	uint32_t len;
	uint8_t done;
	uint8_t flags;
	uint8_t pad[2];
	uint64_t incarnation;
	uint8_t data[RAFT_SNAPSHOT_MAX];
};

#define RAFT_SNAPSHOT_F_PULLED 0x01
#define RAFT_SNAPSHOT_F_ASK    0x02

/*
 * SNAPSHOT_REPLY: a follower that does not yet hold the whole snapshot
 * @index tells how many of its bytes it holds, from the first (its
 * chunks are taken in order). A complete snapshot is answered with an
 * APPEND_REPLY instead (success, the snapshot's index). incarnation and
 * amnesic as in struct raft_msg_append_reply.
 */
struct raft_msg_snapshot_reply {
	uint64_t index;
	uint64_t incarnation;
	uint32_t offset;
	uint8_t amnesic;
	uint8_t pad[3];
};

/*
 * PULL: the puller's last position and its commit index, and how far it
 * got in a snapshot it pulls from the node it sends this to (docs/raft.md,
 * "Pulling a snapshot"): snap (index and term of that snapshot's last
 * entry), snap_incarnation (the source's dataplane incarnation its chunks
 * named) and snap_have (bytes held, from the first). All zero: none; the
 * source answers with its snapshot from the first byte if it has to.
 */
struct raft_msg_pull {
	struct raft_pos last;
	uint64_t commit;
	struct raft_pos snap;
	uint64_t snap_incarnation;
	uint32_t snap_have;
	uint32_t pad;
};

struct raft_msg {
	uint8_t type; /* enum raft_msg_type */
	uint8_t from;
	uint8_t to;
	uint8_t pad0;
	uint16_t log; /* APPEND*, SNAPSHOT, PULL*: which log */
	uint16_t pad1;
	uint32_t pad2;
	uint64_t term;
	union {
		struct raft_msg_vote vote;
		struct raft_msg_vote_reply vote_reply;
		struct raft_msg_append append;
		struct raft_msg_append_reply append_reply;
		struct raft_msg_snapshot snapshot;
		struct raft_msg_snapshot_reply snapshot_reply;
		struct raft_msg_pull pull;
	} u;
};

_Static_assert(RAFT_NODES_MAX <= 8, "node sets are uint8_t bit masks");
_Static_assert(RAFT_LOGS_MAX <= UINT16_MAX, "log id fits its field");
_Static_assert(sizeof(struct raft_msg_append_reply) == 24, "fixed size");
_Static_assert(sizeof(struct raft_msg_snapshot_reply) == 24, "fixed size");
_Static_assert(sizeof(struct raft_pos) == 16, "fixed size");
_Static_assert(offsetof(struct raft_msg_snapshot, data) == 40, "fixed size");

#endif /* LATCH_RAFT_MSG_H */
