/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen-pcap: write a classic libpcap file of valid latch requests
 * (Ethernet II / IPv4 / UDP / latch message), for replay by pktgen-dpdk
 * (`-s P:file.pcap`, perf/pktgen/latch.lua), tcpreplay or a raw socket
 * (tests/integration/test_pcap_replay.sh).
 *
 * The messages are encoded with common/wire.h, the codec latchd decodes
 * with, and each goes to UDP port base + latch_key_partition(key, P), with
 * that partition in its header (docs/protocol.md, "transport"). The file
 * format is written by hand (global header, then one record header and
 * frame per packet; libpcap's "savefile" format, link type 1 = Ethernet):
 * no libpcap dependency.
 *
 * A pcap cannot know the fencing tokens latchd will grant, so RELEASEs
 * (acquire-release, mixed) present token 0 and are answered NOT_HELD or
 * STALE_TOKEN: they exercise the path, not the unlocking.
 *
 * Single-threaded command-line tool.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <latch/proto.h>

#include "common/wire.h"

/* Headers in front of the message: Ethernet 14, IPv4 20, UDP 8. */
#define GEN_ETH_LEN 14
#define GEN_IP_LEN  20
#define GEN_UDP_LEN 8
#define GEN_HDR_LEN (GEN_ETH_LEN + GEN_IP_LEN + GEN_UDP_LEN)
/* Ethernet's minimum frame without FCS: shorter frames are zero-padded. */
#define GEN_ETH_MIN   60
#define GEN_FRAME_MAX (GEN_HDR_LEN + LATCH_MSG_MAX_LEN)
/* libpcap savefile: magic in host order, version 2.4, LINKTYPE_ETHERNET. */
#define GEN_PCAP_MAGIC    0xa1b2c3d4u
#define GEN_PCAP_LINKTYPE 1
#define GEN_PCAP_SNAPLEN  65535
/* TTL of the requests: RFC 1700's default, as latchd and liblatch use. */
#define GEN_TTL 64
/* Packets per file at most: 2^24 frames of <= 162 bytes stay below 3 GB. */
#define GEN_COUNT_MAX (1u << 24)

enum gen_ops {
	GEN_OPS_ACQUIRE = 0,
	GEN_OPS_ACQUIRE_RELEASE,
	GEN_OPS_QUERY,
	GEN_OPS_MIXED,
};

struct gen_config {
	const char *out;
	uint32_t keys;
	const char *key_prefix;
	enum gen_ops ops;
	double shared_ratio;
	uint8_t dst_mac[6], src_mac[6];
	uint32_t dst_ip_be, src_ip_be;
	uint16_t port_base, src_port;
	uint16_t partitions;
	uint64_t client_id;
	uint32_t count;
	uint32_t lease_ms;
	uint64_t seed;
};

static void
gen_usage(FILE *f)
{
	fprintf(f,
		"Usage: gen-pcap --out FILE [OPTIONS]\n"
		"\n"
		"Write a libpcap file of latch requests (Ethernet/IPv4/UDP), "
		"one per\n"
		"record, for pktgen-dpdk -s P:FILE or any replay tool "
		"(docs/benchmarks.md).\n"
		"\n"
		"  --out FILE           the pcap to write (required)\n"
		"  --count N            packets (default 1024)\n"
		"  --keys N             distinct keys, used in turn "
		"(default 1024)\n"
		"  --key-prefix P       key i is P followed by i "
		"(default \"key-\")\n"
		"  --ops OPS            acquire (default), acquire-release "
		"(ACQUIRE\n"
		"                       then RELEASE of each key, token 0), "
		"query, or\n"
		"                       mixed (acquire, release, query in "
		"turn)\n"
		"  --shared-ratio R     fraction of shared ACQUIREs "
		"(default 0)\n"
		"  --dst-mac MAC        latchd's port MAC (default "
		"ff:ff:ff:ff:ff:ff)\n"
		"  --src-mac MAC        (default 02:00:c6:12:00:02)\n"
		"  --dst-ip IP          latchd's address (default "
		"198.18.0.1)\n"
		"  --src-ip IP          (default 198.18.0.2)\n"
		"  --src-port N         UDP source port (default 40000)\n"
		"  --port-base N        UDP port of partition 0 (default "
		"7400)\n"
		"  --partitions P       latchd's partitions (default 2)\n"
		"  --client-id N        client id, non-zero (default 1)\n"
		"  --lease-ms MS        lease asked by ACQUIREs (default 0: "
		"server's)\n"
		"  --seed N             seed of the shared/exclusive draw "
		"(default 1)\n"
		"  --help               this text\n");
}

/* Parse "xx:xx:xx:xx:xx:xx". 0 or -EINVAL. */
static int
gen_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6], i;
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static int
gen_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_OUT = 256,
	OPT_KEYS,
	OPT_KEY_PREFIX,
	OPT_OPS,
	OPT_SHARED,
	OPT_DST_MAC,
	OPT_SRC_MAC,
	OPT_DST_IP,
	OPT_SRC_IP,
	OPT_SRC_PORT,
	OPT_PORT_BASE,
	OPT_PARTITIONS,
	OPT_CLIENT_ID,
	OPT_COUNT,
	OPT_LEASE,
	OPT_SEED,
	OPT_HELP,
};

