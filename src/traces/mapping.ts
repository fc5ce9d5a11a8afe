// From an OTLP span to the stored row, following the mapping table of the design note openinference-otlp.md (§6):
// for each field the first attribute present wins. OpenInference keys come first (our client sets them), then the
// OTel GenAI conventions, then Langfuse's keys. The prompt link itself (prompt_id, version_id, link_status) is
// resolved in SQL at insert time against the key's project, see ingest.service.ts.
import type { AttributeValue, Attributes, OtlpSpan } from "./otlp.js";

/** One `spans` row without the project and link columns; keys are the SQL column names. */
export interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  otel_kind: number;
  span_kind: string | null;
  start_time: string;
  start_time_unix_nano: string;
  end_time_unix_nano: string;
  latency_ms: number;
  status_code: number;
  failed: boolean;
  error_message: string | null;
  prompt_name: string | null;
  prompt_version: string | null;
  label: string | null;
  source: string | null;
  model: string | null;
  provider: string | null;
  session_id: string | null;
  user_id: string | null;
  tokens_prompt: number | null;
  tokens_completion: number | null;
  tokens_total: number | null;
  cost_usd: number | null;
  attributes: Attributes;
  resource_attributes: Attributes;
  events: OtlpSpan["events"];
}

const PROMPT_NAME_KEYS = ["prompt.id", "gen_ai.prompt.name", "langfuse.observation.prompt.name", "langfuse.prompt.name"];
// Langfuse sends versions as ints; they are kept as the string given and link only to that exact version string.
const PROMPT_VERSION_KEYS = ["llm.prompt_template.version", "langfuse.observation.prompt.version", "langfuse.prompt.version"];
// The Vercel AI SDK's way of passing a Langfuse prompt: one JSON string {name, version}.
const LANGFUSE_PROMPT_JSON = "ai.telemetry.metadata.langfusePrompt";
const MODEL_KEYS = ["llm.response.model_name", "llm.model_name", "gen_ai.response.model", "gen_ai.request.model", "llm.request.model_name"];
const PROVIDER_KEYS = ["llm.provider", "gen_ai.provider.name", "llm.system", "gen_ai.system"];
const SESSION_KEYS = ["session.id", "gen_ai.conversation.id", "langfuse.session.id"];
const USER_KEYS = ["user.id", "langfuse.user.id"];
const PROMPT_TOKEN_KEYS = ["llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"];
const COMPLETION_TOKEN_KEYS = ["llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"];

const GEN_AI_OPERATION_KINDS: Record<string, string> = {
  chat: "LLM",
  text_completion: "LLM",
  generate_content: "LLM",
  embeddings: "EMBEDDING",
  retrieval: "RETRIEVER",
  execute_tool: "TOOL",
  create_agent: "AGENT",
  invoke_agent: "AGENT",
  invoke_workflow: "CHAIN",
};

const STATUS_ERROR = 2;
const MAX_INT4 = 2 ** 31 - 1;
// session_id and user_id are indexed, and a btree entry must stay under ~2.7 kB; the full value stays in attributes.
const MAX_INDEXED_CHARS = 512;

export function toSpanRow(span: OtlpSpan): SpanRow {
  const a = span.attributes;
  const langfusePrompt = parseLangfusePrompt(a[LANGFUSE_PROMPT_JSON]);
  const tokensPrompt = firstInt(a, PROMPT_TOKEN_KEYS);
  const tokensCompletion = firstInt(a, COMPLETION_TOKEN_KEYS);
  const { failed, errorMessage } = failure(span);
  return {
    trace_id: span.traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    name: span.name,
    otel_kind: span.kind,
    span_kind: spanKind(a),
    start_time: isoMicros(span.startTimeUnixNano),
    start_time_unix_nano: span.startTimeUnixNano.toString(),
    end_time_unix_nano: span.endTimeUnixNano.toString(),
    latency_ms: latencyMs(span.startTimeUnixNano, span.endTimeUnixNano),
    status_code: span.statusCode,
    failed,
    error_message: errorMessage,
    prompt_name: firstString(a, PROMPT_NAME_KEYS) ?? langfusePrompt.name,
    prompt_version: firstString(a, PROMPT_VERSION_KEYS) ?? langfusePrompt.version,
    label: firstString(a, ["promptreg.prompt.label"]),
    source: firstString(a, ["promptreg.prompt.source"]),
    model: firstString(a, MODEL_KEYS),
    provider: firstString(a, PROVIDER_KEYS),
    session_id: clip(firstString(a, SESSION_KEYS), MAX_INDEXED_CHARS),
    user_id: clip(firstString(a, USER_KEYS), MAX_INDEXED_CHARS),
    tokens_prompt: tokensPrompt,
    tokens_completion: tokensCompletion,
    tokens_total: firstInt(a, ["llm.token_count.total"]) ?? sumOrNull(tokensPrompt, tokensCompletion, MAX_INT4),
    cost_usd: cost(a),
    attributes: a,
    resource_attributes: span.resourceAttributes,
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

function spanKind(a: Attributes): string | null {
  const oi = a["openinference.span.kind"];
  if (typeof oi === "string" && oi !== "") return oi.toUpperCase();
  const op = a["gen_ai.operation.name"];
  return typeof op === "string" ? (GEN_AI_OPERATION_KINDS[op] ?? null) : null;
}

function failure(span: OtlpSpan): { failed: boolean; errorMessage: string | null } {
  const exception = span.events.find((e) => e.name === "exception");
  const errorType = asString(span.attributes["error.type"]);
  const failed = span.statusCode === STATUS_ERROR || errorType !== null || exception !== undefined;
  if (!failed) return { failed, errorMessage: null };
  const exceptionMessage = exception ? asString(exception.attributes["exception.message"]) : null;
  return { failed, errorMessage: span.statusMessage || exceptionMessage || errorType };
}

function cost(a: Attributes): number | null {
  const total = asNumber(a["llm.cost.total"]);
  if (total !== null) return total;
  const parts = sumOrNull(asNumber(a["llm.cost.prompt"]), asNumber(a["llm.cost.completion"]), Number.MAX_VALUE);
  return parts ?? asNumber(a["gen_ai.usage.cost"]);
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

function sumOrNull(x: number | null, y: number | null, max: number): number | null {
  if (x === null && y === null) return null;
  const sum = (x ?? 0) + (y ?? 0);
  return sum <= max ? sum : null;
}

function clip(s: string | null, max: number): string | null {
  if (s === null || s.length <= max) return s;
  const cut = s.slice(0, max);
  // Never end on half of a surrogate pair: PostgreSQL would reject the string.
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}
