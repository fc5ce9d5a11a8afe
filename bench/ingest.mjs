// OTLP ingestion throughput: the service runs in-process on PostgreSQL (a fresh database on BENCH_DATABASE_URL,
// dropped afterwards) and on in-memory PGlite; several senders POST protobuf ExportTraceServiceRequests of 512
// spans each. Stored spans/s is measured by counting rows. The reference is a plain multi-row INSERT of the same
// rows through the pg driver into the same table, with the same batch size and concurrency.
// Targets: >= 20,000 spans/s on PostgreSQL, >= 10,000 on PGlite, ours/reference >= 0.5.
// Run after `npm run build`. Knobs: BENCH_REQUESTS, BENCH_SENDERS, BENCH_SPANS_PER_REQUEST.
import { createHash } from "node:crypto";
import pg from "pg";
import { openDatabase } from "../dist/src/db/client.js";
import { fmt, startRegistryInProcess, withFreshPostgres } from "./lib.mjs";
import { llmSpanBatches, protobufBody, runSenders } from "./llm-spans.mjs";

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
const SPANS = Number(process.env.BENCH_SPANS_PER_REQUEST ?? 512);
const WARMUP_REQUESTS = 8;
const PROMPT = "bench/support";

/** `count` batches of SPANS spans, each its own trace with fresh ids. */
const makeBatches = (count) => llmSpanBatches(count, { spans: SPANS, prompt: PROMPT });

async function startService(database) {
  const service = await startRegistryInProcess(database);
  const publish = await fetch(`${service.base}/prompts/${encodeURIComponent(PROMPT)}/versions`, {
    method: "POST",
    headers: service.headers,
    body: JSON.stringify({ template: "Answer {{question}}", labels: ["production"] }),
  });
  if (publish.status !== 201) throw new Error(`publish failed: ${publish.status} ${await publish.text()}`);
  return service;
}

async function benchService(database) {
  const service = await startService(database);
  try {
    const headers = { Authorization: `Bearer ${service.adminKey}`, "Content-Type": "application/x-protobuf" };
    const post = async (body) => {
      const res = await fetch(`${service.origin}/v1/traces`, { method: "POST", headers, body });
      const answer = Buffer.from(await res.arrayBuffer());
      // A full success is 200 with an empty response; anything else (partial_success, 503) would skew the count.
      if (res.status !== 200 || answer.length !== 0)
        throw new Error(`ingest answered ${res.status} (${answer.length} bytes)`);
    };
    for (const batch of makeBatches(WARMUP_REQUESTS)) await post(protobufBody(batch));
    // Request bodies are encoded before the clock starts: the senders only send.
    const bodies = makeBatches(REQUESTS).map(protobufBody);
    const count = async () => Number((await database.query("SELECT count(*)::int AS n FROM spans")).rows[0].n);
    const before = await count();
    const seconds = await runSenders(bodies.length, SENDERS, (i) => post(bodies[i]));
    const stored = (await count()) - before;
    if (stored !== REQUESTS * SPANS) throw new Error(`stored ${stored} spans, expected ${REQUESTS * SPANS}`);
    return { spansPerSec: stored / seconds, seconds, stored, mbSent: bodies.reduce((n, b) => n + b.length, 0) / 1e6 };
  } finally {
    await service.stop();
  }
}

const COLUMNS = [
  "project_id",
  "trace_id",
  "span_id",
  "parent_span_id",
  "name",
  "otel_kind",
  "span_kind",
  "start_time",
  "start_time_unix_nano",
  "end_time_unix_nano",
  "latency_ms",
  "status_code",
  "failed",
  "error_message",
  "prompt_name",
  "prompt_version",
  "prompt_id",
  "version_id",
  "link_status",
  "label",
  "source",
  "model",
  "provider",
  "session_id",
  "user_id",
  "tokens_prompt",
  "tokens_completion",
  "tokens_total",
  "cost_usd",
  "attributes",
  "resource_hash",
  "scope_hash",
  "events",
];
// The reference stores the resource and scope once too: its rows carry their hashes.
const RESOURCE_HASH = createHash("sha256").update("bench-agent").digest();
const SCOPE_HASH = createHash("sha256").update("bench").digest();

