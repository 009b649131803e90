/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of latch-bench's key generators (perf/keygen.c): the PRNG's
 * determinism, uniform coverage, and the Zipf shape (top-key share,
 * rank-frequency slope, chi-square over every rank) against the analytic
 * probabilities, all for fixed seeds so a failure replays.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "perf/keygen.h"

#define SEED 0x1a7c4b3e5ull
/*
 * Draws per shape test. The rejection step of the Zipf sampler corrects
 * the hat by only q(q+1)/(24 k^2) at rank k (2 % at rank 1 for theta 1),
 * so telling a sampler that skips it needs a standard error of rank 1's
 * share below 0.0002: 2 million draws.
 */
#define DRAWS 2000000
#define KEYS  1000

/*
 * Chi-square of @counts against @g's pmf over all ranks, pooling the tail
 * ranks whose expected count is below 5 (the usual validity rule) into
 * one bin. Returns the statistic; *df gets the degrees of freedom.
 */
static double
chi_square(const struct keygen *g, const uint64_t *counts, uint64_t keys,
	   uint64_t draws, unsigned *df)
{
	double stat = 0.0, pool_exp = 0.0, pool_obs = 0.0, e;
	unsigned bins = 0;
	uint64_t k;

	for (k = 0; k < keys; k++) {
		e = keygen_pmf(g, k) * (double)draws;
		if (e < 5.0) {
			pool_exp += e;
			pool_obs += (double)counts[k];
			continue;
		}
		stat += ((double)counts[k] - e) * ((double)counts[k] - e) / e;
		bins++;
	}
	if (pool_exp >= 5.0) {
		stat += (pool_obs - pool_exp) * (pool_obs - pool_exp) /
			pool_exp;
		bins++;
	}
	*df = bins - 1;
	return stat;
}

/* Upper bound for a chi-square of @df degrees: mean + 5 standard devs. */
static double
chi_square_bound(unsigned df)
{
	return (double)df + 5.0 * sqrt(2.0 * (double)df);
}

static uint64_t *
draw_counts(const struct keygen *g, uint64_t seed, uint64_t draws)
{
	struct keygen_rng r;
	uint64_t *counts = calloc(g->keys, sizeof(*counts));
	uint64_t i, k;

	assert_non_null(counts);
	keygen_rng_seed(&r, seed);
	for (i = 0; i < draws; i++) {
		k = keygen_next(g, &r);
		assert_true(k < g->keys);
		counts[k]++;
	}
	return counts;
}

static void
test_rng_deterministic(void **state)
{
	struct keygen_rng a, b, c;
	unsigned i, same = 0;

	keygen_rng_seed(&a, SEED);
	keygen_rng_seed(&b, SEED);
	keygen_rng_seed(&c, SEED + 1);
	for (i = 0; i < 1000; i++) {
		uint64_t x = keygen_rng_next(&a);

		assert_int_equal(x, keygen_rng_next(&b));
		same += x == keygen_rng_next(&c);
	}
	assert_int_equal(same, 0);
	/* Seed 0 must not leave the all-zero state xoshiro cannot leave. */
	keygen_rng_seed(&a, 0);
	assert_true(keygen_rng_next(&a) != 0 || keygen_rng_next(&a) != 0);
}

static void
test_rng_unit_and_below(void **state)
{
	struct keygen_rng r;
	unsigned i, hits[7] = {0};
	double u, sum = 0.0;

	keygen_rng_seed(&r, SEED);
	for (i = 0; i < 70000; i++) {
		u = keygen_rng_unit(&r);
		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
		hits[keygen_rng_below(&r, 7)]++;
	}
	/* Mean 0.5, standard error 0.29 / sqrt(70000) = 0.0011. */
	assert_true(fabs(sum / 70000.0 - 0.5) < 0.006);
	for (i = 0; i < 7; i++)
		assert_in_range(hits[i], 9500, 10500);
	assert_int_equal(keygen_rng_below(&r, 0), 0);
	assert_int_equal(keygen_rng_below(&r, 1), 0);
}

static void
test_uniform_coverage(void **state)
{
	struct keygen g;
	uint64_t *counts, k, min = UINT64_MAX, max = 0;
	unsigned df;
	double stat;

	assert_int_equal(keygen_init(&g, KEYGEN_UNIFORM, KEYS, 0.0), 0);
	counts = draw_counts(&g, SEED, DRAWS);
	for (k = 0; k < KEYS; k++) {
		min = counts[k] < min ? counts[k] : min;
		max = counts[k] > max ? counts[k] : max;
	}
	/* Every key is drawn (expected 2000 each, sd 45). */
	assert_true(min > 1700);
	assert_true(max < 2300);
	stat = chi_square(&g, counts, KEYS, DRAWS, &df);
	assert_int_equal(df, KEYS - 1);
	assert_true(stat < chi_square_bound(df));
	free(counts);
}

static void
test_uniform_when_theta_zero(void **state)
{
	struct keygen g;

	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, 10, 0.0), 0);
	assert_int_equal(g.dist, KEYGEN_UNIFORM);
	assert_true(fabs(keygen_pmf(&g, 3) - 0.1) < 1e-12);
}

