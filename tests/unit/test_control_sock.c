/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's pure half: the request parser (control_req.c) and
 * the routing commands it drives (route_conf.c): routes added and removed
 * keep their counter slots, a backend marked down leaves the table built
 * from the result, and refused commands say why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/control_req.h"
#include "dataplane/route_conf.h"

static int
parse(const char *line, struct control_req *req)
{
	return control_req_parse(line, strlen(line), req);
}

static void
test_parse_flat_objects(void **state)
{
	struct control_req req;

	(void)state;
	assert_int_equal(
		parse(" { \"cmd\" : \"route_add\", \"name\":\"w\\\"eb\","
		      "\"table_size\": 65537, \"x\": true } ",
		      &req),
		0);
	assert_int_equal(req.count, 4);
	assert_string_equal(control_req_str(&req, "cmd"), "route_add");
	assert_string_equal(control_req_str(&req, "name"), "w\"eb");
	/* A number is not a string field. */
	assert_null(control_req_str(&req, "table_size"));
	assert_null(control_req_str(&req, "absent"));
	assert_int_equal(parse("{}", &req), 0);
	assert_int_equal(req.count, 0);
	/* The last of two equal names wins. */
	assert_int_equal(parse("{\"cmd\":\"a\",\"cmd\":\"b\"}", &req), 0);
	assert_string_equal(control_req_str(&req, "cmd"), "b");
}

static void
test_parse_refuses_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{",
		"{\"cmd\"}",
		"{\"cmd\":}",
		"{\"cmd\":\"stats\"",
		"{\"cmd\":\"stats\"} x",
		"{\"cmd\":{\"nested\":1}}",
		"{\"cmd\":[1]}",
		"{\"cmd\":\"a\",}",
		"{cmd:\"a\"}",
		"{\"cmd\":\"bad \\q escape\"}",
		"{\"cmd\":\"ctrl \x01 char\"}",
	};
	struct control_req req;
	char longv[400];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &req) != -EINVAL) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
	}
	/* A value longer than CONTROL_REQ_VALUE_MAX is refused, not cut. */
	snprintf(longv, sizeof(longv), "{\"name\":\"%0300d\"}", 7);
	assert_int_equal(parse(longv, &req), -EINVAL);
	/* More fields than CONTROL_REQ_FIELDS_MAX. */
	char many[1024] = "{";
	for (i = 0; i <= CONTROL_REQ_FIELDS_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "%s\"f%u\":%u", i == 0 ? "" : ",", i, i);
	strcat(many, "}");
	assert_int_equal(parse(many, &req), -E2BIG);
	/* Reads no further than the length it is given. */
	assert_int_equal(control_req_parse("{}garbage", 2, &req), 0);
}

static void
test_route_fields(void **state)
{
	struct control_req req;
	struct profile_route r;
	const char *why = NULL;

	(void)state;
	assert_int_equal(
		parse("{\"cmd\":\"route_add\",\"name\":\"api\",\"match\":"
		      "\"8100-8105\",\"key\":\"payload:2:4\",\"pool\":\"web\","
		      "\"default\":\"b1\",\"table_size\":251}",
		      &req),
		0);
	assert_int_equal(control_req_route(&req, &r, &why), 0);
	assert_string_equal(r.name, "api");
	assert_int_equal(r.match.first, 8100);
	assert_int_equal(r.match.last, 8105);
	assert_int_equal(r.key.kind, PROFILE_KEY_PAYLOAD);
	assert_int_equal(r.key.off, 2);
	assert_int_equal(r.key.len, 4);
	assert_string_equal(r.pool, "web");
	assert_string_equal(r.default_backend, "b1");
	assert_int_equal(r.table_size, 251);

	assert_int_equal(parse("{\"name\":\"a\",\"match\":\"80\",\"key\":"
			       "\"sha1\",\"pool\":\"web\"}",
			       &req),
			 0);
	assert_int_equal(control_req_route(&req, &r, &why), -EINVAL);
	assert_non_null(strstr(why, "key:"));
	assert_int_equal(parse("{\"name\":\"a\",\"match\":\"0\",\"key\":"
			       "\"latch\",\"pool\":\"web\"}",
			       &req),
			 0);
	assert_int_equal(control_req_route(&req, &r, &why), -EINVAL);
	assert_non_null(strstr(why, "match:"));
	assert_int_equal(parse("{\"match\":\"80\"}", &req), 0);
	assert_int_equal(control_req_route(&req, &r, &why), -EINVAL);
	assert_non_null(strstr(why, "name:"));
	assert_int_equal(parse("{\"name\":\"a\",\"match\":\"80\",\"key\":"
			       "\"latch\",\"pool\":\"web\",\"table_size\":-3}",
			       &req),
			 0);
	assert_int_equal(control_req_route(&req, &r, &why), -EINVAL);
	assert_non_null(strstr(why, "table_size:"));
}

