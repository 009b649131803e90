/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the partition log step (dataplane/plog.c), in the style of
 * the Raft paper's figures: the consistency check and conflict truncation
 * (Figure 7), duplicated and reordered appends, the commit rule of §5.4.2
 * (Figure 8), pipelining with next/match index, and snapshots (§7): with
 * real lock tables, a state larger than the snapshot buffer is never
 * compacted away, and a state of many KB reaches a follower in chunks
 * through a network that drops, duplicates and reorders them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/key_index.h"
#include "control/raft_wire.h"
#include "dataplane/plog.h"

struct applied {
	unsigned n;
	uint64_t last;
	unsigned loads;
	unsigned saves;
};

static void
t_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct applied *a = ctx;

	(void)e;
	assert_int_equal(index, a->last + 1); /* in order, once */
	a->last = index;
	a->n++;
}

static uint32_t
t_save(void *ctx, uint8_t *buf, uint32_t max)
{
	struct applied *a = ctx;

	(void)max;
	a->saves++;
	buf[0] = 42;
	return 1;
}

static void
t_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct applied *a = ctx;

	assert_int_equal(len, 1);
	assert_int_equal(buf[0], 42);
	a->loads++;
}

static const struct plog_ops t_ops = {t_apply, t_save, t_load};

static struct plog *
t_log(struct applied *a, uint32_t entries)
{
	struct plog_config cfg = {.entries_max = entries,
				  .batch_max = 4,
				  .inflight_max = 2,
				  .snapshot_max = 16};
	struct plog *pl;

	memset(a, 0, sizeof(*a));
	pl = plog_create(&cfg, &t_ops, a);
	assert_non_null(pl);
	return pl;
}

static struct lock_entry
t_entry(uint64_t term, uint64_t tag)
{
	struct lock_entry e;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.term = term;
	e.request_id = tag;
	return e;
}

/* Give @pl entries of the given terms. */
static void
t_fill(struct plog *pl, const uint64_t *terms, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct lock_entry e = t_entry(terms[i], 100 + i);

		assert_int_equal(plog_append(pl, &e), i + 1);
	}
}

static struct raft_msg_append
t_append(uint64_t prev, uint64_t prev_term, uint64_t commit,
	 const uint64_t *terms, unsigned n)
{
	struct raft_msg_append a;
	unsigned i;

	memset(&a, 0, sizeof(a));
	a.prev_index = prev;
	a.prev_term = prev_term;
	a.commit = commit;
	a.n = n;
	for (i = 0; i < n; i++)
		a.entries[i] = t_entry(terms[i], 200 + i);
	return a;
}

/* Figure 7 (f)-like: a follower with a stale tail of terms 2 and 3. */
static void
test_conflict_truncation(void **state)
{
	struct applied a;
	struct plog *pl = t_log(&a, 32);
	const uint64_t stale[] = {1, 1, 1, 2, 2, 3, 3};
	const uint64_t fresh[] = {4, 4};
	struct raft_msg_append m;
	uint64_t idx, t;

	(void)state;
	t_fill(pl, stale, 7);
	/* Leader of term 4 has 1,1,1,4,4: prev (5, 4) does not match. */
	m = t_append(5, 4, 0, fresh, 0);
	assert_false(plog_follower_append(pl, &m, &idx));
	/* The hint skips the whole conflicting term 2: back to index 3. */
	assert_int_equal(idx, 3);
	m = t_append(3, 1, 0, fresh, 2);
	assert_true(plog_follower_append(pl, &m, &idx));
	assert_int_equal(idx, 5);
	assert_int_equal(pl->last, 5); /* terms 2 and 3 are gone */
	assert_true(plog_term_at(pl, 4, &t));
	assert_int_equal(t, 4);
	assert_true(plog_term_at(pl, 5, &t));
	assert_int_equal(t, 4);
	plog_destroy(pl);
}

/* A duplicated or late APPEND never truncates entries that match. */
static void
test_duplicate_append_keeps_tail(void **state)
{
	struct applied a;
	struct plog *pl = t_log(&a, 32);
	const uint64_t terms[] = {1, 1, 1, 1};
	struct raft_msg_append m;
	uint64_t idx;

	(void)state;
	m = t_append(0, 0, 0, terms, 4);
	assert_true(plog_follower_append(pl, &m, &idx));
	assert_int_equal(pl->last, 4);
	m = t_append(0, 0, 0, terms, 2); /* an older, shorter copy */
	assert_true(plog_follower_append(pl, &m, &idx));
	assert_int_equal(idx, 2);
	assert_int_equal(pl->last, 4);
	/* prev beyond the end: refused with the follower's last index. */
	m = t_append(9, 1, 0, terms, 1);
	assert_false(plog_follower_append(pl, &m, &idx));
	assert_int_equal(idx, 4);
	plog_destroy(pl);
}

/* Commit follows min(leaderCommit, last new entry); apply is in order. */
static void
test_follower_commit_and_apply(void **state)
{
	struct applied a;
	struct plog *pl = t_log(&a, 32);
	const uint64_t terms[] = {1, 1, 1};
	struct raft_msg_append m;
	uint64_t idx;

	(void)state;
	m = t_append(0, 0, 10, terms, 2);
	assert_true(plog_follower_append(pl, &m, &idx));
	assert_int_equal(pl->commit, 2); /* not 10: only 2 are known */
	assert_int_equal(a.n, 2);
	m = t_append(2, 1, 3, terms, 1);
	assert_true(plog_follower_append(pl, &m, &idx));
	assert_int_equal(pl->commit, 3);
	assert_int_equal(a.last, 3);
	plog_destroy(pl);
}

/* Records what ops.prefetch announced and checks apply follows it. */
struct announced {
	uint64_t ids[64];
	unsigned n;     /* entries announced */
	unsigned calls; /* prefetch calls */
	unsigned sizes[8];
	unsigned applied;
};

static void
an_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct announced *an = ctx;

	assert_int_equal(index, an->applied + 1);
	/* Each entry applied was announced, in order, before it. */
	assert_true(an->applied < an->n);
	assert_int_equal(e->request_id, an->ids[an->applied]);
	an->applied++;
}

static void
an_prefetch(void *ctx, const struct lock_entry *const *e, unsigned n)
{
	struct announced *an = ctx;
	unsigned i;

	assert_true(n >= 1 && n <= PLOG_APPLY_BATCH);
	/* Only what is about to be applied: the last batch is done. */
	assert_int_equal(an->applied, an->n);
	assert_true(an->calls < 8);
	an->sizes[an->calls++] = n;
	for (i = 0; i < n; i++)
		an->ids[an->n++] = e[i]->request_id;
}

