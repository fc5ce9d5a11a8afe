// The client's root entry in a real browser: bundled for the browser by esbuild (which refuses a Node built-in), loaded
// in headless Chromium from the registry's own origin (no CORS needed), fetching and rendering prompts from the real
// registry. Runs where a Chromium is installed (Debian: apt-get install chromium).
import http from "node:http";
import path from "node:path";
import { build, type Metafile } from "esbuild";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasChromium, launchChromium } from "../../test/helpers/browser.js";
import { publishVersion } from "../../test/helpers/factories.js";
import { createHarness, type Harness } from "../../test/helpers/harness.js";
import { listen, type Listener } from "../../test/helpers/listen.js";

const ROOT_ENTRY = path.resolve(import.meta.dirname, "../src/index.ts");
const PAGE = "/browser-test/";

/** What the page computes with the bundled client; see `page()`. */
interface PageResult {
  error?: string;
  text?: string;
  sources?: string[];
  version?: string;
  messages?: unknown;
  renderError?: { name: string; code: string; missing: string[] };
  pinned?: string;
  live?: string[];
}

/** The test page: imports the bundle as an ES module and leaves what it saw in `window.__result`. */
function page(apiKey: string): string {
  return `<!doctype html><meta charset="utf-8"><script type="module">
import { createClient, RenderError } from "./client.js";
try {
  const registry = createClient({ baseUrl: location.origin, apiKey: ${JSON.stringify(apiKey)} });
  const greeting = await registry.get("browser/greeting");
  const again = await registry.get("browser/greeting");
  const chat = await registry.get("browser/chat", { label: "staging" });
  let renderError;
  try {
    greeting.renderText({});
  } catch (err) {
    renderError = { name: err.name, code: err instanceof RenderError ? err.code : "not a RenderError", missing: err.details.missing };
  }
  // A browser's own fetch given as the option works as the default does.
  const withFetch = createClient({ baseUrl: location.origin, apiKey: ${JSON.stringify(apiKey)}, fetch: window.fetch });
  const pinned = await withFetch.get("browser/greeting", { version: greeting.version });
  // Live updates, off by default here, on when asked: the stream read through the browser's fetch brings a rollback
  // to a client whose TTL is an hour.
  const live = createClient({ baseUrl: location.origin, apiKey: ${JSON.stringify(apiKey)}, live: true, ttlMs: 3600000 });
  const beforeRollback = (await live.get("browser/live")).version;
  await fetch("/api/v1/prompts/browser%2Flive/labels/production/rollback", {
    method: "POST",
    headers: { Authorization: "Bearer " + ${JSON.stringify(apiKey)}, "Content-Type": "application/json" },
    body: JSON.stringify({ reason: "browser test" }),
  });
  let afterRollback = beforeRollback;
  while (afterRollback === beforeRollback) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    afterRollback = (await live.get("browser/live")).version;
  }
  live.close();
  window.__result = {
    text: greeting.renderText({ name: "Zoë", company: "Ada & <Co>" }),
    sources: [greeting.source, again.source, pinned.source],
    version: greeting.version,
    messages: chat.renderMessages({ question: "¿Dónde está mi pedido nº 42?" }),
    renderError,
    pinned: pinned.renderText({ name: "x", company: "y" }),
    live: [beforeRollback, afterRollback],
  };
} catch (err) {
  window.__result = { error: String(err && err.stack || err) };
}
</script>`;
}

describe.skipIf(!hasChromium("the client's browser test"))("the client in a browser", () => {
  let harness: Harness;
  let server: Listener;
  let origin: string;
  let browser: Browser;
  let bundle: string;
  let metafile: Metafile;

  beforeAll(async () => {
    const built = await build({
      entryPoints: [ROOT_ENTRY],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    bundle = built.outputFiles[0]!.text;
    metafile = built.metafile;
    harness = await createHarness();
    const pageHtml = page(harness.adminKey);
    // The page and the bundle from the registry's own origin; everything else goes to the registry.
    server = await listen(
      http.createServer((req, res) => {
        if (req.url === PAGE) res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(pageHtml);
        else if (req.url === `${PAGE}client.js`)
          res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(bundle);
        else harness.app(req, res);
      }),
    );
    origin = server.url;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await harness?.close();
  });

  it("bundles the root entry without a Node built-in", () => {
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.some((input) => input.endsWith("client/src/client.ts"))).toBe(true);
    expect(inputs.filter((input) => input.startsWith("node:") || /^(fs|crypto|path|os)$/.test(input))).toEqual([]);
    // lru-cache resolves to its browser build, which needs no diagnostics_channel.
    expect(inputs.filter((input) => input.includes("lru-cache"))).toEqual([
      expect.stringContaining("lru-cache/dist/esm/browser/"),
    ]);
  });

  it("gets, caches and renders prompts from the real registry", async () => {
    const admin = harness.as(harness.adminKey);
    const published = await publishVersion(admin, "browser/greeting", {
      template: "Hello {{name}} from {{company}}",
      labels: ["production"],
    });
    await publishVersion(admin, "browser/chat", {
      template: [
        { role: "system", content: "You answer in the customer's language." },
        { role: "user", content: "{{question}}" },
      ],
      labels: ["staging"],
    });
    for (const template of ["one", "two"])
      await publishVersion(admin, "browser/live", { template, labels: ["production"] });

    const tab = await browser.newPage();
    try {
      await tab.goto(`${origin}${PAGE}`);
      await tab.waitForFunction("window.__result !== undefined");
      const result = (await tab.evaluate("window.__result")) as PageResult;
      expect(result.error).toBeUndefined();
      expect(result).toEqual({
        text: "Hello Zoë from Ada & <Co>",
        sources: ["network", "cache", "network"],
        version: published.version,
        messages: [
          { role: "system", content: "You answer in the customer's language." },
          { role: "user", content: "¿Dónde está mi pedido nº 42?" },
        ],
        renderError: { name: "RenderError", code: "missing_variables", missing: ["company", "name"] },
        pinned: "Hello x from y",
        live: ["1.0.1", "1.0.0"],
      });
    } finally {
      await tab.close();
    }
  });
});
