// The CLI's admin calls through a running server (`--url`): the real app on a real port, and every way it can go
// wrong said in words a person can act on.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminClient } from "../src/admin-client.js";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";

let h: Harness;
let server: Server;
let url: string;
beforeAll(async () => {
  h = await createHarness();
  server = await listen(createServer(h.app));
  url = `http://127.0.0.1:${port(server)}`;
});
afterAll(async () => {
  await close(server);
  await h?.close();
});

const listen = (s: Server) => new Promise<Server>((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
const close = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));
const port = (s: Server) => (s.address() as AddressInfo).port;

describe("admin client (--url)", () => {
  it("creates keys and projects through the API; the new key works at once", async () => {
    // A trailing /api/v1/ is the same server.
    const admin = createAdminClient({ url: `${url}/api/v1/`, apiKey: h.adminKey });
    const created = (await admin.post("/keys", { name: "ci", role: "write" })) as { key: string; role: string };
    expect(created).toMatchObject({ name: "ci", role: "write", key: expect.stringMatching(/^pr_/) });
    await publishVersion(h.as(created.key), "via-url", "x {{y}}");
    expect(await admin.post("/projects", { name: "team-u" })).toMatchObject({
      project: { name: "team-u" },
      adminKey: { role: "admin", key: expect.stringMatching(/^pr_/) },
    });
  });

  it("says when the key is refused, not allowed, or the request is wrong", async () => {
    await expect(
      createAdminClient({ url, apiKey: "pr_not_a_key_of_this_server" }).post("/keys", { name: "x", role: "read" }),
    ).rejects.toThrow(`the server at ${url} refused the key in PROMPTREG_API_KEY: invalid API key`);
    const reader = createAdminClient({ url, apiKey: await h.newKey("read") });
    await expect(reader.post("/keys", { name: "x", role: "read" })).rejects.toThrow(
      "the key in PROMPTREG_API_KEY may not do this:",
    );
    const admin = createAdminClient({ url, apiKey: h.adminKey });
    await expect(admin.post("/projects", { name: "équipe" })).rejects.toThrow(
      `${url} answered 422 validation_error: invalid request body: body.name: must match ^[a-z0-9][a-z0-9_-]{0,62}$`,
    );
    await expect(admin.post("/projects", { name: "team-u" })).rejects.toThrow(
      `${url} answered 409 conflict: project 'team-u' already exists`,
    );
  });

  it("says when nothing answers at the address, something else answers, or the answer does not come", async () => {
    const closed = await listen(createServer());
    const closedUrl = `http://127.0.0.1:${port(closed)}`;
    await close(closed);
    await expect(createAdminClient({ url: closedUrl, apiKey: h.adminKey }).post("/keys", {})).rejects.toThrow(
      new RegExp(
        `^cannot reach promptreg at ${closedUrl} \\(.*ECONNREFUSED.*\\): is the server running, and is --url right\\?$`,
      ),
    );

    const other = await listen(
      createServer((_req, res) => res.writeHead(404, { "Content-Type": "text/html" }).end("<h1>Not Found</h1>")),
    );
    try {
      await expect(
        createAdminClient({ url: `http://127.0.0.1:${port(other)}`, apiKey: h.adminKey }).post("/keys", {}),
      ).rejects.toThrow(
        `http://127.0.0.1:${port(other)} did not answer like a promptreg server: HTTP 404 for POST /api/v1/keys`,
      );
    } finally {
      await close(other);
    }

    const silent = await listen(createServer(() => {}));
    try {
      await expect(
        createAdminClient({ url: `http://127.0.0.1:${port(silent)}`, apiKey: h.adminKey, timeoutMs: 200 }).post(
          "/keys",
          {},
        ),
      ).rejects.toThrow(`no answer from http://127.0.0.1:${port(silent)} within 0.2 s`);
    } finally {
      silent.closeAllConnections();
      await close(silent);
    }
  });
});
