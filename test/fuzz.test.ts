// Property-based test of the edge: every route of the app, called with each role's key (and none), with generated
// and hostile path parameters, query values, JSON bodies and numbers, on the test database (PGlite, or PostgreSQL
// with TEST_DATABASE_URL). Properties: never a 5xx; every 4xx in the one error shape; nothing written on a 4xx. The
// route list below is checked against the app's router stack, so a new route cannot be left out.
// Fixed seed and bounded runs (about 20 s per database here); FUZZ_SEED (the base) and FUZZ_RUNS (per route)
// override them. Route number i runs with seed FUZZ_SEED + i, which a failure prints.
import { get as httpGet, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../src/http/cursor.js";
import { MAX_JSON_DEPTH } from "../src/http/input-guard.js";
import { createProject, ingestSpans, llmSpan, publishPrompt, publishVersion } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { routesOf } from "./helpers/routes.js";
import { newSpanId, newTraceId, otlpJson } from "./helpers/otlp.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 45);

let h: Harness;
let server: Server;
const keys: Record<string, string> = {};
let throwawayKeyId = "";
let priceId = "";
const TRACE_ID = newTraceId();
const SPAN_ID = newSpanId();

beforeAll(async () => {
  h = await createHarness({ allowPrivateConnections: true, secrets: { PROMPTREG_SECRET_FZ: "sk-fz" } });
  server = h.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  // A connection's target answers at once: the registry itself (404 to a chat completion), or a closed port.
  const { port } = server.address() as AddressInfo;
  CONNECTION_URLS.push(`http://127.0.0.1:${port}/v1`, "http://127.0.0.1:9/v1", "http://localhost:9/v1");
  const admin = h.as(h.adminKey);
  keys.admin = h.adminKey;
  keys.write = await h.newKey("write");
  keys.read = await h.newKey("read");
  keys.other = (await createProject(h, "fz-other")).adminKey;
  throwawayKeyId = (await admin.post("/api/v1/keys", { name: "throwaway", role: "read" })).body.id;
  await publishPrompt(
    admin,
    "fz/alpha",
    [
      { template: "Hello {{name}}", labels: ["production"] },
      { template: "Hello {{name}}!", labels: ["staging"] },
    ],
    { production: "1.0.1" },
  );
  await publishVersion(admin, "fz_beta", {
    template: [
      { role: "system", content: "Be {{tone}}" },
      { type: "placeholder", name: "history" },
    ],
  });
  await ingestSpans(
    h,
    ["1.0.0", "1.0.1"].map((version, i) =>
      llmSpan("fz/alpha", version, {
        traceId: TRACE_ID,
        spanId: i === 0 ? SPAN_ID : undefined,
        name: "llm",
        attributes: { "llm.model_name": "gpt" },
      }),
    ),
  );
  await admin
    .post("/api/v1/annotations", {
      annotations: [{ traceId: TRACE_ID, spanId: SPAN_ID, name: "helpful", kind: "human", passed: true }],
    })
    .expect(200);
  await admin
    .post("/api/v1/connections", {
      name: "fz-conn",
      baseUrl: CONNECTION_URLS[0],
      model: "gpt",
      apiKeyEnv: "PROMPTREG_SECRET_FZ",
    })
    .expect(201);
  await admin.post("/api/v1/evaluators", { name: "fz-eval", kind: "json", sampleRate: 1 }).expect(201);
  await admin.post("/api/v1/datasets", { name: "fz-ds" }).expect(201);
  await admin
    .post("/api/v1/datasets/fz-ds/items", { items: [{ id: "fz-item", variables: { q: "one" } }, { variables: {} }] })
    .expect(200);
  const experiment = await admin
    .post("/api/v1/experiments", {
      dataset: "fz-ds",
      prompt: "fz/alpha",
      versions: ["1.0.0", "1.0.1"],
      connection: "fz-conn",
      evaluators: ["fz-eval", "exact_match"],
    })
    .expect(201);
  EXPERIMENT_IDS.unshift(experiment.body.id, experiment.body.id, experiment.body.id);
  priceId = String(
    (await admin.post("/api/v1/prices", { model: "gpt", inputPerMTok: "2.5", outputPerMTok: 10 }).expect(201)).body.id,
  );
  fingerprintSql = await buildFingerprintSql();
});
afterAll(async () => {
  server?.close();
  await h?.close();
});

function _fail(r: request.Response): never {
  throw new Error(`setup failed: ${r.status} ${JSON.stringify(r.body)}`);
}

// ---- what is fuzzed --------------------------------------------------------------------------------------------

const cursor = (text: string | number[]) =>
  typeof text === "string" ? encodeCursor(text) : Buffer.from(text).toString("base64url");
const deep = (depth: number, leaf: unknown = 1): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

const HOSTILE_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udc00y",
  "\ud83d\ude00",
  "\uFEFF",
  "\u202E",
  "\uFFFD",
  "\n",
  "\r\n\t",
  "ß",
  "İ",
  "é".repeat(80),
  "%",
  "_",
  "%_%",
  "a_b",
  "a%",
  "\\",
  "a\\",
  "..",
  "../",
  "../../etc/passwd",
  "/",
  "//",
  "a/../b",
  "%2e%2e",
  "%00",
  "%ZZ",
  "'",
  '"',
  "' OR '1'='1",
  "'; DROP TABLE prompts; --",
  "$1",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal `${x}` is the hostile input.
  "${x}",
  "<script>",
  "`",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  "NaN",
  "Infinity",
  "-Infinity",
  "-1",
  "0",
  "-0",
  "1.5",
  "1e309",
  "1e-400",
  "9".repeat(25),
  "0x10",
  "1_000",
  " 1",
  "+1",
  "x".repeat(300),
  "🙂".repeat(70),
  "{{",
  "{{#each}}",
  "{{> partial}}",
  "{{constructor.constructor}}",
  "{{__proto__}}",
  "{{log 'x'}}",
  "production",
  "latest",
  "staging",
  "^1",
  "~1.0",
  ">=1 <2",
  "*",
  "1.0.0-beta.1+build",
  "production@2026-01-01T00:00:00Z",
  "production@garbage",
  "2024-02-30T00:00:00Z",
  "0000-01-01T00:00:00Z",
  "9999-12-31T23:59:59Z",
  "__proto__",
  "constructor",
  "hasOwnProperty",
  cursor("\u0000"),
  cursor("a\u0000b"),
  cursor([0xff, 0xfe, 0x00]),
  cursor("9999999999999999999"),
  cursor("99999999999999999999"),
  cursor("2024-02-30T00:00:00.000000Z|1"),
  cursor("2024-01-01T00:00:00.000000Z|99999999999999999999"),
  cursor("fz/alpha"),
  cursor("1.0.0"),
  cursor("%"),
  "YQ==",
  "!!!",
  "-_-_",
];

