// Resolve-by-label throughput vs a bare Express 5 route returning a constant JSON body of the same size.
// Target: ratio >= 0.7. Rounds alternate between the servers; the median of each is reported.
import { randomBytes } from "node:crypto";
import { fmt, measure, median, startChild, startRegistry, withFreshPostgres } from "./lib.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const here = new URL(".", import.meta.url).pathname;

export async function benchResolve({ databaseUrl } = {}) {
  const registry = await startRegistry({ databaseUrl });
  const { base, headers } = registry;
  const name = `bench/resolve-${randomBytes(3).toString("hex")}`;
  const template =
    "You are a support agent for {{company}}. Answer the customer's question in a friendly, concise way.\n" +
    "Question: {{question}}\n{{#if history}}Earlier conversation:\n{{#each history}}- {{this}}\n{{/each}}{{/if}}";
  const post = await fetch(`${base}/prompts/${encodeURIComponent(name)}/versions`, {
    method: "POST",
    headers,
    body: JSON.stringify({ template, config: { model: "gpt-4o-mini", temperature: 0.2 }, labels: ["production"] }),
  });
  if (post.status !== 201) throw new Error(`publish failed: ${post.status} ${await post.text()}`);
  const url = `${base}/prompts/${encodeURIComponent(name)}/resolve?ref=production`;
  const body = await (await fetch(url, { headers })).text();

  const bareString = await startChild(`${here}servers/bare-express.mjs`, { BENCH_BODY: body, BENCH_MODE: "string" });
  const bareJson = await startChild(`${here}servers/bare-express.mjs`, { BENCH_BODY: body, BENCH_MODE: "json" });
  const opts = { connections: CONNECTIONS, duration: DURATION };
  const ours = [];
  const refString = [];
  const refJson = [];
  try {
    // Warm-up: JIT and caches.
    await measure(url, { ...opts, duration: 2, headers: { Authorization: headers.Authorization } });
    await measure(`http://127.0.0.1:${bareString.port}/c`, { ...opts, duration: 2 });
    for (let i = 0; i < ROUNDS; i++) {
      ours.push(await measure(url, { ...opts, headers: { Authorization: headers.Authorization } }));
      refString.push(await measure(`http://127.0.0.1:${bareString.port}/c`, opts));
      refJson.push(await measure(`http://127.0.0.1:${bareJson.port}/c`, opts));
    }
  } finally {
    await Promise.all([registry.stop(), bareString.stop(), bareJson.stop()]);
  }
  const result = {
    database: databaseUrl ? "postgres" : "pglite",
    bodyBytes: Buffer.byteLength(body),
    resolveReqPerSec: median(ours),
    bareExpressReqPerSec: median(refString),
    bareExpressResJsonReqPerSec: median(refJson),
  };
  result.ratio = result.resolveReqPerSec / result.bareExpressReqPerSec;
  result.ratioVsResJson = result.resolveReqPerSec / result.bareExpressResJsonReqPerSec;
  console.log(
    `resolve by label (${result.database}, ${result.bodyBytes}-byte body, ${CONNECTIONS} connections, median of ${ROUNDS}x${DURATION}s): ` +
      `${fmt(result.resolveReqPerSec)} req/s; bare Express 5 constant body: ${fmt(result.bareExpressReqPerSec)} req/s ` +
      `(res.json: ${fmt(result.bareExpressResJsonReqPerSec)} req/s); ratio ${result.ratio.toFixed(2)} (target >= 0.70)`,
  );
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = [await benchResolve()];
  if (process.env.BENCH_DATABASE_URL)
    results.push(
      await withFreshPostgres(process.env.BENCH_DATABASE_URL, (databaseUrl) => benchResolve({ databaseUrl })),
    );
  console.log(JSON.stringify({ bench: "resolve", results }));
}
