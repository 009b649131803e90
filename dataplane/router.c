/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key router's pure core (router.h): building a route table off the
 * fast path, and router_route(), the per-packet decision and rewrite.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/assert.h"
#include "dataplane/router.h"

/* Header sizes and fields we read (IEEE 802.3, RFC 791, RFC 768). */
#define RT_ETH_LEN        14
#define RT_IPV4_LEN       20
#define RT_UDP_LEN        8
#define RT_IP_OFF         RT_ETH_LEN
#define RT_UDP_OFF        (RT_ETH_LEN + RT_IPV4_LEN)
#define RT_PAYLOAD_OFF    (RT_UDP_OFF + RT_UDP_LEN)
#define RT_ETHERTYPE_IPV4 0x0800
#define RT_IPPROTO_UDP    17
/* Flags and fragment offset word: MF bit and the 13-bit offset. */
#define RT_IP_MF          0x2000
#define RT_IP_OFFSET_MASK 0x1fff
/* 5-tuple key: src IP, dst IP, protocol, src port, dst port. */
#define RT_5TUPLE_LEN 13
/*
 * Seed of the backend identities that conntrack keeps: any fixed value
 * other than Maglev's two (maglev.h), so the identity hash is independent
 * of where the backend sits in the table. Digits of sqrt(2).
 */
#define RT_CT_ID_SEED 0x6a09e667f3bcc908ull

const char *const router_reason_names[ROUTER_R_MAX] = {
#define ROUTER_REASON_NAME(name, str) [ROUTER_R_##name] = str,
	ROUTER_REASON_LIST(ROUTER_REASON_NAME)
#undef ROUTER_REASON_NAME
};

/*
 * One's complement sum folded to 16 bits (RFC 1071): the folded value is
 * 0 only when @s is, else the one in [1, 0xffff] congruent to @s modulo
 * 0xffff. Two folds suffice below 2^31 (every caller adds at most eight
 * 16-bit words).
 */
static inline uint32_t
rt_csum_fold(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	return (s & 0xffff) + (s >> 16);
}

/*
 * The rewrite (router_rewrite). RFC 1624 equation 3, HC' = ~(~HC + ~m +
 * m'), for every changed word at once: one's complement addition is
 * associative and a fold is 0 only for a sum of zeros, so one fold of the
 * whole sum gives the same checksum as updating word by word (and costs
 * one fold instead of one per word, per checksum).
 */
static inline void
rt_rewrite(uint8_t *frame, const struct router_backend *be)
{
	uint8_t *ip = frame + RT_IP_OFF;
	uint8_t *udp = frame + RT_UDP_OFF;
	uint8_t new_ip[4];
	uint16_t ip_sum = be_get16(ip + 10);
	uint16_t udp_sum = be_get16(udp + 6);
	uint16_t ttl_old, ttl_new;
	uint32_t addr, s;

	LATCH_DEBUG_ASSERT((ip[0] & 0x0f) == 5);
	memcpy(frame, be->mac, 6);
	memcpy(new_ip, &be->ip_be, 4);

	/* TTL shares its checksum word with the protocol byte. */
	ttl_old = be_get16(ip + 8);
	LATCH_DEBUG_ASSERT(ip[8] > 1);
	ip[8]--;
	ttl_new = be_get16(ip + 8);

	/* Destination address: in the IP header and the UDP pseudo-header. */
	addr = (uint32_t)(uint16_t)~be_get16(ip + 16) + be_get16(new_ip) +
	       (uint16_t)~be_get16(ip + 18) + be_get16(new_ip + 2);
	memcpy(ip + 16, new_ip, 4);

	s = (uint32_t)(uint16_t)~ip_sum + (uint16_t)~ttl_old + ttl_new + addr;
	be_put16(ip + 10, (uint16_t)~rt_csum_fold(s));

	/* 0 means "no checksum" (RFC 768): keep it; a computed 0 is sent as
	 * all ones, its other one's complement form. */
	if (udp_sum != 0) {
		s = (uint32_t)(uint16_t)~udp_sum +
		    (uint16_t)~be_get16(udp + 2) + be->udp_port + addr;
		udp_sum = (uint16_t)~rt_csum_fold(s);
		be_put16(udp + 6, udp_sum == 0 ? 0xffff : udp_sum);
	}
	be_put16(udp + 2, be->udp_port);
}

void
router_rewrite(uint8_t *frame, const struct router_backend *be)
{
	rt_rewrite(frame, be);
}