/*
 * A follower that learns a commit 40 entries ahead applies them in
 * batches of at most PLOG_APPLY_BATCH, each announced to ops.prefetch
 * just before it is applied (worker_repl_prefetch starts their cache
 * misses together).
 */
static void
test_apply_announces_batches(void **state)
{
	static const struct plog_ops ops = {
		.apply = an_apply,
		.save = t_save,
		.load = t_load,
		.prefetch = an_prefetch,
	};
	struct plog_config cfg = {.entries_max = 128,
				  .batch_max = 4,
				  .inflight_max = 2,
				  .snapshot_max = 16};
	uint64_t terms[RAFT_BATCH_MAX];
	struct announced an;
	struct raft_msg_append m;
	struct plog *pl;
	uint64_t idx, last = 0;
	unsigned i;

	(void)state;
	memset(&an, 0, sizeof(an));
	pl = plog_create(&cfg, &ops, &an);
	assert_non_null(pl);
	for (i = 0; i < RAFT_BATCH_MAX; i++)
		terms[i] = 1;
	while (last < 40) {
		unsigned n = 40 - last < RAFT_BATCH_MAX ? (unsigned)(40 - last)
							: RAFT_BATCH_MAX;

		m = t_append(last, last ? 1 : 0, 0, terms, n);
		for (i = 0; i < n; i++)
			m.entries[i].request_id = 1000 + last + 1 + i;
		assert_true(plog_follower_append(pl, &m, &idx));
		last += n;
	}
	assert_int_equal(an.calls, 0); /* nothing committed yet */
	m = t_append(40, 1, 40, terms, 0);
	assert_true(plog_follower_append(pl, &m, &idx));
	assert_int_equal(an.applied, 40);
	assert_int_equal(an.n, 40);
	assert_int_equal(an.calls, 2);
	assert_int_equal(an.sizes[0], PLOG_APPLY_BATCH);
	assert_int_equal(an.sizes[1], 40 - PLOG_APPLY_BATCH);
	for (i = 0; i < 40; i++)
		assert_int_equal(an.ids[i], 1001 + i);
	plog_destroy(pl);
}

/*
 * Figure 8: an entry of an earlier term stored on a majority is not
 * committed by counting; it commits only with an entry of the current
 * term.
 */
static void
test_figure8_commit_rule(void **state)
{
	struct applied a;
	struct plog *pl = t_log(&a, 32);
	const uint64_t terms[] = {1, 2, 4};
	const unsigned self = 0;
	const uint8_t voters = 0x1f; /* S1..S5 as nodes 0..4 */

	(void)state;
	t_fill(pl, terms, 3); /* S1, leader of term 4 */
	plog_leader_start(pl);
	pl->commit = 1;
	pl->applied = 1;
	a.last = 1;
	/* (c) of Figure 8: index 2 (term 2) is on S1, S2, S3. */
	plog_leader_reply(pl, 1, true, 2);
	plog_leader_reply(pl, 2, true, 2);
	assert_false(plog_leader_commit(pl, 4, voters, voters, self));
	assert_int_equal(pl->commit, 1);
	/* (e): index 3 of term 4 on a majority commits 2 and 3. */
	plog_leader_reply(pl, 1, true, 3);
	assert_false(plog_leader_commit(pl, 4, voters, voters, self));
	plog_leader_reply(pl, 2, true, 3);
	assert_true(plog_leader_commit(pl, 4, voters, voters, self));
	assert_int_equal(pl->commit, 3);
	assert_int_equal(a.last, 3);
	plog_destroy(pl);
}

/* Acks of followers not counted (amnesic) do not make a majority. */
static void
test_commit_ignores_uncounted(void **state)
{
	struct applied a;
	struct plog *pl = t_log(&a, 32);
	const uint64_t terms[] = {3};

	(void)state;
	t_fill(pl, terms, 1);
	plog_leader_start(pl);
	plog_leader_reply(pl, 1, true, 1);
	assert_false(plog_leader_commit(pl, 3, 0x07, 0x05, 0));
	assert_true(plog_leader_commit(pl, 3, 0x07, 0x07, 0));
	plog_destroy(pl);
}

/* A leader's log of 12 entries of term 1, its followers' progress reset
 * (the start of its leadership). */
static struct plog *
t_leader12(struct applied *a)
{
	struct plog *pl = t_log(a, 64);
	uint64_t terms[12];
	unsigned i;

	for (i = 0; i < 12; i++)
		terms[i] = 1;
	t_fill(pl, terms, 12);
	plog_leader_start(pl);
	return pl;
}

/* Batching and pipelining: several APPENDs in flight, then a stop. */
static void
test_pipelining(void **state)
{
	struct applied a;
	struct plog *pl = t_leader12(&a);
	struct raft_msg m;

	(void)state;
	pl->peers[1].next = 1;
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 0);
	assert_int_equal(m.u.append.n, 4);
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 4);
	/* inflight_max is 2: nothing more until a reply. */
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_NONE);
	plog_leader_reply(pl, 1, true, 4);
	assert_int_equal(pl->peers[1].match, 4);
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 8);
	/* A stale failure (hint below match) is ignored. */
	plog_leader_reply(pl, 1, false, 2);
	assert_int_equal(pl->peers[1].next, 13);
	/* A real one restarts from the hint. */
	plog_leader_reply(pl, 1, false, 6);
	assert_int_equal(pl->peers[1].next, 7);
	plog_destroy(pl);
}

/*
 * A retransmission before any reply in a leadership resends the probe
 * (prev = the leader's last at its start), not the whole log from index
 * 1; once the follower answered, from match + 1 as ever.
 */
static void
test_retransmit_from_what_is_known(void **state)
{
	struct applied a;
	struct plog *pl = t_leader12(&a);
	struct raft_msg m;

	(void)state;
	/* The probe (prev = last), unanswered, then resent as it was. */
	assert_int_equal(plog_leader_send(pl, 1, true, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 12);
	plog_leader_retransmit(pl, 1);
	assert_int_equal(plog_leader_send(pl, 1, true, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 12);
	/* Refused: the follower's log ends at 5; sent from there. */
	plog_leader_reply(pl, 1, false, 5);
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 5);
	/* Heard, nothing acked: a retransmission starts from 1 again. */
	plog_leader_retransmit(pl, 1);
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 0);
	/* Acked through 9: resent from 10. */
	plog_leader_reply(pl, 1, true, 9);
	plog_leader_retransmit(pl, 1);
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 9);
	plog_destroy(pl);
}

