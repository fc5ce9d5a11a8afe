// The guard's statistics and decision as pure functions: the mixture SPRT against values worked out by hand, the
// decision's outcomes, and, with a fixed seed, thousands of simulated rollouts through the same `decide` the service
// applies: identical arms are aborted less often than alpha, and a candidate failing 9% against 5% is aborted within
// the first step's sample.
import { describe, expect, it } from "vitest";
import { seeded } from "./helpers/seeded.js";
import { mixtureSprt } from "../src/compare/stats.js";
import { type ArmFigures, decide, type GuardInput, type StepSettings } from "../src/rollouts/guard.js";

describe("mixtureSprt", () => {
  // Λ = sqrt(V/(V+τ²))·exp(τ²θ²/(2V(V+τ²))), V pooled, computed by hand (Python, double precision).
  it.each([
    [50, 1000, 90, 1000, 0.04, 80.52427326313341],
    [100, 2000, 100, 2000, 0.04, 0.1697985953245884],
    [1900, 38000, 182, 2000, 0.04, 8578736091042.702],
    [30, 1000, 20, 1000, 0.02, 0.822291800602756],
  ])("%i/%i against %i/%i, tau %f: %f", (k1, n1, k2, n2, tau, expected) => {
    expect(mixtureSprt(k1, n1, k2, n2, tau).likelihoodRatio).toBeCloseTo(expected, 6 - Math.ceil(Math.log10(expected)));
  });

  it("is symmetric in the sign of the difference and 1 without evidence", () => {
    expect(mixtureSprt(90, 1000, 50, 1000).likelihoodRatio).toBeCloseTo(80.52427326313341, 8);
    expect(mixtureSprt(90, 1000, 50, 1000).diff).toBeCloseTo(-0.04, 12);
    expect(mixtureSprt(0, 0, 5, 10).likelihoodRatio).toBe(1);
    expect(mixtureSprt(0, 100, 0, 100).likelihoodRatio).toBe(1);
    expect(() => mixtureSprt(5, 4, 1, 1)).toThrow(RangeError);
  });

  it("grows without bound with the sample when the rates differ, and stays small when they do not", () => {
    const at = (n: number, k1: number, k2: number) => mixtureSprt(k1 * n, 100 * n, k2 * n, 100 * n).likelihoodRatio;
    expect(at(10, 5, 9)).toBeLessThan(at(20, 5, 9));
    expect(at(100, 5, 9)).toBeGreaterThan(1e10);
    expect(at(100, 5, 5)).toBeLessThan(0.1);
  });
});

const arm = (version: string, units: number, failures: number, extra: Partial<ArmFigures> = {}): ArmFigures => ({
  version,
  units,
  failures,
  latencyP95Ms: null,
  costMeanUsd: null,
  ...extra,
});
const STEPS: StepSettings[] = [
  { share: 0.05, minDurationMs: 600_000, minUnits: 100 },
  { share: 0.5, minDurationMs: 0, minUnits: 0 },
  { share: 1, minDurationMs: 0, minUnits: 0 },
];
const input = (over: Partial<GuardInput>): GuardInput => ({
  guard: { alpha: 0.05, minSample: 100, maxP95IncreaseMs: null, maxMeanCostIncrease: null },
  autoRollback: true,
  steps: STEPS,
  step: 1,
  baseline: arm("1.0.0", 4000, 200),
  candidate: arm("1.1.0", 200, 10),
  stepElapsedMs: 600_000,
  stepUnits: 200,
  ...over,
});

describe("decide", () => {
  it("holds until both arms have their minimum sample, saying what is missing", () => {
    const d = decide(input({ candidate: arm("1.1.0", 40, 30) }));
    expect(d.outcome).toBe("hold");
    expect(d.statistic).toBeNull();
    expect(d.sentence).toBe(
      "holding at step 1 of 3 (5%): 40 units in the candidate arm (1.1.0); the guard judges from 100 units per arm",
    );
  });

  it("aborts a candidate that fails more, or pauses it without autoRollback, with the figures in the sentence", () => {
    const worse = input({ candidate: arm("1.1.0", 1000, 150) });
    const aborted = decide(worse);
    expect(aborted.outcome).toBe("abort");
    expect(aborted.statistic).toBeGreaterThanOrEqual(20);
    expect(aborted.sentence).toMatch(
      /^the candidate 1\.1\.0 fails more: 15\.0% \(150\/1000\) against 5\.0% \(200\/4000\) for 1\.0\.0, likelihood ratio \S+ >= 20 \(alpha 0\.05\); aborted: the label keeps the baseline \(at step 1 of 3 \(5%\)\)$/,
    );
    expect(decide({ ...worse, autoRollback: false }).outcome).toBe("pause");
  });

  it("never aborts a candidate for failing less", () => {
    expect(decide(input({ candidate: arm("1.1.0", 4000, 20) })).outcome).toBe("advance");
  });

  it("judges the latency and cost limits on the point estimates", () => {
    const guard = { alpha: 0.05, minSample: 100, maxP95IncreaseMs: 200, maxMeanCostIncrease: 0.001 };
    const limits = [
      ["latencyP95Ms", 800, 1100, "p95 latency is 1100 ms against 800 ms, 300 ms more"],
      ["costMeanUsd", 0.002, 0.004, "mean cost is $0.00400 against $0.00200"],
    ] as const;
    for (const [figure, base, cand, said] of limits) {
      const d = decide(
        input({
          guard,
          baseline: arm("1.0.0", 4000, 200, { [figure]: base }),
          candidate: arm("1.1.0", 200, 10, { [figure]: cand }),
        }),
      );
      expect(d.outcome).toBe("abort");
      expect(d.sentence).toContain(said);
    }
    expect(
      decide(input({ guard, candidate: arm("1.1.0", 200, 10, { latencyP95Ms: 900, costMeanUsd: 0.0025 }) })).outcome,
    ).toBe("advance");
  });

  it("holds a harmless step until its time and units are met, then advances, and finishes after the last", () => {
    const early = decide(input({ stepElapsedMs: 60_000, stepUnits: 40 }));
    expect(early.outcome).toBe("hold");
    expect(early.sentence).toContain("step 1 of 3 (5%) needs 9 min more of its 10 min and 60 more candidate units");
    expect(decide(input({})).outcome).toBe("advance");
    expect(decide(input({})).sentence).toContain("advancing to step 2 (50%)");
    const last = decide(input({ step: 3 }));
    expect(last.outcome).toBe("finish");
    expect(last.sentence).toContain("the label moves to 1.1.0");
  });
});

