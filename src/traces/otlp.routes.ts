// POST /v1/traces, the OTLP/HTTP trace receiver. Mounted outside /api/v1: it reads its own raw body (protobuf or
// JSON, optionally gzip) and answers errors the way OTLP exporters expect, as a google.rpc.Status in the request's
// encoding, while still raising the project's AppError like every other route.
import type { IncomingMessage } from "node:http";
import { setImmediate as nextTurn } from "node:timers/promises";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { Router, type ErrorRequestHandler, type RequestHandler, type Response } from "express";
import type { Logger } from "pino";
import { authenticate } from "../auth/auth.middleware.js";
import type { AuthService } from "../auth/auth.service.js";
import { principalOf, requireRole } from "../auth/principal.js";
import { dbErrorKind, sqlstateOf } from "../db/errors.js";
import { AppError } from "../http/errors.js";
import { requestIdOf } from "../http/request-context.js";
import { createShedLog } from "../http/shed-log.js";
import type { IngestService } from "./ingest.service.js";
import type { Limiter, Release } from "./limiter.js";
import type { Metrics } from "../metrics.js";
import type { OtlpDecoder } from "./otlp-decoder.js";
import { CONTENT_TYPES, encodeResponse, encodeStatus, encodingOf, type OtlpEncoding } from "./otlp.js";

const gunzipAsync = promisify(gunzip);

// google.rpc.Code for the HTTP statuses this route answers with.
const RPC_CODES: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  413: 8, // RESOURCE_EXHAUSTED
  415: 3, // INVALID_ARGUMENT
  429: 8, // RESOURCE_EXHAUSTED
  500: 13, // INTERNAL
  503: 14, // UNAVAILABLE
};
const RPC_UNKNOWN = 2;
const STORAGE_RETRY_AFTER_SECONDS = 5;
const MAX_REASONS = 5;

export interface OtlpRoutesOptions {
  auth: AuthService;
  ingest: IngestService;
  limiter: Limiter;
  decoder: OtlpDecoder;
  metrics: Pick<Metrics, "spans" | "shed">;
  /** Largest body accepted, measured after decompression. */
  maxBytes: number;
  logger: Logger;
}

const encodingOfResponse = (res: Response): OtlpEncoding =>
  (res.locals.otlpEncoding as OtlpEncoding | undefined) ?? "json";

// First, so that every later answer (401 included) can be written in the request's encoding.
const negotiate: RequestHandler = (req, res, next) => {
  const encoding = encodingOf(req.get("content-type"));
  if (!encoding)
    throw new AppError(
      "unsupported_media_type",
      `OTLP/HTTP bodies must be application/x-protobuf or application/json, not '${req.get("content-type") ?? "none"}'`,
    );
  res.locals.otlpEncoding = encoding;
  next();
};

export function otlpRoutes({ auth, ingest, limiter, decoder, metrics, maxBytes, logger }: OtlpRoutesOptions): Router {
  const r = Router();
  const shedLog = createShedLog(logger, "the trace receiver is saturated");

  // Before authentication and before the body is read: a refused request costs no database lookup and no decoding.
  // The slot is held until the answer has gone out.
  const admit: RequestHandler = async (_req, res, next) => {
    let release: Release;
    try {
      release = await limiter.acquire();
    } catch (err) {
      // One line per interval for all of them, not an error line each (see createShedLog).
      res.locals.skipRequestLog = true;
      shedLog.record();
      metrics.shed();
      throw err;
    }
    // A caller that gave up while queued is already gone, its 'close' fired: give the slot straight back.
    if (res.closed) return release();
    res.once("close", release);
    // On the embedded database a query runs on this thread and an ingest's promise chain never yields to the event
    // loop: without this turn each request would run to its end before the next one is even parsed, so none could
    // ever be refused (the limiter would never see two) and reads would wait behind every ingest in the socket queue.
    await nextTurn();
    next();
  };

  r.post("/v1/traces", negotiate, admit, authenticate(auth), async (req, res) => {
    const p = principalOf(res);
    // Before the body is read: a key that may not write never makes the server buffer and decode its payload.
    requireRole(p, "write");
    const encoding = encodingOfResponse(res);
    const decoded = await decoder.decode(await readBody(req, maxBytes), encoding);
    let stored: Awaited<ReturnType<typeof ingest.ingest>>;
    try {
      stored = await ingest.ingest(p.projectId, decoded.spans);
    } catch (err) {
      logger.error({ err, reqId: requestIdOf(res) }, "storing spans failed");
      // Only trouble that may pass gets 503, which makes the exporter retry (resent spans are deduplicated). Data the
      // database refuses would be refused again: exporters drop a 400. (Refused spans are normally set apart and
      // rejected one by one in the ingest service; this is for what the data breaks beyond them.)
      const kind = dbErrorKind(err);
      if (kind === "data")
        throw new AppError(
          "bad_request",
          `the database refused the spans (SQLSTATE ${sqlstateOf(err)}): ${(err as Error).message}`,
        );
      if (kind === "bug") throw new AppError("internal", "internal error");
      throw new AppError("unavailable", "the spans could not be stored; retry later", {
        retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS,
      });
    }
    const rejected = decoded.rejected + stored.rejected;
    metrics.spans({
      stored: stored.inserted,
      rejected,
      duplicate: decoded.spans.length - stored.inserted - stored.rejected,
    });
    const reasons = [...decoded.reasons, ...stored.reasons].slice(0, MAX_REASONS);
    const partial =
      rejected > 0
        ? { rejectedSpans: rejected, errorMessage: `${rejected} span(s) rejected: ${reasons.join("; ")}` }
        : undefined;
    res.status(200).type(CONTENT_TYPES[encoding]).send(encodeResponse(encoding, partial));
  });

  r.use(otlpErrorHandler(logger));
  return r;
}

function otlpErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const error = err instanceof AppError ? err : new AppError("internal", "internal error");
    if (!(err instanceof AppError)) logger.error({ err, reqId: requestIdOf(res) }, "request failed");
    if (res.headersSent) return;
    const retryAfter = (error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
    // The rest of an oversized body is not worth reading; closing is cheaper than draining it.
    if (error.status === 413) res.setHeader("Connection", "close");
    const encoding = encodingOfResponse(res);
    res
      .status(error.status)
      .type(CONTENT_TYPES[encoding])
      .send(encodeStatus(encoding, RPC_CODES[error.status] ?? RPC_UNKNOWN, error.message));
  };
}

/**
 * The request body, decompressed, at most `maxBytes` of it. The compressed bytes are bounded by the same limit
 * while they stream in, and gunzip stops as soon as its output would pass the limit, so a gzip bomb costs at most
 * `maxBytes` of memory.
 */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const contentEncoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (contentEncoding !== "gzip" && contentEncoding !== "identity")
    throw new AppError("unsupported_media_type", `unsupported Content-Encoding '${contentEncoding}': use gzip or none`);
  const tooLarge = () =>
    new AppError("payload_too_large", `request body exceeds ${maxBytes} bytes after decompression`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();

  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: AppError | null) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (!error) return resolve(Buffer.concat(chunks, size));
      // Keep the socket flowing so the error answer can still be written.
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (err: Error) =>
      finish(new AppError("bad_request", `could not read the request body: ${err.message}`));
    const onAborted = () => finish(new AppError("bad_request", "the request was aborted"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
  if (contentEncoding === "identity") return raw;
  try {
    return await gunzipAsync(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge();
    throw new AppError("bad_request", `undecodable gzip body: ${(err as Error).message}`);
  }
}
