/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of the RCU shell of the router (dataplane/router_rcu.c): a
 * worker lcore routes frames through router_rcu_current() while the main
 * lcore swaps route tables; after each router_swap() returns, the worker
 * must hold no table older than the one just published (the grace period
 * covered every reader), and every frame is routed by some whole table.
 *
 * Needs an EAL with two lcores (--no-huge --no-shconf, no device); when the
 * EAL cannot start here the test says why and is skipped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "dataplane/router_rcu.h"

/* Swaps in the test: enough to interleave with many worker passes. */
#define SWAPS 200

struct shared {
	struct router_rcu *rr;
	volatile bool stop;
	/* Generation of the table the worker holds; 0 between passes. */
	uint64_t in_use;
	uint64_t passes;
	uint64_t routed;
	bool bad; /* a frame went to a backend of another generation */
};

/* A frame to UDP port 9000 with a 1-byte payload and no UDP checksum. */
static const uint8_t frame_tmpl[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x08, 0x00, 0x45, 0x00, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x00,
	0x40, 0x11, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02,
	0x0a, 0x9c, 0x40, 0x23, 0x28, 0x00, 0x09, 0x00, 0x00, 0x78,
};

/* Generation g: one backend whose UDP port is 10000 + g % 50000. */
static struct route_table *
table_of(uint64_t gen)
{
	const struct router_config cfg = {ROUTER_PASS, ROUTER_DROP};
	struct router_backend be = {0};
	struct router_route_def def = {0};
	struct route_table *t;
	const char *why = NULL;

	be.id_len = (uint8_t)snprintf((char *)be.id, sizeof(be.id), "g%llu",
				      (unsigned long long)gen);
	be.up = true;
	be.weight = 1;
	be.udp_port = (uint16_t)(10000 + gen % 50000);
	def.port_first = def.port_last = 9000;
	def.key_kind = ROUTER_KEY_5TUPLE;
	def.default_backend = -1;
	def.backends_count = 1;
	def.backends = &be;
	def.table_size = 1009; /* small: a swap costs little */
	t = router_table_create(&cfg, &def, 1, &why);
	assert_non_null(t);
	t->generation = gen;
	return t;
}

static int
worker_loop(void *arg)
{
	struct shared *sh = arg;
	const unsigned int id = 0;

	if (router_rcu_register(sh->rr, id) != 0) {
		sh->bad = true;
		return -1;
	}
	while (!sh->stop) {
		const struct route_table *t = router_rcu_current(sh->rr);

		if (t != NULL) {
			uint8_t f[sizeof(frame_tmpl)];
			struct router_decision d;

			__atomic_store_n(&sh->in_use, t->generation,
					 __ATOMIC_RELEASE);
			memcpy(f, frame_tmpl, sizeof(f));
			if (router_route(t, f, sizeof(f), &d) !=
				    ROUTER_FORWARD ||
			    (f[36] << 8 | f[37]) !=
				    (int)(10000 + t->generation % 50000))
				sh->bad = true;
			sh->routed++;
		}
		__atomic_store_n(&sh->in_use, 0, __ATOMIC_RELEASE);
		sh->passes++;
		router_rcu_quiescent(sh->rr, id);
	}
	router_rcu_unregister(sh->rr, id);
	return 0;
}

static void
test_swap_under_load(void **state)
{
	struct shared sh = {0};
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	uint64_t g;

	if (lcore >= RTE_MAX_LCORE) {
		print_message("skip: no second lcore\n");
		skip();
	}
	sh.rr = router_rcu_create(1, SOCKET_ID_ANY, table_of(1));
	assert_non_null(sh.rr);
	assert_int_equal(rte_eal_remote_launch(worker_loop, &sh, lcore), 0);
	for (g = 2; g <= SWAPS; g++) {
		uint64_t held;

		router_swap(sh.rr, table_of(g));
		held = __atomic_load_n(&sh.in_use, __ATOMIC_ACQUIRE);
		/* The old table may be freed now: nobody may hold it. */
		assert_true(held == 0 || held >= g);
	}
	router_swap(sh.rr, NULL); /* routes removed: workers see NULL */
	sh.stop = true;
	assert_int_equal(rte_eal_wait_lcore(lcore), 0);
	assert_false(sh.bad);
	assert_true(sh.passes > 0);
	print_message("%llu passes, %llu routed during %d swaps\n",
		      (unsigned long long)sh.passes,
		      (unsigned long long)sh.routed, SWAPS);
	router_rcu_destroy(sh.rr);
}

int
main(void)
{
	char *eal_argv[] = {
		"test_router_rcu",
		"--no-huge",
		"--no-shconf",
		"--file-prefix=latch_test_router_rcu",
		"--no-pci",
		"-l",
		"0-1",
		"-m",
		"64",
		"--log-level=error",
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swap_under_load),
	};
	int rc;

	if (rte_eal_init(sizeof(eal_argv) / sizeof(eal_argv[0]), eal_argv) <
	    0) {
		/* Print a cmocka-style result so runners see a skip. */
		fprintf(stderr, "router_rcu: EAL did not start: %s; skipped\n",
			rte_strerror(rte_errno));
		return 77; /* meson: skipped */
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	return rc;
}
