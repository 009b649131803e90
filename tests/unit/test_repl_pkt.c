/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of dataplane/repl_pkt.c: replication frames, redirects and
 * the pending table (docs/cluster.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_parse),
		cmocka_unit_test(test_redirect_holder),
		cmocka_unit_test(test_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
