/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Assertions and fault points (STYLE.md, "three kinds of error").
 *
 * LATCH_ASSERT guards protocol state and stays on in release builds: a
 * broken invariant in a lock service must stop the process rather than
 * hand out a second grant. LATCH_DEBUG_ASSERT is for per-packet checks and
 * is on in debug and simulation builds only. LATCH_FAULT(name) is a fault
 * point: false everywhere except in simulation builds (-Dsim=true), where
 * the simulator decides whether it fires.
 */
#ifndef LATCH_ASSERT_H
#define LATCH_ASSERT_H

#include <stdbool.h>

__attribute__((noreturn, cold)) void latch_assert_fail(const char *expr,
						       const char *file,
						       int line,
						       const char *func);

#define LATCH_ASSERT(expr)                                           \
	do {                                                         \
		if (__builtin_expect(!(expr), 0))                    \
			latch_assert_fail(#expr, __FILE__, __LINE__, \
					  __func__);                 \
	} while (0)

#if defined(LATCH_SIM) || !defined(NDEBUG)
#define LATCH_DEBUG_ASSERT(expr) LATCH_ASSERT(expr)
#else
#define LATCH_DEBUG_ASSERT(expr) ((void)0)
#endif

#ifdef LATCH_SIM
/* Set by the simulator; returns true when the named fault should fire. */
extern bool (*latch_fault_hook)(const char *name);
#define LATCH_FAULT(name) (latch_fault_hook != NULL && latch_fault_hook(name))
#else
#define LATCH_FAULT(name) false
#endif

#endif /* LATCH_ASSERT_H */
