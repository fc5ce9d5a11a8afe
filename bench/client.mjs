// What the client costs on its hot path: `get` on a warm cache plus `render`, against calling the same precompiled
// Handlebars template directly. Run after `npm run build`: node bench/client.mjs
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import Handlebars from "handlebars";
import { pino } from "pino";
import { createClient } from "../client/dist/index.js";
import { createApp } from "../dist/src/app.js";
import { openDatabase } from "../dist/src/db/client.js";
import { createInvalidationBus } from "../dist/src/db/invalidation.js";

const ROUNDS = 7;
const ROUND_MS = 300;
const BATCH = 1_000;
const TARGET_RATIO = 0.5;

const NAME = "bench/support-triage";
const LABEL = "production";
const TEMPLATE = [
  "You are the support assistant of {{company}}.",
  "Customer: {{customer.name}} ({{customer.tier}})",
  "{{#if customer.vip}}Treat this customer with priority.{{/if}}",
  "Recent orders:",
  "{{#each orders}}- {{this.id}}: {{this.status}}",
  "{{/each}}Question: {{question}}",
].join("\n");
const VALUES = {
  company: "ACME & Sons",
  customer: { name: "Ada", tier: "gold", vip: true },
  orders: [
    { id: "A-1", status: "shipped" },
    { id: "A-2", status: "processing" },
    { id: "A-3", status: "delivered" },
  ],
  question: "Where is my order <A-2>?",
};

const logger = pino({ level: "silent" });
const database = await openDatabase({ dataDir: "memory" });
await database.migrate();
const bus = await createInvalidationBus(database, logger);
const { app, auth } = createApp({ config: { bodyLimitBytes: 1024 * 1024, resolveCacheSize: 1000 }, database, bus, logger });
const adminKey = `pr_bench_admin_${randomBytes(16).toString("hex")}`;
await auth.bootstrap({ adminKey, dataDir: "/nonexistent", logger });
const server = app.listen(0, "127.0.0.1");
await once(server, "listening");
const baseUrl = `http://127.0.0.1:${server.address().port}`;

try {
  const published = await fetch(`${baseUrl}/api/v1/prompts/${encodeURIComponent(NAME)}/versions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
    body: JSON.stringify({ template: TEMPLATE, labels: [LABEL] }),
  });
  if (published.status !== 201) throw new Error(`publish failed: ${published.status} ${await published.text()}`);

  // The TTL outlasts the run, so every measured `get` is a fresh hit.
  const registry = createClient({ baseUrl, apiKey: adminKey, ttlMs: 10 * 60_000 });
  const selector = { label: LABEL };
  const template = Handlebars.create().compile(TEMPLATE, { noEscape: true });

  const first = await registry.get(NAME, selector);
  if (first.render(VALUES) !== template(VALUES)) throw new Error("the client and Handlebars disagree on the output");

  let sink = 0;
  async function clientBatch() {
    for (let i = 0; i < BATCH; i++) {
      const prompt = await registry.get(NAME, selector);
      sink += prompt.render(VALUES).length;
    }
  }
  async function directBatch() {
    for (let i = 0; i < BATCH; i++) sink += template(VALUES).length;
  }
  async function opsPerSecond(batch) {
    let ops = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ROUND_MS) {
      await batch();
      ops += BATCH;
      elapsed = performance.now() - start;
    }
    return (ops * 1000) / elapsed;
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

  // Warm-up: JIT both paths before measuring.
  await opsPerSecond(clientBatch);
  await opsPerSecond(directBatch);
  const clientRuns = [];
  const directRuns = [];
  // Interleaved, so a slow moment of the machine hits both sides.
  for (let round = 0; round < ROUNDS; round++) {
    clientRuns.push(await opsPerSecond(clientBatch));
    directRuns.push(await opsPerSecond(directBatch));
  }
  // Used, so that no engine can drop the rendering as dead code.
  if (sink === 0) throw new Error("nothing was rendered");
  const last = await registry.get(NAME, selector);
  if (last.source !== "cache") throw new Error(`expected fresh hits, got source ${last.source}`);

  const clientOps = median(clientRuns);
  const directOps = median(directRuns);
  const ratio = clientOps / directOps;
  const round = (n) => Math.round(n);
  console.log(`client get + render (warm cache): ${round(clientOps)} ops/s (median of ${ROUNDS} rounds of ${ROUND_MS} ms)`);
  console.log(`precompiled Handlebars template:  ${round(directOps)} ops/s (median of ${ROUNDS} rounds of ${ROUND_MS} ms)`);
  console.log(`ratio: ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? "ok" : "BELOW TARGET"}`);
  console.log(
    JSON.stringify({
      bench: "client",
      clientOpsPerSec: round(clientOps),
      handlebarsOpsPerSec: round(directOps),
      ratio: Number(ratio.toFixed(3)),
      target: TARGET_RATIO,
      rounds: ROUNDS,
    }),
  );
  if (ratio < TARGET_RATIO) process.exitCode = 1;
} finally {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await bus.close();
  await database.close();
}
