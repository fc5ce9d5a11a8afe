// Compares trace outcomes of prompt versions. Everything is aggregated in the database (one statement for the
// per-version metrics and the per-source breakdown, one for annotation summaries, one for the prompt's
// unattributed spans); no raw spans reach Node. Large comparisons read span_rollups instead of the spans (see
// traces/rollups.ts): counts, failures, sums and means stay exact, percentiles come from the latency histogram within the
// bound stated in histogram.ts. Only figures the rollups hold exactly go that way (unit=span, status failures, no
// session/user filter); the rest reads the spans. Reads spans, span_rollups and annotations (the label ledger
// through the labels module); writes nothing.
import type { Principal } from "../auth/principal.js";
import type { Database, Db } from "../db/client.js";
import { decimalNumber, meanOf, parseDecimal } from "./decimal.js";
import { Prisma } from "../generated/prisma/client.js";
import { AppError } from "../http/errors.js";
import { labelEventsBetween } from "../labels/labels.service.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import { judgementSql, requireRecordedAnnotations, type FailureDefinition } from "./failure.js";
import { rollupFilters, versionSpanFilters, type CompareFilters } from "./filters.js";
import { bucketMidpoint, HISTOGRAM_RELATIVE_ERROR, histogramPercentiles } from "./histogram.js";
import { differenceInterval, failureVerdict, wilsonInterval, type Verdict } from "./stats.js";
import { countUnattributed } from "./unattributed.js";
import { pickVersions } from "./versions.js";
import {
  MEASURE_TOTALS_SQL,
  RAW_AMOUNTS_SQL,
  ROLLUP_MEASURES_SQL,
  SPAN_SHARES_SQL,
  type AmountName,
  type MeasureColumn,
} from "../traces/rollups.js";

export type { CompareFilters } from "./filters.js";
export type { FailureDefinition } from "./failure.js";

export interface CompareQuery extends CompareFilters {
  versions?: string[];
  failure: FailureDefinition;
  unit: "span" | "trace";
  minSample: number;
  /**
   * auto: from span_rollups when they can give exact counts and more than EXACT_PERCENTILES_UP_TO spans are
   * compared, else exact; exact: always from the raw spans; histogram: from span_rollups whenever they can.
   */
  percentiles?: "auto" | "exact" | "histogram";
}

export interface TimeseriesQuery extends CompareFilters {
  versions?: string[];
  failure: FailureDefinition;
  bucket: "5m" | "1h" | "1d";
  /** The label whose moves are returned as events (default production). */
  eventsLabel: string;
  /** As for CompareQuery; 5m buckets always come from the raw spans (rollups are hourly). */
  percentiles?: "auto" | "exact" | "histogram";
}

/** Up to this many compared spans, percentile_cont over the raw spans is cheap enough to stay exact. */
export const EXACT_PERCENTILES_UP_TO = 50_000;
const HOUR_MS = 3_600_000;
const PERCENTILES = {
  exact: "exact",
  histogram: `histogram (<=${(HISTOGRAM_RELATIVE_ERROR * 100).toFixed(3)}% relative error)`,
};

const BUCKETS = { "5m": "5 minutes", "1h": "1 hour", "1d": "1 day" } as const;
const MAX_BUCKETS = 5_000;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
// As failureVerdict counts: a side needs at least max(minSample, 1) units.
const moreNeeded = (units: number, minSample: number) => Math.max(0, Math.max(minSample, 1) - units);
const percent = (rate: number | null) => (rate === null ? "none (no units)" : `${(rate * 100).toFixed(1)}%`);

/** One version's figures, whichever table they come from. */
interface Figures {
  /** Units the failure definition judges (all of them by status, the annotated ones by an annotation). */
  units: number;
  /** Every unit, judged or not: the denominator of an annotation's coverage. */
  allUnits: number;
  spans: number;
  failures: number;
  pct: (number | null)[] | null;
  latencyMean: number | null;
  tokens: Record<TokenKind, TokenFigures>;
  cost: CostFigures;
  bySource: { source: string; units: number; failures: number }[];
}

/** Token kinds as compare reports them; cache tokens are parts of the prompt tokens, reasoning of the completion. */
const TOKEN_KINDS = ["prompt", "completion", "total", "cacheRead", "cacheWrite", "reasoning"] as const;
type TokenKind = (typeof TOKEN_KINDS)[number];
/** Sum and mean over the spans that reported the count (`count` of them): a span that did not (a streamed call) is unknown, not 0. */
interface TokenFigures {
  mean: number | null;
  sum: number;
  count: number;
}
/**
 * Cost over the spans that have one (`count`): `sent` by the span, or `computed` at ingest from the price table;
 * `unknown` spans have neither and are in no sum or mean.
 */
