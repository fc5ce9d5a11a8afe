import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Client, type Harness } from "./harness.js";

let h: Harness;
let admin: Client;
const tid = () => randomBytes(16).toString("hex");
const sid = () => randomBytes(8).toString("hex");
const BASE = 1_765_000_000_000_000_000n;
const ns = (ms: number) => (BASE + BigInt(Math.round(ms * 1e6))).toString();

interface S { trace: string; id?: string; parent?: string; scope: string; start: number; end: number; attrs?: Record<string, string | number>; status?: number; name?: string }
function body(spans: S[]) {
  const byScope = new Map<string, S[]>();
  for (const s of spans) byScope.set(s.scope, [...(byScope.get(s.scope) ?? []), s]);
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
      scopeSpans: [...byScope].map(([scope, list]) => ({
        scope: { name: scope },
        spans: list.map((s) => ({
          traceId: s.trace, spanId: s.id ?? sid(), parentSpanId: s.parent, name: s.name ?? "call", kind: 3,
          startTimeUnixNano: ns(s.start), endTimeUnixNano: ns(s.end),
          attributes: Object.entries(s.attrs ?? {}).map(([key, v]) => ({ key, value: typeof v === "number" ? (Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v }) : { stringValue: v } })),
          status: { code: s.status ?? 1 },
        })),
      })),
    }],
  };
}
const llm = (prompt: string, version: string, extra: Record<string, string | number> = {}) => ({
  "openinference.span.kind": "LLM", "prompt.id": prompt, "llm.prompt_template.version": version,
  "llm.token_count.prompt": 10, "llm.token_count.completion": 5, ...extra,
});
async function send(spans: S[]) {
  const res = await admin.post("/v1/traces", body(spans));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}
async function counts(prompt: string) {
  const r1 = await admin.get(`/api/v1/prompts/${prompt}/compare?versions=1.0.0,1.0.1&minSample=1&percentiles=histogram`);
  const r2 = await admin.get(`/api/v1/prompts/${prompt}/compare?versions=1.0.0,1.0.1&minSample=1&percentiles=exact`);
  return { rolled: r1.body.versions.map((v: any) => [v.units, v.tokens.prompt.sum, v.costUsd.sum]), raw: r2.body.versions.map((v: any) => [v.units, v.tokens.prompt.sum, v.costUsd.sum]) };
}
async function prompt(name: string) {
  for (const version of ["1.0.0", "1.0.1"])
    expect((await admin.post(`/api/v1/prompts/${name}/versions`, { template: `x ${version}`, version })).status).toBe(201);
}

beforeAll(async () => { h = await createHarness(); admin = h.as(h.adminKey); });
afterAll(async () => { await h?.close(); });

describe("review", () => {
  it("false merge: two parallel calls to two providers (two instrumentations) with one prompt", async () => {
    await prompt("race");
    const trace = tid(); const root = sid();
    await send([
      { trace, id: root, scope: "app", start: 0, end: 1000, attrs: { "openinference.span.kind": "CHAIN" } },
      { trace, parent: root, scope: "@arizeai/openinference-instrumentation-openai", start: 1, end: 800, attrs: llm("race", "1.0.0", { "llm.request.model_name": "gpt-4o" }) },
      { trace, parent: root, scope: "@arizeai/openinference-instrumentation-anthropic", start: 2, end: 900, attrs: llm("race", "1.0.0", { "llm.request.model_name": "claude" }) },
    ]);
    const c = await counts("race");
    console.log("race", JSON.stringify(c));
    const spans = await admin.get(`/api/v1/spans?prompt=race&spanKind=LLM&limit=50`);
    console.log(spans.body.data.map((s: any) => [s.name, s.model, s.nestedCall]));
  });

  it("self-parented LLM span", async () => {
    await prompt("selfp");
    const trace = tid(); const id = sid();
    await send([{ trace, id, parent: id, scope: "x", start: 0, end: 10, attrs: llm("selfp", "1.0.0") }]);
    console.log("self", JSON.stringify(await counts("selfp")));
  });

  it("descendant with another prompt", async () => {
    await prompt("outerp"); await prompt("innerp");
    const trace = tid(); const o = sid(); const tool = sid();
    await send([
      { trace, id: o, scope: "a", start: 0, end: 100, attrs: llm("outerp", "1.0.0") },
      { trace, id: tool, parent: o, scope: "a", start: 10, end: 90, attrs: { "openinference.span.kind": "TOOL" } },
      { trace, parent: tool, scope: "b", start: 20, end: 80, attrs: llm("innerp", "1.0.0") },
    ]);
    console.log("outer", JSON.stringify(await counts("outerp")), "inner", JSON.stringify(await counts("innerp")));
  });

  it("two sequential calls, children first, outer lacks cost: fill", async () => {
    await prompt("fillp");
    const trace = tid(); const agent = sid(); const o = sid();
    await send([{ trace, parent: o, scope: "sdk", start: 1, end: 99, attrs: llm("fillp", "1.0.0", { "llm.cost.total": 0.00018 }) }]);
    await send([{ trace, id: o, parent: agent, scope: "oi", start: 0, end: 100, attrs: { "openinference.span.kind": "LLM", "prompt.id": "fillp", "llm.prompt_template.version": "1.0.0" } }]);
    await send([{ trace, id: agent, scope: "app", start: 0, end: 200, attrs: {} }]);
    console.log("fill", JSON.stringify(await counts("fillp")));
  });
});
