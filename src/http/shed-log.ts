import type { Logger } from "pino";

const SHED_LOG_INTERVAL_MS = 10_000;

/**
 * Logs requests refused because the server, or a caller's share of it, is saturated at warn, counted: the first refusal after a quiet spell at
 * once (so shedding is seen when it starts), then one line per interval with how many there were, for as long as it
 * lasts. A flood then costs a few log lines instead of one error line per refused request, which itself slowed the
 * server down.
 */
export function createShedLog(logger: Logger, what: string, intervalMs = SHED_LOG_INTERVAL_MS) {
  let pending = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(flush, intervalMs);
    timer.unref();
  };
  const flush = () => {
    timer = undefined;
    if (pending === 0) return;
    logger.warn({ shed: pending, intervalMs }, `${what}: ${pending} more request(s) refused with 503 or 429`);
    pending = 0;
    arm();
  };
  return {
    record(): void {
      if (timer) {
        pending++;
        return;
      }
      logger.warn({ shed: 1, intervalMs }, `${what}: refusing requests with 503 or 429`);
      arm();
    },
  };
}
