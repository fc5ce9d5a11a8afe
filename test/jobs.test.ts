// The durable job runner on the real database (PGlite, and PostgreSQL with TEST_DATABASE_URL): each job's result is
// written once, failures are retried as asked, a dead worker's jobs are taken over, several runners share a queue
// without taking a job twice, and a SIGKILL mid-work loses nothing.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Database, openDatabase } from "../src/db/client.js";
import {
  createJobRunner,
  type Completion,
  type JobRunner,
  type JobRunnerOptions,
  type Queue,
} from "../src/jobs/runner.js";
import { OutboundError } from "../src/outbound/outbound.js";
import { createTestDatabase, silentLogger, TEST_DATABASE_URL, type TestDatabase } from "./helpers/harness.js";

let testDb: TestDatabase;
let db: Database;
const runners: JobRunner[] = [];

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await testDb.open();
  await db.migrate();
  await db.query("CREATE TABLE job_results (n int NOT NULL, outcome text NOT NULL, attempt int NOT NULL)");
});
afterAll(async () => {
  await db.close();
  await testDb.drop();
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
  await db.query("DELETE FROM jobs");
  await db.query("DELETE FROM job_results");
});

type Payload = { n: number };
const payload = z.object({ n: z.number().int() });
const record =
  (n: number, outcome: string, attempt: number): Completion =>
  async (tx) => {
    await tx.$executeRaw`INSERT INTO job_results (n, outcome, attempt) VALUES (${n}, ${outcome}, ${attempt})`;
  };

// Resolved when the runner reports the job of key `k<n>` done or given up, after its commit.
const settled = new Map<string, { promise: Promise<void>; resolve: () => void }>();
const waiter = (key: string) => {
  if (!settled.has(key)) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    settled.set(key, { promise, resolve });
  }
  return settled.get(key)!;
};
const done = (n: number) => waiter(`k${n}`).promise;
afterEach(() => settled.clear());

/** A queue whose runs call `behave`, recording each call's job number. */
function testQueue(
  behave: (p: Payload, attempt: number, signal: AbortSignal) => Promise<void>,
  overrides: Partial<Queue<Payload>> = {},
) {
  const calls: number[] = [];
  const queue: Queue<Payload> = {
    name: "test",
    payload,
    maxAttempts: 3,
    concurrency: 4,
    async run(p, { attempt, signal }) {
      calls.push(p.n);
      await behave(p, attempt, signal);
      return record(p.n, "done", attempt);
    },
    giveUp: (p, reason) => record(p.n, `gave up: ${reason}`, -1),
    ...overrides,
  };
  return { queue, done, calls };
}

function runner(queue: Queue<Payload>, database = db, options: Partial<JobRunnerOptions> = {}): JobRunner {
  const r = createJobRunner({
    db: database,
    logger: silentLogger,
    queues: [queue as Queue<never>],
    pollMs: 50,
    retryBaseMs: 5,
    retryMaxMs: 20,
    // done(n) waits for the result; settled(outcome, key) for any other outcome.
    onSettled: (e) =>
      (e.outcome === "done" || e.outcome === "gave_up" ? waiter(e.key) : waiter(`${e.outcome}:${e.key}`)).resolve(),
    ...options,
  });
  runners.push(r);
  return r;
}

const results = async () =>
  (
    await db.query<{ n: number; outcome: string; attempt: number }>(
      "SELECT n, outcome, attempt FROM job_results ORDER BY n, attempt",
    )
  ).rows;
const pending = async () =>
  (
    await db.query<{
      key: string;
      attempts: number;
      locked_by: string | null;
      last_error: string | null;
      wait_s: number;
    }>(
      "SELECT key, attempts, locked_by, last_error, extract(epoch FROM run_at - now())::float8 AS wait_s FROM jobs ORDER BY id",
    )
  ).rows;

