// One logical LLM call recorded by two instrumentation layers counts once. Two real stacks, each with the
// application's spans linked to the version by our span processor and exported by the official exporter, against a
// local stand-in for the provider's API (successes, streams, a 500 and a 429, retries off):
// - the Anthropic SDK's own tracing (its `anthropic.messages.create` span, GenAI attributes) under the OpenInference
//   Anthropic instrumentation's `Anthropic Messages` span;
// - LangChain's ChatOpenAI (the OpenInference LangChain instrumentation) beside the OpenInference OpenAI
//   instrumentation's span of the same call, under the application's agent span.
// The truth is known per version; compare, the rollups, the raw path, timeseries and unattributed must agree with
// it whether the spans of a call arrive together, the inner layer's first or the outer layer's first.
import * as AnthropicModule from "@anthropic-ai/sdk";
import Anthropic from "@anthropic-ai/sdk";
import { AnthropicInstrumentation } from "@arizeai/openinference-instrumentation-anthropic";
import { LangChainInstrumentation } from "@arizeai/openinference-instrumentation-langchain";
import { OpenAIInstrumentation } from "@arizeai/openinference-instrumentation-openai";
import * as CallbackManagerModule from "@langchain/core/callbacks/manager";
import { ChatOpenAI } from "@langchain/openai";
import OpenAI from "openai";
import { context, propagation, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPromptSpanProcessor, withPrompt } from "@promptreg/client";
import { startFakeAnthropic, type FakeAnthropic } from "./helpers/fake-anthropic.js";
import { startFakeOpenAI, type FakeOpenAI } from "./helpers/fake-openai.js";
import { publishPrompt } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";
import { startReceiver, type Receiver } from "./helpers/sdk.js";

const REQUEST_MODEL = "claude-sonnet-4-5";
const RESPONSE_MODEL = "claude-sonnet-4-5-20260929";
// Anthropic's usage: input tokens without the cached ones; both conventions count the cached ones in the prompt.
const USAGE = { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 50 };
const PROMPT_TOKENS = 150;
// USD per million tokens; a success costs 100 × 3 + 50 × 0.3 + 20 × 15 = 615 per million.
const PRICE = { inputPerMTok: "3", outputPerMTok: "15", cacheReadPerMTok: "0.3" };
const COST_PER_CALL = 0.000615;
const OPENAI_REQUEST_MODEL = "gpt-4o";
const OPENAI_RESPONSE_MODEL = "gpt-4o-2024-08-06";
const OPENAI_USAGE = { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500 };
// 1,200 × 2.5 + 300 × 10 = 6,000 per million.
const OPENAI_PRICE = { inputPerMTok: "2.5", outputPerMTok: "10" };
const OPENAI_COST_PER_CALL = 0.006;

/** The calls of one version: how many succeed (some streamed) and which statuses the others get. */
const TRUTH = {
  "1.0.0": { plain: 5, streamed: 3, failures: [500, 500] },
  "1.1.0": { plain: 4, streamed: 2, failures: [429, 500, 500, 500] },
} as const;

let h: Harness;
let admin: Client;
let receiver: Receiver;
let fake: FakeAnthropic;
let fakeOpenAI: FakeOpenAI;
let provider: NodeTracerProvider;
let instrumentations: { disable(): void }[] = [];
let anthropic: Anthropic;
let chat: ChatOpenAI;
const exported = new InMemorySpanExporter();

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  receiver = await startReceiver(h);
  fake = await startFakeAnthropic({ model: RESPONSE_MODEL, usage: USAGE });
  // As an application runs it: a registered provider, which the SDK's own tracing uses, and the instrumentation.
  provider = new NodeTracerProvider({
    spanProcessors: [createPromptSpanProcessor(), new SimpleSpanProcessor(exported)],
  });
  provider.register();
  const anthropicInstrumentation = new AnthropicInstrumentation();
  anthropicInstrumentation.setTracerProvider(provider);
  anthropicInstrumentation.manuallyInstrument(AnthropicModule as never);
  const openaiInstrumentation = new OpenAIInstrumentation();
  openaiInstrumentation.setTracerProvider(provider);
  openaiInstrumentation.manuallyInstrument(OpenAI);
  const langchainInstrumentation = new LangChainInstrumentation();
  langchainInstrumentation.setTracerProvider(provider);
  langchainInstrumentation.manuallyInstrument(CallbackManagerModule);
  instrumentations = [anthropicInstrumentation, openaiInstrumentation, langchainInstrumentation];
  anthropic = new Anthropic({ apiKey: "test-key", baseURL: fake.baseURL, maxRetries: 0 });
  fakeOpenAI = await startFakeOpenAI({ model: OPENAI_RESPONSE_MODEL, usage: OPENAI_USAGE });
  chat = new ChatOpenAI({
    model: OPENAI_REQUEST_MODEL,
    apiKey: "test-key",
    configuration: { baseURL: fakeOpenAI.baseURL },
    maxRetries: 0,
  });
  expect((await admin.post("/api/v1/prices", { model: RESPONSE_MODEL, ...PRICE })).status).toBe(201);
  // Priced under both names: a streamed call's spans name only the model asked for (neither layer records the
  // answer's model on a stream).
  for (const model of [OPENAI_RESPONSE_MODEL, OPENAI_REQUEST_MODEL])
    expect((await admin.post("/api/v1/prices", { model, ...OPENAI_PRICE })).status).toBe(201);
});