/*
 * Parse the command line into @cfg. Returns 0, 1 after --help, or -EINVAL
 * with a message on stderr.
 */
static int
gen_parse_args(int argc, char **argv, struct gen_config *cfg)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, OPT_OUT},
		{"keys", required_argument, NULL, OPT_KEYS},
		{"key-prefix", required_argument, NULL, OPT_KEY_PREFIX},
		{"ops", required_argument, NULL, OPT_OPS},
		{"shared-ratio", required_argument, NULL, OPT_SHARED},
		{"dst-mac", required_argument, NULL, OPT_DST_MAC},
		{"src-mac", required_argument, NULL, OPT_SRC_MAC},
		{"dst-ip", required_argument, NULL, OPT_DST_IP},
		{"src-ip", required_argument, NULL, OPT_SRC_IP},
		{"src-port", required_argument, NULL, OPT_SRC_PORT},
		{"port-base", required_argument, NULL, OPT_PORT_BASE},
		{"partitions", required_argument, NULL, OPT_PARTITIONS},
		{"client-id", required_argument, NULL, OPT_CLIENT_ID},
		{"count", required_argument, NULL, OPT_COUNT},
		{"lease-ms", required_argument, NULL, OPT_LEASE},
		{"seed", required_argument, NULL, OPT_SEED},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	struct in_addr a;
	uint64_t u = 0;
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		ret = 0;
		switch (c) {
		case OPT_OUT:
			cfg->out = optarg;
			break;
		case OPT_KEYS:
			ret = gen_parse_u64(optarg, 1, UINT32_MAX, &u);
			cfg->keys = (uint32_t)u;
			break;
		case OPT_KEY_PREFIX:
			cfg->key_prefix = optarg;
			break;
		case OPT_OPS:
			if (strcmp(optarg, "acquire") == 0)
				cfg->ops = GEN_OPS_ACQUIRE;
			else if (strcmp(optarg, "acquire-release") == 0)
				cfg->ops = GEN_OPS_ACQUIRE_RELEASE;
			else if (strcmp(optarg, "query") == 0)
				cfg->ops = GEN_OPS_QUERY;
			else if (strcmp(optarg, "mixed") == 0)
				cfg->ops = GEN_OPS_MIXED;
			else
				ret = -EINVAL;
			break;
		case OPT_SHARED:
			errno = 0;
			cfg->shared_ratio = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(cfg->shared_ratio >= 0.0 &&
			      cfg->shared_ratio <= 1.0))
				ret = -EINVAL;
			break;
		case OPT_DST_MAC:
			ret = gen_parse_mac(optarg, cfg->dst_mac);
			break;
		case OPT_SRC_MAC:
			ret = gen_parse_mac(optarg, cfg->src_mac);
			break;
		case OPT_DST_IP:
			ret = inet_pton(AF_INET, optarg, &a) == 1 ? 0 : -EINVAL;
			cfg->dst_ip_be = a.s_addr;
			break;
		case OPT_SRC_IP:
			ret = inet_pton(AF_INET, optarg, &a) == 1 ? 0 : -EINVAL;
			cfg->src_ip_be = a.s_addr;
			break;
		case OPT_SRC_PORT:
			ret = gen_parse_u64(optarg, 1, UINT16_MAX, &u);
			cfg->src_port = (uint16_t)u;
			break;
		case OPT_PORT_BASE:
			ret = gen_parse_u64(optarg, 1, UINT16_MAX, &u);
			cfg->port_base = (uint16_t)u;
			break;
		case OPT_PARTITIONS:
			ret = gen_parse_u64(optarg, 1, LATCH_PARTITIONS_MAX,
					    &u);
			cfg->partitions = (uint16_t)u;
			break;
		case OPT_CLIENT_ID:
			ret = gen_parse_u64(optarg, 1, UINT64_MAX,
					    &cfg->client_id);
			break;
		case OPT_COUNT:
			ret = gen_parse_u64(optarg, 1, GEN_COUNT_MAX, &u);
			cfg->count = (uint32_t)u;
			break;
		case OPT_LEASE:
			ret = gen_parse_u64(optarg, 0, UINT32_MAX, &u);
			cfg->lease_ms = (uint32_t)u;
			break;
		case OPT_SEED:
			ret = gen_parse_u64(optarg, 0, UINT64_MAX, &cfg->seed);
			break;
		case 'h':
		case OPT_HELP:
			gen_usage(stdout);
			return 1;
		default:
			gen_usage(stderr);
			return -EINVAL;
		}
		if (ret != 0) {
			fprintf(stderr, "gen-pcap: bad value '%s' for %s\n",
				optarg, argv[optind - 1]);
			return ret;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gen-pcap: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (cfg->out == NULL) {
		fprintf(stderr, "gen-pcap: --out FILE is required\n");
		return -EINVAL;
	}
	if (cfg->port_base + cfg->partitions - 1 > UINT16_MAX) {
		fprintf(stderr, "gen-pcap: --port-base + --partitions - 1 "
				"exceeds 65535\n");
		return -EINVAL;
	}
	/* The longest key: the prefix and the decimal of keys - 1. */
	if (strlen(cfg->key_prefix) + 10 > LATCH_KEY_MAX) {
		fprintf(stderr,
			"gen-pcap: --key-prefix is longer than %d bytes\n",
			LATCH_KEY_MAX - 10);
		return -EINVAL;
	}
	return 0;
}

