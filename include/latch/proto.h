/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * latch wire format, version 1.
 *
 * Every lock message is one UDP datagram whose payload is a fixed 32-byte
 * header, 24 bytes of op fields, then the key. All integers are big-endian.
 * A request for partition p is sent to UDP port (base + p); base is 7400
 * unless the server's profile says otherwise. An answer has exactly the size
 * of the request it answers (the key is echoed), so a spoofed request can
 * never be amplified. docs/protocol.md describes every field and op.
 *
 * This header is self-contained (C11, no DPDK), so the client library, the
 * dataplane, tools and other languages' bindings share one definition.
 *
 * Thread safety: everything here is pure and reentrant.
 */
#ifndef LATCH_PROTO_H
#define LATCH_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** First two bytes of every message: ASCII "LT". */
#define LATCH_MAGIC 0x4c54
/** Version of this wire format. */
#define LATCH_VERSION 1
/** Default UDP port of partition 0; partition p listens on base + p. */
#define LATCH_PORT_BASE_DEFAULT 7400
/** Longest key in bytes. 64 keeps a full request within one cache line pair. */
#define LATCH_KEY_MAX 64
/** Most partitions one node may serve (one worker lcore each). */
#define LATCH_PARTITIONS_MAX 64

/**
 * Opcodes. Requests are below 0x80; an answer carries its request's opcode
 * with LATCH_OP_REPLY set. GRANTED and LOST are sent by the server unasked
 * and are acknowledged by the client with ACK.
 */
enum latch_op {
	LATCH_OP_ACQUIRE = 1,   /**< take a lock: try, or wait in FIFO order */
	LATCH_OP_RELEASE = 2,   /**< give a lock back; token required */
	LATCH_OP_RENEW = 3,     /**< extend a lease; token required */
	LATCH_OP_QUERY = 4,     /**< who holds the key; changes nothing */
	LATCH_OP_KEEPALIVE = 5, /**< open or refresh (or close) a session */
	LATCH_OP_GRANTED = 6,   /**< server: a queued wait ended (status) */
	LATCH_OP_LOST = 7,      /**< server: a held lock was taken away */
	LATCH_OP_ACK = 8,       /**< client: a GRANTED or LOST was received */
	LATCH_OP_MAX = 9,
	LATCH_OP_REPLY = 0x80,
};

/** Flags in the header's flags field. */
enum latch_flag {
	LATCH_F_SHARED = 1u << 0,  /**< ACQUIRE: shared mode, else exclusive */
	LATCH_F_WAIT = 1u << 1,    /**< ACQUIRE: queue if not free, else try */
	LATCH_F_SESSION = 1u << 2, /**< ACQUIRE: bind the lock to the session */
	LATCH_F_CLOSE = 1u << 3,   /**< KEEPALIVE: end the session now */
	LATCH_F_REPLICA = 1u << 4, /**< reserved for replicated answers */
	LATCH_F_FORWARD = 1u << 5, /**< a follower forwards to the leader
					instead of answering NOT_LEADER */
};
#define LATCH_F_KNOWN                                                      \
	(LATCH_F_SHARED | LATCH_F_WAIT | LATCH_F_SESSION | LATCH_F_CLOSE | \
	 LATCH_F_REPLICA | LATCH_F_FORWARD)

/** Status of an answer or notification. 0 is success for every op. */
#define LATCH_STATUS_LIST(X)                  \
	X(OK, "ok")                           \
	X(BUSY, "busy")                       \
	X(QUEUED, "queued")                   \
	X(TIMEOUT, "timeout")                 \
	X(STALE_TOKEN, "stale_token")         \
	X(NOT_HELD, "not_held")               \
	X(NO_SESSION, "no_session")           \
	X(MALFORMED, "malformed")             \
	X(WRONG_PARTITION, "wrong_partition") \
	X(EXPIRED, "expired")                 \
	X(SESSION_ENDED, "session_ended")     \
	X(NOT_LEADER, "not_leader")

enum latch_status {
#define LATCH_STATUS_ENUM(name, str) LATCH_S_##name,
	LATCH_STATUS_LIST(LATCH_STATUS_ENUM)
#undef LATCH_STATUS_ENUM
		LATCH_S_MAX
};

