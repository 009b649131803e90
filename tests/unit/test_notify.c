/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of dataplane/notify.c: retransmission on schedule, ACK, giving up,
 * a full pool, superseding, and the hash's deletions under many entries.
 * The send callback records what would have gone out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/notify.h"

/* What the fake NIC saw. */
struct sent_log {
	unsigned count;
	bool refuse; /* make the callback fail (no mbuf) */
	uint16_t last_port;
	uint16_t last_len;
	uint8_t last_frame[NOTIFY_FRAME_MAX];
	unsigned per_tag[4096]; /* sends per frame tag (first 2 bytes) */
};

static bool
fake_send(void *ctx, uint16_t port_id, const uint8_t *frame, uint16_t len)
{
	struct sent_log *log = ctx;
	unsigned tag = (unsigned)(frame[0] << 8 | frame[1]);

	if (log->refuse)
		return false;
	log->count++;
	log->last_port = port_id;
	log->last_len = len;
	memcpy(log->last_frame, frame, len);
	if (tag < 4096)
		log->per_tag[tag]++;
	return true;
}

/* A frame tagged @tag in its first two bytes, @len bytes long. */
static void
make_frame(uint8_t *frame, unsigned tag, uint16_t len)
{
	memset(frame, 0x5a, len);
	frame[0] = (uint8_t)(tag >> 8);
	frame[1] = (uint8_t)tag;
}

static struct notify_pool *
pool_new(uint32_t entries, uint32_t retry_ms, uint32_t retries)
{
	struct notify_config cfg = {
		.entries_max = entries,
		.retry_ms = retry_ms,
		.retries = retries,
	};
	struct notify_pool *np = notify_create(&cfg);

	assert_non_null(np);
	return np;
}

static void
test_create_rejects_bad_config(void **state)
{
	struct notify_config cfg = {.entries_max = 0, .retry_ms = 10};

	(void)state;
	assert_null(notify_create(&cfg));
	assert_int_equal(errno, EINVAL);
	cfg.entries_max = 4;
	cfg.retry_ms = 0;
	assert_null(notify_create(&cfg));
	cfg.retry_ms = NOTIFY_RETRY_MS_MAX + 1;
	assert_null(notify_create(&cfg));
}

/* Sent at once, again every retry_ms, nothing before it is due. */
static void
test_send_and_retransmit(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(4, 20, 3);
	uint8_t frame[100];

	(void)state;
	memset(&log, 0, sizeof(log));
	make_frame(frame, 1, sizeof(frame));
	assert_int_equal(notify_add(np, 11, 22, 33, 2, frame, sizeof(frame),
				    1000, fake_send, &log),
			 0);
	assert_int_equal(log.count, 1);
	assert_int_equal(log.last_port, 2);
	assert_int_equal(log.last_len, sizeof(frame));
	assert_memory_equal(log.last_frame, frame, sizeof(frame));
	assert_int_equal(notify_pending(np), 1);

	assert_int_equal(notify_poll(np, 1019, 8, fake_send, &log), 0);
	assert_int_equal(log.count, 1);
	assert_int_equal(notify_poll(np, 1020, 8, fake_send, &log), 1);
	assert_int_equal(log.count, 2);
	/* Next one is due retry_ms after the retransmission, not before. */
	assert_int_equal(notify_poll(np, 1039, 8, fake_send, &log), 0);
	assert_int_equal(notify_poll(np, 1040, 8, fake_send, &log), 1);
	assert_int_equal(log.count, 3);
	assert_int_equal(notify_counters(np)->sent, 1);
	assert_int_equal(notify_counters(np)->retransmits, 2);
	notify_destroy(np);
}

