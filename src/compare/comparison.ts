// Compares trace outcomes of prompt versions. Everything is aggregated in the database (one statement for the
// per-version metrics and the per-source breakdown, one for annotation summaries, one for the prompt's
// unattributed spans); no raw spans reach Node. Large comparisons read span_rollups instead of the spans
// (comparison-rollup.ts): counts, failures, sums and means stay exact, percentiles come from the latency histogram
// within the bound stated in histogram.ts. Only figures the rollups hold exactly go that way (unit=span, status
// failures, no session/user filter); the rest reads the spans (comparison-raw.ts).
import type { Principal } from "../auth/principal.js";
import { Prisma } from "../generated/prisma/client.js";
import { rawFigures, rawRows } from "./comparison-raw.js";
import { rolledFigures, rollupRows } from "./comparison-rollup.js";
import type { CompareServiceDeps } from "./compare.service.js";
import { decimalNumber, parseDecimal } from "./decimal.js";
import { CURRENT_VERDICTS_SQL, requireRecordedAnnotations } from "./failure.js";
import type { CostFigures, Figures } from "./figures.js";
import { versionSpanFilters } from "./filters.js";
import {
  EXACT_PERCENTILES_UP_TO,
  num,
  PERCENTILES,
  rollupsCanAnswer,
  type CompareQuery,
  type Rows,
} from "./queries.js";
import { differenceInterval, failureVerdict, wilsonInterval, type Verdict } from "./stats.js";
import { countUnattributed } from "./unattributed.js";
import { pickVersions } from "./versions.js";

// As failureVerdict counts: a side needs at least max(minSample, 1) units.
const moreNeeded = (units: number, minSample: number) => Math.max(0, Math.max(minSample, 1) - units);
const percent = (rate: number | null) => (rate === null ? "none (no units)" : `${(rate * 100).toFixed(1)}%`);

