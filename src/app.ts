// The composition root: builds the services from their dependencies and mounts thin routers. No globals, no listen.
import express from "express";
import type { Logger } from "pino";
import { PROMPT_NAME_PATTERN } from "@promptreg/client/contract";
import { createRenderer } from "@promptreg/client/render";
import { API_ROUTES, apiDocument } from "./api-routes.js";
import { authenticate } from "./auth/auth.middleware.js";
import { principalOf, requireInstanceAdmin } from "./auth/principal.js";
import { authRoutes } from "./auth/auth.routes.js";
import { createAuthService } from "./auth/auth.service.js";
import { sessionRoutes } from "./auth/session.routes.js";
import { createSessionService } from "./auth/sessions.js";
import { createChatClient } from "./connections/chat.js";
import { connectionRoutes } from "./connections/connections.routes.js";
import { createConnectionsService } from "./connections/connections.service.js";
import { createConnectionLimiter } from "./connections/limits.js";
import { consoleRoutes } from "./console/console.routes.js";
import { createEvaluations } from "./evals/evaluations.js";
import { eventRoutes } from "./events/events.routes.js";
import { createEventHub } from "./events/events.service.js";
import { datasetRoutes, RAW_BODY_PATHS } from "./datasets/datasets.routes.js";
import { createDatasetsService } from "./datasets/datasets.service.js";
import { evaluatorRoutes } from "./evals/evaluators.routes.js";
import { experimentRoutes } from "./experiments/experiments.routes.js";
import { createExperiments } from "./experiments/experiments.service.js";
import { createEvaluatorsService } from "./evals/evaluators.service.js";
import { createJudge } from "./evals/judge.js";
import { createJobRunner, type JobRunnerOptions } from "./jobs/runner.js";
import {
  DEFAULT_INGEST_MAX_PER_KEY,
  DEFAULT_OTLP_BODY_TIMEOUT_MS,
  DEFAULT_OTLP_MAX_BYTES,
  DEFAULT_OTLP_MAX_STORED_BYTES,
  DEFAULT_ROLLOUT_GUARD_INTERVAL_MS,
  INGEST_DEFAULTS,
  OTLP_BODY_GRACE_MS,
  OTLP_BODY_MIN_RATE,
  type Config,
} from "./config.js";
import type { Database } from "./db/client.js";
import type { InvalidationBus } from "./db/invalidation.js";
import { on } from "./http/api-route.js";
import { checkAnswers } from "./http/answer-check.js";
import { errorHandler, notFoundHandler } from "./http/error-handler.js";
import { OPENAPI_ROUTE } from "./http/openapi.js";
import { AppError } from "./http/errors.js";
import { guardJsonBody, guardUrl, verifyJsonSize } from "./http/input-guard.js";
import { requestContext } from "./http/request-context.js";
import { labelRoutes } from "./labels/labels.routes.js";
import { gateRoutes } from "./gates/gates.routes.js";
import { createGatesService } from "./gates/gates.service.js";
import { createLabelsService } from "./labels/labels.service.js";
import { rolloutRoutes } from "./rollouts/rollouts.routes.js";
import { createRolloutsService } from "./rollouts/rollouts.service.js";
import { promptRoutes } from "./prompts/prompts.routes.js";
import { createPromptsService } from "./prompts/prompts.service.js";
import { compareRoutes } from "./compare/compare.routes.js";
import { createCompareService } from "./compare/compare.service.js";
import { priceRoutes } from "./compare/prices.routes.js";
import { createPricesService } from "./compare/prices.service.js";
import { renderRoutes } from "./render/render.routes.js";
import { createAnnotationsService } from "./traces/annotations.service.js";
import { createIngestService } from "./traces/ingest.service.js";
import { createIngestGate } from "./traces/ingest-gate.js";
import { createMetrics } from "./metrics.js";
import { createOutbound } from "./outbound/outbound.js";
import { createOtlpDecoder } from "./traces/otlp-decoder.js";
import { createPlayground } from "./playground/playground.service.js";
import { playgroundRoutes } from "./playground/playground.routes.js";
import { otlpRoutes } from "./traces/otlp.routes.js";
import { createTracesService } from "./traces/traces.service.js";
import { traceRoutes } from "./traces/traces.routes.js";

