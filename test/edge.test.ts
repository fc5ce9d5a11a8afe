// Input PostgreSQL cannot store (NUL, lone surrogates), JSON nested too deep, forged cursors and LIKE wildcards: each
// is a 422 naming the field, or a literal match, and never a 500 or a write.
import type request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../src/http/cursor.js";
import { MAX_JSON_DEPTH } from "../src/http/input-guard.js";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let writer: Client;

beforeAll(async () => {
  h = await createHarness();
  writer = h.as(await h.newKey("write"));
  for (const name of ["edge/one", "a_b/x", "axb/y", "a/z", "100/w"])
    await publishVersion(h.as(h.adminKey), name, { template: "Hi {{name}}", labels: ["production"] });
});
afterAll(() => h?.close());

/** The row counts of the tables a refused request could have written. */
const counts = async () => {
  const db = h.database.prisma;
  return [
    await db.prompt.count(),
    await db.promptVersion.count(),
    await db.label.count(),
    await db.labelEvent.count(),
    await db.annotation.count(),
  ];
};

function expectRefused(res: request.Response, path: string, message: RegExp) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.error.code).toBe("validation_error");
  expect(res.body.error.details.issues).toContainEqual({ path, message: expect.stringMatching(message) });
}

describe("a NUL byte", () => {
  it("in a query value is a 422 naming the parameter, on every route that reads one", async () => {
    const cases: [string, string][] = [
      ["/api/v1/prompts?prefix=a%00b", "query.prefix"],
      ["/api/v1/prompts?tag=%00", "query.tag"],
      ...["prompt", "version", "label", "session", "user", "model", "spanKind"].map((f): [string, string] => [
        `/api/v1/spans?${f}=x%00`,
        `query.${f}`,
      ]),
      ...["label", "model", "session", "user", "source"].map((f): [string, string] => [
        `/api/v1/prompts/edge%2Fone/compare?${f}=x%00`,
        `query.${f}`,
      ]),
      ["/api/v1/prompts/edge%2Fone/timeseries?model=%00", "query.model"],
      ["/api/v1/prompts/edge%2Fone/resolve?ref=production%00", "query.ref"],
      ["/api/v1/prompts/edge%2Fone/diff?from=1.0.0&to=1.0.0%00", "query.to"],
    ];
    for (const [url, field] of cases) expectRefused(await writer.get(url), field, /must not contain NUL/);
    expectRefused(
      await writer.get("/api/v1/prompts?a%00b=1"),
      "query",
      /parameter name "a\\u0000b" must not contain NUL/,
    );
  });

  it("in a path segment is a 422, label names included", async () => {
    expectRefused(
      await writer.get("/api/v1/prompts/edge%2Fone/labels/prod%00/history"),
      "params",
      /path segment "prod\\u0000" must not contain NUL/,
    );
    expectRefused(
      await writer.put("/api/v1/prompts/edge%2Fone/labels/a%00", { version: "1.0.0" }),
      "params",
      /must not contain NUL/,
    );
    expectRefused(await writer.delete("/api/v1/prompts/edge%2Fone/labels/a%00"), "params", /must not contain NUL/);
    expectRefused(await writer.get("/api/v1/prompts/edge%2Fone/versions/1.0.0%00"), "params", /must not contain NUL/);
  });

  it("in a JSON string or key is a 422 naming where it is, and nothing is written", async () => {
    const before = await counts();
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/versions", { template: "Hi {{name}}", commitMessage: "a\u0000" }),
      "body.commitMessage",
      /NUL/,
    );
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/versions", { template: "Hi {{name}}", config: { "\u0000": 1 } }),
      "body.config",
      /key "\\u0000" must not contain NUL/,
    );
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/render", { variables: { name: "Ada\u0000" } }),
      "body.variables.name",
      /NUL/,
    );
    expectRefused(
      await writer.put("/api/v1/prompts/edge%2Fone/labels/staging", { version: "1.0.0", reason: "\u0000" }),
      "body.reason",
      /NUL/,
    );
    const annotation = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      name: "helpful",
      kind: "human",
      comment: "x\u0000",
    };
    expectRefused(
      await writer.post("/api/v1/annotations", { annotations: [annotation] }),
      "body.annotations.0.comment",
      /NUL/,
    );
    const top = await writer
      .post("/api/v1/prompts")
      .set("Content-Type", "application/json")
      .send(JSON.stringify("\u0000"));
    expectRefused(top, "body", /NUL/);
    expect(await counts()).toEqual(before);
  });

  it("in a cursor is a 422 on every paginated route", async () => {
    const nul = encodeCursor("a\u0000b");
    for (const url of [
      `/api/v1/prompts?cursor=${nul}`,
      `/api/v1/prompts/edge%2Fone/versions?cursor=${nul}`,
      `/api/v1/prompts/edge%2Fone/labels/production/history?cursor=${nul}`,
      `/api/v1/spans?cursor=${nul}`,
    ])
      expectRefused(await writer.get(url), "query.cursor", /invalid cursor/);
  });
});

