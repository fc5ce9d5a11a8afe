// The client while the registry fails: which source a value is served as, the circuit breaker (no waiting once the
// registry is known to be down, one probe at a time, backoff on the client's clock), fallbacks that name their
// version, and snapshots that know their project. The registry is the real app; outages are made by a small proxy in
// front of it that counts what reaches it.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, pullSnapshot, type ClientOptions, type Snapshot } from "../src/index.js";
import { caught, counter, forward, manualClock, reportedErrors, startRegistry, type Registry } from "./helpers.js";
import { createProject, publishVersion } from "../../test/helpers/factories.js";
import { listen } from "../../test/helpers/listen.js";

let registry: Registry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(() => registry?.close());

type Mode = "proxy" | "hole" | "fail";

/**
 * In front of the registry: `proxy` forwards, `hole` accepts a request and never answers, `fail` answers 503. Counts
 * the requests that reach it and those still open, which is what "in flight" means for the registry.
 */
async function startFlaky(target: string) {
  let mode: Mode = "proxy";
  const hits = counter();
  let open = 0;
  let maxOpen = 0;
  const held = new Set<http.ServerResponse>();
  const server = http.createServer(async (req, res) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    hits.add();
    res.on("close", () => {
      open--;
      held.delete(res);
    });
    if (mode === "hole") {
      held.add(res);
      return;
    }
    if (mode === "fail") {
      res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "0" });
      res.end(JSON.stringify({ error: { code: "unavailable", message: "scripted outage" } }));
      return;
    }
    await forward(target, req, res);
  });
  const { url, close } = await listen(server);
  return {
    url,
    close,
    set mode(value: Mode) {
      mode = value;
    },
    hits: hits.value,
    /** Settles once `n` requests in all have reached the proxy. */
    reached: hits.reached,
    open: () => open,
    maxOpen: () => maxOpen,
    resetMaxOpen: () => (maxOpen = open),
    /** Cuts the connections of the requests held by `hole`: the client sees a network error. */
    drop() {
      for (const res of held) res.socket?.destroy();
    },
  };
}

/**
 * The outcome of `promise` if it settles before the event loop turns, i.e. without waiting for any I/O or timer;
 * throws otherwise. This is how "returns at once" is checked without measuring time.
 */
async function atOnce<T>(promise: Promise<T>): Promise<T> {
  const turned = Symbol("turned");
  const result = await Promise.race([
    promise,
    new Promise<typeof turned>((resolve) => setImmediate(() => resolve(turned))),
  ]);
  if (result === turned) throw new Error("did not settle at once: it waited for I/O or a timer");
  return result as T;
}

const apiKey = () => registry.harness.adminKey;

describe("sources", () => {
  it("serves a value past its TTL as `cache` while the registry answers, `stale` once a refresh failed, `cache` again after a probe", async () => {
    await registry.publish("src/a", "A {{x}}", ["production"]);
    const flaky = await startFlaky(registry.baseUrl);
    const clock = manualClock();
    const { errors, onError, reached } = reportedErrors();
    // Without live updates, whose stream would be one more request through the flaky server.
    const c = createClient({
      baseUrl: flaky.url,
      apiKey: apiKey(),
      ttlMs: 1_000,
      now: clock.now,
      onError,
      live: false,
    });
    try {
      expect((await c.get("src/a")).source).toBe("network");
      clock.advance(1_500);
      // Past its TTL, registry healthy: served at once from memory and refreshed in the background.
      expect((await atOnce(c.get("src/a"))).source).toBe("cache");
      // Shares the refresh still running (no third request), so this waits for it.
      await c.preload(["src/a"]);
      expect(flaky.hits()).toBe(2);
      expect((await c.get("src/a")).source).toBe("cache");

      flaky.mode = "fail";
      clock.advance(1_500);
      expect((await atOnce(c.get("src/a"))).source).toBe("cache");
      await reached(1);
      expect(errors.map((e) => e.status)).toEqual([503]);
      // 503 after two retries: the registry failed, so the same value is now served because of that.
      expect(flaky.hits()).toBe(5);
      const stale = await atOnce(c.get("src/a"));
      expect([stale.source, stale.template]).toEqual(["stale", "A {{x}}"]);
      expect(flaky.hits()).toBe(5);

      flaky.mode = "proxy";
      clock.advance(1_000);
      // The probe is due: this call still does not wait for it.
      expect((await atOnce(c.get("src/a"))).source).toBe("stale");
      await c.preload(["src/a"]);
      expect(flaky.hits()).toBe(6);
      expect((await atOnce(c.get("src/a"))).source).toBe("cache");
    } finally {
      await flaky.close();
    }
  });
});

