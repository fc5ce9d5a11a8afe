// Decodes OTLP request bodies and prepares their batches (span-batch.ts) without holding the event loop. Decoding and
// serialising are synchronous work proportional to the body: a 61 MiB protobuf body took 2-6 s on the test machine
// and a 64 MiB JSON body over a second, during which no other request (health checks and prompt resolves included)
// was answered. Small bodies, the usual SDK batch, are prepared in place; larger ones on one worker thread, one at a
// time. (The worker's heap is not capped below the process's: a V8 heap limit reached inside one large allocation,
// as JSON.parse makes, is fatal to the whole process, worker or not. The body limit, PROMPTREG_OTLP_MAX_BYTES, is
// what bounds the memory a request can take.)
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { AppError } from "../http/errors.js";
import type { DecodeJob, DecodeReply } from "./otlp-decode-worker.js";
import { decodeRequest, type OtlpEncoding } from "./otlp.js";
import { prepareBatch, type BatchLimits, type SpanBatch } from "./span-batch.js";

export interface OtlpDecoder {
  /**
   * The request's batch, ready to store. A body over the inline size moves to the worker: the caller's Buffer is
   * left empty. Refuses a body that is not a request (400) or would store too much (413). Jobs of different `owner`s
   * (projects) take the worker in turn, so one project's large bodies do not make another's wait behind them all.
   */
  prepare(body: Buffer, encoding: OtlpEncoding, owner?: string): Promise<SpanBatch>;
  /** Stops the worker, if one was started; work still running or queued, and any after, is refused. */
  close(): Promise<void>;
}

export interface OtlpDecoderOptions {
  logger: Logger;
  limits: BatchLimits;
  /** Bodies up to this size are prepared on the calling thread. */
  inlineMaxBytes?: number;
}

// 64 KiB of spans are prepared in about 2 ms here: less than handing them to the worker and back costs in latency.
const DEFAULT_INLINE_MAX_BYTES = 64 * 1024;

interface Job {
  body: Buffer;
  encoding: OtlpEncoding;
  resolve(batch: SpanBatch): void;
  reject(err: Error): void;
}

const shuttingDown = () => new AppError("unavailable", "the trace receiver is shutting down");

export function createOtlpDecoder({
  logger,
  limits,
  inlineMaxBytes = DEFAULT_INLINE_MAX_BYTES,
}: OtlpDecoderOptions): OtlpDecoder {
  // Waiting jobs by owner; the map's order is the turn order: an owner served goes to the back.
  const queues = new Map<string, Job[]>();
  let worker: Worker | null = null;
  let current: Job | null = null;
  let closed = false;

  // The job in progress ends with `err`; the worker is not used again (the next job starts a new one).
  const abandon = (w: Worker, err: Error) => {
    if (worker !== w) return;
    worker = null;
    current?.reject(err);
    current = null;
    void w.terminate();
    next();
  };

  const start = (): Worker => {
    const [entry, options] = workerEntry();
    const w = new Worker(entry, options);
    w.on("message", (reply: DecodeReply) => {
      if (!current || worker !== w) return;
      const job = current;
      current = null;
      if (reply.kind === "batch") job.resolve(reply.batch);
      else if (reply.kind === "refused") job.reject(new AppError(reply.code, reply.message));
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

  const take = (): Job | undefined => {
    for (const [owner, queue] of queues) {
      queues.delete(owner);
      const job = queue.shift();
      if (queue.length > 0) queues.set(owner, queue);
      if (job) return job;
    }
    return undefined;
  };

  const next = () => {
    if (current || closed) return;
    const job = take();
    if (!job) {
      // An idle worker does not keep the process alive.
      worker?.unref();
      return;
    }
    worker ??= start();
    worker.ref();
    current = job;
    // The body's memory moves to the worker rather than being copied. A pooled Buffer shares its memory with other
    // small buffers (and Node refuses to move the pool), so only a Buffer that owns its whole ArrayBuffer is moved;
    // others are copied first, into memory of their own (a Uint8Array's, never the pool's).
    const own =
      job.body.byteOffset === 0 && job.body.byteLength === job.body.buffer.byteLength
        ? job.body
        : new Uint8Array(job.body);
    worker.postMessage({ body: own, encoding: job.encoding, limits } satisfies DecodeJob, [own.buffer as ArrayBuffer]);
  };

  return {
    async prepare(body, encoding, owner = "") {
      if (closed) throw shuttingDown();
      if (body.length <= inlineMaxBytes) return prepareBatch(decodeRequest(body, encoding), limits);
      return new Promise<SpanBatch>((resolve, reject) => {
        const queue = queues.get(owner);
        if (queue) queue.push({ body, encoding, resolve, reject });
        else queues.set(owner, [{ body, encoding, resolve, reject }]);
        next();
      });
    },
    async close() {
      closed = true;
      for (const queue of queues.values()) for (const job of queue) job.reject(shuttingDown());
      queues.clear();
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