/* A full ring compacts through a snapshot; a lagging peer gets it. */
static void
test_snapshot(void **state)
{
	struct applied a, b;
	struct plog *pl = t_log(&a, 8);
	struct plog *fl = t_log(&b, 8);
	struct lock_entry e = t_entry(1, 1);
	struct raft_msg m;
	uint64_t idx;
	unsigned i;

	(void)state;
	plog_leader_start(pl);
	for (i = 0; i < 4; i++)
		assert_true(plog_append(pl, &e) > 0);
	/* Half the ring is the proposal limit while nothing is applied. */
	assert_int_equal(plog_append(pl, &e), -ENOSPC);
	pl->commit = 4;
	plog_apply(pl);
	assert_int_equal(plog_append(pl, &e), 5); /* compacted */
	assert_int_equal(pl->snap_index, 4);
	pl->peers[1].next = 1;
	assert_int_equal(plog_leader_send(pl, 1, false, &m),
			 PLOG_SEND_SNAPSHOT);
	idx = plog_install_snapshot(fl, m.u.snapshot.index, m.u.snapshot.term,
				    m.u.snapshot.data, m.u.snapshot.len);
	assert_int_equal(idx, 4);
	assert_int_equal(b.loads, 1);
	assert_int_equal(fl->commit, 4);
	plog_leader_reply(pl, 1, true, idx);
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 4);
	assert_true(plog_follower_append(fl, &m.u.append, &idx));
	assert_int_equal(idx, 5);
	plog_destroy(pl);
	plog_destroy(fl);
}

/*
 * Compaction keeps the entries before the snapshot while the ring has
 * room: a follower just behind the snapshot is sent entries, one behind
 * the ring's start the snapshot, and dropping more of the kept tail
 * saves no new snapshot until the drop passes the one held.
 */
static void
test_compaction_keeps_tail(void **state)
{
	struct applied a, b;
	struct plog *pl = t_log(&a, 16);
	struct plog *fl = t_log(&b, 16);
	struct lock_entry e = t_entry(1, 1);
	struct raft_msg m;
	uint64_t idx, t;
	unsigned i;

	(void)state;
	plog_leader_start(pl);
	for (i = 0; i < 8; i++)
		assert_true(plog_append(pl, &e) > 0);
	pl->commit = 8;
	plog_apply(pl);
	assert_int_equal(a.saves, 0);
	/* At the proposal limit (8): saved at 8, only 1..2 dropped. */
	assert_int_equal(plog_append(pl, &e), 9);
	assert_int_equal(a.saves, 1);
	assert_int_equal(pl->snap_index, 8);
	assert_int_equal(pl->base, 2);
	assert_null(plog_entry(pl, 2));
	assert_non_null(plog_entry(pl, 3));
	assert_true(plog_term_at(pl, 2, &t));
	assert_int_equal(t, 1);
	assert_false(plog_term_at(pl, 1, &t));

	/* A follower holding 1..2 gets 3.. as entries, below the snapshot. */
	m.u.append = t_append(0, 0, 0, (const uint64_t[]){1, 1}, 2);
	assert_true(plog_follower_append(fl, &m.u.append, &idx));
	assert_int_equal(idx, 2);
	pl->peers[1].next = 3;
	assert_int_equal(plog_leader_send(pl, 1, false, &m), PLOG_SEND_APPEND);
	assert_int_equal(m.u.append.prev_index, 2);
	assert_int_equal(m.u.append.prev_term, 1);
	assert_int_equal(m.u.append.n, 4);
	assert_true(plog_follower_append(fl, &m.u.append, &idx));
	assert_int_equal(idx, 6);
	assert_int_equal(b.loads, 0);
	/* One that needs entry 2 gets the snapshot. */
	pl->peers[2].next = 2;
	assert_int_equal(plog_leader_send(pl, 2, false, &m),
			 PLOG_SEND_SNAPSHOT);
	assert_int_equal(m.u.snapshot.index, 8);

	/* Two more: the drop (to 4) stays below the snapshot: no save. */
	assert_int_equal(plog_append(pl, &e), 10);
	assert_int_equal(plog_append(pl, &e), 11);
	assert_int_equal(a.saves, 1);
	assert_int_equal(pl->base, 4);
	assert_true(pl->last - pl->base < 8);
	plog_destroy(pl);
	plog_destroy(fl);
}

/*
 * A log bounded by RAFT_WIRE_APPEND_ENTRIES_IN(1500) sends APPENDs whose
 * datagram fits a 1500-byte MTU, with as many entries as fit: 16 (the
 * cap) with keys of 0 or 16 bytes, 10 with the longest keys.
 */
static void
test_append_fits_mtu(void **state)
{
	static const struct {
		uint16_t key_len;
		uint32_t n;
	} cases[] = {{0, 16}, {16, 16}, {LATCH_KEY_MAX, 10}};
	struct plog_config cfg = {
		.entries_max = 64,
		.batch_max = RAFT_BATCH_MAX,
		.bytes_max = RAFT_WIRE_APPEND_ENTRIES_IN(1500),
		.inflight_max = 4,
		.snapshot_max = 16,
	};
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	unsigned c, i;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct applied a;
		struct plog *pl;
		struct lock_entry e;
		struct raft_msg m;
		int len;

		memset(&a, 0, sizeof(a));
		pl = plog_create(&cfg, &t_ops, &a);
		assert_non_null(pl);
		memset(&e, 0xab, sizeof(e));
		e.term = 1;
		e.key.len = cases[c].key_len;
		assert_int_equal(raft_wire_entry_encode(&e, buf, sizeof(buf)),
				 (int)raft_wire_entry_len(&e));
		plog_leader_start(pl);
		for (i = 0; i < 30; i++)
			assert_true(plog_append(pl, &e) > 0);
		memset(&m, 0, sizeof(m));
		assert_int_equal(plog_leader_send(pl, 1, false, &m),
				 PLOG_SEND_APPEND);
		assert_int_equal(m.u.append.n, cases[c].n);
		m.type = RAFT_MSG_APPEND;
		m.term = 1;
		m.from = 2;
		m.to = 1;
		len = raft_wire_encode(&m, buf, sizeof(buf));
		assert_true(len > 0);
		assert_true(20 + 8 + len <= 1500);
		plog_destroy(pl);
	}
}

