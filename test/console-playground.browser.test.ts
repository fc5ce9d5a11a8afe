// The Try-it page's playground in a real browser (Debian's Chromium driven by playwright-core): the real app in this
// process against a fake OpenAI server that streams (test/helpers/fake-openai.ts). A person renders a version, sends
// it to the model, sees the streamed answer with its tokens and a link to its trace, and saves the variables and the
// answer as an item of a dataset, which the dataset's page then lists. Set SCREENSHOT_DIR to keep the PNGs.
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildConsole, hasChromium, launchChromium, shot, shotOnFailure } from "./helpers/browser.js";
import { publishVersion } from "./helpers/factories.js";
import { type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.js";
import { createHarness, type Harness } from "./helpers/harness.js";

let tmp: string;
let h: Harness;
let fake: FakeOpenAI;
let server: Server;
let browser: Browser;
let page: Page;

describe.skipIf(!hasChromium("console playground browser test"))("the playground in Chromium", () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "promptreg-playground-"));
    buildConsole(path.join(tmp, "console"));
    fake = await startFakeOpenAI();
    h = await createHarness({ consoleDir: path.join(tmp, "console"), allowPrivateConnections: true });
    server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const as = h.as(h.adminKey);
    await publishVersion(as, "support/answer", { template: "Answer {{q}}", version: "1.0.0" } as never);
    await as
      .post("/api/v1/connections", { name: "openai", baseUrl: fake.baseURL, model: "gpt-test", timeoutMs: 10_000 })
      .expect(201);
    await as.post("/api/v1/datasets", { name: "golden" }).expect(201);

    browser = await launchChromium();
    const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    await page.goto("/sign-in");
    await page.getByLabel("API key").fill(h.adminKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await fake?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
    await h?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    await shotOnFailure(page, "playground-failed-", task);
  });

  it("streams the model's answer with its tokens, and saves it as a dataset item", async () => {
    await page.goto("/prompts/support/answer/-/try?ref=latest");
    await page.getByLabel(/^q/).fill("where is my order");
    await page.getByLabel("Connection").selectOption("openai");
    await page.getByRole("button", { name: "Send to model" }).click();
    await expect.poll(() => page.getByRole("region", { name: "Model answer" }).textContent()).toBe("hello");
    const figures = page.getByTestId("playground-figures");
    await figures.waitFor();
    expect(await figures.textContent()).toContain("11 prompt + 2 completion tokens");
    expect(await figures.getByRole("link", { name: "View trace" }).getAttribute("href")).toMatch(
      /^\/traces\/[0-9a-f]{32}$/,
    );
    await shot(page, "playground-answer");

    await page.getByLabel("Dataset").selectOption("golden");
    await page.getByRole("button", { name: "Save as dataset item" }).click();
    await page.getByRole("status").filter({ hasText: "is now at version 1" }).waitFor();
    await page.getByRole("status").getByRole("link", { name: "golden" }).click();
    await page.waitForURL(/\/datasets\/golden$/);
    await page.getByText("where is my order").first().waitFor();
    const items = await h.as(h.adminKey).get("/api/v1/datasets/golden/items");
    expect(items.body.data).toMatchObject([{ variables: { q: "where is my order" }, expected: "hello" }]);
  });
});
