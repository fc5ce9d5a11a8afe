import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HISTOGRAM_RELATIVE_ERROR } from "../src/compare/histogram.js";
import { ingestSpans, moveLabel, publishPrompt, publishVersion } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";
import type { SpanSpec } from "./helpers/otlp.js";

let h: Harness;
let admin: Client;

const BASE_NS = BigInt(Date.parse("2026-11-20T00:00:00Z")) * 1_000_000n;
const N = 2000;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** Known truth per version: failures, latencies (ms), tokens and cost of every LLM span, two spans per trace. */
interface Truth {
  version: string;
  failEvery: number; // span i fails when i % failEvery === 0
  latency: (i: number) => number;
  completion: (i: number) => number;
  cost: (i: number) => number;
  traceBase: number;
}

const TRUTHS: Truth[] = [
  {
    version: "1.4.2",
    failEvery: 20,
    latency: (i) => 100 + (i % 100),
    completion: (i) => 50 + (i % 10),
    cost: (i) => 0.001 + (i % 5) * 0.0001,
    traceBase: 0,
  },
  // 9% failing: i % 100 in a fixed set of 9 residues.
  {
    version: "1.5.0",
    failEvery: 0,
    latency: (i) => 130 + (i % 150),
    completion: (i) => 70 + (i % 10),
    cost: () => 0.002,
    traceBase: 100_000,
  },
];
const FAILS_150 = new Set([0, 11, 22, 33, 44, 55, 66, 77, 88]);
const fails = (t: Truth, i: number) => (t.failEvery ? i % t.failEvery === 0 : FAILS_150.has(i % 100));

function llmSpans(t: Truth, prompt: string, count: number, withChains: boolean): SpanSpec[] {
  const spans: SpanSpec[] = [];
  for (let i = 0; i < count; i++) {
    const traceId = hex(t.traceBase + Math.floor(i / 2) + 1, 32);
    // Spread over two days so the time series has several buckets.
    const start = BASE_NS + BigInt(i) * 60_000_000_000n;
    const end = start + BigInt(Math.round(t.latency(i) * 1e6));
    spans.push({
      traceId,
      spanId: hex(t.traceBase * 10 + i + 1, 16),
      name: "ChatCompletion",
      start: start.toString(),
      end: end.toString(),
      status: fails(t, i) ? { code: 2, message: "boom" } : { code: 1 },
      attributes: {
        "openinference.span.kind": "LLM",
        "prompt.id": prompt,
        "llm.prompt_template.version": t.version,
        "llm.model_name": i % 2 ? "gpt-4o" : "gpt-4o-mini",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": t.completion(i),
        "llm.token_count.total": 100 + t.completion(i),
        "llm.cost.total": t.cost(i),
        "promptreg.prompt.source": i % 10 === 9 ? "stale" : "network",
        "promptreg.prompt.label": "production",
      },
    });
    if (withChains && i % 2 === 0) {
      // Context propagation puts the prompt attributes on the parent CHAIN span too; it must never count.
      spans.push({
        traceId,
        spanId: hex(t.traceBase * 10 + 50_000 + i, 16),
        name: "agent",
        start: start.toString(),
        end: (end + 1_000_000n).toString(),
        status: { code: 2, message: "chain failed" },
        attributes: {
          "openinference.span.kind": "CHAIN",
          "prompt.id": prompt,
          "llm.prompt_template.version": t.version,
          "llm.token_count.total": 999,
        },
      });
    }
  }
  return spans;
}

