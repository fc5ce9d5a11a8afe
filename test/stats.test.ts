import { describe, expect, it } from "vitest";
import {
  compareProportions,
  differenceInterval,
  failureVerdict,
  fisherExactTest,
  logGamma,
  normalCdf,
  twoProportionZTest,
  wilsonInterval,
} from "../src/compare/stats.js";

/** Wilson bounds by the textbook closed form (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n), written independently of the module. */
function wilsonByFormula(k: number, n: number, z: number): [number, number] {
  const p = k / n;
  const a = p + (z * z) / (2 * n);
  const b = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  const d = 1 + (z * z) / n;
  return [(a - b) / d, (a + b) / d];
}

const Z975 = 1.959963984540054; // Φ⁻¹(0.975)

describe("normalCdf", () => {
  it("matches the standard normal table", () => {
    // Abramowitz & Stegun Table 26.1 (15 decimals): P(1.96) = 0.975002104851780, P(3) = 0.998650101968370.
    expect(normalCdf(1.96)).toBeCloseTo(0.97500210485178, 12);
    expect(normalCdf(-3)).toBeCloseTo(1 - 0.99865010196837, 12);
    expect(normalCdf(0)).toBe(0.5);
    // Φ(±1) = (1 ± erf(1/√2))/2 with erf(1/√2) = 0.682689492137086 (the "68%" of the 68-95-99.7 rule).
    expect(normalCdf(1)).toBeCloseTo((1 + 0.682689492137086) / 2, 12);
    expect(normalCdf(-1)).toBeCloseTo((1 - 0.682689492137086) / 2, 12);
  });

  it("keeps relative precision deep in the lower tail and handles infinities", () => {
    // Q(10) = 7.6198530241605e-24 (standard upper-tail value, also scipy.stats.norm.sf(10)); 1 - Φ(10) would round to 0.
    expect(normalCdf(-10) / 7.6198530241605e-24).toBeCloseTo(1, 10);
    expect(normalCdf(-Infinity)).toBe(0);
    expect(normalCdf(Infinity)).toBe(1);
    expect(normalCdf(NaN)).toBeNaN();
  });

  it("is continuous and symmetric across the internal switch between series and continued fraction", () => {
    for (const x of [-3.5355, -3.53553, -3.5356, 0.3, 2.2, 3.5355, 3.5356, 5.5]) {
      expect(normalCdf(x) + normalCdf(-x)).toBeCloseTo(1, 14);
    }
    // The switch sits at |x| = 2.5·√2; a jump there would show as a mismatch against the density·step.
    const x0 = 2.5 * Math.SQRT2;
    const h = 1e-6;
    const density = Math.exp(-(x0 * x0) / 2) / Math.sqrt(2 * Math.PI);
    expect((normalCdf(x0 + h) - normalCdf(x0 - h)) / (2 * h)).toBeCloseTo(density, 7);
  });
});

describe("logGamma", () => {
  it("matches closed forms", () => {
    expect(logGamma(1)).toBeCloseTo(0, 13); // Γ(1) = 1
    expect(logGamma(2)).toBeCloseTo(0, 13); // Γ(2) = 1
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12); // Γ(10) = 9!
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13); // Γ(1/2) = √π
    expect(logGamma(-0.5)).toBeCloseTo(Math.log(2 * Math.sqrt(Math.PI)), 13); // Γ(-1/2) = -2√π (reflection branch)
    expect(logGamma(0.1)).toBeCloseTo(Math.log(9.513507698668732), 12); // Γ(0.1) = Γ(1.1)/0.1, Γ(1.1) = 0.9513507699 (A&S Table 6.1)
  });

  it("is accurate for log-factorials around 1e6", () => {
    // ln(n!) by Stirling's series n ln n - n + ½ ln(2πn) + 1/(12n) - 1/(360n³); the next term is ~1e-32 at n = 1e6.
    const n = 1e6;
    const stirling = n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n ** 3);
    expect(Math.abs(logGamma(n + 1) - stirling)).toBeLessThan(1e-6);
    // Recurrence lnΓ(x+1) = lnΓ(x) + ln x exercised far from the closed forms.
    expect(logGamma(123.4 + 1) - logGamma(123.4)).toBeCloseTo(Math.log(123.4), 10);
  });

  it("is infinite at the poles", () => {
    expect(logGamma(0)).toBe(Infinity);
    expect(logGamma(-3)).toBe(Infinity);
  });
});

