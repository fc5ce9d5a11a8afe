import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let admin: Client;
let writer: Client;

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  writer = h.as(await h.newKey("write"));
});
afterAll(() => h?.close());

const publish = (name: string, body: object, c: Client = writer) =>
  c.post(`/api/v1/prompts/${enc(name)}/versions`, body);

describe("publishing", () => {
  it("creates the prompt on first publish, at 1.0.0, with latest on it", async () => {
    const res = await publish("support/triage", {
      template: "Hello {{name}} from {{company}}",
      commitMessage: "first",
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: "support/triage",
      type: "text",
      version: "1.0.0",
      template: "Hello {{name}} from {{company}}",
      config: {},
      commitMessage: "first",
      variables: [
        { name: "company", required: true, type: null },
        { name: "name", required: true, type: null },
      ],
    });
    expect(res.body.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(res.body.author).toBe("write-key");
    const labels = await writer.get(`/api/v1/prompts/${enc("support/triage")}/labels`);
    expect(labels.body.data).toEqual([expect.objectContaining({ name: "latest", version: "1.0.0" })]);
  });

  it("follows the variable contract: patch, minor, major", async () => {
    const name = "contract";
    expect((await publish(name, { template: "Hi {{a}}" })).body.version).toBe("1.0.0");
    expect((await publish(name, { template: "Hello {{a}}" })).body.version).toBe("1.0.1");
    expect((await publish(name, { template: "Hello {{a}}{{#if b}} and {{/if}}" })).body.version).toBe("1.1.0");
    expect(
      (await publish(name, { template: "Hello {{a}}{{#if b}} and {{/if}}", config: { model: "gpt" } })).body.version,
    ).toBe("1.2.0");
    const major = await publish(name, { template: "Hello {{a}} {{c}}{{#if b}} and {{/if}}", config: { model: "gpt" } });
    expect(major.status).toBe(201);
    expect(major.body.version).toBe("2.0.0");
    const typed = await publish(name, {
      template: "Hello {{a}} {{c}}{{#if b}} and {{/if}}",
      config: { model: "gpt" },
      variablesSchema: { type: "object", properties: { a: { type: "number" } } },
    });
    expect(typed.body.version).toBe("3.0.0");
  });

  it("returns the latest version, creating nothing, when the content is identical", async () => {
    const name = "idempotent";
    const first = await publish(name, { template: "Same {{x}}", config: { t: 1, m: "a" } });
    const again = await publish(name, { template: "Same {{x}}", config: { m: "a", t: 1 }, commitMessage: "retry" });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const versions = await writer.get(`/api/v1/prompts/${name}/versions`);
    expect(versions.body.data).toHaveLength(1);
  });

  it("refuses a too-small bump or version with 409 saying why, and writes nothing", async () => {
    const name = "strict-bump";
    await publish(name, { template: "A {{x}}" });
    const bump = await publish(name, { template: "A {{x}} {{y}}", bump: "minor" });
    expect(bump.status).toBe(409);
    expect(bump.body.error).toMatchObject({ code: "bump_too_small" });
    expect(bump.body.error.message).toMatch(/needs a major bump: required variable 'y' added/);
    const version = await publish(name, { template: "A {{x}} {{y}}", version: "1.1.0" });
    expect(version.status).toBe(409);
    const lower = await publish(name, { template: "A {{x}}!", version: "0.9.0" });
    expect(lower.status).toBe(409);
    expect(lower.body.error.code).toBe("version_not_higher");
    const versions = await writer.get(`/api/v1/prompts/${name}/versions`);
    expect(versions.body.data.map((v: { version: string }) => v.version)).toEqual(["1.0.0"]);
    const ok = await publish(name, { template: "A {{x}} {{y}}", version: "4.0.0" });
    expect(ok.body.version).toBe("4.0.0");
    expect((await publish(name, { template: "A {{x}} {{y}}.", bump: "minor" })).body.version).toBe("4.1.0");
  });

  it("publishes chat prompts and refuses a template of the other type", async () => {
    const res = await publish("chatty", {
      template: [
        { role: "system", content: "You help {{company}}." },
        { type: "placeholder", name: "history" },
        { role: "user", content: "{{question}}" },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.body.type).toBe("chat");
    expect(res.body.variables.map((v: { name: string }) => v.name)).toEqual(["company", "history", "question"]);
    const wrong = await publish("chatty", { template: "plain text" });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.message).toMatch(/chat prompt/);
  });

  it("refuses a chat message role other than system, developer, user or assistant: 422 naming the message", async () => {
    const name = "support/roles";
    const res = await publish(name, {
      template: [
        { role: "system", content: "You help {{company}}." },
        { type: "placeholder", name: "history" },
        { role: "bogus", content: "{{question}}" },
      ],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("validation_error");
    expect(res.body.error.details.issues).toEqual([
      { path: "body.template.2.role", message: 'must be one of system, developer, user, assistant, got "bogus"' },
    ]);
    expect(res.body.error.message).toContain("body.template.2.role");
    // Case matters to chat APIs; `tool` needs a tool call id that a template cannot have; empty is no role.
    for (const role of ["System", "tool", "function", ""]) {
      const bad = await publish(name, { template: [{ role, content: "x" }] });
      expect(bad.body.error.details.issues, role).toEqual([
        { path: "body.template.0.role", message: expect.stringContaining(`got ${JSON.stringify(role)}`) },
      ]);
    }
    expect((await writer.get(`/api/v1/prompts/${enc(name)}`)).status).toBe(404);

    const ok = await publish(name, {
      template: ["system", "developer", "user", "assistant"].map((role) => ({ role, content: `as ${role} 0.25 ü` })),
    });
    expect(ok.status).toBe(201);
    expect(ok.body.template.map((m: { role: string }) => m.role)).toEqual(["system", "developer", "user", "assistant"]);
  });

  it("rejects bad input with a 422 naming the field, and invalid templates", async () => {
    const noTemplate = await publish("bad", { config: {} });
    expect(noTemplate.status).toBe(422);
    expect(noTemplate.body.error.code).toBe("validation_error");
    expect(noTemplate.body.error.details.issues[0].path).toBe("body.template");
    const syntax = await publish("bad", { template: "Hello {{#if x}}" });
    expect(syntax.status).toBe(422);
    expect(syntax.body.error.code).toBe("invalid_template");
    const badName = await publish("../etc", { template: "x" });
    expect(badName.status).toBe(422);
    expect(badName.body.error.details.issues[0].path).toBe("params.name");
    const badLabel = await publish("bad", { template: "x", labels: ["Prod"] });
    expect(badLabel.status).toBe(422);
    expect((await writer.get("/api/v1/prompts/bad")).status).toBe(404);
  });

  it("20 concurrent publishes to one prompt give 20 distinct versions and no error", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => publish("concurrent", { template: `Variant ${i} for {{x}}` })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const versions = new Set(results.map((r) => r.body.version));
    expect(versions.size).toBe(20);
    const list = await writer.get("/api/v1/prompts/concurrent/versions?limit=100");
    expect(list.body.data).toHaveLength(20);
    const latest = await writer.get("/api/v1/prompts/concurrent/resolve?ref=latest");
    expect(latest.body.version).toBe("1.0.19");
  });
});

describe("reading", () => {
  it("lists prompts by folder and tag with cursor pagination", async () => {
    await publish("folder/a", { template: "a", tags: ["x"] });
    await publish("folder/b", { template: "b", tags: ["y"] });
    await publish("folder/c", { template: "c", tags: ["x"] });
    await publish("folderish", { template: "d" });
    const page1 = await writer.get("/api/v1/prompts?prefix=folder&limit=2");
    expect(page1.body.data.map((p: { name: string }) => p.name)).toEqual(["folder/a", "folder/b"]);
    const page2 = await writer.get(`/api/v1/prompts?prefix=folder&limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.data.map((p: { name: string }) => p.name)).toEqual(["folder/c"]);
    expect(page2.body.nextCursor).toBeNull();
    const tagged = await writer.get("/api/v1/prompts?prefix=folder/&tag=x");
    expect(tagged.body.data.map((p: { name: string }) => p.name)).toEqual(["folder/a", "folder/c"]);
    expect(tagged.body.data[0]).toMatchObject({ versionCount: 1, labels: { latest: "1.0.0" } });
  });

  it("shows one prompt with labels and a summary of versions", async () => {
    await writer.post("/api/v1/prompts", { name: "described", type: "text", description: "d", tags: ["t"] });
    await publish("described", { template: "one" });
    await publish("described", { template: "two" });
    const res = await writer.get("/api/v1/prompts/described");
    expect(res.body).toMatchObject({
      name: "described",
      type: "text",
      description: "d",
      tags: ["t"],
      labels: [{ name: "latest", version: "1.0.1" }],
      versions: { count: 2, latest: "1.0.1" },
    });
    expect((await writer.post("/api/v1/prompts", { name: "described", type: "text" })).status).toBe(409);
  });

  it("gets exact versions and paginates versions newest first", async () => {
    for (let i = 0; i < 5; i++) await publish("paged", { template: `v${i}` });
    const one = await writer.get("/api/v1/prompts/paged/versions/1.0.2");
    expect(one.body.template).toBe("v2");
    expect((await writer.get("/api/v1/prompts/paged/versions/9.9.9")).status).toBe(404);
    const p1 = await writer.get("/api/v1/prompts/paged/versions?limit=3");
    expect(p1.body.data.map((v: { version: string }) => v.version)).toEqual(["1.0.4", "1.0.3", "1.0.2"]);
    const p2 = await writer.get(`/api/v1/prompts/paged/versions?limit=3&cursor=${p1.body.nextCursor}`);
    expect(p2.body.data.map((v: { version: string }) => v.version)).toEqual(["1.0.1", "1.0.0"]);
    const bad = await writer.get("/api/v1/prompts/paged/versions?cursor=bm90LWEtdmVyc2lvbg");
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.issues[0].path).toBe("query.cursor");
    expect((await writer.get("/api/v1/prompts/paged/labels/latest/history?cursor=eHl6")).status).toBe(422);
  });

  it("diffs two versions: template lines, config, variables and the bump", async () => {
    await publish("diffed", { template: "Hello {{a}}\nBye", config: { model: "m1", temperature: 0.2 } });
    await publish("diffed", { template: "Hello {{a}} {{b}}\nBye", config: { model: "m2" } });
    const res = await writer.get("/api/v1/prompts/diffed/diff?from=1.0.0&to=latest");
    expect(res.status).toBe(200);
    expect(res.body.from.version).toBe("1.0.0");
    expect(res.body.to).toMatchObject({ version: "2.0.0", label: "latest" });
    expect(res.body.template.unified).toContain("-Hello {{a}}\n+Hello {{a}} {{b}}");
    expect(res.body.config).toEqual([
      { path: "model", change: "changed", from: "m1", to: "m2" },
      { path: "temperature", change: "removed", from: 0.2 },
    ]);
    expect(res.body.variables.added).toEqual([{ name: "b", required: true, type: null }]);
    expect(res.body.requiredBump.bump).toBe("major");
  });

  it("deletes a prompt with an admin key only", async () => {
    await publish("doomed", { template: "x" });
    expect((await writer.delete("/api/v1/prompts/doomed")).status).toBe(403);
    expect((await admin.delete("/api/v1/prompts/doomed")).status).toBe(204);
    expect((await writer.get("/api/v1/prompts/doomed")).status).toBe(404);
  });
});
