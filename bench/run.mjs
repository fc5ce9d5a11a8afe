// `npm run bench`: every benchmark in turn (each in its own process), figures and ratios printed as they come.
// BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) is the PostgreSQL server used where a
// benchmark measures both databases; set BENCH_ONLY=resolve,client,... to run some of them.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
const all = [
  "resolve",
  "client",
  "ingest",
  "ingest-hold",
  "ingest-evals",
  "experiments",
  "compare",
  "limits",
  "console",
  "compare-page",
  "live",
];
const only = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const env = {
  ...process.env,
  BENCH_DATABASE_URL: process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test",
};
let failed = false;
for (const name of all.filter((n) => !only || only.includes(n))) {
  const script = `${here}${name}.mjs`;
  if (!existsSync(script)) continue;
  console.log(`\n== ${name}`);
  const r = spawnSync(process.execPath, [script], { stdio: "inherit", env });
  if (r.status !== 0) {
    console.error(`bench ${name} failed (exit ${r.status})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
