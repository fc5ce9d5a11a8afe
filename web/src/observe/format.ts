// Numbers as the observability pages print them: one function per kind, so a rate reads the same in the verdict,
// the chart, the table and the tooltip.
// With its extension: the tests import this file too, as the server's NodeNext resolution reads it.
import type { Verdict } from "@promptreg/client/contract";

const nf = new Intl.NumberFormat("en-US");

/**
 * Every digit of a number, never in exponent notation ("0.000000018", not "1.8e-8"); at most 15 significant
 * digits, which hides the binary noise of a double (1.8e-8 is stored as 1.79999999999999996e-8).
 */
const plain = (v: number): string =>
  v.toLocaleString("en-US", { useGrouping: false, maximumFractionDigits: 20, maximumSignificantDigits: 15 });

export const int = (n: number | null | undefined): string =>
  n === null || n === undefined ? "—" : nf.format(Math.round(n));

/** A rate as a percentage with two decimals: enough to tell 5.00% from 5.05%, and to check against the API. */
export const pct = (rate: number | null | undefined): string =>
  rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(2)}%`;

/** A difference of rates in percentage points, signed. */
export const pts = (diff: number | null | undefined): string => {
  if (diff === null || diff === undefined || Number.isNaN(diff)) return "—";
  const s = (diff * 100).toFixed(2);
  return `${diff > 0 && Number(s) !== 0 ? "+" : ""}${Number(s) === 0 ? "0.00" : s} pts`;
};

export const interval = (low: number, high: number, f: (n: number) => string = pct): string =>
  `${f(low)} to ${f(high)}`;

/** A duration: seconds from 1 s, milliseconds from 1 ms, microseconds below (a local call's 0.04 ms is "40 µs"). */
export const ms = (v: number | null | undefined): string => {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  if (a >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (a >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (a >= 1 || a === 0) return `${a >= 100 || a === 0 ? v.toFixed(0) : v.toFixed(1)} ms`;
  return `${plain(Number((v * 1000).toPrecision(3)))} µs`;
};

export const signedMs = (v: number | null | undefined): string =>
  v === null || v === undefined ? "—" : `${v > 0 ? "+" : ""}${ms(v)}`;

/**
 * Dollars with enough significant digits for per-call costs ($0.000125), differences of them ($0.000000018) and sums
 * alike; written out in full, never as $1.8e-8.
 */
export const usd = (v: number | null | undefined): string => {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  const text = a === 0 ? "0" : a >= 100 ? v.toFixed(2) : a >= 1 ? v.toFixed(3) : plain(Number(v.toPrecision(3)));
  return `$${text}`;
};

export const signedUsd = (v: number | null | undefined): string =>
  v === null || v === undefined ? "—" : `${v > 0 ? "+" : v < 0 ? "−" : ""}${usd(Math.abs(v))}`;

/**
 * The decimals that write every value of an axis exactly, at most 12: ticks are multiples of a round step (0.000005,
 * 0.25, 200), so the step's own decimals are enough, and all the labels of one axis get the same number of them.
 */
function tickDecimals(ticks: number[]): number {
  const sorted = [...ticks].sort((a, b) => a - b);
  let step = 0;
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i]! - sorted[i - 1]!;
    if (gap > 0 && (step === 0 || gap < step)) step = gap;
  }
  if (step === 0) step = Math.max(0, ...sorted.map(Math.abs));
  if (step === 0) return 0;
  for (let d = 0; d < 12; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return 12;
}

/** Labels of a cost axis: "$0", "$0.000005", "$0.000010": dollars, the same decimals on every tick, no exponent. */
export const usdTicks = (ticks: number[]): string[] => {
  const d = tickDecimals(ticks);
  return ticks.map((v) => (v === 0 ? "$0" : `${v < 0 ? "−" : ""}$${Math.abs(v).toFixed(d)}`));
};

/**
 * Labels of a latency axis in one unit chosen by its largest tick: µs under 1 ms, ms under 1 s, else s; with the
 * decimals the step needs ("0.5 ms", "1.0 ms"), so that no tick reads "0.0 ms".
 */
export const msTicks = (ticks: number[]): string[] => {
  const top = Math.max(0, ...ticks.map(Math.abs));
  const [unit, factor] = top < 1 ? ["µs", 1000] : top < 1000 ? ["ms", 1] : ["s", 1 / 1000];
  const scaled = ticks.map((v) => v * factor);
  const d = tickDecimals(scaled);
  return scaled.map((v) => `${v === 0 ? "0" : v.toFixed(d)} ${unit}`);
};

/** Labels of a rate axis: "0%", "2.5%", "10%". */
export const pctTicks = (ticks: number[]): string[] => {
  const d = tickDecimals(ticks.map((v) => v * 100));
  return ticks.map((v) => `${v === 0 ? "0" : (v * 100).toFixed(d)}%`);
};

export const pValue = (p: number | null): string =>
  p === null ? "—" : p < 0.0001 ? "p < 0.0001" : `p = ${p < 0.01 ? p.toPrecision(2) : p.toFixed(3)}`;

export const TEST_NAMES = { z: "two-proportion z-test", fisher: "Fisher's exact test" } as const;

export const VERDICT_WORDS: Record<Verdict, string> = {
  worse: "Worse",
  better: "Better",
  "no-significant-difference": "No significant difference",
  "insufficient-data": "Insufficient data",
};

export const plural = (n: number, unit: string): string => `${int(n)} ${unit}${n === 1 ? "" : "s"}`;
