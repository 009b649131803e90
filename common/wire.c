/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire codec (wire.h). Byte order is handled byte by byte rather than
 * through struct overlays, so a buffer of any alignment can be decoded and
 * no read can run past the length that was checked.
 */
#include <string.h>

#include "common/bytes.h"
#include "common/wire.h"

const char *const latch_wire_verdict_names[LATCH_WIRE_VERDICT_MAX] = {
#define LATCH_WIRE_VERDICT_NAME(name, str) [LATCH_WIRE_##name] = str,
	LATCH_WIRE_VERDICT_LIST(LATCH_WIRE_VERDICT_NAME)
#undef LATCH_WIRE_VERDICT_NAME
};

static const char *const status_names[LATCH_S_MAX] = {
#define LATCH_STATUS_NAME(name, str) [LATCH_S_##name] = str,
	LATCH_STATUS_LIST(LATCH_STATUS_NAME)
#undef LATCH_STATUS_NAME
};

/* Offsets of the fields in a message (proto.h, struct latch_msg). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 2,
	OFF_OP = 3,
	OFF_FLAGS = 4,
	OFF_PARTITION = 6,
	OFF_KEY_LEN = 8,
	OFF_STATUS = 10,
	OFF_COUNT = 12,
	OFF_CLIENT_ID = 16,
	OFF_REQUEST_ID = 24,
	OFF_TOKEN = 32,
	OFF_HOLDER = 40,
	OFF_LEASE_MS = 48,
	OFF_WAIT_MS = 52,
	OFF_KEY = 56,
};

_Static_assert(OFF_KEY == LATCH_MSG_FIXED_LEN, "key follows the fixed part");
_Static_assert(offsetof(struct latch_msg, f.wait_ms) == OFF_WAIT_MS,
	       "offsets follow proto.h");
_Static_assert(offsetof(struct latch_msg, hdr.request_id) == OFF_REQUEST_ID,
	       "offsets follow proto.h");

bool
latch_wire_op_is_keyed(uint8_t op)
{
	switch (op) {
	case LATCH_OP_ACQUIRE:
	case LATCH_OP_RELEASE:
	case LATCH_OP_RENEW:
	case LATCH_OP_QUERY:
	case LATCH_OP_GRANTED:
	case LATCH_OP_LOST:
	case LATCH_OP_ACK:
		return true;
	default:
		return false;
	}
}

enum latch_wire_verdict
latch_wire_decode(const void *buf, size_t len, uint16_t partitions,
		  struct latch_wire_msg *out)
{
	const uint8_t *p = buf;
	uint8_t op;

	memset(out, 0, sizeof(*out));
	if (len < LATCH_MSG_FIXED_LEN)
		return LATCH_WIRE_TRUNCATED;

	/* From here on the whole fixed part is known to be there. */
	op = p[OFF_OP];
	out->op = op & (uint8_t)~LATCH_OP_REPLY;
	out->reply = (op & LATCH_OP_REPLY) != 0;
	out->flags = be_get16(p + OFF_FLAGS);
	out->partition = be_get16(p + OFF_PARTITION);
	out->key_len = be_get16(p + OFF_KEY_LEN);
	out->status = be_get16(p + OFF_STATUS);
	out->count = be_get32(p + OFF_COUNT);
	out->client_id = be_get64(p + OFF_CLIENT_ID);
	out->request_id = be_get64(p + OFF_REQUEST_ID);
	out->token = be_get64(p + OFF_TOKEN);
	out->holder = be_get64(p + OFF_HOLDER);
	out->lease_ms = be_get32(p + OFF_LEASE_MS);
	out->wait_ms = be_get32(p + OFF_WAIT_MS);

	if (be_get16(p + OFF_MAGIC) != LATCH_MAGIC)
		return LATCH_WIRE_BAD_MAGIC;
	if (p[OFF_VERSION] != LATCH_VERSION)
		return LATCH_WIRE_BAD_VERSION;
	if (out->op < 1 || out->op >= LATCH_OP_MAX)
		return LATCH_WIRE_UNKNOWN_OP;
	if ((out->flags & ~(uint16_t)LATCH_F_KNOWN) != 0)
		return LATCH_WIRE_BAD_FLAGS;
	if (out->key_len > LATCH_KEY_MAX)
		return LATCH_WIRE_KEY_TOO_LONG;
	if ((size_t)LATCH_MSG_FIXED_LEN + out->key_len != len)
		return LATCH_WIRE_LENGTH_MISMATCH;
	if (latch_wire_op_is_keyed(out->op) && out->key_len == 0)
		return LATCH_WIRE_LENGTH_MISMATCH;
	if (out->op == LATCH_OP_KEEPALIVE && out->key_len != 0)
		return LATCH_WIRE_LENGTH_MISMATCH;

	/* The key is now known to end exactly at @len. */
	out->key = p + OFF_KEY;
	if (out->client_id == 0)
		return LATCH_WIRE_ZERO_CLIENT;
	return latch_wire_check_partition(out, partitions);
}

size_t
latch_wire_encode(const struct latch_wire_msg *m, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t len;

	if (m->key_len > LATCH_KEY_MAX)
		return 0;
	if (m->key_len != 0 && m->key == NULL)
		return 0;
	len = (size_t)LATCH_MSG_FIXED_LEN + m->key_len;
	if (cap < len)
		return 0;

	be_put16(p + OFF_MAGIC, LATCH_MAGIC);
	p[OFF_VERSION] = LATCH_VERSION;
	p[OFF_OP] = (uint8_t)(m->op | (m->reply ? LATCH_OP_REPLY : 0));
	be_put16(p + OFF_FLAGS, m->flags);
	be_put16(p + OFF_PARTITION, m->partition);
	be_put16(p + OFF_KEY_LEN, m->key_len);
	be_put16(p + OFF_STATUS, m->status);
	be_put32(p + OFF_COUNT, m->count);
	be_put64(p + OFF_CLIENT_ID, m->client_id);
	be_put64(p + OFF_REQUEST_ID, m->request_id);
	be_put64(p + OFF_TOKEN, m->token);
	be_put64(p + OFF_HOLDER, m->holder);
	be_put32(p + OFF_LEASE_MS, m->lease_ms);
	be_put32(p + OFF_WAIT_MS, m->wait_ms);
	/* memmove: an answer may be encoded over the request it echoes. */
	if (m->key_len != 0)
		memmove(p + OFF_KEY, m->key, m->key_len);
	return len;
}

const char *
latch_status_name(uint16_t status)
{
	if (status >= LATCH_S_MAX)
		return "unknown";
	return status_names[status];
}
