// Guarded rollouts through the real app on a real database, with the app's clock driven by the test: spans go in
// through the OTLP receiver with the attributes the client sets, and the guard runs when the test calls `tick()`
// (what its timer calls every PROMPTREG_ROLLOUT_GUARD_INTERVAL_MS).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, promptSpanAttributes, type RegistryClient } from "@promptreg/client";
import type { Rollout } from "@promptreg/client/contract";
import { rolloutArm } from "@promptreg/client/rollout";
import { createApp } from "../src/app.js";
import { openDatabase } from "../src/db/client.js";
import { createInvalidationBus } from "../src/db/invalidation.js";
import { resolvedForKey } from "../src/prompts/resolve.js";
import { cliAs } from "./helpers/cli.js";
import { ingestSpans, llmSpan, publishPrompt } from "./helpers/factories.js";
import { type Client, createHarness, enc, type Harness, silentLogger } from "./helpers/harness.js";
import { serve, type Listener } from "./helpers/listen.js";
import { newTraceId, type SpanSpec } from "./helpers/otlp.js";
import { seeded } from "./helpers/seeded.js";

const INTERVAL_MS = 60_000;
// Starts at the real time: ledger entries are stamped by the database's clock, spans and steps by this one.
let t = Date.now();
let h: Harness;
let admin: Client;

beforeAll(async () => {
  h = await createHarness({ now: () => t });
  admin = h.as(h.adminKey);
});
afterAll(async () => {
  await h?.close();
});

const rolloutPath = (name: string, label = "production", action = "") =>
  `/api/v1/prompts/${enc(name)}/labels/${label}/rollout${action ? `/${action}` : ""}`;

