// Links an application's LLM spans to the prompt version that produced them, with OpenInference attribute names so
// that the registry (and Phoenix/Langfuse-style backends) can join spans to versions. Only `@opentelemetry/api` is
// used: the SDK belongs to the application, which may run a different version of it.
import {
  context,
  createContextKey,
  diag,
  SpanStatusCode,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
} from "@opentelemetry/api";
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
/** On the spans of a call in a guarded rollout: the rollout's id, the arm (`baseline` | `candidate`) and the step. */
export const ATTR_PROMPTREG_ROLLOUT_ID = "promptreg.rollout.id";
export const ATTR_PROMPTREG_ROLLOUT_ARM = "promptreg.rollout.arm";
export const ATTR_PROMPTREG_ROLLOUT_STEP = "promptreg.rollout.step";
/** On the spans of a client run's task (runExperiment): the experiment, the run (its id) and the dataset item. */
export const ATTR_PROMPTREG_EXPERIMENT_ID = "promptreg.experiment.id";
export const ATTR_PROMPTREG_EXPERIMENT_RUN = "promptreg.experiment.run";
export const ATTR_PROMPTREG_DATASET_ITEM = "promptreg.dataset.item";

// Not in the OpenInference package; the semconv packages are not dependencies of the client.
const ATTR_GEN_AI_OPERATION_NAME = "gen_ai.operation.name";
const ATTR_ERROR_TYPE = "error.type";
const GEN_AI_LLM_OPERATIONS: readonly string[] = ["chat", "text_completion", "generate_content"];

// Keys that describe the prompt, not the caller: a nested withPrompt must drop an outer prompt's values for them even
// when the inner link has none (e.g. no label), or the span would mix two prompts.
const PROMPT_KEY_PREFIXES = ["prompt.", "promptreg.", "llm.prompt_template."];
// Ours, but about the call rather than the prompt: an experiment's tags stay on the spans of every prompt its task uses.
const CALLER_KEY_PREFIXES = ["promptreg.experiment.", "promptreg.dataset."];
const isCallerKey = (key: string) => CALLER_KEY_PREFIXES.some((prefix) => key.startsWith(prefix));
const isPromptKey = (key: string) => !isCallerKey(key) && PROMPT_KEY_PREFIXES.some((prefix) => key.startsWith(prefix));

