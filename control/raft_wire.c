/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Raft messages on the wire (see raft_wire.h; docs/protocol.md,
 * "Control-plane messages").
 *
 * Each message type has a table of rows; a row is an integer (its width
 * on the wire and in memory may differ: n is 32 bits in struct raft_msg
 * and 16 on the wire), a reserved byte, or an array whose count is an
 * earlier row. Encoding and decoding walk the same table, so the two can
 * only disagree if a row is wrong, and the golden-bytes tests pin the rows.
 *
 * Log entries, most of an APPEND's bytes, are written and read by hand
 * (raft_wire_entry_encode/decode): walking rows cost a mispredicted jump
 * a field, and the row walk was 8 % of the CPU serving the workers in the
 * 3-node bench. Their bytes are pinned by the same golden APPEND.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/bytes.h"
#include "control/raft_wire.h"

_Static_assert(LATCH_KEY_MAX <= 64, "bytes_copy_small() copies a key");

enum wf_kind {
	WF_INT,     /* unsigned integer, big-endian on the wire */
	WF_RSV,     /* reserved bytes: zero on send, ignored on receipt */
	WF_POS,     /* struct raft_pos[count] */
	WF_ENTRIES, /* struct lock_entry[count], each trimmed to its key */
	WF_DATA,    /* uint8_t[count] */
};

struct wf {
	uint8_t kind;
	uint8_t wire;       /* WF_INT: bytes on the wire; WF_RSV/RAW: length */
	uint8_t msize;      /* WF_INT: bytes in memory */
	uint8_t count_size; /* arrays: bytes of the count in memory */
	uint16_t off;       /* in the struct the table describes */
	uint16_t count_off; /* arrays: offset of the count (an earlier row) */
	uint32_t max;       /* arrays: bound of the count */
};

#define MSIZE(st, m) sizeof(((st *)0)->m)
#define INT_ROW(st, w, m)                                         \
	{                                                         \
		WF_INT, w, MSIZE(st, m), 0, offsetof(st, m), 0, 0 \
	}
#define RSV_ROW(w)                       \
	{                                \
		WF_RSV, w, 0, 0, 0, 0, 0 \
	}
#define ARRAY_ROW(kind, st, m, cnt, max)                     \
	{                                                    \
		kind, 0, 0, MSIZE(st, cnt), offsetof(st, m), \
			offsetof(st, cnt), max               \
	}

#define M(w, m)                INT_ROW(struct raft_msg, w, m)
#define ARR(kind, m, cnt, max) ARRAY_ROW(kind, struct raft_msg, m, cnt, max)

static const struct wf vote_rows[] = {
	M(2, u.vote.logs),
	M(1, u.vote.transfer),
	RSV_ROW(1),
	ARR(WF_POS, u.vote.pos, u.vote.logs, RAFT_LOGS_MAX),
};

static const struct wf vote_reply_rows[] = {
	M(2, u.vote_reply.logs),
	M(1, u.vote_reply.granted),
	RSV_ROW(1),
	ARR(WF_POS, u.vote_reply.pos, u.vote_reply.logs, RAFT_LOGS_MAX),
};

/* APPEND and PULL_REPLY (raft_msg.h: the same body). */
static const struct wf append_rows[] = {
	M(8, u.append.prev_index),
	M(8, u.append.prev_term),
	M(8, u.append.commit),
	M(8, u.append.caught_up_incarnation),
	M(2, u.append.n),
	ARR(WF_ENTRIES, u.append.entries, u.append.n, RAFT_BATCH_MAX),
};

static const struct wf append_reply_rows[] = {
	M(8, u.append_reply.index),
	M(8, u.append_reply.incarnation),
	M(1, u.append_reply.success),
	M(1, u.append_reply.amnesic),
};

/* One chunk (raft_msg.h); raft_wire_decode() checks offset, len, total
 * and done agree. RAFT_WIRE_SNAPSHOT_FIXED_LEN bytes, then the data. */
static const struct wf snapshot_rows[] = {
	M(8, u.snapshot.index),
	M(8, u.snapshot.term),
	M(4, u.snapshot.offset),
	M(4, u.snapshot.total),
	M(2, u.snapshot.len),
	M(1, u.snapshot.done),
	M(1, u.snapshot.flags),
	M(8, u.snapshot.incarnation),
	ARR(WF_DATA, u.snapshot.data, u.snapshot.len, RAFT_SNAPSHOT_MAX),
};

