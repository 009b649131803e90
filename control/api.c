/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's API socket (see api.h).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/api.h"

/* Answers kept for a client that does not read: a cluster_status is a
 * few KiB; more than this and the client is closed. */
#define API_OUT_MAX (1u << 20)

struct api_client {
	int fd; /* -1: free */
	size_t in_len;
	char in[API_LINE_MAX];
	char *out;
	size_t out_len;
	size_t out_cap;
};

struct api {
	struct loop *loop;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	api_snapshot_fn fn;
	void *ctx;
	struct api_client clients[API_CLIENTS_MAX];
};

static void
add_result(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static struct json_object *
api_error(const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

/* Why a command was refused, for the operator. */
static struct json_object *
api_refused(const struct status_src *src, const char *cmd, int rc)
{
	struct core_view v;
	const char *leader;
	char msg[200];

	src->core_ops->view(src->core, &v);
	leader = status_member_name(src, v.leader);
	switch (rc) {
	case -ENOTCONN:
		snprintf(msg, sizeof(msg),
			 "not the leader: ask the leader (%s)",
			 leader != NULL ? leader : "none known yet");
		break;
	case -EBUSY:
		snprintf(msg, sizeof(msg),
			 "%s refused: a configuration change or leader "
			 "transfer is still under way; retry",
			 cmd);
		break;
	case -EINVAL:
		if (!strcmp(cmd, "remove_member"))
			snprintf(msg, sizeof(msg),
				 "%s refused: the node is not a member, or "
				 "is the last voter",
				 cmd);
		else
			snprintf(msg, sizeof(msg),
				 "%s refused: the node is not one the cluster "
				 "can take for this (itself, not a voter, or "
				 "already a member)",
				 cmd);
		break;
	case -ENOSYS:
		snprintf(msg, sizeof(msg), "%s", API_NOT_INTEGRATED);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s failed: %s", cmd, strerror(-rc));
		break;
	}
	return api_error(msg);
}

/* add_member / remove_member / transfer_leader {"name": NODE}: a core
 * step, answered with the members as the configuration now in force
 * says, and what was done. */
static struct json_object *
api_command(const char *cmd, struct json_object *req, api_snapshot_fn fn,
	    void *ctx)
{
	struct json_object *nameo, *ans;
	struct status_src src;
	int (*run)(void *cmd_ctx, uint8_t node);
	const char *name, *done;
	char msg[160];
	int id, rc;

	fn(ctx, &src);
	if (!strcmp(cmd, "transfer_leader")) {
		run = src.transfer;
		done = "transfer_to";
	} else if (!strcmp(cmd, "add_member")) {
		run = src.add_learner;
		done = "learner";
	} else {
		run = src.remove_member;
		done = "removed";
	}
	if (run == NULL)
		return api_error(API_NOT_INTEGRATED);
	if (!json_object_object_get_ex(req, "name", &nameo) ||
	    !json_object_is_type(nameo, json_type_string))
		return api_error("this command needs \"name\": a node of "
				 "the profile ([peer NAME] or this node)");
	name = json_object_get_string(nameo);
	id = status_member_id(&src, name);
	if (id < 0 || id >= RAFT_NODES_MAX) {
		snprintf(msg, sizeof(msg),
			 "no node '%.40s' in this node's profile "
			 "(add a [peer %.40s] section first)",
			 name, name);
		return api_error(msg);
	}
	rc = run(src.cmd_ctx, (uint8_t)id);
	if (rc != 0)
		return api_refused(&src, cmd, rc);
	fn(ctx, &src);
	ans = status_members(&src);
	add_result(ans, done, name);
	return ans;
}

struct json_object *
api_answer(const char *line, api_snapshot_fn fn, void *ctx)
{
	struct json_object *req = json_tokener_parse(line);
	struct json_object *cmdo, *ans;
	struct status_src src;
	const char *cmd;

	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return api_error("a request is one JSON object per line");
	}
	if (!json_object_object_get_ex(req, "cmd", &cmdo) ||
	    !json_object_is_type(cmdo, json_type_string)) {
		json_object_put(req);
		return api_error("a request needs \"cmd\"");
	}
	cmd = json_object_get_string(cmdo);
	if (!strcmp(cmd, "cluster_status")) {
		fn(ctx, &src);
		ans = status_cluster(&src);
	} else if (!strcmp(cmd, "members")) {
		fn(ctx, &src);
		ans = status_members(&src);
	} else if (!strcmp(cmd, "add_member") ||
		   !strcmp(cmd, "remove_member") ||
		   !strcmp(cmd, "transfer_leader")) {
		ans = api_command(cmd, req, fn, ctx);
	} else {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "unknown cmd '%.40s'; known: cluster_status, members, "
			 "add_member, remove_member, transfer_leader",
			 cmd);
		ans = api_error(msg);
	}
	json_object_put(req);
	return ans;
}

