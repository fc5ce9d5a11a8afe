// OTLP request builders for tests: one span description, rendered as OTLP/JSON or OTLP protobuf; and a request that
// holds a slot of the receiver.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
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

export type Encoding = "json" | "protobuf";
export const CONTENT_TYPE = { json: "application/json", protobuf: "application/x-protobuf" } as const;

/**
 * An OTLP/JSON request to `server` that is admitted and kept reading its body: its headers and the first bytes of its
 * body are sent, and `holding` settles once the handler subscribes to the body, i.e. has been admitted. `finish`
 * sends the rest; `status` is its answer's.
 */
export function heldOtlpRequest(server: http.Server, key: string, body: Buffer) {
  const holding = new Promise<void>((resolve) =>
    server.once("request", (req: http.IncomingMessage) => {
      if (req.listenerCount("data") > 0) return resolve();
      const onListener = (event: string | symbol) => {
        if (event !== "data") return;
        req.off("newListener", onListener);
        resolve();
      };
      req.on("newListener", onListener);
    }),
  );
  const request = http.request({
    port: (server.address() as AddressInfo).port,
    host: "127.0.0.1",
    method: "POST",
    path: "/v1/traces",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": CONTENT_TYPE.json, "Content-Length": body.length },
  });
  const status = new Promise<number>((resolve, reject) => {
    request.on("response", (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    request.on("error", reject);
  });
  request.write(body.subarray(0, 10));
  return { holding, status, finish: () => request.end(body.subarray(10)) };
}
