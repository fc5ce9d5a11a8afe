// How long a large OTLP batch holds everything else, and what a shared resource costs in storage. The service runs
// as `promptreg serve` does, in a child process (bench/servers/registry.mjs), on the embedded database and on
// BENCH_DATABASE_URL's server (a fresh database). While a batch of 20 chunks (10,240 LLM spans on either database)
// is stored, health checks run back to back: the slowest one is how long the batch held the server. The figure the
// README quotes: the embedded database's slowest health check, target about 100 ms (one chunk).
// Then one request of 1,000 spans sharing a 400 kB resource of random text: its status, how long it took, and how
// much the span tables grew (before resources were stored once, every span row kept its own copy: 400 MB).
// Run after `npm run build`: node bench/ingest-hold.mjs
import { randomBytes } from "node:crypto";
import { ExportTraceServiceRequest } from "../dist/src/traces/otlp-proto.js";
import { INGEST_DEFAULTS } from "../dist/src/config.js";
import { fmt, startRegistry, withFreshPostgres } from "./lib.mjs";

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const CHUNKS = 20;

const anyValue = (v) => (typeof v === "string" ? { stringValue: v } : { intValue: v });
const keyValues = (o) => Object.entries(o).map(([key, v]) => ({ key, value: anyValue(v) }));

function body(n, resource) {
  const traceId = randomBytes(16);
  const t0 = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId,
    spanId: randomBytes(8),
    name: "ChatCompletion",
    kind: 3,
    startTimeUnixNano: (t0 + BigInt(i) * 1000n).toString(),
    endTimeUnixNano: (t0 + BigInt(i) * 1000n + 850_000_000n).toString(),
    status: { code: 1 },
    attributes: keyValues({
      "openinference.span.kind": "LLM",
      "llm.model_name": "gpt-4o-mini",
      "llm.token_count.prompt": 400 + (i % 50),
      "llm.token_count.completion": 96,
      "session.id": `session-${i % 64}`,
      "input.value": `Customer question number ${i}: my order has not arrived yet, what should I do?`,
      "output.value": "I am sorry to hear that. Let me check the shipping status of your order right away.",
    }),
  }));
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [
      { resource: { attributes: keyValues(resource) }, scopeSpans: [{ scope: { name: "bench" }, spans }] },
    ],
  });
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

/** Posts `payload` while health checks run back to back; the slowest health check, and the request's own time. */
async function whileHealthChecked(registry, payload) {
  const origin = registry.base.replace(/\/api\/v1$/, "");
  let done = false;
  const latencies = [];
  const health = (async () => {
    while (!done) {
      const t0 = performance.now();
      await fetch(`${origin}/healthz`).then((r) => r.arrayBuffer());
      latencies.push(performance.now() - t0);
    }
  })();
  const t0 = performance.now();
  const res = await fetch(`${origin}/v1/traces`, {
    method: "POST",
    headers: { Authorization: `Bearer ${registry.adminKey}`, "Content-Type": "application/x-protobuf" },
    body: payload,
  });
  await res.arrayBuffer();
  const ms = performance.now() - t0;
  done = true;
  await health;
  return { status: res.status, ms, healthMaxMs: Math.max(...latencies), healthChecks: latencies.length };
}

async function run(kind, databaseUrl) {
  const registry = await startRegistry(databaseUrl ? { databaseUrl } : {});
  try {
    const chunkRows = INGEST_DEFAULTS[kind].chunkRows;
    await whileHealthChecked(registry, body(chunkRows, { "service.name": "warm-up" }));
    const one = await whileHealthChecked(registry, body(chunkRows, { "service.name": "agent" }));
    const many = await whileHealthChecked(registry, body(CHUNKS * chunkRows, { "service.name": "agent" }));
    const shared = body(1000, { "service.name": "agent", blob: randomBytes(300_000).toString("base64") });
    const before = await registry.storedBytes();
    const resource = await whileHealthChecked(registry, shared);
    const grown = (await registry.storedBytes()) - before;
    return { kind, chunkRows, one, many, resource: { ...resource, bytes: shared.length, grown } };
  } finally {
    await registry.stop();
  }
}

const pglite = await run("pglite");
const postgres = await withFreshPostgres(DATABASE_URL, (url) => run("postgres", url));

for (const r of [pglite, postgres]) {
  const label = r.kind === "pglite" ? "embedded  " : "PostgreSQL";
  console.log(
    `${label}: one chunk (${r.chunkRows} spans) ${fmt(r.one.ms)} ms, slowest health check ${fmt(r.one.healthMaxMs)} ms; ` +
      `${CHUNKS} chunks (${fmt(CHUNKS * r.chunkRows)} spans) ${fmt(r.many.ms)} ms, slowest health check ${fmt(r.many.healthMaxMs)} ms of ${r.many.healthChecks}`,
  );
  console.log(
    `${label}: 1,000 spans sharing a 400 kB resource (${fmt(r.resource.bytes / 1000)} kB request): ${r.resource.status} in ${fmt(r.resource.ms)} ms, ` +
      `span tables grew ${fmt(r.resource.grown / 1000)} kB, slowest health check ${fmt(r.resource.healthMaxMs)} ms`,
  );
}
console.log(
  JSON.stringify({
    bench: "ingest-hold",
    pgliteHealthMaxMs: Math.round(pglite.many.healthMaxMs),
    pgliteOneChunkHealthMaxMs: Math.round(pglite.one.healthMaxMs),
    postgresHealthMaxMs: Math.round(postgres.many.healthMaxMs),
    pgliteResourceGrownBytes: pglite.resource.grown,
    postgresResourceGrownBytes: postgres.resource.grown,
    resourceRequestBytes: pglite.resource.bytes,
  }),
);
