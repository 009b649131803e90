/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lock_table_bench: acquire+release pairs per second through
 * lock_table_apply() on one core, over a uniform and a Zipf(0.99) key
 * stream, and, as the reference measured in the same run, the key_index
 * lookup+add+del cycle alone over the uniform stream (the least work any
 * lock grant must do). Then the snapshot save of the table the uniform
 * stream left (a full dedup window: what a replicated partition writes
 * at every compaction, docs/raft.md), in MB/s, against a memcpy of the
 * same bytes measured in the same run (the least work any save must do).
 * Prints one JSON object.
 *
 * The state machine is pure; only this harness reads the clock.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/key_index.h"
#include "dataplane/lock_table.h"

/* Defaults: 100k keys as a busy partition might hold; 2M pairs ~1 s. */
#define BENCH_KEYS_DEFAULT 100000
#define BENCH_OPS_DEFAULT  2000000
/* Zipf exponent of the skewed stream (YCSB's default skew). */
#define BENCH_ZIPF_S 0.99

/* Saves timed per measurement: a few ms each at a few hundred MB/s. */
#define BENCH_SAVES 20

struct bench_save {
	uint64_t bytes;
	double mb_per_s;     /* lock_table_save() */
	double ref_mb_per_s; /* memcpy of the same bytes */
};

struct bench_sink {
	uint64_t token;
	uint64_t effects;
};

static void
bench_usage(FILE *out)
{
	fprintf(out,
		"usage: lock_table_bench [--ops N] [--keys K] [--stream S] "
		"[--help]\n"
		"  --ops N     acquire+release pairs per stream (default %u)\n"
		"  --keys K    distinct keys (default %u)\n"
		"  --stream S  all (default), or only uniform, zipf or\n"
		"              reference, untimed and without warm-up: for\n"
		"              valgrind --tool=callgrind (docs/benchmarks.md)\n"
		"Prints one JSON object: pairs per second on a uniform and a\n"
		"Zipf(%.2f) key stream, the key_index lookup+add+del cycles "
		"per\n"
		"second on the uniform stream (reference), and their ratio.\n",
		BENCH_OPS_DEFAULT, BENCH_KEYS_DEFAULT, BENCH_ZIPF_S);
}

static double
bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t bench_rng_state = 0x853c49e6748fea9bull; /* fixed seed */

static uint64_t
bench_rng(void)
{
	bench_rng_state ^= bench_rng_state >> 12;
	bench_rng_state ^= bench_rng_state << 25;
	bench_rng_state ^= bench_rng_state >> 27;
	return bench_rng_state * 0x2545f4914f6cdd1dull;
}

static void
bench_sink_fn(void *ctx, const struct lock_effect *fx)
{
	struct bench_sink *s = ctx;

	s->effects++;
	if (fx->kind == LOCK_FX_REPLY && fx->op == LATCH_OP_ACQUIRE)
		s->token = fx->status == LATCH_S_OK ? fx->token : 0;
}

/* Fill @seq with @n key numbers drawn from Zipf(s) over @keys ranks. */
static int
bench_zipf_seq(uint32_t *seq, uint64_t n, uint32_t keys, double s)
{
	double *cdf = malloc(keys * sizeof(*cdf));
	double sum = 0;
	uint64_t i;
	uint32_t k;

	if (cdf == NULL)
		return -ENOMEM;
	for (k = 0; k < keys; k++) {
		sum += 1.0 / pow((double)k + 1, s);
		cdf[k] = sum;
	}
	for (i = 0; i < n; i++) {
		double u = (double)(bench_rng() >> 11) * 0x1.0p-53 * sum;
		uint32_t lo = 0, hi = keys - 1;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		seq[i] = lo;
	}
	free(cdf);
	return 0;
}

/*
 * Save @lt BENCH_SAVES times and copy its snapshot as often; false if a
 * save fails or differs from the first.
 */
static bool
bench_save(const struct lock_table *lt, struct bench_save *out)
{
	int64_t len = (int64_t)lock_table_save_size(lt);
	uint8_t *a = malloc((size_t)len), *b = malloc((size_t)len);
	double t0 = 0, t1, t2;
	bool ok = a != NULL && b != NULL;
	int k;

	for (k = 0; ok && k < BENCH_SAVES + 1; k++) {
		if (k == 1)
			t0 = bench_now_s(); /* the first one warms the buffer */
		ok = lock_table_save(lt, k == 0 ? a : b, (uint64_t)len) == len;
	}
	t1 = bench_now_s();
	for (k = 0; ok && k < BENCH_SAVES; k++) {
		memcpy(b, a, (size_t)len);
		b[k] ^= 1; /* a store the copy cannot skip */
	}
	t2 = bench_now_s();
	if (ok) {
		out->bytes = (uint64_t)len;
		out->mb_per_s = (double)len * BENCH_SAVES / (t1 - t0) / 1e6;
		out->ref_mb_per_s = (double)len * BENCH_SAVES / (t2 - t1) / 1e6;
	}
	free(a);
	free(b);
	return ok;
}