// Single code units, the awkward ones weighted in: NUL, lone surrogates, LIKE wildcards, separators, quotes.
const codeUnit = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "\u0000",
      "\ud800",
      "\udfff",
      "%",
      "_",
      "/",
      "\\",
      "'",
      '"',
      ".",
      "-",
      "?",
      "#",
      "&",
      "=",
      "+",
      " ",
    ),
  },
  { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);

// Text PostgreSQL cannot store, somewhere inside otherwise ordinary text.
const unstorable = fc
  .tuple(
    fc.string({ maxLength: 6 }),
    fc.constantFrom("\u0000", "\ud800", "\udc00", "\u0000\u0000"),
    fc.string({ maxLength: 6 }),
  )
  .map((parts) => parts.join(""));

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: unstorable },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 16 }) },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.integer(), fc.double(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n })).map(String),
  },
);

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-1, 0, -0, 0.5, 1.5, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER * 1000, 1e308, -1e308, 5e-324),
);

const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      null,
      true,
      false,
      [],
      {},
      deep(MAX_JSON_DEPTH + 6),
      deep(12, "\u0000"),
      "x".repeat(20_000),
    ),
  },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

// Bodies that are not a JSON object, sent as they are with Content-Type: application/json.
const RAW_BODIES = [
  "",
  "null",
  "[]",
  '"\\u0000"',
  '"\\ud800"',
  '{"a":1e400}',
  "[1e400]",
  '{"limit":-0}',
  "{",
  "nul",
  '{"__proto__":{"x":1}}',
  "\u0000",
];

interface Mutation {
  at: number;
  kind: "replace" | "addKey" | "remove";
  key: string;
  value: unknown;
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom("replace", "addKey", "remove"),
  key: hostileString,
  value: hostileJson,
});

/** Applies one mutation at the `at`-th place (the root included) of a copy of `body`. */
function mutate(body: unknown, mutation: Mutation): unknown {
  // Constants are shared between runs: a copy is mutated, never the constant itself (that could build a cycle).
  const m = { ...mutation, value: structuredClone(mutation.value) };
  const places: { parent: Record<string, unknown> | unknown[] | null; key: string | number; value: unknown }[] = [
    { parent: null, key: "", value: body },
  ];
  for (let i = 0; i < places.length; i++) {
    const v = places[i]!.value;
    if (v !== null && typeof v === "object")
      for (const [k, child] of Object.entries(v))
        places.push({ parent: v as Record<string, unknown>, key: k, value: child });
  }
  const place = places[m.at % places.length]!;
  if (m.kind === "addKey" && place.value !== null && typeof place.value === "object" && !Array.isArray(place.value)) {
    (place.value as Record<string, unknown>)[m.key] = m.value;
    return body;
  }
  if (!place.parent) return m.kind === "remove" ? undefined : m.value;
  if (m.kind === "remove") {
    if (Array.isArray(place.parent)) place.parent.splice(Number(place.key), 1);
    else delete place.parent[place.key as string];
  } else (place.parent as Record<string, unknown>)[place.key as string] = m.value;
  return body;
}

/** A valid-looking body with up to three hostile mutations, or a raw non-object body. */
const bodyFrom = (valid: fc.Arbitrary<object>) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(valid, fc.array(mutation, { maxLength: 3 }))
        .map(([b, ms]) => ({ json: ms.reduce<unknown>((acc, m) => mutate(acc, m), structuredClone(b)) })),
    },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES).map((raw) => ({ raw })) },
  );

type Body = { json: unknown } | { raw: string } | { file: { type: string; text: string } } | undefined;

// Repeats weight the prompts that exist, so that most calls get past the look-up to the queries behind it.
const NAMES = ["fz/alpha", "fz/alpha", "fz/alpha", "fz_beta", "fz", "fz/alpha/deeper", "missing-one", "fz/new-one"];
const REFS = ["production", "staging", "latest", "1.0.0", "1.0.1", "^1", "9.9.9", "production@2020-01-01T00:00:00Z"];
const LABELS = ["production", "staging", "latest", "canary", "1.0.0"];
// Valid values only: hostile ones come from the substitutions, one or two per call.
const FROM = ["2020-01-01T00:00:00Z", "2024-02-29T12:00:00.000+02:00"];
const TO = ["2099-01-01T00:00:00.000Z", "2099-12-31T23:59:59Z"];
const LIMITS = ["1", "10", "200"];

interface RouteSpec {
  /** Valid values for each path parameter; hostile ones are mixed in. */
  params?: Record<string, string[]>;
  /** Valid values for each query parameter, all optional. */
  query?: Record<string, string[]>;
  body?: fc.Arbitrary<object>;
  /** For a route that takes a file rather than JSON: its media type and text. */
  file?: fc.Arbitrary<{ type: string; text: string }>;
}

