// The paired comparison of two runs of an experiment: both saw the same items, so each evaluator's verdicts pair
// up by item, and the question "does the candidate fail more?" is asked of the items where the two differ
// (McNemar's exact test), with the items that regressed listed with both outputs. The database pairs and counts
// (pairsSql); `summarize` turns its counts into tests and verdicts.
import type { ExperimentComparison } from "@promptreg/client/contract";
import { mcnemarExact, wilcoxonSignedRank } from "../compare/paired.js";
import { wilsonInterval } from "../compare/stats.js";
import type { Database } from "../db/client.js";
import type { ReadDb } from "../db/writes.js";
import { Prisma } from "../generated/prisma/client.js";
import type { ItemVerdict } from "./builtin.js";

/** What a result row holds, as the results page reads it. */
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

interface Side {
  ref: string;
  version: string;
  runId: string;
}

/** Regressions (and improvements) listed at most (the counts are always whole). */
const MAX_LISTED = 200;

/** One evaluator's pairs, as the database counts them. */
interface PairCounts {
  name: string;
  n11: number;
  n00: number;
  regressed: number;
  improved: number;
  /** Candidate minus baseline score, for the pairs where both have one. */
  diffs: number[];
  baselineMean: number | null;
  candidateMean: number | null;
}

/** A regressed or improved pair, as listed. */
interface Listed {
  item_id: string;
  name: string;
  regressed: boolean;
  reason: string | null;
}

type Performance = ExperimentComparison["performance"]["baseline"];

/**
 * Pairs the two runs' results by item and counts, per evaluator, the four cells of McNemar's table, the score
 * differences and means, and lists the first regressions and improvements; with each run's latency, tokens and
 * cost. All in the database, one statement: the rows (10,000 a run, with their verdicts) never travel, which on the
 * embedded database is most of the time a comparison takes.
 */
function pairsSql(baseline: string, candidate: string, evaluators: string[], errorsFail: boolean): Prisma.Sql {
  // A task's error, when it counts as a failure, is every evaluator's verdict of the item.
  const status = (x: string) =>
    Prisma.sql`CASE WHEN ${errorsFail}::boolean AND ${Prisma.raw(x)}.error IS NOT NULL THEN 'failed'
      ELSE ${Prisma.raw(x)}.evaluations -> v.name ->> 'status' END`;
  const score = (x: string) =>
    Prisma.sql`CASE WHEN ${errorsFail}::boolean AND ${Prisma.raw(x)}.error IS NOT NULL THEN NULL
      ELSE (${Prisma.raw(x)}.evaluations -> v.name ->> 'score')::float8 END`;
  return Prisma.sql`
    WITH pairs AS MATERIALIZED (
      SELECT b.item_id, v.name, v.ord, ${status("b")} AS bs, ${status("c")} AS cs, ${score("b")} AS bsc,
        ${score("c")} AS csc
      FROM experiment_results b
        JOIN experiment_results c ON c.run_id = ${candidate}::uuid AND c.item_id = b.item_id
        CROSS JOIN unnest(${evaluators}::text[]) WITH ORDINALITY AS v(name, ord)
      WHERE b.run_id = ${baseline}::uuid),
    counted AS (
      SELECT name, ord,
        count(*) FILTER (WHERE bs = 'passed' AND cs = 'passed')::int AS n11,
        count(*) FILTER (WHERE bs = 'failed' AND cs = 'failed')::int AS n00,
        count(*) FILTER (WHERE bs = 'passed' AND cs = 'failed')::int AS regressed,
        count(*) FILTER (WHERE bs = 'failed' AND cs = 'passed')::int AS improved,
        coalesce(array_agg(csc - bsc) FILTER (WHERE bsc IS NOT NULL AND csc IS NOT NULL), '{}') AS diffs,
        avg(bsc) AS "baselineMean", avg(csc) AS "candidateMean"
      FROM pairs GROUP BY name, ord),
    listed AS (
      -- The candidate's reason, read for the listed items only.
      SELECT l.item_id, l.name, l.ord, l.regressed,
        CASE WHEN ${errorsFail}::boolean AND c.error IS NOT NULL THEN 'the task failed: ' || c.error
          ELSE c.evaluations -> l.name ->> 'reason' END AS reason
      FROM (
        SELECT item_id, name, ord, bs = 'passed' AS regressed,
          row_number() OVER (PARTITION BY bs ORDER BY ord, item_id) AS n
        FROM pairs WHERE (bs = 'passed' AND cs = 'failed') OR (bs = 'failed' AND cs = 'passed')) l
        JOIN experiment_results c ON c.run_id = ${candidate}::uuid AND c.item_id = l.item_id
      WHERE l.n <= ${MAX_LISTED}),
    performance AS (
      SELECT run_id = ${candidate}::uuid AS candidate, avg(latency_ms)::float8 AS "meanLatencyMs",
        coalesce(avg(prompt_tokens) FILTER (WHERE error IS NULL), 0)::float8 AS "promptTokens",
        coalesce(avg(completion_tokens) FILTER (WHERE error IS NULL), 0)::float8 AS "completionTokens",
        (avg(cost) FILTER (WHERE error IS NULL))::float8 AS cost, count(error)::int AS errors
      FROM experiment_results WHERE run_id IN (${baseline}::uuid, ${candidate}::uuid) GROUP BY 1)
    SELECT
      (SELECT coalesce(json_agg(counted ORDER BY ord), '[]') FROM counted) AS counted,
      (SELECT coalesce(json_agg(listed ORDER BY regressed DESC, ord, item_id), '[]') FROM listed) AS listed,
      (SELECT coalesce(json_agg(performance), '[]') FROM performance) AS performance`;
}

