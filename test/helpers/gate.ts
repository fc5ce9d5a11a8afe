// Holding one of the ingest gate's slots from a test, as a request's statement would.
import type { Ticket } from "../../src/traces/ingest-gate.js";

export interface HeldSlot {
  /** Settles once the slot is the ticket's. */
  taken: Promise<void>;
  /** Ends the work, giving the slot back; `done` settles then (or rejects if the wait failed). */
  free(): void;
  done: Promise<void>;
}

export function holdSlot(ticket: Ticket): HeldSlot {
  let free = () => {};
  let taken = () => {};
  const takenPromise = new Promise<void>((resolve) => (taken = resolve));
  const done = ticket.withSlot(
    () =>
      new Promise<void>((resolve) => {
        free = resolve;
        taken();
      }),
  );
  return { taken: takenPromise, free: () => free(), done };
}