const pageQuery = { cursor: [cursor("fz/alpha")], limit: LIMITS };
const filters = {
  versions: ["1.0.0,1.0.1", "1.0.1,1.0.0"],
  from: FROM,
  to: TO,
  label: LABELS,
  model: ["gpt"],
  session: ["s1"],
  user: ["u1"],
  source: ["cache", "stale", "fallback"],
  failure: ["status", "annotation:helpful", "any", "any:helpful"],
  threshold: ["0.5", "1", "-1"],
};
const versionBody = fc.record(
  {
    template: fc.oneof(
      fc.constant("Hello {{name}}"),
      fc.constant([{ role: "user", content: "Hi {{name}}" }]),
      hostileString,
    ),
    config: fc.constant({ model: "gpt", temperature: 0.25 }),
    commitMessage: hostileString,
    bump: fc.constantFrom("major", "minor", "patch"),
    labels: fc.constant(["staging"]),
    variablesSchema: fc.constant({ type: "object", properties: { name: { type: "string" } } }),
    description: hostileString,
    tags: fc.constant(["a", "b"]),
  },
  { requiredKeys: ["template"] },
);
const annotation = fc.record(
  {
    traceId: fc.constantFrom(TRACE_ID, "0".repeat(32), "z".repeat(32)),
    spanId: fc.constantFrom(SPAN_ID, null),
    name: fc.constantFrom("helpful", "score"),
    kind: fc.constantFrom("human", "llm", "code"),
    score: hostileNumber,
    label: hostileString,
    passed: fc.boolean(),
    comment: hostileString,
  },
  { requiredKeys: ["traceId", "name", "kind"] },
);

// Mostly valid, so that calls reach the database (the body mutations add hostile values on top).
const mostly = <T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: hostile });
const perMTok = mostly(
  fc.constantFrom<string | number>("2.5", "0.000001", "999999999.999999999999", 0.25, 3, 0),
  fc.oneof(fc.constantFrom("1e-7", "-1", "2.5.5", "", "1000000000"), hostileNumber, hostileString),
);
const priceBody = fc.record(
  {
    model: mostly(fc.constantFrom("gpt", "gpt-4o", "é模型😀".repeat(100)), hostileString),
    effectiveFrom: mostly(
      fc.constantFrom(...FROM, ...TO),
      fc.oneof(
        fc.constantFrom("2020-13-01T00:00:00Z", "yesterday", "0001-01-01T00:00:00Z", "+275760-09-13T00:00:00Z"),
        hostileString,
      ),
    ),
    inputPerMTok: perMTok,
    outputPerMTok: perMTok,
    cacheReadPerMTok: fc.oneof(fc.constant(null), perMTok),
    cacheWritePerMTok: fc.oneof(fc.constant(null), perMTok),
  },
  { requiredKeys: ["model", "inputPerMTok", "outputPerMTok"] },
);
// "price" is replaced by the id of the price made in setup.
const PRICE_IDS = ["price", "price", "price", "price", "999999999999999999", "0", "-1", "1.5", "9".repeat(30)];

const CONNECTION_URLS: string[] = [];
const connectionBody = (name: fc.Arbitrary<string>) =>
  fc.record(
    {
      name,
      // Read when the call is generated, after setup has filled the list.
      baseUrl: mostly(
        fc.constant(0).chain(() => fc.constantFrom(...CONNECTION_URLS)),
        fc.oneof(fc.constantFrom("ftp://x/v1", "http://user:pw@127.0.0.1:9/v1", "javascript:alert(1)"), hostileString),
      ),
      model: mostly(fc.constantFrom("gpt", "é模型😀".repeat(100)), hostileString),
      apiKeyEnv: mostly(
        fc.constantFrom("PROMPTREG_SECRET_FZ", "PROMPTREG_SECRET_NONE", null),
        fc.constantFrom("DATABASE_URL", "PROMPTREG_SECRET_"),
      ),
      headers: mostly(
        fc.constant({ "x-team": "fz" }),
        fc.oneof(
          fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
          fc.constantFrom({ Authorization: "x" }, { "x-a": "a\r\nb: c" }),
        ),
      ),
      timeoutMs: mostly(fc.constantFrom(1000, 5000), fc.constantFrom(10, 1e12, -1, 1.5)),
      maxConcurrency: mostly(fc.constantFrom(1, 64), fc.constantFrom(0, 65)),
      requestsPerMinute: mostly(fc.constantFrom(null, 60), fc.constantFrom(0, 1e9)),
    },
    { requiredKeys: ["name", "baseUrl", "model"] },
  );
const CONNECTION_NAMES = ["fz-conn", "fz-conn", "nope", "Bad Name", "a".repeat(65)];

const evaluatorConfig = fc.oneof(
  fc.constantFrom(
    {},
    { pattern: "^\\d+$", flags: "i" },
    { pattern: "(a+)+$" },
    { pattern: "(?<=x)y" },
    { values: ["refund"] },
    { min: 1, max: 5 },
    { schema: { type: "object", required: ["a"] } },
    { schema: { type: "string", pattern: "(?=x)" } },
    { judgePrompt: "fz/alpha@production", connection: "fz-conn" },
    { judgePrompt: "nope@production", connection: "nope" },
  ),
  hostileJson,
);
const evaluatorBody = (name: fc.Arbitrary<string>) =>
  fc.record(
    {
      name,
      kind: mostly(
        fc.constantFrom("json", "json_schema", "regex", "contains", "not_contains", "length", "llm_judge"),
        hostileString,
      ),
      target: mostly(
        fc.constantFrom({}, { prompt: "fz/alpha" }, { prefix: "fz/" }, { prompt: "fz/alpha", label: "production" }),
        fc.constantFrom({ prompt: "missing-one" }, { prompt: "fz/alpha", prefix: "fz/" }, { label: "1.0" }),
      ),
      sampleRate: mostly(fc.constantFrom(0, 0.25, 1), fc.constantFrom(-0.1, 1.5, Number.NaN, "1")),
      enabled: fc.boolean(),
      dailyBudget: mostly(fc.constantFrom(null, 100), fc.constantFrom(0, -1, 1.5)),
      config: evaluatorConfig,
    },
    { requiredKeys: ["name", "kind", "sampleRate"] },
  );
