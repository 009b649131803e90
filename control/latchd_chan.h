/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's channel to its local latchd: a client of latchd's Unix
 * control socket (dataplane/control_sock.h: one JSON object per line each
 * way, answers in request order). Non-blocking, driven by the loop;
 * reconnects with exponential backoff when latchd is gone.
 *
 * Failure detection (DESIGN.md, "the control plane"): every poll_ms the
 * channel asks {"cmd":"status"} and records when latchd last answered
 * and its epoch (the dataplane's incarnation: it changes when latchd
 * restarts, which makes this node amnesic, docs/raft.md). latchd is "up"
 * while its last answer is younger than LATCHD_CHAN_DOWN_POLLS polls.
 * Later, the replication view commands go through latchd_chan_request().
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_LATCHD_CHAN_H
#define LATCH_CONTROL_LATCHD_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "control/loop.h"

/* Requests awaiting an answer on the connection. */
#define LATCHD_CHAN_PENDING_MAX 16
/* Longest answer line: latchd's own bound on an answer (control_sock.c). */
#define LATCHD_CHAN_LINE_MAX (1u << 20)
/* latchd is down after this many poll periods without an answer. */
#define LATCHD_CHAN_DOWN_POLLS 3
/* Reconnect backoff: first and largest delay. */
#define LATCHD_CHAN_BACKOFF_MIN_MS 100
#define LATCHD_CHAN_BACKOFF_MAX_MS 5000

/* What the core and the status pages learn of latchd. */
struct latchd_report {
	bool up;
	uint64_t epoch;          /* 0: never seen */
	uint64_t last_answer_ms; /* 0: never */
	long pid;
	bool epoch_changed; /* in this report: latchd restarted */
};

/*
 * Answer to latchd_chan_request(): @answer is the parsed line (owned by
 * the channel: take a reference to keep it), or NULL if the connection
 * dropped before the answer came.
 */
typedef void (*latchd_answer_fn)(void *ctx, struct json_object *answer);
/* Called on every status answer and on every change of liveness. */
typedef void (*latchd_report_fn)(void *ctx, const struct latchd_report *r,
				 uint64_t now_ms);

struct latchd_chan_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t requests;
	uint64_t answers;
	uint64_t bad_answers; /* not JSON, or status without epoch */
};

struct latchd_chan;

/* Start connecting to @path, polling status every @poll_ms. NULL+errno. */
struct latchd_chan *latchd_chan_create(struct loop *l, const char *path,
				       uint32_t poll_ms, latchd_report_fn fn,
				       void *ctx);
void latchd_chan_destroy(struct latchd_chan *ch);

/*
 * Send one request line (a JSON object, no newline) and call @fn with
 * the answer. 0, -ENOTCONN or -EBUSY (LATCHD_CHAN_PENDING_MAX pending).
 */
int latchd_chan_request(struct latchd_chan *ch, const char *json_line,
			latchd_answer_fn fn, void *ctx);

/* The current report (liveness judged at @now_ms). */
void latchd_chan_report(const struct latchd_chan *ch, uint64_t now_ms,
			struct latchd_report *out);

const struct latchd_chan_stats *latchd_chan_stats(const struct latchd_chan *ch);

#endif /* LATCH_CONTROL_LATCHD_CHAN_H */
