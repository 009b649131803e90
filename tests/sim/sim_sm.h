/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The simulator's lock state machine: exclusive locks on a few keys per
 * partition, with leases and fencing tokens computed as the lock table's
 * (token = max(last + 1, term << LOCK_TOKEN_TERM_SHIFT)). It stands in for
 * dataplane/lock_table.c because it can be saved and loaded whole, which
 * snapshots need and lock_table.h does not offer yet (docs/raft.md).
 */
#ifndef LATCH_SIM_SM_H
#define LATCH_SIM_SM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <latch/proto.h>

#include "dataplane/lock_table.h"

/* Keys per partition: few, so clients contend. */
#define SIM_KEYS 4

struct sim_lock {
	uint64_t holder; /* client id, 0 if free */
	uint64_t token;
	uint64_t expire_ms;
	uint64_t lease_ms;
};

struct sim_sm {
	struct sim_lock locks[SIM_KEYS];
	uint64_t token_last;
};

/* Result of applying one entry. */
struct sim_sm_result {
	uint16_t status; /* enum latch_status */
	bool fresh;      /* a new grant (not the holder asking again) */
	uint64_t token;
};

static inline struct sim_sm_result
sim_sm_apply(struct sim_sm *sm, const struct lock_entry *e)
{
	struct sim_sm_result res = {.status = LATCH_S_OK};
	struct sim_lock *l = &sm->locks[e->key.bytes[1] % SIM_KEYS];
	uint64_t floor = e->term << LOCK_TOKEN_TERM_SHIFT;

	switch (e->op) {
	case LOCK_E_ACQUIRE:
		if (l->holder == 0) {
			l->token = sm->token_last + 1 > floor
					   ? sm->token_last + 1
					   : floor;
			sm->token_last = l->token;
			l->holder = e->client_id;
			l->lease_ms = e->lease_ms;
			l->expire_ms = e->now_ms + e->lease_ms;
			res.token = l->token;
			res.fresh = true;
		} else if (l->holder == e->client_id) {
			res.token = l->token;
		} else {
			res.status = LATCH_S_BUSY;
		}
		break;
	case LOCK_E_RELEASE:
		if (l->holder == e->client_id && l->token == e->token)
			l->holder = 0;
		else
			res.status = LATCH_S_STALE_TOKEN;
		break;
	case LOCK_E_EXPIRE_LEASE:
		if (l->holder != 0 && l->token == e->token)
			l->holder = 0;
		else
			res.status = LATCH_S_NOT_HELD;
		break;
	default:
		res.status = LATCH_S_MALFORMED;
		break;
	}
	return res;
}

/* Takeover: every inherited lease counts as renewed now (DESIGN.md). */
static inline void
sim_sm_takeover(struct sim_sm *sm, uint64_t now_ms)
{
	unsigned i;

	for (i = 0; i < SIM_KEYS; i++)
		if (sm->locks[i].holder != 0 &&
		    sm->locks[i].expire_ms < now_ms + sm->locks[i].lease_ms)
			sm->locks[i].expire_ms = now_ms + sm->locks[i].lease_ms;
}

static inline uint32_t
sim_sm_save(const struct sim_sm *sm, uint8_t *buf, uint32_t max)
{
	if (max < sizeof(*sm))
		return 0;
	memcpy(buf, sm, sizeof(*sm));
	return sizeof(*sm);
}

static inline void
sim_sm_load(struct sim_sm *sm, const uint8_t *buf, uint32_t len)
{
	if (len == sizeof(*sm))
		memcpy(sm, buf, sizeof(*sm));
}

#endif /* LATCH_SIM_SM_H */
