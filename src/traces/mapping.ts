// From an OTLP span to the stored row. For each field the first attribute present wins: as a rule OpenInference keys
// come first (our client sets them), then the OTel GenAI conventions, then Langfuse's and other vendors' keys. The
// mapping table in the README ("Send traces and outcomes") gives the exact order field by field; keep the two in
// step. The row's columns are those of span-table.ts. The prompt link itself (prompt_id, version_id, link_status) is
// resolved in SQL at insert time against the key's project, see ingest.service.ts, and so is a cost from the
// project's price table; the links that need other spans of the trace (Arthur's PROMPT spans, evaluator subtrees,
// nested calls) are made after the insert, see trace-links.ts.
import type { AttributeValue, Attributes, OtlpSpan } from "./otlp.js";
import { clipText } from "./span-checks.js";
import type { SpanRow } from "./span-table.js";

/** The content hashes (hex) of a span's resource and scope. */
export interface SpanOrigin {
  resource: string;
  scope: string;
}

/** What our client sets as `prompt.vendor` (the client's PROMPT_VENDOR); another vendor's `prompt.id` is not ours. */
export const PROMPTREG_VENDOR = "promptreg";
/** A kind of its own for spans that declare an operation we do not know: kept apart, never counted as an LLM call. */
export const OTHER_KIND = "OTHER";

// prompt.id comes first but only for our own vendor (or none), see firstPromptName().
const PROMPT_NAME_KEYS = [
  "arthur.prompt.name",
  "gen_ai.prompt.name",
  "langfuse.observation.prompt.name",
  "langfuse.prompt.name",
];
// Langfuse sends versions as ints; they are kept as the string given and link only to that exact version string.
// Arthur's SDK sends `latest` or a tag here: the insert resolves a label name through the label ledger.
const PROMPT_VERSION_KEYS = [
  "llm.prompt_template.version",
  "langfuse.observation.prompt.version",
  "langfuse.prompt.version",
];
// The Vercel AI SDK's way of passing a Langfuse prompt: one JSON string {name, version}.
const LANGFUSE_PROMPT_JSON = "ai.telemetry.metadata.langfusePrompt";
// The OpenAI instrumentation overwrites llm.model_name with the dated response model, but only on success: grouping
// by it splits one model by outcome. The request model is the same on every call.
const REQUEST_MODEL_KEYS = ["llm.request.model_name", "gen_ai.request.model"];
const RESPONSE_MODEL_KEYS = ["llm.response.model_name", "gen_ai.response.model", "llm.model_name"];
const PROVIDER_KEYS = ["llm.provider", "gen_ai.provider.name", "llm.system", "gen_ai.system"];
const SESSION_KEYS = ["session.id", "gen_ai.conversation.id", "langfuse.session.id"];
const USER_KEYS = ["user.id", "langfuse.user.id"];
const PROMPT_TOKEN_KEYS = ["llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"];
const COMPLETION_TOKEN_KEYS = [
  "llm.token_count.completion",
  "gen_ai.usage.output_tokens",
  "gen_ai.usage.completion_tokens",
];
// Both conventions count these inside the prompt (input) and completion (output) tokens, not on top of them. The
// Vercel AI SDK's own spans carry cached and reasoning tokens only under ai.usage.* (v6 names, then v7's), and
// @arizeai/openinference-vercel does not translate them, so they come last, read when no convention key is there.
const CACHE_READ_KEYS = [
  "llm.token_count.prompt_details.cache_read",
  "gen_ai.usage.cache_read.input_tokens",
  "ai.usage.cachedInputTokens",
  "ai.usage.inputTokenDetails.cacheReadTokens",
];
// The Anthropic SDK's own tracing names it cache_write.
const CACHE_WRITE_KEYS = [
  "llm.token_count.prompt_details.cache_write",
  "gen_ai.usage.cache_creation.input_tokens",
  "gen_ai.usage.cache_write.input_tokens",
];
const REASONING_KEYS = [
  "llm.token_count.completion_details.reasoning",
  "gen_ai.usage.reasoning.output_tokens",
  "ai.usage.reasoningTokens",
  "ai.usage.outputTokenDetails.reasoningTokens",
];

