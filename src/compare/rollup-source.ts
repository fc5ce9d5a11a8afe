// The rows comparisons and time series aggregate instead of the raw spans when span_rollups can answer: whole
// hours from the rollups, the partial hours at a window's edges from the spans, each row with every measure of
// traces/rollups.ts.
import { Prisma } from "../generated/prisma/client.js";
import { ROLLUP_MEASURES_SQL, SPAN_SHARES_SQL } from "../traces/rollups.js";
import { rollupFilters, versionSpanFilters, type CompareFilters } from "./filters.js";

const HOUR_MS = 3_600_000;

/**
 * The rows to aggregate instead of the raw spans: whole UTC hours inside [from, to) from span_rollups, plus the raw
 * spans of the partial hours at either edge, bucketed the same way. With `bin` (an interval such as '1 hour'), each
 * row also carries the start of its time-series bucket; bins are whole hours or days, so an hour never straddles two.
 */
export function rollupSource(projectId: string, versionIds: string[], f: CompareFilters, bin?: string): Prisma.Sql {
  const fromHour = f.from && new Date(Math.ceil(f.from.getTime() / HOUR_MS) * HOUR_MS);
  const toHour = f.to && new Date(Math.floor(f.to.getTime() / HOUR_MS) * HOUR_MS);
  const noWholeHour = fromHour && toHour && fromHour >= toHour;
  const binOf = (column: string) =>
    bin
      ? Prisma.sql`date_bin(${bin}::interval, ${Prisma.raw(column)}, TIMESTAMPTZ '2000-01-01T00:00:00Z') AS bin,`
      : Prisma.empty;
  const parts: Prisma.Sql[] = [];
  if (!noWholeHour) {
    // A row whose spans were all taken out again (LLM judges found later) holds nothing.
    const where = [...rollupFilters(projectId, versionIds, f), Prisma.sql`r.spans <> 0`];
    if (fromHour) where.push(Prisma.sql`r.hour >= ${fromHour.toISOString()}::timestamptz`);
    if (toHour) where.push(Prisma.sql`r.hour < ${toHour.toISOString()}::timestamptz`);
    parts.push(Prisma.sql`SELECT r.version_id, ${binOf("r.hour")} r.source, r.latency_bucket, ${ROLLUP_MEASURES_SQL}
      FROM span_rollups r WHERE ${Prisma.join(where, " AND ")}`);
  }
  const edges: Prisma.Sql[] = [];
  if (noWholeHour) edges.push(Prisma.sql`TRUE`);
  else {
    if (fromHour && fromHour.getTime() !== f.from!.getTime())
      edges.push(Prisma.sql`s.start_time < ${fromHour.toISOString()}::timestamptz`);
    if (toHour && toHour.getTime() !== f.to!.getTime())
      edges.push(Prisma.sql`s.start_time >= ${toHour.toISOString()}::timestamptz`);
  }
  if (edges.length)
    parts.push(Prisma.sql`SELECT s.version_id, ${binOf("s.start_time")} coalesce(s.source, 'unspecified') AS source,
        promptreg_latency_bucket(s.latency_ms) AS latency_bucket, ${SPAN_SHARES_SQL}
      FROM spans s WHERE ${versionSpanFilters(projectId, versionIds, f)} AND (${Prisma.join(edges, " OR ")})`);
  return Prisma.sql`(${Prisma.join(parts, " UNION ALL ")})`;
}
