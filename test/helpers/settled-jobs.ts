// Waiting on the job runner by its events, never on a clock: the harness is created with `onSettled`, and a test
// waits with `until(done)`, which checks `done()` at once and again after each job the runner settles (told after
// its commit, so what the job wrote is readable). A busy machine only makes the wait longer; a condition that never
// comes true fails at the test's own timeout, not at a deadline guessed here.
import type { JobEvent } from "../../src/jobs/runner.js";

export interface SettledJobs {
  /** Every job the runner settled, in order. */
  events: JobEvent[];
  /** For `createHarness({ jobs: { onSettled } })`. */
  onSettled(event: JobEvent): void;
  /** Resolves once `done()` holds, checking now and after each settled job (one check at a time). */
  until(done: () => Promise<boolean> | boolean): Promise<void>;
}

export function settledJobs(): SettledJobs {
  const events: JobEvent[] = [];
  const listeners = new Set<() => void>();
  return {
    events,
    onSettled(event) {
      events.push(event);
      for (const l of [...listeners]) l();
    },
    async until(done) {
      if (await done()) return;
      await new Promise<void>((resolve, reject) => {
        let checking = false;
        let again = false;
        const check = () => {
          if (checking) {
            again = true;
            return;
          }
          checking = true;
          Promise.resolve()
            .then(done)
            .then((ok) => {
              checking = false;
              if (ok) {
                listeners.delete(check);
                resolve();
              } else if (again) {
                again = false;
                check();
              }
            })
            .catch((err) => {
              listeners.delete(check);
              reject(err);
            });
        };
        listeners.add(check);
        check();
      });
    },
  };
}