/** Failures among n units failing with probability p: the gaps between failures are geometric. */
function failures(n: number, p: number, random: () => number): number {
  let k = 0;
  let i = Math.floor(Math.log(1 - random()) / Math.log(1 - p));
  while (i < n) {
    k++;
    i += 1 + Math.floor(Math.log(1 - random()) / Math.log(1 - p));
  }
  return k;
}

/**
 * One rollout: every look adds `perLook` units split by the step's share, failing at the arms' rates, and asks
 * `decide` as the guard does. Returns how it ended and the candidate units it had then.
 */
function simulate(
  rates: { baseline: number; candidate: number },
  steps: StepSettings[],
  perLook: number,
  random: () => number,
): { outcome: "abort" | "finish"; step: number; candidateUnits: number } {
  const base = arm("1.0.0", 0, 0);
  const cand = arm("1.1.0", 0, 0);
  let step = 1;
  let stepUnits = 0;
  for (let look = 0; look < 100_000; look++) {
    const share = steps[step - 1]!.share;
    const toCandidate = Math.round(perLook * share);
    cand.units += toCandidate;
    cand.failures += failures(toCandidate, rates.candidate, random);
    base.units += perLook - toCandidate;
    base.failures += failures(perLook - toCandidate, rates.baseline, random);
    stepUnits += toCandidate;
    const d = decide({
      guard: { alpha: 0.05, minSample: 100, maxP95IncreaseMs: null, maxMeanCostIncrease: null },
      autoRollback: true,
      steps,
      step,
      baseline: base,
      candidate: cand,
      stepElapsedMs: 0,
      stepUnits,
    });
    if (d.outcome === "abort" || d.outcome === "finish")
      return { outcome: d.outcome, step, candidateUnits: cand.units };
    if (d.outcome === "advance") {
      step++;
      stepUnits = 0;
    }
  }
  throw new Error("the simulated rollout never ended");
}

const SIM_STEPS: StepSettings[] = [
  { share: 0.05, minDurationMs: 0, minUnits: 1500 },
  { share: 0.25, minDurationMs: 0, minUnits: 1500 },
  { share: 0.5, minDurationMs: 0, minUnits: 1500 },
  { share: 1, minDurationMs: 0, minUnits: 1500 },
];

describe("the guard, simulated with a fixed seed", () => {
  it("aborts fewer than alpha (5%) of rollouts whose arms fail alike, however often it looks", () => {
    const random = seeded(23);
    const runs = 1000;
    let aborted = 0;
    for (let i = 0; i < runs; i++)
      if (simulate({ baseline: 0.05, candidate: 0.05 }, SIM_STEPS, 200, random).outcome === "abort") aborted++;
    // Each run looks about 250 times; a fixed-sample test at 0.05 repeated like this would abort most of them.
    expect(aborted / runs).toBeLessThan(0.05);
  });

  it("aborts a candidate failing 9% against 5% within the first step's sample", () => {
    const random = seeded(42);
    const runs = 1000;
    const ends = Array.from({ length: runs }, () =>
      simulate({ baseline: 0.05, candidate: 0.09 }, SIM_STEPS, 200, random),
    );
    const inFirstStep = ends.filter((e) => e.outcome === "abort" && e.step === 1);
    expect(inFirstStep.length / runs).toBeGreaterThanOrEqual(0.99);
    const units = inFirstStep.map((e) => e.candidateUnits).sort((a, b) => a - b);
    // The figures the README quotes.
    expect(units[Math.floor(units.length / 2)]).toBeLessThan(400);
    expect(units[Math.floor(units.length * 0.95)]).toBeLessThan(1000);
  });
});
