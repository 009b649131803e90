/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of dataplane/repl_pkt.c: replication frames, redirects, the
 * pending table (docs/cluster.md) and the snapshot buffer's size. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/key_index.h"
#include "dataplane/pkt.h"
#include "dataplane/repl_pkt.h"

/* A frame built by repl_pkt_headers parses as UDP with what was given. */
static void
test_headers_parse(void **state)
{
	uint8_t frame[256];
	const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
	struct pkt_info info;
	uint32_t a, b;
	size_t len, plen;

	(void)state;
	for (plen = 0; plen < 100; plen += 33) {
		inet_pton(AF_INET, "198.18.0.1", &a);
		inet_pton(AF_INET, "198.18.0.2", &b);
		memset(frame + PKT_UDP_PAYLOAD_OFF, 0xab, plen);
		len = repl_pkt_headers(frame, dst, src, a, b, 7500, 7501, plen);
		assert_true(len >= PKT_ETH_MIN_LEN);
		assert_int_equal(len, plen + PKT_UDP_PAYLOAD_OFF < 60
					      ? 60
					      : plen + PKT_UDP_PAYLOAD_OFF);
		assert_int_equal(pkt_parse(frame, (uint32_t)len, &info),
				 PKT_UDP);
		assert_int_equal(info.src_port, 7500);
		assert_int_equal(info.dst_port, 7501);
		assert_int_equal(info.src_ip_be, a);
		assert_int_equal(info.dst_ip_be, b);
		assert_int_equal(info.payload_len, plen);
		assert_int_equal(info.payload_off, PKT_UDP_PAYLOAD_OFF);
		assert_memory_equal(frame, dst, 6);
		assert_memory_equal(frame + 6, src, 6);
		/* The IPv4 checksum verifies: the sum over the header is 0. */
		assert_int_equal(
			pkt_ip_checksum(frame + PKT_ETH_LEN, PKT_IPV4_LEN), 0);
	}
	assert_int_equal(repl_pkt_headers(frame, dst, src, a, b, 1, 2, 70000),
			 0);
}

static void
test_redirect_holder(void **state)
{
	uint32_t a;

	(void)state;
	inet_pton(AF_INET, "198.18.0.1", &a);
	assert_int_equal(repl_redirect_holder(a, 7400),
			 (uint64_t)7400 << 32 | 198u << 24 | 18u << 16 | 1u);
	assert_int_equal(repl_redirect_holder(0, 7400), 0);
}

static void
test_pending(void **state)
{
	struct repl_pending_slot slots[4], out;
	struct repl_pending pt;
	int v[8];
	uint64_t i;

	(void)state;
	assert_int_equal(repl_pending_init(&pt, slots, 3), -EINVAL);
	assert_int_equal(repl_pending_init(&pt, slots, 4), 0);
	assert_false(repl_pending_can_put(&pt, 0));
	for (i = 1; i <= 4; i++) {
		assert_true(repl_pending_can_put(&pt, i));
		repl_pending_put(&pt, i, 10 + i, 20 + i, &v[i], (uint8_t)i);
	}
	/* Full: index 5 would reuse index 1's slot. */
	assert_false(repl_pending_can_put(&pt, 5));
	assert_false(repl_pending_take(&pt, 5, &out));
	assert_true(repl_pending_take(&pt, 1, &out));
	assert_int_equal(out.index, 1);
	assert_int_equal(out.client_id, 11);
	assert_int_equal(out.request_id, 21);
	assert_ptr_equal(out.value, &v[1]);
	assert_false(repl_pending_take(&pt, 1, &out));
	assert_true(repl_pending_can_put(&pt, 5));
	for (i = 0; i < 3; i++)
		assert_true(repl_pending_pop(&pt, &out));
	assert_false(repl_pending_pop(&pt, &out));
	assert_int_equal(pt.used, 0);
}

static void
t_emit(void *ctx, const struct lock_effect *fx)
{
	(void)ctx;
	(void)fx;
}

/*
 * The snapshot buffer is sized by repl_snapshot_max(): a table whose
 * every pool is full, with keys of the longest length, must save into it
 * (else compaction would be refused and the ring would fill for good).
 */
static void
test_snapshot_max_holds_full_table(void **state)
{
	struct lock_table_config c = {
		.locks_max = 8,
		.holders_max = 12,
		.waiters_max = 8,
		.sessions_max = 4,
		.dedup_max = 40,
		.lease_default_ms = 1000,
		.lease_max_ms = 60000,
		.wait_default_ms = 500,
		.wait_max_ms = 60000,
		.session_default_ms = 2000,
		.session_max_ms = 60000,
		.timer_slots = 64,
	};
	struct key_index *ki = key_index_create(16, NULL);
	struct lock_table *lt;
	struct lock_entry e;
	uint8_t key[LATCH_KEY_MAX];
	uint64_t req = 1, bound = repl_snapshot_max(&c);
	unsigned i, j;

	(void)state;
	assert_non_null(ki);
	lt = lock_table_create(&c, &key_index_ops, ki);
	assert_non_null(lt);
	/* Sessions of clients 1..4, then session-bound requests: shared
	 * holders of 8 longest keys until the holder pool is full, then
	 * waiters (exclusive, behind the shared holders) until that pool is,
	 * with more than enough to fill the dedup window. */
	for (i = 0; i < 4; i++) {
		memset(&e, 0, sizeof(e));
		e.op = LOCK_E_KEEPALIVE;
		e.client_id = 1 + i;
		e.request_id = req++;
		e.lease_ms = 30000;
		e.now_ms = 1000;
		lock_table_apply(lt, &e, t_emit, NULL);
	}
	for (j = 0; j < 64; j++) {
		memset(&e, 0, sizeof(e));
		memset(key, 'a' + (int)(j % 8), sizeof(key));
		e.op = LOCK_E_ACQUIRE;
		e.client_id = 1 + j % 4;
		e.request_id = req++;
		e.flags = LATCH_F_SESSION | LATCH_F_WAIT |
			  (j < 32 ? LATCH_F_SHARED : 0);
		e.lease_ms = 30000;
		e.wait_ms = 30000;
		e.now_ms = 1000;
		assert_int_equal(lock_key_set(&e.key, key, sizeof(key)), 0);
		lock_table_apply(lt, &e, t_emit, NULL);
	}
	assert_true(lock_table_save_size(lt) > 1024);
	assert_true(lock_table_save_size(lt) <= bound);
	lock_table_destroy(lt);
	key_index_destroy(ki);
	/* The bound grows with every pool. */
	c.dedup_max++;
	assert_true(repl_snapshot_max(&c) > bound);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_parse),
		cmocka_unit_test(test_redirect_holder),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_snapshot_max_holds_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
