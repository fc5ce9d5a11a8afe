// span_rollups: the histogram bound (pure functions and the SQL bucket function), and ingest keeping the rollups
// equal to the counted spans: resends not counted twice, non-LLM spans never counted, concurrent ingests.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  LLM_MODEL_NAME,
  LLM_TOKEN_COUNT_TOTAL,
  OpenInferenceSpanKind,
  PROMPT_ID,
  PROMPT_TEMPLATE_VERSION,
  SemanticConventions,
} from "@arizeai/openinference-semantic-conventions";
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
} from "@opentelemetry/semantic-conventions/incubating";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bucketMidpoint,
  HISTOGRAM_RELATIVE_ERROR,
  histogramPercentiles,
  LATENCY_FLOOR_MS,
  LATENCY_RATIO,
  latencyBucket,
} from "../src/compare/histogram.js";
import { rollUpStoredSpans } from "../src/traces/rollups.js";
import { tracesThatMayNeedLinks } from "../src/traces/trace-links.js";
import { ingestSpans, publishVersion } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";
import type { SpanSpec } from "./helpers/otlp.js";

const { OPENINFERENCE_SPAN_KIND } = SemanticConventions;
const BOUND = HISTOGRAM_RELATIVE_ERROR * (1 + 1e-12);
const relErr = (approx: number, exact: number) =>
  exact === 0 ? Math.abs(approx) : Math.abs(approx - exact) / Math.abs(exact);

/** Deterministic values over 1 ns .. 10^12 ms (and their negatives), plus every bucket edge and its neighbours. */
function wideRange(): number[] {
  const values = [0];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    const v = 10 ** (-6 + 18 * rand());
    values.push(v, -v);
  }
  for (let b = 0; b < 2100; b += 1) {
    const edge = LATENCY_FLOOR_MS * LATENCY_RATIO ** b;
    values.push(edge, edge * (1 + 1e-15), edge * (1 - 1e-15));
  }
  // What OTLP produces: whole nanoseconds.
  for (let ns = 1; ns <= 5000; ns++) values.push(ns / 1e6);
  return values.filter((v) => v === 0 || Math.abs(v) >= LATENCY_FLOOR_MS);
}

/** percentile_cont, as the database computes it. */
function percentileCont(sorted: number[], p: number): number {
  const h = p * (sorted.length - 1);
  const lo = Math.floor(h);
  return sorted[lo]! + (h - lo) * (sorted[Math.ceil(h)]! - sorted[lo]!);
}

describe("latency histogram", () => {
  it("reports every value within 1% relative error: its bucket's midpoint is within sqrt(1.02) - 1", () => {
    expect(HISTOGRAM_RELATIVE_ERROR).toBeCloseTo(0.00995, 5);
    for (const v of wideRange()) {
      const b = latencyBucket(v);
      expect(Math.abs(b)).toBeLessThan(2600); // fits a smallint with room
      expect(relErr(bucketMidpoint(b), v), `${v}`).toBeLessThanOrEqual(BOUND);
    }
    // Larger values never land in a smaller bucket (the histogram keeps the ranks' order).
    const sorted = wideRange().sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++)
      expect(latencyBucket(sorted[i]!)).toBeGreaterThanOrEqual(latencyBucket(sorted[i - 1]!));
  });

  it("gives percentiles within the bound of percentile_cont's value, on several distributions", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const distributions: Record<string, () => number> = {
      uniform: () => 50 + 1000 * rand(),
      lognormal: () => Math.exp(5 + 1.5 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())),
      bimodal: () => (rand() < 0.9 ? 80 + 20 * rand() : 30_000 + 5000 * rand()),
      whole_ns: () => Math.ceil(rand() * 2_000_000) / 1e6,
      constant: () => 123.456,
      with_zeros: () => (rand() < 0.3 ? 0 : 1 + rand()),
    };
    for (const [name, draw] of Object.entries(distributions)) {
      for (const n of [1, 2, 3, 10, 101, 5000]) {
        const values = Array.from({ length: n }, draw).sort((a, b) => a - b);
        const counts = new Map<number, number>();
        for (const v of values) counts.set(latencyBucket(v), (counts.get(latencyBucket(v)) ?? 0) + 1);
        const ps = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1];
        const got = histogramPercentiles(counts, ps);
        for (const [i, p] of ps.entries()) {
          expect(relErr(got[i]!, percentileCont(values, p)), `${name} n=${n} p=${p}`).toBeLessThanOrEqual(BOUND);
        }
      }
    }
    expect(histogramPercentiles(new Map(), [0.5])).toEqual([null]);
  });
});

