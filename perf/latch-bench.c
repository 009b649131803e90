/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-bench: the DPDK load generator of latch (docs/benchmarks.md).
 *
 * One lcore drives a net_memif client port with one queue per latchd
 * worker: a request for a key of partition p leaves on queue p, to UDP
 * port base + p (docs/protocol.md, "transport"). Two ways to load:
 *
 * - closed loop: each queue keeps --outstanding request chains busy; a
 *   chain sends its next request as soon as the last one is answered;
 * - open loop (--rate): requests leave on a schedule (constant or Poisson
 *   gaps) whatever the answers do, and latency is measured from the time a
 *   request was MEANT to leave, so a stalled server shows as queueing delay
 *   instead of hiding it (no coordinated omission). A request that cannot
 *   leave yet (table or TX ring full) keeps its intended time.
 *
 * Lock mode sends ACQUIRE (try or wait, exclusive or shared) followed by
 * RELEASE of each grant; echo mode sends the same frames to a plain
 * forwarder (dpdk-testpmd macswap), the reference that tells this
 * machine's packet-rate limit and round trip. Route mode sends them to a
 * routed UDP port of latchd (docs/routing.md) whose backend is
 * latch-bench itself, so latchd's router (parse, Maglev lookup, rewrite)
 * returns each one over the same memif port.
 *
 * Every request is tracked by its request id in a table of
 * BENCH_INFLIGHT_MAX entries until its answer or its timeout, so the
 * counters satisfy sent == answered + timeouts after the final drain.
 * Latency comes from TSC timestamps and goes into common/hist.h.
 *
 * Threading: everything runs on the EAL main lcore; memif's control
 * messages are handled by EAL's interrupt thread.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <latch/proto.h>

#include "common/hist.h"
#include "common/wire.h"
#include "perf/keygen.h"

/* Most queues (= latchd workers) one run drives; memif allows 255. */
#define BENCH_QUEUES_MAX 16
/* Packets per rx/tx burst: DPDK's customary 32. */
#define BENCH_BURST 32
/*
 * Requests in flight at once, all queues together: a power of two so a
 * request id picks its entry by mask. 2^18 covers 1 s of backlog at
 * 250 kreq/s and any closed loop below 16 queues x 16k outstanding.
 */
#define BENCH_INFLIGHT_MAX (1u << 18)
/* Frames waiting for their TX queue, per queue (memif rings hold 1024). */
#define BENCH_TXBUF 1024
/* Descriptors per memif ring; latchd's lab port uses 1024 too. */
#define BENCH_RING_DESC 1024
/* Headers in front of the latch message: Ethernet 14, IPv4 20, UDP 8. */
#define BENCH_HDR_LEN 42
/* Ethernet's minimum frame without FCS. */
#define BENCH_ETH_MIN 60
/* Seconds to wait for the memif link (latchd's server must accept). */
#define BENCH_LINK_WAIT_S 10
/* ARP for the server's MAC: tries, 100 ms apart (else broadcast). */
#define BENCH_ARP_TRIES 10
/* TTL of our requests (RFC 1700's default); a routed one comes back less. */
#define BENCH_TTL 64
/* Route mode: latchd's routed port, clear of the lock ports 7400.. */
#define BENCH_ROUTE_PORT_DEFAULT 9000
/* UDP source port of queue q's requests: 50000 + q (any free port). */
#define BENCH_SRC_PORT_BASE 50000

enum bench_mode {
	BENCH_MODE_LOCK = 0,
	BENCH_MODE_ECHO,
	BENCH_MODE_ROUTE,
};

enum bench_arrival {
	BENCH_ARRIVAL_CONST = 0,
	BENCH_ARRIVAL_POISSON,
};

struct bench_config {
	enum bench_mode mode;
	const char *socket;
	const char *vdev; /* whole --vdev string, overrides socket */
	const char *file_prefix;
	unsigned lcore;
	int no_huge; /* -1 auto, 0 no, 1 yes */
	uint16_t queues;
	double duration_s;
	double rate; /* requests/s, all queues; 0 = closed loop */
	enum bench_arrival arrival;
	unsigned outstanding; /* per queue, closed loop */
	bool wait;
	double shared_ratio;
	uint64_t keys;
	enum keygen_dist dist;
	double theta;
	unsigned clients;
	unsigned key_len;
	uint32_t lease_ms;
	uint32_t wait_ms;
	uint32_t timeout_ms;
	uint64_t seed;
	uint16_t port_base;
	uint32_t server_ip_be;
	uint32_t client_ip_be;
	uint16_t route_port; /* route mode: latchd's routed UDP port */
	const char *mac;     /* our memif MAC (vdev "mac="), or NULL */
	const char *json_path;
	bool quiet;
	int eal_extra_argc;
	char **eal_extra_argv;
};

enum bench_req_state {
	REQ_FREE = 0,
	REQ_SENT,    /* awaiting its answer */
	REQ_WAITING, /* ACQUIRE answered QUEUED, awaiting GRANTED */
};

/* One request in flight, found by request_id & (BENCH_INFLIGHT_MAX - 1). */
struct bench_req {
	uint64_t id;
	uint64_t intended_tsc; /* latency is measured from here */
	uint64_t deadline_tsc;
	uint64_t token;
	uint64_t key;
	uint32_t chain; /* closed-loop chain, or BENCH_NO_CHAIN */
	uint16_t queue;
	uint16_t client;
	uint16_t flags;
	uint8_t op;
	uint8_t state;
};

#define BENCH_NO_CHAIN UINT32_MAX

struct bench_counters {
	uint64_t sent;
	uint64_t answered;
	uint64_t timeouts;
	uint64_t unmatched; /* answers to no request in flight (late, dup) */
	uint64_t acquires;
	uint64_t releases;
	uint64_t granted;
	uint64_t grant_timeouts;
	uint64_t lost;
	uint64_t acks_sent;
	uint64_t rx_packets;
	uint64_t rx_other;
	uint64_t rx_malformed;
	uint64_t tx_retries;
	uint64_t no_mbuf;
	uint64_t backlog_max; /* open loop: most arrivals behind schedule */
	/* Receive polls of the load loop, and those that found nothing: a
	 * bench that seldom finds its queues empty is the bottleneck itself. */
	uint64_t rx_polls;
	uint64_t rx_empty_polls;
	uint64_t status[LATCH_S_MAX + 1];
};

struct bench_txq {
	uint16_t count;
	struct rte_mbuf *pkts[BENCH_TXBUF];
};

struct bench {
	struct bench_config cfg;
	uint16_t port_id;
	struct rte_mempool *pool;
	uint64_t tsc_hz;
	uint8_t tmpl[BENCH_QUEUES_MAX][BENCH_HDR_LEN];
	struct rte_ether_addr our_mac;
	struct rte_ether_addr server_mac;
	uint16_t frame_len;
	uint64_t client_ids[UINT16_MAX + 1];

	struct keygen keygen;
	struct keygen_rng rng;

	struct bench_req *reqs; /* BENCH_INFLIGHT_MAX entries */
	uint64_t next_id;       /* next request id to hand out */
	uint64_t oldest_id;     /* no request below it is in flight */
	uint64_t inflight;      /* requests SENT or WAITING */

	struct bench_txq txq[BENCH_QUEUES_MAX];
	uint32_t *stalled; /* chains that could not send: retried */
	uint32_t stalled_count;
	uint32_t chains;

	uint64_t timeout_tsc;
	uint64_t wait_extra_tsc;
	double next_arrival_tsc; /* open loop schedule */
	double gap_tsc;
	bool stopping;

