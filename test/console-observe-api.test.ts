// What the console's compare, over-time and trace pages need from the API, on spans delivered through the real
// OTLP receiver: how many more units a verdict needs, spans filtered by source, and answers that parse with the
// schemas the console reads them with (the contract, client/src/contract.ts), so the pages and the API cannot drift apart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CompareSchema, SpanListSchema, TimeseriesSchema, TraceSchema } from "@promptreg/client/contract";
import { ingestSpans, moveLabel, publishVersion } from "./helpers/factories.js";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";
import type { SpanSpec } from "./helpers/otlp.js";

let h: Harness;
let admin: Client;

const NAME = "obs/triage";
const BASE_MS = Date.parse("2026-11-20T08:00:00Z");
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
const SOURCES = ["network", "stale", undefined] as const;

/** `count` LLM spans of `version`, one a minute; every 10th fails with an exception event; sources rotate. */
function spans(version: string, count: number, offset: number): SpanSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const start = BigInt(BASE_MS + (offset + i) * 60_000) * 1_000_000n;
    const source = SOURCES[i % 3];
    const failed = i % 10 === 0;
    return {
      traceId: hex(offset + i + 1, 32),
      spanId: hex(offset + i + 1, 16),
      name: "ChatCompletion",
      start: start.toString(),
      end: (start + 120_000_000n).toString(),
      status: failed ? { code: 2 } : { code: 1 },
      events: failed
        ? [
            {
              name: "exception",
              attributes: { "exception.type": "RateLimitError", "exception.message": `429 Too Many Requests ✗ #${i}` },
            },
          ]
        : [],
      attributes: {
        "openinference.span.kind": "LLM",
        "prompt.id": NAME,
        "llm.prompt_template.version": version,
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 120,
        "llm.token_count.completion": 30,
        "llm.cost.total": 0.00125,
        ...(source ? { "promptreg.prompt.source": source } : {}),
      },
    };
  });
}

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  for (const version of ["1.0.0", "2.0.0"]) {
    await publishVersion(admin, NAME, { template: `Classify {{q}} (${version})`, version });
    await moveLabel(admin, NAME, "production", version, `ship ${version}`);
  }
  await ingestSpans(h, [...spans("1.0.0", 30, 0), ...spans("2.0.0", 70, 1000)]);
}, 120_000);
afterAll(() => h?.close());

describe("compare for the console", () => {
  it("says how many more units each side needs before there is a verdict", async () => {
    const compare = (query: string) => admin.get(`/api/v1/prompts/${enc(NAME)}/compare${query}`);
    const byDefault = await compare("");
    expect(byDefault.status).toBe(200);
    expect(byDefault.body.comparisons[0]).toMatchObject({
      verdict: "insufficient-data",
      minSample: 100,
      moreUnitsNeeded: { baseline: 70, candidate: 30 },
    });
    expect(CompareSchema.parse(byDefault.body).refs).toEqual([
      { ref: "production before its last move", version: "1.0.0" },
      { ref: "production", version: "2.0.0" },
    ]);

    const lower = await compare("?versions=1.0.0,2.0.0&minSample=50");
    expect(lower.body.comparisons[0]).toMatchObject({
      verdict: "insufficient-data",
      moreUnitsNeeded: { baseline: 20, candidate: 0 },
    });
    const enough = await compare("?versions=1.0.0,2.0.0&minSample=30");
    expect(enough.body.comparisons[0].moreUnitsNeeded).toEqual({ baseline: 0, candidate: 0 });
    expect(enough.body.comparisons[0].verdict).not.toBe("insufficient-data");
    // minSample=0 still needs one unit a side (a side without units has no rate).
    const none = await compare("?versions=1.0.0,2.0.0&minSample=1&to=2026-11-20T08:00:00Z");
    expect(none.body.comparisons[0]).toMatchObject({
      verdict: "insufficient-data",
      moreUnitsNeeded: { baseline: 1, candidate: 1 },
    });
  });

  it("gives the over-time series with the label's moves in a shape the console reads", async () => {
    const res = await admin.get(
      `/api/v1/prompts/${enc(NAME)}/timeseries?bucket=1h&from=2026-11-20T00:00:00Z&to=2026-11-21T12:00:00Z`,
    );
    expect(res.status).toBe(200);
    // The moves happened now, after the spans' times: only the range says whether they are shown.
    const ts = TimeseriesSchema.parse(res.body);
    expect(ts.series.map((s) => [s.version, s.points.reduce((n, p) => n + p.count, 0)])).toEqual([
      ["1.0.0", 30],
      ["2.0.0", 70],
    ]);
    const now = await admin.get(
      `/api/v1/prompts/${enc(NAME)}/timeseries?bucket=1d&from=2026-11-19T00:00:00Z&to=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    expect(TimeseriesSchema.parse(now.body).events.map((e) => [e.fromVersion, e.toVersion, e.reason])).toEqual([
      [null, "1.0.0", "ship 1.0.0"],
      ["1.0.0", "2.0.0", "ship 2.0.0"],
    ]);
  });
});

describe("spans for the console", () => {
  it("filters by source as compare does (unspecified for spans naming none), newest first, in pages", async () => {
    const list = (query: string) => admin.get(`/api/v1/spans?prompt=${enc(NAME)}&${query}`);
    const stale = await list("source=stale&version=2.0.0&limit=10");
    expect(stale.status).toBe(200);
    const page1 = SpanListSchema.parse(stale.body);
    expect(page1.data).toHaveLength(10);
    expect(new Set(page1.data.map((s) => s.source))).toEqual(new Set(["stale"]));
    const starts = page1.data.map((s) => s.startTime);
    expect(starts).toEqual([...starts].sort().reverse());

    const all: string[] = [];
    for (let cursor: string | null = ""; cursor !== null; ) {
      const page = SpanListSchema.parse(
        (await list(`source=stale&version=2.0.0&limit=10${cursor ? `&cursor=${cursor}` : ""}`)).body,
      );
      all.push(...page.data.map((s) => s.spanId));
      cursor = page.nextCursor;
    }
    // 2.0.0's spans i = 1, 4, 7, ... of 70 carry stale.
    expect(all).toHaveLength(23);

    const unspecified = SpanListSchema.parse((await list("source=unspecified&limit=500")).body);
    expect(unspecified.data).toHaveLength(10 + 23);
    expect(unspecified.data.every((s) => s.source === null)).toBe(true);
    const compared = await admin.get(`/api/v1/prompts/${enc(NAME)}/compare?versions=1.0.0,2.0.0&source=unspecified`);
    expect(compared.body.versions.map((v: { units: number }) => v.units)).toEqual([10, 23]);
  });

  it("gives a failing span's exception in its trace, in a shape the console reads", async () => {
    const failing = SpanListSchema.parse(
      (await admin.get(`/api/v1/spans?prompt=${enc(NAME)}&version=2.0.0&failed=true&limit=1`)).body,
    ).data[0]!;
    const trace = TraceSchema.parse((await admin.get(`/api/v1/traces/${failing.traceId}`)).body);
    const span = trace.spans[0]!;
    expect(span.failed).toBe(true);
    expect(span.events[0]!.attributes["exception.message"]).toMatch(/^429 Too Many Requests ✗ #\d+$/);
  });
});
