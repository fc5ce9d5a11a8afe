// The span columns and rollup measures are defined once in code (src/traces/span-table.ts, src/traces/rollups.ts)
// and once in the migrations: the two must name the same columns with the same types, so a migration that adds a
// span column or a measure without its definition (or the other way round) fails here, not in an ingest.
import { afterAll, beforeAll, expect, it } from "vitest";
import { MEASURES } from "../src/traces/rollups.js";
import { SPAN_COLUMNS } from "../src/traces/span-table.js";
import { createHarness, type Harness } from "./helpers/harness.js";

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

/** The table's columns and their types, as information_schema names them. */
async function columnsOf(table: string): Promise<Map<string, string>> {
  const { rows } = await h.database.query<{ name: string; type: string }>(
    `SELECT column_name AS name, data_type AS type FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  return new Map(rows.map((r) => [r.name, r.type]));
}

const STORED_AS = { timestamptz: "timestamp with time zone" } as Record<string, string>;

it("defines exactly the columns of the spans table, each sent in the type it is stored in", async () => {
  const stored = await columnsOf("spans");
  expect(Object.keys(SPAN_COLUMNS).sort()).toEqual([...stored.keys()].sort());
  for (const [name, column] of Object.entries(SPAN_COLUMNS)) {
    // A column the rows carry as they are stored (the hashes travel as hex text and are decoded by the INSERT).
    if (column.sql === null || column.insert !== undefined) continue;
    expect([name, STORED_AS[column.sql] ?? column.sql]).toEqual([name, stored.get(name)]);
  }
});

it("defines exactly the measures of span_rollups, each in its column's type", async () => {
  const stored = await columnsOf("span_rollups");
  for (const key of ["project_id", "version_id", "hour", "label", "source", "model", "latency_bucket"])
    expect(stored.delete(key)).toBe(true);
  expect(MEASURES.map((m) => [m.column, m.type]).sort()).toEqual([...stored.entries()].sort());
});
