// Every write route of the app, against the after-commit hook: once a write has answered, another instance's answer
// to a read the write changes has changed too (its caches dropped what the write touched, at once, not when their
// entries expire), and the hook heard what changed. The list of write routes is read from the app's router, so a
// new one without a case here fails. On PostgreSQL two instances share one database; an embedded database belongs to
// one process, so there the writer's own caches are checked.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import type { Database } from "../src/db/client.js";
import { type ChangeOrigin, createInvalidationBus, type InvalidationBus } from "../src/db/invalidation.js";
import type { Change } from "../src/db/writes.js";
import { SESSION_COOKIE, csrfTokenFor } from "../src/auth/sessions.js";
import { TEST_DATABASE_URL, createTestDatabase, silentLogger, type TestDatabase } from "./helpers/harness.js";
import { newTraceId, otlpJson } from "./helpers/otlp.js";
import { routesOf } from "./helpers/routes.js";

if (!TEST_DATABASE_URL)
  console.log(
    "after-commit.test.ts: second instance skipped: an embedded database belongs to one process, so the writer's own caches are checked; set TEST_DATABASE_URL to check another instance's over LISTEN/NOTIFY",
  );

const KEY = "pr_after_commit_admin_key_0000000000";

interface Instance {
  app: ReturnType<typeof createApp>["app"];
  bus: InvalidationBus;
  database: Database;
  close(): Promise<void>;
  /** What the hook told this instance, and from where. */
  heard: { change: Change; origin: ChangeOrigin }[];
}

type Call = (on: Instance) => request.Test;
const call = (method: "get" | "post" | "put" | "patch" | "delete", path: string, body?: object, key = KEY): Call => {
  return (on) => {
    const t = request(on.app)[method](path).set("Authorization", `Bearer ${key}`);
    return body === undefined ? t : t.send(body);
  };
};
/** A POST of a file (not JSON) to `path`. */
const upload =
  (path: string, type: string, text: string): Call =>
  (on) =>
    request(on.app).post(path).set("Authorization", `Bearer ${KEY}`).set("Content-Type", type).send(text);

interface WriteCase {
  /** Run on the writer first; what the read must then see changed is made here. */
  setup?: (writer: Instance) => Promise<void>;
  /** The write, on the writer, and the status it answers. */
  write: Call;
  status: number;
  /** A read whose answer the write changes, on the other instance: warm before, changed after. */
  read: (on: Instance) => Promise<unknown>;
  /** What the hook must hear, in order (each matched as a subset). Writes of tables no cache holds announce none. */
  changes: object[];
}

/** A POST that writes nothing. */
interface ReadOnlyCase {
  readOnly: Call;
  status: number;
}

const ok = async (t: request.Test, status = 200) => {
  const res = await t;
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res;
};
const publish = (name: string, template: string, labels: string[] = []) =>
  call("post", `/api/v1/prompts/${name}/versions`, { template, labels });
/** A resolution's version, or its status when there is none: the hot path every cache serves. */
const resolved = (name: string, ref: string) => async (on: Instance) => {
  const res = await call("get", `/api/v1/prompts/${name}/resolve?ref=${ref}`)(on);
  return res.status === 200 ? res.body.version : res.status;
};
/** The rollout a label's resolution carries (state and step), or none: resolve caches it with the label. */
const rolloutOf = (name: string) => async (on: Instance) => {
  const res = await call("get", `/api/v1/prompts/${name}/resolve?ref=production`)(on);
  return res.body.rollout ? [res.body.rollout.state, res.body.rollout.step] : null;
};
/** A prompt whose production holds 1.0.0 with 1.0.1 published, and (`start`) a rollout of 1.0.1 on it. */
const rolloutSetup =
  (name: string, then: ("start" | "pause")[] = []) =>
  async (w: Instance) => {
    await ok(publish(name, "one", ["production"])(w), 201);
    await ok(publish(name, "two")(w), 201);
    const path = `/api/v1/prompts/${name}/labels/production/rollout`;
    for (const step of then)
      if (step === "start")
        await ok(call("post", path, { candidate: "1.0.1", steps: [{ share: 0.1 }, { share: 1 }] })(w), 201);
      else await ok(call("post", `${path}/pause`, {})(w));
  };
const rolloutAt = (name: string, action = "") =>
  `/api/v1/prompts/${name}/labels/production/rollout${action ? `/${action}` : ""}`;
const statusOf = (c: Call) => async (on: Instance) => (await c(on)).status;

