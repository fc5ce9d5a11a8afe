// Stores OTLP spans: the only module that writes the spans table. One INSERT per chunk of spans: the rows travel as
// one JSON parameter expanded by json_to_recordset, and the prompt link and a missing cost are resolved in the same
// statement (the key's prompts, versions, label ledger and price table), so a request costs one round trip per chunk
// whatever its size or prompt mix, plus one for the links that need the rest of the trace when the chunk holds
// spans that may change them (trace-links.ts).
// The same statement adds the new spans to span_rollups (see rollups.ts).
import { rollupInputColumns, rollupUpsertSql } from "./rollups.js";
import type { Database } from "../db/client.js";
import { dbErrorKind, sqlstateOf } from "../db/errors.js";
import { toSpanRow, type SpanRow } from "./mapping.js";
import type { OtlpSpan } from "./otlp.js";
import { linkTraces, tracesThatMayNeedLinks } from "./trace-links.js";

// Big enough to amortise the round trip, small enough to keep one statement's JSON parameter a few MB.
const CHUNK_SIZE = 1000;

// The recordset's columns, in the order of mapping.ts's SpanRow.
const ROW_COLUMNS = `
  trace_id text, span_id text, parent_span_id text, name text, otel_kind smallint, span_kind text,
  start_time timestamptz, start_time_unix_nano bigint, end_time_unix_nano bigint, latency_ms double precision,
  status_code smallint, failed boolean, error_message text, prompt_name text, prompt_version text,
  label text, source text, model text, response_model text, provider text, session_id text, user_id text,
  tokens_prompt integer, tokens_completion integer, tokens_total integer, tokens_cache_read integer,
  tokens_cache_write integer, tokens_reasoning integer, cost_usd double precision, cost_source text,
  attributes jsonb, resource_attributes jsonb, events jsonb`;

// A span naming a prompt is linked when the prompt exists in the key's project and has that exact version string,
// or when the "version" is a label (Arthur's SDK sends `latest` or a tag): then the version the label held at the
// span's start, from the label ledger, and the label is kept in `label`. Otherwise it is kept and flagged. A span
// without a cost is priced from model_prices: the response model's price, else the request model's, effective at
// the span's start; it needs both token counts, and cache tokens are parts of the prompt tokens, so more cache than
// prompt tokens is no price. A resent span (same trace and span id) is skipped, so exporter retries are safe.
// The rollup upsert reads the insert's RETURNING: only rows actually inserted, so a resent span never counts twice,
// and spans and rollups commit together.
const INSERT_SPANS = `
WITH ins AS (
INSERT INTO spans (
  project_id, trace_id, span_id, parent_span_id, name, otel_kind, span_kind,
  start_time, start_time_unix_nano, end_time_unix_nano, latency_ms, status_code, failed, error_message,
  prompt_name, prompt_version, prompt_id, version_id, link_status, label, source, model, response_model, provider,
  session_id, user_id, tokens_prompt, tokens_completion, tokens_total, tokens_cache_read, tokens_cache_write,
  tokens_reasoning, cost_usd, cost_source, attributes, resource_attributes, events)
SELECT
  $1::uuid, r.trace_id, r.span_id, r.parent_span_id, r.name, r.otel_kind, r.span_kind,
  r.start_time, r.start_time_unix_nano, r.end_time_unix_nano, r.latency_ms, r.status_code, r.failed, r.error_message,
  r.prompt_name, coalesce(lv.version, r.prompt_version), p.id, coalesce(v.id, lv.id),
  CASE
    WHEN r.prompt_name IS NULL THEN 'none'
    WHEN v.id IS NOT NULL OR lv.id IS NOT NULL THEN 'linked'
    WHEN p.id IS NOT NULL THEN 'unknown_version'
    ELSE 'unknown_prompt'
  END,
  CASE WHEN lv.id IS NOT NULL THEN coalesce(r.label, r.prompt_version) ELSE r.label END,
  r.source, r.model, r.response_model, r.provider,
  r.session_id, r.user_id, r.tokens_prompt, r.tokens_completion, r.tokens_total, r.tokens_cache_read, r.tokens_cache_write,
  r.tokens_reasoning, coalesce(r.cost_usd, price.cost), CASE WHEN r.cost_usd IS NOT NULL THEN r.cost_source WHEN price.cost IS NOT NULL THEN 'computed' END,
  r.attributes, r.resource_attributes, r.events
FROM json_to_recordset($2::json) AS r(${ROW_COLUMNS})
LEFT JOIN prompts p ON p.project_id = $1::uuid AND p.name = r.prompt_name
LEFT JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = r.prompt_version
-- The two lookups below are subqueries under a CASE: a span that needs neither (the common case: an exact version,
-- a cost sent or a project without prices) never starts their sorts, a sort per span and lookup otherwise (about
-- 5% of an ingest request on the embedded database).
-- OFFSET 0 keeps each lateral a subquery of its own, computed once per span rather than copied into each use.
LEFT JOIN LATERAL (
  SELECT CASE WHEN v.id IS NULL AND p.id IS NOT NULL THEN (
    SELECT le.to_version FROM label_events le
    WHERE le.prompt_id = p.id AND le.label = r.prompt_version AND le.created_at <= r.start_time
    ORDER BY le.created_at DESC, le.id DESC LIMIT 1
  ) END AS to_version
  OFFSET 0
) le ON TRUE
LEFT JOIN prompt_versions lv ON lv.prompt_id = p.id AND lv.version = le.to_version
LEFT JOIN LATERAL (
  -- The EXISTS is uncorrelated, so it runs once per statement: a project without prices never looks per span.
  SELECT CASE WHEN r.cost_usd IS NULL AND r.tokens_prompt IS NOT NULL AND r.tokens_completion IS NOT NULL
    AND EXISTS (SELECT 1 FROM model_prices p0 WHERE p0.project_id = $1::uuid)
    AND coalesce(r.tokens_cache_read, 0) + coalesce(r.tokens_cache_write, 0) <= r.tokens_prompt
  THEN (
    SELECT (((r.tokens_prompt - coalesce(r.tokens_cache_read, 0) - coalesce(r.tokens_cache_write, 0))::numeric * mp.input_per_mtok
        + coalesce(r.tokens_cache_read, 0)::numeric * coalesce(mp.cache_read_per_mtok, mp.input_per_mtok)
        + coalesce(r.tokens_cache_write, 0)::numeric * coalesce(mp.cache_write_per_mtok, mp.input_per_mtok)
        + r.tokens_completion::numeric * mp.output_per_mtok) / 1000000)::float8
    FROM model_prices mp
    WHERE mp.project_id = $1::uuid AND mp.model IN (r.response_model, r.model) AND mp.effective_from <= r.start_time
    ORDER BY (mp.model IS NOT DISTINCT FROM r.response_model) DESC, mp.effective_from DESC
    LIMIT 1
  ) END AS cost
  OFFSET 0
) price ON TRUE
ON CONFLICT (project_id, trace_id, span_id) DO NOTHING
RETURNING ${rollupInputColumns()}
), rolled AS (
${rollupUpsertSql("ins")}
)
SELECT count(*)::int AS inserted FROM ins`;

