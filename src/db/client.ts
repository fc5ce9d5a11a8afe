// Opens the database: the embedded PGlite (default) or a PostgreSQL server. Both speak the same SQL, so the rest
// of the code does not know which one it has, except for cross-instance notifications (PostgreSQL only).
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.js";
import { migrationPaths } from "../paths.js";
import { applyMigrations } from "./migrate.js";

export type Db = PrismaClient;
/** An interactive transaction's client. */
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

export interface DatabaseOptions {
  /** PostgreSQL server URL; when absent the embedded database is used. */
  url?: string;
  /** Folder of the embedded database; `memory` keeps it in memory (tests). */
  dataDir?: string | "memory";
  poolSize?: number;
}

export interface Database {
  kind: "pglite" | "postgres";
  prisma: PrismaClient;
  /** Applies pending migrations; returns the names applied now. */
  migrate(): Promise<string[]>;
  /** A dedicated connection that receives NOTIFY messages (PostgreSQL only). */
  listen?(channel: string, onMessage: (payload: string) => void, onLost: (err: Error) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options.poolSize ?? 10) : openPglite(options.dataDir ?? "memory");
}

async function openPglite(dataDir: string): Promise<Database> {
  let pglite: PGlite;
  if (dataDir === "memory") pglite = new PGlite();
  else {
    const dir = path.join(dataDir, "pgdata");
    await mkdir(dir, { recursive: true });
    pglite = new PGlite(dir);
  }
  await pglite.waitReady;
  const factory = new PrismaPGlite(pglite);
  const prisma = new PrismaClient({ adapter: factory });
  return {
    kind: "pglite",
    prisma,
    migrate: () => applyMigrations(migrationPaths(), factory),
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: poolSize }) });
  return {
    kind: "postgres",
    prisma,
    migrate: () => applyMigrations(migrationPaths(), new PrismaPg({ connectionString: url, max: 1 }) as SqlMigrationAwareDriverAdapterFactory),
    async listen(channel, onMessage, onLost) {
      const client = new pg.Client({ connectionString: url });
      client.on("notification", (msg) => {
        if (msg.channel === channel) onMessage(msg.payload ?? "");
      });
      client.on("error", onLost);
      client.on("end", () => onLost(new Error("LISTEN connection ended")));
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return async () => {
        client.removeAllListeners("end");
        client.removeAllListeners("error");
        client.on("error", () => {});
        await client.end().catch(() => {});
      };
    },
    async close() {
      await prisma.$disconnect();
    },
  };
}