/*
 * Pairs per second of acquire+release over @seq; with @save, the table
 * left behind is saved too (bench_save()).
 */
static double
bench_pairs(const struct lock_key *keys, uint32_t nkeys, const uint32_t *seq,
	    uint64_t n, uint64_t *granted, struct bench_save *save)
{
	struct lock_table_config cfg = {
		.locks_max = nkeys,
		.holders_max = nkeys,
		.waiters_max = 1024,
		.sessions_max = 1024,
		.dedup_max = 65536, /* a few ms of answers at line rate */
		.lease_default_ms = 10000,
		.lease_max_ms = 60000,
		.wait_default_ms = 1000,
		.wait_max_ms = 10000,
		.session_default_ms = 10000,
		.session_max_ms = 60000,
		.timer_slots = 4096,
	};
	struct key_index *ki = key_index_create(nkeys, NULL);
	struct lock_table *lt;
	struct bench_sink sink = {0};
	struct lock_entry e, out[64];
	uint64_t i, req = 0, now = 1;
	double t0, t1;

	if (ki == NULL)
		return -1;
	lt = lock_table_create(&cfg, &key_index_ops, ki);
	if (lt == NULL) {
		key_index_destroy(ki);
		return -1;
	}
	memset(&e, 0, sizeof(e));
	e.term = 1;
	*granted = 0;
	t0 = bench_now_s();
	for (i = 0; i < n; i++) {
		e.op = LOCK_E_ACQUIRE;
		e.client_id = 1 + (i & 1023);
		e.request_id = ++req;
		e.token = 0;
		e.now_ms = now;
		e.key = keys[seq[i]];
		lock_table_apply(lt, &e, bench_sink_fn, &sink);
		if (sink.token != 0) {
			(*granted)++;
			e.op = LOCK_E_RELEASE;
			e.request_id = ++req;
			e.token = sink.token;
			lock_table_apply(lt, &e, bench_sink_fn, &sink);
		}
		/* One simulated millisecond per 1024 pairs, with its tick. */
		if ((i & 1023) == 1023) {
			now++;
			lock_table_tick(lt, now, out, 64);
		}
	}
	t1 = bench_now_s();
	if (save != NULL && !bench_save(lt, save))
		t1 = t0; /* reported as a failure */
	lock_table_destroy(lt);
	key_index_destroy(ki);
	return t1 > t0 ? (double)n / (t1 - t0) : -1;
}

/* Reference: key_index lookup+add+del cycles per second over @seq. */
static double
bench_index(const struct lock_key *keys, uint32_t nkeys, const uint32_t *seq,
	    uint64_t n, uint64_t *check)
{
	struct key_index *ki = key_index_create(nkeys, NULL);
	uint64_t i, sum = 0;
	double t0, t1;

	if (ki == NULL)
		return -1;
	t0 = bench_now_s();
	for (i = 0; i < n; i++) {
		const struct lock_key *k = &keys[seq[i]];

		/*
		 * -ENOENT, then the same slot twice: 1 per cycle, summed so
		 * the calls are not optimised away (the slot is always 0 as
		 * the index is empty again after each cycle).
		 */
		sum += (uint64_t)(key_index_lookup(ki, k) + ENOENT);
		sum += (uint64_t)(key_index_add(ki, k) + 1);
		sum -= (uint64_t)key_index_del(ki, k);
	}
	t1 = bench_now_s();
	key_index_destroy(ki);
	*check = sum;
	return (double)n / (t1 - t0);
}

/*
 * Run one stream only, for callgrind: its instruction count divided by
 * @n is the cost of one pair (or one index cycle). Prints a small JSON
 * object naming the stream; returns the process exit status.
 */