describe("circuit breaker", () => {
  it("during a black-holed outage serves at once with one request in flight, probes after a capped backoff, and closes on recovery", async () => {
    const fallbackVersion = await registry.publish("hole/fb", "Registry {{x}}", ["production"]);
    await registry.publish("hole/snap", "Snapshot {{x}}", ["production"]);
    await registry.publish("hole/warm", "Warm {{x}}", ["production"]);
    await registry.publish("hole/later", "Later {{x}}", ["production"]);
    const flaky = await startFlaky(registry.baseUrl);
    const clock = manualClock();
    const { errors, onError, reached } = reportedErrors();
    const snapshot = await pullSnapshot({ baseUrl: flaky.url, apiKey: apiKey(), refs: ["hole/snap"] });
    const c = createClient({
      baseUrl: flaky.url,
      apiKey: apiKey(),
      snapshot,
      coldBudgetMs: 200,
      // Counted requests are the breaker's alone: no live-update stream.
      live: false,
      // The black hole holds each request until the test cuts it.
      requestTimeoutMs: 600_000,
      breakerBaseDelayMs: 1_000,
      breakerMaxDelayMs: 4_000,
      now: clock.now,
      onError,
    });
    const fallback = { template: "Fallback {{x}}", version: fallbackVersion };
    try {
      expect((await c.get("hole/warm")).source).toBe("network");
      c.invalidate("hole/warm");
      flaky.mode = "hole";
      const before = flaky.hits();
      flaky.resetMaxOpen();

      // The first call waits (the cold budget, a real timer) and falls back; the request stays open.
      const first = await c.get("hole/fb", { fallback });
      expect([first.source, first.version]).toEqual(["fallback", fallbackVersion]);
      await flaky.reached(before + 1);
      expect([flaky.hits() - before, flaky.open()]).toEqual([1, 1]);

      // From now on nothing waits and nothing new reaches the registry.
      const served = [];
      for (let i = 0; i < 50; i++) {
        served.push(
          await atOnce(c.get("hole/fb", { fallback: { template: "Fallback {{x}}", version: fallbackVersion } })),
        );
        served.push(await atOnce(c.get("hole/snap")));
        served.push(await atOnce(c.get("hole/warm")));
      }
      expect(new Set(served.map((p) => `${p.name} ${p.source}`))).toEqual(
        new Set(["hole/fb fallback", "hole/snap snapshot", "hole/warm stale"]),
      );
      // Reused, not rebuilt: every fallback prompt of the run shares one version object.
      expect(new Set(served.filter((p) => p.source === "fallback").map((p) => p.variables)).size).toBe(1);
      const none = await caught(atOnce(c.get("hole/never")));
      expect(none).toMatchObject({ status: 0, code: "unavailable" });
      expect(none.cause).toMatchObject({ code: "timeout" });
      expect(flaky.hits() - before).toBe(1);

      // The request still open counts as the probe: however late it is, no second one starts.
      clock.advance(60_000);
      await atOnce(c.get("hole/snap"));
      expect(flaky.hits() - before).toBe(1);

      // It fails: the first probe comes after 500 to 1 000 ms (1 000 ms base, jittered) on the client's clock.
      flaky.drop();
      await reached(1);
      expect(errors.map((e) => e.code)).toEqual(["network_error"]);
      clock.advance(499);
      await atOnce(c.get("hole/snap"));
      expect(flaky.hits() - before).toBe(1);
      clock.advance(501);
      expect((await atOnce(c.get("hole/snap"))).source).toBe("snapshot");
      await flaky.reached(before + 2);
      expect(flaky.hits() - before).toBe(2);
      for (let i = 0; i < 20; i++) await atOnce(c.get("hole/snap"));
      clock.advance(60_000);
      await atOnce(c.get("hole/snap"));
      expect([flaky.hits() - before, flaky.open()]).toEqual([2, 1]);

      // Each failed probe doubles the delay (2 000, then 4 000 ms), capped by breakerMaxDelayMs (4 000, not 8 000).
      for (const [attempt, delay] of [
        [3, 2_000],
        [4, 4_000],
        [5, 4_000],
      ] as const) {
        flaky.drop();
        await reached(attempt - 1);
        expect(errors).toHaveLength(attempt - 1);
        clock.advance(delay / 2 - 1);
        await atOnce(c.get("hole/snap"));
        expect(flaky.hits() - before).toBe(attempt - 1);
        clock.advance(delay / 2 + 1);
        await atOnce(c.get("hole/snap"));
        await flaky.reached(before + attempt);
        expect(flaky.hits() - before).toBe(attempt);
      }
      expect(flaky.maxOpen()).toBe(1);

      // The registry is back; the probe in flight is cut, the next one gets through and closes the breaker.
      flaky.mode = "proxy";
      flaky.drop();
      await reached(5);
      expect(errors).toHaveLength(5);
      clock.advance(4_000);
      expect((await atOnce(c.get("hole/snap"))).source).toBe("snapshot");
      await c.preload(["hole/snap"]);
      expect(flaky.hits() - before).toBe(6);
      expect((await atOnce(c.get("hole/snap"))).source).toBe("cache");
      expect((await c.get("hole/later")).source).toBe("network");
      const back = await c.get("hole/fb", { fallback });
      expect([back.source, back.template]).toEqual(["network", "Registry {{x}}"]);
      expect(errors.every((e) => e.status === 0)).toBe(true);
    } finally {
      await flaky.close();
    }
  });

  it("stays closed on definitive answers (404), and opens on a refused connection without waiting again", async () => {
    await registry.publish("closed/a", "a {{x}}", ["production"]);
    const c = createClient({ baseUrl: registry.baseUrl, apiKey: apiKey() });
    for (let i = 0; i < 3; i++) {
      expect(await caught(c.get("closed/missing", { fallback: "unused" }))).toMatchObject({
        status: 404,
        code: "not_found",
      });
    }
    expect((await c.get("closed/a")).source).toBe("network");

    const down = await registry.listenAgain();
    await down.close();
    const clock = manualClock();
    const refused = createClient({ baseUrl: down.url, apiKey: apiKey(), retryBaseDelayMs: 1, now: clock.now });
    expect((await refused.get("closed/a", { fallback: "f {{x}}" })).source).toBe("fallback");
    expect((await atOnce(refused.get("closed/a", { fallback: "f {{x}}" }))).source).toBe("fallback");
    const err = await caught(atOnce(refused.get("closed/b")));
    expect(err).toMatchObject({ code: "unavailable", message: expect.stringContaining("closed/b:production") });
    expect(err.cause).toMatchObject({ code: "network_error" });
  });
});

