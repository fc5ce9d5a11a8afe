// The server side of the web console: sessions and CSRF, publish dry runs, template error locations, listing
// search and folders, and the static files with their security headers.
import { createHash } from "node:crypto";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FolderListSchema,
  PromptListSchema,
  PublishPreviewSchema,
  SessionSchema,
  TemplateErrorDetailsSchema,
} from "@promptreg/client/contract";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, enc, silentLogger, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let admin: Client;
let consoleDir: string;

beforeAll(async () => {
  consoleDir = await mkdtemp(path.join(tmpdir(), "promptreg-console-"));
  await mkdir(path.join(consoleDir, "assets"));
  await writeFile(
    path.join(consoleDir, "index.html"),
    '<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js"></script></head><body></body></html>',
  );
  await writeFile(path.join(consoleDir, "assets", "app-1a2b.js"), "console.log('app');");
  await writeFile(path.join(consoleDir, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  h = await createHarness({ consoleDir });
  admin = h.as(h.adminKey);
});
afterAll(async () => {
  await h?.close();
  await rm(consoleDir, { recursive: true, force: true });
});

interface SignedIn {
  cookie: string;
  token: string;
  csrf: string;
  setCookie: string;
}

async function signIn(key: string): Promise<SignedIn> {
  const res = await request(h.app).post("/api/v1/session").send({ key });
  expect(res.status).toBe(201);
  const setCookie = ([] as string[]).concat(res.headers["set-cookie"] ?? [])[0]!;
  const token = /^promptreg_session=([^;]+)/.exec(setCookie)![1]!;
  return { cookie: `promptreg_session=${token}`, token, csrf: SessionSchema.parse(res.body).csrfToken, setCookie };
}

const withCookie = (s: SignedIn) => ({
  get: (p: string) => request(h.app).get(p).set("Cookie", s.cookie),
  post: (p: string, body: object, csrf?: string) => {
    const t = request(h.app).post(p).set("Cookie", s.cookie);
    return (csrf === undefined ? t : t.set("X-CSRF-Token", csrf)).send(body);
  },
  delete: (p: string, csrf?: string) => {
    const t = request(h.app).delete(p).set("Cookie", s.cookie);
    return csrf === undefined ? t : t.set("X-CSRF-Token", csrf);
  },
});

describe("console sessions", () => {
  it("exchanges a key for an HttpOnly, SameSite=Strict cookie whose id is stored only as a hash", async () => {
    const res = await request(h.app).post("/api/v1/session").send({ key: h.adminKey });
    expect(res.status).toBe(201);
    const setCookie = ([] as string[]).concat(res.headers["set-cookie"] ?? [])[0]!;
    expect(setCookie).toMatch(/^promptreg_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\/api/);
    expect(setCookie).toMatch(/; Max-Age=43200/);
    expect(res.headers["cache-control"]).toBe("no-store");
    const body = SessionSchema.parse(res.body);
    expect(body).toMatchObject({ role: "admin", projectName: "default", protectedLabels: ["production"] });
    expect(JSON.stringify(res.body)).not.toContain(h.adminKey);
    const token = /^promptreg_session=([^;]+)/.exec(setCookie)![1]!;
    const rows = await h.database.prisma.session.findMany();
    expect(rows.some((r) => r.hash === createHash("sha256").update(token).digest("hex"))).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(token);
    const expiresIn = new Date(body.expiresAt).getTime() - Date.now();
    expect(expiresIn).toBeGreaterThan(11.9 * 3600_000);
    expect(expiresIn).toBeLessThanOrEqual(12 * 3600_000);
  });

  it("marks the cookie Secure behind a trusted HTTPS proxy, or always when told to; never on a client's word", async () => {
    const signIn = async (config: Parameters<typeof createApp>[0]["config"], proto?: string) => {
      const { app } = createApp({ config, database: h.database, bus: h.bus, logger: silentLogger });
      const req = request(app).post("/api/v1/session");
      if (proto) req.set("X-Forwarded-Proto", proto);
      const res = await req.send({ key: h.adminKey });
      expect(res.status).toBe(201);
      return ([] as string[]).concat(res.headers["set-cookie"] ?? [])[0]!;
    };
    const base = { bodyLimitBytes: 1 << 20, resolveCacheSize: 10 };
    // The tests' requests come from 127.0.0.1: trusting loopback believes the header.
    expect(
      await signIn({ ...base, trustProxy: loadConfig({ PROMPTREG_TRUST_PROXY: "loopback" }).trustProxy }, "https"),
    ).toMatch(/; Secure/);
    expect(await signIn({ ...base, trustProxy: ["10.0.0.0/8"] }, "https")).not.toMatch(/; Secure/);
    expect(await signIn(base, "https")).not.toMatch(/; Secure/);
    expect(await signIn({ ...base, trustProxy: ["loopback"] }, "http")).not.toMatch(/; Secure/);
    expect(await signIn({ ...base, secureCookies: "always" })).toMatch(/; Secure/);
  });

  it("reads the proxy settings strictly, naming what is wrong", () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ PROMPTREG_TRUST_PROXY: "true" }).trustProxy).toBe(true);
    expect(loadConfig({ PROMPTREG_TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(
      loadConfig({ PROMPTREG_TRUST_PROXY: "loopback, 10.0.0.0/8, fd00::/8, 192.168.1.1/255.255.255.0" }).trustProxy,
    ).toEqual(["loopback", "10.0.0.0/8", "fd00::/8", "192.168.1.1/255.255.255.0"]);
    expect(() => loadConfig({ PROMPTREG_TRUST_PROXY: "loopback,proxy.example.com,10.0.0.0/33" })).toThrow(
      /PROMPTREG_TRUST_PROXY: not an address, subnet, hop count, true\/false, loopback, linklocal or uniquelocal: proxy.example.com, 10.0.0.0\/33/,
    );
    // What Express's trust proxy would refuse at start is refused here, naming the setting.
    expect(() => loadConfig({ PROMPTREG_TRUST_PROXY: "0.0.0.0/0,192.168.1.1/255.0.255.0" })).toThrow(
      /PROMPTREG_TRUST_PROXY: .*: 0\.0\.0\.0\/0, 192\.168\.1\.1\/255\.0\.255\.0/,
    );
    expect(() => loadConfig({ PROMPTREG_SECURE_COOKIES: "yes" })).toThrow(/PROMPTREG_SECURE_COOKIES/);
  });

  it("refuses a wrong key (401) and a malformed sign-in (422)", async () => {
    const wrong = await request(h.app).post("/api/v1/session").send({ key: "pr_not_a_key" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers["set-cookie"]).toBeUndefined();
    const malformed = await request(h.app).post("/api/v1/session").send({ apiKey: h.adminKey });
    expect(malformed.status).toBe(422);
    expect(malformed.body.error.details.issues.map((i: { path: string }) => i.path)).toContain("body.key");
  });

  it("accepts the cookie for reads, and for writes only with the session's CSRF token", async () => {
    const s = await signIn(await h.newKey("write"));
    const c = withCookie(s);
    expect((await c.get("/api/v1/prompts")).status).toBe(200);
    const me = await c.get("/api/v1/session");
    expect(SessionSchema.parse(me.body)).toMatchObject({ role: "write", csrfToken: s.csrf });

    const noToken = await c.post("/api/v1/prompts/csrf-test/versions", { template: "Hi {{name}}" });
    expect(noToken.status).toBe(403);
    expect(noToken.body.error.message).toMatch(/CSRF/);
    const other = await signIn(await h.newKey("write"));
    const wrongToken = await c.post("/api/v1/prompts/csrf-test/versions", { template: "Hi {{name}}" }, other.csrf);
    expect(wrongToken.status).toBe(403);
    expect((await c.post("/api/v1/prompts/csrf-test/versions", { template: "Hi {{name}}" }, "")).status).toBe(403);
    expect((await admin.get("/api/v1/prompts/csrf-test")).status).toBe(404);

    const ok = await c.post("/api/v1/prompts/csrf-test/versions", { template: "Hi {{name}}" }, s.csrf);
    expect(ok.status).toBe(201);
    expect(ok.body.author).toBe("write-key");
    // The bearer header is unchanged: no CSRF token, and it wins over a cookie sent along.
    const bearer = await request(h.app)
      .post("/api/v1/prompts/csrf-test/versions")
      .set("Authorization", `Bearer ${h.adminKey}`)
      .set("Cookie", s.cookie)
      .send({ template: "Hello {{name}}" });
    expect(bearer.status).toBe(201);
    expect(bearer.body.author).toContain("admin");
  });

  it("keeps roles: a read key's session is refused writes even with the CSRF token", async () => {
    const s = await signIn(await h.newKey("read"));
    const res = await withCookie(s).post("/api/v1/prompts/read-test/versions", { template: "x" }, s.csrf);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/'write' role/);
  });

  it("ends a session when it expires, when its key is deleted, and on sign-out", async () => {
    const expiring = await signIn(await h.newKey("read"));
    await h.database.prisma.session.updateMany({
      where: { hash: createHash("sha256").update(expiring.token).digest("hex") },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const expired = await withCookie(expiring).get("/api/v1/prompts");
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/sign in again/);

    const key = await h.newKey("write");
    const revoked = await signIn(key);
    expect((await withCookie(revoked).get("/api/v1/prompts")).status).toBe(200);
    const id = (await admin.get("/api/v1/keys")).body.data.find(
      (k: { prefix: string }) => k.prefix === key.slice(0, 9),
    ).id;
    expect((await admin.delete(`/api/v1/keys/${id}`)).status).toBe(204);
    expect((await withCookie(revoked).get("/api/v1/prompts")).status).toBe(401);
    expect((await withCookie(revoked).get("/api/v1/session")).status).toBe(401);
    expect(await h.database.prisma.session.count({ where: { keyId: id } })).toBe(0);

    const s = await signIn(h.adminKey);
    expect((await withCookie(s).delete("/api/v1/session")).status).toBe(403);
    const out = await withCookie(s).delete("/api/v1/session", s.csrf);
    expect(out.status).toBe(204);
    expect(([] as string[]).concat(out.headers["set-cookie"] ?? [])[0]).toMatch(
      /^promptreg_session=;.*Expires=Thu, 01 Jan 1970/,
    );
    expect((await withCookie(s).get("/api/v1/prompts")).status).toBe(401);
  });

  it("answers the console's probe (GET /session?optional=true) with 204 when signed out, and grants nothing by it", async () => {
    const none = await request(h.app).get("/api/v1/session?optional=true");
    expect(none.status).toBe(204);
    expect(none.text).toBe("");
    expect(none.headers["set-cookie"]).toBeUndefined();
    expect(none.headers["cache-control"]).toBe("no-store");
    // A cookie that names no session is no session either.
    const forged = await request(h.app)
      .get("/api/v1/session?optional=true")
      .set("Cookie", "promptreg_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect(forged.status).toBe(204);
    // Without the probe, and everywhere else, no session is still a 401.
    expect((await request(h.app).get("/api/v1/session")).status).toBe(401);
    expect((await request(h.app).get("/api/v1/prompts?optional=true")).status).toBe(401);

    const s = await signIn(h.adminKey);
    const me = await withCookie(s).get("/api/v1/session?optional=true");
    expect(me.status).toBe(200);
    expect(SessionSchema.parse(me.body).csrfToken).toBe(s.csrf);
  });
});

describe("publish dry run", () => {
  const dryRun = (name: string, body: object, key = h.adminKey) =>
    h.as(key).post(`/api/v1/prompts/${enc(name)}/versions?dryRun=true`, body);

  it("answers what a publish would, and why, without writing anything", async () => {
    const before = {
      prompts: await h.database.prisma.prompt.count(),
      versions: await h.database.prisma.promptVersion.count(),
      events: await h.database.prisma.labelEvent.count(),
      labels: await h.database.prisma.label.count(),
    };
    const first = await dryRun("support/dry", {
      template: "Classify: {{question}}",
      labels: ["staging"],
      tags: ["support"],
    });
    expect(first.status).toBe(200);
    expect(PublishPreviewSchema.parse(first.body)).toMatchObject({
      dryRun: true,
      created: true,
      previousVersion: null,
      requiredBump: { bump: "major", reasons: ["first version"] },
      version: { version: "1.0.0", name: "support/dry", variables: [{ name: "question", required: true, type: null }] },
    });
    expect((await admin.get(`/api/v1/prompts/${enc("support/dry")}`)).status).toBe(404);
    expect({
      prompts: await h.database.prisma.prompt.count(),
      versions: await h.database.prisma.promptVersion.count(),
      events: await h.database.prisma.labelEvent.count(),
      labels: await h.database.prisma.label.count(),
    }).toEqual(before);

    await publishVersion(admin, "support/dry", "Classify: {{question}}");
    const breaking = await dryRun("support/dry", {
      template: "Classify for the {{tier}} tier: {{question}}",
      commitMessage: "tiers",
    });
    expect(breaking.status).toBe(200);
    expect(breaking.body).toMatchObject({
      created: true,
      previousVersion: "1.0.0",
      requiredBump: { bump: "major", reasons: ["required variable 'tier' added", "template text changed"] },
      version: { version: "2.0.0", commitMessage: "tiers" },
    });
    const published = await publishVersion(admin, "support/dry", "Classify for the {{tier}} tier: {{question}}");
    expect(published.version).toBe(breaking.body.version.version);

    const same = await dryRun("support/dry", { template: "Classify for the {{tier}} tier: {{question}}" });
    expect(same.body).toMatchObject({ created: false, requiredBump: null, version: { version: "2.0.0" } });
    const patch = await dryRun("support/dry", { template: "Classify for the {{tier}} tier, briefly: {{question}}" });
    expect(patch.body).toMatchObject({ requiredBump: { bump: "patch" }, version: { version: "2.0.1" } });
    expect((await admin.get(`/api/v1/prompts/${enc("support/dry")}/versions`)).body.data).toHaveLength(2);
  });

  it("fails exactly as the publish would", async () => {
    const tooSmall = await dryRun("support/dry", { template: "{{question}} {{tier}} {{region}}", bump: "minor" });
    expect(tooSmall.status).toBe(409);
    expect(tooSmall.body.error.code).toBe("bump_too_small");
    const reader = await h.newKey("read");
    expect((await dryRun("support/dry", { template: "x" }, reader)).status).toBe(403);
    const writer = await h.newKey("write");
    const protectedLabel = await dryRun(
      "support/dry",
      { template: "{{question}} {{tier}}!", labels: ["production"] },
      writer,
    );
    expect(protectedLabel.status).toBe(403);
    expect(
      (await h.as(h.adminKey).post("/api/v1/prompts/x/versions?dryRun=yes", { template: "x" })).body.error.details
        .issues[0].path,
    ).toBe("query.dryRun");
  });

  it("reports where a template error is, as line and column", async () => {
    const parseError = await dryRun("bad-template", { template: "Hello {{name}},\n{{#if vip}}thanks" });
    expect(parseError.status).toBe(422);
    expect(parseError.body.error.code).toBe("invalid_template");
    expect(TemplateErrorDetailsSchema.parse(parseError.body.error.details)).toEqual({ line: 2, column: 18 });
    // The message says where in the same words and numbers as the details, never Handlebars' "2:17".
    expect(parseError.body.error.message).toMatch(/^Parse error at line 2, column 18:\n/);

    const unknownHelper = await dryRun("bad-template", { template: "Line one\n  two {{shout name}}" });
    expect(unknownHelper.body.error.message).toMatch(/^unknown helper "shout" .* at line 2, column 7$/);
    expect(unknownHelper.body.error.details).toEqual({ line: 2, column: 7 });

    const mismatch = await dryRun("bad-template", { template: "Hello\n  {{#if vip}}thanks{{/each}}" });
    expect(mismatch.body.error.message).toBe("if doesn't match each at line 2, column 6");
    expect(mismatch.body.error.details).toEqual({ line: 2, column: 6 });

    const chat = await admin.post("/api/v1/prompts/bad-chat/versions", {
      template: [
        { role: "system", content: "You help." },
        { role: "user", content: "Question:\n{{ question.[x }}" },
      ],
    });
    expect(chat.status).toBe(422);
    expect(chat.body.error.details).toEqual({ line: 2, column: 13, messageIndex: 1 });
    expect(chat.body.error.message).toMatch(/^messages\[1\]: Parse error at line 2, column 13:\n/);
  });
});

describe("listing for the console", () => {
  beforeAll(async () => {
    for (const name of [
      "support/triage",
      "support/billing/refunds",
      "support/billing/disputes",
      "sales/Outreach",
      "root-prompt",
      "support_x/odd",
    ])
      await publishVersion(admin, name, { template: `${name}: {{q}}`, tags: name.startsWith("support") ? ["cs"] : [] });
  });

  it("searches names case-insensitively across folders, with tags and pages", async () => {
    const found = PromptListSchema.parse((await admin.get("/api/v1/prompts?q=OUTREACH")).body);
    expect(found.data.map((p) => p.name)).toEqual(["sales/Outreach"]);
    expect(found.data[0]).toMatchObject({ versionCount: 1, labels: { latest: "1.0.0" } });
    const twice = await admin.get("/api/v1/prompts?q=csrf-test");
    expect(twice.body.data[0]).toMatchObject({ name: "csrf-test", versionCount: 2, labels: { latest: "1.0.1" } });
    const billing = await admin.get("/api/v1/prompts?q=r&prefix=support/billing&limit=1");
    expect(billing.body.data.map((p: { name: string }) => p.name)).toEqual(["support/billing/disputes"]);
    const next = await admin.get(
      `/api/v1/prompts?q=r&prefix=support/billing&limit=1&cursor=${billing.body.nextCursor}`,
    );
    expect(next.body.data.map((p: { name: string }) => p.name)).toEqual(["support/billing/refunds"]);
    expect(next.body.nextCursor).toBeNull();
    const tagged = await admin.get("/api/v1/prompts?q=triage&tag=cs");
    expect(tagged.body.data.map((p: { name: string }) => p.name)).toEqual(["support/triage"]);
    // LIKE wildcards in the search are literal characters.
    expect((await admin.get("/api/v1/prompts?q=t_x")).body.data.map((p: { name: string }) => p.name)).toEqual([
      "support_x/odd",
    ]);
    expect((await admin.get("/api/v1/prompts?q=s_p")).body.data).toEqual([]); // unescaped, `_` would match the u of "support"
    expect((await admin.get("/api/v1/prompts?q=%25")).body.data).toEqual([]);
  });

  it("lists the folders directly inside a folder with their prompt counts", async () => {
    const root = FolderListSchema.parse((await admin.get("/api/v1/folders")).body);
    expect(root.data).toEqual([
      { name: "sales", prompts: 1 },
      { name: "support", prompts: 4 },
      { name: "support_x", prompts: 1 },
    ]);
    expect((await admin.get("/api/v1/folders?prefix=support")).body.data).toEqual([
      { name: "support/billing", prompts: 2 },
    ]);
    expect((await admin.get("/api/v1/folders?prefix=support/billing/")).body.data).toEqual([]);
    // `_` is not a wildcard: support_x is not inside support.
    expect((await admin.get("/api/v1/folders?prefix=suppor_")).body.data).toEqual([]);
    const reader = h.as(await h.newKey("read"));
    expect((await reader.get("/api/v1/folders")).status).toBe(200);
    expect((await request(h.app).get("/api/v1/folders")).status).toBe(401);
  });
});

describe("console static files", () => {
  const expectSecurityHeaders = (res: request.Response) => {
    const csp = res.headers["content-security-policy"] as string;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["x-frame-options"]).toBe("DENY");
  };

  it("serves index.html at / and for every client-side route, with security headers", async () => {
    for (const p of ["/", "/prompts", "/prompts/support/triage.v2/-/labels", "/settings?tab=keys"]) {
      const res = await request(h.app).get(p).set("Accept", "text/html");
      expect(res.status, p).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      expect(res.text).toContain('src="/assets/app-1a2b.js"');
      expect(res.headers["cache-control"]).toBe("no-cache");
      expectSecurityHeaders(res);
    }
  });

  it("serves hashed assets for good and other files revalidated; a missing asset is a 404", async () => {
    const js = await request(h.app).get("/assets/app-1a2b.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toMatch(/javascript/);
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expectSecurityHeaders(js);
    const svg = await request(h.app).get("/favicon.svg");
    expect(svg.headers["cache-control"]).toBe("no-cache");
    const missing = await request(h.app).get("/assets/gone-0000.js").set("Accept", "text/html,*/*");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
  });

  it("leaves the API, OTLP and health routes alone", async () => {
    const api = await request(h.app).get("/api/v2/prompts").set("Accept", "text/html");
    expect(api.status).toBe(404);
    expect(api.body.error.code).toBe("not_found");
    expect(api.headers["content-security-policy"]).toBeUndefined();
    const otlp = await request(h.app).get("/v1/traces").set("Accept", "text/html");
    expect(otlp.headers["content-type"]).toMatch(/json/);
    expect((await request(h.app).get("/healthz").set("Accept", "text/html")).body).toEqual({ status: "ok" });
    const post = await request(h.app).post("/prompts").set("Accept", "text/html");
    expect(post.status).toBe(404);
    expect(post.body.error.code).toBe("not_found");
  });

  it("says how to build the console when it is not built", async () => {
    const bare = await createHarness({ consoleDir: path.join(consoleDir, "nowhere") });
    try {
      const res = await request(bare.app).get("/prompts").set("Accept", "text/html");
      expect(res.status).toBe(404);
      expect(res.body.error.message).toMatch(/console is not built.*npm run build/);
    } finally {
      await bare.close();
    }
  });
});
