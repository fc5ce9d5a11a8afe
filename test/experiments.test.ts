// Experiments through the real app on a real database, against a fake model server on 127.0.0.1 whose answers are
// known per (version, item): a known pattern of 12 items that pass on 1.0.0 and fail on 1.1.0 and 3 the other way is
// found exactly, with McNemar's p equal to the exact binomial value and the 12 listed with both outputs; each item is
// called once per version; a model failing with 500s is retried and a task that keeps failing is an error, not a
// failed evaluation; bad definitions are 422s naming the field.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishVersion, seedExperimentProject } from "./helpers/factories.js";
import { type FakeModel, startFakeModel } from "./helpers/fake-model.js";
import { type Client, client, createHarness, type Harness } from "./helpers/harness.js";
import { settledJobs } from "./helpers/settled-jobs.js";

let h: Harness;
let model: FakeModel;
const jobs = settledJobs();
const admin = (): Client => client(h.app, h.adminKey);

const ITEMS = 40;
// Items 0-11 fail on 1.1.0 only; 12-14 fail on 1.0.0 only; 15 fails on both.
const failsOn = (version: "1.0.0" | "1.1.0", i: number) =>
  i === 15 || (version === "1.1.0" ? i < 12 : i >= 12 && i < 15);

beforeAll(async () => {
  model = await startFakeModel((prompt) => {
    const i = Number(/case (\d+)/.exec(prompt)?.[1]);
    if (prompt.includes("broken")) return "irrelevant";
    const version = prompt.includes("briefly") ? "1.1.0" : "1.0.0";
    return failsOn(version, i) ? `BAD answer to case ${i}` : `GOOD answer to case ${i}`;
  });
  h = await createHarness({
    allowPrivateConnections: true,
    jobs: { pollMs: 50, retryBaseMs: 20, retryMaxMs: 100, onSettled: jobs.onSettled },
    evalMaxAttempts: 3,
  });
  const as = admin();
  await publishVersion(as, "support/answer", { template: "Answer {{q}}", commitMessage: "v1" });
  await publishVersion(as, "support/answer", {
    template: "Answer {{q}} briefly",
    commitMessage: "v2",
    bump: "minor",
  } as never);
  await seedExperimentProject(
    as,
    model.url,
    Array.from({ length: ITEMS }, (_, i) => ({
      id: `case-${String(i).padStart(2, "0")}`,
      variables: { q: `case ${i}` },
      expected: `GOOD answer to case ${i}`,
    })),
  );
}, 60_000);

afterAll(async () => {
  await h?.close();
  await model?.close();
});

async function finished(id: string) {
  let body: Record<string, any> = {};
  await jobs.until(async () => {
    body = (await admin().get(`/api/v1/experiments/${id}`)).body;
    return body.status !== "running";
  });
  return body;
}

