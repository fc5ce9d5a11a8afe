// Links that depend on other spans of the trace, brought up to date after each chunk is stored, whatever order the
// spans arrive in (a trace's spans often come in several requests, children before their parents):
// - LLM calls under an EVALUATOR or GUARDRAIL span, at any depth, are flagged in_evaluation: an LLM judge inherits
//   the prompt attributes through context but is not the prompt's traffic, so it leaves the counts.
// - LLM spans that another layer's LLM span of the trace already records (see CALL_PAIRS) are flagged nested_call:
//   two instrumentation layers recorded one call (the Anthropic SDK's own span under the OpenInference Anthropic
//   span, the OpenAI instrumentation's beside LangChain's ChatOpenAI span), so only the outer one counts. It takes
//   what it lacks from the nested ones, never adding both: each missing field (tokens, models, cost, the prompt link)
//   from the nested span that ended last with it. A field once set is kept, so a nested span arriving later changes
//   nothing it already has.
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
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { ROLLUP_INPUT_COLUMNS, rollupInputColumns, rollupUpsertSql } from "./rollups.js";
import { TAKEN_GROUPS, type SpanRow } from "./span-table.js";

/** The chunk's project and traces: every statement here reads the stored spans of `traceIds` in `projectId`. */
interface Traces {
  projectId: string;
  traceIds: string[];
}

// Which links the traces need at all, through the partial index spans_trace_anchors_idx: for most traces (no
// PROMPT, EVALUATOR or GUARDRAIL span) this one small read is all.
// An LLM span with a parent is what any nesting of calls needs (the inner one has a parent), so a trace without one
// needs neither nested-call statement.
const probeAnchors = ({ projectId, traceIds }: Traces) => Prisma.sql`
SELECT coalesce(bool_or(a.span_kind IN ('EVALUATOR', 'GUARDRAIL')), FALSE) AS judges,
  coalesce(bool_or(a.span_kind = 'PROMPT'), FALSE) AS prompts, coalesce(bool_or(a.span_kind = 'LLM'), FALSE) AS inner_calls
FROM spans a
WHERE a.project_id = ${projectId}::uuid AND a.trace_id = ANY(${traceIds}::text[])
  AND (a.span_kind IN ('PROMPT', 'EVALUATOR', 'GUARDRAIL') OR (a.span_kind = 'LLM' AND a.parent_span_id IS NOT NULL))`;

const flaggedOut = rollupUpsertSql("flagged", {
  counted: Prisma.sql`s.span_kind = 'LLM' AND NOT s.nested_call`,
  sign: -1,
});
const flagEvaluations = ({ projectId, traceIds }: Traces) => Prisma.sql`
WITH RECURSIVE judged AS (
  SELECT a.trace_id, a.span_id FROM spans a
  WHERE a.project_id = ${projectId}::uuid AND a.trace_id = ANY(${traceIds}::text[]) AND a.span_kind IN ('EVALUATOR', 'GUARDRAIL')
  UNION
  SELECT c.trace_id, c.span_id FROM judged j
  JOIN spans c ON c.project_id = ${projectId}::uuid AND c.trace_id = j.trace_id AND c.parent_span_id = j.span_id
), locked AS (
  SELECT s.id FROM spans s JOIN judged j ON s.project_id = ${projectId}::uuid AND s.trace_id = j.trace_id AND s.span_id = j.span_id
  WHERE NOT s.in_evaluation
  ORDER BY s.id FOR UPDATE OF s
), flagged AS (
  UPDATE spans s SET in_evaluation = TRUE FROM locked l
  WHERE s.id = l.id AND NOT s.in_evaluation
  RETURNING ${rollupInputColumns("s")}
), unrolled AS (
${flaggedOut}
)
SELECT count(*)::int AS flagged FROM flagged`;