async function getRollout(name: string, label = "production"): Promise<Rollout> {
  const res = await admin.get(rolloutPath(name, label));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function history(name: string, label = "production") {
  const res = await admin.get(`/api/v1/prompts/${enc(name)}/labels/${label}/history?limit=50`);
  expect(res.status).toBe(200);
  return (res.body.data as { action: string; fromVersion: string; toVersion: string; reason: string; actor: string }[])
    .slice()
    .reverse();
}

let users = 0;
/**
 * `n` calls of new users at the app's current time: each user's arm is the client's choice for the rollout as it
 * stands, its failure drawn at that arm's rate, its span carrying the attributes the client puts on it.
 */
async function traffic(name: string, n: number, rates: { baseline: number; candidate: number }, random: () => number) {
  const r = await getRollout(name);
  const spans: SpanSpec[] = [];
  for (let i = 0; i < n; i++) {
    const arm = rolloutArm(`user-${++users}`, r);
    const version = arm === "candidate" ? r.candidateVersion : r.baselineVersion;
    const start = BigInt(t) * 1_000_000n + BigInt(i) * 1_000n;
    const attributes = promptSpanAttributes({
      name,
      version,
      template: "t",
      source: "cache",
      label: "production",
      rollout: { id: r.id, arm, step: r.step },
    }) as Record<string, string | number>;
    spans.push(
      llmSpan(name, version, {
        traceId: newTraceId(),
        start: start.toString(),
        end: (start + 40_000_000n).toString(),
        status: random() < rates[arm] ? { code: 2, message: "boom" } : { code: 1 },
        attributes,
      }),
    );
  }
  await ingestSpans(h, spans);
}

/** Another instance on the same database (a restart, or a second server): nothing of any rollout in its memory. */
async function anotherInstance() {
  const database = h.databaseUrl ? await openDatabase({ url: h.databaseUrl, poolSize: 4 }) : h.database;
  const bus = await createInvalidationBus(database, silentLogger);
  const app = createApp({ ...h.appDeps, database, bus });
  return {
    rollouts: app.rollouts,
    async close() {
      await app.close();
      await bus.close();
      if (database !== h.database) await database.close();
    },
  };
}

async function startRollout(name: string, body: object, status = 201) {
  const res = await admin.post(rolloutPath(name), body);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res.body;
}

describe("the guard", () => {
  it("aborts a worse candidate on its own, with the verdict in the ledger, and the label keeps the baseline", async () => {
    const name = "guard/worse";
    const began = t;
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    const started: Rollout = await startRollout(name, {
      candidate: "1.0.1",
      steps: [{ share: 0.2, minUnits: 5_000 }, { share: 1 }],
      guard: { failure: "status", alpha: 0.05, minSample: 100 },
      autoRollback: true,
    });
    expect(started).toMatchObject({ state: "running", step: 1, share: 0.2, baselineVersion: "1.0.0" });
    const random = seeded(1);
    for (let round = 0; round < 20 && (await getRollout(name)).state === "running"; round++) {
      await traffic(name, 1000, { baseline: 0.05, candidate: 0.15 }, random);
      t += INTERVAL_MS;
      await h.rollouts.tick();
    }
    const ended = await getRollout(name);
    expect(ended.state).toBe("aborted");
    expect(ended.share).toBe(0);
    expect(ended.step).toBe(1);
    expect(ended.verdict?.outcome).toBe("abort");
    expect(ended.verdict?.sentence).toMatch(/^the candidate 1\.0\.1 fails more: /);
    expect(ended.arms.candidate.failureRate).toBeGreaterThan(ended.arms.baseline.failureRate! * 2);
    const last = (await history(name)).at(-1)!;
    expect(last).toMatchObject({ action: "rollout_aborted", actor: "guard", fromVersion: "1.0.0", toVersion: "1.0.0" });
    expect(last.reason).toBe(ended.verdict?.sentence);
    // The candidate gets no more traffic: the label resolves to the baseline with no rollout, for every key.
    const resolved = await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production&key=user-1`);
    expect(resolved.body.version).toBe("1.0.0");
    expect(resolved.body.rollout).toBeUndefined();
    // Compare reads the rollout's arms.
    const arm = await admin.get(
      `/api/v1/prompts/${enc(name)}/compare?versions=1.0.0,1.0.1&rollout=${ended.id}&arm=candidate&minSample=1`,
    );
    expect(arm.status, JSON.stringify(arm.body)).toBe(200);
    expect(arm.body.filters).toMatchObject({ rollout: ended.id, arm: "candidate" });
    expect(arm.body.versions.map((v: { units: number }) => v.units)).toEqual([0, ended.arms.candidate.units]);
    // The time series of the rollout's calls marks its ledger entries with the label's moves.
    const series = await admin.get(
      `/api/v1/prompts/${enc(name)}/timeseries?versions=1.0.0,1.0.1&rollout=${ended.id}&bucket=5m&from=${new Date(began - 60_000).toISOString()}&to=${new Date(t + 60_000).toISOString()}`,
    );
    expect(series.status, JSON.stringify(series.body)).toBe(200);
    expect(series.body.events.map((e: { action: string }) => e.action)).toEqual([
      "set",
      "rollout_started",
      "rollout_aborted",
    ]);
    const counted = series.body.series.flatMap((s: { points: { count: number }[] }) => s.points.map((p) => p.count));
    expect(counted.reduce((a: number, b: number) => a + b, 0)).toBe(
      ended.arms.baseline.units + ended.arms.candidate.units,
    );
  });

  it("walks an equal candidate through every step to 100% and moves the label", async () => {
    const name = "guard/equal";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    const steps = [0.1, 0.25, 0.5, 1].map((share) => ({ share, minDurationMs: 600_000, minUnits: 50 }));
    await startRollout(name, { candidate: "1.0.1", steps, guard: { minSample: 100 } });
    const random = seeded(2);
    const outcomes: string[] = [];
    for (let round = 0; round < 40 && (await getRollout(name)).state === "running"; round++) {
      await traffic(name, 1000, { baseline: 0.05, candidate: 0.05 }, random);
      t += 5 * INTERVAL_MS;
      await h.rollouts.tick();
      outcomes.push((await getRollout(name)).verdict!.outcome);
    }
    const ended = await getRollout(name);
    expect(ended.state).toBe("finished");
    expect(ended.share).toBe(1);
    // Each step held until its 10 minutes had passed, then advanced.
    expect(outcomes).toEqual(["hold", "advance", "hold", "advance", "hold", "advance", "hold", "finish"]);
    const entries = (await history(name)).filter((e) => e.action.startsWith("rollout_"));
    expect(entries.map((e) => e.action)).toEqual([
      "rollout_started",
      "rollout_advanced",
      "rollout_advanced",
      "rollout_advanced",
      "rollout_finished",
    ]);
    expect(entries.at(-1)).toMatchObject({ fromVersion: "1.0.0", toVersion: "1.0.1", actor: "guard" });
    const resolved = await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production`);
    expect(resolved.body.version).toBe("1.0.1");
    expect(resolved.body.rollout).toBeUndefined();
    // A rollback after the finish goes back to the baseline: the finish is the label's last move.
    const back = await admin.post(`/api/v1/prompts/${enc(name)}/labels/production/rollback`, {});
    expect(back.body).toMatchObject({ version: "1.0.0", previousVersion: "1.0.1" });
  });

  it("continues after a restart where it was, and on two instances evaluates each round once", async () => {
    const name = "guard/restart";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    const steps = [0.2, 0.5, 1].map((share) => ({ share }));
    await startRollout(name, { candidate: "1.0.1", steps, guard: { minSample: 50 } });
    const random = seeded(3);
    await traffic(name, 1000, { baseline: 0.05, candidate: 0.05 }, random);
    t += INTERVAL_MS;
    await h.rollouts.tick();
    expect(await getRollout(name)).toMatchObject({ step: 2, evaluations: 1 });

    const other = await anotherInstance();
    try {
      await traffic(name, 1000, { baseline: 0.05, candidate: 0.05 }, random);
      // Both instances tick at once, each round: one evaluates, the other finds the rollout claimed or not due.
      t += INTERVAL_MS;
      await Promise.all([other.rollouts.tick(), h.rollouts.tick()]);
      expect(await getRollout(name)).toMatchObject({ state: "running", step: 3, evaluations: 2 });
      // Rounds before the interval has passed find nothing due.
      t += INTERVAL_MS / 2;
      await Promise.all([other.rollouts.tick(), h.rollouts.tick()]);
      expect((await getRollout(name)).evaluations).toBe(2);
    } finally {
      await other.close();
    }
  });

  it("on two instances evaluates each of many rounds exactly once", async () => {
    const name = "guard/instances";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    // A sample never reached: every round holds, so every round is an evaluation to count.
    await startRollout(name, { candidate: "1.0.1", steps: [{ share: 0.5 }], guard: { minSample: 1_000_000 } });
    const other = await anotherInstance();
    const before = (await getRollout(name)).evaluations;
    try {
      for (let round = 0; round < 8; round++) {
        t += INTERVAL_MS;
        await Promise.all([h.rollouts.tick(), other.rollouts.tick(), h.rollouts.tick(), other.rollouts.tick()]);
      }
    } finally {
      await other.close();
    }
    const after = await getRollout(name);
    expect(after.evaluations - before).toBe(8);
    expect(after.verdict).toMatchObject({ outcome: "hold", statistic: null });
    expect(after.verdict?.sentence).toContain("the guard judges from 1000000 units per arm");
    await admin.post(rolloutPath(name, "production", "abort"), { reason: "done counting" }).expect(200);
  });
});