export interface AppDeps {
  config: Pick<Config, "bodyLimitBytes" | "resolveCacheSize"> &
    Partial<
      Pick<
        Config,
        | "otlpMaxBytes"
        | "otlpMaxStoredBytes"
        | "otlpBodyTimeoutMs"
        | "ingestMaxInFlight"
        | "ingestMaxQueued"
        | "ingestMaxPerKey"
        | "consoleDir"
        | "trustProxy"
        | "secureCookies"
        | "allowPrivateConnections"
        | "secrets"
        | "secretProjects"
        | "evalConcurrency"
        | "evalMaxAttempts"
        | "experimentConcurrency"
        | "jobLeaseMs"
        | "eventsMaxStreams"
        | "eventsMaxPerKey"
        | "eventsHeartbeatMs"
        | "eventsReplaySize"
        | "eventsMaxBufferBytes"
        | "rolloutGuardIntervalMs"
      >
    >;
  /** How the job runner paces its work (tests shorten the waits); the server starts it, `jobs.start()`. */
  jobs?: Pick<JobRunnerOptions, "pollMs" | "leaseMs" | "retryBaseMs" | "retryMaxMs" | "onSettled">;
  database: Database;
  bus: InvalidationBus;
  logger: Logger;
  /** The clock of rollouts' steps and the guard's evaluations (ms since the epoch); tests drive it. */
  now?: () => number;
  /** Told after each round of the rollout guard's timer (which the server starts, `rollouts.startGuard()`). */
  onGuardRound?: (evaluated: number) => void;
  /**
   * Checks every JSON answer of /api/v1 against its route's declaration (src/http/answer-check.ts), turning a
   * mismatch into a 500: for the tests, so that an answer drifting from the contract fails the test that got it.
   * Off by default: in production it would only cost time.
   */
  checkAnswers?: boolean;
}

// What may follow a prompt's name in a route ("*" is one segment), most specific first; [] is the prompt itself.
const PROMPT_ROUTE_TAILS = [
  ["labels", "*", "history"],
  ["labels", "*", "rollback"],
  ["labels", "*", "rollout", "*"],
  ["labels", "*", "rollout"],
  ["labels", "*"],
  ["versions", "*"],
  ["labels"],
  ["versions"],
  ["resolve"],
  ["render"],
  ["playground"],
  ["diff"],
  ["compare"],
  ["timeseries"],
  [],
];

/**
 * `support/triage` must travel as `support%2Ftriage`: a route parameter is one path segment. A request that sent
 * the `/` as is matches no route; when its path reads as a prompt route with a folder name, say how to send it.
 */
const unencodedSlashHint: express.RequestHandler = (req, _res, next) => {
  const segments = req.path.split("/").slice(1);
  if (segments[0] !== "prompts") return next();
  const rest = segments.slice(1);
  for (const tail of PROMPT_ROUTE_TAILS) {
    const nameSegments = rest.length - tail.length;
    if (nameSegments < 2 || !tail.every((t, i) => t === "*" || t === rest[nameSegments + i])) continue;
    let name: string;
    try {
      name = rest.slice(0, nameSegments).map(decodeURIComponent).join("/");
    } catch {
      return next();
    }
    if (!PROMPT_NAME_PATTERN.test(name)) continue;
    // With the query as sent, so that the path given can be used as it is (compare?versions=...).
    const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?")) : "";
    const encoded = [`${req.baseUrl}/prompts`, encodeURIComponent(name), ...rest.slice(nameSegments)].join("/") + query;
    throw new AppError(
      "not_found",
      `no route for ${req.method} ${req.baseUrl}${req.path}: a prompt name containing '/' must be sent URL-encoded as %2F, as in ${req.method} ${encoded}`,
    );
  }
  next();
};

