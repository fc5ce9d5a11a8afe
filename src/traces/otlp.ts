// OTLP/HTTP trace requests in both encodings, turned into one internal span model, and the answers back in the
// request's encoding. Decoding problems of the request as a whole are a 400 (the exporter must not retry them);
// a span that cannot be kept (bad ids or times, values span-checks.ts refuses) is only counted and described, for
// partial_success.
import type { AttributeValue, Attributes, SpanEvent } from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";
import { SPAN_ID_HEX_LENGTH, TRACE_ID_HEX_LENGTH, bytesToHexId, normaliseHexId } from "./ids.js";
import { ExportTraceServiceRequest, ExportTraceServiceResponse, RpcStatus } from "./otlp-proto.js";
import { SpanRejection, bytesValueOf, cleanText, spanKindOf, statusCodeOf, stringValueOf } from "./span-checks.js";

export { cleanText };

export type OtlpEncoding = "json" | "protobuf";

export type { AttributeValue, Attributes, SpanEvent };

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  /** OTLP SpanKind number. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  attributes: Attributes;
  /** Index of the span's resource in its request's `resources`. */
  resource: number;
  /** Index of the span's instrumentation scope in its request's `scopes`. */
  scope: number;
  events: SpanEvent[];
}

/** The instrumentation scope (library) that made a span. */
export interface OtlpScope {
  name: string;
  version: string;
  attributes: Attributes;
}

export interface DecodedRequest {
  /**
   * The resources and scopes of the request, each once: spans refer to them by index, so a resource shared by many
   * spans is held (and later stored) once, however many spans it describes.
   */
  resources: Attributes[];
  scopes: OtlpScope[];
  spans: OtlpSpan[];
  rejected: number;
  /** Why spans were rejected: the first few reasons, for partial_success.error_message. */
  reasons: string[];
}

export const CONTENT_TYPES: Record<OtlpEncoding, string> = {
  json: "application/json",
  protobuf: "application/x-protobuf",
};

/** The encoding named by a Content-Type header (parameters such as charset ignored), or null. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | null {
  const mediaType = contentType?.split(";", 1)[0]?.trim().toLowerCase();
  if (mediaType === "application/x-protobuf") return "protobuf";
  if (mediaType === "application/json") return "json";
  return null;
}

const MAX_REASONS = 5;
// Nested kvlist/array values deeper than this are cut off (stored as null) rather than recursed into.
const MAX_VALUE_DEPTH = 16;
// start_time_unix_nano is stored as bigint (int8); fixed64 values above it cannot be.
const MAX_INT8 = 2n ** 63n - 1n;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A 64-bit integer as protobufjs decodes it (the `long` package's Long). */
interface LongBits {
  low: number;
  high: number;
  unsigned: boolean;
}
const isLong = (v: unknown): v is LongBits =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as LongBits).low === "number" &&
  typeof (v as LongBits).high === "number";
const longToBigInt = (v: LongBits): bigint => (BigInt(v.unsigned ? v.high >>> 0 : v.high) << 32n) + BigInt(v.low >>> 0);

export function decodeRequest(body: Buffer, encoding: OtlpEncoding): DecodedRequest {
  // An empty body is an empty request (nothing to export), which succeeds in either encoding.
  if (body.length === 0) return { resources: [], scopes: [], spans: [], rejected: 0, reasons: [] };
  let request: unknown;
  if (encoding === "protobuf") {
    try {
      // The decoded message is normalised as is (no toObject copy): it has the JSON mapping's field names, and the
      // normaliser also accepts its representations (bytes ids, Long integers, null for absent messages).
      request = ExportTraceServiceRequest.decode(body);
    } catch (err) {
      throw new AppError("bad_request", `undecodable protobuf ExportTraceServiceRequest: ${(err as Error).message}`);
    }
  } else {
    try {
      request = JSON.parse(body.toString("utf8"));
    } catch (err) {
      throw new AppError("bad_request", `undecodable JSON ExportTraceServiceRequest: ${(err as Error).message}`);
    }
  }
  return normaliseRequest(request);
}