describe("the guard's timer", () => {
  it("evaluates running rollouts every PROMPTREG_ROLLOUT_GUARD_INTERVAL_MS once started", async () => {
    const name = "guard/timer";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    await startRollout(name, { candidate: "1.0.1", steps: [{ share: 0.5 }] });
    // An instance with the real clock and the shortest interval, its rounds told to the test.
    const rounds: number[] = [];
    let roundDone = () => {};
    const bus = await createInvalidationBus(h.database, silentLogger);
    const timed = createApp({
      ...h.appDeps,
      config: { ...h.appDeps.config, rolloutGuardIntervalMs: 100 },
      now: Date.now,
      onGuardRound: (evaluated) => {
        rounds.push(evaluated);
        roundDone();
      },
      database: h.database,
      bus,
    });
    try {
      const evaluated = new Promise<void>((resolve) => {
        roundDone = () => rounds.some((n) => n > 0) && resolve();
      });
      timed.rollouts.startGuard();
      await evaluated;
    } finally {
      await timed.close();
      await bus.close();
    }
    const r = await getRollout(name);
    expect(r.evaluations).toBeGreaterThanOrEqual(1);
    expect(r.verdict?.outcome).toBe("hold");
    await admin.post(rolloutPath(name, "production", "abort"), {}).expect(200);
  });
});