afterAll(async () => {
  for (const i of instrumentations) i.disable();
  await provider?.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  await fake?.close();
  await fakeOpenAI?.close();
  await receiver?.close();
  await h?.close();
});

/** What one stack does and what its calls cost: the truth expectTruth checks. */
interface Stack {
  /** One call of `prompt` at `version`, its outcome driven by `text` ("status:500"...). */
  call(prompt: string, version: string, text: string, stream: boolean): Promise<unknown>;
  /** The names of the outer and inner layers' spans. */
  outer: string;
  inner: string;
  /** Per successful call. */
  tokens: { prompt: number; completion: number };
  cost: number;
  /** Calls one after the other rather than all at once. */
  sequential?: boolean;
}

const link = (prompt: string, version: string) => ({
  name: prompt,
  version,
  template: `Answer ${version}: {{q}}`,
  source: "network" as const,
});

const ANTHROPIC: Stack = {
  outer: "Anthropic Messages",
  inner: "anthropic.messages.create",
  tokens: { prompt: PROMPT_TOKENS, completion: USAGE.output_tokens },
  cost: COST_PER_CALL,
  call: (prompt, version, text, stream) =>
    withPrompt(link(prompt, version), async () => {
      const body = { model: REQUEST_MODEL, max_tokens: 100, messages: [{ role: "user" as const, content: text }] };
      if (!stream) return anthropic.messages.create(body);
      const events = await anthropic.messages.create({ ...body, stream: true });
      for await (const _ of events);
    }),
};

// Each call in an agent span of its own, as an application's request would be: LangChain's span and the OpenAI
// instrumentation's are its children. One call at a time: the OpenInference LangChain instrumentation (4.1.1, with
// @langchain/core 1.4) parents the spans of concurrent calls under the first call's span, in its trace, so two layers
// of concurrent calls cannot be told to be one call (the README says so; register one layer there).
const LANGCHAIN: Stack = {
  sequential: true,
  outer: "ChatOpenAI",
  inner: "OpenAI Chat Completions",
  tokens: { prompt: OPENAI_USAGE.prompt_tokens, completion: OPENAI_USAGE.completion_tokens },
  cost: OPENAI_COST_PER_CALL,
  call: (prompt, version, text, stream) =>
    provider.getTracer("agent").startActiveSpan("agent", async (agent) => {
      try {
        return await withPrompt(link(prompt, version), async () => {
          if (!stream) return chat.invoke(text);
          for await (const _ of await chat.stream(text));
        });
      } finally {
        agent.end();
      }
    }),
};

/** Runs every call of TRUTH for `prompt` (published as both versions) on `stack`; returns the spans they made. */
async function runCalls(stack: Stack, prompt: string): Promise<ReadableSpan[]> {
  await publishPrompt(
    admin,
    prompt,
    Object.keys(TRUTH).map((version) => ({ template: `Answer ${version}: {{q}}`, version })),
  );
  const calls = Object.entries(TRUTH).flatMap(([version, t]) => [
    ...Array.from({ length: t.plain }, (_, i) => () => stack.call(prompt, version, `question ${i}`, false)),
    ...Array.from({ length: t.streamed }, (_, i) => () => stack.call(prompt, version, `streamed ${i}`, true)),
    ...t.failures.map((status) => () => stack.call(prompt, version, `status:${status}`, false)),
  ]);
  const outcomes: PromiseSettledResult<unknown>[] = [];
  if (stack.sequential) for (const call of calls) outcomes.push(...(await Promise.allSettled([call()])));
  else outcomes.push(...(await Promise.allSettled(calls.map((call) => call()))));
  expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(6);
  const spans = exported.getFinishedSpans().filter((s) => s.name !== "agent");
  exported.reset();
  return spans;
}

