/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the wire codec (common/wire.c): a table of golden packets
 * (bytes written out below, expected verdict), every truncation, the order
 * of the checks, decoded fields, encode/decode round trips, and the key
 * hash and partition function of include/latch/proto.h against an
 * independent FNV-1a 64 written from its published definition.
 *
 * Every decode reads from a copy placed right before an unmapped page, so
 * a read past the packet's end crashes the test instead of passing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/wire.h"

/*
 * Golden packets, written byte by byte from the layout in proto.h (not by
 * the encoder under test). Partitions are for 8 partitions, with the
 * fold of proto.h (low 32 bits of h ^ h >> 32, modulo P) computed apart in
 * Python: "orders/42" gives 1, "lock-a" 3, "lock-b" 2, 64 x 'x' 6.
 */

/* ACQUIRE, flags SHARED|WAIT, partition 1, key "orders/42", client
 * 0x0102030405060708, request 0x1112131415161718, lease 30000, wait 5000. */
static const uint8_t pkt_acquire[] = {
	0x4c, 0x54, 0x01, 0x01, 0x00, 0x03, 0x00, 0x01, 0x00, 0x09, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	0x07, 0x08, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x13,
	0x88, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x73, 0x2f, 0x34, 0x32,
};

/* QUERY answer (op 0x84), flags SHARED, partition 3, key "lock-a",
 * count 2, client 0x0a0b0c0d0e0f1011, request 0x99, token
 * 0x0000010000000007, holder 0x2222, lease 1234, wait_ms (waiters) 3. */
static const uint8_t pkt_query_reply[] = {
	0x4c, 0x54, 0x01, 0x84, 0x00, 0x01, 0x00, 0x03, 0x00, 0x06, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x99, 0x00,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x22, 0x22, 0x00, 0x00, 0x04, 0xd2, 0x00, 0x00, 0x00,
	0x03, 0x6c, 0x6f, 0x63, 0x6b, 0x2d, 0x61,
};

/* KEEPALIVE, flags SESSION, partition 3, no key, client 77, request 5,
 * lease 5000. */
static const uint8_t pkt_keepalive[] = {
	0x4c, 0x54, 0x01, 0x05, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x13, 0x88, 0x00, 0x00, 0x00, 0x00,
};

/* GRANTED notification, flags SHARED, partition 2, key "lock-b", status
 * TIMEOUT (3), client 2^64-1, request 2^63+1, token 0xfedcba9876543210. */
static const uint8_t pkt_granted[] = {
	0x4c, 0x54, 0x01, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x06, 0x00,
	0x03, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe,
	0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2d, 0x62,
};

/* ACQUIRE with the longest key: 64 x 'x', partition 6, client 1,
 * request 1. */
static const uint8_t pkt_key_max[] = {
	0x4c, 0x54, 0x01, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x40, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78, 0x78, 0x78, 0x78,
	0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
	0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
	0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
	0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
	0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
};

#define PATCHES_MAX 8

/* One byte of a golden packet changed: offset, new value. */
struct patch {
	uint16_t off;
	uint8_t val;
};

/* A table row: golden packet, bytes used, changes, partitions, verdict. */
struct golden_case {
	const char *what;
	const uint8_t *base;
	size_t base_len;
	size_t len; /* bytes of base given to the decoder */
	struct patch patches[PATCHES_MAX];
	unsigned patches_count;
	uint16_t partitions;
	enum latch_wire_verdict verdict;
};

#define PKT(a)             a, sizeof(a)
#define P1(o, v)           {{(o), (v)}}, 1
#define P2(o1, v1, o2, v2) {{(o1), (v1)}, {(o2), (v2)}}, 2
#define NOPATCH            {{0, 0}}, 0