describe("by hand", () => {
  it("pauses, resumes, advances and aborts, each a ledger entry with its reason", async () => {
    const name = "hand/ops";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    const r: Rollout = await startRollout(name, {
      candidate: "1.0.1",
      steps: [{ share: 0.1 }, { share: 0.6 }, { share: 1 }],
      reason: "try the shorter prompt",
    });
    await startRollout(name, { candidate: "1.0.1", steps: [{ share: 0.5 }] }, 409);

    const paused = await admin.post(rolloutPath(name, "production", "pause"), { reason: "incident elsewhere" });
    expect(paused.body).toMatchObject({ state: "paused", step: 1, share: 0.1 });
    await admin.post(rolloutPath(name, "production", "pause"), {}).expect(409);
    // A paused rollout keeps its split (a user keeps the version seen) but the guard leaves it alone.
    const keyed = await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production&key=k`);
    expect(keyed.body.rollout).toMatchObject({ id: r.id, state: "paused", arm: rolloutArm("k", r) });
    t += INTERVAL_MS;
    await h.rollouts.tick();
    expect((await getRollout(name)).evaluations).toBe(0);

    const resumedAt = t;
    const resumed = await admin.post(rolloutPath(name, "production", "resume"), {});
    // The step is watched afresh: its minimum time counts from the resume.
    expect(resumed.body).toMatchObject({ state: "running", stepStartedAt: new Date(resumedAt).toISOString() });
    const advanced = await admin.post(rolloutPath(name, "production", "advance"), { reason: "looks fine" });
    expect(advanced.body).toMatchObject({ state: "running", step: 2, share: 0.6 });
    const aborted = await admin.post(rolloutPath(name, "production", "abort"), { reason: "changed our mind" });
    expect(aborted.body).toMatchObject({ state: "aborted", share: 0 });
    await admin.post(rolloutPath(name, "production", "resume"), {}).expect(404);

    expect((await history(name)).filter((e) => e.action.startsWith("rollout_"))).toMatchObject([
      { action: "rollout_started", reason: "try the shorter prompt", fromVersion: "1.0.0", toVersion: "1.0.0" },
      { action: "rollout_paused", reason: "incident elsewhere" },
      { action: "rollout_resumed", reason: "resume by admin (PROMPTREG_ADMIN_KEY)" },
      { action: "rollout_advanced", reason: "looks fine" },
      { action: "rollout_aborted", reason: "changed our mind" },
    ]);
    const resolved = await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production`);
    expect(resolved.body).toMatchObject({ version: "1.0.0" });
    expect(resolved.body.rollout).toBeUndefined();

    // Advancing past the last step finishes: the label moves to the candidate.
    await startRollout(name, { candidate: "1.0.1", steps: [{ share: 0.5 }] });
    const finished = await admin.post(rolloutPath(name, "production", "advance"), {});
    expect(finished.body).toMatchObject({ state: "finished", share: 1 });
    expect((await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production`)).body.version).toBe("1.0.1");
  });

  it("takes the role that may move the label, and refuses what cannot be rolled out with a clear 4xx", async () => {
    const name = "hand/refusals";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0", canary: "1.0.0" });
    const reader = h.as(await h.newKey("read"));
    const writer = h.as(await h.newKey("write"));
    const body = { candidate: "1.0.1", steps: [{ share: 0.5 }] };
    expect((await reader.post(rolloutPath(name, "canary"), body)).status).toBe(403);
    // production is protected: only an admin moves it, so only an admin rolls out on it.
    expect((await writer.post(rolloutPath(name), body)).body.error.message).toContain("protected");
    expect((await writer.post(rolloutPath(name, "canary"), body)).status).toBe(201);
    expect((await reader.post(rolloutPath(name, "canary", "abort"), {})).status).toBe(403);
    expect((await reader.get(rolloutPath(name, "canary"))).status).toBe(200);
    expect((await writer.post(rolloutPath(name, "canary", "abort"), {})).status).toBe(200);

    const refused = async (b: object, status: number, path?: string) => {
      const res = await admin.post(rolloutPath(name), b);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.error.code).toBeTypeOf("string");
      if (path) expect(res.body.error.details.issues.map((i: { path: string }) => i.path)).toContain(path);
    };
    await refused({ ...body, steps: [{ share: 0.5 }, { share: 0.2 }] }, 422, "body.steps");
    await refused({ ...body, steps: [{ share: 1.5 }] }, 422, "body.steps.0.share");
    await refused({ ...body, steps: [] }, 422, "body.steps");
    await refused({ ...body, guard: { failure: "nope" } }, 422, "body.guard.failure");
    await refused({ ...body, guard: { alpha: 0.5 } }, 422, "body.guard.alpha");
    await refused({ ...body, candidate: "^1" }, 422, "body.candidate");
    await refused({ ...body, candidate: "1.0.0" }, 409);
    await refused({ ...body, candidate: "9.9.9" }, 404);
    await refused({ ...body, extra: true }, 422);
    expect((await admin.post(rolloutPath(name, "latest"), body)).status).toBe(422);
    expect((await admin.post(rolloutPath(name, "staging"), body)).status).toBe(409);
    expect((await admin.get(rolloutPath(name, "staging"))).status).toBe(404);
    expect((await admin.post(rolloutPath("hand/none"), body)).status).toBe(404);
  });

  it("ends the rollout when the label is moved, rolled back or deleted, with the reason", async () => {
    const name = "hand/moves";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}", "three {{q}}"], { production: "1.0.0" });
    await admin.put(`/api/v1/prompts/${enc(name)}/labels/production`, { version: "1.0.1" }).expect(200);
    await startRollout(name, { candidate: "1.0.2", steps: [{ share: 0.5 }] });
    await admin.post(`/api/v1/prompts/${enc(name)}/labels/production/rollback`, { reason: "pager" }).expect(200);
    expect(await getRollout(name)).toMatchObject({ state: "aborted", share: 0 });
    const [aborted, rolledBack] = (await history(name)).slice(-2);
    expect(aborted).toMatchObject({ action: "rollout_aborted", fromVersion: "1.0.1", toVersion: "1.0.1" });
    expect(aborted!.reason).toBe("label rolled back to 1.0.0 by admin (PROMPTREG_ADMIN_KEY): pager");
    expect(rolledBack).toMatchObject({ action: "rollback", fromVersion: "1.0.1", toVersion: "1.0.0" });

    await startRollout(name, { candidate: "1.0.2", steps: [{ share: 0.5 }] });
    await admin.put(`/api/v1/prompts/${enc(name)}/labels/production`, { version: "1.0.1" }).expect(200);
    expect((await getRollout(name)).state).toBe("aborted");
    await startRollout(name, { candidate: "1.0.2", steps: [{ share: 0.5 }] });
    await admin.delete(`/api/v1/prompts/${enc(name)}/labels/production?reason=gone`).expect(204);
    expect((await history(name)).at(-2)).toMatchObject({
      action: "rollout_aborted",
      reason: "label deleted by admin (PROMPTREG_ADMIN_KEY): gone",
    });
  });
});

describe("the sticky split", () => {
  it("puts 25% ± 1% of 100,000 keys in the candidate, each key always in the same arm, and a higher step only adds keys", () => {
    const id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const keys = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);
    const at25 = keys.map((k) => rolloutArm(k, { id, share: 0.25 }));
    const share = at25.filter((a) => a === "candidate").length / keys.length;
    expect(share).toBeGreaterThan(0.24);
    expect(share).toBeLessThan(0.26);
    expect(keys.every((k, i) => rolloutArm(k, { id, share: 0.25 }) === at25[i])).toBe(true);
    const at50 = keys.map((k) => rolloutArm(k, { id, share: 0.5 }));
    expect(at25.every((arm, i) => arm === "baseline" || at50[i] === "candidate")).toBe(true);
    expect(at50.filter((a) => a === "candidate").length).toBeGreaterThan(at25.filter((a) => a === "candidate").length);
    // Another rollout draws its own users.
    const other = keys.map((k) => rolloutArm(k, { id: "another-rollout", share: 0.25 }));
    expect(other.filter((a, i) => a === "candidate" && at25[i] === "candidate").length / keys.length).toBeLessThan(
      0.08,
    );
  });

  describe("client and server", () => {
    let api: Listener;
    let registry: RegistryClient;
    const name = "split/agree";
    let rollout: Rollout;

    beforeAll(async () => {
      await publishPrompt(admin, name, ["baseline says {{q}}", "candidate says {{q}}"], { production: "1.0.0" });
      rollout = await startRollout(name, { candidate: "1.0.1", steps: [{ share: 0.25 }, { share: 1 }] });
      api = await serve(h.app);
      registry = createClient({ baseUrl: api.url, apiKey: h.adminKey, maxRetries: 0 });
    });
    afterAll(async () => {
      await api?.close();
    });

    it("give the same arm for 100,000 keys: the client's choice and the server's keyed resolve answer", async () => {
      const res = await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production`);
      expect(res.body.rollout).toMatchObject({ id: rollout.id, step: 1, share: 0.25, candidateVersion: "1.0.1" });
      expect(res.body.rollout.candidate.template).toBe("candidate says {{q}}");
      const resolved = { body: Buffer.from(JSON.stringify(res.body)), etag: res.headers.etag!, version: res.body };
      for (let i = 0; i < 100_000; i++) {
        const key = `agree-${i}`;
        const server = resolvedForKey(resolved, key).version;
        const arm = rolloutArm(key, res.body.rollout);
        if (server.rollout?.arm !== arm || server.version !== (arm === "candidate" ? "1.0.1" : "1.0.0"))
          expect({ key, server: server.rollout?.arm }).toEqual({ key, server: arm });
      }
    });

    it("agree over HTTP: get in the client, resolve and render on the server, with the arm on the spans", async () => {
      let candidates = 0;
      for (let i = 0; i < 60; i++) {
        const key = `http-${i}`;
        const prompt = await registry.get(name, i % 2 ? { assignmentKey: key } : { userId: key });
        const resolved = await admin.get(`/api/v1/prompts/${enc(name)}/resolve?ref=production&key=${key}`);
        const rendered = await admin.post(`/api/v1/prompts/${enc(name)}/render`, { key, variables: { q: "?" } });
        const arm = rolloutArm(key, rollout);
        if (arm === "candidate") candidates++;
        expect(prompt.rollout).toEqual({ id: rollout.id, arm, step: 1 });
        expect(prompt.version).toBe(arm === "candidate" ? "1.0.1" : "1.0.0");
        expect(prompt.renderText({ q: "?" })).toBe(rendered.body.text);
        expect(resolved.body).toMatchObject({ version: prompt.version, rollout: { id: rollout.id, arm, step: 1 } });
        expect(resolved.body.rollout.candidate).toBeUndefined();
        expect(rendered.body.prompt).toMatchObject({ version: prompt.version, rollout: { id: rollout.id, arm } });
        const attributes = promptSpanAttributes(prompt.link());
        expect(attributes).toMatchObject({
          "promptreg.rollout.id": rollout.id,
          "promptreg.rollout.arm": arm,
          "promptreg.rollout.step": 1,
        });
      }
      expect(candidates).toBeGreaterThan(0);
      expect(candidates).toBeLessThan(60);
    });

    it("stores the rollout attributes of ingested spans in their columns, and drops an incomplete set", async () => {
      const prompt = await registry.get(name, { assignmentKey: "stored" });
      const attributes = promptSpanAttributes(prompt.link()) as Record<string, string | number>;
      const traceId = newTraceId();
      const { "promptreg.rollout.arm": _arm, ...withoutArm } = attributes;
      await ingestSpans(h, [
        llmSpan(name, prompt.version, { traceId, spanId: "00000000000000a1", attributes }),
        llmSpan(name, prompt.version, { traceId, spanId: "00000000000000a2", attributes: withoutArm }),
      ]);
      const { rows } = await h.database.query<{ rollout_id: string; rollout_arm: string; rollout_step: number }>(
        "SELECT rollout_id, rollout_arm, rollout_step FROM spans WHERE trace_id = $1 ORDER BY span_id",
        [traceId],
      );
      expect(rows).toEqual([
        { rollout_id: rollout.id, rollout_arm: prompt.rollout!.arm, rollout_step: 1 },
        { rollout_id: null, rollout_arm: null, rollout_step: null },
      ]);
    });
  });
});

