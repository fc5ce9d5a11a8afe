// A time series from the raw spans: any bucket, failure definition and filter, exact percentiles.
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { judgementSql } from "./failure.js";
import { versionSpanFilters } from "./filters.js";
import type { Rows, TimeseriesQuery } from "./queries.js";

/** The first and last start time of the versions' counted spans. */
export async function rawRange(
  database: Database,
  projectId: string,
  versionIds: string[],
  q: TimeseriesQuery,
): Promise<{ lo: Date | null; hi: Date | null } | undefined> {
  const { rows } = await database.query<{ lo: Date | null; hi: Date | null }>(Prisma.sql`
    SELECT min(s.start_time) AS lo, max(s.start_time) AS hi FROM spans s WHERE ${versionSpanFilters(projectId, versionIds, q)}`);
  return rows[0];
}

/**
 * One row per version and bucket of `interval`. count and failures are the judged units, as in compare; latency and
 * cost cover every span of the bucket.
 */
export async function rawPoints(
  database: Database,
  projectId: string,
  versionIds: string[],
  q: TimeseriesQuery,
  interval: string,
): Promise<Rows> {
  const { rows } = await database.query(Prisma.sql`
    SELECT s.version_id::text AS version_id, date_bin(${interval}::interval, s.start_time, TIMESTAMPTZ '2000-01-01T00:00:00Z') AS bucket,
       (count(*) FILTER (WHERE f.judged))::int AS count, count(*)::int AS spans, (count(*) FILTER (WHERE f.judged AND f.failed))::int AS failures,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY s.latency_ms) AS latency_p95, avg(s.cost_usd) AS cost_mean
     FROM spans s CROSS JOIN LATERAL ${judgementSql(projectId, q.failure)} f
     WHERE ${versionSpanFilters(projectId, versionIds, q)}
     GROUP BY 1, 2 ORDER BY 2, 1`);
  return rows;
}