// Filled by the cases' setups, read by their writes and reads.
const state: { keyId?: string; keySecret?: string; cookie?: string; priceId?: string; traceId: string } = {
  traceId: newTraceId(),
};
const sessionCookie = () => `${SESSION_COOKIE}=${state.cookie ?? "none"}`;
const withCookie = (method: "get" | "delete", on: Instance) =>
  request(on.app)
    [method]("/api/v1/session")
    .set("Cookie", sessionCookie())
    .set("X-CSRF-Token", csrfTokenFor(state.cookie ?? ""));
const ingestTrace =
  (traceId: string, attributes?: Record<string, string>, spanId = "00f067aa0ba902b7") =>
  (on: Instance) =>
    request(on.app)
      .post("/v1/traces")
      .set("Authorization", `Bearer ${KEY}`)
      .set("Content-Type", "application/json")
      .send(otlpJson([{ traceId, spanId, name: "call", ...(attributes ? { attributes } : {}) }]));
const price = { model: "after-commit-model", inputPerMTok: 1, outputPerMTok: 2 };
const prices = async (on: Instance) => (await call("get", `/api/v1/prices?model=${price.model}`)(on)).body.data;

const connection = { name: "judge", baseUrl: "http://8.8.8.8/v1", model: "judge", timeoutMs: 1000 };
const connections = async (on: Instance) => (await call("get", "/api/v1/connections")(on)).body.data;

const evaluator = { name: "valid-json", kind: "json", sampleRate: 1, config: {} };
const evaluators = async (on: Instance) => (await call("get", "/api/v1/evaluators")(on)).body.data;
const datasets = async (on: Instance) => (await call("get", "/api/v1/datasets")(on)).body.data;
const experiments = async (on: Instance) => (await call("get", "/api/v1/experiments")(on)).body.data;
let experimentId = "";
let clientItemId = "";
const backfill = async (on: Instance) => {
  const res = await call("get", `/api/v1/evaluators/${evaluator.name}/backfill`)(on);
  return [res.status, res.body.status];
};