/* An ACK with the exact triple removes it; a wrong one does not. */
static void
test_ack(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(4, 20, 3);
	uint8_t frame[80];

	(void)state;
	memset(&log, 0, sizeof(log));
	make_frame(frame, 1, sizeof(frame));
	assert_int_equal(notify_add(np, 11, 22, 33, 0, frame, sizeof(frame), 0,
				    fake_send, &log),
			 0);
	assert_false(notify_ack(np, 11, 22, 34));
	assert_false(notify_ack(np, 11, 23, 33));
	assert_false(notify_ack(np, 12, 22, 33));
	assert_int_equal(notify_pending(np), 1);
	assert_true(notify_ack(np, 11, 22, 33));
	assert_int_equal(notify_pending(np), 0);
	assert_false(notify_ack(np, 11, 22, 33));
	assert_int_equal(notify_counters(np)->acked, 1);

	/* Nothing is retransmitted after the ACK. */
	assert_int_equal(notify_poll(np, 1000, 8, fake_send, &log), 0);
	assert_int_equal(log.count, 1);
	notify_destroy(np);
}

/* retries retransmissions, then it is given up and its entry freed. */
static void
test_give_up(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(1, 10, 2);
	uint8_t frame[64];
	uint64_t now = 0;

	(void)state;
	memset(&log, 0, sizeof(log));
	make_frame(frame, 1, sizeof(frame));
	assert_int_equal(notify_add(np, 1, 1, 1, 0, frame, sizeof(frame), now,
				    fake_send, &log),
			 0);
	for (now = 10; now <= 100; now += 10)
		notify_poll(np, now, 8, fake_send, &log);
	assert_int_equal(log.count, 3); /* first send + 2 retries */
	assert_int_equal(notify_counters(np)->gave_up, 1);
	assert_int_equal(notify_pending(np), 0);
	/* Its entry is free again. */
	assert_int_equal(notify_add(np, 2, 2, 2, 0, frame, sizeof(frame), now,
				    fake_send, &log),
			 0);
	assert_int_equal(notify_pending(np), 1);
	notify_destroy(np);
}

/* A full pool still sends once, keeps nothing, and counts it. */
static void
test_full(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(2, 10, 5);
	uint8_t frame[64];

	(void)state;
	memset(&log, 0, sizeof(log));
	make_frame(frame, 1, sizeof(frame));
	assert_int_equal(
		notify_add(np, 1, 1, 1, 0, frame, 64, 0, fake_send, &log), 0);
	assert_int_equal(
		notify_add(np, 1, 2, 1, 0, frame, 64, 0, fake_send, &log), 0);
	assert_int_equal(
		notify_add(np, 1, 3, 1, 0, frame, 64, 0, fake_send, &log),
		-ENOSPC);
	assert_int_equal(log.count, 3);
	assert_int_equal(notify_counters(np)->full, 1);
	assert_int_equal(notify_pending(np), 2);
	assert_false(notify_ack(np, 1, 3, 1));
	notify_destroy(np);
}

/* Same triple again: replaced (LOST after GRANTED), still one entry. */
static void
test_supersede(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(4, 10, 5);
	uint8_t first[64], second[70];

	(void)state;
	memset(&log, 0, sizeof(log));
	make_frame(first, 1, sizeof(first));
	make_frame(second, 2, sizeof(second));
	assert_int_equal(notify_add(np, 5, 6, 7, 0, first, sizeof(first), 0,
				    fake_send, &log),
			 0);
	assert_int_equal(notify_add(np, 5, 6, 7, 1, second, sizeof(second), 5,
				    fake_send, &log),
			 0);
	assert_int_equal(notify_pending(np), 1);
	assert_int_equal(notify_poll(np, 15, 8, fake_send, &log), 1);
	assert_int_equal(log.last_len, sizeof(second));
	assert_int_equal(log.last_port, 1);
	assert_memory_equal(log.last_frame, second, sizeof(second));
	notify_destroy(np);
}

/* A refused send (no mbuf) is retried on schedule. */
static void
test_send_failure_retried(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(4, 10, 5);
	uint8_t frame[64];

	(void)state;
	memset(&log, 0, sizeof(log));
	make_frame(frame, 1, sizeof(frame));
	log.refuse = true;
	assert_int_equal(notify_add(np, 1, 1, 1, 0, frame, sizeof(frame), 0,
				    fake_send, &log),
			 0);
	assert_int_equal(log.count, 0);
	assert_int_equal(notify_counters(np)->send_failed, 1);
	log.refuse = false;
	assert_int_equal(notify_poll(np, 10, 8, fake_send, &log), 1);
	assert_int_equal(log.count, 1);
	notify_destroy(np);
}