	struct bench_counters c;
	struct bench_counters at_end; /* snapshot when --duration ended */
	double elapsed_s;
	struct hist *lat_all, *lat_acquire, *lat_release, *lat_grant, *lat_sec;
};

static volatile bool bench_stop_signal;

static const char *
bench_mode_name(enum bench_mode mode)
{
	switch (mode) {
	case BENCH_MODE_ECHO:
		return "echo";
	case BENCH_MODE_ROUTE:
		return "route";
	case BENCH_MODE_LOCK:
	default:
		return "lock";
	}
}

static void
bench_on_signal(int sig)
{
	(void)sig;
	bench_stop_signal = true;
}

static void
bench_usage(FILE *f)
{
	fprintf(f,
		"Usage: latch-bench [OPTIONS] [-- EAL-ARGS]\n"
		"\n"
		"Drive latchd's net_memif lab port (or, with --mode echo, a\n"
		"forwarder such as dpdk-testpmd --forward-mode=macswap) and "
		"report\n"
		"latency percentiles and throughput (docs/benchmarks.md).\n"
		"\n"
		"Load:\n"
		"  --mode lock|echo|route  lock: ACQUIRE+RELEASE pairs "
		"(default); "
		"echo:\n"
		"                        same-sized frames, any echoed frame "
		"answers;\n"
		"                        route: the frames to latchd's routed "
		"port\n"
		"                        (--route-port), whose backend is us\n"
		"  --route-port P        route mode: UDP port of latchd's "
		"route "
		"(9000)\n"
		"  --duration S          seconds of load (default 5)\n"
		"  --outstanding N       closed loop: requests in flight per "
		"queue\n"
		"                        (default 1)\n"
		"  --rate R              open loop: R requests/s over all "
		"queues,\n"
		"                        latency from the intended send time\n"
		"  --arrival const|poisson  open-loop gaps (default const)\n"
		"  --timeout-ms MS       a request unanswered this long is a "
		"timeout\n"
		"                        (default 1000)\n"
		"Workload (lock mode):\n"
		"  --keys K              key count (default 1024)\n"
		"  --dist uniform|zipf   key popularity (default uniform)\n"
		"  --theta T             Zipf exponent (default 0.99)\n"
		"  --wait                ACQUIRE with WAIT (queue), else try\n"
		"  --shared F            fraction of shared ACQUIREs (default "
		"0)\n"
		"  --clients C           client ids sharing the keys: real "
		"contention\n"
		"                        (default 1)\n"
		"  --key-len B           key bytes, 8..64 (default 16); sets "
		"frame size\n"
		"  --lease-ms MS         lease asked (default 2000)\n"
		"  --wait-ms MS          wait asked with --wait (default 100)\n"
		"  --seed N              key sequence seed (default 1)\n"
		"Port:\n"
		"  --socket PATH         memif socket "
		"(default /run/latch/lab1/memif.sock)\n"
		"  --vdev STRING         whole EAL --vdev (overrides "
		"--socket)\n"
		"  --queues Q            queues = latchd workers (default 2)\n"
		"  --server-ip A         latchd's address (default "
		"198.19.0.1)\n"
		"  --client-ip A         our address (default 198.19.0.2)\n"
		"  --mac MAC             our memif MAC (default: memif's "
		"own);\n"
		"                        route mode: the backend's mac\n"
		"  --port-base P         UDP port of partition 0 (default "
		"7400)\n"
		"  --lcore N             CPU of the sending lcore (default 0)\n"
		"  --file-prefix P       EAL file prefix (default "
		"latch-bench-PID)\n"
		"  --no-huge / --huge    force EAL memory kind (default: "
		"hugepages\n"
		"                        when 128 are free)\n"
		"Output:\n"
		"  --json FILE           write the report as JSON ('-' = "
		"stdout)\n"
		"  --quiet               no progress line on stderr\n"
		"  --help                this text\n");
}

/* Parse a non-negative number with an optional upper bound; -EINVAL. */
static int
bench_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
bench_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_MODE = 256,
	OPT_DURATION,
	OPT_OUTSTANDING,
	OPT_RATE,
	OPT_ARRIVAL,
	OPT_TIMEOUT,
	OPT_KEYS,
	OPT_DIST,
	OPT_THETA,
	OPT_WAIT,
	OPT_SHARED,
	OPT_CLIENTS,
	OPT_KEY_LEN,
	OPT_LEASE,
	OPT_WAIT_MS,
	OPT_SEED,
	OPT_SOCKET,
	OPT_VDEV,
	OPT_QUEUES,
	OPT_SERVER_IP,
	OPT_CLIENT_IP,
	OPT_PORT_BASE,
	OPT_LCORE,
	OPT_PREFIX,
	OPT_NO_HUGE,
	OPT_HUGE,
	OPT_JSON,
	OPT_QUIET,
	OPT_ROUTE_PORT,
	OPT_MAC,
	OPT_HELP,
};

/*
 * Parse the options into @cfg. Returns 0, 1 after --help, or -EINVAL
 * with a message on stderr. Main thread, before EAL.
 */
