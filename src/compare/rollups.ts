// The span_rollups table: per project, version, UTC hour, label, source, model and latency bucket, the counts and
// sums comparisons need. Ingest maintains it in the statement that inserts the spans (see ingest.service.ts), so
// both commit together and a resent span, skipped by the insert, is never counted twice.
import type { Database } from "../db/client.js";

/**
 * The spans that count: LLM spans (or, when a span has no kind, one with a model or token counts). Context
 * propagation also puts the prompt attributes on parent CHAIN/AGENT/TOOL spans; those never count.
 */
export const COUNTED = `(s.span_kind = 'LLM' OR (s.span_kind IS NULL AND (s.model IS NOT NULL OR s.tokens_total IS NOT NULL OR s.tokens_prompt IS NOT NULL)))`;

/** date_bin rather than date_trunc: the hour must not depend on the session's time zone. */
export const HOUR_OF = (column: string) => `date_bin('1 hour', ${column}, TIMESTAMPTZ '2000-01-01T00:00:00Z')`;

/**
 * Adds the counted, version-linked spans of `source` (a relation aliased `s` with the spans columns, e.g. an
 * INSERT's RETURNING) to span_rollups. Rows are upserted in key order so that concurrent ingests touching the same
 * rollup rows lock them in the same order and cannot deadlock.
 */
export function rollupUpsertSql(source: string, extraWhere = "TRUE"): string {
  return `INSERT INTO span_rollups (project_id, version_id, hour, label, source, model, latency_bucket, spans, failures,
    latency_sum, tokens_prompt_sum, tokens_prompt_count, tokens_completion_sum, tokens_completion_count,
    tokens_total_sum, tokens_total_count, cost_sum, cost_count)
  SELECT s.project_id, s.version_id, ${HOUR_OF("s.start_time")}, coalesce(s.label, ''), coalesce(s.source, 'unspecified'),
    coalesce(s.model, ''), promptreg_latency_bucket(s.latency_ms), count(*), count(*) FILTER (WHERE s.failed),
    sum(s.latency_ms), coalesce(sum(s.tokens_prompt), 0), count(s.tokens_prompt), coalesce(sum(s.tokens_completion), 0),
    count(s.tokens_completion), coalesce(sum(s.tokens_total), 0), count(s.tokens_total), coalesce(sum(s.cost_usd), 0), count(s.cost_usd)
  FROM ${source} s
  WHERE s.version_id IS NOT NULL AND ${COUNTED} AND ${extraWhere}
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  ORDER BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (project_id, version_id, hour, label, source, model, latency_bucket) DO UPDATE SET
    spans = span_rollups.spans + EXCLUDED.spans,
    failures = span_rollups.failures + EXCLUDED.failures,
    latency_sum = span_rollups.latency_sum + EXCLUDED.latency_sum,
    tokens_prompt_sum = span_rollups.tokens_prompt_sum + EXCLUDED.tokens_prompt_sum,
    tokens_prompt_count = span_rollups.tokens_prompt_count + EXCLUDED.tokens_prompt_count,
    tokens_completion_sum = span_rollups.tokens_completion_sum + EXCLUDED.tokens_completion_sum,
    tokens_completion_count = span_rollups.tokens_completion_count + EXCLUDED.tokens_completion_count,
    tokens_total_sum = span_rollups.tokens_total_sum + EXCLUDED.tokens_total_sum,
    tokens_total_count = span_rollups.tokens_total_count + EXCLUDED.tokens_total_count,
    cost_sum = span_rollups.cost_sum + EXCLUDED.cost_sum,
    cost_count = span_rollups.cost_count + EXCLUDED.cost_count`;
}

/**
 * Rolls up spans that were written to the spans table directly, bypassing ingest (bulk loads, benchmarks). It adds
 * to the existing rollups: run it once per such load, on spans the rollups do not hold yet.
 */
export async function rollUpStoredSpans(database: Database, projectId: string): Promise<void> {
  await database.query(rollupUpsertSql("spans", "s.project_id = $1::uuid"), [projectId]);
}
