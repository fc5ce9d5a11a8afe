// Real SDK, real `openai` client, real OpenInference instrumentation; only the OpenAI server is a local fake.
import { EventEmitter, once } from "node:events";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { context, diag, DiagLogLevel, SpanStatusCode, trace, type Attributes } from "@opentelemetry/api";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { getAttributesFromContext, setAttributes } from "@arizeai/openinference-core";
import OpenAI from "openai";
import { createPromptSpanProcessor, promptSpanAttributes, tagSpan, withPrompt } from "../src/tracing.js";
import type { PromptLink } from "../src/types.js";
import { startTracedOpenAI, type FakeOpenAI, type TracedOpenAI } from "../../test/helpers/fake-openai.js";

const chatLink: PromptLink = {
  name: "support/triage",
  version: "1.2.0",
  template: [
    { role: "system", content: "Be {{tone}}." },
    { type: "placeholder", name: "history" },
  ],
  variables: { tone: "terse", limit: 3 },
  label: "production",
  source: "network",
  url: "http://registry.test/prompts/support/triage/versions/1.2.0",
  sessionId: "sess-1",
  userId: "user-1",
};

const fallbackLink: PromptLink = {
  name: "support/triage",
  version: "fallback",
  template: "Answer: {{question}}",
  source: "fallback",
};

const PROMPT_KEYS = [
  "prompt.id",
  "prompt.vendor",
  "prompt.url",
  "llm.prompt_template.template",
  "llm.prompt_template.version",
  "llm.prompt_template.variables",
  "promptreg.prompt.label",
  "promptreg.prompt.source",
  "session.id",
  "user.id",
];

const LLM_SPAN = "OpenAI Chat Completions";