describe("the job runner", () => {
  it("runs each job once and writes its result with the job's removal; a pending key is not enqueued twice", async () => {
    const { queue, done, calls } = testQueue(async () => {});
    const r = runner(queue);
    const added = [];
    for (let n = 0; n < 20; n++) added.push(await r.enqueue(queue, `k${n}`, { n }));
    expect(await r.enqueue(queue, "k3", { n: 3 })).toBe(false);
    expect(added.every(Boolean)).toBe(true);
    r.start();
    await Promise.all(Array.from({ length: 20 }, (_, n) => done(n)));
    await r.stop();
    expect(calls.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(await results()).toEqual(Array.from({ length: 20 }, (_, n) => ({ n, outcome: "done", attempt: 1 })));
    expect(await pending()).toEqual([]);
  });

  it("enqueues inside the caller's transaction: a rolled-back write leaves no job", async () => {
    const { queue } = testQueue(async () => {});
    const r = runner(queue);
    await db.prisma
      .$transaction(async (tx) => {
        await r.enqueue(queue, "rolled-back", { n: 1 }, {}, tx);
        throw new Error("the write failed");
      })
      .catch(() => {});
    await db.prisma.$transaction((tx) => r.enqueue(queue, "committed", { n: 2 }, {}, tx));
    expect((await pending()).map((j) => j.key)).toEqual(["committed"]);
  });

  it("retries a retryable failure after the server's Retry-After, then writes the result once", async () => {
    const { queue, done } = testQueue(async (_p, attempt) => {
      if (attempt === 1) throw new OutboundError("answered 429", true, 60_000, 429);
    });
    const r = runner(queue);
    await r.enqueue(queue, "k1", { n: 1 });
    // The first attempt fails: the job is handed back, due in a minute, with the reason.
    r.start();
    await waiter("retrying:k1").promise;
    expect(await pending()).toMatchObject([{ attempts: 1, locked_by: null, last_error: "answered 429" }]);
    const [job] = await pending();
    expect(job!.wait_s).toBeGreaterThan(55);
    // Due now (as a minute later): the second attempt succeeds.
    await db.query("UPDATE jobs SET run_at = now()");
    r.wake();
    await done(1);
    expect(await results()).toEqual([{ n: 1, outcome: "done", attempt: 2 }]);
    expect(await pending()).toEqual([]);
  });

  it("gives up at once on a failure retrying cannot fix, and after the last attempt on others", async () => {
    const { queue, done, calls } = testQueue(async ({ n }) => {
      if (n === 1) throw new OutboundError("answered 404: no such model", false, undefined, 404);
      throw new Error(`flaky ${n}`);
    });
    const r = runner(queue);
    await r.enqueue(queue, "k1", { n: 1 });
    await r.enqueue(queue, "k2", { n: 2 });
    r.start();
    await Promise.all([done(1), done(2)]);
    expect(await results()).toEqual([
      { n: 1, outcome: "gave up: answered 404: no such model", attempt: -1 },
      { n: 2, outcome: "gave up: flaky 2", attempt: -1 },
    ]);
    expect(calls.filter((n) => n === 1)).toHaveLength(1);
    expect(calls.filter((n) => n === 2)).toHaveLength(3);
  });

  it("takes over a job whose worker died once its lease lapses, and leaves a live worker's job alone", async () => {
    const { queue, done, calls } = testQueue(async () => {});
    const r = runner(queue);
    for (const [n, lease] of [
      [1, "-1 second"],
      [2, "1 hour"],
    ] as const) {
      await r.enqueue(queue, `k${n}`, { n });
      await db.query(
        `UPDATE jobs SET locked_by = 'dead', locked_until = now() + interval '${lease}', attempts = 1 WHERE key = 'k${n}'`,
      );
    }
    // A job that killed its worker at every attempt: its next claim is past the last, so it is given up.
    await r.enqueue(queue, "k3", { n: 3 });
    await db.query(
      "UPDATE jobs SET locked_by = 'dead', locked_until = now() - interval '1 second', attempts = 3 WHERE key = 'k3'",
    );
    await r.enqueue(queue, "k4", { n: 4 });
    r.start();
    await Promise.all([done(1), done(3), done(4)]);
    expect(await results()).toEqual([
      { n: 1, outcome: "done", attempt: 2 },
      { n: 3, outcome: "gave up: gave up after 3 attempts (the last ones did not finish)", attempt: -1 },
      { n: 4, outcome: "done", attempt: 1 },
    ]);
    expect(calls.sort()).toEqual([1, 4]);
    expect(await pending()).toMatchObject([{ key: "k2", locked_by: "dead", attempts: 1 }]);
  });

  it("writes nothing when its claim was taken while it ran, and stops the run", async () => {
    let stolen!: () => void;
    const aborted = new Promise<void>((resolve) => (stolen = resolve));
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const { queue, calls } = testQueue(
      (_p, _a, signal) =>
        new Promise<void>((resolve) => {
          running();
          signal.addEventListener("abort", () => {
            stolen();
            resolve();
          });
        }),
    );
    const r = runner(queue, db, { leaseMs: 300 });
    await r.enqueue(queue, "k", { n: 1 });
    r.start();
    await started;
    // Another worker took it (as after a lease lapsed during a long pause): the next heartbeat finds it gone.
    await db.query("UPDATE jobs SET locked_by = 'other', locked_until = now() + interval '1 hour'");
    await aborted;
    await r.stop();
    expect(calls).toEqual([1]);
    expect(await results()).toEqual([]);
    expect(await pending()).toMatchObject([{ key: "k", locked_by: "other" }]);
  });

  it("does not claim again a job it is still running when its lease lapsed", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const { queue, done, calls } = testQueue(async ({ n }) => {
      if (n !== 1) return;
      running();
      await held;
    });
    const r = runner(queue, db, { leaseMs: 60_000 }); // no heartbeat during the test
    await r.enqueue(queue, "k1", { n: 1 });
    r.start();
    await started;
    await db.query("UPDATE jobs SET locked_until = now() - interval '1 second' WHERE key = 'k1'");
    // A claim pass after the lapse: it takes the new job and must leave the running one.
    await r.enqueue(queue, "k2", { n: 2 });
    r.wake();
    await done(2);
    release();
    await done(1);
    expect(calls).toEqual([1, 2]);
    expect(await results()).toEqual([
      { n: 1, outcome: "done", attempt: 1 },
      { n: 2, outcome: "done", attempt: 1 },
    ]);
  });

  it("hands back a job claimed ahead that waited a third of its lease for a slot, and what it holds when stopped", async () => {
    // Concurrency 4 claims one job ahead: with four long jobs running, the fifth waits in A, not in the database.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const startedOnA: number[] = [];
    let fourStarted!: () => void;
    const four = new Promise<void>((resolve) => (fourStarted = resolve));
    const { queue: onA } = testQueue(async ({ n }) => {
      startedOnA.push(n);
      if (startedOnA.length === 4) fourStarted();
      await gate;
    });
    const { queue: onB, calls: ranOnB } = testQueue(async () => {});
    const a = runner(onA, db, { leaseMs: 600 });
    await a.enqueueMany(
      onA,
      [1, 2, 3, 4, 5].map((n) => ({ key: `k${n}`, payload: { n } })),
    );
    a.start();
    await four;
    expect((await pending()).filter((j) => j.locked_by !== null)).toHaveLength(5);
    // B, idle, gets the one A holds ahead once A has held it a third of the lease (200 ms): uncounted, its first
    // attempt.
    const ahead = [1, 2, 3, 4, 5].find((n) => !startedOnA.includes(n))!;
    const b = runner(onB);
    b.start();
    try {
      await done(ahead);
      expect(ranOnB).toEqual([ahead]);
      expect(await results()).toEqual([{ n: ahead, outcome: "done", attempt: 1 }]);
    } finally {
      open();
    }
    await Promise.all(startedOnA.map(done));
  });

  it("gives back at once, uncounted, the jobs it claimed ahead when it stops", async () => {
    let fourStarted!: () => void;
    const four = new Promise<void>((resolve) => (fourStarted = resolve));
    let started = 0;
    const { queue } = testQueue(async (_p, _attempt, signal) => {
      if (++started === 4) fourStarted();
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      throw new Error("stopped");
    });
    const r = runner(queue, db, { leaseMs: 60_000 });
    await r.enqueueMany(
      queue,
      [1, 2, 3, 4, 5, 6].map((n) => ({ key: `k${n}`, payload: { n } })),
    );
    r.start();
    await four;
    expect((await pending()).filter((j) => j.locked_by !== null)).toHaveLength(5);
    await r.stop();
    // Every claim handed back, the running ones and the one held ahead, none counted as an attempt.
    expect((await pending()).map((j) => [j.key, j.locked_by, j.attempts])).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => [`k${n}`, null, 0]),
    );
  });

  it("shares a queue between runners without running a job twice", async () => {
    // On PostgreSQL two instances with pools of their own; embedded, two runners over the one connection.
    const second = TEST_DATABASE_URL ? await openDatabase({ url: testDb.url!, poolSize: 4 }) : db;
    try {
      const { queue, done, calls } = testQueue(() => new Promise((resolve) => setImmediate(resolve)));
      const a = runner(queue);
      const b = runner(queue, second);
      for (let n = 0; n < 300; n++) await a.enqueue(queue, `k${n}`, { n });
      a.start();
      b.start();
      await Promise.all(Array.from({ length: 300 }, (_, n) => done(n)));
      await Promise.all([a.stop(), b.stop()]);
      expect(calls).toHaveLength(300);
      expect(new Set(calls).size).toBe(300);
      expect(await results()).toHaveLength(300);
    } finally {
      if (second !== db) await second.close();
    }
  });
  it("runs a background queue one job at a time while the foreground is busy, and at full concurrency when not", async () => {
    // Each job runs until the test releases it; what ran when is told by the order of starts and ends.
    const log: string[] = [];
    type Held = { hasStarted: Promise<void>; started: () => void; wait: Promise<void>; release: () => void };
    const held = new Map<number, Held>();
    const gate = (n: number): Held => {
      let entry = held.get(n);
      if (!entry) {
        let started = () => {};
        let release = () => {};
        const hasStarted = new Promise<void>((r) => (started = r));
        const wait = new Promise<void>((r) => (release = r));
        entry = { hasStarted, started, wait, release };
        held.set(n, entry);
      }
      return entry;
    };
    const { queue } = testQueue(
      async (p) => {
        log.push(`start ${p.n}`);
        gate(p.n).started();
        await gate(p.n).wait;
        log.push(`end ${p.n}`);
      },
      { background: true, concurrency: 4 },
    );
    let foreground = 1;
    const r = runner(queue, db, { foreground: () => foreground, backgroundShare: 0.5 });
    await r.enqueueMany(
      queue,
      [1, 2, 3, 4].map((n) => ({ key: `k${n}`, payload: { n } })),
    );
    r.start();
    await gate(1).hasStarted;
    gate(1).release();
    await gate(2).hasStarted;
    expect(log).toEqual(["start 1", "end 1", "start 2"]);
    // The foreground goes quiet: the rest are claimed together, both running before either is released.
    foreground = 0;
    gate(2).release();
    await Promise.all([gate(3).hasStarted, gate(4).hasStarted]);
    expect(log.slice(3).sort()).toEqual(["end 2", "start 3", "start 4"].sort());
    gate(3).release();
    gate(4).release();
    await Promise.all([1, 2, 3, 4].map(done));
    expect((await results()).map((x) => x.n)).toEqual([1, 2, 3, 4]);
  });

  it("gives another project's new work the next free slot while one project holds half of them or more", async () => {
    const [a, b] = ["0190a1a1-0000-7000-8000-0000000000aa", "0190a1a1-0000-7000-8000-0000000000bb"];
    await db.query(
      `INSERT INTO projects (id, name) VALUES ('${a}', 'busy-a'), ('${b}', 'busy-b') ON CONFLICT DO NOTHING`,
    );
    const gates = new Map<number, () => void>();
    const started = new Map<number, Promise<void>>();
    const startedSignals = new Map<number, () => void>();
    for (const n of [1, 2, 3, 4, 5, 6, 9]) started.set(n, new Promise((r) => startedSignals.set(n, r)));
    const { queue, calls } = testQueue(
      (p) =>
        new Promise<void>((resolve) => {
          gates.set(p.n, resolve);
          startedSignals.get(p.n)?.();
        }),
      { concurrency: 3 },
    );
    // A long poll: only an enqueue here (its wake) may end the belief that no other project has work.
    const r = runner(queue, db, { pollMs: 60_000 });
    await r.enqueueMany(
      queue,
      [1, 2, 3, 4, 5, 6].map((n) => ({ key: `k${n}`, payload: { n } })),
      { projectId: a },
    );
    r.start();
    await Promise.all([1, 2, 3].map((n) => started.get(n)));
    // A holds every slot; the next claim finds no other project's work (and remembers it).
    gates.get(1)!();
    await started.get(4);
    await r.enqueue(queue, "k9", { n: 9 }, { projectId: b });
    r.wake(queue);
    gates.get(2)!();
    await started.get(9);
    for (const n of [3, 4, 9]) gates.get(n)!();
    await started.get(5);
    gates.get(5)!();
    await started.get(6);
    gates.get(6)!();
    await Promise.all([1, 2, 3, 4, 5, 6, 9].map(done));
    // B's job, queued last, went before A's backlog (the first three started together, in any order).
    expect(calls.slice(0, 3).sort()).toEqual([1, 2, 3]);
    expect(calls.slice(3)).toEqual([4, 9, 5, 6]);
  });

  it("takes projects in turn on a queue of one slot, rather than one project's backlog first", async () => {
    const [a, b] = ["0190a1a1-0000-7000-8000-00000000000a", "0190a1a1-0000-7000-8000-00000000000b"];
    await db.query(
      `INSERT INTO projects (id, name) VALUES ('${a}', 'turns-a'), ('${b}', 'turns-b') ON CONFLICT DO NOTHING`,
    );
    const order: number[] = [];
    const { queue } = testQueue(async (p) => void order.push(p.n), { concurrency: 1 });
    const r = runner(queue);
    await r.enqueueMany(
      queue,
      [1, 2, 3].map((n) => ({ key: `k${n}`, payload: { n } })),
      { projectId: a },
    );
    await r.enqueue(queue, "k4", { n: 4 }, { projectId: b, delayMs: 0 });
    r.start();
    await Promise.all([1, 2, 3, 4].map(done));
    // A's first job was due first; then B, never served, before A's backlog.
    expect(order).toEqual([1, 4, 2, 3]);
  });
});

