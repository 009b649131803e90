/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the latency histogram (common/hist.c): bucket layout,
 * percentiles against the exact order statistics of known distributions
 * drawn with a fixed-seed generator, merge, the empty histogram and JSON.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/hist.h"

/* 100k samples: enough that p99.99 is not the maximum itself. */
#define SAMPLES 100000

static const double pcts[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};

/* splitmix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform double in [0, 1) from the top 53 bits. */
static double
rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact value hist_percentile() promises to approximate. */
static uint64_t
exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	double want = ceil(p / 100.0 * (double)n);
	size_t rank = want < 1.0 ? 1 : (size_t)want;

	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Record @v[0..n), then check every percentile within the error bound. */
static void
check_against_exact(uint64_t *v, size_t n)
{
	struct hist *h = malloc(sizeof(*h));
	uint64_t sum = 0;
	size_t i;

	assert_non_null(h);
	hist_init(h);
	for (i = 0; i < n; i++) {
		hist_record(h, v[i]);
		sum += v[i];
	}
	qsort(v, n, sizeof(v[0]), cmp_u64);
	assert_int_equal(hist_count(h), n);
	assert_int_equal(hist_min(h), v[0]);
	assert_int_equal(hist_max(h), v[n - 1]);
	assert_true(fabs(hist_mean(h) - (double)sum / (double)n) <
		    1e-6 * (double)sum / (double)n);
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		uint64_t want = exact_percentile(v, n, pcts[i]);
		uint64_t got = hist_percentile(h, pcts[i]);
		double err = fabs((double)got - (double)want);

		if (err > HIST_REL_ERROR * (double)want)
			fail_msg("p%g: got %llu, exact %llu", pcts[i],
				 (unsigned long long)got,
				 (unsigned long long)want);
	}
	assert_int_equal(hist_percentile(h, 100.0), v[n - 1]);
	assert_int_equal(hist_percentile(h, 0.0), v[0]);
	free(h);
}

/* Buckets tile [0, UINT64_MAX] without gaps, each within the error bound. */
static void
test_bucket_layout(void **state)
{
	unsigned i;

	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	for (i = 0; i < HIST_BUCKETS; i++) {
		uint64_t low = hist_bucket_low(i), high = hist_bucket_high(i);

		assert_true(low <= high);
		assert_int_equal(hist_bucket_index(low), i);
		assert_int_equal(hist_bucket_index(high), i);
		/* Half the width, over the low bound, is the error bound. */
		assert_true((double)(high - low + 1) / 2.0 <=
			    HIST_REL_ERROR * (double)(low ? low : 1) + 0.5);
		if (i + 1 < HIST_BUCKETS)
			assert_int_equal(hist_bucket_low(i + 1), high + 1);
	}
	assert_int_equal(hist_bucket_high(HIST_BUCKETS - 1), UINT64_MAX);
	assert_int_equal(hist_bucket_index(UINT64_MAX), HIST_BUCKETS - 1);
	/* Small values are exact. */
	for (i = 0; i < HIST_SUB_COUNT; i++)
		assert_int_equal(hist_bucket_index(i), i);
}

static void
test_uniform(void **state)
{
	uint64_t *v = malloc(SAMPLES * sizeof(*v));
	uint64_t seed = 42;
	size_t i;

	(void)state;
	assert_non_null(v);
	/* 1 µs .. 1 ms: the lock latencies the lab sees. */
	for (i = 0; i < SAMPLES; i++)
		v[i] = 1000 + rng_next(&seed) % 999001;
	check_against_exact(v, SAMPLES);
	free(v);
}

static void
test_exponential(void **state)
{
	uint64_t *v = malloc(SAMPLES * sizeof(*v));
	uint64_t seed = 7;
	size_t i;

	(void)state;
	assert_non_null(v);
	/* Mean 50 µs, long tail: exercises many powers of two. */
	for (i = 0; i < SAMPLES; i++)
		v[i] = (uint64_t)(-50000.0 * log(1.0 - rng_unit(&seed)));
	check_against_exact(v, SAMPLES);
	free(v);
}

