// The console's guarded rollouts in a real browser (Debian's Chromium driven by playwright-core), on the real app and
// database: an admin starts a rollout from the Labels page's form, sees its state, step and arms, pauses, resumes
// and aborts it with reasons the ledger shows; the guard's verdict appears once it has evaluated; a read key sees
// the rollout but no controls. Waits are on the page's state, never on a clock. Set SCREENSHOT_DIR to keep the PNGs.
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
  textMatches,
} from "./helpers/browser.js";
import { publishPrompt } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";

const PROMPT = "support/rollout";
const LABELS_PAGE = "/prompts/support/rollout/-/labels";

let tmp: string;
let h: Harness;
let server: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const cspViolations: string[] = [];
let t = Date.now();

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto("/sign-in");
  await p.getByLabel("API key").fill(key);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
}

describe.skipIf(!hasChromium("console rollout browser tests"))("guarded rollouts in Chromium", () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "promptreg-rollouts-"));
    buildConsole(path.join(tmp, "console"));
    h = await createHarness({ consoleDir: path.join(tmp, "console"), now: () => t });
    server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await publishPrompt(h.as(h.adminKey), PROMPT, ["Answer {{q}}", "Answer {{q}} briefly"], { production: "1.0.0" });
    browser = await launchChromium();
    context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    recordCspViolations(page, cspViolations);
    await signIn(page, h.adminKey);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
    await h?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    await shotOnFailure(page, "rollouts-failed-", task);
  });

  it("an admin starts a rollout from the Labels page and sees its state, step and arms", async () => {
    await page.goto(LABELS_PAGE);
    const panel = page.getByRole("region", { name: "Rollout" });
    await panel.getByText("No rollout on production yet.").waitFor();
    await panel.getByRole("button", { name: "Start a rollout…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Candidate version").selectOption("1.0.1");
    await dialog.getByLabel("Steps (% of users, increasing)").fill("10, 100");
    await dialog.getByLabel("Minimum minutes per step").fill("0");
    await dialog.getByLabel("Reason (optional)").fill("shorter answers");
    await textMatches(dialog.getByRole("status"), /production keeps 1\.0\.0; 1\.0\.1 gets 10% → 100% of users/);
    await dialog.getByRole("button", { name: "Start the rollout" }).click();
    await dialog.waitFor({ state: "hidden" });
    await textMatches(panel.locator("p").first(), /running\s*1\.0\.0 → 1\.0\.1, step 1 of 2 \(10% → 100%\)/);
    await panel.getByText("The guard has not evaluated it yet.").waitFor();
    await textMatches(page.locator(".timeline li").first(), /rollout started\s*holding 1\.0\.0.*shorter answers/);
    await shot(page, "rollouts-01-running");
    expect(await seriousViolations(page)).toEqual([]);
    // The compare page, on the rollout's calls only.
    await panel.getByRole("link", { name: "Compare the arms" }).click();
    await textMatches(page.locator(".notice").first(), /Only the calls of rollout \S+, arm against arm\./);
    expect(new URL(page.url()).searchParams.get("versions")).toBe("1.0.0,1.0.1");
    expect(
      (await h.as(h.adminKey).get(`/api/v1/prompts/${encodeURIComponent(PROMPT)}/labels/production/rollout`)).body,
    ).toMatchObject({ state: "running", candidateVersion: "1.0.1", steps: [{ share: 0.1 }, { share: 1 }] });
  });

  it("shows the guard's verdict, and pauses, resumes and aborts with reasons the ledger keeps", async () => {
    t += 60_000;
    await h.rollouts.tick();
    await page.goto(LABELS_PAGE);
    const panel = page.getByRole("region", { name: "Rollout" });
    await textMatches(
      panel.locator(".rollout-verdict"),
      /Guard \(1 evaluation, last.*the guard judges from 100 units per arm/,
    );

    await panel.getByLabel("Reason (optional, kept in the ledger)").fill("incident elsewhere");
    await panel.getByRole("button", { name: "Pause" }).click();
    await panel.getByRole("button", { name: "Resume" }).waitFor();
    await textMatches(page.locator(".timeline li").first(), /rollout paused.*incident elsewhere/);
    await panel.getByRole("button", { name: "Resume" }).click();
    await panel.getByRole("button", { name: "Pause" }).waitFor();
    await panel.getByLabel("Reason (optional, kept in the ledger)").fill("not today");
    await panel.getByRole("button", { name: "Abort" }).click();
    await panel.getByRole("button", { name: "Start a rollout…" }).waitFor();
    await textMatches(panel.locator("p").first(), /aborted\s*1\.0\.0 → 1\.0\.1/);
    await textMatches(page.locator(".timeline li").first(), /rollout aborted.*not today/);
    await shot(page, "rollouts-02-aborted");
    expect(cspViolations).toEqual([]);
  });

  it("shows a read key the rollout without its controls", async () => {
    const reader = await context.browser()!.newContext({ baseURL: context.pages()[0]!.url().split("/prompts")[0] });
    const p = await reader.newPage();
    try {
      await signIn(p, await h.newKey("read"));
      await p.goto(LABELS_PAGE);
      const panel = p.getByRole("region", { name: "Rollout" });
      await textMatches(panel.locator("p").first(), /aborted/);
      expect(await panel.getByRole("button").count()).toBe(0);
    } finally {
      await reader.close();
    }
  });
});
