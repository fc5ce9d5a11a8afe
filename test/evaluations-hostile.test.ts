// Evaluations against hostile tenants and unlucky timing, through the real app on a real database and fake model
// servers on 127.0.0.1. Every project's evaluators run in one server, on workers all projects share, so each case
// here is a way one tenant, or one request badly timed, could reach past its own evaluators: a JSON Schema whose
// `$id` unregisters the meta-schema every other schema compiles against; failed calls dropping out of a comparison,
// so that a version whose calls crash looks perfect; inputs that end in a 500, or in a stored row no read can load;
// a result written for an evaluator deleted meanwhile, inherited by its successor of the same name; a cancelled
// backfill revived by its own page job; and one project's backlog, on a judge slow or silent, holding every
// project's evaluations behind it. Waits are on the runner's events and the fake servers' calls, never on a clock:
// "nothing happened" is shown by the other thing happening first (a result written while a call is still held open).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectionLimiter } from "../src/connections/limits.js";
import type { Database } from "../src/db/client.js";
import { NotSentError } from "../src/outbound/outbound.js";
import {
  createProject,
  ingestSpans,
  llmSpan,
  moveLabel,
  publishVersion,
  type TestProject,
} from "./helpers/factories.js";
import { type FakeJudge, JUDGE_TEMPLATE, startFakeJudge } from "./helpers/fake-judge.js";
import { type Client, createHarness, type Harness } from "./helpers/harness.js";
import { newSpanId, newTraceId, type SpanSpec } from "./helpers/otlp.js";
import { settledJobs } from "./helpers/settled-jobs.js";

let h: Harness;
/** Holds each call until released: the test acts while the judge is answering. */
let judge: FakeJudge;
/** Accepts each call and never answers: a judge as slow as its connection's timeout allows. */
let blackHole: FakeJudge;
/** Answers at once. */
let quick: FakeJudge;
const jobs = settledJobs();
/** The instance's evaluate workers, shared by every project. */
const WORKERS = 4;

beforeAll(async () => {
  judge = await startFakeJudge();
  judge.mode = "held";
  blackHole = await startFakeJudge();
  blackHole.mode = "hole";
  quick = await startFakeJudge();
  h = await createHarness({
    allowPrivateConnections: true,
    jobs: { pollMs: 50, retryBaseMs: 20, retryMaxMs: 100, onSettled: jobs.onSettled },
    evalConcurrency: WORKERS,
  });
}, 60_000);

afterAll(async () => {
  await h?.close();
  await judge?.close();
  await blackHole?.close();
  await quick?.close();
});

type Total = { passed: number; failed: number; skipped: number; error: number; pending: number };

