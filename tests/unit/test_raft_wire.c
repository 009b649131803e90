/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Raft messages on the wire (control/raft_wire.c): golden bytes for each
 * body kind, every truncation refused, round trips of every type, and a
 * verdict for each kind of malformed datagram.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/raft_wire.h"

/* Header of a golden message: type, from, to, log, term, body_len. */
#define HDR(type, from, to, log, term, blen)                              \
	0x4c, 0x52, 0x03, type, from, to, 0x00, log, 0, 0, 0, 0, 0, 0, 0, \
		term, 0x00, blen, 0x00, 0x00

static const uint8_t golden_timeout_now[] = {HDR(8, 1, 2, 0, 7, 0)};

static const uint8_t golden_append_reply[] = {
	HDR(6, 2, 1, 3, 5, 18),
	0,
	0,
	0,
	0,
	0,
	0,
	0x01,
	0x02, /* index 258 */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0x09, /* incarnation 9 */
	0x01, /* success */
	0x00, /* amnesic */
};

static const uint8_t golden_vote[] = {
	HDR(3, 1, 0, 0, 4, 36),
	0x00,
	0x02, /* logs */
	0x01, /* transfer */
	0x00, /* reserved */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	3,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	10, /* pos[0] */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	4,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	11, /* pos[1] */
};

/* One entry with key "ab": the entry is 70 + 2 bytes, the body 34 + 72. */
static const uint8_t golden_append[] = {
	HDR(5, 1, 2, 1, 6, 106), 0, 0, 0, 0, 0, 0, 0, 20, /* prev_index */
	0, 0, 0, 0, 0, 0, 0, 5,                           /* prev_term */
	0, 0, 0, 0, 0, 0, 0, 19,                          /* commit */
	0, 0, 0, 0, 0, 0, 0, 0, /* caught_up_incarnation */
	0x00, 0x01,             /* n */
	/* entry */
	0x01,                                           /* op ACQUIRE */
	0x00,                                           /* reserved */
	0x00, 0x03,                                     /* flags */
	0x00, 0x00, 0x27, 0x10,                         /* lease_ms 10000 */
	0x00, 0x00, 0x00, 0x64,                         /* wait_ms 100 */
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* client_id */
	0, 0, 0, 0, 0, 0, 0, 0x2a,                      /* request_id 42 */
	0, 0, 0, 0, 0, 0, 0, 0,                         /* token */
	0, 0, 0, 0, 0, 0, 0x03, 0xe8,                   /* now_ms 1000 */
	0, 0, 0, 0, 0, 0, 0, 6,                         /* term */
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* addr */
	0x00, 0x02, 'a', 'b',                                  /* key */
};

static void
golden_append_msg(struct raft_msg *m)
{
	struct lock_entry *e = &m->u.append.entries[0];
	unsigned i;

	memset(m, 0, sizeof(*m));
	m->type = RAFT_MSG_APPEND;
	m->from = 1;
	m->to = 2;
	m->log = 1;
	m->term = 6;
	m->u.append.prev_index = 20;
	m->u.append.prev_term = 5;
	m->u.append.commit = 19;
	m->u.append.n = 1;
	e->op = 1;
	e->flags = 3;
	e->lease_ms = 10000;
	e->wait_ms = 100;
	e->client_id = 0x1122334455667788ull;
	e->request_id = 42;
	e->now_ms = 1000;
	e->term = 6;
	for (i = 0; i < 16; i++)
		e->addr.bytes[i] = (uint8_t)(i + 1);
	e->key.len = 2;
	e->key.bytes[0] = 'a';
	e->key.bytes[1] = 'b';
}

static void
golden_vote_msg(struct raft_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = RAFT_MSG_VOTE;
	m->from = 1;
	m->to = 0;
	m->term = 4;
	m->u.vote.logs = 2;
	m->u.vote.transfer = 1;
	m->u.vote.pos[0].term = 3;
	m->u.vote.pos[0].index = 10;
	m->u.vote.pos[1].term = 4;
	m->u.vote.pos[1].index = 11;
}

