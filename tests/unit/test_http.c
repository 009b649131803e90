/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's HTTP request parsing and routing (control/http.c, the
 * pure parts): complete heads parse, partial ones ask for more, malformed
 * ones are refused, paths map to pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/http.h"

static enum http_parse_result
parse(const char *s, struct http_request *r)
{
	return http_parse_request(s, strlen(s), r);
}

static void
test_parse_ok(void **state)
{
	struct http_request r;

	(void)state;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r),
			 HTTP_PARSE_OK);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(r.minor, 1);
	assert_int_equal(http_route(&r), HTTP_PAGE_METRICS);
	/* Query strings are not part of the path; bare LF is accepted. */
	assert_int_equal(parse("HEAD /status?x=1 HTTP/1.0\n\n", &r),
			 HTTP_PARSE_OK);
	assert_string_equal(r.path, "/status");
	assert_int_equal(r.minor, 0);
	assert_int_equal(http_route(&r), HTTP_PAGE_STATUS);
}

static void
test_parse_partial(void **state)
{
	static const char full[] = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_request r;
	size_t n;

	(void)state;
	for (n = 0; n < strlen(full); n++)
		assert_int_equal(http_parse_request(full, n, &r),
				 HTTP_PARSE_MORE);
	assert_int_equal(http_parse_request(full, strlen(full), &r),
			 HTTP_PARSE_OK);
}

static void
test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"GET\r\n\r\n",
		"GET /x\r\n\r\n",
		"GET x HTTP/1.1\r\n\r\n",
		"GET /x HTTP/2.0\r\n\r\n",
		"GET /x HTTP/1.1 extra\r\n\r\n",
		"get /x HTTP/1.1\r\n\r\n",
		" /x HTTP/1.1\r\n\r\n",
		"GETTINGVERYLONGMETHOD /x HTTP/1.1\r\n\r\n",
	};
	struct http_request r;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &r), HTTP_PARSE_BAD);
}

static void
test_route(void **state)
{
	struct http_request r;

	(void)state;
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n", &r),
			 HTTP_PARSE_OK);
	assert_int_equal(http_route(&r), HTTP_PAGE_BAD_METHOD);
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &r), HTTP_PARSE_OK);
	assert_int_equal(http_route(&r), HTTP_PAGE_NOT_FOUND);
	assert_int_equal(parse("GET /metricsx HTTP/1.1\r\n\r\n", &r),
			 HTTP_PARSE_OK);
	assert_int_equal(http_route(&r), HTTP_PAGE_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_partial),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
