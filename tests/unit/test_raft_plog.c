/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the partition log step (dataplane/plog.c), in the style of
 * the Raft paper's figures: the consistency check and conflict truncation
 * (Figure 7), duplicated and reordered appends, the commit rule of §5.4.2
 * (Figure 8), pipelining with next/match index, and snapshots (§7).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/plog.h"

struct applied {
	unsigned n;
	uint64_t last;
	unsigned loads;
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
	(void)ctx;
	(void)max;
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

/* Batching and pipelining: several APPENDs in flight, then a stop. */
static void
test_pipelining(void **state)
{
	struct applied a;
	struct plog *pl = t_log(&a, 64);
	uint64_t terms[12];
	struct raft_msg m;
	unsigned i;

	(void)state;
	for (i = 0; i < 12; i++)
		terms[i] = 1;
	t_fill(pl, terms, 12);
	plog_leader_start(pl);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conflict_truncation),
		cmocka_unit_test(test_duplicate_append_keeps_tail),
		cmocka_unit_test(test_follower_commit_and_apply),
		cmocka_unit_test(test_figure8_commit_rule),
		cmocka_unit_test(test_commit_ignores_uncounted),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_pull),
		cmocka_unit_test(test_pull_stale_source),
		cmocka_unit_test(test_pull_learns_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
