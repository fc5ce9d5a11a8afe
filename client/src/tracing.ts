// Links an application's LLM spans to the prompt version that produced them, with OpenInference attribute names so
// that the registry (and Phoenix/Langfuse-style backends) can join spans to versions. Only `@opentelemetry/api` is
// used: the SDK belongs to the application, which may run a different version of it.
import { context, trace, type Attributes, type AttributeValue, type Context, type Span } from "@opentelemetry/api";
import {
  clearPromptTemplate,
  getAttributes,
  getAttributesFromContext,
  setAttributes,
  setPromptTemplate,
  setSession,
  setUser,
} from "@arizeai/openinference-core";
import { OpenInferenceSpanKind, SemanticConventions } from "@arizeai/openinference-semantic-conventions";
import type { Template } from "./contract.js";
import { PROMPT_VENDOR, type PromptLink } from "./types.js";

export const ATTR_PROMPTREG_LABEL = "promptreg.prompt.label";
export const ATTR_PROMPTREG_SOURCE = "promptreg.prompt.source";

// Not in the OpenInference package; the GenAI semconv package is not a dependency of the client.
const ATTR_GEN_AI_OPERATION_NAME = "gen_ai.operation.name";
const GEN_AI_LLM_OPERATIONS: readonly string[] = ["chat", "text_completion", "generate_content"];

const S = SemanticConventions;

// Keys that describe the prompt, not the caller: a nested withPrompt must drop an outer prompt's values for them even
// when the inner link has none (e.g. no label), or the span would mix two prompts.
const PROMPT_KEY_PREFIXES = ["prompt.", "promptreg.", "llm.prompt_template."];
const isPromptKey = (key: string) => PROMPT_KEY_PREFIXES.some((prefix) => key.startsWith(prefix));

/** The subset of the SDK's `SpanProcessor` that the client implements, so the client needs no SDK import. */
export interface SpanProcessorLike {
  onStart(span: Span, parentContext: Context): void;
  onEnd(): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export type TagSpanOptions = { span?: Span; force?: boolean };

/** The attributes that link a span to `link`'s prompt version. */
export function promptSpanAttributes(link: PromptLink): Attributes {
  const attributes: Attributes = {
    [S.PROMPT_VENDOR]: PROMPT_VENDOR,
    [S.PROMPT_ID]: link.name,
    [S.PROMPT_TEMPLATE_TEMPLATE]: templateText(link.template),
    [S.PROMPT_TEMPLATE_VERSION]: link.version,
    [ATTR_PROMPTREG_SOURCE]: link.source,
  };
  const optional: Record<string, AttributeValue | undefined> = {
    [S.PROMPT_URL]: link.url,
    [S.PROMPT_TEMPLATE_VARIABLES]: link.variables === undefined ? undefined : safeJson(link.variables),
    [ATTR_PROMPTREG_LABEL]: link.label,
    [S.SESSION_ID]: link.sessionId,
    [S.USER_ID]: link.userId,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) attributes[key] = value;
  return attributes;
}

/**
 * Tags `options.span` (default: the active span) when it is an LLM span, or any recording span with `force`.
 * Returns whether it tagged. Useful when the LLM span is created by the application itself.
 */
export function tagSpan(link: PromptLink, options: TagSpanOptions = {}): boolean {
  const span = options.span ?? trace.getActiveSpan();
  if (!span?.isRecording()) return false;
  if (!options.force && !isLlmSpan(span)) return false;
  span.setAttributes(promptSpanAttributes(link));
  return true;
}

/**
 * Runs `fn` in a context carrying the prompt's attributes: spans started inside it by an OpenInference instrumentation
 * get them, and so do other spans when `createPromptSpanProcessor()` is registered. The context must be active when
 * the SDK call starts, which is why this wraps the call instead of tagging afterwards.
 */
export function withPrompt<T>(link: PromptLink, fn: () => T): T {
  return context.with(promptContext(context.active(), link), fn);
}

/**
 * A span processor for the application's TracerProvider that copies what `withPrompt` put in the context onto spans
 * that OpenInference instrumentations do not create (GenAI-convention instrumentations, plain tracers).
 */
export function createPromptSpanProcessor(): SpanProcessorLike {
  return {
    onStart(span, parentContext) {
      if (!span.isRecording()) return;
      const fromContext = getAttributesFromContext(parentContext);
      // Without our vendor marker the context was not set by withPrompt, and its keys are someone else's business.
      if (fromContext[S.PROMPT_VENDOR] !== PROMPT_VENDOR) return;
      const own = readAttributes(span) ?? {};
      const copied: Attributes = {};
      for (const [key, value] of Object.entries(fromContext)) {
        const ours = isPromptKey(key) || key === S.SESSION_ID || key === S.USER_ID;
        if (ours && value !== undefined && own[key] === undefined) copied[key] = value;
      }
      span.setAttributes(copied);
    },
    onEnd() {},
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

function promptContext(parent: Context, link: PromptLink): Context {
  const attributes = promptSpanAttributes(link);
  // The bag is one JSON value that replaces any earlier one and is spread last by getAttributesFromContext, so keep
  // the caller's keys but not keys we set through the named setters (their stale copy in the bag would win).
  const bag: Attributes = {};
  for (const [key, value] of Object.entries(getAttributes(parent) ?? {})) {
    const replaced = isPromptKey(key) || (key === S.SESSION_ID && link.sessionId !== undefined) ||
      (key === S.USER_ID && link.userId !== undefined);
    if (!replaced) bag[key] = value;
  }
  for (const key of [S.PROMPT_ID, S.PROMPT_VENDOR, S.PROMPT_URL, ATTR_PROMPTREG_LABEL, ATTR_PROMPTREG_SOURCE]) {
    if (attributes[key] !== undefined) bag[key] = attributes[key];
  }
  // Cleared first because setPromptTemplate leaves an outer prompt's variables in place when the link has none.
  let ctx = setPromptTemplate(clearPromptTemplate(parent), {
    template: templateText(link.template),
    variables: link.variables,
    version: link.version,
  });
  ctx = setAttributes(ctx, bag);
  if (link.sessionId !== undefined) ctx = setSession(ctx, { sessionId: link.sessionId });
  if (link.userId !== undefined) ctx = setUser(ctx, { userId: link.userId });
  return ctx;
}

function isLlmSpan(span: Span): boolean {
  const attributes = readAttributes(span);
  if (!attributes) return false;
  if (attributes[S.OPENINFERENCE_SPAN_KIND] === OpenInferenceSpanKind.LLM) return true;
  const operation = attributes[ATTR_GEN_AI_OPERATION_NAME];
  return typeof operation === "string" && GEN_AI_LLM_OPERATIONS.includes(operation);
}

// The API's Span hides attributes; SDK spans (ReadableSpan) expose them, other implementations may not.
function readAttributes(span: Span): Attributes | undefined {
  const attributes = (span as { attributes?: unknown }).attributes;
  return typeof attributes === "object" && attributes !== null ? (attributes as Attributes) : undefined;
}

function templateText(template: Template): string {
  return typeof template === "string" ? template : JSON.stringify(template);
}

// Tracing must never break the application's call, e.g. on a BigInt or a cycle among the variables.
function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
