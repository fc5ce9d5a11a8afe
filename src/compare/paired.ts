/**
 * Paired tests, for two prompt versions run on the same items (an experiment): each item gives one pair of
 * outcomes, so the question is whether the candidate does worse on the same cases, which is a sharper question than
 * whether two independent samples differ. Pure functions, no I/O; "baseline" first, "candidate" second, and a
 * positive difference means the candidate's value is higher.
 */
import { logGamma, normalCdf } from "./stats.js";

function assertCount(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
}

/** log C(n, k). */
const logChoose = (n: number, k: number) => logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);

/**
 * McNemar's exact test on pass/fail pairs: of the discordant pairs, `regressed` passed on the baseline and fail on
 * the candidate, `improved` the other way round. Under the null hypothesis each discordant pair goes either way with
 * probability 1/2, so the two-sided p-value is the exact binomial one, min(1, 2 · P(X ≤ min(regressed, improved)))
 * with X ~ Binomial(regressed + improved, 1/2). Concordant pairs carry no information and are not asked for.
 */
export function mcnemarExact(regressed: number, improved: number): { pValue: number; discordant: number } {
  assertCount(regressed, "mcnemarExact: regressed");
  assertCount(improved, "mcnemarExact: improved");
  const n = regressed + improved;
  const k = Math.min(regressed, improved);
  if (n === 0 || 2 * k === n) return { pValue: 1, discordant: n };
  // Terms summed in log space relative to the largest (the one at k, the tail's end nearest the middle), so that the
  // sum keeps its relative precision for n in the millions, where 2^-n underflows.
  const log2 = Math.log(2);
  const top = logChoose(n, k);
  let sum = 0;
  for (let i = k; i >= 0; i--) {
    const term = Math.exp(logChoose(n, i) - top);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  const logTail = top + Math.log(sum) - n * log2;
  return { pValue: Math.min(1, 2 * Math.exp(logTail)), discordant: n };
}

/** Pairs up to which the signed-rank distribution is computed exactly (when no ranks tie): a table of n²/4 sums. */
const WILCOXON_EXACT_MAX_N = 50;

export interface SignedRankResult {
  /** W+: the sum of the ranks of the positive differences (candidate higher). */
  statistic: number;
  /** Pairs with a nonzero difference (zeros are dropped, Wilcoxon's original method). */
  n: number;
  /** Two-sided. */
  pValue: number;
  /** exact: the null distribution of W+ itself; normal: its normal approximation with tie and continuity corrections. */
  method: "exact" | "normal";
  /** The standardized statistic, for the normal approximation. */
  z: number | null;
}

/**
 * The Wilcoxon signed-rank test on paired differences (candidate minus baseline): the differences' absolute values
 * are ranked (ties share their average rank), zeros dropped, and W+ compared with its distribution when the
 * candidate is no different. Exact when at most 50 nonzero pairs and no tied ranks; otherwise normal, with the
 * variance reduced for ties and a continuity correction.
 */
export function wilcoxonSignedRank(differences: readonly number[]): SignedRankResult {
  for (const d of differences)
    if (!Number.isFinite(d)) throw new RangeError(`wilcoxonSignedRank: differences must be finite, got ${d}`);
  const nonzero = differences.filter((d) => d !== 0);
  const n = nonzero.length;
  if (n === 0) return { statistic: 0, n: 0, pValue: 1, method: "exact", z: null };
  const order = nonzero.map((d, i) => ({ abs: Math.abs(d), positive: d > 0, i })).sort((a, b) => a.abs - b.abs);
  const ranks = new Array<number>(n);
  let tieTerm = 0; // Σ (t³ - t) over groups of tied absolute values
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && order[end + 1]!.abs === order[start]!.abs) end++;
    const rank = (start + end + 2) / 2; // average of ranks start+1 .. end+1
    for (let j = start; j <= end; j++) ranks[j] = rank;
    const t = end - start + 1;
    tieTerm += t * t * t - t;
    start = end + 1;
  }
  let wPlus = 0;
  for (let j = 0; j < n; j++) if (order[j]!.positive) wPlus += ranks[j]!;
  const total = (n * (n + 1)) / 2;

  if (tieTerm === 0 && n <= WILCOXON_EXACT_MAX_N) {
    // counts[w] = how many of the 2^n sign assignments give W+ = w: ranks 1..n each in or out.
    const counts = new Array<number>(total + 1).fill(0);
    counts[0] = 1;
    for (let r = 1; r <= n; r++) for (let w = (r * (r + 1)) / 2; w >= r; w--) counts[w]! += counts[w - r]!;
    const low = Math.min(wPlus, total - wPlus);
    let tail = 0;
    for (let w = 0; w <= low; w++) tail += counts[w]!;
    return { statistic: wPlus, n, pValue: Math.min(1, (2 * tail) / 2 ** n), method: "exact", z: null };
  }

  const mean = total / 2;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48;
  if (variance <= 0) return { statistic: wPlus, n, pValue: 1, method: "normal", z: 0 };
  const deviation = wPlus - mean;
  const corrected = Math.sign(deviation) * Math.max(0, Math.abs(deviation) - 0.5);
  const z = corrected / Math.sqrt(variance);
  return { statistic: wPlus, n, pValue: Math.min(1, 2 * normalCdf(-Math.abs(z))), method: "normal", z };
}