describe("the CLI", () => {
  let api: Listener;
  beforeAll(async () => {
    api = await serve(h.app);
  });
  afterAll(async () => {
    await api?.close();
  });

  const cli = (...args: string[]) => cliAs(h.adminKey)(...args);

  it("starts a rollout, shows it, and changes it by hand, each change with its reason in the ledger", async () => {
    const name = "cli/rollout";
    await publishPrompt(admin, name, ["one {{q}}", "two {{q}}"], { production: "1.0.0" });
    const url = ["--url", api.url];
    const started = await cli(
      "rollout",
      "start",
      name,
      ...url,
      "--candidate",
      "1.0.1",
      "--steps",
      "5,25,100",
      "--min-units",
      "200",
      "--alpha",
      "0.01",
      "--max-p95-increase-ms",
      "300",
      "--reason",
      "from the CLI",
    );
    expect(started.code, started.err).toBe(0);
    const r = await getRollout(name);
    expect(r).toMatchObject({
      state: "running",
      steps: [
        { share: 0.05, minUnits: 200, minDurationMs: 0 },
        { share: 0.25, minUnits: 200, minDurationMs: 0 },
        { share: 1, minUnits: 200, minDurationMs: 0 },
      ],
      guard: { failure: "status", alpha: 0.01, minSample: 100, maxP95IncreaseMs: 300 },
      autoRollback: true,
    });
    expect(started.out.split("\n")[0]).toBe(
      `${name} production: rollout ${r.id} running, step 1 of 3 (5% → 25% → 100%), candidate share 5%`,
    );
    expect(started.out).toContain("candidate 1.0.1: no judged units yet (0/0)");

    expect((await cli("rollout", "pause", name, ...url, "--reason", "lunch")).code).toBe(0);
    const status = await cli("rollout", "status", name, ...url);
    expect(status.out).toContain(`rollout ${r.id} paused, step 1 of 3`);
    expect((await cli("rollout", "resume", name, ...url)).code).toBe(0);
    expect((await cli("rollout", "advance", name, ...url)).out).toContain(
      "step 2 of 3 (5% → 25% → 100%), candidate share 25%",
    );
    const aborted = await cli("rollout", "abort", name, ...url, "--reason", "not today");
    expect(aborted.out).toContain("aborted");
    expect((await history(name)).filter((e) => e.action.startsWith("rollout_")).map((e) => e.reason)).toEqual([
      "from the CLI",
      "lunch",
      "resume by admin (PROMPTREG_ADMIN_KEY)",
      "advance by admin (PROMPTREG_ADMIN_KEY)",
      "not today",
    ]);

    // What the server refuses is said as the server said it; wrong usage is a 2 with the usage text.
    const again = await cli("rollout", "abort", name, ...url);
    expect(again.code).toBe(1);
    expect(again.err).toContain("404 not_found");
    const bad = await cli("rollout", "start", name, ...url, "--candidate", "1.0.1", "--steps", "50,25");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--steps are increasing percentages");
    expect((await cli("rollout", "start", name, ...url, "--steps", "50")).err).toContain("needs --candidate");
    expect((await cli("rollout", "explode", name, ...url)).code).toBe(2);
  });
});
