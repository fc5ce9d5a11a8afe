// The only module that drives Prisma's schema engine. The native engine cannot be downloaded on offline machines,
// so migrations run through the same engine compiled to WebAssembly (`@prisma/schema-engine-wasm`, pinned: it has
// no stable public API). `applyMigrations` applies prisma/migrations/*/migration.sql in order and records them in
// `_prisma_migrations`, exactly as `prisma migrate deploy` would, so either tool can take over a database.
import { readFile, readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import * as engineBindings from "@prisma/schema-engine-wasm/schema_engine_bg";
import type { MigrationList, SchemaEngine } from "@prisma/schema-engine-wasm";

export interface MigrationPaths {
  /** Absolute path of prisma/schema.prisma. */
  schemaPath: string;
  /** Absolute path of prisma/migrations. */
  migrationsDir: string;
}

const NO_FILTER = { externalTables: [], externalEnums: [] };
let wasmReady: Promise<void> | undefined;

// The global is there at run time; this project's lib settings (no DOM) just do not declare it.
type WasmExports = Record<string, unknown>;
const { WebAssembly: wasm } = globalThis as unknown as {
  WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: WasmExports } }> };
};

// The wasm-bindgen glue keeps the instance in module state, so it is instantiated once per process.
function initWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const glue = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const bytes = await readFile(path.join(path.dirname(glue), "schema_engine_bg.wasm"));
    const { instance } = await wasm.instantiate(bytes, { "./schema_engine_bg.js": engineBindings });
    const bg = engineBindings as unknown as { __wbg_set_wasm(exports: WasmExports): void };
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return wasmReady;
}

async function openEngine(
  paths: MigrationPaths,
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<SchemaEngine> {
  await initWasm();
  const schema = await readFile(paths.schemaPath, "utf8");
  const { SchemaEngine } = engineBindings as unknown as {
    SchemaEngine: typeof import("@prisma/schema-engine-wasm").SchemaEngine;
  };
  // The engine only accepts a factory wrapped by the driver-adapter error capturing layer.
  return SchemaEngine.new(
    { datamodels: [[paths.schemaPath, schema]] },
    () => {},
    bindMigrationAwareSqlAdapterFactory(factory),
  );
}

async function readMigrations(migrationsDir: string): Promise<MigrationList> {
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch(() => []);
  const dirs = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const lockPath = path.join(migrationsDir, "migration_lock.toml");
  return {
    baseDir: migrationsDir,
    lockfile: { path: "migration_lock.toml", content: await readFile(lockPath, "utf8").catch(() => null) },
    shadowDbInitScript: "",
    migrationDirectories: await Promise.all(
      dirs.map(async (dir) => {
        const file = path.join(migrationsDir, dir, "migration.sql");
        const content = await readFile(file, "utf8").then(
          (value) => ({ tag: "ok" as const, value }),
          (err: Error) => ({ tag: "error" as const, value: err.message }),
        );
        return { path: dir, migrationFile: { path: "migration.sql", content } };
      }),
    ),
  };
}

/** Applies every pending migration; returns the names of those applied now. */
export async function applyMigrations(
  paths: MigrationPaths,
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<string[]> {
  const engine = await openEngine(paths, factory);
  try {
    const migrationsList = await readMigrations(paths.migrationsDir);
    const out = await engine.applyMigrations({ migrationsList, filters: NO_FILTER });
    return out.appliedMigrationNames;
  } finally {
    engine.free();
  }
}

/** SQL that takes a database at the state of the migrations folder to the state of schema.prisma ("" when none). */
export async function diffMigrationsToSchema(
  paths: MigrationPaths,
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<string> {
  const engine = await openEngine(paths, factory);
  try {
    const migrationsList = await readMigrations(paths.migrationsDir);
    const schema = await readFile(paths.schemaPath, "utf8");
    const from = migrationsList.migrationDirectories.length
      ? ({ tag: "migrations", ...migrationsList } as const)
      : ({ tag: "empty" } as const);
    const out = await engine.diff({
      from,
      to: { tag: "schemaDatamodel", files: [{ path: paths.schemaPath, content: schema }] },
      script: true,
      exitCode: null,
      shadowDatabaseUrl: null,
      filters: NO_FILTER,
    } as Parameters<SchemaEngine["diff"]>[0]);
    const sql = out.stdout ?? "";
    return /^\s*(--.*\s*)*$/.test(sql) && !/\b(CREATE|ALTER|DROP)\b/i.test(sql) ? "" : sql;
  } finally {
    engine.free();
  }
}
