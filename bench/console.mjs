// The console's listing calls with 5,000 prompts in folders: the first page, a page deep in the list (cursor), a name
// search, a folder, and the folder counts, through the whole service, one request at a time (so the figures are
// service times). The first page is also measured with 100 prompts: paginated, it should not grow with the
// registry. Targets: every median ≤ 50 ms; first page at 5,000 / at 100 ≤ 1.5.
import autocannon from "autocannon";
import { startRegistry, withFreshPostgres } from "./lib.mjs";

const PROMPTS = Number(process.env.BENCH_CONSOLE_PROMPTS ?? 5000);
const SMALL = 100;
const DURATION = Number(process.env.BENCH_DURATION ?? 5);

const nameOf = (i) => `team-${i % 10}/area-${i % 7}/prompt-${String(i).padStart(5, "0")}`;

async function latency(url, headers) {
  const result = await autocannon({ url, connections: 1, duration: DURATION, headers });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { p50: result.latency.p50, p99: result.latency.p99, reqPerSec: result.requests.average };
}

export async function benchConsole({ databaseUrl } = {}) {
  const registry = await startRegistry({ databaseUrl });
  const { base, headers } = registry;
  try {
    // Published through the API, 8 at a time, a third with a production label, as a real registry would hold them.
    let next = 0;
    let until = 0;
    const worker = async () => {
      for (let i = next++; i < until; i = next++) {
        const res = await fetch(`${base}/prompts/${encodeURIComponent(nameOf(i))}/versions`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            template: `Prompt ${i}: answer {{question}} for {{company}}`,
            tags: [`tag-${i % 5}`],
            ...(i % 3 === 0 ? { labels: ["production"] } : {}),
          }),
        });
        if (res.status !== 201) throw new Error(`publish ${i}: ${res.status} ${await res.text()}`);
      }
    };
    const seed = async (count) => {
      until = count;
      await Promise.all(Array.from({ length: 8 }, worker));
      next = count;
    };
    const auth = { Authorization: headers.Authorization };

    await seed(SMALL);
    await latency(`${base}/prompts?limit=50`, auth); // warm-up
    const small = await latency(`${base}/prompts?limit=50`, auth);
    await seed(PROMPTS);

    // A cursor is the last name seen, and must be a prompt name: "team-9" sorts just before the last of ten teams'
    // prompts, so the page starts nine tenths into the list.
    const deepCursor = Buffer.from("team-9").toString("base64url");
    const calls = {
      firstPage: `${base}/prompts?limit=50`,
      deepPage: `${base}/prompts?limit=50&cursor=${deepCursor}`,
      search: `${base}/prompts?limit=50&q=prompt-012`,
      folder: `${base}/prompts?limit=50&prefix=team-3/area-2`,
      folders: `${base}/folders`,
    };
    const result = { database: databaseUrl ? "postgres" : "pglite", prompts: PROMPTS, firstPageAt100: small };
    for (const [name, url] of Object.entries(calls)) result[name] = await latency(url, auth);
    result.firstPageRatio = result.firstPage.p50 / small.p50;
    console.log(
      `console listings, ${PROMPTS} prompts (${result.database}, one request at a time, ${DURATION}s each): ` +
        Object.keys(calls)
          .map((k) => `${k} p50 ${result[k].p50} ms / p99 ${result[k].p99} ms`)
          .join("; ") +
        `; first page with ${SMALL} prompts p50 ${small.p50} ms, ratio ${result.firstPageRatio.toFixed(2)} (targets: medians <= 50 ms, ratio <= 1.5)`,
    );
    return result;
  } finally {
    await registry.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = [await benchConsole()];
  if (process.env.BENCH_DATABASE_URL)
    results.push(
      await withFreshPostgres(process.env.BENCH_DATABASE_URL, (databaseUrl) => benchConsole({ databaseUrl })),
    );
  console.log(JSON.stringify({ bench: "console", results }));
}
