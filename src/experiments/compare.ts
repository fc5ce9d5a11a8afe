// The paired comparison of two runs of an experiment: both saw the same items, so each evaluator's verdicts pair
// up by item, and the question "does the candidate fail more?" is asked of the items where the two differ
// (McNemar's exact test), with the items that regressed listed with both outputs. Pure: it is given the rows.
import type { ExperimentComparison } from "@promptreg/client/contract";
import { mcnemarExact, wilcoxonSignedRank } from "../compare/paired.js";
import { wilsonInterval } from "../compare/stats.js";
import type { ItemVerdict } from "./builtin.js";

/** What a result row holds, as the comparison and the results page read it. */
export interface ResultFields {
  item_id: string;
  output: string | null;
  error: string | null;
  latency_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  /** Reported by a client run's task; null when it did not say. */
  cost: number | null;
  evaluations: Record<string, ItemVerdict>;
}

/** A run's results as compared: without the outputs, which the caller adds to the listed regressions. */
export type RunRows = Omit<ResultFields, "output">[];

interface Side {
  ref: string;
  version: string;
  rows: RunRows;
}

/** Regressions listed in full at most (the counts are always whole). */
const MAX_LISTED = 200;

const isVerdict = (v: ItemVerdict | undefined): v is ItemVerdict => v?.status === "passed" || v?.status === "failed";

function performance(rows: RunRows) {
  const latencies = rows.flatMap((r) => (r.latency_ms === null ? [] : [r.latency_ms]));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const answered = rows.filter((r) => r.error === null);
  return {
    meanLatencyMs: mean(latencies),
    promptTokens: mean(answered.flatMap((r) => (r.prompt_tokens === null ? [] : [r.prompt_tokens]))) ?? 0,
    completionTokens: mean(answered.flatMap((r) => (r.completion_tokens === null ? [] : [r.completion_tokens]))) ?? 0,
    cost: mean(answered.flatMap((r) => (r.cost === null ? [] : [r.cost]))),
    errors: rows.length - answered.length,
  };
}

export function compareRuns(input: {
  baseline: Side;
  candidate: Side;
  evaluators: string[];
  alpha: number;
  /**
   * A task's error counts as a failure on every evaluator (a gate's view: a version that cannot answer an item is
   * worse on it, not silent). Otherwise an errored item has no verdict and leaves the pairs.
   */
  errorsFail?: boolean;
}): ExperimentComparison {
  const { baseline, candidate, alpha } = input;
  const verdictOf = (row: RunRows[number], name: string): ItemVerdict | undefined =>
    input.errorsFail && row.error !== null
      ? { status: "failed", score: null, reason: `the task failed: ${row.error}` }
      : row.evaluations[name];
  const candidateByItem = new Map(candidate.rows.map((r) => [r.item_id, r]));
  const pairs = baseline.rows.flatMap((b) => {
    const c = candidateByItem.get(b.item_id);
    return c ? [{ b, c }] : [];
  });
  const regressions: ExperimentComparison["regressions"] = [];
  const improvements: ExperimentComparison["improvements"] = [];
  const evaluators = input.evaluators.map((name) => {
    let n11 = 0;
    let regressed = 0;
    let improved = 0;
    let n00 = 0;
    const scoreDiffs: number[] = [];
    const bScores: number[] = [];
    const cScores: number[] = [];
    for (const { b, c } of pairs) {
      const vb = verdictOf(b, name);
      const vc = verdictOf(c, name);
      if (vb?.score != null) bScores.push(vb.score);
      if (vc?.score != null) cScores.push(vc.score);
      if (vb?.score != null && vc?.score != null && Number.isFinite(vc.score - vb.score))
        scoreDiffs.push(vc.score - vb.score);
      if (!isVerdict(vb) || !isVerdict(vc)) continue;
      const bp = vb.status === "passed";
      const cp = vc.status === "passed";
      if (bp && cp) n11++;
      else if (!bp && !cp) n00++;
      else if (bp) {
        regressed++;
        if (regressions.length < MAX_LISTED)
          regressions.push({
            itemId: b.item_id,
            evaluator: name,
            variables: {},
            expected: null,
            baselineOutput: null,
            candidateOutput: null,
            reason: vc.reason,
          });
      } else {
        improved++;
        if (improvements.length < MAX_LISTED) improvements.push({ itemId: b.item_id, evaluator: name });
      }
    }
    const paired = n11 + n00 + regressed + improved;
    const side = (passed: number, failed: number, scores: number[]) => ({
      passed,
      failed,
      passRate: passed + failed === 0 ? null : passed / (passed + failed),
      interval: passed + failed === 0 ? null : wilsonInterval(passed, passed + failed),
      meanScore: scores.length ? scores.reduce((a, x) => a + x, 0) / scores.length : null,
    });
    const pValue = paired === 0 ? null : mcnemarExact(regressed, improved).pValue;
    const signedRank = scoreDiffs.length ? wilcoxonSignedRank(scoreDiffs) : null;
    const verdict =
      pValue === null
        ? ("insufficient_data" as const)
        : pValue < alpha
          ? regressed > improved
            ? ("worse" as const)
            : ("better" as const)
          : ("no_difference" as const);
    return {
      name,
      pairs: paired,
      baseline: side(n11 + regressed, n00 + improved, bScores),
      candidate: side(n11 + improved, n00 + regressed, cScores),
      regressed,
      improved,
      pValue,
      scores: signedRank
        ? {
            pairs: scoreDiffs.length,
            meanDifference: scoreDiffs.reduce((a, x) => a + x, 0) / scoreDiffs.length,
            pValue: signedRank.pValue,
            method: `Wilcoxon signed-rank (${signedRank.method})`,
          }
        : null,
      verdict,
    };
  });
  return {
    baseline: { ref: baseline.ref, version: baseline.version },
    candidate: { ref: candidate.ref, version: candidate.version },
    alpha,
    evaluators,
    regressions,
    improvements,
    performance: { baseline: performance(baseline.rows), candidate: performance(candidate.rows) },
    verdict: verdictSentence(baseline.version, candidate.version, evaluators, alpha),
  };
}

const formatP = (p: number) => (p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`);

function verdictSentence(
  base: string,
  cand: string,
  evaluators: ExperimentComparison["evaluators"],
  alpha: number,
): string {
  if (evaluators.length === 0) return `No evaluator was run: ${cand} and ${base} cannot be compared on their outputs.`;
  const level = `${+(alpha * 100).toFixed(2)}% level`;
  const worse = evaluators.filter((e) => e.verdict === "worse");
  const better = evaluators.filter((e) => e.verdict === "better");
  const parts = (list: typeof evaluators) =>
    list
      .map((e) => `${e.name} (${e.regressed} items regressed, ${e.improved} improved; McNemar ${formatP(e.pValue!)})`)
      .join(", ");
  if (worse.length)
    return `${cand} is significantly worse than ${base} at the ${level} on ${parts(worse)}.${better.length ? ` It is better on ${parts(better)}.` : ""}`;
  if (better.length)
    return `${cand} is significantly better than ${base} at the ${level} on ${parts(better)}, and worse on none.`;
  const tested = evaluators.filter((e) => e.pValue !== null);
  if (tested.length === 0) return `No item has a verdict on both ${base} and ${cand} yet.`;
  return `No significant difference between ${cand} and ${base} at the ${level}: ${tested
    .map((e) => `${e.name} ${e.regressed} regressed, ${e.improved} improved (McNemar ${formatP(e.pValue!)})`)
    .join("; ")}.`;
}
