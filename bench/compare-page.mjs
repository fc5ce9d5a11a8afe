// The console's compare page on 1,000,000 stored spans (compare-data.mjs): how long after navigation a person sees
// the verdict, in Debian's Chromium driven by playwright-core, against the real app serving the built console
// (npm run bench builds it). Each run is a full page load of the compare page's address (the default pair: what
// production holds against what it held before its last move, over the data's twelve days); the first with an empty
// browser cache, the others with the hashed assets cached, as a second visit. The time is the page's own clock
// (performance.now(), from navigation start) at the first frame with the verdict sentence; the four charts too.
// Target: verdict in under 1 s. Also prints the gzipped size of what the first load and the compare route fetch.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { openDatabase } from "../dist/src/db/client.js";
import { DATA_START, loadCompareData } from "./compare-data.mjs";
import { fmt, median, startRegistryInProcess, withFreshPostgres } from "./lib.mjs";

const SPANS = Number(process.env.BENCH_COMPARE_SPANS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_CONSOLE_RUNS ?? 10);
const root = fileURLToPath(new URL("..", import.meta.url));
const consoleDir = path.join(root, "web", "dist");
const chromiumPath =
  process.env.CHROMIUM_PATH ??
  ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((candidate) => existsSync(candidate));
if (!chromiumPath) {
  console.error("bench compare-page: no Chromium (apt-get install -y chromium, or set CHROMIUM_PATH)");
  process.exit(1);
}
if (!existsSync(path.join(consoleDir, "index.html"))) {
  console.error("bench compare-page: web/dist is not built (npm run build)");
  process.exit(1);
}

/** Gzipped bytes of the assets index.html loads (the compare page is among them), and of the charts' chunk. */
function bundleSizes() {
  const assets = path.join(consoleDir, "assets");
  const gz = (file) => gzipSync(readFileSync(path.join(assets, file))).length;
  const html = readFileSync(path.join(consoleDir, "index.html"), "utf8");
  const first = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]);
  const files = readdirSync(assets);
  const chunk = (prefix) => files.filter((f) => f.startsWith(prefix)).reduce((n, f) => n + gz(f), 0);
  return { firstLoadKb: first.reduce((n, f) => n + gz(f), 0) / 1024, chartsKb: chunk("TimeCharts-") / 1024 };
}

async function run(label, databaseOptions, browser) {
  const database = await openDatabase(databaseOptions);
  const service = await startRegistryInProcess(database, { consoleDir });
  const { origin, base, headers, adminKey: key } = service;
  try {
    const { loadSeconds } = await loadCompareData(database, { base, headers, spans: SPANS });
    // As in compare.mjs: PGlite's load blocked the event loop past the keep-alive timeout of the connections opened
    // before it; let them retire before the next request.
    await new Promise((r) => setTimeout(r, 6000));
    // Production moved 1.0.0 -> 1.0.1 halfway through the data, so the page's default pair is those two and the
    // charts have a marker to draw.
    for (const version of ["1.0.0", "1.0.1"]) {
      const res = await fetch(`${base}/prompts/target/labels/production`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ version, reason: `bench ${version}` }),
      });
      if (res.status !== 200) throw new Error(`move production: ${res.status} ${await res.text()}`);
    }
    await database.query(
      `UPDATE label_events SET created_at = TIMESTAMPTZ '2025-01-06T18:00:00Z' WHERE label = 'production' AND to_version = '1.0.1'`,
    );
    await database.query(
      `UPDATE label_events SET created_at = TIMESTAMPTZ '2025-01-01T00:00:00Z' WHERE label = 'production' AND to_version = '1.0.0'`,
    );

    const from = new Date(DATA_START);
    const to = new Date(from.getTime() + Math.ceil(SPANS / 86_400) * 86_400_000);
    const pageUrl = `/prompts/target/-/compare?from=${from.toISOString()}&to=${to.toISOString()}`;
    const apiCompare = await (
      await fetch(`${base}/prompts/target/compare?from=${from.toISOString()}&to=${to.toISOString()}`, { headers })
    ).json();
    const expected = apiCompare.comparisons?.[0]?.explanation;
    if (apiCompare.comparisons?.[0]?.verdict !== "worse")
      throw new Error(`unexpected answer: ${JSON.stringify(apiCompare).slice(0, 300)}`);

    const context = await browser.newContext({ baseURL: origin, viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    await page.goto("/sign-in");
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();

    const verdict = [];
    const charts = [];
    for (let i = 0; i < RUNS; i++) {
      // A fresh page for every load; the first run's context has nothing cached but the sign-in page's assets.
      const p = i === 0 ? page : await context.newPage();
      await p.goto(pageUrl, { waitUntil: "commit" });
      // Checked in the page at every animation frame, so the time is that of the first frame with the sentence, not
      // when a round trip from here noticed it (a check that starts late only makes the figure larger).
      const seen = await p.waitForFunction(
        () => (document.querySelector('[data-testid="verdict-sentence"]') ? performance.now() : false),
        null,
        {
          polling: "raf",
          timeout: 30_000,
        },
      );
      verdict.push(await seen.jsonValue());
      const shown = await p.getByTestId("verdict-sentence").textContent();
      if (shown !== expected) throw new Error(`the page shows '${shown}', the API says '${expected}'`);
      const drawn = await p.waitForFunction(
        () => (document.querySelectorAll(".time-chart .u-over").length === 4 ? performance.now() : false),
        null,
        {
          polling: "raf",
          timeout: 30_000,
        },
      );
      charts.push(await drawn.jsonValue());
      if (p !== page) await p.close();
    }
    await context.close();
    const result = {
      database: label,
      spans: SPANS,
      loadSeconds,
      verdictFirstMs: verdict[0],
      verdictMedianMs: median(verdict.slice(1)),
      verdictMaxMs: Math.max(...verdict),
      chartsMedianMs: median(charts.slice(1)),
    };
    console.log(
      `compare page (${label}, ${fmt(SPANS)} spans stored): verdict ${result.verdictFirstMs.toFixed(0)} ms after navigation on the first load, ` +
        `median ${result.verdictMedianMs.toFixed(0)} ms over ${RUNS - 1} more (max ${result.verdictMaxMs.toFixed(0)}; target < 1000); ` +
        `all four charts drawn at ${result.chartsMedianMs.toFixed(0)} ms (median)`,
    );
    return result;
  } finally {
    await service.stop();
    await database.close();
  }
}

const sizes = bundleSizes();
console.log(
  `console assets, gzipped: first load ${sizes.firstLoadKb.toFixed(1)} KB, the compare page included (budget 250); ` +
    `charts (uPlot, loaded after the verdict) +${sizes.chartsKb.toFixed(1)} KB`,
);
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"],
});
const results = [];
try {
  results.push(await run("pglite", { dataDir: "memory" }, browser));
  const pgUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
  results.push(await withFreshPostgres(pgUrl, (url) => run("postgres", { url, poolSize: 4 }, browser)));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ bench: "compare-page", sizes, results }));
process.exit(0);
