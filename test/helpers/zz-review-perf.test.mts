import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Client, type Harness } from "./harness.js";
import { linkTraces } from "../../src/traces/trace-links.js";

let h: Harness;
let admin: Client;
const tid = () => randomBytes(16).toString("hex");
const sid = () => randomBytes(8).toString("hex");
const BASE = 1_765_000_000_000_000_000n;
const ns = (ms: number) => (BASE + BigInt(Math.round(ms * 1e6))).toString();
interface S { trace: string; id?: string; parent?: string; scope: string; start: number; end: number; attrs?: Record<string, string | number> }
function body(spans: S[]) {
  const byScope = new Map<string, S[]>();
  for (const s of spans) byScope.set(s.scope, [...(byScope.get(s.scope) ?? []), s]);
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [...byScope].map(([scope, list]) => ({ scope: { name: scope },
    spans: list.map((s) => ({ traceId: s.trace, spanId: s.id ?? sid(), parentSpanId: s.parent, name: "call", kind: 3,
      startTimeUnixNano: ns(s.start), endTimeUnixNano: ns(s.end),
      attributes: Object.entries(s.attrs ?? {}).map(([key, v]) => ({ key, value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v } })),
      status: { code: 1 } })) })) }] };
}
const llm = { "openinference.span.kind": "LLM", "prompt.id": "perf", "llm.prompt_template.version": "1.0.0", "llm.token_count.prompt": 10, "llm.token_count.completion": 5 };
const N = Number(process.env.N ?? 2000);
const CH = Number(process.env.CH ?? 500);
async function sendAll(spans: S[], label: string) {
  const times: number[] = [];
  for (let i = 0; i < spans.length; i += CH) {
    const t = performance.now();
    const res = await admin.post("/v1/traces", body(spans.slice(i, i + CH)));
    expect(res.status).toBe(200);
    times.push(Math.round(performance.now() - t));
  }
  console.log(label, "per request ms", times.join(","));
}
async function timeLinks(trace: string, label: string) {
  const project = (await h.database.query<{ id: string }>("SELECT id::text FROM projects LIMIT 1")).rows[0]!.id;
  const t = performance.now();
  const r = await linkTraces(h.database, project, [trace]);
  console.log(label, "one link pass ms", Math.round(performance.now() - t), JSON.stringify(r));
}
beforeAll(async () => {
  h = await createHarness(); admin = h.as(h.adminKey);
  expect((await admin.post(`/api/v1/prompts/perf/versions`, { template: "x", version: "1.0.0" })).status).toBe(201);
});
afterAll(async () => { await h?.close(); });

describe("perf", () => {
  it("fan-out: a job trace, one root, N LLM calls under it (one scope, sequential)", async () => {
    const trace = tid(); const root = sid();
    const spans: S[] = [{ trace, id: root, scope: "app", start: 0, end: N * 10 + 10, attrs: {} }];
    for (let i = 0; i < N; i++) spans.push({ trace, parent: root, scope: "oi", start: i * 10 + 1, end: i * 10 + 9, attrs: llm });
    await sendAll(spans, "fanout-seq");
    await timeLinks(trace, "fanout-seq");
  });
  it("fan-out: N LLM calls under one root, two scopes, all overlapping (parallel)", async () => {
    const trace = tid(); const root = sid();
    const spans: S[] = [{ trace, id: root, scope: "app", start: 0, end: 100000, attrs: {} }];
    for (let i = 0; i < N; i++) spans.push({ trace, parent: root, scope: i % 2 ? "a" : "b", start: 1 + i * 0.01, end: 50000 + i, attrs: llm });
    await sendAll(spans, "fanout-par");
    await timeLinks(trace, "fanout-par");
  });
  it("deep chain of LLM spans", async () => {
    const trace = tid(); let parent: string | undefined;
    const spans: S[] = [];
    const D = Number(process.env.D ?? 1000);
    for (let i = 0; i < D; i++) { const id = sid(); spans.push({ trace, id, parent, scope: "c", start: i, end: 2 * D - i, attrs: llm }); parent = id; }
    await sendAll(spans, `chain${D}`);
    await timeLinks(trace, `chain${D}`);
  });
});
