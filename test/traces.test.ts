import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as HttpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import request from "supertest";
import { holdSlot } from "./helpers/gate.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { createHarness, enc, silentLogger, type Client, type Harness } from "./helpers/harness.js";
import { serve, type Listener } from "./helpers/listen.js";
import {
  decodeProtobufResponse,
  newSpanId,
  newTraceId,
  nextNs,
  otlpJson,
  otlpProtobuf,
  wire,
  CONTENT_TYPE,
  type Encoding,
  heldOtlpRequest,
  type SpanSpec,
} from "./helpers/otlp.js";
import { exportSpans, sdkTracer } from "./helpers/sdk.js";

let h: Harness;
let writer: Client;
let writerKey: string;
let readerKey: string;
let receiver: Listener;
let endpoint: string;

beforeAll(async () => {
  h = await createHarness();
  writerKey = await h.newKey("write");
  readerKey = await h.newKey("read");
  writer = h.as(writerKey);
  receiver = await serve(h.app);
  endpoint = `${receiver.url}/v1/traces`;
  for (const [name, templates] of Object.entries({
    "support/triage": ["Hi {{a}}", "Hello {{a}}"],
    summarize: ["Sum {{t}}"],
  }))
    for (const template of templates) {
      const res = await writer.post(`/api/v1/prompts/${enc(name)}/versions`, { template });
      if (res.status !== 201) throw new Error(`publish failed: ${res.status}`);
    }
});
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

interface RawResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

// OTLP requests go over a real socket with fetch: supertest re-serialises Buffers sent as application/json.
async function postOtlp(
  body: string | Buffer,
  contentType: string,
  options: { key?: string | null; url?: string; gzip?: boolean; contentEncoding?: string } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { "Content-Type": contentType };
  if (options.key !== null) headers.Authorization = `Bearer ${options.key ?? writerKey}`;
  if (options.gzip) headers["Content-Encoding"] = "gzip";
  if (options.contentEncoding) headers["Content-Encoding"] = options.contentEncoding;
  const payload = options.gzip ? gzipSync(body) : typeof body === "string" ? Buffer.from(body) : body;
  const res = await fetch(options.url ?? endpoint, { method: "POST", headers, body: payload });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

const appWith = (config: Partial<Parameters<typeof createApp>[0]["config"]>) =>
  createApp({
    config: { bodyLimitBytes: 1024 * 1024, resolveCacheSize: 10, ...config },
    database: h.database,
    bus: h.bus,
    logger: silentLogger,
  });

/** A receiver with its own limits, on its own server. */
async function receiverWith(config: Partial<Parameters<typeof createApp>[0]["config"]>) {
  const { app, ingestGate } = appWith(config);
  const served = await serve(app);
  return { ...served, gate: ingestGate, url: `${served.url}/v1/traces` };
}

const send = (spans: SpanSpec[], encoding: Encoding = "json", key?: string) =>
  postOtlp(encoding === "json" ? otlpJson(spans) : otlpProtobuf(spans), CONTENT_TYPE[encoding], { key });

const json = (res: RawResponse) => JSON.parse(res.body.toString());

async function countSpans(traceIds: string[]): Promise<number> {
  return h.database.prisma.span.count({ where: { traceId: { in: traceIds } } });
}

async function traceOf(traceId: string, key = writerKey) {
  return request(h.app).get(`/api/v1/traces/${traceId}`).set("Authorization", `Bearer ${key}`);
}

/** Spans exactly as an instrumented agent produces them: an AGENT root with an LLM child tagged with a prompt. */
function agentSpans(count: number, prompt = { name: "support/triage", version: "1.0.1" }): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "agent" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer("agent");
  for (let i = 0; i < count; i++) {
    const root = tracer.startSpan("agent run", {
      attributes: { "openinference.span.kind": "AGENT", "session.id": "s-1" },
    });
    const llm = tracer.startSpan(
      "chat gpt-4o",
      {
        attributes: {
          "openinference.span.kind": "LLM",
          "prompt.id": prompt.name,
          "llm.prompt_template.version": prompt.version,
          "llm.model_name": "gpt-4o",
          "llm.token_count.prompt": 10,
          "llm.token_count.completion": 5,
        },
      },
      trace.setSpan(ROOT_CONTEXT, root),
    );
    llm.setStatus({ code: SpanStatusCode.OK });
    llm.end();
    root.end();
  }
  return memory.getFinishedSpans();
}

const traceIdsOf = (spans: ReadableSpan[]) => [...new Set(spans.map((s) => s.spanContext().traceId))];

