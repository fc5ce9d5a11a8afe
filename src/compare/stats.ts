/**
 * Pure statistics for comparing prompt versions (failure rates etc.). No dependencies, no I/O.
 *
 * Orientation used throughout: "1" is the baseline, "2" is the candidate, and every signed quantity
 * (z, diff, interval bounds) is candidate minus baseline, so a positive number always means
 * "the candidate's rate is higher".
 */

/** Two-sided 95% normal quantile, Φ⁻¹(0.975). Using the exact value rather than 1.96 keeps the default
 * interval consistent with the one failureVerdict derives from alpha = 0.05. */
const Z_95 = 1.959963984540054;

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const SQRT_PI = Math.sqrt(Math.PI);

/** Relative tolerance when deciding that a table is "as or less likely" than the observed one; without it,
 * tables that tie with the observed one exactly (symmetric margins) would be dropped by rounding noise. */
const FISHER_REL_TOL = 1e-7;

function assertCounts(k: number, n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name}: total must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new RangeError(`${name}: count must be an integer in [0, ${n}], got ${k}`);
}

/**
 * erfc(u) for u >= 0. Two regimes because neither expansion is good everywhere: the all-positive-term series
 * for erf converges fast and has no cancellation for small u, while Laplace's continued fraction for erfc
 * converges fast for large u and keeps full relative precision deep in the tail where 1 - erf(u) would
 * lose everything.
 */
function erfcNonNegative(u: number): number {
  if (u === Infinity) return 0;
  if (u < 2.5) {
    // erf(u) = 2/√π · e^(-u²) · Σ (2u²)^n · u / (2n+1)!!
    const twoU2 = 2 * u * u;
    let term = u;
    let sum = u;
    for (let n = 0; n < 500; n++) {
      term *= twoU2 / (2 * n + 3);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-u * u) * sum;
  }
  // √π · e^(u²) · erfc(u) = 1 / (u + (1/2)/(u + 1/(u + (3/2)/(u + ...)))), evaluated with modified Lentz.
  const tiny = 1e-300;
  let f = u;
  let c = f;
  let d = 0;
  for (let n = 1; n < 1000; n++) {
    const a = n / 2;
    d = u + a * d;
    if (d === 0) d = tiny;
    c = u + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-u * u) / (SQRT_PI * f);
}

