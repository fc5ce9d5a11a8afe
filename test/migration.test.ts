// The real_instrumentations migration re-reads spans stored before it. Spans are stored by today's ingest, then put
// back the way the previous mapping stored them; the migration's statements (run as the PostgreSQL driver runs a
// migration: split at each semicolon) must give back every column ingest computed, and the rollups ingest kept.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { SpanStatusCode, type Span } from "@opentelemetry/api";
import {
  EMBEDDING_MODEL_NAME,
  LLM_COST_COMPLETION,
  LLM_COST_PROMPT,
  LLM_INVOCATION_PARAMETERS,
  LLM_MODEL_NAME,
  LLM_TOKEN_COUNT_COMPLETION,
  LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING,
  LLM_TOKEN_COUNT_PROMPT,
  LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
  OpenInferenceSpanKind,
  PROMPT_ID,
  PROMPT_TEMPLATE_VERSION,
  PROMPT_VENDOR,
  SemanticConventions,
} from "@arizeai/openinference-semantic-conventions";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
} from "@opentelemetry/semantic-conventions/incubating";
import { afterAll, beforeAll, expect, it } from "vitest";
import { rollUpStoredSpans } from "../src/traces/rollups.js";
import { publishPrompt } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { sdkTracer, startReceiver, under, type Receiver } from "./helpers/sdk.js";

const KIND = SemanticConventions.OPENINFERENCE_SPAN_KIND;
const { LLM, EVALUATOR, PROMPT, AGENT, EMBEDDING } = OpenInferenceSpanKind;

let h: Harness;
let receiver: Receiver;

beforeAll(async () => {
  h = await createHarness();
  receiver = await startReceiver(h);
  await publishPrompt(
    h.as(h.adminKey),
    "migrated",
    ["1.0.0", "1.1.0"].map((version) => ({
      template: `M ${version} {{q}}`,
      version,
      labels: version === "1.0.0" ? ["production"] : [],
    })),
  );
});
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

/** Every column ingest derives from the attributes, per span. */
async function derived(): Promise<Record<string, unknown>[]> {
  const { rows } = await h.database.query(
    `SELECT span_id, span_kind, failed, error_message, prompt_name, prompt_version, prompt_id, version_id, link_status, prompt_span_id,
       in_evaluation, nested_call, label, model, response_model, tokens_prompt, tokens_completion, tokens_total, tokens_cache_read, tokens_cache_write,
       tokens_reasoning, cost_usd, cost_source
     FROM spans ORDER BY span_id`,
  );
  return rows;
}

async function rollups(): Promise<Record<string, unknown>[]> {
  const { rows } = await h.database.query(
    `SELECT version_id, hour, label, source, model, latency_bucket, spans, failures, tokens_prompt_sum::text, tokens_prompt_count,
       tokens_total_sum::text, tokens_total_count, cache_read_sum::text, cache_read_count, cache_write_sum::text, cache_write_count,
       reasoning_sum::text, reasoning_count, round(cost_sum::numeric, 12)::text AS cost, cost_count, cost_sent_count
     FROM span_rollups WHERE spans <> 0 ORDER BY version_id, hour, label, source, model, latency_bucket`,
  );
  return rows;
}

// What the previous mapping stored: failures from exception events and error.type whatever the status; kinds only
// from openinference.span.kind or an exact lowercase GenAI operation; the response model first; totals and costs from
// any one part; any vendor's prompt.id; no Arthur names, label resolution, judges, or PROMPT siblings.
const PREVIOUS_MAPPING = [
  `UPDATE spans SET failed = TRUE, error_message = 'handled'
   WHERE status_code = 1 AND (attributes ? 'error.type' OR events @> '[{"name": "exception"}]')`,
  `UPDATE spans SET span_kind = CASE attributes ->> 'gen_ai.operation.name' WHEN 'chat' THEN 'LLM' WHEN 'embeddings' THEN 'EMBEDDING' END
   WHERE NOT attributes ? 'openinference.span.kind'`,
  `UPDATE spans SET response_model = NULL, tokens_cache_read = NULL, tokens_cache_write = NULL, tokens_reasoning = NULL, cost_source = NULL,
     in_evaluation = FALSE, prompt_span_id = NULL,
     model = coalesce(attributes ->> 'llm.response.model_name', attributes ->> 'llm.model_name', attributes ->> 'gen_ai.response.model',
       attributes ->> 'gen_ai.request.model', attributes ->> 'llm.request.model_name'),
     tokens_total = coalesce((attributes ->> 'llm.token_count.total')::int,
       CASE WHEN tokens_prompt IS NOT NULL OR tokens_completion IS NOT NULL THEN coalesce(tokens_prompt, 0) + coalesce(tokens_completion, 0) END),
     cost_usd = coalesce((attributes ->> 'llm.cost.total')::float8,
       CASE WHEN attributes ? 'llm.cost.prompt' OR attributes ? 'llm.cost.completion'
         THEN coalesce((attributes ->> 'llm.cost.prompt')::float8, 0) + coalesce((attributes ->> 'llm.cost.completion')::float8, 0) END,
       (attributes ->> 'gen_ai.usage.cost')::float8),
     prompt_name = coalesce(attributes ->> 'prompt.id', attributes ->> 'gen_ai.prompt.name'),
     prompt_version = attributes ->> 'llm.prompt_template.version',
     label = attributes ->> 'promptreg.prompt.label'`,
  `UPDATE spans s SET prompt_id = p.id, version_id = v.id,
     link_status = CASE WHEN s.prompt_name IS NULL AND s.prompt_version IS NULL THEN 'none' WHEN v.id IS NOT NULL THEN 'linked'
       WHEN p.id IS NOT NULL THEN 'unknown_version' ELSE 'unknown_prompt' END
   FROM spans s0 LEFT JOIN prompts p ON p.project_id = s0.project_id AND p.name = s0.prompt_name
   LEFT JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = s0.prompt_version
   WHERE s.id = s0.id`,
  `DELETE FROM span_rollups`,
];

