// A comparison from span_rollups: counts, failures, sums and means exact, percentiles from the latency histogram
// within the bound histogram.ts states.
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { MEASURE_TOTALS_SQL, type MeasureColumn } from "../traces/rollups.js";
import { parseDecimal } from "./decimal.js";
import { amounts, type Figures } from "./figures.js";
import type { CompareFilters } from "./filters.js";
import { histogramPercentiles } from "./histogram.js";
import type { Rows } from "./queries.js";
import { rollupSource } from "./rollup-source.js";

/** A comparison's rollup rows: one per version, source and latency bucket. */
function rollupQuery(projectId: string, versionIds: string[], f: CompareFilters): Prisma.Sql {
  return Prisma.sql`SELECT x.version_id::text AS version_id, x.source, x.latency_bucket::int AS bucket, ${MEASURE_TOTALS_SQL}
    FROM ${rollupSource(projectId, versionIds, f)} x
    GROUP BY 1, 2, 3`;
}

/** The comparison's rollup rows. */
export async function rollupRows(
  database: Database,
  projectId: string,
  versionIds: string[],
  f: CompareFilters,
): Promise<Rows> {
  return (await database.query(rollupQuery(projectId, versionIds, f))).rows;
}

/** Figures from rollup rows (one per version, source and latency bucket): exact but for the percentiles. */
export function rolledFigures(rows: Rows, versionId: string): Figures {
  const mine = rows.filter((r) => r.version_id === versionId);
  const total = (column: MeasureColumn) => mine.reduce((s, r) => s + Number(r[column]), 0);
  const exactTotal = (column: MeasureColumn) => mine.reduce((s, r) => s + parseDecimal(r[column] as string), 0n);
  const hist = new Map<number, number>();
  const bySource = new Map<string, { source: string; units: number; failures: number }>();
  for (const r of mine) {
    const bucket = Number(r.bucket);
    hist.set(bucket, (hist.get(bucket) ?? 0) + Number(r.spans));
    const source = r.source as string;
    const entry = bySource.get(source) ?? { source, units: 0, failures: 0 };
    entry.units += Number(r.spans);
    entry.failures += Number(r.failures);
    bySource.set(source, entry);
  }
  const spans = total("spans");
  return {
    units: spans,
    allUnits: spans,
    erroredUnits: 0,
    spans,
    failures: total("failures"),
    pct: spans ? histogramPercentiles(hist, [0.5, 0.95, 0.99]) : null,
    latencyMean: spans ? total("latency_sum") / spans : null,
    ...amounts(total, exactTotal, spans),
    bySource: [...bySource.values()],
  };
}
