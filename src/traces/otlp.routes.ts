// POST /v1/traces, the OTLP/HTTP trace receiver. Mounted outside /api/v1: it reads its own raw body (protobuf or
// JSON, optionally gzip) and answers errors the way OTLP exporters expect, as a google.rpc.Status in the request's
// encoding, while still raising the project's AppError like every other route.
import type { IncomingMessage } from "node:http";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from "express";
import type { Logger } from "pino";
import { authenticate } from "../auth/auth.middleware.js";
import type { AuthService } from "../auth/auth.service.js";
import { principalOf, requireRole } from "../auth/principal.js";
import { dbErrorKind, sqlstateOf } from "../db/errors.js";
import { AppError } from "../http/errors.js";
import { requestIdOf } from "../http/request-context.js";
import { createShedLog } from "../http/shed-log.js";
import type { IngestService } from "./ingest.service.js";
import type { IngestGate, Ticket } from "./ingest-gate.js";
import type { Metrics } from "../metrics.js";
import type { OtlpDecoder } from "./otlp-decoder.js";
import type { SpanBatch } from "./span-batch.js";
import { CONTENT_TYPES, encodeResponse, encodeStatus, encodingOf, type OtlpEncoding } from "./otlp.js";

const gunzipAsync = promisify(gunzip);

// google.rpc.Code for the HTTP statuses this route answers with.
const RPC_CODES: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  408: 4, // DEADLINE_EXCEEDED
  413: 8, // RESOURCE_EXHAUSTED
  415: 3, // INVALID_ARGUMENT
  429: 8, // RESOURCE_EXHAUSTED
  500: 13, // INTERNAL
  503: 14, // UNAVAILABLE
};
const RPC_UNKNOWN = 2;
const STORAGE_RETRY_AFTER_SECONDS = 5;
const MAX_REASONS = 5;

/** How long a request body may take to arrive, and how slowly. */
export interface BodyReadLimits {
  /** The whole body, from the moment it is admitted. */
  timeoutMs: number;
  /** After the first `graceMs`, the body must keep arriving at this rate on average. */
  minBytesPerSecond: number;
  graceMs: number;
}

export interface OtlpRoutesOptions {
  auth: AuthService;
  ingest: IngestService;
  gate: IngestGate;
  decoder: OtlpDecoder;
  metrics: Pick<Metrics, "spans" | "shed">;
  /** Largest body accepted, measured after decompression. */
  maxBytes: number;
  bodyRead: BodyReadLimits;
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

export function otlpRoutes({
  auth,
  ingest,
  gate,
  decoder,
  metrics,
  maxBytes,
  bodyRead,
  logger,
}: OtlpRoutesOptions): Router {
  const r = Router();
  const shedLog = createShedLog(logger, "the trace receiver is saturated");

  // A refusal for saturation: one line per interval for all of them, not a log line each (see createShedLog).
  const shed = (res: Response, err: unknown): never => {
    if (err instanceof AppError && (err.code === "unavailable" || err.code === "rate_limited")) {
      res.locals.skipRequestLog = true;
      shedLog.record();
      metrics.shed();
    }
    throw err;
  };

  // The key is checked first: a request without a valid write key is answered before it is admitted or its body
  // read, so it takes nothing from the exporters that have one (a key is a cache lookup, or one indexed read).
  r.post("/v1/traces", negotiate, authenticate(auth), async (req, res) => {
    const p = principalOf(res);
    requireRole(p, "write");
    let ticket: Ticket;
    try {
      ticket = gate.enter(p.projectId, p.keyId);
    } catch (err) {
      return shed(res, err);
    }
    // Given back when the request's work has ended, whether its caller is still there or not: what the gate counts is
    // what runs. A caller that goes away only ends a wait for a slot.
    try {
      if (req.destroyed) throw new AppError("bad_request", "the request was aborted");
      res.once("close", ticket.abandon);
      await store(req, res, p.projectId, ticket);
    } finally {
      ticket.release();
    }
  });

  async function store(req: Request, res: Response, projectId: string, ticket: Ticket): Promise<void> {
    const encoding = encodingOfResponse(res);
    // Read and prepared (span-batch.ts) before a slot is taken: a slow sender, and the decoder's work, hold no slot.
    // What the request holds is counted on its ticket all along: its body, then its batch.
    let batch: SpanBatch;
    try {
      const body = await readBody(req, maxBytes, ticket, bodyRead);
      const bodyBytes = body.length;
      batch = await decoder.prepare(body, encoding, projectId);
      ticket.free(bodyBytes);
      ticket.reserve(batch.bytes);
    } catch (err) {
      return shed(res, err);
    }
    let stored: Awaited<ReturnType<typeof ingest.ingest>>;
    try {
      // A slot per statement (see the gate), so another project's request never waits for a whole batch.
      stored = await ingest.ingest(projectId, batch, ticket.withSlot);
    } catch (err) {
      if (err instanceof AppError) return shed(res, err);
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
    const rejected = batch.rejected + stored.rejected;
    metrics.spans({
      stored: stored.inserted,
      rejected,
      duplicate: batch.spans - stored.inserted - stored.rejected,
    });
    const reasons = [...batch.reasons, ...stored.reasons].slice(0, MAX_REASONS);
    const partial =
      rejected > 0
        ? { rejectedSpans: rejected, errorMessage: `${rejected} span(s) rejected: ${reasons.join("; ")}` }
        : undefined;
    res.status(200).type(CONTENT_TYPES[encoding]).send(encodeResponse(encoding, partial));
  }

  r.use(otlpErrorHandler(logger, { bytes: maxBytes, ms: bodyRead.timeoutMs }));
  return r;
}

function otlpErrorHandler(logger: Logger, drainLimit: { bytes: number; ms: number }): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = err instanceof AppError ? err : new AppError("internal", "internal error");
    if (!(err instanceof AppError)) logger.error({ err, reqId: requestIdOf(res) }, "request failed");
    if (res.headersSent) return;
    const retryAfter = (error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
    // A too slow body is not worth waiting for. The rest of an oversized one is read and dropped: closing a connection
    // with unread data resets it, and a sender still writing often sees the reset before the answer, which exporters
    // take for a failure to retry (resending the same body forever).
    if (error.status === 408) res.setHeader("Connection", "close");
    else if (error.status === 413) drainRest(req, drainLimit);
    const encoding = encodingOfResponse(res);
    res
      .status(error.status)
      .type(CONTENT_TYPES[encoding])
      .send(encodeStatus(encoding, RPC_CODES[error.status] ?? RPC_UNKNOWN, error.message));
  };
}

/**
 * Lets the rest of `req`'s body be read and dropped (Node does so once the answer is sent, to keep the connection),
 * as long as it stays within `limit`; past it the connection is cut.
 */
function drainRest(req: IncomingMessage, limit: { bytes: number; ms: number }): void {
  if (req.complete || req.destroyed) return;
  let drained = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, limit.ms).unref();
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > limit.bytes) cut();
  });
  req.once("close", () => clearTimeout(timer));
  req.resume();
}

