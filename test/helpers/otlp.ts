// OTLP request builders for tests: one span description, rendered as OTLP/JSON or OTLP protobuf.
import { randomBytes } from "node:crypto";
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from "../../src/traces/otlp-proto.js";

/** An AnyValue exactly as it goes on the wire (e.g. `{ doubleValue: -0 }`, `{ intValue: "9223372036854775807" }`, `{}`). */
export class WireValue {
  constructor(readonly value: object) {}
}
export const wire = (value: object) => new WireValue(value);

export type AttrInput = string | number | boolean | WireValue | AttrInput[] | { [key: string]: AttrInput };

export interface SpanSpec {
  traceId: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  /** Nanoseconds since the epoch, as a decimal string (exact). */
  start?: string;
  end?: string;
  attributes?: Record<string, AttrInput>;
  status?: { code?: number; message?: string };
  events?: { name: string; timeUnixNano?: string; attributes?: Record<string, AttrInput> }[];
}

export const newTraceId = () => randomBytes(16).toString("hex");
export const newSpanId = () => randomBytes(8).toString("hex");

const BASE_NS = 1_700_000_000_000_000_000n;
let clock = 0n;
/** Distinct, increasing nanosecond times for specs that do not care. */
export const nextNs = (stepMs = 1) => (BASE_NS + (clock += BigInt(stepMs) * 1_000_000n)).toString();

function anyValue(v: AttrInput, json: boolean): object {
  if (v instanceof WireValue) return v.value;
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return Number.isInteger(v) ? { intValue: json ? String(v) : v } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((x) => anyValue(x, json)) } };
  return { kvlistValue: { values: keyValues(v, json) } };
}

const keyValues = (attrs: Record<string, AttrInput> = {}, json: boolean) =>
  Object.entries(attrs).map(([key, value]) => ({ key, value: anyValue(value, json) }));

function spanObject(s: SpanSpec, json: boolean) {
  const id = (hex: string | undefined) => (hex === undefined ? undefined : json ? hex : Buffer.from(hex, "hex"));
  const start = s.start ?? nextNs();
  return {
    traceId: id(s.traceId),
    spanId: id(s.spanId ?? newSpanId()),
    parentSpanId: id(s.parentSpanId),
    name: s.name ?? "span",
    kind: s.kind ?? 1,
    startTimeUnixNano: start,
    endTimeUnixNano: s.end ?? (BigInt(start) + 5_000_000n).toString(),
    attributes: keyValues(s.attributes, json),
    events: (s.events ?? []).map((e) => ({
      name: e.name,
      timeUnixNano: e.timeUnixNano ?? start,
      attributes: keyValues(e.attributes, json),
    })),
    ...(s.status ? { status: s.status } : {}),
  };
}

function requestObject(spans: SpanSpec[], resource: Record<string, AttrInput>, json: boolean) {
  return {
    resourceSpans: [
      {
        resource: { attributes: keyValues(resource, json) },
        scopeSpans: [{ scope: { name: "test" }, spans: spans.map((s) => spanObject(s, json)) }],
      },
    ],
  };
}

const DEFAULT_RESOURCE = { "service.name": "agent" };

export function otlpJson(spans: SpanSpec[], resource: Record<string, AttrInput> = DEFAULT_RESOURCE): string {
  return JSON.stringify(requestObject(spans, resource, true));
}

export function otlpProtobuf(spans: SpanSpec[], resource: Record<string, AttrInput> = DEFAULT_RESOURCE): Buffer {
  const message = ExportTraceServiceRequest.fromObject(requestObject(spans, resource, false));
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

export function decodeProtobufResponse(body: Buffer): {
  partialSuccess?: { rejectedSpans?: string; errorMessage?: string };
} {
  return ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(body), { longs: String }) as never;
}
