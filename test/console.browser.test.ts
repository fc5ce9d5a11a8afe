// The web console in a real browser (Debian's Chromium driven by playwright-core) against the real server, started
// as `promptreg serve` is, on a real database. One browser and one server for the whole file; the tests run in
// order and build on each other, as a person's session would. Set SCREENSHOT_DIR to keep a PNG of every page.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
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
} from "./helpers/browser.js";
import { createTestDatabase, type TestDatabase } from "./helpers/harness.js";
import { checkSnippet } from "./helpers/snippet-types.js";

const root = fileURLToPath(new URL("..", import.meta.url));

const ADMIN_KEY = `pr_browser_admin_${randomBytes(16).toString("hex")}`;

let tmp: string;
let testDb: TestDatabase;
let server: ChildProcess;
let baseUrl: string;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
const cspViolations: string[] = [];

/** Starts `promptreg serve` on a free port and resolves with the console URL it prints. */
function startServer(env: NodeJS.ProcessEnv): Promise<string> {
  server = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /promptreg console: (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!.replace(/\/$/, ""));
    };
    server.stdout!.on("data", onData);
    server.stderr!.on("data", onData);
    server.once("exit", (code) => reject(new Error(`promptreg serve exited with ${code}:\n${output}`)));
  });
}

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1280, height: 860 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  context.on("page", (p) => recordCspViolations(p, cspViolations));
  return context;
}

const newPage = (context: BrowserContext): Promise<Page> => context.newPage();

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto("/");
  await p.waitForURL(/\/sign-in/);
  await p.getByLabel("API key").fill(key);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
}

/** A prompt page's tab (the page has other links with the same words, e.g. "Try it" next to a version). */
const tab = (p: Page, name: string) =>
  p.getByRole("navigation", { name: "Prompt pages" }).getByRole("link", { name, exact: true });

/** Replaces the text of a CodeMirror editor by typing, as a person would. */
async function typeInEditor(p: Page, label: string, text: string): Promise<void> {
  const editor = p.getByRole("textbox", { name: label });
  await editor.click();
  await p.keyboard.press("ControlOrMeta+A");
  await p.keyboard.press("Delete");
  await p.keyboard.type(text);
}