describe("OTLP/HTTP receiver with the official exporters", () => {
  const headers = () => ({ Authorization: `Bearer ${writerKey}` });

  it.each([
    ["protobuf", () => new ProtobufExporter({ url: endpoint, headers: headers() })],
    ["JSON", () => new HttpJsonExporter({ url: endpoint, headers: headers() })],
    ["gzip protobuf", () => new ProtobufExporter({ url: endpoint, headers: headers(), compression: "gzip" as never })],
    ["gzip JSON", () => new HttpJsonExporter({ url: endpoint, headers: headers(), compression: "gzip" as never })],
  ])("%s: every span is stored once, also after the exporter resends them", async (_name, makeExporter) => {
    const exporter = makeExporter();
    const spans = agentSpans(3);
    const ids = traceIdsOf(spans);
    expect(await exportSpans(exporter, spans)).toMatchObject({ code: 0 });
    expect(await countSpans(ids)).toBe(6);
    expect(await exportSpans(exporter, spans)).toMatchObject({ code: 0 });
    expect(await countSpans(ids)).toBe(6);
    await exporter.shutdown();

    const tree = await traceOf(ids[0]!);
    expect(tree.status).toBe(200);
    expect(tree.body.spans).toHaveLength(1);
    const [root] = tree.body.spans;
    expect(root).toMatchObject({ name: "agent run", spanKind: "AGENT", linkStatus: "none", sessionId: "s-1" });
    expect(root.children).toHaveLength(1);
    expect(root.children[0]).toMatchObject({
      name: "chat gpt-4o",
      spanKind: "LLM",
      promptName: "support/triage",
      promptVersion: "1.0.1",
      linkStatus: "linked",
      model: "gpt-4o",
      tokensPrompt: 10,
      tokensCompletion: 5,
      tokensTotal: 15,
      status: "ok",
      failed: false,
      kind: 1,
    });
    expect(root.children[0].versionId).toMatch(/^[0-9a-f-]{36}$/);
    // Resources and scopes come once per answer; spans name theirs. A resource whose content reads like a scope's is
    // still stored apart from it: here the first request's resource, then the second request's scope.
    const lookalike = newTraceId();
    const first = otlpJson([{ traceId: lookalike }], { attributes: {}, name: "other", version: "" });
    expect((await postOtlp(first, CONTENT_TYPE.json)).status).toBe(200);
    const second = newTraceId();
    const scoped = otlpJson([{ traceId: second }]).replace('"scope":{"name":"test"}', '"scope":{"name":"other"}');
    expect(scoped).toContain('"name":"other"');
    expect((await postOtlp(scoped, CONTENT_TYPE.json)).status).toBe(200);
    const both = (await traceOf(second)).body;
    expect(both.scopes[both.spans[0].scopeId]).toMatchObject({ name: "other", version: "" });
    expect(tree.body.resources[root.children[0].resourceId]).toMatchObject({ "service.name": "agent" });
    expect(tree.body.scopes[root.children[0].scopeId]).toMatchObject({ name: "agent" });
  });

  it("accepts a raw gzip JSON request and answers in JSON", async () => {
    const traceId = newTraceId();
    const res = await postOtlp(otlpJson([{ traceId }, { traceId }]), "application/json; charset=utf-8", { gzip: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(json(res)).toEqual({});
    expect(await countSpans([traceId])).toBe(2);
  });

  it("answers a protobuf request with an empty protobuf ExportTraceServiceResponse", async () => {
    const traceId = newTraceId();
    const res = await send([{ traceId }], "protobuf");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/x-protobuf/);
    expect(res.body).toHaveLength(0);
    expect(await countSpans([traceId])).toBe(1);
  });

  it("accepts an empty request, and stores a span repeated inside one request once", async () => {
    expect((await postOtlp("", CONTENT_TYPE.json)).status).toBe(200);
    expect((await postOtlp("{}", CONTENT_TYPE.json)).status).toBe(200);
    expect((await postOtlp(Buffer.alloc(0), CONTENT_TYPE.protobuf)).status).toBe(200);
    const traceId = newTraceId();
    const spanId = newSpanId();
    expect(
      (
        await send([
          { traceId, spanId },
          { traceId, spanId },
        ])
      ).status,
    ).toBe(200);
    expect(await countSpans([traceId])).toBe(1);
  });

  it("follows the protobuf JSON mapping: uppercase hex ids, int64 as numbers, enum ints, unknown fields", async () => {
    const traceId = newTraceId();
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [], somethingNew: 1 },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: traceId.toUpperCase(),
                  spanId: "ABCDEF0123456789",
                  name: "n",
                  kind: 3,
                  startTimeUnixNano: 1700000000000000000,
                  endTimeUnixNano: "1700000000001000000",
                  attributes: [
                    { key: "i", value: { intValue: 7 } },
                    { key: "big", value: { intValue: "9007199254740993" } },
                    { key: "d", value: { doubleValue: "NaN" } },
                    { key: "b", value: { bytesValue: "AQI=" } },
                    {
                      key: "kv",
                      value: {
                        kvlistValue: {
                          values: [{ key: "x", value: { arrayValue: { values: [{ boolValue: true }] } } }],
                        },
                      },
                    },
                    {
                      key: "__proto__",
                      value: { kvlistValue: { values: [{ key: "polluted", value: { boolValue: true } }] } },
                    },
                  ],
                  status: { code: 2, message: "boom" },
                  futureField: { a: 1 },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postOtlp(JSON.stringify(body), CONTENT_TYPE.json);
    expect(res.status).toBe(200);
    expect(json(res)).toEqual({});
    const span = (await traceOf(traceId)).body.spans[0];
    expect(span).toMatchObject({
      traceId,
      spanId: "abcdef0123456789",
      kind: 3,
      status: "error",
      failed: true,
      errorMessage: "boom",
      latencyMs: 1,
    });
    expect(Object.keys(span.attributes).sort()).toEqual(["__proto__", "b", "big", "d", "i", "kv"]);
    expect(span.attributes).toMatchObject({ i: 7, big: "9007199254740993", d: "NaN", b: "AQI=", kv: { x: [true] } });
    expect(Object.getOwnPropertyDescriptor(span.attributes, "__proto__")?.value).toEqual({ polluted: true });
  });
});

// Every AnyValue kind, as the official exporters encode a JS value: a non-integer number is a double, an integer
// an int64 (the proto exporter sends integers at or beyond 2^63 as doubles), a Uint8Array bytes.
const SENT_ATTRIBUTES = {
  "d.quarter": 0.25,
  "d.one_and_a_half": 1.5,
  "d.decimal": 123456.789,
  "d.negative": -2.5,
  "d.negative_zero": -0,
  "d.tiny": 1e-300,
  "d.huge": 1e300,
  "i.small": 42,
  "i.negative": -7,
  "i.max_safe": Number.MAX_SAFE_INTEGER,
  "i.beyond_2_53": 2 ** 60,
  "i.negative_beyond_2_53": -(2 ** 60),
  "b.true": true,
  "b.false": false,
  "s.empty": "",
  "s.unicode": "héllo 👋 世界, زمان",
  "a.doubles": [0.25, 1.5, 123456.789],
  "a.ints": [1, 0, -3],
  "a.strings": ["a", "", "ü"],
  "a.bools": [true, false],
  "a.empty": [],
};
// What the OTel JS span API refuses (it keeps primitives and flat arrays) but the exporters encode, as other SDKs
// and the newer OTel attribute model send them.
const SENT_COMPLEX = {
  "x.bytes": new Uint8Array([0, 1, 254, 255]),
  "x.nested_list": [[0.25, "a"], [], [true, [1.5, 2 ** 60]]],
  "x.map": {
    quarter: 0.25,
    list: [1, 2.5],
    inner: { empty: "", big: -(2 ** 60), flag: false, tiny: 1e-300 },
    none: {},
  },
};
// Read back: -0 has no JSON/PostgreSQL form and the exporters send it as int 0 anyway; an int64 beyond 2^53 is its
// exact decimal string; bytes are base64.
const READ_BACK = {
  ...SENT_ATTRIBUTES,
  "d.negative_zero": 0,
  "i.beyond_2_53": "1152921504606846976",
  "i.negative_beyond_2_53": "-1152921504606846976",
  "x.bytes": "AAH+/w==",
  "x.nested_list": [[0.25, "a"], [], [true, [1.5, "1152921504606846976"]]],
  "x.map": {
    quarter: 0.25,
    list: [1, 2.5],
    inner: { empty: "", big: "-1152921504606846976", flag: false, tiny: 1e-300 },
    none: {},
  },
};