/* Pull: extend, repair a lower-term tail, never replace a higher one. */
static void
test_pull(void **state)
{
	struct applied a, b;
	struct plog *src = t_log(&a, 32);
	struct plog *dst = t_log(&b, 32);
	const uint64_t st[] = {1, 1, 3, 3};
	const uint64_t dt[] = {1, 1, 2};
	struct raft_msg_append m;
	uint64_t t, matched;

	(void)state;
	t_fill(src, st, 4);
	t_fill(dst, dt, 3);
	assert_true(plog_pull_fill(src, plog_last_pos(dst), dst->commit, &m));
	assert_int_equal(m.prev_index, 0); /* (3, 2) does not match */
	assert_int_equal(plog_pull_apply(dst, &m, &matched), 2);
	assert_int_equal(matched, 4);
	assert_int_equal(dst->last, 4);
	assert_true(plog_term_at(dst, 3, &t));
	assert_int_equal(t, 3);
	/* The other way: src's term-3 entries are never replaced by 2. */
	m.prev_index = 2;
	m.prev_term = 1;
	m.n = 1;
	m.entries[0] = t_entry(2, 9);
	assert_int_equal(plog_pull_apply(src, &m, &matched), 0);
	assert_true(plog_term_at(src, 3, &t));
	assert_int_equal(t, 3);
	plog_destroy(src);
	plog_destroy(dst);
}

/* A pull answered from a stale view: the source diverges inside our
 * committed prefix, so nothing of it is taken. */
static void
test_pull_stale_source(void **state)
{
	struct applied a, b;
	struct plog *src = t_log(&a, 32);
	struct plog *dst = t_log(&b, 32);
	const uint64_t st[] = {1, 2, 3, 3, 3};
	const uint64_t dt[] = {1, 4, 4};
	struct raft_msg_append m;
	uint64_t matched;

	(void)state;
	t_fill(src, st, 5);
	t_fill(dst, dt, 3);
	dst->commit = 3;
	plog_apply(dst);
	/* Filled when dst had only committed index 1. */
	assert_true(plog_pull_fill(
		src, (struct raft_pos){.term = 1, .index = 1}, 1, &m));
	assert_int_equal(m.prev_index, 1);
	assert_int_equal(plog_pull_apply(dst, &m, &matched), 0);
	assert_int_equal(dst->last, 3);
	plog_destroy(src);
	plog_destroy(dst);
}

/* Give follower @pl entries 1..@n of @term, told commit @commit. */
static void
t_follow(struct plog *pl, uint64_t term, uint64_t n, uint64_t commit)
{
	uint64_t terms[4] = {term, term, term, term};
	struct raft_msg_append m;
	uint64_t idx, k;

	for (k = pl->last; k < n; k += 4) {
		unsigned len = n - k < 4 ? (unsigned)(n - k) : 4;

		m = t_append(k, k == 0 ? 0 : term, commit, terms, len);
		assert_true(plog_follower_append(pl, &m, &idx));
		assert_int_equal(idx, k + len);
	}
}

/* Pull @dst from @src as prepl does: again while batches come back full. */
static void
t_pull_all(struct plog *src, struct plog *dst)
{
	struct raft_msg_append m;
	struct raft_pos pos = plog_last_pos(dst);
	uint64_t matched;

	while (plog_pull_fill(src, pos, dst->commit, &m)) {
		plog_pull_apply(dst, &m, &matched);
		if (m.n != src->cfg.batch_max || matched != m.prev_index + m.n)
			break;
		pos.index = matched;
		assert_true(plog_term_at(dst, matched, &pos.term));
	}
}

/*
 * Seed 89268 of the simulator (docs/raft.md, "ring sizing"): a refused
 * pre-candidate pulls a peer's tail into a ring it has not applied (its
 * commit index lags the peer's), fills the ring, then wins the election
 * and cannot append its no-op: LEAD_FAILED in every term. The source's
 * commit index comes with the entries, so what the puller shares with the
 * source's committed prefix is committed, applied and compacted, and the
 * no-op fits. Also when the puller already holds the whole tail (an empty
 * reply carries the commit), and never beyond what matches.
 */
static void
test_pull_learns_commit(void **state)
{
	struct applied a, b, c;
	struct plog *src = t_log(&a, 32);
	struct plog *dst = t_log(&b, 32);
	struct plog *full = t_log(&c, 32);
	struct lock_entry noop = t_entry(3, 0);
	struct raft_msg_append m;
	uint64_t matched;

	(void)state;
	noop.op = PLOG_OP_NOOP;
	/* src: 31 entries of term 2, 20 committed (ring 32). */
	t_follow(src, 2, 31, 20);
	assert_int_equal(src->commit, 20);
	/* dst knows commit 0 and holds 3 entries; pulls the rest. */
	t_follow(dst, 2, 3, 0);
	t_pull_all(src, dst);
	assert_int_equal(dst->last, 31);
	assert_int_equal(dst->commit, 20);
	assert_int_equal(b.last, 20); /* applied in order, once */
	assert_int_equal(plog_append_noop(dst, &noop), 32);

	/* full: the whole tail already, commit 0: the ring is full. */
	t_follow(full, 2, 31, 0);
	assert_int_equal(full->commit, 0);
	assert_true(plog_pull_fill(src, plog_last_pos(full), full->commit, &m));
	assert_int_equal(m.n, 0);
	assert_int_equal(m.source_commit, 20);
	plog_pull_apply(full, &m, &matched);
	assert_int_equal(full->commit, 20);
	assert_int_equal(plog_append_noop(full, &noop), 32);
	/* Nothing to say to a puller that knows as much: no reply. */
	assert_false(plog_pull_fill(src, plog_last_pos(src), src->commit, &m));

	/* A source commit beyond what matches commits only the match. */
	plog_destroy(full);
	full = t_log(&c, 32);
	t_follow(full, 2, 5, 0);
	/* Source ends in term 2 too: our (5, 2) is not replaced by (5, 1). */
	m = t_append(3, 2, 2, (const uint64_t[]){2, 1}, 2);
	m.source_commit = 9;
	assert_int_equal(plog_pull_apply(full, &m, &matched), 0);
	assert_int_equal(matched, 4);
	assert_int_equal(full->commit, 4);
	assert_int_equal(full->last, 5);
	plog_destroy(src);
	plog_destroy(dst);
	plog_destroy(full);
}

/* ---- snapshots of real lock tables ---- */

#define LT_KEYS 400 /* held locks: a state of about 40 KB */
#define LT_NOW  1000000

/* The apply layer of one log: a lock table, as latchd's worker has. */
struct lt_node {
	struct key_index *ki;
	struct lock_table *lt;
	uint64_t saved_digest; /* of the table at the last save */
	uint64_t saved_index;
	unsigned saves_failed;
	unsigned loads;
	struct plog *pl;
};

static void
lt_emit(void *ctx, const struct lock_effect *fx)
{
	(void)ctx;
	(void)fx;
}

static void
lt_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct lt_node *n = ctx;

	(void)index;
	if (e->op != PLOG_OP_NOOP)
		lock_table_apply(n->lt, e, lt_emit, n);
}

