// A server-side experiment survives a SIGKILL: the worker process is killed halfway through a run of 300 items × 2
// versions, and after a restart every (item, version) has exactly one result. An item whose model call was in
// flight at the kill is called again (its result was never written): the fake model sees each prompt at most twice,
// and no more repeats than the worker ran at once (16). On PostgreSQL the killed worker's claims are taken over when
// their lease (2 s here) lapses; on the embedded database the restart frees them at once.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { type Database, openDatabase } from "../src/db/client.js";
import { publishVersion } from "./helpers/factories.js";
import { type FakeModel, startFakeModel } from "./helpers/fake-model.js";
import type { JobEvent } from "../src/jobs/runner.js";
import { crashApp } from "./helpers/crash-app.js";
import { settledJobs } from "./helpers/settled-jobs.js";
import { createTestDatabase, TEST_DATABASE_URL } from "./helpers/harness.js";

const ITEMS = 300;
const KEY = "pr_experiment_crash_admin_key_00000000";
const children: ChildProcess[] = [];
let model: FakeModel | undefined;

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await model?.close();
});

const app = (database: Database, onSettled?: (event: JobEvent) => void) => crashApp(database, KEY, onSettled);

it("repeats no finished item and loses none after a SIGKILL halfway through a run", async () => {
  model = await startFakeModel((prompt) => `answer to ${prompt}`);
  model.delayMs = 5;
  const testDb = TEST_DATABASE_URL ? await createTestDatabase() : undefined;
  const dir = testDb ? undefined : await mkdtemp(path.join(tmpdir(), "promptreg-experiments-"));
  const target = testDb?.url ?? dir!;
  const open = () => (dir ? openDatabase({ dataDir: dir }) : openDatabase({ url: target }));
  try {
    // The experiment, queued with no runner started.
    let database = await open();
    await database.migrate();
    const first = await app(database);
    const as = first.client;
    await publishVersion(as, "crash/prompt", { template: "Say {{q}}", commitMessage: "v1" });
    await publishVersion(as, "crash/prompt", { template: "Please say {{q}}", commitMessage: "v2" });
    await as.post("/api/v1/connections", { name: "model", baseUrl: model.url, model: "m" }).expect(201);
    await as.post("/api/v1/datasets", { name: "many" }).expect(201);
    const items = Array.from({ length: ITEMS }, (_, i) => ({ id: `item-${i}`, variables: { q: `number ${i}` } }));
    await as.post("/api/v1/datasets/many/items", { items }).expect(200);
    const created = await as
      .post("/api/v1/experiments", {
        dataset: "many",
        prompt: "crash/prompt",
        versions: ["1.0.0", "1.0.1"],
        connection: "model",
        evaluators: ["similarity"],
      })
      .expect(201);
    const id = created.body.id as string;
    await first.close();
    if (dir) await database.close(); // the worker opens the folder, which one process holds at a time

    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/eval-worker.ts", target], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.on("exit", (code) => reject(new Error(`the worker exited early (${code})`)));
      model!.onCall = () => model!.total() >= ITEMS && resolve();
    });
    child.removeAllListeners("exit");
    child.kill("SIGKILL");
    await once(child, "exit");
    model.onCall = undefined;

    if (dir) database = await open();
    const count = async () =>
      (
        await database.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM experiment_results x JOIN experiment_runs r ON r.id = x.run_id
           WHERE r.experiment_id = '${id}'`,
        )
      ).rows[0]!.n;
    expect(await count()).toBeLessThan(2 * ITEMS);
    // Waited on by the runner's events, checked after each (and once at the start): never a count read just before
    // the last result's commit and then a wait for an event that will not come.
    const settled = settledJobs();
    const restarted = await app(database, settled.onSettled);
    restarted.jobs.start();
    await settled.until(async () => (await count()) >= 2 * ITEMS);
    const experiment = (await restarted.client.get(`/api/v1/experiments/${id}`)).body;
    await restarted.close();

    expect(experiment.status).toBe("finished");
    expect(experiment.runs.map((r: { done: number; errors: number }) => [r.done, r.errors])).toEqual([
      [ITEMS, 0],
      [ITEMS, 0],
    ]);
    const repeated = [...model.calls.values()].filter((n) => n > 1).length;
    expect(model.calls.size).toBe(2 * ITEMS);
    expect(Math.max(...model.calls.values())).toBeLessThanOrEqual(2);
    expect(repeated).toBeLessThanOrEqual(16);
    expect(model.total()).toBe(2 * ITEMS + repeated);
    const { rows } = await database.query<{ pending: number }>("SELECT count(*)::int AS pending FROM jobs");
    expect(rows[0]!.pending).toBe(0);
    await database.close();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
    await testDb?.drop();
  }
}, 600_000);
