import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let admin: Client;

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
});
afterAll(() => h?.close());

describe("keys and roles", () => {
  it("needs a valid bearer key", async () => {
    const none = await request(h.app).get("/api/v1/prompts");
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ code: "unauthorized", requestId: expect.any(String) });
    expect((await h.as("pr_not_a_real_key").get("/api/v1/prompts")).status).toBe(401);
  });

  it("shows a key once, stores only its hash, and lists keys without secrets", async () => {
    const created = await admin.post("/api/v1/keys", { name: "ci", role: "write" });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^pr_[A-Za-z0-9_-]{43}$/);
    const rows = await h.database.prisma.apiKey.findMany();
    expect(rows.some((r) => r.hash === created.body.key || JSON.stringify(r).includes(created.body.key))).toBe(false);
    const list = await admin.get("/api/v1/keys");
    expect(list.body.data.find((k: { id: string }) => k.id === created.body.id)).toMatchObject({
      name: "ci",
      role: "write",
      prefix: created.body.key.slice(0, 9),
    });
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
  });

  it("enforces roles: read < write < admin", async () => {
    const reader = h.as(await h.newKey("read"));
    const writer = h.as(await h.newKey("write"));
    expect((await reader.post("/api/v1/prompts/r/versions", { template: "x" })).status).toBe(403);
    expect((await writer.post("/api/v1/prompts/r/versions", { template: "x" })).status).toBe(201);
    expect((await reader.get("/api/v1/prompts/r/resolve?ref=latest")).status).toBe(200);
    expect((await writer.post("/api/v1/keys", { name: "x", role: "read" })).status).toBe(403);
    expect((await writer.get("/api/v1/keys")).status).toBe(403);
    expect((await writer.post("/api/v1/projects", { name: "p" })).status).toBe(403);
  });

  it("revokes a deleted key at once, but never the last admin key", async () => {
    const key = await h.newKey("write");
    const c = h.as(key);
    expect((await c.get("/api/v1/prompts")).status).toBe(200);
    const id = (await admin.get("/api/v1/keys")).body.data.find(
      (k: { prefix: string }) => k.prefix === key.slice(0, 9),
    ).id;
    expect((await admin.delete(`/api/v1/keys/${id}`)).status).toBe(204);
    expect((await c.get("/api/v1/prompts")).status).toBe(401);
    const adminId = (await admin.get("/api/v1/keys")).body.data.find((k: { role: string }) => k.role === "admin").id;
    const last = await admin.delete(`/api/v1/keys/${adminId}`);
    expect(last.status).toBe(409);
    expect((await admin.delete("/api/v1/keys/not-a-uuid")).status).toBe(422);
  });
});

describe("projects", () => {
  it("isolates projects: another project's prompt is a 404", async () => {
    const created = await admin.post("/api/v1/projects", { name: "team-b" });
    expect(created.status).toBe(201);
    expect(created.body.project.name).toBe("team-b");
    const bAdmin = h.as(created.body.adminKey.key);
    expect((await admin.post("/api/v1/projects", { name: "team-b" })).status).toBe(409);
    expect((await bAdmin.post("/api/v1/projects", { name: "team-c" })).status).toBe(403);

    await publishVersion(admin, "secret", "default's secret");
    expect((await bAdmin.get("/api/v1/prompts/secret")).status).toBe(404);
    expect((await bAdmin.get("/api/v1/prompts/secret/resolve?ref=latest")).status).toBe(404);
    expect((await bAdmin.put("/api/v1/prompts/secret/labels/production", { version: "1.0.0" })).status).toBe(404);
    expect((await bAdmin.delete("/api/v1/prompts/secret")).status).toBe(404);
    // The same name in project B is a different prompt.
    expect((await publishVersion(bAdmin, "secret", "B's own")).version).toBe("1.0.0");
    expect((await admin.get("/api/v1/prompts/secret/resolve?ref=latest")).body.template).toBe("default's secret");
    expect((await bAdmin.get("/api/v1/prompts")).body.data.map((p: { name: string }) => p.name)).toEqual(["secret"]);
    const bKeys = await bAdmin.get("/api/v1/keys");
    expect(bKeys.body.data).toHaveLength(1);
    const projects = await admin.get("/api/v1/projects");
    expect(projects.body.data.map((p: { name: string }) => p.name)).toEqual(["default", "team-b"]);
  });
});