/* As worker_repl_save: the whole table, or PLOG_SAVE_FAILED. */
static uint32_t
lt_save(void *ctx, uint8_t *buf, uint32_t max)
{
	struct lt_node *n = ctx;
	int64_t len = lock_table_save(n->lt, buf, max);

	if (len < 0) {
		n->saves_failed++;
		return PLOG_SAVE_FAILED;
	}
	n->saved_digest = lock_table_digest(n->lt);
	n->saved_index = n->pl->applied;
	return (uint32_t)len;
}

static void
lt_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct lt_node *n = ctx;

	assert_int_equal(lock_table_load(n->lt, buf, len), 0);
	n->loads++;
}

static const struct plog_ops lt_ops = {lt_apply, lt_save, lt_load};

static void
lt_node_init(struct lt_node *n, uint32_t entries, uint32_t snapshot_max,
	     uint32_t chunk_max)
{
	struct lock_table_config tc = {
		.locks_max = 1024,
		.holders_max = 1024,
		.waiters_max = 64,
		.sessions_max = 16,
		.dedup_max = 64,
		.lease_default_ms = 1000,
		.lease_max_ms = 60000,
		.wait_default_ms = 500,
		.wait_max_ms = 3000,
		.session_default_ms = 2000,
		.session_max_ms = 6000,
		.timer_slots = 64,
	};
	struct plog_config cfg = {.entries_max = entries,
				  .batch_max = 4,
				  .inflight_max = 3,
				  .snapshot_max = snapshot_max,
				  .chunk_max = chunk_max};

	memset(n, 0, sizeof(*n));
	n->ki = key_index_create(2048, NULL);
	assert_non_null(n->ki);
	n->lt = lock_table_create(&tc, &key_index_ops, n->ki);
	assert_non_null(n->lt);
	n->pl = plog_create(&cfg, &lt_ops, n);
	assert_non_null(n->pl);
}

static void
lt_node_fini(struct lt_node *n)
{
	plog_destroy(n->pl);
	lock_table_destroy(n->lt);
	key_index_destroy(n->ki);
}

/* An exclusive ACQUIRE of key "lock-<i>" by client 1 + i % 7. */
static struct lock_entry
lt_acquire(unsigned i, uint64_t term)
{
	struct lock_entry e;
	char name[48];

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.term = term;
	e.client_id = 1 + i % 7;
	e.request_id = 1000 + i;
	e.lease_ms = 30000;
	e.now_ms = LT_NOW;
	snprintf(name, sizeof(name), "lock-%05u-with-a-longer-key", i);
	assert_int_equal(lock_key_set(&e.key, name, (uint16_t)strlen(name)), 0);
	return e;
}

/*
 * Leader: propose LT_KEYS acquires, committing (as a majority would)
 * after each, so the ring compacts whenever it fills. Returns how many
 * were taken before the first -ENOSPC.
 */
static unsigned
lt_fill(struct lt_node *n)
{
	unsigned i;

	for (i = 0; i < LT_KEYS; i++) {
		struct lock_entry e = lt_acquire(i, 1);

		if (plog_append(n->pl, &e) < 0)
			break;
		n->pl->commit = n->pl->last;
		plog_apply(n->pl);
	}
	return i;
}

/*
 * THE BUG this guards: a state larger than the snapshot buffer used to be
 * "saved" as nothing while the entries were dropped, so a follower caught
 * up by that snapshot forgot every held lock. Now compaction is refused:
 * the ring keeps the entries, the leader refuses proposals (-ENOSPC, BUSY
 * to clients), and no snapshot ever stands for the state.
 */
static void
test_snapshot_too_big_not_compacted(void **state)
{
	struct lt_node ld;
	struct raft_msg m;
	unsigned taken;

	(void)state;
	lt_node_init(&ld, 64, RAFT_SNAPSHOT_MAX, 0);
	plog_leader_start(ld.pl);
	taken = lt_fill(&ld);
	/* 32 locks of 40-byte keys (3 KB) outgrow 1 KB before the ring
	 * (32 proposals) first fills: no compaction ever succeeds. */
	assert_true(lock_table_save_size(ld.lt) > RAFT_SNAPSHOT_MAX);
	assert_true(taken < LT_KEYS);
	assert_true(ld.saves_failed > 0);
	assert_int_equal(ld.pl->save_failed, ld.saves_failed);
	/* What snapshot there is covers exactly the state it was saved
	 * from, and every entry after it is still in the ring. */
	assert_int_equal(ld.pl->snap_index, ld.saved_index);
	assert_true(ld.pl->snap_len <= RAFT_SNAPSHOT_MAX);
	assert_int_equal(ld.pl->last, taken);
	assert_non_null(plog_entry(ld.pl, ld.pl->snap_index + 1));
	{
		struct lock_entry e = lt_acquire(LT_KEYS, 1);

		assert_int_equal(plog_append(ld.pl, &e), -ENOSPC);
	}
	/* A follower that needs the snapshot gets the old, complete one,
	 * then the entries after it, and ends with the leader's table. */
	{
		struct lt_node fl;
		uint64_t idx;
		uint32_t have;
		unsigned rounds = 0;

		lt_node_init(&fl, 64, RAFT_SNAPSHOT_MAX, 0);
		ld.pl->peers[1].next = 1;
		while (fl.pl->commit < ld.pl->commit && rounds++ < 1000) {
			enum plog_send k = plog_leader_send(ld.pl, 1, true, &m);

			if (k == PLOG_SEND_SNAPSHOT) {
				assert_int_equal(
					plog_install_chunk(fl.pl, &m.u.snapshot,
							   1, &idx, &have),
					PLOG_CHUNK_DONE);
				plog_leader_reply(ld.pl, 1, true, idx);
			} else {
				bool ok;

				assert_int_equal(k, PLOG_SEND_APPEND);
				ok = plog_follower_append(fl.pl, &m.u.append,
							  &idx);
				plog_leader_reply(ld.pl, 1, ok, idx);
			}
		}
		assert_int_equal(fl.pl->commit, ld.pl->commit);
		assert_int_equal(fl.pl->applied, ld.pl->applied);
		assert_int_equal(lock_table_digest(fl.lt),
				 lock_table_digest(ld.lt));
		assert_true(lock_table_save_size(fl.lt) > RAFT_SNAPSHOT_MAX);
		lt_node_fini(&fl);
	}
	lt_node_fini(&ld);
}

/* A tiny lossy network: a bag of messages delivered in random order. */
#define NET_MAX 64

struct lt_net {
	struct raft_msg q[NET_MAX];
	unsigned n;
	uint64_t rng;
	unsigned dropped, duplicated;
};

