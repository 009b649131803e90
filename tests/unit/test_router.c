/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the router's pure core (dataplane/router.c).
 *
 * The golden frames below (input bytes, expected output bytes, expected
 * action, reason and backend) were produced by a separate model of the
 * rewrite written in Python for this test: it builds each frame, rewrites
 * destination MAC/IP/port, decrements TTL and RECOMPUTES both checksums
 * from scratch (RFC 791, RFC 768), where router.c updates them
 * incrementally (RFC 1624). The test also verifies every checksum of every
 * output itself. Addresses are from the documentation ranges (RFC 5737);
 * these bytes never leave the process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/router.h"

/* Golden frames: generated, see the comment at the top. */

/* Expected backend of a golden case, by identity; 0: none. */
enum {
	BE_NONE = 0,
	BE_B1,
	BE_B2,
	BE_B3,
	BE_B4,
	BE_B5,
	BE_B6,
};

struct golden {
	const char *name;
	const uint8_t *in;
	size_t in_len;
	const uint8_t *out;
	size_t out_len;
	enum router_action action;
	enum router_reason reason;
	int backend; /* BE_Bn: identity "bn"; BE_NONE: no backend */
};

#define GOLDEN(n, act, why, be)                                            \
	{                                                                  \
#n, in_##n, sizeof(in_##n), out_##n, sizeof(out_##n), act, \
			why, be                                            \
	}