static const struct golden_case golden[] = {
	/* Valid messages. */
	{"acquire", PKT(pkt_acquire), sizeof(pkt_acquire), NOPATCH, 8,
	 LATCH_WIRE_OK},
	{"acquire, no partition check", PKT(pkt_acquire), sizeof(pkt_acquire),
	 NOPATCH, 0, LATCH_WIRE_OK},
	/* "orders/42" is in partition 1 of 4 too. */
	{"acquire, 4 partitions", PKT(pkt_acquire), sizeof(pkt_acquire),
	 NOPATCH, 4, LATCH_WIRE_OK},
	{"query reply", PKT(pkt_query_reply), sizeof(pkt_query_reply), NOPATCH,
	 8, LATCH_WIRE_OK},
	{"keepalive", PKT(pkt_keepalive), sizeof(pkt_keepalive), NOPATCH, 8,
	 LATCH_WIRE_OK},
	{"keepalive, 4 partitions", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 NOPATCH, 4, LATCH_WIRE_OK},
	{"granted", PKT(pkt_granted), sizeof(pkt_granted), NOPATCH, 8,
	 LATCH_WIRE_OK},
	{"granted as reply", PKT(pkt_granted), sizeof(pkt_granted), P1(3, 0x86),
	 8, LATCH_WIRE_OK},
	{"longest key", PKT(pkt_key_max), sizeof(pkt_key_max), NOPATCH, 8,
	 LATCH_WIRE_OK},
	{"every known flag", PKT(pkt_acquire), sizeof(pkt_acquire), P1(5, 0x3f),
	 8, LATCH_WIRE_OK},
	{"ack", PKT(pkt_granted), sizeof(pkt_granted), P1(3, 0x08), 8,
	 LATCH_WIRE_OK},

	/* Magic and version. */
	{"magic swapped", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P2(0, 0x54, 1, 0x4c), 8, LATCH_WIRE_BAD_MAGIC},
	{"magic low byte", PKT(pkt_acquire), sizeof(pkt_acquire), P1(1, 0x55),
	 8, LATCH_WIRE_BAD_MAGIC},
	{"magic before version", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P2(0, 0x00, 2, 0x02), 8, LATCH_WIRE_BAD_MAGIC},
	{"version 0", PKT(pkt_acquire), sizeof(pkt_acquire), P1(2, 0x00), 8,
	 LATCH_WIRE_BAD_VERSION},
	{"version 2", PKT(pkt_acquire), sizeof(pkt_acquire), P1(2, 0x02), 8,
	 LATCH_WIRE_BAD_VERSION},
	{"version before op", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P2(2, 0xff, 3, 0x00), 8, LATCH_WIRE_BAD_VERSION},

	/* Opcodes. */
	{"op 0", PKT(pkt_acquire), sizeof(pkt_acquire), P1(3, 0x00), 8,
	 LATCH_WIRE_UNKNOWN_OP},
	{"op 9 (LATCH_OP_MAX)", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(3, 0x09), 8, LATCH_WIRE_UNKNOWN_OP},
	{"op 0x7f", PKT(pkt_acquire), sizeof(pkt_acquire), P1(3, 0x7f), 8,
	 LATCH_WIRE_UNKNOWN_OP},
	{"reply bit alone", PKT(pkt_acquire), sizeof(pkt_acquire), P1(3, 0x80),
	 8, LATCH_WIRE_UNKNOWN_OP},
	{"reply of op 9", PKT(pkt_acquire), sizeof(pkt_acquire), P1(3, 0x89), 8,
	 LATCH_WIRE_UNKNOWN_OP},
	{"op 0xff", PKT(pkt_acquire), sizeof(pkt_acquire), P1(3, 0xff), 8,
	 LATCH_WIRE_UNKNOWN_OP},
	{"op before flags", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P2(3, 0x00, 4, 0xff), 8, LATCH_WIRE_UNKNOWN_OP},

	/* Flags. */
	{"flag bit 6", PKT(pkt_acquire), sizeof(pkt_acquire), P1(5, 0x43), 8,
	 LATCH_WIRE_BAD_FLAGS},
	{"flag bit 15", PKT(pkt_acquire), sizeof(pkt_acquire), P1(4, 0x80), 8,
	 LATCH_WIRE_BAD_FLAGS},
	{"flags before key length", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P2(4, 0x01, 8, 0xff), 8, LATCH_WIRE_BAD_FLAGS},

	/* Key length. */
	{"key_len 65", PKT(pkt_key_max), sizeof(pkt_key_max), P1(9, 0x41), 8,
	 LATCH_WIRE_KEY_TOO_LONG},
	{"key_len 0xffff", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P2(8, 0xff, 9, 0xff), 8, LATCH_WIRE_KEY_TOO_LONG},
	{"key_len 256", PKT(pkt_acquire), sizeof(pkt_acquire), P1(8, 0x01), 8,
	 LATCH_WIRE_KEY_TOO_LONG},
	{"key_len says more than sent", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(9, 0x0a), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"key_len says less than sent", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(9, 0x08), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"last key byte cut", PKT(pkt_acquire), sizeof(pkt_acquire) - 1,
	 NOPATCH, 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"key_len 9 of 64 sent", PKT(pkt_key_max), sizeof(pkt_key_max),
	 P1(9, 0x09), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"key_len 0 with key sent", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(9, 0x00), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"acquire without key", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 P1(3, 0x01), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"release without key", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 P1(3, 0x02), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"ack without key", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 P1(3, 0x08), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"lost reply without key", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 P1(3, 0x87), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"keepalive with key", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(3, 0x05), 8, LATCH_WIRE_LENGTH_MISMATCH},
	{"keepalive reply with key", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(3, 0x85), 0, LATCH_WIRE_LENGTH_MISMATCH},
	{"length before client", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 P2(3, 0x01, 23, 0x00), 8, LATCH_WIRE_LENGTH_MISMATCH},

	/* Client id. */
	{"zero client", PKT(pkt_keepalive), sizeof(pkt_keepalive), P1(23, 0x00),
	 8, LATCH_WIRE_ZERO_CLIENT},
	{"zero client, acquire",
	 PKT(pkt_acquire),
	 sizeof(pkt_acquire),
	 {{16, 0},
	  {17, 0},
	  {18, 0},
	  {19, 0},
	  {20, 0},
	  {21, 0},
	  {22, 0},
	  {23, 0}},
	 8,
	 8,
	 LATCH_WIRE_ZERO_CLIENT},
	{"client before partition", PKT(pkt_keepalive), sizeof(pkt_keepalive),
	 P2(23, 0x00, 7, 0x09), 8, LATCH_WIRE_ZERO_CLIENT},

	/* Partitions. */
	{"key in another partition", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(7, 0x05), 8, LATCH_WIRE_WRONG_PARTITION},
	{"another partition, unchecked", PKT(pkt_acquire), sizeof(pkt_acquire),
	 P1(7, 0x05), 0, LATCH_WIRE_OK},
	{"partition beyond count", PKT(pkt_acquire), sizeof(pkt_acquire),
	 NOPATCH, 1, LATCH_WIRE_WRONG_PARTITION},
	/* "orders/42" is in partition 41 of 64, not 1. */
	{"hash disagrees, 64 partitions", PKT(pkt_acquire), sizeof(pkt_acquire),
	 NOPATCH, 64, LATCH_WIRE_WRONG_PARTITION},
	{"keepalive partition == count", PKT(pkt_keepalive),
	 sizeof(pkt_keepalive), NOPATCH, 3, LATCH_WIRE_WRONG_PARTITION},
	{"keepalive partition 0xffff", PKT(pkt_keepalive),
	 sizeof(pkt_keepalive), P2(6, 0xff, 7, 0xff), 64,
	 LATCH_WIRE_WRONG_PARTITION},
	{"granted in partition 6", PKT(pkt_granted), sizeof(pkt_granted),
	 P1(7, 0x06), 8, LATCH_WIRE_WRONG_PARTITION},
};

