// The console's label gates in a real browser (Debian's Chromium driven by playwright-core): the real app in this
// process with its job runner, a real database, and a fake OpenAI-compatible model on 127.0.0.1 (test/helpers/
// fake-model.ts) whose answers are known per (version, item), as in test/gates.test.ts: 1.1.0 regresses significantly
// from 1.0.0, 1.2.0 does not. An admin sets the gate on production in Settings; an experiment of the three versions
// runs through the API. Then on the Labels page: moving production to 1.1.0 shows the gate's refusal naming the
// experiment, the admin overrides it with a reason and the ledger says "overridden"; moving on to 1.2.0 passes and the
// ledger names the experiment; a write key sees no override; a rollback asks no gate. Waits are on the page's state
// or the job runner's events, never on a clock. Set SCREENSHOT_DIR to keep the PNGs.
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
  textIs,
  textMatches,
} from "./helpers/browser.js";
import { moveLabel, publishVersion, seedExperimentProject } from "./helpers/factories.js";
import { type FakeModel, startFakeModel } from "./helpers/fake-model.js";
import { gateAnswer, gateItems } from "./helpers/gate-model.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { settledJobs } from "./helpers/settled-jobs.js";

const PROMPT = "support/answer";
const LABELS_PAGE = "/prompts/support/answer/-/labels";
const ITEMS = 40;

let tmp: string;
let h: Harness;
let model: FakeModel;
let server: Server;
let baseUrl: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let experiment: string;
const jobs = settledJobs();
const cspViolations: string[] = [];

const admin = () => h.as(h.adminKey);

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto("/sign-in");
  await p.getByLabel("API key").fill(key);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
}

/** Opens the move dialog of `label` on the Labels page and picks `version`. */
async function openMove(p: Page, label: string, version: string) {
  await p.goto(LABELS_PAGE);
  await p
    .getByRole("row", { name: new RegExp(label) })
    .getByRole("button", { name: "Move…" })
    .click();
  const dialog = p.getByRole("dialog");
  await dialog.getByLabel("Version").selectOption(version);
  return dialog;
}

