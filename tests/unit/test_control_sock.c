/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's pure half: the request parser (control_req.c) and
 * the routing commands it drives (route_conf.c): routes added and removed
 * keep their counter slots, a backend marked down leaves the table built
 * from the result, backends added at run time are routed to and deleted
 * ones are not, a freed counter slot does not mix two backends' counts,
 * and refused commands say why and change nothing.
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

/* ---- backend add and del ------------------------------------------------ */

/* A backend like conf_init's: b@i at 198.18.7.@i, MAC 02:..:@i. */
static void
backend_make(struct profile_backend *b, const char *name, const char *pool,
	     unsigned i, uint16_t port)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->pool, sizeof(b->pool), "%s", pool);
	b->addr_be = htonl(0xc6120700u + i);
	b->mac[0] = 2;
	b->mac[5] = (uint8_t)i;
	b->udp_port = port;
	b->weight = 1;
	b->up = true;
}

static void
test_backend_fields(void **state)
{
	static const struct {
		const char *req;
		const char *field; /* the refusal names it */
	} bad[] = {
		{"{\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\"}",
		 "name:"},
		{"{\"name\":\"b4\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\"}",
		 "pool:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7\","
		 "\"mac\":\"02:00:00:00:07:02\"}",
		 "addr:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07\"}",
		 "mac:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:0g\"}",
		 "mac:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02:\"}",
		 "mac:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\",\"port\":65536}",
		 "port:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\",\"port\":0}",
		 "port:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\",\"weight\":1001}",
		 "weight:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\",\"weight\":-1}",
		 "weight:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\",\"state\":\"maybe\"}",
		 "state:"},
		{"{\"name\":\"b4\",\"pool\":\"web\",\"addr\":\"198.18.7.14\","
		 "\"mac\":\"02:00:00:00:07:02\",\"via\":\"\"}",
		 "via:"},
	};
	struct control_req req;
	struct profile_backend b;
	const char *why = NULL;
	unsigned i;

	(void)state;
	assert_int_equal(
		parse("{\"cmd\":\"backend_add\",\"name\":\"b4\",\"pool\":"
		      "\"web\",\"addr\":\"198.18.7.14\",\"mac\":"
		      "\"02:00:00:00:07:0A\",\"port\":9004,\"via\":\"tap0\","
		      "\"weight\":\"3\",\"state\":\"down\"}",
		      &req),
		0);
	assert_int_equal(control_req_backend(&req, &b, &why), 0);
	assert_string_equal(b.name, "b4");
	assert_string_equal(b.pool, "web");
	assert_int_equal(b.addr_be, htonl(0xc612070eu));
	assert_memory_equal(b.mac, "\x02\x00\x00\x00\x07\x0a", 6);
	assert_int_equal(b.udp_port, 9004);
	assert_string_equal(b.via, "tap0");
	assert_int_equal(b.weight, 3);
	assert_false(b.up);

	/* Defaults: the pool's port (0 here), weight 1, up, leaves by the
	 * port it came in on. */
	assert_int_equal(parse("{\"name\":\"b5\",\"pool\":\"web\",\"addr\":"
			       "\"198.18.7.15\",\"mac\":\"02:00:00:00:07:02\"}",
			       &req),
			 0);
	assert_int_equal(control_req_backend(&req, &b, &why), 0);
	assert_int_equal(b.udp_port, 0);
	assert_int_equal(b.weight, 1);
	assert_true(b.up);
	assert_string_equal(b.via, "");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].req, &req), 0);
		why = NULL;
		if (control_req_backend(&req, &b, &why) != -EINVAL ||
		    why == NULL || strstr(why, bad[i].field) == NULL) {
			print_error("%s: why = %s\n", bad[i].req,
				    why != NULL ? why : "(none)");
			fail();
		}
	}
}

/* Route 300 frames by @rc's table; count them per backend slot. Each
 * frame's rewrite must match the backend the table chose. */
