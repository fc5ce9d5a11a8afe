// The console's compare, over-time and trace pages in a real browser (Debian's Chromium driven by playwright-core),
// on a known ground truth delivered through the real OTLP receiver: 2,000 LLM spans of 1.0.0 failing 5% in the
// three hours before production moved to 2.0.0, and 2,000 of 2.0.0 failing 9% in the three hours after. One server
// (the real app, in this process so the ledger's move can be dated into the data's past) and one browser for the
// file; the tests run in order, as an on-call engineer's session would. Set SCREENSHOT_DIR to keep the PNGs.
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  buildConsole,
  hasChromium,
  launchChromium,
  recordCspViolations,
  seriousViolations,
  shot,
  shotOnFailure,
} from "./helpers/browser.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { otlpJson, type SpanSpec } from "./helpers/otlp.js";

const NAME = "support/triage";
const ENC = encodeURIComponent(NAME);
const N = 2000;
const HOUR = 3_600_000;
// The move happened about three hours ago, on a 5-minute boundary so that no bucket holds spans of both sides; the
// data lies in the past, and a 24 h range holds all of it.
const MOVE_MS = Math.floor((Date.now() - 3 * HOUR) / 300_000) * 300_000;
const REASON_MOVE = "Ship 2.0.0: shorter answers";

let tmp: string;
let h: Harness;
let server: Server;
let baseUrl: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const cspViolations: string[] = [];

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
// 2.0.0 fails on 9 of every 100 spans, 1.0.0 on 5: exactly 180 and 100 of 2,000.
const FAIL_9 = new Set([3, 14, 25, 36, 47, 58, 69, 80, 91]);
const fails = (version: string, i: number) => (version === "1.0.0" ? i % 20 === 0 : FAIL_9.has(i % 100));
const exceptionMessage = (version: string, i: number) =>
  `429 Rate limit reached for gpt-4o-mini — request ${version}#${i}`;

