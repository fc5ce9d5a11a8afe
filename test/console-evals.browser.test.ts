// The console's evaluators in a real browser (Debian's Chromium driven by playwright-core): the real app in this
// process with its job runner started, a real database, the real OTLP receiver, and a fake OpenAI-compatible judge on
// 127.0.0.1 (test/helpers/fake-judge.ts: an answer containing "BAD" fails, any other passes). Evaluators are defined
// through the console's form with its preview on recent spans; their results arrive in the background as spans are
// ingested, and the test waits for them on the runner's events (server side) or on the page's own polling, never on a
// clock. One server and one browser for the file; the tests run in order, as a person's session would. Set
// SCREENSHOT_DIR to keep the PNGs.
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { JobEvent } from "../src/jobs/runner.js";
import {
  buildConsole,
  hasChromium,
  launchChromium,
  recordCspViolations,
  seriousViolations,
  shot,
  shotOnFailure,
} from "./helpers/browser.js";
import { ingestSpans, llmSpan, moveLabel, publishVersion } from "./helpers/factories.js";
import { JUDGE_TEMPLATE, startFakeJudge, type FakeJudge } from "./helpers/fake-judge.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { newSpanId, newTraceId, type SpanSpec } from "./helpers/otlp.js";

const PROMPT = "support/answer";
const ENC = encodeURIComponent(PROMPT);
const MINUTE = 60_000;

// Four answers, each judged differently by the two evaluators: valid JSON or not, and "BAD" (the judge fails it).
const JSON_GOOD = '{"answer": "Within 30 days."}';
const PROSE_GOOD = "Within 30 days, with the receipt.";
const JSON_BAD = '{"answer": "BAD"}';
const PROSE_BAD = "BAD answer";

let tmp: string;
let h: Harness;
let judge: FakeJudge;
let server: Server;
let baseUrl: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const cspViolations: string[] = [];
const listeners = new Set<() => void>();

/** Waits, on the job runner's settled events (not a clock), until `done()` holds. */
async function until(done: () => Promise<boolean>): Promise<void> {
  if (await done()) return;
  await new Promise<void>((resolve, reject) => {
    let checking = false;
    const check = () => {
      if (checking) return;
      checking = true;
      done()
        .then((ok) => {
          checking = false;
          if (ok) {
            listeners.delete(check);
            resolve();
          }
        })
        .catch(reject);
    };
    listeners.add(check);
    check();
  });
}

const admin = () => h.as(h.adminKey);

async function totals(name: string) {
  const res = await admin().get(`/api/v1/evaluators/${name}/results`);
  expect(res.status).toBe(200);
  return res.body.total as { passed: number; failed: number; skipped: number; error: number; pending: number };
}

/** An LLM span of the prompt answering `output`, `minutesAgo` minutes ago (a compare range and a backfill's hold it). */
function answerSpan(version: string, output: string, minutesAgo: number, ids = { traceId: newTraceId() }): SpanSpec {
  const startMs = Date.now() - minutesAgo * MINUTE;
  const ns = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();
  return llmSpan(PROMPT, version, {
    traceId: ids.traceId,
    spanId: newSpanId(),
    name: "ChatCompletion",
    start: ns(startMs),
    end: ns(startMs + 350),
    status: { code: 1 },
    attributes: {
      "input.value": "What is the refund policy?",
      "output.value": output,
      "llm.model_name": "gpt-4o-mini",
    },
  });
}

/** The cells of an evaluator's row in the list, by column. */
async function listRow(name: string): Promise<Record<string, string>> {
  const headers = await page.locator("table.evaluator-table thead th").allTextContents();
  const cells = await page.getByTestId(`evaluator-${name}`).locator("td").allTextContents();
  return Object.fromEntries(headers.map((h, i) => [h, cells[i] ?? ""]));
}

