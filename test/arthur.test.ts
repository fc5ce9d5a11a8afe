// Arthur's Observability SDK puts the prompt on a span of its own: `getPrompt` / `renderPrompt` start a PROMPT span
// with the name in arthur.prompt.name and, in llm.prompt_template.version, the tag asked for or `latest` (not a
// resolved version); the LLM call that follows is a sibling span without prompt attributes. These spans are made
// with the SDK exactly as that SDK sets them, and sent in the orders exporters send them.
import type { Span } from "@opentelemetry/api";
import {
  LLM_MODEL_NAME,
  LLM_TOKEN_COUNT_COMPLETION,
  LLM_TOKEN_COUNT_PROMPT,
  OpenInferenceSpanKind,
  OUTPUT_MIME_TYPE,
  OUTPUT_VALUE,
  PROMPT_TEMPLATE_TEMPLATE,
  PROMPT_TEMPLATE_VARIABLES,
  PROMPT_TEMPLATE_VERSION,
  SemanticConventions,
} from "@arizeai/openinference-semantic-conventions";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, it } from "vitest";
import { publishPrompt } from "./helpers/factories.js";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";
import { sdkTracer, startReceiver, under, type Receiver } from "./helpers/sdk.js";

// Arthur's own attribute names (its SDK sets them as literals; no convention package has them).
const ARTHUR_PROMPT_NAME = "arthur.prompt.name";
const ARTHUR_TASK_ID = "arthur.task.id";
const NAME = "support/answer";
const TASK = "7c1f4a52-9d0e-4b8a-8f3e-2a6b1c9d0e4f";

let h: Harness;
let admin: Client;
let receiver: Receiver;
const times: Record<"v1" | "production" | "v2" | "moved", number> = { v1: 0, production: 0, v2: 0, moved: 0 };

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  receiver = await startReceiver(h);
  // 1.0.0 is latest and production; then 1.1.0 is published (latest); then production moves to it.
  await publishPrompt(
    admin,
    NAME,
    [
      { template: "Answer: {{q}}", labels: ["production"] },
      { template: "Answer kindly: {{q}}", version: "1.1.0" },
    ],
    { production: "1.1.0" },
  );
  const history = async (label: string) =>
    (await admin.get(`/api/v1/prompts/${enc(NAME)}/labels/${label}/history`)).body.data.map(
      (e: { toVersion: string; createdAt: string }) => [e.toVersion, Date.parse(e.createdAt)],
    );
  const latest = new Map<string, number>(await history("latest"));
  const production = new Map<string, number>(await history("production"));
  // Each ledger entry has its own time, even two written by one publish.
  times.v1 = latest.get("1.0.0")!;
  times.production = production.get("1.0.0")!;
  times.v2 = latest.get("1.1.0")!;
  times.moved = production.get("1.1.0")!;
  expect(
    times.v1 <= times.production && times.production < times.v2 && times.v2 < times.moved,
    JSON.stringify(times),
  ).toBe(true);
});
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

const { tracer, take } = sdkTracer("arthur-app");

/** A PROMPT span as Arthur's getPrompt(name, {tag} or {version: "latest"}) makes it, at `ms`. */
function getPrompt(parent: Span, ms: number, ref: string, name = NAME): void {
  const span = tracer.startSpan("get_prompt", { startTime: ms }, under(parent));
  span.setAttribute(SemanticConventions.OPENINFERENCE_SPAN_KIND, OpenInferenceSpanKind.PROMPT);
  span.setAttribute(ARTHUR_PROMPT_NAME, name);
  span.setAttribute(ARTHUR_TASK_ID, TASK);
  span.setAttribute(PROMPT_TEMPLATE_VERSION, ref);
  span.setAttribute(PROMPT_TEMPLATE_TEMPLATE, JSON.stringify([{ role: "user", content: "Answer: {{q}}" }]));
  span.setAttribute(PROMPT_TEMPLATE_VARIABLES, JSON.stringify(["q"]));
  span.setAttribute(OUTPUT_VALUE, JSON.stringify({ name, messages: [] }));
  span.setAttribute(OUTPUT_MIME_TYPE, "application/json");
  span.end(ms + 15);
}