describe("a worker killed with SIGKILL mid-work", () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  it("loses nothing: after a restart every job has exactly one result", async () => {
    const JOBS = 200;
    // The embedded database must be a folder on disk to outlive the process; PostgreSQL is the file's own database.
    const dir = TEST_DATABASE_URL ? undefined : await mkdtemp(path.join(tmpdir(), "promptreg-jobs-"));
    const target = dir ?? testDb.url!;
    const open = () => (dir ? openDatabase({ dataDir: dir }) : openDatabase({ url: target }));
    try {
      let database = dir ? await open() : db;
      if (dir) await database.migrate();
      await database.query("CREATE TABLE IF NOT EXISTS job_calls (n int NOT NULL)");
      await database.query("DROP TABLE IF EXISTS job_results");
      await database.query("CREATE TABLE job_results (n int PRIMARY KEY)");
      const enqueuer = createJobRunner({ db: database, logger: silentLogger, queues: [] });
      const crash = { name: "test-crash", payload } as unknown as Queue<Payload>;
      for (let n = 0; n < JOBS; n++) await enqueuer.enqueue(crash, `k${n}`, { n });
      if (dir) await database.close(); // the child opens the folder, which one process holds at a time

      const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/job-worker.ts", target, "2000"], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      // Killed once a third of the jobs have started: several are then between their call and their result.
      let started = 0;
      await new Promise<void>((resolve, reject) => {
        child.on("exit", (code) => reject(new Error(`the worker exited early (${code})`)));
        child.on("message", (m: { started?: number }) => {
          if (m.started !== undefined && ++started === Math.floor(JOBS / 3)) resolve();
        });
      });
      child.removeAllListeners("exit");
      child.kill("SIGKILL");
      await once(child, "exit");

      if (dir) database = await open();
      const before = (await database.query<{ n: number }>("SELECT count(*)::int AS n FROM job_results")).rows[0]!.n;
      expect(before).toBeLessThan(JOBS);
      // The restarted instance: the killed worker's claims lapse after their 2 s lease and are taken over.
      let allDone!: () => void;
      const finished = new Promise<void>((resolve) => (allDone = resolve));
      let written = before;
      const restartQueue: Queue<Payload> = {
        name: "test-crash",
        payload,
        maxAttempts: 5,
        concurrency: 4,
        async run({ n }) {
          await database.query("INSERT INTO job_calls (n) VALUES ($1)", [n]);
          return async (tx) => {
            await tx.$executeRaw`INSERT INTO job_results (n) VALUES (${n})`;
          };
        },
        giveUp: () => async () => {
          throw new Error("unexpected give-up");
        },
      };
      const restarted = createJobRunner({
        db: database,
        logger: silentLogger,
        queues: [restartQueue as Queue<never>],
        leaseMs: 2000,
        onSettled: (e) => e.outcome === "done" && ++written === JOBS && allDone(),
        pollMs: 50,
      });
      restarted.start();
      await finished;
      await restarted.stop();

      const counts = (
        await database.query<{ results: number; distinct_results: number; calls: number; jobs: number }>(`
          SELECT (SELECT count(*)::int FROM job_results) AS results,
                 (SELECT count(DISTINCT n)::int FROM job_results) AS distinct_results,
                 (SELECT count(*)::int FROM job_calls) AS calls,
                 (SELECT count(*)::int FROM jobs) AS jobs`)
      ).rows[0]!;
      expect(counts).toMatchObject({ results: JOBS, distinct_results: JOBS, jobs: 0 });
      // Only the calls in flight when it was killed (at most the worker's concurrency) ran twice.
      expect(counts.calls - JOBS).toBeGreaterThanOrEqual(0);
      expect(counts.calls - JOBS).toBeLessThanOrEqual(4);
      if (dir) await database.close();
      else {
        await db.query("DROP TABLE job_calls");
        await db.query("DROP TABLE job_results");
        await db.query("CREATE TABLE job_results (n int NOT NULL, outcome text NOT NULL, attempt int NOT NULL)");
      }
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });
});
