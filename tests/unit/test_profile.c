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

/* The last file write_profile() made, removed by the next call and at the
 * end of the run, so the tests leave nothing in /tmp. */
static char profile_path[64];

static int
remove_profile(void **state)
{
	(void)state;
	if (profile_path[0] != '\0')
		unlink(profile_path);
	profile_path[0] = '\0';
	return 0;
}

/* Write @text to a temporary file; return its path (static buffer, valid
 * until the next call). */
static const char *
write_profile(const char *text)
{
	char *path = profile_path;
	FILE *f;
	int fd;

	remove_profile(NULL);
	snprintf(path, sizeof(profile_path), "/tmp/latch-profile-XXXXXX");
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
	assert_int_equal(p.shed_depth, 256);
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
		"workers.shed_depth=0",
	};
	static const char *const bad[] = {"nodename=x", "port.p0=1",
					  "table.nope=1",
					  "workers.shed_depth=4097"};
	struct profile p;
	struct profile_errors errs;
	const char *path = write_profile(minimal);

	(void)state;
	assert_int_equal(profile_load(&p, path, ov, 7, &errs), 0);
	assert_string_equal(p.name, "other");
	assert_int_equal(p.workers, 4);
	assert_int_equal(p.shed_depth, 0); /* 0 is "off", not "unset" */
	assert_int_equal(p.ports[0].addr_be, inet_addr("198.18.1.1"));
	assert_int_equal(p.ports_count, 2);
	assert_string_equal(p.ports[1].devargs, "net_null1");

	assert_int_equal(profile_load(&p, path, bad, 4, &errs), -EINVAL);
	assert_true(errors_mention(&errs, "--set nodename=x"));
	assert_true(errors_mention(&errs, "--set port.p0=1"));
	assert_true(errors_mention(&errs, "unknown key 'nope' in [table]"));
	/* Deeper than a worker measures (PROFILE_SHED_DEPTH_MAX). */
	assert_true(errors_mention(&errs, "shed_depth = 4097 is out of range"));
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

/* A node with a route over a pool of two backends, and shard groups. */
static const char routed[] = "[node]\n"
			     "name = t1\n"
			     "group = 1\n"
			     "[eal]\n"
			     "lcores = 0,1\n"
			     "[port p0]\n"
			     "vdev = net_null0\n"
			     "addr = 198.18.0.9\n"
			     "[route web]\n"
			     "match = 8000-8010\n"
			     "key = payload:4:8\n"
			     "pool = web\n"
			     "default = b2\n"
			     "table_size = 65537\n"
			     "[route dns]\n"
			     "match = 5353\n"
			     "key = 5tuple\n"
			     "pool = web\n"
			     "[backend b1]\n"
			     "pool = web\n"
			     "addr = 198.18.0.11\n"
			     "mac = 02:00:00:00:00:0b\n"
			     "port = 9001\n"
			     "weight = 3\n"
			     "via = p0\n"
			     "[backend b2]\n"
			     "pool = web\n"
			     "addr = 198.18.0.12\n"
			     "mac = 02:00:00:00:00:0C\n"
			     "port = 9002\n"
			     "state = down\n"
			     "[group g1]\n"
			     "id = 1\n"
			     "[group g2]\n"
			     "id = 2\n"
			     "addr = 198.18.0.20\n"
			     "mac = 02:00:00:00:00:14\n";

