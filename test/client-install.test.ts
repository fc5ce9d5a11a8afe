// The client installs beside every @opentelemetry/api from 1.9 on (issue 19): packed as npm would publish it, then
// installed with npm into an application on the lowest API (with sdk-trace-base 2, which wants < 1.10) and one on
// the newest (with sdk-trace 3 and the official OpenAI instrumentation 0.22, which want 1.10), where its span
// processor links a span to a prompt version. Needs the npm registry, as `npm ci` does.
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..");
let work: string;
let tarball: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "promptreg-client-install-"));
  // The client as published: its package.json and its build, packed by npm.
  const pkg = path.join(work, "package");
  await mkdir(pkg);
  await cp(path.join(root, "client/package.json"), path.join(pkg, "package.json"));
  await run(process.execPath, [
    path.join(root, "node_modules/typescript/bin/tsc"),
    "-p",
    path.join(root, "client/tsconfig.json"),
    "--outDir",
    path.join(pkg, "dist"),
    "--tsBuildInfoFile",
    path.join(work, "client.tsbuildinfo"),
  ]);
  // Built above, into the copy: its prepack build has nothing to build from here.
  const { stdout } = await run("npm", ["pack", "--silent", "--ignore-scripts", "--pack-destination", work], {
    cwd: pkg,
  });
  tarball = path.join(work, stdout.trim().split("\n").at(-1)!);
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

// Links a span made by a provider of `sdk` inside withPrompt, and prints the attributes the exporter got.
const APP = (sdk: string, provider: string, processor: string) => `
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ${provider}, InMemorySpanExporter, SimpleSpanProcessor } from "${sdk}";
import { createPromptSpanProcessor, withPrompt } from "@promptreg/client";
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const memory = new InMemorySpanExporter();
const provider = new ${provider}({ spanProcessors: [createPromptSpanProcessor(), new SimpleSpanProcessor(${processor})] });
const tracer = provider.getTracer("app");
withPrompt({ name: "support/triage", version: "1.2.0", template: "Hi", source: "network" }, () => {
  tracer.startSpan("llm", { attributes: { "openinference.span.kind": "LLM" } }).end();
});
await provider.forceFlush();
console.log(JSON.stringify(memory.getFinishedSpans()[0].attributes));
`;

describe("the client installs with npm beside", () => {
  for (const [api, deps, sdk, provider, processor] of [
    [
      "1.9.0",
      ["@opentelemetry/sdk-trace-base@2.12.0"],
      "@opentelemetry/sdk-trace-base",
      "BasicTracerProvider",
      "memory",
    ],
    [
      "1.10.0",
      ["@opentelemetry/sdk-trace@3.1.1", "@opentelemetry/instrumentation-openai@0.22.0"],
      "@opentelemetry/sdk-trace",
      "TracerProvider",
      "{ exporter: memory }",
    ],
  ] as const)
    it(`@opentelemetry/api ${api}, and links spans there`, async () => {
      const app = path.join(work, `app-${api}`);
      await mkdir(app);
      await writeFile(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
      // A plain install, as an application's would be: an unsatisfied peer range fails it (ERESOLVE).
      const context = "@opentelemetry/context-async-hooks@3.1.1";
      await run("npm", ["install", "--no-audit", "--no-fund", tarball, `@opentelemetry/api@${api}`, context, ...deps], {
        cwd: app,
      });
      const installed = JSON.parse(
        await readFile(path.join(app, "node_modules/@opentelemetry/api/package.json"), "utf8"),
      ) as { version: string };
      expect(installed.version).toBe(api);
      await writeFile(path.join(app, "app.mjs"), APP(sdk, provider, processor));
      const { stdout } = await run(process.execPath, ["app.mjs"], { cwd: app });
      expect(JSON.parse(stdout)).toMatchObject({
        "prompt.id": "support/triage",
        "prompt.vendor": "promptreg",
        "llm.prompt_template.version": "1.2.0",
      });
    }, 180_000);
});