/*
 * A page-aligned buffer followed by an unmapped page: a packet copied to
 * its end makes any read past the packet fault.
 */
struct guarded {
	uint8_t *pages;
	size_t page;
};

static void
guarded_init(struct guarded *g)
{
	g->page = (size_t)sysconf(_SC_PAGESIZE);
	g->pages = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->pages != MAP_FAILED);
	assert_int_equal(mprotect(g->pages + g->page, g->page, PROT_NONE), 0);
}

static void
guarded_fini(struct guarded *g)
{
	munmap(g->pages, 2 * g->page);
}

/* Copy @len bytes to the end of the readable page; return where. */
static uint8_t *
guarded_place(struct guarded *g, const uint8_t *bytes, size_t len)
{
	uint8_t *at = g->pages + g->page - len;

	memcpy(at, bytes, len);
	return at;
}

static void
test_golden_table(void **state)
{
	struct guarded g;
	size_t i;

	(void)state;
	guarded_init(&g);
	for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		const struct golden_case *gc = &golden[i];
		uint8_t bytes[LATCH_MSG_MAX_LEN];
		struct latch_wire_msg m;
		enum latch_wire_verdict v;
		unsigned j;

		assert_true(gc->len <= gc->base_len);
		memcpy(bytes, gc->base, gc->base_len);
		for (j = 0; j < gc->patches_count; j++) {
			assert_true(gc->patches[j].off < gc->len);
			bytes[gc->patches[j].off] = gc->patches[j].val;
		}
		v = latch_wire_decode(guarded_place(&g, bytes, gc->len),
				      gc->len, gc->partitions, &m);
		if (v != gc->verdict)
			fail_msg("case '%s': verdict %s, expected %s", gc->what,
				 latch_wire_verdict_names[v],
				 latch_wire_verdict_names[gc->verdict]);
		/* Decoded unchecked, then checked (a shedding server's
		 * order): the same verdict. */
		v = latch_wire_decode(guarded_place(&g, bytes, gc->len),
				      gc->len, 0, &m);
		if (v == LATCH_WIRE_OK)
			v = latch_wire_check_partition(&m, gc->partitions);
		if (v != gc->verdict)
			fail_msg("case '%s', checked apart: verdict %s, "
				 "expected %s",
				 gc->what, latch_wire_verdict_names[v],
				 latch_wire_verdict_names[gc->verdict]);
	}
	guarded_fini(&g);
}