/* A route's bad input: its default backend if it has one that is up. */
static enum router_action
rt_route_default(const struct router_route *r, uint8_t *frame,
		 struct router_decision *d, enum router_reason reason)
{
	const struct router_backend *be;

	d->reason = (uint8_t)reason;
	if (r->default_backend == ROUTER_BACKEND_NONE)
		return ROUTER_DROP;
	be = &r->backends[r->default_backend];
	if (!be->up)
		return ROUTER_DROP;
	d->backend = r->default_backend;
	rt_rewrite(frame, be);
	return ROUTER_FORWARD;
}

/*
 * Find the key of route @r in the datagram; NULL (and *@reason) if it is
 * not wholly inside the UDP payload. @tuple is scratch for the 5-tuple.
 */
static const uint8_t *
rt_key(const struct router_route *r, const uint8_t *frame, uint16_t payload_len,
       uint8_t tuple[RT_5TUPLE_LEN], uint16_t *key_len,
       enum router_reason *reason)
{
	const uint8_t *payload = frame + RT_PAYLOAD_OFF;
	uint16_t klen;

	switch (r->key_kind) {
	case ROUTER_KEY_5TUPLE:
		memcpy(tuple, frame + RT_IP_OFF + 12, 8); /* src, dst IP */
		tuple[8] = RT_IPPROTO_UDP;
		memcpy(tuple + 9, frame + RT_UDP_OFF, 4); /* src, dst port */
		*key_len = RT_5TUPLE_LEN;
		return tuple;
	case ROUTER_KEY_PAYLOAD:
		if ((uint32_t)r->key_off + r->key_len > payload_len) {
			*reason = ROUTER_R_key_out_of_payload;
			return NULL;
		}
		*key_len = r->key_len;
		return payload + r->key_off;
	case ROUTER_KEY_LATCH:
		/* Header fields at fixed offsets of struct latch_hdr. */
		if (payload_len < LATCH_MSG_FIXED_LEN ||
		    be_get16(payload) != LATCH_MAGIC ||
		    payload[2] != LATCH_VERSION) {
			*reason = ROUTER_R_bad_latch_msg;
			return NULL;
		}
		klen = be_get16(payload + 8);
		if (klen > LATCH_KEY_MAX ||
		    LATCH_MSG_FIXED_LEN + klen > payload_len) {
			*reason = ROUTER_R_bad_latch_msg;
			return NULL;
		}
		*key_len = klen;
		return payload + LATCH_MSG_FIXED_LEN;
	default:
		LATCH_DEBUG_ASSERT(false);
		*reason = ROUTER_R_unmatched;
		return NULL;
	}
}

uint64_t
router_backend_ct_id(const uint8_t *id, uint8_t len)
{
	uint64_t h = maglev_hash64(id, len, RT_CT_ID_SEED);

	/* CONNTRACK_ID_NONE marks free slots and absent backends. */
	return h == CONNTRACK_ID_NONE ? 1 : h;
}

/* The flow of a frame that router_route_tracked() checked: IPv4/UDP. */
static inline void
rt_ct_key(const uint8_t *frame, struct conntrack_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(&k->src_ip_be, frame + RT_IP_OFF + 12, 4);
	memcpy(&k->dst_ip_be, frame + RT_IP_OFF + 16, 4);
	memcpy(&k->src_port_be, frame + RT_UDP_OFF, 2);
	memcpy(&k->dst_port_be, frame + RT_UDP_OFF + 2, 2);
	k->proto = RT_IPPROTO_UDP;
}

/* What router_finish() does with a frame that router_prepare() read. */
enum rt_next {
	RT_NEXT_DONE = 0, /* prep->action, nothing written */
	RT_NEXT_DEFAULT,  /* the route's default backend, for prep->reason */
	RT_NEXT_LOOKUP,   /* the Maglev entry at prep->slot */
};

/* The frame's fate is known and it is not rewritten. */
static inline enum rt_next
rt_prep_done(struct router_prep *p, uint8_t action, enum router_reason reason)
{
	p->action = action;
	p->reason = (uint8_t)reason;
	return RT_NEXT_DONE;
}

/* Bad input of route p->route: its default backend decides. */
static inline enum rt_next
rt_prep_default(struct router_prep *p, enum router_reason reason)
{
	p->reason = (uint8_t)reason;
	return RT_NEXT_DEFAULT;
}