async function total(as: Client, evaluator: string): Promise<Total> {
  const res = await as.get(`/api/v1/evaluators/${evaluator}/results`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.total;
}

/** An answer of `prompt`@1.0.0. */
function answer(prompt: string, output: string): SpanSpec {
  return llmSpan(prompt, "1.0.0", {
    traceId: newTraceId(),
    spanId: newSpanId(),
    attributes: { "output.value": output },
  });
}

/** Resolves once `server` has received `n` calls more. */
const received = (server: FakeJudge, n = 1) =>
  new Promise<void>((resolve) => {
    let seen = 0;
    server.onCall = () => {
      if (++seen === n) resolve();
    };
  });

/** A project `name` with the judge prompt evals/judge (production) and a connection `judge` to `server`. */
async function judgeProject(name: string, server: FakeJudge, connection: Record<string, unknown> = {}) {
  const project = await createProject(h, name);
  await publishVersion(project.admin, "evals/judge", { template: JUDGE_TEMPLATE, commitMessage: "judge" } as never);
  await moveLabel(project.admin, "evals/judge", "production", "1.0.0");
  await project.admin
    .post("/api/v1/connections", { name: "judge", baseUrl: server.url, model: "m", timeoutMs: 60_000, ...connection })
    .expect(201);
  return project;
}
const judgeConfig = { judgePrompt: "evals/judge@production", connection: "judge" };

/**
 * Holds the next statement the app sends through `database.query` whose text matches `pattern`, as a slow statement
 * would be held: `reached` settles once the app has issued it, and it goes to the database at `release()`. The one
 * place this file steers the app's timing: a request can then land while a job's statement runs, on either database
 * (holding it with a table lock would need a second connection, which the embedded database does not have).
 */
function holdStatement(database: Database, pattern: RegExp) {
  const query = database.query as (statement: unknown, params?: unknown[]) => Promise<unknown>;
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let reach = () => {};
  const reached = new Promise<void>((resolve) => (reach = resolve));
  database.query = (async (statement: unknown, params?: unknown[]) => {
    const text = typeof statement === "string" ? statement : (statement as { sql: string }).sql;
    if (pattern.test(text)) {
      database.query = query as Database["query"];
      reach();
      await released;
    }
    return query.call(database, statement, params);
  }) as Database["query"];
  return { reached, release };
}

describe("a json_schema evaluator in one project cannot break another's", () => {
  // Schemas used to be compiled in one Ajv for the whole server and removed from it afterwards: a root `$id` naming
  // the draft-07 meta-schema removed the meta-schema itself, and from then on no schema of any project compiled (new
  // definitions refused, saved ones dropped from the compiled cache failing to list or to evaluate). A root `$id`
  // that is no string made the removal throw: a 500.
  let attacker: TestProject;
  let victim: TestProject;
  const schemaEvaluator = (name: string, schema: Record<string, unknown>) => ({
    name,
    kind: "json_schema",
    sampleRate: 1,
    config: { schema },
  });

  beforeAll(async () => {
    attacker = await createProject(h, "attacker");
    victim = await createProject(h, "victim");
  });

  it("a root $id that is not a string is a 422, not a 500", async () => {
    const w = h.as(await h.newKey("write", attacker.adminKey));
    const res = await w.post("/api/v1/evaluators", schemaEvaluator("num-id", { $id: 5, type: "object" }));
    expect(res.status, JSON.stringify(res.body)).toBe(422);
  });

  it("a schema claiming the meta-schema's $id is refused, and other projects' schemas still compile", async () => {
    await victim.admin.post("/api/v1/evaluators", schemaEvaluator("shape", { type: "object" })).expect(201);
    await victim.admin.post("/api/v1/evaluators", { name: "plain", kind: "json", sampleRate: 1 }).expect(201);

    const w = h.as(await h.newKey("write", attacker.adminKey));
    const poison = await w.post(
      "/api/v1/evaluators",
      schemaEvaluator("poison", { $id: "http://json-schema.org/draft-07/schema", type: "object" }),
    );
    expect(poison.status, JSON.stringify(poison.body)).toBe(422);

    const after = await victim.admin.post("/api/v1/evaluators", schemaEvaluator("shape2", { type: "object" }));
    expect(after.status, JSON.stringify(after.body)).toBe(201);
  });

  it("the victim's saved evaluators still list and judge once the shared compiled cache has turned over", async () => {
    // More definitions than the cache of compiled ones holds (1,000, for every project): the victim's are compiled
    // again from what was saved, which is where a broken compiler showed.
    const w = h.as(await h.newKey("write", attacker.adminKey));
    for (let i = 0; i < 1001; i += 50)
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          w.post("/api/v1/evaluators", { name: `filler-${i + j}`, kind: "json", sampleRate: 1 }).expect(201),
        ),
      );
    const list = await victim.admin.get("/api/v1/evaluators");
    expect(list.status, JSON.stringify(list.body)).toBe(200);

    // The victim's live traffic: its fanout compiles every enabled evaluator of the project.
    await publishVersion(victim.admin, "app/v", { template: "Hi {{q}}", commitMessage: "v1" });
    const span = answer("app/v", "{}");
    const before = jobs.events.length;
    await ingestSpans(h, [span], victim.adminKey);
    const fanouts = () => jobs.events.slice(before).filter((e) => e.queue === "evaluations.fanout");
    // Until the span's fanout has ended, however, and no evaluation of the span is left to run.
    await jobs.until(async () => {
      if (!fanouts().some((e) => e.outcome === "done" || e.outcome === "gave_up")) return false;
      const { rows } = await h.database.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE key LIKE $1", [
        `%:${span.spanId}`,
      ]);
      return rows[0]!.n === 0;
    });
    const names = ["shape", "plain", "shape2"];
    const passed = await Promise.all(names.map(async (name) => (await total(victim.admin, name)).passed));
    expect({ passed, fanouts: fanouts().map((e) => e.outcome) }).toEqual({ passed: [1, 1, 1], fanouts: ["done"] });
  }, 120_000);
});

