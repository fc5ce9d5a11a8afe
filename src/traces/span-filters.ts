// What a read can ask of a stored span's own columns, as one Prisma.sql condition over the spans table aliased `s`:
// the one filter builder behind the span list (traces.service.ts) and comparisons (compare/filters.ts), so a filter
// of the same name means the same thing in both.
import { Prisma } from "../generated/prisma/client.js";

/** Each field present adds one condition; an absent or empty one adds none. */
export interface SpanFilters {
  prompt?: string;
  version?: string;
  label?: string;
  /** OTLP status code. */
  statusCode?: number;
  failed?: boolean;
  session?: string;
  user?: string;
  /** The request model. */
  model?: string;
  /** How the client got the prompt; a span that names none is `unspecified`. */
  source?: string;
  linkStatus?: string;
  spanKind?: string;
  /** The calls of one experiment's runs (the client tags them with promptreg.experiment.id). */
  experiment?: string;
  /** The calls of one guarded rollout (promptreg.rollout.id), and of one of its arms (baseline | candidate). */
  rollout?: string;
  arm?: string;
  /** ISO 8601 times, passed to the database as written: the span starts at or after `from` and before `to`. */
  from?: string;
  to?: string;
}

/** The project's spans that meet every filter of `f`. */
export function spanFiltersSql(projectId: string, f: SpanFilters): Prisma.Sql {
  const where = [Prisma.sql`s.project_id = ${projectId}::uuid`];
  if (f.prompt) where.push(Prisma.sql`s.prompt_name = ${f.prompt}`);
  if (f.version) where.push(Prisma.sql`s.prompt_version = ${f.version}`);
  if (f.label) where.push(Prisma.sql`s.label = ${f.label}`);
  if (f.statusCode !== undefined) where.push(Prisma.sql`s.status_code = ${f.statusCode}::smallint`);
  if (f.failed !== undefined) where.push(Prisma.sql`s.failed = ${f.failed}::boolean`);
  if (f.session) where.push(Prisma.sql`s.session_id = ${f.session}`);
  if (f.user) where.push(Prisma.sql`s.user_id = ${f.user}`);
  if (f.model) where.push(Prisma.sql`s.model = ${f.model}`);
  if (f.source) where.push(Prisma.sql`coalesce(s.source, 'unspecified') = ${f.source}`);
  if (f.linkStatus) where.push(Prisma.sql`s.link_status = ${f.linkStatus}`);
  if (f.spanKind) where.push(Prisma.sql`s.span_kind = ${f.spanKind}`);
  if (f.experiment) where.push(Prisma.sql`s.attributes ->> 'promptreg.experiment.id' = ${f.experiment}`);
  if (f.rollout) where.push(Prisma.sql`s.rollout_id = ${f.rollout}`);
  if (f.arm) where.push(Prisma.sql`s.rollout_arm = ${f.arm}`);
  if (f.from) where.push(Prisma.sql`s.start_time >= ${f.from}::timestamptz`);
  if (f.to) where.push(Prisma.sql`s.start_time < ${f.to}::timestamptz`);
  return Prisma.join(where, " AND ");
}
