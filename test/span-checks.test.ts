// Hostile field values through the OTLP receiver: every value is checked or normalised before the database sees it,
// one bad span is rejected through partial_success while the rest of its batch is stored, and a database error the
// data caused is never answered as retryable.
import { ROOT_CONTEXT, type SpanStatusCode, trace, type SpanKind } from "@opentelemetry/api";
import { OTLPTraceExporter as HttpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dbErrorKind } from "../src/db/errors.js";
import { clipText, spanKindOf, statusCodeOf } from "../src/traces/span-checks.js";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";
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
  type SpanSpec,
} from "./helpers/otlp.js";
import { exportSpans } from "./helpers/sdk.js";

let h: Harness;
let writerKey: string;
let receiver: Listener;
let endpoint: string;

beforeAll(async () => {
  h = await createHarness();
  writerKey = await h.newKey("write");
  receiver = await serve(h.app);
  endpoint = `${receiver.url}/v1/traces`;
});
afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  rejected: number;
  errorMessage: string;
  message?: string;
}

async function post(body: string | Buffer, encoding: Encoding): Promise<Answer> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": CONTENT_TYPE[encoding], Authorization: `Bearer ${writerKey}` },
    body: typeof body === "string" ? Buffer.from(body) : body,
  });
  const raw = Buffer.from(await res.arrayBuffer());
  const retryAfter = res.headers.get("retry-after");
  if (res.status !== 200)
    return { status: res.status, retryAfter, rejected: 0, errorMessage: "", message: raw.toString("utf8") };
  const decoded = encoding === "json" ? JSON.parse(raw.toString("utf8")) : decodeProtobufResponse(raw);
  const partial = decoded.partialSuccess ?? {};
  return {
    status: 200,
    retryAfter,
    rejected: Number(partial.rejectedSpans ?? 0),
    errorMessage: partial.errorMessage ?? "",
  };
}

const send = (spans: SpanSpec[], encoding: Encoding) =>
  post(encoding === "json" ? otlpJson(spans) : otlpProtobuf(spans), encoding);

/** A JSON request edited after it is built, for values the builder cannot express. */
function editedJson(spans: SpanSpec[], edit: (spans: Record<string, unknown>[]) => void): string {
  const body = JSON.parse(otlpJson(spans));
  edit(body.resourceSpans[0].scopeSpans[0].spans);
  return JSON.stringify(body);
}

async function stored(traceId: string) {
  const { rows } = await h.database.query<{
    span_id: string;
    name: string;
    otel_kind: number;
    status_code: number;
    failed: boolean;
    attributes: Record<string, unknown>;
    prompt_name: string | null;
  }>(
    "SELECT span_id, name, otel_kind, status_code, failed, attributes, prompt_name FROM spans WHERE trace_id = $1 ORDER BY start_time",
    [traceId],
  );
  return rows;
}

const ENCODINGS = ["json", "protobuf"] as const;