const CASES: Record<string, WriteCase | ReadOnlyCase> = {
  "POST /api/v1/prompts": {
    write: call("post", "/api/v1/prompts", { name: "created", type: "text" }),
    status: 201,
    read: statusOf(call("get", "/api/v1/prompts/created")),
    changes: [{ kind: "prompt.created", name: "created" }],
  },
  "DELETE /api/v1/prompts/:name": {
    setup: async (w) => void (await ok(publish("doomed", "one")(w), 201)),
    write: call("delete", "/api/v1/prompts/doomed"),
    status: 204,
    read: resolved("doomed", "latest"),
    changes: [{ kind: "prompt.deleted", name: "doomed" }],
  },
  "POST /api/v1/prompts/:name/versions": {
    setup: async (w) => void (await ok(publish("published", "one")(w), 201)),
    write: publish("published", "two", ["production"]),
    status: 201,
    read: resolved("published", "latest"),
    changes: [
      { kind: "version.published", name: "published", version: "1.0.1" },
      { kind: "label.moved", name: "published", label: "latest", fromVersion: "1.0.0", toVersion: "1.0.1" },
      { kind: "label.moved", name: "published", label: "production", fromVersion: null, toVersion: "1.0.1" },
    ],
  },
  "PUT /api/v1/prompts/:name/labels/:label": {
    setup: async (w) => {
      await ok(publish("moved", "one", ["production"])(w), 201);
      await ok(publish("moved", "two")(w), 201);
    },
    write: call("put", "/api/v1/prompts/moved/labels/production", { version: "1.0.1" }),
    status: 200,
    read: resolved("moved", "production"),
    changes: [
      {
        kind: "label.moved",
        name: "moved",
        label: "production",
        action: "set",
        fromVersion: "1.0.0",
        toVersion: "1.0.1",
      },
    ],
  },
  "DELETE /api/v1/prompts/:name/labels/:label": {
    setup: async (w) => void (await ok(publish("unlabelled", "one", ["canary"])(w), 201)),
    write: call("delete", "/api/v1/prompts/unlabelled/labels/canary"),
    status: 204,
    read: resolved("unlabelled", "canary"),
    changes: [{ kind: "label.moved", label: "canary", action: "delete", fromVersion: "1.0.0", toVersion: null }],
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout": {
    setup: rolloutSetup("ro-start"),
    write: call("post", rolloutAt("ro-start"), { candidate: "1.0.1", steps: [{ share: 0.1 }, { share: 1 }] }),
    status: 201,
    read: rolloutOf("ro-start"),
    changes: [
      { kind: "rollout.changed", name: "ro-start", label: "production", action: "started", step: 1, share: 0.1 },
    ],
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/pause": {
    setup: rolloutSetup("ro-pause", ["start"]),
    write: call("post", rolloutAt("ro-pause", "pause"), { reason: "looking" }),
    status: 200,
    read: rolloutOf("ro-pause"),
    changes: [{ kind: "rollout.changed", name: "ro-pause", action: "paused", step: 1, share: 0.1 }],
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/resume": {
    setup: rolloutSetup("ro-resume", ["start", "pause"]),
    write: call("post", rolloutAt("ro-resume", "resume"), {}),
    status: 200,
    read: rolloutOf("ro-resume"),
    changes: [{ kind: "rollout.changed", name: "ro-resume", action: "resumed", step: 1, share: 0.1 }],
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/advance": {
    setup: rolloutSetup("ro-advance", ["start"]),
    write: call("post", rolloutAt("ro-advance", "advance"), {}),
    status: 200,
    read: rolloutOf("ro-advance"),
    changes: [{ kind: "rollout.changed", name: "ro-advance", action: "advanced", step: 2, share: 1 }],
  },
  "POST /api/v1/prompts/:name/labels/:label/rollout/abort": {
    setup: rolloutSetup("ro-abort", ["start"]),
    write: call("post", rolloutAt("ro-abort", "abort"), { reason: "enough" }),
    status: 200,
    read: rolloutOf("ro-abort"),
    changes: [{ kind: "rollout.changed", name: "ro-abort", action: "aborted", step: 1, share: 0 }],
  },
  "POST /api/v1/prompts/:name/labels/:label/rollback": {
    setup: async (w) => {
      await ok(publish("rolled", "one", ["production"])(w), 201);
      await ok(publish("rolled", "two", ["production"])(w), 201);
    },
    write: call("post", "/api/v1/prompts/rolled/labels/production/rollback", {}),
    status: 200,
    read: resolved("rolled", "production"),
    changes: [
      { kind: "label.moved", label: "production", action: "rollback", fromVersion: "1.0.1", toVersion: "1.0.0" },
    ],
  },
  "POST /api/v1/prompts/:name/render": {
    readOnly: call("post", "/api/v1/prompts/published/render", { ref: "latest" }),
    status: 200,
  },
  "POST /api/v1/keys": {
    write: call("post", "/api/v1/keys", { name: "added", role: "read" }),
    status: 201,
    read: async (on) => (await call("get", "/api/v1/keys")(on)).body.data.map((k: { name: string }) => k.name),
    changes: [{ kind: "key.created" }],
  },
  // The principal cache: the deleted key was known to the other instance a moment before.
  "DELETE /api/v1/keys/:id": {
    setup: async (w) => {
      const res = await ok(call("post", "/api/v1/keys", { name: "doomed", role: "read" })(w), 201);
      state.keyId = res.body.id;
      state.keySecret = res.body.key;
    },
    write: (on) => call("delete", `/api/v1/keys/${state.keyId}`)(on),
    status: 204,
    read: (on) => statusOf(call("get", "/api/v1/whoami", undefined, state.keySecret))(on),
    changes: [{ kind: "key.deleted" }],
  },
  "POST /api/v1/projects": {
    write: call("post", "/api/v1/projects", { name: "second" }),
    status: 201,
    read: async (on) => (await call("get", "/api/v1/projects")(on)).body.data.map((p: { name: string }) => p.name),
    changes: [{ kind: "project.created" }, { kind: "key.created" }],
  },
  // The principal cache again: a key's principal carries its project's protected labels.
  "PATCH /api/v1/projects/:name": {
    setup: async (w) => void (await ok(publish("guarded", "one", ["canary"])(w), 201)),
    write: call("patch", "/api/v1/projects/default", { protectedLabels: ["production", "canary"] }),
    status: 200,
    read: async (on) => (await call("get", "/api/v1/prompts/guarded")(on)).body.labels,
    changes: [{ kind: "project.updated" }],
  },
  "POST /api/v1/session": {
    write: (on) => {
      const t = request(on.app).post("/api/v1/session").send({ key: KEY });
      return t.then((res) => {
        state.cookie = /promptreg_session=([^;]+)/.exec(String(res.headers["set-cookie"]))?.[1];
        return res;
      }) as request.Test;
    },
    status: 201,
    read: async (on) => (await withCookie("get", on)).status,
    changes: [],
  },
  "DELETE /api/v1/session": {
    setup: async (w) => {
      const res = await ok(request(w.app).post("/api/v1/session").send({ key: KEY }), 201);
      state.cookie = /promptreg_session=([^;]+)/.exec(String(res.headers["set-cookie"]))?.[1];
    },
    write: (on) => withCookie("delete", on),
    status: 204,
    read: async (on) => (await withCookie("get", on)).status,
    changes: [],
  },
  "POST /api/v1/annotations": {
    setup: async (w) => void (await ok(ingestTrace(state.traceId)(w))),
    write: call("post", "/api/v1/annotations", {
      annotations: [{ traceId: state.traceId, name: "quality", kind: "human", score: 1 }],
    }),
    status: 200,
    read: async (on) => (await call("get", `/api/v1/traces/${state.traceId}`)(on)).body.annotations,
    changes: [],
  },
  "POST /api/v1/prices": {
    write: (on) =>
      call(
        "post",
        "/api/v1/prices",
        price,
      )(on).then((res) => {
        state.priceId = res.body.id;
        return res;
      }) as request.Test,
    status: 201,
    read: prices,
    changes: [],
  },
  "PUT /api/v1/prices/:id": {
    write: (on) => call("put", `/api/v1/prices/${state.priceId}`, { ...price, outputPerMTok: 3 })(on),
    status: 200,
    read: prices,
    changes: [],
  },
  "DELETE /api/v1/prices/:id": {
    write: (on) => call("delete", `/api/v1/prices/${state.priceId}`)(on),
    status: 204,
    read: prices,
    changes: [],
  },
  // No cache holds connections; the target is never called but by the test route (unreachable here: ok false).
  "POST /api/v1/connections": {
    write: call("post", "/api/v1/connections", connection),
    status: 201,
    read: connections,
    changes: [],
  },
  "PUT /api/v1/connections/:name": {
    write: call("put", `/api/v1/connections/${connection.name}`, { ...connection, model: "judge-2" }),
    status: 200,
    read: connections,
    changes: [],
  },
  // Its call is stored as a span, which no cache holds: nothing to announce (the connection's server never answers).
  "POST /api/v1/prompts/:name/playground": {
    readOnly: call("post", "/api/v1/prompts/published/playground", {
      ref: "latest",
      variables: {},
      connection: connection.name,
    }),
    status: 502,
  },
  "POST /api/v1/connections/:name/test": {
    readOnly: call("post", `/api/v1/connections/${connection.name}/test`),
    status: 200,
  },
  "DELETE /api/v1/connections/:name": {
    write: call("delete", `/api/v1/connections/${connection.name}`),
    status: 204,
    read: connections,
    changes: [],
  },
  // Evaluators: no cache holds them (the workers read them); the hook hears each change, for webhooks to come.
  "POST /api/v1/evaluators": {
    write: call("post", "/api/v1/evaluators", evaluator),
    status: 201,
    read: evaluators,
    changes: [{ kind: "evaluator.changed", name: evaluator.name, action: "created", revision: 1, enabled: true }],
  },
  "PUT /api/v1/evaluators/:name": {
    write: call("put", `/api/v1/evaluators/${evaluator.name}`, { ...evaluator, kind: "length", config: { max: 10 } }),
    status: 200,
    read: evaluators,
    changes: [{ kind: "evaluator.changed", name: evaluator.name, action: "updated", revision: 2 }],
  },
  "POST /api/v1/evaluators/:name/preview": {
    readOnly: call("post", `/api/v1/evaluators/${evaluator.name}/preview`, { limit: 5 }),
    status: 200,
  },
  "POST /api/v1/evaluators/:name/backfill": {
    write: call("post", `/api/v1/evaluators/${evaluator.name}/backfill`, {
      from: "2026-01-01T00:00:00Z",
      to: "2026-02-01T00:00:00Z",
    }),
    status: 202,
    read: backfill,
    changes: [],
  },
  "DELETE /api/v1/evaluators/:name/backfill": {
    write: call("delete", `/api/v1/evaluators/${evaluator.name}/backfill`),
    status: 200,
    read: backfill,
    changes: [],
  },
  "DELETE /api/v1/evaluators/:name": {
    write: call("delete", `/api/v1/evaluators/${evaluator.name}`),
    status: 204,
    read: evaluators,
    changes: [{ kind: "evaluator.changed", name: evaluator.name, action: "deleted" }],
  },
  // Datasets: no cache holds them either; the hook hears each change.
  "POST /api/v1/datasets": {
    write: call("post", "/api/v1/datasets", { name: "golden" }),
    status: 201,
    read: datasets,
    changes: [{ kind: "dataset.changed", name: "golden", action: "created", version: 0 }],
  },
  "POST /api/v1/datasets/:name/items": {
    write: call("post", "/api/v1/datasets/golden/items", { items: [{ id: "a", variables: { q: "one" } }] }),
    status: 200,
    read: datasets,
    changes: [{ kind: "dataset.changed", name: "golden", action: "updated", version: 1 }],
  },
  "POST /api/v1/datasets/:name/import": {
    write: upload("/api/v1/datasets/golden/import", "application/x-ndjson", '{"id":"b","variables":{"q":"two"}}\n'),
    status: 200,
    read: datasets,
    changes: [{ kind: "dataset.changed", name: "golden", action: "updated", version: 2 }],
  },
  "POST /api/v1/datasets/:name/items/from-spans": {
    setup: async (on) => {
      await ok(
        ingestTrace("5b8efff798038103d269b633813fc60c", {
          "llm.prompt_template.variables": '{"q":"three"}',
        })(on),
        200,
      );
    },
    write: call("post", "/api/v1/datasets/golden/items/from-spans", {
      spans: [{ traceId: "5b8efff798038103d269b633813fc60c", spanId: "00f067aa0ba902b7" }],
    }),
    status: 200,
    read: datasets,
    changes: [{ kind: "dataset.changed", name: "golden", action: "updated", version: 3 }],
  },
  "DELETE /api/v1/datasets/:name/items/:id": {
    write: call("delete", "/api/v1/datasets/golden/items/a"),
    status: 200,
    read: datasets,
    changes: [{ kind: "dataset.changed", name: "golden", action: "updated", version: 4 }],
  },
  // Experiments: no cache holds them; nothing is announced (the runner is not started here: nothing is called).
  "POST /api/v1/experiments": {
    setup: async (w) =>
      void (await ok(
        call("post", "/api/v1/connections", { ...connection, name: "experiment-model", baseUrl: "http://8.8.8.8/v1" })(
          w,
        ),
        201,
      )),
    write: call("post", "/api/v1/experiments", {
      dataset: "golden",
      prompt: "published",
      versions: ["1.0.0"],
      connection: "experiment-model",
    }),
    status: 201,
    read: experiments,
    changes: [],
  },
  "POST /api/v1/experiments/:id/cancel": {
    write: (on) => call("post", `/api/v1/experiments/${experimentId}/cancel`)(on),
    setup: async (w) => {
      experimentId = (await experiments(w))[0].id;
    },
    status: 200,
    read: experiments,
    changes: [],
  },
  "POST /api/v1/experiments/:id/resume": {
    write: (on) => call("post", `/api/v1/experiments/${experimentId}/resume`)(on),
    status: 200,
    read: experiments,
    changes: [],
  },
  "POST /api/v1/experiments/:id/results": {
    setup: async (w) => {
      const created = await call("post", "/api/v1/experiments", {
        dataset: "golden",
        prompt: "published",
        versions: ["1.0.0"],
        mode: "client",
      })(w);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      experimentId = created.body.id;
      clientItemId = (await call("get", "/api/v1/datasets/golden/items")(w)).body.data[0].id;
    },
    write: (on) =>
      call("post", `/api/v1/experiments/${experimentId}/results`, {
        results: [{ run: "1.0.0", itemId: clientItemId, output: "an answer" }],
      })(on),
    status: 200,
    // Queued to be judged (the runner is not started here): what a resumed client run skips.
    read: async (on) => (await call("get", `/api/v1/experiments/${experimentId}/received`)(on)).body.data,
    changes: [],
  },
  // Gates: read inside each label move's transaction, never cached; nothing is announced.
  "PUT /api/v1/gates/:label": {
    write: call("put", "/api/v1/gates/production", { dataset: "golden", evaluators: ["exact_match"] }),
    status: 200,
    read: async (on) => (await call("get", "/api/v1/gates")(on)).body.data,
    changes: [],
  },
  "DELETE /api/v1/gates/:label": {
    write: call("delete", "/api/v1/gates/production"),
    status: 204,
    read: async (on) => (await call("get", "/api/v1/gates")(on)).body.data,
    changes: [],
  },
  "DELETE /api/v1/datasets/:name": {
    write: call("delete", "/api/v1/datasets/golden"),
    status: 204,
    read: datasets,
    changes: [{ kind: "dataset.changed", name: "golden", action: "deleted", version: 4 }],
  },
  "POST /v1/traces": {
    write: ingestTrace("0af7651916cd43dd8448eb211c80319c"),
    status: 200,
    read: statusOf(call("get", "/api/v1/traces/0af7651916cd43dd8448eb211c80319c")),
    changes: [],
  },
};

