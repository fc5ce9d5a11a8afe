// What the browser test files share: Debian's Chromium driven by playwright-core (Playwright's own browser download
// cannot be reached from these machines), the console built from the current sources, screenshots, the axe scan and
// the Content-Security-Policy reports. A file whose browser is missing skips, and says why.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type Page } from "playwright-core";

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

/** Builds the console into `outDir`, so that a test always runs the current sources. */
export function buildConsole(outDir: string): void {
  const vite = path.join(root, "node_modules", "vite", "bin", "vite.js");
  const r = spawnSync(
    process.execPath,
    [vite, "build", "web", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"],
    { cwd: root, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
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