static const uint8_t in_5tuple_routed[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x2a, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x4a, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x16, 0xe0, 0x96, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
	0x20, 0x35, 0x2d, 0x74, 0x75, 0x70, 0x6c, 0x65,
};
static const uint8_t out_5tuple_routed[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0xb1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x2a, 0x12, 0x34, 0x00, 0x00, 0x3f, 0x11,
	0x7c, 0xef, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x65, 0x9c, 0x40,
	0x23, 0x8d, 0x00, 0x16, 0xdf, 0xd6, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
	0x20, 0x35, 0x2d, 0x74, 0x75, 0x70, 0x6c, 0x65,
};
static const uint8_t in_payload_routed_csum0[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x2d, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x47, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x2a, 0x00, 0x19, 0x00, 0x00, 0x48, 0x44, 0x52, 0x3a, 0x6b, 0x65,
	0x79, 0x2d, 0x30, 0x30, 0x30, 0x31, 0x3a, 0x72, 0x65, 0x73, 0x74,
};
static const uint8_t out_payload_routed_csum0[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0xb2, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x2d, 0x12, 0x34, 0x00, 0x00, 0x3f, 0x11,
	0x7c, 0xeb, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x66, 0x9c, 0x40,
	0x23, 0x8e, 0x00, 0x19, 0x00, 0x00, 0x48, 0x44, 0x52, 0x3a, 0x6b, 0x65,
	0x79, 0x2d, 0x30, 0x30, 0x30, 0x31, 0x3a, 0x72, 0x65, 0x73, 0x74,
};
static const uint8_t in_payload_routed_padded[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x4c, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x2b, 0x00, 0x14, 0x74, 0xa1, 0x48, 0x44, 0x52, 0x3a, 0x6b, 0x65,
	0x79, 0x2d, 0x30, 0x30, 0x30, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t out_payload_routed_padded[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0xb2, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x00, 0x00, 0x3f, 0x11,
	0x7c, 0xf0, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x66, 0x9c, 0x40,
	0x23, 0x8e, 0x00, 0x14, 0x73, 0xe2, 0x48, 0x44, 0x52, 0x3a, 0x6b, 0x65,
	0x79, 0x2d, 0x30, 0x30, 0x30, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t in_latch_routed[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x5a, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x1a, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x1c, 0xe8, 0x00, 0x46, 0xfc, 0x26, 0x4c, 0x54, 0x01, 0x01, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2f, 0x61,
};
static const uint8_t out_latch_routed[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0xb5, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x5a, 0x12, 0x34, 0x00, 0x00, 0x3f, 0x11,
	0x7c, 0xbb, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x69, 0x9c, 0x40,
	0x1c, 0xe8, 0x00, 0x46, 0xfb, 0xc7, 0x4c, 0x54, 0x01, 0x01, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2f, 0x61,
};
static const uint8_t in_payload_short_drop[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x08, 0x00, 0x45, 0x00, 0x00, 0x23, 0x12, 0x34,
	0x00, 0x00, 0x40, 0x11, 0x7c, 0x51, 0xc6, 0x33, 0x64, 0x07,
	0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40, 0x23, 0x29, 0x00, 0x0f,
	0xd5, 0x3c, 0x48, 0x44, 0x52, 0x3a, 0x6b, 0x65, 0x79,
};
static const uint8_t out_payload_short_drop[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x08, 0x00, 0x45, 0x00, 0x00, 0x23, 0x12, 0x34,
	0x00, 0x00, 0x40, 0x11, 0x7c, 0x51, 0xc6, 0x33, 0x64, 0x07,
	0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40, 0x23, 0x29, 0x00, 0x0f,
	0xd5, 0x3c, 0x48, 0x44, 0x52, 0x3a, 0x6b, 0x65, 0x79,
};
static const uint8_t in_payload_short_default[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x32, 0x00, 0x0c, 0x71, 0x3b, 0x74, 0x69, 0x6e, 0x79,
};
static const uint8_t out_payload_short_default[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0xb4, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x3f, 0x11,
	0x7c, 0xf6, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x68, 0x9c, 0x40,
	0x23, 0x90, 0x00, 0x0c, 0x70, 0x7f, 0x74, 0x69, 0x6e, 0x79,
};
static const uint8_t in_latch_bad_magic[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x5a, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x1a, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x1c, 0xe8, 0x00, 0x46, 0xfc, 0x25, 0x4c, 0x55, 0x01, 0x01, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2f, 0x61,
};
static const uint8_t out_latch_bad_magic[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x5a, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x1a, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x1c, 0xe8, 0x00, 0x46, 0xfc, 0x25, 0x4c, 0x55, 0x01, 0x01, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2f, 0x61,
};
static const uint8_t in_latch_key_past_end[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x59, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x1b, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x1c, 0xe8, 0x00, 0x45, 0xfc, 0x89, 0x4c, 0x54, 0x01, 0x01, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2f,
};
static const uint8_t out_latch_key_past_end[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x59, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x1b, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x1c, 0xe8, 0x00, 0x45, 0xfc, 0x89, 0x4c, 0x54, 0x01, 0x01, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x6c, 0x6f, 0x63, 0x6b, 0x2f,
};
static const uint8_t in_not_ipv4_arp[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x02, 0xc6, 0x33, 0x64, 0x07, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t out_not_ipv4_arp[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x02, 0xc6, 0x33, 0x64, 0x07, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t in_fragment_mf[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x20, 0x00, 0x40, 0x11,
	0x5c, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x8c, 0x4e, 0x66, 0x72, 0x61, 0x67,
};
static const uint8_t out_fragment_mf[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x20, 0x00, 0x40, 0x11,
	0x5c, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x8c, 0x4e, 0x66, 0x72, 0x61, 0x67,
};
static const uint8_t in_fragment_offset[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x10, 0x40, 0x11,
	0x7c, 0x44, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x8c, 0x4e, 0x66, 0x72, 0x61, 0x67,
};
static const uint8_t out_fragment_offset[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x10, 0x40, 0x11,
	0x7c, 0x44, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x8c, 0x4e, 0x66, 0x72, 0x61, 0x67,
};
static const uint8_t in_ip_options[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x08, 0x00, 0x46, 0x00, 0x00, 0x24, 0x12, 0x34,
	0x00, 0x00, 0x40, 0x11, 0x79, 0x4e, 0xc6, 0x33, 0x64, 0x07,
	0xc0, 0x00, 0x02, 0x0a, 0x01, 0x01, 0x01, 0x01, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x70, 0x44, 0x6f, 0x70, 0x74, 0x73,
};
static const uint8_t out_ip_options[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x08, 0x00, 0x46, 0x00, 0x00, 0x24, 0x12, 0x34,
	0x00, 0x00, 0x40, 0x11, 0x79, 0x4e, 0xc6, 0x33, 0x64, 0x07,
	0xc0, 0x00, 0x02, 0x0a, 0x01, 0x01, 0x01, 0x01, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x70, 0x44, 0x6f, 0x70, 0x74, 0x73,
};
static const uint8_t in_unmatched_port[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x22, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x52, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x15, 0xb3, 0x00, 0x0e, 0x2c, 0x41, 0x6e, 0x6f, 0x62, 0x6f, 0x64, 0x79,
};
static const uint8_t out_unmatched_port[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x22, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x52, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x15, 0xb3, 0x00, 0x0e, 0x2c, 0x41, 0x6e, 0x6f, 0x62, 0x6f, 0x64, 0x79,
};
static const uint8_t in_ttl_one[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x01, 0x11,
	0xbb, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x78, 0x48, 0x6c, 0x6f, 0x6f, 0x70,
};
static const uint8_t out_ttl_one[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x01, 0x11,
	0xbb, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x28, 0x00, 0x0c, 0x78, 0x48, 0x6c, 0x6f, 0x6f, 0x70,
};
static const uint8_t in_pool_down[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x3c, 0x00, 0x0c, 0x78, 0x36, 0x64, 0x6f, 0x77, 0x6e,
};
static const uint8_t out_pool_down[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11,
	0x7c, 0x54, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x0a, 0x9c, 0x40,
	0x23, 0x3c, 0x00, 0x0c, 0x78, 0x36, 0x64, 0x6f, 0x77, 0x6e,
};

static const struct golden goldens[] = {
	GOLDEN(5tuple_routed, ROUTER_FORWARD, ROUTER_R_routed, BE_B1),
	GOLDEN(payload_routed_csum0, ROUTER_FORWARD, ROUTER_R_routed, BE_B2),
	GOLDEN(payload_routed_padded, ROUTER_FORWARD, ROUTER_R_routed, BE_B2),
	GOLDEN(latch_routed, ROUTER_FORWARD, ROUTER_R_routed, BE_B5),
	GOLDEN(payload_short_drop, ROUTER_DROP, ROUTER_R_key_out_of_payload,
	       BE_NONE),
	GOLDEN(payload_short_default, ROUTER_FORWARD,
	       ROUTER_R_key_out_of_payload, BE_B4),
	GOLDEN(latch_bad_magic, ROUTER_DROP, ROUTER_R_bad_latch_msg, BE_NONE),
	GOLDEN(latch_key_past_end, ROUTER_DROP, ROUTER_R_bad_latch_msg,
	       BE_NONE),
	GOLDEN(not_ipv4_arp, ROUTER_PASS, ROUTER_R_not_ipv4, BE_NONE),
	GOLDEN(fragment_mf, ROUTER_DROP, ROUTER_R_ip_fragment, BE_NONE),
	GOLDEN(fragment_offset, ROUTER_DROP, ROUTER_R_ip_fragment, BE_NONE),
	GOLDEN(ip_options, ROUTER_DROP, ROUTER_R_ip_options, BE_NONE),
	GOLDEN(unmatched_port, ROUTER_PASS, ROUTER_R_unmatched, BE_NONE),
	GOLDEN(ttl_one, ROUTER_DROP, ROUTER_R_ttl_expired, BE_NONE),
	GOLDEN(pool_down, ROUTER_DROP, ROUTER_R_no_backend_up, BE_NONE),
};
/* UDP ports of the multi-backend routes. */
#define PORT_MULTI_5TUPLE  9500
#define PORT_MULTI_PAYLOAD 9600
#define PORT_MULTI_LATCH   9700
#define POOL_N             5

static uint32_t
ip_be(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t bytes[4] = {a, b, c, d};
	uint32_t v;

	memcpy(&v, bytes, 4);
	return v;
}

/* Backend "b<n>": MAC 02:00:00:00:00:b<n>, 192.0.2.10<n>, port 910<n>. */
static struct router_backend
backend(unsigned int n, uint16_t port, bool up)
{
	struct router_backend be = {0};

	be.id_len = (uint8_t)snprintf((char *)be.id, sizeof(be.id), "b%u", n);
	be.up = up;
	be.weight = 1;
	be.mac[0] = 0x02;
	be.mac[5] = (uint8_t)(0xb0 + n);
	be.ip_be = ip_be(192, 0, 2, (uint8_t)(100 + n));
	be.udp_port = port;
	return be;
}

struct fixture {
	struct router_backend b1[1], b2[1], b5[1], b34[2], b6[1];
	struct router_backend multi[POOL_N];
	struct route_table *pass; /* unmatched: PASS, bad_ip: DROP */
	struct route_table *drop; /* unmatched: DROP, bad_ip: PASS */
};

static struct route_table *
table_make(struct fixture *f, const struct router_config *cfg)
{
	const struct router_route_def defs[] = {
		{.port_first = 9000,
		 .port_last = 9000,
		 .key_kind = ROUTER_KEY_5TUPLE,
		 .default_backend = -1,
		 .backends_count = 1,
		 .backends = f->b1},
		{.port_first = 9001,
		 .port_last = 9003,
		 .key_kind = ROUTER_KEY_PAYLOAD,
		 .key_off = 4,
		 .key_len = 8,
		 .default_backend = -1,
		 .backends_count = 1,
		 .backends = f->b2},
		{.port_first = 7400,
		 .port_last = 7400,
		 .key_kind = ROUTER_KEY_LATCH,
		 .default_backend = -1,
		 .backends_count = 1,
		 .backends = f->b5},
		{.port_first = 9010,
		 .port_last = 9010,
		 .key_kind = ROUTER_KEY_PAYLOAD,
		 .key_off = 100,
		 .key_len = 4,
		 .default_backend = 1,
		 .backends_count = 2,
		 .backends = f->b34},
		{.port_first = 9020,
		 .port_last = 9020,
		 .key_kind = ROUTER_KEY_5TUPLE,
		 .default_backend = -1,
		 .backends_count = 1,
		 .backends = f->b6},
		{.port_first = PORT_MULTI_5TUPLE,
		 .port_last = PORT_MULTI_5TUPLE + 99,
		 .key_kind = ROUTER_KEY_5TUPLE,
		 .default_backend = -1,
		 .backends_count = POOL_N,
		 .backends = f->multi},
		{.port_first = PORT_MULTI_PAYLOAD,
		 .port_last = PORT_MULTI_PAYLOAD,
		 .key_kind = ROUTER_KEY_PAYLOAD,
		 .key_off = 0,
		 .key_len = 8,
		 .table_size = 1009,
		 .default_backend = -1,
		 .backends_count = POOL_N,
		 .backends = f->multi},
		{.port_first = PORT_MULTI_LATCH,
		 .port_last = PORT_MULTI_LATCH,
		 .key_kind = ROUTER_KEY_LATCH,
		 .default_backend = -1,
		 .backends_count = POOL_N,
		 .backends = f->multi},
	};
	const char *why = NULL;
	struct route_table *t;

	t = router_table_create(cfg, defs, sizeof(defs) / sizeof(defs[0]),
				&why);
	if (t == NULL)
		print_error("router_table_create: %s\n", why);
	assert_non_null(t);
	return t;
}

static int
setup(void **state)
{
	const struct router_config pass = {ROUTER_PASS, ROUTER_DROP};
	const struct router_config drop = {ROUTER_DROP, ROUTER_PASS};
	struct fixture *f = calloc(1, sizeof(*f));
	unsigned int i;

	if (f == NULL)
		return -1;
	f->b1[0] = backend(1, 9101, true);
	f->b2[0] = backend(2, 9102, true);
	f->b34[0] = backend(3, 9103, true);
	f->b34[1] = backend(4, 9104, true);
	f->b5[0] = backend(5, 7400, true);
	f->b6[0] = backend(6, 9106, false);
	for (i = 0; i < POOL_N; i++)
		f->multi[i] = backend(10 + i, (uint16_t)(9200 + i), true);
	f->pass = table_make(f, &pass);
	f->drop = table_make(f, &drop);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	router_table_destroy(f->pass);
	router_table_destroy(f->drop);
	free(f);
	return 0;
}

/* Internet checksum (RFC 1071) of @len bytes plus @sum, folded. */
static uint32_t
sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* Both checksums of an IPv4/UDP frame (no options) verify. */
static void
assert_checksums_ok(const uint8_t *f)
{
	const uint8_t *ip = f + 14, *udp = f + 34;
	uint16_t udp_len = (uint16_t)(udp[4] << 8 | udp[5]);
	uint8_t pseudo[12];

	assert_int_equal(sum16(ip, 20, 0), 0xffff);
	if (udp[6] == 0 && udp[7] == 0)
		return; /* no UDP checksum (RFC 768) */
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	pseudo[10] = udp[4];
	pseudo[11] = udp[5];
	assert_int_equal(sum16(udp, udp_len, sum16(pseudo, 12, 0)), 0xffff);
}

static const struct router_backend *
decided_backend(const struct route_table *t, const struct router_decision *d)
{
	if (d->backend == ROUTER_BACKEND_NONE)
		return NULL;
	assert_true(d->route < t->routes_count);
	assert_true(d->backend < t->routes[d->route].backends_count);
	return &t->routes[d->route].backends[d->backend];
}

static void
test_golden(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		const struct router_backend *be;
		struct router_decision d;
		enum router_action act;
		/* Exactly the frame's size, so a read past it is a heap
		 * overflow that ASan or valgrind reports. */
		uint8_t *buf = malloc(g->in_len);

		assert_non_null(buf);
		print_message("golden %s\n", g->name);
		memcpy(buf, g->in, g->in_len);
		act = router_route(f->pass, buf, (uint16_t)g->in_len, &d);
		assert_int_equal(act, g->action);
		assert_string_equal(router_reason_names[d.reason],
				    router_reason_names[g->reason]);
		assert_int_equal(g->out_len, g->in_len);
		assert_memory_equal(buf, g->out, g->out_len);
		be = decided_backend(f->pass, &d);
		if (g->backend == BE_NONE) {
			assert_null(be);
		} else {
			char want[8];

			snprintf(want, sizeof(want), "b%d", g->backend);
			assert_non_null(be);
			assert_int_equal(be->id_len, strlen(want));
			assert_memory_equal(be->id, want, be->id_len);
		}
		if (act == ROUTER_FORWARD)
			assert_checksums_ok(buf);
		free(buf);
	}
}

/* The other table's policies: unmatched dropped, bad IPv4 passed. */
static void
test_policies(void **state)
{
	struct fixture *f = *state;
	struct router_decision d;
	uint8_t buf[128];

	memcpy(buf, in_unmatched_port, sizeof(in_unmatched_port));
	assert_int_equal(
		router_route(f->drop, buf, sizeof(in_unmatched_port), &d),
		ROUTER_DROP);
	assert_int_equal(d.reason, ROUTER_R_unmatched);
	memcpy(buf, in_not_ipv4_arp, sizeof(in_not_ipv4_arp));
	assert_int_equal(
		router_route(f->drop, buf, sizeof(in_not_ipv4_arp), &d),
		ROUTER_DROP);
	assert_int_equal(d.reason, ROUTER_R_not_ipv4);
	memcpy(buf, in_fragment_mf, sizeof(in_fragment_mf));
	assert_int_equal(router_route(f->drop, buf, sizeof(in_fragment_mf), &d),
			 ROUTER_PASS);
	assert_int_equal(d.reason, ROUTER_R_ip_fragment);
	assert_memory_equal(buf, in_fragment_mf, sizeof(in_fragment_mf));
	memcpy(buf, in_ip_options, sizeof(in_ip_options));
	assert_int_equal(router_route(f->drop, buf, sizeof(in_ip_options), &d),
			 ROUTER_PASS);
	assert_int_equal(d.reason, ROUTER_R_ip_options);
}

/*
 * Every prefix of a routable frame: nothing is read past the prefix
 * (exact-size heap buffers), and no prefix shorter than the datagram is
 * forwarded.
 */
static void
test_truncations(void **state)
{
	struct fixture *f = *state;
	const uint8_t *src = in_latch_routed;
	size_t full = sizeof(in_latch_routed), n;

	for (n = 0; n <= full; n++) {
		struct router_decision d;
		uint8_t *buf = malloc(n ? n : 1);
		enum router_action act;

		assert_non_null(buf);
		memcpy(buf, src, n);
		act = router_route(f->pass, buf, (uint16_t)n, &d);
		if (n < full) {
			assert_int_not_equal(act, ROUTER_FORWARD);
			assert_memory_equal(buf, src, n);
		} else {
			assert_int_equal(act, ROUTER_FORWARD);
		}
		free(buf);
	}
}

/* Build an IPv4/UDP frame to port @dport from @sport with @payload. */
static size_t
frame_make(uint8_t *f, uint16_t sport, uint16_t dport, const void *payload,
	   uint16_t plen)
{
	uint16_t ip_len = (uint16_t)(28 + plen), udp_len = (uint16_t)(8 + plen);
	uint32_t src = ip_be(198, 51, 100, 7), dst = ip_be(192, 0, 2, 10);
	uint8_t pseudo[12];
	uint16_t c;

	memset(f, 0, 42);
	f[0] = 0x02; /* destination: the node, source: a client */
	f[5] = 0x01;
	f[6] = 0x02;
	f[11] = 0x02;
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, &src, 4);
	memcpy(f + 30, &dst, 4);
	c = (uint16_t)~sum16(f + 14, 20, 0);
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = (uint8_t)(dport >> 8);
	f[37] = (uint8_t)dport;
	f[38] = (uint8_t)(udp_len >> 8);
	f[39] = (uint8_t)udp_len;
	memcpy(f + 42, payload, plen);
	memcpy(pseudo, f + 26, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	pseudo[10] = f[38];
	pseudo[11] = f[39];
	c = (uint16_t)~sum16(f + 34, udp_len, sum16(pseudo, 12, 0));
	if (c == 0)
		c = 0xffff;
	f[40] = (uint8_t)(c >> 8);
	f[41] = (uint8_t)c;
	return 42 + plen;
}

/* The rewritten frame goes to @be, with valid checksums, TTL 63. */
static void
assert_sent_to(const uint8_t *f, const struct router_backend *be)
{
	assert_memory_equal(f, be->mac, 6);
	assert_memory_equal(f + 30, &be->ip_be, 4);
	assert_int_equal(f[36] << 8 | f[37], be->udp_port);
	assert_int_equal(f[22], 63);
	assert_checksums_ok(f);
}

/*
 * Multi-backend routes: the chosen backend is the route's Maglev entry
 * of latch_key_hash(key), the key as the test extracts it itself.
 */
static void
test_multi_5tuple(void **state)
{
	struct fixture *f = *state;
	const struct route_table *t = f->pass;
	uint32_t seen = 0;
	uint16_t sport;

	for (sport = 1000; sport < 1200; sport++) {
		uint16_t dport = (uint16_t)(PORT_MULTI_5TUPLE + sport % 100);
		uint8_t buf[128], tuple[13];
		struct router_decision d;
		const struct router_route *r;
		size_t len = frame_make(buf, sport, dport, "x", 1);
		uint16_t want;

		memcpy(tuple, buf + 26, 8);
		tuple[8] = 17;
		memcpy(tuple + 9, buf + 34, 4);
		assert_int_equal(router_route(t, buf, (uint16_t)len, &d),
				 ROUTER_FORWARD);
		assert_int_equal(d.reason, ROUTER_R_routed);
		r = &t->routes[d.route];
		assert_int_equal(r->port_first, PORT_MULTI_5TUPLE);
		assert_true(d.hash == latch_key_hash(tuple, 13));
		want = r->maglev->entry[latch_key_hash(tuple, 13) %
					r->maglev->size];
		assert_int_equal(d.backend, want);
		assert_sent_to(buf, &r->backends[want]);
		seen |= 1u << want;
	}
	/* 200 flows over 5 backends: each one is used. */
	assert_int_equal(seen, (1u << POOL_N) - 1);
}

/* A payload key picks the same backend whatever the 5-tuple. */
static void
test_multi_payload(void **state)
{
	struct fixture *f = *state;
	const struct route_table *t = f->pass;
	uint32_t seen = 0;
	unsigned int k;

	for (k = 0; k < 100; k++) {
		char payload[24];
		uint16_t first = ROUTER_BACKEND_NONE, sport;

		snprintf(payload, sizeof(payload), "k%07u/tail", k);
		for (sport = 2000; sport < 2010; sport++) {
			uint8_t buf[128];
			struct router_decision d;
			const struct router_route *r;
			size_t len = frame_make(buf, sport, PORT_MULTI_PAYLOAD,
						payload, 13);

			assert_int_equal(
				router_route(t, buf, (uint16_t)len, &d),
				ROUTER_FORWARD);
			r = &t->routes[d.route];
			assert_int_equal(r->maglev->size, 1009);
			assert_int_equal(
				d.backend,
				r->maglev->entry[latch_key_hash(payload, 8) %
						 1009]);
			if (first == ROUTER_BACKEND_NONE)
				first = d.backend;
			assert_int_equal(d.backend, first);
			assert_sent_to(buf, &r->backends[d.backend]);
		}
		seen |= 1u << first;
	}
	assert_int_equal(seen, (1u << POOL_N) - 1);
}

/* Latch keys: hashed exactly as the shard map and the client hash them. */
static void
test_multi_latch(void **state)
{
	struct fixture *f = *state;
	const struct route_table *t = f->pass;
	unsigned int k;

	for (k = 0; k < 50; k++) {
		uint8_t msg[LATCH_MSG_MAX_LEN] = {0}, buf[256];
		char key[LATCH_KEY_MAX + 1];
		int klen = snprintf(key, sizeof(key), "orders/%u", k * 7919);
		struct router_decision d;
		const struct router_route *r;
		size_t len;

		msg[0] = 0x4c; /* "LT", version 1, ACQUIRE */
		msg[1] = 0x54;
		msg[2] = LATCH_VERSION;
		msg[3] = LATCH_OP_ACQUIRE;
		msg[9] = (uint8_t)klen;
		memcpy(msg + LATCH_MSG_FIXED_LEN, key, (size_t)klen);
		len = frame_make(buf, 3000, PORT_MULTI_LATCH, msg,
				 (uint16_t)(LATCH_MSG_FIXED_LEN + klen));
		assert_int_equal(router_route(t, buf, (uint16_t)len, &d),
				 ROUTER_FORWARD);
		r = &t->routes[d.route];
		assert_true(d.hash == latch_key_hash(key, (size_t)klen));
		assert_int_equal(d.backend, maglev_lookup(r->maglev, d.hash));
		assert_sent_to(buf, &r->backends[d.backend]);
	}
}

/* A backend marked down loses its flows; the others keep nearly all. */
static void
test_backend_down(void **state)
{
	struct fixture *f = *state;
	const struct router_config cfg = {ROUTER_PASS, ROUTER_DROP};
	struct router_backend pool[POOL_N];
	const struct router_route_def def = {.port_first = 9500,
					     .port_last = 9500,
					     .key_kind = ROUTER_KEY_5TUPLE,
					     .default_backend = -1,
					     .backends_count = POOL_N,
					     .backends = pool};
	struct route_table *before, *after;
	const char *why = NULL;
	uint32_t moved = 0, kept_total = 0;
	uint16_t sport;

	memcpy(pool, f->multi, sizeof(pool));
	before = router_table_create(&cfg, &def, 1, &why);
	assert_non_null(before);
	pool[2].up = false;
	after = router_table_create(&cfg, &def, 1, &why);
	assert_non_null(after);
	assert_int_equal(after->routes[0].up_count, POOL_N - 1);
	for (sport = 1; sport < 5000; sport++) {
		uint8_t b1[64], b2[64];
		struct router_decision d1, d2;
		size_t len = frame_make(b1, sport, 9500, "x", 1);

		memcpy(b2, b1, len);
		assert_int_equal(router_route(before, b1, (uint16_t)len, &d1),
				 ROUTER_FORWARD);
		assert_int_equal(router_route(after, b2, (uint16_t)len, &d2),
				 ROUTER_FORWARD);
		assert_int_not_equal(d2.backend, 2);
		if (d1.backend != 2) {
			kept_total++;
			if (d2.backend != d1.backend)
				moved++;
		}
	}
	/* The Maglev bound of test_maglev.c (1.5 %), with sampling slack. */
	assert_true(moved * 100 <= kept_total * 3);
	router_table_destroy(before);
	router_table_destroy(after);
}

/* ---- connection tracking ------------------------------------------- */

#define CT_PORT  9500
#define CT_FLOWS 4000u

/* One 5-tuple route on CT_PORT over @pool[0..n), conntrack as asked. */
static struct route_table *
ct_table(const struct router_backend *pool, uint16_t n, bool conntrack)
{
	const struct router_config cfg = {ROUTER_PASS, ROUTER_DROP};
	const struct router_route_def def = {.port_first = CT_PORT,
					     .port_last = CT_PORT,
					     .key_kind = ROUTER_KEY_5TUPLE,
					     .default_backend = -1,
					     .backends_count = n,
					     .backends = pool,
					     .conntrack = conntrack};
	const char *why = NULL;
	struct route_table *t = router_table_create(&cfg, &def, 1, &why);

	if (t == NULL)
		print_error("router_table_create: %s\n", why);
	assert_non_null(t);
	return t;
}

/*
 * Route flow @sport through @t (with @ct, or none) at @now_ms; check the
 * rewrite and return the chosen backend's identity byte (its number).
 */
static unsigned int
ct_send(const struct route_table *t, struct conntrack *ct, uint64_t now_ms,
	uint16_t sport, struct router_decision *d)
{
	uint8_t buf[64];
	size_t len = frame_make(buf, sport, CT_PORT, "x", 1);
	const struct router_backend *be;

	assert_int_equal(
		router_route_tracked(t, ct, now_ms, buf, (uint16_t)len, d),
		ROUTER_FORWARD);
	assert_int_equal(d->reason, ROUTER_R_routed);
	be = decided_backend(t, d);
	assert_non_null(be);
	assert_sent_to(buf, be);
	return (unsigned int)strtoul((const char *)be->id + 1, NULL, 10);
}

/*
 * A backend joins the pool: under plain Maglev some established flows
 * would move to other backends (found by routing every flow through both
 * tables without tracking); with tracking every established flow keeps
 * its backend, and new flows spread over the whole new pool, the new
 * backend included.
 */
static void
test_conntrack_keeps_flows(void **state)
{
	struct fixture *f = *state;
	struct route_table *before, *after;
	struct conntrack *ct = conntrack_create(16384);
	struct router_decision d;
	unsigned int was[CT_FLOWS], would_move = 0, to_new = 0, i;
	uint32_t seen = 0;
	uint16_t sport;

	assert_non_null(ct);
	before = ct_table(f->multi, POOL_N - 1, true);
	after = ct_table(f->multi, POOL_N, true);
	for (i = 0; i < CT_FLOWS; i++) {
		sport = (uint16_t)(10000 + i);
		was[i] = ct_send(before, ct, 1000, sport, &d);
		assert_int_equal(d.ct, CONNTRACK_NEW);
		/* Without tracking, the same flow through both tables. */
		assert_int_equal(ct_send(before, NULL, 0, sport, &d), was[i]);
		assert_int_equal(d.ct, CONNTRACK_UNTRACKED);
		if (ct_send(after, NULL, 0, sport, &d) != was[i])
			would_move++;
	}
	/* About 1/5 go to the new backend under Maglev: the precondition
	 * of this test, computed, not assumed. */
	assert_true(would_move > CT_FLOWS / 10);
	for (i = 0; i < CT_FLOWS; i++) {
		sport = (uint16_t)(10000 + i);
		assert_int_equal(ct_send(after, ct, 2000, sport, &d), was[i]);
		assert_int_equal(d.ct, CONNTRACK_HIT);
	}
	/* New flows follow the new table, the new backend included. */
	for (i = 0; i < CT_FLOWS; i++) {
		unsigned int got;

		sport = (uint16_t)(30000 + i);
		got = ct_send(after, ct, 3000, sport, &d);
		assert_int_equal(d.ct, CONNTRACK_NEW);
		assert_int_equal(got, ct_send(after, NULL, 0, sport, &d));
		seen |= 1u << (got - 10);
		to_new += got == 10 + POOL_N - 1;
	}
	assert_int_equal(seen, (1u << POOL_N) - 1);
	assert_true(to_new > CT_FLOWS / 10);
	assert_int_equal(ct->counters.hits, CT_FLOWS);
	assert_int_equal(ct->counters.misses, 2 * CT_FLOWS);
	assert_int_equal(ct->counters.moved, 0);
	/* After their idle time, old flows follow the table again. */
	for (i = 0; i < CT_FLOWS; i++) {
		uint64_t later = 2000 + CONNTRACK_IDLE_MS_DEFAULT;

		sport = (uint16_t)(10000 + i);
		assert_int_equal(ct_send(after, ct, later, sport, &d),
				 ct_send(after, NULL, 0, sport, &d));
	}
	conntrack_destroy(ct);
	router_table_destroy(before);
	router_table_destroy(after);
}

/*
 * A backend removed from the pool, or marked down, loses its flows (to
 * Maglev's choice in the new table); every other flow keeps its backend,
 * including the few that Maglev alone would have moved.
 */
static void
test_conntrack_gone_backend_moves(void **state)
{
	struct fixture *f = *state;
	struct router_backend removed[POOL_N - 1], down[POOL_N];
	struct route_table *before, *t_removed, *t_down;
	struct conntrack *ct_r = conntrack_create(16384);
	struct conntrack *ct_d = conntrack_create(16384);
	struct router_decision d;
	unsigned int was, got, i, on_gone = 0, kept_by_ct = 0;
	uint16_t sport;

	assert_non_null(ct_r);
	assert_non_null(ct_d);
	/* Backend b11 (index 1) leaves: the pool is renumbered after it. */
	removed[0] = f->multi[0];
	memcpy(&removed[1], &f->multi[2], (POOL_N - 2) * sizeof(removed[0]));
	memcpy(down, f->multi, sizeof(down));
	down[1].up = false;
	before = ct_table(f->multi, POOL_N, true);
	t_removed = ct_table(removed, POOL_N - 1, true);
	t_down = ct_table(down, POOL_N, true);
	for (i = 0; i < CT_FLOWS; i++) {
		sport = (uint16_t)(20000 + i);
		was = ct_send(before, ct_r, 0, sport, &d);
		assert_int_equal(ct_send(before, ct_d, 0, sport, &d), was);

		got = ct_send(t_removed, ct_r, 10, sport, &d);
		if (was == 11) {
			on_gone++;
			assert_int_equal(d.ct, CONNTRACK_MOVED);
			assert_int_equal(
				got, ct_send(t_removed, NULL, 0, sport, &d));
		} else {
			assert_int_equal(d.ct, CONNTRACK_HIT);
			assert_int_equal(got, was);
			if (ct_send(t_removed, NULL, 0, sport, &d) != was)
				kept_by_ct++;
		}
		assert_int_not_equal(got, 11);
		/* Moved once, then kept where it went. */
		assert_int_equal(ct_send(t_removed, ct_r, 20, sport, &d), got);
		assert_int_equal(d.ct, CONNTRACK_HIT);

		got = ct_send(t_down, ct_d, 10, sport, &d);
		assert_int_equal(d.ct,
				 was == 11 ? CONNTRACK_MOVED : CONNTRACK_HIT);
		assert_int_not_equal(got, 11);
		if (was != 11)
			assert_int_equal(got, was);
	}
	assert_true(on_gone > CT_FLOWS / 10);
	assert_int_equal(ct_r->counters.moved, on_gone);
	assert_int_equal(ct_d->counters.moved, on_gone);
	print_message("%u flows moved off the gone backend; %u kept that "
		      "plain Maglev would have moved\n",
		      on_gone, kept_by_ct);
	conntrack_destroy(ct_r);
	conntrack_destroy(ct_d);
	router_table_destroy(before);
	router_table_destroy(t_removed);
	router_table_destroy(t_down);
}

/* A route without conntrack is not tracked even when a table is given. */
static void
test_conntrack_off_route(void **state)
{
	struct fixture *f = *state;
	struct route_table *t = ct_table(f->multi, POOL_N, false);
	struct conntrack *ct = conntrack_create(64);
	struct router_decision d;
	uint16_t sport;

	assert_non_null(ct);
	for (sport = 1; sport < 100; sport++) {
		ct_send(t, ct, 0, sport, &d);
		assert_int_equal(d.ct, CONNTRACK_UNTRACKED);
	}
	assert_int_equal(conntrack_live(ct, 0), 0);
	assert_int_equal(ct->counters.misses, 0);
	conntrack_destroy(ct);
	router_table_destroy(t);
}

static void
test_invalid_tables(void **state)
{
	struct fixture *f = *state;
	const struct router_config cfg = {ROUTER_PASS, ROUTER_DROP};
	const struct router_config bad_cfg = {ROUTER_FORWARD, ROUTER_DROP};
	struct router_route_def defs[2] = {
		{.port_first = 100,
		 .port_last = 200,
		 .key_kind = ROUTER_KEY_5TUPLE,
		 .default_backend = -1,
		 .backends_count = POOL_N,
		 .backends = f->multi},
		{.port_first = 300,
		 .port_last = 300,
		 .key_kind = ROUTER_KEY_5TUPLE,
		 .default_backend = -1,
		 .backends_count = POOL_N,
		 .backends = f->multi},
	};
	struct route_table *t;
	const char *why;

	t = router_table_create(&cfg, defs, 2, &why);
	assert_non_null(t);
	router_table_destroy(t);

#define EXPECT_EINVAL(c)                                            \
	do {                                                        \
		why = NULL;                                         \
		errno = 0;                                          \
		assert_null(router_table_create(c, defs, 2, &why)); \
		assert_int_equal(errno, EINVAL);                    \
		assert_non_null(why);                               \
		print_message("refused as expected: %s\n", why);    \
	} while (0)

	EXPECT_EINVAL(&bad_cfg);
	defs[1].port_first = 200; /* overlaps 100-200 */
	defs[1].port_last = 250;
	EXPECT_EINVAL(&cfg);
	defs[1].port_first = defs[1].port_last = 300;
	defs[1].port_first = 301; /* empty range */
	EXPECT_EINVAL(&cfg);
	defs[1].port_first = 300;
	defs[1].default_backend = POOL_N; /* not in the pool */
	EXPECT_EINVAL(&cfg);
	defs[1].default_backend = -1;
	defs[1].table_size = 65536; /* not prime */
	EXPECT_EINVAL(&cfg);
	defs[1].table_size = 499; /* prime, but not above 100 x 5 */
	EXPECT_EINVAL(&cfg);
	defs[1].table_size = 0;
	defs[1].key_kind = ROUTER_KEY_PAYLOAD; /* of 0 bytes */
	EXPECT_EINVAL(&cfg);
	defs[1].key_kind = ROUTER_KEY_KIND_MAX;
	EXPECT_EINVAL(&cfg);
	defs[1].key_kind = ROUTER_KEY_5TUPLE;
	defs[1].backends_count = 0;
	EXPECT_EINVAL(&cfg);
	defs[1].backends_count = POOL_N;
	defs[1].conntrack = true; /* fine on a 5-tuple route */
	t = router_table_create(&cfg, defs, 2, &why);
	assert_non_null(t);
	assert_true(t->routes[1].conntrack);
	assert_int_equal(t->routes[1].conntrack_idle_ms,
			 CONNTRACK_IDLE_MS_DEFAULT);
	assert_false(t->routes[0].conntrack);
	assert_null(t->routes[0].ct_ids);
	router_table_destroy(t);
	defs[1].key_kind = ROUTER_KEY_PAYLOAD; /* conntrack needs 5-tuple */
	defs[1].key_len = 4;
	EXPECT_EINVAL(&cfg);
	defs[1].key_kind = ROUTER_KEY_5TUPLE;
	defs[1].conntrack_idle_ms = CONNTRACK_IDLE_MS_MAX + 1;
	EXPECT_EINVAL(&cfg);
#undef EXPECT_EINVAL
}

static void
test_reason_names(void **state)
{
	unsigned int i, j;

	for (i = 0; i < ROUTER_R_MAX; i++) {
		assert_non_null(router_reason_names[i]);
		for (j = 0; j < i; j++)
			assert_string_not_equal(router_reason_names[i],
						router_reason_names[j]);
	}
}

/* ---- two-stage routing and the rewrite ------------------------------ */

/* Every field of two decisions is the same. */
static void
assert_decision_equal(const struct router_decision *a,
		      const struct router_decision *b)
{
	assert_int_equal(a->reason, b->reason);
	assert_int_equal(a->route, b->route);
	assert_int_equal(a->backend, b->backend);
	assert_int_equal(a->ct, b->ct);
	assert_true(a->hash == b->hash);
}

/*
 * A burst as a worker handles it: every golden frame prepared first
 * (router_prepare), then each finished in order (router_finish). Each
 * must give router_route()'s action, decision and bytes, under both
 * tables' policies: preparing other frames in between changes nothing.
 */
static void
test_prepare_burst(void **state)
{
	struct fixture *f = *state;
	const struct route_table *tables[] = {f->pass, f->drop};
	enum { N = sizeof(goldens) / sizeof(goldens[0]) };
	struct router_prep prep[N];
	uint8_t *burst[N], *one[N];
	size_t i, k;

	for (k = 0; k < 2; k++) {
		const struct route_table *t = tables[k];

		for (i = 0; i < N; i++) {
			burst[i] = malloc(goldens[i].in_len);
			one[i] = malloc(goldens[i].in_len);
			assert_non_null(burst[i]);
			assert_non_null(one[i]);
			memcpy(burst[i], goldens[i].in, goldens[i].in_len);
			memcpy(one[i], goldens[i].in, goldens[i].in_len);
			router_prepare(t, burst[i], (uint16_t)goldens[i].in_len,
				       &prep[i]);
		}
		for (i = 0; i < N; i++) {
			struct router_decision d1, d2;
			uint16_t len = (uint16_t)goldens[i].in_len;

			print_message("burst %zu %s\n", k, goldens[i].name);
			assert_int_equal(router_route(t, one[i], len, &d1),
					 router_finish(t, NULL, 0, burst[i],
						       &prep[i], &d2));
			assert_decision_equal(&d1, &d2);
			assert_memory_equal(one[i], burst[i], len);
			free(burst[i]);
			free(one[i]);
		}
	}
}

/*
 * The same with connection tracking: a burst of flows, some of them
 * repeated, prepared then finished against one flow table gives what
 * routing them one by one against another gives (conntrack sees them in
 * the same order).
 */
static void
test_prepare_burst_conntrack(void **state)
{
	struct fixture *f = *state;
	struct route_table *t = ct_table(f->multi, POOL_N, true);
	struct conntrack *ct1 = conntrack_create(1024);
	struct conntrack *ct2 = conntrack_create(1024);
	enum { N = 64 };
	struct router_prep prep[N];
	uint8_t burst[N][64], one[N][64];
	size_t len[N], i, round;

	assert_non_null(ct1);
	assert_non_null(ct2);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < N; i++) {
			/* Every flow twice in a burst, and again later. */
			uint16_t sport = (uint16_t)(20000 + i % (N / 2));

			len[i] = frame_make(burst[i], sport, CT_PORT, "x", 1);
			memcpy(one[i], burst[i], len[i]);
			router_prepare(t, burst[i], (uint16_t)len[i], &prep[i]);
		}
		for (i = 0; i < N; i++) {
			struct router_decision d1, d2;
			uint64_t now = 1000 + round;

			assert_int_equal(
				router_route_tracked(t, ct1, now, one[i],
						     (uint16_t)len[i], &d1),
				router_finish(t, ct2, now, burst[i], &prep[i],
					      &d2));
			assert_decision_equal(&d1, &d2);
			assert_int_equal(d2.ct, i < N / 2 && round == 0
							? CONNTRACK_NEW
							: CONNTRACK_HIT);
			assert_memory_equal(one[i], burst[i], len[i]);
		}
	}
	conntrack_destroy(ct1);
	conntrack_destroy(ct2);
	router_table_destroy(t);
}

/* RFC 1624 equation 3 for one 16-bit word, the reference of the test. */
static uint16_t
ref_csum_replace16(uint16_t hc, uint16_t old, uint16_t new_word)
{
	uint32_t s = (uint32_t)(uint16_t)~hc + (uint16_t)~old + new_word;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The rewrite updated word by word, as RFC 1624 describes it. */
static void
ref_rewrite(uint8_t *f, const struct router_backend *be)
{
	uint8_t *ip = f + 14, *udp = f + 34, nip[4];
	uint16_t ip_sum = (uint16_t)(ip[10] << 8 | ip[11]);
	uint16_t udp_sum = (uint16_t)(udp[6] << 8 | udp[7]);
	uint16_t o, n;
	int k;

	memcpy(f, be->mac, 6);
	memcpy(nip, &be->ip_be, 4);
	o = (uint16_t)(ip[8] << 8 | ip[9]);
	ip[8]--;
	n = (uint16_t)(ip[8] << 8 | ip[9]);
	ip_sum = ref_csum_replace16(ip_sum, o, n);
	for (k = 0; k < 4; k += 2) {
		o = (uint16_t)(ip[16 + k] << 8 | ip[17 + k]);
		n = (uint16_t)(nip[k] << 8 | nip[k + 1]);
		ip_sum = ref_csum_replace16(ip_sum, o, n);
		udp_sum = ref_csum_replace16(udp_sum, o, n);
	}
	memcpy(ip + 16, nip, 4);
	ip[10] = (uint8_t)(ip_sum >> 8);
	ip[11] = (uint8_t)ip_sum;
	o = (uint16_t)(udp[2] << 8 | udp[3]);
	udp_sum = ref_csum_replace16(udp_sum, o, be->udp_port);
	udp[2] = (uint8_t)(be->udp_port >> 8);
	udp[3] = (uint8_t)be->udp_port;
	if (udp[6] != 0 || udp[7] != 0) {
		if (udp_sum == 0)
			udp_sum = 0xffff;
		udp[6] = (uint8_t)(udp_sum >> 8);
		udp[7] = (uint8_t)udp_sum;
	}
}

/*
 * router_rewrite() folds all of a checksum's changed words at once; it
 * must write exactly the bytes of the word-by-word update, over headers
 * of every kind (xorshift-random, with the checksums' edge values 0x0000,
 * 0xffff, 0x0001, 0xfffe forced into some), and produce valid checksums
 * from valid ones.
 */
static void
test_rewrite_matches_rfc1624(void **state)
{
	static const uint16_t edges[] = {0x0000, 0xffff, 0x0001, 0xfffe};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int i, j;

	(void)state;
	for (i = 0; i < 200000; i++) {
		uint8_t a[64], b[64];
		struct router_backend be = {0};

		for (j = 0; j < sizeof(a); j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			a[j] = (uint8_t)x;
		}
		a[14] = 0x45;
		if (a[22] < 2)
			a[22] = 2; /* router_route() drops TTL 0 and 1 */
		memcpy(be.mac, a + 50, 6);
		memcpy(&be.ip_be, a + 56, 4);
		be.udp_port = (uint16_t)(a[60] << 8 | a[61]);
		if (i % 8 == 1) {
			a[24] = (uint8_t)(edges[i / 8 % 4] >> 8);
			a[25] = (uint8_t)edges[i / 8 % 4];
		}
		if (i % 8 == 2) {
			a[40] = (uint8_t)(edges[i / 8 % 4] >> 8);
			a[41] = (uint8_t)edges[i / 8 % 4];
		}
		memcpy(b, a, sizeof(a));
		router_rewrite(a, &be);
		ref_rewrite(b, &be);
		assert_memory_equal(a, b, sizeof(a));
	}
	for (i = 0; i < 2000; i++) {
		uint8_t buf[128], payload[40];
		struct router_backend be =
			backend(i % 7, (uint16_t)(i * 31), true);
		size_t len;

		for (j = 0; j < sizeof(payload); j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			payload[j] = (uint8_t)x;
		}
		len = frame_make(buf, (uint16_t)x, (uint16_t)(x >> 16), payload,
				 1 + i % sizeof(payload));
		assert_true(len <= sizeof(buf));
		be.ip_be = (uint32_t)(x >> 32);
		router_rewrite(buf, &be);
		assert_checksums_ok(buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_multi_5tuple),
		cmocka_unit_test(test_multi_payload),
		cmocka_unit_test(test_multi_latch),
		cmocka_unit_test(test_backend_down),
		cmocka_unit_test(test_invalid_tables),
		cmocka_unit_test(test_conntrack_keeps_flows),
		cmocka_unit_test(test_conntrack_gone_backend_moves),
		cmocka_unit_test(test_conntrack_off_route),
		cmocka_unit_test(test_prepare_burst),
		cmocka_unit_test(test_prepare_burst_conntrack),
		cmocka_unit_test(test_rewrite_matches_rfc1624),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