/** Spans of a real SDK, with attributes set beside the span API where it would refuse them. */
function spansWithAttributes(
  count: number,
  attributes: Record<string, unknown>,
  complex: Record<string, unknown> = {},
): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("values");
  for (let i = 0; i < count; i++) {
    const span = tracer.startSpan("values", { attributes: attributes as never });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  }
  return memory
    .getFinishedSpans()
    .map((s) => Object.create(s, { attributes: { value: { ...s.attributes, ...complex }, enumerable: true } }));
}

describe("attribute values (AnyValue) through the official exporters", () => {
  const headers = () => ({ Authorization: `Bearer ${writerKey}` });
  const exporters = {
    protobuf: () => new ProtobufExporter({ url: endpoint, headers: headers() }),
    JSON: () => new HttpJsonExporter({ url: endpoint, headers: headers() }),
  };

  it.each(Object.entries(exporters))(
    "%s: every kind reads back as sent, doubles, big ints, bytes and nesting included",
    async (_name, makeExporter) => {
      const spans = spansWithAttributes(1, SENT_ATTRIBUTES, SENT_COMPLEX);
      // The SDK really refuses the complex ones: they travel only because they are set beside its API.
      expect(Object.keys(spansWithAttributes(1, SENT_COMPLEX)[0]!.attributes)).toEqual([]);
      const exporter = makeExporter();
      expect(await exportSpans(exporter, spans)).toMatchObject({ code: 0 });
      await exporter.shutdown();
      const span = (await traceOf(traceIdsOf(spans)[0]!)).body.spans[0];
      expect(span.attributes).toStrictEqual(READ_BACK);
    },
  );

  it("reads raw AnyValues by the member that is set: int64 extremes, a double -0, an empty value, in both encodings", async () => {
    const attributes = {
      max: wire({ intValue: "9223372036854775807" }),
      min: wire({ intValue: "-9223372036854775808" }),
      zero: wire({ intValue: "0" }),
      negativeZero: wire({ doubleValue: -0 }),
      integralDouble: wire({ doubleValue: 3 }),
      nothing: wire({}),
      emptyString: wire({ stringValue: "" }),
      falseValue: wire({ boolValue: false }),
      list: wire({
        arrayValue: {
          values: [
            { doubleValue: 0.5 },
            {},
            { kvlistValue: { values: [{ key: "d", value: { doubleValue: 1e-300 } }] } },
          ],
        },
      }),
    };
    for (const encoding of ["json", "protobuf"] as const) {
      const traceId = newTraceId();
      expect((await send([{ traceId, attributes }], encoding)).status).toBe(200);
      const span = (await traceOf(traceId)).body.spans[0];
      expect(span.attributes, encoding).toStrictEqual({
        max: "9223372036854775807",
        min: "-9223372036854775808",
        zero: 0,
        negativeZero: 0,
        integralDouble: 3,
        nothing: null,
        emptyString: "",
        falseValue: false,
        list: [0.5, null, { d: 1e-300 }],
      });
    }
  });

  it("keeps decimal costs exact from a protobuf export to the span's cost and compare's cost", async () => {
    for (const template of ["Cost {{a}}", "Costs {{a}}"])
      expect((await writer.post("/api/v1/prompts/costed/versions", { template })).status).toBe(201);
    const llm = (version: string, cost: number) =>
      spansWithAttributes(3, {
        "openinference.span.kind": "LLM",
        "prompt.id": "costed",
        "llm.prompt_template.version": version,
        "llm.model_name": "gpt-4o",
        "llm.cost.total": cost,
      });
    const spans = [...llm("1.0.0", 0.25), ...llm("1.0.1", 1.5)];
    const exporter = exporters.protobuf();
    expect(await exportSpans(exporter, spans)).toMatchObject({ code: 0 });
    await exporter.shutdown();
    expect((await traceOf(spans[0]!.spanContext().traceId)).body.spans[0]).toMatchObject({
      linkStatus: "linked",
      costUsd: 0.25,
    });
    const res = await writer.get("/api/v1/prompts/costed/compare?versions=1.0.0,1.0.1&minSample=1");
    expect(res.status).toBe(200);
    expect(
      res.body.versions.map((v: { costUsd: { sum: number; mean: number; sent: unknown } }) => [
        v.costUsd.sum,
        v.costUsd.mean,
        v.costUsd.sent,
      ]),
    ).toStrictEqual([
      [0.75, 0.25, { sum: 0.75, count: 3 }],
      [4.5, 1.5, { sum: 4.5, count: 3 }],
    ]);
    expect(res.body.comparisons[0].meanCostDiffUsd).toBe(1.25);
  });
});

