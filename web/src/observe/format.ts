// Numbers as the observability pages print them: one function per kind, so a rate reads the same in the verdict,
// the chart, the table and the tooltip.
import type { Verdict } from "./schemas";

const nf = new Intl.NumberFormat("en-US");

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

export const ms = (v: number | null | undefined): string => {
  if (v === null || v === undefined) return "—";
  if (Math.abs(v) >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`;
};

export const signedMs = (v: number | null | undefined): string =>
  v === null || v === undefined ? "—" : `${v > 0 ? "+" : ""}${ms(v)}`;

/** Dollars with enough significant digits for per-call costs ($0.000125) and sums alike. */
export const usd = (v: number | null | undefined): string => {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  const text = a === 0 ? "0" : a >= 100 ? v.toFixed(2) : a >= 1 ? v.toFixed(3) : Number(v.toPrecision(3)).toString();
  return `$${text}`;
};

export const signedUsd = (v: number | null | undefined): string =>
  v === null || v === undefined ? "—" : `${v > 0 ? "+" : v < 0 ? "−" : ""}${usd(Math.abs(v))}`;

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
