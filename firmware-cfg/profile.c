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

/* Upper bounds: sizes far beyond what one worker's memory could hold. */
#define SIZE_MAX_ENTRIES (1u << 26)

static const struct key_desc node_keys[] = {
	NODE_KEY("node", "name", KEY_STR, name, 1,
		 sizeof(((struct profile *)0)->name) - 1),
	NODE_KEY("node", "id", KEY_U32, node_id, 1, UINT32_MAX),
	NODE_KEY("node", "port_base", KEY_U16, port_base, 1024, 65535),
	NODE_KEY("node", "run_dir", KEY_STR, run_dir, 1, PROFILE_STR_MAX - 1),
	NODE_KEY("node", "state_dir", KEY_STR, state_dir, 1,
		 PROFILE_STR_MAX - 1),
	NODE_KEY("eal", "lcores", KEY_STR, eal_lcores, 1, PROFILE_STR_MAX - 1),
	NODE_KEY("eal", "args", KEY_STR, eal_args, 0, PROFILE_STR_MAX - 1),
	NODE_KEY("workers", "count", KEY_U16, workers, 1, LATCH_PARTITIONS_MAX),
	NODE_KEY("workers", "idle", KEY_IDLE, idle, 0, 2),
	NODE_KEY("workers", "idle_pause_polls", KEY_U32, idle_pause_polls, 1,
		 1u << 30),
	NODE_KEY("workers", "idle_sleep_polls", KEY_U32, idle_sleep_polls, 1,
		 1u << 30),
	NODE_KEY("workers", "idle_sleep_us", KEY_U32, idle_sleep_us, 1, 100000),
	NODE_KEY("workers", "burst", KEY_U16, burst, 1, 256),
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
};

static const struct key_desc port_keys[] = {
	PORT_KEY("vdev", KEY_STR, devargs, 1, PROFILE_STR_MAX - 1),
	PORT_KEY("pci", KEY_STR, devargs, 1, PROFILE_STR_MAX - 1),
	PORT_KEY("role", KEY_ROLE, role, 0, 1),
	PORT_KEY("addr", KEY_IPV4, addr_be, 0, 0),
	PORT_KEY("rx_desc", KEY_U16, rx_desc, 64, 32768),
	PORT_KEY("tx_desc", KEY_U16, tx_desc, 64, 32768),
	PORT_KEY("mtu", KEY_U16, mtu, 576, 9600),
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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
	p->idle_sleep_us = 200;
	p->burst = 32;
	p->mbufs = 8191;
	p->ring_size = 1024;
	p->locks_max = 65536;
	p->holders_max = 65536;
	p->waiters_max = 65536;
	p->sessions_max = 16384;
	p->dedup_max = 65536;
	p->notify_max = 4096;
	p->timer_slots = 4096;
	p->lease_default_ms = 10000;
	p->lease_max_ms = 600000;
	p->wait_default_ms = 5000;
	p->wait_max_ms = 60000;
	p->session_default_ms = 5000;
	p->session_max_ms = 60000;
	p->notify_retry_ms = 20;
	p->notify_retries = 10;
}

static void
port_defaults(struct profile_port *port, const char *name)
{
	memset(port, 0, sizeof(*port));
	snprintf(port->name, sizeof(port->name), "%s", name);
	port->role = PROFILE_PORT_CLIENT;
	port->rx_desc = 1024;
	port->tx_desc = 1024;
	port->mtu = 1500;
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
		else {
			errs_add(errs,
				 "%s: a port's role must be client or bench, "
				 "not '%s'.",
				 where, value);
			return -EINVAL;
		}
		return 0;
	case KEY_IPV4:
		if (inet_pton(AF_INET, value, &a) != 1) {
			errs_add(errs,
				 "%s: a port's addr must be an IPv4 address "
				 "such as 198.18.0.1, not '%s'.",
				 where, value);
			return -EINVAL;
		}
		*(uint32_t *)field = a.s_addr;
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

static struct profile_port *
port_find_or_add(struct profile *p, const char *name, const char *where,
		 struct profile_errors *errs)
{
	unsigned i;

	for (i = 0; i < p->ports_count; i++)
		if (!strcmp(p->ports[i].name, name))
			return &p->ports[i];
	if (strlen(name) == 0 || strlen(name) >= sizeof(p->ports[0].name)) {
		errs_add(errs,
			 "%s: a port needs a name of 1 to %zu characters.",
			 where, sizeof(p->ports[0].name) - 1);
		return NULL;
	}
	if (p->ports_count == PROFILE_PORTS_MAX) {
		errs_add(errs, "%s: at most %d ports are supported.", where,
			 PROFILE_PORTS_MAX);
		return NULL;
	}
	port_defaults(&p->ports[p->ports_count], name);
	return &p->ports[p->ports_count++];
}

/* Set SECTION.KEY (or port NAME's KEY) to VALUE. */
static int
profile_set(struct profile *p, const char *section, const char *port_name,
	    const char *name, const char *value, const char *where,
	    struct profile_errors *errs)
{
	const struct key_desc *k;
	struct profile_port *port;

	if (port_name != NULL) {
		k = key_find(port_keys, ARRAY_SIZE(port_keys), "port", name);
		if (k == NULL) {
			errs_add(
				errs,
				"%s: unknown key '%s' in [port %s]; known: "
				"vdev, pci, role, addr, rx_desc, tx_desc, mtu.",
				where, name, port_name);
			return -EINVAL;
		}
		port = port_find_or_add(p, port_name, where, errs);
		if (port == NULL)
			return -EINVAL;
		if (!strcmp(name, "vdev"))
			port->is_vdev = true;
		else if (!strcmp(name, "pci"))
			port->is_vdev = false;
		return key_set(k, port, value, where, errs);
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
	char section[64] = "", port_name[64] = "";
	bool in_port = false;
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
			in_port =
				!strncmp(s, "port", 4) &&
				(s[4] == '\0' || isspace((unsigned char)s[4]));
			if (in_port) {
				snprintf(port_name, sizeof(port_name), "%s",
					 trim(s + 4));
				if (port_find_or_add(p, port_name, where,
						     errs) == NULL)
					rc = -EINVAL;
			} else if (!section_known(s)) {
				errs_add(errs,
					 "%s: unknown section [%s]; known: "
					 "node, eal, workers, table, lease, "
					 "port NAME.",
					 where, s);
				rc = -EINVAL;
			}
			snprintf(section, sizeof(section), "%s",
				 in_port ? "port" : s);
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
		if (profile_set(p, section, in_port ? port_name : NULL, trim(s),
				trim(eq + 1), where, errs) != 0)
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
	if (!strcmp(buf, "port")) {
		dot2 = strchr(dot + 1, '.');
		if (dot2 == NULL) {
			errs_add(errs,
				 "%s: a port override looks like "
				 "port.NAME.key=value.",
				 where);
			return -EINVAL;
		}
		*dot2 = '\0';
		return profile_set(p, "port", dot + 1, dot2 + 1, eq + 1, where,
				   errs);
	}
	return profile_set(p, buf, NULL, dot + 1, eq + 1, where, errs);
}

static bool
is_pow2(uint32_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
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
		if (port->addr_be == 0)
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
