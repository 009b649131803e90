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

#define PROFILE_PORTS_MAX  8
#define PROFILE_STR_MAX    256
#define PROFILE_ERRORS_MAX 32
/* [route NAME] sections; more can be added at run time (route_conf.h). */
#define PROFILE_ROUTES_MAX 32
/*
 * [backend NAME] sections, over all pools: each has a counter slot in
 * every worker (worker.h), so the bound is the size of those arrays.
 */
#define PROFILE_BACKENDS_MAX 64
/*
 * workers.shed_depth's bound: a worker measures a queue's depth by reading
 * up to this many packets (and a burst) before it answers any, so deeper
 * ones could not be told apart (docs/operations.md, "Overload").
 */
#define PROFILE_SHED_DEPTH_MAX 4096
/* [group NAME] sections: shard groups of the rack (shard_map.h). */
#define PROFILE_GROUPS_MAX 16
/* Longest name of a section ([port NAME], [route NAME], ...) + 1. */
#define PROFILE_NAME_MAX 32
/*
 * [peer NAME] sections: the other nodes of this node's cluster. A cluster
 * has at most 8 nodes (control/raft/raft_msg.h, RAFT_NODES_MAX: node sets
 * are 8-bit masks), so at most 7 peers and node ids 0..7 when peers exist.
 */
#define PROFILE_PEERS_MAX      7
#define PROFILE_CLUSTER_ID_MAX 7

enum profile_idle {
	PROFILE_IDLE_POLL = 0,  /* busy-poll always: one dedicated core each */
	PROFILE_IDLE_PAUSE = 1, /* rte_pause() after empty polls */
	PROFILE_IDLE_SLEEP = 2, /* pause, then sleep: cores shared in tests */
};

/* What a port is for. */
enum profile_port_role {
	PROFILE_PORT_CLIENT = 0, /* lock requests from clients (TAP, NIC) */
	PROFILE_PORT_BENCH = 1,  /* DPDK clients over memif (latch-bench) */
	/* A point-to-point link to one peer's dataplane (memif in the lab):
	 * partition replication to that peer goes on it while it is up
	 * (docs/cluster.md, "Peer links"). */
	PROFILE_PORT_PEER = 2,
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
	/* role peer: the [peer NAME] at the other end of the link. */
	char peer[PROFILE_NAME_MAX];
};

/* "IPv4:port": where latch-control listens or a peer is reached. */
struct profile_addr_port {
	uint32_t addr_be; /* 0: not given */
	uint16_t port;    /* host order */
};

/* [peer NAME]: another node of the cluster, for latch-control. */
struct profile_peer {
	char name[PROFILE_NAME_MAX];
	uint32_t id;                   /* its node.id (Raft node id) */
	struct profile_addr_port mgmt; /* its latch-control's UDP address */
	uint32_t data_be;              /* its dataplane address; 0: none */
	/* Its dataplane's MAC on the client port (static: the lab sets TAP
	 * MACs with net_tap's mac= devarg); all zero: not given. latchd's
	 * workers send partition replication to it (docs/cluster.md). */
	uint8_t mac[6];
	/* A member of the cluster's initial configuration (default yes);
	 * no: it joins later with `latchctl cluster add-member`
	 * (docs/cluster.md, "Adding and removing members"). */
	bool bootstrap;
};

/* A UDP destination port range of a route: "8000" or "8000-8010". */
struct profile_port_range {
	uint16_t first; /* 0: not given */
	uint16_t last;
};

/* What a route hashes; values equal enum router_key_kind (router.h). */
enum profile_key_kind {
	PROFILE_KEY_5TUPLE = 0,  /* key = 5tuple */
	PROFILE_KEY_PAYLOAD = 1, /* key = payload:OFFSET:LEN */
	PROFILE_KEY_LATCH = 2,   /* key = latch */
	PROFILE_KEY_NONE = 255,  /* not given */
};

struct profile_route_key {
	uint8_t kind; /* enum profile_key_kind */
	uint16_t off; /* payload: offset in the UDP payload */
	uint16_t len; /* payload: bytes */
};

/* [route NAME]: UDP to @match goes to a backend of @pool (docs/routing.md). */
struct profile_route {
	char name[PROFILE_NAME_MAX];
	struct profile_port_range match;
	struct profile_route_key key;
	char pool[PROFILE_NAME_MAX];
	char default_backend[PROFILE_NAME_MAX]; /* "": drop bad input */
	uint32_t table_size;                    /* Maglev M; 0: default */
	/* Connection tracking (dataplane/conntrack.h), 5tuple keys only;
	 * idle time in ms, 0: CONNTRACK_IDLE_MS_DEFAULT (30 s). */
	bool conntrack;
	uint32_t conntrack_idle_ms;
};

/* [backend NAME]: one member of a pool. */
struct profile_backend {
	char name[PROFILE_NAME_MAX]; /* also its Maglev identity */
	char pool[PROFILE_NAME_MAX];
	uint32_t addr_be;
	uint8_t mac[6]; /* next hop's Ethernet address; all 0: not given */
	uint16_t udp_port;
	uint16_t weight;
	bool up;                    /* state = up | down */
	char via[PROFILE_NAME_MAX]; /* TX port; "": the receiving port */
};

/* [group NAME]: a shard group (cluster) of the rack and how to reach it. */
struct profile_group {
	char name[PROFILE_NAME_MAX];
	uint32_t id;
	uint32_t addr_be;
	uint8_t mac[6];
	char via[PROFILE_NAME_MAX]; /* TX port; "": the receiving port */
};

