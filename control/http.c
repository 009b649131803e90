/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's management HTTP server (see http.h).
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/http.h"

struct http_client {
	int fd; /* -1: free */
	size_t in_len;
	char in[HTTP_REQUEST_MAX];
	char *out; /* the whole response once the request is read */
	size_t out_len;
	size_t out_off;
};

struct http {
	struct loop *loop;
	int listen_fd;
	void (*snapshot)(void *ctx, struct status_src *out);
	void *ctx;
	struct http_client clients[HTTP_CLIENTS_MAX];
};

/* A token of the request line: up to a space, within @end. */
static const char *
token(const char *p, const char *end, char *out, size_t size)
{
	size_t n = 0;

	while (p < end && *p != ' ' && *p != '\r' && *p != '\n') {
		if (n + 1 >= size)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return n == 0 ? NULL : p;
}

enum http_parse_result
http_parse_request(const char *buf, size_t len, struct http_request *out)
{
	const char *end = buf + len, *p, *head_end = NULL;
	char target[HTTP_PATH_MAX + 64], version[16];
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			head_end = buf + i;
			break;
		}
	if (head_end == NULL) {
		/* Bare LF line ends too (RFC 9112 §2.2 allows it). */
		for (i = 0; i + 1 < len; i++)
			if (buf[i] == '\n' && buf[i + 1] == '\n') {
				head_end = buf + i;
				break;
			}
	}
	if (head_end == NULL)
		return HTTP_PARSE_MORE;
	memset(out, 0, sizeof(*out));
	p = token(buf, head_end, out->method, sizeof(out->method));
	if (p == NULL || *p != ' ')
		return HTTP_PARSE_BAD;
	p = token(p + 1, head_end, target, sizeof(target));
	if (p == NULL || *p != ' ' || target[0] != '/')
		return HTTP_PARSE_BAD;
	p = token(p + 1, head_end, version, sizeof(version));
	if (p == NULL || (*p != '\r' && *p != '\n' && p != head_end))
		return HTTP_PARSE_BAD;
	if (strncmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' ||
	    version[7] > '9' || version[8] != '\0')
		return HTTP_PARSE_BAD;
	out->minor = (unsigned)(version[7] - '0');
	target[strcspn(target, "?#")] = '\0';
	if (strlen(target) >= sizeof(out->path))
		return HTTP_PARSE_BAD;
	memcpy(out->path, target, strlen(target) + 1);
	for (i = 0; out->method[i] != '\0'; i++)
		if (out->method[i] < 'A' || out->method[i] > 'Z')
			return HTTP_PARSE_BAD;
	(void)end;
	return HTTP_PARSE_OK;
}

enum http_page
http_route(const struct http_request *req)
{
	bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");

	if (!strcmp(req->path, "/metrics"))
		return get ? HTTP_PAGE_METRICS : HTTP_PAGE_BAD_METHOD;
	if (!strcmp(req->path, "/status"))
		return get ? HTTP_PAGE_STATUS : HTTP_PAGE_BAD_METHOD;
	return HTTP_PAGE_NOT_FOUND;
}

