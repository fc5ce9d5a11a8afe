// Stores OTLP spans: the module that inserts into the spans, span_resources and span_scopes tables (trace-links.ts
// then updates the flags and links of stored spans, so it is not their only writer). A request's resources and
// scopes go first, in one statement; then one INSERT per chunk of spans (span-batch.ts): the rows travel as one JSON
// parameter expanded by json_to_recordset, and the prompt link and a missing cost are resolved in the same statement
// (the key's prompts, versions, label ledger and price table), so a request costs one round trip per chunk whatever
// its prompt mix, plus one for the links that need the rest of the trace when the chunk holds spans that may change
// them (trace-links.ts). The same statement adds the new spans to span_rollups (see rollups.ts).
import { setImmediate as nextTurn } from "node:timers/promises";
import { LRUCache } from "lru-cache";
import { ROLLUP_INPUT_COLUMNS, rollupInputColumns, rollupUpsertSql } from "./rollups.js";
import type { Database } from "../db/client.js";
import { dbErrorKind, sqlstateOf } from "../db/errors.js";
import { Prisma } from "../generated/prisma/client.js";
import { SPAN_RECORDSET_SQL, spanInsertSql, type SpanRow } from "./span-table.js";
import type { SpanBatch } from "./span-batch.js";
import { linkTraces } from "./trace-links.js";

// A resource or scope already stored (a resent batch, the next batch of the same process) is left as it is.
function upsertOrigins(projectId: string, origins: Uint8Array): Prisma.Sql {
  return Prisma.sql`
WITH o AS (SELECT ${origins}::json AS doc), resources AS (
  INSERT INTO span_resources (project_id, hash, attributes)
  SELECT ${projectId}::uuid, decode(r.hash, 'hex'), r.attributes
  FROM o, json_to_recordset(o.doc -> 'resources') AS r(hash text, attributes jsonb)
  ON CONFLICT DO NOTHING
  RETURNING 1
), scopes AS (
  INSERT INTO span_scopes (project_id, hash, name, version, attributes)
  SELECT ${projectId}::uuid, decode(s.hash, 'hex'), s.name, s.version, s.attributes
  FROM o, json_to_recordset(o.doc -> 'scopes') AS s(hash text, name text, version text, attributes jsonb)
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM resources)::int AS resources, (SELECT count(*) FROM scopes)::int AS scopes`;
}

// Every column the rows carry is stored as sent (span-table.ts) but these, which the statement computes; the project
// is the statement's parameter.
const INSERTED = spanInsertSql({
  prompt_version: "coalesce(lv.version, r.prompt_version)",
  prompt_id: "p.id",
  version_id: "coalesce(v.id, lv.id)",
  link_status: `CASE
    WHEN r.prompt_name IS NULL THEN 'none'
    WHEN v.id IS NOT NULL OR lv.id IS NOT NULL THEN 'linked'
    WHEN p.id IS NOT NULL THEN 'unknown_version'
    ELSE 'unknown_prompt'
  END`,
  label: "CASE WHEN lv.id IS NOT NULL THEN coalesce(r.label, r.prompt_version) ELSE r.label END",
  cost_usd: "coalesce(r.cost_usd, price.cost)",
  cost_source: "CASE WHEN r.cost_usd IS NOT NULL THEN r.cost_source WHEN price.cost IS NOT NULL THEN 'computed' END",
});

const ROLLUP_INPUT = rollupInputColumns();
const ROLLUP_INSERTED = rollupUpsertSql("ins");

// A span naming a prompt is linked when the prompt exists in the key's project and has that exact version string,
// or when the "version" is a label (Arthur's SDK sends `latest` or a tag): then the version the label held at the
// span's start, from the label ledger, and the label is kept in `label`. Otherwise it is kept and flagged. A span
// without a cost is priced from model_prices: the response model's price, else the request model's, effective at
// the span's start; it needs both token counts, and cache tokens are parts of the prompt tokens, so more cache than
// prompt tokens is no price. A resent span (same trace and span id) is skipped, so exporter retries are safe.
// The rollup upsert reads the insert's RETURNING: only rows actually inserted, so a resent span never counts twice,
// and spans and rollups commit together.
function insertSpans(projectId: string, rows: Uint8Array, followUp: Prisma.Sql | undefined): Prisma.Sql {
  return Prisma.sql`
WITH ins AS (
INSERT INTO spans (project_id, ${INSERTED.columns})
SELECT ${projectId}::uuid, ${INSERTED.values}
FROM json_to_recordset(${rows}::json) AS r(${SPAN_RECORDSET_SQL})
LEFT JOIN prompts p ON p.project_id = ${projectId}::uuid AND p.name = r.prompt_name
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
    AND EXISTS (SELECT 1 FROM model_prices p0 WHERE p0.project_id = ${projectId}::uuid)
    AND coalesce(r.tokens_cache_read, 0) + coalesce(r.tokens_cache_write, 0) <= r.tokens_prompt
  THEN (
    SELECT (((r.tokens_prompt - coalesce(r.tokens_cache_read, 0) - coalesce(r.tokens_cache_write, 0))::numeric * mp.input_per_mtok
        + coalesce(r.tokens_cache_read, 0)::numeric * coalesce(mp.cache_read_per_mtok, mp.input_per_mtok)
        + coalesce(r.tokens_cache_write, 0)::numeric * coalesce(mp.cache_write_per_mtok, mp.input_per_mtok)
        + r.tokens_completion::numeric * mp.output_per_mtok) / 1000000)
    FROM model_prices mp
    WHERE mp.project_id = ${projectId}::uuid AND mp.model IN (r.response_model, r.model) AND mp.effective_from <= r.start_time
    ORDER BY (mp.model IS NOT DISTINCT FROM r.response_model) DESC, mp.effective_from DESC
    LIMIT 1
  ) END AS cost
  OFFSET 0
) price ON TRUE
ON CONFLICT (project_id, trace_id, span_id) DO NOTHING
RETURNING ${ROLLUP_INPUT}${followUp ? Prisma.sql`, ${FOLLOW_UP_INPUT}` : Prisma.empty}
), rolled AS (
${ROLLUP_INSERTED}
)${followUp ? Prisma.sql`, queued AS (${followUp})` : Prisma.empty}
SELECT count(*)::int AS inserted, ${followUp ? Prisma.sql`(SELECT count(*) FROM queued)::int` : Prisma.sql`0`} AS queued FROM ins`;
}

