/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key generators of latch-bench: a seeded PRNG, uniform and Zipf(theta)
 * key ranks, and exponential inter-arrival gaps for Poisson open loops.
 *
 * Pure: no clock, no system call, no global state, no DPDK. A seed
 * replays a run's key sequence exactly (STYLE.md, "a seed replays any
 * run"), so tests/unit/test_keygen.c checks the shapes against their
 * analytic values for a fixed seed.
 *
 * Zipf uses rejection-inversion (W. Hormann, G. Derflinger, "Rejection-
 * inversion to generate variates from monotone discrete distributions",
 * ACM TOMACS 6(3), 1996): O(1) memory and expected time for any key count
 * and any theta > 0, so a million keys cost no start-up table.
 *
 * Thread safety: none; each lcore owns its struct keygen_rng and may share
 * a read-only struct keygen.
 */
#ifndef LATCH_PERF_KEYGEN_H
#define LATCH_PERF_KEYGEN_H

#include <stdint.h>

/* xoshiro256** state (Blackman, Vigna 2018), seeded through splitmix64. */
struct keygen_rng {
	uint64_t s[4];
};

enum keygen_dist {
	KEYGEN_UNIFORM = 0,
	KEYGEN_ZIPF,
};

/*
 * A distribution over ranks 0..keys-1; rank 0 is the most popular key
 * under Zipf. Read-only once keygen_init() has filled it.
 */
struct keygen {
	enum keygen_dist dist;
	uint64_t keys;
	double theta;
	/* Rejection-inversion constants (see keygen.c). */
	double h_x1; /* H(1.5) - 1 */
	double h_n;  /* H(keys + 0.5) */
	double s;    /* acceptance shortcut width */
};

/* Seed @r from @seed (any value, 0 included). */
void keygen_rng_seed(struct keygen_rng *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t keygen_rng_next(struct keygen_rng *r);

/* Uniform double in [0, 1), 53 bits. */
double keygen_rng_unit(struct keygen_rng *r);

/* Uniform integer in [0, n) without modulo bias; 0 when n == 0. */
uint64_t keygen_rng_below(struct keygen_rng *r, uint64_t n);

/*
 * Exponential variate of mean @mean: the gap between Poisson arrivals of
 * rate 1/mean.
 */
double keygen_exp(struct keygen_rng *r, double mean);

/*
 * Fill @g for @keys keys (>= 1). KEYGEN_ZIPF needs theta > 0 and finite;
 * theta == 0 falls back to uniform. Returns 0 or -EINVAL.
 */
int keygen_init(struct keygen *g, enum keygen_dist dist, uint64_t keys,
		double theta);

/* Next key rank in [0, keys). O(1) expected. */
uint64_t keygen_next(const struct keygen *g, struct keygen_rng *r);

/*
 * Probability of rank @rank under @g, from the closed form (1/(rank+1)^theta
 * normalised by the generalised harmonic number, summed in O(keys)): what
 * the tests and the report compare the sampled shape with. Not fast-path.
 */
double keygen_pmf(const struct keygen *g, uint64_t rank);

/* Parse "uniform" or "zipf"; -EINVAL otherwise. */
int keygen_dist_parse(const char *name, enum keygen_dist *out);

/* "uniform" or "zipf". */
const char *keygen_dist_name(enum keygen_dist dist);

#endif /* LATCH_PERF_KEYGEN_H */