static void
client_close(struct http *h, struct http_client *c)
{
	loop_fd_del(h->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

/* Build the whole response into c->out. */
static void
respond(struct http *h, struct http_client *c, int code, const char *reason,
	const char *type, const char *body, size_t body_len, bool head)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return;
	fprintf(f,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Connection: close\r\nCache-Control: no-store\r\n\r\n",
		code, reason, type, body_len);
	if (!head)
		fwrite(body, 1, body_len, f);
	if (fclose(f) != 0) {
		free(text);
		return;
	}
	(void)h;
	c->out = text;
	c->out_len = len;
	c->out_off = 0;
}

static void
serve(struct http *h, struct http_client *c, enum http_parse_result pr,
      const struct http_request *req)
{
	struct status_src src;
	struct json_object *o;
	const char *json;
	bool head = pr == HTTP_PARSE_OK && !strcmp(req->method, "HEAD");
	char *text;
	size_t len;

	if (pr != HTTP_PARSE_OK) {
		respond(h, c, 400, "Bad Request", "text/plain", "bad request\n",
			12, false);
		return;
	}
	switch (http_route(req)) {
	case HTTP_PAGE_METRICS:
		h->snapshot(h->ctx, &src);
		text = status_metrics(&src, &len);
		if (text == NULL) {
			respond(h, c, 500, "Internal Server Error",
				"text/plain", "no memory\n", 10, head);
			return;
		}
		respond(h, c, 200, "OK", "text/plain; version=0.0.4", text, len,
			head);
		free(text);
		return;
	case HTTP_PAGE_STATUS:
		h->snapshot(h->ctx, &src);
		o = status_cluster(&src);
		json = json_object_to_json_string_ext(o,
						      JSON_C_TO_STRING_PLAIN);
		text = NULL;
		len = strlen(json);
		{
			char *body = malloc(len + 1);

			if (body != NULL) {
				memcpy(body, json, len);
				body[len] = '\n';
				respond(h, c, 200, "OK", "application/json",
					body, len + 1, head);
				free(body);
			}
		}
		json_object_put(o);
		return;
	case HTTP_PAGE_BAD_METHOD:
		respond(h, c, 405, "Method Not Allowed", "text/plain",
			"only GET and HEAD\n", 18, false);
		return;
	case HTTP_PAGE_NOT_FOUND:
	default:
		respond(h, c, 404, "Not Found", "text/plain",
			"try /metrics or /status\n", 24, head);
		return;
	}
}

static void
client_write(struct http *h, struct http_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				loop_fd_mod(h->loop, c->fd, EPOLLOUT);
				return;
			}
			break;
		}
		c->out_off += (size_t)n;
	}
	/* Connection: close: done once the response is out (or failed). */
	client_close(h, c);
}

static void
client_ready(void *ctx, int fd, uint32_t events)
{
	struct http *h = ctx;
	struct http_client *c = NULL;
	struct http_request req;
	enum http_parse_result pr;
	unsigned i;
	ssize_t n;

	for (i = 0; i < HTTP_CLIENTS_MAX; i++)
		if (h->clients[i].fd == fd)
			c = &h->clients[i];
	if (c == NULL)
		return;
	if (c->out != NULL) {
		client_write(h, c);
		return;
	}
	(void)events;
	n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
		 MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(h, c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	pr = http_parse_request(c->in, c->in_len, &req);
	if (pr == HTTP_PARSE_MORE) {
		if (c->in_len < sizeof(c->in))
			return;
		respond(h, c, 431, "Request Header Fields Too Large",
			"text/plain", "request too large\n", 18, false);
	} else {
		serve(h, c, pr, &req);
	}
	if (c->out == NULL) {
		client_close(h, c);
		return;
	}
	client_write(h, c);
}

static void
http_accept(void *ctx, int fd, uint32_t events)
{
	struct http *h = ctx;
	unsigned i;
	int cfd;

	(void)events;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	       0) {
		struct http_client *c = NULL;

		for (i = 0; i < HTTP_CLIENTS_MAX; i++)
			if (h->clients[i].fd < 0) {
				c = &h->clients[i];
				break;
			}
		/* All slots busy: refuse by closing; scrapers retry. */
		if (c == NULL ||
		    loop_fd_add(h->loop, cfd, EPOLLIN, client_ready, h) != 0) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->in_len = 0;
	}
}

struct http *
http_create(struct loop *l, uint32_t addr_be, uint16_t port,
	    void (*snapshot)(void *ctx, struct status_src *out), void *ctx)
{
	struct sockaddr_in sa;
	struct http *h;
	unsigned i;
	int one = 1, err;

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->loop = l;
	h->snapshot = snapshot;
	h->ctx = ctx;
	for (i = 0; i < HTTP_CLIENTS_MAX; i++)
		h->clients[i].fd = -1;
	h->listen_fd =
		socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0)
		goto free_http;
	setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = addr_be;
	sa.sin_port = htons(port);
	if (bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(h->listen_fd, 16) != 0)
		goto close_listen;
	err = loop_fd_add(l, h->listen_fd, EPOLLIN, http_accept, h);
	if (err != 0) {
		errno = -err;
		goto close_listen;
	}
	return h;

close_listen:
	err = errno;
	close(h->listen_fd);
	errno = err;
free_http:
	err = errno;
	free(h);
	errno = err;
	return NULL;
}

void
http_destroy(struct http *h)
{
	unsigned i;

	if (h == NULL)
		return;
	for (i = 0; i < HTTP_CLIENTS_MAX; i++)
		if (h->clients[i].fd >= 0)
			client_close(h, &h->clients[i]);
	loop_fd_del(h->loop, h->listen_fd);
	close(h->listen_fd);
	free(h);
}
