/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Big-endian loads and stores at any alignment: the wire format, packet
 * headers and the router all read fields byte by byte, so a buffer of any
 * alignment works and no read depends on the host's byte order. Compilers
 * turn each into one load or store plus a byte swap.
 *
 * Thread safety: pure.
 */
#ifndef LATCH_BYTES_H
#define LATCH_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t
be_get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
be_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
be_get64(const uint8_t *p)
{
	return (uint64_t)be_get32(p) << 32 | be_get32(p + 4);
}

static inline void
be_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
be_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
be_put64(uint8_t *p, uint64_t v)
{
	be_put32(p, (uint32_t)(v >> 32));
	be_put32(p + 4, (uint32_t)v);
}

/*
 * @width (1, 2, 4 or 8) bytes big-endian, for codecs whose widths come
 * from a table: one byte swap and one store or load for each of those
 * widths; any other width a byte at a time.
 */
static inline void
be_put_n(uint8_t *p, unsigned width, uint64_t v)
{
	unsigned i;

	switch (width) {
	case 1:
		p[0] = (uint8_t)v;
		return;
	case 2:
		be_put16(p, (uint16_t)v);
		return;
	case 4:
		be_put32(p, (uint32_t)v);
		return;
	case 8:
		be_put64(p, v);
		return;
	}
	for (i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static inline uint64_t
be_get_n(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;
	unsigned i;

	switch (width) {
	case 1:
		return p[0];
	case 2:
		return be_get16(p);
	case 4:
		return be_get32(p);
	case 8:
		return be_get64(p);
	}
	for (i = 0; i < width; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Copy @n <= 64 bytes (a lock key). A memcpy whose size is not constant
 * but known to be small is expanded by the compiler into "rep movs",
 * which takes tens of cycles to start: half of raft_wire_entry_decode's
 * samples in the 3-node bench (docs/benchmarks.md, session 10). Two
 * overlapping fixed-size copies of the widest size that fits do it in a
 * few loads and stores.
 */
static inline void
bytes_copy_small(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n >= 32) {
		memcpy(d, s, 32);
		memcpy(d + n - 32, s + n - 32, 32);
	} else if (n >= 16) {
		memcpy(d, s, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else if (n > 0) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

#endif /* LATCH_BYTES_H */
