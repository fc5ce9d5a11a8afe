// The console's datasets and experiments in a real browser (Debian's Chromium driven by playwright-core): the real app
// in this process with its job runner started, a real database, the real OTLP receiver, and a fake OpenAI-compatible
// model on 127.0.0.1 (test/helpers/fake-model.ts) whose answers are known per (version, item): on 1.0.0 every item is
// answered as production answered it, on 1.1.0 items 0-7 are answered "BAD". A person creates a dataset, fills it
// from the traces list ("Add to dataset"), adds, deletes and imports items, starts an experiment of the two versions
// and opens its comparison: the 8 regressed items with McNemar's p. Waits are on the page's own state (its polling),
// never on a clock. One server and one browser for the file; the tests run in order, as a person's session would.
// Set SCREENSHOT_DIR to keep the PNGs.
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildConsole,
  hasChromium,
  launchChromium,
  recordCspViolations,
  seriousViolations,
  shot,
  shotOnFailure,
  countIs,
  textIs,
  textMatches,
} from "./helpers/browser.js";
import { ingestSpans, llmSpan, publishVersion } from "./helpers/factories.js";
import { type FakeModel, startFakeModel } from "./helpers/fake-model.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { newSpanId, newTraceId, type SpanSpec } from "./helpers/otlp.js";
import { settledJobs } from "./helpers/settled-jobs.js";

const PROMPT = "support/answer";
const ITEMS = 20;
/** Items whose answer on 1.1.0 is "BAD": they pass on 1.0.0 and fail on 1.1.0; none goes the other way. */
const REGRESSED = 8;
const answerOf = (i: number) => `GOOD answer to case ${i}`;

let tmp: string;
let h: Harness;
let model: FakeModel;
let server: Server;
let baseUrl: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const jobs = settledJobs();
const cspViolations: string[] = [];

const admin = () => h.as(h.adminKey);

/** A production span of 1.0.0 for item `i`: its template variables, and the answer it gave. */
function productionSpan(i: number): SpanSpec {
  const startMs = Date.now() - (ITEMS - i) * 1000;
  const ns = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();
  return llmSpan(PROMPT, "1.0.0", {
    traceId: newTraceId(),
    spanId: newSpanId(),
    name: "ChatCompletion",
    start: ns(startMs),
    end: ns(startMs + 200),
    status: { code: 1 },
    attributes: {
      "llm.prompt_template.variables": JSON.stringify({ q: `case ${i}` }),
      "input.value": `Answer case ${i}`,
      "output.value": answerOf(i),
      "llm.model_name": "fake-model-1",
    },
  });
}