static void
golden_append_reply_msg(struct raft_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = RAFT_MSG_APPEND_REPLY;
	m->from = 2;
	m->to = 1;
	m->log = 3;
	m->term = 5;
	m->u.append_reply.index = 258;
	m->u.append_reply.incarnation = 9;
	m->u.append_reply.success = 1;
}

static void
golden_timeout_now_msg(struct raft_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = RAFT_MSG_TIMEOUT_NOW;
	m->from = 1;
	m->to = 2;
	m->term = 7;
}

struct golden {
	void (*make)(struct raft_msg *m);
	const uint8_t *bytes;
	size_t len;
};

static const struct golden goldens[] = {
	{golden_timeout_now_msg, golden_timeout_now,
	 sizeof(golden_timeout_now)},
	{golden_append_reply_msg, golden_append_reply,
	 sizeof(golden_append_reply)},
	{golden_vote_msg, golden_vote, sizeof(golden_vote)},
	{golden_append_msg, golden_append, sizeof(golden_append)},
};

#define GOLDENS (sizeof(goldens) / sizeof(goldens[0]))

static void
test_golden_encode(void **state)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg m;
	unsigned g;
	int len;

	(void)state;
	for (g = 0; g < GOLDENS; g++) {
		goldens[g].make(&m);
		len = raft_wire_encode(&m, buf, sizeof(buf));
		assert_int_equal(len, goldens[g].len);
		assert_memory_equal(buf, goldens[g].bytes, goldens[g].len);
	}
}

static void
test_golden_decode(void **state)
{
	struct raft_msg want, got;
	unsigned g;

	(void)state;
	for (g = 0; g < GOLDENS; g++) {
		goldens[g].make(&want);
		assert_int_equal(raft_wire_decode(goldens[g].bytes,
						  goldens[g].len, &got),
				 RAFT_WIRE_V_OK);
		assert_memory_equal(&got, &want, sizeof(want));
	}
}

/* Every prefix is refused: the header's body_len no longer matches. */
static void
test_truncation_every_length(void **state)
{
	struct raft_msg got;
	unsigned g;
	size_t n;

	(void)state;
	for (g = 0; g < GOLDENS; g++) {
		for (n = 0; n < goldens[g].len; n++) {
			enum raft_wire_verdict v =
				raft_wire_decode(goldens[g].bytes, n, &got);

			assert_int_not_equal(v, RAFT_WIRE_V_OK);
			assert_int_equal(v, n < RAFT_WIRE_HEADER_LEN
						    ? RAFT_WIRE_V_SHORT_HEADER
						    : RAFT_WIRE_V_BAD_LENGTH);
		}
	}
}

/*
 * A prefix whose body_len is rewritten to match (a sender that lies
 * consistently) is refused as truncated: no field is read past the end.
 */
static void
test_truncation_consistent_length(void **state)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg got;
	unsigned g;
	size_t n;

	(void)state;
	for (g = 0; g < GOLDENS; g++) {
		for (n = RAFT_WIRE_HEADER_LEN; n < goldens[g].len; n++) {
			memcpy(buf, goldens[g].bytes, n);
			buf[16] = (uint8_t)((n - RAFT_WIRE_HEADER_LEN) >> 8);
			buf[17] = (uint8_t)(n - RAFT_WIRE_HEADER_LEN);
			assert_int_equal(raft_wire_decode(buf, n, &got),
					 RAFT_WIRE_V_TRUNCATED);
		}
	}
}