static const struct wf snapshot_reply_rows[] = {
	M(8, u.snapshot_reply.index),
	M(8, u.snapshot_reply.incarnation),
	M(4, u.snapshot_reply.offset),
	M(1, u.snapshot_reply.amnesic),
	RSV_ROW(1),
};

/* The puller's position, then its progress in the source's snapshot. */
static const struct wf pull_rows[] = {
	M(8, u.pull.last.term),
	M(8, u.pull.last.index),
	M(8, u.pull.commit),
	M(8, u.pull.snap.term), /* progress: docs/raft.md, "Pulling ..." */
	M(8, u.pull.snap.index),
	M(8, u.pull.snap_incarnation),
	M(4, u.pull.snap_have),
};

#undef M
#undef ARR

struct body {
	const struct wf *rows;
	unsigned count;
	bool known;
};

#define BODY(rows)                                         \
	{                                                  \
		rows, sizeof(rows) / sizeof(rows[0]), true \
	}
#define EMPTY_BODY            \
	{                     \
		NULL, 0, true \
	}

static const struct body bodies[RAFT_MSG_TYPE_MAX] = {
	[RAFT_MSG_PREVOTE] = BODY(vote_rows),
	[RAFT_MSG_PREVOTE_REPLY] = BODY(vote_reply_rows),
	[RAFT_MSG_VOTE] = BODY(vote_rows),
	[RAFT_MSG_VOTE_REPLY] = BODY(vote_reply_rows),
	[RAFT_MSG_APPEND] = BODY(append_rows),
	[RAFT_MSG_APPEND_REPLY] = BODY(append_reply_rows),
	[RAFT_MSG_SNAPSHOT] = BODY(snapshot_rows),
	[RAFT_MSG_TIMEOUT_NOW] = EMPTY_BODY,
	[RAFT_MSG_PULL] = BODY(pull_rows),
	[RAFT_MSG_PULL_REPLY] = BODY(append_rows),
	[RAFT_MSG_SNAPSHOT_REPLY] = BODY(snapshot_reply_rows),
};

static const struct body ping_body = EMPTY_BODY;

static bool
type_is_known(uint8_t type)
{
	return type == RAFT_WIRE_TYPE_PING ||
	       (type != 0 && type < RAFT_MSG_TYPE_MAX && bodies[type].known);
}

static const struct body *
body_of(uint8_t type)
{
	return type == RAFT_WIRE_TYPE_PING ? &ping_body : &bodies[type];
}

const char *const raft_wire_verdict_names[RAFT_WIRE_V_MAX] = {
#define RAFT_WIRE_NAME(name, text) [RAFT_WIRE_V_##name] = text,
	RAFT_WIRE_VERDICT_LIST(RAFT_WIRE_NAME)
#undef RAFT_WIRE_NAME
};

_Static_assert(RAFT_WIRE_ENTRY_FIXED_LEN ==
		       1 + 1 + 2 + 4 + 4 + 5 * 8 + sizeof(struct lock_addr) + 2,
	       "raft_wire_entry_encode() and RAFT_WIRE_ENTRY_FIXED_LEN agree");
_Static_assert(LATCH_KEY_MAX <= UINT16_MAX, "key length fits 16 bits");
_Static_assert(RAFT_WIRE_SNAPSHOT_FIXED_LEN == 8 + 8 + 4 + 4 + 2 + 1 + 1 + 8,
	       "snapshot_rows and RAFT_WIRE_SNAPSHOT_FIXED_LEN agree");
_Static_assert(RAFT_WIRE_PULL_LEN == 3 * 8 + 3 * 8 + 4,
	       "pull_rows and RAFT_WIRE_PULL_LEN agree");
_Static_assert(RAFT_SNAPSHOT_MAX <= UINT16_MAX, "a chunk's len fits 16 bits");

static uint64_t
mem_load(const uint8_t *p, unsigned size)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	switch (size) {
	case 1:
		memcpy(&u8, p, 1);
		return u8;
	case 2:
		memcpy(&u16, p, 2);
		return u16;
	case 4:
		memcpy(&u32, p, 4);
		return u32;
	default:
		memcpy(&u64, p, 8);
		return u64;
	}
}

