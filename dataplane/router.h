/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key router's pure core: route definitions, backend pools, the route
 * table that workers read, and the per-packet decision over a byte buffer
 * (docs/design.md, "partitions, shards and routing"; docs/routing.md).
 *
 * A route matches IPv4/UDP packets by destination port (one port or a
 * range), extracts a key (the 5-tuple, N bytes at an offset of the UDP
 * payload, or the key of a latch lock message), hashes it with
 * latch_key_hash() and picks a backend with the route's Maglev table. The
 * packet is then rewritten in place: destination MAC, IPv4 address and UDP
 * port become the backend's, TTL drops by one, and both checksums are
 * updated incrementally (RFC 1624; a UDP checksum of 0 stays 0).
 *
 * A 5-tuple route may track connections (conntrack.h): with a worker's
 * flow table passed to router_route_tracked(), a flow keeps the backend
 * its first packet went to for as long as that backend stays in the pool
 * and up, whatever the Maglev table says after a change of the pool.
 *
 * A route table is built off the fast path (router_table_create, main
 * lcore or control thread), never changed afterwards, and published to
 * workers through one pointer (router_rcu.h); the old table is freed after
 * an RCU grace period. Nothing here knows DPDK: the unit tests drive
 * router_route() over golden frames.
 *
 * Thread safety: router_table_create/destroy on one thread at a time, off
 * the fast path; router_route() is reentrant and reads the table only.
 */
#ifndef LATCH_ROUTER_H
#define LATCH_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include <latch/proto.h>

#include "dataplane/conntrack.h"
#include "dataplane/maglev.h"

/* Routes per table: a port maps to a route through a uint8_t index. */
#define ROUTER_ROUTES_MAX 64u
/* Backends per route's pool (Maglev needs M > 100 x this at most). */
#define ROUTER_BACKENDS_MAX 256u
/* Longest backend identity (a name or an address in text). */
#define ROUTER_ID_MAX 32u
/* No route for this port (value of the port map). */
#define ROUTER_ROUTE_NONE UINT8_MAX
/* decision.backend when no backend was chosen (dropped, passed). */
#define ROUTER_BACKEND_NONE UINT16_MAX

_Static_assert(ROUTER_ROUTES_MAX < ROUTER_ROUTE_NONE, "route index fits");
_Static_assert(ROUTER_BACKENDS_MAX <= MAGLEV_BACKENDS_MAX, "pool fits Maglev");
_Static_assert(ROUTER_ID_MAX <= MAGLEV_ID_MAX, "identity fits Maglev");

/* What the key of a route is. */
enum router_key_kind {
	ROUTER_KEY_5TUPLE = 0, /* src IP, dst IP, proto, src port, dst port */
	ROUTER_KEY_PAYLOAD,    /* key_len bytes at key_off of the UDP payload */
	ROUTER_KEY_LATCH,      /* the key of a latch message (proto.h) */
	ROUTER_KEY_KIND_MAX,
};

/* What the worker does with the frame after router_route(). */
enum router_action {
	ROUTER_FORWARD = 0, /* rewritten in place: transmit it */
	ROUTER_PASS,        /* not routed, unchanged: the worker's own path */
	ROUTER_DROP,        /* free it (the reason is counted) */
};

/*
 * Why: every decision has exactly one reason, and the worker counts it.
 * One list makes the enum, the names and the counters (STYLE.md).
 */
#define ROUTER_REASON_LIST(X)                       \
	X(routed, "routed")                         \
	X(unmatched, "unmatched")                   \
	X(not_ipv4, "not_ipv4")                     \
	X(not_udp, "not_udp")                       \
	X(truncated, "truncated")                   \
	X(bad_ip_len, "bad_ip_len")                 \
	X(ip_options, "ip_options")                 \
	X(ip_fragment, "ip_fragment")               \
	X(bad_udp_len, "bad_udp_len")               \
	X(ttl_expired, "ttl_expired")               \
	X(key_out_of_payload, "key_out_of_payload") \
	X(bad_latch_msg, "bad_latch_msg")           \
	X(no_backend_up, "no_backend_up")

enum router_reason {
#define ROUTER_REASON_ENUM(name, str) ROUTER_R_##name,
	ROUTER_REASON_LIST(ROUTER_REASON_ENUM)
#undef ROUTER_REASON_ENUM
		ROUTER_R_MAX
};

/* Names of the reasons, indexed by enum router_reason. */
extern const char *const router_reason_names[ROUTER_R_MAX];