static int
bench_parse_args(int argc, char **argv, struct bench_config *cfg)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, OPT_MODE},
		{"duration", required_argument, NULL, OPT_DURATION},
		{"outstanding", required_argument, NULL, OPT_OUTSTANDING},
		{"rate", required_argument, NULL, OPT_RATE},
		{"arrival", required_argument, NULL, OPT_ARRIVAL},
		{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
		{"keys", required_argument, NULL, OPT_KEYS},
		{"dist", required_argument, NULL, OPT_DIST},
		{"theta", required_argument, NULL, OPT_THETA},
		{"wait", no_argument, NULL, OPT_WAIT},
		{"shared", required_argument, NULL, OPT_SHARED},
		{"clients", required_argument, NULL, OPT_CLIENTS},
		{"key-len", required_argument, NULL, OPT_KEY_LEN},
		{"lease-ms", required_argument, NULL, OPT_LEASE},
		{"wait-ms", required_argument, NULL, OPT_WAIT_MS},
		{"seed", required_argument, NULL, OPT_SEED},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"vdev", required_argument, NULL, OPT_VDEV},
		{"queues", required_argument, NULL, OPT_QUEUES},
		{"server-ip", required_argument, NULL, OPT_SERVER_IP},
		{"client-ip", required_argument, NULL, OPT_CLIENT_IP},
		{"port-base", required_argument, NULL, OPT_PORT_BASE},
		{"lcore", required_argument, NULL, OPT_LCORE},
		{"file-prefix", required_argument, NULL, OPT_PREFIX},
		{"no-huge", no_argument, NULL, OPT_NO_HUGE},
		{"huge", no_argument, NULL, OPT_HUGE},
		{"json", required_argument, NULL, OPT_JSON},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"route-port", required_argument, NULL, OPT_ROUTE_PORT},
		{"mac", required_argument, NULL, OPT_MAC},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	uint64_t u;
	int c, ret = 0;
	struct in_addr a;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_MODE:
			if (strcmp(optarg, "lock") == 0)
				cfg->mode = BENCH_MODE_LOCK;
			else if (strcmp(optarg, "echo") == 0)
				cfg->mode = BENCH_MODE_ECHO;
			else if (strcmp(optarg, "route") == 0)
				cfg->mode = BENCH_MODE_ROUTE;
			else
				ret = -EINVAL;
			break;
		case OPT_DURATION:
			ret = bench_parse_double(optarg, 0.01, 86400.0,
						 &cfg->duration_s);
			break;
		case OPT_OUTSTANDING:
			ret = bench_parse_u64(optarg, 16384, &u);
			cfg->outstanding = (unsigned)u;
			if (u == 0)
				ret = -EINVAL;
			break;
		case OPT_RATE:
			ret = bench_parse_double(optarg, 0.0, 1e9, &cfg->rate);
			break;
		case OPT_ARRIVAL:
			if (strcmp(optarg, "const") == 0)
				cfg->arrival = BENCH_ARRIVAL_CONST;
			else if (strcmp(optarg, "poisson") == 0)
				cfg->arrival = BENCH_ARRIVAL_POISSON;
			else
				ret = -EINVAL;
			break;
		case OPT_TIMEOUT:
			ret = bench_parse_u64(optarg, 600000, &u);
			cfg->timeout_ms = (uint32_t)u;
			if (u == 0)
				ret = -EINVAL;
			break;
		case OPT_KEYS:
			ret = bench_parse_u64(optarg, UINT32_MAX, &cfg->keys);
			if (cfg->keys == 0)
				ret = -EINVAL;
			break;
		case OPT_DIST:
			ret = keygen_dist_parse(optarg, &cfg->dist);
			break;
		case OPT_THETA:
			ret = bench_parse_double(optarg, 0.0, 10.0,
						 &cfg->theta);
			break;
		case OPT_WAIT:
			cfg->wait = true;
			break;
		case OPT_SHARED:
			ret = bench_parse_double(optarg, 0.0, 1.0,
						 &cfg->shared_ratio);
			break;
		case OPT_CLIENTS:
			ret = bench_parse_u64(optarg, UINT16_MAX, &u);
			cfg->clients = (unsigned)u;
			if (u == 0)
				ret = -EINVAL;
			break;
		case OPT_KEY_LEN:
			ret = bench_parse_u64(optarg, LATCH_KEY_MAX, &u);
			cfg->key_len = (unsigned)u;
			if (u < 8)
				ret = -EINVAL;
			break;
		case OPT_LEASE:
			ret = bench_parse_u64(optarg, UINT32_MAX, &u);
			cfg->lease_ms = (uint32_t)u;
			break;
		case OPT_WAIT_MS:
			ret = bench_parse_u64(optarg, UINT32_MAX, &u);
			cfg->wait_ms = (uint32_t)u;
			break;
		case OPT_SEED:
			ret = bench_parse_u64(optarg, UINT64_MAX, &cfg->seed);
			break;
		case OPT_SOCKET:
			cfg->socket = optarg;
			break;
		case OPT_VDEV:
			cfg->vdev = optarg;
			break;
		case OPT_QUEUES:
			ret = bench_parse_u64(optarg, BENCH_QUEUES_MAX, &u);
			cfg->queues = (uint16_t)u;
			if (u == 0)
				ret = -EINVAL;
			break;
		case OPT_SERVER_IP:
			ret = inet_pton(AF_INET, optarg, &a) == 1 ? 0 : -EINVAL;
			cfg->server_ip_be = a.s_addr;
			break;
		case OPT_CLIENT_IP:
			ret = inet_pton(AF_INET, optarg, &a) == 1 ? 0 : -EINVAL;
			cfg->client_ip_be = a.s_addr;
			break;
		case OPT_PORT_BASE:
			ret = bench_parse_u64(optarg, UINT16_MAX, &u);
			cfg->port_base = (uint16_t)u;
			break;
		case OPT_ROUTE_PORT:
			ret = bench_parse_u64(optarg, UINT16_MAX, &u);
			cfg->route_port = (uint16_t)u;
			if (u == 0)
				ret = -EINVAL;
			break;
		case OPT_MAC: {
			struct rte_ether_addr ea;

			ret = rte_ether_unformat_addr(optarg, &ea) == 0
				      ? 0
				      : -EINVAL;
			cfg->mac = optarg;
			break;
		}
		case OPT_LCORE:
			ret = bench_parse_u64(optarg, RTE_MAX_LCORE - 1, &u);
			cfg->lcore = (unsigned)u;
			break;
		case OPT_PREFIX:
			cfg->file_prefix = optarg;
			break;
		case OPT_NO_HUGE:
			cfg->no_huge = 1;
			break;
		case OPT_HUGE:
			cfg->no_huge = 0;
			break;
		case OPT_JSON:
			cfg->json_path = optarg;
			break;
		case OPT_QUIET:
			cfg->quiet = true;
			break;
		case 'h':
		case OPT_HELP:
			bench_usage(stdout);
			return 1;
		default:
			bench_usage(stderr);
			return -EINVAL;
		}
		if (ret != 0) {
			fprintf(stderr, "latch-bench: bad value '%s' for %s\n",
				optarg, argv[optind - 1]);
			return ret;
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		fprintf(stderr, "latch-bench: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	cfg->eal_extra_argc = argc - optind;
	cfg->eal_extra_argv = argv + optind;
	if ((uint64_t)cfg->outstanding * cfg->queues >=
	    BENCH_INFLIGHT_MAX / 2) {
		fprintf(stderr,
			"latch-bench: --outstanding x --queues must "
			"stay below %u\n",
			BENCH_INFLIGHT_MAX / 2);
		return -EINVAL;
	}
	return 0;
}

/* Whether 128 free 2 MiB pages (256 MiB) and hugetlbfs are there. */
static bool
bench_hugepages_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long free_pages = 0;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "HugePages_Free: %lu", &free_pages) == 1)
			break;
	fclose(f);
	return free_pages >= 128 && access("/dev/hugepages", W_OK) == 0;
}

/*
 * Build the EAL arguments: main lcore on --lcore, our own file prefix,
 * no PCI scan, the memif client vdev, then whatever came after "--".
 * Returns the EAL's return value.
 */
static int
bench_eal_init(const char *argv0, struct bench_config *cfg)
{
	static char lcore[32], prefix[64], vdev[512];
	char *args[64];
	int n = 0, i;

	snprintf(lcore, sizeof(lcore), "%u", cfg->lcore);
	if (cfg->file_prefix == NULL) {
		snprintf(prefix, sizeof(prefix), "latch-bench-%d",
			 (int)getpid());
		cfg->file_prefix = prefix;
	}
	if (cfg->vdev == NULL) {
		snprintf(vdev, sizeof(vdev),
			 "net_memif0,role=client,socket=%s,"
			 "socket-abstract=no%s%s",
			 cfg->socket, cfg->mac != NULL ? ",mac=" : "",
			 cfg->mac != NULL ? cfg->mac : "");
		cfg->vdev = vdev;
	}
	if (cfg->no_huge < 0)
		cfg->no_huge = !bench_hugepages_available();
	args[n++] = (char *)argv0;
	args[n++] = "-l";
	args[n++] = lcore;
	args[n++] = "--file-prefix";
	args[n++] = (char *)cfg->file_prefix;
	args[n++] = "--no-pci";
	args[n++] = "--vdev";
	args[n++] = (char *)cfg->vdev;
	args[n++] = "--log-level";
	args[n++] = "lib.eal:warning";
	if (cfg->no_huge) {
		/* 512 MiB, as every DPDK process of the lab without pages. */
		args[n++] = "--no-huge";
		args[n++] = "-m";
		args[n++] = "512";
	} else {
		/* Leave no page files behind a crash of the benchmark. */
		args[n++] = "--huge-unlink";
	}
	for (i = 0; i < cfg->eal_extra_argc && n < 63; i++)
		args[n++] = cfg->eal_extra_argv[i];
	args[n] = NULL;
	return rte_eal_init(n, args);
}

/* Key bytes of @rank: 'k' then the rank in hex, zero-padded, key_len. */
static void
bench_key(unsigned key_len, uint64_t rank, uint8_t *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned i;

	out[0] = 'k';
	for (i = key_len - 1; i >= 1; i--) {
		out[i] = (uint8_t)hex[rank & 0xf];
		rank >>= 4;
	}
}

