/* SPDX-License-Identifier: BSD-3-Clause */
/* The operator's routes and backends, and tables built from them
 * (route_conf.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/route_conf.h"

int
route_conf_route_find(const struct route_conf *rc, const char *name)
{
	uint16_t i;

	for (i = 0; i < rc->routes_count; i++)
		if (!strcmp(rc->routes[i].name, name))
			return i;
	return -1;
}

int
route_conf_backend_find(const struct route_conf *rc, const char *name)
{
	uint16_t i;

	for (i = 0; i < rc->backends_count; i++)
		if (!strcmp(rc->backends[i].name, name))
			return i;
	return -1;
}

static bool
route_conf_pool_has(const struct route_conf *rc, const char *pool,
		    const char *backend)
{
	uint16_t i;

	for (i = 0; i < rc->backends_count; i++)
		if (!strcmp(rc->backends[i].pool, pool) &&
		    (backend == NULL || !strcmp(rc->backends[i].name, backend)))
			return true;
	return false;
}

int
route_conf_from_profile(struct route_conf *rc, const struct profile *p,
			const char **why)
{
	uint16_t i;
	int via, rc_add;

	memset(rc, 0, sizeof(*rc));
	/* Frames no route claims stay on the worker's own path (ARP, lock
	 * ports, pktgen), which counts and drops what it does not serve. */
	rc->cfg.unmatched = ROUTER_PASS;
	rc->cfg.bad_ip = ROUTER_PASS;
	rc->port_base = p->port_base;
	rc->workers = p->workers;
	rc->ports_count = p->ports_count;
	for (i = 0; i < p->ports_count && i < PROFILE_PORTS_MAX; i++)
		snprintf(rc->port_names[i], sizeof(rc->port_names[i]), "%s",
			 p->ports[i].name);
	if (p->backends_count > ROUTE_CONF_BACKENDS_MAX) {
		*why = "more backends than ROUTE_CONF_BACKENDS_MAX";
		return -EINVAL;
	}
	for (i = 0; i < p->backends_count; i++) {
		rc->backends[i] = p->backends[i];
		via = ROUTE_CONF_VIA_RX;
		if (p->backends[i].via[0] != '\0') {
			via = profile_port_index(p, p->backends[i].via);
			if (via < 0) {
				*why = "a backend's via names no [port]";
				return -EINVAL;
			}
		}
		rc->backend_via[i] = (uint8_t)via;
		rc->backend_slot[i] = (uint8_t)i;
	}
	rc->backends_count = p->backends_count;
	for (i = 0; i < p->routes_count; i++) {
		rc_add = route_conf_route_add(rc, &p->routes[i], why);
		if (rc_add != 0) {
			if (rc_add == -EEXIST)
				*why = "two routes have the same name";
			else if (rc_add == -ENOSPC)
				*why = "more routes than ROUTE_CONF_ROUTES_MAX";
			return -EINVAL;
		}
	}
	return 0;
}