describe("a cursor that encodeCursor could not have written", () => {
  it("is a 422: bytes that are not UTF-8, a name that is not one, an id beyond bigint, a time that does not exist", async () => {
    const garbage = Buffer.from([0xff, 0xfe, 0x41]).toString("base64url");
    for (const url of [
      `/api/v1/prompts?cursor=${garbage}`,
      `/api/v1/prompts?cursor=${encodeCursor("not a name!")}`,
      `/api/v1/prompts/edge%2Fone/labels/production/history?cursor=${encodeCursor("9999999999999999999")}`,
      `/api/v1/spans?cursor=${encodeCursor("2026-02-30T00:00:00.000000Z|1")}`,
      `/api/v1/spans?cursor=${encodeCursor("2026-01-01T00:00:00.000000Z|9999999999999999999")}`,
    ])
      expectRefused(await writer.get(url), "query.cursor", /invalid cursor/);
  });
});

describe("unpaired surrogates", () => {
  it("in a JSON body are a 422 naming the field, in strings and keys; a proper pair is stored as it is", async () => {
    const before = await counts();
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/versions", { template: "Hi {{name}}", commitMessage: "\ud800" }),
      "body.commitMessage",
      /unpaired UTF-16 surrogate/,
    );
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/versions", { template: "Hi {{name}} \udc00" }),
      "body.template",
      /unpaired/,
    );
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/versions", { template: "Hi {{name}}", config: { x: ["\ud83d"] } }),
      "body.config.x.0",
      /unpaired/,
    );
    expectRefused(
      await writer.post("/api/v1/prompts/edge%2Fone/versions", { template: "Hi {{name}}", config: { "\ud800": 1 } }),
      "body.config",
      /key .* unpaired/,
    );
    expect(await counts()).toEqual(before);
    const pair = await writer.post("/api/v1/prompts/edge%2Fone/versions", {
      template: "Hi {{name}} \ud83d\ude00",
      commitMessage: "\ud83d\ude00",
    });
    expect(pair.status).toBe(201);
    expect(pair.body.commitMessage).toBe("😀");
  });

  it("in a query (an encoded surrogate is not UTF-8) never reach the database as such: no 5xx", async () => {
    const res = await writer.get("/api/v1/prompts?prefix=%ED%A0%80&tag=%ED%A0%80");
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([]);
    expect((await writer.get("/api/v1/prompts/edge%2Fone/labels/%ED%A0%80/history")).status).toBe(400);
  });
});

describe("JSON nesting", () => {
  const nested = (depth: number): unknown => (depth === 0 ? "leaf" : { a: nested(depth - 1) });

  it(`deeper than ${MAX_JSON_DEPTH} levels is a 422, where it used to overflow the stack (500)`, async () => {
    const before = await counts();
    const deep = "[".repeat(5000) + "]".repeat(5000);
    const res = await writer
      .post("/api/v1/prompts/edge%2Fone/versions")
      .set("Content-Type", "application/json")
      .send(`{"template":"x {{a}}","config":{"a":${deep}}}`);
    expectRefused(
      res,
      `body.config.a${".0".repeat(MAX_JSON_DEPTH - 2)}`,
      new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`),
    );
    expect(await counts()).toEqual(before);
  });

  it("at the limit is accepted", async () => {
    const res = await writer.post("/api/v1/prompts/edge%2Fone/versions", {
      template: "Hi {{name}}",
      config: { a: nested(MAX_JSON_DEPTH - 2) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});

describe("GET /prompts?prefix=", () => {
  it("matches `_`, `%` and `\\` literally, not as LIKE wildcards", async () => {
    const names = async (prefix: string) =>
      ((await writer.get(`/api/v1/prompts?prefix=${encodeURIComponent(prefix)}`)).body.data as { name: string }[]).map(
        (p) => p.name,
      );
    expect(await names("a_b")).toEqual(["a_b/x"]);
    expect(await names("axb")).toEqual(["axb/y"]);
    expect(await names("%")).toEqual([]);
    expect(await names("1%")).toEqual([]);
    expect(await names("_")).toEqual([]);
    expect(await names("a\\")).toEqual([]);
    expect(await names("a")).toEqual(["a/z"]);
  });
});

describe("GET /prompts/:name/diff", () => {
  it("with a bad 'to' answers 422 and leaves no lookup running unobserved", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const res = await writer.get(`/api/v1/prompts/missing/diff?from=1.0.0&to=${enc("production@garbage")}`);
      expect(res.status).toBe(422);
      // The old code started the 'from' look-up (of a prompt that does not exist) before parsing 'to', and nothing
      // awaited it: its rejection (an unhandled rejection, which ends a Node process) came after the answer. The
      // look-ups below queue behind it, so by their answers it has settled.
      for (let i = 0; i < 3; i++) expect((await writer.get("/api/v1/prompts/missing")).status).toBe(404);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
