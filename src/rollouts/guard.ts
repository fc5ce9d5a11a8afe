// The guard's decision on one running rollout, from the two arms' figures: pure, so that the service applies it and
// the tests simulate thousands of rollouts through the very same function.
//
// Harm is judged first, and at every look: the failure rates by an always-valid test (mixtureSprt in
// compare/stats.ts), whose false-alarm rate stays under alpha however many times the guard looks; latency and cost
// against the optional limits, on the point estimates (limits, not tests: the operator says how much worse is too
// much). Only without harm, and once both arms have their minimum sample, may a step advance, when it has lasted its
// minimum time and seen its minimum units in the candidate arm.
import { mixtureSprt } from "../compare/stats.js";

export interface ArmFigures {
  version: string;
  /** Judged units and failed ones, by the rollout's failure definition. */
  units: number;
  failures: number;
  latencyP95Ms: number | null;
  costMeanUsd: number | null;
}

export interface GuardSettings {
  alpha: number;
  minSample: number;
  maxP95IncreaseMs: number | null;
  maxMeanCostIncrease: number | null;
}

export interface StepSettings {
  share: number;
  minDurationMs: number;
  minUnits: number;
}

export interface GuardInput {
  guard: GuardSettings;
  autoRollback: boolean;
  steps: StepSettings[];
  /** The current step, from 1. */
  step: number;
  baseline: ArmFigures;
  candidate: ArmFigures;
  /** How long the current step has run, and the candidate arm's judged units since it began. */
  stepElapsedMs: number;
  stepUnits: number;
}

export type GuardOutcome = "hold" | "advance" | "finish" | "abort" | "pause";

export interface GuardDecision {
  outcome: GuardOutcome;
  sentence: string;
  /** The test's likelihood ratio; null before both arms have their minimum sample. */
  statistic: number | null;
  threshold: number;
}

const pct = (share: number) => `${Number((share * 100).toPrecision(4))}%`;
const rate = (a: ArmFigures) => `${((a.failures / a.units) * 100).toFixed(1)}% (${a.failures}/${a.units})`;
const ratio = (x: number) => (x >= 1e6 ? x.toExponential(2) : x >= 100 ? x.toFixed(0) : `${Number(x.toPrecision(3))}`);
const duration = (ms: number) =>
  ms >= 3_600_000
    ? `${+(ms / 3_600_000).toFixed(1)} h`
    : ms >= 60_000
      ? `${+(ms / 60_000).toFixed(1)} min`
      : `${+(ms / 1000).toFixed(1)} s`;

export function decide(input: GuardInput): GuardDecision {
  const { guard, baseline: base, candidate: cand, steps, step } = input;
  const threshold = 1 / guard.alpha;
  const current = steps[step - 1]!;
  const at = `step ${step} of ${steps.length} (${pct(current.share)})`;
  const short = [
    ...(cand.units < guard.minSample ? [`${cand.units} units in the candidate arm (${cand.version})`] : []),
    ...(base.units < guard.minSample ? [`${base.units} in the baseline arm (${base.version})`] : []),
  ];
  if (short.length > 0)
    return {
      outcome: "hold",
      sentence: `holding at ${at}: ${short.join(" and ")}; the guard judges from ${guard.minSample} units per arm`,
      statistic: null,
      threshold,
    };

  const test = mixtureSprt(base.failures, base.units, cand.failures, cand.units);
  const statistic = test.likelihoodRatio;
  const harms: string[] = [];
  if (test.diff > 0 && statistic >= threshold)
    harms.push(
      `the candidate ${cand.version} fails more: ${rate(cand)} against ${rate(base)} for ${base.version}, likelihood ratio ${ratio(statistic)} >= ${ratio(threshold)} (alpha ${guard.alpha})`,
    );
  if (guard.maxP95IncreaseMs !== null && cand.latencyP95Ms !== null && base.latencyP95Ms !== null) {
    const increase = cand.latencyP95Ms - base.latencyP95Ms;
    if (increase > guard.maxP95IncreaseMs)
      harms.push(
        `the candidate's p95 latency is ${cand.latencyP95Ms.toFixed(0)} ms against ${base.latencyP95Ms.toFixed(0)} ms, ${increase.toFixed(0)} ms more than the baseline's where ${guard.maxP95IncreaseMs} ms is allowed`,
      );
  }
  if (guard.maxMeanCostIncrease !== null && cand.costMeanUsd !== null && base.costMeanUsd !== null) {
    const increase = cand.costMeanUsd - base.costMeanUsd;
    if (increase > guard.maxMeanCostIncrease)
      harms.push(
        `the candidate's mean cost is $${cand.costMeanUsd.toPrecision(3)} against $${base.costMeanUsd.toPrecision(3)}, $${increase.toPrecision(3)} more where $${guard.maxMeanCostIncrease} is allowed`,
      );
  }
  if (harms.length > 0) {
    const outcome = input.autoRollback ? "abort" : "pause";
    const did = input.autoRollback ? "aborted: the label keeps the baseline" : "paused for a decision";
    return { outcome, sentence: `${harms.join("; ")}; ${did} (at ${at})`, statistic, threshold };
  }

  const seen = `no harm seen: ${rate(cand)} failing against ${rate(base)}, likelihood ratio ${ratio(statistic)} < ${ratio(threshold)}`;
  const waiting = [
    ...(input.stepElapsedMs < current.minDurationMs
      ? [`${duration(current.minDurationMs - input.stepElapsedMs)} more of its ${duration(current.minDurationMs)}`]
      : []),
    ...(input.stepUnits < current.minUnits
      ? [`${current.minUnits - input.stepUnits} more candidate units of its ${current.minUnits}`]
      : []),
  ];
  if (waiting.length > 0)
    return { outcome: "hold", sentence: `${seen}; ${at} needs ${waiting.join(" and ")}`, statistic, threshold };
  if (step === steps.length)
    return {
      outcome: "finish",
      sentence: `${seen}; ${at} is done: the label moves to ${cand.version}`,
      statistic,
      threshold,
    };
  return {
    outcome: "advance",
    sentence: `${seen}; ${at} is done: advancing to step ${step + 1} (${pct(steps[step]!.share)})`,
    statistic,
    threshold,
  };
}
