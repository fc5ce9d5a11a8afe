// The examples in examples/ run as a user runs them: `node examples/<x>/main.mjs` in a process of its own, configured
// by its environment only, against the real app on a real port and a local stand-in for the model's API. Each must
// print its answers and the registry's comparison, and the registry must have counted each call once, with its
// tokens, cost and failure. The README must show the OpenAI example as it is in the file, and link the others.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeAnthropic, type FakeAnthropic } from "./helpers/fake-anthropic.js";
import { startFakeOpenAI, type FakeOpenAI } from "./helpers/fake-openai.js";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";
import { serve, type Listener } from "./helpers/listen.js";

const root = path.resolve(import.meta.dirname, "..");
const OPENAI_MODEL = "gpt-4o-mini-2024-07-18";
const ANTHROPIC_MODEL = "claude-haiku-4-5-20251001";
// Per successful call: 30 + 5 tokens, priced below at 30 × 0.15 + 5 × 0.6 = 7.5 (OpenAI) and 30 × 1 + 5 × 5 = 55
// (Anthropic) USD per million.
const USAGE = { prompt: 30, completion: 5 };
const PRICES = [
  { model: OPENAI_MODEL, inputPerMTok: "0.15", outputPerMTok: "0.6", cost: 0.0000075 },
  { model: ANTHROPIC_MODEL, inputPerMTok: "1", outputPerMTok: "5", cost: 0.000055 },
];
// Each question goes to both versions; the fakes answer the one that ends in "status:400" with a 400, which no SDK
// retries, so each call is one request.
const QUESTIONS = ["Where is my order?", "status:400"];

let h: Harness;
let admin: Client;
let registry: Listener;
let fakeOpenAI: FakeOpenAI;
let fakeAnthropic: FakeAnthropic;

beforeAll(async () => {
  // The examples import @promptreg/client as an application does, through the workspace link and the package's
  // exports, which point at client/dist: build it as `npm run build` does (tsc -b: nothing to do when it is up to
  // date). A packed client would need an npm install per run, and copies of the examples beside it.
  const build = promisify(execFile)(process.execPath, [
    path.join(root, "node_modules/typescript/bin/tsc"),
    "-b",
    path.join(root, "client/tsconfig.json"),
  ]);
  h = await createHarness();
  admin = h.as(h.adminKey);
  registry = await serve(h.app);
  fakeOpenAI = await startFakeOpenAI({
    model: OPENAI_MODEL,
    usage: { prompt_tokens: USAGE.prompt, completion_tokens: USAGE.completion, total_tokens: 35 },
  });
  fakeAnthropic = await startFakeAnthropic({
    model: ANTHROPIC_MODEL,
    usage: { input_tokens: USAGE.prompt, output_tokens: USAGE.completion },
  });
  for (const { cost: _, ...price } of PRICES) expect((await admin.post("/api/v1/prices", price)).status).toBe(201);
  await build;
});

afterAll(async () => {
  await fakeOpenAI?.close();
  await fakeAnthropic?.close();
  await registry?.close();
  await h?.close();
});

interface Run {
  code: number | null;
  stdout: string[];
  stderr: string;
}

/** Runs an example to its end, with nothing of this process's environment but PATH. */
function runExample(example: string, args: string[]): Promise<Run> {
  const env = {
    PATH: process.env.PATH,
    PROMPTREG_URL: registry.url,
    PROMPTREG_API_KEY: h.adminKey,
    OPENAI_BASE_URL: fakeOpenAI.baseURL,
    OPENAI_API_KEY: "test-key",
    ANTHROPIC_BASE_URL: fakeAnthropic.baseURL,
    ANTHROPIC_API_KEY: "test-key",
  };
  const child = spawn(process.execPath, [path.join(root, "examples", example, "main.mjs"), ...args], {
    env,
    cwd: root,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => (stdout += data));
  child.stderr.on("data", (data: Buffer) => (stderr += data));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: stdout.trimEnd().split("\n"), stderr }));
  });
}

const EXAMPLES = [
  { example: "openai-esm", fake: () => fakeOpenAI, cost: PRICES[0]!.cost, layers: ["OpenAI Chat Completions"] },
  {
    example: "vercel-ai-sdk",
    fake: () => fakeOpenAI,
    cost: PRICES[0]!.cost,
    // The AI SDK's own spans: the provider call is the LLM call, its ai.generateText parent an AGENT span.
    layers: ["ai.generateText.doGenerate"],
  },
  // One layer, the OpenAI instrumentation's, under LangChain.
  { example: "langchain", fake: () => fakeOpenAI, cost: PRICES[0]!.cost, layers: ["OpenAI Chat Completions"] },
  {
    example: "anthropic",
    fake: () => fakeAnthropic,
    cost: PRICES[1]!.cost,
    // Two layers: the SDK's own span inside the OpenInference instrumentation's, counted once.
    layers: ["Anthropic Messages", "anthropic.messages.create"],
  },
];