static void
route_count(const struct route_conf *rc,
	    unsigned counts[ROUTE_CONF_BACKENDS_MAX])
{
	struct route_table *t;
	struct router_decision d;
	const struct router_backend *be;
	const char *why = NULL;
	uint8_t frame[128];
	char id[PROFILE_NAME_MAX];
	unsigned i;
	uint16_t len;
	int j;

	memset(counts, 0, ROUTE_CONF_BACKENDS_MAX * sizeof(counts[0]));
	t = route_conf_build(rc, &why);
	assert_non_null(t);
	for (i = 0; i < 300; i++) {
		len = frame_make(frame, (uint16_t)(20000 + i), 8000 + i % 11,
				 "seq");
		assert_int_equal(router_route(t, frame, len, &d),
				 ROUTER_FORWARD);
		be = &t->routes[d.route].backends[d.backend];
		/* The identity is the name (route_conf_build). */
		assert_true(be->id_len < sizeof(id));
		memcpy(id, be->id, be->id_len);
		id[be->id_len] = '\0';
		j = route_conf_backend_find(rc, id);
		assert_true(j >= 0);
		assert_int_equal(route_conf_user_slot(be->user),
				 rc->backend_slot[j]);
		assert_memory_equal(frame, rc->backends[j].mac, 6);
		assert_int_equal(frame[36] << 8 | frame[37],
				 rc->backends[j].udp_port);
		counts[rc->backend_slot[j]]++;
	}
	router_table_destroy(t);
}

static void
test_backend_add_routes_to_it(void **state)
{
	struct route_conf *rc = malloc(sizeof(*rc));
	uint64_t counted[ROUTE_CONF_BACKENDS_MAX] = {0};
	unsigned counts[ROUTE_CONF_BACKENDS_MAX];
	struct profile_backend b;
	const char *why = NULL;
	int j;

	(void)state;
	assert_non_null(rc);
	conf_init(rc);
	route_count(rc, counts);
	assert_int_equal(counts[3], 0);

	backend_make(&b, "b4", "web", 14, 9004);
	snprintf(b.via, sizeof(b.via), "tap0");
	assert_int_equal(route_conf_backend_add(rc, &b, counted, &why), 0);
	assert_int_equal(rc->backends_count, 4);
	j = route_conf_backend_find(rc, "b4");
	assert_int_equal(j, 3);
	assert_int_equal(rc->backend_slot[j], 3);
	assert_int_equal(rc->backend_via[j], 0); /* tap0 is port 0 */
	route_count(rc, counts);
	/* Maglev gives the newcomer about a quarter of the flows. */
	assert_true(counts[3] > 30);
	assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);

	/* Added down: in the pool (and counted against M), given nothing. */
	backend_make(&b, "b5", "web", 15, 9005);
	b.up = false;
	assert_int_equal(route_conf_backend_add(rc, &b, counted, &why), 0);
	route_count(rc, counts);
	assert_int_equal(counts[rc->backend_slot[4]], 0);
	assert_int_equal(route_conf_backend_set(rc, "b5", true), 0);
	route_count(rc, counts);
	assert_true(counts[rc->backend_slot[4]] > 0);

	/* Without a port it takes its pool's, when they all share one. */
	backend_make(&b, "c1", "cache", 31, 11211);
	assert_int_equal(route_conf_backend_add(rc, &b, NULL, &why), 0);
	backend_make(&b, "c2", "cache", 32, 0);
	assert_int_equal(route_conf_backend_add(rc, &b, NULL, &why), 0);
	assert_int_equal(
		rc->backends[route_conf_backend_find(rc, "c2")].udp_port,
		11211);
	free(rc);
}