interface CostFigures {
  mean: number | null;
  sum: number;
  count: number;
  sent: { sum: number; count: number };
  computed: { sum: number; count: number };
  unknown: number;
}

// The amount (rollups.ts) behind each token kind: both paths name their columns <amount>_sum and <amount>_count.
const TOKEN_AMOUNTS: Record<TokenKind, AmountName> = {
  prompt: "tokens_prompt",
  completion: "tokens_completion",
  total: "tokens_total",
  cacheRead: "cache_read",
  cacheWrite: "cache_write",
  reasoning: "reasoning",
};

/**
 * Token and cost figures from a row (or the sum of rows) holding <kind>_sum, <kind>_count and the cost columns. Costs
 * come as exact decimals (`cost`, see decimal.ts), so that adding rows adds no floating-point error.
 */
function amounts(
  get: (column: MeasureColumn) => number,
  cost: (column: MeasureColumn) => bigint,
  spans: number,
): Pick<Figures, "tokens" | "cost"> {
  const mean = (sum: number, count: number) => (count ? sum / count : null);
  const tokens = Object.fromEntries(
    TOKEN_KINDS.map((kind) => {
      const sum = get(`${TOKEN_AMOUNTS[kind]}_sum`);
      const count = get(`${TOKEN_AMOUNTS[kind]}_count`);
      return [kind, { mean: mean(sum, count), sum, count }];
    }),
  ) as Record<TokenKind, TokenFigures>;
  const costCount = get("cost_count");
  const costMean = meanOf(cost("cost_sum"), costCount);
  return {
    tokens,
    cost: {
      mean: costMean === null ? null : decimalNumber(costMean),
      sum: decimalNumber(cost("cost_sum")),
      count: costCount,
      sent: { sum: decimalNumber(cost("cost_sent_sum")), count: get("cost_sent_count") },
      computed: { sum: decimalNumber(cost("cost_computed_sum")), count: get("cost_computed_count") },
      unknown: spans - costCount,
    },
  };
}

/** Figures from the raw-spans statement's rows (GROUPING SETS: all sources, then each source). */
function rawFigures(rows: Record<string, unknown>[], versionId: string): Figures {
  const all = rows.find((r) => r.version_id === versionId && r.all_sources === 1);
  return {
    units: num(all?.units) ?? 0,
    allUnits: num(all?.all_units) ?? 0,
    spans: num(all?.spans) ?? 0,
    failures: num(all?.failures) ?? 0,
    pct: (all?.latency_pct as number[] | null) ?? null,
    latencyMean: num(all?.latency_mean),
    ...amounts(
      (column) => num(all?.[column]) ?? 0,
      (column) => parseDecimal((all?.[column] as string | undefined) ?? "0"),
      num(all?.spans) ?? 0,
    ),
    bySource: rows
      .filter((r) => r.version_id === versionId && r.all_sources === 0)
      .map((r) => ({ source: r.source as string, units: num(r.units)!, failures: num(r.failures)! })),
  };
}

/** Figures from rollup rows (one per version, source and latency bucket): exact but for the percentiles. */
function rolledFigures(rows: Record<string, unknown>[], versionId: string): Figures {
  const mine = rows.filter((r) => r.version_id === versionId);
  const total = (column: MeasureColumn) => mine.reduce((s, r) => s + Number(r[column]), 0);
  const exactTotal = (column: MeasureColumn) => mine.reduce((s, r) => s + parseDecimal(r[column] as string), 0n);
  const hist = new Map<number, number>();
  const bySource = new Map<string, { source: string; units: number; failures: number }>();
  for (const r of mine) {
    const bucket = Number(r.bucket);
    hist.set(bucket, (hist.get(bucket) ?? 0) + Number(r.spans));
    const source = r.source as string;
    const entry = bySource.get(source) ?? { source, units: 0, failures: 0 };
    entry.units += Number(r.spans);
    entry.failures += Number(r.failures);
    bySource.set(source, entry);
  }
  const spans = total("spans");
  return {
    units: spans,
    allUnits: spans,
    spans,
    failures: total("failures"),
    pct: spans ? histogramPercentiles(hist, [0.5, 0.95, 0.99]) : null,
    latencyMean: spans ? total("latency_sum") / spans : null,
    ...amounts(total, exactTotal, spans),
    bySource: [...bySource.values()],
  };
}

