// A fixed piece of synchronous work, timed: how fast this process runs right now. Tests that guard against blocking
// count their bounds in these units instead of absolute milliseconds: a machine busy with other work slows the unit
// as it slows what is measured, so it cannot fail them, while a blocking regression (seconds, or never) still does.

// About 0.7 MB of JSON, parsed in 5 to 10 ms on the 2-core test machine: work of the kind a request does (allocation,
// garbage, string handling), which other processes on the machine slow as they slow the requests.
const unitDocument = JSON.stringify(
  Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `row ${i}`, tags: ["a", "b"], score: i / 7 })),
);

/** The slowest of five timings of the unit, each in an event loop turn of its own, so that a busy moment shows. */
export async function workUnitMs(): Promise<number> {
  let worst = 0;
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    const start = performance.now();
    JSON.parse(unitDocument);
    worst = Math.max(worst, performance.now() - start);
  }
  return worst;
}
