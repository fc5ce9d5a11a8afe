// Experiments and datasets, measured through the real service (a child process, its job runner started), on the
// embedded database and on PostgreSQL (a fresh database on BENCH_DATABASE_URL's server; skipped when unreachable):
// - import: a 10,000-item JSONL file into a new dataset (one request; the file is read, checked and stored whole).
//   Target: under 5 s.
// - a server-side run: 1,000 items × 2 versions against a fake OpenAI-compatible model on 127.0.0.1 that answers
//   each call after 50 ms, through a connection allowing 16 calls at once. The ideal is the calls' own time,
//   1,000 × 2 × 50 ms / 16 = 6.25 s; target: within 1.3× of it (the runner, rendering, evaluating and storing add
//   little). Timed from just before the POST to the `finishedAt` the service records (its clock is this machine's),
//   while the experiment is read every second as the console's page does (a read costs the run what it costs).
// - the paired comparison of two runs of 10,000 items each (a second experiment, its model answering at once):
//   median of 9 requests. Target: under 200 ms.
// Run after `npm run build`: node bench/experiments.mjs. Knobs: BENCH_DATABASES (default pglite,postgres).
import http from "node:http";
import { fmt, median, postgresReachable, startRegistry, withFreshPostgres } from "./lib.mjs";

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const DATABASES = (process.env.BENCH_DATABASES ?? "pglite,postgres").split(",").map((s) => s.trim());
const IMPORT_ITEMS = 10_000;
const RUN_ITEMS = 1_000;
const MODEL_DELAY_MS = 50;
const CONCURRENCY = 16;
const COMPARE_ITEMS = 10_000;
const IDEAL_SECONDS = (RUN_ITEMS * 2 * MODEL_DELAY_MS) / 1000 / CONCURRENCY;

process.env.BENCH_ALLOW_PRIVATE = "1";

/** A fake model answering after `delay.ms`: "GOOD" or "BAD" by the item's number, so evaluators have work. */
async function startModel(delay) {
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const prompt = JSON.parse(text).messages.at(-1).content;
      const n = Number(/item (\d+)/.exec(prompt)?.[1] ?? 0);
      const answer = () =>
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            model: "bench-model",
            choices: [{ message: { role: "assistant", content: n % 7 === 0 ? "BAD answer" : `GOOD answer ${n}` } }],
            usage: { prompt_tokens: 30, completion_tokens: 4 },
          }),
        );
      if (delay.ms > 0) setTimeout(answer, delay.ms);
      else answer();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => server.close(r)) };
}

async function call(registry, method, path, body, type = "application/json") {
  const res = await fetch(`${registry.base}${path}`, {
    method,
    headers: { ...registry.headers, "Content-Type": type },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : null;
}

async function finished(registry, id) {
  for (;;) {
    const e = await call(registry, "GET", `/experiments/${id}`);
    if (e.status !== "running") return e;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function bench(databaseUrl) {
  const delay = { ms: MODEL_DELAY_MS };
  const model = await startModel(delay);
  const registry = await startRegistry(databaseUrl ? { databaseUrl } : {});
  try {
    await call(registry, "POST", "/prompts/bench%2Fanswer/versions", { template: "Answer {{q}}" });
    await call(registry, "POST", "/prompts/bench%2Fanswer/versions", { template: "Answer {{q}} briefly" });
    await call(registry, "POST", "/connections", {
      name: "model",
      baseUrl: model.url,
      model: "m",
      maxConcurrency: CONCURRENCY,
    });
    await call(registry, "POST", "/evaluators", {
      name: "no-bad",
      kind: "not_contains",
      sampleRate: 0,
      config: { values: ["BAD"] },
    });

    await call(registry, "POST", "/datasets", { name: "imported" });
    const file = Array.from({ length: IMPORT_ITEMS }, (_, i) =>
      JSON.stringify({
        variables: { q: `item ${i}: where is my order, and when will it arrive?` },
        expected: `GOOD answer ${i}`,
      }),
    ).join("\n");
    let started = performance.now();
    await call(registry, "POST", "/datasets/imported/import", file, "application/x-ndjson");
    const importSeconds = (performance.now() - started) / 1000;

    await call(registry, "POST", "/datasets", { name: "run" });
    for (let at = 0; at < RUN_ITEMS; at += 1000)
      await call(registry, "POST", "/datasets/run/items", {
        items: Array.from({ length: Math.min(1000, RUN_ITEMS - at) }, (_, j) => ({
          variables: { q: `item ${at + j}` },
          expected: `GOOD answer ${at + j}`,
        })),
      });
    const experiment = {
      prompt: "bench/answer",
      versions: ["1.0.0", "1.0.1"],
      connection: "model",
      evaluators: ["no-bad", "exact_match", "similarity"],
    };
    const posted = Date.now();
    const run = await call(registry, "POST", "/experiments", { ...experiment, dataset: "run" });
    const ran = await finished(registry, run.id);
    const runSeconds = (Date.parse(ran.finishedAt) - posted) / 1000;
    if (ran.runs.some((r) => r.done !== RUN_ITEMS || r.errors !== 0))
      throw new Error(`run incomplete: ${JSON.stringify(ran.runs)}`);

    delay.ms = 0;
    const big = await call(registry, "POST", "/experiments", { ...experiment, dataset: "imported" });
    await finished(registry, big.id);
    const times = [];
    for (let i = 0; i < 9; i++) {
      started = performance.now();
      const c = await call(registry, "GET", `/experiments/${big.id}/compare?baseline=1.0.0&candidate=1.0.1`);
      times.push(performance.now() - started);
      if (c.evaluators[0].pairs !== COMPARE_ITEMS) throw new Error(`compared ${c.evaluators[0].pairs} pairs`);
    }
    return { importSeconds, runSeconds, compareMs: median(times) };
  } finally {
    await registry.stop();
    await model.close();
  }
}

const results = {};
for (const kind of DATABASES) {
  if (kind === "postgres" && !(await postgresReachable(DATABASE_URL))) {
    console.log(`PostgreSQL at ${DATABASE_URL} cannot be reached: skipped`);
    continue;
  }
  const r = kind === "postgres" ? await withFreshPostgres(DATABASE_URL, bench) : await bench(undefined);
  results[kind] = r;
  const label = kind === "pglite" ? "embedded  " : "PostgreSQL";
  console.log(
    `experiments ${label}: import of ${fmt(IMPORT_ITEMS)} JSONL items ${r.importSeconds.toFixed(2)} s (target < 5); ` +
      `a run of ${fmt(RUN_ITEMS)} items × 2 versions at ${CONCURRENCY} calls of ${MODEL_DELAY_MS} ms ${r.runSeconds.toFixed(2)} s, ` +
      `${(r.runSeconds / IDEAL_SECONDS).toFixed(2)}× the ideal ${IDEAL_SECONDS.toFixed(2)} s (target ≤ 1.30); ` +
      `comparing two runs of ${fmt(COMPARE_ITEMS)} items ${r.compareMs.toFixed(0)} ms median (target < 200)`,
  );
}
console.log(
  JSON.stringify({
    bench: "experiments",
    ...Object.fromEntries(
      Object.entries(results).flatMap(([kind, r]) => [
        [`${kind}ImportSeconds`, Number(r.importSeconds.toFixed(2))],
        [`${kind}RunSeconds`, Number(r.runSeconds.toFixed(2))],
        [`${kind}RunRatio`, Number((r.runSeconds / IDEAL_SECONDS).toFixed(2))],
        [`${kind}CompareMs`, Math.round(r.compareMs)],
      ]),
    ),
  }),
);
