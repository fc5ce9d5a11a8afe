// The trace receiver's admission (src/traces/ingest-gate.ts) on its own: bounds, shares per project and key, slots
// handed out in turn across projects, buffered bytes, waiting with a timeout. No timing beyond a timer firing.
import { describe, expect, it } from "vitest";
import { createIngestGate, type IngestGateOptions } from "../src/traces/ingest-gate.js";
import { holdSlot } from "./helpers/gate.js";

const gateWith = (options: Partial<IngestGateOptions> = {}) =>
  createIngestGate({
    maxInFlight: 1,
    maxQueued: 7,
    maxPerKey: 3,
    maxBufferedBytes: 1000,
    maxWaitMs: 60_000,
    retryAfterSeconds: 2,
    ...options,
  });

describe("the ingest gate", () => {
  it("admits up to its total, half of it per project and maxPerKey per key, and says which with Retry-After", () => {
    const gate = gateWith();
    const a = [gate.enter("A", "a1"), gate.enter("A", "a1"), gate.enter("A", "a1")];
    expect(() => gate.enter("A", "a1")).toThrow(
      expect.objectContaining({ status: 429, message: expect.stringMatching(/key has 3 requests/) }),
    );
    a.push(gate.enter("A", "a2"));
    // 8 tickets in all: project A may hold 4.
    expect(() => gate.enter("A", "a3")).toThrow(
      expect.objectContaining({
        status: 429,
        details: { retryAfterSeconds: 2 },
        message: expect.stringMatching(/project/),
      }),
    );
    const b = [gate.enter("B", "b1"), gate.enter("B", "b1"), gate.enter("B", "b2"), gate.enter("B", "b2")];
    expect(() => gate.enter("C", "c1")).toThrow(
      expect.objectContaining({ status: 503, message: expect.stringMatching(/overloaded/) }),
    );
    a[0]!.release();
    a[0]!.release(); // twice is harmless
    expect(gate.tickets).toBe(7);
    gate.enter("C", "c1");
    for (const t of [...a, ...b]) t.release();
    expect(gate.tickets).toBe(1);
  });

  it("refuses everything when no request may be in flight", () => {
    expect(() => gateWith({ maxInFlight: 0 }).enter("A", "a")).toThrow(expect.objectContaining({ status: 503 }));
  });

  it("hands a freed slot to the waiting projects in turn, not in arrival order", async () => {
    const gate = gateWith({ maxInFlight: 1, maxQueued: 20, maxPerKey: 10 });
    const holder = holdSlot(gate.enter("A", "a"));
    await holder.taken;
    const order: string[] = [];
    // Each waiter, once granted, notes itself; its work ends at once, giving the slot to the next.
    const granted = (["A", "A", "A", "B", "C"] as const).map((project, i) =>
      gate.enter(project, project.toLowerCase()).withSlot(async () => {
        order.push(`${project}${i}`);
      }),
    );
    holder.free();
    await Promise.all(granted);
    // A's first, then B and C before A's others, though those came first.
    expect(order).toEqual(["A0", "B3", "C4", "A1", "A2"]);
    expect(gate.inFlight).toBe(0);
  });

  it("takes a slot per piece of work: a long batch lets another project in between its statements", async () => {
    const gate = gateWith({ maxInFlight: 1 });
    const big = gate.enter("A", "a");
    const other = gate.enter("B", "b");
    const order: string[] = [];
    const batch = (async () => {
      for (let chunk = 0; chunk < 3; chunk++)
        await big.withSlot(async () => {
          order.push(`A${chunk}`);
          // B asks while A's first chunk runs.
          if (chunk === 0) void other.withSlot(async () => void order.push("B"));
        });
    })();
    await batch;
    expect(order).toEqual(["A0", "B", "A1", "A2"]);
  });

  it("times a waiter out with 503; an abandoned request's wait ends at once and its work is counted until it ends", async () => {
    const gate = gateWith({ maxWaitMs: 20 });
    const holder = holdSlot(gate.enter("A", "a"));
    await holder.taken;
    const late = gate.enter("B", "b");
    await expect(late.withSlot(async () => {})).rejects.toMatchObject({
      status: 503,
      message: expect.stringMatching(/within 20 ms/),
    });
    late.release();
    const gone = gate.enter("B", "b");
    const goneWait = gone.withSlot(async () => {}).catch((err: unknown) => err);
    const next = gate.enter("C", "c");
    const nextWork = holdSlot(next);
    gone.abandon();
    expect(await goneWait).toMatchObject({ message: expect.stringMatching(/abandoned/) });
    await expect(gone.withSlot(async () => {})).rejects.toMatchObject({ message: expect.stringMatching(/abandoned/) });
    gone.release();
    // The holder's caller goes away too: its work still runs, and still counts, until it ends.
    holder.free();
    await nextWork.taken;
    expect(gate.inFlight).toBe(1);
    expect(gate.tickets).toBe(2);
    nextWork.free();
    await nextWork.done;
    expect(gate.inFlight).toBe(0);
  });

  it("bounds the body bytes held, overall and per project, and frees them on release", () => {
    const gate = gateWith({ maxBufferedBytes: 1000 });
    const a = gate.enter("A", "a");
    a.reserve(400);
    expect(() => a.reserve(200)).toThrow(
      expect.objectContaining({ status: 429, message: expect.stringMatching(/bytes/) }),
    );
    const b = gate.enter("B", "b");
    b.reserve(500);
    const c = gate.enter("C", "c");
    expect(() => c.reserve(200)).toThrow(
      expect.objectContaining({ status: 503, message: expect.stringMatching(/1000/) }),
    );
    a.release();
    c.reserve(200);
    b.release();
    c.release();
  });

  it("measures the share of the last window it was storing, overlapping statements counted once", async () => {
    let t = 1_000;
    const gate = gateWith({ now: () => t, utilizationWindowMs: 100, maxInFlight: 2 });
    expect(gate.utilization()).toBe(0);
    // A request whose body is still arriving holds a ticket, not a slot: it does not count.
    const reading = gate.enter("C", "c1");
    t += 50;
    expect(gate.utilization()).toBe(0);
    const a = holdSlot(gate.enter("A", "a1"));
    await a.taken;
    t += 50;
    expect(gate.utilization()).toBe(0.5);
    t += 50;
    expect(gate.utilization()).toBe(1);
    a.free();
    await a.done;
    t += 50;
    expect(gate.utilization()).toBe(0.5);
    t += 100;
    expect(gate.utilization()).toBe(0);
    const b = holdSlot(gate.enter("A", "a1"));
    await b.taken;
    t += 20;
    const c = holdSlot(gate.enter("B", "b1"));
    await c.taken;
    t += 20;
    b.free();
    await b.done;
    t += 20;
    c.free();
    await c.done;
    t += 40;
    expect(gate.utilization()).toBe(0.6);
    reading.release();
  });
});
