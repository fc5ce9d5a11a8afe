// What the client costs on its hot path: `get` on a warm cache plus `render`, against calling the same precompiled
// Handlebars template directly; and what `get` costs while the registry black-holes every request (the breaker).
// Run after `npm run build`: node bench/client.mjs
import { once } from "node:events";
import http from "node:http";
import Handlebars from "handlebars";
import { createClient, pullSnapshot } from "../client/dist/index.js";
import { openDatabase } from "../dist/src/db/client.js";
import { startRegistryInProcess } from "./lib.mjs";

const ROUNDS = 7;
const ROUND_MS = 300;
const BATCH = 1_000;
const TARGET_RATIO = 0.5;

// The outage: how long gets are measured after the first call, and the targets of issue 8.
const OUTAGE_MS = 3_000;
const OUTAGE_TARGET_P99_MS = 1;
const OUTAGE_TARGET_IN_FLIGHT = 1;

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

const database = await openDatabase({ dataDir: "memory" });
const service = await startRegistryInProcess(database);
const { origin: baseUrl, adminKey } = service;

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
  console.log(
    `client get + render (warm cache): ${round(clientOps)} ops/s (median of ${ROUNDS} rounds of ${ROUND_MS} ms)`,
  );
  console.log(
    `precompiled Handlebars template:  ${round(directOps)} ops/s (median of ${ROUNDS} rounds of ${ROUND_MS} ms)`,
  );
  console.log(
    `ratio: ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? "ok" : "BELOW TARGET"}`,
  );
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

  const outage = await measureOutage();
  const ms = (n) => Number(n.toFixed(4));
  const ok = outage.p99 <= OUTAGE_TARGET_P99_MS && outage.maxInFlight <= OUTAGE_TARGET_IN_FLIGHT;
  console.log(
    `\nbreaker, black-holed registry (after the first call, which waited ${outage.first.toFixed(0)} ms for the cold budget):`,
  );
  console.log(
    `  ${outage.calls} gets in ${OUTAGE_MS} ms (stale, snapshot, fallback in turn): p50 ${ms(outage.p50)} ms, p99 ${ms(outage.p99)} ms, max ${ms(outage.max)} ms (target p99 <= ${OUTAGE_TARGET_P99_MS} ms)`,
  );
  console.log(
    `  requests that reached the registry: ${outage.requests} (the first call's, then one probe at a time), at most ${outage.maxInFlight} in flight (target <= ${OUTAGE_TARGET_IN_FLIGHT}) ${ok ? "ok" : "BELOW TARGET"}`,
  );
  console.log(
    JSON.stringify({
      bench: "client-breaker",
      calls: outage.calls,
      p50Ms: ms(outage.p50),
      p99Ms: ms(outage.p99),
      maxMs: ms(outage.max),
      firstCallMs: Math.round(outage.first),
      requests: outage.requests,
      maxInFlight: outage.maxInFlight,
      targetP99Ms: OUTAGE_TARGET_P99_MS,
      targetInFlight: OUTAGE_TARGET_IN_FLIGHT,
    }),
  );
  if (!ok) process.exitCode = 1;
} finally {
  await service.stop();
  await database.close();
}

/**
 * One client whose registry goes black (accepts requests, never answers). The registry side counts the requests that
 * reach it and how many are open at once; the probes time out (requestTimeoutMs) and come back after short delays, so
 * that the run sees many of them.
 */
async function measureOutage() {
  let black = false;
  let requests = 0;
  let open = 0;
  let maxInFlight = 0;
  const front = http.createServer(async (req, res) => {
    if (black) {
      requests++;
      open++;
      maxInFlight = Math.max(maxInFlight, open);
      res.on("close", () => open--);
      return;
    }
    const upstream = await fetch(`${baseUrl}${req.url}`, {
      headers: { authorization: req.headers.authorization ?? "" },
    });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  front.listen(0, "127.0.0.1");
  await once(front, "listening");
  const frontUrl = `http://127.0.0.1:${front.address().port}`;
  try {
    const SNAPSHOT_NAME = `${NAME}-snapshot`;
    await fetch(`${baseUrl}/api/v1/prompts/${encodeURIComponent(SNAPSHOT_NAME)}/versions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ template: TEMPLATE, labels: [LABEL] }),
    });
    const snapshot = await pullSnapshot({ baseUrl: frontUrl, apiKey: adminKey, refs: [SNAPSHOT_NAME] });
    const errors = [];
    const registry = createClient({
      baseUrl: frontUrl,
      apiKey: adminKey,
      snapshot,
      // Every get past the first is past its TTL: the last good value is served `stale`, not as a fresh hit.
      ttlMs: 0,
      coldBudgetMs: 200,
      requestTimeoutMs: 300,
      breakerBaseDelayMs: 50,
      breakerMaxDelayMs: 200,
      onError: (e) => errors.push(e),
    });
    const warm = await registry.get(NAME, { label: LABEL });
    if (warm.source !== "network") throw new Error(`expected a network answer first, got ${warm.source}`);

    black = true;
    let start = performance.now();
    const first = await registry.get(SNAPSHOT_NAME, { label: LABEL });
    const firstMs = performance.now() - start;
    if (first.source !== "snapshot") throw new Error(`expected the snapshot, got ${first.source}`);

    const calls = [
      () => registry.get(NAME, { label: LABEL }),
      () => registry.get(SNAPSHOT_NAME, { label: LABEL }),
      () => registry.get(`${NAME}-new`, { label: LABEL, fallback: TEMPLATE }),
    ];
    const expected = ["stale", "snapshot", "fallback"];
    const latencies = [];
    const outageStart = performance.now();
    while (performance.now() - outageStart < OUTAGE_MS) {
      for (let i = 0; i < 300; i++) {
        const k = latencies.length % 3;
        start = performance.now();
        const prompt = await calls[k]();
        latencies.push(performance.now() - start);
        if (prompt.source !== expected[k]) throw new Error(`expected ${expected[k]}, got ${prompt.source}`);
      }
      // Lets the probes' timers and sockets run, as an application's event loop would between requests.
      await new Promise((resolve) => setImmediate(resolve));
    }
    latencies.sort((a, b) => a - b);
    const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    if (requests < 2) throw new Error(`expected probes during the outage, saw ${requests} requests`);
    return {
      calls: latencies.length,
      p50: at(0.5),
      p99: at(0.99),
      max: latencies.at(-1),
      first: firstMs,
      requests,
      maxInFlight,
    };
  } finally {
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
  }
}