static void
test_bad_len(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(4, 10, 5);
	uint8_t frame[NOTIFY_FRAME_MAX + 1];

	(void)state;
	memset(&log, 0, sizeof(log));
	memset(frame, 0, sizeof(frame));
	assert_int_equal(
		notify_add(np, 1, 1, 1, 0, frame, 0, 0, fake_send, &log),
		-EINVAL);
	assert_int_equal(notify_add(np, 1, 1, 1, 0, frame, sizeof(frame), 0,
				    fake_send, &log),
			 -EINVAL);
	assert_int_equal(log.count, 0);
	assert_int_equal(notify_pending(np), 0);
	notify_destroy(np);
}

/*
 * Many entries, ACKed in a scrambled order while the rest keep being
 * retransmitted: every ACK finds its own entry (the hash's backward-shift
 * deletion keeps probe chains whole), and the budget bounds each poll.
 */
static void
test_many_scrambled(void **state)
{
	enum { N = 1000 };
	static struct sent_log log;
	struct notify_pool *np = pool_new(N, 10, 1000);
	uint8_t frame[64];
	unsigned i, k;

	(void)state;
	memset(&log, 0, sizeof(log));
	for (i = 0; i < N; i++) {
		make_frame(frame, i, sizeof(frame));
		/* Triples that differ in one field only, to crowd the hash. */
		assert_int_equal(notify_add(np, 42, i, 7, 0, frame,
					    sizeof(frame), 0, fake_send, &log),
				 0);
	}
	assert_int_equal(notify_pending(np), N);

	/* Budget: at most 64 handled per poll even with all N due. */
	assert_int_equal(notify_poll(np, 10, 64, fake_send, &log), 64);

	/* ACK every other one in a scrambled order (i * 7 mod N). */
	for (k = 0; k < N; k++) {
		i = (k * 7) % N;
		if (i % 2 == 0)
			assert_true(notify_ack(np, 42, i, 7));
	}
	assert_int_equal(notify_pending(np), N / 2);
	for (i = 0; i < N; i++)
		assert_int_equal(notify_ack(np, 42, i, 7), i % 2 == 1);
	assert_int_equal(notify_pending(np), 0);
	assert_int_equal(notify_poll(np, 1000, 64, fake_send, &log), 0);
	notify_destroy(np);
}

/* Due order is kept: oldest first, and each entry once per period. */
static void
test_round_robin(void **state)
{
	static struct sent_log log;
	struct notify_pool *np = pool_new(8, 10, 100);
	uint8_t frame[64];
	unsigned i;

	(void)state;
	memset(&log, 0, sizeof(log));
	for (i = 0; i < 8; i++) {
		make_frame(frame, i, sizeof(frame));
		assert_int_equal(notify_add(np, 1, i, 1, 0, frame,
					    sizeof(frame), i, fake_send, &log),
				 0);
	}
	/* At 12 ms, those added at 0, 1 and 2 ms are due. */
	assert_int_equal(notify_poll(np, 12, 64, fake_send, &log), 3);
	for (i = 0; i < 8; i++)
		assert_int_equal(log.per_tag[i], i < 3 ? 2 : 1);
	assert_int_equal(notify_poll(np, 17, 64, fake_send, &log), 5);
	for (i = 0; i < 8; i++)
		assert_int_equal(log.per_tag[i], 2);
	notify_destroy(np);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rejects_bad_config),
		cmocka_unit_test(test_send_and_retransmit),
		cmocka_unit_test(test_ack),
		cmocka_unit_test(test_give_up),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_supersede),
		cmocka_unit_test(test_send_failure_retried),
		cmocka_unit_test(test_bad_len),
		cmocka_unit_test(test_many_scrambled),
		cmocka_unit_test(test_round_robin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