let h: Harness;
let admin: Client;
const HOUR_NS = 3_600_000_000_000n;
const BASE_NS = BigInt(Date.parse("2026-11-22T00:00:00Z")) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

const send = (spans: SpanSpec[]) => ingestSpans(h, spans);

/** The rollups of the project's versions of `prompt`, totalled. */
async function rollupTotals(prompt: string) {
  const { rows } = await h.database.query<Record<string, number>>(
    `SELECT coalesce(sum(r.spans), 0)::int AS spans, coalesce(sum(r.failures), 0)::int AS failures,
       coalesce(sum(r.tokens_total_sum), 0)::int AS tokens, coalesce(sum(r.tokens_total_count), 0)::int AS tokens_count,
       count(*)::int AS rows
     FROM span_rollups r JOIN prompt_versions v ON v.id = r.version_id JOIN prompts p ON p.id = v.prompt_id WHERE p.name = $1`,
    [prompt],
  );
  return rows[0]!;
}

/** A linked span of `prompt`@1.0.0: `i` picks its time (within 3 hours), latency, status and tokens. */
function span(
  prompt: string,
  trace: number,
  i: number,
  attributes: Record<string, string | number> = { "openinference.span.kind": "LLM" },
): SpanSpec {
  const start = BASE_NS + BigInt(i % 3) * HOUR_NS + BigInt(i) * 1_000_000n;
  return {
    traceId: hex(trace, 32),
    spanId: hex(trace * 10_000 + i + 1, 16),
    start: start.toString(),
    end: (start + BigInt(1 + ((i * 7919) % 5000)) * 1_000_000n).toString(),
    status: i % 7 === 0 ? { code: 2, message: "boom" } : { code: 1 },
    attributes: {
      "prompt.id": prompt,
      "llm.prompt_template.version": "1.0.0",
      "llm.token_count.total": 10,
      ...attributes,
    },
  };
}

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  for (const name of ["rolled", "resent", "concurrent", "linked-later"])
    await publishVersion(admin, name, { template: `${name} {{q}}`, version: "1.0.0" });
}, 120_000);
afterAll(() => h?.close());

