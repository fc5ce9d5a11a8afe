// What a stored span is made of: links to prompt versions from each convention (OpenInference, GenAI, Langfuse),
// latency from the nanosecond times, failures, labels and sources, and costs as exact decimals.
import { describe, expect, it } from "vitest";
import { publishPrompt } from "./helpers/factories.js";
import { enc } from "./helpers/harness.js";
import { newTraceId, nextNs } from "./helpers/otlp.js";
import { h, send, traceOf, useTraceReceiver, writer } from "./helpers/trace-receiver.js";

useTraceReceiver();

describe("mapping and linking", () => {
  it("links OpenInference, GenAI-convention and Langfuse spans to the right versions", async () => {
    const traceId = newTraceId();
    const res = await send([
      {
        traceId,
        name: "oi",
        attributes: {
          "openinference.span.kind": "LLM",
          "prompt.id": "support/triage",
          "llm.prompt_template.version": "1.0.0",
        },
      },
      {
        traceId,
        name: "genai",
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.prompt.name": "summarize",
          "llm.prompt_template.version": "1.0.0",
          "gen_ai.request.model": "claude",
          "gen_ai.response.model": "claude-2025",
          "gen_ai.provider.name": "anthropic",
          "gen_ai.usage.input_tokens": 100,
          "gen_ai.usage.output_tokens": 20,
          "gen_ai.conversation.id": "conv-9",
          "gen_ai.usage.cost": 0.25,
        },
      },
      {
        traceId,
        name: "langfuse",
        attributes: {
          "langfuse.observation.prompt.name": "support/triage",
          "langfuse.observation.prompt.version": "1.0.1",
          "langfuse.user.id": "u-7",
        },
      },
      {
        traceId,
        name: "langfuse-prompt-json",
        attributes: { "ai.telemetry.metadata.langfusePrompt": JSON.stringify({ name: "summarize", version: "1.0.0" }) },
      },
    ]);
    expect(res.status).toBe(200);
    const versions = async (name: string) =>
      Object.fromEntries(
        (await writer.get(`/api/v1/prompts/${enc(name)}/versions`)).body.data.map(
          (v: { version: string; id: string }) => [v.version, v.id],
        ),
      );
    const triage = await versions("support/triage");
    const summarize = await versions("summarize");
    const byName = Object.fromEntries((await traceOf(traceId)).body.spans.map((s: { name: string }) => [s.name, s]));
    expect(byName.oi).toMatchObject({ linkStatus: "linked", versionId: triage["1.0.0"], spanKind: "LLM" });
    expect(byName.genai).toMatchObject({
      linkStatus: "linked",
      versionId: summarize["1.0.0"],
      spanKind: "LLM",
      model: "claude",
      responseModel: "claude-2025",
      provider: "anthropic",
      tokensPrompt: 100,
      tokensCompletion: 20,
      tokensTotal: 120,
      sessionId: "conv-9",
      costUsd: 0.25,
    });
    expect(byName.langfuse).toMatchObject({
      linkStatus: "linked",
      versionId: triage["1.0.1"],
      userId: "u-7",
      spanKind: null,
    });
    expect(byName["langfuse-prompt-json"]).toMatchObject({ linkStatus: "linked", versionId: summarize["1.0.0"] });
    expect(byName.oi.promptId).toBe(byName.langfuse.promptId);
  });

  it("keeps and flags spans naming an unknown prompt or version, or none", async () => {
    const traceId = newTraceId();
    await send([
      { traceId, name: "no-such-prompt", attributes: { "prompt.id": "nope", "llm.prompt_template.version": "1.0.0" } },
      {
        traceId,
        name: "no-such-version",
        attributes: { "prompt.id": "summarize", "llm.prompt_template.version": "9.9.9" },
      },
      // Langfuse's int versions are kept as given and only link to that exact version string.
      {
        traceId,
        name: "langfuse-int",
        attributes: { "langfuse.prompt.name": "summarize", "langfuse.prompt.version": 1 },
      },
      { traceId, name: "plain http", attributes: { "http.method": "GET" } },
    ]);
    const byName = Object.fromEntries((await traceOf(traceId)).body.spans.map((s: { name: string }) => [s.name, s]));
    expect(byName["no-such-prompt"]).toMatchObject({
      linkStatus: "unknown_prompt",
      promptName: "nope",
      promptId: null,
      versionId: null,
    });
    expect(byName["no-such-version"]).toMatchObject({
      linkStatus: "unknown_version",
      promptVersion: "9.9.9",
      versionId: null,
    });
    expect(byName["no-such-version"].promptId).toMatch(/^[0-9a-f-]{36}$/);
    expect(byName["langfuse-int"]).toMatchObject({ linkStatus: "unknown_version", promptVersion: "1" });
    expect(byName["plain http"]).toMatchObject({ linkStatus: "none", promptName: null, spanKind: null });
  });

  it("computes latency exactly from the nanosecond times", async () => {
    const traceId = newTraceId();
    await send([{ traceId, start: "1700000000123456789", end: "1700000000125456790" }], "protobuf");
    const span = (await traceOf(traceId)).body.spans[0];
    expect(span.latencyMs).toBe(2.000001);
    expect(span).toMatchObject({
      startTimeUnixNano: "1700000000123456789",
      endTimeUnixNano: "1700000000125456790",
      startTime: "2023-11-14T22:13:20.123456Z",
      endTime: "2023-11-14T22:13:20.125456Z",
    });
  });

  it("marks failures from status, error.type or an exception event, keeping the message", async () => {
    const traceId = newTraceId();
    await send([
      { traceId, name: "status", status: { code: 2, message: "rate limited" } },
      { traceId, name: "error.type", attributes: { "error.type": "timeout" } },
      {
        traceId,
        name: "exception",
        events: [{ name: "exception", attributes: { "exception.type": "Error", "exception.message": "bad gateway" } }],
      },
      { traceId, name: "ok", status: { code: 1 } },
    ]);
    const byName = Object.fromEntries((await traceOf(traceId)).body.spans.map((s: { name: string }) => [s.name, s]));
    expect(byName.status).toMatchObject({ failed: true, status: "error", errorMessage: "rate limited" });
    expect(byName["error.type"]).toMatchObject({ failed: true, status: "unset", errorMessage: "timeout" });
    expect(byName.exception).toMatchObject({ failed: true, errorMessage: "bad gateway" });
    expect(byName.exception.events[0]).toMatchObject({
      name: "exception",
      attributes: { "exception.message": "bad gateway" },
    });
    expect(byName.ok).toMatchObject({ failed: false, status: "ok", errorMessage: null });
  });

  it("maps label, source, OpenInference costs and totals", async () => {
    const traceId = newTraceId();
    await send([
      {
        traceId,
        attributes: {
          "openinference.span.kind": "llm",
          "promptreg.prompt.label": "production",
          "promptreg.prompt.source": "cache",
          "llm.provider": "openai",
          "llm.response.model_name": "gpt-4o-2024",
          "llm.model_name": "gpt-4o",
          "llm.token_count.total": 42,
          "llm.cost.prompt": 0.5,
          "llm.cost.completion": 0.25,
          "user.id": "u-1",
          "session.id": "s-1",
          "bad\u0000key": "nul\u0000value",
        },
      },
    ]);
    const span = (await traceOf(traceId)).body.spans[0];
    expect(span).toMatchObject({
      spanKind: "LLM",
      label: "production",
      source: "cache",
      provider: "openai",
      model: "gpt-4o",
      responseModel: "gpt-4o-2024",
      tokensTotal: 42,
      costUsd: 0.75,
      userId: "u-1",
      sessionId: "s-1",
    });
    expect(span.attributes["bad\uFFFDkey"]).toBe("nul\uFFFDvalue");
  });
});