describe.skipIf(!hasChromium("console browser tests"))("web console in Chromium", () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "promptreg-browser-"));
    buildConsole(path.join(tmp, "console"));
    testDb = await createTestDatabase();
    baseUrl = await startServer({
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      PROMPTREG_ADMIN_KEY: ADMIN_KEY,
      PROMPTREG_CONSOLE_DIR: path.join(tmp, "console"),
      PROMPTREG_DATA_DIR: path.join(tmp, "data"),
      DATABASE_URL: testDb.url ?? "",
      LOG_LEVEL: "warn",
    });
    browser = await launchChromium();
    admin = await newContext();
    page = await newPage(admin);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGTERM");
      await exited;
    }
    await testDb?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    await shotOnFailure(page, "failed-", task);
  });

  it("keeps the first load under 250 KB of gzipped JavaScript", async () => {
    // What index.html loads before the first page shows: its script and the chunks it preloads.
    const dir = path.join(tmp, "console");
    const html = await readFile(path.join(dir, "index.html"), "utf8");
    const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
    expect(files.length).toBeGreaterThan(0);
    let gzipped = 0;
    for (const file of files) gzipped += gzipSync(await readFile(path.join(dir, file))).length;
    expect(gzipped).toBeLessThanOrEqual(250 * 1024);
  });

  it("serves the console with its security headers, and signs in with a key that stays nowhere in the page", async () => {
    // Loading signed out logs nothing in the browser's console: the session probe is not a failed request.
    const logged: string[] = [];
    const onConsole = (msg: { type(): string; text(): string }) => {
      if (msg.type() === "error" || msg.type() === "warning") logged.push(`${msg.type()}: ${msg.text()}`);
    };
    page.on("console", onConsole);
    const response = await page.goto("/prompts");
    const headers = response!.headers();
    expect(headers["content-security-policy"]).toContain("script-src 'self'");
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    await page.waitForURL(/\/sign-in\?next=%2Fprompts$/);
    await page.getByLabel("API key").waitFor();
    await page.waitForLoadState("networkidle");
    page.off("console", onConsole);
    expect(logged).toEqual([]);
    await shot(page, "01-sign-in");

    await page.getByLabel("API key").fill("pr_wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toContain("invalid API key");

    await page.getByLabel("API key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Prompts", level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/prompts");
    await page.getByText("No prompts yet").waitFor();

    const cookies = await admin.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: "promptreg_session", httpOnly: true, sameSite: "Strict", path: "/api" });
    // A string, because the tests are type-checked without the DOM library.
    const stored = await page.evaluate<{ cookie: string; local: string; session: string; html: string }>(`({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      html: document.documentElement.outerHTML,
    })`);
    expect(stored.cookie).toBe("");
    for (const place of [stored.local, stored.session, stored.html]) expect(place).not.toContain(ADMIN_KEY);
    expect(cookies[0]!.value).not.toContain(ADMIN_KEY);
  });

  it("publishes 1.0.0, shows a template error where it is, then previews a change as 2.0.0 and publishes it", async () => {
    await page.getByRole("link", { name: "New prompt" }).first().click();
    await page.getByRole("heading", { name: "New prompt" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("support/triage");
    await typeInEditor(page, "Template", "You support Acme.\nClassify: {{question}}");
    await expect(page.getByTestId("preview-verdict").textContent()).resolves.toMatch(/^1\.0\.0: first version/);
    await shot(page, "02-new-prompt");
    await page.getByRole("button", { name: "Publish 1.0.0" }).click();
    await page.waitForURL(/\/prompts\/support\/triage\?version=1\.0\.0$/);
    await page.getByRole("heading", { name: /^1\.0\.0/ }).waitFor();

    await tab(page, "Publish").click();
    // The editor starts from the highest version; a broken block is reported at its line and column.
    await page.getByText("Editing from 1.0.0").waitFor();
    await typeInEditor(
      page,
      "Template",
      "You support Acme.\nClassify: {{question}}\n{{#if tier}}for the {{tier}} tier",
    );
    const error = page.getByRole("alert");
    await expect(error.textContent()).resolves.toMatch(/^Template error:Parse error at line 3, column 34:\n/);
    expect(await page.locator(".cm-error-line").count()).toBe(1);
    await shot(page, "03-publish-template-error");
    // Handlebars' own errors ("if doesn't match each - 2:5", a 0-based column) read the same way: one format.
    await typeInEditor(page, "Template", "You support Acme.\n  {{#if tier}}Classify: {{question}}{{/each}}");
    const mismatch = error.filter({ hasText: "doesn't match" });
    await expect(mismatch.textContent()).resolves.toBe("Template error:if doesn't match each at line 2, column 6");
    expect(await page.locator(".cm-error-line").count()).toBe(1);

    await typeInEditor(page, "Template", "You support Acme.\nClassify for the {{tier}} tier: {{question}}");
    await page.getByLabel("Commit message").fill("Route by support tier");
    await expect(page.getByTestId("preview-verdict").textContent()).resolves.toBe(
      "2.0.0: major change from 1.0.0, required variable 'tier' added; template text changed",
    );
    await shot(page, "04-publish-preview");
    await page.getByRole("button", { name: "Publish 2.0.0" }).click();
    await page.waitForURL(/\?version=2\.0\.0$/);
    // The list was cached before the publish: wait for its refetch to bring 2.0.0.
    const versions = page.locator(".version-items");
    await versions.getByRole("button", { name: /^2\.0\.0/ }).waitFor();
    await expect(versions.getByRole("button").allTextContents()).resolves.toEqual([
      expect.stringMatching(/^2\.0\.0.*Route by support tier/),
      expect.stringMatching(/^1\.0\.0/),
    ]);
    await expect(page.locator("mark.hb-var").allTextContents()).resolves.toEqual(["{{tier}}", "{{question}}"]);
    await shot(page, "05-versions");
  });

  it("shows a TypeScript snippet that compiles against the client and uses the typed render of the prompt's type", async () => {
    const snippet = (p: Page) => p.locator("figure.code-block").filter({ hasText: "TypeScript" }).locator("pre");
    // A text prompt: renderText(), a string.
    const text = (await snippet(page).textContent())!;
    expect(text).toContain("prompt.renderText({");
    const textCheck = checkSnippet(text);
    expect(textCheck.errors).toEqual([]);
    expect(textCheck.types.text).toBe("string");

    // A chat prompt: renderMessages(), its messages.
    const published = await page.request.post("/api/v1/prompts/support%2Freply/versions", {
      headers: { Authorization: `Bearer ${ADMIN_KEY}` },
      data: {
        template: [
          { role: "system", content: "You answer for Acme." },
          { type: "placeholder", name: "history" },
          { role: "user", content: "{{question}}" },
        ],
      },
    });
    expect(published.status()).toBe(201);
    await page.goto("/prompts/support/reply");
    const chat = (await snippet(page).textContent())!;
    expect(chat).toContain("prompt.renderMessages({");
    // The checker prints the message type spelled out; assigning it to ChatMessage[] is the check.
    const chatCheck = checkSnippet(
      `${chat}\nimport type { ChatMessage } from "@promptreg/client";\nconst typed: ChatMessage[] = messages;`,
    );
    expect(chatCheck.errors).toEqual([]);
    expect(chatCheck.types.messages).not.toContain("string |");

    await page.goto("/prompts/support/triage?version=2.0.0");
    await page.getByRole("heading", { name: /^2\.0\.0/ }).waitFor();
  });

  it("opens the diff of the two versions: the bump first, then the template side by side", async () => {
    await page.getByRole("link", { name: "Diff with 1.0.0" }).click();
    await page.waitForURL(/\/-\/diff\?from=1\.0\.0&to=2\.0\.0$/);
    await expect(page.locator(".verdict").textContent()).resolves.toBe(
      "1.0.0 → 2.0.0 needs a major bump: required variable 'tier' added; template text changed.",
    );
    await page.locator(".d2h-files-diff").waitFor();
    await expect(page.locator(".d2h-ins .d2h-code-line-ctn").first().textContent()).resolves.toBe(
      "Classify for the {{tier}} tier: {{question}}",
    );
    await expect(page.getByRole("row", { name: /tier added/ }).count()).resolves.toBe(1);
    await shot(page, "06-diff");
  });

  it("wraps long prose lines in the side-by-side diff, both sides' rows level", async () => {
    const sentence = "Answer the customer's question about their order politely, citing the policy where it applies. ";
    const long = `You are a careful assistant. ${sentence.repeat(4)}{{question}}`;
    const changed = long.replace("politely", "politely and briefly").replace("{{question}}", "Question: {{question}}");
    for (const template of [`Intro\n${long}\nOutro`, `Intro\n${changed}\nOutro`]) {
      const res = await page.request.post("/api/v1/prompts/support%2Fpolicy/versions", {
        headers: { Authorization: `Bearer ${ADMIN_KEY}` },
        data: { template },
      });
      expect(res.status()).toBe(201);
    }
    await page.goto("/prompts/support/policy/-/diff?from=1.0.0&to=1.0.1");
    await page.locator(".d2h-files-diff").waitFor();
    const layout = await page.evaluate(() => {
      type El = {
        scrollWidth: number;
        clientWidth: number;
        textContent: string;
        getBoundingClientRect(): { top: number; height: number };
        querySelectorAll(s: string): Iterable<El>;
      };
      const d = globalThis as unknown as { document: El };
      const sides = [...d.document.querySelectorAll(".d2h-file-side-diff")];
      const rows = sides.map((side) => [...side.querySelectorAll("tr")].map((r) => r.getBoundingClientRect()));
      return {
        hidden: sides.map((side) => side.scrollWidth - side.clientWidth),
        lines: [...d.document.querySelectorAll(".d2h-code-line-ctn")].map((line) => line.textContent),
        tops: rows.map((side) => side.map((r) => r.top)),
        heights: rows[0]!.map((r) => r.height),
      };
    });
    // Nothing to scroll to on either side: every line is all there, wrapped to the width.
    expect(layout.hidden).toEqual([0, 0]);
    expect(layout.lines).toContain(changed);
    // The changed line takes several lines of text, and the rows after it are level on both sides.
    expect(Math.max(...layout.heights)).toBeGreaterThan(3 * Math.min(...layout.heights));
    expect(layout.tops[1]).toEqual(layout.tops[0]);
    await shot(page, "06-diff-long-lines");
    await page.goto("/prompts/support/triage/-/diff?from=1.0.0&to=2.0.0");
    await page.locator(".d2h-files-diff").waitFor();
  });

  it("moves production, rolls it back with a reason after a confirmation, sees the ledger entry, and undoes it", async () => {
    await tab(page, "Labels").click();
    await page.getByRole("button", { name: "Point a new label…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Label name").fill("production");
    await dialog.getByLabel("Version").selectOption("1.0.0");
    await dialog.getByRole("button", { name: "Move production" }).click();
    await page.getByRole("status").filter({ hasText: "production now serves 1.0.0" }).waitFor();

    await page
      .getByRole("row", { name: /production/ })
      .getByRole("button", { name: "Move…" })
      .click();
    await dialog.getByLabel("Version").selectOption("2.0.0");
    await expect(dialog.locator(".consequence").textContent()).resolves.toBe(
      "production will serve 2.0.0 (was 1.0.0) for every client within 60 s.",
    );
    await dialog.getByRole("button", { name: "Move production" }).click();
    await page.getByRole("status").filter({ hasText: "production now serves 2.0.0 (was 1.0.0)" }).waitFor();

    await page
      .getByRole("row", { name: /production/ })
      .getByRole("button", { name: "Roll back…" })
      .click();
    await expect(dialog.locator(".consequence").textContent()).resolves.toBe(
      "production will serve 1.0.0 (was 2.0.0) for every client within 60 s.",
    );
    const confirm = dialog.getByRole("button", { name: "Roll back production" });
    expect(await confirm.isDisabled()).toBe(true); // a reason is required
    await dialog.getByLabel("Reason").fill("Escalations doubled after 2.0.0");
    await shot(page, "07-rollback-confirm");
    await confirm.click();
    await page.getByRole("status").filter({ hasText: "production now serves 1.0.0 (was 2.0.0)" }).waitFor();
    const latestEntry = page.locator(".timeline .event").first();
    await expect(latestEntry.textContent()).resolves.toMatch(
      /rolled back 2\.0\.0 → 1\.0\.0.*Escalations doubled after 2\.0\.0/,
    );
    await shot(page, "08-labels-ledger");
    const resolved = await page.request.get("/api/v1/prompts/support%2Ftriage/resolve?ref=production", {
      headers: { Authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect((await resolved.json()).version).toBe("1.0.0");

    await page.getByRole("button", { name: "Undo" }).click();
    await expect(dialog.locator(".consequence").textContent()).resolves.toBe(
      "production will serve 2.0.0 (was 1.0.0) for every client within 60 s.",
    );
    await dialog.getByRole("button", { name: "Undo" }).click();
    await page.getByRole("status").filter({ hasText: "production now serves 2.0.0 (was 1.0.0)" }).waitFor();
    await expect(page.locator(".timeline .event").first().textContent()).resolves.toMatch(
      /rolled back 1\.0\.0 → 2\.0\.0.*Undo: back to 2\.0\.0/,
    );
  });

  it("renders on the server from a form built from the contract, and names what is missing", async () => {
    await tab(page, "Try it").click();
    await page.getByLabel(/^question/).fill("Where is my refund? 💸");
    await page.getByRole("button", { name: "Render" }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toMatch(/422 missing_variables.*tier/);
    expect(await page.getByLabel(/^tier/).getAttribute("aria-invalid")).toBe("true");
    await page.getByLabel(/^tier/).fill("gold");
    await page.getByRole("button", { name: "Render" }).click();
    await expect(page.getByLabel("Rendered text").textContent()).resolves.toBe(
      "You support Acme.\nClassify for the gold tier: Where is my refund? 💸",
    );
    await shot(page, "09-try-it");
  });

  it("creates a read key in Settings (shown once); that key sees no write buttons and a forged write is refused", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("Key name").fill("dashboard");
    await page.getByLabel("Role").selectOption("read");
    await page.getByRole("button", { name: "Create key" }).click();
    const readKey = (await page.locator(".secret-value").textContent())!;
    expect(readKey).toMatch(/^pr_/);
    await shot(page, "10-settings");

    const reader = await newContext();
    const rp = await newPage(reader);
    await signIn(rp, readKey);
    await expect(rp.locator(".whoami .who").textContent()).resolves.toBe("dashboard · read · project default");
    expect(await rp.getByRole("link", { name: "New prompt" }).count()).toBe(0);
    await rp.goto("/prompts/support/triage/-/labels");
    await rp.getByRole("row", { name: /production/ }).waitFor();
    expect(await rp.getByRole("button", { name: /Move|Roll back|Point a new label/ }).count()).toBe(0);
    expect(await rp.getByRole("link", { name: "Publish" }).count()).toBe(0);
    await shot(rp, "11-read-key-labels");

    // The API refuses what the page does not offer, with or without the CSRF token.
    const forged = await rp.evaluate(async () => {
      const session = (await (await fetch("/api/v1/session")).json()) as { csrfToken: string };
      const post = (headers: Record<string, string>) =>
        fetch("/api/v1/prompts/support%2Ftriage/labels/production", {
          method: "PUT",
          headers: { "Content-Type": "application/json", ...headers },
          body: JSON.stringify({ version: "1.0.0", reason: "forged" }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: { message: string } } }));
      return { withToken: await post({ "X-CSRF-Token": session.csrfToken }), without: await post({}) };
    });
    expect(forged.without.status).toBe(403);
    expect(forged.without.body.error.message).toMatch(/CSRF/);
    expect(forged.withToken.status).toBe(403);
    expect(forged.withToken.body.error.message).toMatch(/protected/);

    // Revoking the key in Settings ends its session: the next request sends the reader back to sign in.
    await page
      .getByRole("row", { name: /dashboard/ })
      .getByRole("button", { name: "Revoke…" })
      .click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke dashboard" }).click();
    await page.getByRole("row", { name: /dashboard/ }).waitFor({ state: "detached" });
    await rp.goto("/prompts");
    await rp.waitForURL(/\/sign-in/);
    await reader.close();
  });

  it("says in the header who is signed in, naming the key only when its name says more than its role", async () => {
    const who = (p: Page) => p.locator(".whoami .who").textContent();
    await expect(who(page)).resolves.toBe("admin (PROMPTREG_ADMIN_KEY) · admin · project default");

    // A key named after its role (as a new project's first key, "admin", is): the role once.
    const created = await page.request.post("/api/v1/keys", {
      headers: { Authorization: `Bearer ${ADMIN_KEY}` },
      data: { name: "write", role: "write" },
    });
    expect(created.status()).toBe(201);
    const writer = await newContext();
    const wp = await newPage(writer);
    await signIn(wp, (await created.json()).key);
    await expect(who(wp)).resolves.toBe("write · project default");
    await shot(wp, "12-header-key-named-as-role", 60);
    await writer.close();
  });

  it("refuses a write through the cookie without the CSRF token, and writes nothing", async () => {
    const result = await page.evaluate(async () => {
      const r = await fetch("/api/v1/prompts/csrf%2Fprobe/versions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ template: "forged {{x}}" }),
      });
      const exists = await fetch("/api/v1/prompts/csrf%2Fprobe");
      return { status: r.status, body: (await r.json()) as { error: { message: string } }, exists: exists.status };
    });
    expect(result.status).toBe(403);
    expect(result.body.error.message).toMatch(/CSRF/);
    expect(result.exists).toBe(404);
  });

  it("shows the API reference from the server's OpenAPI document, fetching the viewer only on that page", async () => {
    const fetched: string[] = [];
    const onRequest = (r: { url(): string }) => fetched.push(r.url());
    page.on("request", onRequest);
    try {
      await page.goto("/prompts");
      await page.getByRole("link", { name: "triage" }).waitFor();
      expect(fetched.filter((f) => /swagger/i.test(f))).toEqual([]);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API" }).click();
      await page.getByRole("heading", { name: "API reference", level: 1 }).waitFor();
      const document = await (await page.request.get("/api/v1/openapi.json")).json();
      const operations = Object.values(document.paths as Record<string, object>).flatMap((item) => Object.keys(item));
      // Every operation of the document, as Swagger UI lists them.
      const blocks = page.getByTestId("reference").locator(".opblock");
      await expect.poll(() => blocks.count(), { timeout: 30_000 }).toBe(operations.length);
      await page.getByText("Resolve a reference to one version").first().waitFor();
      expect(fetched.some((f) => /\/assets\/swagger-ui-es-bundle-.*\.js$/.test(f))).toBe(true);
      // Nothing from anywhere else: no fonts, no validator badge.
      expect(fetched.filter((f) => !f.startsWith(`${baseUrl}/`))).toEqual([]);
      await shot(page, "13-reference");
    } finally {
      page.off("request", onRequest);
    }
  });

  it("has no serious accessibility violations on any page, and no Content-Security-Policy violation", async () => {
    const pages: [string, string, (p: Page) => Promise<unknown>][] = [
      ["prompts", "/prompts", (p) => p.getByRole("link", { name: "triage" }).waitFor()],
      ["folder", "/prompts?folder=support", (p) => p.getByRole("link", { name: "triage" }).waitFor()],
      ["versions", "/prompts/support/triage", (p) => p.getByRole("heading", { name: /^2\.0\.0/ }).waitFor()],
      ["labels", "/prompts/support/triage/-/labels", (p) => p.locator(".timeline .event").first().waitFor()],
      ["diff", "/prompts/support/triage/-/diff?from=1.0.0&to=2.0.0", (p) => p.locator(".d2h-files-diff").waitFor()],
      ["try", "/prompts/support/triage/-/try", (p) => p.getByRole("button", { name: "Render" }).waitFor()],
      [
        "publish",
        "/prompts/support/triage/-/publish",
        (p) => p.getByTestId("preview-verdict").or(p.getByText("No change")).waitFor(),
      ],
      ["new", "/new", (p) => p.getByRole("heading", { name: "New prompt" }).waitFor()],
      ["settings", "/settings", (p) => p.getByRole("heading", { name: "API keys" }).waitFor()],
      ["reference", "/reference", (p) => p.locator(".opblock").first().waitFor()],
    ];
    const found: Record<string, string[]> = {};
    for (const [name, url, ready] of pages) {
      await page.goto(url);
      await ready(page);
      found[name] = await seriousViolations(page);
      await shot(page, `page-${name}`);
    }
    const anonymous = await newContext();
    const ap = await newPage(anonymous);
    await ap.goto("/sign-in");
    await ap.getByLabel("API key").waitFor();
    found["sign-in"] = await seriousViolations(ap);
    await anonymous.close();

    expect(Object.entries(found).filter(([, v]) => v.length > 0)).toEqual([]);
    expect(cspViolations).toEqual([]);
  }, 240_000);
});