// Maps, not object literals: an attribute value such as "constructor" must not find Object.prototype's members.
const GEN_AI_OPERATION_KINDS = new Map([
  ["chat", "LLM"],
  ["text_completion", "LLM"],
  ["generate_content", "LLM"],
  ["embeddings", "EMBEDDING"],
  ["retrieval", "RETRIEVER"],
  ["execute_tool", "TOOL"],
  ["create_agent", "AGENT"],
  ["invoke_agent", "AGENT"],
  ["invoke_workflow", "CHAIN"],
]);
// OpenLLMetry (Traceloop) marks its spans with llm.request.type instead of a kind.
const LLM_REQUEST_TYPE_KINDS = new Map([
  ["chat", "LLM"],
  ["completion", "LLM"],
  ["embedding", "EMBEDDING"],
  ["rerank", "RERANKER"],
]);
// Langfuse's observation types; plain spans and events say nothing about the call.
const LANGFUSE_OBSERVATION_KINDS = new Map([
  ["generation", "LLM"],
  ["embedding", "EMBEDDING"],
  ["agent", "AGENT"],
  ["tool", "TOOL"],
  ["chain", "CHAIN"],
  ["retriever", "RETRIEVER"],
  ["evaluator", "EVALUATOR"],
  ["guardrail", "GUARDRAIL"],
]);
// The Vercel AI SDK: only the inner provider call is the LLM call; its outer ai.generateText span repeats the
// model and tokens and must not count twice.
const AI_SDK_OPERATION_KINDS = new Map([
  ["ai.generateText.doGenerate", "LLM"],
  ["ai.streamText.doStream", "LLM"],
  ["ai.generateObject.doGenerate", "LLM"],
  ["ai.streamObject.doStream", "LLM"],
  ["ai.embed.doEmbed", "EMBEDDING"],
  ["ai.embedMany.doEmbed", "EMBEDDING"],
  ["ai.toolCall", "TOOL"],
]);
// Chat messages on a span without a kind are positive evidence of a chat or completion call.
const MESSAGE_KEY_PREFIXES = [
  "llm.input_messages.",
  "llm.output_messages.",
  "llm.prompts.",
  "gen_ai.prompt.0.",
  "gen_ai.completion.0.",
];
const MESSAGE_KEYS = ["gen_ai.input_messages", "gen_ai.output_messages"];

const STATUS_OK = 1;
const STATUS_ERROR = 2;
const MAX_INT4 = 2 ** 31 - 1;
// session_id, user_id, prompt_name, model, label and source are indexed (span_rollups' key holds the last three),
// and a btree entry must stay under ~2.7 kB, so each is cut to 512 characters and 700 UTF-8 bytes; the full value
// stays in attributes. (A prompt name is at most 255 characters, so a cut one could not have linked anyway.)
const MAX_INDEXED_CHARS = 512;
const MAX_INDEXED_BYTES = 700;

export function toSpanRow(span: OtlpSpan, origin: SpanOrigin): SpanRow {
  const a = span.attributes;
  const langfusePrompt = parseLangfusePrompt(a[LANGFUSE_PROMPT_JSON]);
  const kind = spanKind(a);
  const promptName = clip(firstPromptName(a) ?? langfusePrompt.name, MAX_INDEXED_CHARS);
  const tokensPrompt = firstInt(a, PROMPT_TOKEN_KEYS);
  const tokensCompletion = firstInt(a, COMPLETION_TOKEN_KEYS);
  const { failed, errorMessage } = failure(span);
  const cost = sentCost(a);
  return {
    trace_id: span.traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    name: span.name,
    otel_kind: span.kind,
    span_kind: kind,
    start_time: isoMicros(span.startTimeUnixNano),
    start_time_unix_nano: span.startTimeUnixNano.toString(),
    end_time_unix_nano: span.endTimeUnixNano.toString(),
    latency_ms: latencyMs(span.startTimeUnixNano, span.endTimeUnixNano),
    status_code: span.statusCode,
    failed,
    error_message: errorMessage,
    prompt_name: promptName,
    // A version without a prompt name (another vendor's prompt) names nothing here.
    prompt_version: promptName === null ? null : (firstString(a, PROMPT_VERSION_KEYS) ?? langfusePrompt.version),
    label: clip(firstString(a, ["promptreg.prompt.label"]), MAX_INDEXED_CHARS),
    source: clip(firstString(a, ["promptreg.prompt.source"]), MAX_INDEXED_CHARS),
    ...rolloutOf(a),
    model: clip(requestModel(a, kind), MAX_INDEXED_CHARS),
    response_model: clip(firstString(a, RESPONSE_MODEL_KEYS), MAX_INDEXED_CHARS),
    provider: firstString(a, PROVIDER_KEYS),
    session_id: clip(firstString(a, SESSION_KEYS), MAX_INDEXED_CHARS),
    user_id: clip(firstString(a, USER_KEYS), MAX_INDEXED_CHARS),
    tokens_prompt: tokensPrompt,
    tokens_completion: tokensCompletion,
    // A total needs both its parts: prompt tokens alone are not the total.
    tokens_total:
      firstInt(a, ["llm.token_count.total"]) ??
      (tokensPrompt !== null && tokensCompletion !== null ? sumOrNull(tokensPrompt, tokensCompletion, MAX_INT4) : null),
    tokens_cache_read: firstInt(a, CACHE_READ_KEYS),
    tokens_cache_write: firstInt(a, CACHE_WRITE_KEYS),
    tokens_reasoning: firstInt(a, REASONING_KEYS),
    cost_usd: cost,
    cost_source: cost === null ? null : "sent",
    attributes: a,
    resource_hash: origin.resource,
    scope_hash: origin.scope,
    events: span.events,
  };
}

