// A label's gate through the real app on a real database, with real experiments against a fake model on 127.0.0.1:
// a move to a version without an experiment is refused naming what is missing, a version that regressed is refused
// naming the experiment and the evaluator, one that did not passes (the ledger says which experiment showed it), an
// admin's override with a reason is in the ledger, a rollback is never gated, and a publish or push with the label
// goes through the same rule and writes nothing when refused. And the CLI's release step: `promptreg experiment run
// --fail-on regression` exits 1 on the regressed version, 0 on the other; `promptreg dataset import|export`.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAs } from "./helpers/cli.js";
import { publishVersion, seedExperimentProject } from "./helpers/factories.js";
import { type FakeModel, startFakeModel } from "./helpers/fake-model.js";
import { gateAnswer, gateItems } from "./helpers/gate-model.js";
import { type Client, client, createHarness, enc, type Harness } from "./helpers/harness.js";
import { settledJobs } from "./helpers/settled-jobs.js";

let h: Harness;
let model: FakeModel;
let server: Server;
let url: string;
let writeKey: string;
const jobs = settledJobs();
const admin = (): Client => client(h.app, h.adminKey);
const PROMPT = "support/answer";
const ITEMS = 40;

beforeAll(async () => {
  model = await startFakeModel(gateAnswer);
  h = await createHarness({
    allowPrivateConnections: true,
    jobs: { pollMs: 50, retryBaseMs: 20, retryMaxMs: 100, onSettled: jobs.onSettled },
  });
  writeKey = await h.newKey("write");
  server = createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const as = admin();
  await publishVersion(as, PROMPT, { template: "Answer {{q}}", commitMessage: "v1", labels: ["production"] });
  for (const [template, bump] of [
    ["Answer {{q}} briefly", "minor"],
    ["Answer {{q}} kindly", "minor"],
  ])
    await publishVersion(as, PROMPT, { template, bump } as never);
  await seedExperimentProject(as, model.url, gateItems(ITEMS));
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await h?.close();
  await model?.close();
});

/** One `promptreg` command in-process, as the binary runs it, with the admin key. */
const cli = (...args: string[]) => cliAs(h.adminKey)(...args);

const move = (version: string, extra: Record<string, unknown> = {}, as = admin()) =>
  as.put(`/api/v1/prompts/${enc(PROMPT)}/labels/production`, { version, ...extra });
const history = async () =>
  (await admin().get(`/api/v1/prompts/${enc(PROMPT)}/labels/production/history?limit=1`)).body.data[0];