/* Values spanning the whole range, including 0 and UINT64_MAX. */
static void
test_wide_range(void **state)
{
	uint64_t *v = malloc(SAMPLES * sizeof(*v));
	uint64_t seed = 1234;
	size_t i;

	(void)state;
	assert_non_null(v);
	for (i = 0; i < SAMPLES; i++)
		v[i] = rng_next(&seed) >> (rng_next(&seed) % 64);
	v[0] = 0;
	v[1] = UINT64_MAX;
	/* The sum wraps here, so check percentiles only. */
	{
		struct hist *h = malloc(sizeof(*h));

		assert_non_null(h);
		hist_init(h);
		for (i = 0; i < SAMPLES; i++)
			hist_record(h, v[i]);
		qsort(v, SAMPLES, sizeof(v[0]), cmp_u64);
		for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
			uint64_t want = exact_percentile(v, SAMPLES, pcts[i]);
			uint64_t got = hist_percentile(h, pcts[i]);

			assert_true(fabs((double)got - (double)want) <=
				    HIST_REL_ERROR * (double)want);
		}
		assert_int_equal(hist_min(h), 0);
		assert_int_equal(hist_max(h), UINT64_MAX);
		free(h);
	}
	free(v);
}

/* A constant is reported exactly: the bucket middle is clamped to it. */
static void
test_constant(void **state)
{
	struct hist *h = malloc(sizeof(*h));
	size_t i;

	(void)state;
	assert_non_null(h);
	hist_init(h);
	for (i = 0; i < 1000; i++)
		hist_record(h, 123457);
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(hist_percentile(h, pcts[i]), 123457);
	assert_int_equal(hist_min(h), 123457);
	assert_int_equal(hist_max(h), 123457);
	assert_true(hist_mean(h) == 123457.0);
	assert_int_equal(hist_count(h), 1000);
	free(h);
}

/* Merging halves gives exactly the histogram of the whole. */
static void
test_merge(void **state)
{
	struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct hist *all = malloc(sizeof(*all));
	uint64_t seed = 99;
	size_t i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(all);
	hist_init(a);
	hist_init(b);
	hist_init(all);
	for (i = 0; i < SAMPLES; i++) {
		/* a gets small values, b large: min from a, max from b. */
		uint64_t x = 500 + rng_next(&seed) % 100000;

		if (i % 3 == 0) {
			x += 1000000;
			hist_record(b, x);
		} else {
			hist_record(a, x);
		}
		hist_record(all, x);
	}
	hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_int_equal(a->sum, all->sum);
	assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(hist_percentile(a, pcts[i]),
				 hist_percentile(all, pcts[i]));

	/* Merging an empty histogram changes nothing, either way round. */
	hist_init(b);
	hist_merge(a, b);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->count, all->count);
	hist_merge(b, all);
	assert_int_equal(b->min, all->min);
	assert_int_equal(b->max, all->max);
	assert_memory_equal(b->buckets, all->buckets, sizeof(b->buckets));
	free(a);
	free(b);
	free(all);
}

static void
test_empty(void **state)
{
	struct hist *h = malloc(sizeof(*h));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(h);
	hist_init(h);
	assert_int_equal(hist_count(h), 0);
	assert_int_equal(hist_min(h), 0);
	assert_int_equal(hist_max(h), 0);
	assert_true(hist_mean(h) == 0.0);
	assert_int_equal(hist_percentile(h, 50.0), 0);
	assert_int_equal(hist_percentile(h, 100.0), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(hist_write_json(h, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"count\":0,"));
	assert_non_null(strstr(buf, "\"buckets\":[]}"));
	free(buf);
	free(h);
}

/* The JSON names every promised field and lists non-empty buckets only. */
static void
test_json(void **state)
{
	static const char *const keys[] = {
		"\"unit\":\"ns\"",  "\"count\":3,", "\"min\":10,",
		"\"max\":1000000,", "\"p50\":",     "\"p90\":",
		"\"p99\":",         "\"p99.9\":",   "\"p99.99\":",
		"\"mean\":",
	};
	struct hist *h = malloc(sizeof(*h));
	char *buf = NULL, *p;
	size_t len = 0, i;
	unsigned brackets = 0;
	FILE *f;

	(void)state;
	assert_non_null(h);
	hist_init(h);
	hist_record(h, 10);
	hist_record(h, 10);
	hist_record(h, 1000000);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(hist_write_json(h, f), 0);
	fclose(f);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strstr(buf, keys[i]) == NULL)
			fail_msg("missing %s in %s", keys[i], buf);
	assert_non_null(strstr(buf, "[10,10,2]"));
	/* Two non-empty buckets: the list and its two entries. */
	p = strstr(buf, "\"buckets\":");
	assert_non_null(p);
	for (; *p; p++)
		brackets += *p == '[';
	assert_int_equal(brackets, 3);
	free(buf);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_layout),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_exponential),
		cmocka_unit_test(test_wide_range),
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
