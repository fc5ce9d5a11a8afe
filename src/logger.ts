import { pino, type Logger } from "pino";

/**
 * Structured JSON logs, on stdout by default. Writes are asynchronous: under load the lines queued behind a write in
 * flight go out together in one system call instead of one call per request line; when idle a line is written
 * at once. `flushLogger` writes out what is queued (call it before exiting).
 */
export function createLogger(level: string, destination: number | string = 1): Logger {
  return pino(
    { level, base: { service: "promptreg" }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: destination, sync: false }),
  );
}

export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // Nothing queued, or the stream is already closed.
  }
}