/* Every refused add and del leaves the configuration as it was. */
static void
test_backend_refusals_change_nothing(void **state)
{
	struct route_conf *rc = malloc(sizeof(*rc));
	struct route_conf *copy = malloc(sizeof(*copy));
	struct profile_backend b;
	struct profile_route r;
	const char *why;
	char name[16];
	unsigned i;
	int route;

	(void)state;
	assert_non_null(rc);
	assert_non_null(copy);
	conf_init(rc);
	/* A route whose default is b1, and a pool of one used by a route. */
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "api");
	r.match.first = r.match.last = 8100;
	r.key.kind = PROFILE_KEY_LATCH;
	snprintf(r.pool, sizeof(r.pool), "web");
	snprintf(r.default_backend, sizeof(r.default_backend), "b1");
	assert_int_equal(route_conf_route_add(rc, &r, &why), 0);
	backend_make(&b, "s1", "solo", 41, 9100);
	assert_int_equal(route_conf_backend_add(rc, &b, NULL, &why), 0);
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "s");
	r.match.first = r.match.last = 8200;
	r.key.kind = PROFILE_KEY_5TUPLE;
	snprintf(r.pool, sizeof(r.pool), "solo");
	assert_int_equal(route_conf_route_add(rc, &r, &why), 0);
	/* Route web's M = 307 (prime): 3 backends fit, a 4th does not. */
	rc->routes[0].table_size = 307;
	memcpy(copy, rc, sizeof(*rc));

#define ADD_REFUSED(err, field)                                              \
	do {                                                                 \
		why = NULL;                                                  \
		assert_int_equal(route_conf_backend_add(rc, &b, NULL, &why), \
				 (err));                                     \
		assert_non_null(why);                                        \
		if (strstr(why, (field)) == NULL) {                          \
			print_error("why = %s\n", why);                      \
			fail();                                              \
		}                                                            \
		assert_memory_equal(rc, copy, sizeof(*rc));                  \
	} while (0)

	backend_make(&b, "b2", "other", 50, 9000);
	ADD_REFUSED(-EEXIST, "name:");
	backend_make(&b, "", "other", 50, 9000);
	ADD_REFUSED(-EINVAL, "name:");
	backend_make(&b, "n1", "", 50, 9000);
	ADD_REFUSED(-EINVAL, "pool:");
	backend_make(&b, "n1", "other", 50, 9000);
	b.addr_be = 0;
	ADD_REFUSED(-EINVAL, "addr:");
	b.addr_be = htonl(0xe0000001u); /* 224.0.0.1 */
	ADD_REFUSED(-EINVAL, "addr:");
	b.addr_be = htonl(0x7f000001u); /* 127.0.0.1 */
	ADD_REFUSED(-EINVAL, "addr:");
	backend_make(&b, "n1", "other", 50, 9000);
	memset(b.mac, 0, 6);
	ADD_REFUSED(-EINVAL, "mac:");
	b.mac[0] = 0x01; /* a group address */
	ADD_REFUSED(-EINVAL, "mac:");
	backend_make(&b, "n1", "other", 50, 9000);
	snprintf(b.via, sizeof(b.via), "tap9");
	ADD_REFUSED(-EINVAL, "via:");
	backend_make(&b, "n1", "other", 50, 9000);
	b.weight = 1001;
	ADD_REFUSED(-EINVAL, "weight:");
	/* No port: a new pool has none to give, web's differ. */
	backend_make(&b, "n1", "other", 50, 0);
	ADD_REFUSED(-EINVAL, "port:");
	backend_make(&b, "n1", "web", 50, 0);
	ADD_REFUSED(-EINVAL, "port:");
	/* b1's address and port again, in b1's pool. */
	backend_make(&b, "n1", "web", 11, 9001);
	ADD_REFUSED(-EINVAL, "addr:");
	/* Maglev: 307 <= 100 x 4. */
	backend_make(&b, "n1", "web", 50, 9000);
	ADD_REFUSED(-EINVAL, "table_size");
	/* Every counter slot taken. */
	rc->routes[0].table_size = 0;
	for (i = rc->backends_count; i < ROUTE_CONF_BACKENDS_MAX; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		backend_make(&b, name, "filler", 100 + i, 9000);
		assert_int_equal(route_conf_backend_add(rc, &b, NULL, &why), 0);
	}
	memcpy(copy, rc, sizeof(*rc));
	backend_make(&b, "n1", "other", 50, 9000);
	ADD_REFUSED(-ENOSPC, "slot");