static uint64_t
lt_rand(struct lt_net *net)
{
	net->rng ^= net->rng << 13;
	net->rng ^= net->rng >> 7;
	net->rng ^= net->rng << 17;
	return net->rng;
}

/* Send: dropped one time in five, duplicated one time in ten. */
static void
lt_net_send(struct lt_net *net, const struct raft_msg *m)
{
	unsigned r = (unsigned)(lt_rand(net) % 10);

	if (r < 2) {
		net->dropped++;
		return;
	}
	if (net->n < NET_MAX)
		net->q[net->n++] = *m;
	if (r == 9 && net->n < NET_MAX) {
		net->q[net->n++] = *m;
		net->duplicated++;
	}
}

/* Take a random message (reordering). */
static bool
lt_net_take(struct lt_net *net, struct raft_msg *out)
{
	unsigned i;

	if (net->n == 0)
		return false;
	i = (unsigned)(lt_rand(net) % net->n);
	*out = net->q[i];
	net->q[i] = net->q[--net->n];
	return true;
}

/*
 * Chunked InstallSnapshot (§7 with offset and done): a leader whose table
 * holds LT_KEYS locks (tens of KB) compacts; a follower that lags behind
 * the ring is sent the snapshot in chunks through a network that drops,
 * duplicates and reorders both chunks and answers; lost ones are resent
 * on heartbeats. The follower installs exactly the saved state (digest),
 * then takes the tail and ends equal to the leader.
 */
static void
lt_chunked_transfer(uint32_t chunk_max, uint64_t seed)
{
	struct lt_node ld, fl;
	struct lt_net net = {.rng = seed};
	struct raft_msg m;
	unsigned steps = 0, beats = 0, chunks = 0;
	uint64_t idx;
	uint32_t have;

	lt_node_init(&ld, 64, 256 * 1024, chunk_max);
	lt_node_init(&fl, 64, 256 * 1024, chunk_max);
	plog_leader_start(ld.pl);
	assert_int_equal(lt_fill(&ld), LT_KEYS);
	assert_int_equal(ld.saves_failed, 0);
	assert_true(ld.pl->snap_index > 0);
	assert_true(ld.pl->snap_len > 16 * RAFT_SNAPSHOT_MAX);
	plog_leader_reset_peer(ld.pl, 1);
	ld.pl->peers[1].next = 1; /* it holds nothing */

	while (fl.pl->commit < ld.pl->commit && steps++ < 200000) {
		if (!lt_net_take(&net, &m)) {
			/* Quiet: a heartbeat resends what is unanswered. */
			beats++;
			plog_leader_retransmit(ld.pl, 1);
			if (plog_leader_send(ld.pl, 1, true, &m) !=
			    PLOG_SEND_NONE) {
				m.to = 1;
				lt_net_send(&net, &m);
			}
			continue;
		}
		if (m.to == 1) { /* leader -> follower */
			struct raft_msg r;
			bool ok;

			memset(&r, 0, sizeof(r));
			r.to = 0;
			if (m.type == RAFT_MSG_SNAPSHOT) {
				enum plog_chunk c;

				chunks++;
				c = plog_install_chunk(fl.pl, &m.u.snapshot, 1,
						       &idx, &have);
				assert_int_not_equal(c, PLOG_CHUNK_BAD);
				if (c == PLOG_CHUNK_DONE) {
					/* What was installed is what was
					 * saved at that index. */
					assert_true(idx <= fl.pl->commit);
					r.type = RAFT_MSG_APPEND_REPLY;
					r.u.append_reply.index = idx;
					r.u.append_reply.success = 1;
				} else {
					r.type = RAFT_MSG_SNAPSHOT_REPLY;
					r.u.snapshot_reply.index = idx;
					r.u.snapshot_reply.offset = have;
				}
			} else {
				ok = plog_follower_append(fl.pl, &m.u.append,
							  &idx);
				r.type = RAFT_MSG_APPEND_REPLY;
				r.u.append_reply.index = idx;
				r.u.append_reply.success = ok;
			}
			lt_net_send(&net, &r);
			continue;
		}
		if (m.type == RAFT_MSG_SNAPSHOT_REPLY)
			plog_leader_snapshot_reply(ld.pl, 1,
						   m.u.snapshot_reply.index,
						   m.u.snapshot_reply.offset);
		else
			plog_leader_reply(ld.pl, 1, m.u.append_reply.success,
					  m.u.append_reply.index);
		while (plog_leader_send(ld.pl, 1, false, &m) !=
		       PLOG_SEND_NONE) {
			m.to = 1;
			lt_net_send(&net, &m);
		}
	}
	assert_true(steps < 200000); /* converged, not cut off */
	/* The follower loaded the snapshot once, from chunks. */
	assert_int_equal(fl.loads, 1);
	assert_true(chunks > ld.pl->snap_len / chunk_max);
	assert_true(net.dropped > 0);
	assert_int_equal(fl.pl->commit, ld.pl->commit);
	assert_int_equal(fl.pl->applied, ld.pl->applied);
	assert_int_equal(lock_table_digest(fl.lt), lock_table_digest(ld.lt));
	assert_int_equal(lock_table_save_size(fl.lt),
			 lock_table_save_size(ld.lt));
	lt_node_fini(&fl);
	lt_node_fini(&ld);
}

static void
test_snapshot_chunked_lossy(void **state)
{
	(void)state;
	lt_chunked_transfer(RAFT_SNAPSHOT_MAX, 1);
	lt_chunked_transfer(RAFT_SNAPSHOT_MAX, 77);
	lt_chunked_transfer(100, 5); /* chunks split records anywhere */
	lt_chunked_transfer(7, 9);
}

/*
 * The receiver alone: chunks are taken in order, a gap or a duplicate
 * changes nothing, the first chunk of another snapshot starts over, and
 * a chunk that does not fit the buffer or its snapshot is refused.
 */