describe("span_rollups at ingest", () => {
  it("rounds a database value into the same bucket as the bound's proof (promptreg_latency_bucket)", async () => {
    const values = wideRange();
    const { rows } = await h.database.query<{ v: number; b: number }>(
      "SELECT v, promptreg_latency_bucket(v)::int AS b FROM unnest($1::float8[]) AS v",
      [values],
    );
    expect(rows).toHaveLength(values.length);
    let same = 0;
    for (const { v, b } of rows) {
      expect(relErr(bucketMidpoint(b), v), `${v}`).toBeLessThanOrEqual(BOUND);
      if (b === latencyBucket(v)) same++;
    }
    // Only values a rounding error away from an edge may land on the other side of it.
    expect(same / rows.length).toBeGreaterThan(0.99);
  });

  it("counts only LLM calls linked to a version: a declared LLM kind, a GenAI chat in any case, OpenLLMetry's chat", async () => {
    const spans: SpanSpec[] = [];
    const counted: number[] = [];
    const add = (from: number, to: number, attributes: Record<string, string | number> | null, counts: boolean) => {
      for (let i = from; i < to; i++) {
        const s = span("rolled", 1, i, attributes ?? {});
        if (attributes === null) s.attributes = { [PROMPT_ID]: "rolled", [PROMPT_TEMPLATE_VERSION]: "1.0.0" }; // no kind, model or tokens
        spans.push(s);
        if (counts) counted.push(i);
      }
    };
    add(0, 60, { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM }, true);
    add(60, 70, { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.CHAIN }, false);
    // No kind: a model and tokens are no evidence of a chat call (embeddings, reranks, images carry them too).
    add(70, 75, { [LLM_MODEL_NAME]: "gpt-4o" }, false);
    add(75, 80, null, false);
    add(80, 90, { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM, [PROMPT_TEMPLATE_VERSION]: "9.9.9" }, false);
    add(90, 95, { [ATTR_GEN_AI_OPERATION_NAME]: "Chat", [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o" }, true);
    add(
      95,
      100,
      {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
        [ATTR_GEN_AI_REQUEST_MODEL]: "text-embedding-3-small",
      },
      false,
    );
    add(
      100,
      105,
      { [ATTR_GEN_AI_OPERATION_NAME]: "image_generation", [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-image-1" },
      false,
    );
    // OpenLLMetry marks its spans with llm.request.type (its own convention; no package here exports the key).
    add(105, 110, { "llm.request.type": "chat", [ATTR_GEN_AI_REQUEST_MODEL]: "gpt-4o" }, true);
    add(110, 115, { "llm.request.type": "embedding", [ATTR_GEN_AI_REQUEST_MODEL]: "text-embedding-3-small" }, false);
    add(115, 120, { "llm.request.type": "rerank", [ATTR_GEN_AI_REQUEST_MODEL]: "rerank-v3.5" }, false);
    await send(spans);
    expect(await rollupTotals("rolled")).toMatchObject({
      spans: counted.length,
      failures: counted.filter((i) => i % 7 === 0).length,
      tokens: 10 * counted.length,
      tokens_count: counted.length,
    });
    const kinds = await h.database.query<{ span_kind: string | null; n: number }>(
      `SELECT span_kind, count(*)::int AS n FROM spans s JOIN prompts p ON p.id = s.prompt_id WHERE p.name = 'rolled' GROUP BY 1 ORDER BY 1`,
    );
    expect(kinds.rows).toEqual([
      { span_kind: "CHAIN", n: 10 },
      { span_kind: "EMBEDDING", n: 10 },
      { span_kind: "LLM", n: 80 },
      { span_kind: "OTHER", n: 5 },
      { span_kind: "RERANKER", n: 5 },
      { span_kind: null, n: 10 },
    ]);
    // The stored rows' hours are the UTC hours of the spans.
    const { rows } = await h.database.query<{ hour: Date }>(
      `SELECT DISTINCT r.hour FROM span_rollups r JOIN prompt_versions v ON v.id = r.version_id JOIN prompts p ON p.id = v.prompt_id
       WHERE p.name = 'rolled' ORDER BY 1`,
    );
    expect(rows.map((r) => new Date(r.hour).toISOString())).toEqual([
      "2026-11-22T00:00:00.000Z",
      "2026-11-22T01:00:00.000Z",
      "2026-11-22T02:00:00.000Z",
    ]);
  });

  it("never counts a resent span twice, alone or mixed with new ones", async () => {
    const first = Array.from({ length: 50 }, (_, i) => span("resent", 2, i));
    await send(first);
    const before = await rollupTotals("resent");
    expect(before.spans).toBe(50);
    await send(first);
    expect(await rollupTotals("resent")).toEqual(before);
    await send([...first.slice(0, 25), ...Array.from({ length: 10 }, (_, i) => span("resent", 2, 50 + i))]);
    expect((await rollupTotals("resent")).spans).toBe(60);
  });

  it("stays exact under concurrent ingests upserting the same rollup rows", async () => {
    // 12 requests at once, 300 spans each, all over the same hours and buckets, half of them in reverse order.
    const requests = Array.from({ length: 12 }, (_, r) => {
      const spans = Array.from({ length: 300 }, (_, i) => span("concurrent", 100 + r, i));
      return r % 2 ? spans.reverse() : spans;
    });
    await Promise.all(requests.map(send));
    await Promise.all(requests.slice(0, 6).map(send)); // and resends racing each other
    const totals = await rollupTotals("concurrent");
    expect(totals.spans).toBe(12 * 300);
    expect(totals.failures).toBe(12 * Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 7 === 0).length);
    const { rows } = await h.database.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM spans s JOIN prompts p ON p.id = s.prompt_id WHERE p.name = 'concurrent'`,
    );
    expect(rows[0]!.n).toBe(12 * 300);
  });

  it("stay exact when judges and Arthur's PROMPT spans arrive in other requests, concurrently and resent", async () => {
    // 30 traces: an agent with an Arthur PROMPT span, two LLM calls after it, and an evaluator with an LLM judge that
    // carries the prompt attributes. Their spans are dealt over 6 requests sent at once, then 3 of them again.
    const at = (trace: number, ms: number) =>
      (BASE_NS + (BigInt(trace) * HOUR_NS) / 7n + BigInt(ms) * 1_000_000n).toString();
    const spans: SpanSpec[] = [];
    for (let t = 0; t < 30; t++) {
      const traceId = hex(5000 + t, 32);
      const id = (k: number) => hex(50_000_000 + t * 10 + k, 16);
      const span = (
        k: number,
        parent: number | null,
        from: number,
        to: number,
        attributes: Record<string, string | number>,
        failed = false,
      ): SpanSpec => ({
        traceId,
        spanId: id(k),
        parentSpanId: parent === null ? undefined : id(parent),
        name: `span ${k}`,
        start: at(t, from),
        end: at(t, to),
        status: failed ? { code: 2 } : { code: 1 },
        attributes,
      });
      const call = {
        [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM,
        [LLM_MODEL_NAME]: "gpt-4o",
        [LLM_TOKEN_COUNT_TOTAL]: 10,
      };
      spans.push(
        span(0, null, 0, 5000, { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.AGENT }),
        span(1, 0, 1, 15, {
          [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.PROMPT,
          "arthur.prompt.name": "linked-later",
          [PROMPT_TEMPLATE_VERSION]: "1.0.0",
        }),
        span(2, 0, 20, 900, call, t % 3 === 0),
        span(3, 0, 1000, 1900, call),
        span(4, 0, 2000, 3000, { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.EVALUATOR }),
        span(5, 4, 2100, 2900, { ...call, [PROMPT_ID]: "linked-later", [PROMPT_TEMPLATE_VERSION]: "1.0.0" }),
      );
    }
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const requests: SpanSpec[][] = Array.from({ length: 6 }, () => []);
    for (const s of spans) requests[Math.floor(rand() * 6)]!.push(s);
    await Promise.all(requests.map(send));
    await Promise.all(requests.slice(0, 3).map(send));
    expect(await rollupTotals("linked-later")).toMatchObject({
      spans: 60,
      failures: 10,
      tokens: 600,
      tokens_count: 60,
    });
    const { rows } = await h.database.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM spans s JOIN prompts p ON p.id = s.prompt_id
       WHERE p.name = 'linked-later' AND s.span_kind = 'LLM' AND s.prompt_span_id IS NOT NULL AND NOT s.in_evaluation`,
    );
    expect(rows[0]!.n).toBe(60);
  });

  it("follow the links of spans sent alone after the spans they relate to, roots of their trace included", async () => {
    // Which chunks may change links is decided from their rows (tracesThatMayNeedLinks): each request below holds a
    // single span of its trace, and only its own kind or parent says that the trace needs the link statements.
    await publishVersion(admin, "alone", { template: "alone {{q}}", version: "1.0.0" });
    const at = (ms: number) => (BASE_NS + BigInt(ms) * 1_000_000n).toString();
    const spanOf = (trace: number, k: number, from: number, attributes: Record<string, string | number>): SpanSpec => ({
      traceId: hex(6000 + trace, 32),
      spanId: hex(60_000_000 + trace * 10 + k, 16),
      start: at(from),
      end: at(from + 10),
      status: { code: 1 },
      attributes,
    });
    const prompt = {
      [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.PROMPT,
      "arthur.prompt.name": "alone",
      [PROMPT_TEMPLATE_VERSION]: "1.0.0",
    };
    const call = {
      [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM,
      [LLM_MODEL_NAME]: "gpt-4o",
      [LLM_TOKEN_COUNT_TOTAL]: 10,
    };
    const counted = async () => (await rollupTotals("alone")).spans;

    // Arthur's PROMPT span and the LLM call after it, both roots (no parent), each in a request of its own.
    await send([spanOf(0, 0, 0, prompt)]);
    expect(await counted()).toBe(0);
    await send([spanOf(0, 1, 20, call)]);
    expect(await counted()).toBe(1);
    await send([spanOf(1, 1, 20, call)]);
    expect(await counted()).toBe(1);
    await send([spanOf(1, 0, 0, prompt)]);
    expect(await counted()).toBe(2);
    // A judge's call first, then the EVALUATOR it runs under, a root of its trace, alone.
    const evaluator = spanOf(2, 0, 0, { [OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.EVALUATOR });
    await send([
      {
        ...spanOf(2, 1, 5, { ...call, [PROMPT_ID]: "alone", [PROMPT_TEMPLATE_VERSION]: "1.0.0" }),
        parentSpanId: evaluator.spanId,
      },
    ]);
    expect(await counted()).toBe(3);
    await send([evaluator]);
    expect(await counted()).toBe(2);
    // And a call under that judge sent after it: only its parent says it may belong to an evaluation.
    await send([
      {
        ...spanOf(2, 2, 6, { ...call, [PROMPT_ID]: "alone", [PROMPT_TEMPLATE_VERSION]: "1.0.0" }),
        parentSpanId: evaluator.spanId,
      },
    ]);
    expect(await counted()).toBe(2);

    const { rows } = await h.database.query<{ span_id: string; prompt_span_id: string | null; in_evaluation: boolean }>(
      `SELECT s.span_id, s.prompt_span_id, s.in_evaluation FROM spans s JOIN prompts p ON p.id = s.prompt_id
       WHERE p.name = 'alone' AND s.span_kind = 'LLM' ORDER BY s.span_id`,
    );
    expect(rows).toEqual([
      { span_id: hex(60_000_001, 16), prompt_span_id: hex(60_000_000, 16), in_evaluation: false },
      { span_id: hex(60_000_011, 16), prompt_span_id: hex(60_000_010, 16), in_evaluation: false },
      { span_id: hex(60_000_021, 16), prompt_span_id: null, in_evaluation: true },
      { span_id: hex(60_000_022, 16), prompt_span_id: null, in_evaluation: true },
    ]);
  });

  it("need no link statement for chunks of root spans that are no LLM call, judge or PROMPT span naming a prompt", () => {
    const row = (
      trace: string,
      span_kind: string | null,
      prompt_name: string | null,
      parent_span_id: string | null = null,
    ) => ({
      trace_id: trace,
      span_kind,
      prompt_name,
      parent_span_id,
    });
    expect(
      tracesThatMayNeedLinks([
        row("a", "AGENT", null),
        row("a", "TOOL", "p"),
        row("b", "CHAIN", null),
        row("c", "PROMPT", null),
      ]),
    ).toEqual([]);
    // A root LLM call may be the outer span of nested calls stored before it (another instrumentation layer's).
    expect(
      tracesThatMayNeedLinks([
        row("a", "LLM", "p"),
        row("b", "LLM", null),
        row("c", "PROMPT", "p"),
        row("d", "EVALUATOR", null),
        row("e", "GUARDRAIL", null),
        row("f", "LLM", "p", "0123456789abcdef"),
        row("f", "LLM", null),
      ]),
    ).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  it("are what the migration's backfill and rollUpStoredSpans compute from the stored spans", async () => {
    const snapshot = async () =>
      (
        await h.database.query<Record<string, unknown>>(
          `SELECT project_id, version_id, hour, label, source, model, latency_bucket, spans, failures, latency_sum, tokens_prompt_sum::int,
             tokens_prompt_count, tokens_completion_sum::int, tokens_completion_count, tokens_total_sum::int, tokens_total_count, cost_sum, cost_count,
             cache_read_sum::int, cache_read_count, cache_write_sum::int, cache_write_count, reasoning_sum::int, reasoning_count,
             cost_sent_sum, cost_sent_count, cost_computed_sum, cost_computed_count
           FROM span_rollups WHERE spans <> 0 ORDER BY project_id, version_id, hour, label, source, model, latency_bucket`,
        )
      ).rows;
    const expectSame = (got: Record<string, unknown>[], want: Record<string, unknown>[]) => {
      expect(got.length).toBe(want.length);
      got.forEach((row, i) => {
        const { latency_sum, cost_sum, cost_sent_sum, cost_computed_sum, ...rest } = row;
        const {
          latency_sum: wantLatency,
          cost_sum: wantCost,
          cost_sent_sum: wantSent,
          cost_computed_sum: wantComputed,
          ...wantRest
        } = want[i]!;
        expect(rest).toEqual(wantRest);
        expect(latency_sum as number).toBeCloseTo(wantLatency as number, 6);
        for (const [got, wanted] of [
          [cost_sum, wantCost],
          [cost_sent_sum, wantSent],
          [cost_computed_sum, wantComputed],
        ])
          expect(got as number).toBeCloseTo(wanted as number, 12);
      });
    };
    const maintained = await snapshot();
    expect(maintained.length).toBeGreaterThan(10);

    const dir = path.resolve(import.meta.dirname, "../prisma/migrations");
    const migration = readFileSync(
      path.join(dir, readdirSync(dir).find((d) => d.endsWith("_real_instrumentations"))!, "migration.sql"),
      "utf8",
    );
    // The migration's last statement rebuilds the rollups from the spans (after re-reading them by the new rules).
    const backfill = migration.slice(migration.lastIndexOf("INSERT INTO span_rollups"));
    await h.database.query("DELETE FROM span_rollups");
    await h.database.query(backfill);
    expectSame(await snapshot(), maintained);

    await h.database.query("DELETE FROM span_rollups");
    const { rows } = await h.database.query<{ id: string }>("SELECT id FROM projects");
    for (const { id } of rows) await rollUpStoredSpans(h.database, id);
    expectSame(await snapshot(), maintained);
  });
});