/* Every prefix shorter than the fixed part is TRUNCATED, of any packet. */
static void
test_truncated_every_length(void **state)
{
	const uint8_t *bases[] = {pkt_acquire, pkt_keepalive, pkt_query_reply};
	struct guarded g;
	size_t b, len;

	(void)state;
	guarded_init(&g);
	for (b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		for (len = 0; len < LATCH_MSG_FIXED_LEN; len++) {
			struct latch_wire_msg m;

			assert_int_equal(
				latch_wire_decode(
					guarded_place(&g, bases[b], len), len,
					8, &m),
				LATCH_WIRE_TRUNCATED);
		}
	}
	/* Even garbage of those lengths is only TRUNCATED. */
	for (len = 0; len < LATCH_MSG_FIXED_LEN; len++) {
		uint8_t junk[LATCH_MSG_FIXED_LEN];
		struct latch_wire_msg m;

		memset(junk, 0xa5, sizeof(junk));
		assert_int_equal(latch_wire_decode(guarded_place(&g, junk, len),
						   len, 0, &m),
				 LATCH_WIRE_TRUNCATED);
	}
	guarded_fini(&g);
}

/* The fields of the valid goldens, as proto.h lays them out. */
static void
test_decoded_fields(void **state)
{
	struct latch_wire_msg m;

	(void)state;
	assert_int_equal(
		latch_wire_decode(pkt_acquire, sizeof(pkt_acquire), 8, &m),
		LATCH_WIRE_OK);
	assert_int_equal(m.op, LATCH_OP_ACQUIRE);
	assert_false(m.reply);
	assert_int_equal(m.flags, LATCH_F_SHARED | LATCH_F_WAIT);
	assert_int_equal(m.partition, 1);
	assert_int_equal(m.key_len, 9);
	assert_int_equal(m.status, 0);
	assert_int_equal(m.count, 0);
	assert_true(m.client_id == 0x0102030405060708ull);
	assert_true(m.request_id == 0x1112131415161718ull);
	assert_true(m.token == 0);
	assert_true(m.holder == 0);
	assert_int_equal(m.lease_ms, 30000);
	assert_int_equal(m.wait_ms, 5000);
	assert_ptr_equal(m.key, pkt_acquire + 56);
	assert_memory_equal(m.key, "orders/42", 9);

	assert_int_equal(latch_wire_decode(pkt_query_reply,
					   sizeof(pkt_query_reply), 0, &m),
			 LATCH_WIRE_OK);
	assert_int_equal(m.op, LATCH_OP_QUERY);
	assert_true(m.reply);
	assert_int_equal(m.flags, LATCH_F_SHARED);
	assert_int_equal(m.partition, 3);
	assert_int_equal(m.count, 2);
	assert_true(m.client_id == 0x0a0b0c0d0e0f1011ull);
	assert_true(m.request_id == 0x99);
	assert_true(m.token == 0x0000010000000007ull);
	assert_true(m.holder == 0x2222);
	assert_int_equal(m.lease_ms, 1234);
	assert_int_equal(m.wait_ms, 3);
	assert_memory_equal(m.key, "lock-a", 6);

	assert_int_equal(
		latch_wire_decode(pkt_keepalive, sizeof(pkt_keepalive), 8, &m),
		LATCH_WIRE_OK);
	assert_int_equal(m.op, LATCH_OP_KEEPALIVE);
	assert_int_equal(m.flags, LATCH_F_SESSION);
	assert_int_equal(m.partition, 3);
	assert_int_equal(m.key_len, 0);
	assert_true(m.client_id == 77);
	assert_true(m.request_id == 5);
	assert_int_equal(m.lease_ms, 5000);

	assert_int_equal(
		latch_wire_decode(pkt_granted, sizeof(pkt_granted), 8, &m),
		LATCH_WIRE_OK);
	assert_int_equal(m.op, LATCH_OP_GRANTED);
	assert_false(m.reply);
	assert_int_equal(m.status, LATCH_S_TIMEOUT);
	assert_true(m.client_id == UINT64_MAX);
	assert_true(m.request_id == 0x8000000000000001ull);
	assert_true(m.token == 0xfedcba9876543210ull);
	assert_memory_equal(m.key, "lock-b", 6);

	/* A WRONG_PARTITION message still shows its header to answer it. */
	assert_int_equal(
		latch_wire_decode(pkt_acquire, sizeof(pkt_acquire), 64, &m),
		LATCH_WIRE_WRONG_PARTITION);
	assert_true(m.request_id == 0x1112131415161718ull);
	assert_int_equal(m.partition, 1);
}

