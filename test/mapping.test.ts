// What the receiver makes of the attributes real instrumentations send: spans made with the OpenTelemetry SDK, keys
// and values from the convention packages (@arizeai/openinference-semantic-conventions, the incubating GenAI names
// of @opentelemetry/semantic-conventions), sent by the official protobuf exporter, read back and compared.
import { SpanStatusCode, type Span } from "@opentelemetry/api";
import {
  EMBEDDING_MODEL_NAME,
  LLM_COST_COMPLETION,
  LLM_COST_PROMPT,
  LLM_COST_TOTAL,
  LLM_INPUT_MESSAGES,
  LLM_INVOCATION_PARAMETERS,
  LLM_MODEL_NAME,
  LLM_TOKEN_COUNT_COMPLETION,
  LLM_TOKEN_COUNT_PROMPT,
  LLM_TOKEN_COUNT_TOTAL,
  MESSAGE_ROLE,
  OpenInferenceSpanKind,
  PROMPT_ID,
  PROMPT_TEMPLATE_VERSION,
  PROMPT_VENDOR,
  RERANKER_MODEL_NAME,
  SemanticConventions,
} from "@arizeai/openinference-semantic-conventions";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
} from "@opentelemetry/semantic-conventions/incubating";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROMPT_VENDOR as CLIENT_PROMPT_VENDOR } from "@promptreg/client";
import { ATTR_PROMPTREG_SOURCE } from "@promptreg/client/tracing";
import { PROMPTREG_VENDOR } from "../src/traces/mapping.js";
import { publishPrompt } from "./helpers/factories.js";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";
import { sdkTracer, startReceiver, under, type Receiver } from "./helpers/sdk.js";

const { OPENINFERENCE_SPAN_KIND } = SemanticConventions;
// Langfuse's and others' de-facto cost key: no convention package defines it.
const GEN_AI_USAGE_COST = "gen_ai.usage.cost";

let h: Harness;
let admin: Client;
let receiver: Receiver;

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  receiver = await startReceiver(h);
});
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

async function publish(name: string, versions = ["1.0.0", "1.1.0"]): Promise<void> {
  await publishPrompt(
    admin,
    name,
    versions.map((version) => ({ template: `${name} ${version} {{q}}`, version })),
  );
}

