/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hashed timing wheel; see timer_wheel.h.
 *
 * Each slot is a circular doubly linked list through a sentinel node.
 * cursor_ms is the first millisecond whose slot has not been fully scanned.
 * A timer armed for a deadline before cursor_ms (its slot was scanned
 * already) goes to the overdue list instead, which every advance drains
 * first, so it fires at the next advance whatever its time.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/assert.h"
#include "dataplane/timer_wheel.h"

/* 2^24 slots = 4.6 hours of 1 ms slots, far more than any lease needs. */
#define TIMER_WHEEL_SLOTS_MAX (1u << 24)

struct timer_wheel {
	struct timer_node *slots;  /* sentinels */
	struct timer_node overdue; /* deadline before cursor_ms */
	uint64_t mask;
	uint64_t cursor_ms;
	uint32_t armed;
};

static inline void
timer_list_init(struct timer_node *head)
{
	head->next = head;
	head->prev = head;
}

static inline bool
timer_list_is_empty(const struct timer_node *head)
{
	return head->next == head;
}

static inline void
timer_list_add_tail(struct timer_node *head, struct timer_node *node)
{
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

static inline void
timer_list_del(struct timer_node *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->next = NULL;
	node->prev = NULL;
}

/* Move every node of @from to the tail of @to; @from ends empty. */
static inline void
timer_list_splice_tail(struct timer_node *to, struct timer_node *from)
{
	if (timer_list_is_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	timer_list_init(from);
}

struct timer_wheel *
timer_wheel_create(uint32_t slots)
{
	struct timer_wheel *tw;
	uint32_t i;

	if (slots < 2 || slots > TIMER_WHEEL_SLOTS_MAX ||
	    (slots & (slots - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	tw = calloc(1, sizeof(*tw));
	if (tw == NULL)
		goto fail;
	tw->slots = calloc(slots, sizeof(*tw->slots));
	if (tw->slots == NULL)
		goto free_tw;
	for (i = 0; i < slots; i++)
		timer_list_init(&tw->slots[i]);
	timer_list_init(&tw->overdue);
	tw->mask = slots - 1;
	return tw;

free_tw:
	free(tw);
fail:
	errno = ENOMEM;
	return NULL;
}

void
timer_wheel_destroy(struct timer_wheel *tw)
{
	if (tw == NULL)
		return;
	free(tw->slots);
	free(tw);
}

void
timer_node_init(struct timer_node *node, uint32_t user)
{
	node->next = NULL;
	node->prev = NULL;
	node->deadline_ms = 0;
	node->user = user;
	node->pad = 0;
}

void
timer_wheel_arm(struct timer_wheel *tw, struct timer_node *node,
		uint64_t deadline_ms)
{
	if (timer_node_is_armed(node))
		timer_list_del(node);
	else
		tw->armed++;
	node->deadline_ms = deadline_ms;
	/* A slot before the cursor would not be scanned for a revolution. */
	if (deadline_ms < tw->cursor_ms)
		timer_list_add_tail(&tw->overdue, node);
	else
		timer_list_add_tail(&tw->slots[deadline_ms & tw->mask], node);
}

void
timer_wheel_cancel(struct timer_wheel *tw, struct timer_node *node)
{
	if (!timer_node_is_armed(node))
		return;
	timer_list_del(node);
	LATCH_ASSERT(tw->armed > 0);
	tw->armed--;
}

/*
 * Fire the due timers of @list (detached first, so callbacks may arm or
 * cancel any timer), putting back the ones not due. Returns false when the
 * budget ran out, leaving the rest in @list.
 */
static bool
timer_wheel_fire_list(struct timer_wheel *tw, struct timer_node *list,
		      uint64_t now_ms, unsigned budget, unsigned *fired,
		      timer_wheel_fn fn, void *ctx)
{
	struct timer_node todo;

	timer_list_init(&todo);
	timer_list_splice_tail(&todo, list);
	while (!timer_list_is_empty(&todo)) {
		struct timer_node *node = todo.next;

		timer_list_del(node);
		if (node->deadline_ms > now_ms) {
			/* A later revolution's timer. */
			timer_list_add_tail(list, node);
			continue;
		}
		if (*fired == budget) {
			/* Out of budget: keep the rest for later. */
			timer_list_add_tail(list, node);
			timer_list_splice_tail(list, &todo);
			return false;
		}
		LATCH_ASSERT(tw->armed > 0);
		tw->armed--;
		(*fired)++;
		fn(ctx, node);
	}
	return true;
}

unsigned
timer_wheel_advance(struct timer_wheel *tw, uint64_t now_ms, unsigned budget,
		    timer_wheel_fn fn, void *ctx)
{
	uint64_t revolution = tw->mask + 1;
	unsigned fired = 0;

	if (!timer_wheel_fire_list(tw, &tw->overdue, now_ms, budget, &fired, fn,
				   ctx))
		return fired;
	if (now_ms < tw->cursor_ms)
		return fired;
	/*
	 * After a long pause scan one revolution only: it visits every slot,
	 * and deadlines are compared with now_ms, so nothing due is missed.
	 */
	if (now_ms - tw->cursor_ms >= revolution)
		tw->cursor_ms = now_ms - revolution + 1;

	while (tw->cursor_ms <= now_ms) {
		uint64_t at = tw->cursor_ms;

		/*
		 * The cursor moves past the slot before its callbacks run:
		 * a timer they re-arm into this slot waits for its deadline,
		 * one they re-arm into the past goes to the overdue list.
		 */
		tw->cursor_ms = at + 1;
		if (!timer_wheel_fire_list(tw, &tw->slots[at & tw->mask],
					   now_ms, budget, &fired, fn, ctx)) {
			tw->cursor_ms = at;
			return fired;
		}
	}
	/* Timers the callbacks re-armed into the past. */
	timer_wheel_fire_list(tw, &tw->overdue, now_ms, budget, &fired, fn,
			      ctx);
	return fired;
}

void
timer_wheel_each(struct timer_wheel *tw, timer_wheel_fn fn, void *ctx)
{
	struct timer_node todo;
	uint64_t i;

	/* Detach them all first: @fn's arms land in the emptied wheel. */
	timer_list_init(&todo);
	timer_list_splice_tail(&todo, &tw->overdue);
	for (i = 0; i <= tw->mask; i++)
		timer_list_splice_tail(&todo, &tw->slots[i]);
	while (!timer_list_is_empty(&todo)) {
		struct timer_node *node = todo.next;

		timer_list_del(node);
		LATCH_ASSERT(tw->armed > 0);
		tw->armed--;
		fn(ctx, node);
	}
}

uint32_t
timer_wheel_armed(const struct timer_wheel *tw)
{
	return tw->armed;
}