/* Encoding a decoded golden gives back its bytes exactly. */
static void
test_encode_goldens(void **state)
{
	const struct {
		const uint8_t *bytes;
		size_t len;
	} g[] = {{PKT(pkt_acquire)},
		 {PKT(pkt_query_reply)},
		 {PKT(pkt_keepalive)},
		 {PKT(pkt_granted)},
		 {PKT(pkt_key_max)}};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		uint8_t out[LATCH_MSG_MAX_LEN];
		struct latch_wire_msg m;

		assert_int_equal(latch_wire_decode(g[i].bytes, g[i].len, 0, &m),
				 LATCH_WIRE_OK);
		assert_int_equal(latch_wire_encode(&m, out, sizeof(out)),
				 g[i].len);
		assert_memory_equal(out, g[i].bytes, g[i].len);
		/* Exactly enough room is enough; one byte less is not. */
		assert_int_equal(latch_wire_encode(&m, out, g[i].len),
				 g[i].len);
		assert_int_equal(latch_wire_encode(&m, out, g[i].len - 1), 0);
	}
}

/* splitmix64 (Steele, Lea, Flood 2014): a seeded stream of test values. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Random valid messages survive encode then decode field for field. */
static void
test_round_trip(void **state)
{
	uint64_t seed = 0x1a7c4;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++) {
		uint8_t key[LATCH_KEY_MAX], buf[LATCH_MSG_MAX_LEN];
		struct latch_wire_msg in, out;
		uint16_t parts = (uint16_t)(1 + rng_next(&seed) % 64);
		size_t j, len;

		memset(&in, 0, sizeof(in));
		in.op = (uint8_t)(1 + rng_next(&seed) % (LATCH_OP_MAX - 1));
		in.reply = rng_next(&seed) & 1;
		in.flags = (uint16_t)(rng_next(&seed) & LATCH_F_KNOWN);
		in.key_len = in.op == LATCH_OP_KEEPALIVE
				     ? 0
				     : (uint16_t)(1 + rng_next(&seed) %
							      LATCH_KEY_MAX);
		for (j = 0; j < in.key_len; j++)
			key[j] = (uint8_t)rng_next(&seed);
		in.key = key;
		in.partition =
			in.key_len != 0
				? latch_key_partition(key, in.key_len, parts)
				: (uint16_t)(rng_next(&seed) % parts);
		in.status = (uint16_t)rng_next(&seed);
		in.count = (uint32_t)rng_next(&seed);
		in.client_id = rng_next(&seed) | 1;
		in.request_id = rng_next(&seed);
		in.token = rng_next(&seed);
		in.holder = rng_next(&seed);
		in.lease_ms = (uint32_t)rng_next(&seed);
		in.wait_ms = (uint32_t)rng_next(&seed);

		len = latch_wire_encode(&in, buf, sizeof(buf));
		assert_int_equal(len, LATCH_MSG_FIXED_LEN + in.key_len);
		assert_int_equal(latch_wire_decode(buf, len, parts, &out),
				 LATCH_WIRE_OK);
		assert_int_equal(out.op, in.op);
		assert_int_equal(out.reply, in.reply);
		assert_int_equal(out.flags, in.flags);
		assert_int_equal(out.partition, in.partition);
		assert_int_equal(out.key_len, in.key_len);
		assert_int_equal(out.status, in.status);
		assert_int_equal(out.count, in.count);
		assert_true(out.client_id == in.client_id);
		assert_true(out.request_id == in.request_id);
		assert_true(out.token == in.token);
		assert_true(out.holder == in.holder);
		assert_int_equal(out.lease_ms, in.lease_ms);
		assert_int_equal(out.wait_ms, in.wait_ms);
		if (in.key_len != 0)
			assert_memory_equal(out.key, key, in.key_len);
	}
}

