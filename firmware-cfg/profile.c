/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Profile parser and validator (firmware-cfg/profile.h).
 *
 * Every key is described once, in the tables below: its section, name,
 * type, where it lands in struct profile and its allowed range. The parser,
 * the --set overrides and the error messages all come from these tables, so
 * a new key is one line.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware-cfg/profile.h"

enum key_type {
	KEY_U16,
	KEY_U32,
	KEY_STR,
	KEY_BOOL,
	KEY_IDLE,
	KEY_ROLE,
	KEY_IPV4,
	KEY_PORTS,    /* struct profile_port_range */
	KEY_RKEY,     /* struct profile_route_key */
	KEY_MAC,      /* uint8_t[6] */
	KEY_STATE,    /* bool: up | down */
	KEY_ADDRPORT, /* struct profile_addr_port: IPv4:port */
};

struct key_desc {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	uint64_t min;
	uint64_t max;
};

#define NODE_KEY(sec, name, type, field, min, max)                         \
	{                                                                  \
		sec, name, type, offsetof(struct profile, field), min, max \
	}
#define PORT_KEY(name, type, field, min, max)                                  \
	{                                                                      \
		"port", name, type, offsetof(struct profile_port, field), min, \
			max                                                    \
	}

#define NAMED_KEY(sec, st, name, type, field, min, max)               \
	{                                                             \
		sec, name, type, offsetof(struct st, field), min, max \
	}
#define ROUTE_KEY(name, type, field, min, max) \
	NAMED_KEY("route", profile_route, name, type, field, min, max)
#define BACKEND_KEY(name, type, field, min, max) \
	NAMED_KEY("backend", profile_backend, name, type, field, min, max)
#define GROUP_KEY(name, type, field, min, max) \
	NAMED_KEY("group", profile_group, name, type, field, min, max)
#define PEER_KEY(name, type, field, min, max) \
	NAMED_KEY("peer", profile_peer, name, type, field, min, max)

/* Upper bounds: sizes far beyond what one worker's memory could hold. */
#define SIZE_MAX_ENTRIES (1u << 26)

/*
 * workers.shed_depth default: 256 requests waiting on one queue is about
 * 100 us of a worker's work at the ~3 M answers/s measured on the lab
 * machine (docs/benchmarks.md); past that a trading client is better told
 * BUSY at once than answered late. Far above what a closed-loop client
 * keeps in flight per queue (latch-bench's runs: 1 to 64).
 */
#define PROFILE_SHED_DEPTH_DEFAULT 256

static const struct key_desc node_keys[] = {
	NODE_KEY("node", "name", KEY_STR, name, 1,
		 sizeof(((struct profile *)0)->name) - 1),
	NODE_KEY("node", "id", KEY_U32, node_id, 1, UINT32_MAX),
	NODE_KEY("node", "port_base", KEY_U16, port_base, 1024, 65535),
	NODE_KEY("node", "run_dir", KEY_STR, run_dir, 1, PROFILE_STR_MAX - 1),
	NODE_KEY("node", "state_dir", KEY_STR, state_dir, 1,
		 PROFILE_STR_MAX - 1),
	NODE_KEY("node", "group", KEY_U32, group, 0, UINT32_MAX),
	NODE_KEY("node", "repl_port_base", KEY_U16, repl_port_base, 1024,
		 65535),
	NODE_KEY("eal", "lcores", KEY_STR, eal_lcores, 1, PROFILE_STR_MAX - 1),
	NODE_KEY("eal", "args", KEY_STR, eal_args, 0, PROFILE_STR_MAX - 1),
	NODE_KEY("workers", "count", KEY_U16, workers, 1, LATCH_PARTITIONS_MAX),
	NODE_KEY("workers", "idle", KEY_IDLE, idle, 0, 2),
	NODE_KEY("workers", "idle_pause_polls", KEY_U32, idle_pause_polls, 1,
		 1u << 30),
	NODE_KEY("workers", "idle_sleep_polls", KEY_U32, idle_sleep_polls, 1,
		 1u << 30),
	NODE_KEY("workers", "idle_yield_polls", KEY_U32, idle_yield_polls, 1,
		 1u << 30),
	NODE_KEY("workers", "idle_sleep_us", KEY_U32, idle_sleep_us, 1, 100000),
	NODE_KEY("workers", "burst", KEY_U16, burst, 1, 256),
	NODE_KEY("workers", "shed_depth", KEY_U32, shed_depth, 0,
		 PROFILE_SHED_DEPTH_MAX),
	NODE_KEY("workers", "mbufs", KEY_U32, mbufs, 1023, SIZE_MAX_ENTRIES),
	NODE_KEY("workers", "ring_size", KEY_U32, ring_size, 64, 1u << 20),
	NODE_KEY("workers", "pktgen_reflect", KEY_BOOL, pktgen_reflect, 0, 1),
	NODE_KEY("table", "locks_max", KEY_U32, locks_max, 16,
		 SIZE_MAX_ENTRIES),
	NODE_KEY("table", "holders_max", KEY_U32, holders_max, 16,
		 SIZE_MAX_ENTRIES),
	NODE_KEY("table", "waiters_max", KEY_U32, waiters_max, 16,
		 SIZE_MAX_ENTRIES),
	NODE_KEY("table", "sessions_max", KEY_U32, sessions_max, 16,
		 SIZE_MAX_ENTRIES),
	NODE_KEY("table", "dedup_max", KEY_U32, dedup_max, 16,
		 SIZE_MAX_ENTRIES),
	NODE_KEY("table", "notify_max", KEY_U32, notify_max, 16,
		 SIZE_MAX_ENTRIES),
	NODE_KEY("table", "timer_slots", KEY_U32, timer_slots, 64, 1u << 24),
	/* Rounded up to a power of two; conntrack.h's CONNTRACK_ENTRIES_MAX. */
	NODE_KEY("table", "conntrack_max", KEY_U32, conntrack_max, 0, 1u << 24),
	NODE_KEY("lease", "default_ms", KEY_U32, lease_default_ms, 1,
		 UINT32_MAX),
	NODE_KEY("lease", "max_ms", KEY_U32, lease_max_ms, 1, UINT32_MAX),
	NODE_KEY("lease", "wait_default_ms", KEY_U32, wait_default_ms, 1,
		 UINT32_MAX),
	NODE_KEY("lease", "wait_max_ms", KEY_U32, wait_max_ms, 1, UINT32_MAX),
	NODE_KEY("lease", "session_default_ms", KEY_U32, session_default_ms, 1,
		 UINT32_MAX),
	NODE_KEY("lease", "session_max_ms", KEY_U32, session_max_ms, 1,
		 UINT32_MAX),
	NODE_KEY("lease", "notify_retry_ms", KEY_U32, notify_retry_ms, 1,
		 60000),
	NODE_KEY("lease", "notify_retries", KEY_U32, notify_retries, 1, 1000),
	NODE_KEY("control", "state_dir", KEY_STR, control_state_dir, 1,
		 PROFILE_STR_MAX - 1),
	NODE_KEY("control", "api_socket", KEY_STR, control_api_socket, 1,
		 PROFILE_STR_MAX - 1),
	NODE_KEY("control", "latchd_socket", KEY_STR, control_latchd_socket, 1,
		 PROFILE_STR_MAX - 1),
	NODE_KEY("control", "http", KEY_ADDRPORT, control_http, 0, 0),
	NODE_KEY("control", "mgmt_addr", KEY_ADDRPORT, control_mgmt, 0, 0),
	/* 2 ms: the timers tick in ms and a heartbeat must fit twice
	 * (a few ms suits dedicated cores on a quiet management network;
	 * docs/operations.md); 60 s: beyond any useful failover time. */
	NODE_KEY("control", "election_ms", KEY_U32, control_election_ms, 2,
		 60000),
	NODE_KEY("control", "heartbeat_ms", KEY_U32, control_heartbeat_ms, 1,
		 30000),
	/* 0: the heartbeat period; 1 ms: the timers' tick. */
	NODE_KEY("control", "beacon_ms", KEY_U32, control_beacon_ms, 0, 30000),
	NODE_KEY("control", "latchd_poll_ms", KEY_U32, control_latchd_poll_ms,
		 10, 60000),
	NODE_KEY("control", "bootstrap", KEY_BOOL, control_bootstrap, 0, 1),
};