async function runExperiment(versions: string[]): Promise<string> {
  const created = await admin().post("/api/v1/experiments", {
    dataset: "golden",
    prompt: PROMPT,
    versions,
    connection: "model",
    evaluators: ["no-bad"],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await jobs.until(
    async () => (await admin().get(`/api/v1/experiments/${created.body.id}`)).body.status === "finished",
  );
  return created.body.id;
}

describe("gates", () => {
  it("is set by an admin only, on a dataset and evaluators that exist", async () => {
    const body = { dataset: "golden", evaluators: ["no-bad"] };
    expect((await client(h.app, writeKey).put("/api/v1/gates/production", body)).status).toBe(403);
    const bad = await admin().put("/api/v1/gates/production", { dataset: "nope", evaluators: ["no-bad", "ghost"] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual([
      "body.dataset",
      "body.evaluators.1",
    ]);
    const put = await admin().put("/api/v1/gates/production", body);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ label: "production", dataset: "golden", evaluators: ["no-bad"], alpha: 0.05 });
    expect((await admin().get("/api/v1/gates")).body.data).toHaveLength(1);
    // A gate for other prompts only does not touch this one.
    await admin()
      .put("/api/v1/gates/staging", { ...body, prefix: "billing/" })
      .expect(200);
    await admin()
      .put(`/api/v1/prompts/${enc(PROMPT)}/labels/staging`, { version: "1.1.0" })
      .expect(200);
  });

  it("refuses a move without an experiment, naming what it needs; nothing moves", async () => {
    const refused = await move("1.1.0");
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("gate_failed");
    expect(refused.body.error.message).toMatch(
      /needs a finished experiment of support\/answer 1\.1\.0 against 1\.0\.0 \(what 'production' holds\) on dataset 'golden' version 1 with evaluator no-bad; there is none/,
    );
    expect(refused.body.error.details.gate).toMatchObject({ allowed: false, experiment: null, holds: "1.0.0" });
    expect((await history()).toVersion).toBe("1.0.0");
  });

  it("refuses a version that regressed significantly and passes one that did not, recording the experiment", async () => {
    const id = await runExperiment(["1.0.0", "1.1.0", "1.2.0"]);
    const check = await admin().get(`/api/v1/gates/production/check?prompt=${enc(PROMPT)}&version=1.1.0`);
    expect(check.body).toMatchObject({ gated: true, allowed: false, experiment: id });
    expect(check.body.failures).toEqual([expect.objectContaining({ evaluator: "no-bad", regressed: 12, improved: 3 })]);
    expect(Math.abs(check.body.failures[0].pValue - 0.03515625)).toBeLessThan(1e-12);

    const refused = await move("1.1.0");
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain(`experiment ${id} found a significant regression`);
    expect(refused.body.error.message).toMatch(
      /no-bad 90\.0% → 67\.5%, 12 items regressed and 3 improved, p = 0\.0352/,
    );

    const passed = await move("1.2.0", { reason: "kinder" });
    expect(passed.status, JSON.stringify(passed.body)).toBe(200);
    expect(await history()).toMatchObject({
      toVersion: "1.2.0",
      reason: "kinder",
      gate: { outcome: "passed", experiment: id },
    });
  });

  it("lets an admin override with a reason, in the ledger; a rollback is never gated", async () => {
    const protectedByWrite = await move("1.1.0", { override: true, reason: "hotfix" }, client(h.app, writeKey));
    expect(protectedByWrite.status).toBe(403);
    // A write key may move an unprotected gated label, but not override its gate.
    await admin()
      .put("/api/v1/gates/canary", { dataset: "golden", evaluators: ["no-bad"] })
      .expect(200);
    await client(h.app, writeKey)
      .put(`/api/v1/prompts/${enc(PROMPT)}/labels/canary`, { version: "1.0.0" })
      .expect(200);
    const byWrite = await client(h.app, writeKey).put(`/api/v1/prompts/${enc(PROMPT)}/labels/canary`, {
      version: "1.1.0",
      override: true,
      reason: "hotfix",
    });
    expect(byWrite.status).toBe(403);
    expect(byWrite.body.error.message).toMatch(/only an admin key may override the gate on 'canary'/);

    const noReason = await move("1.1.0", { override: true });
    expect(noReason.status).toBe(422);
    expect(noReason.body.error.details.issues[0].path).toBe("body.reason");

    const overridden = await move("1.1.0", { override: true, reason: "legal asked for the shorter answer" });
    expect(overridden.status, JSON.stringify(overridden.body)).toBe(200);
    const entry = await history();
    expect(entry).toMatchObject({
      toVersion: "1.1.0",
      actor: expect.any(String),
      reason: "legal asked for the shorter answer",
      gate: { outcome: "overridden", experiment: expect.any(String) },
    });
    expect(entry.gate.detail).toMatch(/significant regression/);

    const back = await admin().post(`/api/v1/prompts/${enc(PROMPT)}/labels/production/rollback`, {
      reason: "bad idea",
    });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.version).toBe("1.2.0");
    expect((await history()).gate).toBeNull();
  });

  it("asks for an experiment on the dataset's latest version", async () => {
    await admin()
      .post("/api/v1/datasets/golden/items", { items: [{ id: "case-99", variables: { q: "case 99" } }] })
      .expect(200);
    const refused = await move("1.0.0");
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/on dataset 'golden' version 2 with evaluator no-bad; there is none/);
  });

  it("applies to a publish with the label, which then writes nothing, and to `promptreg push --label`", async () => {
    const before = (await admin().get(`/api/v1/prompts/${enc(PROMPT)}/versions`)).body.data.length;
    const published = await admin().post(`/api/v1/prompts/${enc(PROMPT)}/versions`, {
      template: "Answer {{q}} at length",
      labels: ["production"],
    });
    expect(published.status).toBe(409);
    expect(published.body.error.code).toBe("gate_failed");
    expect((await admin().get(`/api/v1/prompts/${enc(PROMPT)}/versions`)).body.data.length).toBe(before);

    const dir = await mkdtemp(path.join(tmpdir(), "promptreg-gate-"));
    try {
      // A file's path names its prompt: support/answer is support/answer.prompt.yaml.
      await mkdir(path.join(dir, "support"));
      await writeFile(path.join(dir, "support", "answer.prompt.yaml"), 'template: "Answer {{q}} at length"\n');
      const push = (...extra: string[]) => cli("push", dir, "--url", url, "--label", "production", ...extra);
      const refused = await push();
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/the gate on 'production' refuses support\/answer@1\.2\.1/);
      expect((await admin().get(`/api/v1/prompts/${enc(PROMPT)}/versions`)).body.data.length).toBe(before);
      const forced = await push("--override", "release train");
      expect(forced.code, forced.err).toBe(0);
      expect(await history()).toMatchObject({
        toVersion: "1.2.1",
        reason: "release train",
        gate: { outcome: "overridden" },
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the CLI's release step", () => {
  it("imports and exports a dataset; a file with a problem names its line and stores nothing", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "promptreg-ds-"));
    try {
      const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: `c${i}`, variables: { q: `case ${i}` } }));
      await writeFile(path.join(dir, "cases.jsonl"), `${lines.join("\n")}\n`);
      const imported = await cli("dataset", "import", "cli-cases", path.join(dir, "cases.jsonl"), "--url", url);
      expect(imported.code, imported.err).toBe(0);
      expect(imported.out).toMatch(/created dataset cli-cases\ncli-cases version 1: 5 added, 0 replaced, 0 removed/);
      await writeFile(path.join(dir, "bad.csv"), 'id,q\nc9,"fine"\nc10,"broken\n');
      const bad = await cli("dataset", "import", "cli-cases", path.join(dir, "bad.csv"), "--url", url);
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/nothing was imported from .*bad\.csv; fix these first:\n {2}line 3: /);
      expect((await admin().get("/api/v1/datasets/cli-cases")).body).toMatchObject({ version: 1, itemCount: 5 });
      // A refused first file leaves no empty dataset behind.
      expect((await cli("dataset", "import", "cli-new", path.join(dir, "bad.csv"), "--url", url)).code).toBe(1);
      expect((await admin().get("/api/v1/datasets/cli-new")).status).toBe(404);
      const out = path.join(dir, "out.jsonl");
      const exported = await cli("dataset", "export", "cli-cases", "--url", url, "--out", out);
      expect(exported.code, exported.err).toBe(0);
      const back = (await readFile(out, "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(back.map((item: { id: string }) => item.id)).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("`experiment run --fail-on regression` exits 1 on a significant regression and lists the items", async () => {
    const run = (versions: string) =>
      cli(
        "experiment",
        "run",
        "--url",
        url,
        "--dataset",
        "golden",
        "--prompt",
        PROMPT,
        "--versions",
        versions,
        "--connection",
        "model",
        "--evaluators",
        "no-bad",
        "--fail-on",
        "regression",
      );
    const worse = await run("1.0.0,1.1.0");
    expect(worse.code, worse.err).toBe(1);
    expect(worse.out).toMatch(/1\.1\.0 against 1\.0\.0: 1\.1\.0 is significantly worse than 1\.0\.0/);
    expect(worse.out).toMatch(/no-bad: .*\(12 regressed, 3 improved, McNemar p = 0\.0352\) worse/);
    expect(worse.out).toMatch(/regressed: case-00, case-01, .*case-09, and 2 more/);
    expect(worse.err).toMatch(/a candidate regressed \(--fail-on regression\)/);
    const fine = await run("1.0.0,1.2.0");
    expect(fine.code, fine.err).toBe(0);
    expect(fine.out).toMatch(/no-bad: .* no_difference/);
    const usage = await cli("experiment", "run", "--url", url, "--dataset", "golden");
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--prompt is required/);
  }, 120_000);
});

