/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear latency histogram (see hist.h for the bucket layout and its
 * error bound).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/assert.h"
#include "common/hist.h"

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/*
 * Bucket of @ns. Below 2^SUB_BITS: the value itself. Above, with m the
 * index of the highest set bit and k = m - SUB_BITS + 1 the bits dropped,
 * (ns >> k) lies in [HALF, SUB) and picks one of HALF buckets of group k.
 */
unsigned
hist_bucket_index(uint64_t ns)
{
	unsigned m, k;

	if (ns < HIST_SUB_COUNT)
		return (unsigned)ns;
	m = 63u - (unsigned)__builtin_clzll(ns);
	k = m - HIST_SUB_BITS + 1;
	return HIST_SUB_COUNT + (k - 1) * HIST_HALF_COUNT +
	       (unsigned)((ns >> k) - HIST_HALF_COUNT);
}

uint64_t
hist_bucket_low(unsigned index)
{
	unsigned j, k;
	uint64_t sub;

	LATCH_ASSERT(index < HIST_BUCKETS);
	if (index < HIST_SUB_COUNT)
		return index;
	j = index - HIST_SUB_COUNT;
	k = j / HIST_HALF_COUNT + 1;
	sub = j % HIST_HALF_COUNT + HIST_HALF_COUNT;
	return sub << k;
}

uint64_t
hist_bucket_high(unsigned index)
{
	unsigned k;

	LATCH_ASSERT(index < HIST_BUCKETS);
	if (index < HIST_SUB_COUNT)
		return index;
	k = (index - HIST_SUB_COUNT) / HIST_HALF_COUNT + 1;
	/* The last bucket ends at UINT64_MAX: low + 2^k - 1 cannot wrap. */
	return hist_bucket_low(index) + ((UINT64_C(1) << k) - 1);
}

void
hist_record_n(struct hist *h, uint64_t ns, uint64_t n)
{
	if (n == 0)
		return;
	h->buckets[hist_bucket_index(ns)] += n;
	h->count += n;
	h->sum += ns * n;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void
hist_record(struct hist *h, uint64_t ns)
{
	hist_record_n(h, ns, 1);
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (src->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
hist_count(const struct hist *h)
{
	return h->count;
}

uint64_t
hist_min(const struct hist *h)
{
	return h->count == 0 ? 0 : h->min;
}

uint64_t
hist_max(const struct hist *h)
{
	return h->max;
}

double
hist_mean(const struct hist *h)
{
	if (h->count == 0)
		return 0.0;
	return (double)h->sum / (double)h->count;
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, low, high, mid;
	double want;
	unsigned i;

	if (h->count == 0)
		return 0;
	if (!(p > 0.0)) /* also catches NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;
	want = ceil(p / 100.0 * (double)h->count);
	rank = want < 1.0 ? 1 : (uint64_t)want;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	LATCH_ASSERT(i < HIST_BUCKETS); /* buckets sum to count */
	low = hist_bucket_low(i);
	high = hist_bucket_high(i);
	mid = low + (high - low) / 2;
	if (mid < h->min)
		mid = h->min;
	if (mid > h->max)
		mid = h->max;
	return mid;
}

int
hist_write_json(const struct hist *h, FILE *f)
{
	/* The percentiles every latch report shows (docs/benchmarks.md). */
	static const struct {
		const char *name;
		double p;
	} pcts[] = {
		{"p50", 50.0},   {"p90", 90.0},     {"p99", 99.0},
		{"p99.9", 99.9}, {"p99.99", 99.99},
	};
	const char *sep = "";
	unsigned i;

	fprintf(f,
		"{\"unit\":\"ns\",\"count\":%llu,\"min\":%llu,\"max\":%llu,"
		"\"mean\":%.1f",
		(unsigned long long)hist_count(h),
		(unsigned long long)hist_min(h),
		(unsigned long long)hist_max(h), hist_mean(h));
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, ",\"%s\":%llu", pcts[i].name,
			(unsigned long long)hist_percentile(h, pcts[i].p));
	fprintf(f, ",\"rel_error\":%.6f,\"buckets\":[", HIST_REL_ERROR);
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		fprintf(f, "%s[%llu,%llu,%llu]", sep,
			(unsigned long long)hist_bucket_low(i),
			(unsigned long long)hist_bucket_high(i),
			(unsigned long long)h->buckets[i]);
		sep = ",";
	}
	fputs("]}", f);
	return ferror(f) ? -EIO : 0;
}
