/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's API for latchctl: a Unix stream socket speaking one
 * JSON object per line each way, like latchd's control socket.
 *
 *   {"cmd":"cluster_status"}  node, term, role, leader, members, latchd
 *   {"cmd":"members"}         {"members":[...]}
 *   {"cmd":"add_member","name":N}      leader: add N as a learner (the
 *                                      core promotes it once caught up)
 *   {"cmd":"transfer_leader","name":N} leader: hand leadership to N
 *   {"cmd":"remove_member","name":N}   leader: remove N, a learner or a
 *                                      voter (the leader too: it steps
 *                                      down once the removal commits)
 * The three answer {"members":[..], "learner"|"removed"|"transfer_to": N}
 * or {"error": why} (not the leader, naming it; a change under way).
 *
 * Anything else answers {"error":"..."}; a line longer than API_LINE_MAX
 * closes the connection. docs/operations.md, "latch-control".
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_API_H
#define LATCH_CONTROL_API_H

#include "control/loop.h"
#include "control/status.h"

/* Clients at once; one more is accepted and closed at once. */
#define API_CLIENTS_MAX 8
/* Longest request line. Requests are small objects. */
#define API_LINE_MAX 4096
/* The stubs' answer, word for word (latchctl and the tests show it). */
#define API_NOT_INTEGRATED "not available until the Raft core is integrated"

/* Fill @out with a snapshot of the process for one answer. */
typedef void (*api_snapshot_fn)(void *ctx, struct status_src *out);

struct api;

/*
 * Listen at @path (mode 0660; a stale socket file is replaced, a live one
 * is EADDRINUSE). NULL and errno. Start-up only.
 */
struct api *api_create(struct loop *l, const char *path, api_snapshot_fn fn,
		       void *ctx);
/* Close every client and the listener; remove the socket file. */
void api_destroy(struct api *a);

/*
 * Answer one request line (pure apart from @fn): a new JSON object.
 * Exposed for tests.
 */
struct json_object *api_answer(const char *line, api_snapshot_fn fn, void *ctx);

#endif /* LATCH_CONTROL_API_H */