/* splitmix64 (Steele et al., 2014): a seeded, reproducible draw. */
static uint64_t
gen_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* One's-complement sum of @len bytes (RFC 1071), not folded. */
static uint32_t
gen_sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t
gen_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
gen_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The op of packet @i under @ops. */
static uint8_t
gen_op(enum gen_ops ops, uint32_t i)
{
	static const uint8_t mixed[] = {LATCH_OP_ACQUIRE, LATCH_OP_RELEASE,
					LATCH_OP_QUERY};

	switch (ops) {
	case GEN_OPS_ACQUIRE_RELEASE:
		return (i & 1) ? LATCH_OP_RELEASE : LATCH_OP_ACQUIRE;
	case GEN_OPS_QUERY:
		return LATCH_OP_QUERY;
	case GEN_OPS_MIXED:
		return mixed[i % 3];
	case GEN_OPS_ACQUIRE:
	default:
		return LATCH_OP_ACQUIRE;
	}
}

/*
 * Build packet @i into @frame (GEN_FRAME_MAX bytes). Returns its length.
 * Key: acquire-release and mixed keep one key for the packets of a group
 * (ACQUIRE then RELEASE of the same key), the others change key each time.
 */
static size_t
gen_frame(const struct gen_config *cfg, uint32_t i, uint64_t *rng,
	  uint8_t *frame)
{
	char key[LATCH_KEY_MAX + 1];
	struct latch_wire_msg m;
	uint32_t group, sum;
	uint16_t ip_len, udp_len, dport, csum;
	size_t msg_len, len;
	uint8_t *ip = frame + GEN_ETH_LEN, *udp = ip + GEN_IP_LEN;
	int klen;

	group = cfg->ops == GEN_OPS_ACQUIRE_RELEASE ? i / 2
		: cfg->ops == GEN_OPS_MIXED         ? i / 3
						    : i;
	klen = snprintf(key, sizeof(key), "%s%" PRIu32, cfg->key_prefix,
			group % cfg->keys);
	memset(&m, 0, sizeof(m));
	m.op = gen_op(cfg->ops, i);
	m.partition = latch_key_partition(key, (size_t)klen, cfg->partitions);
	m.key_len = (uint16_t)klen;
	m.client_id = cfg->client_id;
	m.request_id = (uint64_t)i + 1; /* never reused: no dedup hits */
	m.key = (const uint8_t *)key;
	if (m.op == LATCH_OP_ACQUIRE) {
		m.lease_ms = cfg->lease_ms;
		/* 53 random bits against the ratio, exact for 0 and 1. */
		if ((double)(gen_rand(rng) >> 11) / 9007199254740992.0 <
		    cfg->shared_ratio)
			m.flags = LATCH_F_SHARED;
	}
	memset(frame, 0, GEN_FRAME_MAX);
	msg_len = latch_wire_encode(&m, frame + GEN_HDR_LEN,
				    GEN_FRAME_MAX - GEN_HDR_LEN);
	udp_len = (uint16_t)(GEN_UDP_LEN + msg_len);
	ip_len = (uint16_t)(GEN_IP_LEN + udp_len);
	dport = (uint16_t)(cfg->port_base + m.partition);

	memcpy(frame, cfg->dst_mac, 6);
	memcpy(frame + 6, cfg->src_mac, 6);
	gen_put16(frame + 12, 0x0800); /* IPv4 */
	ip[0] = 0x45;                  /* version 4, IHL 5: no options */
	gen_put16(ip + 2, ip_len);
	gen_put16(ip + 4, (uint16_t)i); /* identification */
	gen_put16(ip + 6, 0x4000);      /* DF, offset 0 */
	ip[8] = GEN_TTL;
	ip[9] = 17; /* UDP */
	memcpy(ip + 12, &cfg->src_ip_be, 4);
	memcpy(ip + 16, &cfg->dst_ip_be, 4);
	gen_put16(ip + 10, gen_fold(gen_sum16(ip, GEN_IP_LEN, 0)));

	gen_put16(udp, cfg->src_port);
	gen_put16(udp + 2, dport);
	gen_put16(udp + 4, udp_len);
	/* UDP checksum over the pseudo-header (RFC 768): src, dst, 17, len. */
	sum = gen_sum16(ip + 12, 8, 17u + udp_len);
	csum = gen_fold(gen_sum16(udp, udp_len, sum));
	gen_put16(udp + 6, csum == 0 ? 0xffff : csum);

	len = GEN_HDR_LEN + msg_len;
	return len < GEN_ETH_MIN ? GEN_ETH_MIN : len;
}