static void
test_routes_backends_groups_parse(void **state)
{
	static const uint8_t mac_b2[6] = {2, 0, 0, 0, 0, 0x0c};
	struct profile p;
	struct profile_errors errs;
	int rc;

	(void)state;
	rc = profile_load(&p, write_profile(routed), NULL, 0, &errs);
	if (rc != 0 && errs.count > 0)
		print_error("%s\n", errs.msg[0]);
	assert_int_equal(rc, 0);
	assert_int_equal(p.group, 1);
	assert_int_equal(p.routes_count, 2);
	assert_string_equal(p.routes[0].name, "web");
	assert_int_equal(p.routes[0].match.first, 8000);
	assert_int_equal(p.routes[0].match.last, 8010);
	assert_int_equal(p.routes[0].key.kind, PROFILE_KEY_PAYLOAD);
	assert_int_equal(p.routes[0].key.off, 4);
	assert_int_equal(p.routes[0].key.len, 8);
	assert_string_equal(p.routes[0].pool, "web");
	assert_string_equal(p.routes[0].default_backend, "b2");
	assert_int_equal(p.routes[0].table_size, 65537);
	assert_int_equal(p.routes[1].match.first, 5353);
	assert_int_equal(p.routes[1].match.last, 5353);
	assert_int_equal(p.routes[1].key.kind, PROFILE_KEY_5TUPLE);
	assert_int_equal(p.backends_count, 2);
	assert_int_equal(p.backends[0].weight, 3);
	assert_true(p.backends[0].up);
	assert_string_equal(p.backends[0].via, "p0");
	assert_int_equal(p.backends[0].udp_port, 9001);
	/* Defaults: weight 1, no via; state given as down. */
	assert_int_equal(p.backends[1].weight, 1);
	assert_false(p.backends[1].up);
	assert_string_equal(p.backends[1].via, "");
	assert_memory_equal(p.backends[1].mac, mac_b2, 6);
	assert_int_equal(p.backends[1].addr_be, inet_addr("198.18.0.12"));
	assert_int_equal(p.groups_count, 2);
	assert_int_equal(p.groups[1].id, 2);
	assert_int_equal(p.groups[1].addr_be, inet_addr("198.18.0.20"));
}

static void
test_route_values_refused(void **state)
{
	static const char text[] = "[node]\n"
				   "name = t1\n"
				   "[eal]\n"
				   "lcores = 0,1\n"
				   "[port p0]\n"
				   "vdev = net_null0\n"
				   "addr = 198.18.0.9\n"
				   "[route r1]\n"
				   "match = 9000-8000\n" /* line 9 */
				   "key = payload:4\n"   /* line 10 */
				   "pool = web\n"
				   "colour = red\n" /* line 12 */
				   "[backend b1]\n"
				   "pool = web\n"
				   "mac = 02:00:00:00:00\n" /* line 15 */
				   "state = sideways\n"     /* line 16 */
				   "port = 0\n"             /* line 17 */
				   "addr = 198.18.0.11\n";
	struct profile p;
	struct profile_errors errs;
	const char *path = write_profile(text);
	char want[128];

	(void)state;
	assert_int_equal(profile_load(&p, path, NULL, 0, &errs), -EINVAL);
	snprintf(want, sizeof(want), "%s:9: route.match", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:10: route.key", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want),
		 "%s:12: unknown key 'colour' in [route r1]", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:15: backend.mac", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:16: backend.state", path);
	assert_true(errors_mention(&errs, want));
	snprintf(want, sizeof(want), "%s:17: backend.port", path);
	assert_true(errors_mention(&errs, want));
}

static void
test_routing_relations_checked(void **state)
{
	static const char text[] = "[node]\n"
				   "name = t1\n"
				   "port_base = 7400\n"
				   "group = 3\n"
				   "[eal]\n"
				   "lcores = 0,1\n"
				   "[workers]\n"
				   "count = 2\n"
				   "[port p0]\n"
				   "vdev = net_null0\n"
				   "addr = 198.18.0.9\n"
				   "[route locks]\n"
				   "match = 7401-7402\n"
				   "key = latch\n"
				   "pool = nopool\n"
				   "[route a]\n"
				   "match = 8000-8010\n"
				   "pool = web\n"
				   "default = b9\n"
				   "[route b]\n"
				   "match = 8010\n"
				   "key = 5tuple\n"
				   "pool = web\n"
				   "[backend b1]\n"
				   "pool = web\n"
				   "via = p9\n"
				   "[group g1]\n"
				   "id = 1\n"
				   "[group g2]\n"
				   "id = 1\n";
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(profile_load(&p, write_profile(text), NULL, 0, &errs),
			 -EINVAL);
	assert_true(errors_mention(&errs, "overlaps the lock ports"));
	assert_true(errors_mention(&errs, "pool 'nopool' has no [backend]"));
	assert_true(errors_mention(&errs, "[route a] has no key"));
	assert_true(errors_mention(&errs, "default 'b9' is not a backend"));
	assert_true(errors_mention(&errs, "[route a] and [route b] match "
					  "overlapping ports"));
	assert_true(errors_mention(&errs, "[backend b1] has no addr"));
	assert_true(errors_mention(&errs, "[backend b1] has no mac"));
	assert_true(errors_mention(&errs, "[backend b1] has no port"));
	assert_true(errors_mention(&errs, "via 'p9' is not a [port]"));
	assert_true(errors_mention(&errs, "same id 1"));
	assert_true(errors_mention(&errs, "node.group 3 has no [group]"));
	assert_true(errors_mention(&errs, "[group g2] needs addr and mac"));
}