it("gives spans stored by the previous mapping the columns and rollups today's ingest gives them", async () => {
  const { tracer, take } = sdkTracer();
  const oursLinked = { [KIND]: LLM, [PROMPT_ID]: "migrated", [PROMPT_TEMPLATE_VERSION]: "1.0.0" };
  // One child after the other, 10 ms apart, each lasting 5 ms.
  let ms = Date.now() + 1_000; // after the label moves of beforeAll
  const root = tracer.startSpan("agent", { startTime: ms, attributes: { [KIND]: AGENT } });
  const child = (
    name: string,
    attributes: Record<string, string | number>,
    finish?: (s: Span) => void,
    parent = root,
  ) => {
    const s = tracer.startSpan(name, { startTime: (ms += 10), attributes }, under(parent));
    finish?.(s);
    s.end(ms + 5);
  };
  child("ok after a retry", oursLinked, (s) => {
    s.recordException(new Error("429"));
    s.setAttribute(ATTR_ERROR_TYPE, "RateLimitError");
    s.setStatus({ code: SpanStatusCode.OK });
  });
  child("failed", oursLinked, (s) => s.setStatus({ code: SpanStatusCode.ERROR, message: "500" }));
  child("dated", {
    ...oursLinked,
    [LLM_MODEL_NAME]: "gpt-4o-2024-08-06",
    [LLM_INVOCATION_PARAMETERS]: JSON.stringify({ model: "gpt-4o", temperature: 0 }),
    [LLM_TOKEN_COUNT_PROMPT]: 1200,
    [LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ]: 1024,
    [LLM_TOKEN_COUNT_COMPLETION]: 300,
    [LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING]: 64,
  });
  child("prompt tokens only", { ...oursLinked, [LLM_TOKEN_COUNT_PROMPT]: 900, [LLM_COST_PROMPT]: 0.5 });
  child("cost parts", { ...oursLinked, [LLM_COST_PROMPT]: 0.25, [LLM_COST_COMPLETION]: 0.125 });
  child("genai Chat", {
    [ATTR_GEN_AI_OPERATION_NAME]: "Chat",
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.1.0",
    [ATTR_GEN_AI_REQUEST_MODEL]: "claude-sonnet-4",
    [ATTR_GEN_AI_RESPONSE_MODEL]: "claude-sonnet-4-20250514",
    [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 50,
    [ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]: 40,
  });
  child("genai embeddings", {
    [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    [ATTR_GEN_AI_REQUEST_MODEL]: "text-embedding-3-small",
  });
  child("genai image", {
    [ATTR_GEN_AI_OPERATION_NAME]: "image_generation",
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
  });
  child("oi embedding", {
    [KIND]: EMBEDDING,
    [EMBEDDING_MODEL_NAME]: "text-embedding-3-large",
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
  });
  child("kind-less with a model", {
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    [LLM_MODEL_NAME]: "gpt-4o",
    [LLM_TOKEN_COUNT_PROMPT]: 3,
  });
  child("openllmetry chat", {
    "llm.request.type": "chat",
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o",
  });
  child("langsmith", {
    [KIND]: LLM,
    [PROMPT_VENDOR]: "langsmith",
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
  });
  child("by label", { ...oursLinked, [PROMPT_TEMPLATE_VERSION]: "production" });
  child("arthur prompt", { [KIND]: PROMPT, "arthur.prompt.name": "migrated", [PROMPT_TEMPLATE_VERSION]: "latest" });
  child("arthur call", {
    [KIND]: LLM,
    [LLM_MODEL_NAME]: "gpt-4o",
    [LLM_TOKEN_COUNT_PROMPT]: 5,
    [LLM_TOKEN_COUNT_COMPLETION]: 5,
  });
  const judge = tracer.startSpan("judge", { startTime: (ms += 10), attributes: { [KIND]: EVALUATOR } }, under(root));
  child(
    "judge call",
    { ...oursLinked, [LLM_TOKEN_COUNT_PROMPT]: 7, [LLM_TOKEN_COUNT_COMPLETION]: 1 },
    undefined,
    judge,
  );
  judge.end(ms + 20);
  root.end(ms + 30);
  await receiver.send(take());

  const ingested = await derived();
  const rolled = await rollups();
  expect(ingested).toHaveLength(18);
  // Counted: the retried, failed, dated and two sums' calls, Chat, OpenLLMetry's chat, the one by label, Arthur's call.
  expect(rolled.reduce((n, r) => n + Number(r.spans), 0)).toBe(9);
  for (const sql of PREVIOUS_MAPPING) await h.database.query(sql);
  expect(await derived()).not.toEqual(ingested);

  const dir = path.resolve(import.meta.dirname, "../prisma/migrations");
  const migration = readFileSync(
    path.join(dir, readdirSync(dir).find((d) => d.endsWith("_real_instrumentations"))!, "migration.sql"),
    "utf8",
  );
  const data = migration.slice(migration.indexOf("CREATE FUNCTION promptreg_m_str"));
  // How @prisma/adapter-pg's executeScript runs a migration on PostgreSQL.
  for (const statement of data
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean))
    await h.database.query(statement);

  expect(await derived()).toEqual(ingested);
  expect(await rollups()).toEqual(rolled);
});

/** The data statements of the migration named `suffix`, from the line starting with `from`, as the driver splits them. */
function migrationStatements(suffix: string, from: string): string[] {
  const dir = path.resolve(import.meta.dirname, "../prisma/migrations");
  const migration = readFileSync(
    path.join(dir, readdirSync(dir).find((d) => d.endsWith(suffix))!, "migration.sql"),
    "utf8",
  );
  return migration
    .slice(migration.indexOf(from))
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean);
}

