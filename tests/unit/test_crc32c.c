/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRC-32C (common/crc32c.c): the known value, continuation in pieces,
 * and the hardware path against the bit-at-a-time one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"

static void
test_known_value(void **state)
{
	uint8_t zeros[32] = {0};

	(void)state;
	/* RFC 3720 B.4: CRC-32C of "123456789" is 0xe3069283. */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros. */
	assert_int_equal(crc32c(0, zeros, sizeof(zeros)), 0x8a9136aau);
	assert_int_equal(crc32c(0, zeros, 0), 0u);
}

/* Pseudo-random bytes, the same every run. */
static void
fill(uint8_t *buf, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

/* Every length and alignment around the 8-byte steps: both paths agree. */
static void
test_paths_agree(void **state)
{
	uint8_t buf[300];
	size_t off, len;

	(void)state;
	fill(buf, sizeof(buf));
	for (off = 0; off < 8; off++)
		for (len = 0; len + off <= sizeof(buf); len++)
			assert_int_equal(crc32c(7, buf + off, len),
					 crc32c_portable(7, buf + off, len));
}

/* A stream checksummed in pieces of any length gives the whole's. */
static void
test_pieces(void **state)
{
	uint8_t buf[1000];
	uint32_t whole, crc;
	size_t cut1, cut2;

	(void)state;
	fill(buf, sizeof(buf));
	whole = crc32c(0, buf, sizeof(buf));
	assert_int_not_equal(whole, crc32c(0, buf, sizeof(buf) - 1));
	for (cut1 = 0; cut1 <= sizeof(buf); cut1 += 37) {
		for (cut2 = cut1; cut2 <= sizeof(buf); cut2 += 101) {
			crc = crc32c(0, buf, cut1);
			crc = crc32c(crc, buf + cut1, cut2 - cut1);
			crc = crc32c(crc, buf + cut2, sizeof(buf) - cut2);
			assert_int_equal(crc, whole);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_value),
		cmocka_unit_test(test_paths_agree),
		cmocka_unit_test(test_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
