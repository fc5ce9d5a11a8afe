// Several instances on one PostgreSQL database keep their in-memory resolve caches coherent through LISTEN/NOTIFY.
// This exists only on PostgreSQL (an embedded database belongs to one process), so it runs when TEST_DATABASE_URL is set.
import pg from "pg";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { openDatabase, type Database } from "../src/db/client.js";
import { createInvalidationBus, type InvalidationBus, type Topic } from "../src/db/invalidation.js";
import { TEST_DATABASE_URL, createTestDatabase, silentLogger, type TestDatabase } from "./helpers/harness.js";

const reason = "cross-instance cache invalidation uses PostgreSQL LISTEN/NOTIFY: set TEST_DATABASE_URL to run it";
if (!TEST_DATABASE_URL) console.log(`multi-instance.test.ts skipped: ${reason}`);

interface Instance {
  app: ReturnType<typeof createApp>["app"];
  database: Database;
  bus: InvalidationBus;
}

describe.skipIf(!TEST_DATABASE_URL)("several instances on one PostgreSQL database", () => {
  let testDb: TestDatabase;
  let a: Instance;
  let b: Instance;
  const key = "pr_multi_instance_admin_key_000000";
  const H = { Authorization: `Bearer ${key}` };

  async function instance(): Promise<Instance> {
    const database = await openDatabase({ url: testDb.url!, poolSize: 4 });
    await database.migrate();
    const bus = await createInvalidationBus(database, silentLogger);
    const { app, auth } = createApp({
      config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100 },
      database,
      bus,
      logger: silentLogger,
    });
    await auth.bootstrap({ adminKey: key, dataDir: "/nonexistent", logger: silentLogger });
    return { app, database, bus };
  }

  beforeAll(async () => {
    testDb = await createTestDatabase();
    a = await instance();
    b = await instance();
  });
  afterAll(async () => {
    for (const i of [a, b]) if (i) await i.bus.close().then(() => i.database.close());
    await testDb?.drop();
  });

  const resolveOn = (i: Instance, ref: string) =>
    request(i.app).get(`/api/v1/prompts/shared/resolve?ref=${ref}`).set(H);
  /**
   * The next topic `i` receives that `match`es. Subscribers run in order, so when this resolves the instance's own
   * caches (subscribed when it was created) have already seen the topic.
   */
  const nextTopic = (i: Instance, match: (topic: Topic) => boolean) =>
    new Promise<Topic>((resolve) => i.bus.subscribe((topic) => match(topic) && resolve(topic)));
  /** Runs a change of `shared` on a, and returns once b has been told of it (each change is one notification). */
  const changeSeenByB = async (change: () => Promise<unknown>) => {
    const notified = nextTopic(b, (topic) => topic.kind === "prompt" && topic.name === "shared");
    await change();
    await notified;
  };

  it("a label moved on one instance is served by the other at once", async () => {
    // Waiting for each notification in turn, so that a late one cannot be taken for the next.
    await changeSeenByB(() =>
      request(a.app)
        .post("/api/v1/prompts/shared/versions")
        .set(H)
        .send({ template: "one", labels: ["production"] }),
    );
    await changeSeenByB(() => request(a.app).post("/api/v1/prompts/shared/versions").set(H).send({ template: "two" }));
    expect((await resolveOn(b, "production")).body.version).toBe("1.0.0"); // now cached on b
    expect((await resolveOn(b, "production")).body.version).toBe("1.0.0");
    await changeSeenByB(() =>
      request(a.app).put("/api/v1/prompts/shared/labels/production").set(H).send({ version: "1.0.1" }),
    );
    expect((await resolveOn(b, "production")).body.version).toBe("1.0.1");
    await changeSeenByB(() => request(a.app).post("/api/v1/prompts/shared/labels/production/rollback").set(H).send({}));
    expect((await resolveOn(b, "production")).body.version).toBe("1.0.0");
  });

  it("an instance that loses its LISTEN connection stops serving from memory, then recovers", async () => {
    expect(b.bus.healthy).toBe(true);
    // The bus tells its subscribers to drop everything when it loses the connection, and again once it is back.
    const lost = nextTopic(b, (topic) => topic.kind === "all");
    const admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()`,
    );
    await admin.end();
    await lost;
    const back = nextTopic(b, (topic) => topic.kind === "all");
    expect(b.bus.healthy).toBe(false);
    // While blind to notifications, b reads the database: a move made through a's pool is visible immediately.
    await a.database.prisma
      .$executeRaw`UPDATE labels SET version_id = (SELECT id FROM prompt_versions WHERE version = '1.0.1') WHERE name = 'production'`;
    if (!b.bus.healthy) expect((await resolveOn(b, "production")).body.version).toBe("1.0.1");
    await back;
    expect(b.bus.healthy).toBe(true);
  });
});
