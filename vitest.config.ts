import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const clientSrc = fileURLToPath(new URL("./client/src/", import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the client's sources, not its build output.
    alias: [{ find: /^@promptreg\/client(?:\/(.*))?$/, replacement: `${clientSrc}$1` }],
  },
  test: {
    include: ["test/**/*.test.ts", "client/test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Vitest's default (cores - 1) runs one file at a time on a 2-core machine, while most files mostly wait (on a
    // database, a browser, a fake model): two at once took the embedded run from 805 s to 553 s there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
