// Starts the service: take the port, open the database, apply migrations, first-start bootstrap, serve; stops it
// gracefully.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import type { Config } from "./config.js";
import { openDatabase, type Database } from "./db/client.js";
import { createInvalidationBus, type InvalidationBus } from "./db/invalidation.js";

export interface RunningServer {
  server: Server;
  port: number;
  database: Database;
  stop(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  // The port first: a busy port must fail before anything is created (the data folder, the admin key), and the
  // data folder's lock records the port actually bound. Until the app is ready, requests get a 503.
  let handle: (req: IncomingMessage, res: ServerResponse) => void = starting;
  const server = createServer((req, res) => handle(req, res));
  await listen(server, config.port, config.host);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;

  let database: Database | undefined;
  let bus: InvalidationBus | undefined;
  let closeApp: () => Promise<void> = async () => {};
  let endStreams = () => {};
  try {
    database = await openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.dbPoolSize,
      owner: { command: "promptreg serve", url: `http://${urlHost(config.host)}:${port}` },
    });
    const applied = await database.migrate();
    logger.info(
      { database: database.kind, applied, dataDir: database.kind === "pglite" ? config.dataDir : undefined },
      "database ready",
    );
    bus = await createInvalidationBus(database, logger);
    const created = createApp({ config, database, bus, logger });
    const { app, auth } = created;
    closeApp = created.close;
    endStreams = () => created.events.close();
    await auth.bootstrap({ adminKey: config.adminKey, dataDir: config.dataDir, logger });
    created.jobs.start();
    created.rollouts.startGuard();
    handle = app;
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await bus?.close();
    await database?.close();
    throw err;
  }
  logger.info({ host: config.host, port }, "promptreg listening");

  const db = database;
  const events = bus;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop accepting, let in-flight requests finish, then close the database.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // A live-update stream never finishes by itself: ended now, its client resumes on another instance.
      endStreams();
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
      await closeApp();
      await events.close();
      await db.close();
      logger.info("promptreg stopped");
    })());
  return { server, port, database: db, stop };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE")
        reject(
          new Error(`port ${port} on ${host} is already in use: stop what listens there, or set PORT to a free port`),
        );
      else if (err.code === "EACCES")
        reject(new Error(`no permission to listen on port ${port} on ${host}: choose a port above 1023 with PORT`));
      else reject(err);
    };
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

/** The host to put in a URL for reaching a server bound to `host` from this machine. */
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

function starting(_req: IncomingMessage, res: ServerResponse): void {
  const requestId = randomUUID();
  res.writeHead(503, {
    "Content-Type": "application/json; charset=utf-8",
    "Retry-After": "1",
    "X-Request-Id": requestId,
  });
  res.end(JSON.stringify({ error: { code: "unavailable", message: "promptreg is starting", requestId } }));
}
