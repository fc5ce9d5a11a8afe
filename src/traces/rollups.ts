// The span_rollups table: per project, version, UTC hour, label, source, model and latency bucket, the counts and
// sums comparisons need. It lives with the spans it summarises: ingest maintains it in the statement that inserts the
// spans (see ingest.service.ts), so both commit together and a resent span, skipped by the insert, is never counted
// twice. A span whose link or evaluation flag changes after its insert (see trace-links.ts) is added or taken out by
// the statement that changes it. Compare only reads it.
//
// Its measures are defined once, in MEASURES: the upsert below, the rollup rows compare reads, the same figures
// computed from raw spans at the edges of a window, and compare's exact path all derive from that list. A new
// measure: an entry there, the columns in prisma/schema.prisma and a migration (with a backfill from the spans).
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { SPAN_COLUMNS, type SpanColumn } from "./span-table.js";

/**
 * The spans that count: LLM calls (span_kind LLM, which mapping.ts gives a kind-less span only on positive evidence
 * of a chat or completion), except those made under an EVALUATOR or GUARDRAIL span, and those nested in another LLM
 * span of their trace (the same call seen by a second instrumentation layer, see trace-links.ts). Context propagation
 * also puts the prompt attributes on parent CHAIN/AGENT/TOOL spans, on Arthur's PROMPT spans and on LLM judges; none
 * count.
 */
export const COUNTED_SPANS_SQL = Prisma.sql`(s.span_kind = 'LLM' AND NOT s.in_evaluation AND NOT s.nested_call)`;
/** The columns COUNTED_SPANS_SQL reads. */
const COUNTED_COLUMNS = ["span_kind", "in_evaluation", "nested_call"] as const satisfies SpanColumn[];
/** The columns the rollup key is made of (the latency bucket from latency_ms, the hour from start_time). */
const KEY_COLUMNS = [
  "project_id",
  "version_id",
  "start_time",
  "label",
  "source",
  "model",
  "latency_ms",
] as const satisfies SpanColumn[];

/** date_bin rather than date_trunc: the hour must not depend on the session's time zone. */
function hourBucket(column: string): string {
  return `date_bin('1 hour', ${column}, TIMESTAMPTZ '2000-01-01T00:00:00Z')`;
}

/** The SQL types of span_rollups' measure columns. */
type MeasureType = "integer" | "bigint" | "double precision" | "numeric";

/**
 * A span_rollups column: the spans counted (those where `of` is not null, if given) or `of` summed, over the spans
 * where `where` holds (a boolean column, or a column equal to a constant).
 */
interface Measure<Name extends string = string> {
  column: Name;
  kind: "count" | "sum";
  type: MeasureType;
  of?: SpanColumn;
  where?: { column: SpanColumn; equals?: string };
}

const count = <N extends string>(column: N, where?: Measure["where"]): Measure<N> => ({
  column,
  kind: "count",
  type: "integer",
  where,
});

/** An amount: its sum over the spans that report it and how many do (`<name>_sum`, `<name>_count`), for means. */
function amount<N extends string>(
  name: N,
  of: SpanColumn,
  type: MeasureType,
  where?: Measure["where"],
): [Measure<`${N}_sum`>, Measure<`${N}_count`>] {
  return [
    { column: `${name}_sum`, kind: "sum", type, of, where },
    { column: `${name}_count`, kind: "count", type: "integer", of, where },
  ];
}

/** The amounts compare reports as token and cost figures (sums and means), in span_rollups' column order. */
export const AMOUNTS = [
  ...amount("tokens_prompt", "tokens_prompt", "bigint"),
  ...amount("tokens_completion", "tokens_completion", "bigint"),
  ...amount("tokens_total", "tokens_total", "bigint"),
  // Costs are summed exactly (numeric): adding rows adds no floating-point error (see compare/decimal.ts).
  ...amount("cost", "cost_usd", "numeric"),
  ...amount("cache_read", "tokens_cache_read", "bigint"),
  ...amount("cache_write", "tokens_cache_write", "bigint"),
  ...amount("reasoning", "tokens_reasoning", "bigint"),
  ...amount("cost_sent", "cost_usd", "numeric", { column: "cost_source", equals: "sent" }),
  ...amount("cost_computed", "cost_usd", "numeric", { column: "cost_source", equals: "computed" }),
];