// Pairs of LLM spans of the traces that record one call: (outer_id, inner_id). Three shapes are seen:
// - the inner span is a descendant of the outer one: the Anthropic SDK's span under the OpenInference Anthropic
//   span (the instrumentation makes its span active around the SDK call);
// - the two are siblings (same parent) from different instrumentation scopes, carrying the same prompt link and
//   overlapping in time: LangChain's ChatOpenAI span beside the OpenAI instrumentation's (LangChain's instrumentation
//   records its span from callbacks without making it active, so the call beneath is not its child; and the OpenAI
//   instrumentation's span of a failed call is ended after LangChain's, so neither contains the other). The outer one
//   is the one that started first (ties: the lower span id).
// - a failed LLM span followed by another under the same Vercel AI SDK call span (ai.generateText, ai.streamText,
//   ai.generateObject, ai.streamObject): the SDK retries a failed provider call in a new span, and the last attempt is
//   the call's outcome. A successful earlier span under the same call is a step of a multi-step call, its own call.
// Calls of one layer never pair otherwise (parallel calls of one framework are distinct calls), nor do spans without
// a scope (stored before scopes were kept) or without a prompt link, nor spans of different traces: an attempt a
// framework retries in a trace of its own (LangChain's with only the OpenAI instrumentation) counts as a call.
const callPairs = ({ projectId, traceIds }: Traces) => Prisma.sql`
ai_calls AS MATERIALIZED (
  -- Found first, on their own: the attribute test is what keeps the joins below to the few spans it matches.
  SELECT p.trace_id, p.span_id FROM spans p
  WHERE p.project_id = ${projectId}::uuid AND p.trace_id = ANY(${traceIds}::text[])
    AND p.attributes ->> 'ai.operationId' IN ('ai.generateText', 'ai.streamText', 'ai.generateObject', 'ai.streamObject')
), under AS (
  SELECT a.id AS outer_id, c.trace_id, c.span_id FROM spans a
  JOIN spans c ON c.project_id = ${projectId}::uuid AND c.trace_id = a.trace_id AND c.parent_span_id = a.span_id
  WHERE a.project_id = ${projectId}::uuid AND a.trace_id = ANY(${traceIds}::text[]) AND a.span_kind = 'LLM'
  UNION
  SELECT u.outer_id, c.trace_id, c.span_id FROM under u
  JOIN spans c ON c.project_id = ${projectId}::uuid AND c.trace_id = u.trace_id AND c.parent_span_id = u.span_id
), pairs AS (
  SELECT u.outer_id, i.id AS inner_id FROM under u
  JOIN spans i ON i.project_id = ${projectId}::uuid AND i.trace_id = u.trace_id AND i.span_id = u.span_id
  WHERE i.span_kind = 'LLM'
  UNION
  SELECT o.id, i.id FROM spans o
  JOIN spans i ON i.project_id = ${projectId}::uuid AND i.trace_id = o.trace_id AND i.id <> o.id AND i.span_kind = 'LLM'
    AND i.parent_span_id IS NOT DISTINCT FROM o.parent_span_id
    AND i.scope_hash <> o.scope_hash AND i.prompt_name = o.prompt_name
    AND i.prompt_version IS NOT DISTINCT FROM o.prompt_version
    AND i.start_time_unix_nano < o.end_time_unix_nano AND o.start_time_unix_nano < i.end_time_unix_nano
    AND (i.start_time_unix_nano, i.span_id) > (o.start_time_unix_nano, o.span_id)
  WHERE o.project_id = ${projectId}::uuid AND o.trace_id = ANY(${traceIds}::text[]) AND o.span_kind = 'LLM'
  UNION
  SELECT o.id, i.id FROM ai_calls p
  JOIN spans o ON o.project_id = ${projectId}::uuid AND o.trace_id = p.trace_id AND o.parent_span_id = p.span_id AND o.span_kind = 'LLM'
  JOIN spans i ON i.project_id = ${projectId}::uuid AND i.trace_id = p.trace_id AND i.parent_span_id = p.span_id AND i.span_kind = 'LLM'
    AND i.failed AND (i.start_time_unix_nano, i.span_id) < (o.start_time_unix_nano, o.span_id)
)`;

const nestedOut = rollupUpsertSql("flagged", {
  counted: Prisma.sql`s.span_kind = 'LLM' AND NOT s.in_evaluation`,
  sign: -1,
});
const flagNestedCalls = (traces: Traces) => Prisma.sql`
WITH RECURSIVE ${callPairs(traces)}, locked AS (
  SELECT s.id FROM spans s WHERE s.id IN (SELECT inner_id FROM pairs) AND NOT s.nested_call
  ORDER BY s.id FOR UPDATE
), flagged AS (
  UPDATE spans s SET nested_call = TRUE FROM locked l
  WHERE s.id = l.id AND NOT s.nested_call
  RETURNING ${rollupInputColumns("s")}
), unrolled AS (
${nestedOut}
)
SELECT count(*)::int AS flagged FROM flagged`;

