/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of liblatch (client/client.c) against a fake server: a thread
 * in this process with one UDP socket per partition on 127.0.0.1 (ports
 * base .. base + P - 1), which logs every message it receives and answers
 * as each test's handler says. Covers partition discovery through
 * WRONG_PARTITION, retries with one request id, QUEUED then GRANTED (with
 * the ACK), a lost GRANTED recovered by asking again, NO_SESSION ->
 * KEEPALIVE -> retry and the keepalive thread, LOST notifications ACKed
 * and queued once, and -ETIMEDOUT. Redirects (docs/protocol.md) use two
 * or more fake servers on other ports: a follower answering NOT_LEADER
 * with a leader's address, or with none, and nodes pointing at each
 * other.
 *
 * Every wait is bounded; no assertion depends on how long anything took.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <latch/client.h>

#include "common/wire.h"

#define FAKE_PARTS_MAX 8
#define FAKE_LOG_MAX   512
/* Upper bound of any wait for the fake server to see something. */
#define WAIT_BOUND_MS 3000

/* One message the fake server received. */
struct fake_rx {
	struct latch_wire_msg m;
	uint8_t key[LATCH_KEY_MAX];
	unsigned port; /* partition socket it arrived on */
	struct sockaddr_in from;
};

struct fake;
typedef void (*fake_handler)(struct fake *f, const struct fake_rx *rx);

struct fake {
	int socks[FAKE_PARTS_MAX];
	unsigned parts;
	uint16_t base;
	pthread_t thread;
	bool stop; /* atomic */
	fake_handler handle;

	pthread_mutex_t mu; /* guards the log and the scenario state */
	struct fake_rx log[FAKE_LOG_MAX];
	unsigned log_count;

	/* Scenario state, used by the handlers as they need. */
	unsigned acquires;
	bool session_open; /* atomic: the test reads it too */
	uint64_t token;
	/* handle_node: answer NOT_LEADER with holder 0 this many times,
	 * then NOT_LEADER naming redirect_to if non-zero (atomic: tests
	 * change it while the client runs). */
	unsigned no_leader_left;
	uint64_t redirect_to;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
fake_send(struct fake *f, unsigned port, const struct latch_wire_msg *m,
	  const struct sockaddr_in *to)
{
	uint8_t buf[LATCH_MSG_MAX_LEN];
	size_t len = latch_wire_encode(m, buf, sizeof(buf));

	assert_true(len > 0);
	assert_true(sendto(f->socks[port], buf, len, 0,
			   (const struct sockaddr *)to,
			   sizeof(*to)) == (ssize_t)len);
}

/* Answer @rx with @status; the other fields as the request had them. */
static void
fake_reply(struct fake *f, const struct fake_rx *rx, uint16_t status,
	   uint64_t token, uint32_t count)
{
	struct latch_wire_msg a = rx->m;

	a.reply = true;
	a.key = rx->key;
	a.status = status;
	a.token = token;
	a.count = count;
	fake_send(f, rx->port, &a, &rx->from);
}

/* Send a notification (GRANTED or LOST) about @about to its sender. */
static void
fake_notify(struct fake *f, const struct fake_rx *about, uint8_t op,
	    uint16_t status, uint64_t token)
{
	struct latch_wire_msg n = about->m;

	n.op = op;
	n.reply = false;
	n.key = about->key;
	n.status = status;
	n.token = token;
	n.count = 0;
	fake_send(f, about->port, &n, &about->from);
}

/*
 * latch_wire_decode(), also accepting LATCH_F_FORWARD while the wire
 * codec's LATCH_F_KNOWN does not list it yet: flags are bytes 4-5 of the
 * header (include/latch/proto.h), big-endian.
 */
static int
fake_decode(uint8_t *buf, size_t n, uint16_t parts, struct latch_wire_msg *m)
{
	bool fwd = n >= 6 && (buf[5] & LATCH_F_FORWARD) != 0 &&
		   (LATCH_F_KNOWN & LATCH_F_FORWARD) == 0;
	int rc;

	if (fwd)
		buf[5] &= (uint8_t)~LATCH_F_FORWARD;
	rc = latch_wire_decode(buf, n, parts, m);
	if (fwd) {
		buf[5] |= LATCH_F_FORWARD;
		m->flags |= LATCH_F_FORWARD;
	}
	return rc;
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		struct pollfd pfd[FAKE_PARTS_MAX];
		unsigned i;

		for (i = 0; i < f->parts; i++)
			pfd[i] = (struct pollfd){.fd = f->socks[i],
						 .events = POLLIN};
		if (poll(pfd, f->parts, 20) <= 0)
			continue;
		for (i = 0; i < f->parts; i++) {
			uint8_t buf[LATCH_MSG_MAX_LEN + 1];
			socklen_t from_len = sizeof(struct sockaddr_in);
			struct fake_rx rx;
			ssize_t n;

			if (!(pfd[i].revents & POLLIN))
				continue;
			memset(&rx, 0, sizeof(rx));
			n = recvfrom(f->socks[i], buf, sizeof(buf), 0,
				     (struct sockaddr *)&rx.from, &from_len);
			if (n < 0)
				continue;
			/* The client must only ever send valid requests to
			 * the partition it names: check with our count. */
			if (fake_decode(buf, (size_t)n, (uint16_t)f->parts,
					&rx.m) != LATCH_WIRE_OK &&
			    fake_decode(buf, (size_t)n, 0, &rx.m) !=
				    LATCH_WIRE_OK)
				continue;
			memcpy(rx.key, rx.m.key, rx.m.key_len);
			rx.m.key = NULL;
			rx.port = i;
			pthread_mutex_lock(&f->mu);
			if (f->log_count < FAKE_LOG_MAX)
				f->log[f->log_count++] = rx;
			pthread_mutex_unlock(&f->mu);
			if (f->handle != NULL)
				f->handle(f, &rx);
		}
	}
	return NULL;
}