/**
 * Milliseconds between two nanosecond timestamps. The difference is taken in BigInt, so it is exact however large
 * the timestamps are; only the final division rounds (one correctly rounded operation while it fits a double).
 */
export function latencyMs(startNs: bigint, endNs: bigint): number {
  const d = endNs - startNs;
  if (d <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(d) / 1e6;
  return Number(d / 1_000_000n) + Number(d % 1_000_000n) / 1e6;
}

/** ISO 8601 with microseconds (what timestamptz(6) keeps), truncated from nanoseconds. */
export function isoMicros(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  const micros = ((ns / 1000n) % 1000n).toString().padStart(3, "0");
  return `${iso.slice(0, -1)}${micros}Z`;
}

/**
 * The OpenInference kind; else the GenAI operation (compared case-insensitively; an unknown one is OTHER); else
 * only positive evidence of what the call was. A model or token counts alone are none: embeddings, reranks, image
 * and speech calls carry them too.
 */
function spanKind(a: Attributes): string | null {
  const oi = a["openinference.span.kind"];
  if (typeof oi === "string" && oi !== "") return oi.toUpperCase();
  const op = a["gen_ai.operation.name"];
  if (typeof op === "string" && op !== "") return GEN_AI_OPERATION_KINDS.get(op.toLowerCase()) ?? OTHER_KIND;
  const requestType = a["llm.request.type"];
  if (typeof requestType === "string" && requestType !== "")
    return LLM_REQUEST_TYPE_KINDS.get(requestType.toLowerCase()) ?? OTHER_KIND;
  const observation = a["langfuse.observation.type"];
  if (typeof observation === "string") {
    const kind = LANGFUSE_OBSERVATION_KINDS.get(observation.toLowerCase());
    if (kind) return kind;
  }
  const aiOperation = a["ai.operationId"];
  if (typeof aiOperation === "string") {
    const kind = AI_SDK_OPERATION_KINDS.get(aiOperation);
    if (kind) return kind;
  }
  for (const key in a)
    if (MESSAGE_KEYS.includes(key) || MESSAGE_KEY_PREFIXES.some((p) => key.startsWith(p))) return "LLM";
  return null;
}

/** `prompt.id` names our prompt only when `prompt.vendor` is ours or absent (LangSmith and Portkey set it too). */
function firstPromptName(a: Attributes): string | null {
  const vendor = asString(a["prompt.vendor"]);
  if (vendor === null || vendor.trim().toLowerCase() === PROMPTREG_VENDOR) {
    const id = asString(a["prompt.id"]);
    if (id !== null) return id;
  }
  return firstString(a, PROMPT_NAME_KEYS);
}

/** The model asked for: embedding and reranker spans name theirs apart; then the request keys, then the call's parameters. */
function requestModel(a: Attributes, kind: string | null): string | null {
  if (kind === "EMBEDDING") return asString(a["embedding.model_name"]) ?? requestModel(a, null);
  if (kind === "RERANKER") return asString(a["reranker.model_name"]) ?? requestModel(a, null);
  return (
    firstString(a, REQUEST_MODEL_KEYS) ??
    invocationModel(a["llm.invocation_parameters"]) ??
    asString(a["llm.model_name"])
  );
}

/** `model` from `llm.invocation_parameters` (a JSON string: the request body without its messages). */
function invocationModel(value: AttributeValue | undefined): string | null {
  if (typeof value !== "string" || !value.includes('"model"')) return null;
  try {
    const parsed = JSON.parse(value) as unknown;
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? asString((parsed as { model?: AttributeValue }).model)
      : null;
  } catch {
    return null;
  }
}

/**
 * Status ERROR is a failure and status OK is final, as OpenTelemetry defines it (an exception event on an OK span
 * was handled, e.g. retried). Only an UNSET status is judged by `error.type` or an `exception` event.
 */
function failure(span: OtlpSpan): { failed: boolean; errorMessage: string | null } {
  if (span.statusCode === STATUS_OK) return { failed: false, errorMessage: null };
  const exception = span.events.find((e) => e.name === "exception");
  const errorType = asString(span.attributes["error.type"]);
  const failed = span.statusCode === STATUS_ERROR || errorType !== null || exception !== undefined;
  if (!failed) return { failed, errorMessage: null };
  const exceptionMessage = exception ? asString(exception.attributes["exception.message"]) : null;
  return { failed, errorMessage: span.statusMessage || exceptionMessage || errorType };
}

/** The cost the span carries: a total, or both its parts; one part alone is no total and lets the next key answer. */
function sentCost(a: Attributes): number | null {
  const total = asNumber(a["llm.cost.total"]);
  if (total !== null) return total;
  const prompt = asNumber(a["llm.cost.prompt"]);
  const completion = asNumber(a["llm.cost.completion"]);
  if (prompt !== null && completion !== null) return sumOrNull(prompt, completion, Number.MAX_VALUE);
  return asNumber(a["gen_ai.usage.cost"]);
}

function parseLangfusePrompt(value: AttributeValue | undefined): { name: string | null; version: string | null } {
  if (typeof value !== "string" || !value.startsWith("{")) return { name: null, version: null };
  try {
    const parsed = JSON.parse(value) as { name?: unknown; version?: unknown };
    return { name: asString(parsed.name as AttributeValue), version: asString(parsed.version as AttributeValue) };
  } catch {
    return { name: null, version: null };
  }
}

/** Strings as given; numbers (Langfuse's int versions) as their decimal text; anything else does not count. */
function asString(value: AttributeValue | undefined): string | null {
  if (typeof value === "string") return value === "" ? null : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

function asNumber(value: AttributeValue | undefined): number | null {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

function firstString(a: Attributes, keys: string[]): string | null {
  for (const key of keys) {
    const value = asString(a[key]);
    if (value !== null) return value;
  }
  return null;
}

/** Token counts are int4 columns: a negative, fractional or huge value does not count. */
function firstInt(a: Attributes, keys: string[]): number | null {
  for (const key of keys) {
    const n = asNumber(a[key]);
    if (n !== null && Number.isInteger(n) && n >= 0 && n <= MAX_INT4) return n;
  }
  return null;
}

/**
 * The rollout attributes the client sets (tracing.ts). Only a whole set counts: a span in a rollout must say which
 * arm and step, or the guard could not place it; an id no rollout can have (too long) is not one.
 */
function rolloutOf(a: Attributes): Pick<SpanRow, "rollout_id" | "rollout_arm" | "rollout_step"> {
  const id = firstString(a, ["promptreg.rollout.id"]);
  const arm = firstString(a, ["promptreg.rollout.arm"]);
  const step = firstInt(a, ["promptreg.rollout.step"]);
  if (id === null || id.length > 64 || (arm !== "baseline" && arm !== "candidate") || step === null || step > 32_767)
    return { rollout_id: null, rollout_arm: null, rollout_step: null };
  return { rollout_id: id, rollout_arm: arm, rollout_step: step };
}

function sumOrNull(x: number, y: number, max: number): number | null {
  const sum = x + y;
  return Math.abs(sum) <= max ? sum : null;
}

function clip(s: string | null, max: number): string | null {
  return s === null ? s : clipText(s, max, MAX_INDEXED_BYTES);
}