describe("wilsonInterval", () => {
  it("reproduces Newcombe's 81/263 example", () => {
    // Newcombe (1998a), Stat Med 17:857, Table I, method 3 (Wilson score): 81/263 -> 0.2553 to 0.3662.
    const w = wilsonInterval(81, 263);
    expect(w.low).toBeCloseTo(0.2553, 4);
    expect(w.high).toBeCloseTo(0.3662, 4);
    const [lo, hi] = wilsonByFormula(81, 263, Z975);
    expect(w.low).toBeCloseTo(lo, 12);
    expect(w.high).toBeCloseTo(hi, 12);
  });

  it("gives the closed-form edges for 0/n and n/n", () => {
    // With k = 0 the formula reduces to [0, z²/(n + z²)]; with k = n to [n/(n + z²), 1].
    const z2 = Z975 * Z975;
    expect(wilsonInterval(0, 10)).toEqual({ low: 0, high: expect.closeTo(z2 / (10 + z2), 12) });
    expect(wilsonInterval(10, 10)).toEqual({ low: expect.closeTo(10 / (10 + z2), 12), high: 1 });
    expect(wilsonInterval(0, 10).high).toBeCloseTo(0.2775, 4);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
  });

  it("honours z", () => {
    // 99% (z = 2.5758293035489) must be wider than 95% and match the closed form.
    const [lo, hi] = wilsonByFormula(30, 200, 2.5758293035489);
    const w = wilsonInterval(30, 200, 2.5758293035489);
    expect(w.low).toBeCloseTo(lo, 12);
    expect(w.high).toBeCloseTo(hi, 12);
    expect(w.low).toBeLessThan(wilsonInterval(30, 200).low);
  });

  it("rejects impossible counts", () => {
    expect(() => wilsonInterval(11, 10)).toThrow(RangeError);
    expect(() => wilsonInterval(1.5, 10)).toThrow(RangeError);
    expect(() => wilsonInterval(1, 10, 0)).toThrow(RangeError);
  });
});

describe("twoProportionZTest", () => {
  it("matches a hand computation; z is second minus first", () => {
    // p1 = 100/2000 = 0.05, p2 = 180/2000 = 0.09, pooled p = 280/4000 = 0.07,
    // SE = √(0.07·0.93·(1/2000 + 1/2000)) = √(6.51e-5) = 0.00806846, z = (0.09 - 0.05)/SE = 4.957577,
    // p = 2·Φ(-4.957577) = 7.1378e-7.
    const r = twoProportionZTest(100, 2000, 180, 2000);
    expect(r.z).toBeCloseTo(4.957577, 5);
    expect(r.pValue / 7.1378e-7).toBeCloseTo(1, 4);
    const swapped = twoProportionZTest(180, 2000, 100, 2000);
    expect(swapped.z).toBeCloseTo(-4.957577, 5);
    expect(swapped.pValue).toBeCloseTo(r.pValue, 15);
  });

  it("returns p = 1 instead of NaN when there is no variance", () => {
    expect(twoProportionZTest(0, 50, 0, 80)).toEqual({ z: 0, pValue: 1 });
    expect(twoProportionZTest(50, 50, 80, 80)).toEqual({ z: 0, pValue: 1 });
    expect(twoProportionZTest(0, 0, 3, 80)).toEqual({ z: 0, pValue: 1 });
  });

  it("gives p = 1 for identical proportions and 2·Φ(-1.96)≈0.05 at |z| = 1.96", () => {
    expect(twoProportionZTest(10, 100, 20, 200)).toEqual({ z: 0, pValue: 1 });
    // 2·(1 - 0.975002104851780) from A&S Table 26.1.
    expect(2 * normalCdf(-1.96)).toBeCloseTo(0.04999579029644, 12);
  });
});

