/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's management HTTP server: GET /metrics (Prometheus text
 * format 0.0.4) and GET /status (the cluster_status JSON), on
 * control.http, served by the same loop. HTTP/1.1 with Connection: close:
 * one request per connection, which is all a scraper or curl needs, and
 * keeps each connection's state to a buffer and an offset.
 *
 * Why not libmicrohttpd: it wants its own threads or its own select loop
 * integration and allocates per connection; two GET pages with bounded
 * requests are ~250 lines here, on our loop, with the parser pure and
 * unit-tested (tests/unit/test_http.c).
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_HTTP_H
#define LATCH_CONTROL_HTTP_H

#include <stddef.h>

#include "control/loop.h"
#include "control/status.h"

/* Largest request head (request line + headers): scrapers send < 1 KiB. */
#define HTTP_REQUEST_MAX 8192
/* Connections at once; more wait in the listen backlog. */
#define HTTP_CLIENTS_MAX 8
#define HTTP_PATH_MAX    256

enum http_parse_result {
	HTTP_PARSE_MORE = 0, /* no blank line yet: read more */
	HTTP_PARSE_OK = 1,
	HTTP_PARSE_BAD = 2, /* malformed: answer 400 */
};

struct http_request {
	char method[16];
	char path[HTTP_PATH_MAX]; /* without the query string */
	unsigned minor;           /* HTTP/1.minor */
};

/*
 * Parse the head of a request in @buf (@len bytes, not NUL-terminated).
 * Pure; any thread. OK only once the head's blank line is in @buf.
 */
enum http_parse_result http_parse_request(const char *buf, size_t len,
					  struct http_request *out);

/* Which page a parsed request asks for. */
enum http_page {
	HTTP_PAGE_METRICS,
	HTTP_PAGE_STATUS,
	HTTP_PAGE_NOT_FOUND,  /* 404 */
	HTTP_PAGE_BAD_METHOD, /* 405: only GET and HEAD */
};

/* Pure: the page for @req. */
enum http_page http_route(const struct http_request *req);

struct http;

/* Listen on @addr_be:@port (network order address, host order port). */
struct http *http_create(struct loop *l, uint32_t addr_be, uint16_t port,
			 void (*snapshot)(void *ctx, struct status_src *out),
			 void *ctx);
void http_destroy(struct http *h);

#endif /* LATCH_CONTROL_HTTP_H */
