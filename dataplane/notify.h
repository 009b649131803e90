/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pending GRANTED/LOST notifications of one worker, retransmitted until the
 * client acknowledges them.
 *
 * A notification is sent unasked (a queued wait ended, a lease was taken
 * away), so UDP may lose it: the pool keeps a copy of the frame and sends it
 * again every retry_ms until an ACK with the same (client id, request id,
 * token) arrives, or until it has been retransmitted `retries` times, when
 * it is dropped and counted as given up. Losing one does not break safety:
 * the grant stands, and a client that retries its ACQUIRE is answered from
 * the lock table's dedup window.
 *
 * Pure: no clock (now_ms comes from the caller), no DPDK, no globals;
 * sending goes through a callback, so tests drive it without an EAL. All
 * memory is allocated in notify_create(); nothing after.
 *
 * Thread safety: none. A pool is owned by one worker lcore. The counters
 * may be read by other threads (aligned 64-bit words, written only by the
 * owner).
 */
#ifndef LATCH_NOTIFY_H
#define LATCH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Largest frame a pool entry holds: Ethernet + IPv4 + UDP (42 bytes) and
 * the longest message (LATCH_MSG_MAX_LEN, 120), rounded up so an entry is
 * a whole number of cache lines.
 */
#define NOTIFY_FRAME_MAX 176
/* Longest retry period and most retries: a minute, a thousand times. */
#define NOTIFY_RETRY_MS_MAX 60000
#define NOTIFY_RETRIES_MAX  1000

struct notify_config {
	uint32_t entries_max; /* notifications awaiting ACK at once */
	uint32_t retry_ms;    /* retransmit period, 1..NOTIFY_RETRY_MS_MAX */
	uint32_t retries;     /* retransmissions before giving up */
};

struct notify_counters {
	uint64_t sent;        /* first transmissions */
	uint64_t retransmits; /* later transmissions */
	uint64_t acked;       /* removed by a matching ACK */
	uint64_t gave_up;     /* removed after the last retry */
	uint64_t full;        /* not kept: the pool was full */
	uint64_t send_failed; /* the send callback refused (no mbuf) */
};

/*
 * Send @len bytes of @frame out of DPDK port @port_id. Returns false if it
 * could not (no buffer); the pool then counts the attempt and retries on
 * schedule.
 */
typedef bool (*notify_send_fn)(void *ctx, uint16_t port_id,
			       const uint8_t *frame, uint16_t len);

struct notify_pool;

/* Start-up only. NULL and errno (EINVAL, ENOMEM) on failure. */
struct notify_pool *notify_create(const struct notify_config *cfg);
void notify_destroy(struct notify_pool *np);

/*
 * Send a new notification now and keep it for retransmission. An entry
 * with the same (client, request, token) is replaced by the new frame (a
 * LOST that follows an unacknowledged GRANTED supersedes it). Returns 0;
 * -EINVAL if @len is 0 or above NOTIFY_FRAME_MAX (nothing sent);
 * -ENOSPC if the pool is full: the frame is still sent once, but never
 * retransmitted (counted as full). Owner only.
 */
int notify_add(struct notify_pool *np, uint64_t client_id, uint64_t request_id,
	       uint64_t token, uint16_t port_id, const uint8_t *frame,
	       uint16_t len, uint64_t now_ms, notify_send_fn send, void *ctx);

/*
 * A client acknowledged (client, request, token): forget it. Returns true
 * if it was pending. Owner only.
 */
bool notify_ack(struct notify_pool *np, uint64_t client_id, uint64_t request_id,
		uint64_t token);

/*
 * Retransmit (or give up on) at most @budget notifications due at
 * @now_ms, oldest first. Returns how many were handled; if it equals
 * @budget, more may be due. Owner only; call once per pass or per ms.
 */
unsigned notify_poll(struct notify_pool *np, uint64_t now_ms, unsigned budget,
		     notify_send_fn send, void *ctx);

/* Notifications awaiting ACK. Any thread (may be one update old). */
uint32_t notify_pending(const struct notify_pool *np);

/* Counters. Any thread (see the thread-safety note above). */
const struct notify_counters *notify_counters(const struct notify_pool *np);

#endif /* LATCH_NOTIFY_H */