int
route_conf_route_add(struct route_conf *rc, const struct profile_route *r,
		     const char **why)
{
	bool used[ROUTE_CONF_ROUTES_MAX] = {false};
	uint32_t lock_last = (uint32_t)rc->port_base + rc->workers - 1u;
	uint16_t i, slot;

	if (r->name[0] == '\0' || strlen(r->name) >= PROFILE_NAME_MAX) {
		*why = "a route needs a name of 1 to 31 characters";
		return -EINVAL;
	}
	if (route_conf_route_find(rc, r->name) >= 0) {
		*why = "a route of that name exists";
		return -EEXIST;
	}
	if (rc->routes_count == ROUTE_CONF_ROUTES_MAX) {
		*why = "every route slot is taken";
		return -ENOSPC;
	}
	if (r->match.first == 0 || r->match.first > r->match.last) {
		*why = "the route's match is not a port range";
		return -EINVAL;
	}
	if (rc->workers > 0 && r->match.last >= rc->port_base &&
	    r->match.first <= lock_last) {
		*why = "the route's match overlaps the lock ports";
		return -EINVAL;
	}
	if (r->key.kind == PROFILE_KEY_NONE ||
	    r->key.kind > PROFILE_KEY_LATCH) {
		*why = "the route has no key";
		return -EINVAL;
	}
	if (r->conntrack && r->key.kind != PROFILE_KEY_5TUPLE) {
		*why = "conntrack needs key = 5tuple (flows are 5-tuples)";
		return -EINVAL;
	}
	if (!route_conf_pool_has(rc, r->pool, NULL)) {
		*why = "the route's pool has no backend";
		return -EINVAL;
	}
	if (r->default_backend[0] != '\0' &&
	    !route_conf_pool_has(rc, r->pool, r->default_backend)) {
		*why = "the route's default is not a backend of its pool";
		return -EINVAL;
	}
	for (i = 0; i < rc->routes_count; i++)
		used[rc->route_slot[i]] = true;
	for (slot = 0; used[slot]; slot++)
		;
	rc->routes[rc->routes_count] = *r;
	rc->route_slot[rc->routes_count] = (uint8_t)slot;
	rc->routes_count++;
	return 0;
}

int
route_conf_route_del(struct route_conf *rc, const char *name)
{
	int i = route_conf_route_find(rc, name);

	if (i < 0)
		return -ENOENT;
	memmove(&rc->routes[i], &rc->routes[i + 1],
		(size_t)(rc->routes_count - i - 1) * sizeof(rc->routes[0]));
	memmove(&rc->route_slot[i], &rc->route_slot[i + 1],
		(size_t)(rc->routes_count - i - 1));
	rc->routes_count--;
	return 0;
}

int
route_conf_backend_set(struct route_conf *rc, const char *name, bool up)
{
	int i = route_conf_backend_find(rc, name);

	if (i < 0)
		return -ENOENT;
	rc->backends[i].up = up;
	return 0;
}

/* Index of [port @name] among rc->port_names, or -1. */
static int
route_conf_port_find(const struct route_conf *rc, const char *name)
{
	uint16_t i;

	for (i = 0; i < rc->ports_count && i < PROFILE_PORTS_MAX; i++)
		if (!strcmp(rc->port_names[i], name))
			return i;
	return -1;
}

/* Backends of pool @pool, and the port they share in *@port (0 if they
 * use different ones or there is none). */
static uint16_t
route_conf_pool_count(const struct route_conf *rc, const char *pool,
		      uint16_t *port)
{
	uint16_t i, n = 0;

	*port = 0;
	for (i = 0; i < rc->backends_count; i++) {
		if (strcmp(rc->backends[i].pool, pool) != 0)
			continue;
		if (n == 0)
			*port = rc->backends[i].udp_port;
		else if (*port != rc->backends[i].udp_port)
			*port = 0;
		n++;
	}
	return n;
}

/* Is @mac one a frame may be sent to: not all zero, not a group address
 * (IEEE 802: the I/G bit, bit 0 of the first octet)? */
static bool
route_conf_mac_is_unicast(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) != 0 && (mac[0] & 1u) == 0;
}

