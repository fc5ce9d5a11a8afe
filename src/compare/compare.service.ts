// Compares trace outcomes of prompt versions. Everything is aggregated in the database (one statement for the
// per-version metrics and the per-source breakdown, one for annotation summaries); no raw spans reach Node.
// Reads spans and annotations; writes nothing.
import semver from "semver";
import { PRODUCTION_LABEL } from "@promptreg/client/contract";
import type { Principal } from "../auth/principal.js";
import type { Db } from "../db/client.js";
import { AppError, notFound } from "../http/errors.js";
import { findPrompt } from "../prompts/lookup.js";
import { differenceInterval, failureVerdict, wilsonInterval, type Verdict } from "./stats.js";

export type FailureDefinition =
  | { kind: "status" }
  | { kind: "annotation"; name: string; threshold: number | null }
  | { kind: "any"; name: string | null; threshold: number | null };

export interface CompareFilters {
  from?: Date;
  to?: Date;
  label?: string;
  model?: string;
  session?: string;
  user?: string;
  source?: string;
}

export interface CompareQuery extends CompareFilters {
  versions?: string[];
  failure: FailureDefinition;
  unit: "span" | "trace";
  minSample: number;
}

export interface TimeseriesQuery extends CompareFilters {
  versions?: string[];
  failure: FailureDefinition;
  bucket: "5m" | "1h" | "1d";
  /** The label whose moves are returned as events (default production). */
  eventsLabel: string;
}

const BUCKETS = { "5m": "5 minutes", "1h": "1 hour", "1d": "1 day" } as const;
const MAX_BUCKETS = 5_000;

/**
 * The spans that count: LLM spans (or, when a span has no kind, one with a model or token counts). Context
 * propagation also puts the prompt attributes on parent CHAIN/AGENT/TOOL spans; those never count.
 */
const COUNTED = `(s.span_kind = 'LLM' OR (s.span_kind IS NULL AND (s.model IS NOT NULL OR s.tokens_total IS NOT NULL OR s.tokens_prompt IS NOT NULL)))`;