static void
round_trip(const struct raft_msg *m)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg got;
	int len;

	len = raft_wire_encode(m, buf, sizeof(buf));
	assert_true(len >= RAFT_WIRE_HEADER_LEN);
	assert_true(len <= RAFT_WIRE_MAX_LEN);
	assert_int_equal(raft_wire_decode(buf, (size_t)len, &got),
			 RAFT_WIRE_V_OK);
	assert_memory_equal(&got, m, sizeof(got));
	/* One byte short of the buffer it needs: refused, not overrun. */
	assert_int_equal(raft_wire_encode(m, buf, (size_t)len - 1), -ENOSPC);
}

static void
test_round_trip_every_type(void **state)
{
	struct raft_msg m;
	unsigned t, i;

	(void)state;
	for (t = 1; t < RAFT_MSG_TYPE_MAX; t++) {
		memset(&m, 0, sizeof(m));
		m.type = (uint8_t)t;
		m.from = 7;
		m.to = 3;
		m.log = RAFT_LOGS_MAX - 1;
		m.term = UINT64_MAX - t;
		switch (t) {
		case RAFT_MSG_PREVOTE:
		case RAFT_MSG_VOTE:
			m.u.vote.logs = RAFT_LOGS_MAX;
			m.u.vote.transfer = 1;
			for (i = 0; i < RAFT_LOGS_MAX; i++) {
				m.u.vote.pos[i].term = i * 3 + 1;
				m.u.vote.pos[i].index = ~(uint64_t)i;
			}
			break;
		case RAFT_MSG_PREVOTE_REPLY:
		case RAFT_MSG_VOTE_REPLY:
			m.u.vote_reply.logs = 1;
			m.u.vote_reply.granted = 1;
			m.u.vote_reply.pos[0].term = 9;
			m.u.vote_reply.pos[0].index = 99;
			break;
		case RAFT_MSG_APPEND:
		case RAFT_MSG_PULL_REPLY:
			m.u.append.prev_index = 5;
			m.u.append.prev_term = 2;
			m.u.append.commit = 4;
			m.u.append.caught_up_incarnation = 77;
			m.u.append.n = RAFT_BATCH_MAX;
			for (i = 0; i < RAFT_BATCH_MAX; i++) {
				struct lock_entry *e = &m.u.append.entries[i];

				e->op = (uint8_t)(i + 1);
				e->term = 2;
				e->token = (uint64_t)i << 40;
				e->key.len =
					(uint16_t)(i * 9 % (LATCH_KEY_MAX + 1));
				memset(e->key.bytes, 'k' + (int)i, e->key.len);
			}
			m.u.append.entries[0].key.len = LATCH_KEY_MAX;
			memset(m.u.append.entries[0].key.bytes, 'z',
			       LATCH_KEY_MAX);
			break;
		case RAFT_MSG_APPEND_REPLY:
			m.u.append_reply.index = 1;
			m.u.append_reply.incarnation = 2;
			m.u.append_reply.amnesic = 1;
			break;
		case RAFT_MSG_SNAPSHOT:
			/* The last, full chunk of a snapshot of 70000
			 * bytes (offset and total above 16 bits). */
			m.u.snapshot.index = 8;
			m.u.snapshot.term = 3;
			m.u.snapshot.total = 70000;
			m.u.snapshot.offset = 70000 - RAFT_SNAPSHOT_MAX;
			m.u.snapshot.len = RAFT_SNAPSHOT_MAX;
			m.u.snapshot.done = 1;
			m.u.snapshot.flags = RAFT_SNAPSHOT_F_PULLED;
			m.u.snapshot.incarnation = (uint64_t)1 << 60;
			for (i = 0; i < RAFT_SNAPSHOT_MAX; i++)
				m.u.snapshot.data[i] = (uint8_t)(i * 7);
			break;
		case RAFT_MSG_SNAPSHOT_REPLY:
			m.u.snapshot_reply.index = (uint64_t)1 << 40;
			m.u.snapshot_reply.incarnation = 5;
			m.u.snapshot_reply.offset = 0x01020304;
			m.u.snapshot_reply.amnesic = 1;
			break;
		case RAFT_MSG_PULL:
			m.u.pull.last.term = 3;
			m.u.pull.last.index = 30;
			m.u.pull.commit = 29;
			m.u.pull.snap.term = 2;
			m.u.pull.snap.index = (uint64_t)1 << 50;
			m.u.pull.snap_incarnation = UINT64_MAX;
			m.u.pull.snap_have = 0xfffffff0;
			break;
		default:
			break;
		}
		round_trip(&m);
	}
}

