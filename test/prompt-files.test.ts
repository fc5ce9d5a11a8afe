// Prompts as code: `promptreg push` and `promptreg export` in-process through runCli (the function the binary runs),
// against the real app listening on a port, on the suite's database.
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../src/commands.js";
import { readPromptFileText } from "../src/prompt-files/files.js";
import { publishVersion, type VersionInput } from "./helpers/factories.js";
import { createHarness, enc, type Harness } from "./helpers/harness.js";

let h: Harness;
let server: Server;
let url: string;
let writeKey: string;
let readKey: string;
let dir: string;

beforeAll(async () => {
  h = await createHarness();
  writeKey = await h.newKey("write");
  readKey = await h.newKey("read");
  server = createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await h?.close();
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "promptreg-files-"));
  return () => rm(dir, { recursive: true, force: true });
});

async function cli(key: string | undefined, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const env = { LOG_LEVEL: "silent", ...(key ? { PROMPTREG_API_KEY: key } : {}) };
  const code = await runCli(args, { env, out: (t) => out.push(t), err: (t) => err.push(t) });
  if (typeof code !== "number") throw new Error("started a server");
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function put(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
  await writeFile(path.join(dir, file), text);
}

const versionsOf = async (name: string) =>
  (await h.as(h.adminKey).get(`/api/v1/prompts/${enc(name)}/versions`)).body.data.map(
    (v: { version: string }) => v.version,
  );

/**
 * A proxy in front of the app that hands each real publish (not a dry run) to `onPublish` with its number: it
 * answers the publish itself, as a load balancer whose backend is away does, or lets it through.
 */
async function startProxy(onPublish: (n: number) => Promise<"fail" | "forward">) {
  const target = new URL(url);
  let publishes = 0;
  const proxy = createServer(async (req, res) => {
    const body: Buffer[] = [];
    for await (const chunk of req) body.push(chunk as Buffer);
    if (req.method === "POST" && /\/versions$/.test(req.url!) && (await onPublish(++publishes)) === "fail") {
      res.writeHead(503, { "Content-Type": "text/html" }).end("<html><body>503 Service Unavailable</body></html>");
      return;
    }
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.end(Buffer.concat(body));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

describe("promptreg push", () => {
  it("publishes new and changed prompts, bumps by the variable contract, and leaves equal ones alone", async () => {
    await put(
      "files/support/triage.prompt.yaml",
      [
        "description: Sorts a ticket — déjà vu ✓",
        "tags: [support]",
        "config:",
        "  model: gpt-4o-mini",
        "  temperature: 0.25",
        "template: |",
        "  Classify this ticket from {{customer}}:",
        "  {{ticket}}",
        "",
      ].join("\n"),
    );
    await put(
      "files/greet.prompt.yml",
      [
        "template:",
        "  - role: system",
        "    content: Be brief.",
        "  - role: user",
        '    content: "Hi {{name}}"',
        "",
      ].join("\n"),
    );
    const files = path.join(dir, "files");
    const first = await cli(writeKey, "push", files, "--url", url, "--label", "staging", "--message", "from git");
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toBe(
      [
        "+ greet 1.0.0 (new prompt); staging: none -> 1.0.0",
        "+ support/triage 1.0.0 (new prompt); staging: none -> 1.0.0",
        "pushed greet 1.0.0",
        "pushed support/triage 1.0.0",
        "2 new, 0 changed, 0 unchanged: pushed",
      ].join("\n"),
    );
    const triage = (await h.as(readKey).get(`/api/v1/prompts/${enc("support/triage")}/resolve?ref=staging`)).body;
    expect(triage).toMatchObject({
      version: "1.0.0",
      type: "text",
      config: { model: "gpt-4o-mini", temperature: 0.25 },
      template: "Classify this ticket from {{customer}}:\n{{ticket}}\n",
      commitMessage: "from git",
    });
    const detail = (await h.as(readKey).get(`/api/v1/prompts/${enc("support/triage")}`)).body;
    expect(detail).toMatchObject({ description: "Sorts a ticket — déjà vu ✓", tags: ["support"] });

    // Again, unchanged: nothing is published, and --check agrees.
    const again = await cli(writeKey, "push", files, "--url", url, "--label", "staging");
    expect(again.out).toBe(
      [
        "= greet 1.0.0 (unchanged)",
        "= support/triage 1.0.0 (unchanged)",
        "0 new, 0 changed, 2 unchanged: nothing to publish",
      ].join("\n"),
    );
    expect((await cli(writeKey, "push", files, "--url", url, "--check")).code).toBe(0);

    // An optional variable is a minor change; a dry run and --check show it and publish nothing.
    await put(
      "files/support/triage.prompt.yaml",
      [
        "config: { model: gpt-4o-mini, temperature: 0.25 }",
        "template: |",
        "  Classify this ticket from {{customer}}:",
        "  {{ticket}}{{#if tone}} ({{tone}}){{/if}}",
        "",
      ].join("\n"),
    );
    const planned = await cli(writeKey, "push", files, "--url", url, "--dry-run", "--label", "staging");
    expect(planned.code).toBe(0);
    expect(planned.out).toMatch(
      /^= greet 1\.0\.0 \(unchanged\)\n~ support\/triage 1\.0\.0 -> 1\.1\.0 \(minor: .*tone.*\); staging: 1\.0\.0 -> 1\.1\.0\n0 new, 1 changed, 1 unchanged: nothing published \(dry run\)$/,
    );
    const check = await cli(writeKey, "push", files, "--url", url, "--check");
    expect(check.code).toBe(1);
    expect(check.out).toContain("1 prompt(s) differ from their files");
    expect(await versionsOf("support/triage")).toEqual(["1.0.0"]);

    const pushed = await cli(writeKey, "push", files, "--url", url, "--label", "staging");
    expect(pushed.code).toBe(0);
    expect(await versionsOf("support/triage")).toEqual(["1.1.0", "1.0.0"]);
    const staging = (await h.as(readKey).get(`/api/v1/prompts/${enc("support/triage")}/resolve?ref=staging`)).body;
    expect(staging.version).toBe("1.1.0");
    // The description is left as it was when a file does not give one.
    expect((await h.as(readKey).get(`/api/v1/prompts/${enc("support/triage")}`)).body.description).toBe(
      "Sorts a ticket — déjà vu ✓",
    );
  });

  it("publishes a change to a file's description or tags alone, and --check reports it", async () => {
    await put("meta/p.prompt.yaml", "description: first\ntags: [a]\ntemplate: hi {{x}}\n");
    expect((await cli(writeKey, "push", dir, "--url", url)).code).toBe(0);
    await put("meta/p.prompt.yaml", "description: second\ntags: [a]\ntemplate: hi {{x}}\n");
    const check = await cli(writeKey, "push", dir, "--url", url, "--check");
    expect(check.out).toBe(
      [
        "= meta/p 1.0.0 (unchanged); new description",
        "0 new, 0 changed, 1 unchanged: 1 prompt(s) differ from their files",
      ].join("\n"),
    );
    expect(check.code).toBe(1);
    await put("meta/p.prompt.yaml", "description: second\ntags: [a, b]\ntemplate: hi {{x}}\n");
    const planned = await cli(writeKey, "push", dir, "--url", url, "--dry-run");
    expect(planned.out.split("\n")[0]).toBe("= meta/p 1.0.0 (unchanged); new description and tags");
    const pushed = await cli(writeKey, "push", dir, "--url", url);
    expect(pushed.err).toBe("");
    expect(pushed.code).toBe(0);
    expect(pushed.out.split("\n").slice(1)).toEqual(["pushed meta/p 1.0.0", "0 new, 0 changed, 1 unchanged: pushed"]);
    expect((await h.as(readKey).get(`/api/v1/prompts/${enc("meta/p")}`)).body).toMatchObject({
      description: "second",
      tags: ["a", "b"],
    });
    expect(await versionsOf("meta/p")).toEqual(["1.0.0"]);

    await put("meta/p.prompt.yaml", "description: second\ntags: [b]\ntemplate: hi {{x}}\n");
    const tags = await cli(writeKey, "push", dir, "--url", url);
    expect(tags.out.split("\n")[0]).toBe("= meta/p 1.0.0 (unchanged); new tags");
    expect((await h.as(readKey).get(`/api/v1/prompts/${enc("meta/p")}`)).body.tags).toEqual(["b"]);
    expect((await cli(writeKey, "push", dir, "--url", url, "--check")).code).toBe(0);
  });

  it("says which prompts went through when a publish fails midway; pushing again finishes the rest", async () => {
    for (const n of ["a", "b", "c"]) await put(`partial/${n}.prompt.yaml`, `template: ${n} {{x}}\n`);
    const proxy = await startProxy(async (n) => (n === 2 ? "fail" : "forward"));
    try {
      const res = await cli(writeKey, "push", dir, "--url", proxy.url, "--label", "staging");
      expect(res.code).toBe(1);
      expect(res.out.split("\n")).toEqual([
        "+ partial/a 1.0.0 (new prompt); staging: none -> 1.0.0",
        "+ partial/b 1.0.0 (new prompt); staging: none -> 1.0.0",
        "+ partial/c 1.0.0 (new prompt); staging: none -> 1.0.0",
        "pushed partial/a 1.0.0",
      ]);
      const err = res.err.split("\n");
      expect(err[0]).toBe(
        `promptreg: the push stopped at partial/b: ${proxy.url} did not answer like a promptreg server: HTTP 503 for POST /api/v1/prompts/partial%2Fb/versions`,
      );
      expect(err.slice(1)).toEqual([
        "  pushed: partial/a 1.0.0",
        "  failed: partial/b",
        "  not tried: partial/c",
        "pushing again is safe: a prompt already as its file publishes nothing",
      ]);
      expect(await versionsOf("partial/a")).toEqual(["1.0.0"]);
      expect((await h.as(readKey).get(`/api/v1/prompts/${enc("partial/b")}`)).status).toBe(404);
      expect((await h.as(readKey).get(`/api/v1/prompts/${enc("partial/c")}`)).status).toBe(404);

      const again = await cli(writeKey, "push", dir, "--url", proxy.url, "--label", "staging");
      expect(again.err).toBe("");
      expect(again.code).toBe(0);
      // The one that went through is left alone (its label already moved); the others are published.
      expect(again.out).toMatch(
        /^= partial\/a 1\.0\.0 \(unchanged\)\n(\+ .*\n){2}pushed partial\/b 1\.0\.0\npushed partial\/c 1\.0\.0\n2 new, 0 changed, 1 unchanged: pushed$/,
      );
      for (const n of ["a", "b", "c"])
        expect(
          (await h.as(readKey).get(`/api/v1/prompts/${enc(`partial/${n}`)}/resolve?ref=staging`)).body.version,
        ).toBe("1.0.0");
    } finally {
      await proxy.close();
    }
  });

  it("warns when another version is published between the plan and the push", async () => {
    expect(
      (await h.as(writeKey).post(`/api/v1/prompts/${enc("race/p")}/versions`, { template: "one {{x}}" })).status,
    ).toBe(201);
    await put("race/p.prompt.yaml", "template: two {{x}}\n");
    const proxy = await startProxy(async () => {
      const theirs = await h
        .as(writeKey)
        .post(`/api/v1/prompts/${enc("race/p")}/versions`, { template: "three {{x}}" });
      expect(theirs.status).toBe(201);
      return "forward";
    });
    try {
      const res = await cli(writeKey, "push", dir, "--url", proxy.url);
      expect(res.code).toBe(0);
      const [ours, theirs] = await versionsOf("race/p");
      // Both changes are of the same kind, so the one in between took the version the plan had for the file.
      expect(res.out).toMatch(new RegExp(`^~ race/p 1\\.0\\.0 -> ${theirs.replaceAll(".", "\\.")} \\(`));
      expect(res.out.split("\n").slice(1)).toEqual([`pushed race/p ${ours}`, "0 new, 1 changed, 0 unchanged: pushed"]);
      expect(res.err).toBe(
        `promptreg: warning: race/p was pushed as ${ours}, not ${theirs} as planned: another version was published in between`,
      );
    } finally {
      await proxy.close();
    }
  });

  it("checks every file with the server before publishing any: one bad file and nothing is written", async () => {
    await put("ok.prompt.yaml", "template: Hello {{name}}\n");
    await put(
      "broken.prompt.yaml",
      ["description: x", "template: |", "  line one", "  {{#if a}}never closed", ""].join("\n"),
    );
    await put(
      "chat/lookaround.prompt.yaml",
      [
        "variablesSchema:",
        "  type: object",
        "  properties: { code: { type: string, pattern: '^(?=x)' } }",
        "template:",
        "  - role: user",
        "    content: '{{code}}'",
        "",
      ].join("\n"),
    );
    const res = await cli(writeKey, "push", dir, "--url", url);
    expect(res.code).toBe(1);
    expect(res.out).toBe("");
    expect(res.err).toMatch(/^promptreg: nothing was pushed; fix these first:\n/);
    // Handlebars finds the error at the template's end, its line 3 (after the last newline): the block's last line.
    expect(res.err).toMatch(
      /\n {2}broken\.prompt\.yaml:4: .*answered 422 invalid_template: Parse error at line 3, column \d+:/,
    );
    // The parse error spans lines: each is under its problem, further in.
    const lines = res.err.split("\n").slice(1);
    expect(lines.every((line) => /^ {2}\S/.test(line) || /^ {4}/.test(line))).toBe(true);
    expect(lines.filter((line) => /^ {4}/.test(line)).length).toBeGreaterThan(0);
    expect(res.err).toMatch(
      /\n {2}chat\/lookaround\.prompt\.yaml: .*answered 422 invalid_template: pattern "\^\(\?=x\)" is not supported/,
    );
    expect((await h.as(h.adminKey).get("/api/v1/prompts/ok")).status).toBe(404);
  });

  it("names the file, line and field of each local problem, reading all files first", async () => {
    await put("a.prompt.yaml", "template: [unclosed\n");
    await put("b.prompt.yaml", "templat: typo\n");
    await put("c.prompt.yaml", "template: ok\nconfig: 3\n");
    await put("d.prompt.yaml", "template: x\ntemplate: y\n");
    await put("chat/bad-role.prompt.yaml", ["template:", "  - role: wizard", "    content: hi", ""].join("\n"));
    await put("Bad Name.prompt.yaml", "template: x\n");
    await put("e.prompt.yaml", "template: x\n");
    await put("e.prompt.yml", "template: y\n");
    await put("notes.md", "not a prompt file");
    const res = await cli(writeKey, "push", dir, "--url", url);
    expect(res.code).toBe(1);
    const lines = res.err.split("\n").slice(1);
    expect(lines).toEqual([
      expect.stringMatching(/^ {2}Bad Name\.prompt\.yaml: 'Bad Name' is not a prompt name/),
      "  a.prompt.yaml:2: Flow sequence in block collection must be sufficiently indented and end with a ]",
      "  b.prompt.yaml: template: required: the prompt's text, or a list of chat messages",
      '  b.prompt.yaml:1: Unrecognized key: "templat"',
      "  c.prompt.yaml:2: config: Invalid input: expected record, received number",
      '  chat/bad-role.prompt.yaml:2: template.0.role: must be one of system, developer, user, assistant, got "wizard"',
      "  d.prompt.yaml:2: Map keys must be unique",
      "  e.prompt.yml: the prompt 'e' is also defined by e.prompt.yaml",
    ]);
  });

  it("reads no links and no hidden folders: a link is named as a problem, a hidden folder is skipped", async () => {
    const files = path.join(dir, "files");
    await put("files/links/a.prompt.yaml", "template: a\n");
    await put("files/.git/x.prompt.yaml", "template: x\n");
    await put("files/.archive/old.prompt.yaml", "template: old\n");
    await put("shared/s.prompt.yaml", "template: s\n");
    await put("shared/notes.md", "notes");
    await symlink(".", path.join(files, "loop"));
    await symlink(path.join(dir, "shared"), path.join(files, "linked"));
    await symlink("a.prompt.yaml", path.join(files, "links/b.prompt.yaml"));
    await symlink("nowhere.prompt.yaml", path.join(files, "links/dangling.prompt.yaml"));
    await symlink(path.join(dir, "shared/notes.md"), path.join(files, "notes.md"));
    const res = await cli(writeKey, "push", files, "--url", url, "--dry-run");
    expect(res.out).toBe("");
    expect(res.err.split("\n").slice(1)).toEqual([
      expect.stringMatching(/^ {2}linked: a link to a folder; /),
      expect.stringMatching(/^ {2}links\/b\.prompt\.yaml: a link; /),
      expect.stringMatching(/^ {2}links\/dangling\.prompt\.yaml: a link; /),
      expect.stringMatching(/^ {2}loop: a link to a folder; /),
    ]);
    expect(res.code).toBe(1);

    for (const link of ["loop", "linked", "links/b.prompt.yaml", "links/dangling.prompt.yaml"])
      await rm(path.join(files, link));
    const planned = await cli(writeKey, "push", files, "--url", url, "--dry-run");
    expect(planned.err).toBe("");
    expect(planned.out).toBe(
      ["+ links/a 1.0.0 (new prompt)", "1 new, 0 changed, 0 unchanged: nothing published (dry run)"].join("\n"),
    );
  });

  it("maps a template error at a block's end to its last line, and a folded block's first line to its text", async () => {
    await put(
      "chat-end.prompt.yaml",
      [
        "template:",
        "  - role: system",
        "    content: |",
        "      Be brief.",
        "      {{#if x}}open",
        "  - role: user",
        "    content: hi",
        "",
      ].join("\n"),
    );
    await put("folded.prompt.yaml", ["template: >", "  Hello {{name}", "  and welcome", ""].join("\n"));
    const res = await cli(writeKey, "push", dir, "--url", url, "--dry-run");
    expect(res.code).toBe(1);
    expect(res.err).toMatch(
      /\n {2}chat-end\.prompt\.yaml:5: .*invalid_template: messages\[0\]: Parse error at line 3, column \d+:/,
    );
    expect(res.err).toMatch(/\n {2}folded\.prompt\.yaml:2: .*invalid_template: Parse error at line 1, column \d+:/);
  });

  it("names each file that cannot be a prompt file, without reading what is too large", async () => {
    await mkdir(path.join(dir, "folder.prompt.yaml"));
    await put("folder.prompt.yaml/inner.txt", "x");
    await writeFile(path.join(dir, "latin1.prompt.yaml"), Buffer.from("template: caf\xe9\n", "latin1"));
    await put("number.prompt.yaml", "template: 42\n");
    await put("empty.prompt.yaml", "");
    await put("comment.prompt.yaml", "# nothing yet\n");
    await put("list.prompt.yaml", "- template: x\n");
    await put("nan.prompt.yaml", ["config:", "  temperature: .nan", "template: x", ""].join("\n"));
    await put(
      "inf.prompt.yaml",
      ["variablesSchema:", "  properties:", "    n: { maximum: .inf }", "template: x", ""].join("\n"),
    );
    // Sparse: 3 GiB on the disk's say-so, more than a read of it into memory could hold.
    await put("huge.prompt.yaml", "");
    await truncate(path.join(dir, "huge.prompt.yaml"), 3 * 1024 ** 3);
    const res = await cli(writeKey, "push", dir, "--url", url, "--dry-run");
    expect(res.err.split("\n").slice(1)).toEqual([
      "  comment.prompt.yaml: the file is empty",
      "  empty.prompt.yaml: the file is empty",
      "  folder.prompt.yaml: a folder, not a prompt file",
      `  huge.prompt.yaml: ${3 * 1024 ** 3} bytes; a prompt file may have at most 1048576`,
      "  inf.prompt.yaml:3: variablesSchema.properties.n.maximum: .inf is not a number JSON can carry",
      "  latin1.prompt.yaml: not UTF-8 text (save the file as UTF-8)",
      "  list.prompt.yaml:1: the file must be a mapping of fields (template: and optionally description, tags, config, variablesSchema)",
      "  nan.prompt.yaml:2: config.temperature: .nan is not a number JSON can carry",
      "  number.prompt.yaml:1: template: must be the prompt's text (a string) or a list of chat messages",
    ]);
    expect(res.code).toBe(1);
  });

  it("refuses wrong usage, a read key, and a server that is not there, saying what to do", async () => {
    await put("x.prompt.yaml", "template: x\n");
    const noUrl = await cli(writeKey, "push", dir);
    expect(noUrl).toMatchObject({ code: 2, err: expect.stringContaining("--url is required") });
    const badLabel = await cli(writeKey, "push", dir, "--url", url, "--label", "Prod");
    expect(badLabel).toMatchObject({ code: 2, err: expect.stringContaining("--label 'Prod' is not a label name") });
    const latest = await cli(writeKey, "push", dir, "--url", url, "--label", "latest");
    expect(latest).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^promptreg: --label: label 'latest' is kept on/),
    });
    const noKey = await cli(undefined, "push", dir, "--url", url);
    expect(noKey).toMatchObject({ code: 2, err: expect.stringContaining("PROMPTREG_API_KEY") });
    const key = await cli(writeKey, "push", dir, "--url", url, "--key", writeKey);
    expect(key).toMatchObject({ code: 2, err: expect.stringContaining("refusing --key") });
    const reader = await cli(readKey, "push", dir, "--url", url);
    expect(reader).toMatchObject({
      code: 1,
      err: expect.stringContaining("the key in PROMPTREG_API_KEY may not do this"),
    });
    const empty = await mkdtemp(path.join(tmpdir(), "promptreg-empty-"));
    const none = await cli(writeKey, "push", empty, "--url", url);
    expect(none).toMatchObject({ code: 2, err: expect.stringContaining("no prompt files (*.prompt.yaml)") });
    await rm(empty, { recursive: true });
    const missing = await cli(writeKey, "push", path.join(dir, "nope"), "--url", url);
    expect(missing).toMatchObject({ code: 1, err: expect.stringContaining("cannot read the folder") });
    const down = createServer();
    await new Promise<void>((resolve) => down.listen(0, "127.0.0.1", resolve));
    const downUrl = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => down.close(() => resolve()));
    const unreachable = await cli(writeKey, "push", dir, "--url", downUrl);
    expect(unreachable).toMatchObject({
      code: 1,
      err: expect.stringContaining(`cannot reach promptreg at ${downUrl}`),
    });
    // --check answers 1 only for "the registry differs": that it could not tell is 3.
    const unchecked = await cli(writeKey, "push", dir, "--url", downUrl, "--check");
    expect(unchecked).toMatchObject({ code: 3, err: expect.stringContaining(`cannot reach promptreg at ${downUrl}`) });
    await put("y.prompt.yaml", "templat: x\n");
    const problems = await cli(writeKey, "push", dir, "--url", url, "--check");
    expect(problems).toMatchObject({ code: 3, err: expect.stringContaining("y.prompt.yaml") });
  });
});