// What an outermost call takes from its nested ones when it lacks it: groups of columns taken together, each marked
// `taken` in span-table.ts.
// For each group, the values of the nested span that ended last among those that have its first column.
const PICKS = Prisma.raw(
  TAKEN_GROUPS.flatMap((group) =>
    group.map(
      (c) =>
        `(array_agg(i.${c} ORDER BY i.end_time_unix_nano DESC, i.id DESC) FILTER (WHERE i.${group[0]} IS NOT NULL))[1] AS ${c}`,
    ),
  ).join(",\n    "),
);
// A group is taken only whole, and only when the outer span lacks its first column.
const MISSING = Prisma.raw(
  TAKEN_GROUPS.map((group) => `(o.${group[0]} IS NULL AND p.${group[0]} IS NOT NULL)`).join(" OR "),
);
const SETS = Prisma.raw(
  TAKEN_GROUPS.flatMap((group) =>
    group.map((c) => `${c} = CASE WHEN l.${group[0]} IS NULL THEN p.${c} ELSE l.${c} END`),
  ).join(",\n    "),
);
const OLD_ROLLUP_INPUT = Prisma.raw(ROLLUP_INPUT_COLUMNS.map((c) => `l.${c} AS old_${c}`).join(", "));
const OLD_ROLLUP_INPUT_NAMES = Prisma.raw(ROLLUP_INPUT_COLUMNS.map((c) => `old_${c}`).join(", "));
const changedRollups = rollupUpsertSql("changes", { signColumn: "s.weight" });

// The outer span's rollup contribution changes with what it takes (tokens, cost, even its model or version): the old
// one is taken out and the new one put in, in one upsert. (Migration 20261205193356_nested_llm_calls names this
// statement and flagNestedCalls FILL_OUTER_CALLS and FLAG_NESTED_CALLS.)
const fillOuterCalls = (traces: Traces) => Prisma.sql`
WITH RECURSIVE ${callPairs(traces)}, picks AS (
  SELECT p.outer_id,
    ${PICKS}
  FROM pairs p JOIN spans i ON i.id = p.inner_id
  WHERE i.nested_call
  GROUP BY p.outer_id
), locked AS (
  SELECT o.* FROM spans o JOIN picks p ON o.id = p.outer_id
  WHERE NOT o.nested_call AND (${MISSING})
  ORDER BY o.id FOR UPDATE OF o
), filled AS (
  UPDATE spans s SET
    ${SETS}
  FROM locked l JOIN picks p ON p.outer_id = l.id
  WHERE s.id = l.id
  RETURNING 1 AS weight, ${rollupInputColumns("s")}, -1 AS old_weight, ${OLD_ROLLUP_INPUT}
), changes AS (
  SELECT weight, ${rollupInputColumns()} FROM filled
  UNION ALL
  SELECT old_weight, ${OLD_ROLLUP_INPUT_NAMES} FROM filled
), rolled AS (
${changedRollups}
)
SELECT count(*)::int AS filled FROM filled`;

const linkedIn = rollupUpsertSql("linked");
const linkPromptSiblings = ({ projectId, traceIds }: Traces) => Prisma.sql`
WITH prompt_spans AS (
  SELECT a.trace_id, a.span_id, a.parent_span_id, a.start_time_unix_nano, a.end_time_unix_nano, a.prompt_name, a.prompt_version, a.prompt_id,
    a.version_id, a.link_status, a.label
  FROM spans a
  WHERE a.project_id = ${projectId}::uuid AND a.trace_id = ANY(${traceIds}::text[]) AND a.span_kind = 'PROMPT' AND a.prompt_name IS NOT NULL
), picks AS (
  SELECT DISTINCT ON (c.id) c.id, ps.span_id AS prompt_span_id, ps.prompt_name, ps.prompt_version, ps.prompt_id,
    ps.version_id, ps.link_status, ps.label
  FROM prompt_spans ps
  JOIN spans c ON c.project_id = ${projectId}::uuid AND c.trace_id = ps.trace_id AND c.parent_span_id IS NOT DISTINCT FROM ps.parent_span_id
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
${linkedIn}
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
      r.span_kind === "LLM" ||
      (r.span_kind === "PROMPT" && r.prompt_name !== null)
    )
      traces.add(r.trace_id);
  return [...traces];
}

/** Brings the trace-level links of `traceIds` (stored spans of `projectId`) up to date. */
export async function linkTraces(
  database: Database,
  projectId: string,
  traceIds: string[],
): Promise<{ flagged: number; linked: number; nested: number; filled: number }> {
  if (traceIds.length === 0) return { flagged: 0, linked: 0, nested: 0, filled: 0 };
  const traces = { projectId, traceIds };
  const probe = await database.query<{ judges: boolean; prompts: boolean; inner_calls: boolean }>(probeAnchors(traces));
  const { judges, prompts, inner_calls } = probe.rows[0]!;
  const flagged = judges ? (await database.query<{ flagged: number }>(flagEvaluations(traces))).rows[0]!.flagged : 0;
  const linked = prompts ? (await database.query<{ linked: number }>(linkPromptSiblings(traces))).rows[0]!.linked : 0;
  let nested = 0;
  let filled = 0;
  if (inner_calls) {
    nested = (await database.query<{ flagged: number }>(flagNestedCalls(traces))).rows[0]!.flagged;
    filled = (await database.query<{ filled: number }>(fillOuterCalls(traces))).rows[0]!.filled;
  }
  return { flagged, linked, nested, filled };
}