describe("fallbacks that name their version", () => {
  it("carry that version, its URL and source `fallback` into the span link; a version that is not exact is refused", async () => {
    const down = await registry.listenAgain();
    await down.close();
    const c = createClient({ baseUrl: down.url, apiKey: "k", retryBaseDelayMs: 1 });
    const prompt = await c.get("fb/named", {
      fallback: { template: [{ role: "user", content: "Hi {{x}}" }], config: { model: "m" }, version: "1.4.2" },
    });
    expect(prompt).toMatchObject({
      source: "fallback",
      version: "1.4.2",
      label: "production",
      type: "chat",
      config: { model: "m" },
    });
    expect(prompt.url).toBe(`${down.url}/api/v1/prompts/fb%2Fnamed/versions/1.4.2`);
    expect(prompt.link()).toMatchObject({ name: "fb/named", version: "1.4.2", source: "fallback", url: prompt.url });
    const unnamed = await c.get("fb/unnamed", { fallback: "Hi {{x}}" });
    expect([unnamed.version, unnamed.url]).toEqual(["fallback", undefined]);

    const live = createClient({ baseUrl: registry.baseUrl, apiKey: apiKey() });
    for (const version of ["^1.4", "1.4", "v1.4.2", " 1.4.2", ""]) {
      await expect(live.get("fb/named", { fallback: { template: "x", version } })).rejects.toThrow(
        new TypeError(`fallback.version must be an exact version such as 1.4.2, got ${JSON.stringify(version)}`),
      );
    }
  });
});

