// Datasets through the real app on a real database: items written and replaced by id, each change a version that
// stays readable; files imported (JSONL and CSV, checked whole, a line number in every problem, nothing stored from
// a file with one) and exported back; production spans added as items; roles and projects.
import http from "node:http";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProject, ingestSpans, llmSpan } from "./helpers/factories.js";
import { type Client, client, createHarness, type Harness } from "./helpers/harness.js";
import { newSpanId, newTraceId } from "./helpers/otlp.js";

let h: Harness;
const admin = (): Client => client(h.app, h.adminKey);

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

async function dataset(name: string) {
  const res = await admin().post("/api/v1/datasets", { name, description: `${name} cases` });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function items(name: string, query = "") {
  const res = await admin().get(`/api/v1/datasets/${name}/items${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as {
    data: { id: string; variables: Record<string, unknown>; expected: unknown }[];
    version: number;
    nextCursor: string | null;
  };
}

const upload = (name: string, type: string, body: string, query = "") =>
  request(h.app)
    .post(`/api/v1/datasets/${name}/import${query}`)
    .set("Authorization", `Bearer ${h.adminKey}`)
    .set("Content-Type", type)
    .send(body);

const download = (name: string, query: string) =>
  request(h.app)
    .get(`/api/v1/datasets/${name}/export${query}`)
    .set("Authorization", `Bearer ${h.adminKey}`)
    .buffer(true)
    .parse((res, done) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => done(null, text));
    });

describe("datasets", () => {
  it("creates, lists and refuses a second of the same name or a bad name", async () => {
    expect(await dataset("golden")).toMatchObject({
      name: "golden",
      description: "golden cases",
      version: 0,
      itemCount: 0,
    });
    expect((await admin().post("/api/v1/datasets", { name: "golden" })).status).toBe(409);
    const bad = await admin().post("/api/v1/datasets", { name: "no spaces" });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.issues[0].path).toBe("body.name");
    const list = await admin().get("/api/v1/datasets");
    expect(list.body.data.map((d: { name: string }) => d.name)).toContain("golden");
  });

  it("makes a version per change, keeps every version readable, and keeps an item's id", async () => {
    await dataset("versions");
    const first = await admin().post("/api/v1/datasets/versions/items", {
      items: [
        { variables: { q: "first" } },
        { variables: { q: "second" }, expected: "2" },
        { id: "fixed", variables: { q: "third" }, metadata: { tag: "x" } },
      ],
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ dataset: { version: 1, itemCount: 3 }, added: 3, replaced: 0, removed: 0 });
    const [a, b] = first.body.ids as string[];
    // Made ids sort in the order the items came.
    expect([a, b].sort()).toEqual([a, b]);

    const second = await admin().post("/api/v1/datasets/versions/items", {
      items: [{ id: "fixed", variables: { q: "third, edited" } }, { variables: { q: "fourth" } }],
    });
    expect(second.body).toMatchObject({ dataset: { version: 2, itemCount: 4 }, added: 1, replaced: 1 });
    const removed = await admin().delete(`/api/v1/datasets/versions/items/${a}`);
    expect(removed.body).toMatchObject({ dataset: { version: 3, itemCount: 3 }, removed: 1 });
    expect((await admin().delete(`/api/v1/datasets/versions/items/${a}`)).status).toBe(404);

    const v1 = await items("versions", "?version=1");
    expect(v1.data.find((i) => i.id === "fixed")?.variables).toEqual({ q: "third" });
    expect(v1.data).toHaveLength(3);
    const latest = await items("versions");
    expect(latest.version).toBe(3);
    expect(latest.data.map((i) => i.id)).not.toContain(a);
    expect(latest.data.find((i) => i.id === "fixed")).toMatchObject({ variables: { q: "third, edited" }, version: 2 });
    expect((await items("versions", "?version=2")).data.map((i) => i.id)).toContain(a);
    expect((await admin().get("/api/v1/datasets/versions/items?version=4")).status).toBe(404);
    const versions = await admin().get("/api/v1/datasets/versions/versions");
    expect(versions.body.data.map((v: { source: string }) => v.source)).toEqual(["delete", "items", "items"]);

    // Pages follow the ids, however many.
    const page1 = await items("versions", "?limit=2");
    const page2 = await items("versions", `?limit=2&cursor=${page1.nextCursor}`);
    expect([...page1.data, ...page2.data].map((i) => i.id)).toEqual(latest.data.map((i) => i.id));
    expect(page2.nextCursor).toBeNull();
  });

  it("refuses bad items by where they are, and writes nothing of the request", async () => {
    await dataset("strict");
    const res = await admin().post("/api/v1/datasets/strict/items", {
      items: [
        { id: "same", variables: { q: "a" } },
        { id: "same", variables: { q: "b" } },
        { variables: { "not a name": 1 } },
        { variables: { q: "x".repeat(300_000) } },
        { variables: {}, extra: true },
      ],
    });
    expect(res.status).toBe(422);
    const paths = res.body.error.details.issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(["body.items.1.id", "body.items.2.variables.not a name", "body.items.3", "body.items.4"]),
    );
    expect((await admin().get("/api/v1/datasets/strict")).body).toMatchObject({ version: 0, itemCount: 0 });
  });

  it("imports JSONL and CSV, exports them back the same, and replaces the whole dataset when asked", async () => {
    await dataset("files");
    const lines = Array.from({ length: 250 }, (_, i) =>
      JSON.stringify({
        id: `case-${String(i).padStart(3, "0")}`,
        variables: { q: `question ${i}`, n: i },
        expected: `answer ${i}`,
      }),
    );
    const imported = await upload("files", "application/x-ndjson", `${lines.join("\n")}\n\n`);
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body).toMatchObject({ dataset: { version: 1, itemCount: 250 }, added: 250 });
    expect(imported.body.ids).toBeUndefined();

    const jsonl = await download("files", "?format=jsonl");
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers["content-type"]).toMatch(/application\/x-ndjson/);
    const exported = (jsonl.body as string)
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(exported).toHaveLength(250);
    expect(exported[7]).toEqual({
      id: "case-007",
      variables: { q: "question 7", n: 7 },
      expected: "answer 7",
      metadata: {},
    });

    // CSV: quoted commas, quotes and line breaks survive; numbers come back as their text.
    await admin().post("/api/v1/datasets/files/items", {
      items: [{ id: "case-odd", variables: { q: 'a "quoted", multi\nline question', n: 1 }, expected: null }],
    });
    const csv = await download("files", "?format=csv");
    expect(csv.headers["content-type"]).toMatch(/text\/csv/);
    await dataset("files-copy");
    const again = await upload("files-copy", "text/csv", csv.body as string);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.dataset.itemCount).toBe(251);
    const odd = (await items("files-copy", `?cursor=${Buffer.from("case-249").toString("base64url")}`)).data.find(
      (i) => i.id === "case-odd",
    );
    expect(odd).toMatchObject({ variables: { q: 'a "quoted", multi\nline question', n: "1" }, expected: null });

    const replaced = await upload(
      "files",
      "application/x-ndjson",
      '{"id":"only","variables":{"q":"one"}}',
      "?replace=true",
    );
    expect(replaced.body).toMatchObject({ dataset: { version: 3, itemCount: 1 }, added: 1, removed: 251 });
    expect((await items("files", "?version=2")).data).toHaveLength(100);
  });

  it("a CSV with bad quoting at line 7,345 is refused naming the line, and nothing of it is stored", async () => {
    await dataset("bad-csv");
    const rows = ["id,q,expected"];
    for (let i = 1; i < 10_000; i++)
      rows.push(i === 7_344 ? `row-${i},"an unclosed "quote here,x` : `row-${i},question ${i},answer ${i}`);
    const res = await upload("bad-csv", "text/csv", `${rows.join("\n")}\n`);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/line 7345/);
    expect(res.body.error.details.issues[0].path).toBe("body.line.7345");
    expect((await admin().get("/api/v1/datasets/bad-csv")).body).toMatchObject({ version: 0, itemCount: 0 });
  });

  it("answers a file with more problems than a refusal lists, and bounds variables and CSV columns", async () => {
    await dataset("many-problems");
    const rows = ["id,q", ...Array.from({ length: 25 }, () => "_bad,1")];
    const res = await upload("many-problems", "text/csv", `${rows.join("\n")}\n`);
    expect(res.status).toBe(422);
    expect(res.body.error.details.issues).toHaveLength(20);
    const wide = Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`v${i}`, i]));
    const tooWide = await admin().post("/api/v1/datasets/many-problems/items", { items: [{ variables: wide }] });
    expect(tooWide.status).toBe(422);
    expect(tooWide.body.error.details.issues[0].path).toBe("body.items.0.variables");
    // Two items of 600 names each: 1,200 columns is past what a CSV export holds; JSONL still exports them.
    const half = (from: number) => Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`v${from + i}`, 1]));
    await admin()
      .post("/api/v1/datasets/many-problems/items", { items: [{ variables: half(0) }, { variables: half(600) }] })
      .expect(200);
    const csv = await download("many-problems", "?format=csv");
    expect(csv.status).toBe(422);
    expect((await download("many-problems", "?format=jsonl")).status).toBe(200);
  });

  it("reads two imports at once per instance; a third is told to come back", async () => {
    await dataset("busy");
    const server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as import("node:net").AddressInfo;
    // Two imports whose bodies never finish arriving.
    const held = [0, 1].map(() => {
      const req = http.request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/v1/datasets/busy/import",
        headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/x-ndjson" },
      });
      req.on("error", () => {});
      req.write('{"variables":{"q":"one"}}\n');
      return req;
    });
    try {
      // Each is being read once its first line is (the service waits on the rest): poll until both hold a slot.
      let third: request.Response | undefined;
      for (let i = 0; i < 200 && third?.status !== 503; i++)
        third = await upload("busy", "application/x-ndjson", '{"variables":{"q":"three"}}');
      expect(third?.status).toBe(503);
      expect(third?.headers["retry-after"]).toBe("5");
    } finally {
      for (const req of held) req.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("names the line of every problem in a JSONL file, and refuses other media types", async () => {
    await dataset("bad-jsonl");
    const res = await upload(
      "bad-jsonl",
      "application/x-ndjson",
      ['{"variables":{"q":"fine"}}', "{not json", '{"variables":{"q":"\\u0000"}}', '{"id":"a b","variables":{}}'].join(
        "\n",
      ),
    );
    expect(res.status).toBe(422);
    const issues = res.body.error.details.issues as { path: string; message: string }[];
    expect(issues.map((i) => i.path)).toEqual(["body.line.2", "body.line.3.variables.q", "body.line.4.id"]);
    expect(issues.every((i) => /^line \d+: /.test(i.message))).toBe(true);
    expect((await upload("bad-jsonl", "application/json", "[]")).status).toBe(415);
    expect((await upload("bad-jsonl", "application/x-ndjson", "")).status).toBe(422);
    expect((await admin().get("/api/v1/datasets/bad-jsonl")).body.version).toBe(0);
  });

  it("adds production spans as items: their variables, and their answer as expected", async () => {
    await dataset("from-prod");
    const span = llmSpan("support/triage", "1.0.0", {
      traceId: newTraceId(),
      spanId: newSpanId(),
      attributes: {
        "llm.prompt_template.variables": JSON.stringify({ question: "where is my order?" }),
        "output.value": "It ships tomorrow.",
      },
    });
    const bare = llmSpan("support/triage", "1.0.0", { traceId: newTraceId(), spanId: newSpanId() });
    await ingestSpans(h, [span, bare]);
    const added = await admin().post("/api/v1/datasets/from-prod/items/from-spans", {
      spans: [{ traceId: span.traceId, spanId: span.spanId }],
      expected: true,
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect((await items("from-prod")).data[0]).toMatchObject({
      variables: { question: "where is my order?" },
      expected: "It ships tomorrow.",
    });
    const refused = await admin().post("/api/v1/datasets/from-prod/items/from-spans", {
      spans: [
        { traceId: bare.traceId, spanId: bare.spanId },
        { traceId: newTraceId(), spanId: newSpanId() },
      ],
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual([
      "body.spans.0",
      "body.spans.1",
    ]);
  });

  it("reads with a read key, writes with a write key, and keeps projects apart", async () => {
    await dataset("roles");
    const key = await admin().post("/api/v1/keys", { name: "reader", role: "read" });
    const reader = client(h.app, key.body.key);
    expect((await reader.get("/api/v1/datasets/roles/items")).status).toBe(200);
    expect((await reader.post("/api/v1/datasets/roles/items", { items: [{ variables: {} }] })).status).toBe(403);
    const imported = await request(h.app)
      .post("/api/v1/datasets/roles/import")
      .set("Authorization", `Bearer ${key.body.key}`)
      .set("Content-Type", "application/x-ndjson")
      .send('{"variables":{}}');
    expect(imported.status).toBe(403);
    const other = await createProject(h, "datasets-other");
    expect((await other.admin.get("/api/v1/datasets/roles")).status).toBe(404);
    expect((await admin().delete("/api/v1/datasets/roles")).status).toBe(204);
    expect((await admin().get("/api/v1/datasets/roles")).status).toBe(404);
  });
});
