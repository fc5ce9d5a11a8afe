// A comparison from the raw spans: any unit, failure definition and filter, exact percentiles.
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { RAW_AMOUNTS_SQL } from "../traces/rollups.js";
import { parseDecimal } from "./decimal.js";
import { judgementSql } from "./failure.js";
import { amounts, type Figures } from "./figures.js";
import { versionSpanFilters } from "./filters.js";
import { num, type CompareQuery, type Rows } from "./queries.js";

/** The per-version metrics: per version, and per version and source (GROUPING SETS), with exact percentiles. */
export async function rawRows(
  database: Database,
  projectId: string,
  versionIds: string[],
  q: CompareQuery,
): Promise<Rows> {
  const unit = Prisma.raw(q.unit === "span" ? "*" : "DISTINCT s.trace_id");
  const { rows } = await database.query(Prisma.sql`
    SELECT s.version_id::text AS version_id, coalesce(s.source, 'unspecified') AS source, GROUPING(coalesce(s.source, 'unspecified'))::int AS all_sources,
       (count(${unit}) FILTER (WHERE f.judged))::int AS units, (count(${unit}) FILTER (WHERE f.judged AND f.failed))::int AS failures,
       count(${unit})::int AS all_units, count(*)::int AS spans,
       (count(${unit}) FILTER (WHERE f.errored))::int AS errored_units,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.latency_ms) AS latency_pct,
       avg(s.latency_ms) AS latency_mean, ${RAW_AMOUNTS_SQL}
     FROM spans s CROSS JOIN LATERAL ${judgementSql(projectId, q.failure)} f
     WHERE ${versionSpanFilters(projectId, versionIds, q)}
     GROUP BY GROUPING SETS ((s.version_id), (s.version_id, coalesce(s.source, 'unspecified')))`);
  return rows;
}

/** Figures from the raw-spans statement's rows (GROUPING SETS: all sources, then each source). */
export function rawFigures(rows: Rows, versionId: string): Figures {
  const all = rows.find((r) => r.version_id === versionId && r.all_sources === 1);
  return {
    units: num(all?.units) ?? 0,
    allUnits: num(all?.all_units) ?? 0,
    erroredUnits: num(all?.errored_units) ?? 0,
    spans: num(all?.spans) ?? 0,
    failures: num(all?.failures) ?? 0,
    pct: (all?.latency_pct as number[] | null) ?? null,
    latencyMean: num(all?.latency_mean),
    ...amounts(
      (column) => num(all?.[column]) ?? 0,
      (column) => parseDecimal((all?.[column] as string | undefined) ?? "0"),
      num(all?.spans) ?? 0,
    ),
    bySource: rows
      .filter((r) => r.version_id === versionId && r.all_sources === 0)
      .map((r) => ({ source: r.source as string, units: num(r.units)!, failures: num(r.failures)! })),
  };
}