static void
test_route_overrides_and_parsers(void **state)
{
	static const char *const ov[] = {"backend.b1.state=down",
					 "route.web.match=8100-8200",
					 "backend.b3.pool=web"};
	struct profile_port_range r;
	struct profile_route_key k;
	struct profile p;
	struct profile_errors errs;
	char text[32];

	(void)state;
	assert_int_equal(profile_load(&p, write_profile(routed), ov, 3, &errs),
			 -EINVAL); /* b3 made by the override lacks addr... */
	assert_true(errors_mention(&errs, "[backend b3] has no addr"));
	assert_false(p.backends[0].up);
	assert_int_equal(p.routes[0].match.first, 8100);
	assert_int_equal(p.routes[0].match.last, 8200);

	assert_int_equal(profile_parse_port_range("1-65535", &r), 0);
	assert_int_equal(r.first, 1);
	assert_int_equal(r.last, 65535);
	assert_int_equal(profile_parse_port_range("0", &r), -EINVAL);
	assert_int_equal(profile_parse_port_range("65536", &r), -EINVAL);
	assert_int_equal(profile_parse_port_range("10-", &r), -EINVAL);
	assert_int_equal(profile_parse_port_range("-10", &r), -EINVAL);
	assert_int_equal(profile_parse_port_range("8000 ", &r), -EINVAL);

	assert_int_equal(profile_parse_route_key("payload:0:1", &k), 0);
	assert_int_equal(k.kind, PROFILE_KEY_PAYLOAD);
	profile_route_key_text(&k, text, sizeof(text));
	assert_string_equal(text, "payload:0:1");
	assert_int_equal(profile_parse_route_key("latch", &k), 0);
	assert_int_equal(k.kind, PROFILE_KEY_LATCH);
	assert_int_equal(profile_parse_route_key("payload:0:0", &k), -EINVAL);
	assert_int_equal(profile_parse_route_key("payload:0:257", &k), -EINVAL);
	assert_int_equal(profile_parse_route_key("payload:65500:8", &k),
			 -EINVAL);
	assert_int_equal(profile_parse_route_key("payload::4", &k), -EINVAL);
	assert_int_equal(profile_parse_route_key("5-tuple", &k), -EINVAL);
}

static const char clustered[] = "[node]\n"
				"name = n1\n"
				"id = 1\n"
				"[eal]\n"
				"lcores = 0,1\n"
				"[port p0]\n"
				"vdev = net_null0\n"
				"addr = 198.18.0.9\n"
				"[control]\n"
				"state_dir = /tmp/ctl-state\n"
				"api_socket = /tmp/ctl.sock\n"
				"http = 127.0.0.1:7480\n"
				"mgmt_addr = 127.0.0.1:7490\n"
				"latchd_socket = /tmp/latchd.sock\n"
				"election_ms = 600\n"
				"heartbeat_ms = 50\n"
				"[peer n2]\n"
				"id = 2\n"
				"mgmt = 127.0.0.2:7490\n"
				"data = 198.18.0.2\n"
				"mac = 02:00:00:00:00:02\n"
				"[peer n3]\n"
				"id = 0\n"
				"mgmt = 127.0.0.3:7490\n";