/** Every measure span_rollups keeps, in its column order. */
export const MEASURES = [
  count("spans"),
  count("failures", { column: "failed" }),
  { column: "latency_sum", kind: "sum", type: "double precision", of: "latency_ms" } as Measure<"latency_sum">,
  ...AMOUNTS,
];

/** A span_rollups measure column, as compare's rows name it too. */
export type MeasureColumn = (typeof MEASURES)[number]["column"];
/** The name of an amount (`tokens_prompt` for tokens_prompt_sum and tokens_prompt_count). */
export type AmountName = SumOf<(typeof AMOUNTS)[number]["column"]>;
type SumOf<C> = C extends `${infer N}_sum` ? N : never;

const whereSql = (m: Measure) =>
  m.where && (m.where.equals === undefined ? `s.${m.where.column}` : `s.${m.where.column} = '${m.where.equals}'`);

/**
 * A measure's aggregate over the spans `s` of one group; with `weight` (a column of `s` holding 1 or -1), each span
 * adds its weight instead of one, so one statement can take rows out and put others in.
 */
function aggregate(m: Measure, weight?: string): string {
  const where = whereSql(m);
  const filter = where ? ` FILTER (WHERE ${where})` : "";
  const value = m.of && `s.${m.of}`;
  if (!weight) return m.kind === "count" ? `count(${value ?? "*"})${filter}` : `coalesce(sum(${value})${filter}, 0)`;
  if (m.kind === "sum") return `coalesce(sum(${weight} * ${value})${filter}, 0)`;
  const counted = value ? `CASE WHEN ${value} IS NOT NULL THEN ${weight} ELSE 0 END` : weight;
  return `coalesce(sum(${counted})${filter}, 0)`;
}

/** How a total of the measure reaches Node: counts as int, exact sums as decimal text, other sums as float8. */
const totalType = (m: Measure) => (m.kind === "count" ? "int" : m.type === "numeric" ? "text" : "float8");

/** One span `s`'s share of a measure, as a rollup row would hold it (for the raw spans at a window's edges). */
function share(m: Measure): string {
  const where = whereSql(m);
  const value = m.of && `s.${m.of}`;
  if (m.kind === "count") {
    const conditions = [where, value && `${value} IS NOT NULL`].filter(Boolean);
    return conditions.length ? `(${conditions.join(" AND ")})::int` : "1";
  }
  // Cast where the span's column type differs from the rollup's (int4 tokens into int8 sums), so UNION ALL agrees.
  const cast = m.of && SPAN_COLUMNS[m.of].sql !== m.type ? `::${m.type}` : "";
  return where ? `CASE WHEN ${where} THEN ${value} END${cast}` : `${value}${cast}`;
}

/** The measure columns of span_rollups `r`, as they are: `r.spans, r.failures, ...`. */
export const ROLLUP_MEASURES_SQL = Prisma.raw(MEASURES.map((m) => `r.${m.column}`).join(", "));

/** The same columns computed for one raw span `s` each, named alike: a rollup row of one span. */
export const SPAN_SHARES_SQL = Prisma.raw(MEASURES.map((m) => `${share(m)} AS ${m.column}`).join(", "));

/** The totals of rows `x` holding the measure columns (from the two above), named alike: see totalType. */
export const MEASURE_TOTALS_SQL = Prisma.raw(
  MEASURES.map((m) =>
    totalType(m) === "text"
      ? `coalesce(sum(x.${m.column}), 0)::text AS ${m.column}`
      : `sum(x.${m.column})::${totalType(m)} AS ${m.column}`,
  ).join(", "),
);

