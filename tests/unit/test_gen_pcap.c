/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of tools/gen-pcap: run the program, read its pcap back, and check
 * that every record is a frame latchd would serve: dataplane/pkt.h's
 * pkt_parse() says IPv4/UDP to the configured address, to UDP port
 * base + partition, the IPv4 and UDP checksums hold, and the payload
 * decodes with latch_wire_decode(..., partitions) == LATCH_WIRE_OK with
 * the ops, keys and flags the options asked for.
 *
 * The program's path comes from the build (GEN_PCAP_PATH); files go to a
 * temporary directory removed at the end.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "common/wire.h"
#include "dataplane/pkt.h"

#ifndef GEN_PCAP_PATH
#error "GEN_PCAP_PATH must name the gen-pcap program"
#endif

/* Most records a test reads back. */
#define TEST_RECORDS_MAX 4096

struct test_record {
	uint32_t len;
	uint8_t frame[256];
};

struct test_pcap {
	uint32_t magic, snaplen, linktype;
	uint16_t major, minor;
	unsigned count;
	struct test_record rec[TEST_RECORDS_MAX];
};

static char test_dir[64];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_gen_pcap.XXXXXX");
	return mkdtemp(test_dir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run gen-pcap with @args (a shell word list); its exit status. */
static int
run_gen(const char *args)
{
	char cmd[1024];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>/dev/null", GEN_PCAP_PATH, args);
	st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Read the pcap at @path into @p (whole file; fails the test if bad). */
static void
read_pcap(const char *path, struct test_pcap *p)
{
	uint32_t rh[4];
	uint8_t gh[24];
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fread(gh, sizeof(gh), 1, f), 1);
	memcpy(&p->magic, gh, 4);
	memcpy(&p->major, gh + 4, 2);
	memcpy(&p->minor, gh + 6, 2);
	memcpy(&p->snaplen, gh + 16, 4);
	memcpy(&p->linktype, gh + 20, 4);
	p->count = 0;
	while (fread(rh, sizeof(rh), 1, f) == 1) {
		assert_true(p->count < TEST_RECORDS_MAX);
		/* incl_len == orig_len: nothing was cut at the snap length. */
		assert_int_equal(rh[2], rh[3]);
		assert_true(rh[2] <= sizeof(p->rec[0].frame));
		p->rec[p->count].len = rh[2];
		assert_int_equal(fread(p->rec[p->count].frame, rh[2], 1, f), 1);
		p->count++;
	}
	assert_true(feof(f));
	fclose(f);
}

/* What a record must be, beyond what every record must be. */
struct expect {
	uint8_t dst_mac[6];
	const char *dst_ip, *src_ip;
	uint16_t port_base, partitions;
	uint64_t client_id;
};

static uint32_t
ip_of(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/*
 * Check record @r as a latch request for @e and decode its message into
 * @m (key points into @r).
 */
static void
check_record(const struct test_record *r, const struct expect *e,
	     struct latch_wire_msg *m)
{
	const uint8_t *f = r->frame, *ip = f + PKT_ETH_LEN;
	const uint8_t *udp = ip + PKT_IPV4_LEN;
	struct pkt_info info;
	uint32_t sum = 0;
	uint16_t udp_len;
	unsigned i;

	assert_true(r->len >= PKT_ETH_MIN_LEN);
	assert_int_equal(pkt_parse(f, r->len, &info), PKT_UDP);
	assert_memory_equal(f, e->dst_mac, 6);
	assert_int_equal(info.dst_ip_be, ip_of(e->dst_ip));
	assert_int_equal(info.src_ip_be, ip_of(e->src_ip));
	/* IPv4 header checksum: the sum over a valid header folds to 0. */
	assert_int_equal(pkt_ip_checksum(ip, PKT_IPV4_LEN), 0);
	/* UDP checksum over pseudo-header and datagram (RFC 768). */
	udp_len = (uint16_t)(udp[4] << 8 | udp[5]);
	assert_int_equal(udp_len, PKT_UDP_LEN + info.payload_len);
	assert_int_not_equal(udp[6] << 8 | udp[7], 0);
	for (i = 12; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	sum += 17u + udp_len;
	for (i = 0; i + 1 < udp_len; i += 2)
		sum += (uint32_t)(udp[i] << 8 | udp[i + 1]);
	if (udp_len & 1)
		sum += (uint32_t)(udp[udp_len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);

	assert_int_equal(latch_wire_decode(f + info.payload_off,
					   info.payload_len, e->partitions, m),
			 LATCH_WIRE_OK);
	assert_false(m->reply);
	assert_int_equal(m->partition, latch_key_partition(m->key, m->key_len,
							   e->partitions));
	assert_int_equal(info.dst_port, e->port_base + m->partition);
	assert_int_equal(m->client_id, e->client_id);
}

/* Whether @m's key is exactly the string @want. */
static bool
key_is(const struct latch_wire_msg *m, const char *want)
{
	return m->key_len == strlen(want) &&
	       memcmp(m->key, want, m->key_len) == 0;
}

/* The defaults fit the lab: 198.18.0.1, ports 7400/7401, ACQUIREs. */
static void
test_defaults_are_lab_acquires(void **state)
{
	static struct test_pcap p;
	struct expect e = {
		.dst_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		.dst_ip = "198.18.0.1",
		.src_ip = "198.18.0.2",
		.port_base = 7400,
		.partitions = 2,
		.client_id = 1,
	};
	char args[256], path[128], key[32];
	struct latch_wire_msg m;
	unsigned i, per_port[2] = {0, 0};

	(void)state;
	snprintf(path, sizeof(path), "%s/default.pcap", test_dir);
	snprintf(args, sizeof(args), "--out '%s'", path);
	assert_int_equal(run_gen(args), 0);
	read_pcap(path, &p);
	assert_int_equal(p.magic, 0xa1b2c3d4);
	assert_int_equal(p.major, 2);
	assert_int_equal(p.minor, 4);
	assert_int_equal(p.linktype, 1);
	assert_int_equal(p.count, 1024);
	for (i = 0; i < p.count; i++) {
		check_record(&p.rec[i], &e, &m);
		assert_int_equal(m.op, LATCH_OP_ACQUIRE);
		assert_int_equal(m.flags, 0);
		assert_int_equal(m.request_id, i + 1);
		snprintf(key, sizeof(key), "key-%u", i);
		assert_true(key_is(&m, key));
		per_port[m.partition]++;
	}
	/* Both partitions get traffic (a spread, not an exact share). */
	assert_true(per_port[0] > 0 && per_port[1] > 0);
}

/* Every option is honoured; mixed ops cycle ACQUIRE, RELEASE, QUERY. */
static void
test_options_mixed(void **state)
{
	static struct test_pcap p;
	struct expect e = {
		.dst_mac = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
		.dst_ip = "10.1.2.3",
		.src_ip = "10.1.2.4",
		.port_base = 9000,
		.partitions = 4,
		.client_id = 77,
	};
	static const uint8_t ops[3] = {LATCH_OP_ACQUIRE, LATCH_OP_RELEASE,
				       LATCH_OP_QUERY};
	char args[512], path[128], key[32];
	struct latch_wire_msg m;
	unsigned i, seen_part = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/mixed.pcap", test_dir);
	snprintf(args, sizeof(args),
		 "--out '%s' --count 300 --keys 10 --key-prefix lock/ "
		 "--ops mixed --shared-ratio 1 --dst-mac 02:aa:bb:cc:dd:ee "
		 "--src-mac 02:01:02:03:04:05 --dst-ip 10.1.2.3 "
		 "--src-ip 10.1.2.4 --port-base 9000 --partitions 4 "
		 "--client-id 77 --lease-ms 1234",
		 path);
	assert_int_equal(run_gen(args), 0);
	read_pcap(path, &p);
	assert_int_equal(p.count, 300);
	for (i = 0; i < p.count; i++) {
		check_record(&p.rec[i], &e, &m);
		assert_memory_equal(p.rec[i].frame + 6,
				    "\x02\x01\x02\x03\x04\x05", 6);
		assert_int_equal(m.op, ops[i % 3]);
		/* A group of three shares its key: acquire, release, query. */
		snprintf(key, sizeof(key), "lock/%u", (i / 3) % 10);
		assert_true(key_is(&m, key));
		if (m.op == LATCH_OP_ACQUIRE) {
			assert_int_equal(m.flags, LATCH_F_SHARED);
			assert_int_equal(m.lease_ms, 1234);
		} else {
			assert_int_equal(m.flags, 0);
		}
		seen_part |= 1u << m.partition;
	}
	assert_int_not_equal(seen_part, 0);
}

/* acquire-release pairs; the shared ratio is honoured at 0 and about 0.5. */
static void
test_acquire_release_and_ratio(void **state)
{
	static struct test_pcap p;
	struct expect e = {
		.dst_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		.dst_ip = "198.18.0.1",
		.src_ip = "198.18.0.2",
		.port_base = 7400,
		.partitions = 2,
		.client_id = 5,
	};
	char args[256], path[128];
	struct latch_wire_msg m, prev;
	unsigned i, shared = 0, acquires = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/ar.pcap", test_dir);
	snprintf(args, sizeof(args),
		 "--out '%s' --count 2000 --ops acquire-release "
		 "--shared-ratio 0.5 --client-id 5",
		 path);
	assert_int_equal(run_gen(args), 0);
	read_pcap(path, &p);
	assert_int_equal(p.count, 2000);
	memset(&prev, 0, sizeof(prev));
	for (i = 0; i < p.count; i++) {
		check_record(&p.rec[i], &e, &m);
		if (i % 2 == 0) {
			assert_int_equal(m.op, LATCH_OP_ACQUIRE);
			acquires++;
			shared += (m.flags & LATCH_F_SHARED) != 0;
		} else {
			assert_int_equal(m.op, LATCH_OP_RELEASE);
			assert_int_equal(m.key_len, prev.key_len);
			assert_memory_equal(m.key, prev.key, m.key_len);
		}
		prev = m;
	}
	/* 1000 draws at 0.5: 400..600 is more than 6 standard deviations. */
	assert_true(shared >= 400 && shared <= 600);
	assert_int_equal(acquires, 1000);

	snprintf(args, sizeof(args), "--out '%s' --count 500 --ops query",
		 path);
	assert_int_equal(run_gen(args), 0);
	read_pcap(path, &p);
	assert_int_equal(p.count, 500);
	e.client_id = 1;
	for (i = 0; i < p.count; i++) {
		check_record(&p.rec[i], &e, &m);
		assert_int_equal(m.op, LATCH_OP_QUERY);
	}
}

/* Bad input is refused with status 2 and writes nothing. */
static void
test_bad_arguments(void **state)
{
	char args[256], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.pcap", test_dir);
	assert_int_equal(run_gen("--count 5"), 2); /* no --out */
	snprintf(args, sizeof(args), "--out '%s' --ops lock", path);
	assert_int_equal(run_gen(args), 2);
	snprintf(args, sizeof(args), "--out '%s' --partitions 0", path);
	assert_int_equal(run_gen(args), 2);
	snprintf(args, sizeof(args), "--out '%s' --client-id 0", path);
	assert_int_equal(run_gen(args), 2);
	snprintf(args, sizeof(args), "--out '%s' --dst-mac 02:00:00:00:00",
		 path);
	assert_int_equal(run_gen(args), 2);
	snprintf(args, sizeof(args), "--out '%s' --shared-ratio 1.5", path);
	assert_int_equal(run_gen(args), 2);
	snprintf(args, sizeof(args),
		 "--out '%s' --key-prefix "
		 "0123456789012345678901234567890123456789012345678901234567",
		 path);
	assert_int_equal(run_gen(args), 2);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(run_gen("--help >/dev/null"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_lab_acquires),
		cmocka_unit_test(test_options_mixed),
		cmocka_unit_test(test_acquire_release_and_ratio),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