static void
test_snapshot_chunk_receiver(void **state)
{
	struct applied a;
	struct plog *fl = t_log(&a, 8);
	struct raft_msg_snapshot s;
	uint64_t idx;
	uint32_t have;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.index = 10;
	s.term = 2;
	s.total = 16; /* snapshot_max of t_log */
	s.len = 8;
	s.offset = 8; /* before the first: holds none of it */
	s.done = 1;
	assert_int_equal(plog_install_chunk(fl, &s, 1, &idx, &have),
			 PLOG_CHUNK_MORE);
	assert_int_equal(have, 0);
	s.offset = 0;
	s.done = 0;
	memset(s.data, 42, 8);
	assert_int_equal(plog_install_chunk(fl, &s, 1, &idx, &have),
			 PLOG_CHUNK_MORE);
	assert_int_equal(have, 8);
	assert_int_equal(plog_install_chunk(fl, &s, 1, &idx, &have),
			 PLOG_CHUNK_MORE); /* duplicate */
	assert_int_equal(have, 8);
	/* Another snapshot's first chunk starts over. */
	s.index = 11;
	assert_int_equal(plog_install_chunk(fl, &s, 1, &idx, &have),
			 PLOG_CHUNK_MORE);
	assert_int_equal(have, 8);
	assert_int_equal(fl->rx_index, 11);
	/* Too big for the buffer, or lying about its total. */
	s.total = 17;
	s.offset = 9;
	assert_int_equal(plog_install_chunk(fl, &s, 1, &idx, &have),
			 PLOG_CHUNK_BAD);
	s.total = 15;
	s.offset = 7;
	s.done = 1;
	s.len = 8;
	assert_int_equal(plog_install_chunk(fl, &s, 1, &idx, &have),
			 PLOG_CHUNK_BAD);
	assert_int_equal(a.loads, 0);
	/* Nothing installed so far: the log is untouched. */
	assert_int_equal(fl->commit, 0);
	assert_int_equal(fl->snap_index, 0);
	plog_destroy(fl);
}

/*
 * Pull a snapshot in chunks (docs/raft.md, "Pulling a snapshot"): node
 * 0 (source, incarnation 7) holds a table of LT_KEYS locks and has
 * compacted its ring; the puller holds its first entries and commit 0,
 * so the entries it needs exist only in the source's snapshot and a
 * PULL is answered with chunks, a window at a time, through a network
 * that drops, duplicates and reorders. Halfway the source compacts again:
 * the puller's next PULL names the old snapshot, so the source restarts
 * at the first byte of the new one and the puller starts over with it.
 * The puller installs the source's state (digest) once, then pulls the
 * entries after the snapshot and ends with the source's commit index;
 * from there a PULL is answered with entries, as before.
 */
static void
lt_pull_transfer(uint32_t chunk_max, uint64_t seed)
{
	struct lt_node src, dst;
	struct lt_net net = {.rng = seed};
	struct raft_msg m, req;
	struct raft_msg_append ap;
	unsigned steps = 0, chunks = 0, asks = 0, k, i;
	uint64_t first_snap, idx, matched;
	uint32_t have, window = 3;
	bool changed = false, restarted = false;

	lt_node_init(&src, 64, 256 * 1024, chunk_max);
	lt_node_init(&dst, 64, 256 * 1024, chunk_max);
	plog_leader_start(src.pl);
	assert_int_equal(lt_fill(&src), LT_KEYS);
	first_snap = src.pl->snap_index;
	assert_true(first_snap > 0);
	assert_true(src.pl->snap_len > 8 * chunk_max);
	/* The puller lagged: it holds the first 3 entries, none known
	 * committed. */
	for (i = 0; i < 3; i++) {
		struct lock_entry e = lt_acquire(i, 1);

		assert_int_equal(plog_append(dst.pl, &e), i + 1);
	}
	/* Entries cannot reach it: the source compacted them. */
	assert_false(plog_pull_fill(src.pl, plog_last_pos(dst.pl),
				    dst.pl->commit, &ap));
	assert_true(plog_pull_needs_snapshot(src.pl, plog_last_pos(dst.pl),
					     dst.pl->commit));

	memset(&req, 0, sizeof(req));
	req.type = RAFT_MSG_PULL;
	req.to = 0;
	req.u.pull.last = plog_last_pos(dst.pl);
	req.u.pull.commit = dst.pl->commit;
	plog_pull_progress(dst.pl, 0, &req.u.pull);
	assert_int_equal(req.u.pull.snap_have, 0);
	lt_net_send(&net, &req);
	while (dst.pl->commit < src.pl->snap_index && steps++ < 200000) {
		if (!lt_net_take(&net, &m)) {
			/* Quiet: the puller resends its PULL (prepl_tick). */
			req.u.pull.last = plog_last_pos(dst.pl);
			req.u.pull.commit = dst.pl->commit;
			plog_pull_progress(dst.pl, 0, &req.u.pull);
			lt_net_send(&net, &req);
			continue;
		}
		if (m.to == 0) { /* a PULL at the source */
			for (k = 0; k < window; k++) {
				struct raft_msg c;

				memset(&c, 0, sizeof(c));
				if (!plog_pull_snapshot_fill(src.pl, &m.u.pull,
							     7, k, window,
							     &c.u.snapshot))
					break;
				c.type = RAFT_MSG_SNAPSHOT;
				c.from = 0;
				c.to = 1;
				lt_net_send(&net, &c);
			}
			continue;
		}
		chunks++;
		assert_true(m.u.snapshot.flags & RAFT_SNAPSHOT_F_PULLED);
		assert_int_equal(m.u.snapshot.incarnation, 7);
		if (m.u.snapshot.index != first_snap && dst.pl->rx_index != 0 &&
		    dst.pl->rx_index != m.u.snapshot.index &&
		    m.u.snapshot.offset == 0)
			restarted = true;
		switch (plog_pull_chunk(dst.pl, &m.u.snapshot, 0, &idx,
					&have)) {
		case PLOG_CHUNK_MORE:
			if (m.u.snapshot.flags & RAFT_SNAPSHOT_F_ASK) {
				asks++;
				req.u.pull.last = plog_last_pos(dst.pl);
				req.u.pull.commit = dst.pl->commit;
				plog_pull_progress(dst.pl, 0, &req.u.pull);
				lt_net_send(&net, &req);
			}
			break;
		case PLOG_CHUNK_DONE:
			break;
		default:
			fail();
		}
		/* Halfway, the source's snapshot changes: it compacts. */
		if (!changed && dst.pl->rx_have > src.pl->snap_len / 2) {
			changed = true;
			for (i = 0; i < 40; i++) {
				struct lock_entry e =
					lt_acquire(LT_KEYS + 10 + i, 1);

				e.key.bytes[0] = 'X'; /* other keys */
				assert_true(plog_append(src.pl, &e) > 0);
				src.pl->commit = src.pl->last;
				plog_apply(src.pl);
			}
			assert_true(src.pl->snap_index > first_snap);
		}
	}
	assert_true(steps < 200000); /* converged, not cut off */
	assert_true(changed);
	assert_true(restarted);
	assert_true(net.dropped > 0);
	assert_true(net.duplicated > 0);
	assert_true(asks > 0);
	assert_true(chunks > src.pl->snap_len / chunk_max);
	/* The new snapshot, installed once, the stale tail replaced. */
	assert_int_equal(dst.loads, 1);
	assert_int_equal(dst.pl->snap_index, src.pl->snap_index);
	assert_int_equal(dst.pl->commit, src.pl->snap_index);
	assert_int_equal(dst.pl->last, src.pl->snap_index);
	assert_int_equal(lock_table_digest(dst.lt), src.saved_digest);
	/* Past the snapshot: entries, as before, and the commit index. */
	assert_false(plog_pull_needs_snapshot(src.pl, plog_last_pos(dst.pl),
					      dst.pl->commit));
	while (plog_pull_fill(src.pl, plog_last_pos(dst.pl), dst.pl->commit,
			      &ap)) {
		assert_int_equal(ap.prev_index, plog_last_pos(dst.pl).index);
		plog_pull_apply(dst.pl, &ap, &matched);
		assert_int_equal(matched, ap.prev_index + ap.n);
	}
	assert_int_equal(dst.pl->last, src.pl->last);
	assert_int_equal(dst.pl->commit, src.pl->commit);
	assert_int_equal(dst.pl->applied, src.pl->applied);
	assert_int_equal(lock_table_digest(dst.lt), lock_table_digest(src.lt));
	/* A stale or duplicated chunk of either snapshot changes nothing. */
	memset(&m, 0, sizeof(m));
	assert_true(plog_pull_snapshot_fill(src.pl, &req.u.pull, 7, 0, 1,
					    &m.u.snapshot));
	assert_int_equal(plog_pull_chunk(dst.pl, &m.u.snapshot, 0, &idx, &have),
			 PLOG_CHUNK_DONE);
	assert_int_equal(dst.loads, 1);
	lt_node_fini(&dst);
	lt_node_fini(&src);
}

