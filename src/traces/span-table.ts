// The columns of the `spans` table, defined once. Everything that lists them derives its list from here: the row
// mapping.ts builds (SpanRow: its keys and types), ingest's recordset and INSERT (ingest.service.ts), the reader's
// SELECT and its row type (traces.service.ts), and what an outer LLM call takes from the calls nested in it
// (trace-links.ts). The measures span_rollups keeps of these columns are defined next to that table, in rollups.ts.
//
// A new span field: an entry here, its value in mapping.ts's toSpanRow (the compiler asks for it), the column in
// prisma/schema.prisma and a migration (`npm run migration:new -- <name>`; test/span-table.test.ts checks the two
// agree), and, if the API shows it, its field in the span view (SpanView in traces.service.ts, filled from the row
// the reader already selects).
import { Prisma } from "../generated/prisma/client.js";
import type { Attributes, SpanEvent } from "./otlp.js";

/** The SQL types a column takes in ingest's JSON rows (json_to_recordset's column list). */
type SqlType =
  | "text"
  | "smallint"
  | "integer"
  | "bigint"
  | "double precision"
  | "numeric"
  | "boolean"
  | "timestamptz"
  | "jsonb";

interface ColumnOptions {
  /**
   * What the INSERT stores from the recordset row `r`. An ingested column defaults to `r.<column>`; a column the
   * database fills (the link columns, defaults) is written only by the statement that computes it.
   */
  insert?: string;
  /** What the span reader selects, as the column's name (default the column itself); false: not read. */
  read?: string | false;
  /**
   * The group of columns an outer LLM call takes together from the nested calls of the same call when it lacks the
   * group's first column (see trace-links.ts); by default it takes nothing.
   */
  taken?: string;
}

/**
 * A column of `spans`. `Row` is its type in ingest's rows (absent: the database fills it); `Read` its type as the
 * span reader gets it (never: not read).
 */
interface Column<Row, Read> extends ColumnOptions {
  sql: SqlType | null;
  /** Type carriers only, never set. */
  readonly row?: Row;
  readonly readAs?: Read;
}

/** A column each ingested row carries (mapping.ts fills it), read back as `Read`. */
function ingested<Row, Read = Row>(sql: SqlType, options: ColumnOptions = {}): Column<Row, Read> {
  return { sql, ...options };
}

/** A column the database fills: at insert from the project, the prompt link and the price table, or later. */
function filled<Read>(options: ColumnOptions = {}): Column<never, Read> {
  return { sql: null, ...options };
}

// In the INSERT's column order. Timestamps travel as text (ISO 8601 with microseconds), nanoseconds as decimal text:
// a JSON number would lose their last digits. int8 is read as text: the two drivers return it differently (string
// on PostgreSQL, BigInt on the embedded database).
export const SPAN_COLUMNS = {
  project_id: filled<never>({ read: false }),
  trace_id: ingested<string>("text"),
  span_id: ingested<string>("text"),
  parent_span_id: ingested<string | null>("text"),
  name: ingested<string>("text"),
  /** OTLP SpanKind number. */
  otel_kind: ingested<number>("smallint"),
  /** OpenInference kind (LLM, CHAIN, PROMPT, ...), see mapping.ts's spanKind. */
  span_kind: ingested<string | null>("text"),
  /** Microseconds only: start_time_unix_nano keeps the exact value, which the reader uses. */
  start_time: ingested<string, never>("timestamptz", { read: false }),
  start_time_unix_nano: ingested<string>("bigint", { read: "start_time_unix_nano::text" }),
  end_time_unix_nano: ingested<string>("bigint", { read: "end_time_unix_nano::text" }),
  latency_ms: ingested<number>("double precision"),
  status_code: ingested<number>("smallint"),
  failed: ingested<boolean>("boolean"),
  error_message: ingested<string | null>("text"),
  prompt_name: ingested<string | null>("text", { taken: "prompt link" }),
  prompt_version: ingested<string | null>("text", { taken: "prompt link" }),
  prompt_id: filled<string | null>({ taken: "prompt link" }),
  version_id: filled<string | null>({ taken: "prompt link" }),
  link_status: filled<"linked" | "unknown_prompt" | "unknown_version" | "none">({ taken: "prompt link" }),
  label: ingested<string | null>("text", { taken: "prompt link" }),
  source: ingested<string | null>("text", { taken: "prompt link" }),
  /** The guarded rollout the call was in (promptreg.rollout.*): what the guard and compare's rollout filter read. */
  rollout_id: ingested<string | null>("text", { taken: "prompt link" }),
  rollout_arm: ingested<"baseline" | "candidate" | null>("text", { taken: "prompt link" }),
  rollout_step: ingested<number | null>("smallint", { taken: "prompt link" }),
  /** The model asked for: what compare groups and filters by. */
  model: ingested<string | null>("text", { taken: "model" }),
  /** The model that answered (often a dated name), when the span says. */
  response_model: ingested<string | null>("text", { taken: "response_model" }),
  provider: ingested<string | null>("text", { taken: "provider" }),
  session_id: ingested<string | null>("text"),
  user_id: ingested<string | null>("text"),
  tokens_prompt: ingested<number | null>("integer", { taken: "tokens_prompt" }),
  tokens_completion: ingested<number | null>("integer", { taken: "tokens_completion" }),
  tokens_total: ingested<number | null>("integer", { taken: "tokens_total" }),
  /** Parts of tokens_prompt (cache) and of tokens_completion (reasoning), as both conventions count them. */
  tokens_cache_read: ingested<number | null>("integer", { taken: "tokens_cache_read" }),
  tokens_cache_write: ingested<number | null>("integer", { taken: "tokens_cache_write" }),
  tokens_reasoning: ingested<number | null>("integer", { taken: "tokens_reasoning" }),
  /** Stored exact (numeric); read as a double, as the span view gives it. */
  cost_usd: ingested<number | null>("numeric", { read: "cost_usd::float8", taken: "cost" }),
  /** `sent` when the span carried a cost; `computed` (from the price table) is set by the insert. */
  cost_source: ingested<"sent" | null, "sent" | "computed" | null>("text", { taken: "cost" }),
  attributes: ingested<Attributes>("jsonb"),
  /** SHA-256 (hex) of the span's resource and scope, stored apart (see span-batch.ts) as bytes. */
  resource_hash: ingested<string, string | null>("text", {
    insert: "decode(r.resource_hash, 'hex')",
    read: "encode(resource_hash, 'hex')",
  }),
  scope_hash: ingested<string, string | null>("text", {
    insert: "decode(r.scope_hash, 'hex')",
    read: "encode(scope_hash, 'hex')",
  }),
  events: ingested<SpanEvent[]>("jsonb"),
  /** The PROMPT span (Arthur's SDK) an LLM span that named no prompt took its link from (trace-links.ts). */
  prompt_span_id: filled<string | null>(),
  /**
   * Under an EVALUATOR or GUARDRAIL span (trace-links.ts), or a call of an experiment's run (the client tags it with
   * promptreg.experiment.id) or of the playground (its source): a version's test, not its traffic, so neither
   * compare nor live evaluations count it.
   */
  in_evaluation: filled<boolean>({
    insert: "((r.attributes ->> 'promptreg.experiment.id') IS NOT NULL OR r.source IS NOT DISTINCT FROM 'playground')",
  }),
  /** Another layer's record of a call an outer LLM span records (trace-links.ts). */
  nested_call: filled<boolean>(),
  id: filled<string>({ read: "id::text" }),
  received_at: filled<Date>(),
};