/** The amounts aggregated over raw spans `s` (compare's exact path), named and typed as MEASURE_TOTALS_SQL names them. */
export const RAW_AMOUNTS_SQL = Prisma.raw(
  AMOUNTS.map((m) => `(${aggregate(m)})::${totalType(m)} AS ${m.column}`).join(",\n"),
);

export interface RollupOptions {
  /** More conditions on `s`. */
  where?: Prisma.Sql;
  /** Which spans the rollups hold; COUNTED_SPANS_SQL unless the rows' flags changed since they were counted. */
  counted?: Prisma.Sql;
  /** -1 takes the spans out again (a span that turned out to be an LLM judge). */
  sign?: 1 | -1;
  /** A column of `s` giving each row's sign (1 or -1), for a source that takes some rows out and puts others in. */
  signColumn?: string;
}

const MEASURE_COLUMNS = MEASURES.map((m) => m.column).join(", ");
const MEASURE_UPDATES = MEASURES.map((m) => `${m.column} = span_rollups.${m.column} + EXCLUDED.${m.column}`).join(
  ",\n    ",
);
const AGGREGATES = {
  added: Prisma.raw(MEASURES.map((m) => aggregate(m)).join(", ")),
  removed: Prisma.raw(MEASURES.map((m) => `-(${aggregate(m)})`).join(", ")),
};

/**
 * Adds (or with sign -1 takes out) the counted, version-linked spans of `source` (a relation aliased `s` with the
 * spans columns, e.g. an INSERT's RETURNING) to span_rollups. Rows are upserted in key order so that concurrent
 * ingests touching the same rollup rows lock them in the same order and cannot deadlock.
 */
export function rollupUpsertSql(
  source: string,
  { where = Prisma.sql`TRUE`, counted = COUNTED_SPANS_SQL, sign = 1, signColumn }: RollupOptions = {},
): Prisma.Sql {
  const aggregates = signColumn
    ? Prisma.raw(MEASURES.map((m) => aggregate(m, signColumn)).join(", "))
    : sign === 1
      ? AGGREGATES.added
      : AGGREGATES.removed;
  return Prisma.sql`INSERT INTO span_rollups (project_id, version_id, hour, label, source, model, latency_bucket, ${Prisma.raw(MEASURE_COLUMNS)})
  SELECT s.project_id, s.version_id, ${Prisma.raw(hourBucket("s.start_time"))}, coalesce(s.label, ''), coalesce(s.source, 'unspecified'),
    coalesce(s.model, ''), promptreg_latency_bucket(s.latency_ms), ${aggregates}
  FROM ${Prisma.raw(source)} s
  WHERE s.version_id IS NOT NULL AND ${counted} AND ${where}
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  ORDER BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (project_id, version_id, hour, label, source, model, latency_bucket) DO UPDATE SET
    ${Prisma.raw(MEASURE_UPDATES)}`;
}

/** The spans columns rollupUpsertSql reads, for an INSERT's or UPDATE's RETURNING. */
export const ROLLUP_INPUT_COLUMNS: SpanColumn[] = [
  ...new Set<SpanColumn>([
    ...KEY_COLUMNS,
    ...COUNTED_COLUMNS,
    ...MEASURES.flatMap((m: Measure) => [m.of, m.where?.column].filter((c): c is SpanColumn => c !== undefined)),
  ]),
];

/** ROLLUP_INPUT_COLUMNS as a column list, qualified by `alias` if given. */
export function rollupInputColumns(alias?: string): Prisma.Sql {
  return Prisma.raw(ROLLUP_INPUT_COLUMNS.map((c) => (alias ? `${alias}.${c}` : c)).join(", "));
}

/**
 * Rolls up spans that were written to the spans table directly, bypassing ingest (bulk loads, benchmarks). It adds
 * to the existing rollups: run it once per such load, on spans the rollups do not hold yet.
 */
export async function rollUpStoredSpans(database: Database, projectId: string): Promise<void> {
  await database.query(rollupUpsertSql("spans", { where: Prisma.sql`s.project_id = ${projectId}::uuid` }));
}
