// Real SDK, real `openai` client, real OpenInference instrumentation; only the OpenAI server is a local fake.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { context, propagation, trace, type Attributes } from "@opentelemetry/api";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { OpenAIInstrumentation } from "@arizeai/openinference-instrumentation-openai";
import { getAttributesFromContext, setAttributes } from "@arizeai/openinference-core";
import OpenAI from "openai";
import { createPromptSpanProcessor, promptSpanAttributes, tagSpan, withPrompt } from "../src/tracing.js";
import type { PromptLink } from "../src/types.js";

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

let server: Server;
let client: OpenAI;
let requests = 0;
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({
  spanProcessors: [createPromptSpanProcessor(), new SimpleSpanProcessor(exporter)],
});
const instrumentation = new OpenAIInstrumentation();
const tracer = provider.getTracer("tracing-test");

beforeAll(async () => {
  provider.register();
  instrumentation.setTracerProvider(provider);
  instrumentation.manuallyInstrument(OpenAI);

  server = createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    requests++;
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const { model } = JSON.parse(body) as { model: string };
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id: "chatcmpl-test",
          object: "chat.completion",
          created: 1_700_000_000,
          model,
          choices: [
            { index: 0, message: { role: "assistant", content: "hello", refusal: null }, finish_reason: "stop", logprobs: null },
          ],
          usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  client = new OpenAI({ apiKey: "test-key", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  instrumentation.disable();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => exporter.reset());

async function chat(): Promise<string | null> {
  const completion = await client.chat.completions.create({
    model: "gpt-test",
    messages: [{ role: "user", content: "hi" }],
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
    const before = requests;
    const content = await withPrompt(chatLink, () => chat());
    expect(content).toBe("hello");
    expect(requests).toBe(before + 1);

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
    const tagged = tracer.startActiveSpan("manual llm", { attributes: { "openinference.span.kind": "LLM" } }, (span) => {
      const result = tagSpan(chatLink);
      span.end();
      return result;
    });
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
    const results = tracer.startActiveSpan("handler", { attributes: { "gen_ai.operation.name": "embeddings" } }, (span) => {
      const plain = tagSpan(chatLink);
      span.end();
      return plain;
    });
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
      withPrompt(chatLink, () => tracer.startSpan("chat gpt-test", { attributes: { "gen_ai.operation.name": "chat" } }).end()),
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
