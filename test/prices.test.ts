// The price table: admin-only CRUD with one error shape, and the cost ingest computes from it for spans that carry
// none (no JS instrumentation sends a cost), effective at each span's start; compare tells sent from computed.
import type { Span } from "@opentelemetry/api";
import {
  LLM_COST_TOTAL,
  LLM_MODEL_NAME,
  LLM_TOKEN_COUNT_COMPLETION,
  LLM_TOKEN_COUNT_PROMPT,
  LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ,
  LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE,
  OpenInferenceSpanKind,
  PROMPT_ID,
  PROMPT_TEMPLATE_VERSION,
  SemanticConventions,
} from "@arizeai/openinference-semantic-conventions";
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
} from "@opentelemetry/semantic-conventions/incubating";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProject, publishPrompt } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";
import { sdkTracer, startReceiver, under, type Receiver } from "./helpers/sdk.js";

let h: Harness;
let admin: Client;
let writer: Client;
let reader: Client;
let receiver: Receiver;

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  writer = h.as(await h.newKey("write"));
  reader = h.as(await h.newKey("read"));
  receiver = await startReceiver(h);
});
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

const GPT4O = {
  model: "gpt-4o",
  effectiveFrom: "2026-01-01T00:00:00Z",
  inputPerMTok: "2.5",
  outputPerMTok: 10,
  cacheReadPerMTok: "1.25",
};

describe("the price table API", () => {
  it("creates, lists, edits and deletes prices, for admin keys only, keeping the decimals exact", async () => {
    const created = await admin.post("/api/v1/prices", { ...GPT4O, model: "crud-model", cacheWritePerMTok: 0.0000001 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      model: "crud-model",
      effectiveFrom: "2026-01-01T00:00:00.000Z",
      inputPerMTok: "2.5",
      outputPerMTok: "10",
      cacheReadPerMTok: "1.25",
      cacheWritePerMTok: "0.0000001",
    });
    const later = await admin.post("/api/v1/prices", {
      model: "crud-model",
      effectiveFrom: "2026-06-01T12:00:00+02:00",
      inputPerMTok: "0.000000000001",
      outputPerMTok: "999999999.123456789012",
    });
    expect(later.status).toBe(201);
    expect(later.body).toMatchObject({
      effectiveFrom: "2026-06-01T10:00:00.000Z",
      inputPerMTok: "0.000000000001",
      outputPerMTok: "999999999.123456789012",
      cacheReadPerMTok: null,
    });
    // Without effectiveFrom, from now on.
    const now = await admin.post("/api/v1/prices", { model: "crud-model-ü", inputPerMTok: 0, outputPerMTok: 0 });
    expect(now.status).toBe(201);
    expect(Math.abs(Date.parse(now.body.effectiveFrom) - Date.now())).toBeLessThan(60_000);

    const list = await admin.get("/api/v1/prices?model=crud-model");
    expect(list.body.data.map((p: { id: string }) => p.id)).toEqual([later.body.id, created.body.id]); // newest first

    const edited = await admin.put(`/api/v1/prices/${created.body.id}`, {
      ...GPT4O,
      model: "crud-model",
      outputPerMTok: "12.75",
    });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id: created.body.id, outputPerMTok: "12.75", cacheWritePerMTok: null });
    expect((await admin.delete(`/api/v1/prices/${later.body.id}`)).status).toBe(204);
    expect((await admin.delete(`/api/v1/prices/${later.body.id}`)).status).toBe(404);
    expect((await admin.get("/api/v1/prices?model=crud-model")).body.data).toHaveLength(1);

    for (const client of [writer, reader]) {
      const res = await client.post("/api/v1/prices", GPT4O);
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: "forbidden", message: expect.stringMatching(/'admin' role/) });
      expect((await client.get("/api/v1/prices")).status).toBe(403);
    }

    // Another project's admin sees none of them and cannot touch them.
    const { admin: otherAdmin } = await createProject(h, "other-prices");
    expect((await otherAdmin.get("/api/v1/prices")).body.data).toEqual([]);
    expect((await otherAdmin.delete(`/api/v1/prices/${created.body.id}`)).status).toBe(404);
  });

  it("refuses bad input with 422 (or 409 for a second price of a model from the same moment), naming the field", async () => {
    const bad: [unknown, string][] = [
      [{ ...GPT4O, model: "nul\u0000model" }, "body.model"],
      [{ ...GPT4O, model: "" }, "body.model"],
      [{ ...GPT4O, model: "x".repeat(513) }, "body.model"],
      [{ ...GPT4O, inputPerMTok: -1 }, "body.inputPerMTok"],
      [{ ...GPT4O, inputPerMTok: "1e3" }, "body.inputPerMTok"],
      [{ ...GPT4O, inputPerMTok: "NaN" }, "body.inputPerMTok"],
      [{ ...GPT4O, outputPerMTok: null }, "body.outputPerMTok"],
      [{ ...GPT4O, cacheReadPerMTok: "cheap" }, "body.cacheReadPerMTok"],
      [{ ...GPT4O, effectiveFrom: "yesterday" }, "body.effectiveFrom"],
      [{ ...GPT4O, effectiveFrom: "2026-01-01T00:00:00" }, "body.effectiveFrom"], // no offset: ambiguous
      [{ ...GPT4O, currency: "EUR" }, "body"],
      [{ model: "gpt-4o" }, "body.inputPerMTok"],
    ];
    for (const [body, path] of bad) {
      const res = await admin.post("/api/v1/prices", body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error.code).toBe("validation_error");
      expect(
        res.body.error.details.issues.map((i: { path: string }) => i.path).join(" "),
        JSON.stringify(body),
      ).toContain(path);
    }
    const raw = await request(h.app)
      .post("/api/v1/prices")
      .set("Authorization", `Bearer ${h.adminKey}`)
      .set("Content-Type", "application/json")
      .send('{"model": "a\\u0000b", "inputPerMTok": 1, "outputPerMTok": 1}');
    expect(raw.status).toBe(422);
    expect((await admin.get("/api/v1/prices?model=%00")).status).toBe(422);
    expect((await admin.put("/api/v1/prices/abc", GPT4O)).status).toBe(422);
    expect((await admin.put("/api/v1/prices/999999", GPT4O)).status).toBe(404);

    const first = await admin.post("/api/v1/prices", { ...GPT4O, model: "dup-model" });
    expect(first.status).toBe(201);
    const again = await admin.post("/api/v1/prices", { ...GPT4O, model: "dup-model", inputPerMTok: 3 });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/dup-model.*already exists/),
    });
  });
});