describe("protected labels", () => {
  it("are configured per project by its admin, and take effect at once", async () => {
    const writer = h.as(await h.newKey("write"));
    await publishVersion(writer, "guarded", "x");
    expect((await writer.put("/api/v1/prompts/guarded/labels/staging", { version: "1.0.0" })).status).toBe(200);
    const denied = await h
      .as(await h.newKey("write"))
      .put("/api/v1/prompts/guarded/labels/production", { version: "1.0.0" });
    expect(denied.status).toBe(403);
    const set = await admin.patch("/api/v1/projects/default", { protectedLabels: ["production", "staging"] });
    expect(set.status).toBe(200);
    expect(set.body.protectedLabels).toEqual(["production", "staging"]);
    expect((await writer.put("/api/v1/prompts/guarded/labels/staging", { version: "1.0.0" })).status).toBe(403);
    expect((await admin.patch("/api/v1/projects/default", { protectedLabels: ["Bad Label"] })).status).toBe(422);
    expect((await writer.patch("/api/v1/projects/default", { protectedLabels: [] })).status).toBe(403);
    const other = await admin.post("/api/v1/projects", { name: "team-guard" });
    const otherAdmin = h.as(other.body.adminKey.key);
    expect((await otherAdmin.patch("/api/v1/projects/default", { protectedLabels: [] })).status).toBe(404);
    expect(
      (await otherAdmin.patch("/api/v1/projects/team-guard", { protectedLabels: [] })).body.protectedLabels,
    ).toEqual([]);
    await admin.patch("/api/v1/projects/default", { protectedLabels: ["production"] });
  });
});

describe("whoami", () => {
  it("tells any key its project and role, and every authenticated answer names the project", async () => {
    const reader = h.as(await h.newKey("read"));
    const me = await reader.get("/api/v1/whoami");
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ project: "default", role: "read" });
    expect(me.headers["x-promptreg-project"]).toBe("default");

    const created = await admin.post("/api/v1/projects", { name: "team-whoami" });
    const other = h.as(await h.newKey("write", created.body.adminKey.key));
    expect((await other.get("/api/v1/whoami")).body).toEqual({ project: "team-whoami", role: "write" });
    const resolved = await other.get("/api/v1/prompts/none/resolve?ref=latest");
    expect([resolved.status, resolved.headers["x-promptreg-project"]]).toEqual([404, "team-whoami"]);

    const anonymous = await request(h.app).get("/api/v1/whoami");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["x-promptreg-project"]).toBeUndefined();
  });
});

describe("the last admin key", () => {
  it("keeps one admin key when a project's last two are deleted at the same time, 20 times over", async () => {
    for (let round = 0; round < 20; round++) {
      const created = await admin.post("/api/v1/projects", { name: `race-${round}` });
      expect(created.status).toBe(201);
      const first = h.as(created.body.adminKey.key);
      const second = await first.post("/api/v1/keys", { name: "second admin", role: "admin" });
      expect(second.status).toBe(201);
      const other = h.as(second.body.key);
      // Each admin deletes the other, at once.
      const [a, b] = await Promise.all([
        other.delete(`/api/v1/keys/${created.body.adminKey.id}`),
        first.delete(`/api/v1/keys/${second.body.id}`),
      ]);
      const statuses = [a.status, b.status].sort();
      // One delete wins; the other finds the last admin key (409), or its own key already gone (401).
      expect(statuses[0]).toBe(204);
      expect([401, 409]).toContain(statuses[1]);
      const admins = await h.database.prisma.apiKey.count({
        where: { project: { name: `race-${round}` }, role: "admin" },
      });
      expect(admins).toBe(1);
    }
  });
});
