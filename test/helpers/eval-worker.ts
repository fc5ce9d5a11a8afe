// The app's job runner in a process of its own, for test/evaluations-crash.test.ts to kill with SIGKILL while it
// evaluates a backlog: the real evaluation queues, on the database the test prepared, calling the test's fake judge.
// argv: <database url, or an embedded data folder>
import { pino } from "pino";
import { createApp } from "../../src/app.js";
import { openDatabase } from "../../src/db/client.js";
import { createInvalidationBus } from "../../src/db/invalidation.js";

const [target] = process.argv.slice(2) as [string];
const logger = pino({ level: "silent" });
const database = await openDatabase(target.startsWith("postgres") ? { url: target } : { dataDir: target });
const bus = await createInvalidationBus(database, logger);
const { jobs } = createApp({
  config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100, allowPrivateConnections: true, jobLeaseMs: 2_000 },
  database,
  bus,
  logger,
  jobs: { pollMs: 50 },
});
jobs.start();
process.send?.({ ready: true });