static const struct key_desc port_keys[] = {
	PORT_KEY("vdev", KEY_STR, devargs, 1, PROFILE_STR_MAX - 1),
	PORT_KEY("pci", KEY_STR, devargs, 1, PROFILE_STR_MAX - 1),
	PORT_KEY("role", KEY_ROLE, role, 0, 2),
	PORT_KEY("addr", KEY_IPV4, addr_be, 0, 0),
	PORT_KEY("rx_desc", KEY_U16, rx_desc, 64, 32768),
	PORT_KEY("tx_desc", KEY_U16, tx_desc, 64, 32768),
	PORT_KEY("mtu", KEY_U16, mtu, 576, 9600),
	PORT_KEY("peer", KEY_STR, peer, 1, PROFILE_NAME_MAX - 1),
};

static const struct key_desc route_keys[] = {
	ROUTE_KEY("match", KEY_PORTS, match, 0, 0),
	ROUTE_KEY("key", KEY_RKEY, key, 0, 0),
	ROUTE_KEY("pool", KEY_STR, pool, 1, PROFILE_NAME_MAX - 1),
	ROUTE_KEY("default", KEY_STR, default_backend, 0, PROFILE_NAME_MAX - 1),
	/* Maglev's bound (maglev.h, MAGLEV_SIZE_MAX); primality is checked
	 * when the table is built (latchd --check-config does). */
	ROUTE_KEY("table_size", KEY_U32, table_size, 0, 1u << 24),
	/* Connection tracking; the idle bound is CONNTRACK_IDLE_MS_MAX. */
	ROUTE_KEY("conntrack", KEY_BOOL, conntrack, 0, 1),
	ROUTE_KEY("conntrack_idle_ms", KEY_U32, conntrack_idle_ms, 1,
		  86400000u),
};

static const struct key_desc backend_keys[] = {
	BACKEND_KEY("pool", KEY_STR, pool, 1, PROFILE_NAME_MAX - 1),
	BACKEND_KEY("addr", KEY_IPV4, addr_be, 0, 0),
	BACKEND_KEY("mac", KEY_MAC, mac, 0, 0),
	BACKEND_KEY("port", KEY_U16, udp_port, 1, 65535),
	/* Maglev's bound on turns per round (maglev.h, MAGLEV_WEIGHT_MAX). */
	BACKEND_KEY("weight", KEY_U16, weight, 0, 1000),
	BACKEND_KEY("state", KEY_STATE, up, 0, 1),
	BACKEND_KEY("via", KEY_STR, via, 1, PROFILE_NAME_MAX - 1),
};

static const struct key_desc group_keys[] = {
	GROUP_KEY("id", KEY_U32, id, 1, UINT32_MAX),
	GROUP_KEY("addr", KEY_IPV4, addr_be, 0, 0),
	GROUP_KEY("mac", KEY_MAC, mac, 0, 0),
	GROUP_KEY("via", KEY_STR, via, 1, PROFILE_NAME_MAX - 1),
};

