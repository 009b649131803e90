/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Appliance profiles: one node's ports, lcores, partitions and sizes.
 *
 * A profile is a text file of [sections] and "key = value" lines; '#'
 * starts a comment. firmware-cfg/lab.conf is the lab's; the other files in
 * firmware-cfg/ are commented examples for real NICs. docs/operations.md
 * lists every key. latchd --check-config PROFILE explains every error.
 *
 * Thread safety: parse and check run at start-up on one thread; the parsed
 * struct is read-only afterwards.
 */
#ifndef LATCH_PROFILE_H
#define LATCH_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include <latch/proto.h>

#define PROFILE_PORTS_MAX  4
#define PROFILE_STR_MAX    256
#define PROFILE_ERRORS_MAX 32

enum profile_idle {
	PROFILE_IDLE_POLL = 0,  /* busy-poll always: one dedicated core each */
	PROFILE_IDLE_PAUSE = 1, /* rte_pause() after empty polls */
	PROFILE_IDLE_SLEEP = 2, /* pause, then sleep: cores shared in tests */
};

/* What a port is for. */
enum profile_port_role {
	PROFILE_PORT_CLIENT = 0, /* lock requests from clients (TAP, NIC) */
	PROFILE_PORT_BENCH = 1,  /* DPDK clients over memif (latch-bench) */
};

struct profile_port {
	char name[32];                 /* the section's name: [port NAME] */
	char devargs[PROFILE_STR_MAX]; /* vdev string, or PCI address */
	bool is_vdev;
	uint8_t role;     /* enum profile_port_role */
	uint32_t addr_be; /* IPv4 address latchd answers on */
	uint16_t rx_desc;
	uint16_t tx_desc;
	uint16_t mtu;
};

struct profile {
	/* [node] */
	char name[32];
	uint32_t node_id;
	uint16_t port_base;              /* UDP port of partition 0 */
	char run_dir[PROFILE_STR_MAX];   /* sockets, pid file */
	char state_dir[PROFILE_STR_MAX]; /* boot epoch (fencing tokens) */

	/* [eal] */
	char eal_lcores[PROFILE_STR_MAX]; /* EAL --lcores value */
	char eal_args[PROFILE_STR_MAX];   /* extra EAL arguments */

	/* [workers] */
	uint16_t workers;          /* = partitions; one worker lcore each */
	uint8_t idle;              /* enum profile_idle */
	uint32_t idle_pause_polls; /* empty polls before pausing */
	uint32_t idle_sleep_polls; /* empty polls before sleeping */
	uint32_t idle_sleep_us;    /* longest sleep */
	uint16_t burst;            /* rx/tx burst size */
	uint32_t mbufs;            /* per port mempool size */
	uint32_t ring_size;  /* handoff ring between workers, power of 2 */
	bool pktgen_reflect; /* reflect pktgen latency probes (port 1028) */

	/* [table]: per partition */
	uint32_t locks_max;
	uint32_t holders_max;
	uint32_t waiters_max;
	uint32_t sessions_max;
	uint32_t dedup_max;
	uint32_t notify_max; /* notifications awaiting ACK */
	uint32_t timer_slots;

	/* [lease] */
	uint32_t lease_default_ms;
	uint32_t lease_max_ms;
	uint32_t wait_default_ms;
	uint32_t wait_max_ms;
	uint32_t session_default_ms;
	uint32_t session_max_ms;
	uint32_t notify_retry_ms; /* retransmit period of GRANTED/LOST */
	uint32_t notify_retries;  /* then give up and count it */

	/* [port NAME] sections, in file order */
	uint16_t ports_count;
	struct profile_port ports[PROFILE_PORTS_MAX];
};

/* Errors found in a profile, each a full sentence with its line number. */
struct profile_errors {
	unsigned count;
	char msg[PROFILE_ERRORS_MAX][160];
};

/* Fill @p with the defaults every key has when a profile omits it. */
void profile_defaults(struct profile *p);

/*
 * Parse the file at @path on top of the defaults, then apply @overrides
 * ("section.key=value" strings, as latchd --set gives them; a port is
 * "port.NAME.key=value"), then check the result. Returns 0, or -EINVAL
 * with every error in @errs, or -errno if the file cannot be read.
 */
int profile_load(struct profile *p, const char *path,
		 const char *const *overrides, unsigned overrides_count,
		 struct profile_errors *errs);

/* Check relations between values (also called by profile_load). */
int profile_check(const struct profile *p, struct profile_errors *errs);

#endif /* LATCH_PROFILE_H */