const ingest = (spans: SpanSpec[]) => ingestSpans(h, spans);

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  for (const [name, versions] of [
    ["triage", ["1.4.2", "1.5.0"]],
    ["small", ["1.4.2", "1.5.0"]],
  ] as const) {
    for (const version of versions) {
      await publishVersion(admin, name, { template: `${name} ${version} {{q}}`, version });
      await moveLabel(admin, name, "production", version);
    }
  }
  await ingest([...llmSpans(TRUTHS[0]!, "triage", N, true), ...llmSpans(TRUTHS[1]!, "triage", N, true)]);
  await ingest([
    ...llmSpans({ ...TRUTHS[0]!, traceBase: 500_000 }, "small", 30, false),
    ...llmSpans({ ...TRUTHS[1]!, traceBase: 600_000 }, "small", 30, false),
  ]);
  // "helpful" annotations: span-level on 1.4.2's first 200 spans (1 in 4 fails); trace-level on 1.5.0's first 100 traces (1 in 2 fails).
  const annotations = [
    ...Array.from({ length: 200 }, (_, i) => ({
      traceId: hex(Math.floor(i / 2) + 1, 32),
      spanId: hex(i + 1, 16),
      name: "helpful",
      kind: "human",
      passed: i % 4 !== 0,
      score: i % 4 !== 0 ? 1 : 0,
    })),
    ...Array.from({ length: 100 }, (_, t) => ({
      traceId: hex(100_000 + t + 1, 32),
      name: "helpful",
      kind: "eval",
      passed: t % 2 === 1,
      score: t % 2,
    })),
  ];
  const res = await admin.post("/api/v1/annotations", { annotations });
  expect(res.status).toBeLessThan(300);
}, 180_000);
afterAll(() => h?.close());

const compare = (query: string) => admin.get(`/api/v1/prompts/triage/compare?${query}`);

