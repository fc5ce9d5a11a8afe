// Stores OTLP spans: the only module that writes the spans table. One INSERT per chunk of spans: the rows travel as
// one JSON parameter expanded by json_to_recordset, and the prompt link is resolved in the same statement by joining
// the key's prompts and versions, so a request costs one round trip per chunk whatever its size or prompt mix.
// The same statement adds the new spans to span_rollups (see compare/rollups.ts).
import { rollupUpsertSql } from "../compare/rollups.js";
import type { Database } from "../db/client.js";
import { toSpanRow } from "./mapping.js";
import type { OtlpSpan } from "./otlp.js";

// Big enough to amortise the round trip, small enough to keep one statement's JSON parameter a few MB.
const CHUNK_SIZE = 1000;

// The recordset's columns, in the order of mapping.ts's SpanRow.
const ROW_COLUMNS = `
  trace_id text, span_id text, parent_span_id text, name text, otel_kind smallint, span_kind text,
  start_time timestamptz, start_time_unix_nano bigint, end_time_unix_nano bigint, latency_ms double precision,
  status_code smallint, failed boolean, error_message text, prompt_name text, prompt_version text,
  label text, source text, model text, provider text, session_id text, user_id text,
  tokens_prompt integer, tokens_completion integer, tokens_total integer, cost_usd double precision,
  attributes jsonb, resource_attributes jsonb, events jsonb`;

// A span naming a prompt is linked when the prompt exists in the key's project and has exactly that version string;
// otherwise it is kept and flagged. A resent span (same trace and span id) is skipped, so exporter retries are safe.
// The rollup upsert reads the insert's RETURNING: only rows actually inserted, so a resent span never counts twice,
// and spans and rollups commit together.
const INSERT_SPANS = `
WITH ins AS (
INSERT INTO spans (
  project_id, trace_id, span_id, parent_span_id, name, otel_kind, span_kind,
  start_time, start_time_unix_nano, end_time_unix_nano, latency_ms, status_code, failed, error_message,
  prompt_name, prompt_version, prompt_id, version_id, link_status, label, source, model, provider,
  session_id, user_id, tokens_prompt, tokens_completion, tokens_total, cost_usd,
  attributes, resource_attributes, events)
SELECT
  $1::uuid, r.trace_id, r.span_id, r.parent_span_id, r.name, r.otel_kind, r.span_kind,
  r.start_time, r.start_time_unix_nano, r.end_time_unix_nano, r.latency_ms, r.status_code, r.failed, r.error_message,
  r.prompt_name, r.prompt_version, p.id, v.id,
  CASE
    WHEN r.prompt_name IS NULL AND r.prompt_version IS NULL THEN 'none'
    WHEN v.id IS NOT NULL THEN 'linked'
    WHEN p.id IS NOT NULL THEN 'unknown_version'
    ELSE 'unknown_prompt'
  END,
  r.label, r.source, r.model, r.provider,
  r.session_id, r.user_id, r.tokens_prompt, r.tokens_completion, r.tokens_total, r.cost_usd,
  r.attributes, r.resource_attributes, r.events
FROM json_to_recordset($2::json) AS r(${ROW_COLUMNS})
LEFT JOIN prompts p ON p.project_id = $1::uuid AND p.name = r.prompt_name
LEFT JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = r.prompt_version
ON CONFLICT (project_id, trace_id, span_id) DO NOTHING
RETURNING project_id, version_id, start_time, label, source, model, latency_ms, failed, span_kind,
  tokens_prompt, tokens_completion, tokens_total, cost_usd
), rolled AS (
${rollupUpsertSql("ins")}
)
SELECT count(*)::int AS inserted FROM ins`;

export type IngestService = ReturnType<typeof createIngestService>;

export function createIngestService({ database }: { database: Database }) {
  return {
    /**
     * Stores `spans` in `projectId`; returns how many rows are new. Chunks commit one by one: a failure part-way
     * leaves earlier chunks stored, which the exporter's retry then skips as duplicates.
     */
    async ingest(projectId: string, spans: OtlpSpan[]): Promise<{ inserted: number }> {
      let inserted = 0;
      for (let i = 0; i < spans.length; i += CHUNK_SIZE) {
        const rows = spans.slice(i, i + CHUNK_SIZE).map(toSpanRow);
        const result = await database.query<{ inserted: number }>(INSERT_SPANS, [projectId, JSON.stringify(rows)]);
        inserted += result.rows[0]!.inserted;
      }
      return { inserted };
    },
  };
}
