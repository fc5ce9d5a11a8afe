// Evaluations survive a SIGKILL: a worker process is killed while it judges a backlog of 2,000 spans, and after a
// restart every sampled span has exactly one result. A call in flight at the kill may be made again (the judge saw it,
// its result was never written): the fake judge sees each answer at most twice, and no more repeats than the worker
// ran at once. On PostgreSQL the killed worker's claims are taken over when their lease (2 s here) lapses; on the
// embedded database, which one process owns, the restart frees them at once.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { openDatabase, type Database } from "../src/db/client.js";
import { ingestSpans } from "./helpers/factories.js";
import { type FakeJudge, judgedPrompt, startFakeJudge } from "./helpers/fake-judge.js";
import type { JobEvent } from "../src/jobs/runner.js";
import { crashApp } from "./helpers/crash-app.js";
import { settledJobs } from "./helpers/settled-jobs.js";
import { createTestDatabase, TEST_DATABASE_URL, type Harness } from "./helpers/harness.js";

const SPANS = 2_000;
const KEY = "pr_eval_crash_admin_key_000000000000";
const children: ChildProcess[] = [];
let judge: FakeJudge | undefined;

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await judge?.close();
});

const app = (database: Database, onSettled?: (event: JobEvent) => void) => crashApp(database, KEY, onSettled);

it("loses nothing and judges nothing twice after a SIGKILL mid-backlog", async () => {
  judge = await startFakeJudge();
  const testDb = TEST_DATABASE_URL ? await createTestDatabase() : undefined;
  const dir = testDb ? undefined : await mkdtemp(path.join(tmpdir(), "promptreg-evals-"));
  const target = testDb?.url ?? dir!;
  const open = () => (dir ? openDatabase({ dataDir: dir }) : openDatabase({ url: target }));
  try {
    // The backlog, queued by ingest with no runner started.
    let database = await open();
    await database.migrate();
    const first = await app(database);
    const as = first.client;
    const spans = await judgedPrompt(as, judge, "crash/answer", SPANS);
    await ingestSpans({ app: first.app } as Harness, spans, KEY);
    await first.close();
    if (dir) await database.close(); // the worker opens the folder, which one process holds at a time

    // The worker: killed once a quarter of the backlog has been sent to the judge.
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/eval-worker.ts", target], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.on("exit", (code) => reject(new Error(`the worker exited early (${code})`)));
      judge!.onCall = () => judge!.total() >= SPANS / 4 && resolve();
    });
    child.removeAllListeners("exit");
    child.kill("SIGKILL");
    await once(child, "exit");
    judge.onCall = undefined;
    const callsAtKill = judge.total();

    // The restart: the same queues take the backlog over.
    if (dir) database = await open();
    const count = async () =>
      (
        await database.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM annotations WHERE name = 'helpful' AND kind = 'eval' AND evaluator_revision = 1",
        )
      ).rows[0]!.n;
    const before = await count();
    expect(before).toBeLessThan(SPANS);
    // Waited on by the runner's events, checked after each (and once at the start): never a count read just before
    // the last result's commit and then a wait for an event that will not come.
    const settled = settledJobs();
    const restarted = await app(database, settled.onSettled);
    restarted.jobs.start();
    await settled.until(async () => (await count()) >= SPANS);
    await restarted.close();

    const { rows } = await database.query<{ results: number; spans: number; failed: number; pending: number }>(`
      SELECT count(*)::int AS results, count(DISTINCT span_id)::int AS spans,
        (count(*) FILTER (WHERE status = 'failed'))::int AS failed,
        (SELECT count(*)::int FROM jobs) AS pending
      FROM annotations WHERE name = 'helpful' AND kind = 'eval'`);
    expect(rows[0]).toEqual({ results: SPANS, spans: SPANS, failed: SPANS / 10, pending: 0 });
    // Each answer was sent at most twice, and only those in flight at the kill (8 at once) twice.
    const repeated = [...judge.calls.values()].filter((n) => n > 1).length;
    expect(Math.max(...judge.calls.values())).toBeLessThanOrEqual(2);
    expect(judge.calls.size).toBe(SPANS);
    expect(repeated).toBeLessThanOrEqual(8);
    expect(judge.total()).toBe(SPANS + repeated);
    expect(callsAtKill).toBeGreaterThanOrEqual(SPANS / 4);
    await database.close();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
    await testDb?.drop();
  }
}, 600_000);