describe("no way around a gate", () => {
  it("compares with what a deleted label held, counts a task's errors as failures, and gates a rollback to a version never held", async () => {
    // 2.0.0 needs a variable no item has: every one of its items is an error, never judged.
    await publishVersion(admin(), PROMPT, { template: "Answer {{q}} for {{customer}}" });
    await admin()
      .put("/api/v1/gates/beta", { dataset: "golden", evaluators: ["no-bad"] })
      .expect(200);
    const id = await runExperiment(["1.0.0", "2.0.0"]);
    const beta = (version: string, extra: Record<string, unknown> = {}) =>
      admin().put(`/api/v1/prompts/${enc(PROMPT)}/labels/beta`, { version, ...extra });
    // A label that never held a version needs the experiment of the version alone.
    expect((await beta("1.0.0")).status).toBe(200);
    const broken = await beta("2.0.0");
    expect(broken.status).toBe(409);
    expect(broken.body.error.message).toContain(`experiment ${id} found a significant regression`);
    expect(broken.body.error.details.gate.failures[0]).toMatchObject({ evaluator: "no-bad", candidatePassRate: 0 });

    await admin()
      .delete(`/api/v1/prompts/${enc(PROMPT)}/labels/beta`)
      .expect(204);
    const afterDelete = await beta("2.0.0");
    expect(afterDelete.status).toBe(409);
    expect(afterDelete.body.error.details.gate.holds).toBe("1.0.0");
    expect(afterDelete.body.error.message).toContain(`experiment ${id} found a significant regression`);

    const rollbackTo = (to: string) =>
      admin().post(`/api/v1/prompts/${enc(PROMPT)}/labels/beta/rollback`, { to, reason: "back" });
    expect((await rollbackTo("2.0.0")).body.error?.code).toBe("gate_failed");
    const back = await rollbackTo("1.0.0");
    expect(back.status, JSON.stringify(back.body)).toBe(200);
  }, 120_000);

  it("trusts only the server's verdicts: a client evaluator may not take a server evaluator's name", async () => {
    const created = await admin().post("/api/v1/experiments", {
      dataset: "golden",
      prompt: PROMPT,
      versions: ["1.0.0"],
      mode: "client",
      clientEvaluators: ["no-bad", "exact_match", "mine"],
    });
    expect(created.status).toBe(422);
    expect(created.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual([
      "body.clientEvaluators.0",
      "body.clientEvaluators.1",
    ]);
  });
});