describe("promptreg export", () => {
  it("writes files that push back unchanged: multi-line text, chat, schema, unicode, trailing spaces", async () => {
    const admin = h.as(h.adminKey);
    const texts: Record<string, VersionInput> = {
      "export/long": {
        template: "Line one  \n\tTabbed {{a}}\n\n— “quoted” ✓ 漢字\n",
        config: { model: "gpt-4o-mini", temperature: 0.7, stop: ["\n\n", "END"], nested: { big: 12345678901234 } },
        variablesSchema: { type: "object", properties: { a: { type: "string", pattern: "^[a-z]+$" } } },
        description: "A long one",
        tags: ["x", "y"],
      },
      "export/chat": {
        template: [
          { role: "system", content: "You are terse.\nNo emojis." },
          { type: "placeholder", name: "history" },
          { role: "user", content: "{{question}}" },
        ],
      },
      "export/plain": { template: "yes", labels: ["production"] },
      "export/numberish": { template: "1.0" },
    };
    for (const [name, body] of Object.entries(texts)) await publishVersion(admin, name, body);
    await publishVersion(admin, "export/long", "{{a}} v2");
    // A prompt without the ref asked for is skipped, and said so; the others are written.
    const staged = await cli(readKey, "export", dir, "--url", url, "--prefix", "export", "--ref", "production");
    expect(staged.code).toBe(0);
    expect(staged.out).toMatch(/skipped export\/chat: /);
    expect(staged.out).toContain("wrote export/plain.prompt.yaml (1.0.0)");
    // A ref no prompt has (a typo, say) writes nothing: a failure, not a success with nothing in it.
    const typo = await cli(readKey, "export", dir, "--url", url, "--prefix", "export", "--ref", "prodution");
    expect(typo.out).toMatch(/skipped export\/chat: /);
    expect(typo.err).toBe("promptreg: no prompt file written: every prompt was skipped (is --ref right?)");
    expect(typo.code).toBe(1);

    const res = await cli(readKey, "export", dir, "--url", url, "--prefix", "export");
    expect(res.code, res.err).toBe(0);
    expect(res.out.split("\n")).toEqual([
      "wrote export/chat.prompt.yaml (1.0.0)",
      "wrote export/long.prompt.yaml (2.0.0)",
      "wrote export/numberish.prompt.yaml (1.0.0)",
      "wrote export/plain.prompt.yaml (1.0.0)",
      `4 prompt file(s) written to ${dir}`,
    ]);
    const chat = await readFile(path.join(dir, "export/chat.prompt.yaml"), "utf8");
    expect(chat).toContain("content: |-\n      You are terse.\n      No emojis.");

    const back = await cli(writeKey, "push", dir, "--url", url, "--check");
    expect(back.out.split("\n").at(-1)).toBe("0 new, 0 changed, 4 unchanged: the registry matches the files");
    expect(back.code).toBe(0);

    // The first version's file, exported by its exact version, pushes back as a change (back to the old content).
    await rm(dir, { recursive: true });
    await cli(readKey, "export", dir, "--url", url, "--prefix", "export", "--ref", "1.0.0");
    const long = await readFile(path.join(dir, "export/long.prompt.yaml"), "utf8");
    expect(long).toContain("template: |\n  Line one  \n  \tTabbed {{a}}\n\n  — “quoted” ✓ 漢字\n");
    const revert = await cli(writeKey, "push", dir, "--url", url, "--dry-run");
    expect(revert.out).toMatch(/^= export\/chat 1\.0\.0 \(unchanged\)\n~ export\/long 2\.0\.0 -> 3\.0\.0 \(major: /);
  });
});

describe("promptreg export from a registry that sends hostile names", () => {
  /**
   * A registry that lists `names` and answers every resolve with the same real version: what export writes is decided
   * by the names alone.
   */
  async function hostileRegistry(names: string[]) {
    const admin = h.as(h.adminKey);
    expect([200, 201]).toContain(
      (await admin.post("/api/v1/prompts/hostile-template/versions", { template: "pwned {{x}}" })).status,
    );
    const version = (await admin.get("/api/v1/prompts/hostile-template/resolve?ref=latest")).body;
    const item = (await admin.get("/api/v1/prompts?limit=200")).body.data.find(
      (p: { name: string }) => p.name === "hostile-template",
    );
    expect(item).toBeDefined();
    const fake = createServer((req, res) => {
      res.setHeader("Content-Type", "application/json");
      if (req.url!.startsWith("/api/v1/prompts?"))
        res.end(JSON.stringify({ data: names.map((name) => ({ ...item, name })), nextCursor: null }));
      else res.end(JSON.stringify(version));
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    return {
      url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => fake.close(() => resolve())),
    };
  }

  it("writes nothing outside the folder: traversal names and a folder link are refused, the rest is exported", async () => {
    const outside = await mkdtemp(path.join(tmpdir(), "promptreg-outside-"));
    const target = path.join(dir, "out");
    await mkdir(target);
    await symlink(outside, path.join(target, "linked"));
    const registry = await hostileRegistry([
      "../../escaped-relative",
      "ok/../../../escaped-mixed",
      "/etc/escaped-absolute",
      "linked/inside",
      "a".repeat(255),
      "b".repeat(240),
      "fine/one",
    ]);
    try {
      const res = await cli(readKey, "export", target, "--url", registry.url);
      expect(res.code, res.err).toBe(0);
      const lines = res.out.split("\n");
      expect(lines).toContain("wrote fine/one.prompt.yaml (1.0.0)");
      // A name whose file name is near the limit is written (its temporary file's name is short).
      expect(lines).toContain(`wrote ${"b".repeat(240)}.prompt.yaml (1.0.0)`);
      for (const name of ["../../escaped-relative", "ok/../../../escaped-mixed", "/etc/escaped-absolute"])
        expect(lines).toContain(
          `skipped ${name}: the registry sent a name that is not a prompt name; nothing written for it`,
        );
      expect(lines).toContain("skipped linked/inside: linked is a link; export does not write through links");
      expect(res.out).toMatch(
        /skipped a{255}: its file name would be 267 bytes long, and file systems allow 255: shorten the prompt's name/,
      );
      expect(lines.at(-1)).toBe(`2 prompt file(s) written to ${target}`);
      // Nothing landed anywhere else: not beside the folder, not above it, not through the link.
      const { readdir } = await import("node:fs/promises");
      expect(await readdir(outside)).toEqual([]);
      expect((await readdir(dir)).sort()).toEqual(["out"]);
      expect((await readdir(target)).sort()).toEqual([`${"b".repeat(240)}.prompt.yaml`, "fine", "linked"]);
      expect(await readdir(path.join(target, "fine"))).toEqual(["one.prompt.yaml"]);
    } finally {
      await registry.close();
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("replaces an existing file, never a link standing where the file goes", async () => {
    const outside = await mkdtemp(path.join(tmpdir(), "promptreg-outside-"));
    await writeFile(path.join(outside, "secret.txt"), "keep me");
    await symlink(path.join(outside, "secret.txt"), path.join(dir, "victim.prompt.yaml"));
    await writeFile(path.join(dir, "fine.prompt.yaml"), "old");
    const registry = await hostileRegistry(["victim", "fine"]);
    try {
      const res = await cli(readKey, "export", dir, "--url", registry.url);
      expect(res.out).toContain("skipped victim: victim.prompt.yaml is a link; export replaces only regular files");
      expect(await readFile(path.join(outside, "secret.txt"), "utf8")).toBe("keep me");
      expect(await readFile(path.join(dir, "fine.prompt.yaml"), "utf8")).toContain("pwned {{x}}");
    } finally {
      await registry.close();
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe("push reads each file once, without following a link", () => {
  it("refuses a file that became a link after the folder was listed, and never reads the link's target", async () => {
    const outside = await mkdtemp(path.join(tmpdir(), "promptreg-outside-"));
    await writeFile(path.join(outside, "secret.prompt.yaml"), "template: the outside file's content\n");
    // What push finds when the file it listed was swapped for a link before it read it.
    await symlink(path.join(outside, "secret.prompt.yaml"), path.join(dir, "swapped.prompt.yaml"));
    try {
      const read = await readPromptFileText(path.join(dir, "swapped.prompt.yaml"));
      expect(read).toEqual({
        problem: expect.stringMatching(/became a link while push ran; push does not follow links/),
      });
      await writeFile(path.join(dir, "plain.prompt.yaml"), "template: hi\n");
      expect(await readPromptFileText(path.join(dir, "plain.prompt.yaml"))).toBe("template: hi\n");
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});
