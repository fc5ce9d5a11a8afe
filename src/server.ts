// Starts the service: open the database, apply migrations, first-start bootstrap, listen; stops it gracefully.
import type { Server } from "node:http";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import type { Config } from "./config.js";
import { openDatabase, type Database } from "./db/client.js";
import { createInvalidationBus } from "./db/invalidation.js";

export interface RunningServer {
  server: Server;
  port: number;
  database: Database;
  stop(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPoolSize });
  const applied = await database.migrate();
  logger.info({ database: database.kind, applied, dataDir: database.kind === "pglite" ? config.dataDir : undefined }, "database ready");
  const bus = await createInvalidationBus(database, logger);
  const { app, auth } = createApp({ config, database, bus, logger });
  await auth.bootstrap({ adminKey: config.adminKey, dataDir: config.dataDir, logger });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info({ host: config.host, port }, "promptreg listening");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop accepting, let in-flight requests finish, then close the database.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
      await bus.close();
      await database.close();
      logger.info("promptreg stopped");
    })());
  return { server, port, database, stop };
}