static const struct key_desc peer_keys[] = {
	PEER_KEY("id", KEY_U32, id, 0, PROFILE_CLUSTER_ID_MAX),
	PEER_KEY("mgmt", KEY_ADDRPORT, mgmt, 0, 0),
	PEER_KEY("data", KEY_IPV4, data_be, 0, 0),
	PEER_KEY("mac", KEY_MAC, mac, 0, 0),
	PEER_KEY("bootstrap", KEY_BOOL, bootstrap, 0, 1),
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void port_defaults(void *elem, const char *name);
static void route_defaults(void *elem, const char *name);
static void backend_defaults(void *elem, const char *name);
static void group_defaults(void *elem, const char *name);
static void peer_defaults(void *elem, const char *name);

/*
 * Sections that repeat with a name ([port NAME], [route NAME], ...): where
 * their array lives in struct profile and which keys they take. Every
 * element starts with its name (char[PROFILE_NAME_MAX]).
 */
struct named_kind {
	const char *section;
	const struct key_desc *keys;
	size_t keys_count;
	const char *known; /* the key names, for error messages */
	size_t array_off;
	size_t count_off;
	size_t elem_size;
	unsigned max;
	void (*defaults)(void *elem, const char *name);
};

#define NAMED_KIND(sec, keys, known, arr, cnt, max, dflt)                \
	{                                                                \
		sec, keys, ARRAY_SIZE(keys), known,                      \
			offsetof(struct profile, arr),                   \
			offsetof(struct profile, cnt),                   \
			sizeof(((struct profile *)0)->arr[0]), max, dflt \
	}

static const struct named_kind named_kinds[] = {
	NAMED_KIND("port", port_keys,
		   "vdev, pci, role, addr, rx_desc, "
		   "tx_desc, mtu, peer",
		   ports, ports_count, PROFILE_PORTS_MAX, port_defaults),
	NAMED_KIND("route", route_keys,
		   "match, key, pool, default, "
		   "table_size, conntrack, conntrack_idle_ms",
		   routes, routes_count, PROFILE_ROUTES_MAX, route_defaults),
	NAMED_KIND("backend", backend_keys,
		   "pool, addr, mac, port, weight, "
		   "state, via",
		   backends, backends_count, PROFILE_BACKENDS_MAX,
		   backend_defaults),
	NAMED_KIND("group", group_keys, "id, addr, mac, via", groups,
		   groups_count, PROFILE_GROUPS_MAX, group_defaults),
	NAMED_KIND("peer", peer_keys, "id, mgmt, data, mac, bootstrap", peers,
		   peers_count, PROFILE_PEERS_MAX, peer_defaults),
};

_Static_assert(sizeof(((struct profile_port *)0)->name) == PROFILE_NAME_MAX,
	       "every named section starts with a name of PROFILE_NAME_MAX");
_Static_assert(offsetof(struct profile_port, name) == 0 &&
		       offsetof(struct profile_route, name) == 0 &&
		       offsetof(struct profile_backend, name) == 0 &&
		       offsetof(struct profile_group, name) == 0 &&
		       offsetof(struct profile_peer, name) == 0,
	       "named sections start with their name");

static const struct named_kind *
named_kind_find(const char *section)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(named_kinds); i++)
		if (!strcmp(named_kinds[i].section, section))
			return &named_kinds[i];
	return NULL;
}

static void
errs_add(struct profile_errors *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs == NULL)
		return;
	if (errs->count >= PROFILE_ERRORS_MAX) {
		/* Keep the last slot saying that more were found. */
		snprintf(errs->msg[PROFILE_ERRORS_MAX - 1],
			 sizeof(errs->msg[0]),
			 "more errors follow; fix the ones above first.");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(errs->msg[errs->count], sizeof(errs->msg[0]), fmt, ap);
	va_end(ap);
	errs->count++;
}

void
profile_defaults(struct profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "latch");
	p->node_id = 1;
	p->port_base = LATCH_PORT_BASE_DEFAULT;
	snprintf(p->run_dir, sizeof(p->run_dir), "/run/latch/latch");
	snprintf(p->state_dir, sizeof(p->state_dir), "/var/lib/latch/latch");
	p->workers = 1;
	p->idle = PROFILE_IDLE_POLL;
	p->idle_pause_polls = 64;
	p->idle_sleep_polls = 1024;
	p->idle_yield_polls = 16;
	p->idle_sleep_us = 200;
	p->burst = 32;
	p->shed_depth = PROFILE_SHED_DEPTH_DEFAULT;
	p->mbufs = 8191;
	p->ring_size = 1024;
	p->locks_max = 65536;
	p->holders_max = 65536;
	p->waiters_max = 65536;
	p->sessions_max = 16384;
	p->dedup_max = 65536;
	p->notify_max = 4096;
	p->timer_slots = 4096;
	/* 64 Ki flows: 2.5 MiB a worker, untouched until flows arrive. */
	p->conntrack_max = 65536;
	p->lease_default_ms = 10000;
	p->lease_max_ms = 600000;
	p->wait_default_ms = 5000;
	p->wait_max_ms = 60000;
	p->session_default_ms = 5000;
	p->session_max_ms = 60000;
	p->notify_retry_ms = 20;
	p->notify_retries = 10;
	/* Raft's usual figures (paper §5.6: broadcast time << election
	 * timeout): a management LAN answers in well under 10 ms. */
	p->control_election_ms = 1000;
	p->control_heartbeat_ms = 100;
	/* latchd's liveness is judged from its status answers: a few per
	 * election timeout so a dead dataplane is seen before a new term. */
	p->control_latchd_poll_ms = 250;
}

static void
port_defaults(void *elem, const char *name)
{
	struct profile_port *port = elem;

	memset(port, 0, sizeof(*port));
	snprintf(port->name, sizeof(port->name), "%s", name);
	port->role = PROFILE_PORT_CLIENT;
	port->rx_desc = 1024;
	port->tx_desc = 1024;
	port->mtu = 1500;
}

static void
route_defaults(void *elem, const char *name)
{
	struct profile_route *r = elem;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->key.kind = PROFILE_KEY_NONE;
}

static void
backend_defaults(void *elem, const char *name)
{
	struct profile_backend *b = elem;

	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->weight = 1;
	b->up = true;
}

static void
group_defaults(void *elem, const char *name)
{
	struct profile_group *g = elem;

	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
}

