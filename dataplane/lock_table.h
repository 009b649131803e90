/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lock table of one partition, as a pure state machine.
 *
 * The table changes state only in lock_table_apply(), which takes one entry
 * of the partition's log (docs/design.md, "the seam for replication"). On a
 * single node the worker applies each entry at once; in a replicated cluster
 * every replica applies the same committed entries in the same order and so
 * reaches the same state. Nothing here reads a clock, makes a system call or
 * touches DPDK: time arrives in entries (now_ms, the proposer's clock), and
 * the key -> slot map is reached through struct lock_index_ops, backed by
 * rte_hash in latchd and by key_index (common/) in tests and the simulator.
 *
 * Memory: everything is allocated in lock_table_create() from the sizes in
 * struct lock_table_config. Running out of a pool at run time answers BUSY
 * and is counted; it never fails an assertion.
 *
 * Thread safety: none. A table is owned by one worker lcore (or one
 * simulated node) and touched only by it.
 */
#ifndef LATCH_LOCK_TABLE_H
#define LATCH_LOCK_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <latch/proto.h>

/*
 * A key as stored: its length, then the bytes, zero-padded to
 * LATCH_KEY_MAX so fixed-length hash tables (rte_hash) can index it.
 * Always build one with lock_key_set() so the padding is zero.
 */
struct lock_key {
	uint16_t len;
	uint8_t bytes[LATCH_KEY_MAX];
};

/*
 * Where a client's answers and notifications go, opaque to the table: the
 * dataplane stores (port, MAC, IPv4 address, UDP port) here; the simulator
 * a node id. The table only copies it.
 */
struct lock_addr {
	uint8_t bytes[16];
};

/* Operations a log entry can carry. */
enum lock_entry_op {
	LOCK_E_ACQUIRE = 1,        /* wire ACQUIRE */
	LOCK_E_RELEASE = 2,        /* wire RELEASE */
	LOCK_E_RENEW = 3,          /* wire RENEW */
	LOCK_E_KEEPALIVE = 4,      /* wire KEEPALIVE (LATCH_F_CLOSE ends it) */
	LOCK_E_EXPIRE_LEASE = 5,   /* timer: holder (key, token) lease ended */
	LOCK_E_EXPIRE_WAIT = 6,    /* timer: waiter (client, request) ended */
	LOCK_E_EXPIRE_SESSION = 7, /* timer: session of client ended */
	/*
	 * A new leader took over at now_ms (its clock): every holder's
	 * deadline becomes max(deadline, now_ms + its lease), every
	 * waiter's max(deadline, now_ms + its wait), every session's
	 * max(deadline, now_ms + its timeout) (docs/design.md, "leases
	 * across failover"). Replicated, so every replica extends the same
	 * deadlines and later EXPIRE entries, re-checked against them,
	 * decide alike everywhere. Only op and now_ms are read; no effect.
	 * Added for the takeover fix (docs/raft.md, "takeover").
	 */
	LOCK_E_TAKEOVER = 8,
};

/*
 * One entry of a partition log. Requests become entries field for field;
 * timer entries come from lock_table_tick(). An EXPIRE entry is checked
 * again when applied (the lease may have been renewed since it was
 * proposed), so a late or duplicated one is harmless.
 *
 * term: the cluster term in which the entry was proposed; on a single node,
 * the boot epoch. Fencing tokens are max(last + 1, term << 40), so they
 * increase across restarts and failovers (docs/design.md, "fencing tokens").
 */
struct lock_entry {
	uint8_t op; /* enum lock_entry_op */
	uint8_t pad0;
	uint16_t flags;    /* enum latch_flag from the request */
	uint32_t lease_ms; /* ACQUIRE, RENEW; KEEPALIVE: session timeout */
	uint32_t wait_ms;  /* ACQUIRE with LATCH_F_WAIT */
	uint32_t pad1;
	uint64_t client_id;
	uint64_t request_id; /* EXPIRE_WAIT: the waiter's acquire request */
	uint64_t token;      /* RELEASE, RENEW, EXPIRE_LEASE */
	uint64_t now_ms;     /* proposer's clock when the entry was made */
	uint64_t term;
	struct lock_addr addr;
	struct lock_key key;
};

#define LOCK_TOKEN_TERM_SHIFT 40

/* What applying an entry asks the shell to do. */
enum lock_effect_kind {
	LOCK_FX_REPLY = 1,   /* answer the request that made the entry */
	LOCK_FX_GRANTED = 2, /* notify a queued waiter: status OK or TIMEOUT,
				SESSION_ENDED */
	LOCK_FX_LOST = 3,    /* notify a holder: status EXPIRED or
				SESSION_ENDED */
};

/*
 * One effect. Pointers are valid only during the callback.
 * REPLY: op is the wire op answered; request_id is the request's.
 * GRANTED: request_id is the waiter's ACQUIRE request id.
 * LOST: request_id is the ACQUIRE request id that obtained the grant.
 */
struct lock_effect {
	uint8_t kind;    /* enum lock_effect_kind */
	uint8_t op;      /* enum latch_op (without LATCH_OP_REPLY) */
	uint16_t status; /* enum latch_status */
	uint16_t flags;  /* mode of the grant (LATCH_F_SHARED) */
	uint32_t count;  /* as latch_hdr.count */
	uint32_t lease_ms;
	uint32_t wait_ms; /* as latch_fields.wait_ms */
	uint64_t client_id;
	uint64_t request_id;
	uint64_t token;
	uint64_t holder;            /* QUERY */
	const struct lock_key *key; /* NULL for KEEPALIVE */
	const struct lock_addr *addr;
};

typedef void (*lock_effect_fn)(void *ctx, const struct lock_effect *fx);

/*
 * key -> slot map. Slots are dense in [0, slots) and stable while the key
 * is present. lookup and del return the slot or -ENOENT; add returns the
 * slot (the existing one if present) or -ENOSPC.
 */
struct lock_index_ops {
	int32_t (*lookup)(void *ctx, const struct lock_key *key);
	int32_t (*add)(void *ctx, const struct lock_key *key);
	int32_t (*del)(void *ctx, const struct lock_key *key);
};

struct lock_table_config {
	uint32_t locks_max;        /* distinct keys held or waited on */
	uint32_t holders_max;      /* grants held at once (shared count) */
	uint32_t waiters_max;      /* queued requests at once */
	uint32_t sessions_max;     /* open client sessions */
	uint32_t dedup_max;        /* answers remembered for retries */
	uint32_t lease_default_ms; /* ACQUIRE/RENEW with lease_ms 0 */
	uint32_t lease_max_ms;     /* longer leases are cut to this */
	uint32_t wait_default_ms;  /* ACQUIRE|WAIT with wait_ms 0 */
	uint32_t wait_max_ms;      /* longer waits are cut to this */
	uint32_t session_default_ms;
	uint32_t session_max_ms;
	uint32_t timer_slots; /* power of two; 1 ms each */
};

/* Per-table counters, read by the owner and summed by readers. */
#define LOCK_COUNTER_LIST(X) \
	X(grants)            \
	X(grants_shared)     \
	X(queued)            \
	X(busy)              \
	X(busy_full)         \
	X(releases)          \
	X(renews)            \
	X(stale_token)       \
	X(not_held)          \
	X(lease_expired)     \
	X(wait_timeouts)     \
	X(sessions_opened)   \
	X(sessions_expired)  \
	X(sessions_closed)   \
	X(no_session)        \
	X(dedup_hits)

struct lock_table_counters {
#define LOCK_COUNTER_FIELD(name) uint64_t name;
	LOCK_COUNTER_LIST(LOCK_COUNTER_FIELD)
#undef LOCK_COUNTER_FIELD
};

/* Snapshot of one key, for QUERY. */
struct lock_query {
	bool held;
	bool shared;
	uint32_t holders;
	uint32_t waiters;
	uint64_t holder;        /* client id of the first holder */
	uint64_t token;         /* token of the first holder */
	uint32_t lease_left_ms; /* of the first holder */
};

struct lock_table;

/*
 * Fill @key from @bytes. Returns -EINVAL if @len is 0 or above
 * LATCH_KEY_MAX.
 */
int lock_key_set(struct lock_key *key, const void *bytes, uint16_t len);

/*
 * Validate @cfg; on error return -EINVAL and point @why at a sentence
 * naming the field (for latchd --check-config).
 */
int lock_table_config_check(const struct lock_table_config *cfg,
			    const char **why);

/* Start-up only. NULL and errno on failure. */
struct lock_table *lock_table_create(const struct lock_table_config *cfg,
				     const struct lock_index_ops *index,
				     void *index_ctx);
void lock_table_destroy(struct lock_table *lt);

/*
 * Apply one committed entry: change state and report every consequence
 * through @emit (replies, grants to waiters, lost leases). Deterministic:
 * the same entries in the same order give the same state and effects.
 * A retried request (same client id and request id, still in the dedup
 * window) changes nothing and is answered with its first answer, updated
 * if a queued wait has since ended.
 */
void lock_table_apply(struct lock_table *lt, const struct lock_entry *e,
		      lock_effect_fn emit, void *ctx);

/*
 * Find leases, waits and sessions due at @now_ms and write up to @max
 * EXPIRE entries into @out, to be proposed (and, on a single node,
 * applied at once). Returns how many were written. Only the proposer (a
 * single node, or the leader) calls this. Work is bounded by @max and by
 * the wheel slots passed since the last call.
 */
unsigned lock_table_tick(struct lock_table *lt, uint64_t now_ms,
			 struct lock_entry *out, unsigned max);

/*
 * Answer QUERY from the current state, changing nothing. Returns false if
 * the key has no holder and no waiter.
 */
bool lock_table_query(const struct lock_table *lt, const struct lock_key *key,
		      uint64_t now_ms, struct lock_query *out);

/*
 * What lock_table_prefetch_burst() needs of an entry about to be applied:
 * its op (enum lock_entry_op), client and request ids, and the token of a
 * RELEASE or RENEW. A shell can fill it from a packet before decoding it.
 */
struct lock_hint {
	uint8_t op;
	uint64_t client_id;
	uint64_t request_id;
	uint64_t token;
};

/*
 * Prefetch the table's own memory that applying @n entries described by
 * @hints, in that order, touches first: the buckets of the dedup window
 * and of the request map for each (client id, request id), of the token
 * map for a RELEASE or RENEW and for the tokens the ACQUIREs would take,
 * the dedup ring slots their answers take and the buckets of the answers
 * those slots evict. A hint only: it changes no state, so applying with
 * or without it gives the same state and effects, and a wrong hint costs
 * a wasted prefetch (tests/unit/test_lock_table.c). Same thread rules as
 * lock_table_apply(): the owner only. Why: at millions of entries a
 * second the maps and the dedup ring exceed L2; prefetching a burst
 * before applying it overlaps its cache misses (docs/benchmarks.md,
 * "where the cycles go"). The key index is the caller's.
 */
void lock_table_prefetch_burst(const struct lock_table *lt,
			       const struct lock_hint *hints, unsigned n);

/* Highest fencing token handed out so far (0 if none). */
uint64_t lock_table_token_last(const struct lock_table *lt);

const struct lock_table_counters *
lock_table_counters(const struct lock_table *lt);

/* Gauges for telemetry: locks present, holders, waiters, sessions. */
struct lock_table_gauges {
	uint32_t locks;
	uint32_t holders;
	uint32_t waiters;
	uint32_t sessions;
};
void lock_table_gauges(const struct lock_table *lt,
		       struct lock_table_gauges *out);

/*
 * Check every internal invariant (pools, lists, maps, timers, lock modes)
 * and abort through LATCH_ASSERT on the first broken one. O(pools): for
 * tests and the simulator, after each step; never on the fast path.
 * Added by the lock table's owner; not part of the original contract.
 */
void lock_table_check_invariants(const struct lock_table *lt);

/*
 * A 64-bit digest of the replicated state (locks with their holders and
 * queues in order, tokens, deadlines, sessions with their bound requests
 * in order, the dedup window in order, the last token), so tests and the
 * simulator can check that replicas which applied the same entries agree.
 * It does not depend on lock slots or pool positions, so replicas with
 * different key indexes, or one loaded from a snapshot, agree too.
 * O(pools); never on the fast path. Added with
 * lock_table_check_invariants().
 */
uint64_t lock_table_digest(const struct lock_table *lt);

/* ---- snapshots (docs/snapshot.md) ---- */

/*
 * A snapshot is the table's replicated state as a byte stream: versioned,
 * big-endian, ending in a checksum, written and read in chunks of any size
 * so a large table fits small messages (docs/raft.md, "ring sizing and
 * snapshots"). The format is described at the top of the snapshot code in
 * lock_table.c and in docs/snapshot.md. A table loaded from a snapshot and
 * then fed the same entries as the table saved gives the same effects and
 * the same lock_table_digest(). Not saved: counters (local telemetry) and
 * timer wheel state (rebuilt from the deadlines on load).
 */

/* Format version written; a load accepts only this one. */
#define LOCK_SNAPSHOT_VERSION 2

/*
 * Bytes of the longest record, the staging area of a cursor: a lock
 * record is 2 + LATCH_KEY_MAX + 9 bytes (75), every other one is shorter.
 */
#define LOCK_SNAPSHOT_RECORD_MAX 80

/*
 * Where a save is. Filled by lock_table_save_begin(); its fields are
 * private to lock_table.c. The caller owns the memory (a stack variable
 * or a field of its own state): a save allocates nothing.
 */
struct lock_snapshot_cursor {
	uint64_t generation; /* of the table when the save began */
	uint32_t sum;        /* CRC-32C of the bytes handed out so far */
	uint32_t phase;
	uint32_t pos;  /* lock slot, session or dedup position */
	uint32_t req;  /* next request of the current list */
	uint32_t list; /* which list req walks */
	uint16_t stage_len, stage_off;
	uint8_t stage[LOCK_SNAPSHOT_RECORD_MAX];
};

/*
 * Start saving @lt into @c. The owner only, between entries. The state
 * must not change until lock_table_save_next() has returned 0: the caller
 * saves as of an applied index and applies nothing more (nor
 * starts a load) until the save is done; a change is a
 * programmer error caught by LATCH_ASSERT in lock_table_save_next().
 * lock_table_tick() and lock_table_query() may run in between (they change
 * no replicated state). Returns 0, or -EBUSY while a load is in progress.
 */
int lock_table_save_begin(const struct lock_table *lt,
			  struct lock_snapshot_cursor *c);

/*
 * Write the next at most @max bytes of the snapshot into @buf. Returns how
 * many were written: less than @max only at the end, 0 once the snapshot
 * is complete (and for @max 0). Any chunk size works, down to 1 byte.
 */
size_t lock_table_save_next(const struct lock_table *lt,
			    struct lock_snapshot_cursor *c, uint8_t *buf,
			    size_t max);

/*
 * Bytes lock_table_save_begin() would produce now, to size a buffer for
 * lock_table_save(). O(pools); the owner only.
 */
uint64_t lock_table_save_size(const struct lock_table *lt);

/*
 * One-shot save for small tables: the whole snapshot into @buf. Returns
 * its length, or -ENOSPC if it needs more than @max bytes (@buf then holds
 * a prefix). Same rules as lock_table_save_begin().
 */
int64_t lock_table_save(const struct lock_table *lt, uint8_t *buf,
			uint64_t max);

/*
 * Start loading a snapshot into @lt: the table is emptied at once (every
 * lock, request, session and answer dropped, its keys deleted from the key
 * index, the last token reset), then lock_table_load_next() feeds bytes
 * and lock_table_load_end() completes. The owner only; nothing else may be
 * applied until the load ends. A follower calls this when the leader
 * sends a snapshot (docs/raft.md). Counters are kept. Returns 0.
 */
int lock_table_load_begin(struct lock_table *lt);

/*
 * Feed the next @len bytes of a snapshot, split anywhere. A snapshot is
 * input from the network: every field is checked before use. Returns 0,
 * -EINVAL for a malformed snapshot (bad magic, version, checksum, length,
 * field, or bytes after the end; a policy field such as lease_max_ms that
 * differs from @lt's configuration, since replicas must agree on it) or
 * -ENOSPC when the state does not fit @lt's pools or key index. On error
 * the table is left empty and consistent, the load is over, and later
 * calls return the same error until lock_table_load_begin().
 */
int lock_table_load_next(struct lock_table *lt, const uint8_t *buf, size_t len);

/*
 * Finish a load: 0 if the whole snapshot arrived and was valid (the table
 * then holds the saved state, timers armed at the saved deadlines), else
 * the error lock_table_load_next() returned or -EINVAL for a snapshot cut
 * short; the table is then empty.
 */
int lock_table_load_end(struct lock_table *lt);

/* One-shot load: begin, next over all of @buf, end. Returns as load_end. */
int lock_table_load(struct lock_table *lt, const uint8_t *buf, size_t len);

#endif /* LATCH_LOCK_TABLE_H */