/* Bind @parts consecutive UDP ports on 127.0.0.1 and start the thread. */
static struct fake *
fake_start(unsigned parts, fake_handler handle)
{
	struct fake *f = calloc(1, sizeof(*f));
	unsigned tries, i;

	assert_non_null(f);
	assert_true(parts >= 1 && parts <= FAKE_PARTS_MAX);
	f->parts = parts;
	f->handle = handle;
	pthread_mutex_init(&f->mu, NULL);
	srand((unsigned)getpid() ^ (unsigned)now_ms());
	for (tries = 0; tries < 100; tries++) {
		/* Below the usual ephemeral range (32768..60999). */
		f->base = (uint16_t)(20000 + rand() % 12000);
		for (i = 0; i < parts; i++) {
			struct sockaddr_in a = {
				.sin_family = AF_INET,
				.sin_port = htons((uint16_t)(f->base + i)),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
			};

			f->socks[i] = socket(AF_INET, SOCK_DGRAM, 0);
			assert_true(f->socks[i] >= 0);
			if (bind(f->socks[i], (struct sockaddr *)&a,
				 sizeof(a)) != 0) {
				close(f->socks[i]);
				break;
			}
		}
		if (i == parts)
			break;
		while (i-- > 0)
			close(f->socks[i]);
	}
	assert_true(tries < 100);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

static void
fake_stop(struct fake *f)
{
	unsigned i;

	__atomic_store_n(&f->stop, true, __ATOMIC_RELAXED);
	pthread_join(f->thread, NULL);
	for (i = 0; i < f->parts; i++)
		close(f->socks[i]);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* Copy log entry @i (false if there is none yet). */
static bool
fake_log_get(struct fake *f, unsigned i, struct fake_rx *out)
{
	bool ok;

	pthread_mutex_lock(&f->mu);
	ok = i < f->log_count;
	if (ok)
		*out = f->log[i];
	pthread_mutex_unlock(&f->mu);
	return ok;
}

/* How many logged messages have op @op (and flags containing @flags). */
static unsigned
fake_count(struct fake *f, uint8_t op, uint16_t flags)
{
	unsigned i, n = 0;

	pthread_mutex_lock(&f->mu);
	for (i = 0; i < f->log_count; i++)
		if (f->log[i].m.op == op &&
		    (f->log[i].m.flags & flags) == flags)
			n++;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Wait (bounded) until at least @n messages of @op were logged. */
static bool
fake_wait_count(struct fake *f, uint8_t op, uint16_t flags, unsigned n)
{
	uint64_t end = now_ms() + WAIT_BOUND_MS;

	while (fake_count(f, op, flags) < n) {
		if (now_ms() > end)
			return false;
		usleep(5000);
	}
	return true;
}

static struct latch_client *
client_for(struct fake *f, uint16_t partitions, bool session,
	   uint32_t timeout_ms, uint32_t retries)
{
	struct latch_client_config cfg;
	struct latch_client *c;
	char server[64];

	snprintf(server, sizeof(server), "127.0.0.1:%u", f->base);
	latch_client_config_default(&cfg);
	cfg.server = server;
	cfg.partitions = partitions;
	cfg.session = session;
	cfg.timeout_ms = timeout_ms;
	cfg.retries = retries;
	cfg.session_ms = 300;
	c = latch_client_create(&cfg);
	assert_non_null(c);
	return c;
}

/* ------------------------------------------------------------------ */

/* The holder of a NOT_LEADER answer naming fake @f (docs/protocol.md). */
static uint64_t
fake_holder(const struct fake *f)
{
	return (uint64_t)INADDR_LOOPBACK | (uint64_t)f->base << 32;
}

/* "127.0.0.1:BASE" of @f, as latch_client_server() writes it. */
static void
fake_name(const struct fake *f, char *buf, size_t len)
{
	snprintf(buf, len, "127.0.0.1:%u", f->base);
}

/*
 * One node of a cluster: NOT_LEADER with holder 0 for the first
 * no_leader_left requests, then NOT_LEADER naming redirect_to while it is
 * set; else a leader: KEEPALIVE opens or closes the session, ACQUIRE is
 * granted with token f->token (NO_SESSION if it asks for a session that
 * is not open), anything else is OK. FORWARD is not echoed.
 */
static void
handle_node(struct fake *f, const struct fake_rx *rx)
{
	struct latch_wire_msg a = rx->m;
	uint64_t to = __atomic_load_n(&f->redirect_to, __ATOMIC_RELAXED);

	if (rx->m.op == LATCH_OP_ACK)
		return;
	a.reply = true;
	a.key = rx->key;
	a.flags &= LATCH_F_KNOWN;
	a.status = LATCH_S_OK;
	if (f->no_leader_left > 0) {
		f->no_leader_left--;
		a.status = LATCH_S_NOT_LEADER;
		a.holder = 0;
	} else if (to != 0) {
		a.status = LATCH_S_NOT_LEADER;
		a.holder = to;
	} else if (rx->m.op == LATCH_OP_KEEPALIVE) {
		__atomic_store_n(&f->session_open,
				 !(rx->m.flags & LATCH_F_CLOSE),
				 __ATOMIC_RELAXED);
	} else if (rx->m.op == LATCH_OP_ACQUIRE) {
		if ((rx->m.flags & LATCH_F_SESSION) &&
		    !__atomic_load_n(&f->session_open, __ATOMIC_RELAXED))
			a.status = LATCH_S_NO_SESSION;
		else
			a.token = f->token;
	}
	fake_send(f, rx->port, &a, &rx->from);
}

/* Every logged request of @op on @f has request id @id; their count. */
static unsigned
fake_same_id(struct fake *f, uint8_t op, uint64_t id)
{
	struct fake_rx rx;
	unsigned i, n = 0;

	for (i = 0; fake_log_get(f, i, &rx); i++) {
		if (rx.m.op != op)
			continue;
		assert_true(rx.m.request_id == id);
		n++;
	}
	return n;
}

/* Answers WRONG_PARTITION (with its count) unless the request arrived on
 * the key's port and names the key's partition. */
static void
handle_partitioned(struct fake *f, const struct fake_rx *rx)
{
	uint16_t want =
		latch_key_partition(rx->key, rx->m.key_len, (uint16_t)f->parts);

	if (rx->m.op != LATCH_OP_ACQUIRE)
		return;
	if (rx->port != want || rx->m.partition != want)
		fake_reply(f, rx, LATCH_S_WRONG_PARTITION, 0, f->parts);
	else
		fake_reply(f, rx, LATCH_S_OK, 42, 0);
}

static void
test_partition_discovery(void **state)
{
	/* A key that is not in partition 0 of 4, so a guess of 1 is wrong. */
	const char *key = "orders/42";
	struct fake *f = fake_start(4, handle_partitioned);
	struct latch_client *c = client_for(f, 0, false, 200, 3);
	struct latch_result r;
	struct fake_rx a = {0}, b = {0}, d;
	uint16_t want = latch_key_partition(key, strlen(key), 4);

	(void)state;
	assert_int_not_equal(want, 0);
	assert_int_equal(latch_client_partitions(c), 1);
	assert_int_equal(latch_acquire(c, key, strlen(key), 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 42);
	assert_int_equal(latch_client_partitions(c), 4);

	assert_true(fake_log_get(f, 0, &a));
	assert_true(fake_log_get(f, 1, &b));
	assert_false(fake_log_get(f, 2, &d));
	assert_int_equal(a.port, 0);
	assert_int_equal(a.m.partition, 0);
	assert_int_equal(b.port, want);
	assert_int_equal(b.m.partition, want);
	assert_true(a.m.request_id == b.m.request_id);
	assert_true(a.m.client_id == latch_client_id(c));

	/* Now known: the next call goes straight to the right port. */
	assert_int_equal(latch_acquire(c, key, strlen(key), 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(fake_log_get(f, 2, &d));
	assert_int_equal(d.port, want);
	assert_true(d.m.request_id != b.m.request_id);
	assert_false(fake_log_get(f, 3, &d));

	latch_client_destroy(c);
	fake_stop(f);
}

/* Drops the first two ACQUIREs; before answering the third, sends an
 * answer to an older request id, which the client must ignore. */
static void
handle_drop_two(struct fake *f, const struct fake_rx *rx)
{
	struct fake_rx stray;

	if (rx->m.op == LATCH_OP_QUERY) {
		struct latch_wire_msg a = rx->m;

		a.reply = true;
		a.key = rx->key;
		a.count = 2;
		/* As a follower's replica answer (docs/protocol.md). */
		a.flags = LATCH_F_SHARED | LATCH_F_REPLICA;
		a.holder = 0xabc;
		a.token = 9;
		a.lease_ms = 700;
		a.wait_ms = 5;
		fake_send(f, rx->port, &a, &rx->from);
		return;
	}
	if (rx->m.op != LATCH_OP_ACQUIRE || ++f->acquires <= 2)
		return;
	stray = *rx;
	stray.m.request_id--;
	fake_reply(f, &stray, LATCH_S_BUSY, 0, 0);
	fake_reply(f, rx, LATCH_S_OK, 7, 0);
}

static void
test_retry_same_request_id(void **state)
{
	struct fake *f = fake_start(1, handle_drop_two);
	struct latch_client *c = client_for(f, 1, false, 50, 5);
	struct latch_result r;
	struct fake_rx rx[3];
	unsigned i;

	(void)state;
	assert_int_equal(latch_acquire(c, "k", 1, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 7);
	for (i = 0; i < 3; i++) {
		assert_true(fake_log_get(f, i, &rx[i]));
		assert_int_equal(rx[i].m.op, LATCH_OP_ACQUIRE);
		assert_true(rx[i].m.request_id == rx[0].m.request_id);
	}
	assert_int_equal(fake_count(f, LATCH_OP_ACQUIRE, 0), 3);

	/* QUERY answers reach the caller field for field. */
	assert_int_equal(latch_query(c, "k", 1, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.flags, LATCH_F_SHARED | LATCH_F_REPLICA);
	assert_true(r.holder == 0xabc);
	assert_true(r.token == 9);
	assert_int_equal(r.lease_ms, 700);
	assert_int_equal(r.waiters, 5);

	latch_client_destroy(c);
	fake_stop(f);
}

/* ACQUIRE|WAIT: QUEUED, then GRANTED twice (a retransmission). */
static void
handle_queue_grant(struct fake *f, const struct fake_rx *rx)
{
	if (rx->m.op != LATCH_OP_ACQUIRE)
		return;
	fake_reply(f, rx, LATCH_S_QUEUED, 0, 1);
	fake_notify(f, rx, LATCH_OP_GRANTED, LATCH_S_OK, 99);
	fake_notify(f, rx, LATCH_OP_GRANTED, LATCH_S_OK, 99);
}

static void
test_queued_then_granted(void **state)
{
	struct fake *f = fake_start(2, handle_queue_grant);
	struct latch_client *c = client_for(f, 2, false, 200, 3);
	struct latch_result r;
	struct latch_event ev;
	struct fake_rx acq = {0}, ack;
	unsigned i, acks = 0;

	(void)state;
	assert_int_equal(
		latch_acquire(c, "queue-me", 8, LATCH_F_WAIT, 2000, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 99);
	assert_true(fake_log_get(f, 0, &acq));
	assert_int_equal(acq.m.flags & LATCH_F_WAIT, LATCH_F_WAIT);
	assert_int_equal(acq.m.wait_ms, 2000);

	/* The duplicate is ACKed too, and not reported as an event. */
	assert_int_equal(latch_poll_event(c, &ev, 200), 0);
	assert_true(fake_wait_count(f, LATCH_OP_ACK, 0, 2));
	for (i = 0; fake_log_get(f, i, &ack); i++) {
		if (ack.m.op != LATCH_OP_ACK)
			continue;
		acks++;
		assert_true(ack.m.request_id == acq.m.request_id);
		assert_true(ack.m.token == 99);
		assert_int_equal(ack.m.key_len, 8);
		assert_memory_equal(ack.key, "queue-me", 8);
		assert_int_equal(ack.m.partition, acq.m.partition);
		assert_int_equal(ack.port, acq.port);
	}
	assert_int_equal(acks, 2);
	assert_int_equal(fake_count(f, LATCH_OP_ACQUIRE, 0), 1);

	latch_client_destroy(c);
	fake_stop(f);
}

/*
 * Failover while queued: the old leader answered QUEUED and died; the new
 * leader inherited the waiter and sends GRANTED from its own address. The
 * client takes it, ACKs it there, and talks to the new leader from then on.
 */
static struct fake *new_leader;

static void
handle_queue_then_die(struct fake *f, const struct fake_rx *rx)
{
	if (rx->m.op != LATCH_OP_ACQUIRE)
		return;
	fake_reply(f, rx, LATCH_S_QUEUED, 0, 1);
	fake_notify(new_leader, rx, LATCH_OP_GRANTED, LATCH_S_OK, 123);
}

static void
handle_nothing(struct fake *f, const struct fake_rx *rx)
{
	(void)f;
	(void)rx;
}

static void
test_granted_by_new_leader(void **state)
{
	struct fake *old = fake_start(2, handle_queue_then_die);
	struct latch_client *c;
	struct latch_result r;
	struct fake_rx acq = {0}, ack = {0};
	char name[32], want[32];
	unsigned i;

	(void)state;
	new_leader = fake_start(2, handle_nothing);
	c = client_for(old, 2, false, 200, 3);
	assert_int_equal(
		latch_acquire(c, "moved", 5, LATCH_F_WAIT, 2000, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 123);
	assert_true(fake_wait_count(new_leader, LATCH_OP_ACK, 0, 1));
	assert_true(fake_log_get(old, 0, &acq));
	for (i = 0; fake_log_get(new_leader, i, &ack); i++)
		if (ack.m.op == LATCH_OP_ACK)
			break;
	assert_int_equal(ack.m.op, LATCH_OP_ACK);
	assert_true(ack.m.request_id == acq.m.request_id);
	assert_true(ack.m.token == 123);
	assert_int_equal(ack.port, acq.port);
	assert_int_equal(fake_count(old, LATCH_OP_ACK, 0), 0);

	assert_true(latch_client_server(c, name, sizeof(name)) > 0);
	fake_name(new_leader, want, sizeof(want));
	assert_string_equal(name, want);

	latch_client_destroy(c);
	fake_stop(old);
	fake_stop(new_leader);
}

/* The GRANTED is lost: the first ACQUIRE only gets QUEUED; the client
 * asks again with the same id and the "dedup window" answers OK. */
static void
handle_lost_grant(struct fake *f, const struct fake_rx *rx)
{
	if (rx->m.op != LATCH_OP_ACQUIRE)
		return;
	if (++f->acquires == 1)
		fake_reply(f, rx, LATCH_S_QUEUED, 0, 1);
	else
		fake_reply(f, rx, LATCH_S_OK, 5, 0);
}

static void
test_lost_granted_asks_again(void **state)
{
	struct fake *f = fake_start(1, handle_lost_grant);
	struct latch_client *c = client_for(f, 1, false, 200, 3);
	struct latch_result r;
	struct fake_rx a = {0}, b = {0};

	(void)state;
	/* wait 10 ms: the client asks again after 10 ms + its margin. */
	assert_int_equal(latch_acquire(c, "k", 1, LATCH_F_WAIT, 10, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 5);
	assert_true(fake_log_get(f, 0, &a));
	assert_true(fake_log_get(f, 1, &b));
	assert_int_equal(b.m.op, LATCH_OP_ACQUIRE);
	assert_true(a.m.request_id == b.m.request_id);

	latch_client_destroy(c);
	fake_stop(f);
}

/* Sessions: ACQUIRE without a session -> NO_SESSION; KEEPALIVE opens. */
static void
handle_session(struct fake *f, const struct fake_rx *rx)
{
	switch (rx->m.op) {
	case LATCH_OP_ACQUIRE:
		if (!(rx->m.flags & LATCH_F_SESSION) ||
		    !__atomic_load_n(&f->session_open, __ATOMIC_RELAXED)) {
			fake_reply(f, rx, LATCH_S_NO_SESSION, 0, 0);
			break;
		}
		fake_reply(f, rx, LATCH_S_OK, 11, 0);
		break;
	case LATCH_OP_KEEPALIVE:
		__atomic_store_n(&f->session_open,
				 !(rx->m.flags & LATCH_F_CLOSE),
				 __ATOMIC_RELAXED);
		fake_reply(f, rx, LATCH_S_OK, 0, 0);
		break;
	default:
		break;
	}
}

static void
test_no_session_keepalive_retry(void **state)
{
	struct fake *f = fake_start(2, handle_session);
	struct latch_client *c = client_for(f, 2, true, 200, 3);
	struct latch_result r;
	struct fake_rx a = {0}, k = {0}, b = {0}, rx;
	unsigned i, from_thread = 0;
	uint16_t want = latch_key_partition("sess", 4, 2);

	(void)state;
	assert_int_equal(latch_acquire(c, "sess", 4, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 11);

	/* In order: ACQUIRE, KEEPALIVE, ACQUIRE (the keepalive thread may
	 * add KEEPALIVEs after the first one). */
	assert_true(fake_log_get(f, 0, &a));
	assert_true(fake_log_get(f, 1, &k));
	for (i = 2; fake_log_get(f, i, &b); i++)
		if (b.m.op == LATCH_OP_ACQUIRE)
			break;
	assert_true(fake_log_get(f, i, &b));
	assert_int_equal(fake_count(f, LATCH_OP_ACQUIRE, 0), 2);
	assert_int_equal(a.m.op, LATCH_OP_ACQUIRE);
	assert_int_equal(a.m.flags & LATCH_F_SESSION, LATCH_F_SESSION);
	assert_int_equal(k.m.op, LATCH_OP_KEEPALIVE);
	assert_int_equal(k.m.partition, want);
	assert_int_equal(k.port, want);
	assert_int_equal(k.m.lease_ms, 300);
	assert_int_equal(k.m.flags & LATCH_F_CLOSE, 0);
	assert_int_equal(b.m.op, LATCH_OP_ACQUIRE);
	assert_int_equal(b.m.flags & LATCH_F_SESSION, LATCH_F_SESSION);

	/* The keepalive thread refreshes the session (every 100 ms here)
	 * from a socket of its own. */
	assert_true(fake_wait_count(f, LATCH_OP_KEEPALIVE, 0, 3));
	for (i = 2; fake_log_get(f, i, &rx); i++) {
		if (rx.m.op != LATCH_OP_KEEPALIVE)
			continue;
		assert_int_equal(rx.m.partition, want);
		assert_int_equal(rx.m.lease_ms, 300);
		assert_true(rx.m.client_id == a.m.client_id);
		if (rx.from.sin_port != a.from.sin_port)
			from_thread++;
	}
	assert_true(from_thread >= 1);

	/* Destroy closes the session. */
	latch_client_destroy(c);
	assert_true(fake_wait_count(f, LATCH_OP_KEEPALIVE, LATCH_F_CLOSE, 1));
	assert_false(__atomic_load_n(&f->session_open, __ATOMIC_RELAXED));
	fake_stop(f);
}

static void
handle_grant(struct fake *f, const struct fake_rx *rx)
{
	if (rx->m.op == LATCH_OP_ACQUIRE)
		fake_reply(f, rx, LATCH_S_OK, ++f->token + 20, 0);
}

static void
test_lost_acked_and_queued_once(void **state)
{
	struct fake *f = fake_start(1, handle_grant);
	struct latch_client *c = client_for(f, 1, false, 200, 3);
	struct latch_result r;
	struct latch_event ev;
	struct fake_rx acq = {0}, rx;
	struct pollfd pfd;
	unsigned i, acks = 0;

	(void)state;
	assert_int_equal(latch_poll_event(c, &ev, 0), 0);
	assert_int_equal(latch_acquire(c, "lease", 5, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 21);
	assert_true(fake_log_get(f, 0, &acq));

	/* The lease ran out: LOST, retransmitted twice before any ACK. */
	for (i = 0; i < 3; i++)
		fake_notify(f, &acq, LATCH_OP_LOST, LATCH_S_EXPIRED, 21);

	pfd = (struct pollfd){.fd = latch_client_fd(c), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, WAIT_BOUND_MS), 1);
	assert_int_equal(latch_poll_event(c, &ev, WAIT_BOUND_MS), 1);
	assert_int_equal(ev.op, LATCH_OP_LOST);
	assert_int_equal(ev.status, LATCH_S_EXPIRED);
	assert_true(ev.token == 21);
	assert_true(ev.request_id == acq.m.request_id);
	assert_int_equal(ev.key_len, 5);
	assert_memory_equal(ev.key, "lease", 5);
	assert_int_equal(latch_poll_event(c, &ev, 200), 0);

	assert_true(fake_wait_count(f, LATCH_OP_ACK, 0, 3));
	for (i = 0; fake_log_get(f, i, &rx); i++) {
		if (rx.m.op != LATCH_OP_ACK)
			continue;
		acks++;
		assert_true(rx.m.request_id == acq.m.request_id);
		assert_true(rx.m.token == 21);
		assert_memory_equal(rx.key, "lease", 5);
	}
	assert_int_equal(acks, 3);

	/* A notification that arrives during a call is queued, not lost. */
	assert_int_equal(latch_acquire(c, "lease", 5, 0, 0, 0, &r), 0);
	assert_true(r.token == 22);
	fake_notify(f, &acq, LATCH_OP_LOST, LATCH_S_SESSION_ENDED, 22);
	assert_int_equal(latch_acquire(c, "other", 5, 0, 0, 0, &r), 0);
	assert_int_equal(latch_poll_event(c, &ev, WAIT_BOUND_MS), 1);
	assert_int_equal(ev.status, LATCH_S_SESSION_ENDED);
	assert_true(ev.token == 22);
	assert_int_equal(latch_poll_event(c, &ev, 0), 0);

	latch_client_destroy(c);
	fake_stop(f);
}

static void
test_timeout(void **state)
{
	struct fake *f = fake_start(1, NULL);
	struct latch_client *c = client_for(f, 1, false, 30, 2);
	struct latch_result r;
	struct fake_rx rx[3];
	unsigned i;

	(void)state;
	assert_int_equal(latch_release(c, "gone", 4, 5, &r), -ETIMEDOUT);
	assert_true(fake_wait_count(f, LATCH_OP_RELEASE, 0, 3));
	for (i = 0; i < 3; i++) {
		assert_true(fake_log_get(f, i, &rx[i]));
		assert_true(rx[i].m.request_id == rx[0].m.request_id);
		assert_true(rx[i].m.token == 5);
	}
	assert_int_equal(fake_count(f, LATCH_OP_RELEASE, 0), 3);

	latch_client_destroy(c);
	fake_stop(f);
}

/* A follower names the leader: the same request goes there, and the
 * client stays with the leader for later calls. */
static void
test_redirect_to_leader(void **state)
{
	struct fake *leader = fake_start(2, handle_node);
	struct fake *follower = fake_start(2, handle_node);
	struct latch_client *c;
	struct latch_result r;
	struct fake_rx a = {0}, b = {0};
	char name[32], want[32];

	(void)state;
	leader->token = 77;
	follower->redirect_to = fake_holder(leader);
	c = client_for(follower, 2, false, 200, 3);
	assert_true(latch_client_server(c, name, sizeof(name)) > 0);
	fake_name(follower, want, sizeof(want));
	assert_string_equal(name, want);

	assert_int_equal(latch_acquire(c, "lead/1", 6, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 77);
	assert_true(fake_log_get(follower, 0, &a));
	assert_true(fake_log_get(leader, 0, &b));
	assert_int_equal(a.m.op, LATCH_OP_ACQUIRE);
	assert_int_equal(b.m.op, LATCH_OP_ACQUIRE);
	assert_true(a.m.request_id == b.m.request_id);
	assert_int_equal(b.m.partition, a.m.partition);
	assert_int_equal(b.port, a.port);
	assert_int_equal(b.m.flags & LATCH_F_FORWARD, 0);
	assert_int_equal(fake_count(follower, LATCH_OP_ACQUIRE, 0), 1);
	assert_int_equal(fake_count(leader, LATCH_OP_ACQUIRE, 0), 1);

	assert_true(latch_client_server(c, name, sizeof(name)) > 0);
	fake_name(leader, want, sizeof(want));
	assert_string_equal(name, want);
	assert_int_equal(latch_client_server(c, name, 4), -ENOSPC);

	/* Later calls go straight to the leader. */
	assert_int_equal(latch_query(c, "lead/1", 6, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_int_equal(fake_count(leader, LATCH_OP_QUERY, 0), 1);
	assert_int_equal(fake_count(follower, LATCH_OP_QUERY, 0), 0);

	latch_client_destroy(c);
	fake_stop(follower);
	fake_stop(leader);
}

/* Sessions are per node: the leader changes, the client follows it and
 * opens a session there (NO_SESSION), and keeps refreshing that one. */
static void
test_redirect_reopens_session(void **state)
{
	struct fake *a = fake_start(1, handle_node);
	struct fake *b = fake_start(1, handle_node);
	struct latch_client *c;
	struct latch_result r;

	(void)state;
	a->token = 11;
	b->token = 22;
	c = client_for(a, 1, true, 200, 3);
	assert_int_equal(latch_acquire(c, "s", 1, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 11);
	assert_true(__atomic_load_n(&a->session_open, __ATOMIC_RELAXED));
	assert_int_equal(fake_count(b, LATCH_OP_KEEPALIVE, 0), 0);

	/* a steps down: b leads. */
	__atomic_store_n(&a->redirect_to, fake_holder(b), __ATOMIC_RELAXED);
	assert_int_equal(latch_acquire(c, "t", 1, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 22);
	assert_true(__atomic_load_n(&b->session_open, __ATOMIC_RELAXED));
	/* b saw ACQUIRE (NO_SESSION), KEEPALIVE, ACQUIRE with a new id
	 * (NO_SESSION may sit in b's dedup window), all with SESSION. */
	assert_int_equal(fake_count(b, LATCH_OP_ACQUIRE, LATCH_F_SESSION), 2);
	assert_true(fake_count(b, LATCH_OP_KEEPALIVE, 0) >= 1);

	/* The keepalive thread refreshes b's session now (every 100 ms). */
	assert_true(fake_wait_count(b, LATCH_OP_KEEPALIVE, 0, 3));

	latch_client_destroy(c);
	/* destroy closed the session where it is: on b. */
	assert_true(fake_wait_count(b, LATCH_OP_KEEPALIVE, LATCH_F_CLOSE, 1));
	assert_int_equal(fake_count(a, LATCH_OP_KEEPALIVE, LATCH_F_CLOSE), 0);
	fake_stop(a);
	fake_stop(b);
}

/* No leader known at first (an election), then the follower names one. */
static void
test_no_leader_then_leader(void **state)
{
	struct fake *leader = fake_start(1, handle_node);
	struct fake *follower = fake_start(1, handle_node);
	struct latch_client *c;
	struct latch_result r;
	struct fake_rx a = {0};

	(void)state;
	leader->token = 5;
	follower->no_leader_left = 2;
	follower->redirect_to = fake_holder(leader);
	c = client_for(follower, 1, false, 200, 5);
	assert_int_equal(latch_acquire(c, "e", 1, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 5);
	assert_true(fake_log_get(follower, 0, &a));
	/* Two NOT_LEADER (holder 0), then the redirect: 3 sends to the
	 * follower, 1 to the leader, one request id. */
	assert_int_equal(
		fake_same_id(follower, LATCH_OP_ACQUIRE, a.m.request_id), 3);
	assert_int_equal(fake_same_id(leader, LATCH_OP_ACQUIRE, a.m.request_id),
			 1);

	latch_client_destroy(c);
	fake_stop(follower);
	fake_stop(leader);
}

/* No leader, ever: the call ends with the NOT_LEADER answer once its
 * retries are spent, not with a timeout. */
static void
test_no_leader_gives_up(void **state)
{
	struct fake *f = fake_start(1, handle_node);
	struct latch_client *c;
	struct latch_result r;
	struct fake_rx a = {0};

	(void)state;
	f->no_leader_left = 1000;
	c = client_for(f, 1, false, 200, 2);
	assert_int_equal(latch_release(c, "e", 1, 3, &r), 0);
	assert_int_equal(r.status, LATCH_S_NOT_LEADER);
	assert_true(r.holder == 0);
	assert_true(fake_log_get(f, 0, &a));
	assert_int_equal(fake_same_id(f, LATCH_OP_RELEASE, a.m.request_id), 3);

	latch_client_destroy(c);
	fake_stop(f);
}

/* Two nodes naming each other: the client follows 3 redirects, then
 * returns the NOT_LEADER answer. */
static void
test_redirect_loop_bounded(void **state)
{
	struct fake *a = fake_start(1, handle_node);
	struct fake *b = fake_start(1, handle_node);
	struct latch_client *c;
	struct latch_result r;
	struct fake_rx first = {0};

	(void)state;
	a->redirect_to = fake_holder(b);
	b->redirect_to = fake_holder(a);
	c = client_for(a, 1, false, 200, 3);
	assert_int_equal(latch_acquire(c, "loop", 4, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_NOT_LEADER);
	assert_true(r.holder == fake_holder(a));
	assert_true(fake_log_get(a, 0, &first));
	/* a, b, a, b: the first send and 3 redirects. */
	assert_int_equal(fake_same_id(a, LATCH_OP_ACQUIRE, first.m.request_id),
			 2);
	assert_int_equal(fake_same_id(b, LATCH_OP_ACQUIRE, first.m.request_id),
			 2);

	latch_client_destroy(c);
	fake_stop(a);
	fake_stop(b);
}

/* forward: every request carries LATCH_F_FORWARD; default: none does. */
static void
test_forward_flag(void **state)
{
	struct latch_client_config cfg;
	struct fake *f = fake_start(1, handle_node);
	struct latch_client *c;
	struct latch_result r;
	char server[32];

	(void)state;
	latch_client_config_default(&cfg);
	assert_false(cfg.forward);
	f->token = 8;
	fake_name(f, server, sizeof(server));
	cfg.server = server;
	cfg.forward = true;
	cfg.session_ms = 300;
	c = latch_client_create(&cfg);
	assert_non_null(c);
	assert_int_equal(latch_acquire(c, "fw", 2, 0, 0, 0, &r), 0);
	assert_int_equal(r.status, LATCH_S_OK);
	assert_true(r.token == 8);
	assert_int_equal(latch_release(c, "fw", 2, 8, &r), 0);
	/* ACQUIRE (NO_SESSION), KEEPALIVE, ACQUIRE, RELEASE: all FORWARD,
	 * and so are the keepalive thread's refreshes. */
	assert_int_equal(fake_count(f, LATCH_OP_ACQUIRE, LATCH_F_FORWARD), 2);
	assert_int_equal(fake_count(f, LATCH_OP_RELEASE, LATCH_F_FORWARD), 1);
	assert_true(fake_wait_count(f, LATCH_OP_KEEPALIVE, LATCH_F_FORWARD, 2));
	assert_int_equal(fake_count(f, LATCH_OP_KEEPALIVE, 0),
			 fake_count(f, LATCH_OP_KEEPALIVE, LATCH_F_FORWARD));
	latch_client_destroy(c);
	fake_stop(f);
}

static void
test_bad_arguments(void **state)
{
	struct latch_client_config cfg;
	struct fake *f = fake_start(1, NULL);
	struct latch_client *c = client_for(f, 1, false, 30, 0);
	uint8_t long_key[LATCH_KEY_MAX + 1] = {0};
	struct latch_result r;

	(void)state;
	assert_int_equal(latch_acquire(c, "", 0, 0, 0, 0, &r), -EINVAL);
	assert_int_equal(
		latch_acquire(c, long_key, sizeof(long_key), 0, 0, 0, &r),
		-EINVAL);
	assert_int_equal(latch_acquire(c, "k", 1, LATCH_F_SESSION, 0, 0, &r),
			 -EINVAL);
	assert_int_equal(latch_renew(c, NULL, 1, 1, 0, &r), -EINVAL);
	assert_int_equal(latch_query(c, "k", 1, NULL), -EINVAL);
	assert_int_equal(fake_count(f, LATCH_OP_ACQUIRE, 0), 0);
	latch_client_destroy(c);
	fake_stop(f);

	latch_client_config_default(&cfg);
	errno = 0;
	assert_null(latch_client_create(&cfg));
	assert_int_equal(errno, EINVAL);
	cfg.server = "127.0.0.1:notaport";
	assert_null(latch_client_create(&cfg));
	cfg.server = "127.0.0.1:65535";
	assert_null(latch_client_create(&cfg));
	cfg.server = "127.0.0.1";
	cfg.partitions = LATCH_PARTITIONS_MAX + 1;
	assert_null(latch_client_create(&cfg));
	cfg.partitions = 0;
	cfg.session = false;
	c = latch_client_create(&cfg);
	assert_non_null(c);
	assert_true(latch_client_id(c) != 0);
	latch_client_destroy(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partition_discovery),
		cmocka_unit_test(test_retry_same_request_id),
		cmocka_unit_test(test_queued_then_granted),
		cmocka_unit_test(test_granted_by_new_leader),
		cmocka_unit_test(test_lost_granted_asks_again),
		cmocka_unit_test(test_no_session_keepalive_retry),
		cmocka_unit_test(test_lost_acked_and_queued_once),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_redirect_to_leader),
		cmocka_unit_test(test_redirect_reopens_session),
		cmocka_unit_test(test_no_leader_then_leader),
		cmocka_unit_test(test_no_leader_gives_up),
		cmocka_unit_test(test_redirect_loop_bounded),
		cmocka_unit_test(test_forward_flag),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