/** An OpenInference LLM span's prompt attributes, as our client sets them. */
const linked = (prompt: string, version = "1.0.0") => ({
  [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM,
  [PROMPT_VENDOR]: PROMPTREG_VENDOR,
  [PROMPT_ID]: prompt,
  [PROMPT_TEMPLATE_VERSION]: version,
});

async function spansOf(traceId: string): Promise<Record<string, any>> {
  const res = await admin.get(`/api/v1/traces/${traceId}`);
  expect(res.status).toBe(200);
  const byName: Record<string, any> = {};
  const walk = (nodes: any[]): void => {
    for (const n of nodes) {
      byName[n.name] = n;
      walk(n.children);
    }
  };
  walk(res.body.spans);
  return byName;
}

async function compare(prompt: string, query = ""): Promise<any> {
  const res = await admin.get(`/api/v1/prompts/${enc(prompt)}/compare?versions=1.0.0,1.1.0&minSample=1${query}`);
  expect(res.status).toBe(200);
  return res.body;
}

it("uses the client's own vendor name", () => {
  expect(PROMPTREG_VENDOR).toBe(CLIENT_PROMPT_VENDOR);
});

describe("failures", () => {
  it("takes status OK as final: a handled exception or error.type on an OK span is no failure", async () => {
    await publish("status-final");
    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent", { attributes: { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.AGENT } });
    const llm = (name: string, finish: (s: Span) => void) => {
      const s = tracer.startSpan(name, { attributes: linked("status-final") }, under(root));
      finish(s);
      s.end();
    };
    // A client that retried a 429 and then succeeded: the exception was handled.
    llm("retried", (s) => {
      s.recordException(new Error("429 Too Many Requests"));
      s.setAttribute(ATTR_ERROR_TYPE, "RateLimitError");
      s.setStatus({ code: SpanStatusCode.OK });
    });
    llm("unset with exception", (s) => s.recordException(new Error("socket hang up")));
    llm("unset with error.type", (s) => s.setAttribute(ATTR_ERROR_TYPE, "timeout"));
    llm("error", (s) => s.setStatus({ code: SpanStatusCode.ERROR, message: "500 Internal Server Error" }));
    llm("ok", (s) => s.setStatus({ code: SpanStatusCode.OK }));
    root.end();
    await receiver.send(take());

    const spans = await spansOf(root.spanContext().traceId);
    expect(spans.retried).toMatchObject({ status: "ok", failed: false, errorMessage: null });
    expect(spans.retried.events[0]).toMatchObject({ name: "exception" });
    expect(spans["unset with exception"]).toMatchObject({
      status: "unset",
      failed: true,
      errorMessage: "socket hang up",
    });
    expect(spans["unset with error.type"]).toMatchObject({ status: "unset", failed: true, errorMessage: "timeout" });
    expect(spans.error).toMatchObject({ status: "error", failed: true, errorMessage: "500 Internal Server Error" });
    expect(spans.ok).toMatchObject({ failed: false });
    for (const percentiles of ["exact", "histogram"])
      expect((await compare("status-final", `&percentiles=${percentiles}`)).versions[0]).toMatchObject({
        units: 5,
        failures: 3,
      });
  });
});

describe("prompt names", () => {
  it("takes prompt.id only from this registry or no vendor: another vendor's id links nothing and is no unknown prompt", async () => {
    await publish("shared-name");
    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent");
    const llm = (name: string, attributes: Record<string, string>) =>
      tracer
        .startSpan(
          name,
          { attributes: { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM, ...attributes } },
          under(root),
        )
        .end();
    llm("ours", { [PROMPT_VENDOR]: PROMPTREG_VENDOR, [PROMPT_ID]: "shared-name", [PROMPT_TEMPLATE_VERSION]: "1.0.0" });
    llm("no vendor", { [PROMPT_ID]: "shared-name", [PROMPT_TEMPLATE_VERSION]: "1.0.0" });
    // LangSmith and Portkey put their own prompt ids in prompt.id, with their vendor name.
    llm("langsmith", {
      [PROMPT_VENDOR]: "langsmith",
      [PROMPT_ID]: "3f0c9a3e-1b7e-4b52-a1d4-0e6f2b8a9c11",
      [PROMPT_TEMPLATE_VERSION]: "2",
    });
    llm("portkey", {
      [PROMPT_VENDOR]: "portkey",
      [PROMPT_ID]: "pp-support-5a1b2c",
      [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    });
    // Even when its id happens to be a name of ours, another vendor's prompt is not ours.
    llm("langsmith, same name", {
      [PROMPT_VENDOR]: "langsmith",
      [PROMPT_ID]: "shared-name",
      [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    });
    root.end();
    await receiver.send(take());

    const spans = await spansOf(root.spanContext().traceId);
    expect(spans.ours).toMatchObject({ linkStatus: "linked", promptName: "shared-name" });
    expect(spans["no vendor"]).toMatchObject({ linkStatus: "linked", promptName: "shared-name" });
    for (const name of ["langsmith", "portkey", "langsmith, same name"])
      expect(spans[name], name).toMatchObject({
        linkStatus: "none",
        promptName: null,
        promptVersion: null,
        versionId: null,
      });
    const unknown = await admin.get("/api/v1/spans?linkStatus=unknown_prompt&limit=500");
    expect(unknown.body.data.filter((s: { traceId: string }) => s.traceId === root.spanContext().traceId)).toEqual([]);
    expect((await compare("shared-name")).versions[0].units).toBe(2);
  });
});

describe("token and cost sums", () => {
  it("makes a total only from both its parts, and lets the next cost key answer when only one part is there", async () => {
    await publish("partial-sums");
    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent");
    const llm = (name: string, attributes: Record<string, number>) =>
      tracer.startSpan(name, { attributes: { ...linked("partial-sums"), ...attributes } }, under(root)).end();
    llm("prompt tokens only", { [LLM_TOKEN_COUNT_PROMPT]: 900 });
    llm("both parts", { [LLM_TOKEN_COUNT_PROMPT]: 100, [LLM_TOKEN_COUNT_COMPLETION]: 20 });
    llm("total only", { [LLM_TOKEN_COUNT_TOTAL]: 60 });
    llm("genai parts", { [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 30, [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: 10 });
    llm("prompt cost only", { [LLM_COST_PROMPT]: 0.5 });
    llm("prompt cost and a sent total elsewhere", { [LLM_COST_PROMPT]: 0.5, [GEN_AI_USAGE_COST]: 0.3 });
    llm("cost parts", { [LLM_COST_PROMPT]: 0.25, [LLM_COST_COMPLETION]: 0.125 });
    llm("cost total", { [LLM_COST_TOTAL]: 0.0625, [LLM_COST_PROMPT]: 1 });
    root.end();
    await receiver.send(take());

    const spans = await spansOf(root.spanContext().traceId);
    expect(spans["prompt tokens only"]).toMatchObject({ tokensPrompt: 900, tokensCompletion: null, tokensTotal: null });
    expect(spans["both parts"]).toMatchObject({ tokensTotal: 120 });
    expect(spans["total only"]).toMatchObject({ tokensPrompt: null, tokensTotal: 60 });
    expect(spans["genai parts"]).toMatchObject({ tokensPrompt: 30, tokensCompletion: 10, tokensTotal: 40 });
    expect(spans["prompt cost only"]).toMatchObject({ costUsd: null, costSource: null });
    expect(spans["prompt cost and a sent total elsewhere"]).toMatchObject({ costUsd: 0.3, costSource: "sent" });
    expect(spans["cost parts"]).toMatchObject({ costUsd: 0.375, costSource: "sent" });
    expect(spans["cost total"]).toMatchObject({ costUsd: 0.0625, costSource: "sent" });

    for (const percentiles of ["exact", "histogram"]) {
      const v = (await compare("partial-sums", `&percentiles=${percentiles}`)).versions[0];
      expect(v.tokens.total, percentiles).toEqual({ sum: 220, count: 3, mean: 220 / 3 });
      expect(v.tokens.prompt, percentiles).toEqual({ sum: 1030, count: 3, mean: 1030 / 3 });
      expect(v.costUsd, percentiles).toMatchObject({
        count: 3,
        unknown: 5,
        sent: { count: 3 },
        computed: { sum: 0, count: 0 },
      });
      for (const value of [v.costUsd.sum, v.costUsd.sent.sum]) expect(value, percentiles).toBeCloseTo(0.7375, 12);
      expect(v.costUsd.mean, percentiles).toBeCloseTo(0.7375 / 3, 12);
    }
  });
});

describe("what counts as an LLM call", () => {
  it("counts chat and completion calls only: not embeddings, reranks, unknown operations, or spans with just a model", async () => {
    await publish("what-counts");
    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent");
    const child = (name: string, attributes: Record<string, string | number>) =>
      tracer
        .startSpan(
          name,
          {
            attributes: {
              [PROMPT_ID]: "what-counts",
              [PROMPT_TEMPLATE_VERSION]: "1.0.0",
              [LLM_TOKEN_COUNT_PROMPT]: 10,
              ...attributes,
            },
          },
          under(root),
        )
        .end();
    child("oi llm", { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM, [LLM_MODEL_NAME]: "gpt-4o" });
    child("genai Chat", { [ATTR_GEN_AI_OPERATION_NAME]: "Chat", [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o" });
    child("genai chat", {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_CHAT,
      [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o",
    });
    child("genai embeddings", {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
      [ATTR_GEN_AI_REQUEST_MODEL]: "text-embedding-3-small",
    });
    child("genai image", {
      [ATTR_GEN_AI_OPERATION_NAME]: "image_generation",
      [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-image-1",
    });
    child("genai speech", { [ATTR_GEN_AI_OPERATION_NAME]: "Speech", [ATTR_GEN_AI_REQUEST_MODEL]: "tts-1" });
    child("oi embedding", {
      [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.EMBEDDING,
      [EMBEDDING_MODEL_NAME]: "text-embedding-3-large",
    });
    child("oi reranker", {
      [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.RERANKER,
      [RERANKER_MODEL_NAME]: "rerank-v3.5",
    });
    // OpenLLMetry's own key (no package here exports it).
    child("openllmetry embedding", {
      "llm.request.type": "embedding",
      [ATTR_GEN_AI_REQUEST_MODEL]: "text-embedding-3-small",
    });
    child("openllmetry chat", { "llm.request.type": "chat", [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o" });
    child("just a model", { [LLM_MODEL_NAME]: "gpt-4o" });
    child("chat messages", { [`${LLM_INPUT_MESSAGES}.0.${MESSAGE_ROLE}`]: "user", [LLM_MODEL_NAME]: "gpt-4o" });
    root.end();
    await receiver.send(take());

    const spans = await spansOf(root.spanContext().traceId);
    const kinds = Object.fromEntries(Object.entries(spans).map(([name, s]) => [name, [s.spanKind, s.model]]));
    expect(kinds).toEqual({
      agent: [null, null],
      "oi llm": ["LLM", "gpt-4o"],
      "genai Chat": ["LLM", "gpt-4o"],
      "genai chat": ["LLM", "gpt-4o"],
      "genai embeddings": ["EMBEDDING", "text-embedding-3-small"],
      "genai image": ["OTHER", "gpt-image-1"],
      "genai speech": ["OTHER", "tts-1"],
      "oi embedding": ["EMBEDDING", "text-embedding-3-large"],
      "oi reranker": ["RERANKER", "rerank-v3.5"],
      "openllmetry embedding": ["EMBEDDING", "text-embedding-3-small"],
      "openllmetry chat": ["LLM", "gpt-4o"],
      "just a model": [null, "gpt-4o"],
      "chat messages": ["LLM", "gpt-4o"],
    });
    for (const percentiles of ["exact", "histogram"])
      expect((await compare("what-counts", `&percentiles=${percentiles}`)).versions[0].units, percentiles).toBe(5);
    const unattributed = await admin.get("/api/v1/spans?spanKind=other&limit=500");
    expect(unattributed.body.data.map((s: { name: string }) => s.name).sort()).toEqual(["genai image", "genai speech"]);
  });

  it("leaves out LLM judges: calls under an EVALUATOR or GUARDRAIL span, whatever order the spans arrive in", async () => {
    await publish("judged");
    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent", { attributes: { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.AGENT } });
    const call = tracer.startSpan("answer", { attributes: linked("judged") }, under(root));
    call.end();
    // An LLM judge inherits the prompt attributes through context.
    const evaluator = tracer.startSpan(
      "judge",
      { attributes: { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.EVALUATOR } },
      under(root),
    );
    // Its own source, so that the rollup row it was first counted in holds nothing once it is taken out.
    const judgeCall = tracer.startSpan(
      "judge call",
      {
        attributes: {
          ...linked("judged"),
          [ATTR_PROMPTREG_SOURCE]: "cache",
          [LLM_TOKEN_COUNT_PROMPT]: 7,
          [LLM_TOKEN_COUNT_COMPLETION]: 1,
        },
      },
      under(evaluator),
    );
    judgeCall.setStatus({ code: SpanStatusCode.ERROR });
    judgeCall.end();
    evaluator.end();
    const guardrail = tracer.startSpan(
      "guard",
      { attributes: { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.GUARDRAIL } },
      under(root),
    );
    const chain = tracer.startSpan(
      "guard chain",
      { attributes: { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.CHAIN } },
      under(guardrail),
    );
    const guardCall = tracer.startSpan("guard call", { attributes: linked("judged") }, under(chain));
    guardCall.end();
    chain.end();
    guardrail.end();
    root.end();
    const byName = Object.fromEntries(take().map((s) => [s.name, s]));
    const units = async () => {
      const exact = (await compare("judged", "&percentiles=exact")).versions[0];
      const rolled = (await compare("judged", "&percentiles=histogram")).versions[0];
      expect([rolled.units, rolled.failures, rolled.tokens.prompt.sum, rolled.bySource]).toEqual([
        exact.units,
        exact.failures,
        exact.tokens.prompt.sum,
        exact.bySource,
      ]);
      return exact.units;
    };

    // Children end first, so exporters send them first, often in an earlier request than their parents.
    await receiver.send([byName.answer!, byName["judge call"]!, byName["guard call"]!]);
    expect(await units()).toBe(3); // the judges' parents are not known yet
    await receiver.send([byName.judge!, byName.guard!]);
    expect(await units()).toBe(2); // the judge is out; the guard call's parent (the chain) is still unknown
    await receiver.send([byName["guard chain"]!, byName.agent!]);
    expect(await units()).toBe(1);
    await receiver.send([byName["guard chain"]!, byName["judge call"]!, byName.judge!]); // a resend changes nothing
    expect(await units()).toBe(1);
    const spans = await spansOf(root.spanContext().traceId);
    expect(spans["judge call"]).toMatchObject({ inEvaluation: true, linkStatus: "linked" });
    expect(spans["guard call"]).toMatchObject({ inEvaluation: true });
    expect(spans.answer).toMatchObject({ inEvaluation: false });
  });
});

describe("models", () => {
  it("groups and filters by the request model: a failed call and a successful one are the same model", async () => {
    await publish("request-model");
    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent");
    // As @arizeai/openinference-instrumentation-openai 4.2.7 sets them: llm.model_name is the request's alias at
    // the start, overwritten with the dated response model on success only; the parameters keep the request's.
    const invocation = JSON.stringify({ model: "gpt-4o", temperature: 0.2 });
    for (let i = 0; i < 10; i++) {
      const s = tracer.startSpan(
        `call ${i}`,
        {
          attributes: {
            ...linked("request-model"),
            [LLM_MODEL_NAME]: "gpt-4o",
            [LLM_INVOCATION_PARAMETERS]: invocation,
          },
        },
        under(root),
      );
      if (i < 3) s.setStatus({ code: SpanStatusCode.ERROR, message: "500" });
      else s.setAttribute(LLM_MODEL_NAME, "gpt-4o-2024-08-06");
      s.end();
    }
    const genai = tracer.startSpan(
      "genai",
      {
        attributes: {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_CHAT,
          [PROMPT_ID]: "request-model",
          [PROMPT_TEMPLATE_VERSION]: "1.0.0",
          [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o",
          [ATTR_GEN_AI_RESPONSE_MODEL]: "gpt-4o-2024-11-20",
        },
      },
      under(root),
    );
    genai.end();
    root.end();
    await receiver.send(take());

    const spans = await spansOf(root.spanContext().traceId);
    expect(spans["call 0"]).toMatchObject({ model: "gpt-4o", responseModel: "gpt-4o", failed: true });
    expect(spans["call 5"]).toMatchObject({ model: "gpt-4o", responseModel: "gpt-4o-2024-08-06", failed: false });
    expect(spans.genai).toMatchObject({ model: "gpt-4o", responseModel: "gpt-4o-2024-11-20" });
    for (const percentiles of ["exact", "histogram"]) {
      const v = (await compare("request-model", `&model=gpt-4o&percentiles=${percentiles}`)).versions[0];
      expect([v.units, v.failures, v.failureRate], percentiles).toEqual([11, 3, 3 / 11]);
      expect(
        (await compare("request-model", `&model=gpt-4o-2024-08-06&percentiles=${percentiles}`)).versions[0].units,
      ).toBe(0);
    }
    expect((await admin.get("/api/v1/spans?prompt=request-model&model=gpt-4o&limit=500")).body.data).toHaveLength(11);
  });
});