describe("fisherExactTest", () => {
  it("reproduces Fisher's tea-tasting table [[3,1],[1,3]]", () => {
    // Margins 4/4, 4/4: P(x) = C(4,x)C(4,4-x)/C(8,4) = 1,16,36,16,1 (/70). Observed x = 3 (16/70);
    // as-or-less likely: x = 0,1,3,4 -> 34/70 = 0.485714 (R: fisher.test(TeaTasting) two-sided).
    expect(fisherExactTest(3, 4, 1, 4).pValue).toBeCloseTo(34 / 70, 10);
  });

  it("reproduces the [[1,9],[11,3]] example", () => {
    // Wikipedia "Fisher's exact test" (dieting by sex): rows 10 and 14, 12 in the first column, C(24,12) = 2704156.
    // Tables no more likely than x = 1 (C(10,1)C(14,11) = 3640): x = 0 (91), 1 (3640), 9 (3640), 10 (91)
    // -> 7462/2704156 = 0.0027594 (scipy.stats.fisher_exact: 0.0027594561852200836).
    const p = fisherExactTest(1, 10, 11, 14).pValue;
    expect(p).toBeCloseTo(7462 / 2704156, 12);
    expect(p).toBeCloseTo(0.002759, 6);
  });

  it("is symmetric in row and column order", () => {
    const p = fisherExactTest(1, 10, 11, 14).pValue;
    expect(fisherExactTest(11, 14, 1, 10).pValue).toBeCloseTo(p, 14);
    expect(fisherExactTest(9, 10, 3, 14).pValue).toBeCloseTo(p, 14);
  });

  it("handles the most extreme table and degenerate margins", () => {
    // [[0,5],[5,0]]: only x = 0 and x = 5 have probability 1/C(10,5) = 1/252 each -> 2/252.
    expect(fisherExactTest(0, 5, 5, 5).pValue).toBeCloseTo(2 / 252, 12);
    expect(fisherExactTest(0, 10, 0, 20).pValue).toBe(1);
    expect(fisherExactTest(0, 0, 4, 9).pValue).toBe(1);
  });

  it("agrees with the z-test and with scipy at large n", () => {
    // 100/2000 vs 180/2000: scipy.stats.fisher_exact gives 8.4172808130061e-07; z-test gives 7.14e-7.
    const p = fisherExactTest(100, 2000, 180, 2000).pValue;
    expect(p / 8.4172808130061e-7).toBeCloseTo(1, 6);
    const pz = twoProportionZTest(100, 2000, 180, 2000).pValue;
    expect(p / pz).toBeGreaterThan(0.8);
    expect(p / pz).toBeLessThan(1.5);
  });

  it("works for n = 1e6 per side quickly", () => {
    // Quickly: it weighs the few thousand tables around the mode, not the million a full sum would. Timed against
    // weighing 100,000 tables (four logGamma each, as it does) in the same run, not in absolute milliseconds, which a
    // busy machine stretches; the best of three of each, so that a pause in either does not decide.
    let sink = 0;
    const best = (work: () => number) =>
      Math.min(
        ...[0, 1, 2].map(() => {
          const start = performance.now();
          sink += work();
          return performance.now() - start;
        }),
      );
    const tables = best(() => {
      let sum = 0;
      for (let x = 0; x < 100_000; x++)
        sum += logGamma(x + 1) + logGamma(1_000_000 - x + 1) + logGamma(x + 2) + logGamma(1_000_000 - x);
      return sum;
    });
    // 1000/1e6 vs 1100/1e6: scipy.stats.fisher_exact 0.0306330777492635; z-test 0.0290119.
    const p = fisherExactTest(1000, 1_000_000, 1100, 1_000_000).pValue;
    expect(best(() => fisherExactTest(1000, 1_000_000, 1100, 1_000_000).pValue)).toBeLessThan(tables);
    expect(sink).not.toBeNaN();
    expect(p / 0.0306330777492635).toBeCloseTo(1, 6);
    expect(p).toBeCloseTo(twoProportionZTest(1000, 1_000_000, 1100, 1_000_000).pValue, 2);
    // The observed table is the mode, so every table is at most as likely and p = 1.
    expect(fisherExactTest(500_000, 1_000_000, 500_000, 1_000_000).pValue).toBeCloseTo(1, 10);
  });
});

describe("compareProportions", () => {
  it("uses the z-test when every expected cell is at least 5", () => {
    const r = compareProportions(100, 2000, 180, 2000);
    expect(r.test).toBe("z");
    expect(r.z).toBeCloseTo(4.957577, 5);
    expect(r.pValue).toBeCloseTo(twoProportionZTest(100, 2000, 180, 2000).pValue, 15);
    // 5/50 vs 5/50: expected failures 50·10/100 = 5 exactly, which is not < 5.
    expect(compareProportions(5, 50, 5, 50).test).toBe("z");
  });

  it("switches to Fisher when an expected cell is below 5", () => {
    // 4/50 vs 5/50: expected failures 50·9/100 = 4.5 < 5.
    const r = compareProportions(4, 50, 5, 50);
    expect(r).toEqual({ test: "fisher", pValue: fisherExactTest(4, 50, 5, 50).pValue });
    expect(r.z).toBeUndefined();
    // Also when the small expected count is in the success column: 48/50 vs 47/50 -> expected successes 2.5.
    expect(compareProportions(48, 50, 47, 50).test).toBe("fisher");
    // Tea-tasting table: every expected cell is 2.
    expect(compareProportions(3, 4, 1, 4)).toEqual({ test: "fisher", pValue: expect.closeTo(34 / 70, 10) });
    expect(compareProportions(0, 0, 0, 0)).toEqual({ test: "fisher", pValue: 1 });
  });
});

