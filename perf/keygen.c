/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key generators of latch-bench (see keygen.h).
 *
 * Zipf by rejection-inversion: ranks k = 1..N get weight h(k) = k^-q. Let
 * H be an antiderivative of h. A value u drawn uniformly from
 * [H(1.5) - h(1), H(N + 0.5)] is mapped back with x = H^-1(u) and rounded
 * to k; since h is convex and decreasing, the interval [H(k - 0.5),
 * H(k + 0.5)] is at least h(k) wide, and accepting u only in its top h(k)
 * makes P(k) proportional to h(k) exactly. More than half of all draws
 * are accepted at the first try for any q, so the loop is short; it is
 * still bounded (KEYGEN_TRIES_MAX) so a numerical surprise cannot stall a
 * sending lcore.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "perf/keygen.h"

/*
 * Bound of the rejection loop. The acceptance rate is above 1/2 for every
 * theta (Hormann and Derflinger, section 4), so 64 rejections in a row
 * happen with probability below 2^-64; reaching it returns the last rank.
 */
#define KEYGEN_TRIES_MAX 64

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* splitmix64 (Steele, Lea, Flood 2014): spreads any seed over the state. */
static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void
keygen_rng_seed(struct keygen_rng *r, uint64_t seed)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t
keygen_rng_next(struct keygen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double
keygen_rng_unit(struct keygen_rng *r)
{
	/* The top 53 bits fill a double's mantissa: 2^-53 steps. */
	return (double)(keygen_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t
keygen_rng_below(struct keygen_rng *r, uint64_t n)
{
	/* Lemire, "Fast random integer generation in an interval" (2019). */
	unsigned __int128 m;
	uint64_t low, threshold;

	if (n == 0)
		return 0;
	m = (unsigned __int128)keygen_rng_next(r) * n;
	low = (uint64_t)m;
	if (low < n) {
		threshold = -n % n;
		while (low < threshold) {
			m = (unsigned __int128)keygen_rng_next(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double
keygen_exp(struct keygen_rng *r, double mean)
{
	/* 1 - U lies in (0, 1], so the logarithm is finite. */
	return -mean * log(1.0 - keygen_rng_unit(r));
}

/* log1p(x) / x, continuous at 0 (Taylor series below 1e-8). */
static double
helper1(double x)
{
	if (fabs(x) > 1e-8)
		return log1p(x) / x;
	return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x) / x, continuous at 0. */
static double
helper2(double x)
{
	if (fabs(x) > 1e-8)
		return expm1(x) / x;
	return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* h(x) = x^-q. */
static double
zipf_h(double q, double x)
{
	return exp(-q * log(x));
}

/* H(x) = (x^(1-q) - 1) / (1 - q), or log(x) when q == 1. */
static double
zipf_hint(double q, double x)
{
	double lx = log(x);

	return helper2((1.0 - q) * lx) * lx;
}

/* H^-1(y). */
static double
zipf_hint_inv(double q, double y)
{
	double t = y * (1.0 - q);

	if (t < -1.0) /* rounding only: H's range keeps t above -1 */
		t = -1.0;
	return exp(helper1(t) * y);
}

int
keygen_init(struct keygen *g, enum keygen_dist dist, uint64_t keys,
	    double theta)
{
	double q = theta;

	if (keys == 0 || (dist != KEYGEN_UNIFORM && dist != KEYGEN_ZIPF))
		return -EINVAL;
	if (dist == KEYGEN_ZIPF && (!isfinite(theta) || theta < 0.0))
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->keys = keys;
	g->theta = theta;
	g->dist = (dist == KEYGEN_ZIPF && theta > 0.0) ? KEYGEN_ZIPF
						       : KEYGEN_UNIFORM;
	if (g->dist == KEYGEN_UNIFORM) {
		g->theta = 0.0;
		return 0;
	}
	g->h_x1 = zipf_hint(q, 1.5) - 1.0;
	g->h_n = zipf_hint(q, (double)keys + 0.5);
	g->s = 2.0 - zipf_hint_inv(q, zipf_hint(q, 2.5) - zipf_h(q, 2.0));
	return 0;
}

uint64_t
keygen_next(const struct keygen *g, struct keygen_rng *r)
{
	double q = g->theta, u, x, kd;
	uint64_t k = 1;
	unsigned tries;

	if (g->dist == KEYGEN_UNIFORM || g->keys == 1)
		return keygen_rng_below(r, g->keys);
	for (tries = 0; tries < KEYGEN_TRIES_MAX; tries++) {
		u = g->h_n + keygen_rng_unit(r) * (g->h_x1 - g->h_n);
		x = zipf_hint_inv(q, u);
		kd = floor(x + 0.5);
		if (kd < 1.0)
			kd = 1.0;
		else if (kd > (double)g->keys)
			kd = (double)g->keys;
		k = (uint64_t)kd;
		if (kd - x <= g->s ||
		    u >= zipf_hint(q, kd + 0.5) - zipf_h(q, kd))
			break;
	}
	return k - 1;
}

double
keygen_pmf(const struct keygen *g, uint64_t rank)
{
	double norm = 0.0;
	uint64_t k;

	if (rank >= g->keys)
		return 0.0;
	if (g->dist == KEYGEN_UNIFORM)
		return 1.0 / (double)g->keys;
	/* Sum the smallest terms first: fewer rounding errors. */
	for (k = g->keys; k >= 1; k--)
		norm += zipf_h(g->theta, (double)k);
	return zipf_h(g->theta, (double)(rank + 1)) / norm;
}

int
keygen_dist_parse(const char *name, enum keygen_dist *out)
{
	if (strcmp(name, "uniform") == 0)
		*out = KEYGEN_UNIFORM;
	else if (strcmp(name, "zipf") == 0)
		*out = KEYGEN_ZIPF;
	else
		return -EINVAL;
	return 0;
}

const char *
keygen_dist_name(enum keygen_dist dist)
{
	return dist == KEYGEN_ZIPF ? "zipf" : "uniform";
}