static int
bench_one(const char *stream, const struct lock_key *keys, uint32_t nkeys,
	  const uint32_t *seq_u, const uint32_t *seq_z, uint64_t n)
{
	uint64_t got = 0;
	double rate;

	if (strcmp(stream, "reference") == 0) {
		rate = bench_index(keys, nkeys, seq_u, n, &got);
	} else {
		rate = bench_pairs(keys, nkeys,
				   strcmp(stream, "zipf") == 0 ? seq_z : seq_u,
				   n, &got, NULL);
	}
	if (rate <= 0 || got != n) {
		fprintf(stderr, "lock_table_bench: %s stream failed\n", stream);
		return 1;
	}
	printf("{\"bench\":\"lock_table\",\"stream\":\"%s\",\"ops\":%" PRIu64
	       ",\"per_s\":%.0f}\n",
	       stream, n, rate);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ops", required_argument, NULL, 'o'},
		{"keys", required_argument, NULL, 'k'},
		{"stream", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t ops = BENCH_OPS_DEFAULT, granted_u, granted_z, check;
	uint32_t nkeys = BENCH_KEYS_DEFAULT;
	struct lock_key *keys;
	uint32_t *seq_u, *seq_z;
	const char *stream = "all";
	struct bench_save save = {0};
	double pu, pz, ref;
	uint64_t i;
	int c;

	while ((c = getopt_long(argc, argv, "o:k:s:h", opts, NULL)) != -1) {
		char *end;
		unsigned long long v;

		switch (c) {
		case 'o':
		case 'k':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 ||
			    (c == 'k' && v > (1u << 26))) {
				fprintf(stderr,
					"lock_table_bench: bad --%s %s\n",
					c == 'o' ? "ops" : "keys", optarg);
				return 2;
			}
			if (c == 'o')
				ops = v;
			else
				nkeys = (uint32_t)v;
			break;
		case 's':
			stream = optarg;
			if (strcmp(stream, "all") != 0 &&
			    strcmp(stream, "uniform") != 0 &&
			    strcmp(stream, "zipf") != 0 &&
			    strcmp(stream, "reference") != 0) {
				fprintf(stderr,
					"lock_table_bench: bad --stream %s\n",
					stream);
				return 2;
			}
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		bench_usage(stderr);
		return 2;
	}

	keys = calloc(nkeys, sizeof(*keys));
	seq_u = malloc(ops * sizeof(*seq_u));
	seq_z = malloc(ops * sizeof(*seq_z));
	if (keys == NULL || seq_u == NULL || seq_z == NULL) {
		fprintf(stderr, "lock_table_bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < nkeys; i++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "bench/key/%" PRIu64, i);

		lock_key_set(&keys[i], name, (uint16_t)len);
	}
	for (i = 0; i < ops; i++)
		seq_u[i] = (uint32_t)(bench_rng() % nkeys);
	if (bench_zipf_seq(seq_z, ops, nkeys, BENCH_ZIPF_S) != 0) {
		fprintf(stderr, "lock_table_bench: out of memory\n");
		return 1;
	}

	if (strcmp(stream, "all") != 0)
		return bench_one(stream, keys, nkeys, seq_u, seq_z, ops);
	/* Warm caches and page tables once, untimed. */
	bench_pairs(keys, nkeys, seq_u, ops / 10 + 1, &granted_u, NULL);
	ref = bench_index(keys, nkeys, seq_u, ops, &check);
	pu = bench_pairs(keys, nkeys, seq_u, ops, &granted_u, &save);
	pz = bench_pairs(keys, nkeys, seq_z, ops, &granted_z, NULL);
	if (ref <= 0 || pu <= 0 || pz <= 0) {
		fprintf(stderr, "lock_table_bench: set-up failed\n");
		return 1;
	}
	/* Every acquire is granted: each key is released before reuse. */
	if (granted_u != ops || granted_z != ops) {
		fprintf(stderr,
			"lock_table_bench: %" PRIu64 "/%" PRIu64 " grants\n",
			granted_u, granted_z);
		return 1;
	}
	printf("{\"bench\":\"lock_table\",\"pairs_per_s_uniform\":%.0f,"
	       "\"pairs_per_s_zipf\":%.0f,\"reference_index_ops_per_s\":%.0f,"
	       "\"ratio_uniform\":%.4f,\"snapshot_bytes\":%" PRIu64
	       ",\"save_mb_per_s\":%.0f,\"reference_memcpy_mb_per_s\":%.0f,"
	       "\"save_ratio\":%.4f}\n",
	       pu, pz, ref, pu / ref, save.bytes, save.mb_per_s,
	       save.ref_mb_per_s, save.mb_per_s / save.ref_mb_per_s);
	free(seq_z);
	free(seq_u);
	free(keys);
	/* Each index cycle adds exactly 1 (bench_index()). */
	return check == ops ? 0 : 1;
}
