// Opens the database: the embedded PGlite (default) or a PostgreSQL server. Both speak the same SQL, so the rest
// of the code does not know which one it has, except for cross-instance notifications (PostgreSQL only).
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite, types } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { Prisma, PrismaClient } from "../generated/prisma/client.js";
import { migrationPaths } from "../paths.js";
import { lockDataDir, type LockOwner } from "./data-lock.js";
import { applyMigrations } from "./migrate.js";

export type Db = PrismaClient;
/** An interactive transaction's client. */
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

/** Prisma's error for a row that breaks a unique constraint (P2002): the one place that knows the code. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "P2002";
}

export interface DatabaseOptions {
  /** PostgreSQL server URL; when absent the embedded database is used. */
  url?: string;
  /** Folder of the embedded database; `memory` keeps it in memory (tests). */
  dataDir?: string | "memory";
  /**
   * Embedded database in memory only: start from this data folder (from `dumpDataDir`, e.g. of a migrated database)
   * rather than an empty one. Tests use it to skip creating and migrating a database for each file.
   */
  initialData?: Blob;
  poolSize?: number;
  /**
   * Who opens an embedded data folder, named to any other process that tries while it is open (the folder is
   * locked from open to close).
   */
  owner?: LockOwner;
}

export interface QueryResult<T> {
  rows: T[];
  /** Rows inserted, updated or deleted by the statement. */
  rowCount: number;
}

export interface Database {
  kind: "pglite" | "postgres";
  prisma: PrismaClient;
  /**
   * One SQL statement straight on the driver: every raw statement that is not part of a Prisma transaction goes
   * here (see README.md in this folder). Built with `Prisma.sql` (values travel as parameters); the text form with
   * `$1..$n` and `params` is for tests and scripts. int8 comes back as a string on PostgreSQL and numeric as text, so
   * cast in SQL (e.g. `id::text`, `::float8`) when both databases must return the same type. Runs outside any Prisma
   * transaction. A json value may be given as its UTF-8 text in a Uint8Array: both drivers then send the bytes as they
   * are (the binary format of json), which on the embedded database is much cheaper than a large string.
   */
  query<T = Record<string, unknown>>(statement: Prisma.Sql): Promise<QueryResult<T>>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Applies pending migrations; returns the names applied now. */
  migrate(): Promise<string[]>;
  /** Resolves when the database answers and no migration is unfinished; otherwise rejects saying why. */
  ready(): Promise<void>;
  /** The embedded database's data folder as a tarball, for `initialData` (embedded only). */
  dumpDataDir?(): Promise<Blob>;
  /** A dedicated connection that receives the NOTIFY messages of `channels` (PostgreSQL only). */
  listen?(
    channels: string[],
    onMessage: (channel: string, payload: string) => void,
    onLost: (err: Error) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url
    ? openPostgres(options.url, options.poolSize ?? 10)
    : openPglite(
        options.dataDir ?? "memory",
        options.owner ?? { command: "another promptreg process" },
        options.initialData,
      );
}

async function openPglite(dataDir: string, owner: LockOwner, initialData: Blob | undefined): Promise<Database> {
  if (initialData && dataDir !== "memory") throw new Error("initialData is for an in-memory database only");
  // Locked before anything touches pgdata: a second process would otherwise open the same files and split the data.
  const lock = dataDir === "memory" ? undefined : await lockDataDir(dataDir, owner);
  let pglite: PGlite;
  try {
    if (dataDir === "memory") pglite = new PGlite(initialData ? { loadDataDir: initialData } : {});
    else {
      const dir = path.join(dataDir, "pgdata");
      await mkdir(dir, { recursive: true });
      pglite = new PGlite(dir);
    }
    await pglite.waitReady;
    // A new WAL segment is a 16 MB file, zero-filled by default in small writes; PGlite's in-memory files grow by an
    // eighth at each write past their end, copying themselves (measured: ~390 MB copied per 60 ingest requests of
    // 512 spans, a new segment every ~20). Off, the segment is made by writing its last byte. On disk it only skips
    // writing zeros that the WAL overwrites anyway.
    await pglite.exec("SET wal_init_zero = off");
  } catch (err) {
    await lock?.release();
    throw err;
  }
  const factory = new PrismaPGlite(pglite);
  const prisma = new PrismaClient({ adapter: factory });
  // PGlite measures a string parameter's UTF-8 length in JavaScript one character at a time (twice), about a third
  // of what passing ingest's JSON of several hundred kB costs. Its bind message also takes bytes, in binary format
  // (the serializer's type names only strings), so a json parameter given as bytes skips that.
  const serializeJson = pglite.serializers[types.JSON]!;
  const queryOptions = {
    serializers: {
      [types.JSON]: (value: unknown) =>
        value instanceof Uint8Array ? (value as unknown as string) : serializeJson(value),
    },
  };
  const database: Database = {
    kind: "pglite",
    prisma,
    // PGlite runs a plain query only between transactions, so this never lands inside one of Prisma's.
    async query<T>(sql: string | Prisma.Sql, params: unknown[] = []) {
      const result = await pglite.query<T>(...driverStatement(sql, params), queryOptions);
      return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
    },
    migrate: () => applyMigrations(migrationPaths(), factory),
    ready: () => checkReady(database),
    dumpDataDir: () => pglite.dumpDataDir("none"),
    async close() {
      try {
        await prisma.$disconnect();
        await pglite.close();
      } finally {
        await lock?.release();
      }
    },
  };
  return database;
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  // One pool shared by Prisma and raw queries, so the connection budget is the configured size, not twice it.
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle connection dropped by the server is discarded by the pool; unhandled, the event would end the process.
  pool.on("error", () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const database: Database = {
    kind: "postgres",
    prisma,
    async query<T>(sql: string | Prisma.Sql, params: unknown[] = []) {
      const result = await pool.query(...driverStatement(sql, params));
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async migrate() {
      // Our own pool, ended afterwards: an idle pool would otherwise keep a short-lived process (the CLI) alive.
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        return await applyMigrations(migrationPaths(), new PrismaPg(pool) as SqlMigrationAwareDriverAdapterFactory);
      } finally {
        await pool.end();
      }
    },
    ready: () => checkReady(database),
    async listen(channels, onMessage, onLost) {
      const client = new pg.Client({ connectionString: url });
      client.on("notification", (msg) => {
        if (channels.includes(msg.channel)) onMessage(msg.channel, msg.payload ?? "");
      });
      client.on("error", onLost);
      client.on("end", () => onLost(new Error("LISTEN connection ended")));
      await client.connect();
      for (const channel of channels) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return async () => {
        client.removeAllListeners("end");
        client.removeAllListeners("error");
        client.on("error", () => {});
        await client.end().catch(() => {});
      };
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
  return database;
}

/** A query()'s statement as the drivers take it: `$1..$n` text and the values. */
function driverStatement(sql: string | Prisma.Sql, params: unknown[]): [string, unknown[]] {
  return typeof sql === "string" ? [sql, params] : [sql.text, sql.values];
}

async function checkReady(database: Database): Promise<void> {
  const { rows } = await database.query<{ pending: number }>(Prisma.sql`
    SELECT count(*)::int AS pending FROM _prisma_migrations WHERE finished_at IS NULL OR rolled_back_at IS NOT NULL`);
  if (rows[0]!.pending > 0) throw new Error("unfinished migrations");
}