/** Standard normal CDF Φ(x), absolute error well below 1e-12 (the lower tail also keeps relative precision). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const e = 0.5 * erfcNonNegative(Math.abs(x) / Math.SQRT2);
  return x < 0 ? e : 1 - e;
}

/** Φ⁻¹(p) by bisection: only needed for a handful of confidence levels, so robustness beats speed here. */
function normalQuantile(p: number): number {
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Lanczos coefficients for g = 7, n = 9 (the widely published set, ~15 significant digits for Γ). */
const LANCZOS_G = 7;
const LANCZOS_C = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln|Γ(x)| via the Lanczos approximation; +Infinity at the poles (0, -1, -2, ...). */
export function logGamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return Infinity;
  if (x <= 0 && Number.isInteger(x)) return Infinity;
  if (x < 0.5) {
    // Lanczos is only accurate for Re(x) >= 1/2; the reflection formula Γ(x)Γ(1-x) = π / sin(πx) covers the rest.
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  }
  const z = x - 1;
  let a = LANCZOS_C[0]!;
  for (let i = 1; i < LANCZOS_C.length; i++) a += LANCZOS_C[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Wilson score interval for k successes in n trials (default 95%); n = 0 -> {low: 0, high: 1}. */
export function wilsonInterval(k: number, n: number, z: number = Z_95): { low: number; high: number } {
  assertCounts(k, n, "wilsonInterval");
  if (!(z > 0) || !Number.isFinite(z))
    throw new RangeError(`wilsonInterval: z must be a positive finite number, got ${z}`);
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At k = 0 / k = n the bound is exactly 0 / 1 mathematically; pin it so rounding cannot yield -1e-17 or 0.9999999999999999.
  return {
    low: k === 0 ? 0 : Math.max(0, centre - half),
    high: k === n ? 1 : Math.min(1, centre + half),
  };
}

/**
 * Pooled two-proportion z-test. z = (p2 - p1) / SE_pooled, i.e. positive when the second proportion is larger.
 * When the pooled proportion is 0 or 1 (or a side is empty) there is no variance to test against, so the
 * result is {z: 0, pValue: 1} instead of NaN.
 */
export function twoProportionZTest(k1: number, n1: number, k2: number, n2: number): { z: number; pValue: number } {
  assertCounts(k1, n1, "twoProportionZTest (first)");
  assertCounts(k2, n2, "twoProportionZTest (second)");
  if (n1 === 0 || n2 === 0) return { z: 0, pValue: 1 };
  const pooled = (k1 + k2) / (n1 + n2);
  if (pooled === 0 || pooled === 1) return { z: 0, pValue: 1 };
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const z = (k2 / n2 - k1 / n1) / se;
  // 2·Φ(-|z|) rather than 2·(1 - Φ(|z|)) so tiny p-values are not rounded to 0.
  return { z, pValue: Math.min(1, 2 * normalCdf(-Math.abs(z))) };
}

/**
 * Two-sided Fisher's exact test for [[k1, n1-k1], [k2, n2-k2]]: sum of the probabilities of all tables with the
 * same margins that are at most (1 + 1e-7) times as likely as the observed one.
 */
export function fisherExactTest(k1: number, n1: number, k2: number, n2: number): { pValue: number } {
  assertCounts(k1, n1, "fisherExactTest (first)");
  assertCounts(k2, n2, "fisherExactTest (second)");
  const col = k1 + k2;
  const lo = Math.max(0, col - n2);
  const hi = Math.min(col, n1);
  if (lo === hi) return { pValue: 1 };

  // Unnormalised log-probability of the table whose top-left cell is x: C(n1, x) · C(n2, col - x) without the
  // constant factors, which cancel because the p-value is taken as a ratio of sums below.
  const logWeight = (x: number): number =>
    -logGamma(x + 1) - logGamma(n1 - x + 1) - logGamma(col - x + 1) - logGamma(n2 - col + x + 1);

  // The hypergeometric pmf is unimodal, so walking outward from the mode and stopping once terms underflow visits
  // every table that matters; for n around 1e6 that is a few thousand tables instead of a million.
  const mode = Math.min(hi, Math.max(lo, Math.floor(((n1 + 1) * (col + 1)) / (n1 + n2 + 2))));
  const ref = logWeight(mode);
  const cutoff = logWeight(k1) + Math.log1p(FISHER_REL_TOL);
  let total = 0;
  let tail = 0;
  const visit = (x: number): boolean => {
    const lw = logWeight(x);
    // Relative to the mode, so the sums are well scaled even when the observed table is extremely unlikely.
    const w = Math.exp(lw - ref);
    total += w;
    if (lw <= cutoff) tail += w;
    return lw - ref > -745; // below this exp() is 0 and, by unimodality, so is everything further out
  };
  visit(mode);
  for (let x = mode - 1; x >= lo && visit(x); x--);
  for (let x = mode + 1; x <= hi && visit(x); x++);
  // Dividing by the computed total (instead of trusting the normalising constant) cancels most approximation error.
  return { pValue: Math.min(1, tail / total) };
}

/**
 * Fisher's exact test when any expected cell count under the pooled null is below 5 (where the normal
 * approximation is unreliable), otherwise the pooled z-test. `z` is only present for the z-test.
 */
export function compareProportions(
  k1: number,
  n1: number,
  k2: number,
  n2: number,
): { test: "z" | "fisher"; pValue: number; z?: number } {
  assertCounts(k1, n1, "compareProportions (first)");
  assertCounts(k2, n2, "compareProportions (second)");
  const total = n1 + n2;
  const col = k1 + k2;
  const expected = total === 0 ? [0] : [n1, n2].flatMap((n) => [(n * col) / total, (n * (total - col)) / total]);
  if (expected.some((e) => e < 5)) return { test: "fisher", pValue: fisherExactTest(k1, n1, k2, n2).pValue };
  const { z, pValue } = twoProportionZTest(k1, n1, k2, n2);
  return { test: "z", pValue, z };
}

/**
 * diff = p2 - p1 with Newcombe's hybrid Wilson score interval (Newcombe 1998, method 10). The paper states it
 * for p1 - p2; swapping the roles of the two samples gives this orientation. If either side is empty the
 * difference is undefined: diff is NaN and the interval is the uninformative [-1, 1].
 */
export function differenceInterval(
  k1: number,
  n1: number,
  k2: number,
  n2: number,
  z: number = Z_95,
): { diff: number; low: number; high: number } {
  assertCounts(k1, n1, "differenceInterval (first)");
  assertCounts(k2, n2, "differenceInterval (second)");
  if (n1 === 0 || n2 === 0) return { diff: NaN, low: -1, high: 1 };
  const p1 = k1 / n1;
  const p2 = k2 / n2;
  const w1 = wilsonInterval(k1, n1, z);
  const w2 = wilsonInterval(k2, n2, z);
  const diff = p2 - p1;
  return {
    diff,
    low: Math.max(-1, diff - Math.hypot(p2 - w2.low, w1.high - p1)),
    high: Math.min(1, diff + Math.hypot(w2.high - p2, p1 - w1.low)),
  };
}

export type Verdict = "better" | "worse" | "no-significant-difference" | "insufficient-data";

interface FailureCounts {
  label: string;
  failures: number;
  total: number;
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** Percentage points with an explicit sign; a value that rounds to zero prints as "0.0", never "-0.0". */
function signedPoints(value: number): string {
  const s = (value * 100).toFixed(1);
  if (Number(s) === 0) return "0.0";
  return value > 0 ? `+${s}` : s;
}

function formatP(p: number): string {
  return p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`;
}

/** Confidence level label for 1 - alpha, e.g. "95%" or "99.9%". */
function levelLabel(alpha: number): string {
  return `${Number(((1 - alpha) * 100).toPrecision(6))}%`;
}

/**
 * Verdict on the candidate's failure rate versus the baseline's. The decision comes from compareProportions;
 * the confidence interval shown in the sentence is Newcombe's at level 1 - alpha, which is a different method,
 * so in borderline cases the interval can touch zero while the test is (just) significant, or vice versa.
 * A side with no units at all is always "insufficient-data", even with minSample = 0, since it has no rate.
 */
export function failureVerdict(input: {
  baseline: FailureCounts;
  candidate: FailureCounts;
  unit: "span" | "trace";
  minSample?: number;
  alpha?: number;
}): {
  verdict: Verdict;
  pValue: number | null;
  test: "z" | "fisher" | null;
  difference: { diff: number; low: number; high: number } | null;
  sentence: string;
  minSample: number;
} {
  const { baseline: base, candidate: cand, unit } = input;
  const minSample = input.minSample ?? 100;
  const alpha = input.alpha ?? 0.05;
  if (!Number.isFinite(minSample) || minSample < 0)
    throw new RangeError(`failureVerdict: minSample must be >= 0, got ${minSample}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`failureVerdict: alpha must be in (0, 1), got ${alpha}`);
  assertCounts(base.failures, base.total, `failureVerdict (baseline ${base.label})`);
  assertCounts(cand.failures, cand.total, `failureVerdict (candidate ${cand.label})`);

  const required = Math.max(minSample, 1);
  const short = [cand, base].filter((s) => s.total < required);
  if (short.length > 0) {
    const have = short.map((s) => `${s.label} has ${plural(s.total, unit)}`).join(" and ");
    return {
      verdict: "insufficient-data",
      pValue: null,
      test: null,
      difference: null,
      sentence: `Not enough data to compare ${cand.label} with ${base.label}: ${have}, but at least ${plural(required, unit)} per version are needed.`,
      minSample,
    };
  }

  const cmp = compareProportions(base.failures, base.total, cand.failures, cand.total);
  const z = normalQuantile(1 - alpha / 2);
  const difference = differenceInterval(base.failures, base.total, cand.failures, cand.total, z);
  const candRate = cand.failures / cand.total;
  const baseRate = base.failures / base.total;

  let verdict: Verdict = "no-significant-difference";
  if (cmp.pValue < alpha && candRate > baseRate) verdict = "worse";
  else if (cmp.pValue < alpha && candRate < baseRate) verdict = "better";

  const rates =
    cand.total === base.total
      ? `${percent(candRate)} vs ${percent(baseRate)} of ${plural(cand.total, unit)} each`
      : `${percent(candRate)} of ${plural(cand.total, unit)} vs ${percent(baseRate)} of ${plural(base.total, unit)}`;
  const detail =
    `${rates}; difference ${signedPoints(difference.diff)} points, ` +
    `${levelLabel(alpha)} CI ${signedPoints(difference.low)} to ${signedPoints(difference.high)}, ${formatP(cmp.pValue)}`;
  const lead =
    verdict === "worse"
      ? `${cand.label} fails more often than ${base.label}`
      : verdict === "better"
        ? `${cand.label} fails less often than ${base.label}`
        : `No significant difference in failure rate between ${cand.label} and ${base.label}`;

  return { verdict, pValue: cmp.pValue, test: cmp.test, difference, sentence: `${lead} (${detail}).`, minSample };
}

/**
 * The spread of the mixture in mixtureSprt: a normal prior of standard deviation 0.04 on the difference of failure
 * rates. The test has the most power for differences near this size (4 points, e.g. 9% against 5%) and stays valid
 * for every size; it is fixed in advance, as the test's validity requires.
 */
export const MIXTURE_SD = 0.04;

/**
 * Mixture sequential probability ratio test (Robbins 1970) on the difference of two proportions θ = p2 - p1, in the
 * normal form of Johari, Pekelis and Walsh, "Always valid inference" (2017), eq. (10):
 *
 *   Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))),   V = p̄ (1 - p̄) (1/n1 + 1/n2),
 *
 * the likelihood ratio of "θ ~ N(0, τ²)" against "θ = 0" given the estimate θ̂ = k2/n2 - k1/n1 and its variance V
 * (pooled: under θ = 0 both arms share the rate p̄, and a rare-failure arm's own rate is too noisy early on). Under
 * θ = 0 the ratio is a martingale with mean 1, so by Ville's inequality the chance that it EVER reaches 1/α, however
 * often it is looked at, is at most α: the test can be evaluated after every batch of spans. `likelihoodRatio` is 1
 * (no evidence) when a side is empty or the pooled rate is 0 or 1.
 */
export function mixtureSprt(
  k1: number,
  n1: number,
  k2: number,
  n2: number,
  tau: number = MIXTURE_SD,
): { likelihoodRatio: number; diff: number; variance: number } {
  assertCounts(k1, n1, "mixtureSprt (first)");
  assertCounts(k2, n2, "mixtureSprt (second)");
  if (!(tau > 0) || !Number.isFinite(tau)) throw new RangeError(`mixtureSprt: tau must be > 0, got ${tau}`);
  if (n1 === 0 || n2 === 0) return { likelihoodRatio: 1, diff: Number.NaN, variance: Number.NaN };
  const diff = k2 / n2 - k1 / n1;
  const pooled = (k1 + k2) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (variance === 0) return { likelihoodRatio: 1, diff, variance };
  const t2 = tau * tau;
  const exponent = (t2 * diff * diff) / (2 * variance * (variance + t2));
  // In logs first: past e^709 the ratio is Infinity, which still compares correctly with 1/α.
  return { likelihoodRatio: Math.exp(0.5 * Math.log(variance / (variance + t2)) + exponent), diff, variance };
}