describe("costs as exact decimals", () => {
  it("add 36 calls at $0.00018, sent or priced, to exactly $0.00648 over many rollup rows and in the raw path", async () => {
    const admin = h.as(h.adminKey);
    for (const template of ["Exact {{a}}", "Exacter {{a}}"])
      expect((await writer.post("/api/v1/prompts/exact-cost/versions", { template })).status).toBe(201);
    // 1,000 × 0.09 + 250 × 0.36 per million tokens: $0.00018 a call, computed at ingest.
    const price = {
      model: "exact-model",
      inputPerMTok: "0.09",
      outputPerMTok: "0.36",
      effectiveFrom: "2000-01-01T00:00:00Z",
    };
    expect((await admin.post("/api/v1/prices", price)).status).toBe(201);
    const calls = (version: string, attributes: Record<string, string | number>) =>
      Array.from({ length: 36 }, (_, i) => {
        const start = nextNs();
        // Latencies from 1 to 36 ms: many latency buckets, so many rollup rows are added up.
        return {
          traceId: newTraceId(),
          start,
          end: (BigInt(start) + BigInt(i + 1) * 1_000_000n).toString(),
          attributes: {
            "openinference.span.kind": "LLM",
            "prompt.id": "exact-cost",
            "llm.prompt_template.version": version,
            ...attributes,
          },
        };
      });
    const spans = [
      ...calls("1.0.0", { "llm.cost.total": 0.00018 }),
      ...calls("1.0.1", {
        "llm.model_name": "exact-model",
        "llm.token_count.prompt": 1000,
        "llm.token_count.completion": 250,
      }),
    ];
    expect((await send(spans, "protobuf")).status).toBe(200);
    for (const percentiles of ["histogram", "exact"]) {
      const res = await writer.get(
        `/api/v1/prompts/exact-cost/compare?versions=1.0.0,1.0.1&minSample=1&percentiles=${percentiles}`,
      );
      expect(res.status).toBe(200);
      const [sent, computed] = res.body.versions;
      expect(sent.costUsd).toMatchObject({ sum: 0.00648, mean: 0.00018, count: 36, sent: { sum: 0.00648, count: 36 } });
      expect(computed.costUsd).toMatchObject({ sum: 0.00648, mean: 0.00018, computed: { sum: 0.00648, count: 36 } });
      expect(res.body.comparisons[0].meanCostDiffUsd).toBe(0);
      // As the answer's text has it, not only as a number that compares equal.
      expect(res.text).toContain('"sum":0.00648');
    }
  });
});

describe("bodies over 512 KiB, decoded on a worker thread", () => {
  // Realistic values: decimals, unicode, a big int, and text that gets cut; two spans the decoder must refuse.
  const batch = (traceId: string): SpanSpec[] =>
    Array.from({ length: 3000 }, (_, i) => ({
      traceId,
      name: `call ${i} ✓`,
      attributes: {
        "openinference.span.kind": "LLM",
        "llm.cost.total": 0.00125,
        "llm.token_count.prompt": 120 + (i % 7),
        "input.value": `Résumé ${i}: ${"naïve 漢字 ".repeat(30)}`,
        big: wire({ intValue: "9223372036854775807" }),
      },
      ...(i === 10 ? { parentSpanId: "0000000000000000" } : {}),
      ...(i === 2000 ? { start: "2000", end: "1000" } : {}),
    }));

  for (const encoding of ["json", "protobuf"] as const)
    it(`${encoding}: the spans are stored and the bad ones rejected exactly as for a small body`, async () => {
      const traceId = newTraceId();
      const spans = batch(traceId);
      const body = encoding === "json" ? otlpJson(spans) : otlpProtobuf(spans);
      expect(Buffer.byteLength(body)).toBeGreaterThan(512 * 1024);
      const res = await postOtlp(body, CONTENT_TYPE[encoding]);
      expect(res.status).toBe(200);
      const answer = encoding === "json" ? json(res) : decodeProtobufResponse(res.body);
      expect(answer.partialSuccess).toMatchObject({
        rejectedSpans: "2",
        errorMessage: expect.stringMatching(
          /spans\[10\]: invalid parentSpanId.*spans\[2000\]: endTimeUnixNano is before/,
        ),
      });
      expect(await countSpans([traceId])).toBe(2998);
      const stored = await h.database.prisma.span.findFirst({ where: { traceId, name: "call 2999 ✓" } });
      expect(stored).toMatchObject({ tokensPrompt: 120 + (2999 % 7) });
      // A Prisma Decimal: the exact decimal sent.
      expect(stored!.costUsd?.toString()).toBe("0.00125");
      expect((stored!.attributes as Record<string, unknown>).big).toBe("9223372036854775807");
    });

  it("an undecodable body over 512 KiB is a 400 in its encoding, and the next body is decoded", async () => {
    const before = await h.database.prisma.span.count();
    const badJson = await postOtlp(`{"resourceSpans": [${" ".repeat(600_000)}`, CONTENT_TYPE.json);
    expect(badJson.status).toBe(400);
    expect(json(badJson)).toMatchObject({ code: 3, message: expect.stringMatching(/undecodable JSON/) });
    const garbage = Buffer.alloc(600_000, 0xff);
    const badProto = await postOtlp(garbage, CONTENT_TYPE.protobuf);
    expect(badProto.status).toBe(400);
    expect(badProto.headers.get("content-type")).toMatch(/^application\/x-protobuf/);
    expect(await h.database.prisma.span.count()).toBe(before);
    const traceId = newTraceId();
    expect((await send(batch(traceId), "protobuf")).status).toBe(200);
    expect(await countSpans([traceId])).toBe(2998);
  });
});

