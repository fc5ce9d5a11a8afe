// The client renders with the same module as the server, so a schema that freezes a render freezes the application
// that uses the prompt. Versions come from the real registry; the render runs in a worker thread, so that a render
// that never returns fails this test instead of hanging it. "At once" is less than 100 units of a fixed piece of
// work timed in the same thread just before (test/helpers/work-unit.ts; 1 s when the unit takes 10 ms), not absolute
// milliseconds, which a busy machine stretches: backtracking on 40 characters takes hours.
import { once } from "node:events";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob, RenderOutcome } from "./render-worker.js";
import { startRegistry, type Registry } from "./helpers.js";

const HANG_MS = 10_000;
let registry: Registry;

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(() => registry?.close());

async function renderInWorker(name: string, values: Record<string, unknown>): Promise<RenderOutcome> {
  const job: RenderJob = { baseUrl: registry.baseUrl, apiKey: registry.harness.adminKey, name, values };
  // The worker loads the TypeScript sources through tsx, registered before the worker's module is imported.
  const entry = new URL("./render-worker.ts", import.meta.url).href;
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve("tsx/esm/api")
      .replace(/\.cjs$/, ".mjs"),
  ).href;
  const bootstrap = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), { workerData: job });
  const timeout = AbortSignal.timeout(HANG_MS);
  try {
    const [outcome] = (await once(worker, "message", { signal: timeout })) as [RenderOutcome];
    return outcome;
  } catch (err) {
    if (timeout.aborted) throw new Error(`the client's render of ${name} did not return within ${HANG_MS} ms`);
    throw err;
  } finally {
    await worker.terminate();
  }
}

describe("the client's renderer cannot be frozen by a schema from the registry", () => {
  it("checks a backtracking pattern in linear time: 40 characters and 20,000 are refused at once", async () => {
    await registry.api("POST", "/prompts/evil/versions", {
      template: "Hi {{name}}",
      variablesSchema: { type: "object", properties: { name: { type: "string", pattern: "^(a+)+$" } } },
    });
    for (const name of [`${"a".repeat(40)}!`, `${"a".repeat(20_000)}!`]) {
      const outcome = await renderInWorker("evil", { name });
      expect(outcome).toMatchObject({
        error: {
          name: "RenderError",
          code: "invalid_variables",
          message: 'invalid variables: /name must match pattern "^(a+)+$"',
        },
      });
      expect(outcome.ms).toBeLessThan(100 * outcome.unitMs);
    }
    expect(await renderInWorker("evil", { name: "aaaa" })).toMatchObject({ text: "Hi aaaa" });
  });

  it("refuses a version whose pattern the linear-time engine cannot run, as stored by an older registry", async () => {
    await registry.api("POST", "/prompts/old-row/versions", {
      template: "Code {{code}}",
      variablesSchema: { type: "object", properties: { code: { type: "string" } } },
    });
    // Today's registry refuses such a schema at publish; a row written before it did is served as it is.
    const lookahead = "^(?=(a+)+$)";
    await registry.harness.database.prisma.promptVersion.updateMany({
      where: { prompt: { name: "old-row" } },
      data: { variablesSchema: { type: "object", properties: { code: { type: "string", pattern: lookahead } } } },
    });
    const outcome = await renderInWorker("old-row", { code: `${"a".repeat(40)}!` });
    expect(outcome).toMatchObject({
      error: {
        name: "TemplateError",
        message: expect.stringContaining(`pattern "^(?=(a+)+$)" is not supported: invalid or unsupported Perl syntax`),
      },
    });
    expect(outcome.ms).toBeLessThan(100 * outcome.unitMs);
  });
});
