// Decodes OTLP request bodies without holding the event loop. Decoding is synchronous work proportional to the body:
// a 61 MiB protobuf body took 2-6 s on the test machine and a 64 MiB JSON body over a second, during which no other
// request (health checks and prompt resolves included) was answered. Small bodies, the usual SDK batch, are decoded
// in place; larger ones on one worker thread, one at a time. (The worker's heap is not capped below the process's:
// a V8 heap limit reached inside one large allocation, as JSON.parse makes, is fatal to the whole process, worker
// or not. The body limit, PROMPTREG_OTLP_MAX_BYTES, is what bounds the memory a request can take.)
import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { AppError } from "../http/errors.js";
import type { DecodeJob, DecodeReply } from "./otlp-decode-worker.js";
import { decodeRequest, type DecodedRequest, type OtlpEncoding } from "./otlp.js";

export interface OtlpDecoder {
  /**
   * The request's spans. A body over the inline size moves to the worker: the caller's Buffer is left empty.
   */
  decode(body: Buffer, encoding: OtlpEncoding): Promise<DecodedRequest>;
  /** Stops the worker, if one was started; decodes still running or queued, and any after, are refused. */
  close(): Promise<void>;
}

export interface OtlpDecoderOptions {
  logger: Logger;
  /** Bodies up to this size are decoded on the calling thread. 512 KiB decodes in about 20 ms. */
  inlineMaxBytes?: number;
}

const DEFAULT_INLINE_MAX_BYTES = 512 * 1024;

interface Job {
  body: Buffer;
  encoding: OtlpEncoding;
  resolve(decoded: DecodedRequest): void;
  reject(err: Error): void;
}

const shuttingDown = () => new AppError("unavailable", "the trace receiver is shutting down");

export function createOtlpDecoder({
  logger,
  inlineMaxBytes = DEFAULT_INLINE_MAX_BYTES,
}: OtlpDecoderOptions): OtlpDecoder {
  const queue: Job[] = [];
  let worker: Worker | null = null;
  let current: { job: Job; spans: DecodedRequest["spans"] } | null = null;
  let closed = false;

  // The job in progress ends with `err`; the worker is not used again (the next job starts a new one).
  const abandon = (w: Worker, err: Error) => {
    if (worker !== w) return;
    worker = null;
    current?.job.reject(err);
    current = null;
    void w.terminate();
    next();
  };

  const start = (): Worker => {
    const [entry, options] = workerEntry();
    const w = new Worker(entry, options);
    w.on("message", async (reply: DecodeReply) => {
      if (!current || worker !== w) return;
      if (reply.kind === "spans") {
        for (const span of reply.spans) current.spans.push(span);
        // The next slice is asked for on the next turn of the event loop: what else waits runs in between.
        await nextTurn();
        w.postMessage({ kind: "more" } satisfies DecodeJob);
        return;
      }
      const { job, spans } = current;
      current = null;
      if (reply.kind === "done") job.resolve({ spans, rejected: reply.rejected, reasons: reply.reasons });
      else if (reply.kind === "refused") job.reject(new AppError("bad_request", reply.message));
      else {
        logger.error({ err: reply.error }, "decoding an OTLP request failed on the decoder thread");
        job.reject(new AppError("internal", "internal error"));
      }
      next();
    });
    // The worker could not start (its module missing from a broken install, say) or threw outside a job.
    w.on("error", (err) => {
      logger.error({ err }, "the OTLP decoder thread failed");
      abandon(w, new AppError("internal", "internal error"));
    });
    w.on("exit", (code) => {
      if (!closed) logger.error({ code }, "the OTLP decoder thread exited");
      abandon(w, closed ? shuttingDown() : new AppError("internal", "internal error"));
    });
    return w;
  };

  const next = () => {
    if (current || closed) return;
    const job = queue.shift();
    if (!job) {
      // An idle worker does not keep the process alive.
      worker?.unref();
      return;
    }
    worker ??= start();
    worker.ref();
    current = { job, spans: [] };
    // The body's memory moves to the worker rather than being copied. A pooled Buffer shares its memory with other
    // small buffers, so only a Buffer that owns its whole ArrayBuffer is moved; others are copied first.
    const own =
      job.body.byteOffset === 0 && job.body.byteLength === job.body.buffer.byteLength
        ? job.body
        : Buffer.from(job.body);
    worker.postMessage({ kind: "decode", body: own, encoding: job.encoding } satisfies DecodeJob, [
      own.buffer as ArrayBuffer,
    ]);
  };

  return {
    async decode(body, encoding) {
      if (closed) throw shuttingDown();
      if (body.length <= inlineMaxBytes) return decodeRequest(body, encoding);
      return new Promise<DecodedRequest>((resolve, reject) => {
        queue.push({ body, encoding, resolve, reject });
        next();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(shuttingDown());
      await worker?.terminate();
    },
  };
}

/**
 * The worker's entry. Built, it is the compiled module. Under the tests the sources run as TypeScript, and on Node 20
 * a worker does not inherit tsx's loader (not even with `--import tsx` in its execArgv): a one-line script registers
 * tsx in the worker first, then loads the module.
 */
function workerEntry(): [string | URL, { eval?: boolean }] {
  if (!import.meta.url.endsWith(".ts")) return [new URL("./otlp-decode-worker.js", import.meta.url), {}];
  const url = new URL("./otlp-decode-worker.ts", import.meta.url).href;
  return [
    `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`,
    { eval: true },
  ];
}
