// The client's view of the registry's health: a circuit breaker, one per client. Once the registry has failed, `get`
// stops waiting for it and serves what it has at once, while a single probe at a time (after a growing, jittered
// delay) finds out whether it is back.

export interface BreakerOptions {
  /** Delay before the first probe after a failure; doubled after each failed probe. */
  baseDelayMs: number;
  /** Cap of that delay. */
  maxDelayMs: number;
  now: () => number;
}

export class Breaker {
  /** Why the registry is considered down: the failure that opened the breaker, or the last failed probe. */
  lastFailure: unknown;
  #open = false;
  /** Failed requests since the breaker opened; sets the probe delay. */
  #failures = 0;
  /** No probe starts before then (epoch ms, on the client's clock). */
  #probeAt = 0;
  /** Requests to the registry that have not settled, probes included. */
  #inFlight = 0;
  /** Bumped when the breaker closes: a request started before the registry answered again cannot reopen it. */
  #generation = 0;
  /** Callers waiting for the registry, to be told when the breaker opens. */
  readonly #waiters = new Set<() => void>();
  readonly #options: BreakerOptions;

  constructor(options: BreakerOptions) {
    this.#options = options;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Calls `listener` once, when the breaker opens: a caller waiting for the registry stops waiting then. Returns the
   * function that removes it, to call when the wait ends; a long-lived promise would keep every past waiter instead.
   */
  whenOpen(listener: () => void): () => void {
    this.#waiters.add(listener);
    return () => this.#waiters.delete(listener);
  }

  /**
   * Whether a probe may start now: the breaker is open, its delay has passed, and no request is running. A request
   * still running from before the breaker opened counts as the probe, so that while the registry is down the gets of
   * this client never have more than one request on it (an explicit `preload` still asks).
   */
  probeDue(): boolean {
    return this.#open && this.#inFlight === 0 && this.#options.now() >= this.#probeAt;
  }

  /** Counts a request as started; pass what it returns to `answered` or `failed`. */
  started(): number {
    this.#inFlight++;
    return this.#generation;
  }

  /** The registry answered (with a version, a 304, or a definitive 4xx): it is up, the breaker closes. */
  answered(): void {
    this.#inFlight--;
    if (!this.#open) return;
    this.#open = false;
    this.#failures = 0;
    this.lastFailure = undefined;
    this.#generation++;
  }

  /** The request failed for want of the registry (network error, timeout, 5xx or 429 after retries). */
  failed(generation: number, error: unknown): void {
    this.#inFlight--;
    if (generation !== this.#generation) return;
    this.#failures++;
    this.lastFailure = error;
    this.#probeAt = this.#options.now() + this.#delay(this.#failures);
    this.#setOpen();
  }

  /**
   * A request has been running for longer than a caller may wait. The breaker opens at once, so that no other call
   * waits too; the request goes on and acts as the probe.
   */
  trip(error: unknown): void {
    if (this.#open) return;
    this.lastFailure = error;
    this.#probeAt = this.#options.now();
    this.#setOpen();
  }

  #setOpen(): void {
    if (this.#open) return;
    this.#open = true;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter();
  }

  /** Exponential, capped, half fixed and half random: clients that saw the same outage do not probe in step. */
  #delay(failures: number): number {
    const { baseDelayMs, maxDelayMs } = this.#options;
    const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(failures - 1, 30));
    return delay / 2 + Math.random() * (delay / 2);
  }
}
