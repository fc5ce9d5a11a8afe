// The span_rollups table: per project, version, UTC hour, label, source, model and latency bucket, the counts and
// sums comparisons need. It lives with the spans it summarises: ingest maintains it in the statement that inserts the
// spans (see ingest.service.ts), so both commit together and a resent span, skipped by the insert, is never counted
// twice. A span whose link or evaluation flag changes after its insert (see trace-links.ts) is added or taken out by
// the statement that changes it. Compare only reads it.
import type { Database } from "../db/client.js";

/**
 * The spans that count: LLM calls (span_kind LLM, which mapping.ts gives a kind-less span only on positive evidence
 * of a chat or completion), except those made under an EVALUATOR or GUARDRAIL span, and those nested in another LLM
 * span of their trace (the same call seen by a second instrumentation layer, see trace-links.ts). Context propagation
 * also puts the prompt attributes on parent CHAIN/AGENT/TOOL spans, on Arthur's PROMPT spans and on LLM judges; none
 * count.
 */
export const COUNTED_SPANS_SQL = `(s.span_kind = 'LLM' AND NOT s.in_evaluation AND NOT s.nested_call)`;

/** date_bin rather than date_trunc: the hour must not depend on the session's time zone. */
function hourBucket(column: string): string {
  return `date_bin('1 hour', ${column}, TIMESTAMPTZ '2000-01-01T00:00:00Z')`;
}

/** A rollup column: the spans counted (those where `value` is not null, if given) or `value` summed, over `filter`. */
interface Measure {
  column: string;
  kind: "count" | "sum";
  value?: string;
  filter?: string;
}

const MEASURES: Measure[] = [
  { column: "spans", kind: "count" },
  { column: "failures", kind: "count", filter: "s.failed" },
  { column: "latency_sum", kind: "sum", value: "s.latency_ms" },
  { column: "tokens_prompt_sum", kind: "sum", value: "s.tokens_prompt" },
  { column: "tokens_prompt_count", kind: "count", value: "s.tokens_prompt" },
  { column: "tokens_completion_sum", kind: "sum", value: "s.tokens_completion" },
  { column: "tokens_completion_count", kind: "count", value: "s.tokens_completion" },
  { column: "tokens_total_sum", kind: "sum", value: "s.tokens_total" },
  { column: "tokens_total_count", kind: "count", value: "s.tokens_total" },
  { column: "cost_sum", kind: "sum", value: "s.cost_usd" },
  { column: "cost_count", kind: "count", value: "s.cost_usd" },
  { column: "cache_read_sum", kind: "sum", value: "s.tokens_cache_read" },
  { column: "cache_read_count", kind: "count", value: "s.tokens_cache_read" },
  { column: "cache_write_sum", kind: "sum", value: "s.tokens_cache_write" },
  { column: "cache_write_count", kind: "count", value: "s.tokens_cache_write" },
  { column: "reasoning_sum", kind: "sum", value: "s.tokens_reasoning" },
  { column: "reasoning_count", kind: "count", value: "s.tokens_reasoning" },
  { column: "cost_sent_sum", kind: "sum", value: "s.cost_usd", filter: "s.cost_source = 'sent'" },
  { column: "cost_sent_count", kind: "count", value: "s.cost_usd", filter: "s.cost_source = 'sent'" },
  { column: "cost_computed_sum", kind: "sum", value: "s.cost_usd", filter: "s.cost_source = 'computed'" },
  { column: "cost_computed_count", kind: "count", value: "s.cost_usd", filter: "s.cost_source = 'computed'" },
];

/**
 * A measure's aggregate over the spans `s` of one group; with `weight` (a column of `s` holding 1 or -1), each span
 * adds its weight instead of one, so one statement can take rows out and put others in.
 */
function aggregate(m: Measure, weight?: string): string {
  const filter = m.filter ? ` FILTER (WHERE ${m.filter})` : "";
  if (!weight)
    return m.kind === "count" ? `count(${m.value ?? "*"})${filter}` : `coalesce(sum(${m.value})${filter}, 0)`;
  if (m.kind === "sum") return `coalesce(sum(${weight} * ${m.value})${filter}, 0)`;
  const counted = m.value ? `CASE WHEN ${m.value} IS NOT NULL THEN ${weight} ELSE 0 END` : weight;
  return `coalesce(sum(${counted})${filter}, 0)`;
}

export interface RollupOptions {
  /** More conditions on `s`. */
  where?: string;
  /** Which spans the rollups hold; COUNTED_SPANS_SQL unless the rows' flags changed since they were counted. */
  counted?: string;
  /** -1 takes the spans out again (a span that turned out to be an LLM judge). */
  sign?: 1 | -1;
  /** A column of `s` giving each row's sign (1 or -1), for a source that takes some rows out and puts others in. */
  signColumn?: string;
}

/**
 * Adds (or with sign -1 takes out) the counted, version-linked spans of `source` (a relation aliased `s` with the
 * spans columns, e.g. an INSERT's RETURNING) to span_rollups. Rows are upserted in key order so that concurrent
 * ingests touching the same rollup rows lock them in the same order and cannot deadlock.
 */
export function rollupUpsertSql(
  source: string,
  { where = "TRUE", counted = COUNTED_SPANS_SQL, sign = 1, signColumn }: RollupOptions = {},
): string {
  const columns = MEASURES.map((m) => m.column);
  const aggregates = MEASURES.map((m) =>
    signColumn ? aggregate(m, signColumn) : sign === 1 ? aggregate(m) : `-(${aggregate(m)})`,
  );
  return `INSERT INTO span_rollups (project_id, version_id, hour, label, source, model, latency_bucket, ${columns.join(", ")})
  SELECT s.project_id, s.version_id, ${hourBucket("s.start_time")}, coalesce(s.label, ''), coalesce(s.source, 'unspecified'),
    coalesce(s.model, ''), promptreg_latency_bucket(s.latency_ms), ${aggregates.join(", ")}
  FROM ${source} s
  WHERE s.version_id IS NOT NULL AND ${counted} AND ${where}
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  ORDER BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (project_id, version_id, hour, label, source, model, latency_bucket) DO UPDATE SET
    ${columns.map((c) => `${c} = span_rollups.${c} + EXCLUDED.${c}`).join(",\n    ")}`;
}

/** The spans columns rollupUpsertSql reads, for an INSERT's or UPDATE's RETURNING (qualified by `alias` if given). */
export const ROLLUP_INPUT_COLUMNS = [
  "project_id",
  "version_id",
  "start_time",
  "label",
  "source",
  "model",
  "latency_ms",
  "failed",
  "span_kind",
  "in_evaluation",
  "nested_call",
  "tokens_prompt",
  "tokens_completion",
  "tokens_total",
  "tokens_cache_read",
  "tokens_cache_write",
  "tokens_reasoning",
  "cost_usd",
  "cost_source",
] as const;

export function rollupInputColumns(alias?: string): string {
  return ROLLUP_INPUT_COLUMNS.map((c) => (alias ? `${alias}.${c}` : c)).join(", ");
}

/**
 * Rolls up spans that were written to the spans table directly, bypassing ingest (bulk loads, benchmarks). It adds
 * to the existing rollups: run it once per such load, on spans the rollups do not hold yet.
 */
export async function rollUpStoredSpans(database: Database, projectId: string): Promise<void> {
  await database.query(rollupUpsertSql("spans", { where: "s.project_id = $1::uuid" }), [projectId]);
}
