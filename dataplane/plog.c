/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The partition log and its AppendEntries step (dataplane/plog.h).
 *
 * Citations are to the Raft paper (Ongaro and Ousterhout, "In Search of an
 * Understandable Consensus Algorithm", 2014) unless "dissertation" is said
 * (Ongaro, "Consensus: Bridging Theory and Practice", 2014).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft_wire.h"
#include "dataplane/plog.h"

/* Mark @index and everything after it as changed (for checkers). */
static void
plog_touch(struct plog *pl, uint64_t index)
{
	if (index < pl->mod_lo)
		pl->mod_lo = index;
}

/* Forget a snapshot being received (its buffer is about to be reused). */
static void
plog_rx_forget(struct plog *pl)
{
	pl->rx_from = RAFT_NONE;
	pl->rx_source = 0;
	pl->rx_index = 0;
	pl->rx_term = 0;
	pl->rx_total = 0;
	pl->rx_have = 0;
}

/* The validation of a config; see plog_create(). */
int
plog_config_check(const struct plog_config *cfg)
{
	if (cfg->entries_max < 4 || (cfg->entries_max & (cfg->entries_max - 1)))
		return -EINVAL;
	if (cfg->batch_max == 0 || cfg->batch_max > RAFT_BATCH_MAX)
		return -EINVAL;
	if (cfg->bytes_max != 0 && cfg->bytes_max < RAFT_WIRE_ENTRY_MAX_LEN)
		return -EINVAL;
	if (cfg->inflight_max == 0)
		return -EINVAL;
	if (cfg->snapshot_max == 0 || cfg->snapshot_max > PLOG_SNAPSHOT_LIMIT)
		return -EINVAL;
	if (cfg->chunk_max > RAFT_SNAPSHOT_MAX)
		return -EINVAL;
	return 0;
}

/*
 * Allocate a log: the ring and the two snapshot buffers (the snapshot held
 * and the one being received or saved). Start-up only (the one allocation
 * this module makes).
 */
struct plog *
plog_create(const struct plog_config *cfg, const struct plog_ops *ops,
	    void *ctx)
{
	struct plog *pl;

	if (plog_config_check(cfg) != 0) {
		errno = EINVAL;
		return NULL;
	}
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return NULL;
	pl->ring = calloc(cfg->entries_max, sizeof(*pl->ring));
	if (pl->ring == NULL)
		goto free_pl;
	pl->snap_buf = calloc(1, cfg->snapshot_max);
	if (pl->snap_buf == NULL)
		goto free_ring;
	pl->rx_buf = calloc(1, cfg->snapshot_max);
	if (pl->rx_buf == NULL)
		goto free_snap;
	pl->cfg = *cfg;
	if (pl->cfg.chunk_max == 0)
		pl->cfg.chunk_max = cfg->snapshot_max < RAFT_SNAPSHOT_MAX
					    ? cfg->snapshot_max
					    : RAFT_SNAPSHOT_MAX;
	pl->ops = *ops;
	pl->ctx = ctx;
	pl->mask = cfg->entries_max - 1;
	plog_reset(pl);
	return pl;

free_snap:
	free(pl->snap_buf);
free_ring:
	free(pl->ring);
free_pl:
	free(pl);
	errno = ENOMEM;
	return NULL;
}

void
plog_destroy(struct plog *pl)
{
	if (pl == NULL)
		return;
	free(pl->rx_buf);
	free(pl->snap_buf);
	free(pl->ring);
	free(pl);
}

/*
 * Forget every entry and the snapshot: the dataplane restarted and its
 * memory is gone (DESIGN.md, "a dataplane restart loses that node's
 * in-memory logs"). The apply layer resets its own state alongside.
 */
void
plog_reset(struct plog *pl)
{
	unsigned i;

	pl->snap_index = 0;
	pl->snap_term = 0;
	pl->base = 0;
	pl->base_term = 0;
	pl->last = 0;
	pl->commit = 0;
	pl->applied = 0;
	pl->term_start = 0;
	pl->snap_len = 0;
	plog_rx_forget(pl);
	pl->mod_lo = 1;
	for (i = 0; i < RAFT_NODES_MAX; i++)
		memset(&pl->peers[i], 0, sizeof(pl->peers[i]));
}

bool
plog_term_at(const struct plog *pl, uint64_t index, uint64_t *term)
{
	if (index == 0) {
		*term = 0;
		return true;
	}
	if (index == pl->snap_index) {
		*term = pl->snap_term;
		return true;
	}
	if (index == pl->base) {
		*term = pl->base_term;
		return true;
	}
	if (index < pl->base || index > pl->last)
		return false;
	*term = pl->ring[index & pl->mask].term;
	return true;
}

const struct lock_entry *
plog_entry(const struct plog *pl, uint64_t index)
{
	if (index <= pl->base || index > pl->last)
		return NULL;
	return &pl->ring[index & pl->mask];
}

struct raft_pos
plog_last_pos(const struct plog *pl)
{
	struct raft_pos pos = {.term = 0, .index = pl->last};

	LATCH_ASSERT(plog_term_at(pl, pl->last, &pos.term));
	return pos;
}

/*
 * §5.4.1: a log ending at @pos is at least as up to date as this one if
 * its last term is higher, or equal with an index at least as high.
 */
bool
plog_is_up_to_date(const struct plog *pl, struct raft_pos pos)
{
	struct raft_pos mine = plog_last_pos(pl);

	return pos.term > mine.term ||
	       (pos.term == mine.term && pos.index >= mine.index);
}

/*
 * Apply committed entries in order (Figure 2, "Rules for Servers": if
 * commitIndex > lastApplied, apply log[lastApplied]). Any role.
 */
void
plog_apply(struct plog *pl)
{
	const struct lock_entry *batch[PLOG_APPLY_BATCH];

	while (pl->applied < pl->commit) {
		uint64_t left = pl->commit - pl->applied;
		unsigned n = left < PLOG_APPLY_BATCH ? (unsigned)left
						     : PLOG_APPLY_BATCH;
		unsigned i;

		for (i = 0; i < n; i++) {
			batch[i] = plog_entry(pl, pl->applied + 1 + i);
			LATCH_ASSERT(batch[i] != NULL);
		}
		if (pl->ops.prefetch != NULL)
			pl->ops.prefetch(pl->ctx, batch, n);
		for (i = 0; i < n; i++) {
			pl->applied++;
			pl->ops.apply(pl->ctx, pl->applied, batch[i]);
		}
	}
}

/* Exchange the snapshot buffer with the receive buffer. */
static void
plog_swap_buffers(struct plog *pl)
{
	uint8_t *b = pl->snap_buf;

	pl->snap_buf = pl->rx_buf;
	pl->rx_buf = b;
}

/*
 * Compact the ring up to the last applied entry (§7): the apply layer
 * writes its state into the spare buffer, which becomes the snapshot, then
 * the entries are dropped. If the state does not fit (save returns more
 * than snapshot_max) nothing changes and -ENOSPC is returned: entries are
 * never dropped without a complete snapshot of the state they produced,
 * or a follower caught up by it would install a table that forgot them.
 * A snapshot being received is abandoned (its buffer is reused); its
 * sender starts it over.
 */
static int
plog_compact(struct plog *pl)
{
	uint64_t term;
	uint32_t len;

	LATCH_ASSERT(pl->applied > pl->snap_index);
	LATCH_ASSERT(plog_term_at(pl, pl->applied, &term));
	plog_rx_forget(pl);
	len = pl->ops.save(pl->ctx, pl->rx_buf, pl->cfg.snapshot_max);
	if (len > pl->cfg.snapshot_max) {
		pl->save_failed++;
		return -ENOSPC;
	}
	plog_swap_buffers(pl);
	pl->snap_len = len;
	pl->snap_index = pl->applied;
	pl->snap_term = term;
	return 0;
}

/* Drop the entries up to @index (base < index <= snap_index). */
static void
plog_drop_through(struct plog *pl, uint64_t index)
{
	LATCH_ASSERT(index > pl->base && index <= pl->snap_index);
	LATCH_ASSERT(plog_term_at(pl, index, &pl->base_term));
	pl->base = index;
}

/*
 * Make room for one entry with at most @limit entries in the ring after
 * it; -ENOSPC if the ring holds only unapplied ones (docs/raft.md, "ring
 * sizing"). A leader accepts proposals only while half the ring is free,
 * so its uncommitted tail stays short and followers learn of commits
 * before their ring fills. A follower may hold as much as a new leader's
 * log with its no-op (entries_max - 1), so it can always store what the
 * leader has once it applied what the leader committed; one slot stays
 * free.
 *
 * When the ring is at @limit, the oldest eighth of it is dropped, and a
 * snapshot is saved (at the applied index) only if that reaches past the
 * one held. So the entries before the snapshot stay until their slots are
 * needed, and a follower behind the leader's last compaction, by less
 * than most of the ring, is sent entries: with the ring dropped to the
 * applied index at each save, the slower follower of a busy 3-node lab
 * was behind at every one, and spent its time installing 2.7 MB
 * snapshots instead of applying entries.
 */
static int
plog_make_room(struct plog *pl, uint64_t limit)
{
	uint64_t want;

	if (pl->last - pl->base < limit)
		return 0;
	want = pl->last - limit + 1 + limit / 8;
	/* A failed save keeps the snapshot held: the drop stops there. */
	if (want > pl->snap_index && pl->applied > pl->snap_index)
		(void)plog_compact(pl);
	if (want > pl->snap_index)
		want = pl->snap_index;
	if (want > pl->base)
		plog_drop_through(pl, want);
	return pl->last - pl->base < limit ? 0 : -ENOSPC;
}

#define PLOG_LIMIT_PROPOSE(pl) ((pl)->cfg.entries_max / 2)
#define PLOG_LIMIT_FOLLOW(pl)  ((pl)->cfg.entries_max - 1)
#define PLOG_LIMIT_NOOP(pl)    ((pl)->cfg.entries_max - 1)

/* Drop entries after @index (conflict truncation, §5.3). */
static void
plog_truncate(struct plog *pl, uint64_t index)
{
	LATCH_ASSERT(index >= pl->commit);
	LATCH_ASSERT(index < pl->last);
	pl->last = index;
	plog_touch(pl, index + 1);
}

static void
plog_put(struct plog *pl, const struct lock_entry *e)
{
	pl->last++;
	pl->ring[pl->last & pl->mask] = *e;
	plog_touch(pl, pl->last);
}

/*
 * Leader: append a proposed entry (§5.3, "the leader appends the command
 * to its log as a new entry"). The caller set e->term to its term.
 */
int64_t
plog_append(struct plog *pl, const struct lock_entry *e)
{
	if (plog_make_room(pl, PLOG_LIMIT_PROPOSE(pl)) != 0)
		return -ENOSPC;
	plog_put(pl, e);
	return (int64_t)pl->last;
}

/* New leader: append its no-op (§5.4.2, §8); may take the last slot. */
int64_t
plog_append_noop(struct plog *pl, const struct lock_entry *e)
{
	if (plog_make_room(pl, PLOG_LIMIT_NOOP(pl)) != 0)
		return -ENOSPC;
	plog_put(pl, e);
	return (int64_t)pl->last;
}

/*
 * Follower: AppendEntries receiver implementation (Figure 2, steps 2-5).
 * Reply false if the log has no entry at prev_index whose term matches
 * prev_term, with a hint that skips the whole conflicting term (§5.3,
 * the optimisation at the end). An existing entry that conflicts with a
 * new one (same index, different term) is deleted with all that follow;
 * entries already present are kept, so a duplicated or reordered APPEND
 * never truncates. Commit becomes min(leaderCommit, last new entry).
 * When the ring is full of unapplied entries only a prefix is taken and
 * the reply says so; the leader resends the rest.
 */
bool
plog_follower_append(struct plog *pl, const struct raft_msg_append *a,
		     uint64_t *index)
{
	uint64_t prev = a->prev_index, matched, term, commit;
	uint32_t k;

	if (prev > pl->last) {
		*index = pl->last;
		return false;
	}
	if (prev >= pl->snap_index) {
		LATCH_ASSERT(plog_term_at(pl, prev, &term));
		if (term != a->prev_term) {
			uint64_t i = prev;
			uint64_t t;

			LATCH_ASSERT(prev > pl->commit);
			while (i - 1 > pl->snap_index && i - 1 > pl->commit &&
			       plog_term_at(pl, i - 1, &t) && t == term)
				i--;
			*index = i - 1;
			return false;
		}
	}
	/* Below the snapshot everything is committed and so matches. */
	matched = prev;
	for (k = 0; k < a->n && k < RAFT_BATCH_MAX; k++) {
		uint64_t idx = prev + 1 + k;
		const struct lock_entry *e = &a->entries[k];

		if (idx <= pl->snap_index) {
			matched = idx;
			continue;
		}
		if (idx <= pl->last) {
			LATCH_ASSERT(plog_term_at(pl, idx, &term));
			if (term == e->term) {
				matched = idx;
				continue;
			}
			plog_truncate(pl, idx - 1);
		}
		if (plog_make_room(pl, PLOG_LIMIT_FOLLOW(pl)) != 0)
			break;
		plog_put(pl, e);
		matched = idx;
	}
	*index = matched;
	commit = a->commit < matched ? a->commit : matched;
	if (commit > pl->commit) {
		pl->commit = commit;
		plog_apply(pl);
	}
	return true;
}

/*
 * Follower: InstallSnapshot receiver (Figure 13, steps 6-8) once the whole
 * snapshot (@len bytes) is in snap_buf. If the log holds the snapshot's
 * last entry (same index and term), the entries after it are kept;
 * otherwise the whole log is replaced. The apply layer loads the state.
 */
static uint64_t
plog_snapshot_take(struct plog *pl, uint64_t index, uint64_t term, uint32_t len)
{
	uint64_t t;

	LATCH_ASSERT(index > pl->commit);
	LATCH_ASSERT(len <= pl->cfg.snapshot_max);
	if (!(plog_term_at(pl, index, &t) && t == term))
		pl->last = index;
	pl->snap_index = index;
	pl->snap_term = term;
	pl->base = index;
	pl->base_term = term;
	pl->commit = index;
	pl->applied = index;
	pl->snap_len = len;
	pl->ops.load(pl->ctx, pl->snap_buf, len);
	plog_touch(pl, index + 1);
	return index;
}

/*
 * Follower: a whole snapshot in one message (Figure 13 without chunks;
 * the meta log's, whose state is a few bytes). A snapshot at or below
 * commit changes nothing.
 */
uint64_t
plog_install_snapshot(struct plog *pl, uint64_t index, uint64_t term,
		      const uint8_t *data, uint32_t len)
{
	if (index <= pl->commit)
		return index;
	LATCH_ASSERT(len <= pl->cfg.snapshot_max);
	plog_rx_forget(pl);
	memcpy(pl->snap_buf, data, len);
	return plog_snapshot_take(pl, index, term, len);
}

/*
 * One chunk of a snapshot (Figure 13 with offset and done; docs/raft.md,
 * "Snapshots in chunks"), from a leader (@from RAFT_NONE, @source its
 * term) or answering a pull (@from the source node, @source its
 * incarnation). Chunks of one snapshot (from, source, index, term) are
 * taken in order into rx_buf: a chunk that starts where the bytes held
 * end is appended, a duplicate or one after a gap is ignored (the sender
 * resends from what the answer says is held). The first chunk of another
 * snapshot starts it over; a later chunk of another snapshot is ignored.
 * When the last byte arrives the buffers swap and the snapshot is
 * installed. A snapshot at or below commit changes nothing and is
 * answered as installed: a log never goes back to an older snapshot. A
 * chunk that breaks the bounds (total above snapshot_max, or inconsistent
 * with the snapshot being received) is input error: PLOG_CHUNK_BAD,
 * nothing changes.
 */
static enum plog_chunk
plog_chunk_take(struct plog *pl, const struct raft_msg_snapshot *s,
		uint8_t from, uint64_t source, uint64_t *index, uint32_t *have)
{
	bool same = s->index == pl->rx_index && s->term == pl->rx_term &&
		    from == pl->rx_from && source == pl->rx_source &&
		    pl->rx_index != 0;

	*index = s->index;
	*have = 0;
	if (s->len > RAFT_SNAPSHOT_MAX || s->offset > s->total ||
	    s->len > s->total - s->offset ||
	    (s->done != 0) != (s->offset + s->len == s->total) ||
	    s->total > pl->cfg.snapshot_max || s->index == 0)
		return PLOG_CHUNK_BAD;
	if (s->index <= pl->commit)
		return PLOG_CHUNK_DONE;
	if (same && s->total != pl->rx_total)
		return PLOG_CHUNK_BAD;
	if (!same) {
		if (s->offset != 0)
			return PLOG_CHUNK_MORE; /* holds none of it */
		pl->rx_from = from;
		pl->rx_source = source;
		pl->rx_index = s->index;
		pl->rx_term = s->term;
		pl->rx_total = s->total;
		pl->rx_have = 0;
	}
	if (s->offset == pl->rx_have) {
		memcpy(pl->rx_buf + s->offset, s->data, s->len);
		pl->rx_have += s->len;
	}
	*have = pl->rx_have;
	if (pl->rx_have < pl->rx_total)
		return PLOG_CHUNK_MORE;
	plog_swap_buffers(pl);
	plog_rx_forget(pl);
	plog_snapshot_take(pl, s->index, s->term, s->total);
	return PLOG_CHUNK_DONE;
}

/*
 * Follower: a leader's chunk. @source is the leader's term: one leader
 * per term, and its snapshot of an index never changes.
 */
enum plog_chunk
plog_install_chunk(struct plog *pl, const struct raft_msg_snapshot *s,
		   uint64_t source, uint64_t *index, uint32_t *have)
{
	return plog_chunk_take(pl, s, RAFT_NONE, source, index, have);
}

/*
 * Puller: a chunk of node @from's snapshot (docs/raft.md, "Pulling a
 * snapshot"). Its bytes are named by @from and its dataplane incarnation:
 * within one incarnation a node's snapshot index only grows (compaction
 * past it, or installing one above commit), so (from, incarnation,
 * index) names one byte string; a restarted node may hold other bytes
 * of the same index. Installing is safe because the source's snapshot
 * holds only committed state (see plog_pull_snapshot_fill()).
 */
enum plog_chunk
plog_pull_chunk(struct plog *pl, const struct raft_msg_snapshot *s,
		uint8_t from, uint64_t *index, uint32_t *have)
{
	LATCH_ASSERT(from < RAFT_NODES_MAX);
	return plog_chunk_take(pl, s, from, s->incarnation, index, have);
}

/* Puller: how far it got in @from's snapshot, for its next PULL. */
void
plog_pull_progress(const struct plog *pl, uint8_t from,
		   struct raft_msg_pull *req)
{
	req->snap.index = 0;
	req->snap.term = 0;
	req->snap_incarnation = 0;
	req->snap_have = 0;
	req->pad = 0;
	if (pl->rx_index == 0 || pl->rx_from != from)
		return;
	req->snap.index = pl->rx_index;
	req->snap.term = pl->rx_term;
	req->snap_incarnation = pl->rx_source;
	req->snap_have = pl->rx_have;
}

/*
 * How many of the @avail entries from @from go in one APPEND or
 * PULL_REPLY: at most batch_max, and as many as bytes_max holds encoded
 * (at least one). With keys of 16 bytes a 1500-byte frame holds 16
 * entries, twice what a fixed worst-case count allowed.
 */
static uint64_t
plog_batch(const struct plog *pl, uint64_t from, uint64_t avail)
{
	uint64_t n = avail < pl->cfg.batch_max ? avail : pl->cfg.batch_max;
	uint64_t k, bytes = 0;

	if (pl->cfg.bytes_max == 0)
		return n;
	for (k = 0; k < n; k++) {
		bytes += raft_wire_entry_len(&pl->ring[(from + k) & pl->mask]);
		if (bytes > pl->cfg.bytes_max)
			return k > 0 ? k : 1;
	}
	return n;
}

/*
 * Source of a PULL (docs/raft.md, "pull"): send the entries after the
 * puller's last entry if it matches ours, else after its commit index
 * (committed entries match everywhere, §5.4.3), with our commit index.
 * A puller that already holds our whole log but knows a lower commit
 * index gets an empty reply: without it, a node that pulled a tail could
 * keep a ring full of entries it does not know are committed, and could
 * not append its no-op once elected (docs/raft.md, "ring sizing").
 * A puller whose entries were compacted here gets nothing from this
 * function: it is sent the snapshot (plog_pull_snapshot_fill()).
 */
bool
plog_pull_fill(const struct plog *pl, struct raft_pos last, uint64_t commit,
	       struct raft_msg_append *out)
{
	uint64_t start, t, n, i;

	if (last.index >= pl->snap_index && plog_term_at(pl, last.index, &t) &&
	    t == last.term)
		start = last.index;
	else if (commit >= pl->snap_index && commit <= pl->last)
		start = commit;
	else
		return false; /* a snapshot, or nothing: see
			       * plog_pull_needs_snapshot() */
	n = plog_batch(pl, start + 1, pl->last - start);
	if (n == 0 && pl->commit <= commit)
		return false;
	LATCH_ASSERT(plog_term_at(pl, start, &t));
	out->prev_index = start;
	out->prev_term = t;
	/* PULL_REPLY: commit carries the source's last term. */
	LATCH_ASSERT(plog_term_at(pl, pl->last, &out->commit));
	out->source_commit = pl->commit;
	out->n = (uint32_t)n;
	for (i = 0; i < n; i++)
		out->entries[i] = pl->ring[(start + 1 + i) & pl->mask];
	return true;
}

/*
 * Source of a PULL: the puller needs our snapshot when it cannot be sent
 * entries (its last entry is not one we hold at or after our snapshot,
 * and its commit index is below our snapshot, so the entries after what
 * it knows matches were compacted here; see plog_pull_fill()).
 */
bool
plog_pull_needs_snapshot(const struct plog *pl, struct raft_pos last,
			 uint64_t commit)
{
	uint64_t t;

	if (last.index >= pl->snap_index && plog_term_at(pl, last.index, &t) &&
	    t == last.term)
		return false;
	return commit < pl->snap_index;
}

/*
 * Source of a PULL whose puller needs our snapshot (docs/raft.md,
 * "Pulling a snapshot"): chunk @k of up to @window chunks, resuming where
 * the puller's bytes of this very snapshot end (same index, term and
 * incarnation: the bytes it holds are ours), else from the first byte,
 * so a snapshot changed by a compaction here, or a puller that started
 * over, restarts cleanly. The last chunk of the window, unless it ends
 * the snapshot, asks the puller for the next ones (RAFT_SNAPSHOT_F_ASK).
 * The snapshot holds committed state only: it was saved at the applied
 * index (at most commit), or installed from a leader or a pull, each
 * committed.
 */
bool
plog_pull_snapshot_fill(const struct plog *pl, const struct raft_msg_pull *req,
			uint64_t incarnation, uint32_t k, uint32_t window,
			struct raft_msg_snapshot *out)
{
	uint32_t c = pl->cfg.chunk_max;
	uint64_t off = 0;

	LATCH_ASSERT(k < window);
	if (pl->snap_index == 0)
		return false;
	if (req->snap.index == pl->snap_index &&
	    req->snap.term == pl->snap_term &&
	    req->snap_incarnation == incarnation &&
	    req->snap_have < pl->snap_len)
		off = req->snap_have;
	off += (uint64_t)k * c;
	if (off >= pl->snap_len && !(off == 0 && pl->snap_len == 0))
		return false;
	out->index = pl->snap_index;
	out->term = pl->snap_term;
	out->offset = (uint32_t)off;
	out->total = pl->snap_len;
	out->len =
		pl->snap_len - out->offset < c ? pl->snap_len - out->offset : c;
	out->done = out->offset + out->len == pl->snap_len;
	out->flags = RAFT_SNAPSHOT_F_PULLED;
	if (k + 1 == window && !out->done)
		out->flags |= RAFT_SNAPSHOT_F_ASK;
	out->pad[0] = 0;
	out->pad[1] = 0;
	out->incarnation = incarnation;
	memcpy(out->data, pl->snap_buf + out->offset, out->len);
	return true;
}

/*
 * Puller: commit through @index, an index up to which our log equals the
 * source's and which the source knows committed. Safe: the source's
 * entries through its commit index are committed (§5.4.3: they are in
 * every later leader's log and never change), and ours equal them.
 */
static void
plog_pull_commit(struct plog *pl, uint64_t index)
{
	if (index > pl->commit) {
		pl->commit = index;
		plog_apply(pl);
	}
}

/*
 * Puller: take a more up-to-date peer's entries. An entry of ours is
 * replaced only by one of a higher term at the same index: an entry
 * (i, t) is never committed once some log holds (i, t') with t' > t,
 * because every leader after t's holds all committed entries (§5.4.3).
 * Moreover, when the source's last term S is above our last term, any
 * entry of ours that differs from the source's is replaced: a committed
 * entry (i, t) with t < S is held by the leader of term S from its
 * election on (its entries of term S follow it), so every log ending in
 * term S holds it, and what differs is never committed.
 * Entries are only extended or repaired, never dropped for nothing, and
 * no ack is sent for them, so no leader counts them.
 * What we now share with the source up to its commit index (source_commit)
 * is committed here too, so pulling never leaves the ring full of entries
 * this node merely does not know to be committed. Inside the loop only
 * entries we held before this call are committed (and so may be
 * compacted to make room): the control plane persists the meta log's new
 * entries after this step and expects what is compacted to be on disk.
 */
uint32_t
plog_pull_apply(struct plog *pl, const struct raft_msg_append *a,
		uint64_t *matched)
{
	uint64_t prev = a->prev_index, t, same, held;
	uint64_t known = a->source_commit;
	uint32_t k, taken = 0;
	bool newer = a->commit > plog_last_pos(pl).term;

	*matched = 0;

	/* The source's log must match ours at prev, and through our commit
	 * index: the PREVOTE_REPLY that made us pull may be stale, and a
	 * source behind our committed prefix has nothing for us. */
	if (prev > pl->last || prev < pl->snap_index)
		return 0;
	if (!(plog_term_at(pl, prev, &t) && t == a->prev_term))
		return 0;
	/* Log Matching (§5.3): equal at prev, equal up to prev. held: the
	 * last of those we held before this call. */
	same = held = prev;
	for (k = 0; k < a->n && k < RAFT_BATCH_MAX; k++) {
		uint64_t idx = prev + 1 + k;
		const struct lock_entry *e = &a->entries[k];

		if (idx <= pl->commit) {
			LATCH_ASSERT(plog_term_at(pl, idx, &t));
			if (t != e->term)
				return taken;
			*matched = same = held = idx;
			continue;
		}
		if (idx <= pl->last) {
			LATCH_ASSERT(plog_term_at(pl, idx, &t));
			if (t == e->term) {
				*matched = same = idx;
				if (taken == 0)
					held = idx;
				continue;
			}
			if (t > e->term && !newer)
				break;
			plog_truncate(pl, idx - 1);
		}
		plog_pull_commit(pl, held < known ? held : known);
		if (plog_make_room(pl, PLOG_LIMIT_FOLLOW(pl)) != 0)
			break;
		plog_put(pl, e);
		*matched = same = idx;
		taken++;
	}
	plog_pull_commit(pl, same < known ? same : known);
	return taken;
}

/*
 * Leader: on election, nextIndex of every follower is the leader's last
 * index + 1 and matchIndex 0 (Figure 2, "Volatile state on leaders").
 */
void
plog_leader_start(struct plog *pl)
{
	unsigned i;

	for (i = 0; i < RAFT_NODES_MAX; i++)
		plog_leader_reset_peer(pl, i);
}

/* Leader: a follower came back without its log (new incarnation). */
void
plog_leader_reset_peer(struct plog *pl, unsigned peer)
{
	struct plog_progress *p = &pl->peers[peer];

	p->next = pl->last + 1;
	p->match = 0;
	p->probe = p->next;
	p->heard = false;
	p->inflight = 0;
	p->snap_next = 0;
	p->snap_acked = 0;
	p->snap_index = 0;
}

/* Chunks of the snapshot held: an empty snapshot is one empty chunk. */
static uint32_t
plog_snap_chunks(const struct plog *pl)
{
	uint32_t c = pl->cfg.chunk_max;

	return pl->snap_len == 0 ? 1 : (pl->snap_len + c - 1) / c;
}

/*
 * Leader: fill @out with chunk @k of the snapshot held (§7: offset, data,
 * done). A chunk is chunk_max bytes, the last one what remains.
 */
static void
plog_snap_fill(const struct plog *pl, uint32_t k, struct raft_msg *out)
{
	struct raft_msg_snapshot *sn = &out->u.snapshot;
	uint32_t off = k * pl->cfg.chunk_max;

	LATCH_ASSERT(k < plog_snap_chunks(pl));
	out->type = RAFT_MSG_SNAPSHOT;
	sn->index = pl->snap_index;
	sn->term = pl->snap_term;
	sn->offset = off;
	sn->total = pl->snap_len;
	sn->len = pl->snap_len - off < pl->cfg.chunk_max ? pl->snap_len - off
							 : pl->cfg.chunk_max;
	sn->done = off + sn->len == pl->snap_len;
	sn->flags = 0;
	sn->pad[0] = 0;
	sn->pad[1] = 0;
	sn->incarnation = 0; /* the caller's to fill: plog does not know */
	memcpy(sn->data, pl->snap_buf + off, sn->len);
}

/*
 * Leader: the next message for @peer (§5.3 and dissertation §10.2.1):
 * a chunk of the snapshot if the entries it needs were compacted (§7),
 * up to inflight_max unanswered, restarting at the first chunk when the
 * snapshot changed, and on @heartbeat the oldest unanswered one again
 * if none is ready; else a batch
 * of up to batch_max entries from nextIndex, sent optimistically
 * (nextIndex advances at once) while fewer than inflight_max are
 * unanswered; else, if @heartbeat, an empty APPEND. A heartbeat sent
 * while a pipeline is full names matchIndex as prev, which the follower
 * is known to hold, so it cannot cause a spurious rejection.
 */
enum plog_send
plog_leader_send(struct plog *pl, unsigned peer, bool heartbeat,
		 struct raft_msg *out)
{
	struct plog_progress *p = &pl->peers[peer];
	struct raft_msg_append *a = &out->u.append;
	uint64_t n = 0, prev, i;

	LATCH_ASSERT(peer < RAFT_NODES_MAX);
	if (p->next <= pl->base) {
		uint32_t chunks = plog_snap_chunks(pl), k;

		if (p->snap_index != pl->snap_index) {
			p->snap_index = pl->snap_index;
			p->snap_next = 0;
			p->snap_acked = 0;
		}
		p->inflight = 0;
		if (p->snap_next < chunks &&
		    p->snap_next - p->snap_acked < pl->cfg.inflight_max) {
			k = p->snap_next++;
		} else if (heartbeat) {
			k = p->snap_acked < chunks ? p->snap_acked : chunks - 1;
		} else {
			return PLOG_SEND_NONE;
		}
		plog_snap_fill(pl, k, out);
		return PLOG_SEND_SNAPSHOT;
	}
	LATCH_ASSERT(p->next <= pl->last + 1);
	if (p->inflight < pl->cfg.inflight_max)
		n = plog_batch(pl, p->next, pl->last + 1 - p->next);
	if (n == 0 && !heartbeat)
		return PLOG_SEND_NONE;
	prev = p->next - 1;
	if (n == 0 && p->inflight > 0 && p->match >= pl->base)
		prev = p->match;
	out->type = RAFT_MSG_APPEND;
	a->prev_index = prev;
	LATCH_ASSERT(plog_term_at(pl, prev, &a->prev_term));
	a->commit = pl->commit;
	a->caught_up_incarnation = 0;
	a->n = (uint32_t)n;
	for (i = 0; i < n; i++)
		a->entries[i] = pl->ring[(prev + 1 + i) & pl->mask];
	if (n > 0) {
		p->next += n;
		p->inflight++;
	}
	return PLOG_SEND_APPEND;
}

/*
 * Leader: an APPEND_REPLY or SNAPSHOT reply (Figure 2, "Rules for
 * Servers, Leaders"): on success matchIndex and nextIndex move forward
 * (never back: replies may arrive out of order); on failure nextIndex
 * moves back to the hint and the pipeline restarts from there. A failure
 * whose hint is below matchIndex is stale and ignored.
 */
void
plog_leader_reply(struct plog *pl, unsigned peer, bool success, uint64_t index)
{
	struct plog_progress *p = &pl->peers[peer];

	LATCH_ASSERT(peer < RAFT_NODES_MAX);
	if (index > pl->last)
		return; /* not an answer to anything this leader sent */
	p->heard = true;
	if (success) {
		if (index > p->match)
			p->match = index;
		if (p->next < index + 1)
			p->next = index + 1;
		if (p->inflight > 0)
			p->inflight--;
		return;
	}
	if (index < p->match)
		return;
	p->next = index + 1;
	p->inflight = 0;
}

/*
 * Leader: a follower holds @have bytes of snapshot @index, not all of it
 * (chunked §7). The chunks it holds are acknowledged; an answer for
 * another snapshot than the one being sent is stale and ignored. An
 * answer below what was acknowledged means the follower started over
 * (it took the first chunk of an older snapshot that arrived late, or
 * compacted into its receive buffer): sending resumes from there, so a
 * transfer never waits on chunks the follower will not take.
 */
void
plog_leader_snapshot_reply(struct plog *pl, unsigned peer, uint64_t index,
			   uint32_t have)
{
	struct plog_progress *p = &pl->peers[peer];
	uint32_t k;

	LATCH_ASSERT(peer < RAFT_NODES_MAX);
	if (p->next > pl->base || index != pl->snap_index ||
	    index != p->snap_index || have > pl->snap_len)
		return;
	p->heard = true;
	k = have / pl->cfg.chunk_max;
	if (k < p->snap_acked)
		p->snap_next = k;
	p->snap_acked = k;
	if (p->snap_next < k)
		p->snap_next = k;
}

/*
 * Leader: assume what is unanswered was lost, and resend from match + 1
 * (or, during a snapshot transfer, from the first chunk not
 * acknowledged). Before any reply in this leadership, match says nothing
 * (it is 0): the probe is resent instead, not the whole log from index 1
 * (a new leader whose first APPEND found a follower not yet told of the
 * term resent ~150 entries, 8 at a time, before its first commit). A
 * follower that lacks more refuses the probe and says where to start.
 */
void
plog_leader_retransmit(struct plog *pl, unsigned peer)
{
	struct plog_progress *p = &pl->peers[peer];
	uint64_t from = p->heard ? p->match + 1 : p->probe;

	if (p->next > from) {
		p->next = from;
		p->inflight = 0;
	}
	p->snap_next = p->snap_acked;
}

/*
 * Leader: §5.3 and §5.4.2. The highest N > commitIndex such that a
 * majority of voters hold entry N and log[N].term == currentTerm becomes
 * the commit index; entries of earlier terms commit only with it
 * (Figure 8). Acks of followers not in @counted (amnesic: docs/raft.md,
 * "the diskless rule") do not count.
 *
 * The highest N a majority holds is the need-th largest of the voters'
 * match indexes (our own is last; one not counted holds nothing), found
 * directly rather than by trying every N down from last: with hundreds
 * of entries in flight that scan was 5 % of the 3-node lab's CPU. Terms
 * never decrease along the log, so if entry N is of an earlier term, so
 * is every entry below it, and nothing commits.
 */
bool
plog_leader_commit(struct plog *pl, uint64_t term, uint8_t voters,
		   uint8_t counted, unsigned self)
{
	unsigned need = (unsigned)__builtin_popcount(voters) / 2 + 1;
	uint64_t held[RAFT_NODES_MAX], n, t;
	unsigned count = 0, i, j;

	for (i = 0; i < RAFT_NODES_MAX; i++) {
		uint64_t m;

		if (!(voters & (1u << i)))
			continue;
		if (i == self)
			m = pl->last;
		else if (counted & (1u << i))
			m = pl->peers[i].match < pl->last ? pl->peers[i].match
							  : pl->last;
		else
			m = 0;
		/* Insertion into descending order: at most 8 voters. */
		for (j = count; j > 0 && held[j - 1] < m; j--)
			held[j] = held[j - 1];
		held[j] = m;
		count++;
	}
	if (count < need)
		return false;
	n = held[need - 1];
	if (n <= pl->commit)
		return false;
	LATCH_ASSERT(plog_term_at(pl, n, &t));
	if (t < term)
		return false;
	LATCH_ASSERT(t == term);
	pl->commit = n;
	plog_apply(pl);
	return true;
}