/** One trace: a CHAIN root carrying the prompt (as context propagation does), a TOOL span, then the LLM call. */
function traceSpans(version: string, i: number, startMs: number, traceNo: number): SpanSpec[] {
  const ns = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();
  const latency = version === "1.0.0" ? 400 + ((i * 37) % 300) : 520 + ((i * 41) % 400);
  const failed = fails(version, i);
  const traceId = hex(traceNo, 32);
  const rootId = hex(traceNo * 4 + 1, 16);
  const question = `Where is my refund? 💸 order #${1000 + i}`;
  const prompt = { "prompt.id": NAME, "llm.prompt_template.version": version };
  const completion = 30 + (i % 11);
  return [
    {
      traceId,
      spanId: rootId,
      name: "answer-ticket",
      start: ns(startMs),
      end: ns(startMs + latency + 40),
      status: failed ? { code: 2, message: "llm call failed" } : { code: 1 },
      attributes: { "openinference.span.kind": "CHAIN", ...prompt },
    },
    {
      traceId,
      spanId: hex(traceNo * 4 + 2, 16),
      parentSpanId: rootId,
      name: "lookup-order",
      start: ns(startMs + 2),
      end: ns(startMs + 14),
      status: { code: 1 },
      attributes: { "openinference.span.kind": "TOOL", "tool.name": "orders.get" },
    },
    {
      traceId,
      spanId: hex(traceNo * 4 + 3, 16),
      parentSpanId: rootId,
      name: "ChatCompletion",
      start: ns(startMs + 20),
      end: ns(startMs + 20 + latency),
      status: failed ? { code: 2 } : { code: 1 },
      events: failed
        ? [
            {
              name: "exception",
              timeUnixNano: ns(startMs + 20 + latency),
              attributes: { "exception.type": "RateLimitError", "exception.message": exceptionMessage(version, i) },
            },
          ]
        : [],
      attributes: {
        "openinference.span.kind": "LLM",
        ...prompt,
        "llm.prompt_template.template": `Classify this support question: {{question}}${version === "2.0.0" ? " Answer in one word." : ""}`,
        "llm.prompt_template.variables": JSON.stringify({ question }),
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": `Classify this support question: ${question}${version === "2.0.0" ? " Answer in one word." : ""}`,
        ...(failed
          ? {}
          : { "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "billing" }),
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 120 + (i % 7),
        "llm.token_count.completion": completion,
        "llm.token_count.total": 120 + (i % 7) + completion,
        "llm.cost.total": 0.000018 + completion * 0.0000006,
        "promptreg.prompt.label": "production",
        "promptreg.prompt.source": i % 10 === 9 ? "cache" : i % 50 === 7 ? "stale" : "network",
        "session.id": `session-${i % 40}`,
        "user.id": `user-${i % 25}`,
      },
    },
  ];
}

/** The ground truth, and a little traffic no version can claim (an unknown version, a fallback of none). */
function groundTruth(): SpanSpec[] {
  const spans: SpanSpec[] = [];
  const step = (3 * HOUR - 60_000) / N;
  for (let i = 0; i < N; i++) spans.push(...traceSpans("1.0.0", i, MOVE_MS - 3 * HOUR + i * step, 1 + i));
  for (let i = 0; i < N; i++) spans.push(...traceSpans("2.0.0", i, MOVE_MS + 30_000 + i * step, 100_000 + i));
  for (let i = 0; i < 5; i++) {
    const [llm] = traceSpans("9.9.9", i, MOVE_MS + HOUR + i * 1000, 200_000 + i).slice(2);
    spans.push({ ...llm!, parentSpanId: undefined });
  }
  for (let i = 0; i < 3; i++) {
    const [llm] = traceSpans("fallback", i, MOVE_MS + 2 * HOUR + i * 1000, 300_000 + i).slice(2);
    spans.push({
      ...llm!,
      parentSpanId: undefined,
      attributes: { ...llm!.attributes, "promptreg.prompt.source": "fallback" },
    });
  }
  return spans;
}

async function apiJson(p: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${baseUrl}/api/v1${p}`, {
    ...init,
    headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/json", ...(init.headers ?? {}) },
  });
  return { status: res.status, body: await res.json() };
}

// As the page prints them (web/src/observe/format.ts).
const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
const pts = (d: number) => `${d > 0 ? "+" : ""}${(d * 100).toFixed(2)} pts`;

describe.skipIf(!hasChromium("console observe browser tests"))("compare, over time and traces in Chromium", () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "promptreg-observe-"));
    buildConsole(path.join(tmp, "console"));

    h = await createHarness({ consoleDir: path.join(tmp, "console") });
    server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    for (const version of ["1.0.0", "2.0.0"]) {
      const published = await apiJson(`/prompts/${ENC}/versions`, {
        method: "POST",
        body: JSON.stringify({
          template: `Classify this support question: {{question}}${version === "2.0.0" ? " Answer in one word." : ""}`,
          version,
        }),
      });
      expect(published.status).toBe(201);
      const moved = await apiJson(`/prompts/${ENC}/labels/production`, {
        method: "PUT",
        body: JSON.stringify({ version, reason: version === "2.0.0" ? REASON_MOVE : "first release" }),
      });
      expect(moved.status).toBe(200);
    }
    // The ledger's moves are dated into the data's past: 1.0.0 went out before its spans, 2.0.0 three hours ago.
    await h.database.query(
      `UPDATE label_events SET created_at = CASE WHEN to_version = '1.0.0' THEN $1::timestamptz ELSE $2::timestamptz END WHERE label = 'production'`,
      [new Date(MOVE_MS - 3 * HOUR - 60_000).toISOString(), new Date(MOVE_MS).toISOString()],
    );

    const spans = groundTruth();
    for (let i = 0; i < spans.length; i += 2000) {
      const res = await fetch(`${baseUrl}/v1/traces`, {
        method: "POST",
        headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/json" },
        body: otlpJson(spans.slice(i, i + 2000), { "service.name": "support-bot" }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { partialSuccess?: object }).partialSuccess ?? {}).toEqual({});
    }

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
    if (server) await new Promise((resolve) => server.close(resolve));
    await h?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  afterEach(async ({ task }) => {
    await shotOnFailure(page, "observe-failed-", task);
  });

  it("shows the verdict first, worse, with both rates and intervals exactly as the API gives them", async () => {
    await page.goto(`/prompts/${NAME}/-/compare?range=24h`, { waitUntil: "commit" });
    // Recorded, not asserted (bench/console.mjs measures it on 1,000,000 spans): the page's clock at the first frame
    // that has the sentence.
    // A function, not a string: the page's CSP forbids the eval a string needs. Typed by hand, because the tests are
    // type-checked without the DOM library.
    const seen = await page.waitForFunction(
      () => {
        const w = globalThis as unknown as {
          document: { querySelector(selector: string): unknown };
          performance: { now(): number };
        };
        return w.document.querySelector('[data-testid="verdict-sentence"]') ? w.performance.now() : false;
      },
      null,
      { polling: "raf" },
    );
    console.log(
      `compare page: verdict ${Math.round((await seen.jsonValue()) as number)} ms after navigation (2 x ${N} LLM spans, ${page.url()})`,
    );
    const sentence = page.getByTestId("verdict-sentence");

    const from = new URL(page.url()).searchParams.get("from");
    expect(from).toBeNull(); // a preset stays a preset in the address
    const api = await apiJson(`/prompts/${ENC}/compare?from=${new Date(MOVE_MS - 4 * HOUR).toISOString()}`);
    const c = api.body.comparisons[0];
    expect(api.body.versions.map((v: { units: number; failures: number }) => [v.units, v.failures])).toEqual([
      [N, 100],
      [N, 180],
    ]);
    expect(c.verdict).toBe("worse");

    const banner = page.locator(".verdict-banner");
    await expect(banner.getAttribute("class")).resolves.toContain("verdict-worse");
    await expect(banner.locator(".verdict-word").textContent()).resolves.toBe("Worse");
    await expect(sentence.textContent()).resolves.toBe(c.explanation);
    expect(c.explanation).toMatch(/^2\.0\.0 fails more often than 1\.0\.0 \(9\.0% vs 5\.0% of 2000 spans each/);
    await expect(banner.locator(".verdict-meta").textContent()).resolves.toMatch(/^two-proportion z-test, p < 0\.0001/);

    for (const v of api.body.versions) {
      const row = page.getByTestId(`rate-${v.version}`);
      await expect(row.locator(".rate").textContent()).resolves.toBe(pct(v.failureRate));
      await expect(row.locator(".ci-range").textContent()).resolves.toBe(
        `${pct(v.failureRateCI.low)} to ${pct(v.failureRateCI.high)}`,
      );
    }
    await expect(page.getByTestId("rate-1.0.0").locator(".rate").textContent()).resolves.toBe("5.00%");
    await expect(page.getByTestId("rate-2.0.0").locator(".rate").textContent()).resolves.toBe("9.00%");
    const diff = page.getByTestId("diff-2.0.0");
    await expect(diff.locator(".diff").textContent()).resolves.toBe(pts(c.failureRateDiff.diff));
    await expect(diff.locator(".ci-range").textContent()).resolves.toBe(
      `${pts(c.failureRateDiff.low)} to ${pts(c.failureRateDiff.high)}`,
    );

    // The rest of the answer: latency, sources and the traffic no version can claim.
    await expect(page.getByRole("row", { name: /^Latency p95/ }).textContent()).resolves.toContain(
      `${api.body.versions[1].latencyMs.p95.toFixed(0)} ms`,
    );
    await expect(page.getByRole("row", { name: /^cache/ }).count()).resolves.toBe(1);
    await expect(page.getByTestId("unattributed").textContent()).resolves.toContain(api.body.unattributed.explanation);
    expect(api.body.unattributed).toMatchObject({ total: 8, unknownVersion: 5, fallbackWithoutVersion: 3 });
    await page.locator(".time-chart .u-over").first().waitFor();
    await shot(page, "observe-01-compare");
  });

  it("marks production's move on every chart, at its time; hovering the marker shows the ledger entry", async () => {
    const markers = page.getByRole("button", { name: /^production moved 1\.0\.0 → 2\.0\.0 by / });
    await markers.first().waitFor();
    expect(await markers.count()).toBe(4);
    // Where the marker sits on the time axis: MOVE_MS within the 24 h range that ends at the next whole minute.
    const over = (await page.locator(".time-chart .u-over").first().boundingBox())!;
    const marker = (await markers.first().boundingBox())!;
    const end = Math.ceil(Date.now() / 60_000) * 60_000;
    const expected = (MOVE_MS - (end - 24 * HOUR)) / (24 * HOUR);
    expect(Math.abs((marker.x + marker.width / 2 - over.x) / over.width - expected)).toBeLessThan(0.01);

    await markers.first().hover();
    const tip = page.getByRole("tooltip").filter({ hasText: "1.0.0 → 2.0.0" }).first();
    await tip.waitFor();
    await expect(tip.textContent()).resolves.toContain(REASON_MOVE);
    await shot(page, "observe-02-marker");
    // The top of the page (verdict, rates, charts with the hovered marker): the README's picture, docs/console-compare.png.
    await page.mouse.move(0, 0);
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    await markers.nth(1).hover();
    await shot(page, "observe-02-compare-top", 1250);

    // After the move, the candidate's bucket failure rates are its own: the table under the chart has them.
    const series = await apiJson(
      `/prompts/${ENC}/timeseries?bucket=5m&from=${new Date(MOVE_MS - 4 * HOUR).toISOString()}`,
    );
    const after = series.body.series[1].points.filter((p: { start: string }) => Date.parse(p.start) >= MOVE_MS);
    expect(after.reduce((n: number, p: { count: number }) => n + p.count, 0)).toBe(N);
    expect(series.body.series[0].points.every((p: { start: string }) => Date.parse(p.start) < MOVE_MS)).toBe(true);
  });

  it("narrows the range by dragging across a chart, keeps it in the address, and goes back with a preset", async () => {
    await page.locator(".time-chart .u-over").first().scrollIntoViewIfNeeded();
    const over = (await page.locator(".time-chart .u-over").first().boundingBox())!;
    const response = page.waitForResponse((r) => r.url().includes("/compare?") && r.url().includes("from="));
    await page.mouse.move(over.x + over.width * 0.8, over.y + over.height / 2);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.9, over.y + over.height / 2, { steps: 5 });
    await page.mouse.up();
    await response;
    const url = new URL(page.url());
    expect(url.searchParams.get("range")).toBeNull();
    const span = Date.parse(url.searchParams.get("to")!) - Date.parse(url.searchParams.get("from")!);
    expect(span / (24 * HOUR)).toBeGreaterThan(0.08);
    expect(span / (24 * HOUR)).toBeLessThan(0.12);
    await page.getByTestId("verdict-sentence").waitFor();

    await page.getByRole("button", { name: "24 h" }).click();
    await page.waitForURL(/range=24h/);
    await page.getByRole("button", { name: "24 h", pressed: true }).waitFor();
  });

  it("lists a version's spans of one bucket from a click on its line", async () => {
    const over = page.locator(".time-chart .u-over").first();
    // A chart drawn again while it is scrolled to is looked up again.
    const box = await vi.waitFor(async () => {
      await over.scrollIntoViewIfNeeded({ timeout: 2_000 });
      return (await over.boundingBox())!;
    });
    // Half an hour before the end of the range, near the top of the count chart: 2.0.0's line (1.0.0 is at 0 then).
    await page.mouse.click(box.x + box.width * (1 - 0.5 / 24), box.y + box.height * 0.15);
    await page.waitForURL(/\/traces\?/);
    const url = new URL(page.url());
    expect(Object.fromEntries([...url.searchParams].filter(([k]) => k !== "from" && k !== "to"))).toEqual({
      prompt: NAME,
      version: "2.0.0",
      spanKind: "LLM",
    });
    expect(Date.parse(url.searchParams.get("to")!) - Date.parse(url.searchParams.get("from")!)).toBe(5 * 60_000);
    const rows = page.locator("table.span-table tbody tr");
    await rows.first().waitFor();
    const count = await rows.count();
    // A 5-minute bucket of 2.0.0 holds 55 or 56 spans (one every 5.37 s): the first page of 50.
    expect(count).toBe(50);
    expect(
      await page
        .locator("table.span-table tbody")
        .getByRole("link", { name: /support\/triage 2\.0\.0/ })
        .count(),
    ).toBe(count);
    await page.goBack();
    await page.getByTestId("verdict-sentence").waitFor();
  });

  it("opens a failing span of the candidate from the compare page, and shows its exception in the trace", async () => {
    await page.getByRole("link", { name: "Failing spans of 2.0.0" }).click();
    await page.waitForURL(/\/traces\?.*failed=true/);
    await page.getByRole("heading", { name: "Traces", level: 1 }).waitFor();
    const rows = page.locator("table.span-table tbody tr");
    await rows.first().waitFor();
    expect(await rows.count()).toBe(50);
    expect(await page.locator("table.span-table tbody tr.failed").count()).toBe(50);
    await expect(page.getByRole("link", { name: "Older" }).count()).resolves.toBe(1);
    await shot(page, "observe-03-spans");

    // At 800 px the table fits the page (wrapped names, errors cut to two lines with the whole text as a title);
    // narrower it scrolls inside its own box. The page itself never scrolls sideways.
    const widths = () =>
      page.evaluate(() => {
        const d = globalThis as unknown as {
          document: {
            documentElement: { scrollWidth: number; clientWidth: number };
            querySelector(s: string): { scrollWidth: number; clientWidth: number } | null;
          };
        };
        const box = d.document.querySelector(".table-scroll")!;
        return {
          page: d.document.documentElement.scrollWidth - d.document.documentElement.clientWidth,
          table: box.scrollWidth - box.clientWidth,
        };
      });
    await page.setViewportSize({ width: 800, height: 900 });
    await expect(widths()).resolves.toEqual({ page: 0, table: 0 });
    await shot(page, "observe-03-spans-800", 900);
    await page.setViewportSize({ width: 480, height: 900 });
    expect((await widths()).page).toBe(0);
    await shot(page, "observe-03-spans-480", 900);
    await page.setViewportSize({ width: 1360, height: 900 });
    await expect(rows.first().locator(".error-text").getAttribute("title")).resolves.toBe(
      exceptionMessage("2.0.0", 1991),
    );

    // Newest first: the last failing i of 2.0.0 is 1991 (1991 % 100 = 91).
    await expect(rows.first().textContent()).resolves.toContain(exceptionMessage("2.0.0", 1991));
    await rows.first().getByRole("link", { name: "ChatCompletion" }).click();
    await page.waitForURL(/\/traces\/[0-9a-f]{32}\?span=/);
    const error = page.getByTestId("span-error");
    await error.waitFor();
    await expect(error.locator(".exception-message").textContent()).resolves.toBe(exceptionMessage("2.0.0", 1991));
    await expect(page.locator("table.waterfall tbody tr").count()).resolves.toBe(3);
    await expect(
      page
        .locator("table.waterfall")
        .getByRole("link", { name: /support\/triage 2\.0\.0/ })
        .count(),
    ).resolves.toBe(1);
    await expect(
      page.getByRole("table", { name: "Variables the template was rendered with" }).textContent(),
    ).resolves.toContain("order #2991");
    await shot(page, "observe-04-trace");
  });

  it("adds a thumbs-down annotation from the span's page, and compare by that annotation counts it", async () => {
    await page.getByRole("button", { name: "Thumbs down" }).click();
    await page.getByLabel("Comment (optional)").fill("Told the customer to wait — refund was already issued ✓");
    await page.getByRole("button", { name: "Save annotation" }).click();
    await page.getByRole("status").filter({ hasText: "annotation:helpful" }).waitFor();
    await page.locator(".annotation-list li").filter({ hasText: "refund was already issued" }).waitFor();

    const judged = await apiJson(`/prompts/${ENC}/compare?versions=1.0.0,2.0.0&failure=annotation:helpful`);
    expect(judged.status).toBe(200);
    expect(judged.body.versions.map((v: { units: number; failures: number }) => [v.units, v.failures])).toEqual([
      [0, 0],
      [1, 1],
    ]);

    // On the compare page the same definition is insufficient data, and says how much more is needed on which side.
    await page.goto(`/prompts/${NAME}/-/compare?range=24h&failure=annotation:helpful`);
    const need = page.getByTestId("more-needed");
    await need.waitFor();
    await expect(need.textContent()).resolves.toMatch(
      /^100 more spans of 1\.0\.0 \(has 0\) and 99 more spans of 2\.0\.0 \(has 1\) are needed before a verdict/,
    );
    await expect(page.locator(".verdict-banner").getAttribute("class")).resolves.toContain("verdict-insufficient-data");
    await expect(page.getByRole("row", { name: /^Annotation coverage/ }).textContent()).resolves.toContain(
      "1 of 2,000",
    );
    await shot(page, "observe-05-insufficient");

    // Over time, that one judged span is a 5-minute failure rate of 100%: the page says it stands on 1, too few
    // (under the minimum it names), and draws it apart from the line, faded.
    await expect(page.locator(".sample-note").textContent()).resolves.toMatch(/fewer than 20 spans/);
    const rates = page.locator("figure.time-chart").filter({ hasText: "Failure rate" });
    const few = rates.locator("td.low-sample");
    await expect(few.count()).resolves.toBe(1);
    await expect(few.textContent()).resolves.toBe("100.00% (1 of 1, too few)");
    const over = rates.locator(".u-over");
    await over.scrollIntoViewIfNeeded();
    const box = (await over.boundingBox())!;
    // The annotated span is 2.0.0's #1991 (the newest failing one); its bucket's point, at 100% of a 0-115% axis.
    const step = (3 * HOUR - 60_000) / N;
    const bucket = Math.floor((MOVE_MS + 30_000 + 1991 * step + 20) / 300_000) * 300_000;
    const end = Math.ceil(Date.now() / 60_000) * 60_000;
    const point = {
      x: box.x + ((bucket - (end - 24 * HOUR)) / (24 * HOUR)) * box.width,
      y: box.y + box.height * (1 - 1 / 1.15),
    };
    const pixels = await rates.locator("canvas").evaluate((canvas, at) => {
      const c = canvas as unknown as {
        width: number;
        getBoundingClientRect(): { x: number; y: number; width: number };
        getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: number[] } };
      };
      const rect = c.getBoundingClientRect();
      const scale = c.width / rect.width;
      const r = Math.round(8 * scale);
      const { data } = c
        .getContext("2d")
        .getImageData(Math.round((at.x - rect.x) * scale) - r, Math.round((at.y - rect.y) * scale) - r, 2 * r, 2 * r);
      const out: number[][] = [];
      for (let i = 0; i < data.length; i += 4) out.push([data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!]);
      return out;
    }, point);
    // 2.0.0's colour (light mode --series-1, #d9480f): faded around the point, never at full strength.
    const isSeries = ([r, g, b]: number[]) => Math.abs(r! - 217) + Math.abs(g! - 72) + Math.abs(b! - 15) < 60;
    expect(pixels.filter((p) => isSeries(p) && p[3]! > 60 && p[3]! < 160).length).toBeGreaterThan(4);
    expect(pixels.filter((p) => isSeries(p) && p[3]! > 200)).toEqual([]);
    // The legend gives the point and its sample as the pointer reaches it (buckets are 2 px apart: look around).
    const legends: string[] = [];
    for (let dx = -6; dx <= 6; dx++) {
      await page.mouse.move(point.x + dx, point.y);
      legends.push((await rates.locator(".u-legend").textContent())!);
    }
    expect(legends.filter((l) => l.includes("2.0.0100.00% (1 of 1, too few)")).length).toBeGreaterThan(0);
    await shot(page, "observe-05-few");
  });

  it("rolls production back from the compare page, the verdict as its reason, and the ledger shows it", async () => {
    await page.goto(`/prompts/${NAME}/-/compare?range=24h`);
    const sentence = (await page.getByTestId("verdict-sentence").textContent())!;
    await page.getByRole("button", { name: "Roll back" }).click();
    const dialog = page.getByRole("dialog");
    await expect(dialog.getByLabel("Reason").inputValue()).resolves.toBe(sentence);
    await expect(dialog.locator(".consequence").textContent()).resolves.toBe(
      "production will serve 1.0.0 (was 2.0.0) for every client within 60 s.",
    );
    await shot(page, "observe-06-rollback-confirm");
    await dialog.getByRole("button", { name: "Roll back production" }).click();
    await page.getByRole("status").filter({ hasText: "production now serves 1.0.0 (was 2.0.0)" }).waitFor();

    const resolved = await apiJson(`/prompts/${ENC}/resolve?ref=production`);
    expect(resolved.body.version).toBe("1.0.0");
    // The page keeps comparing the same pair; 2.0.0 no longer serves, so there is nothing to roll back.
    await page.waitForURL(/versions=1\.0\.0%2C2\.0\.0|versions=1\.0\.0,2\.0\.0/);
    await page.locator(".verdict-banner.verdict-worse").waitFor();
    await expect(page.getByRole("button", { name: "Roll back" }).count()).resolves.toBe(0);

    await page.getByRole("link", { name: "See the ledger entry" }).click();
    const entry = page.locator(".timeline .event").first();
    await entry.waitFor();
    await expect(entry.textContent()).resolves.toMatch(/rolled back 2\.0\.0 → 1\.0\.0/);
    await expect(entry.locator(".reason").textContent()).resolves.toBe(sentence);
    await shot(page, "observe-07-ledger");
  });

  it("draws moves too close to tell apart as one marker with their count, listing each on hover and focus", async () => {
    for (const [version, reason] of [
      ["1.0.0", "canary on 1.0.0"],
      ["2.0.0", "canary on 2.0.0"],
      ["1.0.0", "canary back on 1.0.0"],
    ]) {
      const moved = await apiJson(`/prompts/${ENC}/labels/canary`, {
        method: "PUT",
        body: JSON.stringify({ version, reason }),
      });
      expect(moved.status).toBe(200);
    }
    await page.goto(`/prompts/${NAME}/-/compare?range=24h&versions=1.0.0,2.0.0&label=canary`);
    const groups = page.getByRole("button", { name: /^3 moves of canary: / });
    await groups.first().waitFor();
    expect(await groups.count()).toBe(4); // one per chart
    expect(await page.getByRole("button", { name: /^canary moved/ }).count()).toBe(0);
    await expect(groups.first().textContent()).resolves.toBe("3");
    await expect(groups.first().getAttribute("aria-label")).resolves.toMatch(
      /^3 moves of canary: canary moved — → 1\.0\.0 by .+; canary moved 1\.0\.0 → 2\.0\.0 by .+; canary moved 2\.0\.0 → 1\.0\.0 by .+$/,
    );

    await groups.first().hover();
    const tip = page.getByRole("tooltip").filter({ hasText: "3 moves" }).first();
    await tip.waitFor();
    await expect(tip.locator(".marker-reason").allTextContents()).resolves.toEqual([
      "“canary on 1.0.0”",
      "“canary on 2.0.0”",
      "“canary back on 1.0.0”",
    ]);
    await shot(page, "observe-08-markers-grouped");
    // From the keyboard too: focusing the marker shows the same list.
    await page.mouse.move(0, 0);
    await groups.nth(3).focus();
    const described = await groups.nth(3).getAttribute("aria-describedby");
    await expect(page.getByRole("tooltip").getAttribute("id")).resolves.toBe(described);
  });

  it("has no serious accessibility violations on the compare, spans and trace pages, and no CSP violation", async () => {
    const found: Record<string, string[]> = {};
    await page.goto(`/prompts/${NAME}/-/compare?range=24h&versions=1.0.0,2.0.0`);
    await page.locator(".time-chart .u-over").first().waitFor();
    found.compare = await seriousViolations(page);
    await page.goto(`/traces?prompt=${ENC}&failed=true`);
    await page.locator("table.span-table tbody tr").first().waitFor();
    found.spans = await seriousViolations(page);
    await page.locator("table.span-table tbody tr").first().getByRole("link").first().click();
    await page.getByTestId("span-error").waitFor();
    found.trace = await seriousViolations(page);
    // The same colours must read in dark mode too.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`/prompts/${NAME}/-/compare?range=24h&versions=1.0.0,2.0.0`);
    await page.locator(".time-chart .u-over").first().waitFor();
    found["compare, dark"] = await seriousViolations(page);
    await shot(page, "observe-09-compare-dark");
    await page.emulateMedia({ colorScheme: "light" });
    expect(Object.entries(found).filter(([, v]) => v.length > 0)).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