describe("differenceInterval", () => {
  it("reproduces Newcombe (1998b) method 10, examples (a) and (b)", () => {
    // Newcombe, Stat Med 17:873, Table II, method 10 (also asserted by the propint R package's tests):
    // (a) 56/70 - 48/80 = 0.2000, CI 0.0524 to 0.3339; (b) 9/10 - 3/10 = 0.6, CI 0.1705 to 0.8090.
    // The paper's difference is p1 - p2, ours is second minus first, so the paper's first sample goes second.
    const a = differenceInterval(48, 80, 56, 70);
    expect(a.diff).toBeCloseTo(0.2, 10);
    expect(a.low).toBeCloseTo(0.0524, 4);
    expect(a.high).toBeCloseTo(0.3339, 4);
    const b = differenceInterval(3, 10, 9, 10);
    expect(b.diff).toBeCloseTo(0.6, 10);
    expect(b.low).toBeCloseTo(0.1705, 4);
    expect(b.high).toBeCloseTo(0.809, 4);
    // Reversing the samples mirrors the interval.
    const r = differenceInterval(56, 70, 48, 80);
    expect(r.diff).toBeCloseTo(-0.2, 10);
    expect(r.low).toBeCloseTo(-a.high, 12);
    expect(r.high).toBeCloseTo(-a.low, 12);
  });

  it("matches the hand-derived 0/10 vs 0/10 case", () => {
    // Both Wilson intervals are [0, z²/(10 + z²)] = [0, 0.27753], so the hybrid interval is ±0.27753
    // (Newcombe 1998b Table II example (f): -0.2775 to +0.2775).
    const z2 = Z975 * Z975;
    const d = differenceInterval(0, 10, 0, 10);
    expect(d.diff).toBe(0);
    expect(d.low).toBeCloseTo(-z2 / (10 + z2), 12);
    expect(d.high).toBeCloseTo(z2 / (10 + z2), 12);
  });

  it("builds the interval from the Wilson bounds exactly as method 10 prescribes", () => {
    const [l1, u1] = wilsonByFormula(100, 2000, Z975);
    const [l2, u2] = wilsonByFormula(180, 2000, Z975);
    const d = differenceInterval(100, 2000, 180, 2000);
    expect(d.diff).toBeCloseTo(0.04, 12);
    expect(d.low).toBeCloseTo(0.04 - Math.sqrt((0.09 - l2) ** 2 + (u1 - 0.05) ** 2), 12);
    expect(d.high).toBeCloseTo(0.04 + Math.sqrt((u2 - 0.09) ** 2 + (0.05 - l1) ** 2), 12);
    expect(d.low).toBeCloseTo(0.02427, 5);
    expect(d.high).toBeCloseTo(0.05594, 5);
  });

  it("is uninformative when a side is empty", () => {
    const d = differenceInterval(0, 0, 3, 10);
    expect(d.diff).toBeNaN();
    expect(d.low).toBe(-1);
    expect(d.high).toBe(1);
  });
});