type Columns = typeof SPAN_COLUMNS;
export type SpanColumn = keyof Columns;
type RowOf<C> = C extends Column<infer Row, unknown> ? Row : never;
type ReadOf<C> = C extends Column<unknown, infer Read> ? Read : never;

/** One row as ingest sends it (mapping.ts builds it): the columns the database does not fill; keys are the SQL names. */
export type SpanRow = { [K in SpanColumn as [RowOf<Columns[K]>] extends [never] ? never : K]: RowOf<Columns[K]> };

/** A row as the span reader selects it (SPAN_READ_SQL). */
export type StoredSpan = { [K in SpanColumn as [ReadOf<Columns[K]>] extends [never] ? never : K]: ReadOf<Columns[K]> };

const entries = Object.entries(SPAN_COLUMNS) as [SpanColumn, Column<unknown, unknown>][];

/** The column list of json_to_recordset over ingest's rows: `trace_id text, span_id text, ...`. */
export const SPAN_RECORDSET_SQL = Prisma.raw(
  entries
    .filter(([, c]) => c.sql !== null)
    .map(([name, c]) => `${name} ${c.sql}`)
    .join(", "),
);

/**
 * The INSERT's column list and the matching SELECT expressions over the recordset row `r`: every ingested column
 * (`r.<column>` unless it says otherwise or `computed` does), then the filled ones `computed` gives, in table order.
 */
export function spanInsertSql(computed: Partial<Record<SpanColumn, string>>): {
  columns: Prisma.Sql;
  values: Prisma.Sql;
} {
  const written = entries.flatMap(([name, c]) => {
    const value = computed[name] ?? c.insert ?? (c.sql === null ? undefined : `r.${name}`);
    return value === undefined ? [] : [[name, value] as const];
  });
  return {
    columns: Prisma.raw(written.map(([name]) => name).join(", ")),
    values: Prisma.raw(written.map(([, v]) => v).join(", ")),
  };
}

/** The span reader's SELECT list, over the spans table unqualified: a StoredSpan per row. */
export const SPAN_READ_SQL = Prisma.raw(
  entries
    .filter(([, c]) => c.read !== false)
    .map(([name, c]) => (c.read ? `${c.read} AS ${name}` : name))
    .join(", "),
);

/** The groups of columns an outer LLM call takes from its nested calls, each decided by its first column. */
export const TAKEN_GROUPS: SpanColumn[][] = (() => {
  const groups = new Map<string, SpanColumn[]>();
  for (const [name, c] of entries)
    if (c.taken !== undefined) groups.set(c.taken, [...(groups.get(c.taken) ?? []), name]);
  return [...groups.values()];
})();