function isoMicros(ns) {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, -1)}${((ns / 1000n) % 1000n).toString().padStart(3, "0")}Z`;
}

/** The rows the service stores for `batch`, mapped by hand: the reference pays only for the INSERT. */
function referenceRows(batch, link) {
  return batch.map((s) => {
    const start = BigInt(s.startTimeUnixNano);
    const end = BigInt(s.endTimeUnixNano);
    const a = s.attributes;
    return [
      link.projectId,
      s.traceId,
      s.spanId.toString("hex"),
      null,
      s.name,
      s.kind,
      "LLM",
      isoMicros(start),
      s.startTimeUnixNano,
      s.endTimeUnixNano,
      Number(end - start) / 1e6,
      1,
      false,
      null,
      PROMPT,
      "1.0.0",
      link.promptId,
      link.versionId,
      "linked",
      "production",
      "cache",
      a["llm.model_name"],
      "openai",
      a["session.id"],
      a["user.id"],
      a["llm.token_count.prompt"],
      a["llm.token_count.completion"],
      a["llm.token_count.prompt"] + a["llm.token_count.completion"],
      null,
      JSON.stringify(a),
      RESOURCE_HASH,
      SCOPE_HASH,
      "[]",
    ];
  });
}

async function benchReference(url) {
  const pool = new pg.Pool({ connectionString: url, max: SENDERS });
  try {
    const { rows } = await pool.query(
      `SELECT p.project_id, p.id AS prompt_id, v.id AS version_id FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id
       WHERE p.name = $1 AND v.version = '1.0.0'`,
      [PROMPT],
    );
    const link = { projectId: rows[0].project_id, promptId: rows[0].prompt_id, versionId: rows[0].version_id };
    const placeholders = (n) =>
      Array.from(
        { length: n },
        (_, r) => `(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(", ")})`,
      ).join(", ");
    const sql = `INSERT INTO spans (${COLUMNS.join(", ")}) VALUES ${placeholders(SPANS)}`;
    const params = makeBatches(REQUESTS).map((batch) => referenceRows(batch, link).flat());
    const count = async () => Number((await pool.query("SELECT count(*)::int AS n FROM spans")).rows[0].n);
    const before = await count();
    const seconds = await runSenders(params.length, SENDERS, (i) => pool.query(sql, params[i]));
    const stored = (await count()) - before;
    return { spansPerSec: stored / seconds, seconds, stored };
  } finally {
    await pool.end();
  }
}

const postgres = await withFreshPostgres(DATABASE_URL, async (url) => {
  const database = await openDatabase({ url, poolSize: 10 });
  try {
    const ours = await benchService(database);
    const reference = await benchReference(url);
    return { ours, reference };
  } finally {
    await database.close();
  }
});

const pglite = await (async () => {
  const database = await openDatabase({ dataDir: "memory" });
  try {
    return await benchService(database);
  } finally {
    await database.close();
  }
})();

const ratio = postgres.ours.spansPerSec / postgres.reference.spansPerSec;
const setup = `${REQUESTS} requests x ${SPANS} spans, ${SENDERS} senders, protobuf`;
console.log(`ingest PostgreSQL (${setup}): ${fmt(postgres.ours.spansPerSec)} spans/s stored (target >= 20,000)`);
console.log(`ingest PGlite     (${setup}): ${fmt(pglite.spansPerSec)} spans/s stored (target >= 10,000)`);
console.log(
  `reference pg multi-row INSERT (batches of ${SPANS}, ${SENDERS} connections): ${fmt(postgres.reference.spansPerSec)} spans/s`,
);
console.log(`ratio ours/reference on PostgreSQL: ${ratio.toFixed(2)} (target >= 0.5)`);
console.log(
  JSON.stringify({
    bench: "ingest",
    requests: REQUESTS,
    spansPerRequest: SPANS,
    senders: SENDERS,
    postgresSpansPerSec: Math.round(postgres.ours.spansPerSec),
    pgliteSpansPerSec: Math.round(pglite.spansPerSec),
    referenceSpansPerSec: Math.round(postgres.reference.spansPerSec),
    ratio: Number(ratio.toFixed(3)),
    postgresSeconds: Number(postgres.ours.seconds.toFixed(2)),
    pgliteSeconds: Number(pglite.seconds.toFixed(2)),
    requestMB: Number((postgres.ours.mbSent / REQUESTS).toFixed(3)),
  }),
);