/**
 * The rows to aggregate instead of the raw spans: whole UTC hours inside [from, to) from span_rollups, plus the raw
 * spans of the partial hours at either edge, bucketed the same way. With `bin` (an interval such as '1 hour'), each
 * row also carries the start of its time-series bucket; bins are whole hours or days, so an hour never straddles two.
 */
function rollupSource(projectId: string, versionIds: string[], f: CompareFilters, bin?: string): Prisma.Sql {
  const fromHour = f.from && new Date(Math.ceil(f.from.getTime() / HOUR_MS) * HOUR_MS);
  const toHour = f.to && new Date(Math.floor(f.to.getTime() / HOUR_MS) * HOUR_MS);
  const noWholeHour = fromHour && toHour && fromHour >= toHour;
  const binOf = (column: string) =>
    bin
      ? Prisma.sql`date_bin(${bin}::interval, ${Prisma.raw(column)}, TIMESTAMPTZ '2000-01-01T00:00:00Z') AS bin,`
      : Prisma.empty;
  const parts: Prisma.Sql[] = [];
  if (!noWholeHour) {
    // A row whose spans were all taken out again (LLM judges found later) holds nothing.
    const where = [...rollupFilters(projectId, versionIds, f), Prisma.sql`r.spans <> 0`];
    if (fromHour) where.push(Prisma.sql`r.hour >= ${fromHour.toISOString()}::timestamptz`);
    if (toHour) where.push(Prisma.sql`r.hour < ${toHour.toISOString()}::timestamptz`);
    parts.push(Prisma.sql`SELECT r.version_id, ${binOf("r.hour")} r.source, r.latency_bucket, ${ROLLUP_MEASURES_SQL}
      FROM span_rollups r WHERE ${Prisma.join(where, " AND ")}`);
  }
  const edges: Prisma.Sql[] = [];
  if (noWholeHour) edges.push(Prisma.sql`TRUE`);
  else {
    if (fromHour && fromHour.getTime() !== f.from!.getTime())
      edges.push(Prisma.sql`s.start_time < ${fromHour.toISOString()}::timestamptz`);
    if (toHour && toHour.getTime() !== f.to!.getTime())
      edges.push(Prisma.sql`s.start_time >= ${toHour.toISOString()}::timestamptz`);
  }
  if (edges.length)
    parts.push(Prisma.sql`SELECT s.version_id, ${binOf("s.start_time")} coalesce(s.source, 'unspecified') AS source,
        promptreg_latency_bucket(s.latency_ms) AS latency_bucket, ${SPAN_SHARES_SQL}
      FROM spans s WHERE ${versionSpanFilters(projectId, versionIds, f)} AND (${Prisma.join(edges, " OR ")})`);
  return Prisma.sql`(${Prisma.join(parts, " UNION ALL ")})`;
}