/** What a run that has no result yet performs. */
const NO_PERFORMANCE: Performance = {
  meanLatencyMs: null,
  promptTokens: 0,
  completionTokens: 0,
  cost: null,
  errors: 0,
};

/**
 * The paired comparison of two runs of an experiment, read in one statement (on the driver, or in the caller's
 * transaction: a gate compares inside the label move's).
 */
export async function compareRuns(
  db: Database | ReadDb,
  input: {
    baseline: Side;
    candidate: Side;
    evaluators: string[];
    alpha: number;
    /**
     * A task's error counts as a failure on every evaluator (a gate's view: a version that cannot answer an item is
     * worse on it, not silent). Otherwise an errored item has no verdict and leaves the pairs.
     */
    errorsFail?: boolean;
  },
): Promise<ExperimentComparison> {
  const sql = pairsSql(input.baseline.runId, input.candidate.runId, input.evaluators, input.errorsFail ?? false);
  type Row = { counted: PairCounts[]; listed: Listed[]; performance: (Performance & { candidate: boolean })[] };
  // The embedded database has one connection: inside a transaction the statement must use it.
  const [row] = "query" in db ? (await db.query<Row>(sql)).rows : await db.$queryRaw<Row[]>(sql);
  const { counted, listed, performance } = row!;
  const performanceOf = (candidate: boolean): Performance => {
    const found = performance.find((p) => p.candidate === candidate);
    if (!found) return NO_PERFORMANCE;
    const { candidate: _, ...figures } = found;
    return figures;
  };
  return summarize({
    ...input,
    counted,
    listed,
    performance: { baseline: performanceOf(false), candidate: performanceOf(true) },
  });
}

/** The comparison from the database's counts: the tests, intervals and verdicts. Pure. */
export function summarize(input: {
  baseline: Omit<Side, "runId">;
  candidate: Omit<Side, "runId">;
  evaluators: string[];
  alpha: number;
  counted: PairCounts[];
  listed: Listed[];
  performance: ExperimentComparison["performance"];
}): ExperimentComparison {
  const { baseline, candidate, alpha } = input;
  const evaluators = input.evaluators.map((name) => {
    const c = input.counted.find((x) => x.name === name);
    const { n11, n00, regressed, improved, diffs } = c ?? { n11: 0, n00: 0, regressed: 0, improved: 0, diffs: [] };
    const paired = n11 + n00 + regressed + improved;
    const side = (passed: number, failed: number, mean: number | null | undefined) => ({
      passed,
      failed,
      passRate: passed + failed === 0 ? null : passed / (passed + failed),
      interval: passed + failed === 0 ? null : wilsonInterval(passed, passed + failed),
      meanScore: mean ?? null,
    });
    const pValue = paired === 0 ? null : mcnemarExact(regressed, improved).pValue;
    const signedRank = diffs.length ? wilcoxonSignedRank(diffs) : null;
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
      baseline: side(n11 + regressed, n00 + improved, c?.baselineMean),
      candidate: side(n11 + improved, n00 + regressed, c?.candidateMean),
      regressed,
      improved,
      pValue,
      scores: signedRank
        ? {
            pairs: diffs.length,
            meanDifference: diffs.reduce((a, x) => a + x, 0) / diffs.length,
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
    // Variables, expected outputs and both outputs are added by the caller, for the listed items only.
    regressions: input.listed
      .filter((l) => l.regressed)
      .map((l) => ({
        itemId: l.item_id,
        evaluator: l.name,
        variables: {},
        expected: null,
        baselineOutput: null,
        candidateOutput: null,
        reason: l.reason ?? "",
      })),
    improvements: input.listed.filter((l) => !l.regressed).map((l) => ({ itemId: l.item_id, evaluator: l.name })),
    performance: input.performance,
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