/* A profile-like start: three backends in pool web, one route. */
static void
conf_init(struct route_conf *rc)
{
	struct profile p;
	const char *why = NULL;
	unsigned i;

	memset(&p, 0, sizeof(p));
	p.port_base = 7400;
	p.workers = 2;
	p.ports_count = 1;
	snprintf(p.ports[0].name, sizeof(p.ports[0].name), "tap0");
	p.backends_count = 3;
	for (i = 0; i < 3; i++) {
		struct profile_backend *b = &p.backends[i];

		snprintf(b->name, sizeof(b->name), "b%u", i + 1);
		snprintf(b->pool, sizeof(b->pool), "web");
		b->addr_be = htonl(0xc6120700u + 11 + i);
		b->mac[0] = 2;
		b->mac[5] = (uint8_t)(i + 1);
		b->udp_port = (uint16_t)(9001 + i);
		b->weight = 1;
		b->up = true;
	}
	snprintf(p.backends[2].via, sizeof(p.backends[2].via), "tap0");
	p.routes_count = 1;
	snprintf(p.routes[0].name, sizeof(p.routes[0].name), "web");
	p.routes[0].match.first = 8000;
	p.routes[0].match.last = 8010;
	p.routes[0].key.kind = PROFILE_KEY_5TUPLE;
	snprintf(p.routes[0].pool, sizeof(p.routes[0].pool), "web");
	assert_int_equal(route_conf_from_profile(rc, &p, &why), 0);
}

/* An IPv4/UDP frame to 198.18.7.1:@dport from 198.18.7.2:@sport. */
static uint16_t
frame_make(uint8_t *f, uint16_t sport, uint16_t dport, const char *payload)
{
	uint16_t plen = (uint16_t)strlen(payload);
	uint16_t ip_len = (uint16_t)(20 + 8 + plen);
	uint32_t sum = 0;
	unsigned i;

	memset(f, 0, 14 + ip_len);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, "\xc6\x12\x07\x02\xc6\x12\x07\x01", 8);
	for (i = 0; i < 20; i += 2)
		sum += (uint32_t)(f[14 + i] << 8 | f[15 + i]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = (uint8_t)(dport >> 8);
	f[37] = (uint8_t)dport;
	f[38] = (uint8_t)((8 + plen) >> 8);
	f[39] = (uint8_t)(8 + plen);
	memcpy(f + 42, payload, plen);
	return (uint16_t)(14 + ip_len);
}

