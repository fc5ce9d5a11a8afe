// The span conditions shared by every comparison statement, as Prisma.sql fragments over the spans table aliased `s`
// (or span_rollups aliased `r`).
import { Prisma } from "../generated/prisma/client.js";
import { COUNTED_SPANS_SQL } from "../traces/rollups.js";

export interface CompareFilters {
  from?: Date;
  to?: Date;
  label?: string;
  model?: string;
  session?: string;
  user?: string;
  source?: string;
}

/** The project's counted spans inside the window and filters, whatever version they belong to. */
export function spanFilters(projectId: string, f: CompareFilters): Prisma.Sql {
  const where = [Prisma.sql`s.project_id = ${projectId}::uuid`, Prisma.raw(COUNTED_SPANS_SQL)];
  if (f.from) where.push(Prisma.sql`s.start_time >= ${f.from.toISOString()}::timestamptz`);
  if (f.to) where.push(Prisma.sql`s.start_time < ${f.to.toISOString()}::timestamptz`);
  if (f.label) where.push(Prisma.sql`s.label = ${f.label}`);
  if (f.model) where.push(Prisma.sql`s.model = ${f.model}`);
  if (f.session) where.push(Prisma.sql`s.session_id = ${f.session}`);
  if (f.user) where.push(Prisma.sql`s.user_id = ${f.user}`);
  if (f.source) where.push(Prisma.sql`coalesce(s.source, 'unspecified') = ${f.source}`);
  return Prisma.join(where, " AND ");
}

/** The counted spans of the versions `versionIds` inside the window and filters. */
export function versionSpanFilters(projectId: string, versionIds: string[], f: CompareFilters): Prisma.Sql {
  return Prisma.sql`s.version_id = ANY(${versionIds}::uuid[]) AND ${spanFilters(projectId, f)}`;
}

/** The same for span_rollups rows, but for the time window, which rollupSource cuts at whole hours. */
export function rollupFilters(projectId: string, versionIds: string[], f: CompareFilters): Prisma.Sql[] {
  const where = [Prisma.sql`r.project_id = ${projectId}::uuid`, Prisma.sql`r.version_id = ANY(${versionIds}::uuid[])`];
  if (f.label) where.push(Prisma.sql`r.label = ${f.label}`);
  if (f.model) where.push(Prisma.sql`r.model = ${f.model}`);
  if (f.source) where.push(Prisma.sql`r.source = ${f.source}`);
  return where;
}