describe("costs as exact decimals", () => {
  it("add 36 calls at $0.00018, sent or priced, to exactly $0.00648 over many rollup rows and in the raw path", async () => {
    const admin = h.as(h.adminKey);
    await publishPrompt(writer, "exact-cost", ["Exact {{a}}", "Exacter {{a}}"]);
    // 1,000 × 0.09 + 250 × 0.36 per million tokens: $0.00018 a call, computed at ingest.
    const price = {
      model: "exact-model",
      inputPerMTok: "0.09",
      outputPerMTok: "0.36",
      effectiveFrom: "2000-01-01T00:00:00Z",
    };
    expect((await admin.post("/api/v1/prices", price)).status).toBe(201);
    const calls = (version: string, attributes: Record<string, string | number>) =>
      Array.from({ length: 36 }, (_, i) => {
        const start = nextNs();
        // Latencies from 1 to 36 ms: many latency buckets, so many rollup rows are added up.
        return {
          traceId: newTraceId(),
          start,
          end: (BigInt(start) + BigInt(i + 1) * 1_000_000n).toString(),
          attributes: {
            "openinference.span.kind": "LLM",
            "prompt.id": "exact-cost",
            "llm.prompt_template.version": version,
            ...attributes,
          },
        };
      });
    const spans = [
      ...calls("1.0.0", { "llm.cost.total": 0.00018 }),
      ...calls("1.0.1", {
        "llm.model_name": "exact-model",
        "llm.token_count.prompt": 1000,
        "llm.token_count.completion": 250,
      }),
    ];
    expect((await send(spans, "protobuf")).status).toBe(200);
    for (const percentiles of ["histogram", "exact"]) {
      const res = await writer.get(
        `/api/v1/prompts/exact-cost/compare?versions=1.0.0,1.0.1&minSample=1&percentiles=${percentiles}`,
      );
      expect(res.status).toBe(200);
      const [sent, computed] = res.body.versions;
      expect(sent.costUsd).toMatchObject({ sum: 0.00648, mean: 0.00018, count: 36, sent: { sum: 0.00648, count: 36 } });
      expect(computed.costUsd).toMatchObject({ sum: 0.00648, mean: 0.00018, computed: { sum: 0.00648, count: 36 } });
      expect(res.body.comparisons[0].meanCostDiffUsd).toBe(0);
      // As the answer's text has it, not only as a number that compares equal.
      expect(res.text).toContain('"sum":0.00648');
    }
  });
});
