// A time series from span_rollups: counts, failures and mean costs exact, the p95 latency from the histogram within
// the bound histogram.ts states. Hourly and daily buckets only (the rollups are hourly).
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import type { CompareFilters } from "./filters.js";
import { rollupFilters } from "./filters.js";
import { bucketMidpoint } from "./histogram.js";
import type { Rows } from "./queries.js";
import { rollupSource } from "./rollup-source.js";

/** The first and last hour the rollups hold for the versions (hour starts: up to an hour short of the last span). */
export async function rolledRange(
  database: Database,
  projectId: string,
  versionIds: string[],
  f: CompareFilters,
): Promise<{ lo: Date | null; hi: Date | null } | undefined> {
  const { rows } = await database.query<{ lo: Date | null; hi: Date | null }>(Prisma.sql`
    SELECT min(r.hour) AS lo, max(r.hour) AS hi FROM span_rollups r WHERE ${Prisma.join(rollupFilters(projectId, versionIds, f), " AND ")}`);
  return rows[0];
}

/** One row per version and bucket of `interval` (an SQL interval such as '1 hour'), with `latency_p95`. */
export async function rolledPoints(
  database: Database,
  projectId: string,
  versionIds: string[],
  f: CompareFilters,
  interval: string,
): Promise<Rows> {
  const source = rollupSource(projectId, versionIds, f, interval);
  // Per version and bin, the latency buckets holding the two ranks percentile_cont(0.95) interpolates between
  // (rank k sits in the first bucket whose running count exceeds k); histogram.ts has the error bound.
  const { rows } = await database.query(Prisma.sql`
     WITH h AS (
       SELECT x.version_id, x.bin, x.latency_bucket, sum(x.spans) AS c, sum(x.failures) AS failures,
         sum(x.cost_sum) AS cost_sum, sum(x.cost_count) AS cost_count
       FROM ${source} x GROUP BY 1, 2, 3
     ), ranked AS (
       SELECT h.*, sum(h.c) OVER (PARTITION BY h.version_id, h.bin ORDER BY h.latency_bucket) AS cum,
         sum(h.c) OVER (PARTITION BY h.version_id, h.bin) AS n
       FROM h
     )
     SELECT version_id::text AS version_id, bin AS bucket, sum(c)::int AS count, sum(c)::int AS spans, sum(failures)::int AS failures,
       (sum(cost_sum) / nullif(sum(cost_count), 0))::float8 AS cost_mean,
       min(latency_bucket) FILTER (WHERE cum > floor(0.95 * (n - 1)))::int AS p95_lo,
       min(latency_bucket) FILTER (WHERE cum > ceil(0.95 * (n - 1)))::int AS p95_hi,
       min(0.95 * (n - 1) - floor(0.95 * (n - 1)))::float8 AS p95_frac
     FROM ranked GROUP BY 1, 2 ORDER BY 2, 1`);
  return rows.map((r) => {
    const lo = bucketMidpoint(Number(r.p95_lo));
    return { ...r, latency_p95: lo + Number(r.p95_frac) * (bucketMidpoint(Number(r.p95_hi)) - lo) };
  });
}
