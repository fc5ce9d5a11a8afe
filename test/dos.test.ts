// Issue 11, point 1: one request must not block every other request. The attack inputs go through the real app, in a
// process of its own (test/helpers/dos-server.ts), while a loop sends health checks; each attack must be answered
// with a clear 4xx, and neither the server's event loop delay nor a health check may approach a blocked process.
//
// Not bounded by absolute milliseconds: a 2-core machine running other work was seen to add several hundred ms by
// itself (scheduling, garbage collection, the embedded database running in the server's process). The bounds are
// counted in units of a fixed piece of work (test/helpers/work-unit.ts) timed in the server just before each
// attack, which a busy machine slows alike: far above what the refused inputs cost, far below what the attacks did
// before (a render that never returned, a publish that took 552 s, one that blocked for a second or more). The 50 ms
// target for the worst input each limit allows is a figure of bench/limits.mjs, not a timed test. An attack not
// answered within HANG_MS counts as a hang (a watchdog, not a measure: the blocking inputs never answered, or took
// minutes); the server is then killed and the next test starts a new one.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { INGEST_DEFAULTS } from "../src/config.js";
import type { DosServerCommand, DosServerMessage } from "./helpers/dos-server.js";
import { randomBytes } from "node:crypto";
import { decodeProtobufResponse, newTraceId, otlpJson, otlpProtobuf, type SpanSpec } from "./helpers/otlp.js";

const root = path.resolve(import.meta.dirname, "..");
const HANG_MS = 10_000;

interface Server {
  child: ChildProcess;
  base: string;
  writeKey: string;
  readKey: string;
  adminKey: string;
  kind: "pglite" | "postgres";
  stuck: boolean;
}

let server: Server | undefined;

async function start(): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/dos-server.ts"], {
    cwd: root,
    env: process.env,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const [ready] = (await Promise.race([
    once(child, "message"),
    once(child, "exit").then(() => Promise.reject(new Error("dos-server exited"))),
  ])) as [Extract<DosServerMessage, { port: number }>];
  return {
    child,
    base: `http://127.0.0.1:${ready.port}`,
    writeKey: ready.writeKey,
    readKey: ready.readKey,
    adminKey: ready.adminKey,
    kind: ready.kind,
    stuck: false,
  };
}

async function stop(s: Server): Promise<void> {
  const exited = once(s.child, "exit");
  if (s.stuck) s.child.kill("SIGKILL");
  else s.child.disconnect();
  await exited;
}

async function live(): Promise<Server> {
  if (server?.stuck) {
    await stop(server);
    server = undefined;
  }
  return (server ??= await start());
}

afterAll(async () => {
  if (server) await stop(server);
});

async function command(s: Server, c: DosServerCommand): Promise<number> {
  const reply = once(s.child, "message");
  s.child.send(c);
  const [message] = (await reply) as [Exclude<DosServerMessage, { port: number }>];
  return "delayMaxMs" in message ? message.delayMaxMs : "unitMs" in message ? message.unitMs : message.storedBytes;
}

interface Outcome {
  status: number;
  body: {
    error?: { code: string; message: string; details?: unknown };
    partialSuccess?: { rejectedSpans?: string; errorMessage?: string };
  };
  loopDelayMs: number;
  healthMs: number;
  healthChecks: number;
  /** The work unit (test/helpers/work-unit.ts) timed in the server just before the request. */
  unitMs: number;
}

/**
 * Sends one request while health checks run back to back; measures the server's event loop delay around it, and how
 * fast the server runs just before it.
 */
