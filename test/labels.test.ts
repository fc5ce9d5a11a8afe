import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishPrompt, publishVersion } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let admin: Client;
let writer: Client;
let reader: Client;

beforeAll(async () => {
  h = await createHarness();
  admin = h.as(h.adminKey);
  writer = h.as(await h.newKey("write"));
  reader = h.as(await h.newKey("read"));
});
afterAll(() => h?.close());

const seed = (name: string, count: number) =>
  publishPrompt(
    writer,
    name,
    Array.from({ length: count }, (_, i) => `${name} v${i} {{x}}`),
  );
const move = (c: Client, name: string, label: string, version: string, reason?: string) =>
  c.put(`/api/v1/prompts/${name}/labels/${label}`, { version, reason });
const resolve = (name: string, ref: string) =>
  reader.get(`/api/v1/prompts/${name}/resolve?ref=${encodeURIComponent(ref)}`);

describe("labels", () => {
  it("moves labels, protects production, and records every move in the ledger", async () => {
    await seed("moves", 3);
    expect((await move(writer, "moves", "staging", "1.0.1", "try it")).body).toEqual({
      label: "staging",
      version: "1.0.1",
      previousVersion: null,
    });
    const denied = await move(writer, "moves", "production", "1.0.1");
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/protected/);
    expect((await move(reader, "moves", "staging", "1.0.2")).status).toBe(403);
    expect((await move(admin, "moves", "production", "1.0.1")).status).toBe(200);
    expect((await move(admin, "moves", "production", "1.0.2", "ship")).body.previousVersion).toBe("1.0.1");
    expect((await move(writer, "moves", "staging", "9.0.0")).status).toBe(404);
    const history = await reader.get("/api/v1/prompts/moves/labels/production/history");
    expect(history.body.data).toMatchObject([
      {
        label: "production",
        action: "set",
        fromVersion: "1.0.1",
        toVersion: "1.0.2",
        actor: "admin (PROMPTREG_ADMIN_KEY)",
        reason: "ship",
      },
      { label: "production", action: "set", fromVersion: null, toVersion: "1.0.1" },
    ]);
    const labels = await reader.get("/api/v1/prompts/moves/labels");
    expect(labels.body.data).toMatchObject([
      { name: "latest", version: "1.0.2", protected: false },
      { name: "production", version: "1.0.2", protected: true },
      { name: "staging", version: "1.0.1", protected: false },
    ]);
  });

  it("refuses invalid, reserved and version-like label names", async () => {
    await seed("names", 1);
    for (const [label, pattern] of [
      ["latest", /automatically/],
      ["1.2", /looks like a version/],
      ["x", /looks like a version/],
      ["Prod", /must match/],
    ] as const) {
      const res = await move(admin, "names", label, "1.0.0");
      expect(res.status, label).toBe(422);
      expect(res.body.error.message).toMatch(pattern);
    }
    expect((await admin.delete("/api/v1/prompts/names/labels/latest")).status).toBe(422);
  });

  it("points a label only at an exact version: a range or a label is a 422 saying so, not a 404", async () => {
    await seed("exact", 2); // 1.0.0, 1.0.1
    for (const version of ["^1", "~1.0", "1.x", "1.0", "production", "latest"]) {
      const res = await move(writer, "exact", "staging", version);
      expect(res.status, version).toBe(422);
      expect(res.body.error).toMatchObject({
        code: "validation_error",
        message: `label staging must point to an exact version such as 1.4.2; got ${version}`,
        details: { issues: [{ path: "body.version", message: "must be an exact version such as 1.4.2" }] },
      });
    }
    const rollbackTo = await writer.post("/api/v1/prompts/exact/labels/staging/rollback", { to: "^1" });
    expect(rollbackTo.status).toBe(422);
    expect(rollbackTo.body.error.message).toBe("label staging must point to an exact version such as 1.4.2; got ^1");
    // An exact version that does not exist is still a 404; one written with a leading "v" is that version.
    expect((await move(writer, "exact", "staging", "1.0.9")).status).toBe(404);
    expect((await move(writer, "exact", "staging", "v1.0.1")).body).toEqual({
      label: "staging",
      version: "1.0.1",
      previousVersion: null,
    });
  });

  it("rolls back in one call, and a second rollback undoes the first", async () => {
    await seed("rb", 3);
    await move(admin, "rb", "production", "1.0.0");
    await move(admin, "rb", "production", "1.0.2");
    const back = await admin.post("/api/v1/prompts/rb/labels/production/rollback", { reason: "1.0.2 fails" });
    expect(back.status).toBe(200);
    expect(back.body).toEqual({ label: "production", version: "1.0.0", previousVersion: "1.0.2" });
    expect((await resolve("rb", "production")).body.version).toBe("1.0.0");
    const undo = await admin.post("/api/v1/prompts/rb/labels/production/rollback", {});
    expect(undo.body.version).toBe("1.0.2");
    const to = await admin.post("/api/v1/prompts/rb/labels/production/rollback", { to: "1.0.1" });
    expect(to.body.version).toBe("1.0.1");
    const history = await reader.get("/api/v1/prompts/rb/labels/production/history");
    expect(
      history.body.data.map((e: { action: string; fromVersion: string; toVersion: string }) => [
        e.action,
        e.fromVersion,
        e.toVersion,
      ]),
    ).toEqual([
      ["rollback", "1.0.2", "1.0.1"],
      ["rollback", "1.0.0", "1.0.2"],
      ["rollback", "1.0.2", "1.0.0"],
      ["set", "1.0.0", "1.0.2"],
      ["set", null, "1.0.0"],
    ]);
    expect((await writer.post("/api/v1/prompts/rb/labels/production/rollback", {})).status).toBe(403);
    await move(writer, "rb", "fresh", "1.0.0");
    const nothing = await writer.post("/api/v1/prompts/rb/labels/fresh/rollback", {});
    expect(nothing.status).toBe(409);
    expect((await writer.post("/api/v1/prompts/rb/labels/never/rollback", {})).status).toBe(404);
  });

  it("deletes a label (recorded), and rollback restores it", async () => {
    await seed("del", 2);
    await move(writer, "del", "beta", "1.0.1");
    expect((await writer.delete("/api/v1/prompts/del/labels/beta?reason=done")).status).toBe(204);
    expect((await resolve("del", "beta")).status).toBe(404);
    expect((await writer.delete("/api/v1/prompts/del/labels/beta")).status).toBe(404);
    const restored = await writer.post("/api/v1/prompts/del/labels/beta/rollback", {});
    expect(restored.body).toEqual({ label: "beta", version: "1.0.1", previousVersion: null });
  });

  it("20 concurrent moves of one label leave it on one of them, with 20 ledger entries", async () => {
    await seed("race", 21);
    const targets = Array.from({ length: 20 }, (_, i) => `1.0.${i + 1}`);
    const results = await Promise.all(targets.map((v) => move(writer, "race", "canary", v)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const history = await reader.get("/api/v1/prompts/race/labels/canary/history?limit=100");
    expect(history.body.data).toHaveLength(20);
    const final = (await resolve("race", "canary")).body.version;
    expect(targets).toContain(final);
    // Serialized: each entry's "from" is the previous entry's "to", and the newest "to" is where the label is.
    const events = [...history.body.data].reverse();
    expect(events[0].fromVersion).toBeNull();
    for (let i = 1; i < events.length; i++) expect(events[i].fromVersion).toBe(events[i - 1].toVersion);
    expect(events.at(-1).toVersion).toBe(final);
  });
});

describe("resolving", () => {
  it("resolves every kind of reference", async () => {
    await seed("refs", 2); // 1.0.0, 1.0.1
    await publishVersion(writer, "refs", "refs {{x}} {{y}}"); // 2.0.0
    await move(admin, "refs", "production", "1.0.1");
    expect((await resolve("refs", "production")).body).toMatchObject({
      version: "1.0.1",
      label: "production",
      name: "refs",
    });
    expect((await reader.get("/api/v1/prompts/refs/resolve")).body).toMatchObject({
      version: "1.0.1",
      label: "production",
    });
    expect((await resolve("refs", "latest")).body).toMatchObject({ version: "2.0.0", label: "latest" });
    const exact = (await resolve("refs", "1.0.0")).body;
    expect(exact.version).toBe("1.0.0");
    expect(exact.label).toBeUndefined();
    expect((await resolve("refs", "^1.0")).body.version).toBe("1.0.1");
    expect((await resolve("refs", "~1.0.0")).body.version).toBe("1.0.1");
    expect((await resolve("refs", ">=2")).body.version).toBe("2.0.0");
    expect((await resolve("refs", "^3")).status).toBe(404);
    expect((await resolve("refs", "nolabel")).status).toBe(404);
    expect((await resolve("refs", "BAD REF")).status).toBe(422);
    expect((await reader.get("/api/v1/prompts/missing/resolve")).status).toBe(404);
  });

  it("resolves a label at a moment from the ledger", async () => {
    await seed("when", 3);
    await move(admin, "when", "production", "1.0.0");
    await move(admin, "when", "production", "1.0.2");
    await admin.delete("/api/v1/prompts/when/labels/production");
    // The moments are the ledger's own: no waiting for the clock to move between the changes.
    const history = await reader.get("/api/v1/prompts/when/labels/production/history");
    const [deleted, second, first] = (history.body.data as { action: string; createdAt: string }[]).map(
      (e) => new Date(e.createdAt),
    );
    expect(first! < second! && second! < deleted!, "three changes at distinct milliseconds").toBe(true);
    const justBefore = (t: Date) => new Date(t.getTime() - 1).toISOString();
    expect((await resolve("when", `production@${justBefore(first!)}`)).status).toBe(404);
    expect((await resolve("when", `production@${first!.toISOString()}`)).body).toMatchObject({
      version: "1.0.0",
      label: "production",
    });
    expect((await resolve("when", `production@${justBefore(second!)}`)).body.version).toBe("1.0.0");
    expect((await resolve("when", `production@${second!.toISOString()}`)).body.version).toBe("1.0.2");
    expect((await resolve("when", `production@${justBefore(deleted!)}`)).body.version).toBe("1.0.2");
    const gone = await resolve("when", `production@${deleted!.toISOString()}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.message).toMatch(/deleted/);
  });

  it("answers If-None-Match with 304 and sees moves at once (cache invalidation)", async () => {
    await seed("etag", 2);
    await move(admin, "etag", "production", "1.0.0");
    const first = await resolve("etag", "production");
    const etag = first.headers.etag;
    expect(etag).toMatch(/^"/);
    const again = await reader.get("/api/v1/prompts/etag/resolve?ref=production").set("If-None-Match", etag);
    expect(again.status).toBe(304);
    await move(admin, "etag", "production", "1.0.1");
    const moved = await reader.get("/api/v1/prompts/etag/resolve?ref=production").set("If-None-Match", etag);
    expect(moved.status).toBe(200);
    expect(moved.body.version).toBe("1.0.1");
    expect(moved.headers.etag).not.toBe(etag);
    await publishVersion(writer, "etag", "etag new {{x}}");
    expect((await resolve("etag", "latest")).body.version).toBe("1.0.2");
  });
});
