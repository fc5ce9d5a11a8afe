// The OTLP/HTTP receiver with the official OpenTelemetry exporters: every encoding and compression they use, resends
// stored once, attribute values of every kind read back as sent, and bodies over 512 KiB decoded on a worker thread.
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
import { describe, expect, it } from "vitest";
import { publishPrompt } from "./helpers/factories.js";
import {
  CONTENT_TYPE,
  decodeProtobufResponse,
  newSpanId,
  newTraceId,
  otlpJson,
  otlpProtobuf,
  type SpanSpec,
  wire,
} from "./helpers/otlp.js";
import { exportSpans } from "./helpers/sdk.js";
import {
  countSpans,
  endpoint,
  h,
  json,
  postOtlp,
  send,
  traceOf,
  useTraceReceiver,
  writer,
  writerKey,
} from "./helpers/trace-receiver.js";

useTraceReceiver();

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
    await publishPrompt(writer, "costed", ["Cost {{a}}", "Costs {{a}}"]);
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
