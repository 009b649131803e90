/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What latch-control shows of itself: the cluster_status and members
 * JSON (API socket and GET /status) and the Prometheus text of GET
 * /metrics, built from one snapshot of the process's modules so the two
 * always agree. docs/operations.md, "latch-control", lists every field.
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_STATUS_H
#define LATCH_CONTROL_STATUS_H

#include <stdint.h>

#include <json-c/json.h>

#include "control/core.h"
#include "control/latchd_chan.h"
#include "control/peer.h"
#include "control/repl_chan.h"
#include "firmware-cfg/profile.h"

/* Everything the pages read; owned by main.c. */
struct status_src {
	const struct profile *profile;
	const struct peer_set *peers;
	const struct latchd_chan *latchd;
	const struct repl_chan *repl; /* NULL: not opened (tests) */
	uint64_t step_drops;
	const struct core_ops *core_ops;
	const void *core;
	uint64_t start_ms;
	uint64_t now_ms;
	/* Operator commands (api.c); NULL where the shell offers none.
	 * Each carries out a core step: 0 or -errno as core_ops says. */
	void *cmd_ctx;
	int (*transfer)(void *cmd_ctx, uint8_t node);
	int (*add_learner)(void *cmd_ctx, uint8_t node);
	int (*remove_member)(void *cmd_ctx, uint8_t node);
};

/* Name of member @id (self or a [peer]), or NULL. */
const char *status_member_name(const struct status_src *s, int id);
/* Node id of member @name (self or a [peer]), or -1. */
int status_member_id(const struct status_src *s, const char *name);

/* {"node":..,"id":..,"term":..,"role":..,"leader":..,"members":[..],
 *  "latchd":{..}}. A new object (json_object_put() it). */
struct json_object *status_cluster(const struct status_src *s);

/* {"members":[..]}: the members array alone. */
struct json_object *status_members(const struct status_src *s);

/* Prometheus text format into a malloc'ed string (free() it), or NULL. */
char *status_metrics(const struct status_src *s, size_t *len);

#endif /* LATCH_CONTROL_STATUS_H */