describe("each example, run as `node examples/<x>/main.mjs`", () => {
  for (const { example, fake, cost, layers } of EXAMPLES)
    it(`${example}: links each call to its version, once, with its failure, tokens and cost`, async () => {
      const requests = fake().requests();
      const run = await runExample(example, QUESTIONS);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      // Every call reached the model once: no retry, no call made twice.
      expect(fake().requests() - requests).toBe(4);

      const name = `examples/${example}`;
      const res = await admin.get(`/api/v1/prompts/${enc(name)}/compare?versions=1.0.0,1.0.1`);
      expect(res.status).toBe(200);
      for (const v of res.body.versions) {
        expect([v.units, v.failures], v.version).toEqual([2, 1]);
        expect(v.tokens.prompt, v.version).toEqual({ sum: USAGE.prompt, count: 1, mean: USAGE.prompt });
        expect(v.tokens.completion.sum, v.version).toBe(USAGE.completion);
        expect([v.costUsd.count, v.costUsd.sum], v.version).toEqual([1, cost]);
      }
      expect(res.body.unattributed.total).toBe(0);
      const spans = await admin.get(`/api/v1/spans?prompt=${enc(name)}&spanKind=LLM&limit=100`);
      const llm = spans.body.data as { name: string; nestedCall: boolean }[];
      expect(llm).toHaveLength(4 * layers.length);
      expect(llm.filter((s) => !s.nestedCall).map((s) => s.name)).toEqual(Array(4).fill(layers[0]));
      expect(new Set(llm.map((s) => s.name))).toEqual(new Set(layers));

      expect(run.stdout).toEqual([
        "production 1.0.0 answered: hello",
        "latest 1.0.1 answered: hello",
        expect.stringMatching(/^production 1\.0\.0 failed: .*400/),
        expect.stringMatching(/^latest 1\.0\.1 failed: .*400/),
        `1.0.0: 2 calls, 1 failed, 35 tokens, cost $${cost}`,
        `1.0.1: 2 calls, 1 failed, 35 tokens, cost $${cost}`,
        res.body.comparisons[0].explanation,
      ]);
    });

  it("vercel-ai-sdk: a call the SDK retries counts once, with its last attempt's outcome", async () => {
    const requests = fakeOpenAI.requests();
    // A 500 the AI SDK retries twice (its default): three attempts, three LLM spans under one ai.generateText.
    const run = await runExample("vercel-ai-sdk", ["status:500"]);
    expect([run.code, run.stderr]).toEqual([0, ""]);
    expect(fakeOpenAI.requests() - requests).toBe(6);
    const name = enc("examples/vercel-ai-sdk");
    const res = await admin.get(`/api/v1/prompts/${name}/compare?versions=1.0.0,1.0.1`);
    for (const v of res.body.versions) expect([v.units, v.failures], v.version).toEqual([3, 2]);
    const spans = await admin.get(`/api/v1/spans?prompt=${name}&spanKind=LLM&failed=true&limit=100`);
    const failed = spans.body.data as { nestedCall: boolean }[];
    // Of each retried call's three attempts, the first two are flagged; the last one, and the earlier test's 400s, count.
    expect(failed.filter((s) => s.nestedCall)).toHaveLength(4);
    expect(failed.filter((s) => !s.nestedCall)).toHaveLength(4);
  });

  it("openai-esm again: the prompt is kept, the new calls add to the same versions", async () => {
    const run = await runExample("openai-esm", []);
    expect([run.code, run.stderr]).toEqual([0, ""]);
    expect(run.stdout.slice(0, 2)).toEqual(["production 1.0.0 answered: hello", "latest 1.0.1 answered: hello"]);
    const cost = PRICES[0]!.cost;
    expect(run.stdout.slice(2, 4)).toEqual([
      `1.0.0: 3 calls, 1 failed, 70 tokens, cost $${cost * 2}`,
      `1.0.1: 3 calls, 1 failed, 70 tokens, cost $${cost * 2}`,
    ]);
    const versions = await admin.get(`/api/v1/prompts/${enc("examples/openai-esm")}/versions`);
    expect(versions.body.data.map((v: { version: string }) => v.version)).toEqual(["1.0.1", "1.0.0"]);
  });
});

describe("the README", () => {
  const readme = readFileSync(path.join(root, "README.md"), "utf8");

  it("shows the OpenAI example in full, as it is in examples/openai-esm/main.mjs", () => {
    const file = readFileSync(path.join(root, "examples/openai-esm/main.mjs"), "utf8");
    const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    expect(blocks).toContain(file);
  });

  it("links every example", () => {
    for (const { example } of EXAMPLES) expect(readme.includes(`(examples/${example}/main.mjs)`), example).toBe(true);
  });
});
