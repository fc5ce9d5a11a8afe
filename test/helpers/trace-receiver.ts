// What the trace test files (test/traces-*.test.ts, one per feature) share: the real app on a real port, a write
// and a read key, two prompts spans link to (support/triage 1.0.0 and 1.0.1, summarize 1.0.0), and OTLP requests
// sent over a real socket. A file calls useTraceReceiver() once at its top level; the bindings below are set by its
// beforeAll (ES modules export live bindings), so a test reads them as it would its own file's variables.
import { gzipSync } from "node:zlib";
import request from "supertest";
import { afterAll, beforeAll } from "vitest";
import { createApp } from "../../src/app.js";
import { publishPrompt } from "./factories.js";
import { createHarness, silentLogger, type Client, type Harness } from "./harness.js";
import { serve, type Listener } from "./listen.js";
import { CONTENT_TYPE, type Encoding, otlpJson, otlpProtobuf, type SpanSpec } from "./otlp.js";

export let h: Harness;
export let writer: Client;
export let writerKey: string;
export let readerKey: string;
/** The app's /v1/traces on a real port. */
export let endpoint: string;
let receiver: Listener;

/** Registers the file's setup and teardown: a harness, its keys and prompts, and the app listening on a port. */
export function useTraceReceiver(): void {
  beforeAll(async () => {
    h = await createHarness();
    writerKey = await h.newKey("write");
    readerKey = await h.newKey("read");
    writer = h.as(writerKey);
    receiver = await serve(h.app);
    endpoint = `${receiver.url}/v1/traces`;
    await publishPrompt(writer, "support/triage", ["Hi {{a}}", "Hello {{a}}"]);
    await publishPrompt(writer, "summarize", ["Sum {{t}}"]);
  });
  afterAll(async () => {
    await receiver?.close();
    await h?.close();
  });
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

// OTLP requests go over a real socket with fetch: supertest re-serialises Buffers sent as application/json.
export async function postOtlp(
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

export const appWith = (config: Partial<Parameters<typeof createApp>[0]["config"]>) =>
  createApp({
    config: { bodyLimitBytes: 1024 * 1024, resolveCacheSize: 10, ...config },
    database: h.database,
    bus: h.bus,
    logger: silentLogger,
  });

/** A receiver with its own limits, on its own server. */
export async function receiverWith(config: Partial<Parameters<typeof createApp>[0]["config"]>) {
  const { app, ingestGate } = appWith(config);
  const served = await serve(app);
  return { ...served, gate: ingestGate, url: `${served.url}/v1/traces` };
}

export const send = (spans: SpanSpec[], encoding: Encoding = "json", key?: string) =>
  postOtlp(encoding === "json" ? otlpJson(spans) : otlpProtobuf(spans), CONTENT_TYPE[encoding], { key });

export const json = (res: RawResponse) => JSON.parse(res.body.toString());

export async function countSpans(traceIds: string[]): Promise<number> {
  return h.database.prisma.span.count({ where: { traceId: { in: traceIds } } });
}

export async function traceOf(traceId: string, key = writerKey) {
  return request(h.app).get(`/api/v1/traces/${traceId}`).set("Authorization", `Bearer ${key}`);
}
