/* SPDX-License-Identifier: BSD-3-Clause */
/* Control socket request parser (control_req.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/control_req.h"

/* JSON whitespace (RFC 8259, section 2). */
static const char *
req_ws(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	return s;
}

/*
 * Scan the JSON string at @s (its opening quote) into @out (@size bytes).
 * Returns the byte after the closing quote, or NULL if malformed or too
 * long. \u escapes become '?': no field of ours needs them.
 */
static const char *
req_string(const char *s, const char *end, char *out, size_t size)
{
	size_t n = 0;
	char c;

	if (s >= end || *s != '"')
		return NULL;
	for (s++; s < end; s++) {
		c = *s;
		if (c == '"') {
			out[n] = '\0';
			return s + 1;
		}
		if ((unsigned char)c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++s >= end)
				return NULL;
			switch (*s) {
			case '"':
			case '\\':
			case '/':
				c = *s;
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				if (end - s < 5)
					return NULL;
				s += 4;
				c = '?';
				break;
			default:
				return NULL;
			}
		}
		if (n + 1 >= size)
			return NULL;
		out[n++] = c;
	}
	return NULL;
}

int
control_req_parse(const char *s, size_t len, struct control_req *req)
{
	const char *end = s + len;

	memset(req, 0, sizeof(*req));
	s = req_ws(s, end);
	if (s >= end || *s++ != '{')
		return -EINVAL;
	s = req_ws(s, end);
	if (s < end && *s == '}') {
		s++;
		goto tail;
	}
	for (;;) {
		struct control_req_field *f;

		if (req->count == CONTROL_REQ_FIELDS_MAX)
			return -E2BIG;
		f = &req->fields[req->count];
		s = req_string(req_ws(s, end), end, f->name, sizeof(f->name));
		if (s == NULL)
			return -EINVAL;
		s = req_ws(s, end);
		if (s >= end || *s++ != ':')
			return -EINVAL;
		s = req_ws(s, end);
		if (s < end && *s == '"') {
			s = req_string(s, end, f->value, sizeof(f->value));
			if (s == NULL)
				return -EINVAL;
			f->is_string = true;
		} else {
			/* numbers, true, false, null; no nesting */
			const char *v = s;

			while (s < end && *s != '\0' &&
			       strchr("+-.0123456789eEtrufalsn", *s) != NULL)
				s++;
			if (s == v || (size_t)(s - v) >= sizeof(f->value))
				return -EINVAL;
			memcpy(f->value, v, (size_t)(s - v));
			f->value[s - v] = '\0';
		}
		req->count++;
		s = req_ws(s, end);
		if (s >= end)
			return -EINVAL;
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s++ != '}')
			return -EINVAL;
		break;
	}
tail:
	if (req_ws(s, end) != end)
		return -EINVAL;
	return 0;
}

static const struct control_req_field *
req_field(const struct control_req *req, const char *name)
{
	unsigned i;

	/* The last one wins, as in most JSON readers. */
	for (i = req->count; i-- > 0;)
		if (!strcmp(req->fields[i].name, name))
			return &req->fields[i];
	return NULL;
}

const char *
control_req_str(const struct control_req *req, const char *name)
{
	const struct control_req_field *f = req_field(req, name);

	return f != NULL && f->is_string ? f->value : NULL;
}

int
control_req_route(const struct control_req *req, struct profile_route *r,
		  const char **why)
{
	const struct control_req_field *f;
	const char *v;
	unsigned long n;
	char *end;

	memset(r, 0, sizeof(*r));
	v = control_req_str(req, "name");
	if (v == NULL || v[0] == '\0' || strlen(v) >= sizeof(r->name)) {
		*why = "name: give the route's name (1 to 31 characters)";
		return -EINVAL;
	}
	memcpy(r->name, v, strlen(v) + 1);
	v = control_req_str(req, "match");
	if (v == NULL || profile_parse_port_range(v, &r->match) != 0) {
		*why = "match: give a UDP port or range such as 8000-8010";
		return -EINVAL;
	}
	v = control_req_str(req, "key");
	if (v == NULL || profile_parse_route_key(v, &r->key) != 0) {
		*why = "key: give 5tuple, latch or payload:OFFSET:LEN";
		return -EINVAL;
	}
	v = control_req_str(req, "pool");
	if (v == NULL || v[0] == '\0' || strlen(v) >= sizeof(r->pool)) {
		*why = "pool: give the name of a pool of the profile";
		return -EINVAL;
	}
	memcpy(r->pool, v, strlen(v) + 1);
	v = control_req_str(req, "default");
	if (v != NULL) {
		if (strlen(v) >= sizeof(r->default_backend)) {
			*why = "default: a backend name of 1 to 31 characters";
			return -EINVAL;
		}
		memcpy(r->default_backend, v, strlen(v) + 1);
	}
	f = req_field(req, "table_size");
	if (f != NULL) {
		errno = 0;
		n = strtoul(f->value, &end, 10);
		if (f->value[0] < '0' || f->value[0] > '9' || *end != '\0' ||
		    errno != 0 || n > (1ul << 24)) {
			*why = "table_size: a prime number up to 2^24, or 0";
			return -EINVAL;
		}
		r->table_size = (uint32_t)n;
	}
	f = req_field(req, "conntrack");
	if (f != NULL) {
		if (!strcmp(f->value, "true") || !strcmp(f->value, "yes"))
			r->conntrack = true;
		else if (strcmp(f->value, "false") != 0 &&
			 strcmp(f->value, "no") != 0) {
			*why = "conntrack: true or false";
			return -EINVAL;
		}
	}
	f = req_field(req, "conntrack_idle_ms");
	if (f != NULL) {
		errno = 0;
		n = strtoul(f->value, &end, 10);
		/* CONNTRACK_IDLE_MS_MAX (dataplane/conntrack.h): a day. */
		if (f->value[0] < '1' || f->value[0] > '9' || *end != '\0' ||
		    errno != 0 || n > 86400000ul) {
			*why = "conntrack_idle_ms: 1 to 86400000";
			return -EINVAL;
		}
		r->conntrack_idle_ms = (uint32_t)n;
	}
	return 0;
}
