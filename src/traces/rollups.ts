// The span_rollups table: per project, version, UTC hour, label, source, model and latency bucket, the counts and
// sums comparisons need. It lives with the spans it summarises: ingest maintains it in the statement that inserts the
// spans (see ingest.service.ts), so both commit together and a resent span, skipped by the insert, is never counted
// twice. A span whose link or evaluation flag changes after its insert (see trace-links.ts) is added or taken out by
// the statement that changes it. Compare only reads it.
import type { Database } from "../db/client.js";

/**
 * The spans that count: LLM calls (span_kind LLM, which mapping.ts gives a kind-less span only on positive evidence
 * of a chat or completion), except those made under an EVALUATOR or GUARDRAIL span. Context propagation also puts
 * the prompt attributes on parent CHAIN/AGENT/TOOL spans, on Arthur's PROMPT spans and on LLM judges; none count.
 */
export const COUNTED_SPANS_SQL = `(s.span_kind = 'LLM' AND NOT s.in_evaluation)`;

/** date_bin rather than date_trunc: the hour must not depend on the session's time zone. */
function hourBucket(column: string): string {
  return `date_bin('1 hour', ${column}, TIMESTAMPTZ '2000-01-01T00:00:00Z')`;
}

// Each rollup column and its aggregate over the spans `s` of one group.
const MEASURES: [string, string][] = [
  ["spans", "count(*)"],
  ["failures", "count(*) FILTER (WHERE s.failed)"],
  ["latency_sum", "sum(s.latency_ms)"],
  ["tokens_prompt_sum", "coalesce(sum(s.tokens_prompt), 0)"],
  ["tokens_prompt_count", "count(s.tokens_prompt)"],
  ["tokens_completion_sum", "coalesce(sum(s.tokens_completion), 0)"],
  ["tokens_completion_count", "count(s.tokens_completion)"],
  ["tokens_total_sum", "coalesce(sum(s.tokens_total), 0)"],
  ["tokens_total_count", "count(s.tokens_total)"],
  ["cost_sum", "coalesce(sum(s.cost_usd), 0)"],
  ["cost_count", "count(s.cost_usd)"],
  ["cache_read_sum", "coalesce(sum(s.tokens_cache_read), 0)"],
  ["cache_read_count", "count(s.tokens_cache_read)"],
  ["cache_write_sum", "coalesce(sum(s.tokens_cache_write), 0)"],
  ["cache_write_count", "count(s.tokens_cache_write)"],
  ["reasoning_sum", "coalesce(sum(s.tokens_reasoning), 0)"],
  ["reasoning_count", "count(s.tokens_reasoning)"],
  ["cost_sent_sum", "coalesce(sum(s.cost_usd) FILTER (WHERE s.cost_source = 'sent'), 0)"],
  ["cost_sent_count", "count(s.cost_usd) FILTER (WHERE s.cost_source = 'sent')"],
  ["cost_computed_sum", "coalesce(sum(s.cost_usd) FILTER (WHERE s.cost_source = 'computed'), 0)"],
  ["cost_computed_count", "count(s.cost_usd) FILTER (WHERE s.cost_source = 'computed')"],
];

export interface RollupOptions {
  /** More conditions on `s`. */
  where?: string;
  /** Which spans the rollups hold; COUNTED_SPANS_SQL unless the rows' flags changed since they were counted. */
  counted?: string;
  /** -1 takes the spans out again (a span that turned out to be an LLM judge). */
  sign?: 1 | -1;
}

/**
 * Adds (or with sign -1 takes out) the counted, version-linked spans of `source` (a relation aliased `s` with the
 * spans columns, e.g. an INSERT's RETURNING) to span_rollups. Rows are upserted in key order so that concurrent
 * ingests touching the same rollup rows lock them in the same order and cannot deadlock.
 */
export function rollupUpsertSql(
  source: string,
  { where = "TRUE", counted = COUNTED_SPANS_SQL, sign = 1 }: RollupOptions = {},
): string {
  const columns = MEASURES.map(([column]) => column);
  const aggregates = MEASURES.map(([, aggregate]) => (sign === 1 ? aggregate : `-(${aggregate})`));
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
export function rollupInputColumns(alias?: string): string {
  const columns = [
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
    "tokens_prompt",
    "tokens_completion",
    "tokens_total",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_reasoning",
    "cost_usd",
    "cost_source",
  ];
  return columns.map((c) => (alias ? `${alias}.${c}` : c)).join(", ");
}

/**
 * Rolls up spans that were written to the spans table directly, bypassing ingest (bulk loads, benchmarks). It adds
 * to the existing rollups: run it once per such load, on spans the rollups do not hold yet.
 */
export async function rollUpStoredSpans(database: Database, projectId: string): Promise<void> {
  await database.query(rollupUpsertSql("spans", { where: "s.project_id = $1::uuid" }), [projectId]);
}
