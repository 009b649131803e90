/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Profile parser and validator: the shipped profiles load, every kind of
 * mistake is reported as a sentence with its line, overrides apply.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "firmware-cfg/profile.h"

#ifndef PROFILE_DIR
#error "PROFILE_DIR must point at firmware-cfg/"
#endif

/* Write @text to a temporary file; return its path (static buffer). */
static const char *
write_profile(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/latch-profile-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static bool
errors_mention(const struct profile_errors *errs, const char *needle)
{
	unsigned i;

	for (i = 0; i < errs->count; i++)
		if (strstr(errs->msg[i], needle) != NULL)
			return true;
	return false;
}

static const char minimal[] = "[node]\n"
			      "name = t1\n"
			      "[eal]\n"
			      "lcores = 0,1\n"
			      "[port p0]\n"
			      "vdev = net_null0\n"
			      "addr = 198.18.0.9\n";

static void
test_lab_profile_loads(void **state)
{
	struct profile p;
	struct profile_errors errs;
	int rc;

	(void)state;
	rc = profile_load(&p, PROFILE_DIR "/lab.conf", NULL, 0, &errs);
	if (rc != 0 && errs.count > 0)
		print_error("%s\n", errs.msg[0]);
	assert_int_equal(rc, 0);
	assert_string_equal(p.name, "lab1");
	assert_int_equal(p.workers, 2);
	assert_int_equal(p.idle, PROFILE_IDLE_SLEEP);
	assert_int_equal(p.ports_count, 2);
	assert_string_equal(p.ports[0].name, "tap0");
	assert_true(p.ports[0].is_vdev);
	assert_int_equal(p.ports[0].addr_be, inet_addr("198.18.0.1"));
	assert_int_equal(p.ports[1].role, PROFILE_PORT_BENCH);
	assert_true(p.pktgen_reflect);
}

static void
test_example_profiles_load(void **state)
{
	static const char *const names[] = {"e810.conf", "x710.conf",
					    "connectx6.conf"};
	struct profile p;
	struct profile_errors errs;
	char path[512];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", PROFILE_DIR, names[i]);
		if (profile_load(&p, path, NULL, 0, &errs) != 0) {
			print_error("%s: %s\n", names[i],
				    errs.count ? errs.msg[0] : "?");
			fail();
		}
		assert_false(p.ports[0].is_vdev);
	}
}

static void
test_defaults_fill_omitted_keys(void **state)
{
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(
		profile_load(&p, write_profile(minimal), NULL, 0, &errs), 0);
	assert_int_equal(p.port_base, LATCH_PORT_BASE_DEFAULT);
	assert_int_equal(p.workers, 1);
	assert_int_equal(p.ports[0].mtu, 1500);
}

static void
test_errors_name_line_and_key(void **state)
{
	static const char text[] = "[node]\n"
				   "name = t1\n"
				   "colour = blue\n" /* line 3 */
				   "[workers]\n"
				   "count = 0\n"        /* line 5 */
				   "idle = doze\n"      /* line 6 */
				   "ring_size = 1000\n" /* not a pow2 */
				   "[bogus]\n"          /* line 8 */
				   "[port p0]\n"
				   "vdev = net_null0\n"
				   "addr = 300.1.1.1\n"; /* line 11 */
	struct profile p;
	struct profile_errors errs;
	const char *path = write_profile(text);
	char want[128];

	(void)state;
	assert_int_equal(profile_load(&p, path, NULL, 0, &errs), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: unknown key 'colour'", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:5: workers.count = 0", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:6: workers.idle", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:8: unknown section [bogus]", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:11:", path);
	assert_true(errors_mention(&errs, want));
	assert_true(errors_mention(&errs, "power of two"));
	assert_true(errors_mention(&errs, "eal.lcores is missing"));
}

static void
test_relations_checked(void **state)
{
	static const char text[] = "[node]\n"
				   "name = bad/name\n"
				   "[eal]\n"
				   "lcores = 0\n"
				   "[lease]\n"
				   "default_ms = 5000\n"
				   "max_ms = 1000\n"
				   "[workers]\n"
				   "mbufs = 1023\n"
				   "[port a]\n"
				   "vdev = net_null0\n"
				   "addr = 198.18.0.1\n"
				   "[port b]\n"
				   "vdev = net_null1\n"
				   "addr = 198.18.0.1\n"
				   "[port c]\n"
				   "role = client\n";
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(profile_load(&p, write_profile(text), NULL, 0, &errs),
			 -EINVAL);
	assert_true(errors_mention(&errs, "node.name 'bad/name'"));
	assert_true(errors_mention(&errs, "exceeds lease.max_ms"));
	assert_true(errors_mention(&errs, "workers.mbufs 1023 is too few"));
	assert_true(errors_mention(&errs, "same addr"));
	assert_true(errors_mention(&errs, "[port c] has neither vdev nor pci"));
	assert_true(errors_mention(&errs, "[port c] has no addr"));
}

static void
test_overrides(void **state)
{
	static const char *const ov[] = {
		"node.name=other",        "workers.count=4",
		"workers.mbufs=16383",    "port.p0.addr=198.18.1.1",
		"port.p1.vdev=net_null1", "port.p1.addr=198.18.1.2",
	};
	static const char *const bad[] = {"nodename=x", "port.p0=1",
					  "table.nope=1"};
	struct profile p;
	struct profile_errors errs;
	const char *path = write_profile(minimal);

	(void)state;
	assert_int_equal(profile_load(&p, path, ov, 6, &errs), 0);
	assert_string_equal(p.name, "other");
	assert_int_equal(p.workers, 4);
	assert_int_equal(p.ports[0].addr_be, inet_addr("198.18.1.1"));
	assert_int_equal(p.ports_count, 2);
	assert_string_equal(p.ports[1].devargs, "net_null1");

	assert_int_equal(profile_load(&p, path, bad, 3, &errs), -EINVAL);
	assert_true(errors_mention(&errs, "--set nodename=x"));
	assert_true(errors_mention(&errs, "--set port.p0=1"));
	assert_true(errors_mention(&errs, "unknown key 'nope' in [table]"));
}

static void
test_missing_file(void **state)
{
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(
		profile_load(&p, "/nonexistent/x.conf", NULL, 0, &errs),
		-ENOENT);
	assert_true(errors_mention(&errs, "cannot read the profile"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lab_profile_loads),
		cmocka_unit_test(test_example_profiles_load),
		cmocka_unit_test(test_defaults_fill_omitted_keys),
		cmocka_unit_test(test_errors_name_line_and_key),
		cmocka_unit_test(test_relations_checked),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