static uint16_t
bench_key_partition(const struct bench *b, uint64_t rank)
{
	uint8_t key[LATCH_KEY_MAX];

	bench_key(b->cfg.key_len, rank, key);
	return latch_key_partition(key, b->cfg.key_len, b->cfg.queues);
}

/*
 * A key for queue @q: draw from the distribution until one falls in
 * partition q (P tries on average); the bound keeps a degenerate key
 * space from stalling the loop, at the price of a rare off-partition key
 * (still valid: latchd hands it to its owner).
 */
static uint64_t
bench_key_for_queue(struct bench *b, uint16_t q)
{
	uint64_t rank = 0;
	unsigned tries;

	for (tries = 0; tries < 64u * b->cfg.queues; tries++) {
		rank = keygen_next(&b->keygen, &b->rng);
		if (bench_key_partition(b, rank) == q)
			break;
	}
	return rank;
}

/* Ethernet/IPv4/UDP header template of queue @q (lengths from frame). */
static void
bench_build_templates(struct bench *b)
{
	uint16_t msg_len = (uint16_t)(LATCH_MSG_FIXED_LEN + b->cfg.key_len);
	uint16_t q, dport, ip_len = (uint16_t)(20 + 8 + msg_len);
	uint8_t *t;
	uint32_t sum;
	unsigned i;

	b->frame_len = (uint16_t)(BENCH_HDR_LEN + msg_len);
	if (b->frame_len < BENCH_ETH_MIN)
		b->frame_len = BENCH_ETH_MIN;
	for (q = 0; q < b->cfg.queues; q++) {
		t = b->tmpl[q];
		memcpy(t, b->server_mac.addr_bytes, 6);
		memcpy(t + 6, b->our_mac.addr_bytes, 6);
		t[12] = 0x08; /* EtherType IPv4 */
		t[13] = 0x00;
		t[14] = 0x45; /* version 4, no options */
		t[15] = 0;
		t[16] = (uint8_t)(ip_len >> 8);
		t[17] = (uint8_t)ip_len;
		t[18] = t[19] = 0; /* id: unused with DF (RFC 6864) */
		t[20] = 0x40;      /* DF */
		t[21] = 0;
		t[22] = BENCH_TTL;
		t[23] = 17; /* UDP */
		t[24] = t[25] = 0;
		memcpy(t + 26, &b->cfg.client_ip_be, 4);
		memcpy(t + 30, &b->cfg.server_ip_be, 4);
		sum = 0;
		for (i = 14; i < 34; i += 2)
			sum += (uint32_t)(t[i] << 8 | t[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		t[24] = (uint8_t)(~sum >> 8);
		t[25] = (uint8_t)~sum;
		t[34] = (uint8_t)((BENCH_SRC_PORT_BASE + q) >> 8);
		t[35] = (uint8_t)(BENCH_SRC_PORT_BASE + q);
		/* Route mode: every queue to the route's one port. */
		dport = b->cfg.mode == BENCH_MODE_ROUTE
				? b->cfg.route_port
				: (uint16_t)(b->cfg.port_base + q);
		t[36] = (uint8_t)(dport >> 8);
		t[37] = (uint8_t)dport;
		t[38] = (uint8_t)((8 + msg_len) >> 8);
		t[39] = (uint8_t)(8 + msg_len);
		t[40] = t[41] = 0; /* no UDP checksum: legal for IPv4 */
	}
}

/* Frame @m into a new mbuf queued on @q's TX buffer. 0 or -ENOBUFS. */
static int
bench_queue_msg(struct bench *b, uint16_t q, const struct latch_wire_msg *m)
{
	struct bench_txq *tx = &b->txq[q];
	struct rte_mbuf *mb;
	uint8_t *p;
	size_t len;

	if (tx->count == BENCH_TXBUF)
		return -ENOBUFS;
	mb = rte_pktmbuf_alloc(b->pool);
	if (mb == NULL) {
		b->c.no_mbuf++;
		return -ENOBUFS;
	}
	p = rte_pktmbuf_mtod(mb, uint8_t *);
	memcpy(p, b->tmpl[q], BENCH_HDR_LEN);
	len = latch_wire_encode(m, p + BENCH_HDR_LEN,
				b->frame_len - BENCH_HDR_LEN);
	if (BENCH_HDR_LEN + len < b->frame_len)
		memset(p + BENCH_HDR_LEN + len, 0,
		       b->frame_len - BENCH_HDR_LEN - len);
	mb->data_len = b->frame_len;
	mb->pkt_len = b->frame_len;
	tx->pkts[tx->count++] = mb;
	return 0;
}

/* Whether one more request fits in the in-flight table. */
static bool
bench_has_room(const struct bench *b)
{
	return b->next_id - b->oldest_id < BENCH_INFLIGHT_MAX - 1;
}

/*
 * Send one request: take the next request id and its table entry, frame
 * it and queue it on its queue. @intended_tsc is when it was meant to
 * leave. Returns 0, or -ENOBUFS (nothing changed) if the table, the TX
 * buffer or the pool is full.
 */
static int
bench_issue(struct bench *b, uint16_t q, uint8_t op, uint16_t flags,
	    uint64_t key, uint16_t client, uint64_t token,
	    uint64_t intended_tsc, uint32_t chain)
{
	uint8_t key_bytes[LATCH_KEY_MAX];
	struct latch_wire_msg m;
	struct bench_req *r;
	uint64_t id;

	if (!bench_has_room(b))
		return -ENOBUFS;
	id = b->next_id;
	r = &b->reqs[id & (BENCH_INFLIGHT_MAX - 1)];
	if (r->state != REQ_FREE)
		return -ENOBUFS; /* a WAITING entry a lap behind */
	bench_key(b->cfg.key_len, key, key_bytes);
	memset(&m, 0, sizeof(m));
	m.op = op;
	m.flags = flags;
	m.partition =
		latch_key_partition(key_bytes, b->cfg.key_len, b->cfg.queues);
	m.key_len = (uint16_t)b->cfg.key_len;
	m.client_id = b->client_ids[client];
	m.request_id = id;
	m.token = token;
	m.lease_ms = op == LATCH_OP_ACQUIRE ? b->cfg.lease_ms : 0;
	m.wait_ms = (flags & LATCH_F_WAIT) ? b->cfg.wait_ms : 0;
	m.key = key_bytes;
	if (bench_queue_msg(b, q, &m) != 0)
		return -ENOBUFS;

	b->next_id++;
	r->id = id;
	r->intended_tsc = intended_tsc;
	r->deadline_tsc = intended_tsc + b->timeout_tsc;
	r->token = token;
	r->key = key;
	r->chain = chain;
	r->queue = q;
	r->client = client;
	r->flags = flags;
	r->op = op;
	r->state = REQ_SENT;
	b->inflight++;
	b->c.sent++;
	if (op == LATCH_OP_RELEASE)
		b->c.releases++;
	else
		b->c.acquires++;
	return 0;
}

/* Flags of a fresh ACQUIRE: WAIT as configured, SHARED by the ratio. */
static uint16_t
bench_acquire_flags(struct bench *b)
{
	uint16_t flags = b->cfg.wait ? LATCH_F_WAIT : 0;

	if (b->cfg.shared_ratio > 0.0 &&
	    keygen_rng_unit(&b->rng) < b->cfg.shared_ratio)
		flags |= LATCH_F_SHARED;
	return flags;
}

/* Chain @chain (closed loop) sends its next ACQUIRE (or echo frame). */
static void
bench_chain_next(struct bench *b, uint32_t chain, uint64_t now)
{
	uint16_t q = (uint16_t)(chain % b->cfg.queues);
	uint16_t client = (uint16_t)(chain % b->cfg.clients);
	uint64_t key;

	if (b->stopping)
		return;
	key = bench_key_for_queue(b, q);
	if (bench_issue(b, q, LATCH_OP_ACQUIRE, bench_acquire_flags(b), key,
			client, 0, now, chain) != 0)
		b->stalled[b->stalled_count++] = chain;
}

/* Send the RELEASE of the grant @r held; it keeps @r's chain going. */
static void
bench_release(struct bench *b, const struct bench_req *r, uint64_t token,
	      uint64_t now)
{
	if (bench_issue(b, r->queue, LATCH_OP_RELEASE, 0, r->key, r->client,
			token, now, r->chain) == 0)
		return;
	/*
	 * No room to release now: the lease frees the key in lease_ms; the
	 * chain starts over with a new ACQUIRE when room returns.
	 */
	if (r->chain != BENCH_NO_CHAIN)
		b->stalled[b->stalled_count++] = r->chain;
}

/* Free @r's entry and move the oldest-id mark over freed entries. */
static void
bench_req_free(struct bench *b, struct bench_req *r)
{
	r->state = REQ_FREE;
	b->inflight--;
	while (b->oldest_id < b->next_id &&
	       b->reqs[b->oldest_id & (BENCH_INFLIGHT_MAX - 1)].state ==
		       REQ_FREE)
		b->oldest_id++;
}

/* What follows the end of request @r (answered or timed out). */
static void
bench_after(struct bench *b, struct bench_req *r, bool granted, uint64_t token,
	    uint64_t now)
{
	struct bench_req copy = *r;

	bench_req_free(b, r);
	if (granted && b->cfg.mode == BENCH_MODE_LOCK) {
		bench_release(b, &copy, token, now);
		return;
	}
	if (copy.chain != BENCH_NO_CHAIN)
		bench_chain_next(b, copy.chain, now);
}

static void
bench_record(struct bench *b, const struct bench_req *r, uint64_t now)
{
	uint64_t ns = (now - r->intended_tsc) * 1000000000ull / b->tsc_hz;

	if (now < r->intended_tsc)
		ns = 0;
	hist_record(b->lat_all, ns);
	hist_record(b->lat_sec, ns);
	hist_record(r->op == LATCH_OP_RELEASE ? b->lat_release : b->lat_acquire,
		    ns);
}

/* ACK a GRANTED or LOST notification (every copy, as protocol.md asks). */
static void
bench_ack(struct bench *b, uint16_t q, const struct latch_wire_msg *n)
{
	struct latch_wire_msg m = *n;

	m.op = LATCH_OP_ACK;
	m.reply = false;
	m.flags = 0;
	m.status = 0;
	m.count = 0;
	m.holder = 0;
	m.lease_ms = 0;
	m.wait_ms = 0;
	if (bench_queue_msg(b, q, &m) == 0)
		b->c.acks_sent++;
}

static struct bench_req *
bench_find(struct bench *b, const struct latch_wire_msg *m)
{
	struct bench_req *r =
		&b->reqs[m->request_id & (BENCH_INFLIGHT_MAX - 1)];

	if (r->state == REQ_FREE || r->id != m->request_id ||
	    b->client_ids[r->client] != m->client_id)
		return NULL;
	return r;
}

/* A server notification: GRANTED ends a wait, LOST is counted. */
static void
bench_on_notify(struct bench *b, uint16_t q, const struct latch_wire_msg *m,
		uint64_t now)
{
	struct bench_req *r;
	uint64_t ns;

	bench_ack(b, q, m);
	if (m->op == LATCH_OP_LOST) {
		b->c.lost++;
		return;
	}
	r = bench_find(b, m);
	if (r == NULL || r->state != REQ_WAITING)
		return; /* a retransmitted copy: ACKed above */
	b->c.granted++;
	ns = (now - r->intended_tsc) * 1000000000ull / b->tsc_hz;
	hist_record(b->lat_grant, ns);
	bench_after(b, r, m->status == LATCH_S_OK, m->token, now);
}

/* An answer (or echoed frame) to one of our requests. */
static void
bench_on_answer(struct bench *b, const struct latch_wire_msg *m, uint64_t now)
{
	struct bench_req *r = bench_find(b, m);
	uint16_t st;

	if (r == NULL || r->state != REQ_SENT) {
		b->c.unmatched++;
		return;
	}
	b->c.answered++;
	bench_record(b, r, now);
	if (b->cfg.mode != BENCH_MODE_LOCK) {
		bench_after(b, r, false, 0, now);
		return;
	}
	st = m->status <= LATCH_S_MAX ? m->status : LATCH_S_MAX;
	b->c.status[st]++;
	if (r->op == LATCH_OP_ACQUIRE && m->status == LATCH_S_QUEUED) {
		/* The answer came; the grant follows as GRANTED. */
		r->state = REQ_WAITING;
		r->deadline_tsc = now + b->wait_extra_tsc;
		return;
	}
	bench_after(b, r, r->op == LATCH_OP_ACQUIRE && m->status == LATCH_S_OK,
		    m->token, now);
}

/* Learn the server's MAC from an ARP reply for its address. */
static void
bench_on_arp(struct bench *b, const uint8_t *f, uint32_t len)
{
	uint32_t spa;

	/* ARP reply (op 2) for Ethernet/IPv4, sender = the server. */
	if (len < 42 || f[20] != 0 || f[21] != 2)
		return;
	memcpy(&spa, f + 28, 4);
	if (spa == b->cfg.server_ip_be)
		memcpy(b->server_mac.addr_bytes, f + 22, 6);
}

static void
bench_rx_one(struct bench *b, uint16_t q, struct rte_mbuf *mb, uint64_t now)
{
	const uint8_t *f = rte_pktmbuf_mtod(mb, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(mb);
	struct latch_wire_msg m;
	uint16_t udp_len;

	b->c.rx_packets++;
	if (len >= 14 && f[12] == 0x08 && f[13] == 0x06) {
		bench_on_arp(b, f, len);
		return;
	}
	if (len < BENCH_HDR_LEN || f[12] != 0x08 || f[13] != 0x00 ||
	    f[14] != 0x45 || f[23] != 17) {
		b->c.rx_other++;
		return;
	}
	udp_len = (uint16_t)(f[38] << 8 | f[39]);
	if (udp_len < 8 || 34u + udp_len > len) {
		b->c.rx_malformed++;
		return;
	}
	if (latch_wire_decode(f + BENCH_HDR_LEN, udp_len - 8u, 0, &m) !=
	    LATCH_WIRE_OK) {
		b->c.rx_malformed++;
		return;
	}
	/*
	 * Route mode: only a frame the router rewrote counts, i.e. sent to
	 * us (the backend) with one hop taken off its TTL; anything else
	 * (latchd answering the request itself, say) is not a routed
	 * packet.
	 */
	if (b->cfg.mode == BENCH_MODE_ROUTE &&
	    (memcmp(f + 30, &b->cfg.client_ip_be, 4) != 0 ||
	     f[22] >= BENCH_TTL)) {
		b->c.rx_other++;
		return;
	}
	if (b->cfg.mode == BENCH_MODE_LOCK && !m.reply) {
		if (m.op == LATCH_OP_GRANTED || m.op == LATCH_OP_LOST)
			bench_on_notify(b, q, &m, now);
		else
			b->c.rx_other++;
		return;
	}
	bench_on_answer(b, &m, now);
}

static void
bench_tx_flush(struct bench *b, uint16_t q)
{
	struct bench_txq *tx = &b->txq[q];
	uint16_t sent;

	if (tx->count == 0)
		return;
	sent = rte_eth_tx_burst(b->port_id, q, tx->pkts, tx->count);
	if (sent < tx->count) {
		b->c.tx_retries++;
		memmove(tx->pkts, tx->pkts + sent,
			(tx->count - sent) * sizeof(tx->pkts[0]));
	}
	tx->count = (uint16_t)(tx->count - sent);
}

/*
 * Time out the oldest requests past their deadline. Ids leave in order,
 * so looking at the oldest in flight is enough; a long WAITING entry may
 * hold younger ones back, which only delays their counting.
 */
static void
bench_expire(struct bench *b, uint64_t now, bool all)
{
	struct bench_req *r;
	unsigned budget = BENCH_BURST;

	while (b->oldest_id < b->next_id && budget-- > 0) {
		r = &b->reqs[b->oldest_id & (BENCH_INFLIGHT_MAX - 1)];
		if (!all && now < r->deadline_tsc)
			return;
		if (r->state == REQ_SENT)
			b->c.timeouts++;
		else
			b->c.grant_timeouts++;
		bench_after(b, r, false, 0, now);
	}
}

/* Open loop: every arrival whose time has come, up to a burst. */
static void
bench_arrivals(struct bench *b, uint64_t now)
{
	unsigned n;
	uint64_t key, behind;
	uint16_t q, client;

	for (n = 0; n < BENCH_BURST && b->next_arrival_tsc <= (double)now;
	     n++) {
		key = keygen_next(&b->keygen, &b->rng);
		q = bench_key_partition(b, key);
		client = (uint16_t)keygen_rng_below(&b->rng, b->cfg.clients);
		if (bench_issue(b, q, LATCH_OP_ACQUIRE, bench_acquire_flags(b),
				key, client, 0, (uint64_t)b->next_arrival_tsc,
				BENCH_NO_CHAIN) != 0)
			break; /* stays due: sent later, latency counts it */
		if (b->cfg.arrival == BENCH_ARRIVAL_POISSON)
			b->next_arrival_tsc += keygen_exp(&b->rng, b->gap_tsc);
		else
			b->next_arrival_tsc += b->gap_tsc;
	}
	if ((double)now > b->next_arrival_tsc) {
		behind = (uint64_t)(((double)now - b->next_arrival_tsc) /
				    b->gap_tsc);
		if (behind > b->c.backlog_max)
			b->c.backlog_max = behind;
	}
}

static void
bench_progress(struct bench *b, double t, const struct bench_counters *prev,
	       double dt)
{
	fprintf(stderr,
		"latch-bench: %5.1f s sent %" PRIu64 " answered %" PRIu64
		" (%.3f Mreq/s) p50 %.1f us p99 %.1f us max %.1f us"
		" timeouts %" PRIu64 " busy %" PRIu64 " inflight %" PRIu64 "\n",
		t, b->c.sent, b->c.answered,
		(double)(b->c.answered - prev->answered) / dt / 1e6,
		hist_percentile(b->lat_sec, 50) / 1e3,
		hist_percentile(b->lat_sec, 99) / 1e3,
		hist_max(b->lat_sec) / 1e3, b->c.timeouts,
		b->c.status[LATCH_S_BUSY], b->inflight);
}

/* Ask for the server's MAC; keep broadcast if nobody answers. */
static void
bench_arp(struct bench *b)
{
	struct rte_mbuf *mb, *rx[BENCH_BURST];
	uint8_t *f;
	unsigned t, i;
	uint16_t q, n;
	uint64_t until;

	for (t = 0; t < BENCH_ARP_TRIES; t++) {
		mb = rte_pktmbuf_alloc(b->pool);
		if (mb == NULL)
			return;
		f = rte_pktmbuf_mtod(mb, uint8_t *);
		memset(f, 0, BENCH_ETH_MIN);
		memset(f, 0xff, 6);
		memcpy(f + 6, b->our_mac.addr_bytes, 6);
		f[12] = 0x08;
		f[13] = 0x06;
		f[15] = 1;    /* hardware: Ethernet */
		f[16] = 0x08; /* protocol: IPv4 */
		f[18] = 6;
		f[19] = 4;
		f[21] = 1; /* request */
		memcpy(f + 22, b->our_mac.addr_bytes, 6);
		memcpy(f + 28, &b->cfg.client_ip_be, 4);
		memcpy(f + 38, &b->cfg.server_ip_be, 4);
		mb->data_len = mb->pkt_len = BENCH_ETH_MIN;
		if (rte_eth_tx_burst(b->port_id, 0, &mb, 1) == 0)
			rte_pktmbuf_free(mb);
		until = rte_rdtsc() + b->tsc_hz / 10;
		while (rte_rdtsc() < until) {
			for (q = 0; q < b->cfg.queues; q++) {
				n = rte_eth_rx_burst(b->port_id, q, rx,
						     BENCH_BURST);
				for (i = 0; i < n; i++) {
					f = rte_pktmbuf_mtod(rx[i], uint8_t *);
					if (rte_pktmbuf_data_len(rx[i]) >= 42 &&
					    f[12] == 0x08 && f[13] == 0x06)
						bench_on_arp(
							b, f,
							rte_pktmbuf_data_len(
								rx[i]));
					rte_pktmbuf_free(rx[i]);
				}
			}
			if (!rte_is_broadcast_ether_addr(&b->server_mac))
				return;
		}
	}
	fprintf(stderr, "latch-bench: no ARP reply from the server; "
			"sending to broadcast\n");
}

/*
 * The load loop. Main lcore only. Returns when --duration has passed and
 * every request in flight was answered or timed out (or on a signal).
 */
static void
bench_run(struct bench *b)
{
	struct rte_mbuf *rx[BENCH_BURST];
	struct bench_counters prev;
	uint64_t start, end, now, next_sec, drain_end = 0, last_sec;
	uint32_t i, stalled;
	uint16_t q, n, k;

	start = rte_rdtsc();
	end = start + (uint64_t)(b->cfg.duration_s * (double)b->tsc_hz);
	next_sec = start + b->tsc_hz;
	last_sec = start;
	prev = b->c;
	hist_init(b->lat_sec);
	b->next_arrival_tsc = (double)start;
	if (b->cfg.rate == 0.0)
		for (i = 0; i < b->chains; i++)
			bench_chain_next(b, i, start);

	for (;;) {
		for (q = 0; q < b->cfg.queues; q++) {
			n = rte_eth_rx_burst(b->port_id, q, rx, BENCH_BURST);
			b->c.rx_polls++;
			if (n == 0) {
				b->c.rx_empty_polls++;
				continue;
			}
			now = rte_rdtsc();
			for (k = 0; k < n; k++) {
				if (k + 1 < n)
					rte_prefetch0(rte_pktmbuf_mtod(
						rx[k + 1], void *));
				bench_rx_one(b, q, rx[k], now);
			}
			rte_pktmbuf_free_bulk(rx, n);
		}
		now = rte_rdtsc();
		if (b->stalled_count > 0 && !b->stopping) {
			stalled = b->stalled_count;
			b->stalled_count = 0;
			for (i = 0; i < stalled; i++)
				bench_chain_next(b, b->stalled[i], now);
		}
		if (b->cfg.rate > 0.0 && !b->stopping)
			bench_arrivals(b, now);
		for (q = 0; q < b->cfg.queues; q++)
			bench_tx_flush(b, q);
		bench_expire(b, now, false);

		if (now >= next_sec) {
			if (!b->cfg.quiet)
				bench_progress(b,
					       (double)(now - start) /
						       (double)b->tsc_hz,
					       &prev,
					       (double)(now - last_sec) /
						       (double)b->tsc_hz);
			prev = b->c;
			hist_init(b->lat_sec);
			last_sec = now;
			next_sec += b->tsc_hz;
		}
		if (!b->stopping && (now >= end || bench_stop_signal)) {
			b->stopping = true;
			b->at_end = b->c;
			b->elapsed_s =
				(double)(now - start) / (double)b->tsc_hz;
			b->stalled_count = 0;
			drain_end = now + b->timeout_tsc + b->wait_extra_tsc;
		}
		if (b->stopping && (b->inflight == 0 || now >= drain_end))
			break;
	}
	/* Whatever is left never got its answer: count it, free frames. */
	while (b->oldest_id < b->next_id)
		bench_expire(b, rte_rdtsc(), true);
	for (q = 0; q < b->cfg.queues; q++) {
		for (i = 0; i < b->txq[q].count; i++)
			rte_pktmbuf_free(b->txq[q].pkts[i]);
		b->txq[q].count = 0;
	}
}

static void
bench_json_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, ",\"%s\":", name);
	hist_write_json(h, f);
}

/* The report (docs/benchmarks.md lists every field). */
static int
bench_write_json(const struct bench *b, FILE *f)
{
	const struct bench_config *c = &b->cfg;
	const struct bench_counters *e = &b->at_end;
	char sip[INET_ADDRSTRLEN], cip[INET_ADDRSTRLEN];
	double t = b->elapsed_s > 0 ? b->elapsed_s : 1e-9;
	unsigned s;

	inet_ntop(AF_INET, &c->server_ip_be, sip, sizeof(sip));
	inet_ntop(AF_INET, &c->client_ip_be, cip, sizeof(cip));
	fprintf(f,
		"{\"tool\":\"latch-bench\",\"schema\":1,\"mode\":\"%s\","
		"\"loop\":\"%s\",",
		bench_mode_name(c->mode), c->rate > 0 ? "open" : "closed");
	fprintf(f,
		"\"config\":{\"queues\":%u,\"outstanding\":%u,\"rate\":%.1f,"
		"\"arrival\":\"%s\",\"duration_s\":%.3f,\"timeout_ms\":%u,"
		"\"keys\":%" PRIu64 ",\"dist\":\"%s\",\"theta\":%.3f,"
		"\"wait\":%s,\"shared_ratio\":%.3f,\"clients\":%u,"
		"\"key_len\":%u,\"frame_len\":%u,\"lease_ms\":%u,"
		"\"wait_ms\":%u,\"seed\":%" PRIu64 ",\"vdev\":\"%s\","
		"\"server_ip\":\"%s\",\"client_ip\":\"%s\",\"port_base\":%u,"
		"\"route_port\":%u,\"lcore\":%u,\"no_huge\":%s},",
		c->queues, c->rate > 0 ? 0 : c->outstanding, c->rate,
		c->rate > 0 ? (c->arrival == BENCH_ARRIVAL_POISSON ? "poisson"
								   : "const")
			    : "closed",
		c->duration_s, c->timeout_ms, c->keys,
		keygen_dist_name(c->dist), b->keygen.theta,
		c->wait ? "true" : "false", c->shared_ratio, c->clients,
		c->key_len, b->frame_len, c->lease_ms, c->wait_ms, c->seed,
		c->vdev, sip, cip, c->port_base, c->route_port, c->lcore,
		c->no_huge ? "true" : "false");
	fprintf(f,
		"\"elapsed_s\":%.6f,\"throughput\":{\"requests_per_s\":%.1f,"
		"\"answers_per_s\":%.1f,\"pairs_per_s\":%.1f,"
		"\"offered_per_s\":%.1f},",
		t, (double)e->sent / t, (double)e->answered / t,
		(double)e->releases / t,
		c->rate > 0 ? c->rate : (double)e->sent / t);
	fprintf(f,
		"\"counters\":{\"sent\":%" PRIu64 ",\"answered\":%" PRIu64
		",\"timeouts\":%" PRIu64 ",\"unmatched\":%" PRIu64
		",\"acquires\":%" PRIu64 ",\"releases\":%" PRIu64
		",\"granted\":%" PRIu64 ",\"grant_timeouts\":%" PRIu64
		",\"lost\":%" PRIu64 ",\"acks_sent\":%" PRIu64
		",\"rx_packets\":%" PRIu64 ",\"rx_other\":%" PRIu64
		",\"rx_malformed\":%" PRIu64 ",\"tx_retries\":%" PRIu64
		",\"no_mbuf\":%" PRIu64 ",\"backlog_max\":%" PRIu64
		",\"rx_polls\":%" PRIu64 ",\"rx_empty_polls\":%" PRIu64 "},",
		b->c.sent, b->c.answered, b->c.timeouts, b->c.unmatched,
		b->c.acquires, b->c.releases, b->c.granted, b->c.grant_timeouts,
		b->c.lost, b->c.acks_sent, b->c.rx_packets, b->c.rx_other,
		b->c.rx_malformed, b->c.tx_retries, b->c.no_mbuf,
		b->c.backlog_max, b->c.rx_polls, b->c.rx_empty_polls);
	fputs("\"status\":{", f);
	for (s = 0; s < LATCH_S_MAX; s++)
		fprintf(f, "%s\"%s\":%" PRIu64, s ? "," : "",
			latch_status_name((uint16_t)s), b->c.status[s]);
	fputs("}", f);
	bench_json_hist(f, "latency", b->lat_all);
	bench_json_hist(f, "latency_acquire", b->lat_acquire);
	bench_json_hist(f, "latency_release", b->lat_release);
	bench_json_hist(f, "latency_grant", b->lat_grant);
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}

static void
bench_summary(const struct bench *b)
{
	const struct hist *h = b->lat_all;
	double t = b->elapsed_s > 0 ? b->elapsed_s : 1e-9;

	fprintf(stderr,
		"latch-bench: %s %s loop, %u queues: %.3f Mreq/s answered, "
		"sent %" PRIu64 " answered %" PRIu64 " timeouts %" PRIu64
		"\nlatch-bench: latency us: p50 %.2f p90 %.2f p99 %.2f "
		"p99.9 %.2f p99.99 %.2f max %.2f\n",
		bench_mode_name(b->cfg.mode),
		b->cfg.rate > 0 ? "open" : "closed", b->cfg.queues,
		(double)b->at_end.answered / t / 1e6, b->c.sent, b->c.answered,
		b->c.timeouts, hist_percentile(h, 50) / 1e3,
		hist_percentile(h, 90) / 1e3, hist_percentile(h, 99) / 1e3,
		hist_percentile(h, 99.9) / 1e3, hist_percentile(h, 99.99) / 1e3,
		hist_max(h) / 1e3);
}

/*
 * Remove EAL's runtime directory of our file prefix (config, sockets,
 * fbarray files) after rte_eal_cleanup(), which leaves it behind: each run
 * has a prefix of its own, so they would pile up under /var/run/dpdk.
 */
static void
bench_remove_runtime_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
		    (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Configure the memif port: Q RX and Q TX queues, start, wait for link. */
static int
bench_port_init(struct bench *b)
{
	struct rte_eth_conf conf;
	struct rte_eth_link link;
	uint16_t q;
	int ret, i;

	if (rte_eth_dev_count_avail() == 0) {
		fprintf(stderr, "latch-bench: no port (check --vdev)\n");
		return -ENODEV;
	}
	RTE_ETH_FOREACH_DEV(q)
	{
		b->port_id = q;
		break;
	}
	memset(&conf, 0, sizeof(conf));
	ret = rte_eth_dev_configure(b->port_id, b->cfg.queues, b->cfg.queues,
				    &conf);
	if (ret < 0)
		goto fail;
	for (q = 0; q < b->cfg.queues; q++) {
		ret = rte_eth_rx_queue_setup(b->port_id, q, BENCH_RING_DESC,
					     rte_socket_id(), NULL, b->pool);
		if (ret < 0)
			goto fail;
		ret = rte_eth_tx_queue_setup(b->port_id, q, BENCH_RING_DESC,
					     rte_socket_id(), NULL);
		if (ret < 0)
			goto fail;
	}
	/* The server may be a moment late to listen (tools/lab up returns
	 * when latchd is ready, a script may be quicker): retry the connect
	 * for up to BENCH_LINK_WAIT_S. */
	for (i = 0; i < BENCH_LINK_WAIT_S * 5; i++) {
		ret = rte_eth_dev_start(b->port_id);
		if (ret == 0)
			break;
		rte_delay_ms(200);
	}
	if (ret < 0)
		goto fail;
	rte_eth_macaddr_get(b->port_id, &b->our_mac);
	for (i = 0; i < BENCH_LINK_WAIT_S * 10; i++) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(b->port_id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP)
			return 0;
		rte_delay_ms(100);
	}
	fprintf(stderr,
		"latch-bench: memif link did not come up in %d s: is the "
		"server listening on %s?\n",
		BENCH_LINK_WAIT_S, b->cfg.vdev);
	rte_eth_dev_stop(b->port_id);
	return -ETIMEDOUT;
fail:
	fprintf(stderr, "latch-bench: port %u set-up failed: %s\n", b->port_id,
		rte_strerror(-ret));
	return ret;
}

/* Start-up allocations; NULL and errno on failure. */
static struct bench *
bench_create(const struct bench_config *cfg)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct hist **hs[5];
	unsigned i, mbufs;
	char name[64];

	if (b == NULL)
		return NULL;
	b->cfg = *cfg;
	b->reqs = calloc(BENCH_INFLIGHT_MAX, sizeof(*b->reqs));
	b->chains = (uint32_t)cfg->outstanding * cfg->queues;
	b->stalled = calloc(b->chains + 1, sizeof(*b->stalled));
	hs[0] = &b->lat_all;
	hs[1] = &b->lat_acquire;
	hs[2] = &b->lat_release;
	hs[3] = &b->lat_grant;
	hs[4] = &b->lat_sec;
	for (i = 0; i < 5; i++) {
		*hs[i] = malloc(sizeof(struct hist));
		if (*hs[i] == NULL)
			goto free_all;
		hist_init(*hs[i]);
	}
	if (b->reqs == NULL || b->stalled == NULL)
		goto free_all;
	/*
	 * Mbufs: every RX and TX ring full, every TX buffer full, plus
	 * per-lcore caches; rounded up to 2^n - 1 (mempool's best size).
	 */
	mbufs = cfg->queues * (2 * BENCH_RING_DESC + BENCH_TXBUF) + 4096;
	mbufs = (unsigned)rte_align32pow2(mbufs) - 1;
	snprintf(name, sizeof(name), "bench_pool_%d", (int)getpid());
	b->pool = rte_pktmbuf_pool_create(name, mbufs, 256, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (b->pool == NULL) {
		errno = rte_errno;
		goto free_all;
	}
	return b;
free_all:
	for (i = 0; i < 5; i++)
		free(*hs[i]);
	free(b->stalled);
	free(b->reqs);
	free(b);
	errno = ENOMEM;
	return NULL;
}

int
main(int argc, char **argv)
{
	struct bench_config cfg = {
		.mode = BENCH_MODE_LOCK,
		.socket = "/run/latch/lab1/memif.sock",
		.no_huge = -1,
		.queues = 2,
		.duration_s = 5.0,
		.outstanding = 1,
		.keys = 1024,
		.theta = 0.99,
		.clients = 1,
		.key_len = 16,
		.lease_ms = 2000,
		.wait_ms = 100,
		.timeout_ms = 1000,
		.seed = 1,
		.port_base = LATCH_PORT_BASE_DEFAULT,
		.route_port = BENCH_ROUTE_PORT_DEFAULT,
	};
	char runtime_dir[PATH_MAX];
	struct bench *b;
	uint64_t nonce;
	unsigned i;
	FILE *f;
	int ret;

	/* 198.19.0.1 / .2: RFC 2544's benchmarking range, the lab's. */
	cfg.server_ip_be = htonl(0xc6130001);
	cfg.client_ip_be = htonl(0xc6130002);
	ret = bench_parse_args(argc, argv, &cfg);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	if (cfg.dist == KEYGEN_UNIFORM)
		cfg.theta = 0.0;

	ret = bench_eal_init(argv[0], &cfg);
	if (ret < 0) {
		fprintf(stderr, "latch-bench: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);

	b = bench_create(&cfg);
	if (b == NULL) {
		fprintf(stderr, "latch-bench: start-up allocation failed: %s\n",
			strerror(errno));
		ret = 1;
		goto eal_cleanup;
	}
	b->tsc_hz = rte_get_tsc_hz();
	b->timeout_tsc = (uint64_t)cfg.timeout_ms * b->tsc_hz / 1000;
	b->wait_extra_tsc =
		((uint64_t)cfg.wait_ms + cfg.timeout_ms) * b->tsc_hz / 1000;
	b->gap_tsc = cfg.rate > 0 ? (double)b->tsc_hz / cfg.rate : 0.0;
	keygen_init(&b->keygen, cfg.dist, cfg.keys, cfg.theta);
	keygen_rng_seed(&b->rng, cfg.seed);
	/*
	 * Client ids unique to this run: latchd remembers answers by
	 * (client, request id), so a second run reusing ids would be
	 * answered from the first run's dedup window.
	 */
	nonce = (rte_rdtsc() ^ ((uint64_t)getpid() << 20)) & 0xffffffffffull;
	for (i = 0; i < cfg.clients; i++)
		b->client_ids[i] = (nonce << 16 | (i + 1)) | (1ull << 62);
	b->next_id = 1;
	b->oldest_id = 1;
	memset(b->server_mac.addr_bytes, 0xff, 6);

	ret = bench_port_init(b);
	if (ret != 0) {
		ret = 1;
		goto bench_free;
	}
	if (cfg.mode != BENCH_MODE_ECHO)
		bench_arp(b);
	bench_build_templates(b);
	if (!cfg.quiet)
		fprintf(stderr,
			"latch-bench: %s mode, %u queues, %s, %u-byte frames, "
			"%.1f s on lcore %u\n",
			bench_mode_name(cfg.mode), cfg.queues,
			cfg.rate > 0 ? "open loop" : "closed loop",
			b->frame_len, cfg.duration_s, cfg.lcore);

	bench_run(b);
	bench_summary(b);
	ret = 0;
	if (cfg.json_path != NULL) {
		f = strcmp(cfg.json_path, "-") == 0 ? stdout
						    : fopen(cfg.json_path, "w");
		if (f == NULL || bench_write_json(b, f) != 0) {
			fprintf(stderr, "latch-bench: cannot write %s: %s\n",
				cfg.json_path, strerror(errno));
			ret = 1;
		}
		if (f != NULL && f != stdout)
			fclose(f);
	}
	rte_eth_dev_stop(b->port_id);
	rte_eth_dev_close(b->port_id);
bench_free:
	rte_mempool_free(b->pool);
	free(b->lat_all);
	free(b->lat_acquire);
	free(b->lat_release);
	free(b->lat_grant);
	free(b->lat_sec);
	free(b->stalled);
	free(b->reqs);
	free(b);
eal_cleanup:
	snprintf(runtime_dir, sizeof(runtime_dir), "%s",
		 rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	bench_remove_runtime_dir(runtime_dir);
	return ret;
}