describe.skipIf(!hasChromium("console gate browser tests"))("label gates in Chromium", () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "promptreg-gates-"));
    buildConsole(path.join(tmp, "console"));
    model = await startFakeModel(gateAnswer);
    h = await createHarness({
      consoleDir: path.join(tmp, "console"),
      allowPrivateConnections: true,
      jobs: { pollMs: 50, retryBaseMs: 20, retryMaxMs: 200, onSettled: jobs.onSettled },
    });
    server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    const as = admin();
    await publishVersion(as, PROMPT, { template: "Answer {{q}}", version: "1.0.0", labels: ["production"] });
    await publishVersion(as, PROMPT, { template: "Answer {{q}} briefly", version: "1.1.0" });
    await publishVersion(as, PROMPT, { template: "Answer {{q}} kindly", version: "1.2.0" });
    await seedExperimentProject(as, model.url, gateItems(ITEMS));

    browser = await launchChromium();
    context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    recordCspViolations(page, cspViolations);
    await signIn(page, h.adminKey);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await model?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
    await h?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    await shotOnFailure(page, "gates-failed-", task);
  });

  it("an admin sets the gate on production in Settings; a refused one lists its problems", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
    const section = page.getByRole("region", { name: "Gates" });
    await section.getByText("No gate").waitFor();
    await section.getByRole("button", { name: "New gate…" }).click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.getByLabel("Label", { exact: true }).inputValue()).toBe("production");
    await dialog.getByLabel("Dataset").selectOption("golden");
    const save = dialog.getByRole("button", { name: "Save gate" });
    expect(await save.isDisabled()).toBe(true); // no evaluator yet
    await dialog.getByRole("checkbox", { name: "no-bad" }).check();
    await dialog.getByLabel("α (significance)").fill("1.5");
    await save.click();
    await textMatches(dialog.getByRole("alert"), /Not saved.*one problem.*alpha/);
    await dialog.getByLabel("α (significance)").fill("0.05");
    await save.click();
    await dialog.waitFor({ state: "hidden" });
    await textMatches(section.getByRole("row", { name: /production/ }), /productiongoldenno-bad0\.05all/);
    await shot(page, "gates-01-settings");
    expect(await seriousViolations(page)).toEqual([]);
    expect((await admin().get("/api/v1/gates/production")).body).toMatchObject({
      dataset: "golden",
      evaluators: ["no-bad"],
      alpha: 0.05,
    });
  });

  it("refuses moving production to a version that regressed, naming the experiment; the admin overrides", async () => {
    const created = await admin().post("/api/v1/experiments", {
      dataset: "golden",
      prompt: PROMPT,
      versions: ["1.0.0", "1.1.0", "1.2.0"],
      connection: "model",
      evaluators: ["no-bad"],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    experiment = created.body.id;
    await jobs.until(async () => (await admin().get(`/api/v1/experiments/${experiment}`)).body.status === "finished");

    const dialog = await openMove(page, "production", "1.1.0");
    // The gate's verdict before anything moves: refused, on the experiment, with the evaluator that regressed.
    const preview = dialog.getByTestId("gate-verdict");
    await preview.getByText("gate refuses").waitFor();
    await expect(preview.textContent()).resolves.toContain(`experiment ${experiment} found a significant regression`);
    await textIs(preview.getByRole("row", { name: /no-bad/ }), "no-bad90.0%67.5%1230.0352");
    expect(await preview.getByRole("link", { name: `experiment ${experiment}` }).getAttribute("href")).toBe(
      `/experiments/${experiment}`,
    );
    expect(await preview.getByRole("link", { name: "compare 1.0.0 with 1.1.0" }).getAttribute("href")).toBe(
      `/experiments/${experiment}/compare?baseline=1.0.0&candidate=1.1.0`,
    );

    // The server refuses the move itself the same way: a 409 gate_failed, shown as the gate's refusal.
    await dialog.getByRole("button", { name: "Move production" }).click();
    const refusal = dialog.getByRole("alert");
    await textMatches(
      refusal,
      new RegExp(`Refused by the gate: nothing moved: production still serves 1\\.0\\.0\\..*experiment ${experiment}`),
    );
    await shot(page, "gates-02-refused");
    expect(await seriousViolations(page)).toEqual([]);

    const override = dialog.getByRole("button", { name: "Override the gate" });
    expect(await override.isDisabled()).toBe(true); // a reason is required
    await dialog.getByLabel(/^Reason/).fill("legal asked for the shorter answer");
    await override.click();
    await page.getByRole("status").filter({ hasText: "production now serves 1.1.0 (was 1.0.0)" }).waitFor();
    const entry = page.locator(".timeline .event").first();
    await entry.getByText("gate overridden").waitFor();
    await textMatches(
      entry,
      /moved 1\.0\.0 → 1\.1\.0.*legal asked for the shorter answer.*gate overridden.*significant regression/,
    );
    await shot(page, "gates-03-overridden");
  });

  it("moves production to a version that passes, and the ledger names the experiment", async () => {
    const dialog = await openMove(page, "production", "1.2.0");
    await dialog.getByTestId("gate-verdict").getByText("gate passes").waitFor();
    expect(await dialog.getByRole("button", { name: "Override the gate" }).count()).toBe(0);
    await dialog.getByRole("button", { name: "Move production" }).click();
    await page.getByRole("status").filter({ hasText: "production now serves 1.2.0 (was 1.1.0)" }).waitFor();
    const entry = page.locator(".timeline .event").first();
    await entry.getByText("gate passed").waitFor();
    expect(await entry.getByRole("link", { name: `experiment ${experiment}` }).getAttribute("href")).toBe(
      `/experiments/${experiment}`,
    );
    await shot(page, "gates-04-passed");
  });

  it("asks no gate for a rollback", async () => {
    const checks: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/api/v1/gates/")) checks.push(r.url());
    });
    await page
      .getByRole("row", { name: /production/ })
      .getByRole("button", { name: "Roll back…" })
      .click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Reason").fill("back to the overridden one");
    await dialog.getByRole("button", { name: "Roll back production" }).click();
    await page.getByRole("status").filter({ hasText: "production now serves 1.1.0 (was 1.2.0)" }).waitFor();
    await textMatches(page.locator(".timeline .event").first(), /rolled back 1\.2\.0 → 1\.1\.0/);
    expect(
      await page
        .locator(".timeline .event")
        .first()
        .getByText(/gate (passed|overridden)/)
        .count(),
    ).toBe(0);
    expect(checks).toEqual([]);
  });

  it("shows a write key the refusal of a gated label it may move, and no override", async () => {
    await admin()
      .put("/api/v1/gates/canary", { dataset: "golden", evaluators: ["no-bad"] })
      .expect(200);
    await moveLabel(admin(), PROMPT, "canary", "1.0.0");
    const writer = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    try {
      const wp = await writer.newPage();
      recordCspViolations(wp, cspViolations);
      await signIn(wp, await h.newKey("write"));
      // Settings shows the gates, read-only.
      await wp.goto("/settings");
      const section = wp.getByRole("region", { name: "Gates" });
      await section.getByRole("row", { name: /canary/ }).waitFor();
      expect(await section.getByRole("button").count()).toBe(0);

      const dialog = await openMove(wp, "canary", "1.1.0");
      await dialog.getByTestId("gate-verdict").getByText("gate refuses").waitFor();
      await dialog.getByText("Only an admin key may override the gate").waitFor();
      expect(await dialog.getByRole("button", { name: "Override the gate" }).count()).toBe(0);
      await dialog.getByRole("button", { name: "Move canary" }).click();
      await textMatches(
        dialog.getByRole("alert"),
        new RegExp(`Refused by the gate: nothing moved: canary still serves 1\\.0\\.0\\..*experiment ${experiment}`),
      );
      expect(await dialog.getByRole("button", { name: "Override the gate" }).count()).toBe(0);
      await shot(wp, "gates-05-write-key");
    } finally {
      await writer.close();
    }
    expect(cspViolations).toEqual([]);
  });

  it("an admin removes a gate after a confirmation saying what it changes", async () => {
    await page.goto("/settings");
    const section = page.getByRole("region", { name: "Gates" });
    await section
      .getByRole("row", { name: /canary/ })
      .getByRole("button", { name: "Delete…" })
      .click();
    const dialog = page.getByRole("dialog");
    await textIs(
      dialog.locator(".consequence"),
      "canary will move to any version again, with no experiment asked for.",
    );
    await dialog.getByRole("button", { name: "Delete the gate on canary" }).click();
    await dialog.waitFor({ state: "hidden" });
    await section.getByRole("row", { name: /canary/ }).waitFor({ state: "detached" });
    expect((await admin().get("/api/v1/gates")).body.data.map((g: { label: string }) => g.label)).toEqual([
      "production",
    ]);
  });
});