describe("compare", () => {
  it("counts, rates, intervals, percentiles, sums and the verdict match the truth", async () => {
    const res = await compare("versions=1.4.2,1.5.0");
    expect(res.status).toBe(200);
    expect(res.body.baseline).toBe("1.4.2");
    const [a, b] = res.body.versions;
    for (const [v, t, failures] of [
      [a, TRUTHS[0]!, 100],
      [b, TRUTHS[1]!, 180],
    ] as const) {
      expect(v.version).toBe(t.version);
      expect(v.units).toBe(N); // CHAIN parents carrying the same attributes are not counted
      expect(v.failures).toBe(failures);
      expect(v.failureRate).toBeCloseTo(failures / N, 10);
      const lat = Array.from({ length: N }, (_, i) => t.latency(i));
      expect(v.latencyMs.p50).toBeCloseTo(percentile(lat, 0.5), 6);
      expect(v.latencyMs.p95).toBeCloseTo(percentile(lat, 0.95), 6);
      expect(v.latencyMs.p99).toBeCloseTo(percentile(lat, 0.99), 6);
      expect(v.latencyMs.mean).toBeCloseTo(lat.reduce((x, y) => x + y, 0) / N, 6);
      const completion = Array.from({ length: N }, (_, i) => t.completion(i)).reduce((x, y) => x + y, 0);
      expect(v.tokens.prompt.sum).toBe(100 * N);
      expect(v.tokens.completion.sum).toBe(completion);
      expect(v.tokens.total.sum).toBe(100 * N + completion); // the CHAIN spans' 999 never added
      expect(v.tokens.total.mean).toBeCloseTo((100 * N + completion) / N, 6);
      const cost = Array.from({ length: N }, (_, i) => t.cost(i)).reduce((x, y) => x + y, 0);
      expect(v.costUsd.sum).toBeCloseTo(cost, 9);
      expect(v.costUsd.mean).toBeCloseTo(cost / N, 12);
      expect(v.bySource).toEqual([
        { source: "network", units: 1800, failures: expect.any(Number), failureRate: expect.any(Number) },
        { source: "stale", units: 200, failures: expect.any(Number), failureRate: expect.any(Number) },
      ]);
    }
    // Wilson 95% for 100/2000 by hand: centre (0.05 + 3.8415/4000) / (1 + 3.8415/2000) = 0.050863,
    // half-width 1.96 * sqrt(0.05 * 0.95 / 2000 + 3.8415 / 16e6) / 1.00192 = 0.009581.
    expect(a.failureRateCI.low).toBeCloseTo(0.041281, 5);
    expect(a.failureRateCI.high).toBeCloseTo(0.060444, 5);
    const [cmp] = res.body.comparisons;
    expect(cmp).toMatchObject({ version: "1.5.0", baseline: "1.4.2", verdict: "worse", test: "z" });
    expect(cmp.failureRateDiff.diff).toBeCloseTo(0.04, 10);
    // Two-proportion z for 100/2000 vs 180/2000: pooled 0.07, SE 0.0080685, z 4.9576, two-sided p 7.14e-7.
    expect(cmp.pValue).toBeCloseTo(7.1378e-7, 9);
    expect(cmp.failureRateDiff.low).toBeGreaterThan(0);
    expect(cmp.explanation).toMatch(/1\.5\.0 fails more often than 1\.4\.2/);
    expect(cmp.latencyP95DiffMs).toBeCloseTo(
      percentile(
        Array.from({ length: N }, (_, i) => TRUTHS[1]!.latency(i)),
        0.95,
      ) -
        percentile(
          Array.from({ length: N }, (_, i) => TRUTHS[0]!.latency(i)),
          0.95,
        ),
      6,
    );
    expect(cmp.meanCostDiffUsd).toBeCloseTo(0.002 - 0.0012, 9);
  });

  it("defaults to what production holds now against what it held before its last move", async () => {
    const res = await compare("");
    expect(res.status).toBe(200);
    expect(res.body.versions.map((v: { version: string }) => v.version)).toEqual(["1.4.2", "1.5.0"]);
  });

  it("counts traces with unit=trace: a trace fails when any of its spans fails", async () => {
    const res = await compare("versions=1.4.2,1.5.0&unit=trace");
    const [a, b] = res.body.versions;
    expect(a.units).toBe(N / 2);
    expect(a.failures).toBe(100); // failing spans are multiples of 20: one per failing trace (multiples of 10)
    expect(b.units).toBe(N / 2);
    expect(b.failures).toBe(180); // the 9 failing residues are in 9 different traces per 50 traces
  });

  it("judges only annotated units under an annotation failure, giving each version's coverage", async () => {
    const res = await compare("versions=1.4.2,1.5.0&failure=annotation:helpful");
    expect(res.status).toBe(200);
    const [a, b] = res.body.versions;
    // 1.4.2: 200 annotated spans, 1 in 4 failing; 1.5.0: 100 annotated traces of 2 spans each, 1 in 2 failing.
    expect([a.units, a.failures, a.failureRate, a.spans]).toEqual([200, 50, 0.25, N]);
    expect([b.units, b.failures, b.failureRate, b.spans]).toEqual([200, 100, 0.5, N]);
    expect(a.coverage).toStrictEqual({ annotatedUnits: 200, allUnits: N, rate: 0.1, evaluationErrors: 0 });
    expect(b.coverage).toStrictEqual({ annotatedUnits: 200, allUnits: N, rate: 0.1, evaluationErrors: 0 });
    expect(a.latencyMs.mean).toBeCloseTo(
      Array.from({ length: N }, (_, i) => TRUTHS[0]!.latency(i)).reduce((x, y) => x + y, 0) / N,
      6,
    );
    expect(a.annotations).toEqual([{ name: "helpful", count: 200, passRate: 0.75, meanScore: 0.75 }]);
    expect(b.annotations).toEqual([{ name: "helpful", count: 200, passRate: 0.5, meanScore: 0.5 }]);
    expect(res.body.comparisons[0]).toMatchObject({ verdict: "worse" });
    expect(res.body.comparisons[0].explanation).toMatch(
      /Only annotated spans are judged; coverage 1\.4\.2 10\.0%, 1\.5\.0 10\.0%\.$/,
    );

    const threshold = await compare("versions=1.4.2,1.5.0&failure=annotation:helpful&threshold=2");
    expect([threshold.body.versions[0].units, threshold.body.versions[0].failures]).toEqual([200, 200]); // every score is under 2

    // any: the same annotated units, failing on their status or their annotation.
    const annotationFails = [(i: number) => i % 4 === 0, (i: number) => Math.floor(i / 2) % 2 === 0];
    for (const query of ["failure=any:helpful", "failure=any"]) {
      const any = await compare(`versions=1.4.2,1.5.0&${query}`);
      for (const [j, t] of TRUTHS.entries()) {
        const units = Array.from({ length: 200 }, (_, i) => i); // the annotated spans of either version
        const v = any.body.versions[j];
        expect([v.units, v.failures], query).toEqual([
          units.length,
          units.filter((i) => fails(t, i) || annotationFails[j]!(i)).length,
        ]);
        expect(v.coverage, query).toStrictEqual({ annotatedUnits: 200, allUnits: N, rate: 0.1, evaluationErrors: 0 });
      }
    }

    const traces = await compare("versions=1.4.2,1.5.0&failure=annotation:helpful&unit=trace");
    // 1.4.2: the annotated spans 0..199 are traces 0..99, a trace failing with its span i % 4 === 0 (even traces).
    expect(
      traces.body.versions.map((v: { units: number; failures: number; coverage: unknown }) => [
        v.units,
        v.failures,
        v.coverage,
      ]),
    ).toEqual([
      [100, 50, { annotatedUnits: 100, allUnits: N / 2, rate: 0.1, evaluationErrors: 0 }],
      [100, 50, { annotatedUnits: 100, allUnits: N / 2, rate: 0.1, evaluationErrors: 0 }],
    ]);
    expect((await compare("versions=1.4.2,1.5.0")).body.versions[0].coverage).toBeNull();
  });

  it("filters by model, source and time", async () => {
    const mini = await compare("versions=1.4.2,1.5.0&model=gpt-4o-mini");
    expect(mini.body.versions[0].units).toBe(N / 2);
    const stale = await compare("versions=1.4.2,1.5.0&source=stale");
    expect(stale.body.versions[0].units).toBe(200);
    const firstHour = await compare("versions=1.4.2,1.5.0&from=2026-11-20T00:00:00Z&to=2026-11-20T01:00:00Z");
    expect(firstHour.body.versions[0].units).toBe(60);
  });

  it("says insufficient-data on small samples, naming the minimum, which is a parameter", async () => {
    const res = await admin.get("/api/v1/prompts/small/compare?versions=1.4.2,1.5.0");
    expect(res.body.comparisons[0]).toMatchObject({ verdict: "insufficient-data", minSample: 100 });
    expect(res.body.comparisons[0].explanation).toMatch(/at least 100/);
    const lowered = await admin.get("/api/v1/prompts/small/compare?versions=1.4.2,1.5.0&minSample=20");
    expect(lowered.body.comparisons[0].verdict).not.toBe("insufficient-data");
  });

  it("refuses bad requests with 404 or 422 and the reason", async () => {
    expect((await compare("versions=1.4.2,9.9.9")).status).toBe(404);
    expect((await admin.get("/api/v1/prompts/nope/compare?versions=1.0.0,1.0.1")).status).toBe(404);
    const one = await compare("versions=1.4.2");
    expect(one.status).toBe(422);
    expect(one.body.error.message).toMatch(/at least 2/);
    const range = await compare("versions=1.4.2,1.5.0&from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z");
    expect(range.status).toBe(422);
    expect(range.body.error.message).toMatch(/time range/);
    expect((await compare("versions=1.4.2,1.5.0&from=yesterday")).status).toBe(422);
    const failure = await compare("versions=1.4.2,1.5.0&failure=vibes");
    expect(failure.status).toBe(422);
    expect(failure.body.error.message).toMatch(/unknown failure definition/);
    await publishVersion(admin, "fresh", "x");
    const noLedger = await admin.get("/api/v1/prompts/fresh/compare");
    expect(noLedger.status).toBe(422);
  });
});