const EVALUATOR_NAMES = ["fz-eval", "fz-eval", "nope", "Bad Name", "a".repeat(101)];
const DATASET_NAMES = ["fz-ds", "fz-ds", "fz-ds", "nope", "Bad Name", "a".repeat(101)];
// The experiment made at setup (read when the call is generated), one of no experiment, and one that is no id.
const EXPERIMENT_IDS: string[] = ["00000000-0000-7000-8000-000000000000", "not-an-id"];
const datasetItem = fc.record(
  {
    id: mostly(fc.constantFrom("fz-item", "new-item", "a:b@c.d-e_f"), hostileString),
    variables: mostly(fc.constantFrom({ q: "x" }, {}, { q: { nested: [1, 2] } }), hostileJson),
    expected: mostly(fc.constantFrom("answer", null, { a: 1 }), hostileJson),
    metadata: mostly(fc.constantFrom({ tag: "x" }, {}), hostileJson),
  },
  { requiredKeys: [] },
);
const datasetLine = fc.oneof(
  datasetItem.map((item) => JSON.stringify(item)),
  hostileString,
  fc.constantFrom("{", "[]", "null", '{"variables":{"q":"\\u0000"}}', "\uFEFF{}"),
);
const datasetFile = fc.oneof(
  fc
    .tuple(fc.constantFrom("application/x-ndjson", "application/jsonl"), fc.array(datasetLine, { maxLength: 4 }))
    .map(([type, lines]) => ({ type, text: lines.join("\n") })),
  fc
    .tuple(
      fc.constantFrom("id,q,expected", "q,q", "id,variables,metadata", "\uFEFFid,q", ""),
      fc.array(fc.oneof(fc.constantFrom("a,b,c", '"x,y",z,w', '"unclosed,1,2', "1,2"), hostileString), {
        maxLength: 4,
      }),
    )
    .map(([header, rows]) => ({ type: "text/csv", text: [header, ...rows].join("\r\n") })),
  fc
    .tuple(fc.constantFrom("application/json", "text/plain", ""), hostileString)
    .map(([type, text]) => ({ type, text })),
);
const backfillBody = fc.record(
  {
    from: mostly(fc.constantFrom("2026-01-01T00:00:00Z", FROM[0]), hostileString),
    to: mostly(fc.constantFrom("2027-01-01T00:00:00Z", TO[0]), hostileString),
    limit: mostly(fc.constantFrom(1, 1000, 10_000), fc.constantFrom(0, 10_001, 1.5)),
  },
  { requiredKeys: ["from", "to"] },
);