export type IngestService = ReturnType<typeof createIngestService>;

export interface IngestResult {
  inserted: number;
  /** Spans the database refused for their values (see storeRows). */
  rejected: number;
  reasons: string[];
}

const MAX_REASONS = 5;

export function createIngestService({ database }: { database: Database }) {
  /**
   * Inserts `rows` in one statement. The checks of span-checks.ts are meant to leave nothing the database refuses;
   * should a value still be refused (a data error, see db/errors.ts), the statement stored nothing, so the rows are
   * split in halves and retried until the refused spans stand alone: they are rejected, the rest stored. Other
   * errors are thrown as they are.
   */
  async function storeRows(projectId: string, rows: SpanRow[], result: IngestResult): Promise<void> {
    try {
      const { rows: out } = await database.query<{ inserted: number }>(INSERT_SPANS, [
        projectId,
        Buffer.from(JSON.stringify(rows)),
      ]);
      result.inserted += out[0]!.inserted;
    } catch (err) {
      if (dbErrorKind(err) !== "data") throw err;
      if (rows.length === 1) {
        const row = rows[0]!;
        result.rejected++;
        if (result.reasons.length < MAX_REASONS)
          result.reasons.push(
            `span ${row.span_id} of trace ${row.trace_id}: refused by the database (SQLSTATE ${sqlstateOf(err)}: ${(err as Error).message})`,
          );
        return;
      }
      const half = Math.ceil(rows.length / 2);
      await storeRows(projectId, rows.slice(0, half), result);
      await storeRows(projectId, rows.slice(half), result);
    }
  }

  return {
    /**
     * Stores `spans` in `projectId`; returns how many rows are new and which spans were refused. Chunks commit one by one: a failure part-way
     * leaves earlier chunks stored, which the exporter's retry then skips as duplicates. After each chunk, the links
     * that depend on other spans of its traces are brought up to date (also when those came in another request).
     */
    async ingest(projectId: string, spans: OtlpSpan[]): Promise<IngestResult> {
      const result: IngestResult = { inserted: 0, rejected: 0, reasons: [] };
      for (let i = 0; i < spans.length; i += CHUNK_SIZE) {
        const rows = spans.slice(i, i + CHUNK_SIZE).map(toSpanRow);
        await storeRows(projectId, rows, result);
        await linkTraces(database, projectId, tracesThatMayNeedLinks(rows));
      }
      return result;
    },
  };
}