describe("OTLP/HTTP errors", () => {
  it("refuses an undecodable body with 400 and a Status in the request's encoding, storing nothing", async () => {
    const before = await h.database.prisma.span.count();
    const badJson = await postOtlp('{"resourceSpans": [', CONTENT_TYPE.json);
    expect(badJson.status).toBe(400);
    expect(json(badJson)).toMatchObject({ code: 3, message: expect.stringMatching(/undecodable JSON/) });
    const notAList = await postOtlp('{"resourceSpans": {"a": 1}}', CONTENT_TYPE.json);
    expect(notAList.status).toBe(400);
    const badProto = await postOtlp(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), CONTENT_TYPE.protobuf);
    expect(badProto.status).toBe(400);
    expect(badProto.headers.get("content-type")).toMatch(/^application\/x-protobuf/);
    const badGzip = await postOtlp("not gzip at all", CONTENT_TYPE.json, { contentEncoding: "gzip" });
    expect(badGzip.status).toBe(400);
    expect(await h.database.prisma.span.count()).toBe(before);
  });

  it("refuses other content types and encodings with 415 and a JSON Status", async () => {
    const res = await postOtlp("x", "text/plain");
    expect(res.status).toBe(415);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(json(res)).toMatchObject({
      code: 3,
      message: expect.stringMatching(/application\/x-protobuf or application\/json/),
    });
    const brotli = await postOtlp("{}", CONTENT_TYPE.json, { contentEncoding: "br" });
    expect(brotli.status).toBe(415);
  });

  it("refuses a body over the limit after decompression with 413 (a gzip bomb), storing nothing", async () => {
    const small = await receiverWith({ otlpMaxBytes: 4096 });
    try {
      const traceId = newTraceId();
      const padded = otlpJson([{ traceId, attributes: { pad: "x".repeat(1_000_000) } }]);
      expect(gzipSync(padded).length).toBeLessThan(4096);
      const bomb = await postOtlp(padded, CONTENT_TYPE.json, { url: small.url, gzip: true });
      expect(bomb.status).toBe(413);
      expect(json(bomb)).toMatchObject({
        code: 8,
        message: expect.stringMatching(/exceeds 4096 bytes after decompression/),
      });
      const plain = await postOtlp(
        otlpProtobuf([{ traceId, attributes: { pad: "x".repeat(10_000) } }]),
        CONTENT_TYPE.protobuf,
        { url: small.url },
      );
      expect(plain.status).toBe(413);
      expect(await countSpans([traceId])).toBe(0);
      expect((await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: small.url, gzip: true })).status).toBe(
        200,
      );
    } finally {
      await small.close();
    }
  });

  it("answers a sender still writing a body over the limit with its 413, never a reset: fetch and the official exporter", async () => {
    const small = await receiverWith({ otlpMaxBytes: 64 * 1024 });
    try {
      // A body streamed in pieces, its size unknown in advance: the limit is passed while it is still being sent.
      const slowBody = () =>
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
            if (++sent === 64) controller.close();
          },
        });
      let sent = 0;
      for (let i = 0; i < 10; i++) {
        sent = 0;
        const res = await fetch(small.url, {
          method: "POST",
          headers: { Authorization: `Bearer ${writerKey}`, "Content-Type": CONTENT_TYPE.json },
          body: slowBody(),
          duplex: "half",
        } as RequestInit);
        expect(res.status).toBe(413);
        await res.arrayBuffer();
      }
      // Declared too large: answered before the body is read, which is then read and dropped too.
      for (let i = 0; i < 5; i++) {
        const res = await postOtlp(Buffer.alloc(2 * 1024 * 1024, 0x20), CONTENT_TYPE.json, { url: small.url });
        expect(res.status).toBe(413);
      }
      // The official exporter, gzip: a span too large once decompressed is a 413 it does not retry.
      const exporter = new HttpJsonExporter({
        url: small.url,
        headers: { Authorization: `Bearer ${writerKey}` },
        compression: "gzip" as never,
      });
      const { tracer, take } = sdkTracer();
      const span = tracer.startSpan("huge");
      span.setAttribute("pad", randomBytes(200 * 1024).toString("base64"));
      span.end();
      const result = await exportSpans(exporter, take());
      expect(result.code).toBe(1);
      expect(result.error).toMatchObject({ code: 413 });
      await exporter.shutdown();
    } finally {
      await small.close();
    }
  });

  it("keeps the good spans of a batch and reports the bad one through partial_success", async () => {
    for (const encoding of ["json", "protobuf"] as const) {
      const traceId = newTraceId();
      const res = await send(
        [{ traceId }, { traceId: "00000000000000000000000000000000" }, { traceId, parentSpanId: newSpanId() }],
        encoding,
      );
      expect(res.status).toBe(200);
      const body = encoding === "json" ? json(res) : decodeProtobufResponse(res.body);
      expect(body.partialSuccess).toMatchObject({
        rejectedSpans: "1",
        errorMessage: expect.stringMatching(/1 span\(s\) rejected: .*invalid traceId/),
      });
      expect(await countSpans([traceId])).toBe(2);
    }
    const traceId = newTraceId();
    const body = JSON.parse(otlpJson([{ traceId }, { traceId }, { traceId }, { traceId }]));
    const spans = body.resourceSpans[0].scopeSpans[0].spans;
    spans[0].spanId = "xyz";
    delete spans[1].startTimeUnixNano;
    spans[2].endTimeUnixNano = "1";
    const res = await postOtlp(JSON.stringify(body), CONTENT_TYPE.json);
    expect(json(res).partialSuccess.rejectedSpans).toBe("3");
    expect(json(res).partialSuccess.errorMessage).toMatch(
      /invalid spanId.*missing startTimeUnixNano.*endTimeUnixNano is before/,
    );
    expect(await countSpans([traceId])).toBe(1);
  });

  it("needs a key (401) with the write role (403), answering with a Status", async () => {
    const traceId = newTraceId();
    const anonymous = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { key: null });
    expect(anonymous.status).toBe(401);
    expect(json(anonymous)).toMatchObject({ code: 16 });
    const reader = await send([{ traceId }], "protobuf", readerKey);
    expect(reader.status).toBe(403);
    expect(reader.headers.get("content-type")).toMatch(/^application\/x-protobuf/);
    expect(await countSpans([traceId])).toBe(0);
  });

  it("refuses work beyond the in-flight limit with 503 and Retry-After, storing nothing", async () => {
    const closed = await receiverWith({ ingestMaxInFlight: 0, ingestMaxQueued: 0 });
    try {
      const traceId = newTraceId();
      const res = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: closed.url });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(json(res)).toMatchObject({ code: 14, message: expect.stringMatching(/overloaded/) });
      expect(await countSpans([traceId])).toBe(0);
    } finally {
      await closed.close();
    }
  });

  it("with one slot and no queue, a second request is refused while the slot is taken, and served once it is free", async () => {
    const one = await receiverWith({ ingestMaxInFlight: 1, ingestMaxQueued: 0 });
    try {
      // Another project's request holds the only slot.
      const otherTicket = one.gate.enter("another-project", "another-key");
      const other = holdSlot(otherTicket);
      await other.taken;
      const traceId = newTraceId();
      const second = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: one.url });
      expect(second.status).toBe(503);
      expect(second.headers.get("retry-after")).toBe("1");
      other.free();
      await other.done;
      otherTicket.release();
      const third = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: one.url });
      expect(third.status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
    } finally {
      await one.close();
    }
  });

  it("a sender still sending its body holds no slot: with one slot, another exporter is served meanwhile", async () => {
    // Four tickets, two per project.
    const one = await receiverWith({ ingestMaxInFlight: 1, ingestMaxQueued: 3 });
    try {
      const slowTrace = newTraceId();
      // Admitted (its handler reads the body) and then kept unfinished.
      const slow = heldOtlpRequest(one.server, writerKey, Buffer.from(otlpJson([{ traceId: slowTrace }])));
      await slow.holding;
      const traceId = newTraceId();
      const other = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: one.url });
      expect(other.status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
      slow.finish();
      expect(await slow.status).toBe(200);
      expect(await countSpans([slowTrace])).toBe(1);
    } finally {
      await one.close();
    }
  });
});