describe("computed cost", () => {
  const at = (iso: string) => new Date(iso);
  const chat = (tokens: Record<string, number>, extra: Record<string, string | number> = {}) => ({
    [SemanticConventions.OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM,
    [PROMPT_ID]: "priced",
    [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    [LLM_MODEL_NAME]: "gpt-4o",
    ...tokens,
    ...extra,
  });

  it("prices spans without a cost by the price effective at their start, and compare says what was sent and what computed", async () => {
    await publishPrompt(
      admin,
      "priced",
      ["1.0.0", "1.1.0"].map((version) => ({ template: `Priced ${version} {{q}}`, version })),
    );
    expect((await admin.post("/api/v1/prices", GPT4O)).status).toBe(201);
    const june = await admin.post("/api/v1/prices", {
      model: "gpt-4o",
      effectiveFrom: "2026-06-01T00:00:00Z",
      inputPerMTok: 2,
      outputPerMTok: 8,
    });
    expect(june.status).toBe(201);
    expect(
      (
        await admin.post("/api/v1/prices", {
          model: "gpt-4o-2024-08-06",
          effectiveFrom: "2026-01-01T00:00:00Z",
          inputPerMTok: 5,
          outputPerMTok: 15,
        })
      ).status,
    ).toBe(201);

    const { tracer, take } = sdkTracer();
    const root = tracer.startSpan("agent", { startTime: at("2025-12-01T00:00:00Z") });
    const llm = (name: string, when: string, attributes: Record<string, string | number>) => {
      const s: Span = tracer.startSpan(name, { startTime: at(when), attributes }, under(root));
      s.end(new Date(at(when).getTime() + 800));
    };
    const usage = {
      [LLM_TOKEN_COUNT_PROMPT]: 1200,
      [LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ]: 1024,
      [LLM_TOKEN_COUNT_COMPLETION]: 300,
    };
    llm("march", "2026-03-01T10:00:00Z", chat(usage));
    llm("july", "2026-07-01T10:00:00Z", chat(usage)); // no cache price from June: cached tokens cost the input price
    llm(
      "cache write",
      "2026-03-01T11:00:00Z",
      chat({
        [LLM_TOKEN_COUNT_PROMPT]: 1000,
        [LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE]: 1000,
        [LLM_TOKEN_COUNT_COMPLETION]: 0,
      }),
    );
    llm("sent", "2026-03-01T12:00:00Z", chat(usage, { [LLM_COST_TOTAL]: 0.0125 }));
    llm("streamed", "2026-03-01T13:00:00Z", chat({})); // no tokens: no cost, not 0
    llm("prompt tokens only", "2026-03-01T14:00:00Z", chat({ [LLM_TOKEN_COUNT_PROMPT]: 500 }));
    llm(
      "more cache than prompt",
      "2026-03-01T15:00:00Z",
      chat({
        [LLM_TOKEN_COUNT_PROMPT]: 10,
        [LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ]: 20,
        [LLM_TOKEN_COUNT_COMPLETION]: 1,
      }),
    );
    llm("before any price", "2025-12-15T10:00:00Z", chat(usage));
    llm("unpriced model", "2026-03-01T16:00:00Z", chat(usage, { [LLM_MODEL_NAME]: "claude-sonnet-4" }));
    // GenAI keys; the response model has a price of its own, which wins.
    llm("genai dated", "2026-03-01T17:00:00Z", {
      [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_CHAT,
      [PROMPT_ID]: "priced",
      [PROMPT_TEMPLATE_VERSION]: "1.1.0",
      [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o",
      [ATTR_GEN_AI_RESPONSE_MODEL]: "gpt-4o-2024-08-06",
      [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 2000,
      [ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]: 1000,
      [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: 100,
    });
    root.end(at("2026-08-01T00:00:00Z"));
    await receiver.send(take());

    const spans = (await admin.get("/api/v1/spans?prompt=priced&limit=500")).body.data;
    const byName = Object.fromEntries(spans.map((s: { name: string }) => [s.name, s]));
    const cost = (name: string) => [byName[name].costUsd, byName[name].costSource];
    // (1200 - 1024) * 2.5 + 1024 * 1.25 + 300 * 10 = 4720 USD per million
    expect(cost("march")[1]).toBe("computed");
    expect(cost("march")[0]).toBeCloseTo(0.00472, 15);
    // (1200 - 1024) * 2 + 1024 * 2 + 300 * 8 = 4800
    expect(cost("july")[0]).toBeCloseTo(0.0048, 15);
    expect(cost("cache write")[0]).toBeCloseTo(0.0025, 15); // 1000 * 2.5, no cache-write price
    expect(cost("sent")).toEqual([0.0125, "sent"]);
    for (const name of [
      "streamed",
      "prompt tokens only",
      "more cache than prompt",
      "before any price",
      "unpriced model",
    ])
      expect(cost(name), name).toEqual([null, null]);
    // (2000 - 1000) * 5 + 1000 * 5 + 100 * 15 = 11500, at the response model's price
    expect(cost("genai dated")).toEqual([0.0115, "computed"]);

    for (const percentiles of ["exact", "histogram"]) {
      const res = await admin.get(
        `/api/v1/prompts/priced/compare?versions=1.0.0,1.1.0&minSample=1&percentiles=${percentiles}`,
      );
      expect(res.status).toBe(200);
      const a = res.body.versions[0].costUsd;
      expect(a, percentiles).toMatchObject({ count: 4, unknown: 5, sent: { count: 1 }, computed: { count: 3 } });
      expect(a.computed.sum).toBeCloseTo(0.00472 + 0.0048 + 0.0025, 15);
      expect(a.sent.sum).toBeCloseTo(0.0125, 15);
      expect(a.sum).toBeCloseTo(0.00472 + 0.0048 + 0.0025 + 0.0125, 15);
      expect(a.mean).toBeCloseTo((0.00472 + 0.0048 + 0.0025 + 0.0125) / 4, 15);
      expect(a.explanation).toBe(
        "cost of 9 spans: 1 sent by the span, 3 computed from the price table, 5 unknown; sums and means cover the 4 with a cost",
      );
    }

    // A new price applies to spans stored from then on; stored spans keep theirs.
    expect(
      (
        await admin.put(`/api/v1/prices/${june.body.id}`, {
          model: "gpt-4o",
          effectiveFrom: "2026-06-01T00:00:00Z",
          inputPerMTok: 1,
          outputPerMTok: 4,
        })
      ).status,
    ).toBe(200);
    llm("august", "2026-08-01T10:00:00Z", chat(usage));
    await receiver.send(take());
    const after = Object.fromEntries(
      (await admin.get("/api/v1/spans?prompt=priced&limit=500")).body.data.map((s: { name: string }) => [s.name, s]),
    );
    expect(after.july.costUsd).toBeCloseTo(0.0048, 15);
    expect(after.august.costUsd).toBeCloseTo(0.0024, 15); // (176 + 1024) * 1 + 300 * 4 = 2400
  });
});
