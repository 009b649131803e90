/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire codec: validate, decode and encode latch messages
 * (include/latch/proto.h) in host byte order.
 *
 * Pure C: no DPDK, no clock, no system call, no global state. Used by
 * liblatch, latchctl, latchd's workers, the tools and the simulator, so
 * that every reader of the wire applies the same checks in the same order
 * and counts the same verdicts (the drop reasons of dataplane/worker.h
 * follow this list).
 *
 * Thread safety: every function is reentrant.
 */
#ifndef LATCH_WIRE_H
#define LATCH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <latch/proto.h>

/* A message in host byte order. */
struct latch_wire_msg {
	uint8_t op; /* enum latch_op without LATCH_OP_REPLY */
	bool reply; /* LATCH_OP_REPLY was set */
	uint16_t flags, partition, key_len, status;
	uint32_t count;
	uint64_t client_id, request_id, token, holder;
	uint32_t lease_ms, wait_ms;
	const uint8_t *key; /* points into the decoded buffer */
};

/* Verdicts of latch_wire_decode(), in the order the checks run. */
#define LATCH_WIRE_VERDICT_LIST(X)            \
	X(OK, "ok")                           \
	X(TRUNCATED, "truncated")             \
	X(BAD_MAGIC, "bad_magic")             \
	X(BAD_VERSION, "bad_version")         \
	X(UNKNOWN_OP, "unknown_op")           \
	X(BAD_FLAGS, "bad_flags")             \
	X(KEY_TOO_LONG, "key_too_long")       \
	X(LENGTH_MISMATCH, "length_mismatch") \
	X(WRONG_PARTITION, "wrong_partition") \
	X(ZERO_CLIENT, "zero_client")

enum latch_wire_verdict {
#define LATCH_WIRE_VERDICT_ENUM(name, str) LATCH_WIRE_##name,
	LATCH_WIRE_VERDICT_LIST(LATCH_WIRE_VERDICT_ENUM)
#undef LATCH_WIRE_VERDICT_ENUM
		LATCH_WIRE_VERDICT_MAX
};

/* Names of the verdicts, indexed by enum latch_wire_verdict. */
extern const char *const latch_wire_verdict_names[LATCH_WIRE_VERDICT_MAX];

/*
 * Whether @op (without LATCH_OP_REPLY) names a lock, so its messages must
 * carry a key: ACQUIRE, RELEASE, RENEW, QUERY, GRANTED, LOST and ACK.
 */
bool latch_wire_op_is_keyed(uint8_t op);

/*
 * Validate and decode @len bytes at @buf into @out. Any thread.
 *
 * @partitions is the server's partition count, 0 to skip the partition
 * checks (clients decoding answers). The checks run in this order, and the
 * first that fails gives the verdict: len >= 56 (TRUNCATED), magic,
 * version, op known (1..LATCH_OP_MAX-1, reply bit allowed), flags within
 * LATCH_F_KNOWN, key_len <= LATCH_KEY_MAX, 56 + key_len == len
 * (LENGTH_MISMATCH), keyed ops have key_len >= 1 and KEEPALIVE has
 * key_len == 0 (LENGTH_MISMATCH), client_id != 0 (ZERO_CLIENT), and when
 * @partitions != 0: partition < partitions and, for keyed ops, partition ==
 * latch_key_partition(key) (WRONG_PARTITION).
 *
 * Never reads past @len. @out is filled as far as the checks got (its key
 * only once the length is known to hold it), so a caller may still read
 * the header of a WRONG_PARTITION message to answer it.
 */
enum latch_wire_verdict latch_wire_decode(const void *buf, size_t len,
					  uint16_t partitions,
					  struct latch_wire_msg *out);

/*
 * The partition checks of latch_wire_decode() alone, on a message it
 * decoded with @partitions 0: a server that refuses a request before
 * looking at its key (shedding) skips the key's hash, the largest single
 * cost of decoding, and checks the partition only for what it serves.
 */
static inline enum latch_wire_verdict
latch_wire_check_partition(const struct latch_wire_msg *m, uint16_t partitions)
{
	if (partitions == 0)
		return LATCH_WIRE_OK;
	if (m->partition >= partitions)
		return LATCH_WIRE_WRONG_PARTITION;
	/* One partition: the check above was the whole test. */
	if (partitions > 1 && latch_wire_op_is_keyed(m->op) &&
	    m->partition != latch_key_partition(m->key, m->key_len, partitions))
		return LATCH_WIRE_WRONG_PARTITION;
	return LATCH_WIRE_OK;
}

/*
 * Encode @m into @buf (big-endian). Returns the bytes written
 * (56 + key_len), or 0 if @cap is too small, key_len is above
 * LATCH_KEY_MAX, or a key is announced but @m->key is NULL. Nothing is
 * validated beyond that: tests and fuzzers encode malformed messages on
 * purpose.
 */
size_t latch_wire_encode(const struct latch_wire_msg *m, void *buf, size_t cap);

/* Name of a status from LATCH_STATUS_LIST; "unknown" beyond it. */
const char *latch_status_name(uint16_t status);

#endif /* LATCH_WIRE_H */