describe("experiments", () => {
  it("finds a known regression exactly, with McNemar's exact p and both outputs of every item that regressed", async () => {
    const created = await admin().post("/api/v1/experiments", {
      dataset: "golden",
      prompt: "support/answer",
      versions: ["1.0.0", "1.1.0"],
      connection: "model",
      evaluators: ["no-bad", "exact_match", "similarity"],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ status: "running", itemCount: ITEMS, datasetVersion: 1 });
    const done = await finished(created.body.id);
    expect(done.status).toBe("finished");
    expect(
      done.runs.map((r: { version: string; done: number; errors: number }) => [r.version, r.done, r.errors]),
    ).toEqual([
      ["1.0.0", ITEMS, 0],
      ["1.1.0", ITEMS, 0],
    ]);
    expect(done.runs[0].evaluations["no-bad"]).toMatchObject({ passed: ITEMS - 4, failed: 4 });
    expect(done.runs[1].evaluations["no-bad"]).toMatchObject({ passed: ITEMS - 13, failed: 13 });
    // Each (item, version) was sent to the model once.
    expect(model.total()).toBe(2 * ITEMS);
    expect([...model.calls.values()].every((n) => n === 1)).toBe(true);

    const compare = await admin().get(`/api/v1/experiments/${created.body.id}/compare?baseline=1.0.0&candidate=1.1.0`);
    expect(compare.status, JSON.stringify(compare.body)).toBe(200);
    const noBad = compare.body.evaluators.find((e: { name: string }) => e.name === "no-bad");
    expect(noBad).toMatchObject({ pairs: ITEMS, regressed: 12, improved: 3, verdict: "worse" });
    // 2·(C(15,0)+C(15,1)+C(15,2)+C(15,3))/2^15, to 1e-12.
    expect(Math.abs(noBad.pValue - 0.03515625)).toBeLessThan(1e-12);
    const listed = compare.body.regressions.filter((r: { evaluator: string }) => r.evaluator === "no-bad");
    expect(listed.map((r: { itemId: string }) => r.itemId).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `case-${String(i).padStart(2, "0")}`),
    );
    expect(listed[0]).toMatchObject({
      variables: { q: "case 0" },
      baselineOutput: "GOOD answer to case 0",
      candidateOutput: "BAD answer to case 0",
      reason: expect.stringContaining("BAD"),
    });
    const improved = compare.body.improvements.filter((r: { evaluator: string }) => r.evaluator === "no-bad");
    expect(improved).toHaveLength(3);
    expect(compare.body.performance.baseline).toMatchObject({ errors: 0, meanLatencyMs: expect.any(Number) });
    expect(compare.body.verdict).toMatch(
      /1\.1\.0 is significantly worse than 1\.0\.0 at the 5% level on no-bad \(12 items regressed, 3 improved; McNemar p = 0\.035\)/,
    );
    // exact_match sees the same pattern; similarity scores are compared by the signed-rank test.
    const exact = compare.body.evaluators.find((e: { name: string }) => e.name === "exact_match");
    expect(exact).toMatchObject({ regressed: 12, improved: 3 });
    const similar = compare.body.evaluators.find((e: { name: string }) => e.name === "similarity");
    expect(similar.scores).toMatchObject({ pairs: ITEMS, method: expect.stringMatching(/Wilcoxon/) });
    // The mean difference is the candidate's mean score less the baseline's.
    expect(similar.scores.meanDifference).toBeCloseTo(similar.candidate.meanScore - similar.baseline.meanScore, 12);
    expect(similar.baseline.meanScore).toBeGreaterThan(similar.candidate.meanScore);

    const page = await admin().get(`/api/v1/experiments/${created.body.id}/results?run=1.1.0&limit=5`);
    expect(page.body.data).toHaveLength(5);
    expect(page.body.data[0]).toMatchObject({ itemId: "case-00", version: "1.1.0", output: "BAD answer to case 0" });
    expect(page.body.data[0].evaluations["no-bad"]).toMatchObject({ status: "failed" });
    const rest = await admin().get(
      `/api/v1/experiments/${created.body.id}/results?run=1.1.0&limit=100&cursor=${page.body.nextCursor}`,
    );
    expect(rest.body.data).toHaveLength(ITEMS - 5);
  }, 60_000);

  it("retries a model's 500s; a task that keeps failing is an error, never a failed evaluation", async () => {
    await admin().post("/api/v1/datasets", { name: "small" }).expect(201);
    await admin()
      .post("/api/v1/datasets/small/items", {
        items: [
          { id: "one", variables: { q: "case 1" } },
          { id: "two", variables: {} },
        ],
      })
      .expect(200);
    model.failing = 2;
    const created = await admin().post("/api/v1/experiments", {
      dataset: "small",
      prompt: "support/answer",
      versions: ["1.0.0"],
      connection: "model",
      evaluators: ["no-bad"],
    });
    const done = await finished(created.body.id);
    expect(done.runs[0]).toMatchObject({ done: 2, errors: 1 });
    const results = (await admin().get(`/api/v1/experiments/${created.body.id}/results`)).body.data;
    const one = results.find((r: { itemId: string }) => r.itemId === "one");
    const two = results.find((r: { itemId: string }) => r.itemId === "two");
    expect(one).toMatchObject({ output: "GOOD answer to case 1", error: null });
    // Item "two" lacks the variable q: its error says so, and no evaluator judged it.
    expect(two.error).toMatch(/could not be rendered/);
    expect(two.evaluations).toEqual({});
    expect(done.runs[0].evaluations["no-bad"]).toMatchObject({ passed: 1, failed: 0 });

    // A model that answers 500 to every attempt: after the last one, the item's result is the error.
    await admin().post("/api/v1/datasets", { name: "flaky" }).expect(201);
    await admin()
      .post("/api/v1/datasets/flaky/items", { items: [{ id: "only", variables: { q: "case 2" } }] })
      .expect(200);
    model.failing = 1_000;
    const before = model.total();
    try {
      const flaky = await admin().post("/api/v1/experiments", {
        dataset: "flaky",
        prompt: "support/answer",
        versions: ["1.0.0"],
        connection: "model",
        evaluators: ["no-bad"],
      });
      const gaveUp = await finished(flaky.body.id);
      expect(gaveUp.runs[0]).toMatchObject({ done: 1, errors: 1 });
      expect(gaveUp.runs[0].evaluations["no-bad"]).toMatchObject({ passed: 0, failed: 0 });
      const [only] = (await admin().get(`/api/v1/experiments/${flaky.body.id}/results`)).body.data;
      expect(only).toMatchObject({ output: null, error: expect.stringMatching(/500/), evaluations: {} });
      // evalMaxAttempts is 3 in this harness.
      expect(model.total() - before).toBe(3);
    } finally {
      model.failing = 0;
    }
  }, 60_000);

  it("runs a project evaluator named like an object's own property, and stores what a model reports oddly", async () => {
    await admin()
      .post("/api/v1/evaluators", {
        name: "constructor",
        kind: "contains",
        sampleRate: 0,
        config: { values: ["GOOD"] },
      })
      .expect(201);
    await admin().post("/api/v1/datasets", { name: "odd" }).expect(201);
    await admin()
      .post("/api/v1/datasets/odd/items", { items: [{ id: "a", variables: { q: "case 20" } }] })
      .expect(200);
    const created = await admin().post("/api/v1/experiments", {
      dataset: "odd",
      prompt: "support/answer",
      versions: ["1.0.0"],
      connection: "model",
      evaluators: ["constructor"],
    });
    const done = await finished(created.body.id);
    expect(done.runs[0].evaluations.constructor).toMatchObject({ passed: 1, failed: 0 });
  }, 60_000);

  it("resumes a cancelled experiment: the items without a result run, no item with one runs again", async () => {
    const n = 30;
    await admin().post("/api/v1/datasets", { name: "resumable" }).expect(201);
    await admin()
      .post("/api/v1/datasets/resumable/items", {
        items: Array.from({ length: n }, (_, i) => ({
          id: `r-${String(i).padStart(2, "0")}`,
          variables: { q: `case ${100 + i}` },
        })),
      })
      .expect(200);
    // Calls past the fifth wait until released: the cancel lands while they are in flight, and the runner's 16 slots
    // leave at least 30 - 5 - 16 items never started.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let seen = 0;
    model.hold = () => (++seen > 5 ? released : undefined);
    try {
      const created = await admin().post("/api/v1/experiments", {
        dataset: "resumable",
        prompt: "support/answer",
        versions: ["1.0.0"],
        connection: "model",
        evaluators: ["no-bad"],
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.id;
      await jobs.until(async () => (await admin().get(`/api/v1/experiments/${id}`)).body.runs[0].done >= 5);
      const cancelled = await admin().post(`/api/v1/experiments/${id}/cancel`);
      expect(cancelled.body.status).toBe("cancelled");
      release();
      const before = await admin().get(`/api/v1/experiments/${id}/results?limit=100`);
      const had = new Set(before.body.data.map((r: { itemId: string }) => r.itemId));
      expect(had.size).toBeLessThan(n);
      const resumed = await admin().post(`/api/v1/experiments/${id}/resume`);
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
      expect(resumed.body.status).toBe("running");
      const done = await finished(id);
      expect(done.status).toBe("finished");
      expect(done.runs[0].done).toBe(n);
      const after = await admin().get(`/api/v1/experiments/${id}/results?limit=100`);
      expect(after.body.data).toHaveLength(n);
      for (const item of had) {
        const i = Number(String(item).slice(2));
        expect(model.calls.get(`Answer case ${100 + i}`), `${item} had a result before the resume`).toBe(1);
      }
      const again = await admin().post(`/api/v1/experiments/${id}/resume`);
      expect(again.status).toBe(409);
      expect(again.body.error.message).toMatch(/is finished/);
    } finally {
      model.hold = undefined;
      release();
    }
  }, 60_000);

  it("keeps a server run's calls in flight within its own concurrency", async () => {
    let inFlight = 0;
    let most = 0;
    model.hold = () => {
      most = Math.max(most, ++inFlight);
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          inFlight--;
          resolve();
        }, 5),
      );
    };
    try {
      const created = await admin().post("/api/v1/experiments", {
        dataset: "resumable",
        prompt: "support/answer",
        versions: ["1.0.0", "1.1.0"],
        connection: "model",
        concurrency: 2,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.concurrency).toBe(2);
      const done = await finished(created.body.id);
      expect(done.runs.map((r: { done: number }) => r.done)).toEqual([30, 30]);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(2);
    } finally {
      model.hold = undefined;
    }
  }, 60_000);

  it("refuses a bad experiment naming each problem, and a read key", async () => {
    const res = await admin().post("/api/v1/experiments", {
      dataset: "nope",
      prompt: "support/answer",
      versions: ["9.9.9", "1.0.0", "1.0"],
      connection: "nope",
      evaluators: ["nope"],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual([
      "body.dataset",
      "body.versions.0",
      "body.versions.2",
      "body.connection",
      "body.evaluators.0",
    ]);
    const key = await admin().post("/api/v1/keys", { name: "reader", role: "read" });
    const reader = client(h.app, key.body.key);
    const refused = await reader.post("/api/v1/experiments", {
      dataset: "golden",
      prompt: "support/answer",
      versions: ["1.0.0"],
      connection: "model",
    });
    expect(refused.status).toBe(403);
    expect((await admin().get("/api/v1/experiments/00000000-0000-0000-0000-000000000000")).status).toBe(404);
    expect((await admin().get("/api/v1/experiments/not-an-id")).status).toBe(404);
  });
});