async function expectTruth(stack: Stack, prompt: string): Promise<void> {
  const res = await admin.get(`/api/v1/prompts/${prompt}/compare?versions=1.0.0,1.1.0&minSample=1`);
  expect(res.status).toBe(200);
  const raw = await admin.get(`/api/v1/prompts/${prompt}/compare?versions=1.0.0,1.1.0&minSample=1&percentiles=exact`);
  for (const body of [res.body, raw.body])
    for (const [i, [version, t]] of Object.entries(TRUTH).entries()) {
      const v = body.versions[i];
      const successes = t.plain + t.streamed;
      expect(v.version).toBe(version);
      expect([v.units, v.failures], version).toEqual([successes + t.failures.length, t.failures.length]);
      expect(v.tokens.prompt, version).toEqual({
        sum: successes * stack.tokens.prompt,
        count: successes,
        mean: stack.tokens.prompt,
      });
      expect(v.tokens.completion.sum, version).toBe(successes * stack.tokens.completion);
      expect(v.costUsd.count, version).toBe(successes);
      expect(v.costUsd.sum, version).toBeCloseTo(successes * stack.cost, 12);
    }
  expect(res.body.unattributed.total).toBe(0);
  const series = await admin.get(`/api/v1/prompts/${prompt}/timeseries?versions=1.0.0,1.1.0&bucket=1d`);
  expect(series.status).toBe(200);
  const total = (points: { count: number }[]) => points.reduce((n, p) => n + p.count, 0);
  expect(series.body.series.map((s: { points: { count: number }[] }) => total(s.points))).toEqual([10, 10]);
  // Both layers' spans are stored and readable; one per call is flagged, the other counted.
  const listed = await admin.get(`/api/v1/spans?prompt=${prompt}&spanKind=LLM&limit=500`);
  const spans = listed.body.data as { name: string; nestedCall: boolean }[];
  expect(spans.filter((s) => !s.nestedCall)).toHaveLength(20);
  expect(spans.filter((s) => s.nestedCall)).toHaveLength(spans.length - 20);
  expect(new Set(spans.map((s) => s.name))).toEqual(new Set([stack.outer, stack.inner]));
}

describe("the Anthropic SDK's own span under the OpenInference Anthropic instrumentation's", () => {
  it("are two LLM spans per call, both linked to the version: the reason to count one", async () => {
    const spans = await runCalls(ANTHROPIC, "anthropic-premise");
    expect(spans).toHaveLength(40);
    const outer = spans.filter((s) => s.name === "Anthropic Messages");
    const inner = spans.filter((s) => s.name === "anthropic.messages.create");
    expect([outer.length, inner.length]).toEqual([20, 20]);
    for (const s of inner) {
      expect(outer.map((o) => o.spanContext().spanId)).toContain(s.parentSpanContext?.spanId);
      expect(s.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "llm.prompt_template.version": expect.any(String),
      });
    }
  });

  it("count once when the spans of each call arrive together", async () => {
    await receiver.send(await runCalls(ANTHROPIC, "anthropic-together"));
    await expectTruth(ANTHROPIC, "anthropic-together");
  });

  it("count once when the nested spans arrive first, in a request of their own", async () => {
    const spans = await runCalls(ANTHROPIC, "anthropic-children-first");
    await receiver.send(spans.filter((s) => s.name === ANTHROPIC.inner));
    await receiver.send(spans.filter((s) => s.name !== ANTHROPIC.inner));
    await expectTruth(ANTHROPIC, "anthropic-children-first");
  });

  it("count once when the outer spans arrive first, and once more when everything is sent again", async () => {
    const spans = await runCalls(ANTHROPIC, "anthropic-parents-first");
    await receiver.send(spans.filter((s) => s.name !== ANTHROPIC.inner));
    await receiver.send(spans.filter((s) => s.name === ANTHROPIC.inner));
    await receiver.send(spans);
    await expectTruth(ANTHROPIC, "anthropic-parents-first");
  });
});

describe("LangChain's ChatOpenAI beside the OpenInference OpenAI instrumentation's span of the same call", () => {
  it("are two LLM spans of the same agent span per call, from two scopes, neither inside the other", async () => {
    const spans = await runCalls(LANGCHAIN, "langchain-premise");
    const outer = spans.filter((s) => s.name === LANGCHAIN.outer);
    const inner = spans.filter((s) => s.name === LANGCHAIN.inner);
    expect(outer).toHaveLength(20);
    // The OpenAI instrumentation leaves a failed call's span open; our span processor ends it when the call fails.
    expect(inner).toHaveLength(20);
    for (const s of [...outer, ...inner]) expect(s.parentSpanContext?.spanId).toBeDefined();
    expect(new Set([...outer, ...inner].map((s) => s.instrumentationScope.name))).toEqual(
      new Set(["@arizeai/openinference-instrumentation-langchain", "@arizeai/openinference-instrumentation-openai"]),
    );
  });

  it("count once when the spans of each call arrive together", async () => {
    await receiver.send(await runCalls(LANGCHAIN, "langchain-together"));
    await expectTruth(LANGCHAIN, "langchain-together");
  });

  it("count once when the OpenAI instrumentation's spans arrive first", async () => {
    const spans = await runCalls(LANGCHAIN, "langchain-inner-first");
    await receiver.send(spans.filter((s) => s.name === LANGCHAIN.inner));
    await receiver.send(spans.filter((s) => s.name !== LANGCHAIN.inner));
    await expectTruth(LANGCHAIN, "langchain-inner-first");
  });

  it("count once when LangChain's spans arrive first, and once more when everything is sent again", async () => {
    const spans = await runCalls(LANGCHAIN, "langchain-outer-first");
    await receiver.send(spans.filter((s) => s.name !== LANGCHAIN.inner));
    await receiver.send(spans.filter((s) => s.name === LANGCHAIN.inner));
    await receiver.send(spans);
    await expectTruth(LANGCHAIN, "langchain-outer-first");
  });
});
