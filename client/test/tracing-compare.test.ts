// Issue 8's reproduction, end to end as a user runs it: prompts from the real registry through the client, the real
// `openai` client with the OpenInference instrumentation, the official OTLP exporter into the registry's receiver,
// and the registry's compare. Only the OpenAI server is a local fake.
import { afterAll, beforeAll, expect, it } from "vitest";
import { SpanStatusCode } from "@opentelemetry/api";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import type OpenAI from "openai";
import { createClient } from "../src/client.js";
import { createPromptSpanProcessor } from "../src/tracing.js";
import { startTracedOpenAI, type TracedOpenAI } from "../../test/helpers/fake-openai.js";
import { enc, startRegistry, type Registry } from "./helpers.js";

const NAME = "support/triage";
const CALLS = 40;
const FAILING = 8;

let registry: Registry;
let traced: TracedOpenAI;
let openai: OpenAI;
const exported = new InMemorySpanExporter();
let provider: NodeTracerProvider;

beforeAll(async () => {
  registry = await startRegistry();
  provider = new NodeTracerProvider({
    spanProcessors: [
      createPromptSpanProcessor(),
      new SimpleSpanProcessor(exported),
      new BatchSpanProcessor(
        new OTLPTraceExporter({
          url: `${registry.baseUrl}/v1/traces`,
          headers: { Authorization: `Bearer ${registry.harness.adminKey}` },
        }),
      ),
    ],
  });
  traced = await startTracedOpenAI(provider);
  openai = traced.openai;
});

afterAll(async () => {
  await traced?.close();
  await registry.close();
});

it(`${CALLS} calls of which ${FAILING} are answered 500: compare counts ${CALLS} spans and ${FAILING} failures`, async () => {
  const baseline = await registry.publish(NAME, "Answer briefly: {{question}}");
  const candidate = await registry.publish(NAME, "Answer kindly: {{question}}");
  const prompts = createClient({ baseUrl: registry.baseUrl, apiKey: registry.harness.adminKey });

  async function run(version: string, failing: number): Promise<PromiseSettledResult<unknown>[]> {
    const prompt = await prompts.get(NAME, { version });
    if (prompt.type !== "text") throw new Error("a text prompt was published");
    return Promise.allSettled(
      Array.from({ length: CALLS }, (_, i) => {
        const content = prompt.render({ question: i < failing ? "status:500" : `question ${i}` });
        return prompt.trace(() =>
          openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content }] }),
        );
      }),
    );
  }
  const outcomes = [...(await run(baseline, 0)), ...(await run(candidate, FAILING))];
  expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(FAILING);
  await provider.forceFlush();

  const spans = exported.getFinishedSpans().filter((s) => s.attributes["openinference.span.kind"] === "LLM");
  expect(spans).toHaveLength(2 * CALLS);
  const failed = spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
  expect(failed).toHaveLength(FAILING);
  for (const span of failed) {
    expect(span.attributes["llm.prompt_template.version"]).toBe(candidate);
    expect(span.attributes["error.type"]).toBe("InternalServerError");
  }

  const result = await registry.api("GET", `/prompts/${enc(NAME)}/compare?versions=${baseline},${candidate}`);
  const byVersion = new Map<string, { units: number; failures: number }>(
    result.versions.map((v: { version: string; units: number; failures: number }) => [v.version, v]),
  );
  expect(byVersion.get(baseline)).toMatchObject({ units: CALLS, failures: 0 });
  expect(byVersion.get(candidate)).toMatchObject({ units: CALLS, failures: FAILING });
});
