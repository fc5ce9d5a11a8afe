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
  },
});