describe.skipIf(!hasChromium("console dataset and experiment browser tests"))(
  "datasets and experiments in Chromium",
  () => {
    beforeAll(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), "promptreg-datasets-"));
      buildConsole(path.join(tmp, "console"));
      model = await startFakeModel((prompt) => {
        const i = Number(/case (\d+)/.exec(prompt)?.[1]);
        const candidate = prompt.includes("briefly");
        return candidate && i < REGRESSED ? `BAD answer to case ${i}` : answerOf(i);
      });
      h = await createHarness({
        consoleDir: path.join(tmp, "console"),
        allowPrivateConnections: true,
        jobs: { pollMs: 50, retryBaseMs: 20, retryMaxMs: 200, onSettled: jobs.onSettled },
        evalMaxAttempts: 2,
      });
      server = h.app.listen(0, "127.0.0.1");
      await new Promise((resolve) => server.once("listening", resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

      const as = admin();
      await publishVersion(as, PROMPT, { template: "Answer {{q}}", version: "1.0.0" } as never);
      await publishVersion(as, PROMPT, { template: "Answer {{q}} briefly", version: "1.1.0" } as never);
      const connection = await as.post("/api/v1/connections", {
        name: "model",
        baseUrl: model.url,
        model: "fake-model-1",
        timeoutMs: 10_000,
      });
      expect(connection.status, JSON.stringify(connection.body)).toBe(201);
      const evaluator = await as.post("/api/v1/evaluators", {
        name: "no-bad",
        kind: "not_contains",
        sampleRate: 1,
        config: { values: ["BAD"] },
        // Live traffic is not what this file is about: the evaluator judges the experiment's answers only.
        enabled: false,
      });
      expect(evaluator.status, JSON.stringify(evaluator.body)).toBe(201);
      await ingestSpans(
        h,
        Array.from({ length: ITEMS }, (_, i) => productionSpan(i)),
      );

      browser = await launchChromium();
      context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
      page = await context.newPage();
      recordCspViolations(page, cspViolations);
      await page.goto("/sign-in");
      await page.getByLabel("API key").fill(h.adminKey);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
    }, 240_000);

    afterAll(async () => {
      await browser?.close();
      // The model first: closing it ends the calls still waiting on it, so that the job runner stops at once.
      await model?.close();
      if (server) await new Promise((resolve) => server.close(resolve));
      await h?.close();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    afterEach(async ({ task }) => {
      await shotOnFailure(page, "datasets-failed-", task);
    });

    it("creates a dataset and fills it from the traces list, the answers as expected outputs", async () => {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Datasets" }).click();
      await page.getByRole("heading", { name: "Datasets", level: 1 }).waitFor();
      await page.getByText("No datasets yet").waitFor();
      const form = page.getByRole("form", { name: "New dataset" });
      await form.getByLabel("Name").fill("golden");
      await form.getByLabel("Description").fill("cases support/answer must get right");
      await form.getByRole("button", { name: "Create dataset" }).click();
      await page.waitForURL(/\/datasets\/golden$/);
      await page.getByText("No items yet").waitFor();

      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Traces" }).click();
      await page.getByRole("heading", { name: "Traces", level: 1 }).waitFor();
      await page.getByLabel("Select every span of this page").check();
      await textIs(page.getByTestId("selected-count"), `${ITEMS} selected`);
      await page.getByRole("button", { name: "Add to dataset…" }).click();
      const dialog = page.getByRole("dialog", { name: "Add spans to a dataset" });
      await dialog.getByLabel("Dataset").selectOption("golden");
      await expect(dialog.getByLabel("Use the output as expected").isChecked()).resolves.toBe(true);
      await shot(page, "datasets-01-add-spans");
      await dialog.getByRole("button", { name: `Add ${ITEMS} spans` }).click();
      await textIs(page.getByTestId("added-notice"), `Added ${ITEMS} spans to golden: version 1, ${ITEMS} items.`);

      const items = await admin().get("/api/v1/datasets/golden/items?limit=200");
      expect(items.status).toBe(200);
      expect(items.body.data).toHaveLength(ITEMS);
      const byCase = new Map(
        (items.body.data as { variables: { q: string }; expected: unknown }[]).map((item) => [item.variables.q, item]),
      );
      for (let i = 0; i < ITEMS; i++) expect(byCase.get(`case ${i}`)?.expected).toBe(answerOf(i));
    });

    it("adds, deletes and imports items, each a new version, and lists an import's problems by line", async () => {
      await page.getByRole("link", { name: "golden" }).click();
      await page.waitForURL(/\/datasets\/golden$/);
      const rows = page.getByRole("table", { name: "Items of version 1" }).locator("tbody tr");
      await rows.nth(ITEMS - 1).waitFor();
      await expect(rows.count()).resolves.toBe(ITEMS);

      await page.getByRole("button", { name: "Add item" }).click();
      const dialog = page.getByRole("dialog", { name: "Add an item to golden" });
      await dialog.getByLabel("Id").fill("extra");
      // Not JSON: said at the field, and nothing is sent.
      await dialog.getByLabel("Variables (a JSON object)").fill("{q: 1}");
      await dialog.getByRole("button", { name: "Add item" }).click();
      await dialog.locator("#item-variables-error").waitFor();
      await dialog.getByLabel("Variables (a JSON object)").fill('{"q": "case extra"}');
      await dialog.getByLabel("Expected output").fill("GOOD answer to case extra");
      await dialog.getByRole("button", { name: "Add item" }).click();
      await textIs(page.getByTestId("dataset-change"), `golden is at version 2: 1 added (${ITEMS + 1} items).`);
      await page.getByRole("table", { name: "Items of version 2" }).getByTestId("item-extra").waitFor();

      await page.getByRole("button", { name: "Delete item extra" }).click();
      await page
        .getByRole("dialog", { name: "Delete item extra" })
        .getByRole("button", { name: "Delete item extra" })
        .click();
      await textIs(page.getByTestId("dataset-change"), `golden is at version 3: 1 removed (${ITEMS} items).`);
      // Version 2 still has it.
      await page.getByLabel("Version").selectOption("2");
      await page.getByRole("table", { name: "Items of version 2" }).getByTestId("item-extra").waitFor();
      await page.getByLabel("Version").selectOption("3");
      await page.getByRole("table", { name: "Items of version 3" }).waitFor();

      // A file with two bad lines: refused whole, each problem with its line.
      await page.getByText("Import a file").click();
      await page.getByLabel("JSONL or CSV file").setInputFiles({
        name: "bad.jsonl",
        mimeType: "",
        buffer: Buffer.from(['{"variables": {"q": "fine"}}', "{not json", '{"id": "a b", "variables": {}}'].join("\n")),
      });
      await page.getByRole("button", { name: "Import", exact: true }).click();
      const problems = page.getByRole("list", { name: "Problems" }).locator("li");
      await problems.first().waitFor();
      await expect(problems.allTextContents()).resolves.toEqual([
        expect.stringMatching(/^line 2: /),
        expect.stringMatching(/^line 3: /),
      ]);
      expect((await admin().get("/api/v1/datasets/golden")).body).toMatchObject({ version: 3, itemCount: ITEMS });
      expect(await seriousViolations(page)).toEqual([]);
      await shot(page, "datasets-02-dataset");
    });

    it("starts an experiment of two versions, follows its progress, and compares them: the regressions with p", async () => {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Experiments" }).click();
      await page.getByText("No experiments yet").waitFor();
      await page.getByRole("link", { name: "New experiment" }).click();
      await page.waitForURL(/\/experiments\/-\/new$/);
      await page.getByLabel("Dataset", { exact: true }).selectOption("golden");
      await page.getByLabel("Prompt").fill(PROMPT);
      await page.getByRole("checkbox", { name: "1.0.0", exact: true }).check();
      await page.getByRole("checkbox", { name: "1.1.0", exact: true }).check();
      await page.getByLabel("Connection").selectOption("model");
      await page.getByRole("checkbox", { name: "no-bad" }).check();
      await page.getByRole("checkbox", { name: /^exact_match/ }).check();
      await textIs(
        page.getByTestId("experiment-cost"),
        `${ITEMS} items × 2 versions = ${ITEMS * 2} model calls through model, in the background.`,
      );
      await shot(page, "datasets-03-new-experiment");
      await page.getByRole("button", { name: "Start experiment" }).click();
      await page.waitForURL(/\/experiments\/[^/]+$/);
      const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);

      // The page asks again every second while it runs: it says when it has finished.
      await page
        .getByTestId("experiment-progress")
        .filter({ hasText: `Finished: ${ITEMS * 2} results.` })
        .waitFor();
      const experiment = (await admin().get(`/api/v1/experiments/${id}`)).body;
      expect(experiment).toMatchObject({
        status: "finished",
        datasetVersion: 3,
        evaluators: ["no-bad", "exact_match"],
      });
      expect(model.total()).toBe(ITEMS * 2);
      const candidateRow = page.getByTestId("run-1.1.0");
      await expect(candidateRow.locator("td").allTextContents()).resolves.toEqual([
        `${ITEMS} of ${ITEMS}`,
        "0",
        `60.00% (12/${ITEMS})`,
        `60.00% (12/${ITEMS})`,
        expect.stringMatching(/ms$/),
        `${ITEMS * 20} + ${ITEMS * 5}`,
      ]);
      await page.getByLabel("Run", { exact: true }).selectOption("1.1.0");
      await countIs(
        page.getByRole("table", { name: "Results of 1.1.0, item by item" }).locator(".eval-failed"),
        REGRESSED * 2,
      );
      expect(await seriousViolations(page)).toEqual([]);
      await shot(page, "datasets-04-experiment");

      await page.getByRole("link", { name: "Compare runs" }).click();
      await page.waitForURL(/\/compare$/);
      const verdict = page.getByTestId("verdict-sentence");
      await verdict.waitFor();
      await textMatches(verdict, /^1\.1\.0 is significantly worse than 1\.0\.0 at the 5% level/);
      // McNemar's exact p on 8 discordant pairs all one way: 2 · 0.5^8.
      await textIs(page.getByTestId("compare-no-bad").getByTestId("p-value"), "p = 0.0078");
      await textIs(page.getByTestId("compare-no-bad").locator(".verdict-badge"), "Worse");
      const regressions = page.getByRole("table", { name: "Items that passed on 1.0.0 and fail on 1.1.0" });
      const noBad = regressions.locator("tbody tr").filter({ hasText: "no-bad" });
      await countIs(noBad, REGRESSED);
      await textMatches(noBad.first().locator(".baseline-output"), /^GOOD answer to case \d$/);
      await textMatches(noBad.first().locator(".candidate-output"), /^BAD answer to case \d$/);
      expect(await seriousViolations(page)).toEqual([]);
      await shot(page, "datasets-05-compare");
      expect(cspViolations).toEqual([]);
    });

    it("shows a read-only key no button that would change a dataset or start an experiment", async () => {
      const readKey = await h.newKey("read");
      const readContext = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
      try {
        const p = await readContext.newPage();
        await p.goto("/sign-in");
        await p.getByLabel("API key").fill(readKey);
        await p.getByRole("button", { name: "Sign in" }).click();
        await p.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
        await p.goto("/datasets/golden");
        await p.getByRole("table", { name: "Items of version 3" }).waitFor();
        for (const name of ["Add item", "Delete dataset…", `Edit item ${"extra"}`])
          await expect(p.getByRole("button", { name }).count()).resolves.toBe(0);
        await expect(p.getByText("Import a file").count()).resolves.toBe(0);
        await p.goto("/traces");
        await p.getByRole("table", { name: "Spans, newest first" }).waitFor();
        await expect(p.getByRole("button", { name: "Add to dataset…" }).count()).resolves.toBe(0);
        await p.goto("/experiments");
        await p.getByRole("heading", { name: "Experiments", level: 1 }).waitFor();
        await p.getByRole("table", { name: "Experiments, newest first" }).waitFor();
        await expect(p.getByRole("link", { name: "New experiment" }).count()).resolves.toBe(0);
      } finally {
        await readContext.close();
      }
    });
  },
);