describe("mapping and linking", () => {
  it("links OpenInference, GenAI-convention and Langfuse spans to the right versions", async () => {
    const traceId = newTraceId();
    const res = await send([
      {
        traceId,
        name: "oi",
        attributes: {
          "openinference.span.kind": "LLM",
          "prompt.id": "support/triage",
          "llm.prompt_template.version": "1.0.0",
        },
      },
      {
        traceId,
        name: "genai",
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.prompt.name": "summarize",
          "llm.prompt_template.version": "1.0.0",
          "gen_ai.request.model": "claude",
          "gen_ai.response.model": "claude-2025",
          "gen_ai.provider.name": "anthropic",
          "gen_ai.usage.input_tokens": 100,
          "gen_ai.usage.output_tokens": 20,
          "gen_ai.conversation.id": "conv-9",
          "gen_ai.usage.cost": 0.25,
        },
      },
      {
        traceId,
        name: "langfuse",
        attributes: {
          "langfuse.observation.prompt.name": "support/triage",
          "langfuse.observation.prompt.version": "1.0.1",
          "langfuse.user.id": "u-7",
        },
      },
      {
        traceId,
        name: "langfuse-prompt-json",
        attributes: { "ai.telemetry.metadata.langfusePrompt": JSON.stringify({ name: "summarize", version: "1.0.0" }) },
      },
    ]);
    expect(res.status).toBe(200);
    const versions = async (name: string) =>
      Object.fromEntries(
        (await writer.get(`/api/v1/prompts/${enc(name)}/versions`)).body.data.map(
          (v: { version: string; id: string }) => [v.version, v.id],
        ),
      );
    const triage = await versions("support/triage");
    const summarize = await versions("summarize");
    const byName = Object.fromEntries((await traceOf(traceId)).body.spans.map((s: { name: string }) => [s.name, s]));
    expect(byName.oi).toMatchObject({ linkStatus: "linked", versionId: triage["1.0.0"], spanKind: "LLM" });
    expect(byName.genai).toMatchObject({
      linkStatus: "linked",
      versionId: summarize["1.0.0"],
      spanKind: "LLM",
      model: "claude",
      responseModel: "claude-2025",
      provider: "anthropic",
      tokensPrompt: 100,
      tokensCompletion: 20,
      tokensTotal: 120,
      sessionId: "conv-9",
      costUsd: 0.25,
    });
    expect(byName.langfuse).toMatchObject({
      linkStatus: "linked",
      versionId: triage["1.0.1"],
      userId: "u-7",
      spanKind: null,
    });
    expect(byName["langfuse-prompt-json"]).toMatchObject({ linkStatus: "linked", versionId: summarize["1.0.0"] });
    expect(byName.oi.promptId).toBe(byName.langfuse.promptId);
  });

  it("keeps and flags spans naming an unknown prompt or version, or none", async () => {
    const traceId = newTraceId();
    await send([
      { traceId, name: "no-such-prompt", attributes: { "prompt.id": "nope", "llm.prompt_template.version": "1.0.0" } },
      {
        traceId,
        name: "no-such-version",
        attributes: { "prompt.id": "summarize", "llm.prompt_template.version": "9.9.9" },
      },
      // Langfuse's int versions are kept as given and only link to that exact version string.
      {
        traceId,
        name: "langfuse-int",
        attributes: { "langfuse.prompt.name": "summarize", "langfuse.prompt.version": 1 },
      },
      { traceId, name: "plain http", attributes: { "http.method": "GET" } },
    ]);
    const byName = Object.fromEntries((await traceOf(traceId)).body.spans.map((s: { name: string }) => [s.name, s]));
    expect(byName["no-such-prompt"]).toMatchObject({
      linkStatus: "unknown_prompt",
      promptName: "nope",
      promptId: null,
      versionId: null,
    });
    expect(byName["no-such-version"]).toMatchObject({
      linkStatus: "unknown_version",
      promptVersion: "9.9.9",
      versionId: null,
    });
    expect(byName["no-such-version"].promptId).toMatch(/^[0-9a-f-]{36}$/);
    expect(byName["langfuse-int"]).toMatchObject({ linkStatus: "unknown_version", promptVersion: "1" });
    expect(byName["plain http"]).toMatchObject({ linkStatus: "none", promptName: null, spanKind: null });
  });

  it("computes latency exactly from the nanosecond times", async () => {
    const traceId = newTraceId();
    await send([{ traceId, start: "1700000000123456789", end: "1700000000125456790" }], "protobuf");
    const span = (await traceOf(traceId)).body.spans[0];
    expect(span.latencyMs).toBe(2.000001);
    expect(span).toMatchObject({
      startTimeUnixNano: "1700000000123456789",
      endTimeUnixNano: "1700000000125456790",
      startTime: "2023-11-14T22:13:20.123456Z",
      endTime: "2023-11-14T22:13:20.125456Z",
    });
  });

  it("marks failures from status, error.type or an exception event, keeping the message", async () => {
    const traceId = newTraceId();
    await send([
      { traceId, name: "status", status: { code: 2, message: "rate limited" } },
      { traceId, name: "error.type", attributes: { "error.type": "timeout" } },
      {
        traceId,
        name: "exception",
        events: [{ name: "exception", attributes: { "exception.type": "Error", "exception.message": "bad gateway" } }],
      },
      { traceId, name: "ok", status: { code: 1 } },
    ]);
    const byName = Object.fromEntries((await traceOf(traceId)).body.spans.map((s: { name: string }) => [s.name, s]));
    expect(byName.status).toMatchObject({ failed: true, status: "error", errorMessage: "rate limited" });
    expect(byName["error.type"]).toMatchObject({ failed: true, status: "unset", errorMessage: "timeout" });
    expect(byName.exception).toMatchObject({ failed: true, errorMessage: "bad gateway" });
    expect(byName.exception.events[0]).toMatchObject({
      name: "exception",
      attributes: { "exception.message": "bad gateway" },
    });
    expect(byName.ok).toMatchObject({ failed: false, status: "ok", errorMessage: null });
  });

  it("maps label, source, OpenInference costs and totals", async () => {
    const traceId = newTraceId();
    await send([
      {
        traceId,
        attributes: {
          "openinference.span.kind": "llm",
          "promptreg.prompt.label": "production",
          "promptreg.prompt.source": "cache",
          "llm.provider": "openai",
          "llm.response.model_name": "gpt-4o-2024",
          "llm.model_name": "gpt-4o",
          "llm.token_count.total": 42,
          "llm.cost.prompt": 0.5,
          "llm.cost.completion": 0.25,
          "user.id": "u-1",
          "session.id": "s-1",
          "bad\u0000key": "nul\u0000value",
        },
      },
    ]);
    const span = (await traceOf(traceId)).body.spans[0];
    expect(span).toMatchObject({
      spanKind: "LLM",
      label: "production",
      source: "cache",
      provider: "openai",
      model: "gpt-4o",
      responseModel: "gpt-4o-2024",
      tokensTotal: 42,
      costUsd: 0.75,
      userId: "u-1",
      sessionId: "s-1",
    });
    expect(span.attributes["bad\uFFFDkey"]).toBe("nul\uFFFDvalue");
  });
});