export function createApp({
  config,
  database,
  bus,
  logger,
  checkAnswers: checking = false,
  jobs: jobOptions = {},
  now = Date.now,
  onGuardRound,
}: AppDeps) {
  const db = database.prisma;
  const auth = createAuthService({ db, bus });
  const sessions = createSessionService({ db, bus, auth });
  const gates = createGatesService({ db, bus });
  const prompts = createPromptsService({ db, database, bus, cacheSize: config.resolveCacheSize, gates });
  const labels = createLabelsService({ db, bus, gates });
  const rollouts = createRolloutsService({
    db,
    database,
    bus,
    gates,
    now,
    intervalMs: config.rolloutGuardIntervalMs ?? DEFAULT_ROLLOUT_GUARD_INTERVAL_MS,
    logger,
    onRound: onGuardRound,
  });
  const renderer = createRenderer();
  const metrics = createMetrics();
  const ingestDefaults = INGEST_DEFAULTS[database.kind];
  const otlpMaxBytes = config.otlpMaxBytes ?? DEFAULT_OTLP_MAX_BYTES;
  const otlpMaxStoredBytes = config.otlpMaxStoredBytes ?? DEFAULT_OTLP_MAX_STORED_BYTES;
  const ingestLimits = {
    chunkRows: ingestDefaults.chunkRows,
    chunkBytes: ingestDefaults.chunkBytes,
    maxStoredBytes: otlpMaxStoredBytes,
  };
  const traces = createTracesService({ database });
  const annotations = createAnnotationsService({ database });
  const compare = createCompareService({ db, database, prompts });
  const secrets = config.secrets ?? new Map<string, string>();
  const outbound = createOutbound({ allowPrivate: config.allowPrivateConnections ?? false, userAgent: "promptreg" });
  const connections = createConnectionsService({
    db,
    outbound,
    chat: createChatClient({ outbound, secrets }),
    secrets,
    secretProjects: config.secretProjects ?? new Map(),
    allowPrivate: config.allowPrivateConnections ?? false,
  });
  // One limiter for every call through a connection (judges, experiments, the playground), so that together they keep
  // its limits.
  const limiter = createConnectionLimiter();
  const chat = createChatClient({ outbound, secrets });
  const judge = createJudge({ prompts, renderer, chat, connections, limiter });
  // The service's own calls (judges', the playground's) are stored as spans by an ingest of their own, which queues no
  // evaluation: such a call is never an application's.
  const ownCalls = createIngestService({ database });
  const evaluations = createEvaluations({
    db,
    database,
    ingest: ownCalls,
    judge,
    logger,
    maxAttempts: config.evalMaxAttempts,
    concurrency: config.evalConcurrency,
    batchLimits: ingestLimits,
  });
  const experiments = createExperiments({
    db,
    database,
    bus,
    prompts,
    renderer,
    chat,
    connections,
    limiter,
    evaluations,
    judge,
    logger,
    maxAttempts: config.evalMaxAttempts,
    concurrency: config.experimentConcurrency,
  });
  const ingest = createIngestService({ database, onChunk: metrics.ingestChunk, followUp: evaluations.followUp });
  const ingestGate = createIngestGate({
    maxInFlight: config.ingestMaxInFlight ?? ingestDefaults.maxInFlight,
    maxQueued: config.ingestMaxQueued ?? ingestDefaults.maxQueued,
    maxPerKey: config.ingestMaxPerKey ?? DEFAULT_INGEST_MAX_PER_KEY,
    // What admitted requests may hold before more are told to come back: a project's half takes the largest batch.
    maxBufferedBytes: 2 * Math.max(otlpMaxBytes, otlpMaxStoredBytes),
    // Shorter than an OTLP exporter's default 10 s timeout, so it gets an answer it can act on.
    maxWaitMs: 5_000,
    retryAfterSeconds: 1,
  });
  const jobs = createJobRunner({
    db: database,
    logger,
    queues: [...evaluations.queues, ...experiments.queues],
    leaseMs: config.jobLeaseMs,
    soleWorker: database.kind === "pglite",
    // Storing what exporters send comes first; checking it in bulk catches up when they pause.
    foreground: () => ingestGate.utilization(),
    ...jobOptions,
  });
  evaluations.attach(jobs);
  experiments.attach(jobs);
  const playground = createPlayground({
    prompts,
    renderer,
    chat,
    connections,
    limiter,
    ingest: ownCalls,
    batchLimits: ingestLimits,
    logger,
  });
  const evaluators = createEvaluatorsService({ db, database, bus, evaluations, judge });
  const otlpDecoder = createOtlpDecoder({ logger, limits: ingestLimits });
  const events = createEventHub({
    bus,
    logger,
    options: {
      maxStreams: config.eventsMaxStreams,
      maxPerKey: config.eventsMaxPerKey,
      heartbeatMs: config.eventsHeartbeatMs,
      replaySize: config.eventsReplaySize,
      maxBufferBytes: config.eventsMaxBufferBytes,
    },
  });
  metrics.watchStreams(events);

  const app = express();
  // JSON answers end with a newline, as text a terminal prints should: curl leaves the shell prompt on its own line.
  app.response.json = function json(this: express.Response, body: unknown) {
    if (!this.get("Content-Type")) this.type("json");
    return this.send(`${JSON.stringify(body)}\n`);
  };
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  // Off unless configured: a client could otherwise claim HTTPS, or any address, with a header.
  app.set("trust proxy", config.trustProxy ?? false);
  app.use(requestContext(logger));
  app.use(metrics.middleware);

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  // Prometheus scrapes with `authorization: {credentials: <key>}`: the instance's figures are for its admin.
  app.get("/metrics", guardUrl, authenticate(auth), async (_req, res) => {
    requireInstanceAdmin(principalOf(res), "reading the metrics");
    res.setHeader("Content-Type", metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await database.ready();
    } catch (err) {
      throw new AppError("unavailable", `database not ready: ${(err as Error).message}`);
    }
    res.json({ status: "ready", database: database.kind });
  });

  const api = express.Router();
  if (checking) api.use(checkAnswers(API_ROUTES, apiDocument()));
  // Before anything reads the request: a NUL or a lone surrogate is a 422 here, never a database error later.
  api.use(guardUrl);
  // Counted before parsing: a body of too many values is refused without the work of parsing it (see input-guard.ts).
  const json = express.json({ limit: config.bodyLimitBytes, strict: false, verify: verifyJsonSize });
  api.use((req, res, next) => {
    // Reads carry no body: nothing to check or parse on the resolve hot path. An imported file is read by its route.
    if (req.method === "GET" || req.method === "HEAD" || RAW_BODY_PATHS.test(req.path)) return next();
    // A body in anything but JSON would otherwise be silently ignored and reported as missing fields.
    if (
      req.headers["content-length"] !== "0" &&
      (req.headers["content-length"] || req.headers["transfer-encoding"]) &&
      !req.is("application/json")
    )
      throw new AppError(
        "unsupported_media_type",
        `request bodies must be application/json, not '${req.get("content-type") ?? "none"}'`,
      );
    // UTF-8 only: the values of a body are counted on its bytes before it is parsed (verifyJsonSize), which another
    // encoding would get past.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.get("content-type") ?? "")?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8")
      throw new AppError("unsupported_media_type", `request bodies must be UTF-8, not charset '${charset}'`);
    json(req, res, next);
  });
  api.use(guardJsonBody);
  // The API's contract is public (see openapi.ts), for the console's reference page and for generating clients.
  on(api, OPENAPI_ROUTE, (_req, res) => {
    res.json(apiDocument() as { openapi: "3.1.0" });
  });
  api.use(sessionRoutes(sessions, { secureCookies: config.secureCookies ?? "auto" }));
  api.use(authenticate(auth, sessions));
  // Prompt routes first and registered on this router itself: resolving is the hot path, and every router level
  // and route passed costs a few matches.
  promptRoutes(prompts, api, metrics);
  api.use(authRoutes(auth));
  api.use(labelRoutes(labels));
  api.use(rolloutRoutes(rollouts));
  api.use(renderRoutes(prompts, renderer));
  api.use(playgroundRoutes(playground));
  api.use(traceRoutes(traces, annotations));
  api.use(compareRoutes(compare));
  api.use(priceRoutes(createPricesService({ db })));
  api.use(connectionRoutes(connections));
  api.use(evaluatorRoutes(evaluators));
  api.use(datasetRoutes(createDatasetsService({ db, database, bus })));
  api.use(experimentRoutes(experiments));
  api.use(gateRoutes(gates));
  api.use(eventRoutes(events));
  api.use(unencodedSlashHint);
  app.use("/api/v1", api);

  // OTLP/HTTP lives at the conventional /v1/traces, outside the JSON API (it reads its own raw body).
  app.use(
    otlpRoutes({
      auth,
      ingest,
      gate: ingestGate,
      decoder: otlpDecoder,
      metrics,
      maxBytes: otlpMaxBytes,
      bodyRead: {
        timeoutMs: config.otlpBodyTimeoutMs ?? DEFAULT_OTLP_BODY_TIMEOUT_MS,
        graceMs: OTLP_BODY_GRACE_MS,
        minBytesPerSecond: OTLP_BODY_MIN_RATE,
      },
      logger,
    }),
  );

  // The web console: static files, and its client-side routes fall back to index.html.
  app.use(consoleRoutes({ dir: config.consoleDir }));

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  // What the app holds beyond the database and the bus, which its caller opened and closes.
  const close = async () => {
    events.close();
    await rollouts.stopGuard();
    await jobs.stop();
    await evaluations.flush();
    await otlpDecoder.close();
  };
  return { app, auth, prompts, labels, rollouts, ingestGate, jobs, evaluations, events, close };
}
