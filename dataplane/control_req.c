/* SPDX-License-Identifier: BSD-3-Clause */
/* Control socket request parser (control_req.h). */
#include <arpa/inet.h>
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

/*
 * Field @name as an unsigned number up to @max: a JSON number or a string
 * of digits, no sign, no fraction. 0, 1 if absent, -EINVAL.
 */
static int
req_uint(const struct control_req *req, const char *name, unsigned long max,
	 unsigned long *out)
{
	const struct control_req_field *f = req_field(req, name);
	unsigned long n;
	char *end;

	if (f == NULL)
		return 1;
	errno = 0;
	n = strtoul(f->value, &end, 10);
	if (f->value[0] < '0' || f->value[0] > '9' || *end != '\0' ||
	    errno != 0 || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* "xx:xx:xx:xx:xx:xx" (hex digits, either case) into @mac. 0 or -EINVAL. */
static int
req_mac(const char *s, uint8_t mac[6])
{
	unsigned i, d, v;
	int c;

	for (i = 0; i < 6; i++) {
		v = 0;
		for (d = 0; d < 2; d++) {
			c = *s++;
			if (c >= '0' && c <= '9')
				v = v << 4 | (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v << 4 | (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v = v << 4 | (unsigned)(c - 'A' + 10);
			else
				return -EINVAL;
		}
		mac[i] = (uint8_t)v;
		if (*s != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		s++;
	}
	return 0;
}

/* Copy string field @name (1 to PROFILE_NAME_MAX - 1 bytes) into @out. */
static int
req_name(const struct control_req *req, const char *name, char *out)
{
	const char *v = control_req_str(req, name);

	if (v == NULL || v[0] == '\0' || strlen(v) >= PROFILE_NAME_MAX)
		return -EINVAL;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

int
control_req_backend(const struct control_req *req, struct profile_backend *b,
		    const char **why)
{
	struct in_addr in;
	unsigned long n;
	const char *v;
	int ret;

	memset(b, 0, sizeof(*b));
	b->weight = 1;
	b->up = true;
	if (req_name(req, "name", b->name) != 0) {
		*why = "name: give the backend's name (1 to 31 characters)";
		return -EINVAL;
	}
	if (req_name(req, "pool", b->pool) != 0) {
		*why = "pool: name the pool the backend joins (1 to 31 "
		       "characters)";
		return -EINVAL;
	}
	v = control_req_str(req, "addr");
	if (v == NULL || inet_pton(AF_INET, v, &in) != 1) {
		*why = "addr: give the backend's IPv4 address, such as "
		       "198.18.7.14";
		return -EINVAL;
	}
	b->addr_be = in.s_addr;
	v = control_req_str(req, "mac");
	if (v == NULL || req_mac(v, b->mac) != 0) {
		*why = "mac: give the next hop's Ethernet address as "
		       "xx:xx:xx:xx:xx:xx";
		return -EINVAL;
	}
	ret = req_uint(req, "port", 65535, &n);
	if (ret < 0 || (ret == 0 && n == 0)) {
		*why = "port: a UDP port, 1 to 65535";
		return -EINVAL;
	}
	if (ret == 0)
		b->udp_port = (uint16_t)n;
	ret = req_uint(req, "weight", 1000, &n);
	if (ret < 0) {
		*why = "weight: 0 to 1000";
		return -EINVAL;
	}
	if (ret == 0)
		b->weight = (uint16_t)n;
	if (req_field(req, "via") != NULL &&
	    req_name(req, "via", b->via) != 0) {
		*why = "via: name a [port] of the profile";
		return -EINVAL;
	}
	if (req_field(req, "state") != NULL) {
		v = control_req_str(req, "state");
		if (v != NULL && !strcmp(v, "down"))
			b->up = false;
		else if (v == NULL || strcmp(v, "up") != 0) {
			*why = "state: up or down";
			return -EINVAL;
		}
	}
	return 0;
}