const isWrite = (route: string) => !route.startsWith("GET ") && !route.startsWith("HEAD ");

describe("every write route announces its change after the commit", () => {
  let testDb: TestDatabase;
  let writer: Instance;
  let other: Instance;

  async function instance(database: Database): Promise<Instance> {
    const bus = await createInvalidationBus(database, silentLogger);
    const { app, auth, close } = createApp({
      config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100 },
      database,
      bus,
      logger: silentLogger,
    });
    await auth.bootstrap({ adminKey: KEY, dataDir: "/nonexistent", logger: silentLogger });
    const heard: Instance["heard"] = [];
    bus.onChange((change, origin) => heard.push({ change, origin }));
    return {
      app,
      bus,
      database,
      heard,
      async close() {
        await close();
        await bus.close();
        await database.close();
      },
    };
  }

  let barriers = 0;
  /**
   * Resolves once `other` has received every notification the writer sent so far: a last one is sent and waited for
   * (PostgreSQL delivers notifications in the order they were committed). Not a wait for time: the write's own
   * notification has then arrived, or was never sent.
   */
  async function delivered(): Promise<void> {
    if (other === writer) return;
    const name = `barrier-${++barriers}`;
    const seen = new Promise<void>((resolve) =>
      other.bus.subscribe((topic) => topic.kind === "prompt" && topic.name === name && resolve()),
    );
    await writer.bus.publish({ kind: "prompt", projectId: "00000000-0000-0000-0000-000000000000", name });
    await seen;
  }

  beforeAll(async () => {
    testDb = await createTestDatabase();
    const database = await testDb.open();
    await database.migrate();
    writer = await instance(database);
    other = TEST_DATABASE_URL ? await instance(await testDb.open()) : writer;
  });
  afterAll(async () => {
    await writer?.close();
    if (other !== writer) await other?.close();
    await testDb?.drop();
  });

  it("has a case for every write route the app registers, and no other", () => {
    expect(Object.keys(CASES).sort()).toEqual(routesOf(writer.app).filter(isWrite).sort());
  });

  // In the order of the list above: some cases use what an earlier one made (a price, a published prompt).
  for (const [route, spec] of Object.entries(CASES)) {
    it(route, async () => {
      writer.heard.length = 0;
      other.heard.length = 0;
      if ("readOnly" in spec) {
        await ok(spec.readOnly(writer), spec.status);
        await delivered();
        expect(writer.heard).toEqual([]);
        return;
      }
      await spec.setup?.(writer);
      await delivered();
      const before = await spec.read(other);
      // Asked twice: the second answer comes from whatever the other instance cached on the first.
      expect(await spec.read(other)).toEqual(before);
      writer.heard.length = 0;
      other.heard.length = 0;

      await ok(spec.write(writer), spec.status);
      await delivered();
      const after = await spec.read(other);
      expect(after, "the other instance still answers as before the write").not.toEqual(before);
      expect(after).toEqual(await spec.read(writer));

      expect(writer.heard.map((h) => h.origin)).toEqual(spec.changes.map(() => "local"));
      expect(writer.heard.map((h) => h.change)).toMatchObject(spec.changes);
      if (other !== writer)
        expect(other.heard).toEqual(writer.heard.map(({ change }) => ({ change, origin: "remote" })));
    });
  }

  it("a write that rolls back announces nothing: a dry run, a refused write", async () => {
    writer.heard.length = 0;
    const dryRun = await call("post", "/api/v1/prompts/published/versions?dryRun=true", { template: "three" })(writer);
    expect(dryRun.body).toMatchObject({ dryRun: true, created: true });
    await ok(call("post", "/api/v1/prompts", { name: "published", type: "text" })(writer), 409);
    await ok(call("put", "/api/v1/prompts/published/labels/production", { version: "9.9.9" })(writer), 404);
    await delivered();
    expect(writer.heard).toEqual([]);
    expect(other.heard).toEqual([]);
  });
});