describe("annotations", () => {
  it("upserts (latest wins), may arrive before their spans, and attach to them in the trace tree", async () => {
    const traceId = newTraceId();
    const root = newSpanId();
    const llm = newSpanId();
    const first = await writer.post("/api/v1/annotations", {
      annotations: [
        {
          traceId: traceId.toUpperCase(),
          spanId: llm.toUpperCase(),
          name: "thumbs",
          kind: "human",
          score: 0,
          comment: "wrong",
        },
        { traceId, name: "task solved", kind: "eval", passed: false },
        { traceId, spanId: llm, name: "json valid", kind: "code", passed: true },
      ],
    });
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(3);
    expect(first.body.data.find((a: { name: string }) => a.name === "thumbs")).toMatchObject({
      traceId,
      spanId: llm,
      score: 0,
    });
    expect((await traceOf(traceId)).status).toBe(404);

    const again = await writer.post("/api/v1/annotations", {
      annotations: [
        { traceId, spanId: llm, name: "thumbs", kind: "human", score: 1, label: "up" },
        { traceId, name: "task solved", kind: "eval", passed: true },
      ],
    });
    expect(again.status).toBe(200);
    expect(await h.database.prisma.annotation.count({ where: { traceId } })).toBe(3);

    await send([
      { traceId, spanId: root, name: "root", start: nextNs() },
      { traceId, spanId: llm, parentSpanId: root, name: "llm", start: nextNs() },
    ]);
    const tree = (await traceOf(traceId)).body;
    expect(tree.annotations).toEqual([
      expect.objectContaining({ name: "task solved", kind: "eval", spanId: null, passed: true }),
    ]);
    const child = tree.spans[0].children[0];
    expect(child.name).toBe("llm");
    expect(child.annotations).toHaveLength(2);
    expect(child.annotations.find((a: { name: string }) => a.name === "thumbs")).toMatchObject({
      kind: "human",
      score: 1,
      label: "up",
      comment: null,
    });
    expect(tree.spans[0].annotations).toEqual([]);
  });

  it("refuses malformed or all-zero ids and bad fields with 422, storing none of the batch", async () => {
    const traceId = newTraceId();
    const cases = [
      { traceId: "abc", name: "n", kind: "human", score: 1 },
      { traceId: "0".repeat(32), name: "n", kind: "human", score: 1 },
      { traceId, spanId: "0".repeat(16), name: "n", kind: "human", score: 1 },
      { traceId, spanId: "g".repeat(16), name: "n", kind: "human", score: 1 },
      { traceId, name: "n", kind: "robot", score: 1 },
      { traceId, name: "n", kind: "eval" },
      { traceId, name: "", kind: "eval", passed: true },
    ];
    for (const bad of cases) {
      const res = await writer.post("/api/v1/annotations", {
        annotations: [{ traceId, name: "good", kind: "eval", passed: true }, bad],
      });
      expect(res.status, JSON.stringify(bad)).toBe(422);
      expect(res.body.error.code).toBe("validation_error");
    }
    expect((await writer.post("/api/v1/annotations", { annotations: [] })).status).toBe(422);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ traceId, name: `n${i}`, kind: "eval", passed: true }));
    expect((await writer.post("/api/v1/annotations", { annotations: tooMany })).status).toBe(422);
    expect(await h.database.prisma.annotation.count({ where: { traceId } })).toBe(0);
    const max = Array.from({ length: 1000 }, (_, i) => ({ traceId, name: `n${i}`, kind: "eval", passed: true }));
    expect((await writer.post("/api/v1/annotations", { annotations: max })).status).toBe(200);
    expect(await h.database.prisma.annotation.count({ where: { traceId } })).toBe(1000);
  });

  it("needs the write role", async () => {
    const res = await h
      .as(readerKey)
      .post("/api/v1/annotations", { annotations: [{ traceId: newTraceId(), name: "n", kind: "human", score: 1 }] });
    expect(res.status).toBe(403);
  });
});