let traced: TracedOpenAI;
let fake: FakeOpenAI;
let client: OpenAI;
const exporter = new InMemorySpanExporter();
// Every span end, in order, so that a test can wait for a span that ends after the call returned.
const ended: ReadableSpan[] = [];
const endEvents = new EventEmitter();
const endWatcher: SpanProcessor = {
  onStart() {},
  onEnd(span) {
    ended.push(span);
    endEvents.emit("end");
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const provider = new NodeTracerProvider({
  spanProcessors: [createPromptSpanProcessor(), endWatcher, new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer("tracing-test");
// The SDK reports a second end() of a span here ("You can only call end() on a span once"): none may happen.
const diagErrors: string[] = [];

beforeAll(async () => {
  diag.setLogger(
    { error: (message) => diagErrors.push(message), warn() {}, info() {}, debug() {}, verbose() {} },
    DiagLogLevel.ERROR,
  );
  traced = await startTracedOpenAI(provider);
  fake = traced.fake;
  client = traced.openai;
});

afterAll(async () => {
  await traced?.close();
  diag.disable();
});

beforeEach(() => {
  exporter.reset();
  ended.length = 0;
  diagErrors.length = 0;
});

afterEach(() => {
  fake.destroyHeld();
  expect(diagErrors).toEqual([]);
});

async function chat(ask = "hi"): Promise<string | null> {
  const completion = await client.chat.completions.create({
    model: "gpt-test",
    messages: [{ role: "user", content: ask }],
  });
  return completion.choices[0]?.message.content ?? null;
}

async function finished(name: string): Promise<ReadableSpan[]> {
  await provider.forceFlush();
  return exporter.getFinishedSpans().filter((span) => span.name === name);
}

async function onlySpan(name: string): Promise<ReadableSpan> {
  const spans = await finished(name);
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

function promptKeysOf(attributes: Attributes): string[] {
  return PROMPT_KEYS.filter((key) => key in attributes);
}

describe("promptSpanAttributes", () => {
  it("maps every field of a chat link, the template as JSON", () => {
    expect(promptSpanAttributes(chatLink)).toEqual({
      "prompt.vendor": "promptreg",
      "prompt.id": "support/triage",
      "prompt.url": "http://registry.test/prompts/support/triage/versions/1.2.0",
      "llm.prompt_template.template": JSON.stringify(chatLink.template),
      "llm.prompt_template.version": "1.2.0",
      "llm.prompt_template.variables": JSON.stringify({ tone: "terse", limit: 3 }),
      "promptreg.prompt.label": "production",
      "promptreg.prompt.source": "network",
      "session.id": "sess-1",
      "user.id": "user-1",
    });
  });

  it("omits what a fallback link does not have", () => {
    expect(promptSpanAttributes(fallbackLink)).toEqual({
      "prompt.vendor": "promptreg",
      "prompt.id": "support/triage",
      "llm.prompt_template.template": "Answer: {{question}}",
      "llm.prompt_template.version": "fallback",
      "promptreg.prompt.source": "fallback",
    });
  });

  it("drops variables that cannot be serialised instead of throwing", () => {
    const attributes = promptSpanAttributes({ ...fallbackLink, variables: { n: 1n } });
    expect(attributes).not.toHaveProperty("llm.prompt_template.variables");
  });
});

describe("withPrompt with the OpenAI instrumentation", () => {
  it("links the instrumented LLM span to the prompt version", async () => {
    const before = fake.requests();
    const content = await withPrompt(chatLink, () => chat());
    expect(content).toBe("hello");
    expect(fake.requests()).toBe(before + 1);

    const span = await onlySpan("OpenAI Chat Completions");
    const a = span.attributes;
    // It is the instrumentation's span, finished with the server's answer.
    expect(a["openinference.span.kind"]).toBe("LLM");
    expect(a["llm.token_count.total"]).toBe(13);
    expect(a["prompt.id"]).toBe("support/triage");
    expect(a["prompt.vendor"]).toBe("promptreg");
    expect(a["prompt.url"]).toBe(chatLink.url);
    expect(a["llm.prompt_template.version"]).toBe("1.2.0");
    expect(JSON.parse(a["llm.prompt_template.template"] as string)).toEqual(chatLink.template);
    expect(JSON.parse(a["llm.prompt_template.variables"] as string)).toEqual({ tone: "terse", limit: 3 });
    expect(a["promptreg.prompt.label"]).toBe("production");
    expect(a["promptreg.prompt.source"]).toBe("network");
    expect(a["session.id"]).toBe("sess-1");
    expect(a["user.id"]).toBe("user-1");
  });

  it("does not link a call made outside withPrompt, even right after one", async () => {
    await withPrompt(chatLink, () => chat());
    await chat();

    const spans = await finished("OpenAI Chat Completions");
    expect(spans).toHaveLength(2);
    expect(spans[0]!.attributes["prompt.id"]).toBe("support/triage");
    expect(promptKeysOf(spans[1]!.attributes)).toEqual([]);
  });

  it("links a fallback prompt, with its source", async () => {
    await withPrompt(fallbackLink, () => chat());

    const a = (await onlySpan("OpenAI Chat Completions")).attributes;
    expect(a["prompt.id"]).toBe("support/triage");
    expect(a["llm.prompt_template.version"]).toBe("fallback");
    expect(a["llm.prompt_template.template"]).toBe("Answer: {{question}}");
    expect(a["promptreg.prompt.source"]).toBe("fallback");
    expect(a["promptreg.prompt.label"]).toBeUndefined();
  });

  it("keeps the caller's own context attributes", async () => {
    const callerContext = setAttributes(context.active(), { "app.feature": "triage", "app.tier": 2 });
    await context.with(callerContext, () => withPrompt(chatLink, () => chat()));

    const a = (await onlySpan("OpenAI Chat Completions")).attributes;
    expect(a["app.feature"]).toBe("triage");
    expect(a["app.tier"]).toBe(2);
    expect(a["prompt.id"]).toBe("support/triage");
    expect(a["llm.prompt_template.version"]).toBe("1.2.0");
  });

  it("a nested withPrompt replaces the outer prompt instead of mixing the two", async () => {
    const inner: PromptLink = { ...fallbackLink, name: "support/inner" };
    await withPrompt(chatLink, () => withPrompt(inner, () => chat()));

    const a = (await onlySpan("OpenAI Chat Completions")).attributes;
    expect(a["prompt.id"]).toBe("support/inner");
    expect(a["llm.prompt_template.version"]).toBe("fallback");
    expect(a["promptreg.prompt.source"]).toBe("fallback");
    expect(a["prompt.url"]).toBeUndefined();
    expect(a["promptreg.prompt.label"]).toBeUndefined();
    expect(a["llm.prompt_template.variables"]).toBeUndefined();
    // Session and user are not the prompt's: the inner link has none, so the outer ones carry on.
    expect(a["session.id"]).toBe("sess-1");
  });

  it("returns fn's value: a plain value synchronously, a promise as a promise", async () => {
    const seen = withPrompt(fallbackLink, () => getAttributesFromContext(context.active())["prompt.id"]);
    expect(seen).toBe("support/triage");
    expect(getAttributesFromContext(context.active())).toEqual({});

    const pending = withPrompt(fallbackLink, async () => 42);
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).resolves.toBe(42);
  });
});

describe("tagSpan", () => {
  it("tags the active span when it is an OpenInference LLM span", async () => {
    const tagged = tracer.startActiveSpan(
      "manual llm",
      { attributes: { "openinference.span.kind": "LLM" } },
      (span) => {
        const result = tagSpan(chatLink);
        span.end();
        return result;
      },
    );
    expect(tagged).toBe(true);

    const a = (await onlySpan("manual llm")).attributes;
    expect(a).toMatchObject(promptSpanAttributes(chatLink));
  });

  it("tags a GenAI chat span passed explicitly", async () => {
    const span = tracer.startSpan("chat gpt-test", { attributes: { "gen_ai.operation.name": "chat" } });
    expect(tagSpan(fallbackLink, { span })).toBe(true);
    span.end();

    const a = (await onlySpan("chat gpt-test")).attributes;
    expect(a["prompt.id"]).toBe("support/triage");
    expect(a["promptreg.prompt.source"]).toBe("fallback");
  });

  it("leaves a non-LLM span alone unless forced", async () => {
    const results = tracer.startActiveSpan(
      "handler",
      { attributes: { "gen_ai.operation.name": "embeddings" } },
      (span) => {
        const plain = tagSpan(chatLink);
        span.end();
        return plain;
      },
    );
    const forced = tracer.startActiveSpan("forced", (span) => {
      const result = tagSpan(chatLink, { force: true });
      span.end();
      return result;
    });
    expect(results).toBe(false);
    expect(forced).toBe(true);

    expect(promptKeysOf((await onlySpan("handler")).attributes)).toEqual([]);
    expect((await onlySpan("forced")).attributes["prompt.id"]).toBe("support/triage");
  });

  it("never tags a non-recording span, nor without an active span", () => {
    const ended = tracer.startSpan("ended", { attributes: { "openinference.span.kind": "LLM" } });
    ended.end();
    expect(tagSpan(chatLink, { span: ended, force: true })).toBe(false);

    const nonRecording = trace.wrapSpanContext(ended.spanContext());
    expect(tagSpan(chatLink, { span: nonRecording, force: true })).toBe(false);

    expect(trace.getActiveSpan()).toBeUndefined();
    expect(tagSpan(chatLink, { force: true })).toBe(false);
  });
});

describe("createPromptSpanProcessor", () => {
  it("copies the prompt onto a plain-tracer GenAI span started inside withPrompt", async () => {
    const callerContext = setAttributes(context.active(), { "app.feature": "triage" });
    context.with(callerContext, () =>
      withPrompt(chatLink, () =>
        tracer.startSpan("chat gpt-test", { attributes: { "gen_ai.operation.name": "chat" } }).end(),
      ),
    );

    const a = (await onlySpan("chat gpt-test")).attributes;
    expect(a).toMatchObject(promptSpanAttributes(chatLink));
    // Only our keys: the caller's bag is for OpenInference spans, not for every span of the process.
    expect(a["app.feature"]).toBeUndefined();
  });

  it("keeps a value the instrumentation set itself", async () => {
    withPrompt(chatLink, () =>
      tracer.startSpan("own prompt", { attributes: { "prompt.id": "theirs", "session.id": "their-session" } }).end(),
    );

    const a = (await onlySpan("own prompt")).attributes;
    expect(a["prompt.id"]).toBe("theirs");
    expect(a["session.id"]).toBe("their-session");
    expect(a["llm.prompt_template.version"]).toBe("1.2.0");
  });

  it("copies nothing outside withPrompt, nor context attributes someone else set", async () => {
    tracer.startSpan("outside").end();
    const foreign = setAttributes(context.active(), { "prompt.id": "other", "session.id": "s" });
    context.with(foreign, () => tracer.startSpan("foreign").end());

    expect(promptKeysOf((await onlySpan("outside")).attributes)).toEqual([]);
    expect(promptKeysOf((await onlySpan("foreign")).attributes)).toEqual([]);
  });
});

// @arizeai/openinference-instrumentation-openai 4.2.7 ends its span only when the call succeeds. These calls fail,
// and withPrompt (with createPromptSpanProcessor registered) must end that span as failed, once.
describe("withPrompt when the LLM call fails", () => {
  const request = (ask: string) => ({ model: "gpt-test", messages: [{ role: "user" as const, content: ask }] });

  async function failedCall(ask: string, options?: OpenAI.RequestOptions): Promise<unknown> {
    const error = await withPrompt(chatLink, () => client.chat.completions.create(request(ask), options)).then(
      () => expect.unreachable("the call should have failed"),
      (e: unknown) => e,
    );
    return error;
  }

  // One LLM span, ended as failed and linked to the version.
  async function expectFailedSpan(errorType: string, message: string | RegExp): Promise<ReadableSpan> {
    const span = await onlySpan(LLM_SPAN);
    expect(span.attributes["openinference.span.kind"]).toBe("LLM");
    expect(span.attributes).toMatchObject(promptSpanAttributes(chatLink));
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.status.message).toMatch(message);
    expect(span.attributes["error.type"]).toBe(errorType);
    const exceptions = span.events.filter((e) => e.name === "exception");
    expect(exceptions).toHaveLength(1);
    expect(exceptions[0]!.attributes?.["exception.message"]).toMatch(message);
    expect(ended.filter((s) => s.name === LLM_SPAN)).toHaveLength(1);
    return span;
  }

  it("a 500 is one LLM span with status ERROR, its exception and error.type", async () => {
    const error = await failedCall("status:500");
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as { status?: number }).status).toBe(500);
    await expectFailedSpan("InternalServerError", /500 fake 500/);
  });

  it("a 429 with retries disabled is one failed span, after one request", async () => {
    const before = fake.requests();
    const error = await failedCall("status:429", { maxRetries: 0 });
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(fake.requests()).toBe(before + 1);
    await expectFailedSpan("RateLimitError", /429 fake 429/);
  });

  it("a client-side timeout against a server that never answers is one failed span", async () => {
    const error = await failedCall("hold", { timeout: 50 });
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await expectFailedSpan("APIConnectionTimeoutError", /timed out/);
    expect(fake.destroyHeld()).toBe(1);
  });

  it("the caller gets the same error object, thrown or rejected, and the span is ended before it does", async () => {
    const thrown = new RangeError("bad argument");
    expect(() =>
      withPrompt(chatLink, () => {
        tracer.startSpan("sync llm", { attributes: { "openinference.span.kind": "LLM" } });
        throw thrown;
      }),
    ).toThrow(thrown);
    const sync = await onlySpan("sync llm");
    expect(sync.status).toEqual({ code: SpanStatusCode.ERROR, message: "bad argument" });
    expect(sync.attributes["error.type"]).toBe("RangeError");

    const rejected = new TypeError("network down");
    let endedWhenCaught = -1;
    await withPrompt(chatLink, async () => {
      tracer.startSpan("chat gpt-test", { attributes: { "gen_ai.operation.name": "chat" } });
      await Promise.resolve();
      throw rejected;
    }).catch((e: unknown) => {
      expect(e).toBe(rejected);
      endedWhenCaught = ended.length;
    });
    expect(endedWhenCaught).toBe(2);
    const genAi = await onlySpan("chat gpt-test");
    expect(genAi.status.code).toBe(SpanStatusCode.ERROR);
    expect(genAi.attributes["error.type"]).toBe("TypeError");
    expect(genAi.attributes["prompt.id"]).toBe("support/triage");
  });

  it("a span that its instrumentation ended on failure is neither ended again nor changed", async () => {
    const failure = new Error("upstream said no");
    await expect(
      withPrompt(chatLink, async () => {
        const span = tracer.startSpan("careful llm", { attributes: { "openinference.span.kind": "LLM" } });
        await Promise.resolve();
        span.recordException(failure);
        span.setStatus({ code: SpanStatusCode.ERROR, message: "their message" });
        span.end();
        throw failure;
      }),
    ).rejects.toBe(failure);

    const span = await onlySpan("careful llm");
    expect(ended).toHaveLength(1);
    expect(span.status.message).toBe("their message");
    expect(span.events.filter((e) => e.name === "exception")).toHaveLength(1);
    expect(span.attributes["error.type"]).toBeUndefined();
    // afterEach: the SDK logged no second end().
  });

  it("leaves the application's own open spans to the application", async () => {
    let own: ReturnType<typeof tracer.startSpan> | undefined;
    await expect(
      withPrompt(chatLink, async () => {
        own = tracer.startSpan("app step");
        throw new Error("failed after the step started");
      }),
    ).rejects.toThrow();
    expect(own!.isRecording()).toBe(true);
    own!.end();
    expect((await onlySpan("app step")).status.code).toBe(SpanStatusCode.UNSET);
  });

  it("returns fn's own promise: an openai APIPromise keeps withResponse()", async () => {
    let created: unknown;
    const returned = withPrompt(chatLink, () => (created = client.chat.completions.create(request("hi"))));
    expect(returned).toBe(created);
    const { data, response } = await returned.withResponse();
    expect(response.status).toBe(200);
    expect(data.choices[0]?.message.content).toBe("hello");
    const span = await onlySpan(LLM_SPAN);
    expect(span.status.code).toBe(SpanStatusCode.OK);
    expect(span.attributes["error.type"]).toBeUndefined();
    expect(ended).toHaveLength(1);
  });
});

// The instrumentation reads its own copy of a stream (`tee()`) in a promise that nobody awaits, so when the stream
// fails mid-way that promise rejects unhandled (Node's default then ends the process). Not ours to fix: collect such
// rejections around a call so the test can check they are that same failure and nothing else.
async function collectUnhandled<T>(run: () => Promise<T>): Promise<{ result: T; unhandled: unknown[] }> {
  const theirs = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  const unhandled: unknown[] = [];
  const collect = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", collect);
  try {
    const result = await run();
    // Node reports unhandled rejections once the microtask queue has drained: one turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    return { result, unhandled };
  } finally {
    process.off("unhandledRejection", collect);
    for (const listener of theirs) process.on("unhandledRejection", listener);
  }
}

describe("withPrompt with streams (stream: true)", () => {
  const streamRequest = (ask: string) => ({
    model: "gpt-test",
    stream: true as const,
    messages: [{ role: "user" as const, content: ask }],
  });

  // The documented way: the stream is read inside the traced function.
  async function readStream(ask: string, onChunk: (text: string) => void = () => {}): Promise<string> {
    const stream = await client.chat.completions.create(streamRequest(ask));
    let text = "";
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta.content ?? "";
      text += piece;
      onChunk(piece);
    }
    return text;
  }

  async function untilEnded(count: number): Promise<void> {
    while (ended.length < count) await once(endEvents, "end");
  }

  it("a stream read to the end is one span, ended by the instrumentation, not failed", async () => {
    expect(await withPrompt(chatLink, () => readStream("hi"))).toBe("hello");
    await untilEnded(1);

    const span = await onlySpan(LLM_SPAN);
    expect(span.attributes["output.value"]).toBe("hello");
    expect(span.attributes).toMatchObject(promptSpanAttributes(chatLink));
    expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBeUndefined();
    expect(span.events).toEqual([]);
    expect(ended).toHaveLength(1);
  });

  it("a 500 before the stream starts is one failed span", async () => {
    const error = await withPrompt(chatLink, () => readStream("status:500")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);

    const span = await onlySpan(LLM_SPAN);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("InternalServerError");
    expect(span.attributes["prompt.id"]).toBe("support/triage");
    expect(span.events.filter((e) => e.name === "exception")).toHaveLength(1);
  });

  it("an error event in the middle of the stream is one failed span", async () => {
    const seen: string[] = [];
    const { result: error, unhandled } = await collectUnhandled(() =>
      withPrompt(chatLink, () => readStream("stream:error", (piece) => seen.push(piece))).catch((e: unknown) => e),
    );
    expect(seen).toEqual(["hel"]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toMatch(/fake overload mid-stream/);
    for (const reason of unhandled) expect(reason).toBe(error);

    const span = await onlySpan(LLM_SPAN);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    expect(span.attributes["error.type"]).toBe("APIError");
    expect(span.attributes).toMatchObject(promptSpanAttributes(chatLink));
    expect(span.events.filter((e) => e.name === "exception")).toHaveLength(1);
    expect(ended).toHaveLength(1);
  });

  it("a connection cut in the middle of the stream is one failed span", async () => {
    const { result: error, unhandled } = await collectUnhandled(() =>
      withPrompt(chatLink, () => readStream("stream:cut", () => expect(fake.destroyHeld()).toBe(1))).catch(
        (e: unknown) => e,
      ),
    );
    expect(error).toBeInstanceOf(TypeError);
    for (const reason of unhandled) expect(reason).toBe(error);

    const span = await onlySpan(LLM_SPAN);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("TypeError");
    expect(span.attributes["prompt.id"]).toBe("support/triage");
    expect(ended).toHaveLength(1);
  });

  it("a stream abandoned after its first chunk is not failed: the instrumentation reads its copy to the end", async () => {
    const first = await withPrompt(chatLink, async () => {
      const stream = await client.chat.completions.create(streamRequest("hi"));
      for await (const chunk of stream) return chunk.choices[0]?.delta.content;
      return undefined;
    });
    expect(first).toBe("hel");
    await untilEnded(1);

    const span = await onlySpan(LLM_SPAN);
    expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(span.attributes["output.value"]).toBe("hello");
    expect(ended).toHaveLength(1);
  });

  it("a stream returned out of the traced function is left to the instrumentation", async () => {
    const stream = await withPrompt(chatLink, () => client.chat.completions.create(streamRequest("hi")));
    // Still open: a successful call's span is never ended by withPrompt.
    expect(ended).toHaveLength(0);
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("hello");
    await untilEnded(1);

    const span = await onlySpan(LLM_SPAN);
    expect(span.attributes["prompt.id"]).toBe("support/triage");
    expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
  });
});