/** The subset of the SDK's `SpanProcessor` that the client implements, so the client needs no SDK import. */
export interface SpanProcessorLike {
  onStart(span: Span, parentContext: Context): void;
  /** Takes the SDK's `ReadableSpan`, the same object that `onStart` got. */
  onEnd(span: object): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export type TagSpanOptions = { span?: Span; force?: boolean };

/** The attributes that link a span to `link`'s prompt version. */
export function promptSpanAttributes(link: PromptLink): Attributes {
  const attributes: Attributes = {
    [SemanticConventions.PROMPT_VENDOR]: PROMPT_VENDOR,
    [SemanticConventions.PROMPT_ID]: link.name,
    [SemanticConventions.PROMPT_TEMPLATE_TEMPLATE]: templateText(link.template),
    [SemanticConventions.PROMPT_TEMPLATE_VERSION]: link.version,
    [ATTR_PROMPTREG_SOURCE]: link.source,
  };
  const optional: Record<string, AttributeValue | undefined> = {
    [SemanticConventions.PROMPT_URL]: link.url,
    [SemanticConventions.PROMPT_TEMPLATE_VARIABLES]:
      link.variables === undefined ? undefined : safeJson(link.variables),
    [ATTR_PROMPTREG_LABEL]: link.label,
    [SemanticConventions.SESSION_ID]: link.sessionId,
    [SemanticConventions.USER_ID]: link.userId,
    [ATTR_PROMPTREG_ROLLOUT_ID]: link.rollout?.id,
    [ATTR_PROMPTREG_ROLLOUT_ARM]: link.rollout?.arm,
    [ATTR_PROMPTREG_ROLLOUT_STEP]: link.rollout?.step,
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
 *
 * When `fn` throws or its promise rejects, the LLM spans started inside it that are still open are ended as failed
 * (status ERROR, an `exception` event, `error.type`), because some instrumentations end their span only on success
 * and a span never ended is never exported. That needs `createPromptSpanProcessor()` on the TracerProvider: it is what
 * sees the spans start. Make `fn` the whole call, reading a stream included: once `fn` has returned, a stream that
 * fails later cannot be recorded. And make it one call: an LLM span still open when `fn` fails is ended as failed,
 * even one of a parallel call that was still running.
 *
 * Returns what `fn` returns, the same object (an openai `APIPromise` keeps its methods); its error reaches the caller
 * unchanged.
 */
export function withPrompt<T>(link: PromptLink, fn: () => T): T {
  const call = new TracedCall();
  const ctx = promptContext(context.active(), link).setValue(TRACED_CALL, call);
  let result: T;
  try {
    result = context.with(ctx, fn);
  } catch (error) {
    call.fail(error);
    throw error;
  }
  if (!isThenable(result)) {
    call.finish();
    return result;
  }
  try {
    // A side branch instead of a wrapper, so the caller keeps fn's own promise object. Its callbacks were registered
    // before the caller's, so the spans are ended by the time the caller's `await` sees the error.
    result.then(
      () => call.finish(),
      (error: unknown) => call.fail(error),
    );
  } catch {
    call.finish();
  }
  return result;
}

/**
 * Runs `fn` in a context whose spans also carry `attributes` (keys `promptreg.experiment.*` and `promptreg.dataset.*`,
 * which a `withPrompt` inside keeps): spans of OpenInference instrumentations get them, other spans under a
 * `withPrompt` do with `createPromptSpanProcessor()`.
 */
export function withCallAttributes<T>(attributes: Attributes, fn: () => T): T {
  const parent = context.active();
  return context.with(setAttributes(parent, { ...(getAttributes(parent) ?? {}), ...attributes }), fn);
}

/**
 * A span processor for the application's TracerProvider. It copies what `withPrompt` put in the context onto spans
 * that OpenInference instrumentations do not create (GenAI-convention instrumentations, plain tracers), and it lets
 * `withPrompt` end the LLM spans that a failed call left open.
 */
export function createPromptSpanProcessor(): SpanProcessorLike {
  // onEnd gets no context, so this says which call an open span belongs to; weak, so it keeps no span alive.
  const callOf = new WeakMap<object, TracedCall>();
  return {
    onStart(span, parentContext) {
      if (!span.isRecording()) return;
      const call = parentContext.getValue(TRACED_CALL);
      if (call instanceof TracedCall && call.add(span)) callOf.set(span, call);
      const fromContext = getAttributesFromContext(parentContext);
      // Without our vendor marker the context was not set by withPrompt, and its keys are someone else's business.
      if (fromContext[SemanticConventions.PROMPT_VENDOR] !== PROMPT_VENDOR) return;
      const own = readAttributes(span) ?? {};
      const copied: Attributes = {};
      for (const [key, value] of Object.entries(fromContext)) {
        const ours =
          isPromptKey(key) ||
          isCallerKey(key) ||
          key === SemanticConventions.SESSION_ID ||
          key === SemanticConventions.USER_ID;
        if (ours && value !== undefined && own[key] === undefined) copied[key] = value;
      }
      span.setAttributes(copied);
    },
    onEnd(span) {
      callOf.get(span)?.remove(span);
      callOf.delete(span);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

const TRACED_CALL = createContextKey("promptreg traced call");

/**
 * One `withPrompt` call: the spans started inside it that have not ended yet. It lives as long as the call; once
 * `fn` has settled it forgets its spans and takes no new ones, even if a context holding it outlives the call.
 */
class TracedCall {
  readonly #open = new Set<Span>();
  #settled = false;

  add(span: Span): boolean {
    if (this.#settled) return false;
    this.#open.add(span);
    return true;
  }

  remove(span: object): void {
    this.#open.delete(span as Span);
  }

  /** fn succeeded: a span still open (a stream still being read) is its instrumentation's to end. */
  finish(): void {
    this.#settled = true;
    this.#open.clear();
  }

  fail(error: unknown): void {
    this.#settled = true;
    const open = [...this.#open];
    this.#open.clear();
    // Only the spans of LLM instrumentations: those are the ones known to stay open on failure, and a span of the
    // application's own code is the application's to end. isRecording() is false for a span already ended, so a
    // span the instrumentation did end is never ended twice.
    for (const span of open) {
      if (!span.isRecording() || !isModelCallSpan(span)) continue;
      try {
        endAsFailed(span, error);
      } catch (e) {
        // Tracing must never break the application's call, nor turn its error into an unhandled rejection.
        diag.error("promptreg: could not end a failed LLM span", e);
      }
    }
  }
}

function endAsFailed(span: Span, error: unknown): void {
  span.setAttribute(ATTR_ERROR_TYPE, errorType(error));
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}

// `error.type` is a low-cardinality class of failure. openai's errors all keep the name "Error"; their class is what
// tells a 429 (RateLimitError) from a 500 (InternalServerError) or a timeout (APIConnectionTimeoutError).
function errorType(error: unknown): string {
  if (!(error instanceof Error)) return "_OTHER";
  if (error.name && error.name !== "Error") return error.name;
  const className = (error.constructor as { name?: unknown } | undefined)?.name;
  return typeof className === "string" && className !== "" ? className : "Error";
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function promptContext(parent: Context, link: PromptLink): Context {
  const attributes = promptSpanAttributes(link);
  // The bag is one JSON value that replaces any earlier one and is spread last by getAttributesFromContext, so keep
  // the caller's keys but not keys we set through the named setters (their stale copy in the bag would win).
  const bag: Attributes = {};
  for (const [key, value] of Object.entries(getAttributes(parent) ?? {})) {
    const replaced =
      isPromptKey(key) ||
      (key === SemanticConventions.SESSION_ID && link.sessionId !== undefined) ||
      (key === SemanticConventions.USER_ID && link.userId !== undefined);
    if (!replaced) bag[key] = value;
  }
  const linkKeys = [
    SemanticConventions.PROMPT_ID,
    SemanticConventions.PROMPT_VENDOR,
    SemanticConventions.PROMPT_URL,
    ATTR_PROMPTREG_LABEL,
    ATTR_PROMPTREG_SOURCE,
    ATTR_PROMPTREG_ROLLOUT_ID,
    ATTR_PROMPTREG_ROLLOUT_ARM,
    ATTR_PROMPTREG_ROLLOUT_STEP,
  ];
  for (const key of linkKeys) {
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

// A span made by an LLM instrumentation: OpenInference (any kind; the OpenAI one leaves its embedding spans open too)
// or GenAI conventions. Read when the call fails, not at start: OpenInference sets the kind after starting the span.
function isModelCallSpan(span: Span): boolean {
  const attributes = readAttributes(span);
  if (!attributes) return false;
  return (
    attributes[SemanticConventions.OPENINFERENCE_SPAN_KIND] !== undefined ||
    attributes[ATTR_GEN_AI_OPERATION_NAME] !== undefined
  );
}

function isLlmSpan(span: Span): boolean {
  const attributes = readAttributes(span);
  if (!attributes) return false;
  if (attributes[SemanticConventions.OPENINFERENCE_SPAN_KIND] === OpenInferenceSpanKind.LLM) return true;
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
