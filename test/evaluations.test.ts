// Evaluations through the real app on a real database, the real OTLP receiver and a fake OpenAI-compatible judge on
// 127.0.0.1: evaluators defined through the API, spans queued after ingest and judged in the background by the job
// runner, results as annotations that compare reads, and the judge failing every way a model server does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobEvent } from "../src/jobs/runner.js";
import { publishVersion } from "./helpers/factories.js";
import { startFakeJudge, type FakeJudge, JUDGE_TEMPLATE } from "./helpers/fake-judge.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { newSpanId, newTraceId, nextNs, type SpanSpec } from "./helpers/otlp.js";
import { ingestSpans, llmSpan, moveLabel } from "./helpers/factories.js";

let h: Harness;
let judge: FakeJudge;
const settled: JobEvent[] = [];
const listeners = new Set<() => void>();

/** Waits (on the runner's events, not a clock) until `done()` holds. */
async function until(done: () => Promise<boolean>): Promise<void> {
  if (await done()) return;
  await new Promise<void>((resolve, reject) => {
    let checking = false;
    const check = () => {
      if (checking) return;
      checking = true;
      done()
        .then((ok) => {
          checking = false;
          if (ok) {
            listeners.delete(check);
            resolve();
          }
        })
        .catch(reject);
    };
    listeners.add(check);
    check();
  });
}

const totalResults = async (name: string) => {
  const res = await h.as(h.adminKey).get(`/api/v1/evaluators/${name}/results`);
  expect(res.status).toBe(200);
  const t = res.body.total;
  return { done: t.passed + t.failed + t.skipped + t.error, ...t };
};

function answerSpan(prompt: string, version: string, output: string, extra: Partial<SpanSpec> = {}): SpanSpec {
  const start = nextNs();
  return llmSpan(prompt, version, {
    traceId: newTraceId(),
    spanId: newSpanId(),
    start,
    end: (BigInt(start) + 5_000_000n).toString(),
    ...extra,
    attributes: {
      "input.value": "What is the refund policy?",
      "output.value": output,
      ...extra.attributes,
    },
  });
}

beforeAll(async () => {
  judge = await startFakeJudge();
  h = await createHarness({
    allowPrivateConnections: true,
    jobs: {
      pollMs: 50,
      retryBaseMs: 20,
      retryMaxMs: 200,
      onSettled: (e) => {
        settled.push(e);
        for (const l of [...listeners]) l();
      },
    },
    evalMaxAttempts: 3,
  });
  const as = h.as(h.adminKey);
  await publishVersion(as, "support/answer", { template: "Answer {{question}}", commitMessage: "v1" });
  await publishVersion(as, "evals/helpful", { template: JUDGE_TEMPLATE, commitMessage: "judge" } as never);
  await moveLabel(as, "evals/helpful", "production", "1.0.0");
  await as
    .post("/api/v1/connections", { name: "judge", baseUrl: judge.url, model: "fake-judge", timeoutMs: 1_000 })
    .expect(201);
}, 60_000);

afterAll(async () => {
  await h?.close();
  await judge?.close();
});

describe("evaluators", () => {
  it("a deterministic evaluator judges live traffic after ingest, once per span", async () => {
    const as = h.as(h.adminKey);
    const created = await as.post("/api/v1/evaluators", {
      name: "valid-json",
      kind: "json",
      target: { prompt: "support/answer" },
      sampleRate: 1,
      config: {},
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "valid-json", revision: 1, enabled: true, status: "active" });
    await ingestSpans(h, [
      answerSpan("support/answer", "1.0.0", '{"ok": true}'),
      answerSpan("support/answer", "1.0.0", "not json"),
    ]);
    await until(async () => (await totalResults("valid-json")).done === 2);
    const r = await totalResults("valid-json");
    expect(r).toMatchObject({ passed: 1, failed: 1, skipped: 0, error: 0, pending: 0 });
  }, 60_000);

  it("an LLM judge calls the connection with the registry's judge prompt and stores its call as an EVALUATOR span", async () => {
    const as = h.as(h.adminKey);
    const created = await as.post("/api/v1/evaluators", {
      name: "helpful",
      kind: "llm_judge",
      target: { prefix: "support/" },
      sampleRate: 1,
      config: { judgePrompt: "evals/helpful@production", connection: "judge" },
    });
    expect(created.status).toBe(201);
    await ingestSpans(h, [
      answerSpan("support/answer", "1.0.0", "You can return it within 30 days."),
      answerSpan("support/answer", "1.0.0", "BAD answer"),
    ]);
    await until(async () => (await totalResults("helpful")).done === 2);
    expect(await totalResults("helpful")).toMatchObject({ passed: 1, failed: 1 });
    const traces = await as.get("/api/v1/spans?kind=EVALUATOR");
    expect(traces.status).toBe(200);
  }, 60_000);
});
