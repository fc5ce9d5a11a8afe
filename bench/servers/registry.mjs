// The real promptreg service (built in dist/) on the embedded database, or on BENCH_DATABASE_URL.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { loadConfig } from "../../dist/src/config.js";
import { createLogger } from "../../dist/src/logger.js";
import { startServer } from "../../dist/src/server.js";

const dataDir = await mkdtemp(path.join(tmpdir(), "promptreg-bench-"));
const config = loadConfig({
  PORT: "0",
  PROMPTREG_DATA_DIR: dataDir,
  PROMPTREG_ADMIN_KEY: process.env.BENCH_ADMIN_KEY,
  ...(process.env.BENCH_DATABASE_URL ? { DATABASE_URL: process.env.BENCH_DATABASE_URL } : {}),
  // Benches that call a model serve a fake one on 127.0.0.1 (bench/experiments.mjs).
  ...(process.env.BENCH_ALLOW_PRIVATE ? { PROMPTREG_ALLOW_PRIVATE_CONNECTIONS: "true" } : {}),
  // The live-update bench holds more streams than the defaults allow, to measure what one costs.
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("PROMPTREG_EVENTS_"))),
});
// Request logs are written as in production (the service's own logger, one line per request), to a sink that costs
// no terminal time.
const logger = createLogger("info", "/dev/null");
const running = await startServer(config, logger);
process.send({ port: running.port });
// A statement's rows, for benches that read the registry's own database (on the embedded database, nothing else
// can open it): `{ id, sql }` is answered `{ id, rows }` or `{ id, error }`.
process.on("message", async (message) => {
  if (typeof message?.sql !== "string") return;
  try {
    const { rows } = await running.database.query(message.sql);
    process.send({ id: message.id, rows });
  } catch (err) {
    process.send({ id: message.id, error: err instanceof Error ? err.message : String(err) });
  }
});
// What the span tables take on disk, for benches that measure what ingest stores (bench/ingest-hold.mjs).
process.on("message", async (message) => {
  if (message !== "storage") return;
  const { rows } = await running.database.query(
    "SELECT (pg_total_relation_size('spans') + pg_total_relation_size('span_resources') + pg_total_relation_size('span_scopes'))::text AS bytes",
  );
  process.send({ storedBytes: Number(rows[0].bytes) });
});
// The process's memory after a full collection, for benches that measure what something held costs (bench/live.mjs).
process.on("message", (message) => {
  if (message !== "memory") return;
  setFlagsFromString("--expose-gc");
  runInNewContext("gc")();
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.send({ memory: { rss, heapUsed, external, arrayBuffers } });
});
// The data folder goes with the server: a bench that starts one per round would otherwise fill the disk. A bench
// that died (its IPC channel closed) takes its server with it.
const stop = () =>
  running
    .stop()
    .then(() => rm(dataDir, { recursive: true, force: true }))
    .then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("disconnect", stop);