/** A comparison's rollup rows: one per version, source and latency bucket. */
function rollupQuery(projectId: string, versionIds: string[], f: CompareFilters): Prisma.Sql {
  return Prisma.sql`SELECT x.version_id::text AS version_id, x.source, x.latency_bucket::int AS bucket, ${MEASURE_TOTALS_SQL}
    FROM ${rollupSource(projectId, versionIds, f)} x
    GROUP BY 1, 2, 3`;
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

export type CompareService = ReturnType<typeof createCompareService>;

export interface CompareServiceDeps {
  db: Db;
  database: Database;
  prompts: Pick<PromptsService, "resolve">;
}

export function createCompareService({ db, database, prompts }: CompareServiceDeps) {
  /** The rows of one statement. */
  const rowsOf = async <T = Record<string, unknown>>(statement: Prisma.Sql) =>
    (await database.query<T>(statement)).rows;

  return {
    async compare(p: Principal, name: string, q: CompareQuery) {
      const { prompt, versions, refs } = await pickVersions({ db, prompts }, p, name, q.versions, 2);
      await requireRecordedAnnotations(database, p.projectId, prompt, q.failure);
      const ids = versions.map((v) => v.id);
      const mode = q.percentiles ?? "auto";

      // Rollups count spans and status failures by version, hour, label, source and model: any other unit, failure
      // definition or filter needs the raw spans. In auto mode the rollup rows are both the count that decides the
      // path and, past the threshold, the answer: a separate count first would read the same rows twice on the large
      // comparisons, to save an aggregation over few rows on the small ones.
      let rolled: Record<string, unknown>[] | null = null;
      if (mode !== "exact" && q.unit === "span" && q.failure.kind === "status" && !q.session && !q.user) {
        const rows = await rowsOf(rollupQuery(p.projectId, ids, q));
        const compared = rows.reduce((s, r) => s + Number(r.spans), 0);
        if (mode === "histogram" || compared > EXACT_PERCENTILES_UP_TO) rolled = rows;
      }

      let figures: (id: string) => Figures;
      if (rolled) figures = (id) => rolledFigures(rolled, id);
      else {
        const unit = Prisma.raw(q.unit === "span" ? "*" : "DISTINCT s.trace_id");
        // One statement: per version, and per version and source (GROUPING SETS), with exact percentiles.
        const metrics = await rowsOf(Prisma.sql`
          SELECT s.version_id::text AS version_id, coalesce(s.source, 'unspecified') AS source, GROUPING(coalesce(s.source, 'unspecified'))::int AS all_sources,
             (count(${unit}) FILTER (WHERE f.judged))::int AS units, (count(${unit}) FILTER (WHERE f.judged AND f.failed))::int AS failures,
             count(${unit})::int AS all_units, count(*)::int AS spans,
             percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.latency_ms) AS latency_pct,
             avg(s.latency_ms) AS latency_mean, ${RAW_AMOUNTS_SQL}
           FROM spans s CROSS JOIN LATERAL ${judgementSql(p.projectId, q.failure)} f
           WHERE ${versionSpanFilters(p.projectId, ids, q)}
           GROUP BY GROUPING SETS ((s.version_id), (s.version_id, coalesce(s.source, 'unspecified')))`);
        figures = (id) => rawFigures(metrics, id);
      }

      // Annotations attached to the counted spans (a trace-level one counts once per span of its trace). The
      // uncorrelated EXISTS is a one-time filter: a project without annotations never scans its spans here.
      const annotations = await rowsOf(Prisma.sql`
        SELECT s.version_id::text AS version_id, an.name, count(*)::int AS count,
           avg(CASE WHEN an.passed THEN 1.0 WHEN an.passed = false THEN 0.0 END)::float8 AS pass_rate, avg(an.score) AS mean_score
         FROM spans s JOIN annotations an ON an.project_id = s.project_id AND an.trace_id = s.trace_id AND an.span_id IN (s.span_id, '')
         WHERE ${versionSpanFilters(p.projectId, ids, q)} AND EXISTS (SELECT 1 FROM annotations a0 WHERE a0.project_id = ${p.projectId}::uuid)
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
            ? { annotatedUnits: n, allUnits: f.allUnits, rate: f.allUnits ? n / f.allUnits : null }
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
          baseline!.units && c.units
            ? differenceInterval(baseline!.failures, baseline!.units, c.failures, c.units)
            : null;
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
        },
        // How p50/p95/p99 were computed; every other figure is exact either way.
        percentiles: rolled ? PERCENTILES.histogram : PERCENTILES.exact,
        baseline: baseline!.version,
        versions: perVersion,
        comparisons,
        unattributed,
      };
    },

    async timeseries(p: Principal, name: string, q: TimeseriesQuery) {
      const { prompt, versions, refs } = await pickVersions({ db, prompts }, p, name, q.versions, 1);
      await requireRecordedAnnotations(database, p.projectId, prompt, q.failure);
      const ids = versions.map((v) => v.id);
      const mode = q.percentiles ?? "auto";
      const bucketMs = { "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 }[q.bucket];
      // Refuse ranges that would produce an unbounded number of buckets.
      const checkBucketCount = (lo: Date | null, hi: Date | null) => {
        if (lo && hi && (new Date(hi).getTime() - new Date(lo).getTime()) / bucketMs > MAX_BUCKETS)
          throw new AppError(
            "validation_error",
            `that range holds more than ${MAX_BUCKETS} buckets of ${q.bucket}: narrow it or use a larger bucket`,
            {
              issues: [{ path: "query.bucket", message: "too many buckets for the range" }],
            },
          );
      };

      let rows: Record<string, unknown>[] | null = null;
      if (mode !== "exact" && q.bucket !== "5m" && q.failure.kind === "status" && !q.session && !q.user) {
        if (!q.from || !q.to) {
          // Hour starts: the range may read up to an hour short, which never matters against MAX_BUCKETS.
          const range = await rowsOf<{ lo: Date | null; hi: Date | null }>(Prisma.sql`
            SELECT min(r.hour) AS lo, max(r.hour) AS hi FROM span_rollups r WHERE ${Prisma.join(rollupFilters(p.projectId, ids, q), " AND ")}`);
          checkBucketCount(q.from ?? range[0]?.lo ?? null, q.to ?? range[0]?.hi ?? null);
        }
        const source = rollupSource(p.projectId, ids, q, BUCKETS[q.bucket]);
        // Per version and bin, the latency buckets holding the two ranks percentile_cont(0.95) interpolates between
        // (rank k sits in the first bucket whose running count exceeds k); histogram.ts has the error bound.
        const rolled = await rowsOf(Prisma.sql`
           WITH h AS (
             SELECT x.version_id, x.bin, x.latency_bucket, sum(x.spans) AS c, sum(x.failures) AS failures,
               sum(x.cost_sum) AS cost_sum, sum(x.cost_count) AS cost_count
             FROM ${source} x GROUP BY 1, 2, 3
           ), ranked AS (
             SELECT h.*, sum(h.c) OVER (PARTITION BY h.version_id, h.bin ORDER BY h.latency_bucket) AS cum,
               sum(h.c) OVER (PARTITION BY h.version_id, h.bin) AS n
             FROM h
           )
           SELECT version_id::text AS version_id, bin AS bucket, sum(c)::int AS count, sum(c)::int AS spans, sum(failures)::int AS failures,
             (sum(cost_sum) / nullif(sum(cost_count), 0))::float8 AS cost_mean,
             min(latency_bucket) FILTER (WHERE cum > floor(0.95 * (n - 1)))::int AS p95_lo,
             min(latency_bucket) FILTER (WHERE cum > ceil(0.95 * (n - 1)))::int AS p95_hi,
             min(0.95 * (n - 1) - floor(0.95 * (n - 1)))::float8 AS p95_frac
           FROM ranked GROUP BY 1, 2 ORDER BY 2, 1`);
        if (mode === "histogram" || rolled.reduce((n, r) => n + Number(r.count), 0) > EXACT_PERCENTILES_UP_TO)
          rows = rolled.map((r) => {
            const lo = bucketMidpoint(Number(r.p95_lo));
            return { ...r, latency_p95: lo + Number(r.p95_frac) * (bucketMidpoint(Number(r.p95_hi)) - lo) };
          });
      }

      const histogram = rows !== null;
      if (!rows) {
        const where = versionSpanFilters(p.projectId, ids, q);
        const span = await rowsOf<{ lo: Date | null; hi: Date | null }>(Prisma.sql`
          SELECT min(s.start_time) AS lo, max(s.start_time) AS hi FROM spans s WHERE ${where}`);
        checkBucketCount(q.from ?? span[0]?.lo ?? null, q.to ?? span[0]?.hi ?? null);
        // count and failures are the judged units, as in compare; latency and cost cover every span of the bucket.
        rows = await rowsOf(Prisma.sql`
          SELECT s.version_id::text AS version_id, date_bin(${BUCKETS[q.bucket]}::interval, s.start_time, TIMESTAMPTZ '2000-01-01T00:00:00Z') AS bucket,
             (count(*) FILTER (WHERE f.judged))::int AS count, count(*)::int AS spans, (count(*) FILTER (WHERE f.judged AND f.failed))::int AS failures,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY s.latency_ms) AS latency_p95, avg(s.cost_usd) AS cost_mean
           FROM spans s CROSS JOIN LATERAL ${judgementSql(p.projectId, q.failure)} f
           WHERE ${where}
           GROUP BY 1, 2 ORDER BY 2, 1`);
      }
      const points = rows;
      const events = await labelEventsBetween(db, prompt.id, q.eventsLabel, q);
      return {
        prompt: name,
        bucket: q.bucket,
        versions: versions.map((v) => v.version),
        refs,
        percentiles: histogram ? PERCENTILES.histogram : PERCENTILES.exact,
        series: versions.map((v) => ({
          version: v.version,
          points: points
            .filter((r) => r.version_id === v.id)
            .map((r) => ({
              start: (r.bucket as Date).toISOString(),
              count: num(r.count)!,
              spans: num(r.spans)!,
              failures: num(r.failures)!,
              failureRate: num(r.count) ? num(r.failures)! / num(r.count)! : null,
              latencyP95Ms: num(r.latency_p95),
              costMeanUsd: num(r.cost_mean),
            })),
        })),
        events: events.map((e) => ({
          label: e.label,
          action: e.action,
          fromVersion: e.fromVersion,
          toVersion: e.toVersion,
          actor: e.actor,
          reason: e.reason,
          at: e.createdAt,
        })),
      };
    },
  };
}