// Every route of the app, by method and pattern as registered.
const ROUTES: Record<string, RouteSpec> = {
  "GET /healthz": {},
  "GET /readyz": {},
  "GET /metrics": {},
  "GET /api/v1/prompts/:name/resolve": { params: { name: NAMES }, query: { ref: REFS, key: ["user-1", ""] } },
  "POST /api/v1/prompts": {
    body: fc.record(
      {
        name: fc.constantFrom(...NAMES, "fz/created"),
        type: fc.constantFrom("text", "chat"),
        description: hostileString,
        tags: fc.array(hostileString, { maxLength: 3 }),
      },
      { requiredKeys: ["name", "type"] },
    ),
  },
  "GET /api/v1/prompts": {
    query: { ...pageQuery, prefix: ["fz", "fz/", "fz_", "f%", "_z"], tag: ["a"], q: ["alp", "%", "_"] },
  },
  "GET /api/v1/folders": { query: { prefix: ["fz", "fz/", "f%", "_z"] } },
  "POST /api/v1/session": {
    body: fc.record({ key: fc.oneof(hostileString, fc.constant("pr_not_a_key")) }, { requiredKeys: [] }),
  },
  "GET /api/v1/session": {},
  "DELETE /api/v1/session": {},
  "GET /api/v1/prompts/:name": { params: { name: NAMES } },
  "DELETE /api/v1/prompts/:name": { params: { name: ["fz/new-one", "missing-one", "fz/created"] } },
  "POST /api/v1/prompts/:name/versions": { params: { name: NAMES }, body: versionBody },
  "GET /api/v1/prompts/:name/versions": {
    params: { name: NAMES },
    query: { cursor: [cursor("1.0.1")], limit: LIMITS },
  },
  "GET /api/v1/prompts/:name/versions/:version": { params: { name: NAMES, version: ["1.0.0", "1.0.1", "9.9.9"] } },
  "GET /api/v1/prompts/:name/diff": { params: { name: NAMES }, query: { from: REFS, to: REFS } },
  "POST /api/v1/keys": {
    body: fc.record({ name: hostileString, role: fc.constantFrom("read", "write", "admin", "root") }),
  },
  "GET /api/v1/keys": {},
  "DELETE /api/v1/keys/:id": { params: { id: ["00000000-0000-0000-0000-000000000000", "throwaway"] } },
  "POST /api/v1/projects": { body: fc.record({ name: fc.constantFrom("fz-new", "fz-other", "default", "Bad Name") }) },
  "GET /api/v1/projects": {},
  "PATCH /api/v1/projects/:name": {
    params: { name: ["default", "fz-other", "nope"] },
    body: fc.record({ protectedLabels: fc.constantFrom([], ["canary"], ["latest"]) }),
  },
  "GET /api/v1/prompts/:name/labels": { params: { name: NAMES } },
  "PUT /api/v1/prompts/:name/labels/:label": {
    params: { name: NAMES, label: LABELS },
    body: fc.record(
      {
        version: fc.constantFrom("1.0.0", "1.0.1", "^1", "9.9.9"),
        reason: hostileString,
        override: mostly(fc.boolean(), hostileString),
      },
      { requiredKeys: ["version"] },
    ),
  },
  "DELETE /api/v1/prompts/:name/labels/:label": {
    params: { name: NAMES, label: ["canary", "production", "latest"] },
    query: { reason: ["why"] },
  },
  "GET /api/v1/prompts/:name/labels/:label/history": {
    params: { name: NAMES, label: LABELS },
    query: { cursor: [cursor("1")], limit: LIMITS },
  },
  "POST /api/v1/prompts/:name/labels/:label/rollback": {
    params: { name: NAMES, label: LABELS },
    body: fc.record({ reason: hostileString, to: fc.constantFrom("1.0.0", "1.0.1", "^1") }, { requiredKeys: [] }),
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout": {
    params: { name: NAMES, label: LABELS },
    body: fc.record(
      {
        candidate: mostly(fc.constantFrom("1.0.0", "1.0.1", "^1", "9.9.9"), hostileString),
        steps: mostly(
          fc.constantFrom([{ share: 0.5 }, { share: 1 }], [{ share: 0.2, minDurationMs: 1, minUnits: 1 }]),
          fc.oneof(fc.constantFrom([], [{ share: 2 }], [{ share: 0.5 }, { share: 0.2 }], [{ share: 0 }]), hostileJson),
        ),
        guard: mostly(
          fc.constantFrom({}, { failure: "status", alpha: 0.01, minSample: 10 }, { failure: "any:judge" }),
          fc.oneof(fc.constantFrom({ failure: "nope" }, { alpha: 0 }, { minSample: -1 }, { revision: 2 }), hostileJson),
        ),
        autoRollback: mostly(fc.boolean(), hostileJson),
        reason: hostileString,
      },
      { requiredKeys: [] },
    ),
  },
  "GET /api/v1/prompts/:name/labels/:label/rollout": { params: { name: NAMES, label: LABELS } },
  "POST /api/v1/prompts/:name/labels/:label/rollout/pause": {
    params: { name: NAMES, label: LABELS },
    body: fc.record({ reason: hostileString }, { requiredKeys: [] }),
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/resume": {
    params: { name: NAMES, label: LABELS },
    body: fc.record({ reason: hostileString }, { requiredKeys: [] }),
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/advance": {
    params: { name: NAMES, label: LABELS },
    body: fc.record({ reason: hostileString }, { requiredKeys: [] }),
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/abort": {
    params: { name: NAMES, label: LABELS },
    body: fc.record({ reason: hostileString }, { requiredKeys: [] }),
  },
  "POST /api/v1/prompts/:name/render": {
    params: { name: NAMES },
    body: fc.record(
      {
        ref: fc.constantFrom(...REFS),
        key: mostly(fc.constantFrom("user-1"), hostileString),
        variables: fc.record(
          {
            name: fc.oneof(fc.constant("Ada"), hostileJson),
            tone: fc.oneof(fc.constant("kind"), hostileJson),
            history: fc.constant([{ role: "user", content: "hi" }]),
          },
          { requiredKeys: [] },
        ),
        strictExtras: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
  },
  "POST /api/v1/prompts/:name/playground": {
    params: { name: NAMES },
    body: fc.record(
      {
        ref: fc.constantFrom(...REFS),
        variables: fc.record(
          { name: fc.oneof(fc.constant("Ada"), hostileJson), tone: fc.oneof(fc.constant("kind"), hostileJson) },
          { requiredKeys: [] },
        ),
        connection: mostly(fc.constantFrom(...CONNECTION_NAMES), hostileString),
        model: mostly(fc.constantFrom("gpt"), hostileString),
        params: mostly(
          fc.record(
            {
              temperature: mostly(fc.constantFrom(0, 0.7), fc.constantFrom(-1, 3, "x")),
              max_tokens: mostly(fc.constantFrom(1, 64), fc.constantFrom(0, 1e9, 1.5)),
              stop: mostly(fc.constantFrom("\n", ["a", "b"]), hostileJson),
            },
            { requiredKeys: [] },
          ),
          hostileJson,
        ),
      },
      { requiredKeys: ["connection"] },
    ),
  },
  "POST /api/v1/annotations": {
    body: fc.record({ annotations: fc.array(annotation, { minLength: 1, maxLength: 3 }) }),
  },
  "GET /api/v1/whoami": {},
  "GET /api/v1/openapi.json": {},
  "GET /api/v1/traces/:traceId": {
    params: { traceId: [TRACE_ID, TRACE_ID.toUpperCase(), "0".repeat(32), newTraceId()] },
  },
  "GET /api/v1/spans": {
    query: {
      prompt: NAMES,
      version: ["1.0.0"],
      label: LABELS,
      status: ["ok", "error", "unset"],
      failed: ["true", "false"],
      session: ["s1"],
      user: ["u1"],
      model: ["gpt"],
      linkStatus: ["linked", "unknown_prompt"],
      spanKind: ["LLM"],
      from: FROM,
      to: TO,
      cursor: [cursor("2026-01-01T00:00:00.000000Z|1")],
      limit: LIMITS,
    },
  },
  "GET /api/v1/prompts/:name/compare": {
    params: { name: NAMES },
    query: {
      ...filters,
      unit: ["span", "trace"],
      minSample: ["1", "100"],
      percentiles: ["auto", "exact", "histogram"],
    },
  },
  "GET /api/v1/prompts/:name/timeseries": {
    params: { name: NAMES },
    query: { ...filters, bucket: ["5m", "1h", "1d"], eventsLabel: LABELS, percentiles: ["auto", "exact", "histogram"] },
  },
  "GET /api/v1/prices": { query: { model: ["gpt", "gpt-4o", "missing"] } },
  "POST /api/v1/prices": { body: priceBody },
  "PUT /api/v1/prices/:id": { params: { id: PRICE_IDS }, body: priceBody },
  "DELETE /api/v1/prices/:id": { params: { id: PRICE_IDS } },
  "GET /api/v1/connections": {},
  "POST /api/v1/connections": { body: connectionBody(fc.constantFrom("fz-conn", "fz-new", "Bad Name", "../x")) },
  "GET /api/v1/connections/:name": { params: { name: CONNECTION_NAMES } },
  "PUT /api/v1/connections/:name": {
    params: { name: CONNECTION_NAMES },
    body: connectionBody(fc.constantFrom("fz-conn", "other")),
  },
  // Before the DELETE, which may remove the connection it calls.
  "POST /api/v1/connections/:name/test": { params: { name: CONNECTION_NAMES } },
  "DELETE /api/v1/connections/:name": { params: { name: CONNECTION_NAMES } },
  "GET /api/v1/evaluators": {},
  "POST /api/v1/evaluators": { body: evaluatorBody(fc.constantFrom("fz-eval", "fz-new", "Bad Name", "../x")) },
  "GET /api/v1/evaluators/:name": { params: { name: EVALUATOR_NAMES } },
  "PUT /api/v1/evaluators/:name": {
    params: { name: EVALUATOR_NAMES },
    body: evaluatorBody(fc.constantFrom("fz-eval", "other")),
  },
  "POST /api/v1/evaluators/:name/preview": {
    params: { name: EVALUATOR_NAMES },
    body: fc.record(
      {
        definition: fc.option(
          evaluatorBody(fc.constant("x")).map(({ name: _n, enabled: _e, dailyBudget: _d, ...def }) => def),
          { nil: undefined },
        ),
        limit: mostly(fc.constantFrom(1, 10, 50), fc.constantFrom(0, 51, 1.5)),
      },
      { requiredKeys: [] },
    ),
  },
  "GET /api/v1/evaluators/:name/results": {
    params: { name: EVALUATOR_NAMES },
    query: { versions: ["1.0.0", "1.0.0,1.0.1", ""], from: FROM, to: TO, revision: ["1", "2", "0", "x"] },
  },
  "POST /api/v1/evaluators/:name/backfill": { params: { name: EVALUATOR_NAMES }, body: backfillBody },
  "GET /api/v1/evaluators/:name/backfill": { params: { name: EVALUATOR_NAMES } },
  "DELETE /api/v1/evaluators/:name/backfill": { params: { name: EVALUATOR_NAMES } },
  "DELETE /api/v1/evaluators/:name": { params: { name: EVALUATOR_NAMES } },
  "GET /api/v1/datasets": {},
  "POST /api/v1/datasets": {
    body: fc.record(
      {
        name: mostly(fc.constantFrom("fz-ds", "fz-new", "Bad Name"), hostileString),
        description: mostly(fc.constantFrom("cases", ""), hostileString),
      },
      { requiredKeys: ["name"] },
    ),
  },
  "GET /api/v1/datasets/:name": { params: { name: DATASET_NAMES } },
  "GET /api/v1/datasets/:name/versions": { params: { name: DATASET_NAMES } },
  "GET /api/v1/datasets/:name/items": {
    params: { name: DATASET_NAMES },
    query: { version: ["1", "2", "0", "99"], cursor: [cursor("fz-item"), cursor([0xff])], limit: LIMITS },
  },
  "GET /api/v1/datasets/:name/export": {
    params: { name: DATASET_NAMES },
    query: { format: ["jsonl", "csv", "xml"], version: ["1", "0", "99"] },
  },
  "POST /api/v1/datasets/:name/items": {
    params: { name: DATASET_NAMES },
    body: fc.record({ items: fc.array(datasetItem, { minLength: 0, maxLength: 3 }) }),
  },
  "POST /api/v1/datasets/:name/items/from-spans": {
    params: { name: DATASET_NAMES },
    body: fc.record(
      {
        spans: fc.array(
          fc.record({
            traceId: fc.constantFrom(TRACE_ID, "0".repeat(32), "zz"),
            spanId: fc.constantFrom(SPAN_ID, "x"),
          }),
          { maxLength: 2 },
        ),
        expected: fc.boolean(),
      },
      { requiredKeys: ["spans"] },
    ),
  },
  "POST /api/v1/datasets/:name/import": {
    params: { name: DATASET_NAMES },
    query: { replace: ["true", "false", "yes"] },
    file: datasetFile,
  },
  "GET /api/v1/experiments": {},
  "POST /api/v1/experiments": {
    body: fc.record(
      {
        dataset: mostly(fc.constantFrom("fz-ds", "nope"), hostileString),
        datasetVersion: mostly(fc.constantFrom(1, 2), fc.constantFrom(0, -1, 1.5, 1e12)),
        prompt: mostly(fc.constantFrom("fz/alpha", "missing-one"), hostileString),
        versions: mostly(
          fc.constantFrom(["1.0.0"], ["production", "1.0.1"], ["1.0.0", "1.0.0"]),
          fc.array(hostileString),
        ),
        connection: mostly(fc.constantFrom("fz-conn", "nope"), hostileString),
        model: mostly(fc.constantFrom("gpt"), hostileString),
        concurrency: mostly(fc.constantFrom(1, 4), fc.constantFrom(0, -1, 1.5, 1e9, "x")),
        evaluators: mostly(fc.constantFrom([], ["fz-eval", "exact_match"], ["nope"]), fc.array(hostileString)),
      },
      { requiredKeys: ["dataset", "prompt", "versions", "connection"] },
    ),
  },
  "GET /api/v1/experiments/:id": { params: { id: EXPERIMENT_IDS } },
  "GET /api/v1/experiments/:id/results": {
    params: { id: EXPERIMENT_IDS },
    query: { run: ["1.0.0", "production", "9.9.9"], cursor: [cursor("0:x"), cursor("x")], limit: LIMITS },
  },
  "GET /api/v1/experiments/:id/compare": {
    params: { id: EXPERIMENT_IDS },
    query: { baseline: ["1.0.0", "nope"], candidate: ["1.0.1", "1.0.0"], alpha: ["0.05", "0", "1", "x"] },
  },
  "POST /api/v1/experiments/:id/cancel": { params: { id: EXPERIMENT_IDS } },
  "POST /api/v1/experiments/:id/resume": { params: { id: EXPERIMENT_IDS } },
  "GET /api/v1/experiments/:id/received": {
    params: { id: EXPERIMENT_IDS },
    query: { cursor: [cursor("0:x"), cursor("x")], limit: LIMITS },
  },
  "POST /api/v1/experiments/:id/results": {
    params: { id: EXPERIMENT_IDS },
    body: fc.record({
      results: mostly(
        fc.array(
          fc.record(
            {
              run: mostly(fc.constantFrom("1.0.0", "production"), hostileString),
              itemId: mostly(fc.constantFrom("fz-item", "nope"), hostileString),
              output: mostly(fc.string(), hostileString),
              error: hostileString,
              latencyMs: mostly(fc.constantFrom(0, 12.5), fc.constantFrom(-1, 1e12, "x")),
              promptTokens: mostly(fc.constantFrom(0, 3), fc.constantFrom(-1, 1.5, 1e12)),
              cost: mostly(fc.constantFrom(0, 0.001), fc.constantFrom(-1, 1e13)),
              scores: mostly(fc.constantFrom({}, { fz: { passed: true, score: 1 } }), hostileString),
            },
            { requiredKeys: ["run", "itemId"] },
          ),
          { maxLength: 3 },
        ),
        hostileString,
      ),
    }),
  },
  "GET /api/v1/gates": {},
  "GET /api/v1/events": {},
  "GET /api/v1/gates/:label": { params: { label: LABELS } },
  "PUT /api/v1/gates/:label": {
    params: { label: LABELS },
    body: fc.record(
      {
        dataset: mostly(fc.constantFrom("fz-ds", "nope"), hostileString),
        evaluators: mostly(fc.constantFrom(["exact_match"], ["fz-eval"], [], ["nope"]), fc.array(hostileString)),
        alpha: mostly(fc.constantFrom(0.05, 0.01), fc.constantFrom(0, 1, -1, "x")),
        prefix: mostly(fc.constantFrom("", "fz/"), hostileString),
      },
      { requiredKeys: ["dataset", "evaluators"] },
    ),
  },
  "DELETE /api/v1/gates/:label": { params: { label: LABELS } },
  "GET /api/v1/gates/:label/check": {
    params: { label: LABELS },
    query: { prompt: ["fz/alpha", "missing-one"], version: ["1.0.0", "9.9.9", "^1"] },
  },
  "DELETE /api/v1/datasets/:name/items/:id": {
    params: { name: DATASET_NAMES, id: ["fz-item", "nope", "a b"] },
  },
  "DELETE /api/v1/datasets/:name": { params: { name: DATASET_NAMES } },
  "POST /v1/traces": {
    body: fc
      .tuple(hostileString, hostileString, hostileJson, fc.constantFrom(TRACE_ID, "zz", "0".repeat(32)))
      .map(([name, key, value, traceId]) =>
        JSON.parse(
          otlpJson([
            {
              traceId,
              name,
              attributes: { "prompt.id": "fz/alpha", [key]: name, "llm.model_name": JSON.stringify(value) ?? "" },
            },
          ]),
        ),
      ),
  },
};

// ---- how it is checked -----------------------------------------------------------------------------------------

let fingerprintSql = "";

/** Row counts of every table, and the content of the tables a failed request could corrupt without adding rows. */
async function buildFingerprintSql(): Promise<string> {
  const tables = await h.database.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' ORDER BY 1`,
  );
  // api_keys.last_used_at is updated in the background after any authenticated request; spans grow large.
  const countOnly = new Set(["api_keys", "spans", "span_rollups"]);
  return tables.rows
    .map(({ name }) =>
      countOnly.has(name)
        ? `SELECT '${name}' AS t, count(*)::text AS f FROM "${name}"`
        : `SELECT '${name}' AS t, count(*) || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS f FROM "${name}" x`,
    )
    .join(" UNION ALL ");
}

async function fingerprint(): Promise<string> {
  const result = await h.database.query<{ t: string; f: string }>(fingerprintSql);
  return result.rows.map((r) => `${r.t}=${r.f}`).join(" ");
}

/** Percent-encodes all of a value's UTF-8 bytes when encodeURIComponent cannot (a lone surrogate). */
function encodeValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...Buffer.from(value)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  }
}