/* router_prepare() but for p->next, which it returns. */
static inline enum rt_next
rt_prepare(const struct route_table *t, const uint8_t *frame, uint16_t len,
	   struct router_prep *p)
{
	const struct router_route *r;
	const uint8_t *ip = frame + RT_IP_OFF;
	const uint8_t *udp = frame + RT_UDP_OFF;
	const uint8_t *key;
	uint8_t tuple[RT_5TUPLE_LEN];
	enum router_reason reason = ROUTER_R_unmatched;
	uint16_t ip_len, udp_len, key_len = 0;
	uint8_t route;

	p->route = ROUTER_ROUTE_NONE;
	p->hash = 0;
	p->slot = 0;

	if (len < RT_ETH_LEN)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_truncated);
	if (be_get16(frame + 12) != RT_ETHERTYPE_IPV4)
		return rt_prep_done(p, t->cfg.unmatched, ROUTER_R_not_ipv4);
	if (len < RT_ETH_LEN + RT_IPV4_LEN)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_truncated);
	if ((ip[0] >> 4) != 4)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_not_ipv4);
	if ((ip[0] & 0x0f) < 5)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_bad_ip_len);
	if ((ip[0] & 0x0f) > 5)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_ip_options);
	ip_len = be_get16(ip + 2);
	/* Ethernet pads short frames: the frame may exceed the datagram. */
	if (ip_len < RT_IPV4_LEN || ip_len > len - RT_ETH_LEN)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_bad_ip_len);
	if (be_get16(ip + 6) & (RT_IP_MF | RT_IP_OFFSET_MASK))
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_ip_fragment);
	if (ip[9] != RT_IPPROTO_UDP)
		return rt_prep_done(p, t->cfg.unmatched, ROUTER_R_not_udp);
	if (ip_len < RT_IPV4_LEN + RT_UDP_LEN)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_bad_udp_len);
	udp_len = be_get16(udp + 4);
	if (udp_len < RT_UDP_LEN || udp_len > ip_len - RT_IPV4_LEN)
		return rt_prep_done(p, t->cfg.bad_ip, ROUTER_R_bad_udp_len);

	route = t->port_route[be_get16(udp + 2)];
	if (route == ROUTER_ROUTE_NONE)
		return rt_prep_done(p, t->cfg.unmatched, ROUTER_R_unmatched);
	LATCH_DEBUG_ASSERT(route < t->routes_count);
	r = &t->routes[route];
	p->route = route;
	/* A forwarding loop between nodes whose maps disagree ends here. */
	if (ip[8] <= 1)
		return rt_prep_done(p, ROUTER_DROP, ROUTER_R_ttl_expired);
	if (r->up_count == 0)
		return rt_prep_default(p, ROUTER_R_no_backend_up);

	key = rt_key(r, frame, (uint16_t)(udp_len - RT_UDP_LEN), tuple,
		     &key_len, &reason);
	if (key == NULL)
		return rt_prep_default(p, reason);
	p->hash = latch_key_hash(key, key_len);
	p->slot = maglev_slot(r->maglev, p->hash);
	/* Read by router_finish(), a few frames later in a burst: the
	 * table (128 KiB at the default M) is mostly not in L1. */
	__builtin_prefetch(&r->maglev->entry[p->slot]);
	p->reason = ROUTER_R_routed;
	return RT_NEXT_LOOKUP;
}

void
router_prepare(const struct route_table *t, const uint8_t *frame, uint16_t len,
	       struct router_prep *p)
{
	p->next = (uint8_t)rt_prepare(t, frame, len, p);
}

enum router_action
router_finish(const struct route_table *t, struct conntrack *ct,
	      uint64_t now_ms, uint8_t *frame, const struct router_prep *p,
	      struct router_decision *d)
{
	const struct router_route *r;
	uint16_t idx;

	d->route = p->route;
	d->backend = ROUTER_BACKEND_NONE;
	d->ct = CONNTRACK_UNTRACKED;
	d->hash = p->hash;
	d->reason = p->reason;
	if (p->next == RT_NEXT_DONE)
		return (enum router_action)p->action;
	r = &t->routes[p->route];
	if (p->next == RT_NEXT_DEFAULT)
		return rt_route_default(r, frame, d, p->reason);

