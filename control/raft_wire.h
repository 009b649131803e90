/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire encoding of the Raft messages that control planes exchange
 * over UDP on the management network (docs/protocol.md, "Control-plane
 * messages").
 *
 * struct raft_msg (control/raft/raft_msg.h) is the in-memory form: fixed
 * size, host byte order, every array at its bound. On the wire a message
 * is a 20-byte header (magic RAFT_WIRE_MAGIC, distinct from the lock
 * protocol's LATCH_MAGIC, so a packet sent to the wrong port is refused at
 * once) and a body holding only what is used: the positions of `logs`
 * logs, `n` entries, `len` snapshot bytes, each key trimmed to its length.
 * Every integer is big-endian. Every length is checked before it is read,
 * and decoding answers a verdict (RAFT_WIRE_VERDICT_LIST) that the caller
 * counts by reason.
 *
 * The codec is driven by field tables (raft_wire.c): one row per field,
 * naming its width and its offset in struct raft_msg, so a change of the
 * in-memory layout (the Raft core is being split) changes rows, not code.
 *
 * Pure: no clock, no system call, no global state. Any thread.
 */
#ifndef LATCH_CONTROL_RAFT_WIRE_H
#define LATCH_CONTROL_RAFT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "control/raft/raft_msg.h"

/* "LR": latch Raft. The lock protocol uses 0x4c54 ("LT"). */
#define RAFT_WIRE_MAGIC 0x4c52
/* 2: SNAPSHOT in chunks, SNAPSHOT_REPLY. 3: a PULL names how far the
 * puller got in the source's snapshot, and SNAPSHOT has flags (PULLED:
 * a chunk answering a PULL) and the sender's incarnation. */
#define RAFT_WIRE_VERSION 3
/* magic 2, version 1, type 1, from 1, to 1, log 2, term 8, body_len 2,
 * reserved 2 (zero on send, ignored on receipt). */
#define RAFT_WIRE_HEADER_LEN 20
/* One position: term 8, index 8. */
#define RAFT_WIRE_POS_LEN 16
/* One entry without its key bytes: see raft_wire.c, entry_fields. */
#define RAFT_WIRE_ENTRY_FIXED_LEN 70
#define RAFT_WIRE_ENTRY_MAX_LEN   (RAFT_WIRE_ENTRY_FIXED_LEN + LATCH_KEY_MAX)
/* APPEND's and PULL_REPLY's fields before the entries. */
#define RAFT_WIRE_APPEND_FIXED_LEN 34
/* Largest body of each kind (the bounds of raft_msg.h). */
#define RAFT_WIRE_VOTE_MAX_LEN (4 + RAFT_LOGS_MAX * RAFT_WIRE_POS_LEN)
#define RAFT_WIRE_APPEND_MAX_LEN \
	(RAFT_WIRE_APPEND_FIXED_LEN + RAFT_BATCH_MAX * RAFT_WIRE_ENTRY_MAX_LEN)
/*
 * The entries' bytes of an APPEND whose UDP/IPv4 datagram fits an MTU of
 * @mtu bytes: a log's bytes_max (plog.h) for that path.
 */
#define RAFT_WIRE_APPEND_ENTRIES_IN(mtu) \
	((mtu)-20 - 8 - RAFT_WIRE_HEADER_LEN - RAFT_WIRE_APPEND_FIXED_LEN)
/* A SNAPSHOT chunk without its data: see raft_wire.c, snapshot_rows. */
#define RAFT_WIRE_SNAPSHOT_FIXED_LEN 36
/* A PULL's body: see raft_wire.c, pull_rows. */
#define RAFT_WIRE_PULL_LEN 52
#define RAFT_WIRE_SNAPSHOT_MAX_LEN \
	(RAFT_WIRE_SNAPSHOT_FIXED_LEN + RAFT_SNAPSHOT_MAX)
#define RAFT_WIRE_MAX3(a, b, c) \
	((a) > (b) ? ((a) > (c) ? (a) : (c)) : ((b) > (c) ? (b) : (c)))
/* Largest datagram: a receive buffer of this size never truncates. */
#define RAFT_WIRE_MAX_LEN                                                \
	(RAFT_WIRE_HEADER_LEN + RAFT_WIRE_MAX3(RAFT_WIRE_VOTE_MAX_LEN,   \
					       RAFT_WIRE_APPEND_MAX_LEN, \
					       RAFT_WIRE_SNAPSHOT_MAX_LEN))

/*
 * Not a Raft message: the shells' liveness beacon (docs/protocol.md). Each
 * latch-control sends one to every peer every heartbeat_ms, so a node
 * knows which peers are up even when the Raft core is silent (a follower
 * sends nothing). Header only; decoded like the others, never given to
 * the core. Above every raft_msg_type.
 */
#define RAFT_WIRE_TYPE_PING 0x40

/* body_len is 16 bits; every message also fits one UDP datagram. */
_Static_assert(RAFT_WIRE_MAX_LEN <= UINT16_MAX, "body_len fits 16 bits");

/*
 * Why a datagram was refused. One list makes the enum, the names (for
 * counters and /metrics) and the tests' expectations.
 */
#define RAFT_WIRE_VERDICT_LIST(X)                                        \
	X(OK, "ok")                                                      \
	X(SHORT_HEADER, "short_header") /* < RAFT_WIRE_HEADER_LEN */     \
	X(BAD_MAGIC, "bad_magic")                                        \
	X(BAD_VERSION, "bad_version")                                    \
	X(BAD_TYPE, "bad_type")                                          \
	X(BAD_NODE, "bad_node")     /* from/to >= RAFT_NODES_MAX */      \
	X(BAD_LOG, "bad_log")       /* log >= RAFT_LOGS_MAX */           \
	X(BAD_LENGTH, "bad_length") /* body_len != bytes after header */ \
	X(TRUNCATED, "truncated")   /* body ends inside a field */       \
	X(TRAILING, "trailing")     /* bytes left after the body */      \
	X(BAD_COUNT, "bad_count")   /* logs, n or len above bound */     \
	X(BAD_KEY, "bad_key")       /* key length above LATCH_KEY_MAX */

enum raft_wire_verdict {
#define RAFT_WIRE_ENUM(name, text) RAFT_WIRE_V_##name,
	RAFT_WIRE_VERDICT_LIST(RAFT_WIRE_ENUM)
#undef RAFT_WIRE_ENUM
		RAFT_WIRE_V_MAX,
};

/* Names of the verdicts, indexed by enum raft_wire_verdict. */
extern const char *const raft_wire_verdict_names[RAFT_WIRE_V_MAX];

/*
 * Encode @m into @buf (@cap bytes). Returns the datagram's length, or
 * -EINVAL if @m breaks a bound (type, node, log, a count, a key length:
 * a programmer error in the caller, reported rather than sent), or
 * -ENOSPC if @cap is too small (RAFT_WIRE_MAX_LEN always suffices).
 */
int raft_wire_encode(const struct raft_msg *m, uint8_t *buf, size_t cap);

/*
 * Decode the datagram @buf of @len bytes into @out, which is zeroed first
 * (unused entries and padding read as zero). Returns RAFT_WIRE_V_OK or
 * the reason for refusing it; on refusal @out holds nothing useful.
 */
enum raft_wire_verdict raft_wire_decode(const uint8_t *buf, size_t len,
					struct raft_msg *out);

/*
 * One log entry alone, as APPEND carries it (the meta log's file,
 * control/store.c, stores entries in the same form). Encode returns the
 * length written or -EINVAL / -ENOSPC; decode returns the length read,
 * or -EINVAL (bad key length) / -EMSGSIZE (@len ends inside the entry).
 */
/* Bytes raft_wire_entry_encode() writes for @e. */
static inline size_t
raft_wire_entry_len(const struct lock_entry *e)
{
	return RAFT_WIRE_ENTRY_FIXED_LEN + e->key.len;
}

int raft_wire_entry_encode(const struct lock_entry *e, uint8_t *buf,
			   size_t cap);
int raft_wire_entry_decode(const uint8_t *buf, size_t len,
			   struct lock_entry *out);

#endif /* LATCH_CONTROL_RAFT_WIRE_H */