static void
test_control_and_peers_parse(void **state)
{
	struct profile p;
	struct profile_errors errs;
	struct in_addr a;
	int rc;

	(void)state;
	rc = profile_load(&p, write_profile(clustered), NULL, 0, &errs);
	if (rc != 0 && errs.count > 0)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(rc, 0);
	assert_string_equal(p.control_state_dir, "/tmp/ctl-state");
	assert_string_equal(p.control_api_socket, "/tmp/ctl.sock");
	assert_string_equal(p.control_latchd_socket, "/tmp/latchd.sock");
	inet_pton(AF_INET, "127.0.0.1", &a);
	assert_int_equal(p.control_http.addr_be, a.s_addr);
	assert_int_equal(p.control_http.port, 7480);
	assert_int_equal(p.control_mgmt.port, 7490);
	assert_int_equal(p.control_election_ms, 600);
	assert_int_equal(p.control_heartbeat_ms, 50);
	assert_int_equal(p.peers_count, 2);
	assert_string_equal(p.peers[0].name, "n2");
	assert_int_equal(p.peers[0].id, 2);
	inet_pton(AF_INET, "127.0.0.2", &a);
	assert_int_equal(p.peers[0].mgmt.addr_be, a.s_addr);
	inet_pton(AF_INET, "198.18.0.2", &a);
	assert_int_equal(p.peers[0].data_be, a.s_addr);
	/* Id 0 is a valid Raft id, told apart from "not given". */
	assert_int_equal(p.peers[1].id, 0);
	assert_int_equal(p.peers[1].data_be, 0);
	/* [peer] mac, and node.repl_port_base's default (port_base + 100). */
	assert_int_equal(p.peers[0].mac[0], 0x02);
	assert_int_equal(p.peers[0].mac[5], 0x02);
	assert_int_equal(p.peers[1].mac[5], 0);
	assert_int_equal(p.repl_port_base, 0);
	assert_int_equal(profile_repl_port_base(&p), p.port_base + 100);
}

static void
test_control_defaults(void **state)
{
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(
		profile_load(&p, write_profile(minimal), NULL, 0, &errs), 0);
	/* Empty: latch-control derives them from run_dir and state_dir. */
	assert_string_equal(p.control_state_dir, "");
	assert_string_equal(p.control_api_socket, "");
	assert_int_equal(p.control_http.addr_be, 0);
	assert_int_equal(p.peers_count, 0);
	assert_true(p.control_heartbeat_ms * 2 <= p.control_election_ms);
	assert_true(p.control_latchd_poll_ms > 0);
}

static void
test_control_errors(void **state)
{
	static const char text[] = "[node]\n"
				   "name = n1\n"
				   "id = 9\n"
				   "[eal]\n"
				   "lcores = 0,1\n"
				   "[port p0]\n"
				   "vdev = net_null0\n"
				   "addr = 198.18.0.9\n"
				   "[control]\n"
				   "http = 127.0.0.1\n"
				   "election_ms = 100\n"
				   "heartbeat_ms = 80\n"
				   "beacon_ms = 90\n"
				   "[peer a]\n"
				   "mgmt = 127.0.0.2:7490\n"
				   "[peer b]\n"
				   "id = 9\n"
				   "[peer c]\n"
				   "id = 8\n"
				   "[peer d]\n"
				   "id = 3\n"
				   "mgmt = 127.0.0.2:7490\n"
				   "data = nowhere\n";
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(profile_load(&p, write_profile(text), NULL, 0, &errs),
			 -EINVAL);
	assert_true(errors_mention(&errs, "control.http must be IPv4:port"));
	assert_true(errors_mention(&errs, "heartbeat_ms 80 must be at most"));
	assert_true(errors_mention(&errs, "beacon_ms 90 must be at most"));
	assert_true(errors_mention(&errs, "node.id 9 is above 7"));
	assert_true(errors_mention(&errs, "need control.mgmt_addr"));
	assert_true(errors_mention(&errs, "[peer a] has no id"));
	assert_true(errors_mention(&errs, "[peer b] has no mgmt"));
	assert_true(errors_mention(&errs, "peer.id = 8 is out of range"));
	assert_true(errors_mention(&errs, "same mgmt address"));
	assert_true(errors_mention(&errs, "peer.data must be an IPv4"));
}

