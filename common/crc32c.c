/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdbool.h>
#include <string.h>

#include "common/crc32c.h"

/* Reflected polynomial of CRC-32C. */
#define CRC32C_POLY 0x82f63b78u

static uint32_t
crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	unsigned k;

	while (len-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (CRC32C_POLY & (0u - (crc & 1u)));
	}
	return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* The SSE4.2 crc32 instruction computes exactly this CRC (same
 * polynomial, reflected, no inversion: the caller inverts). */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}

static bool
crc32c_has_sse42(void)
{
	/* The compiler's CPU model is set up before main; the check reads
	 * a word it filled in. */
	return __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (crc32c_has_sse42())
		return ~crc32c_sse42(crc, buf, len);
#endif
	return ~crc32c_bitwise(crc, buf, len);
}

uint32_t
crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_bitwise(~crc, buf, len);
}
