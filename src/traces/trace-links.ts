// Links that depend on other spans of the trace, brought up to date after each chunk is stored, whatever order the
// spans arrive in (a trace's spans often come in several requests, children before their parents):
// - LLM calls under an EVALUATOR or GUARDRAIL span, at any depth, are flagged in_evaluation: an LLM judge inherits
//   the prompt attributes through context but is not the prompt's traffic, so it leaves the counts.
// - Arthur's SDK puts the prompt on a PROMPT span of its own, and the LLM call that follows is a sibling without
//   prompt attributes: an LLM span without a prompt takes the link of the latest PROMPT span under the same parent
//   that had ended when it started (Arthur's getPrompt ends its span before it returns the prompt; a call running
//   beside it is not its follower).
// Each statement runs after the chunk's insert has committed and reads every stored span of the chunk's traces; both
// spans of a related pair are of the kinds that make their chunk run them (tracesThatMayNeedLinks), so of two
// requests carrying related spans, the one committed last always sees both. Flags and links only ever go
// one way (never unflagged, never relinked), and each change adds the span to the rollups or takes it out in the
// same statement, so the rollups stay exact on resends and concurrent ingests. Span rows are locked in id order,
// then rollup rows in key order, as every ingest statement does, so concurrent ones cannot deadlock.
import { rollupInputColumns, rollupUpsertSql } from "./rollups.js";
import type { Database } from "../db/client.js";
import type { SpanRow } from "./mapping.js";

// Which links the traces need at all, through the partial index spans_trace_anchors_idx: for most traces (no
// PROMPT, EVALUATOR or GUARDRAIL span) this one small read is all.
const PROBE_ANCHORS = `
SELECT coalesce(bool_or(a.span_kind <> 'PROMPT'), FALSE) AS judges, coalesce(bool_or(a.span_kind = 'PROMPT'), FALSE) AS prompts
FROM spans a
WHERE a.project_id = $1::uuid AND a.trace_id = ANY($2::text[]) AND a.span_kind IN ('PROMPT', 'EVALUATOR', 'GUARDRAIL')`;

const FLAG_EVALUATIONS = `
WITH RECURSIVE judged AS (
  SELECT a.trace_id, a.span_id FROM spans a
  WHERE a.project_id = $1::uuid AND a.trace_id = ANY($2::text[]) AND a.span_kind IN ('EVALUATOR', 'GUARDRAIL')
  UNION
  SELECT c.trace_id, c.span_id FROM judged j
  JOIN spans c ON c.project_id = $1::uuid AND c.trace_id = j.trace_id AND c.parent_span_id = j.span_id
), locked AS (
  SELECT s.id FROM spans s JOIN judged j ON s.project_id = $1::uuid AND s.trace_id = j.trace_id AND s.span_id = j.span_id
  WHERE NOT s.in_evaluation
  ORDER BY s.id FOR UPDATE OF s
), flagged AS (
  UPDATE spans s SET in_evaluation = TRUE FROM locked l
  WHERE s.id = l.id AND NOT s.in_evaluation
  RETURNING ${rollupInputColumns("s")}
), unrolled AS (
${rollupUpsertSql("flagged", { counted: "s.span_kind = 'LLM'", sign: -1 })}
)
SELECT count(*)::int AS flagged FROM flagged`;

const LINK_PROMPT_SIBLINGS = `
WITH prompt_spans AS (
  SELECT a.trace_id, a.span_id, a.parent_span_id, a.start_time_unix_nano, a.end_time_unix_nano, a.prompt_name, a.prompt_version, a.prompt_id,
    a.version_id, a.link_status, a.label
  FROM spans a
  WHERE a.project_id = $1::uuid AND a.trace_id = ANY($2::text[]) AND a.span_kind = 'PROMPT' AND a.prompt_name IS NOT NULL
), picks AS (
  SELECT DISTINCT ON (c.id) c.id, ps.span_id AS prompt_span_id, ps.prompt_name, ps.prompt_version, ps.prompt_id,
    ps.version_id, ps.link_status, ps.label
  FROM prompt_spans ps
  JOIN spans c ON c.project_id = $1::uuid AND c.trace_id = ps.trace_id AND c.parent_span_id IS NOT DISTINCT FROM ps.parent_span_id
    AND c.start_time_unix_nano >= ps.end_time_unix_nano
  WHERE c.span_kind = 'LLM' AND c.prompt_name IS NULL AND c.prompt_span_id IS NULL
  ORDER BY c.id, ps.start_time_unix_nano DESC, ps.span_id DESC
), locked AS (
  SELECT s.id FROM spans s WHERE s.id IN (SELECT id FROM picks) AND s.prompt_name IS NULL AND s.prompt_span_id IS NULL
  ORDER BY s.id FOR UPDATE
), linked AS (
  UPDATE spans s SET prompt_name = k.prompt_name, prompt_version = k.prompt_version, prompt_id = k.prompt_id,
    version_id = k.version_id, link_status = k.link_status, label = coalesce(s.label, k.label), prompt_span_id = k.prompt_span_id
  FROM picks k JOIN locked l ON l.id = k.id
  WHERE s.id = k.id AND s.prompt_name IS NULL AND s.prompt_span_id IS NULL
  RETURNING ${rollupInputColumns("s")}
), rolled AS (
${rollupUpsertSql("linked")}
)
SELECT count(*)::int AS linked FROM linked`;

/**
 * The traces of `rows` (a chunk being stored) whose links the chunk may change, decided without a round trip. A
 * flag comes only with a judge or with a span that may hang under one (any span with a parent: its ancestors may be
 * stored already), a link only with a PROMPT span naming a prompt or an LLM span naming none; every other span is
 * settled by its own row. So a chunk of root calls that carry their prompt needs no statement here.
 * Resent spans count like new ones: an exporter's retry after a failed link pass still brings the links up to date.
 */
export function tracesThatMayNeedLinks(
  rows: readonly Pick<SpanRow, "trace_id" | "parent_span_id" | "span_kind" | "prompt_name">[],
): string[] {
  const traces = new Set<string>();
  for (const r of rows)
    if (
      r.parent_span_id !== null ||
      r.span_kind === "EVALUATOR" ||
      r.span_kind === "GUARDRAIL" ||
      (r.span_kind === "PROMPT" && r.prompt_name !== null) ||
      (r.span_kind === "LLM" && r.prompt_name === null)
    )
      traces.add(r.trace_id);
  return [...traces];
}

/** Brings the trace-level links of `traceIds` (stored spans of `projectId`) up to date. */
export async function linkTraces(
  database: Database,
  projectId: string,
  traceIds: string[],
): Promise<{ flagged: number; linked: number }> {
  if (traceIds.length === 0) return { flagged: 0, linked: 0 };
  const params = [projectId, traceIds];
  const { judges, prompts } = (await database.query<{ judges: boolean; prompts: boolean }>(PROBE_ANCHORS, params))
    .rows[0]!;
  const flagged = judges ? (await database.query<{ flagged: number }>(FLAG_EVALUATIONS, params)).rows[0]!.flagged : 0;
  const linked = prompts ? (await database.query<{ linked: number }>(LINK_PROMPT_SIBLINGS, params)).rows[0]!.linked : 0;
  return { flagged, linked };
}
