/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The seam between latch-control and the Raft core (see core.h), and the
 * null core (a follower at term 0 that never steps) for tests of the
 * shell alone.
 */
#include <errno.h>
#include <string.h>

#include "control/core.h"

int
core_step_carry(const struct core_io *io, void *ctx, const struct core_ops *ops,
		const void *core, const struct core_step *st)
{
	unsigned i;
	int rc;

	if (st->persist_state) {
		rc = io->persist_state(ctx, &st->state);
		if (rc != 0)
			return rc;
	}
	if (st->persist_meta_from != 0) {
		rc = io->persist_meta(ctx, ops, core, st->persist_meta_from);
		if (rc != 0)
			return rc;
	}
	/* Only now, with the disk holding what the step promised, may latchd
	 * and then the peers hear of it. */
	for (i = 0; i < st->chan_count && i < CORE_CHAN_MAX; i++)
		(void)io->chan(ctx, &st->chan[i]);
	for (i = 0; i < st->out_count && i < CORE_OUT_MAX; i++)
		(void)io->send(ctx, &st->out[i]);
	return 0;
}

static void
null_on_timer(void *core, uint64_t now_ms, struct core_step *st)
{
	(void)core;
	(void)now_ms;
	(void)st;
}

static void
null_on_message(void *core, const struct raft_msg *m, uint64_t now_ms,
		struct core_step *st)
{
	(void)core;
	(void)m;
	(void)now_ms;
	(void)st;
}

static void
null_on_latchd(void *core, const struct latchd_report *r, uint64_t now_ms,
	       struct core_step *st)
{
	(void)core;
	(void)r;
	(void)now_ms;
	(void)st;
}

static void
null_on_report(void *core, const struct raft_chan_report *rep, uint64_t now_ms,
	       struct core_step *st)
{
	(void)core;
	(void)rep;
	(void)now_ms;
	(void)st;
}

static void
null_on_peer_gone(void *core, uint8_t node, uint64_t now_ms,
		  struct core_step *st)
{
	(void)core;
	(void)node;
	(void)now_ms;
	(void)st;
}

static int
null_command(void *core, uint8_t node, uint64_t now_ms, struct core_step *st)
{
	(void)core;
	(void)node;
	(void)now_ms;
	(void)st;
	return -ENOSYS;
}

static void
null_view(const void *core, struct core_view *v)
{
	(void)core;
	memset(v, 0, sizeof(*v));
	v->term = 0;
	v->role = "follower";
	v->leader = CORE_NO_LEADER;
	v->integrated = false;
}

static int
null_meta_get(const void *core, uint64_t index, struct lock_entry *e)
{
	(void)core;
	(void)index;
	(void)e;
	return -ENOENT;
}

static uint64_t
null_meta_last(const void *core)
{
	(void)core;
	return 0;
}

const struct core_ops core_null_ops = {
	.on_timer = null_on_timer,
	.on_message = null_on_message,
	.on_latchd = null_on_latchd,
	.on_report = null_on_report,
	.on_peer_gone = null_on_peer_gone,
	.transfer = null_command,
	.add_learner = null_command,
	.remove_member = null_command,
	.view = null_view,
	.meta_get = null_meta_get,
	.meta_last = null_meta_last,
};