function listAt(parent: Obj, key: string, where: string): unknown[] {
  const value = parent[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AppError("bad_request", `${where}.${key} must be an array`);
  return value;
}

function objectAt(list: unknown[], i: number, where: string): Obj {
  const value = list[i];
  if (!isObj(value)) throw new AppError("bad_request", `${where}[${i}] must be an object`);
  return value;
}

function normaliseRequest(request: unknown): DecodedRequest {
  if (!isObj(request)) throw new AppError("bad_request", "the body must be an ExportTraceServiceRequest object");
  const out: DecodedRequest = { resources: [], scopes: [], spans: [], rejected: 0, reasons: [] };
  const resourceSpans = listAt(request, "resourceSpans", "request");
  for (let r = 0; r < resourceSpans.length; r++) {
    const rsWhere = `resourceSpans[${r}]`;
    const rs = objectAt(resourceSpans, r, "resourceSpans");
    // A resource attribute that cannot be read rejects each of the resource's spans, with the same reason.
    let resourceAttributes: Attributes = {};
    let resourceRejection: SpanRejection | null = null;
    try {
      if (isObj(rs.resource)) resourceAttributes = toAttributes(rs.resource.attributes, 0);
    } catch (err) {
      if (!(err instanceof SpanRejection)) throw err;
      resourceRejection = new SpanRejection(`resource ${err.message}`);
    }
    let resource = -1;
    const scopeSpans = listAt(rs, "scopeSpans", rsWhere);
    for (let s = 0; s < scopeSpans.length; s++) {
      const ssWhere = `${rsWhere}.scopeSpans[${s}]`;
      const ss = objectAt(scopeSpans, s, `${rsWhere}.scopeSpans`);
      // As for the resource, a scope that cannot be read rejects each of its spans.
      let scopeValue: OtlpScope | null = null;
      let rejection = resourceRejection;
      if (!rejection) {
        try {
          scopeValue = toScope(ss.scope);
        } catch (err) {
          if (!(err instanceof SpanRejection)) throw err;
          rejection = new SpanRejection(`scope ${err.message}`);
        }
      }
      let scope = -1;
      const spans = listAt(ss, "spans", ssWhere);
      for (let i = 0; i < spans.length; i++) {
        const raw = objectAt(spans, i, `${ssWhere}.spans`);
        try {
          if (rejection) throw rejection;
          const span = normaliseSpan(raw);
          // Kept from the first span kept with them: a resource or scope without spans is not kept.
          if (resource < 0) resource = out.resources.push(resourceAttributes) - 1;
          if (scope < 0) scope = out.scopes.push(scopeValue!) - 1;
          span.resource = resource;
          span.scope = scope;
          out.spans.push(span);
        } catch (err) {
          if (!(err instanceof SpanRejection)) throw err;
          out.rejected++;
          if (out.reasons.length < MAX_REASONS) out.reasons.push(`${ssWhere}.spans[${i}]: ${err.message}`);
        }
      }
    }
  }
  return out;
}

function toScope(raw: unknown): OtlpScope {
  if (!isObj(raw)) return { name: "", version: "", attributes: {} };
  return {
    name: typeof raw.name === "string" ? cleanText(raw.name) : "",
    version: typeof raw.version === "string" ? cleanText(raw.version) : "",
    attributes: toAttributes(raw.attributes, 0),
  };
}

/** The span, its `resource` and `scope` left for the caller to set. */
function normaliseSpan(raw: Obj): OtlpSpan {
  const traceId = requiredId(raw.traceId, TRACE_ID_HEX_LENGTH, "traceId");
  const spanId = requiredId(raw.spanId, SPAN_ID_HEX_LENGTH, "spanId");
  let parentSpanId: string | null = null;
  if (!isEmptyId(raw.parentSpanId)) {
    parentSpanId = readId(raw.parentSpanId, SPAN_ID_HEX_LENGTH);
    if (!parentSpanId)
      throw new SpanRejection("invalid parentSpanId (16 hex digits, not all zero, or empty for a root span)");
  }
  const start = nanos(raw.startTimeUnixNano, "startTimeUnixNano");
  const end = nanos(raw.endTimeUnixNano, "endTimeUnixNano");
  if (end < start) throw new SpanRejection("endTimeUnixNano is before startTimeUnixNano");
  const status = isObj(raw.status) ? raw.status : {};
  const events: SpanEvent[] = [];
  if (Array.isArray(raw.events)) {
    for (const e of raw.events) {
      if (!isObj(e)) continue;
      events.push({
        name: typeof e.name === "string" ? cleanText(e.name) : "",
        timeUnixNano: optionalNanos(e.timeUnixNano),
        attributes: toAttributes(e.attributes, 0),
      });
    }
  }
  return {
    traceId,
    spanId,
    parentSpanId,
    name: typeof raw.name === "string" ? cleanText(raw.name) : "",
    kind: spanKindOf(raw.kind),
    startTimeUnixNano: start,
    endTimeUnixNano: end,
    statusCode: statusCodeOf(status.code),
    statusMessage: typeof status.message === "string" ? cleanText(status.message) : "",
    attributes: toAttributes(raw.attributes, 0),
    resource: -1,
    scope: -1,
    events,
  };
}

function isEmptyId(value: unknown): boolean {
  // protobufjs leaves an absent bytes field as an empty array.
  return (
    value === undefined ||
    value === null ||
    value === "" ||
    ((value instanceof Uint8Array || Array.isArray(value)) && value.length === 0)
  );
}

function readId(value: unknown, hexLength: number): string | null {
  if (typeof value === "string") return normaliseHexId(value, hexLength);
  if (value instanceof Uint8Array) return bytesToHexId(value, hexLength);
  return null;
}

function requiredId(value: unknown, hexLength: number, field: string): string {
  if (isEmptyId(value)) throw new SpanRejection(`missing ${field}`);
  const id = readId(value, hexLength);
  if (!id) throw new SpanRejection(`invalid ${field} (${hexLength} hex digits, not all zero)`);
  return id;
}

function parseUint64(value: unknown): bigint | null {
  if (typeof value === "string" && /^\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return BigInt(value);
  if (isLong(value)) {
    const n = longToBigInt(value);
    return n >= 0n ? n : null;
  }
  return null;
}

function nanos(value: unknown, field: string): bigint {
  if (value === undefined || value === null || value === "") throw new SpanRejection(`missing ${field}`);
  const n = parseUint64(value);
  if (n === null) throw new SpanRejection(`invalid ${field}: expected an unsigned 64-bit integer`);
  if (n === 0n) throw new SpanRejection(`missing ${field}`);
  if (n > MAX_INT8) throw new SpanRejection(`${field} out of range`);
  return n;
}

function optionalNanos(value: unknown): string {
  const n = parseUint64(value);
  return n === null ? "0" : n.toString();
}

function toAttributes(list: unknown, depth: number): Attributes {
  const out: Attributes = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list) {
    if (!isObj(kv) || typeof kv.key !== "string") continue;
    const key = cleanText(kv.key);
    const value = anyValue(kv.value, depth, key);
    // Plain assignment of "__proto__" would replace the prototype instead of adding an attribute. (Objects with a
    // null prototype would avoid this, but V8 keeps those in slow dictionary mode, which cost more than the rest.)
    if (key === "__proto__")
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

const ANY_VALUE_MEMBERS = [
  "stringValue",
  "boolValue",
  "intValue",
  "doubleValue",
  "arrayValue",
  "kvlistValue",
  "bytesValue",
] as const;
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The AnyValue member that is set, told by presence and never by value: a decoded protobuf message holds own
 * properties only for the fields on the wire (the others fall through to defaults on its prototype, intValue's
 * being Long 0, which once turned every double into 0), and a parsed JSON object only for its keys. A value with
 * several members is malformed either way; the first in field order is taken.
 */
function setMember(v: Obj): (typeof ANY_VALUE_MEMBERS)[number] | undefined {
  for (const key of ANY_VALUE_MEMBERS) if (hasOwn.call(v, key) && v[key] != null) return key;
  return undefined;
}

function anyValue(v: unknown, depth: number, key: string): AttributeValue {
  if (!isObj(v) || depth > MAX_VALUE_DEPTH) return null;
  switch (setMember(v)) {
    case "stringValue":
      return stringValueOf(v.stringValue, key);
    case "boolValue":
      if (v.boolValue === true || v.boolValue === "true") return true;
      return v.boolValue === false || v.boolValue === "false" ? false : null;
    case "intValue":
      return intValue(v.intValue);
    case "doubleValue":
      return doubleValue(v.doubleValue);
    case "arrayValue": {
      const values = isObj(v.arrayValue) && Array.isArray(v.arrayValue.values) ? v.arrayValue.values : [];
      return values.map((x) => anyValue(x, depth + 1, key));
    }
    case "kvlistValue":
      return toAttributes(isObj(v.kvlistValue) ? v.kvlistValue.values : undefined, depth + 1);
    case "bytesValue":
      if (v.bytesValue instanceof Uint8Array) return Buffer.from(v.bytesValue).toString("base64");
      return bytesValueOf(v.bytesValue, key);
    default:
      return null;
  }
}

const INT64_LIMIT = 2 ** 63;

// JSON numbers cannot hold every int64: beyond 2^53 the exact decimal string is kept instead, whichever encoding
// brought it. A JSON number outside int64 (the JSON exporter sends any integral JS number as intValue) stays the
// number it is, as the proto exporter sends it as a double.
function intValue(value: unknown): AttributeValue {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    const n = Math.trunc(value);
    return Number.isSafeInteger(n) || Math.abs(n) >= INT64_LIMIT ? n : BigInt(n).toString();
  }
  if (isLong(value)) {
    const n = value.unsigned
      ? (value.high >>> 0) * 2 ** 32 + (value.low >>> 0)
      : value.high * 2 ** 32 + (value.low >>> 0);
    return Number.isSafeInteger(n) ? n : longToBigInt(value).toString();
  }
  if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : BigInt(value).toString();
  }
  return null;
}

// NaN and ±Infinity have no JSON number form; their names are kept as strings.
function doubleValue(value: unknown): AttributeValue {
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number") return null;
  return Number.isFinite(n) ? n : String(n);
}

export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

/** An ExportTraceServiceResponse; partial_success stays unset on full success, as the spec requires. */
export function encodeResponse(encoding: OtlpEncoding, partial?: PartialSuccess): Buffer {
  if (encoding === "json") {
    const body = partial
      ? { partialSuccess: { rejectedSpans: String(partial.rejectedSpans), errorMessage: partial.errorMessage } }
      : {};
    return Buffer.from(JSON.stringify(body));
  }
  const message = ExportTraceServiceResponse.fromObject(
    partial ? { partialSuccess: { rejectedSpans: partial.rejectedSpans, errorMessage: partial.errorMessage } } : {},
  );
  return Buffer.from(ExportTraceServiceResponse.encode(message).finish());
}

/** A google.rpc.Status body for an error answer. */
export function encodeStatus(encoding: OtlpEncoding, code: number, message: string): Buffer {
  if (encoding === "json") return Buffer.from(JSON.stringify({ code, message }));
  return Buffer.from(RpcStatus.encode(RpcStatus.fromObject({ code, message })).finish());
}
