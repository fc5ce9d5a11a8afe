// `npm start`'s build: only what is out of date, so a start after the first one answers in seconds instead of
// rebuilding the console every time. The server's TypeScript is built by `tsc -b`, which skips an up-to-date project
// by itself; the console (Vite, about half a minute here) only when its output is missing or older than a source.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");

/** The newest modification time of the files under `dir` (or of `dir` itself, a file), 0 when absent. */
function newest(dir) {
  let info;
  try {
    info = statSync(dir);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.name !== "node_modules" && entry.name !== "dist") max = Math.max(max, newest(path.join(dir, entry.name)));
  return max;
}

function run(args) {
  const result = spawnSync("npm", args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(["exec", "--", "tsc", "-b", "tsconfig.build.json"]);
const built = newest(path.join(root, "web/dist/index.html"));
const sources = Math.max(
  ...["web/src", "web/index.html", "web/vite.config.ts", "web/package.json", "client/src"].map((p) =>
    newest(path.join(root, p)),
  ),
);
if (built === 0 || sources > built) {
  console.log(built === 0 ? "building the console (first start only)" : "building the console (its sources changed)");
  run(["run", "build", "-w", "@promptreg/web"]);
}