	idx = maglev_entry(r->maglev, p->slot);
	LATCH_DEBUG_ASSERT(idx < r->backends_count);
	if (r->conntrack && ct != NULL) {
		const struct conntrack_pool pool = {r->ct_ids,
						    r->backends_count};
		struct conntrack_key k;
		enum conntrack_verdict v;

		rt_ct_key(frame, &k);
		idx = conntrack_flow(ct, &k, p->hash, now_ms,
				     r->conntrack_idle_ms, &pool, idx, &v);
		d->ct = (uint8_t)v;
	}
	d->backend = idx;
	rt_rewrite(frame, &r->backends[idx]);
	return ROUTER_FORWARD;
}

enum router_action
router_route(const struct route_table *t, uint8_t *frame, uint16_t len,
	     struct router_decision *d)
{
	return router_route_tracked(t, NULL, 0, frame, len, d);
}

enum router_action
router_route_tracked(const struct route_table *t, struct conntrack *ct,
		     uint64_t now_ms, uint8_t *frame, uint16_t len,
		     struct router_decision *d)
{
	struct router_prep p;

	router_prepare(t, frame, len, &p);
	return router_finish(t, ct, now_ms, frame, &p, d);
}

void
router_table_destroy(struct route_table *t)
{
	uint16_t i;

	if (t == NULL)
		return;
	for (i = 0; i < ROUTER_ROUTES_MAX; i++) {
		maglev_table_destroy(t->routes[i].maglev);
		free(t->routes[i].backends);
		free(t->routes[i].ct_ids);
	}
	free(t);
}

/* Check one definition against the table built so far. */
static int
rt_def_check(const struct route_table *t, const struct router_route_def *def,
	     const char **reason)
{
	uint32_t p, m = def->table_size ? def->table_size : MAGLEV_SIZE_DEFAULT;
	uint16_t i;

	if (def->port_first > def->port_last) {
		*reason = "route port range is empty (first > last)";
		return -EINVAL;
	}
	for (p = def->port_first; p <= def->port_last; p++) {
		if (t->port_route[p] != ROUTER_ROUTE_NONE) {
			*reason = "route port range overlaps another route";
			return -EINVAL;
		}
	}
	if (def->key_kind >= ROUTER_KEY_KIND_MAX) {
		*reason = "unknown route key kind";
		return -EINVAL;
	}
	if (def->key_kind == ROUTER_KEY_PAYLOAD && def->key_len == 0) {
		*reason = "payload key of 0 bytes";
		return -EINVAL;
	}
	if (def->backends_count == 0 || def->backends == NULL ||
	    def->backends_count > ROUTER_BACKENDS_MAX) {
		*reason = "route pool empty or above ROUTER_BACKENDS_MAX";
		return -EINVAL;
	}
	if (def->default_backend < -1 ||
	    def->default_backend >= (int32_t)def->backends_count) {
		*reason = "route default backend is not in its pool";
		return -EINVAL;
	}
	if (def->conntrack && def->key_kind != ROUTER_KEY_5TUPLE) {
		*reason = "connection tracking needs a 5tuple key";
		return -EINVAL;
	}
	if (def->conntrack && def->conntrack_idle_ms > CONNTRACK_IDLE_MS_MAX) {
		*reason = "conntrack idle time above CONNTRACK_IDLE_MS_MAX";
		return -EINVAL;
	}
	for (i = 0; i < def->backends_count; i++) {
		if (def->backends[i].id_len == 0 ||
		    def->backends[i].id_len > ROUTER_ID_MAX) {
			*reason = "backend identity empty or above "
				  "ROUTER_ID_MAX";
			return -EINVAL;
		}
	}
	/* Against the whole pool, so that bringing backends up later can
	 * never make a valid table unbuildable. */
	return maglev_size_check(m, def->backends_count, reason);
}

/*
 * Connection tracking of route @r: its idle time, and the identity of
 * each backend that may take flows (up, with a weight). Identities must
 * differ within a pool (Maglev checks the bytes; this checks their
 * hashes, so a flow can never be kept on the wrong backend).
 */