describe("snapshots know their registry and project", () => {
  /** A new project, `name` published there as "team's {{x}}" in production, and a snapshot of it pulled there. */
  async function teamSnapshot(project: string, name: string): Promise<{ teamKey: string; team: Snapshot }> {
    const { adminKey: teamKey, admin: team } = await createProject(registry.harness, project);
    await publishVersion(team, name, { template: "team's {{x}}", labels: ["production"] });
    return { teamKey, team: await pullSnapshot({ baseUrl: registry.baseUrl, apiKey: teamKey, refs: [name] }) };
  }

  it("records the URL and the key's project; a client of another project refuses it at creation", async () => {
    await registry.publish("snap/a", "default's {{x}}", ["production"]);
    const { teamKey, team } = await teamSnapshot("team-snap", "snap/a");

    const own = await pullSnapshot({ baseUrl: `${registry.baseUrl}/`, apiKey: apiKey(), refs: ["snap/a"] });
    expect(own).toMatchObject({ baseUrl: registry.baseUrl, project: "default" });
    expect(team.project).toBe("team-snap");

    const options: ClientOptions = { baseUrl: registry.baseUrl, apiKey: apiKey(), project: "default" };
    expect(() => createClient({ ...options, snapshot: team })).toThrow(
      expect.objectContaining({
        name: "RegistryError",
        code: "snapshot_project_mismatch",
        message: expect.stringMatching(
          /the snapshot option was pulled from project 'team-snap', but this client is for project 'default'/,
        ),
      }),
    );
    expect(() => createClient({ ...options, snapshot: own })).not.toThrow();
    expect(() => createClient({ ...options, project: "Not A Project" })).toThrow(TypeError);

    // Written before snapshots recorded a project: still read, and served.
    const { project: _, ...older } = team;
    const down = await registry.listenAgain();
    const url = down.url;
    await down.close();
    const legacy = createClient({
      baseUrl: url,
      apiKey: teamKey,
      project: "default",
      snapshot: older as Snapshot,
      retryBaseDelayMs: 1,
    });
    expect((await legacy.get("snap/a")).template).toBe("team's {{x}}");
  });

  it("drops a snapshot of another project when the registry's first answer names the key's project, and says so", async () => {
    const { team } = await teamSnapshot("team-drop", "drop/a");
    await registry.publish("drop/b", "default's {{x}}", ["production"]);

    const flaky = await startFlaky(registry.baseUrl);
    const { errors, onError } = reportedErrors();
    try {
      // A default-project key, a team-drop snapshot, no project option: only the registry can tell.
      const c = createClient({
        baseUrl: flaky.url,
        apiKey: apiKey(),
        snapshot: team,
        retryBaseDelayMs: 1,
        onError,
      });
      await Promise.resolve();
      expect(errors.map((e) => e.code)).toEqual(["snapshot_url_mismatch"]);
      expect(errors[0]!.message).toContain(
        `was pulled from ${registry.baseUrl}, not from this client's registry ${flaky.url}`,
      );
      expect((await c.get("drop/b")).source).toBe("network");
      expect(errors.map((e) => e.code)).toEqual(["snapshot_url_mismatch", "snapshot_project_mismatch"]);
      expect(errors[1]!.message).toMatch(
        /pulled from project 'team-drop', but the API key belongs to project 'default'/,
      );
      flaky.mode = "fail";
      expect(await caught(c.get("drop/a"))).toMatchObject({ code: "unavailable" });

      const wrongOption = createClient({
        baseUrl: registry.baseUrl,
        apiKey: apiKey(),
        project: "team-drop",
        onError,
      });
      await wrongOption.get("drop/b");
      await wrongOption.get("drop/b", { version: "1.0.0" });
      expect(errors.slice(2).map((e) => [e.code, e.message])).toEqual([
        [
          "project_mismatch",
          "the API key belongs to project 'default', but this client was created for project 'team-drop'",
        ],
      ]);
    } finally {
      await flaky.close();
    }
  });

  it("drops it too when that first answer is a refusal (404), which names the key's project as well", async () => {
    const { team } = await teamSnapshot("team-refused", "refused/a");

    const flaky = await startFlaky(registry.baseUrl);
    const { errors, onError } = reportedErrors();
    try {
      const c = createClient({
        baseUrl: flaky.url,
        apiKey: apiKey(),
        snapshot: team,
        retryBaseDelayMs: 1,
        onError,
      });
      // The default project has no such prompt: the 404 is thrown, and it says which project the key is in.
      expect(await caught(c.get("refused/a"))).toMatchObject({ status: 404 });
      expect(errors.map((e) => e.code)).toEqual(["snapshot_url_mismatch", "snapshot_project_mismatch"]);
      // So the other project's prompt is not served when the registry is down.
      flaky.mode = "fail";
      expect(await caught(c.get("refused/a"))).toMatchObject({ code: "unavailable" });
    } finally {
      await flaky.close();
    }
  });
});