#undef ADD_REFUSED

	/* Deletes: unknown; a route's default; the last of a used pool. */
	why = NULL;
	assert_int_equal(route_conf_backend_del(rc, "nosuch", &why, &route),
			 -ENOENT);
	assert_non_null(why);
	assert_int_equal(route, -1);
	assert_int_equal(route_conf_backend_del(rc, "b1", &why, &route),
			 -EBUSY);
	assert_non_null(strstr(why, "default"));
	assert_string_equal(rc->routes[route].name, "api");
	assert_int_equal(route_conf_backend_del(rc, "s1", &why, &route),
			 -EBUSY);
	assert_non_null(strstr(why, "last"));
	assert_string_equal(rc->routes[route].name, "s");
	assert_memory_equal(rc, copy, sizeof(*rc));
	/* Once route s is gone, its pool's last backend may go too. */
	assert_int_equal(route_conf_route_del(rc, "s"), 0);
	assert_int_equal(route_conf_backend_del(rc, "s1", &why, &route), 0);
	free(copy);
	free(rc);
}

static void
test_backend_del_and_slot_reuse(void **state)
{
	struct route_conf *rc = malloc(sizeof(*rc));
	uint64_t counted[ROUTE_CONF_BACKENDS_MAX] = {0};
	unsigned counts[ROUTE_CONF_BACKENDS_MAX];
	struct profile_backend b;
	const char *why = NULL;
	int route, j;
	uint8_t b2_slot, b3_slot;

	(void)state;
	assert_non_null(rc);
	conf_init(rc);
	route_count(rc, counts);
	assert_true(counts[1] > 0);
	b2_slot = rc->backend_slot[1];
	b3_slot = rc->backend_slot[2];

	/* What the workers counted so far, per slot. */
	counted[0] = 500;
	counted[b2_slot] = 100;
	counted[b3_slot] = 70;
	assert_int_equal(route_conf_backend_del(rc, "b2", &why, &route), 0);
	assert_int_equal(rc->backends_count, 2);
	assert_int_equal(route_conf_backend_find(rc, "b2"), -1);
	/* b3 moved down one index and kept its slot, its via and count. */
	j = route_conf_backend_find(rc, "b3");
	assert_int_equal(j, 1);
	assert_int_equal(rc->backend_slot[j], b3_slot);
	assert_int_equal(rc->backend_via[j], 0);
	assert_int_equal(route_conf_backend_forwarded(rc, (uint16_t)j, counted),
			 70);
	route_count(rc, counts);
	assert_int_equal(counts[b2_slot], 0);
	assert_int_equal(counts[0] + counts[b3_slot], 300);

	/* A newcomer takes the freed slot, but not b2's count. */
	backend_make(&b, "b6", "web", 16, 9006);
	assert_int_equal(route_conf_backend_add(rc, &b, counted, &why), 0);
	j = route_conf_backend_find(rc, "b6");
	assert_int_equal(rc->backend_slot[j], b2_slot);
	assert_int_equal(route_conf_backend_forwarded(rc, (uint16_t)j, counted),
			 0);
	counted[b2_slot] += 9;
	assert_int_equal(route_conf_backend_forwarded(rc, (uint16_t)j, counted),
			 9);
	route_count(rc, counts);
	assert_true(counts[b2_slot] > 0);
	/* The profile's backends count from 0 at start. */
	assert_int_equal(route_conf_backend_forwarded(rc, 0, counted), 500);
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
		cmocka_unit_test(test_backend_fields),
		cmocka_unit_test(test_backend_add_routes_to_it),
		cmocka_unit_test(test_backend_refusals_change_nothing),
		cmocka_unit_test(test_backend_del_and_slot_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