int
route_conf_backend_add(struct route_conf *rc, const struct profile_backend *b,
		       const uint64_t *counted, const char **why)
{
	bool used[ROUTE_CONF_BACKENDS_MAX] = {false};
	uint32_t addr = ntohl(b->addr_be);
	uint16_t i, slot, n, port;
	int via = ROUTE_CONF_VIA_RX;

	if (b->name[0] == '\0' ||
	    strnlen(b->name, PROFILE_NAME_MAX) >= PROFILE_NAME_MAX) {
		*why = "name: a backend needs a name of 1 to 31 characters";
		return -EINVAL;
	}
	if (route_conf_backend_find(rc, b->name) >= 0) {
		*why = "name: a backend of that name exists";
		return -EEXIST;
	}
	if (rc->backends_count == ROUTE_CONF_BACKENDS_MAX) {
		*why = "every backend slot is taken (PROFILE_BACKENDS_MAX "
		       "backends, the workers' counters): delete one first";
		return -ENOSPC;
	}
	if (b->pool[0] == '\0' ||
	    strnlen(b->pool, PROFILE_NAME_MAX) >= PROFILE_NAME_MAX) {
		*why = "pool: name the pool the backend joins (1 to 31 "
		       "characters)";
		return -EINVAL;
	}
	/* 0.0.0.0/8, loopback, multicast, class E and broadcast are no
	 * backend's address (RFC 1122, section 3.2.1.3; RFC 5771). */
	if ((addr >> 24) == 0 || (addr >> 24) == 127 || addr >= 0xe0000000u) {
		*why = "addr: give the backend's unicast IPv4 address";
		return -EINVAL;
	}
	if (!route_conf_mac_is_unicast(b->mac)) {
		*why = "mac: give the unicast Ethernet address of the "
		       "backend's next hop";
		return -EINVAL;
	}
	if (b->weight > ROUTE_CONF_WEIGHT_MAX) {
		*why = "weight: 0 to 1000";
		return -EINVAL;
	}
	if (b->via[0] != '\0') {
		via = route_conf_port_find(rc, b->via);
		if (via < 0) {
			*why = "via: name a [port] of the profile";
			return -EINVAL;
		}
	}
	n = route_conf_pool_count(rc, b->pool, &port);
	if (b->udp_port != 0)
		port = b->udp_port;
	else if (port == 0) {
		*why = n == 0 ? "port: give the backend's UDP port (its pool "
				"has no backend to take it from)"
			      : "port: the pool's backends use different "
				"ports: give the backend's";
		return -EINVAL;
	}
	for (i = 0; i < rc->backends_count; i++) {
		const struct profile_backend *o = &rc->backends[i];

		if (!strcmp(o->pool, b->pool) && o->addr_be == b->addr_be &&
		    o->udp_port == port) {
			*why = "addr: the pool has a backend at that address "
			       "and port";
			return -EINVAL;
		}
	}
	/* Maglev checks M against the whole pool, up or down (router.c),
	 * so a route whose table is too small for one more backend refuses
	 * the add here, before anything changes. */
	for (i = 0; i < rc->routes_count; i++) {
		const struct profile_route *r = &rc->routes[i];
		uint32_t m = r->table_size != 0 ? r->table_size
						: MAGLEV_SIZE_DEFAULT;
		const char *mwhy = NULL;

		if (strcmp(r->pool, b->pool) != 0)
			continue;
		if (maglev_size_check(m, n + 1u, &mwhy) != 0) {
			*why = "a route of the pool has a table_size that "
			       "Maglev refuses for one more backend (it must "
			       "exceed 100 x the backends): re-add the route "
			       "with a larger --table-size first";
			return -EINVAL;
		}
	}
	for (i = 0; i < rc->backends_count; i++)
		used[rc->backend_slot[i]] = true;
	for (slot = 0; used[slot]; slot++)
		;
	i = rc->backends_count;
	rc->backends[i] = *b;
	rc->backends[i].udp_port = port;
	rc->backend_via[i] = (uint8_t)via;
	rc->backend_slot[i] = (uint8_t)slot;
	rc->base_backend_forwarded[slot] = counted != NULL ? counted[slot] : 0;
	rc->backends_count++;
	return 0;
}

