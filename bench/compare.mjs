// Comparison latency on 1,000,000 stored spans (see compare-data.mjs for their shape). Measures GET /compare of two
// versions over the whole range (through HTTP, auth and the service) against one hand-written SQL aggregate of the
// same figures over the same rows, in the same run. Targets: median <= 150 ms on each database, and <= 1.3x the
// hand-written aggregate.
import { openDatabase } from "../dist/src/db/client.js";
import { loadCompareData } from "./compare-data.mjs";
import { fmt, median, startRegistryInProcess, withFreshPostgres } from "./lib.mjs";

const SPANS = Number(process.env.BENCH_COMPARE_SPANS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_COMPARE_RUNS ?? 15);

async function run(label, databaseOptions) {
  const database = await openDatabase(databaseOptions);
  const service = await startRegistryInProcess(database);
  const { base, headers } = service;
  try {
    const { projectId, targetVersions, loadSeconds } = await loadCompareData(database, { base, headers, spans: SPANS });
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
    await service.stop();
    await database.close();
  }
}

const results = [await run("pglite", { dataDir: "memory" })];
const pgUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
results.push(await withFreshPostgres(pgUrl, (url) => run("postgres", { url, poolSize: 4 })));
console.log(JSON.stringify({ bench: "compare", results }));
process.exit(0);