static int
rt_ct_ids_build(struct router_route *r, const struct router_route_def *def,
		const char **reason)
{
	uint16_t i, j;

	r->conntrack = true;
	r->conntrack_idle_ms = def->conntrack_idle_ms != 0
				       ? def->conntrack_idle_ms
				       : CONNTRACK_IDLE_MS_DEFAULT;
	r->ct_ids = calloc(r->backends_count, sizeof(*r->ct_ids));
	if (r->ct_ids == NULL) {
		*reason = "out of memory";
		return -ENOMEM;
	}
	for (i = 0; i < r->backends_count; i++) {
		const struct router_backend *be = &r->backends[i];
		uint64_t id = router_backend_ct_id(be->id, be->id_len);

		for (j = 0; j < i; j++) {
			if (id == router_backend_ct_id(r->backends[j].id,
						       r->backends[j].id_len)) {
				*reason = "two backend identities of a pool "
					  "hash alike";
				return -EINVAL;
			}
		}
		if (be->up && be->weight > 0)
			r->ct_ids[i] = id;
	}
	return 0;
}

/* Build route @r from @def with builder @b. */
static int
rt_route_build(struct router_route *r, const struct router_route_def *def,
	       struct maglev_builder *b, const char **reason)
{
	struct maglev_backend mb[ROUTER_BACKENDS_MAX];
	uint32_t m = def->table_size ? def->table_size : MAGLEV_SIZE_DEFAULT;
	uint16_t i;
	int rc;

	r->key_kind = def->key_kind;
	r->key_off = def->key_off;
	r->key_len = def->key_len;
	r->port_first = def->port_first;
	r->port_last = def->port_last;
	r->user = def->user;
	r->default_backend = def->default_backend < 0
				     ? ROUTER_BACKEND_NONE
				     : (uint16_t)def->default_backend;
	r->backends_count = def->backends_count;
	r->backends = calloc(def->backends_count, sizeof(*r->backends));
	if (r->backends == NULL) {
		*reason = "out of memory";
		return -ENOMEM;
	}
	memcpy(r->backends, def->backends,
	       def->backends_count * sizeof(*r->backends));

	r->up_count = 0;
	for (i = 0; i < def->backends_count; i++) {
		const struct router_backend *be = &r->backends[i];

		mb[i].id = be->id;
		mb[i].id_len = be->id_len;
		mb[i].weight = be->up ? be->weight : 0;
		if (mb[i].weight > 0)
			r->up_count++;
	}
	if (def->conntrack) {
		rc = rt_ct_ids_build(r, def, reason);
		if (rc != 0)
			return rc;
	}
	if (r->up_count == 0)
		return 0; /* every packet goes to the default, or is dropped */
	r->maglev = maglev_table_create(m);
	if (r->maglev == NULL) {
		*reason = errno == ENOMEM ? "out of memory"
					  : "Maglev table size invalid";
		return -errno;
	}
	rc = maglev_build(b, r->maglev, mb, def->backends_count, reason);
	if (rc != 0)
		return rc;
	LATCH_ASSERT(r->maglev->backends == r->up_count);
	return 0;
}

struct route_table *
router_table_create(const struct router_config *cfg,
		    const struct router_route_def *defs, uint16_t n,
		    const char **reason)
{
	struct maglev_builder *b = NULL;
	struct route_table *t;
	const char *why = "out of memory";
	uint16_t i;
	uint32_t p;
	int rc = -ENOMEM;

	if ((cfg->unmatched != ROUTER_PASS && cfg->unmatched != ROUTER_DROP) ||
	    (cfg->bad_ip != ROUTER_PASS && cfg->bad_ip != ROUTER_DROP)) {
		why = "unmatched and bad_ip must each be PASS or DROP";
		rc = -EINVAL;
		goto fail;
	}
	if (n > ROUTER_ROUTES_MAX) {
		why = "more routes than ROUTER_ROUTES_MAX";
		rc = -EINVAL;
		goto fail;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto fail;
	t->cfg = *cfg;
	memset(t->port_route, ROUTER_ROUTE_NONE, sizeof(t->port_route));
	b = maglev_builder_create(ROUTER_BACKENDS_MAX);
	if (b == NULL)
		goto destroy_table;

	for (i = 0; i < n; i++) {
		rc = rt_def_check(t, &defs[i], &why);
		if (rc != 0)
			goto destroy_builder;
		rc = rt_route_build(&t->routes[i], &defs[i], b, &why);
		if (rc != 0)
			goto destroy_builder;
		for (p = defs[i].port_first; p <= defs[i].port_last; p++)
			t->port_route[p] = (uint8_t)i;
		t->routes_count = (uint16_t)(i + 1);
	}
	maglev_builder_destroy(b);
	return t;

destroy_builder:
	maglev_builder_destroy(b);
destroy_table:
	router_table_destroy(t);
fail:
	if (reason != NULL)
		*reason = why;
	errno = -rc;
	return NULL;
}
