// From a decoded OTLP request to what ingest stores (ingest.service.ts), built where the request was decoded: on the
// decoder's thread for a large request, so the event loop never serialises it (otlp-decoder.ts).
// - Each resource and instrumentation scope once, keyed by the SHA-256 of its canonical JSON. A resource is the same
//   for every span of a batch; copied into each span's row, one 400 kB resource shared by 1,000 spans made a 451 kB
//   request write 400 MB.
// - The spans' rows as JSON, in chunks bounded by rows and by bytes: each chunk is the one parameter of one INSERT,
//   so no statement and no string grows with the request, and the event loop turns between chunks.
// - The size of it all. With every shared part stored once, what a request stores grows with its own size; the
//   limit (PROMPTREG_OTLP_MAX_STORED_BYTES) still bounds it, and a request over it is refused whole (413) before
//   anything is stored.
import { createHash } from "node:crypto";
import { AppError } from "../http/errors.js";
import { toSpanRow } from "./mapping.js";
import type { SpanRow } from "./span-table.js";
import type { DecodedRequest } from "./otlp.js";
import { tracesThatMayNeedLinks } from "./trace-links.js";

export interface BatchLimits {
  /** Spans in one chunk (one INSERT). */
  chunkRows: number;
  /** JSON bytes in one chunk; a single span larger than this is a chunk of its own. */
  chunkBytes: number;
  /** JSON bytes one request may store, rows, resources and scopes together. */
  maxStoredBytes: number;
}

export interface SpanChunk {
  /** A JSON array of SpanRow, as UTF-8. */
  rows: Uint8Array;
  count: number;
  /** The traces whose trace-level links the chunk may change (trace-links.ts). */
  traces: string[];
}

export interface SpanBatch {
  /** `{"resources": [{hash, attributes}], "scopes": [{hash, name, version, attributes}]}` as UTF-8; null without spans. */
  origins: Uint8Array | null;
  /** Keys of those resources (`r:<hash>`) and scopes (`s:<hash>`). */
  originKeys: string[];
  chunks: SpanChunk[];
  spans: number;
  /** The JSON bytes of origins and chunks: what the request sends to the database. */
  bytes: number;
  rejected: number;
  reasons: string[];
}

const utf8 = new TextEncoder();

/** JSON with every object's keys sorted, so equal content is equal text wherever its keys came from. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    // fromEntries defines each key as an own property, "__proto__" included.
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    );
  });
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function tooLarge(limits: BatchLimits): AppError {
  return new AppError(
    "payload_too_large",
    `the request's spans would store more than ${limits.maxStoredBytes} bytes (PROMPTREG_OTLP_MAX_STORED_BYTES): send smaller batches`,
  );
}

/** The batch ingest stores for `decoded`; throws AppError("payload_too_large") past `limits.maxStoredBytes`. */
export function prepareBatch(decoded: DecodedRequest, limits: BatchLimits): SpanBatch {
  try {
    return build(decoded, limits);
  } catch (err) {
    // A value whose JSON is past the longest string V8 makes (escaping can make text six times longer): too large.
    if (err instanceof RangeError) throw tooLarge(limits);
    throw err;
  }
}

function build(decoded: DecodedRequest, limits: BatchLimits): SpanBatch {
  const batch: SpanBatch = {
    origins: null,
    originKeys: [],
    chunks: [],
    spans: decoded.spans.length,
    bytes: 0,
    rejected: decoded.rejected,
    reasons: decoded.reasons,
  };
  if (decoded.spans.length === 0) return batch;
  const add = (bytes: number) => {
    batch.bytes += bytes;
    if (batch.bytes > limits.maxStoredBytes) throw tooLarge(limits);
  };

  const resources = decoded.resources.map((attributes) => {
    const json = canonicalJson(attributes);
    return { hash: sha256(json), json };
  });
  const scopes = decoded.scopes.map((scope) => {
    const json = canonicalJson(scope);
    return { hash: sha256(json), json };
  });
  // Built as text from the canonical JSON already made: each resource is serialised once. Equal ones (two
  // resourceSpans of one process) are sent once.
  // Sorted by hash: two batches storing the same new resources lock their rows in the same order.
  const unique = (list: { hash: string; json: string }[]) =>
    [...new Map(list.map((o) => [o.hash, o])).values()].sort((a, b) => (a.hash < b.hash ? -1 : 1));
  const uniqueResources = unique(resources);
  const uniqueScopes = unique(scopes);
  const originsText = `{"resources":[${uniqueResources
    .map((r) => `{"hash":"${r.hash}","attributes":${r.json}}`)
    .join(",")}],"scopes":[${uniqueScopes.map((s) => `{"hash":"${s.hash}",${s.json.slice(1)}`).join(",")}]}`;
  add(Buffer.byteLength(originsText));
  batch.origins = utf8.encode(originsText);
  batch.originKeys = [...uniqueResources.map((r) => `r:${r.hash}`), ...uniqueScopes.map((s) => `s:${s.hash}`)];

  let parts: string[] = [];
  let rows: Pick<SpanRow, "trace_id" | "parent_span_id" | "span_kind" | "prompt_name">[] = [];
  let chunkBytes = 0;
  const flush = () => {
    if (parts.length === 0) return;
    batch.chunks.push({
      rows: utf8.encode(`[${parts.join(",")}]`),
      count: parts.length,
      traces: tracesThatMayNeedLinks(rows),
    });
    parts = [];
    rows = [];
    chunkBytes = 0;
  };
  for (const span of decoded.spans) {
    const row = toSpanRow(span, { resource: resources[span.resource]!.hash, scope: scopes[span.scope]!.hash });
    const json = JSON.stringify(row);
    const bytes = Buffer.byteLength(json) + 1;
    add(bytes);
    if (parts.length > 0 && (parts.length >= limits.chunkRows || chunkBytes + bytes > limits.chunkBytes)) flush();
    parts.push(json);
    rows.push({
      trace_id: row.trace_id,
      parent_span_id: row.parent_span_id,
      span_kind: row.span_kind,
      prompt_name: row.prompt_name,
    });
    chunkBytes += bytes;
  }
  flush();
  return batch;
}