static void
peer_defaults(void *elem, const char *name)
{
	struct profile_peer *peer = elem;

	memset(peer, 0, sizeof(*peer));
	snprintf(peer->name, sizeof(peer->name), "%s", name);
	/* UINT32_MAX: "no id given", told apart from the valid id 0. */
	peer->id = UINT32_MAX;
	peer->bootstrap = true;
}

int
profile_parse_addr_port(const char *s, struct profile_addr_port *out)
{
	char buf[INET_ADDRSTRLEN + 8];
	const char *colon = strrchr(s, ':');
	struct in_addr a;
	unsigned long port;
	char *end;

	if (colon == NULL || (size_t)(colon - s) >= INET_ADDRSTRLEN ||
	    !isdigit((unsigned char)colon[1]))
		return -EINVAL;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -EINVAL;
	out->addr_be = a.s_addr;
	out->port = (uint16_t)port;
	return 0;
}

int
profile_parse_port_range(const char *s, struct profile_port_range *out)
{
	unsigned long a, b;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return -EINVAL;
		b = strtoul(end + 1, &end, 10);
	}
	if (errno != 0 || *end != '\0' || a == 0 || a > 65535 || b > 65535 ||
	    a > b)
		return -EINVAL;
	out->first = (uint16_t)a;
	out->last = (uint16_t)b;
	return 0;
}

int
profile_parse_route_key(const char *s, struct profile_route_key *out)
{
	unsigned long off, len;
	char *end;

	if (!strcmp(s, "5tuple")) {
		out->kind = PROFILE_KEY_5TUPLE;
		out->off = out->len = 0;
		return 0;
	}
	if (!strcmp(s, "latch")) {
		out->kind = PROFILE_KEY_LATCH;
		out->off = out->len = 0;
		return 0;
	}
	if (strncmp(s, "payload:", 8) != 0 || !isdigit((unsigned char)s[8]))
		return -EINVAL;
	errno = 0;
	off = strtoul(s + 8, &end, 10);
	if (*end != ':' || !isdigit((unsigned char)end[1]))
		return -EINVAL;
	len = strtoul(end + 1, &end, 10);
	/* 65507: the largest UDP payload over IPv4 (RFC 768, RFC 791). */
	if (errno != 0 || *end != '\0' || len == 0 ||
	    len > PROFILE_PAYLOAD_KEY_MAX || off + len > 65507)
		return -EINVAL;
	out->kind = PROFILE_KEY_PAYLOAD;
	out->off = (uint16_t)off;
	out->len = (uint16_t)len;
	return 0;
}

void
profile_route_key_text(const struct profile_route_key *k, char *out,
		       unsigned size)
{
	switch (k->kind) {
	case PROFILE_KEY_5TUPLE:
		snprintf(out, size, "5tuple");
		break;
	case PROFILE_KEY_LATCH:
		snprintf(out, size, "latch");
		break;
	case PROFILE_KEY_PAYLOAD:
		snprintf(out, size, "payload:%u:%u", k->off, k->len);
		break;
	default:
		snprintf(out, size, "none");
		break;
	}
}

int
profile_port_index(const struct profile *p, const char *name)
{
	unsigned i;

	for (i = 0; i < p->ports_count; i++)
		if (!strcmp(p->ports[i].name, name))
			return (int)i;
	return -1;
}

int
profile_peer_index(const struct profile *p, const char *name)
{
	unsigned i;

	for (i = 0; i < p->peers_count; i++)
		if (!strcmp(p->peers[i].name, name))
			return (int)i;
	return -1;
}

const char *
profile_port_role_name(uint8_t role)
{
	switch (role) {
	case PROFILE_PORT_BENCH:
		return "bench";
	case PROFILE_PORT_PEER:
		return "peer";
	default:
		return "client";
	}
}

static bool
mac_parse(const char *v, uint8_t mac[6])
{
	unsigned b[6], i;
	char extra;

	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &extra) != 6 ||
	    strlen(v) != 17)
		return false;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return true;
}

static bool
mac_is_zero(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) == 0;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool
parse_u64(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (*v == '\0' || *v == '-')
		return false;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno != 0 || *end != '\0')
		return false;
	*out = x;
	return true;
}

