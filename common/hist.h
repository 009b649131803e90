/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Latency histogram: log-linear buckets in the manner of HdrHistogram.
 *
 * Values are nanoseconds (any uint64_t). Values below 2^HIST_SUB_BITS get
 * one bucket each and are exact. Above that, every power of two [2^m,
 * 2^(m+1)) is cut into 2^(HIST_SUB_BITS-1) equal buckets, so a bucket's
 * width is at most 2^-(HIST_SUB_BITS-1) of its lower bound. A percentile is
 * reported as the middle of the bucket that holds it (clamped to the
 * recorded min and max), hence within HIST_REL_ERROR of the true order
 * statistic.
 *
 * Memory is fixed (HIST_BUCKETS counters, about 59 KiB): no allocation,
 * no clock, no system call in hist_record(), so the fast path of a load
 * generator may call it. Merging two histograms is exact.
 *
 * Thread safety: none. A struct hist belongs to one thread; readers merge
 * copies.
 */
#ifndef LATCH_HIST_H
#define LATCH_HIST_H

#include <stdint.h>
#include <stdio.h>

/*
 * 8 bits: 256 exact buckets, then 128 per power of two. The reported value
 * is then within 1/256 (0.39 %) of the truth, finer than run-to-run noise
 * on the lab machine (±30 %, docs/design.md) by two orders of magnitude.
 */
#define HIST_SUB_BITS   8
#define HIST_SUB_COUNT  (1u << HIST_SUB_BITS)
#define HIST_HALF_COUNT (HIST_SUB_COUNT / 2)
/* 256 exact buckets + 128 for each power of two from 2^8 to 2^63. */
#define HIST_BUCKETS (HIST_SUB_COUNT + (64 - HIST_SUB_BITS) * HIST_HALF_COUNT)
/* Largest relative error of a reported percentile: half a bucket. */
#define HIST_REL_ERROR (1.0 / HIST_SUB_COUNT)

_Static_assert(HIST_SUB_BITS >= 2 && HIST_SUB_BITS < 32,
	       "sub-bucket bits within range");

struct hist {
	uint64_t count;
	uint64_t min; /* UINT64_MAX when empty */
	uint64_t max; /* 0 when empty */
	uint64_t sum; /* wraps after 584 years of nanoseconds */
	uint64_t buckets[HIST_BUCKETS];
};

/* Empty @h. Any thread owning @h. */
void hist_init(struct hist *h);

/* Count one value of @ns nanoseconds. O(1); fast-path safe. */
void hist_record(struct hist *h, uint64_t ns);

/* Count @n values of @ns nanoseconds each. O(1); fast-path safe. */
void hist_record_n(struct hist *h, uint64_t ns, uint64_t n);

/* Add every value of @src to @dst. Exact: merge then query == query all. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * The value at percentile @p (0..100) of @h: the smallest bucket whose
 * cumulative count reaches ceil(p/100 * count) values (at least one),
 * reported as that bucket's middle clamped to [min, max]. 0 when empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);

uint64_t hist_count(const struct hist *h);
/* Smallest / largest value recorded (exact); 0 when empty. */
uint64_t hist_min(const struct hist *h);
uint64_t hist_max(const struct hist *h);
/* Mean of the values recorded (exact up to double rounding); 0 if empty. */
double hist_mean(const struct hist *h);

/* Bucket of value @ns, and the bounds (inclusive) of bucket @index. */
unsigned hist_bucket_index(uint64_t ns);
uint64_t hist_bucket_low(unsigned index);
uint64_t hist_bucket_high(unsigned index);

/*
 * Write @h to @f as one JSON object, values in nanoseconds:
 * {"unit":"ns","count":N,"min":N,"max":N,"mean":X,"p50":N,"p90":N,
 *  "p99":N,"p99.9":N,"p99.99":N,"rel_error":X,
 *  "buckets":[[low,high,count],...]} with only non-empty buckets.
 * No trailing newline. Returns 0, or -EIO if @f reports an error.
 */
int hist_write_json(const struct hist *h, FILE *f);

#endif /* LATCH_HIST_H */