/**
 * The fixed header: 32 bytes, big-endian fields.
 *
 * count: in answers, QUERY gives the number of holders and ACQUIRE/QUEUED
 * the waiter's place in the queue (1 = next); 0 in requests.
 */
struct latch_hdr {
	uint16_t magic;      /**< LATCH_MAGIC */
	uint8_t version;     /**< LATCH_VERSION */
	uint8_t op;          /**< enum latch_op, | LATCH_OP_REPLY in answers */
	uint16_t flags;      /**< enum latch_flag */
	uint16_t partition;  /**< latch_key_partition() of the key */
	uint16_t key_len;    /**< bytes of key after the op fields */
	uint16_t status;     /**< enum latch_status; 0 in requests */
	uint32_t count;      /**< see above */
	uint64_t client_id;  /**< chosen by the client, non-zero */
	uint64_t request_id; /**< per client, increasing; retries reuse it */
};

/**
 * Op fields: 24 bytes, present in every message (zero where unused).
 *
 * token:    RELEASE/RENEW/ACK: the fencing token presented; answers,
 *           GRANTED, LOST: the token of the grant.
 * holder:   QUERY answer: client id of the (first) holder.
 * lease_ms: ACQUIRE/RENEW: lease asked (0 = server default); answers: lease
 *           granted. KEEPALIVE: session timeout asked (0 = default).
 * wait_ms:  ACQUIRE with WAIT: how long to stay queued (0 = server default).
 *           QUERY answer: number of waiters.
 */
struct latch_fields {
	uint64_t token;
	uint64_t holder;
	uint32_t lease_ms;
	uint32_t wait_ms;
};

/** A whole message without its key. */
struct latch_msg {
	struct latch_hdr hdr;
	struct latch_fields f;
	uint8_t key[]; /**< hdr.key_len bytes */
};

#define LATCH_MSG_FIXED_LEN 56
#define LATCH_MSG_MAX_LEN   (LATCH_MSG_FIXED_LEN + LATCH_KEY_MAX)

#ifdef __cplusplus
#define LATCH_STATIC_ASSERT static_assert
#else
#define LATCH_STATIC_ASSERT _Static_assert
#endif

LATCH_STATIC_ASSERT(sizeof(struct latch_hdr) == 32, "wire header is 32 bytes");
LATCH_STATIC_ASSERT(sizeof(struct latch_fields) == 24,
		    "op fields are 24 bytes");
LATCH_STATIC_ASSERT(sizeof(struct latch_msg) == LATCH_MSG_FIXED_LEN,
		    "fixed part of a message");
LATCH_STATIC_ASSERT(LATCH_OP_MAX < LATCH_OP_REPLY, "reply bit above every op");
LATCH_STATIC_ASSERT(LATCH_S_MAX < 65536, "status fits its field");

/**
 * The hash that places a key: 64-bit FNV-1a over the key bytes. Chosen for
 * being trivial to reimplement in any client language; it is not exposed to
 * adversaries beyond load placement.
 */
static inline uint64_t
latch_key_hash(const void *key, size_t len)
{
	const uint8_t *p = (const uint8_t *)key;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull; /* FNV-1a 64 prime */
	}
	return h;
}

/**
 * The partition of a key among @p partitions (1..LATCH_PARTITIONS_MAX): the
 * two halves of the hash folded together, modulo @p partitions. Neither
 * half alone will do: the last bytes of a key reach the high half only
 * through FNV's multiplier (2^40 + 0x1b3), so keys such as "key-1",
 * "key-2", ... crowd into a few partitions, while the low bits of each
 * half mix poorly on their own.
 */
static inline uint16_t
latch_key_partition(const void *key, size_t len, uint16_t partitions)
{
	uint64_t h;

	/* One partition holds every key: no hash to compute (a byte-serial
	 * multiply chain, the largest single cost of decoding a request). */
	if (partitions <= 1)
		return 0;
	h = latch_key_hash(key, len);
	return (uint16_t)((uint32_t)(h ^ (h >> 32)) % partitions);
}

#ifdef __cplusplus
}
#endif

#endif /* LATCH_PROTO_H */