it("counts one call once in spans stored before nested calls were told apart, as today's ingest does", async () => {
  const { tracer, take } = sdkTracer();
  const linked = (version: string) => ({ [KIND]: LLM, [PROMPT_ID]: "migrated", [PROMPT_TEMPLATE_VERSION]: version });
  const genai = (version: string, input: number, output: number) => ({
    [ATTR_GEN_AI_OPERATION_NAME]: "chat",
    [PROMPT_ID]: "migrated",
    [PROMPT_TEMPLATE_VERSION]: version,
    [ATTR_GEN_AI_REQUEST_MODEL]: "claude-sonnet-4-5",
    [ATTR_GEN_AI_RESPONSE_MODEL]: "claude-sonnet-4-5-20260929",
    [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: input,
    "gen_ai.usage.output_tokens": output,
    "gen_ai.usage.cost": 0.25,
  });
  let ms = Date.now() + 1_000;
  const root = tracer.startSpan("agent", { startTime: ms, attributes: { [KIND]: AGENT } });
  const call = (name: string, attributes: Record<string, string | number>, inner?: Record<string, string | number>) => {
    const outer = tracer.startSpan(name, { startTime: (ms += 10), attributes }, under(root));
    if (inner) tracer.startSpan(`${name}, inner`, { startTime: ms + 1, attributes: inner }, under(outer)).end(ms + 4);
    outer.end(ms + 5);
  };
  call("outer without usage", linked("1.0.0"), genai("1.0.0", 100, 20));
  call(
    "outer with usage",
    { ...linked("1.1.0"), [LLM_TOKEN_COUNT_PROMPT]: 10, [LLM_TOKEN_COUNT_COMPLETION]: 5 },
    genai("1.1.0", 999, 999),
  );
  call("alone", { ...linked("1.0.0"), [LLM_TOKEN_COUNT_PROMPT]: 7, [LLM_TOKEN_COUNT_COMPLETION]: 1 });
  root.end(ms + 30);
  await receiver.send(take());
  const spanIds = `(SELECT span_id FROM spans WHERE name IN ('outer without usage', 'outer without usage, inner', 'outer with usage', 'outer with usage, inner', 'alone', 'agent') AND start_time > now() + interval '500 milliseconds')`;
  const mine = derived;
  const ingested = await mine();
  const rolled = await rollups();
  const counted = await h.database.query<{ n: number; prompt: number }>(
    `SELECT count(*)::int AS n, sum(tokens_prompt)::int AS prompt FROM spans WHERE span_kind = 'LLM' AND NOT nested_call AND span_id IN ${spanIds}`,
  );
  // Three calls, the first with its inner span's usage, the second with its own: never both.
  expect(counted.rows[0]).toEqual({ n: 3, prompt: 100 + 10 + 7 });

  // As they were stored before: nothing flagged, nothing taken, every LLM span counted.
  await h.database.query(`UPDATE spans SET nested_call = FALSE`);
  await h.database.query(
    `UPDATE spans SET tokens_prompt = NULL, tokens_completion = NULL, tokens_total = NULL, model = NULL, response_model = NULL,
       provider = NULL, cost_usd = NULL, cost_source = NULL
     WHERE name = 'outer without usage'`,
  );
  await h.database.query("DELETE FROM span_rollups");
  for (const { id } of await h.database.prisma.project.findMany({ select: { id: true } }))
    await rollUpStoredSpans(h.database, id);
  expect(await rollups()).not.toEqual(rolled);

  for (const statement of migrationStatements("_nested_llm_calls", "WITH RECURSIVE under"))
    await h.database.query(statement);
  expect(await mine()).toEqual(ingested);
  expect(await rollups()).toEqual(rolled);
});
