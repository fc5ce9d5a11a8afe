// The composition root: builds the services from their dependencies and mounts thin routers. No globals, no listen.
import express from "express";
import type { Logger } from "pino";
import { createRenderer } from "@promptreg/client/render";
import { authenticate } from "./auth/auth.middleware.js";
import { authRoutes } from "./auth/auth.routes.js";
import { createAuthService } from "./auth/auth.service.js";
import type { Config } from "./config.js";
import type { Database } from "./db/client.js";
import type { InvalidationBus } from "./db/invalidation.js";
import { errorHandler, notFoundHandler } from "./http/error-handler.js";
import { AppError } from "./http/errors.js";
import { requestContext } from "./http/request-context.js";
import { labelRoutes } from "./labels/labels.routes.js";
import { createLabelsService } from "./labels/labels.service.js";
import { promptRoutes } from "./prompts/prompts.routes.js";
import { createPromptsService } from "./prompts/prompts.service.js";
import { renderRoutes } from "./render/render.routes.js";

export interface AppDeps {
  config: Pick<Config, "bodyLimitBytes" | "resolveCacheSize">;
  database: Database;
  bus: InvalidationBus;
  logger: Logger;
}

export function createApp({ config, database, bus, logger }: AppDeps) {
  const db = database.prisma;
  const auth = createAuthService({ db, bus });
  const prompts = createPromptsService({ db, bus, cacheSize: config.resolveCacheSize });
  const labels = createLabelsService({ db, bus });
  const renderer = createRenderer();

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  app.use(requestContext(logger));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    try {
      const rows = await db.$queryRaw<{ pending: number }[]>`
        SELECT count(*)::int AS pending FROM _prisma_migrations WHERE finished_at IS NULL OR rolled_back_at IS NOT NULL`;
      if (rows[0]!.pending > 0) throw new Error("unfinished migrations");
      res.json({ status: "ready", database: database.kind });
    } catch (err) {
      throw new AppError("unavailable", `database not ready: ${(err as Error).message}`);
    }
  });

  const api = express.Router();
  api.use((req, _res, next) => {
    // A body in anything but JSON would otherwise be silently ignored and reported as missing fields.
    if (req.headers["content-length"] !== "0" && (req.headers["content-length"] || req.headers["transfer-encoding"]) && !req.is("application/json"))
      throw new AppError("unsupported_media_type", `request bodies must be application/json, not '${req.get("content-type") ?? "none"}'`);
    next();
  });
  api.use(express.json({ limit: config.bodyLimitBytes, strict: false }));
  api.use(authenticate(auth));
  api.use(authRoutes(auth));
  api.use(promptRoutes(prompts));
  api.use(labelRoutes(labels));
  api.use(renderRoutes(prompts, renderer));
  app.use("/api/v1", api);

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return { app, auth, prompts, labels };
}