describe("failureVerdict", () => {
  const base = (failures: number, total = 2000) => ({ label: "1.4.2", failures, total });
  const cand = (failures: number, total = 2000) => ({ label: "1.5.0", failures, total });

  it("says 'worse' with the numbers when the candidate fails significantly more", () => {
    const v = failureVerdict({ baseline: base(100), candidate: cand(180), unit: "span" });
    expect(v.verdict).toBe("worse");
    expect(v.test).toBe("z");
    expect(v.pValue).toBeCloseTo(7.1378e-7, 10);
    expect(v.minSample).toBe(100);
    expect(v.difference?.diff).toBeCloseTo(0.04, 12);
    expect(v.sentence).toBe(
      "1.5.0 fails more often than 1.4.2 (9.0% vs 5.0% of 2000 spans each; difference +4.0 points, 95% CI +2.4 to +5.6, p < 0.001).",
    );
  });

  it("says 'better' when the candidate fails significantly less", () => {
    // 60/2000 vs 100/2000: pooled 0.04, SE = √(0.04·0.96·0.001) = 0.0061968, z = -0.02/SE = -3.2275, p = 0.00125.
    const v = failureVerdict({ baseline: base(100), candidate: cand(60), unit: "trace" });
    expect(v.verdict).toBe("better");
    expect(v.pValue).toBeCloseTo(0.0012488, 6);
    expect(v.sentence).toBe(
      "1.5.0 fails less often than 1.4.2 (3.0% vs 5.0% of 2000 traces each; difference -2.0 points, 95% CI -3.2 to -0.8, p = 0.001).",
    );
  });

  it("says 'no-significant-difference' when p >= alpha, and respects alpha", () => {
    // 110/2000 vs 100/2000: pooled 0.0525, SE = √(0.0525·0.9475·0.001) = 0.0070528, z = 0.70893, p = 0.4784.
    const v = failureVerdict({ baseline: base(100), candidate: cand(110), unit: "span" });
    expect(v.verdict).toBe("no-significant-difference");
    expect(v.pValue).toBeCloseTo(0.47837, 5);
    expect(v.sentence).toBe(
      "No significant difference in failure rate between 1.5.0 and 1.4.2 (5.5% vs 5.0% of 2000 spans each; difference +0.5 points, 95% CI -0.9 to +1.9, p = 0.478).",
    );
    // 130 vs 100 of 2000: z = 2.0376, p = 0.0416 -> significant at 0.05, not at 0.01 (where the interval becomes 99%).
    expect(failureVerdict({ baseline: base(100), candidate: cand(130), unit: "span" }).verdict).toBe("worse");
    const strict = failureVerdict({ baseline: base(100), candidate: cand(130), unit: "span", alpha: 0.01 });
    expect(strict.verdict).toBe("no-significant-difference");
    expect(strict.sentence).toContain("99% CI");
  });

  it("uses Fisher for small counts and reports unequal sample sizes separately", () => {
    // 10/60 vs 1/40: expected failures 40·11/100 = 4.4 < 5 -> Fisher.
    const v = failureVerdict({
      baseline: { label: "A", failures: 1, total: 40 },
      candidate: { label: "B", failures: 10, total: 60 },
      unit: "trace",
      minSample: 30,
    });
    expect(v.test).toBe("fisher");
    expect(v.pValue).toBeCloseTo(fisherExactTest(1, 40, 10, 60).pValue, 15);
    expect(v.verdict).toBe("worse");
    expect(v.sentence).toMatch(
      /^B fails more often than A \(16\.7% of 60 traces vs 2\.5% of 40 traces; difference \+14\.2 points, 95% CI /,
    );
    expect(v.sentence).toMatch(/, p = 0\.\d{3}\)\.$/);
  });

  it("says 'insufficient-data' below minSample, with the reason", () => {
    const v = failureVerdict({
      baseline: { label: "A", failures: 1, total: 40 },
      candidate: { label: "B", failures: 10, total: 60 },
      unit: "trace",
    });
    expect(v).toEqual({
      verdict: "insufficient-data",
      pValue: null,
      test: null,
      difference: null,
      minSample: 100,
      sentence:
        "Not enough data to compare B with A: B has 60 traces and A has 40 traces, but at least 100 traces per version are needed.",
    });
    // minSample is respected in both directions: 2000 units is not enough for 3000, and exactly minSample is enough.
    const big = failureVerdict({ baseline: base(100), candidate: cand(180), unit: "span", minSample: 3000 });
    expect(big.verdict).toBe("insufficient-data");
    expect(big.minSample).toBe(3000);
    expect(big.sentence).toContain("at least 3000 spans per version");
    expect(failureVerdict({ baseline: base(100), candidate: cand(180), unit: "span", minSample: 2000 }).verdict).toBe(
      "worse",
    );
    // Only the short side is named.
    const one = failureVerdict({ baseline: base(5, 99), candidate: cand(9), unit: "span" });
    expect(one.verdict).toBe("insufficient-data");
    expect(one.sentence).toContain("1.4.2 has 99 spans, but");
    expect(one.sentence).not.toContain("1.5.0 has");
    // An empty side never gets a verdict, even with minSample 0.
    expect(failureVerdict({ baseline: base(0, 0), candidate: cand(1, 10), unit: "span", minSample: 0 }).verdict).toBe(
      "insufficient-data",
    );
  });

  it("rejects inconsistent input", () => {
    expect(() => failureVerdict({ baseline: base(300, 200), candidate: cand(1), unit: "span" })).toThrow(RangeError);
    expect(() => failureVerdict({ baseline: base(1), candidate: cand(1), unit: "span", alpha: 1 })).toThrow(RangeError);
  });
});
