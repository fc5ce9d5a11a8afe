// The client's root entry in a real browser: bundled for the browser by esbuild (which refuses a Node built-in), loaded
// in headless Chromium from the registry's own origin (no CORS needed), fetching and rendering prompts from the real
// registry. Runs where a Chromium is installed (Debian: apt-get install chromium).
import { existsSync } from "node:fs";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { build, type Metafile } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, enc, type Harness } from "../../test/helpers/harness.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((file) => existsSync(file));
if (!CHROMIUM)
  console.log("browser.test.ts skipped: no Chromium at /usr/bin/chromium to run the client's browser bundle in");

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
  window.__result = {
    text: greeting.renderText({ name: "Zoë", company: "Ada & <Co>" }),
    sources: [greeting.source, again.source, pinned.source],
    version: greeting.version,
    messages: chat.renderMessages({ question: "¿Dónde está mi pedido nº 42?" }),
    renderError,
    pinned: pinned.renderText({ name: "x", company: "y" }),
  };
} catch (err) {
  window.__result = { error: String(err && err.stack || err) };
}
</script>`;
}

describe.skipIf(!CHROMIUM)("the client in a browser", () => {
  let harness: Harness;
  let server: http.Server;
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
    server = http.createServer((req, res) => {
      if (req.url === PAGE) res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(pageHtml);
      else if (req.url === `${PAGE}client.js`)
        res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(bundle);
      else harness.app(req, res);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
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
  });

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
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
    const published = await admin.post(`/api/v1/prompts/${enc("browser/greeting")}/versions`, {
      template: "Hello {{name}} from {{company}}",
      labels: ["production"],
    });
    expect(published.status).toBe(201);
    const chat = await admin.post(`/api/v1/prompts/${enc("browser/chat")}/versions`, {
      template: [
        { role: "system", content: "You answer in the customer's language." },
        { role: "user", content: "{{question}}" },
      ],
      labels: ["staging"],
    });
    expect(chat.status).toBe(201);

    const tab = await browser.newPage();
    try {
      await tab.goto(`${origin}${PAGE}`);
      await tab.waitForFunction("window.__result !== undefined");
      const result = (await tab.evaluate("window.__result")) as PageResult;
      expect(result.error).toBeUndefined();
      expect(result).toEqual({
        text: "Hello Zoë from Ada & <Co>",
        sources: ["network", "cache", "network"],
        version: published.body.version,
        messages: [
          { role: "system", content: "You answer in the customer's language." },
          { role: "user", content: "¿Dónde está mi pedido nº 42?" },
        ],
        renderError: { name: "RenderError", code: "missing_variables", missing: ["company", "name"] },
        pinned: "Hello x from y",
      });
    } finally {
      await tab.close();
    }
  });
});