describe("span values checked before the database sees them", () => {
  it.each(ENCODINGS)("%s: a kind OTLP does not define is stored as UNSPECIFIED, the batch whole", async (encoding) => {
    const traceId = newTraceId();
    const res = await send(
      [
        { traceId, name: "a", kind: 2 },
        { traceId, name: "b", kind: 40000 },
        { traceId, name: "c", kind: 6 },
      ],
      encoding,
    );
    expect(res).toMatchObject({ status: 200, rejected: 0 });
    expect((await stored(traceId)).map((r) => [r.name, r.otel_kind])).toEqual([
      ["a", 2],
      ["b", 0],
      ["c", 0],
    ]);
  });

  it.each(ENCODINGS)(
    "%s: a status code outside 0..2 rejects that span only, named in partial_success",
    async (encoding) => {
      const traceId = newTraceId();
      const res = await send(
        [
          { traceId, name: "good" },
          { traceId, name: "bad", status: { code: 70000 } },
          { traceId, name: "error", status: { code: 2 } },
        ],
        encoding,
      );
      expect(res).toMatchObject({ status: 200, rejected: 1 });
      expect(res.errorMessage).toMatch(/spans\[1\]: status\.code 70000 is not 0 \(unset\), 1 \(ok\) or 2 \(error\)/);
      expect((await stored(traceId)).map((r) => [r.name, r.status_code, r.failed])).toEqual([
        ["good", 0, false],
        ["error", 2, true],
      ]);
    },
  );

  it("JSON: enum names, decimal strings and garbage in kind and status.code", async () => {
    const traceId = newTraceId();
    const body = editedJson([{ traceId }, { traceId }, { traceId }, { traceId }, { traceId }], (spans) => {
      Object.assign(spans[0]!, { name: "named", kind: "SPAN_KIND_CLIENT", status: { code: "STATUS_CODE_ERROR" } });
      Object.assign(spans[1]!, { name: "text", kind: "3", status: { code: "1" } });
      Object.assign(spans[2]!, { name: "odd kind", kind: { x: 1 }, status: { code: 0 } });
      Object.assign(spans[3]!, { name: "odd status", status: { code: "STATUS_CODE_MAYBE" } });
      Object.assign(spans[4]!, { name: "fraction", status: { code: 1.5 } });
    });
    const res = await post(body, "json");
    expect(res).toMatchObject({ status: 200, rejected: 2 });
    expect(res.errorMessage).toMatch(/spans\[3\]: status\.code "STATUS_CODE_MAYBE".*spans\[4\]: status\.code 1\.5/);
    expect((await stored(traceId)).map((r) => [r.name, r.otel_kind, r.status_code])).toEqual([
      ["named", 3, 2],
      ["text", 3, 1],
      ["odd kind", 0, 0],
    ]);
  });

  it("JSON: a bytesValue that is not base64 (a NUL inside) or a stringValue that is not a string rejects its span", async () => {
    const cases = [
      wire({ bytesValue: "a\u0000b" }),
      wire({ bytesValue: "not base64!" }),
      wire({ stringValue: 12 }),
      wire({ stringValue: ["\u0000"] }),
      wire({ stringValue: { a: 1 } }),
    ];
    for (const value of cases) {
      const traceId = newTraceId();
      const res = await send(
        [
          { traceId, name: "good" },
          { traceId, name: "bad", attributes: { "my.attr": value } },
        ],
        "json",
      );
      expect(res).toMatchObject({ status: 200, rejected: 1 });
      expect(res.errorMessage).toMatch(
        /spans\[1\]: attribute 'my\.attr': (bytesValue must be base64|stringValue must be a string, not (12|an array|an object))$/,
      );
      expect((await stored(traceId)).map((r) => r.name)).toEqual(["good"]);
    }
    // Inside a list or a map too, and base64 in either alphabet is kept as sent.
    const traceId = newTraceId();
    const res = await send(
      [
        { traceId, name: "nested", attributes: { list: [wire({ stringValue: 1 })] } },
        {
          traceId,
          name: "bytes",
          attributes: {
            std: wire({ bytesValue: "AAE+/w==" }),
            url: wire({ bytesValue: "AAE-_w" }),
            none: wire({ bytesValue: "" }),
          },
        },
      ],
      "json",
    );
    expect(res).toMatchObject({ status: 200, rejected: 1 });
    expect(res.errorMessage).toMatch(/attribute 'list': stringValue must be a string/);
    expect((await stored(traceId)).map((r) => r.attributes)).toEqual([{ std: "AAE+/w==", url: "AAE-_w", none: "" }]);
  });

  it("JSON: a bad resource attribute rejects each span of that resource, other resources are stored", async () => {
    const good = newTraceId();
    const bad = newTraceId();
    const body = JSON.parse(otlpJson([{ traceId: good }]));
    const other = JSON.parse(
      otlpJson([{ traceId: bad }, { traceId: bad }], { "service.name": wire({ stringValue: false }) }),
    );
    body.resourceSpans.push(...other.resourceSpans);
    const res = await post(JSON.stringify(body), "json");
    expect(res).toMatchObject({ status: 200, rejected: 2 });
    expect(res.errorMessage).toMatch(
      /resourceSpans\[1\]\.scopeSpans\[0\]\.spans\[0\]: resource attribute 'service\.name': stringValue must be a string, not false/,
    );
    expect(await stored(good)).toHaveLength(1);
    expect(await stored(bad)).toHaveLength(0);
  });

  it.each(ENCODINGS)(
    "%s: NUL and lone surrogates in names, keys, values, messages and events become U+FFFD",
    async (encoding) => {
      const traceId = newTraceId();
      // protobufjs cannot put a lone surrogate on the wire (it is not UTF-8): there the case is NULs only.
      const lone = (s: string) => (encoding === "json" ? s : "\u0000");
      const res = await send(
        [
          {
            traceId,
            name: `n\u0000${lone("\uDC00")}`,
            attributes: {
              "k\u0000": `v${lone("\uD800")}`,
              list: ["\u0000", { [`x${lone("\uDFFF")}`]: "\uD83D\uDE00" }],
            },
            status: { code: 2, message: "m\u0000" },
            events: [{ name: "e\u0000", attributes: { "a\u0000": "b\u0000" } }],
          },
        ],
        encoding,
      );
      expect(res).toMatchObject({ status: 200, rejected: 0 });
      const { rows } = await h.database.query<{
        name: string;
        attributes: unknown;
        error_message: string;
        events: { name: string; attributes: unknown }[];
      }>("SELECT name, attributes, error_message, events FROM spans WHERE trace_id = $1", [traceId]);
      expect(rows[0]).toMatchObject({
        name: "n\uFFFD\uFFFD",
        attributes: { "k\uFFFD": "v\uFFFD", list: ["\uFFFD", { "x\uFFFD": "\uD83D\uDE00" }] },
        error_message: "m\uFFFD",
        events: [{ name: "e\uFFFD", attributes: { "a\uFFFD": "b\uFFFD" } }],
      });
    },
  );

  it.each(ENCODINGS)(
    "%s: prompt names, models, labels and sessions of kilobytes of 4-byte characters fit their indexes",
    async (encoding) => {
      // Random CJK and emoji do not compress: 3,000 of them are far over a btree entry's ~2.7 kB.
      const wide = (n: number, base: number) =>
        Array.from({ length: n }, (_, i) => String.fromCodePoint(base + ((i * 7919) % 20000))).join("");
      const traceId = newTraceId();
      const res = await send(
        [
          { traceId, name: "plain" },
          {
            traceId,
            name: wide(3000, 0x4e00),
            attributes: {
              "openinference.span.kind": "LLM",
              "prompt.id": wide(3000, 0x4e00),
              "llm.request.model_name": wide(3000, 0x1f300),
              "promptreg.prompt.label": wide(3000, 0x20000),
              "promptreg.prompt.source": wide(3000, 0x1f600),
              "session.id": wide(3000, 0x4e00),
            },
          },
        ],
        encoding,
      );
      expect(res).toMatchObject({ status: 200, rejected: 0 });
      const rows = await stored(traceId);
      expect(rows).toHaveLength(2);
      const promptName = rows.find((r) => r.prompt_name)!.prompt_name!;
      expect(Buffer.byteLength(promptName)).toBeLessThanOrEqual(700);
      expect(wide(3000, 0x4e00).startsWith(promptName)).toBe(true);
    },
  );

  it("a prompt linked by a label, source and model of 512 four-byte characters each still fits the rollups' key", async () => {
    const w = (base: number) =>
      Array.from({ length: 600 }, (_, i) => String.fromCodePoint(base + ((i * 104729) % 60000))).join("");
    await publishVersion(h.as(await h.newKey("write")), "long-values", "Hi");
    const traceId = newTraceId();
    const attrs = {
      "openinference.span.kind": "LLM",
      "prompt.id": "long-values",
      "llm.prompt_template.version": "1.0.0",
    };
    const res = await send(
      [
        {
          traceId,
          attributes: {
            ...attrs,
            "llm.request.model_name": w(0x20000),
            "promptreg.prompt.label": w(0x20000),
            "promptreg.prompt.source": w(0x20000),
          },
        },
      ],
      "protobuf",
    );
    expect(res).toMatchObject({ status: 200, rejected: 0 });
    const { rows } = await h.database.query<{ n: number }>(
      "SELECT sum(spans)::int AS n FROM span_rollups WHERE version_id = (SELECT version_id FROM spans WHERE trace_id = $1)",
      [traceId],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it("times beyond int64, end before start and bad ids are rejected; megabyte names and thousands of attributes are kept", async () => {
    const traceId = newTraceId();
    const start = nextNs();
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`attr.${i}`, i % 2 ? `v${i}` : i]));
    const body = editedJson(
      [
        { traceId, name: "big", attributes: many },
        { traceId },
        { traceId },
        { traceId },
        { traceId },
        { traceId },
        { traceId, name: "x".repeat(2_000_000) },
      ],
      (spans) => {
        spans[1]!.startTimeUnixNano = "18446744073709551615";
        spans[2]!.endTimeUnixNano = String(BigInt(start) - 1n);
        spans[2]!.startTimeUnixNano = start;
        spans[3]!.startTimeUnixNano = "-5";
        spans[4]!.spanId = "abc";
        spans[5]!.traceId = "zz".repeat(16);
      },
    );
    const res = await post(body, "json");
    expect(res).toMatchObject({ status: 200, rejected: 5 });
    expect(res.errorMessage).toMatch(
      /startTimeUnixNano out of range.*endTimeUnixNano is before.*invalid startTimeUnixNano.*invalid spanId.*invalid traceId/,
    );
    const rows = await stored(traceId);
    expect(rows.map((r) => r.name.length)).toEqual([3, 2_000_000]);
    expect(Object.keys(rows[0]!.attributes)).toHaveLength(5000);
  });

  it("with the official exporters: an undefined kind is kept, an undefined status is rejected, the rest stored", async () => {
    for (const makeExporter of [
      () => new ProtobufExporter({ url: endpoint, headers: { Authorization: `Bearer ${writerKey}` } }),
      () => new HttpJsonExporter({ url: endpoint, headers: { Authorization: `Bearer ${writerKey}` } }),
    ]) {
      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
      const tracer = provider.getTracer("agent");
      const root = tracer.startSpan("root");
      const ctx = trace.setSpan(ROOT_CONTEXT, root);
      tracer.startSpan("odd kind", { kind: 39999 as SpanKind }, ctx).end();
      const odd = tracer.startSpan("odd status", {}, ctx);
      odd.setStatus({ code: 70000 as SpanStatusCode });
      odd.end();
      tracer.startSpan("fine", { attributes: { "openinference.span.kind": "LLM" } }, ctx).end();
      root.end();
      const spans = memory.getFinishedSpans();
      const exporter = makeExporter();
      // partial_success is a success for the exporter (it only logs the message): no retry, nothing resent.
      expect(await exportSpans(exporter, spans)).toMatchObject({ code: 0 });
      await exporter.shutdown();
      const rows = await stored(spans[0]!.spanContext().traceId);
      expect(rows.map((r) => [r.name, r.otel_kind]).sort()).toEqual([
        ["fine", 1],
        ["odd kind", 0],
        ["root", 1],
      ]);
    }
  });
});