describe("compare with failure=any:<evaluator>", () => {
  // `any` is "failed by its status or by the evaluator" over the units the evaluator judged. An evaluator skips a
  // call whose status is ERROR (it already failed), and a skip is no verdict: every crashed call used to drop out of
  // the comparison, so a version whose calls crash looked perfect, and better than one that merely answers badly.
  it("counts a version's failed calls as failures", async () => {
    const { admin, adminKey } = await createProject(h, "crashy");
    await publishVersion(admin, "app/p", { template: "A {{q}}", commitMessage: "v1" });
    await publishVersion(admin, "app/p", { template: "B {{q}}", commitMessage: "v2" });
    await admin.post("/api/v1/evaluators", { name: "is-json", kind: "json", sampleRate: 1 }).expect(201);
    const span = (version: string, output: string, failed = false) =>
      llmSpan("app/p", version, {
        traceId: newTraceId(),
        spanId: newSpanId(),
        ...(failed ? { status: { code: 2, message: "upstream 500" } } : {}),
        attributes: { "output.value": output },
      });
    // 1.0.0: 30 of 60 calls crash, the other 30 answer JSON. 1.0.1: nothing crashes, 6 of 60 answers are not JSON.
    await ingestSpans(
      h,
      [
        ...Array.from({ length: 60 }, (_, i) => span("1.0.0", "{}", i < 30)),
        ...Array.from({ length: 60 }, (_, i) => span("1.0.1", i < 6 ? "nope" : "{}")),
      ],
      adminKey,
    );
    await jobs.until(async () => {
      const t = await total(admin, "is-json");
      return t.passed + t.failed + t.skipped + t.error === 120;
    });
    // minSample=1: 60 units a side is below the default sample a verdict needs.
    const res = await admin
      .get("/api/v1/prompts/app%2Fp/compare?versions=1.0.0,1.0.1&failure=any:is-json&minSample=1")
      .expect(200);
    const seen = res.body.versions.map((v: { version: string; units: number; failures: number }) => [
      v.version,
      v.units,
      v.failures,
    ]);
    expect({ seen, verdict: res.body.comparisons[0].verdict }).toEqual({
      seen: [
        ["1.0.0", 60, 30],
        ["1.0.1", 60, 6],
      ],
      verdict: "better",
    });
  }, 60_000);
});

describe("hostile inputs", () => {
  let edges: TestProject;
  beforeAll(async () => {
    edges = await createProject(h, "edges");
    await edges.admin.post("/api/v1/evaluators", { name: "e", kind: "json", sampleRate: 1 }).expect(201);
  });

  it("a $ref with a malformed %-escape is a 422, in an evaluator's schema and in a prompt's", async () => {
    // decodeURIComponent throws a URIError on it, which reached the error handler as a 500.
    const schema = { $ref: "#/%E0%A4%A", definitions: {} };
    const evaluator = await edges.admin.post("/api/v1/evaluators", {
      name: "s",
      kind: "json_schema",
      sampleRate: 1,
      config: { schema },
    });
    const prompt = await edges.admin.post("/api/v1/prompts/x%2Fy/versions", {
      template: "Hi {{a}}",
      variablesSchema: schema,
    });
    expect([evaluator.status, prompt.status]).toEqual([422, 422]);
  });

  it("a backfill from year 0, or to year 10000, is refused rather than stored and then unreadable", async () => {
    // Both are valid ISO 8601 with an offset; neither fits both the database and a JavaScript Date. Year 10000 was
    // stored (the row and its job committed) and every later read of it was a 500.
    const year0 = await edges.admin.post("/api/v1/evaluators/e/backfill", {
      from: "0000-01-01T00:00:00Z",
      to: "2000-01-01T00:00:00Z",
    });
    const year10000 = await edges.admin.post("/api/v1/evaluators/e/backfill", {
      from: "2000-01-01T00:00:00Z",
      to: "9999-12-31T23:59:59-23:59",
    });
    const read = await edges.admin.get("/api/v1/evaluators/e/backfill");
    expect([year0.status, year10000.status, read.status]).toEqual([422, 422, 404]);
  });
});

