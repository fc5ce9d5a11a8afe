// Generates the Prisma client without the native schema engine.
// `prisma generate` never runs the schema engine, but the CLI insists on locating one and tries to download it;
// on machines that cannot reach Prisma's binary host that download fails. Pointing the CLI at any existing file
// satisfies the lookup. Where the real engine is available, an explicit PRISMA_SCHEMA_ENGINE_BINARY wins.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
const cli = require.resolve("prisma/build/index.js");
const result = spawnSync(process.execPath, [cli, "generate", "--schema", "prisma/schema.prisma"], {
  stdio: "inherit",
  env,
});
process.exit(result.status ?? 1);