async function attack(
  s: Server,
  method: string,
  p: string,
  key: string,
  body: unknown,
  contentType = "application/json",
): Promise<Outcome> {
  const unitMs = await command(s, "unit");
  await command(s, "reset");
  let done = false;
  const latencies: number[] = [];
  const health = (async () => {
    while (!done) {
      const t0 = performance.now();
      await fetch(`${s.base}/healthz`, { signal: AbortSignal.timeout(HANG_MS) }).then(
        (r) => r.arrayBuffer(),
        () => undefined,
      );
      latencies.push(performance.now() - t0);
    }
  })();
  let res: Response;
  try {
    res = await fetch(`${s.base}${p}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": contentType },
      // A string is sent as it is: JSON.stringify itself overflows the stack on the deepest bodies.
      body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(HANG_MS),
    });
  } catch (err) {
    s.stuck = true;
    throw new Error(
      `${method} ${p} got no answer within ${HANG_MS} ms: the server is blocked (${(err as Error).message})`,
    );
  } finally {
    done = true;
    await health;
  }
  const answer = Buffer.from(await res.arrayBuffer());
  const protobuf = res.headers.get("content-type")?.startsWith("application/x-protobuf");
  return {
    status: res.status,
    body: (protobuf ? decodeProtobufResponse(answer) : JSON.parse(answer.toString())) as Outcome["body"],
    loopDelayMs: await command(s, "read"),
    healthMs: Math.max(...latencies),
    healthChecks: latencies.length,
    unitMs,
  };
}

/**
 * The attack held the server's event loop less than 50 work units and no health check waited 100: 500 and 1,000 ms
 * when the unit takes 10 ms, as on the 2-core test machine, where the attacks' inputs, refused, cost at most a few
 * hundred ms and the blocking ones a second or more.
 */
function expectResponsive({ loopDelayMs, healthMs, healthChecks, unitMs }: Outcome): void {
  const units = (ms: number) => `${ms.toFixed(1)} ms, ${(ms / unitMs).toFixed(1)} units of ${unitMs.toFixed(1)} ms`;
  expect(loopDelayMs, `event loop delay ${units(loopDelayMs)}`).toBeLessThan(50 * unitMs);
  expect(healthMs, `slowest of ${healthChecks} health checks ${units(healthMs)}`).toBeLessThan(100 * unitMs);
}

const publish = (s: Server, name: string, body: unknown) =>
  attack(s, "POST", `/api/v1/prompts/${name}/versions`, s.writeKey, body);
const render = (s: Server, name: string, variables: unknown) =>
  attack(s, "POST", `/api/v1/prompts/${name}/render`, s.readKey, { ref: "latest", variables });

describe("one request cannot block the others", () => {
  it("a backtracking schema pattern runs in linear time: 40 characters and 20,000 are answered at once", async () => {
    const s = await live();
    const published = await publish(s, "evil-pattern", {
      template: "Hi {{name}}",
      variablesSchema: {
        type: "object",
        properties: { name: { type: "string", pattern: "^(a+)+$" } },
        required: ["name"],
      },
    });
    expect(published.status).toBe(201);
    for (const name of [`${"a".repeat(40)}!`, `${"a".repeat(20_000)}!`]) {
      const o = await render(s, "evil-pattern", { name });
      expect(o.status).toBe(422);
      expect(o.body.error).toMatchObject({
        code: "invalid_variables",
        message: 'invalid variables: /name must match pattern "^(a+)+$"',
      });
      expectResponsive(o);
    }
    // Linear is not free: past the budget of pattern steps, the render is refused before it takes long.
    const long = await render(s, "evil-pattern", { name: "a".repeat(200_000) });
    expect(long.status).toBe(422);
    expect(long.body.error).toMatchObject({
      code: "limit_exceeded",
      details: { limit: { limit: "pattern steps", max: 200_000 } },
    });
    expectResponsive(long);
    const ok = await render(s, "evil-pattern", { name: "a".repeat(40) });
    expect(ok.status).toBe(200);
    expectResponsive(ok);
  });

  it("a pattern the linear-time engine cannot run is refused at publish, named, with the reason", async () => {
    const s = await live();
    const o = await publish(s, "lookahead", {
      template: "{{code}}",
      variablesSchema: { type: "object", properties: { code: { type: "string", pattern: "^(?=.*\\d)(\\w)\\1+$" } } },
    });
    expect(o.status).toBe(422);
    expect(o.body.error!.code).toBe("invalid_template");
    expect(o.body.error!.message).toBe(
      'pattern "^(?=.*\\\\d)(\\\\w)\\\\1+$" is not supported: invalid or unsupported Perl syntax: `(?=` ' +
        "(patterns run on RE2, which has no lookaround and no backreferences)",
    );
    expectResponsive(o);
  });

  it("templates nested 20,000 and 2,000 {{#if}} deep are refused before Handlebars parses them", async () => {
    const s = await live();
    for (const depth of [20_000, 2_000]) {
      const o = await publish(s, `deep-${depth}`, {
        template: `${"{{#if a}}".repeat(depth)}x${"{{/if}}".repeat(depth)}`,
      });
      expect(o.status).toBe(422);
      expect(o.body.error!.code).toBe("invalid_template");
      expect(o.body.error!.message).toContain(`nesting depth ${depth} (limit 32)`);
      expect(o.body.error!.details).toMatchObject({
        limits: expect.arrayContaining([{ limit: "nesting depth", max: 32, found: depth }]),
      });
      expectResponsive(o);
    }
  });

  it("a huge template and one with too many nodes are refused, naming the limit and the value found", async () => {
    const s = await live();
    const huge = await publish(s, "huge", { template: "{{a}} ".repeat(150_000) });
    expect(huge.status).toBe(422);
    expect(huge.body.error).toMatchObject({
      code: "invalid_template",
      message:
        "template exceeds limits: template size (characters) 900000 (limit 100000); template nodes 300000 (limit 600)",
    });
    expectResponsive(huge);
    const nodes = await publish(s, "many-nodes", { template: `{{log ${"a ".repeat(20_000)}}}` });
    expect(nodes.status).toBe(422);
    expect(nodes.body.error!.message).toBe("template exceeds a limit: template nodes 20002 (limit 600)");
    expectResponsive(nodes);
    const chat = await publish(s, "many-messages", {
      template: Array.from({ length: 400 }, () => ({ role: "user", content: "{{a}}{{b}}" })),
    });
    expect(chat.status).toBe(422);
    expect(chat.body.error!.message).toBe("template exceeds a limit: template nodes 1600 (limit 600)");
    expectResponsive(chat);
  });

  it("loops over loops are metered: a render that would run 27 million iterations is refused", async () => {
    const s = await live();
    const published = await publish(s, "cube", {
      template: "{{#each a}}{{#each ../a}}{{#each ../../a}}x{{/each}}{{/each}}{{/each}}",
    });
    expect(published.status).toBe(201);
    const o = await render(s, "cube", { a: Array.from({ length: 300 }, (_, i) => i) });
    expect(o.status).toBe(422);
    expect(o.body.error).toMatchObject({
      code: "limit_exceeded",
      message: "rendering needs more than 250000 steps (loop iterations × (5 + nodes in the loop's body))",
      details: { limit: { limit: "render steps", max: 250_000 } },
    });
    expectResponsive(o);
  });

  it("expensive schemas are refused at publish: a 5,000-value enum, uniqueItems over objects, recursive $ref", async () => {
    const s = await live();
    const bigEnum = await publish(s, "big-enum", {
      template: "{{lang}}",
      variablesSchema: {
        type: "object",
        properties: { lang: { enum: Array.from({ length: 5_000 }, (_, i) => `v${i}`) } },
      },
    });
    expect(bigEnum.status).toBe(422);
    expect(bigEnum.body.error!.message).toBe("variablesSchema exceeds a limit: schema nodes 501 (limit 500)");
    expectResponsive(bigEnum);
    const unique = await publish(s, "unique", {
      template: "{{#each rows}}{{id}}{{/each}}",
      variablesSchema: { type: "object", properties: { rows: { type: "array", uniqueItems: true } } },
    });
    expect(unique.status).toBe(422);
    expect(unique.body.error!.message).toContain('uniqueItems needs "items" with a scalar "type"');
    expectResponsive(unique);
    const recursive = await publish(s, "recursive", { template: "{{x}}", variablesSchema: { anyOf: [{ $ref: "#" }] } });
    expect(recursive.status).toBe(422);
    expect(recursive.body.error!.message).toBe(
      '$ref "#" is recursive; recursive schemas are not supported in variablesSchema',
    );
    expectResponsive(recursive);
  });

  it("bodies nested 20,000 deep are refused with a 422, not a stack overflow", async () => {
    const s = await live();
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const config = await publish(s, "deep-config", `{"template": "x", "config": {"a": ${deep(20_000)}}}`);
    expect(config.status).toBe(422);
    expect(config.body.error).toMatchObject({
      code: "validation_error",
      details: { issues: [{ message: "nested deeper than 64 levels" }] },
    });
    expectResponsive(config);
    expect((await publish(s, "deep-ok", `{"template": "{{a}}", "config": {"a": ${deep(60)}}}`)).status).toBe(201);
    const variables = await attack(
      s,
      "POST",
      "/api/v1/prompts/deep-ok/render",
      s.readKey,
      `{"ref": "latest", "variables": {"a": ${deep(20_000)}}}`,
    );
    expect(variables.status).toBe(422);
    expect(variables.body.error!.code).toBe("validation_error");
    expectResponsive(variables);
  });

  it("validation work is bounded by values × schema size: 20,000 values against a 20-node schema are refused", async () => {
    const s = await live();
    const published = await publish(s, "typed-rows", {
      template: "{{#each rows}}{{this}}{{/each}}",
      variablesSchema: {
        type: "object",
        properties: {
          rows: {
            type: "array",
            items: {
              anyOf: [
                { type: "string" },
                { type: "integer" },
                { type: "number", minimum: 5 },
                { type: "array" },
                { type: "object" },
                { type: "null" },
              ],
            },
          },
        },
      },
    });
    expect(published.status).toBe(201);
    const o = await render(s, "typed-rows", { rows: Array(20_000).fill(true) });
    expect(o.status).toBe(422);
    expect(o.body.error).toMatchObject({
      code: "limit_exceeded",
      details: { limit: { limit: "variable values × schema nodes" } },
    });
    expectResponsive(o);
  });

  it("OTLP bodies over 20 MB, protobuf or JSON, are decoded off the event loop", async () => {
    const s = await live();
    // Spans whose end is before their start: all decoded, none stored, so what is measured is the decoding.
    const spans: SpanSpec[] = Array.from({ length: 40_000 }, (_, i) => ({
      traceId: newTraceId(),
      name: `call ${i}`,
      start: "2000",
      end: "1000",
      attributes: { "openinference.span.kind": "LLM", "llm.cost.total": 0.0125, "input.value": "é".repeat(200) },
    }));
    for (const [contentType, body] of [
      ["application/x-protobuf", otlpProtobuf(spans)],
      ["application/json", Buffer.from(otlpJson(spans))],
    ] as const) {
      expect(body.length).toBeGreaterThan(20 * 1024 * 1024);
      const o = await attack(s, "POST", "/v1/traces", s.writeKey, body, contentType);
      expect(o.status).toBe(200);
      expect(o.body.partialSuccess).toMatchObject({ rejectedSpans: "40000" });
      expectResponsive(o);
    }
  });
});

// Issue 18, points 1 and 2: what a large batch costs the others is one chunk of it at most, and what one request
// stores grows with its own size. Not bounded by absolute milliseconds: each batch is compared with a calibration of
// the same server, in the same run, storing a single chunk of the same spans (a busy machine slows both alike).
describe("a large batch is stored a chunk at a time", () => {
  const otlp = (s: Server, body: Buffer) => attack(s, "POST", "/v1/traces", s.writeKey, body, "application/x-protobuf");
  /** An LLM call as instrumentations send it, about 1.5 kB stored. */
  const call = (traceId: string, i: number): SpanSpec => ({
    traceId,
    name: "ChatCompletion",
    attributes: {
      "openinference.span.kind": "LLM",
      "llm.model_name": "gpt-4o-mini",
      "llm.token_count.prompt": 400 + (i % 50),
      "llm.token_count.completion": 96,
      "session.id": `session-${i % 64}`,
      "input.value": `Customer question number ${i}: my order has not arrived yet, what should I do?`,
      "output.value": "I am sorry to hear that. Let me check the shipping status of your order right away.",
    },
  });
  const batch = (n: number) => {
    const traceId = newTraceId();
    return otlpProtobuf(Array.from({ length: n }, (_, i) => call(traceId, i)));
  };
  const chunkRows = (s: Server) => INGEST_DEFAULTS[s.kind].chunkRows;
  /** The worst event loop delay of three requests of one chunk each: what a single chunk holds the server. */
  async function oneChunkDelay(s: Server): Promise<number> {
    let worst = 0;
    for (let i = 0; i < 3; i++) {
      const o = await otlp(s, batch(chunkRows(s)));
      expect(o.status).toBe(200);
      worst = Math.max(worst, o.loopDelayMs);
    }
    return worst;
  }
  const chunksStored = async (s: Server) => {
    const res = await fetch(`${s.base}/metrics`, { headers: { Authorization: `Bearer ${s.adminKey}` } });
    const line = (await res.text())
      .split("\n")
      .find((l) => l.startsWith("promptreg_ingest_chunk_duration_seconds_count"));
    return Number(line?.split(" ")[1] ?? 0);
  };

  it("a batch of 20 chunks holds the server about as long as one chunk, not twenty", async () => {
    const s = await live();
    const unit = await oneChunkDelay(s);
    const before = await chunksStored(s);
    const o = await otlp(s, batch(20 * chunkRows(s)));
    expect(o.status).toBe(200);
    // The work is cut: one statement per chunk, the event loop turning between them.
    expect((await chunksStored(s)) - before).toBe(20);
    expect(
      o.loopDelayMs,
      `20 chunks held the event loop ${o.loopDelayMs.toFixed(0)} ms at most; one chunk ${unit.toFixed(0)} ms`,
    ).toBeLessThan(3 * unit + 50);
  });

  it("one 400 kB resource shared by 1,000 spans is stored once, in about the request's size, holding nobody", async () => {
    const s = await live();
    const unit = await oneChunkDelay(s);
    for (const size of [400_000, 600_000]) {
      const traceId = newTraceId();
      // Random text, so that compression cannot hide copies.
      const resource = { "service.name": "agent", blob: randomBytes((size * 3) / 4).toString("base64") };
      const body = otlpProtobuf(
        Array.from({ length: 1000 }, () => ({ traceId })),
        resource,
      );
      const stored = await command(s, "storage");
      const o = await otlp(s, body);
      expect(o.status).toBe(200);
      const grown = (await command(s, "storage")) - stored;
      // Before, every span row kept its own copy: 1,000 x the resource.
      expect(grown, `${body.length} B request grew the span tables by ${grown} B`).toBeLessThan(3 * body.length);
      expect(o.loopDelayMs).toBeLessThan(3 * unit + 50);
      const trace = (await (
        await fetch(`${s.base}/api/v1/traces/${traceId}`, { headers: { Authorization: `Bearer ${s.readKey}` } })
      ).json()) as { spanCount: number; resources: Record<string, { blob: string }>; spans: { resourceId: string }[] };
      expect(trace.spanCount).toBe(1000);
      expect(Object.keys(trace.resources)).toEqual([trace.spans[0]!.resourceId]);
      expect(trace.resources[trace.spans[0]!.resourceId]!.blob).toBe(resource.blob);
    }
  });
});

// Issue 18, point 9: the work a JSON body makes grows with its number of values, so that number is bounded and
// counted on the raw bytes, before parsing; a render's variables are bounded too. Compared with a calibration of
// the same requests, small, in the same run.
describe("JSON bodies are bounded by their number of values", () => {
  async function concurrentRenders(s: Server, name: string, variables: unknown, n: number) {
    await command(s, "reset");
    const answers = await Promise.all(
      Array.from({ length: n }, () =>
        fetch(`${s.base}/api/v1/prompts/${name}/render`, {
          method: "POST",
          headers: { Authorization: `Bearer ${s.readKey}`, "Content-Type": "application/json" },
          body: JSON.stringify({ ref: "latest", variables, strictExtras: true }),
          signal: AbortSignal.timeout(HANG_MS),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as Outcome["body"] })),
      ),
    );
    return { answers, loopDelayMs: await command(s, "read") };
  }

  it("60,000 variables or 200,000 loop items are refused before parsing (413), 1,500 variables (422), eight at once", async () => {
    const s = await live();
    expect((await publish(s, "loop-items", { template: "{{name}}{{#each items}}{{this}}{{/each}}" })).status).toBe(201);
    const small = await concurrentRenders(s, "loop-items", { name: "n", items: [1, 2, 3] }, 8);
    expect(small.answers.map((a) => a.status)).toEqual(Array(8).fill(200));

    const many: Record<string, string> = { name: "n" };
    for (let i = 0; i < 60_000; i++) many[`v${i}`] = "x";
    for (const variables of [many, { name: "n", items: Array(200_000).fill(1) }]) {
      const big = await concurrentRenders(s, "loop-items", variables, 8);
      for (const a of big.answers) {
        expect(a.status).toBe(413);
        expect(a.body.error).toMatchObject({
          code: "payload_too_large",
          details: { limit: { limit: "JSON values", max: 25_000 } },
        });
      }
      expect(
        big.loopDelayMs,
        `eight refused bodies held the event loop ${big.loopDelayMs.toFixed(0)} ms; eight small renders ${small.loopDelayMs.toFixed(0)} ms`,
      ).toBeLessThan(3 * small.loopDelayMs + 50);
    }

    // Counted on the bytes, so the bytes must be UTF-8: another charset is refused before anything reads them.
    const utf16 = await fetch(`${s.base}/api/v1/prompts/loop-items/render`, {
      method: "POST",
      headers: { Authorization: `Bearer ${s.readKey}`, "Content-Type": "application/json; charset=utf-16le" },
      body: Buffer.from(
        JSON.stringify({ ref: "latest", variables: { name: "n", items: Array(200_000).fill(1) } }),
        "utf16le",
      ),
    });
    expect(utf16.status).toBe(415);
    expect(((await utf16.json()) as Outcome["body"]).error!.message).toBe(
      "request bodies must be UTF-8, not charset 'utf-16le'",
    );

    const some: Record<string, string> = { name: "n" };
    for (let i = 0; i < 1_500; i++) some[`v${i}`] = "x";
    const o = await render(s, "loop-items", some);
    expect(o.status).toBe(422);
    expect(o.body.error).toMatchObject({
      code: "validation_error",
      details: { issues: [{ path: "body.variables", message: "at most 1000 variables may be given" }] },
    });
  });
});
