// Renders one prompt with the real client, in a worker thread, for client/test/dos.test.ts: a render that never
// returns blocks only this thread, which the test can terminate.
import { parentPort, workerData } from "node:worker_threads";
import { workUnitMs } from "../../test/helpers/work-unit.js";
import { createClient } from "../src/index.js";

export interface RenderJob {
  baseUrl: string;
  apiKey: string;
  name: string;
  values: Record<string, unknown>;
}
/** `ms`: how long the render took; `unitMs`: a fixed piece of work (work-unit.ts) timed in this thread just before. */
export type RenderOutcome =
  | { text: string; ms: number; unitMs: number }
  | { error: { name: string; code?: string; message: string }; ms: number; unitMs: number };

const job = workerData as RenderJob;
const prompt = await createClient({ baseUrl: job.baseUrl, apiKey: job.apiKey }).get(job.name, { label: "latest" });
const unitMs = await workUnitMs();
const t0 = performance.now();
let outcome: RenderOutcome;
try {
  outcome = { text: prompt.render(job.values) as string, ms: performance.now() - t0, unitMs };
} catch (err) {
  const e = err as Error & { code?: string };
  outcome = { error: { name: e.name, code: e.code, message: e.message }, ms: performance.now() - t0, unitMs };
}
parentPort!.postMessage(outcome);
