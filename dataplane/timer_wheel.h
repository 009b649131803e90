/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hashed timing wheel with 1 ms slots (Varghese and Lauck, "Hashed and
 * Hierarchical Timing Wheels", scheme 6).
 *
 * A timer is a struct timer_node embedded in its owner's record: arming and
 * cancelling are O(1) list operations and allocate nothing. A timer due at
 * time d sits in slot (d mod slots); one further than a revolution away just
 * stays in its slot, skipped until it is really due, so any deadline works
 * with any wheel size. timer_wheel_advance() fires due timers up to a
 * budget; what the budget leaves is fired by the next call, and a wheel
 * advanced rarely (seconds apart) still fires everything that came due,
 * scanning each slot at most once per call.
 *
 * Pure: time comes from the caller. Thread safety: none; one owner.
 */
#ifndef LATCH_TIMER_WHEEL_H
#define LATCH_TIMER_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

struct timer_node {
	struct timer_node *next; /* NULL when not armed */
	struct timer_node *prev;
	uint64_t deadline_ms;
	uint32_t user; /* the owner's tag: which record this timer is for */
	uint32_t pad;
};

struct timer_wheel;

/* Called for a due timer, already disarmed; it may re-arm any timer. */
typedef void (*timer_wheel_fn)(void *ctx, struct timer_node *node);

/*
 * Create a wheel of @slots 1 ms slots (a power of two, 2 .. 2^24) whose
 * time starts at 0. Start-up only. NULL and errno (EINVAL, ENOMEM).
 */
struct timer_wheel *timer_wheel_create(uint32_t slots);
void timer_wheel_destroy(struct timer_wheel *tw);

/* Prepare a node (not armed). */
void timer_node_init(struct timer_node *node, uint32_t user);

static inline bool
timer_node_is_armed(const struct timer_node *node)
{
	return node->next != NULL;
}

/*
 * Arm @node for @deadline_ms, moving it if already armed. A deadline at or
 * before the wheel's time fires at the next advance. O(1).
 */
void timer_wheel_arm(struct timer_wheel *tw, struct timer_node *node,
		     uint64_t deadline_ms);

/* Disarm @node if armed. O(1). */
void timer_wheel_cancel(struct timer_wheel *tw, struct timer_node *node);

/*
 * Fire, through @fn, timers whose deadline is <= @now_ms, at most @budget
 * of them. Returns how many fired. Due timers beyond the budget stay armed
 * and fire at the next call. Work: the slots passed since the last call
 * (at most one revolution) plus the timers found in them.
 */
unsigned timer_wheel_advance(struct timer_wheel *tw, uint64_t now_ms,
			     unsigned budget, timer_wheel_fn fn, void *ctx);

/*
 * Hand every armed timer, disarmed, to @fn, which re-arms it (for any
 * deadline) or leaves it disarmed; timers armed during the call are not
 * handed over again. Work: the slots plus the timers, whatever the
 * records they sit in (a takeover extends every deadline this way
 * without scanning the pools).
 */
void timer_wheel_each(struct timer_wheel *tw, timer_wheel_fn fn, void *ctx);

/* Timers armed. */
uint32_t timer_wheel_armed(const struct timer_wheel *tw);

#endif /* LATCH_TIMER_WHEEL_H */