static void
mem_store(uint8_t *p, unsigned size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	switch (size) {
	case 1:
		memcpy(p, &u8, 1);
		break;
	case 2:
		memcpy(p, &u16, 2);
		break;
	case 4:
		memcpy(p, &u32, 4);
		break;
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/* Encoding cursor: writes past cap only set the overflow flag. */
struct wcur {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void
wput(struct wcur *w, unsigned width, uint64_t v)
{
	if (w->len + width > w->cap) {
		w->overflow = true;
		return;
	}
	be_put_n(w->buf + w->len, width, v);
	w->len += width;
}

static void
wbytes(struct wcur *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static int encode_rows(const struct wf *rows, unsigned count,
		       const uint8_t *base, struct wcur *w);

static int
encode_rows(const struct wf *rows, unsigned count, const uint8_t *base,
	    struct wcur *w)
{
	unsigned r;
	uint64_t i, n, v;
	int rc;

	for (r = 0; r < count; r++) {
		const struct wf *f = &rows[r];

		switch (f->kind) {
		case WF_INT:
			v = mem_load(base + f->off, f->msize);
			if (f->wire < 8 && v >> (8 * f->wire) != 0)
				return -EINVAL;
			wput(w, f->wire, v);
			break;
		case WF_RSV:
			wput(w, f->wire, 0);
			break;
		case WF_POS:
		case WF_ENTRIES:
		case WF_DATA:
			n = mem_load(base + f->count_off, f->count_size);
			if (n > f->max)
				return -EINVAL;
			for (i = 0; i < n && f->kind != WF_DATA; i++) {
				if (f->kind == WF_POS) {
					const struct raft_pos *p =
						(const struct raft_pos
							 *)(base + f->off) +
						i;

					wput(w, 8, p->term);
					wput(w, 8, p->index);
					continue;
				}
				rc = raft_wire_entry_encode(
					(const struct lock_entry *)(base +
								    f->off) +
						i,
					w->buf + w->len,
					w->overflow ? 0 : w->cap - w->len);
				if (rc == -ENOSPC)
					w->overflow = true;
				else if (rc < 0)
					return rc;
				else
					w->len += (size_t)rc;
			}
			if (f->kind == WF_DATA)
				wbytes(w, base + f->off, n);
			break;
		}
	}
	return 0;
}

/* An entry's fields, at their offsets (docs/protocol.md, "Entry"). */
#define ENTRY_OP      0
#define ENTRY_FLAGS   2 /* after a reserved byte */
#define ENTRY_LEASE   4
#define ENTRY_WAIT    8
#define ENTRY_CLIENT  12
#define ENTRY_REQUEST 20
#define ENTRY_TOKEN   28
#define ENTRY_NOW     36
#define ENTRY_TERM    44
#define ENTRY_ADDR    52
#define ENTRY_KEY_LEN (ENTRY_ADDR + (int)sizeof(struct lock_addr))
#define ENTRY_KEY     (ENTRY_KEY_LEN + 2)
_Static_assert(ENTRY_KEY == RAFT_WIRE_ENTRY_FIXED_LEN,
	       "the key's bytes follow the fixed fields");

int
raft_wire_entry_encode(const struct lock_entry *e, uint8_t *buf, size_t cap)
{
	size_t len;

	if (e->key.len > LATCH_KEY_MAX)
		return -EINVAL;
	len = raft_wire_entry_len(e);
	if (len > cap)
		return -ENOSPC;
	buf[ENTRY_OP] = e->op;
	buf[ENTRY_OP + 1] = 0;
	be_put16(buf + ENTRY_FLAGS, e->flags);
	be_put32(buf + ENTRY_LEASE, e->lease_ms);
	be_put32(buf + ENTRY_WAIT, e->wait_ms);
	be_put64(buf + ENTRY_CLIENT, e->client_id);
	be_put64(buf + ENTRY_REQUEST, e->request_id);
	be_put64(buf + ENTRY_TOKEN, e->token);
	be_put64(buf + ENTRY_NOW, e->now_ms);
	be_put64(buf + ENTRY_TERM, e->term);
	memcpy(buf + ENTRY_ADDR, e->addr.bytes, sizeof(e->addr.bytes));
	be_put16(buf + ENTRY_KEY_LEN, e->key.len);
	bytes_copy_small(buf + ENTRY_KEY, e->key.bytes, e->key.len);
	return (int)len;
}

/*
 * A SNAPSHOT chunk lies inside its snapshot and says done exactly when it
 * ends it (raft_msg.h). Checked on both sides, so a receiver never sees
 * a chunk that writes past the total it announced.
 */
static bool
raft_wire_chunk_is_valid(const struct raft_msg *m)
{
	const struct raft_msg_snapshot *s = &m->u.snapshot;

	if (s->len > RAFT_SNAPSHOT_MAX || s->offset > s->total ||
	    s->len > s->total - s->offset)
		return false;
	return s->done == (s->offset + s->len == s->total);
}

int
raft_wire_encode(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
	struct wcur w = {.buf = buf, .cap = cap};
	const struct body *b;
	int rc;

	if (!type_is_known(m->type) || m->from >= RAFT_NODES_MAX ||
	    m->to >= RAFT_NODES_MAX || m->log >= RAFT_LOGS_MAX)
		return -EINVAL;
	if (m->type == RAFT_MSG_SNAPSHOT && !raft_wire_chunk_is_valid(m))
		return -EINVAL;
	b = body_of(m->type);
	wput(&w, 2, RAFT_WIRE_MAGIC);
	wput(&w, 1, RAFT_WIRE_VERSION);
	wput(&w, 1, m->type);
	wput(&w, 1, m->from);
	wput(&w, 1, m->to);
	wput(&w, 2, m->log);
	wput(&w, 8, m->term);
	wput(&w, 2, 0); /* body_len, filled in below */
	wput(&w, 2, 0); /* reserved */
	rc = encode_rows(b->rows, b->count, (const uint8_t *)m, &w);
	if (rc != 0)
		return rc;
	if (w.overflow)
		return -ENOSPC;
	be_put_n(buf + 16, 2, w.len - RAFT_WIRE_HEADER_LEN);
	return (int)w.len;
}

/* Decoding cursor over the body. */
struct rcur {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

static bool
rhave(const struct rcur *r, size_t n)
{
	return r->len - r->off >= n;
}

static enum raft_wire_verdict decode_rows(const struct wf *rows, unsigned count,
					  uint8_t *base, struct rcur *r);

static enum raft_wire_verdict
decode_entry(struct lock_entry *e, struct rcur *r)
{
	int rc = raft_wire_entry_decode(r->buf + r->off, r->len - r->off, e);

	if (rc == -EINVAL)
		return RAFT_WIRE_V_BAD_KEY;
	if (rc < 0)
		return RAFT_WIRE_V_TRUNCATED;
	r->off += (size_t)rc;
	return RAFT_WIRE_V_OK;
}

static enum raft_wire_verdict
decode_rows(const struct wf *rows, unsigned count, uint8_t *base,
	    struct rcur *r)
{
	enum raft_wire_verdict v;
	unsigned row;
	uint64_t i, n;

	for (row = 0; row < count; row++) {
		const struct wf *f = &rows[row];

		switch (f->kind) {
		case WF_INT:
			if (!rhave(r, f->wire))
				return RAFT_WIRE_V_TRUNCATED;
			mem_store(base + f->off, f->msize,
				  be_get_n(r->buf + r->off, f->wire));
			r->off += f->wire;
			break;
		case WF_RSV:
			if (!rhave(r, f->wire))
				return RAFT_WIRE_V_TRUNCATED;
			r->off += f->wire;
			break;
		case WF_POS:
		case WF_ENTRIES:
		case WF_DATA:
			n = mem_load(base + f->count_off, f->count_size);
			if (n > f->max)
				return RAFT_WIRE_V_BAD_COUNT;
			if (f->kind == WF_DATA) {
				if (!rhave(r, n))
					return RAFT_WIRE_V_TRUNCATED;
				memcpy(base + f->off, r->buf + r->off, n);
				r->off += n;
				break;
			}
			for (i = 0; i < n; i++) {
				if (f->kind == WF_ENTRIES) {
					v = decode_entry(
						(struct lock_entry *)(base +
								      f->off) +
							i,
						r);
					if (v != RAFT_WIRE_V_OK)
						return v;
					continue;
				}
				struct raft_pos *p =
					(struct raft_pos *)(base + f->off) + i;

				if (!rhave(r, RAFT_WIRE_POS_LEN))
					return RAFT_WIRE_V_TRUNCATED;
				p->term = be_get_n(r->buf + r->off, 8);
				p->index = be_get_n(r->buf + r->off + 8, 8);
				r->off += RAFT_WIRE_POS_LEN;
			}
			break;
		}
	}
	return RAFT_WIRE_V_OK;
}

/* A refused entry leaves @out zeroed, as a decoded one is filled. */
static int
entry_refuse(struct lock_entry *out, int err)
{
	memset(out, 0, sizeof(*out));
	return err;
}

int
raft_wire_entry_decode(const uint8_t *buf, size_t len, struct lock_entry *out)
{
	uint16_t key_len;

	if (len < RAFT_WIRE_ENTRY_FIXED_LEN)
		return entry_refuse(out, -EMSGSIZE);
	key_len = be_get16(buf + ENTRY_KEY_LEN);
	if (key_len > LATCH_KEY_MAX)
		return entry_refuse(out, -EINVAL);
	if (len - RAFT_WIRE_ENTRY_FIXED_LEN < key_len)
		return entry_refuse(out, -EMSGSIZE);
	/* Field by field, the key's unused bytes zeroed: a memset of the
	 * whole entry and a memcpy of a variable length were "rep stos" and
	 * "rep movs", most of this function's time (bytes_copy_small). */
	out->op = buf[ENTRY_OP];
	out->pad0 = 0;
	out->flags = be_get16(buf + ENTRY_FLAGS);
	out->lease_ms = be_get32(buf + ENTRY_LEASE);
	out->wait_ms = be_get32(buf + ENTRY_WAIT);
	out->pad1 = 0;
	out->client_id = be_get64(buf + ENTRY_CLIENT);
	out->request_id = be_get64(buf + ENTRY_REQUEST);
	out->token = be_get64(buf + ENTRY_TOKEN);
	out->now_ms = be_get64(buf + ENTRY_NOW);
	out->term = be_get64(buf + ENTRY_TERM);
	memcpy(out->addr.bytes, buf + ENTRY_ADDR, sizeof(out->addr.bytes));
	out->key.len = key_len;
	/* The key's bytes and the entry's tail padding. */
	memset(out->key.bytes, 0,
	       sizeof(*out) - offsetof(struct lock_entry, key.bytes));
	bytes_copy_small(out->key.bytes, buf + ENTRY_KEY, key_len);
	return (int)(RAFT_WIRE_ENTRY_FIXED_LEN + key_len);
}

enum raft_wire_verdict
raft_wire_decode(const uint8_t *buf, size_t len, struct raft_msg *out)
{
	struct rcur r;
	const struct body *b;
	enum raft_wire_verdict v;
	uint8_t type;

	memset(out, 0, sizeof(*out));
	if (len < RAFT_WIRE_HEADER_LEN)
		return RAFT_WIRE_V_SHORT_HEADER;
	if (be_get_n(buf, 2) != RAFT_WIRE_MAGIC)
		return RAFT_WIRE_V_BAD_MAGIC;
	if (buf[2] != RAFT_WIRE_VERSION)
		return RAFT_WIRE_V_BAD_VERSION;
	type = buf[3];
	if (!type_is_known(type))
		return RAFT_WIRE_V_BAD_TYPE;
	if (buf[4] >= RAFT_NODES_MAX || buf[5] >= RAFT_NODES_MAX)
		return RAFT_WIRE_V_BAD_NODE;
	if (be_get_n(buf + 6, 2) >= RAFT_LOGS_MAX)
		return RAFT_WIRE_V_BAD_LOG;
	if (be_get_n(buf + 16, 2) != len - RAFT_WIRE_HEADER_LEN)
		return RAFT_WIRE_V_BAD_LENGTH;
	out->type = type;
	out->from = buf[4];
	out->to = buf[5];
	out->log = (uint16_t)be_get_n(buf + 6, 2);
	out->term = be_get_n(buf + 8, 8);
	b = body_of(type);
	r.buf = buf + RAFT_WIRE_HEADER_LEN;
	r.len = len - RAFT_WIRE_HEADER_LEN;
	r.off = 0;
	v = decode_rows(b->rows, b->count, (uint8_t *)out, &r);
	if (v != RAFT_WIRE_V_OK)
		return v;
	if (r.off != r.len)
		return RAFT_WIRE_V_TRAILING;
	if (type == RAFT_MSG_SNAPSHOT && !raft_wire_chunk_is_valid(out))
		return RAFT_WIRE_V_BAD_COUNT;
	return RAFT_WIRE_V_OK;
}
