// What the browser test files share: Debian's Chromium driven by playwright-core (Playwright's own browser download
// cannot be reached from these machines), the console built from the current sources, screenshots, the axe scan and
// the Content-Security-Policy reports. A file whose browser is missing skips, and says why.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { expect } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser"])
    if (existsSync(candidate)) return candidate;
  const which = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() || undefined : undefined;
}

/** CHROMIUM_PATH, else Debian's Chromium, else one on the PATH; undefined when there is none. */
const chromiumPath = findChromium();

/** Whether the browser tests named `what` can run; when they cannot, prints a line saying so and how to fix it. */
export function hasChromium(what: string): boolean {
  if (!chromiumPath)
    console.warn(`${what} skipped: no Chromium found (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  return chromiumPath !== undefined;
}

/** Headless, without the background traffic (updates, sync) that a test run has no use for. */
export function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error("no Chromium: check hasChromium() first");
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Every file the console's build reads: its sources, the client's (the wire schemas), and the lock file. */
function consoleSourcesHash(): string {
  const hash = createHash("sha256");
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "dist") walk(file);
      } else hash.update(`${path.relative(root, file)}\0`).update(readFileSync(file));
    }
  };
  for (const dir of ["web", "client/src"]) walk(path.join(root, dir));
  hash.update(readFileSync(path.join(root, "package-lock.json")));
  return hash.digest("hex").slice(0, 16);
}

/**
 * Builds the console from the current sources into `outDir`. A build of the same sources is made once per checkout
 * and copied (each browser file of a run, on each database, would otherwise spend half a minute building it again).
 */
export function buildConsole(outDir: string): void {
  const cache = path.join(root, "node_modules", ".cache", "promptreg-console", consoleSourcesHash());
  if (!existsSync(path.join(cache, "index.html"))) {
    const building = `${cache}.${process.pid}.building`;
    const vite = path.join(root, "node_modules", "vite", "bin", "vite.js");
    const r = spawnSync(
      process.execPath,
      [vite, "build", "web", "--outDir", building, "--emptyOutDir", "--logLevel", "warn"],
      { cwd: root, encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
    // Two files building at once: the first rename wins, the other's build is dropped.
    try {
      renameSync(building, cache);
    } catch {
      rmSync(building, { recursive: true, force: true });
    }
  }
  cpSync(cache, outDir, { recursive: true });
}

/**
 * Waits until the element's text contains `expected` (the page changes it when its request answers, not at the
 * click), then checks it is exactly `expected`: a read made at once would race the page.
 */
export async function textIs(locator: Locator, expected: string): Promise<void> {
  await locator.filter({ hasText: expected }).first().waitFor();
  expect(await locator.first().textContent()).toBe(expected);
}

/** Waits until the element's text matches `expected` (see textIs). */
export async function textMatches(locator: Locator, expected: string | RegExp): Promise<void> {
  await locator.filter({ hasText: expected }).first().waitFor();
  expect(await locator.first().textContent()).toMatch(expected);
}

/** Waits until there are `n` of the elements (at least one), then checks there are exactly `n`. */
export async function countIs(locator: Locator, n: number): Promise<void> {
  await locator.nth(n - 1).waitFor();
  expect(await locator.count()).toBe(n);
}

/** SCREENSHOT_DIR: where `shot` keeps a PNG of each page; none are taken without it. */
const screenshotDir = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : undefined;

/** A full-page PNG named `name` in SCREENSHOT_DIR, or only its top `clipHeight` pixels. */
export async function shot(p: Page, name: string, clipHeight?: number): Promise<void> {
  if (!screenshotDir) return;
  await mkdir(screenshotDir, { recursive: true });
  const clip = clipHeight ? { x: 0, y: 0, width: p.viewportSize()!.width, height: clipHeight } : undefined;
  await p.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true, ...(clip ? { clip } : {}) });
}

/** A screenshot of the page as it was when a test failed, named after the test. */
export async function shotOnFailure(
  p: Page | undefined,
  prefix: string,
  task: { name: string; result?: { state?: string } },
): Promise<void> {
  if (task.result?.state === "fail" && p) await shot(p, `${prefix}${task.name.slice(0, 40).replace(/\W+/g, "-")}`);
}

/** Serious and critical axe findings, one line each, so a failure says what to fix. */
export async function seriousViolations(p: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page: p }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** Collects into `into` what the page's console says about the Content-Security-Policy (a refused script, style...). */
export function recordCspViolations(p: Page, into: string[]): void {
  p.on("console", (msg) => {
    if (/Content[- ]Security[- ]Policy/i.test(msg.text())) into.push(msg.text());
  });
}
