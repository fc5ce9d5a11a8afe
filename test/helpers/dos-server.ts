// The real app on a real database in a process of its own, for test/dos.test.ts: an input that blocks this process
// must not block the test that measures it, and the test can kill it. The event loop's delay is measured here, where
// it happens, and reported to the parent over IPC.
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createHarness } from "./harness.js";
import { workUnitMs } from "./work-unit.js";

export type DosServerMessage =
  | { port: number; writeKey: string; readKey: string; adminKey: string; kind: "pglite" | "postgres" }
  | { delayMaxMs: number }
  | { storedBytes: number }
  | { unitMs: number };
/**
 * reset/read: the event loop's delay since the reset; storage: the bytes the span tables take on disk; unit: how long
 * a fixed piece of work takes this process now (work-unit.ts), what the test's bounds are counted in.
 */
export type DosServerCommand = "reset" | "read" | "storage" | "unit";

const h = await createHarness();
const writeKey = await h.newKey("write");
const readKey = await h.newKey("read");
// First calls compile and optimize code paths (ajv, Handlebars, RE2, the database's statements): done once here, so
// that what the test measures is the cost of its inputs.
const writer = h.as(writeKey);
for (let i = 0; i < 3; i++) {
  await writer.post("/api/v1/prompts/warm-up/versions", {
    template: `{{#each rows}}{{name}} {{/each}}{{#if x}}{{x}}{{/if}} ${i}`,
    variablesSchema: {
      type: "object",
      properties: { rows: { type: "array", items: { properties: { name: { pattern: "^[a-z]+$" } } } } },
    },
  });
  await h
    .as(readKey)
    .post("/api/v1/prompts/warm-up/render", { ref: "latest", variables: { rows: [{ name: "ab" }], x: 1 } });
  await writer.post("/api/v1/prompts/warm-up/versions", { template: "{{#if a}}".repeat(40) + "{{/if}}".repeat(40) });
}
const server = h.app.listen(0, "127.0.0.1");
await once(server, "listening");

// 1 ms resolution: the delays that matter here are tens of milliseconds.
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

process.on("message", async (command: DosServerCommand) => {
  if (command === "unit") {
    process.send!({ unitMs: await workUnitMs() } satisfies DosServerMessage);
  } else if (command === "storage") {
    const { rows } = await h.database.query<{ bytes: string }>(
      `SELECT (pg_total_relation_size('spans') + pg_total_relation_size('span_resources') + pg_total_relation_size('span_scopes'))::text AS bytes`,
    );
    process.send!({ storedBytes: Number(rows[0]!.bytes) } satisfies DosServerMessage);
  } else if (command === "reset") {
    delay.reset();
    process.send!({ delayMaxMs: 0 } satisfies DosServerMessage);
  } else if (command === "read") {
    process.send!({ delayMaxMs: delay.max / 1e6 } satisfies DosServerMessage);
  }
});
process.on("disconnect", () => {
  server.close();
  void h.close().finally(() => process.exit(0));
});

process.send!({
  port: (server.address() as AddressInfo).port,
  writeKey,
  readKey,
  adminKey: h.adminKey,
  kind: h.database.kind,
} satisfies DosServerMessage);