static void
test_encode_refuses(void **state)
{
	uint8_t key[LATCH_KEY_MAX + 1] = {0}, buf[LATCH_MSG_MAX_LEN + 1];
	struct latch_wire_msg m = {
		.op = LATCH_OP_ACQUIRE,
		.client_id = 1,
		.key = key,
	};

	(void)state;
	m.key_len = LATCH_KEY_MAX + 1;
	assert_int_equal(latch_wire_encode(&m, buf, sizeof(buf)), 0);
	m.key_len = 4;
	m.key = NULL;
	assert_int_equal(latch_wire_encode(&m, buf, sizeof(buf)), 0);
	m.key = key;
	assert_int_equal(latch_wire_encode(&m, buf, LATCH_MSG_FIXED_LEN + 3),
			 0);
	assert_int_equal(latch_wire_encode(&m, buf, 0), 0);
	assert_int_equal(latch_wire_encode(&m, buf, LATCH_MSG_FIXED_LEN + 4),
			 LATCH_MSG_FIXED_LEN + 4);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(latch_status_name(LATCH_S_OK), "ok");
	assert_string_equal(latch_status_name(LATCH_S_BUSY), "busy");
	assert_string_equal(latch_status_name(LATCH_S_WRONG_PARTITION),
			    "wrong_partition");
	assert_string_equal(latch_status_name(LATCH_S_NOT_LEADER),
			    "not_leader");
	assert_string_equal(latch_status_name(LATCH_S_MAX), "unknown");
	assert_string_equal(latch_status_name(0xffff), "unknown");
	assert_string_equal(latch_wire_verdict_names[LATCH_WIRE_OK], "ok");
	assert_string_equal(latch_wire_verdict_names[LATCH_WIRE_ZERO_CLIENT],
			    "zero_client");
	assert_string_equal(
		latch_wire_verdict_names[LATCH_WIRE_LENGTH_MISMATCH],
		"length_mismatch");
}

/*
 * FNV-1a 64 as published (Fowler, Noll, Vo; draft-eastlake-fnv): offset
 * basis 14695981039346656037, prime 2^40 + 2^8 + 0xb3; for each byte,
 * xor then multiply. Written here from that definition, apart from
 * proto.h's copy.
 */
static uint64_t
ref_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ull;
	const uint64_t prime = (1ull << 40) + (1ull << 8) + 0xb3;

	while (len-- > 0) {
		h ^= *p++;
		h *= prime;
	}
	return h;
}

/* The partition rule of proto.h, restated: both halves folded. */
static uint16_t
ref_partition(const void *key, size_t len, uint16_t partitions)
{
	uint64_t h = ref_fnv1a64(key, len);

	return (uint16_t)((uint32_t)(h ^ (h >> 32)) % partitions);
}