static void
test_route_conf_commands(void **state)
{
	struct route_conf *rc = malloc(sizeof(*rc));
	struct profile_route r;
	const char *why = NULL;

	(void)state;
	assert_non_null(rc);
	conf_init(rc);
	assert_int_equal(rc->routes_count, 1);
	assert_int_equal(rc->route_slot[0], 0);
	assert_int_equal(rc->backend_via[0], ROUTE_CONF_VIA_RX);
	assert_int_equal(rc->backend_via[2], 0);

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "api");
	r.match.first = r.match.last = 8100;
	r.key.kind = PROFILE_KEY_LATCH;
	snprintf(r.pool, sizeof(r.pool), "web");
	assert_int_equal(route_conf_route_add(rc, &r, &why), 0);
	assert_int_equal(rc->route_slot[1], 1);
	assert_int_equal(route_conf_route_add(rc, &r, &why), -EEXIST);

	/* Refused: lock ports, unknown pool, default outside the pool. */
	snprintf(r.name, sizeof(r.name), "x");
	r.match.first = 7390;
	r.match.last = 7400;
	assert_int_equal(route_conf_route_add(rc, &r, &why), -EINVAL);
	assert_non_null(strstr(why, "lock ports"));
	r.match.first = r.match.last = 8200;
	snprintf(r.pool, sizeof(r.pool), "nope");
	assert_int_equal(route_conf_route_add(rc, &r, &why), -EINVAL);
	snprintf(r.pool, sizeof(r.pool), "web");
	snprintf(r.default_backend, sizeof(r.default_backend), "b9");
	assert_int_equal(route_conf_route_add(rc, &r, &why), -EINVAL);
	assert_int_equal(rc->routes_count, 2);

	/* Deleting web frees slot 0; the next route takes it, api keeps 1. */
	assert_int_equal(route_conf_route_del(rc, "web"), 0);
	assert_int_equal(route_conf_route_del(rc, "web"), -ENOENT);
	assert_string_equal(rc->routes[0].name, "api");
	assert_int_equal(rc->route_slot[0], 1);
	r.default_backend[0] = '\0';
	assert_int_equal(route_conf_route_add(rc, &r, &why), 0);
	assert_int_equal(rc->route_slot[1], 0);

	assert_int_equal(route_conf_backend_set(rc, "b2", false), 0);
	assert_false(rc->backends[1].up);
	assert_int_equal(route_conf_backend_set(rc, "b7", false), -ENOENT);
	free(rc);
}

static void
test_route_conf_build_routes_by_it(void **state)
{
	struct route_conf *rc = malloc(sizeof(*rc));
	struct router_decision d;
	struct route_table *t;
	const struct router_backend *be;
	const char *why = NULL;
	uint8_t frame[128];
	unsigned seen[3] = {0}, i;
	uint16_t len;

	(void)state;
	assert_non_null(rc);
	conf_init(rc);
	assert_int_equal(route_conf_backend_set(rc, "b2", false), 0);
	t = route_conf_build(rc, &why);
	assert_non_null(t);
	assert_int_equal(t->generation, rc->generation + 1);
	assert_int_equal(t->routes_count, 1);
	assert_int_equal(t->routes[0].user, rc->route_slot[0]);
	assert_int_equal(t->routes[0].backends_count, 3);
	for (i = 0; i < 300; i++) {
		len = frame_make(frame, (uint16_t)(20000 + i), 8000 + i % 11,
				 "seq");
		assert_int_equal(router_route(t, frame, len, &d),
				 ROUTER_FORWARD);
		be = &t->routes[d.route].backends[d.backend];
		/* The user field names the backend's slot and TX port. */
		assert_int_equal(route_conf_user_slot(be->user), d.backend);
		assert_int_equal(route_conf_user_via(be->user),
				 rc->backend_via[d.backend]);
		assert_memory_equal(frame, rc->backends[d.backend].mac, 6);
		seen[d.backend]++;
	}
	assert_int_equal(seen[1], 0); /* b2 is down */
	assert_true(seen[0] > 0 && seen[2] > 0);
	router_table_destroy(t);

	/* A table that cannot be built says why: M not prime. */
	rc->routes[0].table_size = 65536;
	t = route_conf_build(rc, &why);
	assert_null(t);
	assert_int_equal(errno, EINVAL);
	assert_non_null(why);
	free(rc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_flat_objects),
		cmocka_unit_test(test_parse_refuses_malformed),
		cmocka_unit_test(test_route_fields),
		cmocka_unit_test(test_route_conf_commands),
		cmocka_unit_test(test_route_conf_build_routes_by_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
