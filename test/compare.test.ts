// Comparison on data with a known truth, delivered through the real OTLP receiver.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HISTOGRAM_RELATIVE_ERROR } from "../src/compare/histogram.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";
import { otlpJson, type SpanSpec } from "./helpers/otlp.js";

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
  { version: "1.4.2", failEvery: 20, latency: (i) => 100 + (i % 100), completion: (i) => 50 + (i % 10), cost: (i) => 0.001 + (i % 5) * 0.0001, traceBase: 0 },
  // 9% failing: i % 100 in a fixed set of 9 residues.
  { version: "1.5.0", failEvery: 0, latency: (i) => 130 + (i % 150), completion: (i) => 70 + (i % 10), cost: (i) => 0.002, traceBase: 100_000 },
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
        attributes: { "openinference.span.kind": "CHAIN", "prompt.id": prompt, "llm.prompt_template.version": t.version, "llm.token_count.total": 999 },
      });
    }
  }
  return spans;
}

async function ingest(spans: SpanSpec[]) {
  for (let i = 0; i < spans.length; i += 1000) {
    const res = await request(h.app)
      .post("/v1/traces")
      .set("Authorization", `Bearer ${h.adminKey}`)
      .set("Content-Type", "application/json")
      .send(otlpJson(spans.slice(i, i + 1000)));
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess ?? {}).toEqual({});
  }
}

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
      const res = await admin.post(`/api/v1/prompts/${name}/versions`, { template: `${name} ${version} {{q}}`, version });
      expect(res.status).toBe(201);
      await admin.put(`/api/v1/prompts/${name}/labels/production`, { version });
    }
  }
  await ingest([...llmSpans(TRUTHS[0]!, "triage", N, true), ...llmSpans(TRUTHS[1]!, "triage", N, true)]);
  await ingest([...llmSpans({ ...TRUTHS[0]!, traceBase: 500_000 }, "small", 30, false), ...llmSpans({ ...TRUTHS[1]!, traceBase: 600_000 }, "small", 30, false)]);
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
    ...Array.from({ length: 100 }, (_, t) => ({ traceId: hex(100_000 + t + 1, 32), name: "helpful", kind: "eval", passed: t % 2 === 1, score: t % 2 })),
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
    expect(cmp.latencyP95DiffMs).toBeCloseTo(percentile(Array.from({ length: N }, (_, i) => TRUTHS[1]!.latency(i)), 0.95) - percentile(Array.from({ length: N }, (_, i) => TRUTHS[0]!.latency(i)), 0.95), 6);
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

  it("uses annotations as the failure definition, span-level and trace-level", async () => {
    const res = await compare("versions=1.4.2,1.5.0&failure=annotation:helpful");
    const [a, b] = res.body.versions;
    expect(a.failures).toBe(50); // 1 in 4 of the 200 annotated spans
    expect(b.failures).toBe(100); // 50 failing traces x their 2 spans
    expect(a.annotations).toEqual([{ name: "helpful", count: 200, passRate: 0.75, meanScore: 0.75 }]);
    expect(b.annotations).toEqual([{ name: "helpful", count: 200, passRate: 0.5, meanScore: 0.5 }]);
    const threshold = await compare("versions=1.4.2,1.5.0&failure=annotation:helpful&threshold=2");
    expect(threshold.body.versions[0].failures).toBe(200); // every score is under 2
    const any = await compare("versions=1.4.2,1.5.0&failure=any:helpful");
    // status failures (multiples of 20) or annotation failures (multiples of 4 below 200), counted once
    const expected = Array.from({ length: N }, (_, i) => i % 20 === 0 || (i < 200 && i % 4 === 0)).filter(Boolean).length;
    expect(any.body.versions[0].failures).toBe(expected);
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
    await admin.post("/api/v1/prompts/fresh/versions", { template: "x" });
    const noLedger = await admin.get("/api/v1/prompts/fresh/compare");
    expect(noLedger.status).toBe(422);
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
    for (const q of ["bucket=1h", "bucket=1d", "bucket=1h&from=2026-11-20T02:30:00Z&to=2026-11-20T09:45:00Z", "bucket=1d&source=stale&to=2026-11-21T03:20:00Z"]) {
      const exact = await admin.get(`/api/v1/prompts/triage/timeseries?versions=1.4.2,1.5.0&percentiles=exact&${q}`);
      const hist = await admin.get(`/api/v1/prompts/triage/timeseries?versions=1.4.2,1.5.0&percentiles=histogram&${q}`);
      expect([exact.status, hist.status]).toEqual([200, 200]);
      expect(exact.body.percentiles).toBe("exact");
      expect(hist.body.percentiles).toMatch(/^histogram/);
      expect(hist.body.events).toEqual(exact.body.events);
      for (const [i, series] of exact.body.series.entries()) {
        const rolled = hist.body.series[i].points;
        expect(rolled.map((p: { start: string }) => p.start), q).toEqual(series.points.map((p: { start: string }) => p.start));
        for (const [j, e] of series.points.entries()) {
          const r = rolled[j];
          expect([r.count, r.failures, r.failureRate], q).toEqual([e.count, e.failures, e.failureRate]);
          expect(r.costMeanUsd, q).toBeCloseTo(e.costMeanUsd, 12);
          expect(Math.abs(r.latencyP95Ms - e.latencyP95Ms) / e.latencyP95Ms, q).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ERROR * (1 + 1e-9));
        }
      }
    }
    const fine = await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2&bucket=5m&percentiles=histogram&from=2026-11-20T00:00:00Z&to=2026-11-20T02:00:00Z");
    expect(fine.body.percentiles).toBe("exact");
    const tooLong = await admin.get("/api/v1/prompts/triage/timeseries?versions=1.4.2&bucket=1h&percentiles=histogram&from=2020-01-01T00:00:00Z");
    expect(tooLong.status).toBe(422);
  });
});