describe.skipIf(!hasChromium("console evaluator browser tests"))("evaluators in Chromium", () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "promptreg-evals-"));
    buildConsole(path.join(tmp, "console"));
    judge = await startFakeJudge();
    h = await createHarness({
      consoleDir: path.join(tmp, "console"),
      allowPrivateConnections: true,
      jobs: {
        pollMs: 50,
        retryBaseMs: 20,
        retryMaxMs: 200,
        onSettled: (_e: JobEvent) => {
          for (const l of [...listeners]) l();
        },
      },
      evalMaxAttempts: 2,
    });
    server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    const as = admin();
    await publishVersion(as, PROMPT, { template: "Answer the customer: {{question}}", version: "1.0.0" } as never);
    await publishVersion(as, PROMPT, {
      template: "Answer the customer briefly: {{question}}",
      version: "2.0.0",
    } as never);
    await publishVersion(as, "evals/helpful", { template: JUDGE_TEMPLATE, commitMessage: "judge" } as never);
    await moveLabel(as, "evals/helpful", "production", "1.0.0");
    const connection = await as.post("/api/v1/connections", {
      name: "judge",
      baseUrl: judge.url,
      model: "fake-judge",
      timeoutMs: 1_000,
    });
    expect(connection.status, JSON.stringify(connection.body)).toBe(201);
    // Traffic from before any evaluator: the previews look at it, only a backfill evaluates it.
    await ingestSpans(h, [
      answerSpan("1.0.0", JSON_GOOD, 50),
      answerSpan("1.0.0", PROSE_GOOD, 49),
      answerSpan("1.0.0", JSON_BAD, 48),
      answerSpan("1.0.0", PROSE_BAD, 47),
    ]);

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
    // The judge first: closing it ends the calls still waiting on it, so that the job runner stops at once.
    await judge?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
    await h?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    await shotOnFailure(page, "evals-failed-", task);
  });

  it("defines a JSON check with a live preview, showing a bad definition's message at its field", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Evaluators" }).click();
    await page.getByRole("heading", { name: "Evaluators", level: 1 }).waitFor();
    await page.getByText("No evaluators yet").waitFor();
    await page.getByRole("link", { name: "New evaluator" }).click();
    await page.waitForURL(/\/evaluators\/-\/new$/);

    await page.getByLabel("Name", { exact: true }).fill("valid-json");
    // Nothing is marked on a new form; what it still needs is said where the preview will be, and at its field once
    // a save is tried.
    await page.getByText("To preview: name the prompt, or choose every prompt.").waitFor();
    await expect(page.locator(".field-error").count()).resolves.toBe(0);
    await page.getByRole("button", { name: "Create evaluator" }).click();
    await expect(page.getByTestId("error-ev-target").textContent()).resolves.toBe(
      "name the prompt, or choose every prompt",
    );
    await page.getByLabel("Prompt name").fill(PROMPT);
    await page.getByTestId("error-ev-target").waitFor({ state: "detached" });
    // A check previews as it is typed: the four spans from before, two of them JSON.
    const counts = page.getByRole("list", { name: "Preview results" });
    await counts.filter({ hasText: "2 failed" }).waitFor();
    await expect(counts.textContent()).resolves.toMatch(
      /^50\.00% passed of 4 verdicts2 passed2 failed0 skipped0 error$/,
    );
    const rows = page.getByRole("table", { name: "Evaluation of each recent span" }).locator("tbody tr");
    await expect(rows.count()).resolves.toBe(4);
    await expect(rows.locator(".eval-status").allTextContents()).resolves.toEqual([
      "failed",
      "passed",
      "failed",
      "passed",
    ]);
    // Newest first: the prose "BAD answer" is not JSON, and the reason says so next to the answer.
    await expect(rows.first().locator("td").nth(3).textContent()).resolves.toBe(PROSE_BAD);
    expect((await rows.first().locator(".eval-reason").textContent())!.length).toBeGreaterThan(5);
    await shot(page, "evals-01-json-preview");

    // A regex without a pattern, then one RE2 refuses: the server's message, at the Pattern field.
    await page.getByLabel("Kind").selectOption("regex");
    const patternError = page.getByTestId("error-ev-pattern");
    await expect(patternError.textContent()).resolves.toBe("must not be empty");
    await expect(page.getByLabel("Pattern").getAttribute("aria-invalid")).resolves.toBe("true");
    await page.getByLabel("Pattern").fill("(unclosed");
    await patternError.filter({ hasText: /^is not a valid regular expression: / }).waitFor();
    await expect(page.getByTestId("preview-invalid").count()).resolves.toBe(1);
    await shot(page, "evals-02-pattern-error");
    // A sample rate out of range: the preview's own body check (body.definition.sampleRate), at its field.
    await page.getByLabel("Kind").selectOption("json");
    await page.getByLabel("Sample rate").fill("1.5");
    await expect(page.getByTestId("error-ev-sample").textContent()).resolves.toBe("must be in [0, 1]");
    await expect(page.getByTestId("error-ev-pattern").count()).resolves.toBe(0);
    await page.getByLabel("Sample rate").fill("1");
    await page.getByTestId("error-ev-sample").waitFor({ state: "detached" });
    await counts.filter({ hasText: "2 failed" }).waitFor();

    await page.getByRole("button", { name: "Create evaluator" }).click();
    await page.waitForURL(/\/evaluators\/valid-json$/);
    await page.getByRole("heading", { name: /^valid-json/, level: 1 }).waitFor();
    const saved = await admin().get("/api/v1/evaluators/valid-json");
    expect(saved.body).toMatchObject({
      kind: "json",
      target: { prompt: PROMPT, prefix: null, label: null },
      sampleRate: 1,
      config: {},
      revision: 1,
      enabled: true,
      status: "active",
    });
  });

  it("defines an LLM judge with a connection picked from the project's, previewing it against the judge", async () => {
    await page.goto("/evaluators/-/new");
    await page.getByLabel("Name", { exact: true }).fill("helpful");
    await page.getByLabel("Kind").selectOption("llm_judge");
    await page.getByRole("radio", { name: "A folder of prompts" }).check();
    await page.getByLabel("Name prefix").fill("support/");
    await expect(page.getByLabel("Judge prompt").inputValue()).resolves.toBe("evals/helpful@production");
    // A judge previews only when asked: each span is a call to its model.
    await page.getByText("Not run yet.").waitFor();
    expect(judge.total()).toBe(0);

    // No connection chosen: the server says so at the Connection field.
    await page.getByRole("button", { name: /^Run preview/ }).click();
    await page.getByTestId("error-ev-connection").waitFor();
    const connection = page.getByLabel("Connection");
    await expect(connection.evaluate((el) => (el as unknown as { tagName: string }).tagName)).resolves.toBe("SELECT");
    await connection.selectOption("judge");
    await page.getByRole("button", { name: /^Run preview/ }).click();
    const counts = page.getByRole("list", { name: "Preview results" });
    await counts.waitFor();
    await expect(counts.textContent()).resolves.toMatch(/^50\.00% passed of 4 verdicts2 passed2 failed/);
    expect(judge.total()).toBe(4);
    const table = page.getByRole("table", { name: "Evaluation of each recent span" });
    await expect(table.locator(".eval-reason").allTextContents()).resolves.toEqual([
      "it says BAD",
      "it says BAD",
      "it is helpful",
      "it is helpful",
    ]);
    await shot(page, "evals-03-judge-preview");

    await page.getByRole("button", { name: "Create evaluator" }).click();
    await page.waitForURL(/\/evaluators\/helpful$/);
    await page.getByRole("heading", { name: /^helpful/, level: 1 }).waitFor();
    const saved = await admin().get("/api/v1/evaluators/helpful");
    expect(saved.body).toMatchObject({
      kind: "llm_judge",
      target: { prompt: null, prefix: "support/", label: null },
      config: { judgePrompt: "evals/helpful@production", connection: "judge" },
      revision: 1,
    });
  });

  it("asks a key that may not list connections for the connection's name instead", async () => {
    const writeKey = await h.newKey("write");
    const writer = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    const wp = await writer.newPage();
    recordCspViolations(wp, cspViolations);
    await wp.goto("/sign-in");
    await wp.getByLabel("API key").fill(writeKey);
    await wp.getByRole("button", { name: "Sign in" }).click();
    await wp.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
    await wp.goto("/evaluators/-/new");
    await wp.getByLabel("Kind").selectOption("llm_judge");
    const connection = wp.getByRole("textbox", { name: "Connection" });
    await connection.waitFor();
    await expect(wp.getByText("listing the connections needs an admin key").count()).resolves.toBe(1);
    await connection.fill("judge");
    await wp.getByLabel("Prompt name").fill(PROMPT);
    await wp.getByRole("button", { name: /^Run preview/ }).click();
    await wp.getByRole("list", { name: "Preview results" }).waitFor();
    await writer.close();
  });

  it("shows each evaluator's pass rate and counts in the list as new spans are judged in the background", async () => {
    await page.goto("/evaluators");
    await page.getByTestId("evaluator-helpful").waitFor();
    // 1.0.0 answers as before; 2.0.0 never says BAD, and half of its answers are not JSON.
    await ingestSpans(h, [
      answerSpan("1.0.0", JSON_GOOD, 30),
      answerSpan("1.0.0", PROSE_GOOD, 29),
      answerSpan("1.0.0", JSON_BAD, 28),
      answerSpan("1.0.0", PROSE_BAD, 27),
      answerSpan("2.0.0", JSON_GOOD, 20),
      answerSpan("2.0.0", JSON_GOOD, 19),
      answerSpan("2.0.0", PROSE_GOOD, 18),
      answerSpan("2.0.0", PROSE_GOOD, 17),
    ]);
    // The page asks again on its own (faster while spans are pending): wait for what it shows.
    const expected = {
      "valid-json": { "Pass rate": "50.00%", Passed: "4", Failed: "4", Skipped: "0", Error: "0", Pending: "0" },
      helpful: { "Pass rate": "75.00%", Passed: "6", Failed: "2", Skipped: "0", Error: "0", Pending: "0" },
    };
    for (const [name, cells] of Object.entries(expected))
      await vi.waitFor(async () => expect(await listRow(name)).toMatchObject(cells), {
        timeout: 30_000,
        interval: 250,
      });
    expect(await listRow("valid-json")).toMatchObject({
      Kind: "json",
      Target: PROMPT,
      Sample: "100%",
      Status: "active",
      Revision: "1",
    });
    expect(await listRow("helpful")).toMatchObject({ Kind: "llm_judge", Target: "prompts under support/" });
    // What the API says, the page says.
    expect(await totals("valid-json")).toMatchObject({ passed: 4, failed: 4, pending: 0 });
    expect(await totals("helpful")).toMatchObject({ passed: 6, failed: 2, pending: 0 });
    await shot(page, "evals-04-list");
  });

  it("turns an evaluator off from the list, which makes no new revision", async () => {
    await page.getByRole("button", { name: "Turn off valid-json" }).click();
    await page.getByTestId("toggle-notice").filter({ hasText: "valid-json is off" }).waitFor();
    await vi.waitFor(async () => expect((await listRow("valid-json")).Status).toBe("off"));
    await page.getByRole("button", { name: "Turn on valid-json" }).waitFor();
    const res = await admin().get("/api/v1/evaluators/valid-json");
    expect(res.body).toMatchObject({ enabled: false, status: "disabled", revision: 1, config: {} });
  });

  it("backfills the spans from before the evaluator, with a progress bar, until it is done", async () => {
    await page.getByRole("link", { name: "valid-json", exact: true }).click();
    await page.getByRole("heading", { name: /^valid-json/, level: 1 }).waitFor();
    await page.getByText("No backfill yet.").waitFor();
    await expect(page.getByRole("list", { name: "Results of revision 1" }).textContent()).resolves.toMatch(
      /^50\.00% passed of 8 verdicts4 passed4 failed/,
    );
    // The default range is the last 24 hours: it holds the four spans no evaluator has judged.
    await page.getByRole("button", { name: "Start backfill" }).click();
    const status = page.getByTestId("backfill-status");
    await status.filter({ hasText: /^Done: 4 of 4 spans evaluated$/ }).waitFor({ timeout: 30_000 });
    const bar = page.getByRole("progressbar", { name: "Backfill progress" });
    await expect(
      bar.evaluate((el) => {
        const p = el as unknown as { value: number; max: number };
        return [p.value, p.max];
      }),
    ).resolves.toEqual([4, 4]);
    await expect(page.getByRole("button", { name: "Cancel backfill" }).count()).resolves.toBe(0);
    // Its results count from then on: the page asks for them again once the backfill is over.
    await page
      .getByRole("list", { name: "Results of revision 1" })
      .filter({ hasText: /^50\.00% passed of 12 verdicts6 passed6 failed/ })
      .waitFor();
    const byVersion = page.getByRole("table", { name: "Results of revision 1 per prompt version" });
    await expect(byVersion.locator("tbody tr").count()).resolves.toBe(2);
    const backfill = await admin().get("/api/v1/evaluators/valid-json/backfill");
    expect(backfill.body).toMatchObject({ status: "done", queued: 4, evaluated: 4, revision: 1 });
    expect(await totals("valid-json")).toMatchObject({ passed: 6, failed: 6 });
    await shot(page, "evals-05-backfill");
  });

  it("shows an evaluator's results on the trace page: status, reason, revision, and the judge's prompt and model", async () => {
    // One answer the judge cannot judge (it answers 500 to every try), one it judges.
    const failing = { traceId: newTraceId() };
    const judged = { traceId: newTraceId() };
    judge.mode = "500";
    await ingestSpans(h, [answerSpan("2.0.0", JSON_GOOD, 10, failing)]);
    await until(async () => (await totals("helpful")).error === 1);
    judge.mode = "ok";
    await ingestSpans(h, [answerSpan("2.0.0", PROSE_BAD, 9, judged)]);
    await until(async () => (await totals("helpful")).failed === 3);

    await page.goto(`/traces/${judged.traceId}`);
    const result = page.getByTestId("eval-annotation-helpful");
    await result.waitFor();
    await expect(result.locator(".eval-status").textContent()).resolves.toBe("failed");
    await expect(result.locator(".reason").textContent()).resolves.toBe("it says BAD");
    await expect(result.textContent()).resolves.toContain("eval · revision 1 · score 0.1");
    await expect(result.getByTestId("judge-details").textContent()).resolves.toBe(
      "judged by evals/helpful 1.0.0 · model fake-judge-1 · connection judge",
    );
    await expect(result.getByRole("link", { name: "evals/helpful 1.0.0" }).getAttribute("href")).resolves.toBe(
      "/prompts/evals/helpful?version=1.0.0",
    );
    await shot(page, "evals-06-trace");

    await page.goto(`/traces/${failing.traceId}`);
    const errored = page.getByTestId("eval-annotation-helpful");
    await errored.waitFor();
    await expect(errored.locator(".eval-status").textContent()).resolves.toBe("error");
    await expect(errored.locator(".reason").textContent()).resolves.toMatch(/500|overloaded/);
  });

  it("picks an evaluator in compare's failure selector, and says how many units its failed evaluations leave out", async () => {
    await page.goto(`/prompts/${PROMPT}/-/compare?range=24h&versions=1.0.0,2.0.0`);
    await page.getByTestId("verdict-sentence").waitFor();
    const failure = page.getByLabel("Failure is");
    await expect(failure.locator("optgroup[label='Evaluators'] option").allTextContents()).resolves.toEqual([
      "annotation:helpful (llm_judge)",
      "annotation:valid-json (json)",
    ]);
    await failure.selectOption("annotation:helpful");
    await page.waitForURL(/failure=annotation%3Ahelpful/);
    await page.locator(".verdict-meta").filter({ hasText: "failure = annotation:helpful" }).waitFor();
    await expect(failure.inputValue()).resolves.toBe("annotation:helpful");
    // The evaluator is the whole definition: no annotation name to type.
    await expect(page.getByLabel("Annotation name").count()).resolves.toBe(0);

    const api = await admin().get(`/api/v1/prompts/${ENC}/compare?versions=1.0.0,2.0.0&failure=annotation:helpful`);
    expect(api.status).toBe(200);
    // helpful judged 1.0.0's four later answers (two say BAD) and 2.0.0's six: five verdicts, one failed, one error.
    expect(api.body.versions.map((v: any) => [v.version, v.units, v.failures, v.coverage.evaluationErrors])).toEqual([
      ["1.0.0", 4, 2, 0],
      ["2.0.0", 5, 1, 1],
    ]);
    const note = page.getByTestId("evaluation-errors");
    await expect(note.locator("p").first().textContent()).resolves.toBe(
      "2.0.0: 1 span whose evaluation failed is left out.",
    );
    await expect(page.getByRole("row", { name: /^Spans whose evaluation failed/ }).textContent()).resolves.toBe(
      "Spans whose evaluation failed01",
    );
    await shot(page, "evals-07-compare");

    // A deep link names the evaluator as well.
    await page.goto(`/prompts/${PROMPT}/-/compare?range=24h&versions=1.0.0,2.0.0&failure=annotation:valid-json`);
    await page.locator(".verdict-meta").filter({ hasText: "failure = annotation:valid-json" }).waitFor();
    // The selector shows the evaluator once the page has the list of evaluators, which may come after the verdict.
    await page.locator('option[value="annotation:valid-json"]').waitFor({ state: "attached" });
    await expect(page.getByLabel("Failure is").inputValue()).resolves.toBe("annotation:valid-json");
  });

  it("edits a definition into a new revision, and compare can still read the former one", async () => {
    await page.goto("/evaluators/valid-json");
    await page.getByRole("button", { name: "Edit definition" }).click();
    await page.waitForURL(/\/evaluators\/valid-json\?edit/);
    const form = page.getByRole("form", { name: "Edit valid-json" });
    // Unchanged, saving keeps the revision; a change says which revision it makes.
    await form.getByRole("button", { name: "Save", exact: true }).waitFor();
    await form.getByLabel("Sample rate").fill("0.5");
    await form.getByRole("button", { name: "Save as revision 2" }).click();
    await page.getByTestId("saved-notice").filter({ hasText: "Saved: valid-json is at revision 2." }).waitFor();
    expect(new URL(page.url()).search).toBe("");
    const res = await admin().get("/api/v1/evaluators/valid-json");
    expect(res.body).toMatchObject({ revision: 2, sampleRate: 0.5, enabled: false });

    await page.goto(`/prompts/${PROMPT}/-/compare?range=24h&versions=1.0.0,2.0.0&failure=annotation:valid-json`);
    const revision = page.getByLabel("Revision");
    await revision.waitFor();
    await expect(revision.locator("option").allTextContents()).resolves.toEqual(["current (2)", "1"]);
    await revision.selectOption("1");
    await page.waitForURL(/revision=1/);
    // Revision 1 judged all eight spans of 1.0.0 (four live, four by the backfill); revision 2 has judged none.
    await page
      .getByRole("row", { name: /^Annotation coverage/ })
      .filter({ hasText: "100.00% (8 of 8)" })
      .waitFor();
    await page.locator(".verdict-meta").filter({ hasText: "failure = annotation:valid-json" }).waitFor();
  });

  it("cancels a backfill that is still evaluating", async () => {
    // A judge that stops answering, through a connection that waits a minute: the backfill stays busy until cancelled.
    const as = admin();
    const slow = await as.post("/api/v1/connections", {
      name: "slow-judge",
      baseUrl: judge.url,
      model: "fake-judge",
      timeoutMs: 60_000,
    });
    expect(slow.status, JSON.stringify(slow.body)).toBe(201);
    const patient = await as.post("/api/v1/evaluators", {
      name: "patient",
      kind: "llm_judge",
      target: { prompt: PROMPT },
      sampleRate: 1,
      enabled: false,
      config: { judgePrompt: "evals/helpful@production", connection: "slow-judge" },
    });
    expect(patient.status, JSON.stringify(patient.body)).toBe(201);
    judge.mode = "hole";
    await page.goto("/evaluators/patient");
    await page.getByRole("heading", { name: /^patient/, level: 1 }).waitFor();
    await page.getByLabel("At most (spans)").fill("2");
    await page.getByRole("button", { name: "Start backfill" }).click();
    await page
      .getByTestId("backfill-status")
      .filter({ hasText: /^Evaluating: 0 of 2 spans$/ })
      .waitFor();
    await shot(page, "evals-08-backfill-running");
    await page.getByRole("button", { name: "Cancel backfill" }).click();
    await page
      .getByTestId("backfill-status")
      .filter({ hasText: /^Cancelled: / })
      .waitFor();
    await page.getByRole("button", { name: "Start backfill" }).waitFor();
    expect((await as.get("/api/v1/evaluators/patient/backfill")).body.status).toBe("cancelled");
    await shot(page, "evals-08-cancelled");
    // The two calls in flight wait for the judge until it closes (after the tests); other calls are answered again.
    judge.mode = "ok";

    // Deleting says what goes with it, then the list no longer has it.
    await page.getByRole("button", { name: "Delete…" }).click();
    const dialog = page.getByRole("dialog");
    await expect(dialog.locator(".consequence").textContent()).resolves.toMatch(
      /^patient stops at once, and goes with its definition and every result it stored \(0 of the current revision\)/,
    );
    await dialog.getByRole("button", { name: "Delete patient" }).click();
    await page.waitForURL(/\/evaluators$/);
    await page.getByTestId("evaluator-helpful").waitFor();
    await expect(page.getByTestId("evaluator-patient").count()).resolves.toBe(0);
    expect((await as.get("/api/v1/evaluators/patient")).status).toBe(404);
  });

  it("has no serious accessibility violations on the evaluator pages, and no CSP violation", async () => {
    const found: Record<string, string[]> = {};
    await page.goto("/evaluators");
    await page.getByTestId("evaluator-helpful").waitFor();
    found.list = await seriousViolations(page);
    await page.goto("/evaluators/valid-json?edit");
    await page.getByTestId("backfill-progress").waitFor();
    await page.getByRole("list", { name: "Preview results" }).waitFor();
    found.evaluator = await seriousViolations(page);
    await page.goto("/evaluators/-/new");
    await page.getByLabel("Prompt name").fill(PROMPT);
    await page.getByLabel("Kind").selectOption("regex");
    await page.getByTestId("error-ev-pattern").waitFor();
    found["new, with an error"] = await seriousViolations(page);
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto("/evaluators");
    await page.getByTestId("evaluator-helpful").waitFor();
    found["list, dark"] = await seriousViolations(page);
    await shot(page, "evals-09-list-dark");
    await page.emulateMedia({ colorScheme: "light" });
    expect(Object.entries(found).filter(([, v]) => v.length > 0)).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
