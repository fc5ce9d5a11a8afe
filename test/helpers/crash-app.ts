// The app as the crash tests run it in the test's own process (to prepare the work, then to take it over after the
// worker's SIGKILL): a short job lease, private connections allowed for the fakes on 127.0.0.1, a fixed admin key.
import { createApp } from "../../src/app.js";
import type { Database } from "../../src/db/client.js";
import { createInvalidationBus } from "../../src/db/invalidation.js";
import type { JobEvent } from "../../src/jobs/runner.js";
import { client, silentLogger } from "./harness.js";

export async function crashApp(database: Database, key: string, onSettled?: (event: JobEvent) => void) {
  const bus = await createInvalidationBus(database, silentLogger);
  const created = createApp({
    config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100, allowPrivateConnections: true, jobLeaseMs: 2_000 },
    database,
    bus,
    logger: silentLogger,
    jobs: { pollMs: 50, onSettled },
  });
  await created.auth.bootstrap({ adminKey: key, dataDir: "/nonexistent", logger: silentLogger });
  return {
    ...created,
    client: client(created.app, key),
    async close() {
      await created.close();
      await bus.close();
    },
  };
}