/** The versions of prompt `name` that `q` lists (or production's last move), compared: the baseline first. */
export async function compareVersions(
  { db, database, prompts }: CompareServiceDeps,
  p: Principal,
  name: string,
  q: CompareQuery,
) {
  const { prompt, versions, refs } = await pickVersions({ db, prompts }, p, name, q.versions, 2);
  await requireRecordedAnnotations(database, p.projectId, prompt, q.failure);
  const ids = versions.map((v) => v.id);
  const mode = q.percentiles ?? "auto";

  // Rollups count spans and status failures by version, hour, label, source and model: any other unit, failure
  // definition or filter needs the raw spans. In auto mode the rollup rows are both the count that decides the
  // path and, past the threshold, the answer: a separate count first would read the same rows twice on the large
  // comparisons, to save an aggregation over few rows on the small ones.
  let rolled: Rows | null = null;
  if (mode !== "exact" && q.unit === "span" && rollupsCanAnswer(q)) {
    const rows = await rollupRows(database, p.projectId, ids, q);
    const compared = rows.reduce((s, r) => s + Number(r.spans), 0);
    if (mode === "histogram" || compared > EXACT_PERCENTILES_UP_TO) rolled = rows;
  }
  const raw = rolled ? null : await rawRows(database, p.projectId, ids, q);
  const figures = (id: string): Figures => (raw ? rawFigures(raw, id) : rolledFigures(rolled!, id));

  // Annotations attached to the counted spans (a trace-level one counts once per span of its trace). The
  // uncorrelated EXISTS is a one-time filter: a project without annotations never scans its spans here.
  const { rows: annotations } = await database.query(Prisma.sql`
    SELECT s.version_id::text AS version_id, an.name, count(*)::int AS count,
       avg(CASE WHEN an.passed THEN 1.0 WHEN an.passed = false THEN 0.0 END)::float8 AS pass_rate, avg(an.score) AS mean_score
     FROM spans s JOIN annotations an ON an.project_id = s.project_id AND an.trace_id = s.trace_id AND an.span_id IN (s.span_id, '')
     WHERE ${versionSpanFilters(p.projectId, ids, q)} AND EXISTS (SELECT 1 FROM annotations a0 WHERE a0.project_id = ${p.projectId}::uuid)
       AND ${CURRENT_VERDICTS_SQL}
     GROUP BY s.version_id, an.name ORDER BY an.name`);

  const unattributed = await countUnattributed(database, p.projectId, prompt, q);
  const annotationBased = q.failure.kind !== "status";

  const perVersion = versions.map(({ version, id }) => {
    const f = figures(id);
    const n = f.units;
    const k = f.failures;
    return {
      version,
      units: n,
      spans: f.spans,
      failures: k,
      failureRate: n ? k / n : null,
      failureRateCI: n ? wilsonInterval(k, n) : null,
      // Under an annotation-based failure: how many of the version's units carry the annotation.
      coverage: annotationBased
        ? {
            annotatedUnits: n,
            allUnits: f.allUnits,
            rate: f.allUnits ? n / f.allUnits : null,
            evaluationErrors: f.erroredUnits,
          }
        : null,
      latencyMs: { p50: f.pct?.[0] ?? null, p95: f.pct?.[1] ?? null, p99: f.pct?.[2] ?? null, mean: f.latencyMean },
      tokens: f.tokens,
      costUsd: { ...f.cost, explanation: explainCost(f.cost, f.spans) },
      annotations: annotations
        .filter((a) => a.version_id === id)
        .map((a) => ({
          name: a.name as string,
          count: num(a.count)!,
          passRate: num(a.pass_rate),
          meanScore: num(a.mean_score),
        })),
      bySource: f.bySource
        .map((r) => ({
          source: r.source,
          units: r.units,
          failures: r.failures,
          failureRate: r.units ? r.failures / r.units : null,
        }))
        .sort((a, b) => a.source.localeCompare(b.source)),
    };
  });

  const [baseline, ...candidates] = perVersion;
  const coverageNote = annotationBased
    ? ` Only annotated ${q.unit}s are judged; coverage ${perVersion.map((v) => `${v.version} ${percent(v.coverage!.rate)}`).join(", ")}.`
    : "";
  const comparisons = candidates.map((c) => {
    const verdict = failureVerdict({
      baseline: { label: baseline!.version, failures: baseline!.failures, total: baseline!.units },
      candidate: { label: c.version, failures: c.failures, total: c.units },
      unit: q.unit,
      minSample: q.minSample,
    });
    const diff =
      baseline!.units && c.units ? differenceInterval(baseline!.failures, baseline!.units, c.failures, c.units) : null;
    const sub = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
    // Means of exact decimals, subtracted exactly (0.00019 - 0.00018 is 0.00001, not 0.000009999999999999999).
    const costSub = (a: number | null, b: number | null) =>
      a === null || b === null ? null : decimalNumber(parseDecimal(a) - parseDecimal(b));
    return {
      version: c.version,
      baseline: baseline!.version,
      verdict: verdict.verdict as Verdict,
      explanation: verdict.sentence + coverageNote,
      minSample: verdict.minSample,
      // How many more units each side needs before there is a verdict at all (0 when it has enough).
      moreUnitsNeeded: {
        baseline: moreNeeded(baseline!.units, q.minSample),
        candidate: moreNeeded(c.units, q.minSample),
      },
      failureRateDiff: diff && { diff: diff.diff, low: diff.low, high: diff.high },
      pValue: verdict.pValue,
      test: verdict.test,
      latencyP95DiffMs: sub(c.latencyMs.p95, baseline!.latencyMs.p95),
      meanCostDiffUsd: costSub(c.costUsd.mean, baseline!.costUsd.mean),
    };
  });

  return {
    prompt: name,
    unit: q.unit,
    failure: q.failure,
    refs,
    filters: {
      from: q.from?.toISOString() ?? null,
      to: q.to?.toISOString() ?? null,
      label: q.label ?? null,
      model: q.model ?? null,
      session: q.session ?? null,
      user: q.user ?? null,
      source: q.source ?? null,
      rollout: q.rollout ?? null,
      arm: q.arm ?? null,
    },
    // How p50/p95/p99 were computed; every other figure is exact either way.
    percentiles: rolled ? PERCENTILES.histogram : PERCENTILES.exact,
    baseline: baseline!.version,
    versions: perVersion,
    comparisons,
    unattributed,
  };
}

function explainCost(c: CostFigures, spans: number): string {
  if (spans === 0) return "no spans";
  const parts = [
    `${c.sent.count} sent by the span`,
    `${c.computed.count} computed from the price table`,
    `${c.unknown} unknown`,
  ];
  return `cost of ${spans} span${spans === 1 ? "" : "s"}: ${parts.join(", ")}; sums and means cover the ${c.count} with a cost`;
}
