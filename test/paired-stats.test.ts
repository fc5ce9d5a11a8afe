// The paired tests of experiments against textbook values and against exact sums computed here independently (with
// BigInt, so without the module's log-space arithmetic).
import { describe, expect, it } from "vitest";
import { mcnemarExact, wilcoxonSignedRank } from "../src/compare/paired.js";

/** Two-sided exact binomial p-value at 1/2, min(1, 2·P(X ≤ k)), summed in exact integers. */
function binomialByBigInt(regressed: number, improved: number): number {
  const n = BigInt(regressed + improved);
  const k = BigInt(Math.min(regressed, improved));
  let c = 1n;
  let sum = 0n;
  for (let i = 0n; i <= k; i++) {
    sum += c;
    c = (c * (n - i)) / (i + 1n);
  }
  const scale = 10n ** 60n;
  const p = Number((2n * sum * scale) / 2n ** n) / Number(scale);
  return Math.min(1, p);
}

describe("McNemar's exact test", () => {
  it("is the exact binomial on the discordant pairs", () => {
    // 12 regressed, 3 improved: 2·(C(15,0)+C(15,1)+C(15,2)+C(15,3))/2^15 = 2·576/32768.
    expect(mcnemarExact(12, 3).pValue).toBeCloseTo(0.03515625, 12);
    expect(mcnemarExact(3, 12).pValue).toBeCloseTo(0.03515625, 12);
    // 1 and 9: 2·11/1024.
    expect(mcnemarExact(1, 9).pValue).toBeCloseTo(0.021484375, 12);
    expect(mcnemarExact(12, 3).discordant).toBe(15);
  });

  it("is 1 when nothing is discordant or the split is even, and refuses counts that are not counts", () => {
    expect(mcnemarExact(0, 0).pValue).toBe(1);
    expect(mcnemarExact(5, 5).pValue).toBe(1);
    expect(mcnemarExact(1, 0).pValue).toBe(1);
    expect(() => mcnemarExact(-1, 2)).toThrow(RangeError);
    expect(() => mcnemarExact(1.5, 2)).toThrow(RangeError);
  });

  it("keeps its precision for hundreds and thousands of pairs", () => {
    for (const [a, b] of [
      [60, 140],
      [480, 520],
      [430, 570],
    ] as const) {
      const exact = binomialByBigInt(a, b);
      expect(Math.abs(mcnemarExact(a, b).pValue - exact) / exact, `${a}, ${b}`).toBeLessThan(1e-9);
    }
    // 2^-20000 underflows a double; the log-space sum still answers (and a tiny p, not 0 or NaN).
    const huge = mcnemarExact(9_000, 11_000).pValue;
    expect(huge).toBeGreaterThan(0);
    expect(huge).toBeLessThan(1e-40);
  });
});

describe("the Wilcoxon signed-rank test", () => {
  it("gives the textbook exact p-value (Darwin's Zea mays differences, as in SciPy's documentation)", () => {
    const d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75];
    const r = wilcoxonSignedRank(d);
    // Negative differences have ranks 10 and 14: W- = 24, W+ = 120 - 24 = 96; p = 2·1352/32768.
    expect(r).toMatchObject({ statistic: 96, n: 15, method: "exact", z: null });
    expect(r.pValue).toBeCloseTo(0.041259765625, 12);
    expect(wilcoxonSignedRank(d.map((x) => -x)).pValue).toBeCloseTo(0.041259765625, 12);
  });

  it("drops zero differences and gives tied absolute values their average rank", () => {
    const r = wilcoxonSignedRank([0, 0, 1, -1, 2, 3, 3, -4]);
    // |d| ranks: 1,1 -> 1.5 each; 2 -> 3; 3,3 -> 4.5 each; 4 -> 6. Positive: 1.5 + 3 + 4.5 + 4.5 = 13.5.
    expect(r).toMatchObject({ statistic: 13.5, n: 6, method: "normal" });
    // Normal: mean 10.5, variance 6·7·13/24 - ((2³-2)+(2³-2))/48 = 22.75 - 0.25 = 22.5; z = (3 - 0.5)/√22.5.
    expect(r.z).toBeCloseTo(2.5 / Math.sqrt(22.5), 12);
    expect(wilcoxonSignedRank([0, 0]).pValue).toBe(1);
    expect(() => wilcoxonSignedRank([1, Number.NaN])).toThrow(RangeError);
  });

  it("past 50 pairs, its normal approximation stays close to the exact distribution", () => {
    // 60 pairs, no ties: the exact two-sided p by counting sign assignments in BigInt.
    const n = 60;
    const d = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -(i + 1) : i + 1));
    const wPlus = d.reduce((s, x, i) => (x > 0 ? s + (i + 1) : s), 0);
    const total = (n * (n + 1)) / 2;
    const counts = new Array<bigint>(total + 1).fill(0n);
    counts[0] = 1n;
    for (let r = 1; r <= n; r++) for (let w = total; w >= r; w--) counts[w]! += counts[w - r]!;
    let tail = 0n;
    for (let w = 0; w <= Math.min(wPlus, total - wPlus); w++) tail += counts[w]!;
    const exact = Number((2n * tail * 10n ** 18n) / 2n ** BigInt(n)) / 1e18;
    const r = wilcoxonSignedRank(d);
    expect(r.method).toBe("normal");
    expect(r.statistic).toBe(wPlus);
    expect(Math.abs(r.pValue - exact)).toBeLessThan(0.002);
  });
});