interface Call {
  role: string;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Hostile values put in place of the `slot`-th parameter or query value (a query value left out is added). */
  hostile: { slot: number; value: string }[];
  extraQuery: [string, string] | null;
  /** Appended raw to the last path segment: an invalid or overlong percent escape. */
  rawTail: string;
  body: Body;
}

// A valid call with a few hostile substitutions: all-hostile calls would stop at the first check and never reach
// the services and queries behind it.
function callArbitrary(spec: RouteSpec, method: string): fc.Arbitrary<Call> {
  const params = fc.record(
    Object.fromEntries(Object.entries(spec.params ?? {}).map(([k, valid]) => [k, fc.constantFrom(...valid)])),
  );
  const query = fc.record(
    Object.fromEntries(Object.entries(spec.query ?? {}).map(([k, valid]) => [k, fc.constantFrom(...valid)])),
    { requiredKeys: [] },
  );
  const hasBody = method === "POST" || method === "PUT" || method === "PATCH";
  return fc.record({
    role: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("read", "write", "admin") },
      { weight: 1, arbitrary: fc.constantFrom("other", "none", "bogus") },
    ),
    params: params as fc.Arbitrary<Record<string, string>>,
    query: query as fc.Arbitrary<Record<string, string>>,
    hostile: fc.oneof(
      { weight: 1, arbitrary: fc.constant<Call["hostile"]>([]) },
      {
        weight: 1,
        arbitrary: fc.array(fc.record({ slot: fc.nat(), value: hostileString }), { minLength: 1, maxLength: 2 }),
      },
    ),
    extraQuery: fc.option(fc.tuple(hostileString, hostileString), { freq: 8 }),
    // Only where the route has parameters: elsewhere it would only test the not-found answer.
    rawTail: !spec.params
      ? fc.constant("")
      : fc.oneof(
          { weight: 12, arbitrary: fc.constant("") },
          { weight: 1, arbitrary: fc.constantFrom("%", "%zz", "%ED%A0%80", "%C0%80", "%00", "%2F..%2F") },
        ),
    body: spec.file
      ? spec.file.map((file) => ({ file }))
      : hasBody
        ? bodyFrom(spec.body ?? fc.constant({}))
        : fc.constant(undefined),
  });
}