struct profile {
	/* [node] */
	char name[32];
	uint32_t node_id;
	uint16_t port_base;              /* UDP port of partition 0 */
	char run_dir[PROFILE_STR_MAX];   /* sockets, pid file */
	char state_dir[PROFILE_STR_MAX]; /* boot epoch (fencing tokens) */
	uint32_t group; /* our shard group's id; 0: no shard groups */
	/* UDP port of worker 0's partition replication (worker p uses
	 * repl_port_base + p, docs/cluster.md); 0: port_base + 100. */
	uint16_t repl_port_base;

	/* [eal] */
	char eal_lcores[PROFILE_STR_MAX]; /* EAL --lcores value */
	char eal_args[PROFILE_STR_MAX];   /* extra EAL arguments */

	/* [workers] */
	uint16_t workers;          /* = partitions; one worker lcore each */
	uint8_t idle;              /* enum profile_idle */
	uint32_t idle_pause_polls; /* empty polls before pausing */
	uint32_t idle_sleep_polls; /* empty polls before sleeping */
	uint32_t idle_yield_polls; /* sleep: pausing, yield every this many */
	uint32_t idle_sleep_us;    /* longest sleep */
	uint16_t burst;            /* rx/tx burst size */
	uint32_t shed_depth;       /* queue depth past which ACQUIRE is BUSY */
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
	uint32_t conntrack_max; /* flows per worker (5-tuple routes); 0: off */

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

	/* [route NAME], [backend NAME], [group NAME], in file order */
	uint16_t routes_count;
	struct profile_route routes[PROFILE_ROUTES_MAX];
	uint16_t backends_count;
	struct profile_backend backends[PROFILE_BACKENDS_MAX];
	uint16_t groups_count;
	struct profile_group groups[PROFILE_GROUPS_MAX];

	/*
	 * [control]: latch-control (docs/operations.md, "latch-control").
	 * Empty paths mean the defaults latch-control derives from
	 * node.run_dir and node.state_dir; an http or mgmt_addr with addr 0
	 * is not served.
	 */
	char control_state_dir[PROFILE_STR_MAX];     /* term, vote, meta log */
	char control_api_socket[PROFILE_STR_MAX];    /* latchctl's JSON API */
	char control_latchd_socket[PROFILE_STR_MAX]; /* latchd's socket */
	struct profile_addr_port control_http;       /* /metrics, /status */
	struct profile_addr_port control_mgmt;       /* peer Raft traffic */
	uint32_t control_election_ms;
	uint32_t control_heartbeat_ms;
	/* Liveness beacon period to every peer; 0: heartbeat_ms. A dead
	 * peer process is known within one (ICMP port unreachable). */
	uint32_t control_beacon_ms;
	uint32_t control_latchd_poll_ms; /* latchd status poll period */
	/* A member of the cluster's initial configuration: a new state dir
	 * starts with every configured node (self and peers) as voters and
	 * takes its first dataplane as caught up (docs/cluster.md). */
	bool control_bootstrap;

	/* [peer NAME] sections, in file order */
	uint16_t peers_count;
	struct profile_peer peers[PROFILE_PEERS_MAX];
};

/* Errors found in a profile, each a full sentence with its line number. */
struct profile_errors {
	unsigned count;
	char msg[PROFILE_ERRORS_MAX][160];
};

/* Offset of the default node.repl_port_base from node.port_base: 7400 ->
 * 7500, above every lock port (at most LATCH_PARTITIONS_MAX of them). */
#define PROFILE_REPL_PORT_OFFSET 100

/* node.repl_port_base as latchd uses it (the default filled in). */
static inline uint16_t
profile_repl_port_base(const struct profile *p)
{
	return p->repl_port_base != 0
		       ? p->repl_port_base
		       : (uint16_t)(p->port_base + PROFILE_REPL_PORT_OFFSET);
}

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

/*
 * Parse a route's ports, "8000" or "8000-8010" (1..65535, first <= last).
 * 0 or -EINVAL. Any thread; pure (latchd's control socket uses it too).
 */
int profile_parse_port_range(const char *s, struct profile_port_range *out);

/*
 * Parse a route's key: "5tuple", "latch" or "payload:OFFSET:LEN" (LEN
 * 1..PROFILE_PAYLOAD_KEY_MAX, OFFSET + LEN within a UDP payload). 0 or
 * -EINVAL. Any thread; pure.
 */
int profile_parse_route_key(const char *s, struct profile_route_key *out);

/* Longest payload key: a generous bound; Maglev hashes any length. */
#define PROFILE_PAYLOAD_KEY_MAX 256

/* The text of @k as the profile writes it, into @out (>= 32 bytes). */
void profile_route_key_text(const struct profile_route_key *k, char *out,
			    unsigned size);

/*
 * Parse "IPv4:port" (port 1..65535) into @out. 0 or -EINVAL. Any thread;
 * pure (latch-control's --set and tests use it too).
 */
int profile_parse_addr_port(const char *s, struct profile_addr_port *out);

/* Index of [port @name] in p->ports, or -1. Any thread; pure. */
int profile_port_index(const struct profile *p, const char *name);

/* Index of [peer @name] in p->peers, or -1. Any thread; pure. */
int profile_peer_index(const struct profile *p, const char *name);

/* "client", "bench" or "peer": @role as the profile spells it. */
const char *profile_port_role_name(uint8_t role);

/* Check relations between values (also called by profile_load). */
int profile_check(const struct profile *p, struct profile_errors *errs);

#endif /* LATCH_PROFILE_H */