/* Store @value for key @k into @base; on error add a sentence to @errs. */
static int
key_set(const struct key_desc *k, void *base, const char *value,
	const char *where, struct profile_errors *errs)
{
	uint8_t *field = (uint8_t *)base + k->offset;
	uint64_t x;
	struct in_addr a;

	switch (k->type) {
	case KEY_U16:
	case KEY_U32:
		if (!parse_u64(value, &x)) {
			errs_add(errs, "%s: %s.%s must be a number, not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		if (x < k->min || x > k->max) {
			errs_add(errs,
				 "%s: %s.%s = %llu is out of range; it must be "
				 "between %llu and %llu.",
				 where, k->section, k->name,
				 (unsigned long long)x,
				 (unsigned long long)k->min,
				 (unsigned long long)k->max);
			return -EINVAL;
		}
		if (k->type == KEY_U16)
			*(uint16_t *)field = (uint16_t)x;
		else
			*(uint32_t *)field = (uint32_t)x;
		return 0;
	case KEY_STR:
		if (strlen(value) < k->min || strlen(value) > k->max) {
			errs_add(errs,
				 "%s: %s.%s must be %llu to %llu characters "
				 "long.",
				 where, k->section, k->name,
				 (unsigned long long)k->min,
				 (unsigned long long)k->max);
			return -EINVAL;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case KEY_BOOL:
		if (!strcmp(value, "yes") || !strcmp(value, "true") ||
		    !strcmp(value, "1"))
			*(bool *)field = true;
		else if (!strcmp(value, "no") || !strcmp(value, "false") ||
			 !strcmp(value, "0"))
			*(bool *)field = false;
		else {
			errs_add(errs, "%s: %s.%s must be yes or no, not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_IDLE:
		if (!strcmp(value, "poll"))
			*field = PROFILE_IDLE_POLL;
		else if (!strcmp(value, "pause"))
			*field = PROFILE_IDLE_PAUSE;
		else if (!strcmp(value, "sleep"))
			*field = PROFILE_IDLE_SLEEP;
		else {
			errs_add(errs,
				 "%s: workers.idle must be poll, pause or "
				 "sleep, not '%s'.",
				 where, value);
			return -EINVAL;
		}
		return 0;
	case KEY_ROLE:
		if (!strcmp(value, "client"))
			*field = PROFILE_PORT_CLIENT;
		else if (!strcmp(value, "bench"))
			*field = PROFILE_PORT_BENCH;
		else if (!strcmp(value, "peer"))
			*field = PROFILE_PORT_PEER;
		else {
			errs_add(errs,
				 "%s: a port's role must be client, bench or "
				 "peer, not '%s'.",
				 where, value);
			return -EINVAL;
		}
		return 0;
	case KEY_IPV4:
		if (inet_pton(AF_INET, value, &a) != 1) {
			errs_add(errs,
				 "%s: %s.%s must be an IPv4 address such as "
				 "198.18.0.1, not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		*(uint32_t *)field = a.s_addr;
		return 0;
	case KEY_PORTS:
		if (profile_parse_port_range(
			    value, (struct profile_port_range *)field) != 0) {
			errs_add(errs,
				 "%s: %s.%s must be a UDP port or a range such "
				 "as 8000-8010 (1 to 65535), not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_RKEY:
		if (profile_parse_route_key(
			    value, (struct profile_route_key *)field) != 0) {
			errs_add(errs,
				 "%s: %s.%s must be 5tuple, latch or "
				 "payload:OFFSET:LEN (LEN 1 to %d), not '%s'.",
				 where, k->section, k->name,
				 PROFILE_PAYLOAD_KEY_MAX, value);
			return -EINVAL;
		}
		return 0;
	case KEY_MAC:
		if (!mac_parse(value, field) || mac_is_zero(field)) {
			errs_add(errs,
				 "%s: %s.%s must be an Ethernet address such "
				 "as 02:00:00:00:00:01, not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_ADDRPORT:
		if (profile_parse_addr_port(
			    value, (struct profile_addr_port *)field) != 0) {
			errs_add(errs,
				 "%s: %s.%s must be IPv4:port such as "
				 "127.0.0.1:7480, not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		return 0;
	case KEY_STATE:
		if (!strcmp(value, "up"))
			*(bool *)field = true;
		else if (!strcmp(value, "down"))
			*(bool *)field = false;
		else {
			errs_add(errs,
				 "%s: %s.%s must be up or down, not '%s'.",
				 where, k->section, k->name, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static const struct key_desc *
key_find(const struct key_desc *keys, size_t n, const char *section,
	 const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(keys[i].section, section) &&
		    !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* The element of kind @nk named @name, added with defaults if new. */
static void *
named_find_or_add(struct profile *p, const struct named_kind *nk,
		  const char *name, const char *where,
		  struct profile_errors *errs)
{
	uint8_t *array = (uint8_t *)p + nk->array_off;
	uint16_t *count = (uint16_t *)((uint8_t *)p + nk->count_off);
	unsigned i;

	for (i = 0; i < *count; i++)
		if (!strcmp((const char *)(array + i * nk->elem_size), name))
			return array + i * nk->elem_size;
	if (strlen(name) == 0 || strlen(name) >= PROFILE_NAME_MAX) {
		errs_add(errs, "%s: a %s needs a name of 1 to %d characters.",
			 where, nk->section, PROFILE_NAME_MAX - 1);
		return NULL;
	}
	if (*count == nk->max) {
		errs_add(errs, "%s: at most %u %s sections are supported.",
			 where, nk->max, nk->section);
		return NULL;
	}
	nk->defaults(array + *count * nk->elem_size, name);
	return array + (*count)++ * nk->elem_size;
}

/* Set SECTION.KEY (or the named section ELEM's KEY) to VALUE. */
static int
profile_set(struct profile *p, const char *section, const char *elem_name,
	    const char *name, const char *value, const char *where,
	    struct profile_errors *errs)
{
	const struct named_kind *nk;
	const struct key_desc *k;
	void *elem;

	if (elem_name != NULL) {
		nk = named_kind_find(section);
		if (nk == NULL) {
			errs_add(errs, "%s: unknown section kind '%s'.", where,
				 section);
			return -EINVAL;
		}
		k = key_find(nk->keys, nk->keys_count, section, name);
		if (k == NULL) {
			errs_add(errs,
				 "%s: unknown key '%s' in [%s %s]; known: "
				 "%s.",
				 where, name, section, elem_name, nk->known);
			return -EINVAL;
		}
		elem = named_find_or_add(p, nk, elem_name, where, errs);
		if (elem == NULL)
			return -EINVAL;
		if (!strcmp(section, "port") && !strcmp(name, "vdev"))
			((struct profile_port *)elem)->is_vdev = true;
		else if (!strcmp(section, "port") && !strcmp(name, "pci"))
			((struct profile_port *)elem)->is_vdev = false;
		return key_set(k, elem, value, where, errs);
	}
	k = key_find(node_keys, ARRAY_SIZE(node_keys), section, name);
	if (k == NULL) {
		errs_add(errs, "%s: unknown key '%s' in [%s].", where, name,
			 section);
		return -EINVAL;
	}
	return key_set(k, p, value, where, errs);
}

static bool
section_known(const char *section)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(node_keys); i++)
		if (!strcmp(node_keys[i].section, section))
			return true;
	return false;
}

static int
profile_parse_file(struct profile *p, const char *path,
		   struct profile_errors *errs)
{
	char line[1024], where[PROFILE_STR_MAX + 32];
	char section[64] = "", elem_name[64] = "";
	const struct named_kind *nk = NULL;
	unsigned lineno = 0;
	int rc = 0;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		errs_add(errs, "%s: cannot read the profile: %s.", path,
			 strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *hash;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			errs_add(errs, "%s: line longer than %zu characters.",
				 where, sizeof(line) - 2);
			rc = -EINVAL;
			break;
		}
		hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (end == NULL || end[1] != '\0') {
				errs_add(errs,
					 "%s: a section header looks "
					 "like [name] or [port NAME].",
					 where);
				rc = -EINVAL;
				continue;
			}
			*end = '\0';
			s = trim(s + 1);
			/* "[kind NAME]": the first word names the kind. */
			size_t word = strcspn(s, " \t");

			bool named = s[word] != '\0';

			nk = NULL;
			if (named) {
				s[word] = '\0';
				nk = named_kind_find(s);
				snprintf(elem_name, sizeof(elem_name), "%s",
					 trim(s + word + 1));
			}
			if (nk != NULL) {
				if (named_find_or_add(p, nk, elem_name, where,
						      errs) == NULL)
					rc = -EINVAL;
			} else if (named || !section_known(s)) {
				errs_add(errs,
					 "%s: unknown section [%s]; known: "
					 "node, eal, workers, table, lease, "
					 "control, port NAME, route NAME, "
					 "backend NAME, group NAME, peer NAME.",
					 where, s);
				rc = -EINVAL;
			}
			snprintf(section, sizeof(section), "%s", s);
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			errs_add(errs, "%s: expected 'key = value'.", where);
			rc = -EINVAL;
			continue;
		}
		*eq = '\0';
		if (section[0] == '\0') {
			errs_add(errs, "%s: key '%s' comes before any section.",
				 where, trim(s));
			rc = -EINVAL;
			continue;
		}
		if (profile_set(p, section, nk != NULL ? elem_name : NULL,
				trim(s), trim(eq + 1), where, errs) != 0)
			rc = -EINVAL;
	}
	fclose(f);
	return rc;
}

/* Apply one "section.key=value" or "port.NAME.key=value" override. */
static int
profile_override(struct profile *p, const char *ov, struct profile_errors *errs)
{
	char buf[PROFILE_STR_MAX * 2], where[PROFILE_STR_MAX * 2 + 16];
	char *eq, *dot, *dot2;

	snprintf(where, sizeof(where), "--set %s", ov);
	if (strlen(ov) >= sizeof(buf)) {
		errs_add(errs, "%s: too long.", where);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", ov);
	eq = strchr(buf, '=');
	dot = strchr(buf, '.');
	if (eq == NULL || dot == NULL || dot > eq) {
		errs_add(errs,
			 "%s: an override looks like section.key=value or "
			 "port.NAME.key=value.",
			 where);
		return -EINVAL;
	}
	*eq = '\0';
	*dot = '\0';
	if (named_kind_find(buf) != NULL) {
		dot2 = strrchr(dot + 1, '.');
		if (dot2 == NULL) {
			errs_add(errs,
				 "%s: a %s override looks like "
				 "%s.NAME.key=value.",
				 where, buf, buf);
			return -EINVAL;
		}
		*dot2 = '\0';
		return profile_set(p, buf, dot + 1, dot2 + 1, eq + 1, where,
				   errs);
	}
	return profile_set(p, buf, NULL, dot + 1, eq + 1, where, errs);
}

static bool
is_pow2(uint32_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static bool
pool_exists(const struct profile *p, const char *pool)
{
	unsigned i;

	for (i = 0; i < p->backends_count; i++)
		if (!strcmp(p->backends[i].pool, pool))
			return true;
	return false;
}

static const struct profile_backend *
backend_find(const struct profile *p, const char *name)
{
	unsigned i;

	for (i = 0; i < p->backends_count; i++)
		if (!strcmp(p->backends[i].name, name))
			return &p->backends[i];
	return NULL;
}

/*
 * [route], [backend], [group] and node.group: each section complete, names
 * resolve, ranges stay off the lock ports and off each other. What only
 * building the tables can tell (Maglev sizes) latchd --check-config adds.
 */
static void
profile_check_routing(const struct profile *p, struct profile_errors *errs)
{
	uint32_t lock_first = p->port_base, lock_last = p->port_base;
	unsigned i, j, own = 0;

	if (p->workers > 0)
		lock_last = p->port_base + p->workers - 1u;
	for (i = 0; i < p->routes_count; i++) {
		const struct profile_route *r = &p->routes[i];
		const struct profile_backend *d;

		if (r->match.first == 0)
			errs_add(errs,
				 "[route %s] has no match: give its UDP "
				 "destination ports, e.g. match = 8000-8010.",
				 r->name);
		else if (r->match.last >= lock_first &&
			 r->match.first <= lock_last)
			errs_add(errs,
				 "[route %s] match %u-%u overlaps the lock "
				 "ports "
				 "%u-%u (node.port_base + workers).",
				 r->name, r->match.first, r->match.last,
				 lock_first, lock_last);
		if (r->key.kind == PROFILE_KEY_NONE)
			errs_add(errs,
				 "[route %s] has no key: say 5tuple, latch or "
				 "payload:OFFSET:LEN.",
				 r->name);
		if (r->pool[0] == '\0')
			errs_add(errs,
				 "[route %s] has no pool: name the pool of its "
				 "backends (pool = NAME).",
				 r->name);
		else if (!pool_exists(p, r->pool))
			errs_add(errs,
				 "[route %s] pool '%s' has no [backend] "
				 "(a backend joins it with pool = %s).",
				 r->name, r->pool, r->pool);
		if (r->default_backend[0] != '\0') {
			d = backend_find(p, r->default_backend);
			if (d == NULL || strcmp(d->pool, r->pool) != 0)
				errs_add(errs,
					 "[route %s] default '%s' is not a "
					 "backend of its pool '%s'.",
					 r->name, r->default_backend, r->pool);
		}
		for (j = 0; j < i; j++) {
			const struct profile_route *o = &p->routes[j];

			if (r->match.first != 0 && o->match.first != 0 &&
			    r->match.first <= o->match.last &&
			    o->match.first <= r->match.last)
				errs_add(errs,
					 "[route %s] and [route %s] match "
					 "overlapping ports.",
					 o->name, r->name);
		}
	}
	for (i = 0; i < p->backends_count; i++) {
		const struct profile_backend *b = &p->backends[i];

		if (b->pool[0] == '\0')
			errs_add(errs,
				 "[backend %s] has no pool: say which pool it "
				 "serves (pool = NAME).",
				 b->name);
		if (b->addr_be == 0)
			errs_add(errs, "[backend %s] has no addr.", b->name);
		if (mac_is_zero(b->mac))
			errs_add(errs,
				 "[backend %s] has no mac: give the Ethernet "
				 "address of its next hop (latchd does not "
				 "resolve it by ARP).",
				 b->name);
		if (b->udp_port == 0)
			errs_add(errs, "[backend %s] has no port.", b->name);
		if (b->via[0] != '\0' && profile_port_index(p, b->via) < 0)
			errs_add(errs, "[backend %s] via '%s' is not a [port].",
				 b->name, b->via);
	}
	for (i = 0; i < p->groups_count; i++) {
		const struct profile_group *g = &p->groups[i];

		if (g->id == 0) {
			errs_add(errs, "[group %s] has no id.", g->name);
			continue;
		}
		if (g->id == p->group)
			own++;
		else if (g->addr_be == 0 || mac_is_zero(g->mac))
			errs_add(errs,
				 "[group %s] needs addr and mac: requests for "
				 "its keys are forwarded there.",
				 g->name);
		if (g->via[0] != '\0' && profile_port_index(p, g->via) < 0)
			errs_add(errs, "[group %s] via '%s' is not a [port].",
				 g->name, g->via);
		for (j = 0; j < i; j++)
			if (p->groups[j].id == g->id)
				errs_add(errs,
					 "[group %s] and [group %s] have the "
					 "same id %u.",
					 p->groups[j].name, g->name, g->id);
	}
	if (p->groups_count > 0 && p->group == 0)
		errs_add(errs, "[group] sections need node.group: the id of "
			       "the group this node belongs to.");
	else if (p->group != 0 && own == 0)
		errs_add(errs,
			 "node.group %u has no [group] with that id: list "
			 "every group of the rack, this node's included.",
			 p->group);
}

/*
 * [control] and [peer]: each peer complete, ids and addresses unique, ids
 * fit Raft's node masks, heartbeats well inside the election timeout.
 */
static void
profile_check_control(const struct profile *p, struct profile_errors *errs)
{
	unsigned i, j;

	/* Paper §5.6: heartbeats must arrive several times per election
	 * timeout, or followers start elections while the leader lives. */
	if ((uint64_t)p->control_heartbeat_ms * 2 > p->control_election_ms)
		errs_add(errs,
			 "control.heartbeat_ms %u must be at most half of "
			 "control.election_ms %u.",
			 p->control_heartbeat_ms, p->control_election_ms);
	if (p->control_beacon_ms > p->control_heartbeat_ms)
		errs_add(errs,
			 "control.beacon_ms %u must be at most "
			 "control.heartbeat_ms %u (0: the same).",
			 p->control_beacon_ms, p->control_heartbeat_ms);
	if (p->peers_count > 0 && p->node_id > PROFILE_CLUSTER_ID_MAX)
		errs_add(errs,
			 "node.id %u is above %u: with [peer] sections the "
			 "node id is its Raft id (node sets are 8-bit masks).",
			 p->node_id, PROFILE_CLUSTER_ID_MAX);
	if (p->peers_count > 0 &&
	    (uint32_t)profile_repl_port_base(p) + p->workers > 65536)
		errs_add(errs,
			 "node.repl_port_base %u + workers.count %u runs past "
			 "UDP port 65535.",
			 profile_repl_port_base(p), p->workers);
	else if (p->peers_count > 0 &&
		 profile_repl_port_base(p) < p->port_base + p->workers &&
		 profile_repl_port_base(p) + p->workers > p->port_base)
		errs_add(errs,
			 "node.repl_port_base %u overlaps the lock ports "
			 "%u-%u (node.port_base + workers).",
			 profile_repl_port_base(p), p->port_base,
			 p->port_base + p->workers - 1u);
	if (p->peers_count > 0 && p->control_mgmt.addr_be == 0)
		errs_add(errs, "[peer] sections need control.mgmt_addr: the "
			       "address peers reach this node's latch-control "
			       "at.");
	for (i = 0; i < p->peers_count; i++) {
		const struct profile_peer *peer = &p->peers[i];

		if (peer->id == UINT32_MAX)
			errs_add(errs, "[peer %s] has no id.", peer->name);
		else if (peer->id == p->node_id)
			errs_add(errs,
				 "[peer %s] has id %u, this node's own "
				 "node.id.",
				 peer->name, peer->id);
		if (peer->mgmt.addr_be == 0)
			errs_add(errs,
				 "[peer %s] has no mgmt: give its "
				 "latch-control's IPv4:port.",
				 peer->name);
		else if (peer->mgmt.addr_be == p->control_mgmt.addr_be &&
			 peer->mgmt.port == p->control_mgmt.port)
			errs_add(errs,
				 "[peer %s] mgmt is this node's own "
				 "control.mgmt_addr.",
				 peer->name);
		for (j = 0; j < i; j++) {
			const struct profile_peer *o = &p->peers[j];

			if (o->id == peer->id && peer->id != UINT32_MAX)
				errs_add(errs,
					 "[peer %s] and [peer %s] have the "
					 "same id %u.",
					 o->name, peer->name, peer->id);
			if (o->mgmt.addr_be == peer->mgmt.addr_be &&
			    o->mgmt.port == peer->mgmt.port &&
			    peer->mgmt.addr_be != 0)
				errs_add(errs,
					 "[peer %s] and [peer %s] have the "
					 "same mgmt address.",
					 o->name, peer->name);
		}
	}
}

/*
 * Peer links (role = peer): each names one [peer] section, and no peer
 * has two links.
 */
static void
profile_check_links(const struct profile *p, struct profile_errors *errs)
{
	unsigned i, j;

	for (i = 0; i < p->ports_count; i++) {
		const struct profile_port *port = &p->ports[i];

		if (port->role != PROFILE_PORT_PEER) {
			if (port->peer[0] != '\0')
				errs_add(errs,
					 "[port %s] names peer %s but its role "
					 "is not peer.",
					 port->name, port->peer);
			continue;
		}
		if (port->addr_be != 0)
			errs_add(errs,
				 "[port %s] is a peer link: it has no addr of "
				 "its own (replication on it is addressed to "
				 "the nodes' client ports); remove addr.",
				 port->name);
		if (port->peer[0] == '\0') {
			errs_add(errs,
				 "[port %s] has role peer but no peer: name "
				 "the [peer NAME] at the other end of the "
				 "link.",
				 port->name);
			continue;
		}
		if (profile_peer_index(p, port->peer) < 0)
			errs_add(errs,
				 "[port %s] links to peer %s, which no [peer] "
				 "section defines.",
				 port->name, port->peer);
		for (j = 0; j < i; j++)
			if (p->ports[j].role == PROFILE_PORT_PEER &&
			    strcmp(p->ports[j].peer, port->peer) == 0)
				errs_add(errs,
					 "[port %s] and [port %s] both link to "
					 "peer %s.",
					 p->ports[j].name, port->name,
					 port->peer);
	}
}

int
profile_check(const struct profile *p, struct profile_errors *errs)
{
	struct profile_errors local = {0};
	unsigned before, i, j;
	const char *c;

	if (errs == NULL)
		errs = &local;
	before = errs->count;

	for (c = p->name; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
			errs_add(
				errs,
				"node.name '%s' may hold only letters, digits, "
				"'-' and '_' (it names files and the EAL "
				"prefix).",
				p->name);
			break;
		}
	if (p->eal_lcores[0] == '\0')
		errs_add(errs, "eal.lcores is missing: give the main lcore and "
			       "one lcore per worker, e.g. 0@0,1@0,2@1.");
	if ((uint32_t)p->port_base + p->workers > 65536)
		errs_add(errs,
			 "node.port_base %u + workers.count %u runs past UDP "
			 "port 65535.",
			 p->port_base, p->workers);
	if (!is_pow2(p->ring_size))
		errs_add(errs,
			 "workers.ring_size %u must be a power of two "
			 "(rte_ring sizes are).",
			 p->ring_size);
	if (!is_pow2(p->timer_slots))
		errs_add(errs, "table.timer_slots %u must be a power of two.",
			 p->timer_slots);
	if (p->idle_sleep_polls < p->idle_pause_polls)
		errs_add(errs,
			 "workers.idle_sleep_polls %u is below "
			 "idle_pause_polls %u: a worker pauses before it "
			 "sleeps.",
			 p->idle_sleep_polls, p->idle_pause_polls);
	if (p->lease_default_ms > p->lease_max_ms)
		errs_add(errs, "lease.default_ms %u exceeds lease.max_ms %u.",
			 p->lease_default_ms, p->lease_max_ms);
	if (p->wait_default_ms > p->wait_max_ms)
		errs_add(errs,
			 "lease.wait_default_ms %u exceeds lease.wait_max_ms "
			 "%u.",
			 p->wait_default_ms, p->wait_max_ms);
	if (p->session_default_ms > p->session_max_ms)
		errs_add(errs,
			 "lease.session_default_ms %u exceeds "
			 "lease.session_max_ms %u.",
			 p->session_default_ms, p->session_max_ms);
	if (p->ports_count == 0)
		errs_add(errs, "no [port NAME] section: latchd needs at least "
			       "one port to serve clients.");
	for (i = 0; i < p->ports_count; i++) {
		const struct profile_port *port = &p->ports[i];
		/* Each queue's ring full of mbufs, plus a burst in flight
		 * per worker and the per-lcore mempool caches. */
		uint64_t need =
			(uint64_t)p->workers *
			(port->rx_desc + port->tx_desc + 2u * p->burst + 256u);

		if (port->devargs[0] == '\0')
			errs_add(
				errs,
				"[port %s] has neither vdev nor pci: say which "
				"device it is.",
				port->name);
		if (port->addr_be == 0 && port->role != PROFILE_PORT_PEER)
			errs_add(errs,
				 "[port %s] has no addr: give the IPv4 address "
				 "latchd answers on.",
				 port->name);
		if (p->mbufs < need)
			errs_add(
				errs,
				"workers.mbufs %u is too few for [port %s]: %u "
				"workers x (rx_desc %u + tx_desc %u + bursts "
				"and caches) need at least %llu.",
				p->mbufs, port->name, p->workers, port->rx_desc,
				port->tx_desc, (unsigned long long)need);
		for (j = 0; j < i; j++)
			if (p->ports[j].addr_be == port->addr_be &&
			    port->addr_be != 0)
				errs_add(errs,
					 "[port %s] and [port %s] have the "
					 "same addr.",
					 p->ports[j].name, port->name);
	}
	profile_check_routing(p, errs);
	profile_check_control(p, errs);
	profile_check_links(p, errs);
	return errs->count > before ? -EINVAL : 0;
}

int
profile_load(struct profile *p, const char *path, const char *const *overrides,
	     unsigned overrides_count, struct profile_errors *errs)
{
	int rc;
	unsigned i;

	memset(errs, 0, sizeof(*errs));
	profile_defaults(p);
	rc = profile_parse_file(p, path, errs);
	if (rc != 0 && rc != -EINVAL)
		return rc;
	for (i = 0; i < overrides_count; i++)
		if (profile_override(p, overrides[i], errs) != 0)
			rc = -EINVAL;
	if (profile_check(p, errs) != 0)
		rc = -EINVAL;
	return rc;
}