/*
 * A middle chunk of a snapshot: index 9, term 2, offset 1024 of total
 * 70000, 3 data bytes, not done, pulled (flags 1), from incarnation 5.
 * Body 36 + 3.
 */
static const uint8_t golden_chunk[] = {
	HDR(7, 0, 2, 1, 2, 39),
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	9, /* index */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	2, /* term */
	0x00,
	0x00,
	0x04,
	0x00, /* offset 1024 */
	0x00,
	0x01,
	0x11,
	0x70, /* total 70000 */
	0x00,
	0x03, /* len */
	0x00, /* done */
	0x01, /* flags: PULLED */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	5, /* incarnation */
	0xaa,
	0xbb,
	0xcc, /* data */
};

/*
 * A PULL: last (term 3, index 30), commit 29, and 2048 bytes held of the
 * source's snapshot (term 2, index 9) of its incarnation 5. Body 52.
 */
static const uint8_t golden_pull[] = {
	HDR(9, 2, 0, 1, 4, 52),
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	3, /* last term */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	30, /* last index */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	29, /* commit */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	2, /* snapshot term */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	9, /* snapshot index */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	5, /* source incarnation */
	0,
	0,
	0x08,
	0x00, /* bytes held 2048 */
};

/* The follower holds 2048 bytes of snapshot 9. Body 22. */
static const uint8_t golden_snapshot_reply[] = {
	HDR(11, 2, 0, 1, 2, 22),
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	9, /* index */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	4, /* incarnation */
	0x00,
	0x00,
	0x08,
	0x00, /* offset 2048 */
	0x01, /* amnesic */
	0x00, /* reserved */
};

static void expect_verdict(const uint8_t *bytes, size_t len, unsigned at,
			   uint8_t value, enum raft_wire_verdict want);

static void
golden_chunk_msg(struct raft_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = RAFT_MSG_SNAPSHOT;
	m->from = 0;
	m->to = 2;
	m->log = 1;
	m->term = 2;
	m->u.snapshot.index = 9;
	m->u.snapshot.term = 2;
	m->u.snapshot.offset = 1024;
	m->u.snapshot.total = 70000;
	m->u.snapshot.len = 3;
	m->u.snapshot.flags = RAFT_SNAPSHOT_F_PULLED;
	m->u.snapshot.incarnation = 5;
	m->u.snapshot.data[0] = 0xaa;
	m->u.snapshot.data[1] = 0xbb;
	m->u.snapshot.data[2] = 0xcc;
}

/* Chunks and their acks: golden bytes both ways, and every way a chunk
 * can lie about its place in the snapshot is refused. */
