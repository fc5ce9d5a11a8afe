// Evaluations through the real app on a real database, the real OTLP receiver and a fake OpenAI-compatible judge on
// 127.0.0.1: evaluators defined through the API, spans queued after ingest and judged in the background by the job
// runner, results as annotations that compare reads, and the judge failing every way a model server does. Every wait
// is on the runner's events (a result written), never on a clock.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sampled } from "../src/evals/definition.js";
import { ingestSpans, llmSpan, moveLabel, publishVersion } from "./helpers/factories.js";
import { type FakeJudge, JUDGE_TEMPLATE, startFakeJudge } from "./helpers/fake-judge.js";
import { createHarness, enc, type Harness } from "./helpers/harness.js";
import { newSpanId, newTraceId, nextNs, type SpanSpec } from "./helpers/otlp.js";
import { settledJobs } from "./helpers/settled-jobs.js";

let h: Harness;
let judge: FakeJudge;
const { events: settled, onSettled, until } = settledJobs();

const admin = () => h.as(h.adminKey);

async function results(name: string, query = "") {
  const res = await admin().get(`/api/v1/evaluators/${name}/results${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as {
    revision: number;
    total: { passed: number; failed: number; skipped: number; error: number; pending: number };
    versions: { prompt: string; version: string; passed: number; failed: number; error: number; skipped: number }[];
  };
}
const done = async (name: string, n: number, query = "") => {
  const t = (await results(name, query)).total;
  return t.passed + t.failed + t.skipped + t.error >= n;
};

function answerSpan(prompt: string, version: string, output: string | null, extra: Partial<SpanSpec> = {}): SpanSpec {
  const start = nextNs();
  return llmSpan(prompt, version, {
    traceId: newTraceId(),
    spanId: newSpanId(),
    start,
    end: (BigInt(start) + 5_000_000n).toString(),
    ...extra,
    attributes: {
      "input.value": "What is the refund policy?",
      ...(output === null ? {} : { "output.value": output }),
      ...extra.attributes,
    },
  });
}

async function evaluator(body: Record<string, unknown>) {
  const res = await admin().post("/api/v1/evaluators", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const judgeConfig = { judgePrompt: "evals/helpful@production", connection: "judge" };

beforeAll(async () => {
  judge = await startFakeJudge();
  h = await createHarness({
    allowPrivateConnections: true,
    jobs: {
      pollMs: 50,
      retryBaseMs: 20,
      retryMaxMs: 100,
      onSettled,
    },
    evalMaxAttempts: 3,
  });
  const as = admin();
  for (const name of [
    "qa/answer",
    "qa/revised",
    "qa/outage",
    "qa/broken",
    "qa/budget",
    "qa/skips",
    "qa/backfill",
    "qa/odd",
  ])
    await publishVersion(as, name, { template: "Answer {{question}}", commitMessage: "v1" });
  await publishVersion(as, "qa/answer", { template: "Answer {{question}} kindly", commitMessage: "v2" });
  await publishVersion(as, "evals/helpful", { template: JUDGE_TEMPLATE, commitMessage: "judge" } as never);
  await moveLabel(as, "evals/helpful", "production", "1.0.0");
  await publishVersion(as, "evals/text", { template: "Judge {{output}}", commitMessage: "text" });
  await publishVersion(as, "evals/no-output", {
    template: [{ role: "user", content: "Judge {{input}}" }],
    commitMessage: "no output",
  } as never);
  for (const name of ["qa/broken", "qa/revised"])
    await publishVersion(as, name, { template: "Answer {{question}} briefly", commitMessage: "v2" });
  // A timeout long enough that a busy machine never makes an answered call look like a black hole, and a short one
  // for the test of black holes.
  await as
    .post("/api/v1/connections", {
      name: "judge",
      baseUrl: judge.url,
      model: "fake-judge",
      timeoutMs: 60_000,
      maxConcurrency: 8,
    })
    .expect(201);
  await as
    .post("/api/v1/connections", { name: "judge-fast", baseUrl: judge.url, model: "fake-judge", timeoutMs: 1_000 })
    .expect(201);
}, 60_000);

afterAll(async () => {
  await h?.close();
  await judge?.close();
});

describe("evaluator definitions", () => {
  it.each([
    [{ kind: "regex", config: { pattern: "(?<=a)b" } }, "body.config.pattern", /lookaround/],
    [{ kind: "regex", config: {} }, "body.config.pattern", /./],
    [{ kind: "json_schema", config: { schema: { type: "string", pattern: "(a)\\1" } } }, "body.config.schema", /./],
    [{ kind: "json", sampleRate: 1.5 }, "body.sampleRate", /\[0, 1\]/],
    [{ kind: "json", sampleRate: -0.1 }, "body.sampleRate", /\[0, 1\]/],
    [{ kind: "json", target: { prompt: "missing/prompt" } }, "body.target.prompt", /no prompt named/],
    [{ kind: "json", target: { prompt: "qa/answer", prefix: "qa/" } }, "body.target.prefix", /not both/],
    [{ kind: "length", config: { min: 5, max: 2 } }, "body.config.max", /less than min/],
    [
      { kind: "llm_judge", config: { ...judgeConfig, judgePrompt: "nope@production" } },
      "body.config.judgePrompt",
      /not found/,
    ],
    [
      { kind: "llm_judge", config: { ...judgeConfig, judgePrompt: "evals/text@latest" } },
      "body.config.judgePrompt",
      /chat prompt/,
    ],
    [
      { kind: "llm_judge", config: { ...judgeConfig, judgePrompt: "evals/no-output@latest" } },
      "body.config.judgePrompt",
      /variable 'output'/,
    ],
    [{ kind: "llm_judge", config: { ...judgeConfig, connection: "nope" } }, "body.config.connection", /no connection/],
    [{ kind: "llm_judge", config: { connection: "judge" } }, "body.config.judgePrompt", /./],
    [{ kind: "nope" }, "body.kind", /./],
  ])("refuses %j with a 422 naming %s", async (def, path, message) => {
    const res = await admin().post("/api/v1/evaluators", { name: "refused", sampleRate: 1, ...def });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    const issue = res.body.error.details.issues[0];
    expect(issue.path).toBe(path);
    expect(issue.message).toMatch(message);
    expect((await admin().get("/api/v1/evaluators/refused")).status).toBe(404);
  });

  it("a read key may list evaluators but not define them", async () => {
    const read = h.as(await h.newKey("read"));
    expect((await read.get("/api/v1/evaluators")).status).toBe(200);
    const res = await read.post("/api/v1/evaluators", { name: "ro", kind: "json", sampleRate: 1 });
    expect(res.status).toBe(403);
  });

  it("samples by a hash of the span id: 25% ± 1.5% of 10,000 spans at 0.25, the same spans every time", () => {
    const ids = Array.from({ length: 10_000 }, () => randomBytes(8).toString("hex"));
    const chosen = ids.filter((id) => sampled(id, 0.25));
    expect(chosen.length / ids.length).toBeGreaterThanOrEqual(0.235);
    expect(chosen.length / ids.length).toBeLessThanOrEqual(0.265);
    expect(ids.filter((id) => sampled(id, 0.25))).toEqual(chosen);
    expect(ids.every((id) => sampled(id, 1) && !sampled(id, 0))).toBe(true);
  });
});

describe("evaluations on live traffic", () => {
  it("judges the ground truth: compare by the evaluator gives exactly the failures the judge gave, and worse", async () => {
    // 400 spans of each version; the judge fails 5% of 1.0.0's answers and 12% of 1.0.1's.
    await evaluator({
      name: "helpful",
      kind: "llm_judge",
      target: { prompt: "qa/answer" },
      sampleRate: 1,
      config: judgeConfig,
    });
    await evaluator({ name: "valid-json", kind: "json", target: { prompt: "qa/answer" }, sampleRate: 1 });
    const spans: SpanSpec[] = [];
    for (const [version, bad] of [
      ["1.0.0", 20],
      ["1.0.1", 48],
    ] as const)
      for (let i = 0; i < 400; i++)
        spans.push(
          answerSpan("qa/answer", version, JSON.stringify({ answer: `${version} #${i}${i < bad ? " BAD" : ""}` })),
        );
    const callsBefore = judge.total();
    await ingestSpans(h, spans);
    await until(async () => (await done("helpful", 800)) && (await done("valid-json", 800)));

    const byVersion = (await results("helpful")).versions.map((v) => [v.version, v.passed, v.failed, v.error]);
    expect(byVersion.sort()).toEqual([
      ["1.0.0", 380, 20, 0],
      ["1.0.1", 352, 48, 0],
    ]);
    // One call per span: nothing judged twice.
    expect(judge.total() - callsBefore).toBe(800);
    const compare = await admin().get(
      `/api/v1/prompts/${enc("qa/answer")}/compare?versions=1.0.0,1.0.1&failure=annotation:helpful`,
    );
    expect(compare.status).toBe(200);
    expect(compare.body.versions.map((v: { units: number; failures: number }) => [v.units, v.failures])).toEqual([
      [400, 20],
      [400, 48],
    ]);
    expect(compare.body.comparisons[0].verdict).toBe("worse");
    // The other evaluator on the same spans: every answer is JSON.
    const json = await admin().get(
      `/api/v1/prompts/${enc("qa/answer")}/compare?versions=1.0.0,1.0.1&failure=annotation:valid-json`,
    );
    expect(json.body.versions.map((v: { units: number; failures: number }) => [v.units, v.failures])).toEqual([
      [400, 0],
      [400, 0],
    ]);
    // The list shows the pass rates.
    const listed = (await admin().get("/api/v1/evaluators")).body.data.find(
      (e: { name: string }) => e.name === "helpful",
    );
    expect(listed.results).toMatchObject({ passed: 732, failed: 68, pending: 0, passRate: 732 / 800 });
    // Each judge call is stored as an EVALUATOR span with its LLM child, never counted as the application's calls.
    const evaluatorSpans = await admin().get("/api/v1/spans?spanKind=EVALUATOR&limit=1");
    expect(evaluatorSpans.body.data[0]).toMatchObject({ spanKind: "EVALUATOR", name: "evaluate helpful" });
    const trace = await admin().get(`/api/v1/traces/${evaluatorSpans.body.data[0].traceId}`);
    const child = trace.body.spans[0].children[0];
    expect(child).toMatchObject({ spanKind: "LLM", inEvaluation: true, promptName: "evals/helpful" });
    // Its own trace: the application's trace is left as it was.
    expect(trace.body.spans[0].attributes["promptreg.evaluated.trace_id"]).toMatch(/^[0-9a-f]{32}$/);
  }, 300_000);

  it("a result on the trace carries its status, reason, revision and what judged it", async () => {
    const span = answerSpan("qa/answer", "1.0.0", "fine BAD");
    await ingestSpans(h, [span]);
    await until(async () => {
      const t = await admin().get(`/api/v1/traces/${span.traceId}`);
      return t.body.spans[0].annotations.length === 2;
    });
    const t = await admin().get(`/api/v1/traces/${span.traceId}`);
    const helpful = t.body.spans[0].annotations.find((a: { name: string }) => a.name === "helpful");
    expect(helpful).toMatchObject({
      kind: "eval",
      status: "failed",
      passed: false,
      score: 0.1,
      comment: "it says BAD",
      revision: 1,
      details: { judgePrompt: "evals/helpful", judgeVersion: "1.0.0", connection: "judge", model: "fake-judge-1" },
    });
  }, 60_000);

  it("a judge answering 500, 429 with Retry-After, or not at all is retried; results arrive once it recovers", async () => {
    await evaluator({
      name: "outage",
      kind: "llm_judge",
      target: { prompt: "qa/outage" },
      sampleRate: 1,
      config: { ...judgeConfig, connection: "judge-fast" },
    });
    for (const mode of ["500", "429", "hole", "garbage"] as const) {
      judge.failing = { mode, calls: 2 };
      const spans = [0, 1, 2].map((i) =>
        answerSpan("qa/outage", "1.0.0", `outage ${mode} ${i}${i === 0 ? " BAD" : ""}`),
      );
      const before = (await results("outage")).total;
      const retried = settled.filter((e) => e.queue === "evaluations.evaluate" && e.outcome === "retrying").length;
      await ingestSpans(h, spans);
      // While it fails, nothing is counted: the spans are pending, none failed.
      await until(
        async () =>
          settled.filter((e) => e.queue === "evaluations.evaluate" && e.outcome === "retrying").length >= retried + 3,
      );
      const meanwhile = (await results("outage")).total;
      expect(meanwhile.failed - before.failed, mode).toBe(0);
      expect(meanwhile.error - before.error, mode).toBe(0);
      await until(async () => {
        const t = (await results("outage")).total;
        return t.passed + t.failed === before.passed + before.failed + 3;
      });
      const after = (await results("outage")).total;
      expect([after.passed - before.passed, after.failed - before.failed, after.error - before.error], mode).toEqual([
        2, 1, 0,
      ]);
      // Two failed calls and the one that answered, per span.
      for (const s of spans)
        expect(judge.calls.get(JSON.stringify(s.attributes?.["output.value"]).slice(1, -1))).toBe(3);
    }
    judge.failing = undefined;
  }, 120_000);

  it("after the last attempt the result is `error` with the reason; compare leaves it out and counts it", async () => {
    await evaluator({
      name: "broken",
      kind: "llm_judge",
      target: { prompt: "qa/broken" },
      sampleRate: 1,
      config: judgeConfig,
    });
    judge.failing = { mode: "500", calls: 100 };
    const spans = [0, 1, 2, 3].map((i) => answerSpan("qa/broken", "1.0.0", `broken ${i}`));
    await ingestSpans(h, spans);
    await until(async () => (await results("broken")).total.error === 4);
    judge.failing = undefined;
    const t = await admin().get(`/api/v1/traces/${spans[0]!.traceId}`);
    expect(t.body.spans[0].annotations[0]).toMatchObject({ status: "error", passed: null, revision: 1 });
    expect(t.body.spans[0].annotations[0].comment).toMatch(/500/);
    // Three attempts, each a call.
    expect(judge.calls.get("broken 0")).toBe(3);
    // One verdict besides, so that compare has a recorded name to read.
    const ok = answerSpan("qa/broken", "1.0.0", "broken but fine");
    await ingestSpans(h, [ok]);
    await until(async () => (await results("broken")).total.passed === 1);
    const compare = await admin().get(
      `/api/v1/prompts/${enc("qa/broken")}/compare?versions=1.0.0,1.0.1&failure=annotation:broken`,
    );
    expect(compare.status, JSON.stringify(compare.body)).toBe(200);
    expect(compare.body.versions[0]).toMatchObject({ units: 1, failures: 0 });
    expect(compare.body.versions[0].coverage).toMatchObject({ annotatedUnits: 1, allUnits: 5, evaluationErrors: 4 });
  }, 60_000);

  it("a chunk's checks are written together, answers starting with an emoji or holding odd text included", async () => {
    // A parse error on "😀…" names half of the surrogate pair, which jsonb refuses: it used to fail the whole chunk.
    await evaluator({ name: "odd-json", kind: "json", target: { prompt: "qa/odd" }, sampleRate: 1 });
    const spans = [
      answerSpan("qa/odd", "1.0.0", "😀 not JSON"),
      answerSpan("qa/odd", "1.0.0", '{"ok": true}'),
      answerSpan("qa/odd", "1.0.0", "\uD83D half an escape"),
    ];
    await ingestSpans(h, spans);
    await until(async () => (await results("odd-json")).total.failed === 2);
    expect((await results("odd-json")).total).toMatchObject({ passed: 1, failed: 2, error: 0, skipped: 0 });
    const first = await admin().get(`/api/v1/traces/${spans[0]!.traceId}`);
    expect(first.body.spans[0].annotations[0]).toMatchObject({ status: "failed", revision: 1 });
  }, 60_000);

  it("spans without output, and failed calls, are skipped with the reason, never judged", async () => {
    await evaluator({
      name: "skips",
      kind: "llm_judge",
      target: { prompt: "qa/skips" },
      sampleRate: 1,
      config: judgeConfig,
    });
    const calls = judge.total();
    const noOutput = answerSpan("qa/skips", "1.0.0", null);
    const failedCall = answerSpan("qa/skips", "1.0.0", "partial", { status: { code: 2, message: "timeout" } });
    await ingestSpans(h, [noOutput, failedCall]);
    await until(async () => (await results("skips")).total.skipped === 2);
    expect(judge.total()).toBe(calls);
    const reasons = [];
    for (const s of [noOutput, failedCall]) {
      const t = await admin().get(`/api/v1/traces/${s.traceId}`);
      reasons.push(t.body.spans[0].annotations[0].comment);
    }
    expect(reasons[0]).toMatch(/no output text/);
    expect(reasons[1]).toMatch(/status ERROR/);
  }, 60_000);

  it("a daily budget stops judging with a clear status", async () => {
    await evaluator({
      name: "budget",
      kind: "llm_judge",
      target: { prompt: "qa/budget" },
      sampleRate: 1,
      dailyBudget: 3,
      config: judgeConfig,
    });
    const calls = judge.total();
    await ingestSpans(
      h,
      [0, 1, 2, 3, 4].map((i) => answerSpan("qa/budget", "1.0.0", `budget ${i}`)),
    );
    await until(async () => await done("budget", 5));
    const t = (await results("budget")).total;
    expect([t.passed, t.skipped]).toEqual([3, 2]);
    expect(judge.total() - calls).toBe(3);
    const e = (await admin().get("/api/v1/evaluators/budget")).body;
    expect(e).toMatchObject({ status: "budget_exhausted", usedToday: 3, dailyBudget: 3 });
  }, 60_000);

  it("a changed evaluator makes a new revision; old results are kept and never mixed with the new", async () => {
    await evaluator({
      name: "short",
      kind: "length",
      target: { prompt: "qa/revised" },
      sampleRate: 1,
      config: { max: 5 },
    });
    const first = [answerSpan("qa/revised", "1.0.0", "tiny"), answerSpan("qa/revised", "1.0.0", "much too long")];
    await ingestSpans(h, first);
    await until(() => done("short", 2));
    // Turning it off and on, or its budget, is not a new revision.
    const toggled = await admin().put("/api/v1/evaluators/short", {
      kind: "length",
      target: { prompt: "qa/revised" },
      sampleRate: 1,
      config: { max: 5 },
      enabled: false,
    });
    expect(toggled.body).toMatchObject({ revision: 1, enabled: false, status: "disabled" });
    const changed = await admin().put("/api/v1/evaluators/short", {
      kind: "length",
      target: { prompt: "qa/revised" },
      sampleRate: 1,
      config: { max: 100 },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ revision: 2, enabled: true, results: { passed: 0, failed: 0 } });
    await ingestSpans(h, [answerSpan("qa/revised", "1.0.0", "much too long for the old one")]);
    await until(() => done("short", 1));
    expect((await results("short")).total).toMatchObject({ passed: 1, failed: 0 });
    expect((await results("short", "?revision=1")).total).toMatchObject({ passed: 1, failed: 1 });
    // Compare reads the current revision unless asked for another.
    const url = `/api/v1/prompts/${enc("qa/revised")}/compare?versions=1.0.0,1.0.1&failure=annotation:short&minSample=1`;
    expect((await admin().get(url)).body.versions[0]).toMatchObject({ units: 1, failures: 0 });
    expect((await admin().get(`${url}&revision=1`)).body.versions[0]).toMatchObject({ units: 2, failures: 1 });
    expect((await admin().get(`/api/v1/evaluators/short/results?revision=3`)).status).toBe(422);
  }, 60_000);

  it("preview runs a definition, saved or not, on the latest matching spans and stores nothing", async () => {
    const before = (await results("helpful")).total;
    const calls = judge.total();
    const res = await admin().post("/api/v1/evaluators/draft/preview", {
      definition: { kind: "regex", target: { prompt: "qa/answer" }, sampleRate: 0.1, config: { pattern: "BAD" } },
      limit: 10,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toHaveLength(10);
    expect(res.body.data[0]).toMatchObject({ promptName: "qa/answer", status: expect.any(String) });
    expect(res.body.counts.passed + res.body.counts.failed).toBe(10);
    const saved = await admin().post("/api/v1/evaluators/helpful/preview", { limit: 3 });
    expect(saved.status).toBe(200);
    expect(saved.body.data).toHaveLength(3);
    expect(judge.total() - calls).toBe(3);
    expect((await results("helpful")).total).toEqual(before);
    expect((await admin().get("/api/v1/evaluators/draft")).status).toBe(404);
    const tooMany = await admin().post("/api/v1/evaluators/helpful/preview", { limit: 50 });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error.details.issues[0].path).toBe("body.limit");
  }, 60_000);

  it("backfills past spans in a range at the evaluator's sample, with progress, and can be cancelled", async () => {
    const from = new Date().toISOString();
    const spans = Array.from({ length: 120 }, (_, i) => answerSpan("qa/backfill", "1.0.0", i % 2 ? "{}" : "nope"));
    await ingestSpans(h, spans);
    await evaluator({
      name: "backfilled",
      kind: "json",
      target: { prompt: "qa/backfill" },
      sampleRate: 0.5,
      enabled: false,
    });
    const to = new Date(Date.now() + 60 * 60_000).toISOString();
    // The spans' times come from the test clock (nextNs), so the range is theirs: from the first to after the last.
    const first = new Date(Number(BigInt(spans[0]!.start!) / 1_000_000n)).toISOString();
    const started = await admin().post("/api/v1/evaluators/backfilled/backfill", { from: first, to, limit: 1000 });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ status: "running", revision: 1 });
    await until(async () => (await admin().get("/api/v1/evaluators/backfilled/backfill")).body.status === "done");
    const chosen = spans.filter((s) => sampled(s.spanId!, 0.5)).length;
    const progress = (await admin().get("/api/v1/evaluators/backfilled/backfill")).body;
    expect(progress).toMatchObject({ queued: chosen, evaluated: chosen });
    expect((await results("backfilled")).total).toMatchObject({
      passed: spans.filter((s, i) => i % 2 && sampled(s.spanId!, 0.5)).length,
      failed: spans.filter((s, i) => !(i % 2) && sampled(s.spanId!, 0.5)).length,
    });
    // A second run finds nothing new: each span has its one result.
    await admin().post("/api/v1/evaluators/backfilled/backfill", { from: first, to }).expect(202);
    await until(async () => (await admin().get("/api/v1/evaluators/backfilled/backfill")).body.status === "done");
    expect((await admin().get("/api/v1/evaluators/backfilled/backfill")).body.queued).toBe(0);
    // A capped run, cancelled: its status says so, and nothing more is queued.
    await admin().put("/api/v1/evaluators/backfilled", {
      kind: "json",
      target: { prompt: "qa/backfill" },
      sampleRate: 1,
      enabled: false,
    });
    await admin().post("/api/v1/evaluators/backfilled/backfill", { from: first, to, limit: 5 }).expect(202);
    const cancelled = await admin().delete("/api/v1/evaluators/backfilled/backfill");
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect(cancelled.body.queued).toBeLessThanOrEqual(5);
    const bad = await admin().post("/api/v1/evaluators/backfilled/backfill", { from: to, to: from });
    expect(bad.status).toBe(422);
    expect(from < to).toBe(true);
  }, 60_000);

  it("samples live traffic exactly as the hash decides", async () => {
    await publishVersion(admin(), "qa/sampled", { template: "x", commitMessage: "v1" });
    await evaluator({ name: "quarter", kind: "json", target: { prompt: "qa/sampled" }, sampleRate: 0.25 });
    const spans = Array.from({ length: 400 }, () => answerSpan("qa/sampled", "1.0.0", "{}"));
    await ingestSpans(h, spans);
    const chosen = spans.filter((s) => sampled(s.spanId!, 0.25)).length;
    await until(() => done("quarter", chosen));
    expect((await results("quarter")).total.passed).toBe(chosen);
  }, 60_000);

  it("deleting an evaluator removes its results, so a new one of the name starts afresh", async () => {
    expect((await admin().delete("/api/v1/evaluators/short")).status).toBe(204);
    expect((await admin().get("/api/v1/evaluators/short")).status).toBe(404);
    await evaluator({ name: "short", kind: "json", target: { prompt: "qa/revised" }, sampleRate: 1 });
    expect((await results("short", "?revision=1")).total).toMatchObject({ passed: 0, failed: 0 });
  });
});