/** The LLM call an OpenInference instrumentation records: no prompt attributes of its own. */
function llmCall(parent: Span, ms: number, name = "OpenAI Chat Completions"): void {
  const span = tracer.startSpan(
    name,
    {
      startTime: ms,
      attributes: {
        [SemanticConventions.OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM,
        [LLM_MODEL_NAME]: "gpt-4o",
        [LLM_TOKEN_COUNT_PROMPT]: 40,
        [LLM_TOKEN_COUNT_COMPLETION]: 8,
      },
    },
    under(parent),
  );
  span.end(ms + 900);
}

function agent(ms: number, build: (root: Span) => void): { traceId: string; spans: ReadableSpan[] } {
  const root = tracer.startSpan("agent", {
    startTime: ms,
    attributes: { [SemanticConventions.OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.AGENT },
  });
  build(root);
  root.end(ms + 5_000);
  return { traceId: root.spanContext().traceId, spans: take() };
}

async function spansOf(traceId: string): Promise<any[]> {
  const flat: any[] = [];
  const walk = (nodes: any[]): void => {
    for (const n of nodes) {
      flat.push(n);
      walk(n.children);
    }
  };
  walk((await admin.get(`/api/v1/traces/${traceId}`)).body.spans);
  return flat;
}

const compare = async (query = "") => {
  const res = await admin.get(`/api/v1/prompts/${enc(NAME)}/compare?versions=1.0.0,1.1.0&minSample=1${query}`);
  expect(res.status).toBe(200);
  return res.body.versions.map((v: { units: number }) => v.units);
};

it("links the LLM calls after Arthur's PROMPT span to the version its tag or `latest` held then, whatever order they arrive in", async () => {
  const between = times.production;
  const afterMove = times.moved + 60_000;
  // From production's first entry on (before 1.1.0): production was 1.0.0.
  const early = agent(between, (root) => {
    getPrompt(root, between + 1, "production");
    llmCall(root, between + 20);
    llmCall(root, between + 1_000, "second call");
  });
  // Between the publish of 1.1.0 and the move: latest is 1.1.0, production still 1.0.0.
  const mid = times.v2 - 1; // its production PROMPT span starts at the publish of 1.1.0, before the move
  const mixed = agent(mid, (root) => {
    getPrompt(root, mid + 1, "production");
    llmCall(root, mid + 20, "call after production");
    getPrompt(root, mid + 2_000, "latest");
    llmCall(root, mid + 2_020, "call after latest");
  });
  // After the move, with the LLM span sent in an earlier request than its PROMPT span.
  const late = agent(afterMove, (root) => {
    getPrompt(root, afterMove + 1, "latest");
    llmCall(root, afterMove + 20);
  });
  // A tag that names no label of this prompt; and an LLM call under another parent, which no PROMPT span precedes.
  const unknown = agent(afterMove, (root) => {
    getPrompt(root, afterMove + 1, "staging");
    llmCall(root, afterMove + 20);
    const tool = tracer.startSpan("tool", { startTime: afterMove + 30 }, under(root));
    llmCall(tool, afterMove + 40, "nested call");
    tool.end(afterMove + 1_000);
  });

  const isPrompt = (s: ReadableSpan) => s.name === "get_prompt";
  await receiver.send([...early.spans, ...mixed.spans, ...unknown.spans, ...late.spans.filter((s) => !isPrompt(s))]);
  expect(await compare()).toEqual([3, 1]);
  expect(await compare("&percentiles=histogram")).toEqual([3, 1]);
  await receiver.send(late.spans.filter(isPrompt));
  expect(await compare()).toEqual([3, 2]);
  expect(await compare("&percentiles=histogram")).toEqual([3, 2]);
  await receiver.send([...early.spans, ...late.spans]); // resent: counted once
  expect(await compare("&percentiles=histogram")).toEqual([3, 2]);

  const byName = (spans: any[]) => Object.fromEntries(spans.map((s) => [s.name, s]));
  const e = await spansOf(early.traceId);
  const prompt = e.find((s) => s.name === "get_prompt");
  expect(prompt).toMatchObject({
    spanKind: "PROMPT",
    promptName: NAME,
    promptVersion: "1.0.0",
    label: "production",
    linkStatus: "linked",
  });
  for (const call of e.filter((s) => s.spanKind === "LLM"))
    expect(call).toMatchObject({
      promptName: NAME,
      promptVersion: "1.0.0",
      label: "production",
      linkStatus: "linked",
      promptSpanId: prompt.spanId,
    });
  const m = byName(await spansOf(mixed.traceId));
  expect(m["call after production"]).toMatchObject({ promptVersion: "1.0.0", label: "production" });
  expect(m["call after latest"]).toMatchObject({ promptVersion: "1.1.0", label: "latest" });
  expect(byName(await spansOf(late.traceId))["OpenAI Chat Completions"]).toMatchObject({
    promptVersion: "1.1.0",
    linkStatus: "linked",
  });
  const u = byName(await spansOf(unknown.traceId));
  expect(u.get_prompt).toMatchObject({
    promptName: NAME,
    promptVersion: "staging",
    linkStatus: "unknown_version",
    versionId: null,
  });
  expect(u["OpenAI Chat Completions"]).toMatchObject({ promptVersion: "staging", linkStatus: "unknown_version" });
  expect(u["nested call"]).toMatchObject({ promptName: null, linkStatus: "none", promptSpanId: null });

  // PROMPT spans are never counted; the unknown tag's call shows as traffic no version holds.
  const res = await admin.get(`/api/v1/prompts/${enc(NAME)}/compare?versions=1.0.0,1.1.0&minSample=1`);
  expect(res.body.unattributed).toMatchObject({ total: 1, unknownVersion: 1 });
  expect(await compare("&label=production")).toEqual([3, 0]);
  expect(await compare("&label=latest")).toEqual([0, 2]);
});