static void
test_snapshot_chunks(void **state)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg m, got;
	int len;
	size_t n;

	(void)state;
	golden_chunk_msg(&m);
	len = raft_wire_encode(&m, buf, sizeof(buf));
	assert_int_equal(len, sizeof(golden_chunk));
	assert_int_equal(len, RAFT_WIRE_HEADER_LEN +
				      RAFT_WIRE_SNAPSHOT_FIXED_LEN + 3);
	assert_memory_equal(buf, golden_chunk, sizeof(golden_chunk));
	assert_int_equal(
		raft_wire_decode(golden_chunk, sizeof(golden_chunk), &got),
		RAFT_WIRE_V_OK);
	assert_memory_equal(&got, &m, sizeof(got));
	for (n = RAFT_WIRE_HEADER_LEN; n < sizeof(golden_chunk); n++) {
		memcpy(buf, golden_chunk, n);
		buf[17] = (uint8_t)(n - RAFT_WIRE_HEADER_LEN);
		assert_int_equal(raft_wire_decode(buf, n, &got),
				 RAFT_WIRE_V_TRUNCATED);
	}

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAPSHOT_REPLY;
	m.from = 2;
	m.to = 0;
	m.log = 1;
	m.term = 2;
	m.u.snapshot_reply.index = 9;
	m.u.snapshot_reply.incarnation = 4;
	m.u.snapshot_reply.offset = 2048;
	m.u.snapshot_reply.amnesic = 1;
	len = raft_wire_encode(&m, buf, sizeof(buf));
	assert_int_equal(len, sizeof(golden_snapshot_reply));
	assert_memory_equal(buf, golden_snapshot_reply, (size_t)len);
	assert_int_equal(raft_wire_decode(golden_snapshot_reply,
					  sizeof(golden_snapshot_reply), &got),
			 RAFT_WIRE_V_OK);
	assert_memory_equal(&got, &m, sizeof(got));

	/* A PULL names how far the puller got in the source's snapshot. */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_PULL;
	m.from = 2;
	m.to = 0;
	m.log = 1;
	m.term = 4;
	m.u.pull.last.term = 3;
	m.u.pull.last.index = 30;
	m.u.pull.commit = 29;
	m.u.pull.snap.term = 2;
	m.u.pull.snap.index = 9;
	m.u.pull.snap_incarnation = 5;
	m.u.pull.snap_have = 2048;
	len = raft_wire_encode(&m, buf, sizeof(buf));
	assert_int_equal(len, sizeof(golden_pull));
	assert_int_equal(len, RAFT_WIRE_HEADER_LEN + RAFT_WIRE_PULL_LEN);
	assert_memory_equal(buf, golden_pull, (size_t)len);
	assert_int_equal(
		raft_wire_decode(golden_pull, sizeof(golden_pull), &got),
		RAFT_WIRE_V_OK);
	assert_memory_equal(&got, &m, sizeof(got));
	for (n = RAFT_WIRE_HEADER_LEN; n < sizeof(golden_pull); n++) {
		memcpy(buf, golden_pull, n);
		buf[17] = (uint8_t)(n - RAFT_WIRE_HEADER_LEN);
		assert_int_equal(raft_wire_decode(buf, n, &got),
				 RAFT_WIRE_V_TRUNCATED);
	}

	/* done set on a chunk that does not end the snapshot. */
	expect_verdict(golden_chunk, sizeof(golden_chunk), 46, 1,
		       RAFT_WIRE_V_BAD_COUNT);
	/* total below offset + len (total 1025: bytes 40-43). */
	memcpy(buf, golden_chunk, sizeof(golden_chunk));
	buf[41] = 0;
	buf[42] = 0x04;
	buf[43] = 0x01;
	assert_int_equal(raft_wire_decode(buf, sizeof(golden_chunk), &got),
			 RAFT_WIRE_V_BAD_COUNT);
	/* total exactly offset + len: then done must be set ... */
	buf[43] = 0x03;
	assert_int_equal(raft_wire_decode(buf, sizeof(golden_chunk), &got),
			 RAFT_WIRE_V_BAD_COUNT);
	/* ... and with it the chunk is the valid last one. */
	buf[46] = 1;
	assert_int_equal(raft_wire_decode(buf, sizeof(golden_chunk), &got),
			 RAFT_WIRE_V_OK);
	assert_int_equal(got.u.snapshot.total, 1027);
	assert_true(got.u.snapshot.done);
	/* len above RAFT_SNAPSHOT_MAX. */
	expect_verdict(golden_chunk, sizeof(golden_chunk), 44, 0x10,
		       RAFT_WIRE_V_BAD_COUNT);

	/* The encoder refuses the same lies. */
	golden_chunk_msg(&m);
	m.u.snapshot.done = 1;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	golden_chunk_msg(&m);
	m.u.snapshot.total = 1026;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	golden_chunk_msg(&m);
	m.u.snapshot.offset = 70000;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
}