/** Builds positional parameters for hand-written SQL. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast = ""): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

function filterSql(p: Params, projectId: string, versionIds: string[], f: CompareFilters): string {
  const where = [`s.project_id = ${p.add(projectId, "::uuid")}`, `s.version_id = ANY(${p.add(versionIds, "::uuid[]")})`, COUNTED];
  if (f.from) where.push(`s.start_time >= ${p.add(f.from.toISOString(), "::timestamptz")}`);
  if (f.to) where.push(`s.start_time < ${p.add(f.to.toISOString(), "::timestamptz")}`);
  if (f.label) where.push(`s.label = ${p.add(f.label)}`);
  if (f.model) where.push(`s.model = ${p.add(f.model)}`);
  if (f.session) where.push(`s.session_id = ${p.add(f.session)}`);
  if (f.user) where.push(`s.user_id = ${p.add(f.user)}`);
  if (f.source) where.push(`coalesce(s.source, 'unspecified') = ${p.add(f.source)}`);
  return where.join(" AND ");
}

/** SQL for "this span failed" under the definition. An annotation without a span id applies to its trace's spans. */
function failedSql(p: Params, projectId: string, def: FailureDefinition): string {
  if (def.kind === "status") return "s.failed";
  const name = def.name === null ? "" : `AND an.name = ${p.add(def.name)}`;
  const threshold = def.threshold === null ? "" : `OR an.score < ${p.add(def.threshold, "::float8")}`;
  const annotated = `EXISTS (SELECT 1 FROM annotations an WHERE an.project_id = ${p.add(projectId, "::uuid")}
    AND an.trace_id = s.trace_id AND an.span_id IN (s.span_id, '') ${name} AND (an.passed = false ${threshold}))`;
  return def.kind === "annotation" ? annotated : `(s.failed OR ${annotated})`;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export type CompareService = ReturnType<typeof createCompareService>;

export function createCompareService({ db }: { db: Db }) {
  /** The versions to compare: as listed (the first is the baseline), or what production holds now vs before its last move. */
  async function pickVersions(p: Principal, name: string, listed?: string[], atLeast = 2) {
    const prompt = await findPrompt(db, p.projectId, name);
    let wanted = listed;
    if (!wanted) {
      const events = await db.$queryRaw<{ from_version: string | null; to_version: string | null }[]>`
        SELECT from_version, to_version FROM label_events
        WHERE prompt_id = ${prompt.id}::uuid AND label = ${PRODUCTION_LABEL} AND from_version IS DISTINCT FROM to_version
        ORDER BY id DESC LIMIT 1`;
      const last = events[0];
      if (!last?.from_version || !last.to_version)
        throw new AppError("validation_error", `'${PRODUCTION_LABEL}' of prompt '${name}' has not moved between two versions yet: pass versions=A,B`, {
          issues: [{ path: "query.versions", message: "needed: the label ledger has no earlier version to compare with" }],
        });
      wanted = [last.from_version, last.to_version];
    }
    const unique = [...new Set(wanted)];
    if (unique.length < atLeast)
      throw new AppError("validation_error", `this needs at least ${atLeast} different version${atLeast > 1 ? "s" : ""}`, {
        issues: [{ path: "query.versions", message: "list at least two versions, the baseline first" }],
      });
    for (const v of unique)
      if (!semver.valid(v))
        throw new AppError("validation_error", `'${v}' is not a version`, { issues: [{ path: "query.versions", message: "must be MAJOR.MINOR.PATCH versions" }] });
    const rows = await db.promptVersion.findMany({ where: { promptId: prompt.id, version: { in: unique } }, select: { id: true, version: true } });
    const byVersion = new Map(rows.map((r) => [r.version, r.id]));
    const missing = unique.filter((v) => !byVersion.has(v));
    if (missing.length) throw notFound(`version ${missing.join(", ")} of prompt '${name}'`);
    return { prompt, versions: unique.map((v) => ({ version: v, id: byVersion.get(v)! })) };
  }

  return {
    async compare(p: Principal, name: string, q: CompareQuery) {
      const { versions } = await pickVersions(p, name, q.versions);
      const ids = versions.map((v) => v.id);
      const params = new Params();
      const where = filterSql(params, p.projectId, ids, q);
      const failed = failedSql(params, p.projectId, q.failure);
      const units = q.unit === "span" ? "count(*)" : "count(DISTINCT s.trace_id)";
      const failures = q.unit === "span" ? "count(*) FILTER (WHERE f.failed)" : "count(DISTINCT s.trace_id) FILTER (WHERE f.failed)";
      // One statement: per version, and per version and source (GROUPING SETS), with exact percentiles.
      const metrics = await db.$queryRawUnsafe<Record<string, unknown>[]>(
        `SELECT s.version_id::text AS version_id, coalesce(s.source, 'unspecified') AS source, GROUPING(coalesce(s.source, 'unspecified'))::int AS all_sources,
           ${units}::int AS units, ${failures}::int AS failures, count(*)::int AS spans,
           percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.latency_ms) AS latency_pct,
           avg(s.latency_ms) AS latency_mean,
           avg(s.tokens_prompt)::float8 AS prompt_mean, sum(s.tokens_prompt)::float8 AS prompt_sum,
           avg(s.tokens_completion)::float8 AS completion_mean, sum(s.tokens_completion)::float8 AS completion_sum,
           avg(s.tokens_total)::float8 AS total_mean, sum(s.tokens_total)::float8 AS total_sum,
           avg(s.cost_usd) AS cost_mean, sum(s.cost_usd) AS cost_sum
         FROM spans s CROSS JOIN LATERAL (SELECT ${failed} AS failed) f
         WHERE ${where}
         GROUP BY GROUPING SETS ((s.version_id), (s.version_id, coalesce(s.source, 'unspecified')))`,
        ...params.values,
      );
      const annParams = new Params();
      const annWhere = filterSql(annParams, p.projectId, ids, q);
      // Annotations attached to the counted spans (a trace-level one counts once per span of its trace).
      const annotations = await db.$queryRawUnsafe<Record<string, unknown>[]>(
        `SELECT s.version_id::text AS version_id, an.name, count(*)::int AS count,
           avg(CASE WHEN an.passed THEN 1.0 WHEN an.passed = false THEN 0.0 END)::float8 AS pass_rate, avg(an.score) AS mean_score
         FROM spans s JOIN annotations an ON an.project_id = s.project_id AND an.trace_id = s.trace_id AND an.span_id IN (s.span_id, '')
         WHERE ${annWhere}
         GROUP BY s.version_id, an.name ORDER BY an.name`,
        ...annParams.values,
      );

      const perVersion = versions.map(({ version, id }) => {
        const all = metrics.find((r) => r.version_id === id && r.all_sources === 1);
        const n = num(all?.units) ?? 0;
        const k = num(all?.failures) ?? 0;
        const pct = (all?.latency_pct as number[] | null) ?? null;
        return {
          version,
          units: n,
          spans: num(all?.spans) ?? 0,
          failures: k,
          failureRate: n ? k / n : null,
          failureRateCI: n ? wilsonInterval(k, n) : null,
          latencyMs: { p50: pct?.[0] ?? null, p95: pct?.[1] ?? null, p99: pct?.[2] ?? null, mean: num(all?.latency_mean) },
          tokens: {
            prompt: { mean: num(all?.prompt_mean), sum: num(all?.prompt_sum) ?? 0 },
            completion: { mean: num(all?.completion_mean), sum: num(all?.completion_sum) ?? 0 },
            total: { mean: num(all?.total_mean), sum: num(all?.total_sum) ?? 0 },
          },
          costUsd: { mean: num(all?.cost_mean), sum: num(all?.cost_sum) ?? 0 },
          annotations: annotations
            .filter((a) => a.version_id === id)
            .map((a) => ({ name: a.name as string, count: num(a.count)!, passRate: num(a.pass_rate), meanScore: num(a.mean_score) })),
          bySource: metrics
            .filter((r) => r.version_id === id && r.all_sources === 0)
            .map((r) => ({ source: r.source as string, units: num(r.units)!, failures: num(r.failures)!, failureRate: num(r.units) ? num(r.failures)! / num(r.units)! : null }))
            .sort((a, b) => a.source.localeCompare(b.source)),
        };
      });

      const [baseline, ...candidates] = perVersion;
      const comparisons = candidates.map((c) => {
        const verdict = failureVerdict({
          baseline: { label: baseline!.version, failures: baseline!.failures, total: baseline!.units },
          candidate: { label: c.version, failures: c.failures, total: c.units },
          unit: q.unit,
          minSample: q.minSample,
        });
        const diff = baseline!.units && c.units ? differenceInterval(baseline!.failures, baseline!.units, c.failures, c.units) : null;
        const sub = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
        return {
          version: c.version,
          baseline: baseline!.version,
          verdict: verdict.verdict as Verdict,
          explanation: verdict.sentence,
          minSample: verdict.minSample,
          failureRateDiff: diff && { diff: diff.diff, low: diff.low, high: diff.high },
          pValue: verdict.pValue,
          test: verdict.test,
          latencyP95DiffMs: sub(c.latencyMs.p95, baseline!.latencyMs.p95),
          meanCostDiffUsd: sub(c.costUsd.mean, baseline!.costUsd.mean),
        };
      });

      return {
        prompt: name,
        unit: q.unit,
        failure: q.failure,
        filters: {
          from: q.from?.toISOString() ?? null,
          to: q.to?.toISOString() ?? null,
          label: q.label ?? null,
          model: q.model ?? null,
          session: q.session ?? null,
          user: q.user ?? null,
          source: q.source ?? null,
        },
        baseline: baseline!.version,
        versions: perVersion,
        comparisons,
      };
    },

    async timeseries(p: Principal, name: string, q: TimeseriesQuery) {
      const { prompt, versions } = await pickVersions(p, name, q.versions, 1);
      const ids = versions.map((v) => v.id);
      const params = new Params();
      const where = filterSql(params, p.projectId, ids, q);
      const failed = failedSql(params, p.projectId, q.failure);
      const interval = params.add(BUCKETS[q.bucket], "::interval");
      // Refuse ranges that would produce an unbounded number of buckets.
      const rangeParams = new Params();
      const span = await db.$queryRawUnsafe<{ lo: Date | null; hi: Date | null }[]>(
        `SELECT min(s.start_time) AS lo, max(s.start_time) AS hi FROM spans s WHERE ${filterSql(rangeParams, p.projectId, ids, q)}`,
        ...rangeParams.values,
      );
      const lo = q.from ?? span[0]?.lo ?? null;
      const hi = q.to ?? span[0]?.hi ?? null;
      const bucketMs = { "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 }[q.bucket];
      if (lo && hi && (new Date(hi).getTime() - new Date(lo).getTime()) / bucketMs > MAX_BUCKETS)
        throw new AppError("validation_error", `that range holds more than ${MAX_BUCKETS} buckets of ${q.bucket}: narrow it or use a larger bucket`, {
          issues: [{ path: "query.bucket", message: "too many buckets for the range" }],
        });
      const rows = await db.$queryRawUnsafe<Record<string, unknown>[]>(
        `SELECT s.version_id::text AS version_id, date_bin(${interval}, s.start_time, TIMESTAMPTZ '2000-01-01T00:00:00Z') AS bucket,
           count(*)::int AS count, (count(*) FILTER (WHERE f.failed))::int AS failures,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY s.latency_ms) AS latency_p95, avg(s.cost_usd) AS cost_mean
         FROM spans s CROSS JOIN LATERAL (SELECT ${failed} AS failed) f
         WHERE ${where}
         GROUP BY 1, 2 ORDER BY 2, 1`,
        ...params.values,
      );
      const events = await db.labelEvent.findMany({
        where: {
          promptId: prompt.id,
          label: q.eventsLabel,
          ...(q.from || q.to ? { createdAt: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } : {}),
        },
        orderBy: { id: "asc" },
      });
      return {
        prompt: name,
        bucket: q.bucket,
        versions: versions.map((v) => v.version),
        series: versions.map((v) => ({
          version: v.version,
          points: rows
            .filter((r) => r.version_id === v.id)
            .map((r) => ({
              start: (r.bucket as Date).toISOString(),
              count: num(r.count)!,
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
          at: e.createdAt.toISOString(),
        })),
      };
    },
  };
}