/** The call with its hostile substitutions made. */
function substitute(spec: RouteSpec, call: Call): { params: Record<string, string>; query: Record<string, string> } {
  const params = { ...call.params };
  const query = { ...call.query };
  const slots = [
    ...Object.keys(spec.params ?? {}).map((k) => ["param", k] as const),
    ...Object.keys(spec.query ?? {}).map((k) => ["query", k] as const),
  ];
  for (const { slot, value } of slots.length ? call.hostile : []) {
    const [where, key] = slots[slot % slots.length]!;
    (where === "param" ? params : query)[key] = value;
  }
  return { params, query };
}

function pathOf(pattern: string, spec: RouteSpec, call: Call): string {
  const { params, query } = substitute(spec, call);
  let path = pattern.replace(/:(\w+)/g, (_, name: string) => {
    const value =
      name === "id" && params[name] === "throwaway"
        ? throwawayKeyId
        : name === "id" && params[name] === "price"
          ? priceId
          : params[name]!;
    // Prompt names are folders: keep their slashes unencoded half of the time, as a careless caller would.
    return name === "name" && value.length % 2 ? value.split("/").map(encodeValue).join("/") : encodeValue(value);
  });
  path += call.rawTail;
  const pairs = Object.entries(query).map(([k, v]) => `${encodeValue(k)}=${encodeValue(v)}`);
  if (call.extraQuery) pairs.push(`${encodeValue(call.extraQuery[0])}=${encodeValue(call.extraQuery[1])}`);
  return pairs.length ? `${path}?${pairs.join("&")}` : path;
}