static void
client_close(struct api *a, struct api_client *c)
{
	loop_fd_del(a->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->in_len = 0;
	c->out_len = 0;
}

static void
client_flush(struct api *a, struct api_client *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			client_close(a, c);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	loop_fd_mod(a->loop, c->fd, EPOLLIN | (c->out_len > 0 ? EPOLLOUT : 0));
}

static int
client_queue(struct api_client *c, const char *s, size_t len)
{
	if (c->out_len + len > API_OUT_MAX)
		return -ENOBUFS;
	if (c->out_len + len > c->out_cap) {
		size_t cap = (c->out_len + len) * 2;
		char *p = realloc(c->out, cap);

		if (p == NULL)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
	return 0;
}

static void
client_ready(void *ctx, int fd, uint32_t events)
{
	struct api *a = ctx;
	struct api_client *c = NULL;
	unsigned i;

	for (i = 0; i < API_CLIENTS_MAX; i++)
		if (a->clients[i].fd == fd)
			c = &a->clients[i];
	if (c == NULL)
		return;
	if (events & EPOLLOUT)
		client_flush(a, c);
	if (c->fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(fd, c->in + c->in_len,
				 sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		char *nl;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			/* Peer done: send what it asked for, best effort. */
			client_flush(a, c);
			if (c->fd >= 0)
				client_close(a, c);
			return;
		}
		if (n < 0)
			break;
		c->in_len += (size_t)n;
		while ((nl = memchr(c->in, '\n', c->in_len)) != NULL) {
			size_t used = (size_t)(nl - c->in) + 1;
			struct json_object *ans;
			const char *text;

			*nl = '\0';
			ans = api_answer(c->in, a->fn, a->ctx);
			text = json_object_to_json_string_ext(
				ans, JSON_C_TO_STRING_PLAIN);
			if (client_queue(c, text, strlen(text)) != 0 ||
			    client_queue(c, "\n", 1) != 0) {
				json_object_put(ans);
				client_close(a, c);
				return;
			}
			json_object_put(ans);
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
		}
		if (c->in_len == sizeof(c->in)) {
			client_close(a, c); /* line too long */
			return;
		}
	}
	client_flush(a, c);
}

static void
api_accept(void *ctx, int fd, uint32_t events)
{
	struct api *a = ctx;
	unsigned i;
	int cfd;

	(void)events;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	       0) {
		struct api_client *c = NULL;

		for (i = 0; i < API_CLIENTS_MAX; i++)
			if (a->clients[i].fd < 0) {
				c = &a->clients[i];
				break;
			}
		if (c == NULL ||
		    loop_fd_add(a->loop, cfd, EPOLLIN, client_ready, a) != 0) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->in_len = 0;
		c->out_len = 0;
	}
}

/* Is something answering at @path? */
static bool
socket_is_live(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

struct api *
api_create(struct loop *l, const char *path, api_snapshot_fn fn, void *ctx)
{
	struct sockaddr_un sa;
	struct api *a;
	unsigned i;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (socket_is_live(path)) {
		errno = EADDRINUSE;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->loop = l;
	a->fn = fn;
	a->ctx = ctx;
	snprintf(a->path, sizeof(a->path), "%s", path);
	for (i = 0; i < API_CLIENTS_MAX; i++)
		a->clients[i].fd = -1;
	a->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->listen_fd < 0)
		goto free_api;
	unlink(path); /* stale: nobody answered above */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto close_listen;
	chmod(path, 0660);
	if (listen(a->listen_fd, API_CLIENTS_MAX) != 0)
		goto unlink_path;
	err = loop_fd_add(l, a->listen_fd, EPOLLIN, api_accept, a);
	if (err != 0) {
		errno = -err;
		goto unlink_path;
	}
	return a;

unlink_path:
	err = errno;
	unlink(path);
	errno = err;
close_listen:
	err = errno;
	close(a->listen_fd);
	errno = err;
free_api:
	err = errno;
	free(a);
	errno = err;
	return NULL;
}

void
api_destroy(struct api *a)
{
	unsigned i;

	if (a == NULL)
		return;
	for (i = 0; i < API_CLIENTS_MAX; i++) {
		if (a->clients[i].fd >= 0)
			client_close(a, &a->clients[i]);
		free(a->clients[i].out);
	}
	loop_fd_del(a->loop, a->listen_fd);
	close(a->listen_fd);
	unlink(a->path);
	free(a);
}
