// A job runner in a process of its own, for test/jobs.test.ts to kill with SIGKILL mid-work. Its queue `test-crash`
// records each run in `job_calls` outside the job's transaction (as a call to a model would happen outside it) and
// its result in `job_results` inside it; it tells the parent over IPC when a run starts.
// argv: <database url, or an embedded data folder> <lease ms>
import { pino } from "pino";
import { z } from "zod";
import { openDatabase } from "../../src/db/client.js";
import { createJobRunner, type Queue } from "../../src/jobs/runner.js";

const [target, lease] = process.argv.slice(2) as [string, string];
const db = await openDatabase(target.startsWith("postgres") ? { url: target } : { dataDir: target });

const crashQueue: Queue<{ n: number }> = {
  name: "test-crash",
  payload: z.object({ n: z.number().int() }),
  maxAttempts: 5,
  concurrency: 4,
  async run({ n }) {
    await db.query("INSERT INTO job_calls (n) VALUES ($1)", [n]);
    process.send?.({ started: n });
    // Long enough that a kill lands while several jobs are between their call and their result.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return async (tx) => {
      await tx.$executeRaw`INSERT INTO job_results (n) VALUES (${n})`;
    };
  },
  giveUp: (_p, reason) => async () => {
    throw new Error(`unexpected give-up: ${reason}`);
  },
};

const runner = createJobRunner({
  db,
  logger: pino({ level: "silent" }),
  queues: [crashQueue as Queue<never>],
  leaseMs: Number(lease),
  pollMs: 50,
});
runner.start();
process.send?.({ ready: true });