static void
test_pull_snapshot_chunked(void **state)
{
	(void)state;
	lt_pull_transfer(1000, 3);
	lt_pull_transfer(333, 11); /* chunks split records anywhere */
	lt_pull_transfer(RAFT_SNAPSHOT_MAX, 21);
}

/*
 * The source's side alone: a PULL resumes only in the very snapshot
 * (index, term) and incarnation it names, else restarts at the first
 * byte; a window is cut in chunk_max pieces, its last chunk asks for
 * more unless it ends the snapshot. The puller's progress names only
 * the node its bytes came from, and never mixes a leader's bytes or
 * another node's with them.
 */
static void
test_pull_snapshot_resume(void **state)
{
	struct lt_node src, dst;
	struct raft_msg_pull req;
	struct raft_msg_snapshot c;
	uint64_t idx;
	uint32_t have, len;

	(void)state;
	lt_node_init(&src, 64, 256 * 1024, 100);
	lt_node_init(&dst, 64, 256 * 1024, 100);
	plog_leader_start(src.pl);
	assert_int_equal(lt_fill(&src), LT_KEYS);
	len = src.pl->snap_len;
	assert_true(len > 1000);
	memset(&req, 0, sizeof(req));
	/* From nothing: chunks 0, 1, 2 of the window, the last asks. */
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 0, 3, &c));
	assert_int_equal(c.offset, 0);
	assert_int_equal(c.len, 100);
	assert_int_equal(c.flags, RAFT_SNAPSHOT_F_PULLED);
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 2, 3, &c));
	assert_int_equal(c.offset, 200);
	assert_int_equal(c.flags, RAFT_SNAPSHOT_F_PULLED | RAFT_SNAPSHOT_F_ASK);
	/* Take chunk 0 from node 0; the progress names node 0 only. */
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 0, 1, &c));
	assert_int_equal(plog_pull_chunk(dst.pl, &c, 0, &idx, &have),
			 PLOG_CHUNK_MORE);
	assert_int_equal(have, 100);
	plog_pull_progress(dst.pl, 2, &req);
	assert_int_equal(req.snap_have, 0);
	plog_pull_progress(dst.pl, 0, &req);
	assert_int_equal(req.snap.index, src.pl->snap_index);
	assert_int_equal(req.snap.term, src.pl->snap_term);
	assert_int_equal(req.snap_incarnation, 7);
	assert_int_equal(req.snap_have, 100);
	/* Resumed at byte 100 ... */
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 0, 1, &c));
	assert_int_equal(c.offset, 100);
	/* ... but not by a restarted source (incarnation 8), nor for
	 * another snapshot than the one held. */
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 8, 0, 1, &c));
	assert_int_equal(c.offset, 0);
	req.snap.index--;
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 0, 1, &c));
	assert_int_equal(c.offset, 0);
	req.snap.index++;
	/* The same bytes from another node, or a leader's, do not continue
	 * node 0's: a later chunk is ignored, a first one starts over. */
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 0, 1, &c));
	assert_int_equal(plog_pull_chunk(dst.pl, &c, 3, &idx, &have),
			 PLOG_CHUNK_MORE);
	assert_int_equal(have, 0);
	assert_int_equal(plog_install_chunk(dst.pl, &c, 7, &idx, &have),
			 PLOG_CHUNK_MORE);
	assert_int_equal(have, 0);
	assert_int_equal(dst.pl->rx_from, 0);
	assert_int_equal(dst.pl->rx_have, 100);
	/* The last chunk ends the snapshot and does not ask. */
	req.snap_have = len - 1;
	assert_true(plog_pull_snapshot_fill(src.pl, &req, 7, 0, 3, &c));
	assert_int_equal(c.offset, len - 1);
	assert_int_equal(c.len, 1);
	assert_true(c.done);
	assert_int_equal(c.flags, RAFT_SNAPSHOT_F_PULLED);
	assert_false(plog_pull_snapshot_fill(src.pl, &req, 7, 1, 3, &c));
	/* Nothing installed: the puller's log is untouched. */
	assert_int_equal(dst.pl->commit, 0);
	assert_int_equal(dst.loads, 0);
	lt_node_fini(&dst);
	lt_node_fini(&src);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conflict_truncation),
		cmocka_unit_test(test_duplicate_append_keeps_tail),
		cmocka_unit_test(test_follower_commit_and_apply),
		cmocka_unit_test(test_apply_announces_batches),
		cmocka_unit_test(test_figure8_commit_rule),
		cmocka_unit_test(test_commit_ignores_uncounted),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_retransmit_from_what_is_known),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_compaction_keeps_tail),
		cmocka_unit_test(test_append_fits_mtu),
		cmocka_unit_test(test_snapshot_too_big_not_compacted),
		cmocka_unit_test(test_snapshot_chunked_lossy),
		cmocka_unit_test(test_snapshot_chunk_receiver),
		cmocka_unit_test(test_pull),
		cmocka_unit_test(test_pull_stale_source),
		cmocka_unit_test(test_pull_learns_commit),
		cmocka_unit_test(test_pull_snapshot_resume),
		cmocka_unit_test(test_pull_snapshot_chunked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
