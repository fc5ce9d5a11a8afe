// Latency histograms kept in span_rollups. Bucket b > 0 holds latencies in [F * R^(b-1), F * R^b) ms, with F = 1 ns
// (OTLP timestamps are whole nanoseconds, so no positive latency is smaller) and R = 1.02; bucket -b mirrors it for
// negative latencies (an end before its start), bucket 0 holds exactly 0. Reporting a bucket's geometric midpoint
// F * R^(b-1/2) is off by at most sqrt(R) - 1 = 0.995% of any value in the bucket.
//
// Percentiles: percentile_cont(p) over n sorted values is v[lo] + f * (v[hi] - v[lo]) with h = p * (n - 1),
// lo = floor(h), hi = ceil(h), f = h - lo. We return m[lo] + f * (m[hi] - m[lo]), m[k] being the midpoint of the
// bucket holding rank k. As m[k] = v[k] * (1 + e_k) with |e_k| <= 0.995%, the difference is
// (1 - f) * v[lo] * e_lo + f * v[hi] * e_hi, at most 0.995% of (1 - f) * |v[lo]| + f * |v[hi]|: that is, within
// 0.995% of percentile_cont's own value whenever v[lo] and v[hi] have the same sign (always, unless clocks go backwards).
//
// The SQL twin of latencyBucket is promptreg_latency_bucket(), created by the span_rollups migration; the two use
// the same formula, and test/rollups.test.ts checks the bound on what the database computes.

export const LATENCY_FLOOR_MS = 1e-6;
export const LATENCY_RATIO = 1.02;
/** The worst relative error of a bucket's midpoint, and so of a histogram percentile. */
export const HISTOGRAM_RELATIVE_ERROR = Math.sqrt(LATENCY_RATIO) - 1;
// No latency that fits OTLP's int64 nanoseconds comes near it; it only keeps the value a smallint.
const MAX_BUCKET = 16_000;

/** Same formula as the SQL promptreg_latency_bucket(). */
export function latencyBucket(ms: number): number {
  if (ms === 0) return 0;
  const b = 1 + Math.floor(Math.log(Math.abs(ms) / LATENCY_FLOOR_MS) / Math.log(LATENCY_RATIO));
  return Math.sign(ms) * Math.min(MAX_BUCKET, Math.max(1, b));
}

/** The geometric midpoint of a bucket: the value reported for every latency in it. */
export function bucketMidpoint(bucket: number): number {
  if (bucket === 0) return 0;
  return Math.sign(bucket) * LATENCY_FLOOR_MS * LATENCY_RATIO ** (Math.abs(bucket) - 0.5);
}

/**
 * percentile_cont(p) estimated from bucket counts, for each p. `counts` maps bucket -> number of values; the result
 * is null for an empty histogram.
 */
export function histogramPercentiles(counts: Map<number, number>, ps: number[]): (number | null)[] {
  const buckets = [...counts.entries()].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
  const n = buckets.reduce((s, [, c]) => s + c, 0);
  if (n === 0) return ps.map(() => null);
  // The midpoint of the bucket holding 0-based rank k of the sorted values.
  const atRank = (k: number): number => {
    let seen = 0;
    for (const [bucket, c] of buckets) {
      seen += c;
      if (k < seen) return bucketMidpoint(bucket);
    }
    return bucketMidpoint(buckets[buckets.length - 1]![0]);
  };
  return ps.map((p) => {
    const h = p * (n - 1);
    const lo = Math.floor(h);
    const mLo = atRank(lo);
    return mLo + (h - lo) * (atRank(Math.ceil(h)) - mLo);
  });
}