/* Top-key share, slope of log(freq) over log(rank), chi-square. */
static void
check_zipf_shape(double theta)
{
	struct keygen g;
	uint64_t *counts;
	double p0, share, se, sx = 0, sy = 0, sxx = 0, sxy = 0, slope, x, y;
	unsigned k, n = 0, df;

	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, KEYS, theta), 0);
	counts = draw_counts(&g, SEED ^ (uint64_t)(theta * 1000), DRAWS);

	/* The share of each of the top ranks, within 5 standard errors. */
	for (k = 0; k < 8; k++) {
		p0 = keygen_pmf(&g, k);
		share = (double)counts[k] / DRAWS;
		se = sqrt(p0 * (1.0 - p0) / DRAWS);
		assert_true(fabs(share - p0) < 5.0 * se);
	}
	/* Rank 0 is the most drawn, rank 1 the second. */
	for (k = 2; k < KEYS; k++)
		assert_true(counts[1] >= counts[k]);
	assert_true(counts[0] > counts[1]);

	/* Least-squares slope over the ranks drawn at least 800 times:
	 * -theta for a Zipf law. */
	for (k = 0; k < KEYS && counts[k] >= 800; k++) {
		x = log((double)k + 1.0);
		y = log((double)counts[k]);
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
		n++;
	}
	assert_true(n >= 10);
	slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	assert_true(fabs(slope + theta) < 0.05);

	assert_true(chi_square(&g, counts, KEYS, DRAWS, &df) <
		    chi_square_bound(df));
	free(counts);
}

static void
test_zipf_half(void **state)
{
	check_zipf_shape(0.5);
}

static void
test_zipf_099(void **state)
{
	check_zipf_shape(0.99);
}

static void
test_zipf_one(void **state)
{
	/* theta == 1 is H = log, the helpers' limit case. */
	check_zipf_shape(1.0);
}

static void
test_zipf_steep(void **state)
{
	check_zipf_shape(1.5);
}

static void
test_zipf_huge_keyspace(void **state)
{
	struct keygen g;
	struct keygen_rng r;
	uint64_t keys = 1000000000ull, k, low = 0;
	unsigned i;

	/* No table: a billion keys cost nothing at start-up. */
	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, keys, 0.99), 0);
	keygen_rng_seed(&r, SEED);
	for (i = 0; i < 100000; i++) {
		k = keygen_next(&g, &r);
		assert_true(k < keys);
		low += k < 10;
	}
	/* P(rank < 10) = H(10, .99) / H(1e9, .99), about 0.13. */
	assert_in_range(low, 11000, 15500);
}

static void
test_pmf_sums_to_one(void **state)
{
	struct keygen g;
	double sum = 0.0;
	uint64_t k;

	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, 200, 0.8), 0);
	for (k = 0; k < 200; k++)
		sum += keygen_pmf(&g, k);
	assert_true(fabs(sum - 1.0) < 1e-9);
	assert_true(keygen_pmf(&g, 200) == 0.0);
}

static void
test_single_key(void **state)
{
	struct keygen g;
	struct keygen_rng r;
	unsigned i;

	keygen_rng_seed(&r, SEED);
	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, 1, 1.2), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(keygen_next(&g, &r), 0);
}

static void
test_init_rejects(void **state)
{
	struct keygen g;

	assert_int_equal(keygen_init(&g, KEYGEN_UNIFORM, 0, 0.0), -EINVAL);
	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, 10, -0.5), -EINVAL);
	assert_int_equal(keygen_init(&g, KEYGEN_ZIPF, 10, NAN), -EINVAL);
	assert_int_equal(keygen_init(&g, (enum keygen_dist)7, 10, 1.0),
			 -EINVAL);
}

static void
test_dist_names(void **state)
{
	enum keygen_dist d;

	assert_int_equal(keygen_dist_parse("zipf", &d), 0);
	assert_int_equal(d, KEYGEN_ZIPF);
	assert_string_equal(keygen_dist_name(d), "zipf");
	assert_int_equal(keygen_dist_parse("uniform", &d), 0);
	assert_string_equal(keygen_dist_name(d), "uniform");
	assert_int_equal(keygen_dist_parse("gauss", &d), -EINVAL);
}

static void
test_exp_mean(void **state)
{
	struct keygen_rng r;
	double sum = 0.0, x;
	unsigned i, above = 0, n = 400000;

	keygen_rng_seed(&r, SEED);
	for (i = 0; i < n; i++) {
		x = keygen_exp(&r, 2.5);
		assert_true(x >= 0.0 && isfinite(x));
		sum += x;
		above += x > 2.5;
	}
	/* Mean 2.5 (se 2.5/sqrt(n) = 0.004); P(X > mean) = 1/e. */
	assert_true(fabs(sum / n - 2.5) < 0.02);
	assert_true(fabs((double)above / n - exp(-1.0)) < 0.005);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_deterministic),
		cmocka_unit_test(test_rng_unit_and_below),
		cmocka_unit_test(test_uniform_coverage),
		cmocka_unit_test(test_uniform_when_theta_zero),
		cmocka_unit_test(test_zipf_half),
		cmocka_unit_test(test_zipf_099),
		cmocka_unit_test(test_zipf_one),
		cmocka_unit_test(test_zipf_steep),
		cmocka_unit_test(test_zipf_huge_keyspace),
		cmocka_unit_test(test_pmf_sums_to_one),
		cmocka_unit_test(test_single_key),
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_dist_names),
		cmocka_unit_test(test_exp_mean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