/* Write the file. 0, or -errno with a message on stderr. */
static int
gen_write(const struct gen_config *cfg)
{
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} gh = {GEN_PCAP_MAGIC,   2, 4, 0, 0, GEN_PCAP_SNAPLEN,
		GEN_PCAP_LINKTYPE};
	struct {
		uint32_t ts_sec, ts_usec, incl_len, orig_len;
	} rh;
	uint8_t frame[GEN_FRAME_MAX];
	uint64_t rng = cfg->seed;
	uint32_t i;
	size_t len;
	FILE *f;
	int ret = 0;

	f = fopen(cfg->out, "wb");
	if (f == NULL) {
		ret = -errno;
		fprintf(stderr, "gen-pcap: cannot create %s: %s\n", cfg->out,
			strerror(errno));
		return ret;
	}
	if (fwrite(&gh, sizeof(gh), 1, f) != 1)
		goto io_error;
	for (i = 0; i < cfg->count; i++) {
		len = gen_frame(cfg, i, &rng, frame);
		/* One microsecond apart: replay tools may pace by them. */
		rh.ts_sec = i / 1000000u;
		rh.ts_usec = i % 1000000u;
		rh.incl_len = rh.orig_len = (uint32_t)len;
		if (fwrite(&rh, sizeof(rh), 1, f) != 1 ||
		    fwrite(frame, len, 1, f) != 1)
			goto io_error;
	}
	if (fclose(f) != 0) {
		ret = -errno;
		fprintf(stderr, "gen-pcap: writing %s: %s\n", cfg->out,
			strerror(errno));
		return ret;
	}
	return 0;
io_error:
	ret = -errno;
	fprintf(stderr, "gen-pcap: writing %s: %s\n", cfg->out,
		strerror(errno));
	fclose(f);
	return ret ? ret : -EIO;
}

int
main(int argc, char **argv)
{
	struct gen_config cfg = {
		.keys = 1024,
		.key_prefix = "key-",
		.ops = GEN_OPS_ACQUIRE,
		.dst_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		/* Locally administered; 198.18.0.2 in its last bytes. */
		.src_mac = {0x02, 0x00, 0xc6, 0x12, 0x00, 0x02},
		.src_port = 40000,
		.port_base = LATCH_PORT_BASE_DEFAULT,
		.partitions = 2, /* the lab profile's workers */
		.client_id = 1,
		.count = 1024,
		.seed = 1,
	};
	int ret;

	/* The lab: latchd 198.18.0.1, its TAP's kernel side 198.18.0.2. */
	cfg.dst_ip_be = htonl(0xc6120001);
	cfg.src_ip_be = htonl(0xc6120002);
	ret = gen_parse_args(argc, argv, &cfg);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	return gen_write(&cfg) == 0 ? 0 : 1;
}
