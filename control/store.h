/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's durable state (docs/raft.md, "the diskless rule";
 * docs/operations.md, "latch-control"), in one directory:
 *
 * - `state`: term, vote and caught_up_incarnation in a checksummed
 *   record with a sequence number, in two 4 KiB slots. A save
 *   overwrites the slot that does not hold the newest record and
 *   fdatasyncs (one flush: an election persists three times on its
 *   critical path), so a crash leaves the newest durable record intact
 *   whatever it tore; at open the valid slot with the higher sequence
 *   wins. The file is made whole at creation (temp file, fsync, rename,
 *   fsync of the directory), as a version 1 file (one 36-byte record,
 *   replaced whole by each save) is rewritten; a `state.tmp` found at
 *   open is a crash before such a rename: ignored and removed.
 * - `meta.log`: the meta log, append-only, one fixed-size record per
 *   entry (STORE_RECORD_LEN bytes: magic, index, length, the entry in
 *   raft_wire's encoding, CRC-32C), followed by zeros: the file grows
 *   256 records of zeros at a time, so an append overwrites blocks it
 *   has and store_sync() is one fdatasync, no journal commit (the new
 *   leader's no-op is on every failover's critical path). At open, a
 *   record that is short, has a bad checksum or an index out of sequence
 *   ends the log; if anything but zeros follows, it and the rest are a
 *   torn write and are cut off (ftruncate + fsync).
 * - `starts`: how many times latch-control started here (the control
 *   half's ctl_incarnation), replaced whole like `state`.
 *
 * Order (DESIGN.md, "the control plane"): what a Raft step asks to persist
 * is written with store_save_state() / store_meta_append() /
 * store_meta_truncate_from(), then made durable with store_sync(), before
 * the dataplane is told and before any message of that step leaves.
 *
 * Thread safety: none; the loop's thread only. Files are opened and
 * read at start-up; later calls write and fsync (the control plane is an
 * ordinary process: blocking disk I/O is its normal cost).
 */
#ifndef LATCH_CONTROL_STORE_H
#define LATCH_CONTROL_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/raft_wire.h"

/* Record of meta.log: magic 4, index 8, length 2, reserved 2, payload,
 * CRC-32C 4. The payload has room for the largest encoded entry. */
#define STORE_PAYLOAD_MAX RAFT_WIRE_ENTRY_MAX_LEN
#define STORE_RECORD_LEN  (16 + STORE_PAYLOAD_MAX + 4)
/* "LTML" and "LTCS": latch meta log, latch control state. */
#define STORE_META_MAGIC  0x4c544d4cu
#define STORE_STATE_MAGIC 0x4c544353u
/* No vote: raft_msg.h's RAFT_NONE. */
#define STORE_VOTE_NONE RAFT_NONE

struct store_state {
	uint64_t term;
	uint32_t voted_for; /* node id, or STORE_VOTE_NONE */
	uint64_t caught_up_incarnation;
};

/* What store_open() found, for the log and operators. */
struct store_report {
	bool state_found;     /* false: a fresh node (term 0, no vote) */
	bool tmp_removed;     /* a state.tmp of a crash was ignored */
	bool torn_state_slot; /* a save a crash cut short was ignored */
	uint64_t torn_bytes;  /* bytes cut off the end of meta.log */
};

struct store;

/*
 * Open (creating if needed) the store in @dir, load the state and check
 * the meta log, cutting a torn tail. Returns NULL and errno: EIO if the
 * state record is corrupt (never silently reset: a node that forgot its
 * vote could vote twice), or the errno of the failing call.
 */
struct store *store_open(const char *dir, struct store_report *report);
void store_close(struct store *st);

/* The state as loaded or last saved. */
const struct store_state *store_state(const struct store *st);

/* Save the state durably (the other slot, fdatasync). 0 or -errno; on
 * error the state in force is the one before. */
int store_save_state(struct store *st, const struct store_state *s);

/* Meta log bounds: first and last index held; both 0 when empty. */
uint64_t store_meta_first(const struct store *st);
uint64_t store_meta_last(const struct store *st);

/*
 * Append @e at @index, which must be last + 1 (or any index > 0 on an
 * empty log: the log may start after a snapshot). Written, not fsynced:
 * call store_sync(). 0, -EINVAL (index out of sequence, entry too big)
 * or -errno.
 */
int store_meta_append(struct store *st, uint64_t index,
		      const struct lock_entry *e);

/*
 * Remove entries @index and after (Raft's conflict truncation, §5.3).
 * Does nothing past the end. 0 or -errno. Call store_sync() after.
 */
int store_meta_truncate_from(struct store *st, uint64_t index);

/* Read entry @index. 0, -ENOENT (not held), -EIO (checksum) or -errno. */
int store_meta_read(struct store *st, uint64_t index, struct lock_entry *out);

/*
 * Count this start of latch-control: read the `starts` file, add one,
 * write it back durably (temp, fsync, rename, fsync dir) and answer the
 * new count in @count (1 on the first start). The control half's
 * ctl_incarnation (raft.h) must grow with every start, across crashes:
 * a count written before it is used guarantees that. Start-up only.
 * 0, -EIO (corrupt file: never reset, an old incarnation could come
 * back) or -errno.
 */
int store_start_count(struct store *st, uint64_t *count);

/* fsync the meta log. 0 or -errno. */
int store_sync(struct store *st);

#endif /* LATCH_CONTROL_STORE_H */
