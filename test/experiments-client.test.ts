// Client runs of experiments through the real app on a real database: the client's runExperiment with a task that
// calls the real `openai` package (OpenInference-instrumented, against a local stand-in for the OpenAI API), the
// spans exported to the app's OTLP receiver by the official exporter, the outcomes judged by the server's evaluators
// in its job runner. A run stopped partway resumes without calling a finished item's task again; a batch naming an
// unknown run or item is refused whole, as are results sent to a server run or with a read key.
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OpenInferenceSpanKind, SemanticConventions } from "@arizeai/openinference-semantic-conventions";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ATTR_PROMPTREG_DATASET_ITEM,
  ATTR_PROMPTREG_EXPERIMENT_ID,
  ATTR_PROMPTREG_EXPERIMENT_RUN,
  createClient,
  createPromptSpanProcessor,
  type RegistryClient,
} from "@promptreg/client";
import type { ChatMessage } from "@promptreg/client";
import { startTracedOpenAI, type TracedOpenAI } from "./helpers/fake-openai.js";
import { publishPrompt } from "./helpers/factories.js";
import { type Client, createHarness, type Harness } from "./helpers/harness.js";
import { serve, type Listener } from "./helpers/listen.js";
import { startReceiver, type Receiver } from "./helpers/sdk.js";
import { settledJobs } from "./helpers/settled-jobs.js";

const NAME = "support/agent";
let h: Harness;
let admin: Client;
let receiver: Receiver;
let traced: TracedOpenAI;
let openai: OpenAI;
let api: Listener;
let registry: RegistryClient;
const jobs = settledJobs();
const exported = new InMemorySpanExporter();

beforeAll(async () => {
  h = await createHarness({
    allowPrivateConnections: true,
    jobs: { pollMs: 50, retryBaseMs: 20, retryMaxMs: 100, onSettled: jobs.onSettled },
  });
  admin = h.as(h.adminKey);
  receiver = await startReceiver(h);
  api = await serve(h.app);
  registry = createClient({ baseUrl: api.url, apiKey: h.adminKey, maxRetries: 0 });
  const provider = new NodeTracerProvider({
    spanProcessors: [createPromptSpanProcessor(), new SimpleSpanProcessor(exported)],
  });
  traced = await startTracedOpenAI(provider);
  openai = traced.openai;
  await publishPrompt(admin, NAME, [
    { template: "Answer {{q}}", version: "1.0.0" },
    { template: "Answer {{q}} briefly", version: "1.1.0" },
  ]);
  await admin
    .post("/api/v1/evaluators", { name: "says-hello", kind: "contains", sampleRate: 0, config: { values: ["hello"] } })
    .expect(201);
  await admin.post("/api/v1/datasets", { name: "golden" }).expect(201);
  // The fake answers "hello"; a prompt ending in status:500 gets a 500 (so item e fails on 1.0.0 only).
  const items = [
    ...["a", "b", "c", "d"].map((id) => ({ id, variables: { q: `question ${id}` }, expected: "hello" })),
    { id: "x", variables: { q: "question x" }, expected: "goodbye" },
    { id: "e", variables: { q: "status:500" }, expected: "hello" },
  ];
  await admin.post("/api/v1/datasets/golden/items", { items }).expect(200);
  await admin.post("/api/v1/datasets", { name: "long" }).expect(201);
  const long = Array.from({ length: 10 }, (_, i) => ({ id: `item-${i}`, variables: { q: `long ${i}` } }));
  await admin.post("/api/v1/datasets/long/items", { items: long }).expect(200);
}, 60_000);

afterAll(async () => {
  await traced?.close();
  await receiver?.close();
  await api?.close();
  await h?.close();
});

async function finished(id: string) {
  let body: Record<string, any> = {};
  await jobs.until(async () => {
    body = (await admin.get(`/api/v1/experiments/${id}`)).body;
    return body.status !== "running";
  });
  return body;
}

