// What @arizeai/openinference-instrumentation-openai 4.2.7 really sends, through the real `openai` client against a
// local stand-in for the OpenAI API that answers as OpenAI does (a dated model name, cached and reasoning tokens,
// a final usage chunk on streams), linked by our client, exported by the official exporter, compared by the registry.
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import {
  LLM_MODEL_NAME,
  LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING,
  LLM_TOKEN_COUNT_PROMPT,
  LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
  OpenInferenceSpanKind,
  SemanticConventions,
} from "@arizeai/openinference-semantic-conventions";
import type OpenAI from "openai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createPromptSpanProcessor, withPrompt, type PromptLink } from "@promptreg/client";
import { startTracedOpenAI, type TracedOpenAI } from "./helpers/fake-openai.js";
import { publishPrompt } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";
import { startReceiver, type Receiver } from "./helpers/sdk.js";

const NAME = "instrumented";
const RESPONSE_MODEL = "gpt-4o-2024-08-06";
const USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 256,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
};

let h: Harness;
let admin: Client;
let receiver: Receiver;
let traced: TracedOpenAI;
let openai: OpenAI;
const exported = new InMemorySpanExporter();

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  receiver = await startReceiver(h);
  const provider = new NodeTracerProvider({
    spanProcessors: [createPromptSpanProcessor(), new SimpleSpanProcessor(exported)],
  });
  traced = await startTracedOpenAI(provider, { model: RESPONSE_MODEL, usage: USAGE });
  openai = traced.openai;
  await publishPrompt(
    admin,
    NAME,
    ["1.0.0", "1.1.0"].map((version) => ({ template: `Answer ${version}: {{q}}`, version })),
  );
});

afterAll(async () => {
  await traced?.close();
  await receiver?.close();
  await h?.close();
});

const link = (version: string): PromptLink => ({
  name: NAME,
  version,
  template: `Answer ${version}: {{q}}`,
  source: "network",
});

async function chat(version: string, question: string, stream = false): Promise<unknown> {
  return withPrompt(link(version), async () => {
    const messages = [{ role: "user" as const, content: question }];
    if (!stream) return openai.chat.completions.create({ model: "gpt-4o", messages });
    const chunks = await openai.chat.completions.create({
      model: "gpt-4o",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    for await (const c of chunks) text += c.choices[0]?.delta.content ?? "";
    return text;
  });
}

it("counts the instrumentation's calls by request model, with cached and reasoning tokens, streamed tokens unknown", async () => {
  const calls = [
    ...Array.from({ length: 6 }, (_, i) => chat("1.0.0", `question ${i}`)),
    ...Array.from({ length: 2 }, () => chat("1.0.0", "status:500")),
    ...Array.from({ length: 4 }, (_, i) => chat("1.0.0", `streamed ${i}`, true)),
    ...Array.from({ length: 3 }, (_, i) => chat("1.1.0", `question ${i}`)),
    // Under the prompt's context the instrumentation's embedding span carries the prompt too; it is no LLM call.
    withPrompt(link("1.0.0"), () =>
      openai.embeddings.create({ model: "text-embedding-3-small", input: "order status" }),
    ),
  ];
  const outcomes = await Promise.allSettled(calls);
  expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(2);
  const spans = exported.getFinishedSpans();
  exported.reset();

  // What the instrumentation sets, as the mapping's premises: the dated model only on a successful call that was not
  // streamed, and no tokens on streams (it skips the usage chunk, which has no choices).
  const llm = spans.filter(
    (s) => s.attributes[SemanticConventions.OPENINFERENCE_SPAN_KIND] === OpenInferenceSpanKind.LLM,
  );
  expect(llm).toHaveLength(15);
  const models = llm.map((s) => s.attributes[LLM_MODEL_NAME]);
  expect(models.filter((m) => m === RESPONSE_MODEL)).toHaveLength(9);
  expect(models.filter((m) => m === "gpt-4o")).toHaveLength(6);
  const tokenless = llm.filter((s) => s.attributes[LLM_TOKEN_COUNT_PROMPT] === undefined);
  expect(tokenless).toHaveLength(6); // 4 streamed, 2 failed
  expect(llm.find((s) => s.attributes[LLM_TOKEN_COUNT_PROMPT] !== undefined)!.attributes).toMatchObject({
    [LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ]: 1024,
    [LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING]: 256,
  });

  await receiver.send(spans);
  for (const percentiles of ["exact", "histogram"]) {
    const res = await admin.get(
      `/api/v1/prompts/${NAME}/compare?versions=1.0.0,1.1.0&minSample=1&model=gpt-4o&percentiles=${percentiles}`,
    );
    expect(res.status).toBe(200);
    const [a, b] = res.body.versions;
    // Failed calls are the request model too; the embedding is not a call of the prompt.
    expect([a.units, a.failures, b.units, b.failures], percentiles).toEqual([12, 2, 3, 0]);
    // The streamed and failed calls reported no tokens: unknown, not 0, so the mean is over the 6 that did.
    expect(a.tokens.prompt, percentiles).toEqual({ sum: 7200, count: 6, mean: 1200 });
    expect(a.tokens.cacheRead, percentiles).toEqual({ sum: 6144, count: 6, mean: 1024 });
    expect(a.tokens.reasoning, percentiles).toEqual({ sum: 1536, count: 6, mean: 256 });
    expect(a.tokens.cacheWrite, percentiles).toEqual({ sum: 0, count: 0, mean: null });
    expect(b.tokens.total, percentiles).toEqual({ sum: 4500, count: 3, mean: 1500 });
  }
  const dated = await admin.get(
    `/api/v1/prompts/${NAME}/compare?versions=1.0.0,1.1.0&minSample=1&model=${RESPONSE_MODEL}`,
  );
  expect(dated.body.versions[0].units).toBe(0);
});