describe("annotation-based failures", () => {
  it("refuses a name never recorded on the prompt's spans with 422, naming those recorded, or saying there are none", async () => {
    for (const query of ["failure=annotation:helpfull", "failure=any:helpfull"]) {
      const typo = await compare(`versions=1.4.2,1.5.0&${query}`);
      expect(typo.status, query).toBe(422);
      expect(typo.body.error.message).toMatch(
        /no annotation named 'helpfull' was recorded on spans of prompt 'triage'; the names recorded are 'helpful'$/,
      );
      expect(typo.body.error.details).toMatchObject({
        annotationNames: ["helpful"],
        issues: [{ path: "query.failure" }],
      });
    }
    expect(
      (await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2&failure=annotation:helpfull")).status,
    ).toBe(422);

    await publishPrompt(admin, "unjudged", ["Unjudged {{q}}", "Unjudged again {{q}}"]);
    for (const query of ["failure=annotation:helpful", "failure=any"]) {
      const none = await admin.get(`/api/v1/prompts/unjudged/compare?versions=1.0.0,1.0.1&${query}`);
      expect(none.status, query).toBe(422);
      expect(none.body.error.message).toMatch(
        /on spans of prompt 'unjudged'(; no annotation at all has been recorded on them)? yet: use failure=status/,
      );
      expect(none.body.error.details.annotationNames).toEqual([]);
    }
  });

  it("gives a version without annotations no units and coverage 0: insufficient data, not 'better' or 'worse'", async () => {
    // 20 of small 1.5.0's 30 spans annotated, 10 of them failing; none of 1.4.2's.
    const annotations = Array.from({ length: 20 }, (_, i) => ({
      traceId: hex(600_000 + Math.floor(i / 2) + 1, 32),
      spanId: hex(6_000_000 + i + 1, 16),
      name: "reviewed",
      kind: "human",
      passed: i % 2 === 1,
    }));
    expect((await admin.post("/api/v1/annotations", { annotations })).status).toBe(200);
    for (const failure of ["annotation:reviewed", "any:reviewed"]) {
      const res = await admin.get(`/api/v1/prompts/small/compare?versions=1.4.2,1.5.0&failure=${failure}&minSample=20`);
      expect(res.status).toBe(200);
      const [a, b] = res.body.versions;
      expect([a.units, a.failures, a.failureRate, a.spans]).toEqual([0, 0, null, 30]);
      expect(a.coverage).toStrictEqual({ annotatedUnits: 0, allUnits: 30, rate: 0, evaluationErrors: 0 });
      expect([b.units, b.spans]).toEqual([20, 30]);
      expect(b.coverage).toStrictEqual({ annotatedUnits: 20, allUnits: 30, rate: 20 / 30, evaluationErrors: 0 });
      if (failure === "annotation:reviewed") expect([b.failures, b.failureRate]).toEqual([10, 0.5]);
      expect(res.body.comparisons[0]).toMatchObject({ verdict: "insufficient-data", pValue: null });
      expect(res.body.comparisons[0].explanation).toMatch(
        /1\.4\.2 has 0 spans.*coverage 1\.4\.2 0\.0%, 1\.5\.0 66\.7%/,
      );
    }
    const series = await admin.get(
      "/api/v1/prompts/small/timeseries?versions=1.4.2,1.5.0&bucket=1d&failure=annotation:reviewed",
    );
    expect(series.status).toBe(200);
    const sum = (i: number, key: "count" | "spans" | "failures") =>
      series.body.series[i].points.reduce((n: number, p: Record<string, number>) => n + p[key]!, 0);
    expect([sum(0, "count"), sum(0, "spans"), sum(0, "failures")]).toEqual([0, 30, 0]);
    expect([sum(1, "count"), sum(1, "spans"), sum(1, "failures")]).toEqual([20, 30, 10]);
  });
});

describe("version references", () => {
  it("accepts labels, ranges, latest and label@time, saying what each resolved to", async () => {
    expect((await admin.put("/api/v1/prompts/triage/labels/staging", { version: "1.4.2" })).status).toBe(200);
    const explicit = await compare("versions=1.4.2,1.5.0");
    const figures = (body: { versions: { version: string; units: number; failures: number }[] }) =>
      body.versions.map((v) => [v.version, v.units, v.failures]);
    const now = `production@${new Date().toISOString()}`;
    const cases: [string, string][][] = [
      [
        ["staging", "1.4.2"],
        ["production", "1.5.0"],
      ],
      [
        ["~1.4", "1.4.2"],
        ["latest", "1.5.0"],
      ],
      [
        ["1.4.2", "1.4.2"],
        [now, "1.5.0"],
      ],
      [
        ["1.4.2", "1.4.2"],
        ["^1.0.0", "1.5.0"],
      ],
    ];
    for (const refs of cases) {
      const versions = refs.map(([ref]) => ref).join(",");
      const res = await compare(`versions=${encodeURIComponent(versions)}`);
      expect(res.status, versions).toBe(200);
      expect(figures(res.body), versions).toEqual(figures(explicit.body));
      expect(res.body.refs, versions).toEqual(refs.map(([ref, version]) => ({ ref, version })));
    }
    expect((await compare("")).body.refs).toEqual([
      { ref: "production before its last move", version: "1.4.2" },
      { ref: "production", version: "1.5.0" },
    ]);
    const series = await admin.get("/api/v1/prompts/triage/timeseries?versions=production&bucket=1d");
    expect(series.status).toBe(200);
    expect(series.body).toMatchObject({ versions: ["1.5.0"], refs: [{ ref: "production", version: "1.5.0" }] });
  });

  it("answers 404 naming an unknown reference, and 422 for a malformed one or two resolving to one version", async () => {
    for (const [ref, message] of [
      ["canary", /label 'canary' of prompt 'triage' not found/],
      ["^3", /a version of prompt 'triage' satisfying '\^3' not found/],
      ["9.9.9", /version 9\.9\.9 of prompt 'triage' not found/],
      [
        "production@2000-01-01T00:00:00Z",
        /label 'production' of prompt 'triage' at 2000-01-01T00:00:00\.000Z \(it did not exist yet\)/,
      ],
    ] as const) {
      const res = await compare(`versions=1.4.2,${encodeURIComponent(ref)}`);
      expect(res.status, ref).toBe(404);
      expect(res.body.error.message, ref).toMatch(message);
    }
    const same = await compare("versions=production,1.5.0");
    expect(same.status).toBe(422);
    expect(same.body.error.message).toMatch(/at least 2 different versions \(production is 1\.5\.0, 1\.5\.0\)/);
    const bad = await compare(`versions=1.4.2,${encodeURIComponent("no such!")}`);
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatchObject({
      message: expect.stringMatching(/invalid reference 'no such!'/),
      details: { issues: [{ path: "query.versions" }] },
    });
  });
});

describe("unattributed LLM spans", () => {
  const at = (iso: string, i: number) => (BigInt(Date.parse(iso)) * 1_000_000n + BigInt(i) * 1_000_000_000n).toString();
  let next = 0;
  /** LLM spans of prompt 'outage' with these attributes, as our client sets them (source, version). */
  const outage = (
    count: number,
    attributes: Record<string, string>,
    when = "2026-11-22T10:00:00Z",
    kind = "LLM",
  ): SpanSpec[] =>
    Array.from({ length: count }, () => {
      const i = next++;
      return {
        traceId: hex(900_000 + i, 32),
        spanId: hex(9_000_000 + i, 16),
        name: "ChatCompletion",
        start: at(when, i),
        status: { code: 1 },
        attributes: {
          "openinference.span.kind": kind,
          "prompt.id": "outage",
          "llm.model_name": "gpt-4o",
          ...attributes,
        },
      };
    });
  const fallback = (version: string) => ({
    "promptreg.prompt.source": "fallback",
    "llm.prompt_template.version": version,
  });
  const network = (version: string) => ({
    "promptreg.prompt.source": "network",
    "llm.prompt_template.version": version,
  });
  const window = "from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z";

  beforeAll(async () => {
    // Before the prompt exists: linked to nothing, and never linked later.
    await ingest([...outage(2, network("1.0.0")), ...outage(1, fallback("fallback"))]);
    await publishPrompt(
      admin,
      "outage",
      ["1.0.0", "1.1.0"].map((version) => ({ template: `Outage ${version} {{q}}`, version })),
    );
    await ingest([
      ...outage(5, network("1.0.0")),
      ...outage(5, network("1.1.0")),
      ...outage(4, fallback("1.0.0")), // a fallback copied from 1.0.0: linked to it, source fallback
      ...outage(3, fallback("fallback")), // a fallback of no known version
      ...outage(2, network("7.7.7")),
      ...outage(1, fallback("7.7.7")),
      ...outage(1, fallback("fallback"), "2026-11-22T10:00:00Z", "CHAIN"), // not an LLM call: never counted
      ...outage(1, fallback("fallback"), "2026-11-21T10:00:00Z"), // outside the window
    ]);
  });

  it("links a fallback that names its version to it, with source fallback", async () => {
    const res = await admin.get(`/api/v1/prompts/outage/compare?versions=1.0.0,1.1.0&minSample=1&${window}`);
    expect(res.status).toBe(200);
    const [a, b] = res.body.versions;
    expect(a.units).toBe(9);
    expect(a.bySource).toEqual([
      { source: "fallback", units: 4, failures: 0, failureRate: 0 },
      { source: "network", units: 5, failures: 0, failureRate: 0 },
    ]);
    expect(b.units).toBe(5);
  });

  it("counts, for the prompt and window, the LLM spans no version holds, by reason", async () => {
    const res = await admin.get(`/api/v1/prompts/outage/compare?versions=1.0.0,1.1.0&minSample=1&${window}`);
    expect(res.body.unattributed).toEqual({
      total: 9,
      fallbackWithoutVersion: 4,
      unknownVersion: 3,
      unknownPrompt: 2,
      explanation:
        "9 LLM spans naming prompt 'outage' are in no version's figures for this window (4 served from an inline fallback that names no version; 3 naming a version the prompt does not have; 2 sent before the prompt existed).",
    });
    const everything = await admin.get("/api/v1/prompts/outage/compare?versions=1.0.0,1.1.0&minSample=1");
    expect(everything.body.unattributed).toMatchObject({ total: 10, fallbackWithoutVersion: 5 });
    const onlyFallback = await admin.get(
      `/api/v1/prompts/outage/compare?versions=1.0.0,1.1.0&minSample=1&source=fallback&${window}`,
    );
    expect(onlyFallback.body.unattributed).toMatchObject({
      total: 5,
      fallbackWithoutVersion: 4,
      unknownVersion: 1,
      unknownPrompt: 0,
    });
    const spans = await admin.get(`/api/v1/spans?prompt=outage&linkStatus=unknown_prompt`);
    expect(spans.body.data).toHaveLength(3);
    expect((await compare("versions=1.4.2,1.5.0")).body.unattributed).toEqual({
      total: 0,
      fallbackWithoutVersion: 0,
      unknownVersion: 0,
      unknownPrompt: 0,
      explanation: "Every LLM span naming prompt 'triage' in this window is attributed to one of its versions.",
    });
  });
});

describe("timeseries", () => {
  it("buckets add up to the totals, with the label's moves as events", async () => {
    const res = await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2,1.5.0&bucket=1h");
    expect(res.status).toBe(200);
    const totals = await compare("versions=1.4.2,1.5.0");
    for (const [i, series] of res.body.series.entries()) {
      const count = series.points.reduce((s: number, p: { count: number }) => s + p.count, 0);
      const failures = series.points.reduce((s: number, p: { failures: number }) => s + p.failures, 0);
      expect(count).toBe(totals.body.versions[i].units);
      expect(failures).toBe(totals.body.versions[i].failures);
      expect(series.points[0]).toMatchObject({ start: "2026-11-20T00:00:00.000Z", count: 60 });
    }
    expect(res.body.events.map((e: { toVersion: string }) => e.toVersion)).toEqual(["1.4.2", "1.5.0"]);
    expect((await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2&bucket=2h")).status).toBe(422);
    const daily = await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2&bucket=1d");
    expect(daily.body.series[0].points.map((p: { count: number }) => p.count)).toEqual([1440, 560]);
  });
});

describe("compare from rollups", () => {
  const versionsOf = async (query: string) => {
    const res = await compare(query);
    expect(res.status).toBe(200);
    return res.body;
  };

  it("agrees with the raw spans: counts, failures, sums and means exactly, percentiles within the histogram bound", async () => {
    expect(HISTOGRAM_RELATIVE_ERROR).toBeLessThan(0.01);
    const filters = [
      "",
      "&model=gpt-4o-mini",
      "&source=stale",
      "&label=production",
      "&label=staging", // no span has it
      "&from=2026-11-20T03:00:00Z&to=2026-11-20T09:00:00Z", // whole hours only
      "&from=2026-11-20T00:30:00Z&to=2026-11-21T05:10:30Z", // partial hours at both edges
      "&from=2026-11-20T03:10:00Z&to=2026-11-20T03:50:00Z", // inside one hour
      "&to=2026-11-20T10:20:30.5Z",
      "&from=2026-11-21T07:59:59.999Z&source=network",
    ];
    for (const f of filters) {
      const exact = await versionsOf(`versions=1.4.2,1.5.0&percentiles=exact${f}`);
      const hist = await versionsOf(`versions=1.4.2,1.5.0&percentiles=histogram${f}`);
      expect(exact.percentiles).toBe("exact");
      expect(hist.percentiles).toMatch(/^histogram \(<=0\.995% relative error\)$/);
      for (const [i, e] of exact.versions.entries()) {
        const r = hist.versions[i];
        expect([r.units, r.spans, r.failures, r.failureRate], f).toEqual([e.units, e.spans, e.failures, e.failureRate]);
        expect(r.bySource, f).toEqual(e.bySource);
        for (const k of ["prompt", "completion", "total"]) {
          expect(r.tokens[k].sum, f).toBe(e.tokens[k].sum);
          if (e.tokens[k].mean === null) expect(r.tokens[k].mean).toBeNull();
          else expect(r.tokens[k].mean, f).toBeCloseTo(e.tokens[k].mean, 9);
        }
        expect(r.costUsd.sum, f).toBeCloseTo(e.costUsd.sum, 12);
        if (e.units === 0) {
          expect(r.latencyMs).toEqual({ p50: null, p95: null, p99: null, mean: null });
          expect(r.costUsd.mean).toBeNull();
          continue;
        }
        expect(r.costUsd.mean, f).toBeCloseTo(e.costUsd.mean, 12);
        expect(r.latencyMs.mean, f).toBeCloseTo(e.latencyMs.mean, 9);
        for (const q of ["p50", "p95", "p99"]) {
          const err = Math.abs(r.latencyMs[q] - e.latencyMs[q]) / e.latencyMs[q];
          expect(err, `${f} ${q}`).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ERROR * (1 + 1e-9));
        }
      }
      expect(hist.comparisons[0].verdict).toBe(exact.comparisons[0].verdict);
      expect(hist.comparisons[0].pValue).toBe(exact.comparisons[0].pValue);
    }
  });

  it("stays exact when the sample is small, or when rollups cannot give exact counts", async () => {
    expect((await versionsOf("versions=1.4.2,1.5.0")).percentiles).toBe("exact"); // 4,000 spans: under the threshold
    for (const q of ["unit=trace", "failure=annotation:helpful", "failure=any", "session=s1", "user=u1"])
      expect((await versionsOf(`versions=1.4.2,1.5.0&percentiles=histogram&${q}`)).percentiles, q).toBe("exact");
    expect((await compare("versions=1.4.2,1.5.0&percentiles=sometimes")).status).toBe(422);
  });

  it("serves the time series' totals from the same spans", async () => {
    const series = await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2,1.5.0&bucket=1d");
    const hist = await versionsOf("versions=1.4.2,1.5.0&percentiles=histogram");
    for (const [i, s] of series.body.series.entries())
      expect(s.points.reduce((n: number, p: { count: number }) => n + p.count, 0)).toBe(hist.versions[i].units);
  });

  it("gives the same time series from rollups: counts and failures exactly, p95 within the bound", async () => {
    for (const q of [
      "bucket=1h",
      "bucket=1d",
      "bucket=1h&from=2026-11-20T02:30:00Z&to=2026-11-20T09:45:00Z",
      "bucket=1d&source=stale&to=2026-11-21T03:20:00Z",
    ]) {
      const exact = await admin.get(`/api/v1/prompts/triage/timeseries?versions=1.4.2,1.5.0&percentiles=exact&${q}`);
      const hist = await admin.get(`/api/v1/prompts/triage/timeseries?versions=1.4.2,1.5.0&percentiles=histogram&${q}`);
      expect([exact.status, hist.status]).toEqual([200, 200]);
      expect(exact.body.percentiles).toBe("exact");
      expect(hist.body.percentiles).toMatch(/^histogram/);
      expect(hist.body.events).toEqual(exact.body.events);
      for (const [i, series] of exact.body.series.entries()) {
        const rolled = hist.body.series[i].points;
        expect(
          rolled.map((p: { start: string }) => p.start),
          q,
        ).toEqual(series.points.map((p: { start: string }) => p.start));
        for (const [j, e] of series.points.entries()) {
          const r = rolled[j];
          expect([r.count, r.failures, r.failureRate], q).toEqual([e.count, e.failures, e.failureRate]);
          expect(r.costMeanUsd, q).toBeCloseTo(e.costMeanUsd, 12);
          expect(Math.abs(r.latencyP95Ms - e.latencyP95Ms) / e.latencyP95Ms, q).toBeLessThanOrEqual(
            HISTOGRAM_RELATIVE_ERROR * (1 + 1e-9),
          );
        }
      }
    }
    const fine = await admin.get(
      "/api/v1/prompts/triage/timeseries?versions=1.4.2&bucket=5m&percentiles=histogram&from=2026-11-20T00:00:00Z&to=2026-11-20T02:00:00Z",
    );
    expect(fine.body.percentiles).toBe("exact");
    const tooLong = await admin.get(
      "/api/v1/prompts/triage/timeseries?versions=1.4.2&bucket=1h&percentiles=histogram&from=2020-01-01T00:00:00Z",
    );
    expect(tooLong.status).toBe(422);
  });
});