describe("database errors the data causes", () => {
  // A real refusal the checks above cannot foresee: a trigger raising the SQLSTATE named in the span's name.
  beforeAll(async () => {
    await h.database.query(`CREATE FUNCTION test_refuse_span() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.name LIKE 'refuse-insert-%' AND TG_OP = 'INSERT' THEN
          RAISE EXCEPTION 'refused by test trigger' USING ERRCODE = substr(NEW.name, 15, 5);
        END IF;
        IF NEW.name LIKE 'refuse-update-%' AND TG_OP = 'UPDATE' THEN
          RAISE EXCEPTION 'refused by test trigger' USING ERRCODE = substr(NEW.name, 15, 5);
        END IF;
        RETURN NEW;
      END $$`);
    await h.database.query(
      "CREATE TRIGGER test_refuse_span BEFORE INSERT OR UPDATE ON spans FOR EACH ROW EXECUTE FUNCTION test_refuse_span()",
    );
  });
  afterAll(async () => {
    await h.database.query("DROP TRIGGER IF EXISTS test_refuse_span ON spans");
  });

  it.each(ENCODINGS)(
    "%s: spans the database refuses are set apart and rejected, the rest of the batch stored",
    async (encoding) => {
      const traceId = newTraceId();
      const names = Array.from({ length: 9 }, (_, i) =>
        i === 2 ? "refuse-insert-22023" : i === 7 ? "refuse-insert-23514" : `ok-${i}`,
      );
      const res = await send(
        names.map((name) => ({ traceId, name })),
        encoding,
      );
      expect(res).toMatchObject({ status: 200, rejected: 2, retryAfter: null });
      expect(res.errorMessage).toMatch(
        /2 span\(s\) rejected: span [0-9a-f]{16} of trace [0-9a-f]{32}: refused by the database \(SQLSTATE 22023: refused by test trigger\); .*SQLSTATE 23514/,
      );
      expect((await stored(traceId)).map((r) => r.name)).toEqual(names.filter((n) => n.startsWith("ok-")));
    },
  );

  it.each(ENCODINGS)(
    "%s: a data error past the insert is a 400 the exporter does not retry; resource trouble stays a 503",
    async (encoding) => {
      // Linking the span under an EVALUATOR updates it: the trigger refuses that update.
      const traceId = newTraceId();
      const judge = newSpanId();
      const refused = await send(
        [
          { traceId, spanId: judge, name: "judge", attributes: { "openinference.span.kind": "EVALUATOR" } },
          {
            traceId,
            parentSpanId: judge,
            name: "refuse-update-22P02",
            attributes: { "openinference.span.kind": "LLM" },
          },
        ],
        encoding,
      );
      expect(refused).toMatchObject({ status: 400, retryAfter: null });
      expect(refused.message).toMatch(/the database refused the spans \(SQLSTATE 22P02\)/);

      const full = await send([{ traceId: newTraceId(), name: "refuse-insert-53100" }], encoding);
      expect(full).toMatchObject({ status: 503, retryAfter: "5" });
      const bug = await send([{ traceId: newTraceId(), name: "refuse-insert-42P01" }], encoding);
      expect(bug).toMatchObject({ status: 500, retryAfter: null });
    },
  );
});