async function send(method: string, path: string, call: Call): Promise<request.Response> {
  let t = request(server)[method.toLowerCase() as "get"](path);
  const key = call.role === "none" ? undefined : call.role === "bogus" ? "pr_not_a_key" : keys[call.role];
  if (path.startsWith("/api/v1/events")) return streamAnswer(path, key);
  if (key) t = t.set("Authorization", `Bearer ${key}`);
  const body = call.body;
  if (body === undefined) return t;
  if ("file" in body) return t.set("Content-Type", body.file.type).send(body.file.text);
  t = t.set("Content-Type", "application/json");
  if ("raw" in body) return t.send(body.raw);
  return body.json === undefined ? t : t.send(JSON.stringify(body.json));
}

/**
 * The live-update stream never ends by itself: a 200 is read up to its first chunk and its connection closed; an
 * error is read whole. Answered as much of a supertest response as the checks read.
 */
function streamAnswer(path: string, key: string | undefined): Promise<request.Response> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpGet(
      { host: "127.0.0.1", port, path, headers: key ? { Authorization: `Bearer ${key}` } : {} },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        const answer = () => {
          let body: unknown = {};
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, text, body } as unknown as request.Response);
        };
        res.on("data", (chunk: string) => {
          text += chunk;
          if (res.statusCode === 200) {
            req.destroy();
            answer();
          }
        });
        res.on("end", answer);
        // Cut on purpose after the first chunk.
        res.on("error", () => {});
      },
    );
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
  });
}

function checkErrorShape(route: string, res: request.Response): void {
  if (route === "POST /v1/traces") {
    // OTLP answers errors as a google.rpc.Status in the request's encoding (JSON here).
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.body).toEqual(expect.objectContaining({ code: expect.any(Number), message: expect.any(String) }));
    return;
  }
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(["error"]);
  expect(res.body.error).toEqual(
    expect.objectContaining({
      code: expect.stringMatching(/^[a-z_]+$/),
      message: expect.any(String),
      requestId: expect.any(String),
    }),
  );
  expect(Object.keys(res.body.error).every((k) => ["code", "message", "details", "requestId"].includes(k))).toBe(true);
}

describe("every route, with hostile input", () => {
  it("the list of fuzzed routes is the app's router stack", () => {
    expect(routesOf(h.app).sort()).toEqual(Object.keys(ROUTES).sort());
  });

  const statuses: Record<string, Record<number, number>> = {};
  afterAll(() => {
    // FUZZ_VERBOSE=1 shows how far the calls got (statuses per route), to keep the generators reaching the queries.
    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify(statuses, null, 1));
  });

  Object.entries(ROUTES).forEach(([route, spec], index) => {
    const [method, pattern] = route.split(" ") as [string, string];
    it(`${route}: never a 5xx, errors in the one shape, nothing written on a 4xx`, async () => {
      let before = await fingerprint();
      const seed = SEED + index;
      const property = fc.asyncProperty(callArbitrary(spec, method), async (call) => {
        const path = pathOf(pattern, spec, call);
        const res = await send(method, path, call);
        const context = `${method} ${path.slice(0, 300)} as ${call.role} (seed ${seed}): ${res.status} ${res.text.slice(0, 300)}`;
        (statuses[route] ??= {})[res.status] = (statuses[route]![res.status] ?? 0) + 1;
        expect(res.status, context).toBeLessThan(500);
        const after = await fingerprint();
        if (res.status >= 400) {
          checkErrorShape(route, res);
          expect(after, `${context}\nwrote on a ${res.status}`).toBe(before);
        }
        before = after;
      });
      await fc.assert(property, { seed, numRuns: RUNS_PER_ROUTE, endOnFailure: true });
    });
  });
});
