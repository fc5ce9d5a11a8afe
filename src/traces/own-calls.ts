// The service's own model calls (an LLM judge's, the playground's) stored as spans, with the attributes the
// OpenInference instrumentation of an application would have set, so that they read in Traces like any call and link
// to the prompt version they rendered. They are stored through an ingest of their own, which queues no evaluation.
import { randomBytes } from "node:crypto";
import type { ChatAnswer, ChatMessage } from "../connections/chat.js";
import type { Attributes, DecodedRequest, OtlpSpan } from "./otlp.js";

/** One call the service made through a connection, answered or not. */
export interface OwnCall {
  startedAt: number;
  endedAt: number;
  /** The prompt version the messages were rendered from. */
  prompt: { name: string; version: string };
  connection: { name: string; model: string };
  messages: ChatMessage[];
  answer: ChatAnswer | null;
  error: string | null;
}

export const newTraceId = () => randomBytes(16).toString("hex");
export const newSpanId = () => randomBytes(8).toString("hex");

const nanos = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;

/** A span of `c`'s time and outcome. */
export function ownCallSpan(
  c: Pick<OwnCall, "startedAt" | "endedAt" | "error">,
  span: { traceId: string; spanId: string; parentSpanId: string | null; name: string; attributes: Attributes },
): OtlpSpan {
  return {
    ...span,
    kind: 1,
    startTimeUnixNano: nanos(c.startedAt),
    endTimeUnixNano: nanos(Math.max(c.endedAt, c.startedAt)),
    statusCode: c.error === null ? 1 : 2,
    statusMessage: c.error ?? "",
    resource: 0,
    scope: 0,
    events: [],
  };
}

/** The LLM span's attributes, as OpenInference names them; `prompt.vendor` promptreg links it to the version. */
export function llmCallAttributes(c: OwnCall): Attributes {
  const usage = c.answer?.usage;
  return {
    "openinference.span.kind": "LLM",
    "prompt.vendor": "promptreg",
    "prompt.id": c.prompt.name,
    "llm.prompt_template.version": c.prompt.version,
    "llm.request.model_name": c.connection.model,
    ...(c.answer?.model ? { "llm.response.model_name": c.answer.model } : {}),
    ...(usage?.promptTokens != null ? { "llm.token_count.prompt": usage.promptTokens } : {}),
    ...(usage?.completionTokens != null ? { "llm.token_count.completion": usage.completionTokens } : {}),
    ...Object.fromEntries(
      c.messages.flatMap((m, i) => [
        [`llm.input_messages.${i}.message.role`, m.role],
        [`llm.input_messages.${i}.message.content`, m.content],
      ]),
    ),
    ...(c.answer ? { "output.value": c.answer.text } : {}),
    "promptreg.connection": c.connection.name,
  };
}

/** The request an ingest stores `spans` from: one resource (`service`), one scope. */
export function ownCallsRequest(service: string, scope: string, spans: OtlpSpan[]): DecodedRequest {
  return {
    resources: [{ "service.name": service }],
    scopes: [{ name: scope, version: "1", attributes: {} }],
    spans,
    rejected: 0,
    reasons: [],
  };
}
