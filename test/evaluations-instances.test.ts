// Two instances on one PostgreSQL database share the evaluation queue: every span is judged once, by one of them,
// and both take work. Only on PostgreSQL (an embedded database belongs to one process).
import { afterAll, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { openDatabase } from "../src/db/client.js";
import { createInvalidationBus } from "../src/db/invalidation.js";
import { ingestSpans } from "./helpers/factories.js";
import { type FakeJudge, judgedPrompt, startFakeJudge } from "./helpers/fake-judge.js";
import { client, createTestDatabase, type Harness, silentLogger, TEST_DATABASE_URL } from "./helpers/harness.js";
import { settledJobs } from "./helpers/settled-jobs.js";

const reason = "instances share the queue through PostgreSQL row locks: set TEST_DATABASE_URL to run it";
if (!TEST_DATABASE_URL) console.log(`evaluations-instances.test.ts skipped: ${reason}`);

const SPANS = 400;
const KEY = "pr_eval_instances_admin_key_0000000";
const closers: (() => Promise<void>)[] = [];
let judge: FakeJudge | undefined;

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await judge?.close();
});

it.skipIf(!TEST_DATABASE_URL)(
  "two instances judge each span once between them",
  async () => {
    judge = await startFakeJudge();
    const testDb = await createTestDatabase();
    closers.push(() => testDb.drop());
    // Waited on by the runner's events, checked after each: never a count read just before the last commit and then a
    // wait for an event that will not come.
    const settled = settledJobs();
    const worked = [0, 0];
    async function instance(i: number) {
      const database = await openDatabase({ url: testDb.url!, poolSize: 4 });
      await database.migrate();
      const bus = await createInvalidationBus(database, silentLogger);
      const created = createApp({
        config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100, allowPrivateConnections: true },
        database,
        bus,
        logger: silentLogger,
        jobs: {
          pollMs: 50,
          onSettled: (e) => {
            if (e.queue === "evaluations.evaluate" && e.outcome === "done") worked[i]! += 1;
            settled.onSettled(e);
          },
        },
      });
      await created.auth.bootstrap({ adminKey: KEY, dataDir: "/nonexistent", logger: silentLogger });
      created.jobs.start();
      closers.push(async () => {
        await created.close();
        await bus.close();
        await database.close();
      });
      return { ...created, database };
    }
    const a = await instance(0);
    await instance(1);
    const as = client(a.app, KEY);
    const spans = await judgedPrompt(as, judge, "shared/answer", SPANS);
    await ingestSpans({ app: a.app } as Harness, spans, KEY);
    const count = async () =>
      (
        await a.database.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM annotations WHERE name = 'helpful' AND kind = 'eval'",
        )
      ).rows[0]!.n;
    await settled.until(async () => (await count()) >= SPANS);

    expect(await count()).toBe(SPANS);
    expect(judge.calls.size).toBe(SPANS);
    expect(Math.max(...judge.calls.values())).toBe(1);
    expect(worked[0]! + worked[1]!).toBe(SPANS);
    // Both took work: the queue is shared, not held by whoever enqueued it.
    expect(worked[0]).toBeGreaterThan(0);
    expect(worked[1]).toBeGreaterThan(0);
  },
  300_000,
);