/*
 * A backend. Its identity places it in the Maglev table: keep it stable
 * across restarts and changes of address (a node name, not its MAC).
 * Weight 0 or !up leaves it out of the table, exactly as if it were not
 * listed, so marking one down moves only its own keys (and a few more,
 * docs/routing.md).
 */
struct router_backend {
	uint8_t id[ROUTER_ID_MAX];
	uint8_t id_len;
	bool up;
	uint16_t weight;   /* turns per Maglev round, 1..MAGLEV_WEIGHT_MAX */
	uint8_t mac[6];    /* next hop's Ethernet address */
	uint16_t udp_port; /* host order */
	uint32_t ip_be;    /* network order */
	/* The caller's, copied and never read by the router (latchd keeps
	 * the backend's counter slot and TX port there: route_conf.h). */
	uint16_t user;
};

/*
 * A route as the operator defines it (built into a struct router_route).
 * @default_backend: index into @backends of the backend that receives the
 * route's bad input (key outside the payload, malformed latch message,
 * whole pool down), or -1 to drop it.
 */
struct router_route_def {
	uint16_t port_first; /* UDP destination ports, host order, */
	uint16_t port_last;  /* inclusive; first == last for one port */
	uint8_t key_kind;    /* enum router_key_kind */
	uint16_t key_off;    /* ROUTER_KEY_PAYLOAD: offset in the payload */
	uint16_t key_len;    /* ROUTER_KEY_PAYLOAD: bytes, 1.. */
	uint32_t table_size; /* Maglev M; 0 = MAGLEV_SIZE_DEFAULT */
	int32_t default_backend;
	uint16_t backends_count;
	const struct router_backend *backends;
	uint16_t user; /* the caller's, copied to struct router_route */
	/* Connection tracking (conntrack.h): ROUTER_KEY_5TUPLE only; idle
	 * time in ms, 0 = CONNTRACK_IDLE_MS_DEFAULT. */
	bool conntrack;
	uint32_t conntrack_idle_ms;
};

/*
 * What the table does with frames that no route claims, and with bad
 * IPv4 that cannot be tied to a route (fragments, options, broken
 * lengths): ROUTER_PASS (the worker's own path handles or drops them, so
 * ARP and lock traffic keep working) or ROUTER_DROP.
 */
struct router_config {
	uint8_t unmatched; /* ROUTER_PASS or ROUTER_DROP */
	uint8_t bad_ip;    /* ROUTER_PASS or ROUTER_DROP */
};

/* A built route: read-only, owned by its table. */
struct router_route {
	uint8_t key_kind;
	uint16_t key_off;
	uint16_t key_len;
	uint16_t port_first;
	uint16_t port_last;
	uint16_t default_backend; /* ROUTER_BACKEND_NONE: drop bad input */
	uint16_t backends_count;
	uint16_t up_count; /* backends in the Maglev table */
	struct router_backend *backends;
	struct maglev_table *maglev; /* NULL when up_count == 0 */
	uint16_t user; /* router_route_def.user (latchd: counter slot) */
	/* Connection tracking: on, idle time (never 0), and each backend's
	 * identity for conntrack_flow() (ct_ids[i]: backends[i]'s, or
	 * CONNTRACK_ID_NONE when it is down or of weight 0). NULL when off. */
	bool conntrack;
	uint32_t conntrack_idle_ms;
	uint64_t *ct_ids;
};

/*
 * The route table that workers read through one pointer. Immutable once
 * built. port_route[p] is the index of the route of UDP port p.
 */
struct route_table {
	struct router_config cfg;
	uint64_t generation; /* set by the builder's caller; for logs */
	uint16_t routes_count;
	struct router_route routes[ROUTER_ROUTES_MAX];
	uint8_t port_route[65536];
};

/* What router_route() decided, for the worker's counters and tests. */
struct router_decision {
	uint8_t reason;   /* enum router_reason */
	uint8_t route;    /* index into routes, or ROUTER_ROUTE_NONE */
	uint16_t backend; /* index into the route's backends, or NONE */
	uint8_t ct;       /* enum conntrack_verdict; UNTRACKED if not */
	uint64_t hash;    /* latch_key_hash of the key, when one was read */
};

/*
 * Build a route table from @defs[0..n) under @cfg: copies the backends,
 * builds each route's Maglev table from the backends that are up (with a
 * weight), fills the port map. NULL and errno (EINVAL with *@reason set to
 * a static sentence, or ENOMEM) when: too many routes, a port range is
 * empty or overlaps another route's, a key kind or payload key is
 * invalid, a pool is empty or too large, an identity is empty or too long,
 * a default backend index is out of range, Maglev refuses the size, or
 * connection tracking is asked of a route whose key is not the 5-tuple.
 * Off the fast path (main lcore or control thread); allocates.
 */