/* Only used entries travel: an APPEND of 0 entries is header + 34. */
static void
test_only_used_entries_sent(void **state)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg m;

	(void)state;
	golden_append_msg(&m);
	m.u.append.n = 0;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)),
			 RAFT_WIRE_HEADER_LEN + 34);
}

static void
expect_verdict(const uint8_t *bytes, size_t len, unsigned at, uint8_t value,
	       enum raft_wire_verdict want)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg got;

	memcpy(buf, bytes, len);
	buf[at] = value;
	assert_int_equal(raft_wire_decode(buf, len, &got), want);
}

static void
test_malformed_verdicts(void **state)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN + 1];
	struct raft_msg got;
	size_t n;

	(void)state;
	expect_verdict(golden_vote, sizeof(golden_vote), 0, 0x4c + 1,
		       RAFT_WIRE_V_BAD_MAGIC);
	/* The lock protocol's magic is not ours. */
	expect_verdict(golden_vote, sizeof(golden_vote), 1, 0x54,
		       RAFT_WIRE_V_BAD_MAGIC);
	/* Version 1 had SNAPSHOT whole, version 2 PULL without a snapshot's
	 * progress and SNAPSHOT without flags: their bodies would be
	 * misread. */
	expect_verdict(golden_vote, sizeof(golden_vote), 2, 1,
		       RAFT_WIRE_V_BAD_VERSION);
	expect_verdict(golden_vote, sizeof(golden_vote), 2, 2,
		       RAFT_WIRE_V_BAD_VERSION);
	expect_verdict(golden_vote, sizeof(golden_vote), 2, 4,
		       RAFT_WIRE_V_BAD_VERSION);
	expect_verdict(golden_vote, sizeof(golden_vote), 3, 0,
		       RAFT_WIRE_V_BAD_TYPE);
	expect_verdict(golden_vote, sizeof(golden_vote), 3, RAFT_MSG_TYPE_MAX,
		       RAFT_WIRE_V_BAD_TYPE);
	expect_verdict(golden_vote, sizeof(golden_vote), 4, RAFT_NODES_MAX,
		       RAFT_WIRE_V_BAD_NODE);
	expect_verdict(golden_vote, sizeof(golden_vote), 5, 0xff,
		       RAFT_WIRE_V_BAD_NODE);
	expect_verdict(golden_vote, sizeof(golden_vote), 6, 0xff,
		       RAFT_WIRE_V_BAD_LOG);
	/* logs above RAFT_LOGS_MAX. */
	expect_verdict(golden_vote, sizeof(golden_vote), 20, 0xff,
		       RAFT_WIRE_V_BAD_COUNT);
	/* n above RAFT_BATCH_MAX. */
	expect_verdict(golden_append, sizeof(golden_append), 52,
		       RAFT_BATCH_MAX + 1, RAFT_WIRE_V_BAD_COUNT);
	/* key length above LATCH_KEY_MAX (byte 20 + 34 + 68 is its low). */
	expect_verdict(golden_append, sizeof(golden_append),
		       RAFT_WIRE_HEADER_LEN + 34 + 68, 0xff,
		       RAFT_WIRE_V_BAD_KEY);
	/* A byte more than body_len says. */
	n = sizeof(golden_append_reply);
	memcpy(buf, golden_append_reply, n);
	buf[n] = 0;
	assert_int_equal(raft_wire_decode(buf, n + 1, &got),
			 RAFT_WIRE_V_BAD_LENGTH);
	/* ... and body_len agreeing: trailing bytes after the fields. */
	buf[17]++;
	assert_int_equal(raft_wire_decode(buf, n + 1, &got),
			 RAFT_WIRE_V_TRAILING);
	/* Each verdict has a name (counters and /metrics use them). */
	for (n = 0; n < RAFT_WIRE_V_MAX; n++)
		assert_non_null(raft_wire_verdict_names[n]);
	assert_string_equal(raft_wire_verdict_names[RAFT_WIRE_V_BAD_KEY],
			    "bad_key");
}

