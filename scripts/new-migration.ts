// Authors the next migration from prisma/schema.prisma: `npm run migration:new -- <name>`.
// The diff is computed by the wasm schema engine against a throwaway in-memory PGlite (used as the shadow database
// when replaying the existing migrations), so no database server and no native engine are needed.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { diffMigrationsToSchema } from "../src/db/migrate.js";

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: npm run migration:new -- <name in snake_case>");
  process.exit(2);
}
const root = path.resolve(import.meta.dirname, "..");
const paths = {
  schemaPath: path.join(root, "prisma/schema.prisma"),
  migrationsDir: path.join(root, "prisma/migrations"),
};
const sql = await diffMigrationsToSchema(paths, new PrismaPGlite(new PGlite()));
if (!sql) {
  console.log("schema.prisma matches the migrations: nothing to write");
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
const dir = path.join(paths.migrationsDir, `${stamp}_${name}`);
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, "migration.sql"), sql);
console.log(`wrote ${path.relative(root, dir)}/migration.sql`);