describe("a connection's limits", () => {
  // A call past a limit is not waited for: a job waiting for a slot held one of the workers every project shares
  // (see "fairness between projects"), and a waiter lost to an abort could swallow the slot the next one needed. It
  // is refused at once with when to come back, and the runner hands the job back uncounted.
  const connection = { id: "c", name: "c", maxConcurrency: 1, requestsPerMinute: null };
  const refusal = async (call: () => Promise<unknown>): Promise<NotSentError> => {
    try {
      await call();
    } catch (err) {
      if (err instanceof NotSentError) return err;
      throw err;
    }
    throw new Error("the call was not refused");
  };

  it("a call past maxConcurrency is handed back with a retryAfterMs once its wait is over; releasing frees the slot", async () => {
    const limiter = createConnectionLimiter({ maxWaitMs: 0 });
    const release = await limiter.acquire(connection);
    expect((await refusal(() => limiter.acquire(connection))).retryAfterMs).toBeGreaterThan(0);
    release();
    await limiter.acquire(connection);
  });

  it("a waiting call takes the slot a release frees; an aborted one leaves it to the next", async () => {
    const limiter = createConnectionLimiter({ maxWaitMs: 3_600_000 });
    const release = await limiter.acquire(connection);
    const aborted = new AbortController();
    const gaveUp = limiter.acquire(connection, aborted.signal);
    const next = limiter.acquire(connection);
    aborted.abort();
    await expect(gaveUp).rejects.toThrow();
    release();
    // Resolves only if the release woke a live waiter rather than the aborted one.
    const second = await next;
    second();
  });

  it("a release called twice frees one slot, not two", async () => {
    const limiter = createConnectionLimiter({ maxWaitMs: 0 });
    const two = { ...connection, maxConcurrency: 2 };
    const first = await limiter.acquire(two);
    await limiter.acquire(two);
    first();
    first();
    await limiter.acquire(two);
    expect(await refusal(() => limiter.acquire(two))).toBeInstanceOf(NotSentError);
  });

  it("a call past requestsPerMinute is refused until the minute's oldest call is a minute old", async () => {
    let now = 1_000_000;
    const limiter = createConnectionLimiter({ now: () => now, maxWaitMs: 0 });
    const perMinute = { ...connection, maxConcurrency: 10, requestsPerMinute: 2 };
    (await limiter.acquire(perMinute))();
    now += 10_000;
    (await limiter.acquire(perMinute))();
    expect((await refusal(() => limiter.acquire(perMinute))).retryAfterMs).toBe(50_000);
    now += 50_000;
    await limiter.acquire(perMinute);
  });
});