static void
test_encode_refuses_broken_messages(void **state)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct raft_msg m;

	(void)state;
	golden_append_msg(&m);
	m.u.append.n = RAFT_BATCH_MAX + 1;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	golden_append_msg(&m);
	m.u.append.entries[0].key.len = LATCH_KEY_MAX + 1;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	golden_vote_msg(&m);
	m.type = RAFT_MSG_TYPE_MAX;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	golden_vote_msg(&m);
	m.to = RAFT_NODES_MAX;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	golden_vote_msg(&m);
	m.u.vote.logs = RAFT_LOGS_MAX + 1;
	assert_int_equal(raft_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void
test_entry_alone(void **state)
{
	uint8_t buf[RAFT_WIRE_ENTRY_MAX_LEN];
	struct raft_msg m;
	struct lock_entry got;
	int len;
	size_t n;

	(void)state;
	golden_append_msg(&m);
	len = raft_wire_entry_encode(&m.u.append.entries[0], buf, sizeof(buf));
	assert_int_equal(len, RAFT_WIRE_ENTRY_FIXED_LEN + 2);
	assert_memory_equal(buf, golden_append + RAFT_WIRE_HEADER_LEN + 34,
			    (size_t)len);
	assert_int_equal(raft_wire_entry_decode(buf, (size_t)len, &got), len);
	assert_memory_equal(&got, &m.u.append.entries[0], sizeof(got));
	for (n = 0; n < (size_t)len; n++)
		assert_int_equal(raft_wire_entry_decode(buf, n, &got),
				 -EMSGSIZE);
}

/*
 * Keys of every length round-trip exactly, with the key's unused bytes
 * (and the entry's padding) zero, whatever follows the entry in the
 * buffer: the codec copies keys with bytes_copy_small(), whose overlapping
 * copies differ by length class.
 */
static void
test_entry_every_key_len(void **state)
{
	uint8_t buf[RAFT_WIRE_ENTRY_MAX_LEN + 64];
	struct lock_entry e, got;
	unsigned len, i;
	int n;

	(void)state;
	for (len = 0; len <= LATCH_KEY_MAX; len++) {
		memset(&e, 0, sizeof(e));
		e.op = LOCK_E_ACQUIRE;
		e.client_id = 7;
		e.request_id = len;
		e.term = 3;
		e.key.len = (uint16_t)len;
		for (i = 0; i < len; i++)
			e.key.bytes[i] = (uint8_t)(0x40 + i);
		memset(buf, 0xaa, sizeof(buf));
		n = raft_wire_entry_encode(&e, buf, sizeof(buf));
		assert_int_equal(n, RAFT_WIRE_ENTRY_FIXED_LEN + len);
		/* The encoder wrote the key and nothing after it. */
		assert_int_equal(buf[n], 0xaa);
		memset(&got, 0x55, sizeof(got));
		assert_int_equal(raft_wire_entry_decode(buf, sizeof(buf), &got),
				 n);
		assert_memory_equal(&got, &e, sizeof(got));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_encode),
		cmocka_unit_test(test_golden_decode),
		cmocka_unit_test(test_truncation_every_length),
		cmocka_unit_test(test_truncation_consistent_length),
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_only_used_entries_sent),
		cmocka_unit_test(test_malformed_verdicts),
		cmocka_unit_test(test_encode_refuses_broken_messages),
		cmocka_unit_test(test_entry_alone),
		cmocka_unit_test(test_entry_every_key_len),
		cmocka_unit_test(test_snapshot_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