/**
 * The request body, decompressed, at most `maxBytes` of it, its bytes counted on the request's ticket as they arrive.
 * The compressed bytes are bounded by the same limit while they stream in, and gunzip stops as soon as its output
 * would pass the limit, so a gzip bomb costs at most `maxBytes` of memory. A body that takes longer than the limits
 * allow is answered 408 (it costs its sender's own ticket meanwhile, never a slot).
 */
async function readBody(
  req: IncomingMessage,
  maxBytes: number,
  ticket: Ticket,
  limits: BodyReadLimits,
): Promise<Buffer> {
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
    const started = performance.now();
    // Checked on a timer, not on data: a sender that stops sending sends no data to check on.
    const timer = setInterval(
      () => {
        const elapsed = performance.now() - started;
        if (elapsed > limits.timeoutMs)
          finish(new AppError("request_timeout", `the request body did not arrive within ${limits.timeoutMs} ms`));
        else if (elapsed > limits.graceMs && size < (limits.minBytesPerSecond * (elapsed - limits.graceMs)) / 1000)
          finish(
            new AppError(
              "request_timeout",
              `the request body arrives slower than ${limits.minBytesPerSecond} bytes per second (${size} bytes in ${Math.round(elapsed)} ms)`,
            ),
          );
      },
      Math.min(1000, limits.timeoutMs / 4),
    );
    const finish = (error: AppError | null) => {
      clearInterval(timer);
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (!error) return resolve(Buffer.concat(chunks, size));
      // Keep the socket flowing so the error answer can still be written.
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return finish(tooLarge());
      try {
        ticket.reserve(chunk.length);
      } catch (err) {
        return finish(err as AppError);
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (err: Error) =>
      finish(new AppError("bad_request", `could not read the request body: ${err.message}`));
    const onAborted = () => finish(new AppError("bad_request", "the request was aborted"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
  if (contentEncoding === "identity") return raw;
  try {
    const body = await gunzipAsync(raw, { maxOutputLength: maxBytes });
    ticket.free(raw.length);
    ticket.reserve(body.length);
    return body;
  } catch (err) {
    if (err instanceof AppError) throw err;
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge();
    throw new AppError("bad_request", `undecodable gzip body: ${(err as Error).message}`);
  }
}
