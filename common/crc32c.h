/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRC-32C (Castagnoli; RFC 3720, B.4): the checksum of the control
 * plane's files (control/store.c) and of lock table snapshots
 * (docs/snapshot.md). On x86-64 with SSE4.2 it takes 8 bytes per crc32
 * instruction; elsewhere it is computed a bit at a time.
 */
#ifndef LATCH_COMMON_CRC32C_H
#define LATCH_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C of @len bytes at @buf, continuing from @crc: start at 0, and
 * pass the previous result to checksum a stream piece by piece (the
 * pieces may be of any length). crc32c(0, "123456789", 9) == 0xe3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The same, a bit at a time on any CPU (what crc32c() falls back to):
 * for tests that check the two agree. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