describe("the rules on their own", () => {
  it("span kinds and status codes", () => {
    expect([0, 5, 6, -1, 40000, 1.5, "SPAN_KIND_PRODUCER", "4", "x", null, undefined, {}].map(spanKindOf)).toEqual([
      0, 5, 0, 0, 0, 0, 4, 4, 0, 0, 0, 0,
    ]);
    expect([0, 1, 2, "STATUS_CODE_OK", "2", null, undefined].map(statusCodeOf)).toEqual([0, 1, 2, 1, 2, 0, 0]);
    for (const bad of [3, -1, 70000, 1.5, "STATUS_CODE_X", "9", true, {}])
      expect(() => statusCodeOf(bad)).toThrow(/status\.code/);
  });

  it("clips by characters and UTF-8 bytes, never inside a surrogate pair", () => {
    expect(clipText("abc", 2, 100)).toBe("ab");
    expect(clipText("😀😀😀", 100, 9)).toBe("😀😀");
    expect(clipText("😀😀😀", 3, 100)).toBe("😀");
    expect(clipText("ééé", 100, 5)).toBe("éé");
    expect(clipText("plain", 5, 5)).toBe("plain");
  });

  it("sorts real database errors by SQLSTATE: data, transient, bug", async () => {
    const errorOf = (sql: string) =>
      h.database.query(sql).then(
        () => null,
        (err: unknown) => err,
      );
    expect(dbErrorKind(await errorOf("SELECT 1/0"))).toBe("data");
    expect(dbErrorKind(await errorOf("SELECT 'x'::int"))).toBe("data");
    expect(dbErrorKind(await errorOf("SELECT 40000::smallint"))).toBe("data");
    expect(dbErrorKind(await errorOf("SELEC 1"))).toBe("bug");
    expect(dbErrorKind(await errorOf("SELECT * FROM no_such_table"))).toBe("bug");
    // A refused connection carries an errno code, not a SQLSTATE; EPIPE looks like one but comes with its syscall.
    const client = new pg.Client({ host: "127.0.0.1", port: 1, connectionTimeoutMillis: 2000 });
    const refused = await client.connect().then(
      () => null,
      (err: unknown) => err,
    );
    expect(dbErrorKind(refused)).toBe("transient");
    expect(dbErrorKind(Object.assign(new Error("write EPIPE"), { code: "EPIPE", syscall: "write" }))).toBe("transient");
  });
});
