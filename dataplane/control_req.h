/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Requests of latchd's control socket (control_sock.h): one flat JSON
 * object per line, {"cmd":"route_add","name":"web","match":"8000-8010",
 * ...}. This is the parser and the translation of the routing commands'
 * fields; it is pure (no DPDK, no sockets), so the unit tests drive it
 * (tests/unit/test_control_sock.c).
 *
 * Thread safety: reentrant; the main lcore calls it.
 */
#ifndef LATCH_CONTROL_REQ_H
#define LATCH_CONTROL_REQ_H

#include <stddef.h>

#include "firmware-cfg/profile.h"

/* Fields of one request: cmd plus a route's or a backend's, with room
 * to spare. */
#define CONTROL_REQ_FIELDS_MAX 16
/* Longest field name and value kept (longer values are refused). */
#define CONTROL_REQ_NAME_MAX  32
#define CONTROL_REQ_VALUE_MAX 128

struct control_req_field {
	char name[CONTROL_REQ_NAME_MAX];
	char value[CONTROL_REQ_VALUE_MAX]; /* strings unescaped; else raw */
	bool is_string;
};

struct control_req {
	unsigned count;
	struct control_req_field fields[CONTROL_REQ_FIELDS_MAX];
};

/*
 * Parse one request line (@s, @len bytes, no newline needed). 0, or
 * -EINVAL (not one flat JSON object, a name or value too long, a nested
 * value), -E2BIG (more than CONTROL_REQ_FIELDS_MAX fields).
 */
int control_req_parse(const char *s, size_t len, struct control_req *req);

/* The value of string field @name, or NULL if absent or not a string. */
const char *control_req_str(const struct control_req *req, const char *name);

/*
 * The route of a route_add request: name, match ("8000" or "8000-8010"),
 * key ("5tuple", "latch", "payload:OFF:LEN"), pool, and optionally
 * default (a backend of the pool), table_size (a number or a string of
 * digits), conntrack (true/false, or "yes"/"no") and conntrack_idle_ms.
 * 0, or -EINVAL with *@why a sentence naming the field.
 */
int control_req_route(const struct control_req *req, struct profile_route *r,
		      const char **why);

/*
 * The backend of a backend_add request: name, pool, addr (dotted IPv4),
 * mac (xx:xx:xx:xx:xx:xx), and optionally port (1..65535; absent: 0, for
 * route_conf_backend_add to take the pool's), via (a [port] name),
 * weight (0..1000, default 1) and state ("up", the default, or "down").
 * A number may come as a JSON number or a string of digits. 0, or
 * -EINVAL with *@why a sentence naming the field. What needs the
 * routes (duplicates, via, pool limits) route_conf_backend_add checks.
 */
int control_req_backend(const struct control_req *req,
			struct profile_backend *b, const char **why);

#endif /* LATCH_CONTROL_REQ_H */
