// A logger whose lines a test reads. Request lines are written when the server has finished sending the response,
// which can be after the client has read it: a test waits for the lines it expects, not for a turn of the loop.
import { Writable } from "node:stream";
import { pino } from "pino";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function capturingLogger() {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      for (const check of waiters) check();
      done();
    },
  });
  return {
    logger: pino({ level: "info" }, sink),
    lines,
    /** Settles once `count` lines match. */
    logged(match: (line: LogLine) => boolean, count: number): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          if (lines.filter(match).length < count) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
