/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>

#include "common/assert.h"

#ifdef LATCH_SIM
bool (*latch_fault_hook)(const char *name);
#endif

void
latch_assert_fail(const char *expr, const char *file, int line,
		  const char *func)
{
	fprintf(stderr, "latch: assertion failed: %s (%s:%d, %s)\n", expr, file,
		line, func);
	fflush(stderr);
	abort();
}