int
route_conf_backend_del(struct route_conf *rc, const char *name,
		       const char **why, int *route)
{
	int j = route_conf_backend_find(rc, name);
	uint16_t i, n, port;
	size_t tail;

	*route = -1;
	if (j < 0) {
		*why = "no backend of that name";
		return -ENOENT;
	}
	n = route_conf_pool_count(rc, rc->backends[j].pool, &port);
	for (i = 0; i < rc->routes_count; i++) {
		const struct profile_route *r = &rc->routes[i];

		if (!strcmp(r->default_backend, name)) {
			*why = "the backend is the default of a route: delete "
			       "that route (or re-add it with another "
			       "default) first";
			*route = i;
			return -EBUSY;
		}
		if (n == 1 && !strcmp(r->pool, rc->backends[j].pool)) {
			*why = "the backend is the last of a pool that a route "
			       "uses: add another backend first, delete the "
			       "route, or use backend down";
			*route = i;
			return -EBUSY;
		}
	}
	tail = (size_t)(rc->backends_count - j - 1);
	memmove(&rc->backends[j], &rc->backends[j + 1],
		tail * sizeof(rc->backends[0]));
	memmove(&rc->backend_via[j], &rc->backend_via[j + 1], tail);
	memmove(&rc->backend_slot[j], &rc->backend_slot[j + 1], tail);
	rc->backends_count--;
	return 0;
}

struct route_table *
route_conf_build(const struct route_conf *rc, const char **why)
{
	struct router_route_def defs[ROUTE_CONF_ROUTES_MAX];
	struct router_backend *pool;
	struct route_table *t;
	uint16_t i, j, n;
	int err;

	/* One array holds every route's pool: at most all backends each. */
	pool = calloc((size_t)rc->routes_count * ROUTE_CONF_BACKENDS_MAX + 1,
		      sizeof(*pool));
	if (pool == NULL) {
		*why = "out of memory";
		errno = ENOMEM;
		return NULL;
	}
	memset(defs, 0, sizeof(defs));
	for (i = 0; i < rc->routes_count; i++) {
		const struct profile_route *r = &rc->routes[i];
		struct router_backend *be = pool + i * ROUTE_CONF_BACKENDS_MAX;
		struct router_route_def *d = &defs[i];

		d->port_first = r->match.first;
		d->port_last = r->match.last;
		d->key_kind = r->key.kind;
		d->key_off = r->key.off;
		d->key_len = r->key.len;
		d->table_size = r->table_size;
		d->default_backend = -1;
		d->user = rc->route_slot[i];
		d->conntrack = r->conntrack;
		d->conntrack_idle_ms = r->conntrack_idle_ms;
		d->backends = be;
		n = 0;
		for (j = 0; j < rc->backends_count; j++) {
			const struct profile_backend *b = &rc->backends[j];
			size_t id_len = strlen(b->name);

			if (strcmp(b->pool, r->pool) != 0)
				continue;
			/* The name is the identity: stable across restarts
			 * and address changes (router.h). */
			memcpy(be[n].id, b->name, id_len);
			be[n].id_len = (uint8_t)id_len;
			be[n].up = b->up;
			be[n].weight = b->weight;
			memcpy(be[n].mac, b->mac, 6);
			be[n].udp_port = b->udp_port;
			be[n].ip_be = b->addr_be;
			be[n].user = (uint16_t)(rc->backend_via[j] << 8 |
						rc->backend_slot[j]);
			if (!strcmp(b->name, r->default_backend))
				d->default_backend = n;
			n++;
		}
		d->backends_count = n;
	}
	t = router_table_create(&rc->cfg, defs, rc->routes_count, why);
	err = errno;
	free(pool);
	if (t == NULL)
		errno = err;
	else
		t->generation = rc->generation + 1;
	return t;
}

struct shard_map *
route_conf_shard_map(const struct profile *p, const char **why)
{
	uint32_t ids[PROFILE_GROUPS_MAX];
	uint16_t i;

	if (p->groups_count == 0) {
		errno = 0;
		return NULL;
	}
	for (i = 0; i < p->groups_count; i++)
		ids[i] = p->groups[i].id;
	return shard_map_create(ids, p->groups_count, 0, why);
}