/** What a follow-up (SpanFollowUp) may read of the inserted spans `ins`, beyond the rollup's columns. */
const FOLLOW_UP_COLUMNS = ["id", "span_kind"] as const;
const FOLLOW_UP_INPUT = Prisma.raw(
  FOLLOW_UP_COLUMNS.filter((c) => !(ROLLUP_INPUT_COLUMNS as readonly string[]).includes(c)).join(", "),
);

/**
 * Work queued in the statement that stores the spans, so it commits (or not) with them: a data-modifying CTE over
 * the inserted rows `ins` (columns FOLLOW_UP_COLUMNS), returning a row per job queued. Evaluations use it.
 */
export interface SpanFollowUp {
  sql(projectId: string): Prisma.Sql;
  /** Called after a chunk queued work, so that this instance starts it at once. */
  onQueued(): void;
}

export type IngestService = ReturnType<typeof createIngestService>;

export interface IngestResult {
  inserted: number;
  /** Spans the database refused for their values (see storeRows). */
  rejected: number;
  reasons: string[];
}

/** Runs one statement's work when it is its turn (the ingest gate's slot); by default at once. */
export type Turn = <T>(work: () => Promise<T>) => Promise<T>;

export interface IngestServiceOptions {
  database: Database;
  /** Called after each chunk with the time it held the database, in seconds (the metrics' histogram). */
  onChunk?: (seconds: number) => void;
  followUp?: SpanFollowUp;
}

const MAX_REASONS = 5;
// Resources and scopes this process has stored, by project and hash: a process sends the same resource with every
// batch, and the statement that stores it again and does nothing costs a round trip. Rows of span_resources and
// span_scopes are never deleted but with their project (whose id is never reused), so a key here stays true.
const KNOWN_ORIGINS_MAX = 10_000;

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function createIngestService({ database, onChunk = () => {}, followUp }: IngestServiceOptions) {
  const knownOrigins = new LRUCache<string, true>({ max: KNOWN_ORIGINS_MAX });

  /**
   * Inserts `rows` (a JSON array of SpanRow) in one statement. The checks of span-checks.ts are meant to leave nothing
   * the database refuses; should a value still be refused (a data error, see db/errors.ts), the statement stored
   * nothing, so the rows are split in halves and retried until the refused spans stand alone: they are rejected,
   * the rest stored. Other errors are thrown as they are.
   */
  async function storeRows(projectId: string, rows: Uint8Array, result: IngestResult): Promise<void> {
    try {
      const { rows: out } = await database.query<{ inserted: number; queued: number }>(
        insertSpans(projectId, asBuffer(rows), followUp?.sql(projectId)),
      );
      result.inserted += out[0]!.inserted;
      if (out[0]!.queued > 0) followUp?.onQueued();
    } catch (err) {
      if (dbErrorKind(err) !== "data") throw err;
      const list = JSON.parse(new TextDecoder().decode(rows)) as SpanRow[];
      if (list.length === 1) {
        const row = list[0]!;
        result.rejected++;
        if (result.reasons.length < MAX_REASONS)
          result.reasons.push(
            `span ${row.span_id} of trace ${row.trace_id}: refused by the database (SQLSTATE ${sqlstateOf(err)}: ${(err as Error).message})`,
          );
        return;
      }
      const half = Math.ceil(list.length / 2);
      const encode = (part: SpanRow[]) => new TextEncoder().encode(JSON.stringify(part));
      await storeRows(projectId, encode(list.slice(0, half)), result);
      await storeRows(projectId, encode(list.slice(half)), result);
    }
  }

  return {
    /**
     * Stores `batch` in `projectId`; returns how many rows are new and which spans were refused. Chunks commit one by
     * one: a failure part-way leaves earlier chunks stored, which the exporter's retry then skips as duplicates. After
     * each chunk, the links that depend on other spans of its traces are brought up to date (also when those came in
     * another request). Each chunk's statements run in a `turn` of their own, and the event loop turns before each: on
     * the embedded database a query runs on this thread and its promise resolves without one, so a large batch would
     * otherwise hold every other request until its last chunk.
     */
    async ingest(projectId: string, batch: SpanBatch, turn: Turn = (work) => work()): Promise<IngestResult> {
      const result: IngestResult = { inserted: 0, rejected: 0, reasons: [] };
      const originKeys = batch.originKeys.map((key) => `${projectId}:${key}`);
      if (batch.origins && !originKeys.every((key) => knownOrigins.get(key))) {
        const origins = batch.origins;
        await nextTurn();
        await turn(() => database.query(upsertOrigins(projectId, asBuffer(origins))));
        for (const key of originKeys) knownOrigins.set(key, true);
      }
      for (const chunk of batch.chunks) {
        await nextTurn();
        await turn(async () => {
          const started = performance.now();
          await storeRows(projectId, chunk.rows, result);
          await linkTraces(database, projectId, chunk.traces);
          onChunk((performance.now() - started) / 1000);
        });
      }
      return result;
    },
  };
}