static void
test_control_overrides_and_parser(void **state)
{
	static const char *const ov[] = {
		"control.http=127.0.0.1:9000", "peer.n2.mgmt=127.0.0.9:7000",
		"control.heartbeat_ms=20", "control.beacon_ms=2"};
	struct profile_addr_port ap;
	struct profile p;
	struct profile_errors errs;

	(void)state;
	assert_int_equal(
		profile_load(&p, write_profile(clustered), ov, 4, &errs), 0);
	assert_int_equal(p.control_http.port, 9000);
	assert_int_equal(p.peers[0].mgmt.port, 7000);
	assert_int_equal(p.control_heartbeat_ms, 20);
	assert_int_equal(p.control_beacon_ms, 2);

	assert_int_equal(profile_parse_addr_port("10.0.0.1:1", &ap), 0);
	assert_int_equal(ap.port, 1);
	assert_int_equal(profile_parse_addr_port("10.0.0.1:0", &ap), -EINVAL);
	assert_int_equal(profile_parse_addr_port("10.0.0.1:65536", &ap),
			 -EINVAL);
	assert_int_equal(profile_parse_addr_port("10.0.0.1:", &ap), -EINVAL);
	assert_int_equal(profile_parse_addr_port(":80", &ap), -EINVAL);
	assert_int_equal(profile_parse_addr_port("10.0.0:80", &ap), -EINVAL);
	assert_int_equal(profile_parse_addr_port("10.0.0.1:80x", &ap), -EINVAL);
	assert_int_equal(profile_parse_addr_port("10.0.0.1", &ap), -EINVAL);
}

/* Peer links: ports of role peer, each naming one [peer] (overrides
 * make them, as tools/lab --links memif does). */
static void
test_peer_links(void **state)
{
	static const char *const ok[] = {
		"port.l2.vdev=net_memif2,role=server",
		"port.l2.role=peer",
		"port.l2.peer=n2",
		"port.l3.vdev=net_memif3",
		"port.l3.role=peer",
		"port.l3.peer=n3",
	};
	static const char *const bad[] = {
		"port.l2.vdev=net_memif2",  "port.l2.role=peer",
		"port.l3.vdev=net_memif3",  "port.l3.role=peer",
		"port.l3.peer=n2",          "port.l4.vdev=net_memif4",
		"port.l4.role=peer",        "port.l4.peer=n2",
		"port.l5.vdev=net_memif5",  "port.l5.role=peer",
		"port.l5.peer=n9",          "port.p0.peer=n2",
		"port.l3.addr=198.18.0.77", "workers.idle_yield_polls=0"};
	struct profile p;
	struct profile_errors errs;
	int rc;

	(void)state;
	rc = profile_load(&p, write_profile(clustered), ok, 6, &errs);
	if (rc != 0 && errs.count > 0)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(rc, 0);
	assert_int_equal(p.ports_count, 3);
	assert_int_equal(p.ports[1].role, PROFILE_PORT_PEER);
	assert_string_equal(p.ports[1].peer, "n2");
	assert_string_equal(p.ports[2].peer, "n3");
	/* A link has no address of its own. */
	assert_int_equal(p.ports[2].addr_be, 0);
	assert_string_equal(profile_port_role_name(p.ports[1].role), "peer");
	assert_string_equal(profile_port_role_name(p.ports[0].role), "client");
	assert_int_equal(p.idle_yield_polls, 16);

	assert_int_equal(
		profile_load(&p, write_profile(clustered), bad, 14, &errs),
		-EINVAL);
	assert_true(errors_mention(&errs, "[port l2] has role peer but no "
					  "peer"));
	assert_true(errors_mention(&errs, "[port l3] and [port l4] both link "
					  "to peer n2"));
	assert_true(errors_mention(&errs, "links to peer n9, which no [peer]"));
	assert_true(errors_mention(&errs, "[port p0] names peer n2 but its "
					  "role is not peer"));
	assert_true(errors_mention(&errs, "[port l3] is a peer link: it has "
					  "no addr"));
	assert_true(errors_mention(&errs, "idle_yield_polls = 0 is out of "
					  "range"));
	/* The role's spelling is checked as the others are. */
	assert_int_equal(
		profile_load(&p, write_profile(clustered),
			     (const char *const[]){"port.p0.role=link"}, 1,
			     &errs),
		-EINVAL);
	assert_true(errors_mention(&errs, "must be client, bench or peer"));
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
		cmocka_unit_test(test_routes_backends_groups_parse),
		cmocka_unit_test(test_route_values_refused),
		cmocka_unit_test(test_routing_relations_checked),
		cmocka_unit_test(test_route_overrides_and_parsers),
		cmocka_unit_test(test_control_and_peers_parse),
		cmocka_unit_test(test_control_defaults),
		cmocka_unit_test(test_control_errors),
		cmocka_unit_test(test_control_overrides_and_parser),
		cmocka_unit_test(test_peer_links),
	};

	return cmocka_run_group_tests(tests, NULL, remove_profile);
}