struct route_table *router_table_create(const struct router_config *cfg,
					const struct router_route_def *defs,
					uint16_t n, const char **reason);

/* Free @t and its routes. Only once no worker can read it (RCU). */
void router_table_destroy(struct route_table *t);

/*
 * Route one frame (@frame[0..len), untagged Ethernet II). Matches the
 * UDP destination port, extracts the route's key without reading past the
 * IP datagram, picks a backend and rewrites the frame in place. Returns
 * the action and fills @d. Never reads or writes outside @frame[0..len).
 * The source MAC is left to the caller (its TX port's address).
 *
 * Called by a worker per packet, inside an RCU read-side section: @t must
 * be the pointer the worker loaded in this loop pass (router_rcu.h).
 * Reentrant; no allocation, no atomics, no system call.
 */
enum router_action router_route(const struct route_table *t, uint8_t *frame,
				uint16_t len, struct router_decision *d);

/*
 * router_route() with the calling worker's flow table @ct (NULL: none, as
 * router_route) at @now_ms: on a route with conntrack on, the backend is
 * conntrack_flow()'s (a known flow keeps its backend while that backend
 * is in the pool and up) and d->ct says how it was found. Routes without
 * conntrack, and bad input sent to a default backend, are not tracked.
 * Same caller and rules as router_route(); @ct is the worker's own.
 */
enum router_action router_route_tracked(const struct route_table *t,
					struct conntrack *ct, uint64_t now_ms,
					uint8_t *frame, uint16_t len,
					struct router_decision *d);

/*
 * router_route_tracked() in two stages, so that a worker can read a whole
 * burst before it rewrites any of it: router_prepare() checks the frame,
 * finds its route and key, hashes the key and prefetches the Maglev
 * entry, writing nothing but @p; router_finish() reads the entry, asks
 * conntrack and rewrites the frame. Preparing every frame of a burst
 * first lets the CPU run the key hashes (a byte-serial multiply chain)
 * of several frames at once and hides the table's cache misses
 * (docs/benchmarks.md, "Routing"). prepare then finish on the same,
 * unchanged frame returns exactly what router_route_tracked() would, for
 * any number of other frames prepared or finished in between; frames are
 * finished in the order conntrack should see them.
 */
struct router_prep {
	uint64_t hash;  /* router_decision.hash */
	uint32_t slot;  /* the key's Maglev slot, when it was hashed */
	uint8_t next;   /* what router_finish does (router.c) */
	uint8_t action; /* the action, when no backend is to be chosen */
	uint8_t reason; /* enum router_reason */
	uint8_t route;  /* router_decision.route */
};

/*
 * Stage one of routing @frame[0..len) by @t (see struct router_prep):
 * reads the frame and the table, writes only @p. Same caller and rules
 * as router_route(); @t must stay the table of router_finish().
 */
void router_prepare(const struct route_table *t, const uint8_t *frame,
		    uint16_t len, struct router_prep *p);

/*
 * Stage two: the action and @d of router_route_tracked(@t, @ct, @now_ms,
 * @frame, len) for the @p that router_prepare(@t, @frame, len) filled,
 * the frame rewritten in place when it is forwarded. Same caller and
 * rules as router_route_tracked().
 */
enum router_action router_finish(const struct route_table *t,
				 struct conntrack *ct, uint64_t now_ms,
				 uint8_t *frame, const struct router_prep *p,
				 struct router_decision *d);

/*
 * The identity conntrack keeps for a backend of identity @id (@len
 * bytes): a seeded 64-bit hash, never CONNTRACK_ID_NONE. Any thread.
 */
uint64_t router_backend_ct_id(const uint8_t *id, uint8_t len);

/*
 * The rewrite alone: set the destination MAC, IPv4 address and UDP port
 * of @frame to @be's, decrement the TTL, and update the IPv4 header
 * checksum and the UDP checksum incrementally (RFC 1624, equation 3); a
 * UDP checksum of 0 (none, RFC 768) stays 0. Precondition (checked by
 * router_route): an IPv4 header without options at offset 14 and a whole
 * UDP header after it. Any thread.
 */
void router_rewrite(uint8_t *frame, const struct router_backend *be);

#endif /* LATCH_ROUTER_H */