describe("races between the API and the jobs running", () => {
  let races: TestProject;
  beforeAll(async () => {
    races = await judgeProject("races", judge);
  });

  // The judge is answering for an evaluator when it is deleted and another of the same name is defined. The result
  // used to be written by name and revision after the deletion had removed the old results: the successor (revision
  // 1 again) inherited it as its own, counted, and never judged the span itself (it was "judged" already). With a
  // budget the usage is counted before the call; without one it is counted in the completion, next to the result.
  it.each([
    ["with a daily budget", "budgeted", 1_000],
    ["without a budget", "unbudgeted", null],
  ])("a deleted evaluator's in-flight result does not become its successor's (%s)", async (_, name, dailyBudget) => {
    const prompt = `qa/${name}`;
    await publishVersion(races.admin, prompt, { template: "Answer {{q}}", commitMessage: "v1" });
    await races.admin
      .post("/api/v1/evaluators", {
        name,
        kind: "llm_judge",
        target: { prompt },
        sampleRate: 1,
        ...(dailyBudget === null ? {} : { dailyBudget }),
        config: judgeConfig,
      })
      .expect(201);
    const span = answer(prompt, '{"answer":"BAD"}');
    const called = received(judge);
    await ingestSpans(h, [span], races.adminKey);
    await called;
    await races.admin.delete(`/api/v1/evaluators/${name}`).expect(204);
    // A different definition under the same name, which the span would pass.
    await races.admin.post("/api/v1/evaluators", { name, kind: "json", target: { prompt }, sampleRate: 1 }).expect(201);
    const outcomes = () =>
      jobs.events
        .filter((e) => e.queue === "evaluations.evaluate" && e.key.endsWith(span.spanId!))
        .map((e) => e.outcome);
    judge.release();
    await jobs.until(() => outcomes().some((o) => o === "done" || o === "gave_up"));

    const trace = (await races.admin.get(`/api/v1/traces/${span.traceId}`).expect(200)).body;
    expect({
      outcomes: outcomes(),
      total: await total(races.admin, name),
      annotations: trace.spans[0].annotations,
    }).toEqual({
      outcomes: ["done"],
      total: { passed: 0, failed: 0, skipped: 0, error: 0, pending: 0, passRate: null },
      annotations: [],
    });
  });

  it("a backfill cancelled while its page job reads spans stays cancelled, and queues nothing", async () => {
    // The page job read the backfill as running, then found its page; a cancel committed in between was overwritten
    // by the page's completion (status, progress) and the page's spans were queued and judged anyway.
    const prompt = "qa/late";
    await publishVersion(races.admin, prompt, { template: "Answer {{q}}", commitMessage: "v1" });
    await races.admin
      .post("/api/v1/evaluators", { name: "late", kind: "json", target: { prompt }, sampleRate: 1, enabled: false })
      .expect(201);
    await ingestSpans(
      h,
      Array.from({ length: 20 }, (_, i) => answer(prompt, `${i}`)),
      races.adminKey,
    );
    // The page's query: the spans of the range without this revision's result.
    const page = holdStatement(h.database, /FROM spans s[\s\S]*NOT EXISTS \(SELECT 1 FROM annotations/);
    const started = await races.admin.post("/api/v1/evaluators/late/backfill", {
      from: "2023-11-01T00:00:00Z",
      to: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    await page.reached;
    const cancelled = (await races.admin.delete("/api/v1/evaluators/late/backfill").expect(200)).body;
    expect(cancelled.status).toBe("cancelled");
    const before = jobs.events.length;
    page.release();
    await jobs.until(() => jobs.events.slice(before).some((e) => e.queue === "evaluations.backfill"));

    const after = (await races.admin.get("/api/v1/evaluators/late/backfill").expect(200)).body;
    const { rows } = await h.database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM jobs WHERE payload ->> 'backfillId' = $1",
      [started.body.id],
    );
    const t = await total(races.admin, "late");
    expect({ status: after.status, queued: after.queued, jobs: rows[0]!.n, judged: t.passed + t.failed }).toEqual({
      status: "cancelled",
      queued: 0,
      jobs: 0,
      judged: 0,
    });
  });
});

// Last in the file: the black hole holds project A's call open until the harness closes.
describe("fairness between projects", () => {
  // Evaluate jobs were claimed in run_at order across projects, so the workers one project's backlog held went back
  // to that backlog as they came free, and a job waiting for its connection's slot held its worker while it waited.

  it("a worker freed goes to another project's due work before more of the project holding the others", async () => {
    // Project A's judge answers only when the test lets it, and its connection allows as many calls as there are
    // workers: A's backlog fills them all. Project B's one evaluation (by a judge of its own that answers at once) is
    // due, then one of A's calls ends.
    const a = await judgeProject("busy", judge, { maxConcurrency: WORKERS });
    await publishVersion(a.admin, "app/y", { template: "Answer {{q}}", commitMessage: "v1" });
    const backlog = Array.from({ length: 20 }, (_, i) => answer("app/y", `y${i}`));
    await ingestSpans(h, backlog, a.adminKey);
    await a.admin
      .post("/api/v1/evaluators", { name: "j", kind: "llm_judge", sampleRate: 1, config: judgeConfig })
      .expect(201);
    const full = received(judge, WORKERS);
    await a.admin
      .post("/api/v1/evaluators/j/backfill", { from: "2023-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z" })
      .expect(202);
    await full;

    const b = await judgeProject("patient", quick);
    await publishVersion(b.admin, "b/app", { template: "Answer {{q}}", commitMessage: "v1" });
    await b.admin
      .post("/api/v1/evaluators", { name: "quick", kind: "llm_judge", sampleRate: 1, config: judgeConfig })
      .expect(201);
    const span = answer("b/app", "{}");
    const before = jobs.events.length;
    await ingestSpans(h, [span], b.adminKey);
    // B's evaluation is queued (its fanout committed) and waits: every worker is in one of A's calls.
    await jobs.until(() =>
      jobs.events.slice(before).some((e) => e.queue === "evaluations.fanout" && e.outcome === "done"),
    );
    const bDone = () =>
      jobs.events.some(
        (e) => e.queue === "evaluations.evaluate" && e.key.endsWith(span.spanId!) && e.outcome === "done",
      );
    const bFirst = received(judge).then(bDone);
    try {
      judge.release(1);
      expect(await bFirst, "B's evaluation ran before A's next call").toBe(true);
    } finally {
      // A's backlog, answered at once from here: the workers are free again for the next test.
      judge.mode = "ok";
      judge.release();
    }
    await jobs.until(async () => {
      const t = await total(a.admin, "j");
      return t.passed + t.failed === backlog.length;
    });
  });

  it("project B's evaluation is written while project A's judge holds A's backlog", async () => {
    // Project A: a judge that never answers (within its connection's timeout), maxConcurrency 1, and a backfill of 50
    // spans: one worker in the call, and A's other jobs, which used to wait for A's slot on every other worker.
    const a = await judgeProject("noisy", blackHole, { timeoutMs: 300_000, maxConcurrency: 1 });
    await publishVersion(a.admin, "app/x", { template: "Answer {{q}}", commitMessage: "v1" });
    await ingestSpans(
      h,
      Array.from({ length: 50 }, (_, i) => answer("app/x", `a${i}`)),
      a.adminKey,
    );
    await a.admin
      .post("/api/v1/evaluators", { name: "j", kind: "llm_judge", sampleRate: 1, config: judgeConfig })
      .expect(201);
    const called = received(blackHole);
    await a.admin
      .post("/api/v1/evaluators/j/backfill", { from: "2023-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z" })
      .expect(202);
    await called;

    const b = await judgeProject("quiet", quick);
    await publishVersion(b.admin, "b/app", { template: "Answer {{q}}", commitMessage: "v1" });
    await b.admin
      .post("/api/v1/evaluators", { name: "quick", kind: "llm_judge", sampleRate: 1, config: judgeConfig })
      .expect(201);
    await ingestSpans(h, [answer("b/app", "{}")], b.adminKey);
    // A's other jobs are handed back while its one call is held; waiting also for one handed back twice shows that a
    // job deferred again and again is not counted towards giving up.
    const deferred = () => jobs.events.filter((e) => e.queue === "evaluations.evaluate" && e.outcome === "released");
    const deferredTwice = () => {
      const keys = deferred().map((e) => e.key);
      return keys.some((k, i) => keys.indexOf(k) !== i);
    };
    await jobs.until(async () => deferredTwice() && (await total(b.admin, "quick")).passed === 1);

    const aTotal = await total(a.admin, "j");
    expect({
      b: await total(b.admin, "quick"),
      // A's one call, still open: no other call of A's was made while it was (maxConcurrency 1).
      aCalls: blackHole.total(),
      aJudged: [aTotal.passed, aTotal.failed, aTotal.error],
      deferredAttempts: [...new Set(deferred().map((e) => e.attempt))],
    }).toEqual({
      b: { passed: 1, failed: 0, skipped: 0, error: 0, pending: 0, passRate: 1 },
      aCalls: 1,
      aJudged: [0, 0, 0],
      deferredAttempts: [1],
    });
  });
});