static void
test_key_hash(void **state)
{
	/* Published FNV-1a 64 test vectors. */
	const struct {
		const char *s;
		uint64_t h;
	} vec[] = {
		{"", 0xcbf29ce484222325ull},
		{"a", 0xaf63dc4c8601ec8cull},
		{"foobar", 0x85944171f73967e8ull},
	};
	const char *keys[] = {"orders/42", "lock-a",    "lock-b",
			      "x",         "user:1001", "\xff\x00\x01"};
	uint16_t parts;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_true(ref_fnv1a64(vec[i].s, strlen(vec[i].s)) ==
			    vec[i].h);
		assert_true(latch_key_hash(vec[i].s, strlen(vec[i].s)) ==
			    vec[i].h);
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t len = i == 5 ? 3 : strlen(keys[i]);

		assert_true(latch_key_hash(keys[i], len) ==
			    ref_fnv1a64(keys[i], len));
		for (parts = 1; parts <= LATCH_PARTITIONS_MAX; parts++)
			assert_int_equal(
				latch_key_partition(keys[i], len, parts),
				ref_partition(keys[i], len, parts));
	}
	/* Golden partitions (computed apart, in Python, from the same
	 * definition): "orders/42" -> 1 of 8, 41 of 64; "lock-b" -> 50 of
	 * 64. */
	assert_int_equal(latch_key_partition("orders/42", 9, 8), 1);
	assert_int_equal(latch_key_partition("orders/42", 9, 64), 41);
	assert_int_equal(latch_key_partition("lock-b", 6, 64), 50);
	assert_int_equal(latch_key_partition("a", 1, 8), 0);
	assert_int_equal(latch_key_partition("a", 1, 1), 0);
	assert_int_equal(latch_key_partition("a", 1, 0), 0);
}

/*
 * Count @keys keys into 8 partitions and fail unless every partition is
 * within 5 % of even (binomial: one standard deviation is 0.84 %, so a
 * fair hash is never near the bound).
 */
static void
check_distribution(const char *what, const uint8_t *keys, size_t key_len,
		   unsigned count)
{
	enum { PARTS = 8 };
	unsigned counts[PARTS] = {0};
	const unsigned even = count / PARTS;
	const unsigned slack = even / 20;
	unsigned i;

	for (i = 0; i < count; i++)
		counts[latch_key_partition(keys + (size_t)i * key_len, key_len,
					   PARTS)]++;
	for (i = 0; i < PARTS; i++) {
		if (counts[i] < even - slack || counts[i] > even + slack)
			fail_msg("%s: partition %u has %u keys of %u (even %u)",
				 what, i, counts[i], count, even);
	}
}

enum { DIST_KEYS = 100000, DIST_KEY_LEN = 16 };

/* 100k random 16-byte keys. */
static void
test_key_distribution_random(void **state)
{
	uint8_t *keys = malloc((size_t)DIST_KEYS * DIST_KEY_LEN);
	uint64_t seed = 0xd157;
	size_t i;

	(void)state;
	assert_non_null(keys);
	for (i = 0; i < (size_t)DIST_KEYS * DIST_KEY_LEN; i += 8) {
		uint64_t r = rng_next(&seed);

		memcpy(keys + i, &r, 8);
	}
	check_distribution("random keys", keys, DIST_KEY_LEN, DIST_KEYS);
	free(keys);
}

/*
 * 100k keys as applications name them: "key-%010u", differing in their
 * last bytes. Fails with proto.h's (hash >> 32) % P: FNV-1a's last
 * multiply (by 2^40 + 0x1b3) carries the last byte into the high half
 * only through 0x1b3, so sequential keys crowd a few partitions.
 */
static void
test_key_distribution_sequential(void **state)
{
	enum { LEN = 14 }; /* "key-" and 10 digits */
	uint8_t *keys = malloc((size_t)DIST_KEYS * LEN);
	char key[LEN + 1];
	unsigned i;

	(void)state;
	assert_non_null(keys);
	for (i = 0; i < DIST_KEYS; i++) {
		snprintf(key, sizeof(key), "key-%010u", i);
		memcpy(keys + (size_t)i * LEN, key, LEN);
	}
	check_distribution("sequential keys", keys, LEN, DIST_KEYS);
	free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_table),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_decoded_fields),
		cmocka_unit_test(test_encode_goldens),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_key_hash),
		cmocka_unit_test(test_key_distribution_random),
		cmocka_unit_test(test_key_distribution_sequential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