describe("reading traces and spans", () => {
  let key: string;
  let other: Client;
  let mine: Client;
  const base = 1_800_000_000_000_000_000n;
  const at = (ms: number) => (base + BigInt(ms) * 1_000_000n).toString();
  const traceA = newTraceId();
  const traceB = newTraceId();

  beforeAll(async () => {
    const created = await h.as(h.adminKey).post("/api/v1/projects", { name: "readers" });
    key = created.body.adminKey.key;
    mine = h.as(key);
    other = writer;
    await mine.post("/api/v1/prompts/p/versions", { template: "x" });
    const root = newSpanId();
    const tool = newSpanId();
    const llm1 = newSpanId();
    const llm2 = newSpanId();
    const res = await send(
      [
        // Deliberately out of order on the wire.
        {
          traceId: traceA,
          spanId: llm2,
          parentSpanId: root,
          name: "llm-2",
          start: at(30),
          end: at(40),
          status: { code: 2 },
          attributes: {
            "openinference.span.kind": "LLM",
            "prompt.id": "p",
            "llm.prompt_template.version": "1.0.0",
            "session.id": "s1",
            "user.id": "u1",
            "llm.model_name": "m1",
            "promptreg.prompt.label": "production",
          },
        },
        { traceId: traceA, spanId: root, name: "root", start: at(0), end: at(100), attributes: { "session.id": "s1" } },
        {
          traceId: traceA,
          spanId: llm1,
          parentSpanId: tool,
          name: "llm-1",
          start: at(12),
          end: at(20),
          status: { code: 1 },
          attributes: {
            "openinference.span.kind": "LLM",
            "prompt.id": "p",
            "llm.prompt_template.version": "1.0.0",
            "session.id": "s1",
            "user.id": "u2",
            "llm.model_name": "m2",
          },
        },
        {
          traceId: traceA,
          spanId: tool,
          parentSpanId: root,
          name: "tool",
          start: at(10),
          end: at(25),
          attributes: { "openinference.span.kind": "TOOL" },
        },
        { traceId: traceA, parentSpanId: newSpanId(), name: "orphan", start: at(50), end: at(60) },
        ...Array.from({ length: 5 }, (_, i) => ({
          traceId: traceB,
          name: `b-${i}`,
          start: at(1000 + i),
          end: at(1001 + i),
          attributes: { "prompt.id": "p", "llm.prompt_template.version": i % 2 ? "1.0.0" : "2.0.0", "user.id": "u1" },
        })),
      ],
      "protobuf",
      key,
    );
    expect(res.status).toBe(200);
  });

  it("returns a trace as a tree: children nested and sorted by start time, orphans at the top", async () => {
    const res = await traceOf(traceA, key);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ traceId: traceA, spanCount: 5, truncated: false, annotations: [] });
    const shape = (n: { name: string; children: unknown[] }): unknown => ({
      [n.name]: n.children.map((c) => shape(c as never)),
    });
    expect(res.body.spans.map(shape)).toEqual([
      { root: [{ tool: [{ "llm-1": [] }] }, { "llm-2": [] }] },
      { orphan: [] },
    ]);
    expect(res.body.spans[0]).toMatchObject({ parentSpanId: null, latencyMs: 100 });
    expect((await traceOf(traceA.toUpperCase(), key)).status).toBe(200);
    expect((await traceOf("nothex", key)).status).toBe(422);
  });

  it("hides another project's traces and spans", async () => {
    expect((await traceOf(traceA, writerKey)).status).toBe(404);
    expect((await other.get(`/api/v1/spans?prompt=p`)).body.data).toEqual([]);
    expect((await mine.get(`/api/v1/spans?prompt=support%2Ftriage`)).body.data).toEqual([]);
  });

  it("filters spans", async () => {
    const names = async (query: string) => {
      const res = await mine.get(`/api/v1/spans?${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.data.map((s: { name: string }) => s.name);
    };
    expect(await names("prompt=p&version=1.0.0&session=s1")).toEqual(["llm-2", "llm-1"]);
    expect(await names("status=error")).toEqual(["llm-2"]);
    expect(await names("failed=true")).toEqual(["llm-2"]);
    expect(await names("status=ok")).toEqual(["llm-1"]);
    expect(await names("user=u1&prompt=p")).toEqual(["b-4", "b-3", "b-2", "b-1", "b-0", "llm-2"]);
    expect(await names("model=m2")).toEqual(["llm-1"]);
    expect(await names("label=production")).toEqual(["llm-2"]);
    expect(await names("linkStatus=unknown_version")).toEqual(["b-4", "b-2", "b-0"]);
    expect(await names("linkStatus=linked&spanKind=llm")).toEqual(["llm-2", "llm-1"]);
    const from = new Date(Number(BigInt(at(12)) / 1_000_000n)).toISOString();
    const to = new Date(Number(BigInt(at(50)) / 1_000_000n)).toISOString();
    expect(await names(`from=${from}&to=${to}`)).toEqual(["llm-2", "llm-1"]);
    expect((await mine.get("/api/v1/spans?status=weird")).status).toBe(422);
    expect((await mine.get("/api/v1/spans?limit=501")).status).toBe(422);
    expect((await mine.get("/api/v1/spans?from=yesterday")).status).toBe(422);
  });

  it("pages newest first with an opaque cursor", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await mine.get(`/api/v1/spans?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((s: { name: string }) => s.name));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual(["b-4", "b-3", "b-2", "b-1", "b-0", "orphan", "llm-2", "llm-1", "tool", "root"]);
    expect((await mine.get("/api/v1/spans?cursor=garbage")).status).toBe(422);
    expect((await h.as(readerKey).get("/api/v1/spans?limit=1")).status).toBe(200);
  });
});
