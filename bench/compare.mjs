// Comparison latency on 1,000,000 stored spans: half spread over 5 versions of one prompt (100,000 each), half over
// 20 other prompts, 10% of all spans being parent CHAIN spans that carry the prompt attributes (never counted).
// Measures GET /compare of two versions over the whole range (through HTTP, auth and the service) against one
// hand-written SQL aggregate of the same figures over the same rows, in the same run. Targets: median <= 150 ms on
// each database, and <= 1.3x the hand-written aggregate.
// The spans are generated inside the database (INSERT ... SELECT generate_series): the ingest path has its own bench.
// Bypassing ingest, they are then added to span_rollups by the same SQL ingest runs (rollUpStoredSpans).
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { createApp } from "../dist/src/app.js";
import { rollUpStoredSpans } from "../dist/src/compare/rollups.js";
import { openDatabase } from "../dist/src/db/client.js";
import { createInvalidationBus } from "../dist/src/db/invalidation.js";
import { fmt, median, withFreshPostgres } from "./lib.mjs";

const SPANS = Number(process.env.BENCH_COMPARE_SPANS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_COMPARE_RUNS ?? 15);
const logger = pino({ level: "silent" });

async function run(label, databaseOptions) {
  const database = await openDatabase(databaseOptions);
  await database.migrate();
  const bus = await createInvalidationBus(database, logger);
  const { app, auth } = createApp({ config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 1000 }, database, bus, logger });
  const key = `pr_bench_${randomBytes(12).toString("hex")}`;
  await auth.bootstrap({ adminKey: key, dataDir: "/nonexistent", logger });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${server.address().port}/api/v1`;
  const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
  try {
    const publish = async (name, body) => {
      const res = await fetch(`${base}/prompts/${name}/versions`, { method: "POST", headers, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`publish ${name}: ${res.status} ${await res.text()}`);
      return (await res.json()).id;
    };
    const targetVersions = [];
    for (let v = 0; v < 5; v++) targetVersions.push(await publish("target", { template: `target v${v} {{q}}` }));
    const others = [];
    for (let p = 0; p < 20; p++) others.push(await publish(`other-${p}`, { template: `other ${p} {{q}}` }));
    const [{ project_id: projectId }] = (await database.query(`SELECT project_id FROM prompts WHERE name = 'target'`)).rows;
    const groups = [...targetVersions, ...others]; // 25 groups: 0-4 the target's versions, 5-24 the other prompts

    const t0 = Date.now();
    // Row i: group = first half -> target (i % 5), second half -> other (i % 20); one minute apart over ~2 years.
    await database.query(
      `INSERT INTO spans (project_id, trace_id, span_id, name, otel_kind, span_kind, start_time, start_time_unix_nano,
         end_time_unix_nano, latency_ms, status_code, failed, prompt_name, prompt_version, prompt_id, version_id, link_status,
         label, source, model, tokens_prompt, tokens_completion, tokens_total, cost_usd, attributes, resource_attributes, events)
       SELECT $1::uuid, lpad(to_hex(i / 2), 32, '0'), lpad(to_hex(i), 16, '0'), 'llm', 3,
         CASE WHEN (i / 5) % 10 = 0 THEN 'CHAIN' ELSE 'LLM' END,
         TIMESTAMPTZ '2025-01-01' + (i || ' seconds')::interval, 0, 0, 50 + (i::bigint * 7919 % 1000) / 3.0, 0,
         (i::bigint * 31 % 100) < CASE WHEN i % 5 = 1 THEN 9 ELSE 5 END, 'x', '1.0.0', NULL,
         (($2::uuid[])[CASE WHEN i <= $3 / 2 THEN 1 + i % 5 ELSE 6 + i % 20 END]), 'linked',
         'production', CASE WHEN i % 10 = 9 THEN 'stale' ELSE 'network' END, 'gpt-4o-mini', 100, 40 + i % 20, 140 + i % 20,
         0.0001 * (1 + i % 7), '{}', '{}', '[]'
       FROM generate_series(1, $3::int) i`,
      [projectId, groups, SPANS],
    );
    await rollUpStoredSpans(database, projectId);
    await database.query("VACUUM ANALYZE spans");
    await database.query("VACUUM ANALYZE span_rollups");
    const loadSeconds = (Date.now() - t0) / 1000;
    // PGlite's load blocked the event loop past the keep-alive timeout of the connections opened before it: let the
    // server and fetch retire them, or the next request may go out on a socket the server is closing.
    await new Promise((r) => setTimeout(r, 6000));

    const [v0, v1] = ["1.0.0", "1.0.1"];
    const url = `${base}/prompts/target/compare?versions=${v0},${v1}`;
    const reference = `SELECT version_id, count(*) AS n, count(*) FILTER (WHERE failed) AS failures,
        percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS pct, avg(latency_ms),
        sum(tokens_prompt), sum(tokens_completion), sum(tokens_total), avg(tokens_total), sum(cost_usd), avg(cost_usd)
      FROM spans WHERE project_id = $1::uuid AND version_id = ANY($2::uuid[]) AND span_kind = 'LLM' GROUP BY version_id`;
    const check = await (await fetch(url, { headers })).json();
    const ref = (await database.query(reference, [projectId, targetVersions.slice(0, 2)])).rows;
    if (check.versions?.[0]?.units !== Number(ref.find((r) => r.version_id === targetVersions[0]).n))
      throw new Error(`compare and reference disagree: ${JSON.stringify(check).slice(0, 300)}`);

    const ours = [];
    const theirs = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`compare: ${res.status}`);
      ours.push(performance.now() - t);
      t = performance.now();
      await database.query(reference, [projectId, targetVersions.slice(0, 2)]);
      theirs.push(performance.now() - t);
    }
    const result = {
      database: label,
      percentiles: check.percentiles,
      spans: SPANS,
      spansCompared: check.versions.reduce((s, v) => s + v.units, 0),
      loadSeconds,
      compareMedianMs: median(ours),
      referenceMedianMs: median(theirs),
    };
    result.ratio = result.compareMedianMs / result.referenceMedianMs;
    console.log(
      `compare 2 of 5 versions (${label}, ${fmt(SPANS)} spans stored, ${fmt(result.spansCompared)} counted): ` +
        `median ${result.compareMedianMs.toFixed(1)} ms (target <= 150); hand-written SQL aggregate ${result.referenceMedianMs.toFixed(1)} ms; ` +
        `ratio ${result.ratio.toFixed(2)} (target <= 1.30)`,
    );
    return result;
  } finally {
    server.close();
    await bus.close();
    await database.close();
  }
}

const results = [await run("pglite", { dataDir: "memory" })];
const pgUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
results.push(await withFreshPostgres(pgUrl, (url) => run("postgres", { url, poolSize: 4 })));
console.log(JSON.stringify({ bench: "compare", results }));
process.exit(0);