/** The user's code: one model call with the rendered messages, reporting what it used. */
async function answer(rendered: string | ChatMessage[]) {
  const messages = typeof rendered === "string" ? [{ role: "user" as const, content: rendered }] : rendered;
  const completion = await openai.chat.completions.create({ model: "gpt-4o", messages });
  return {
    output: completion.choices[0]?.message.content ?? "",
    promptTokens: completion.usage?.prompt_tokens,
    completionTokens: completion.usage?.completion_tokens,
    cost: 0.0025,
  };
}

describe("client runs", () => {
  it("runs the user's task on every item and version, judged by the server and the client, spans linked and tagged", async () => {
    const summary = await registry.runExperiment({
      dataset: "golden",
      prompt: NAME,
      versions: ["1.0.0", "1.1.0"],
      serverEvaluators: ["exact_match", "says-hello"],
      evaluators: { short: (output) => ({ passed: output.length <= 5, score: output.length }) },
      concurrency: 3,
      batchSize: 4,
      task: (rendered) => answer(rendered),
    });
    expect(summary.runs.map((r) => [r.version, r.called, r.errors, r.skipped])).toEqual([
      ["1.0.0", 6, 1, 0],
      ["1.1.0", 6, 0, 0],
    ]);
    expect(summary.experiment).toMatchObject({
      mode: "client",
      connection: null,
      evaluators: ["exact_match", "says-hello", "short"],
      clientEvaluators: ["short"],
    });
    const id = summary.experimentId;
    const done = await finished(id);
    expect(done.status).toBe("finished");
    const [v1, v2] = done.runs;
    expect([v1.done, v1.errors, v2.done, v2.errors]).toEqual([6, 1, 6, 0]);
    expect(v1.evaluations.exact_match).toMatchObject({ passed: 4, failed: 1 });
    expect(v2.evaluations.exact_match).toMatchObject({ passed: 5, failed: 1 });
    expect(v2.evaluations["says-hello"]).toMatchObject({ passed: 6, failed: 0 });
    expect(v2.evaluations.short).toMatchObject({ passed: 6, failed: 0 });
    expect(v1.promptTokens).toBe(5 * 11);
    expect(v1.cost).toBeCloseTo(5 * 0.0025, 10);

    const results = (await admin.get(`/api/v1/experiments/${id}/results?run=1.0.0&limit=100`)).body.data;
    const byItem = Object.fromEntries(results.map((r: { itemId: string }) => [r.itemId, r]));
    expect(byItem.a).toMatchObject({
      output: "hello",
      error: null,
      promptTokens: 11,
      completionTokens: 2,
      cost: 0.0025,
    });
    expect(byItem.a.latencyMs).toBeGreaterThanOrEqual(0);
    expect(byItem.a.evaluations).toMatchObject({
      exact_match: { status: "passed" },
      "says-hello": { status: "passed" },
      short: { status: "passed", score: 5 },
    });
    expect(byItem.x.evaluations.exact_match).toMatchObject({ status: "failed" });
    // The task's throw is the item's error, judged by nobody.
    expect(byItem.e).toMatchObject({ output: null, error: expect.stringMatching(/500/), evaluations: {} });

    // The instrumentation's LLM spans: linked to the version and tagged with the experiment, the run and the item.
    const llm = exported
      .getFinishedSpans()
      .filter((s) => s.attributes[SemanticConventions.OPENINFERENCE_SPAN_KIND] === OpenInferenceSpanKind.LLM);
    expect(llm).toHaveLength(12);
    for (const span of llm) {
      const run = summary.runs.find((r) => r.id === span.attributes[ATTR_PROMPTREG_EXPERIMENT_RUN]);
      expect(span.attributes).toMatchObject({
        [SemanticConventions.PROMPT_ID]: NAME,
        [SemanticConventions.PROMPT_TEMPLATE_VERSION]: run?.version,
        [ATTR_PROMPTREG_EXPERIMENT_ID]: id,
      });
    }
    const tags = llm.map(
      (s) => `${s.attributes[ATTR_PROMPTREG_EXPERIMENT_RUN]}/${s.attributes[ATTR_PROMPTREG_DATASET_ITEM]}`,
    );
    expect(new Set(tags).size).toBe(12);
    await receiver.send(llm);
    exported.reset();
    const stored = await admin.get(`/api/v1/spans?prompt=${encodeURIComponent(NAME)}&version=1.1.0&limit=100`);
    expect(stored.status).toBe(200);
    expect(stored.body.data).toHaveLength(6);
    expect(stored.body.data.every((s: { linkStatus: string }) => s.linkStatus === "linked")).toBe(true);
    expect(
      stored.body.data
        .map((s: { attributes: Record<string, unknown> }) => s.attributes[ATTR_PROMPTREG_DATASET_ITEM])
        .sort(),
    ).toEqual(["a", "b", "c", "d", "e", "x"]);
    expect(stored.body.data[0].attributes).toMatchObject({
      [ATTR_PROMPTREG_EXPERIMENT_ID]: id,
      [ATTR_PROMPTREG_EXPERIMENT_RUN]: v2.id,
    });
    // A version's test, not its traffic: listed by `experiment`, counted neither by compare nor by live evaluations.
    expect(stored.body.data.every((s: { inEvaluation: boolean }) => s.inEvaluation)).toBe(true);
    const byExperiment = await admin.get(`/api/v1/spans?experiment=${id}&limit=100`);
    expect(byExperiment.body.data).toHaveLength(12);
    expect((await admin.get(`/api/v1/spans?experiment=${"0".repeat(8)}&limit=100`)).body.data).toHaveLength(0);
    const production = await admin.get(`/api/v1/prompts/${encodeURIComponent(NAME)}/compare?versions=1.0.0,1.1.0`);
    expect(production.status, JSON.stringify(production.body)).toBe(200);
    expect(production.body.versions.map((v: { spans: number }) => v.spans)).toEqual([0, 0]);

    // The paired comparison reads the client run as a server run, the client's evaluator included.
    const compare = await admin.get(`/api/v1/experiments/${id}/compare?baseline=1.0.0&candidate=1.1.0`);
    expect(compare.status, JSON.stringify(compare.body)).toBe(200);
    expect(compare.body.evaluators.map((e: { name: string }) => e.name)).toEqual([
      "exact_match",
      "says-hello",
      "short",
    ]);
    expect(compare.body.evaluators[0]).toMatchObject({ pairs: 5, regressed: 0, improved: 0 });
    expect(compare.body.evaluators[2].scores).toMatchObject({ pairs: 5 });
    expect(compare.body.performance.baseline).toMatchObject({ errors: 1, cost: 0.0025, promptTokens: 11 });
  }, 60_000);

  it("resumes a run stopped partway without calling a finished item's task again", async () => {
    const calls = new Map<string, number>();
    const stop = new AbortController();
    const task = async (rendered: string | ChatMessage[], item: { id: string }) => {
      calls.set(item.id, (calls.get(item.id) ?? 0) + 1);
      if (calls.size === 4) stop.abort(new Error("stopped by the test"));
      return (await answer(rendered)).output;
    };
    const options = { dataset: "long", prompt: NAME, versions: ["1.0.0"], concurrency: 1, task };
    await expect(registry.runExperiment({ ...options, signal: stop.signal })).rejects.toThrow("stopped by the test");
    expect([...calls.keys()]).toEqual(["item-0", "item-1", "item-2", "item-3"]);
    const list = (await admin.get("/api/v1/experiments")).body.data;
    const id = list.find((e: { dataset: string }) => e.dataset === "long").id as string;

    const again = await registry.runExperiment({ experimentId: id, task });
    expect(again.runs[0]).toMatchObject({ called: 6, skipped: 4, errors: 0 });
    expect(calls.size).toBe(10);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    const done = await finished(id);
    expect(done).toMatchObject({ status: "finished" });
    expect(done.runs[0]).toMatchObject({ done: 10, errors: 0 });

    // A finished run has nothing left to do; resuming with other evaluators is refused.
    const idle = await registry.runExperiment({ experimentId: id, task });
    expect(idle.runs[0]).toMatchObject({ called: 0, skipped: 0 });
    await expect(
      registry.runExperiment({ experimentId: id, task, evaluators: { other: () => ({ passed: true }) } }),
    ).rejects.toMatchObject({ code: "experiment_mismatch" });
  }, 60_000);

  it("refuses a batch naming an unknown run or item whole, results of a server run, and a read key", async () => {
    const created = await admin.post("/api/v1/experiments", {
      dataset: "golden",
      prompt: NAME,
      versions: ["1.0.0"],
      mode: "client",
      evaluators: ["exact_match"],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const bad = await admin.post(`/api/v1/experiments/${id}/results`, {
      results: [
        { run: "1.0.0", itemId: "a", output: "hello" },
        { run: "1.0.0", itemId: "nope", output: "hello" },
        { run: "9.9.9", itemId: "b", output: "hello" },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues).toEqual([
      { path: "body.results.1.itemId", message: expect.stringMatching(/no item 'nope'/) },
      { path: "body.results.2.run", message: expect.stringMatching(/no run '9\.9\.9'.*1\.0\.0/) },
    ]);
    const received = await admin.get(`/api/v1/experiments/${id}/received`);
    expect(received.body.data).toEqual([]);

    const good = await admin.post(`/api/v1/experiments/${id}/results`, {
      results: [{ run: "1.0.0", itemId: "a", output: "hello", latencyMs: 12 }],
    });
    expect(good.body).toEqual({ queued: 1, skipped: [] });
    await jobs.until(async () => (await admin.get(`/api/v1/experiments/${id}`)).body.runs[0].done === 1);
    const twice = await admin.post(`/api/v1/experiments/${id}/results`, {
      results: [{ run: "1.0.0", itemId: "a", output: "something else" }],
    });
    expect(twice.body).toEqual({ queued: 0, skipped: [{ run: created.body.runs[0].id, itemId: "a" }] });
    const [a] = (await admin.get(`/api/v1/experiments/${id}/results`)).body.data;
    expect(a).toMatchObject({
      itemId: "a",
      output: "hello",
      latencyMs: 12,
      evaluations: { exact_match: { status: "passed" } },
    });

    const reader = h.as(await h.newKey("read"));
    const refused = await reader.post(`/api/v1/experiments/${id}/results`, {
      results: [{ run: "1.0.0", itemId: "b", output: "hello" }],
    });
    expect(refused.status).toBe(403);

    // A server run needs its connection; its results are its own jobs'.
    const noConnection = await admin.post("/api/v1/experiments", {
      dataset: "golden",
      prompt: NAME,
      versions: ["1.0.0"],
    });
    expect(noConnection.status).toBe(422);
    expect(noConnection.body.error.details.issues).toEqual([{ path: "body.connection", message: expect.any(String) }]);
    await admin.post("/api/v1/connections", { name: "model", baseUrl: traced.fake.baseURL, model: "m" }).expect(201);
    const server = await admin.post("/api/v1/experiments", {
      dataset: "golden",
      prompt: NAME,
      versions: ["1.0.0"],
      connection: "model",
    });
    expect(server.status, JSON.stringify(server.body)).toBe(201);
    await admin.post(`/api/v1/experiments/${server.body.id}/cancel`).expect(200);
    const toServer = await admin.post(`/api/v1/experiments/${server.body.id}/results`, {
      results: [{ run: "1.0.0", itemId: "a", output: "hello" }],
    });
    expect(toServer.status).toBe(409);
    expect(toServer.body.error.message).toMatch(/server run/);

    // A client run takes no connection.
    const withConnection = await admin.post("/api/v1/experiments", {
      dataset: "golden",
      prompt: NAME,
      versions: ["1.0.0"],
      mode: "client",
      connection: "model",
    });
    expect(withConnection.status).toBe(422);
  }, 60_000);
});
