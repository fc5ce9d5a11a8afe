// Reading spans back: one trace as a tree with its annotations, or a filtered, paginated list. Every read is scoped
// by the key's project, so another project's trace is simply not found.
import type { Principal } from "../auth/principal.js";
import type { Database } from "../db/client.js";
import { decodeCursor, encodeCursor } from "../http/cursor.js";
import { Prisma } from "../generated/prisma/client.js";
import { notFound } from "../http/errors.js";
import {
  SPAN_STATUSES,
  type LINK_STATUSES,
  type Annotation,
  type Attributes,
  type Scope,
  type Span,
  type SpanNode,
  type SpanOrigins,
  type Trace,
} from "@promptreg/client/contract";
import { ANNOTATION_COLUMNS, annotationView, type AnnotationRow } from "./annotations.service.js";
import { isoMicros } from "./mapping.js";
import { spanFiltersSql } from "./span-filters.js";
import { SPAN_READ_SQL, type StoredSpan } from "./span-table.js";

// A trace view beyond this many spans is cut (and says so) rather than built in one response.
const MAX_TRACE_SPANS = 10_000;

export interface SpanQuery {
  prompt?: string;
  version?: string;
  label?: string;
  status?: (typeof SPAN_STATUSES)[number];
  failed?: boolean;
  session?: string;
  user?: string;
  model?: string;
  /** How the client got the prompt (network, cache, stale, snapshot, fallback); `unspecified` for spans naming none. */
  source?: string;
  linkStatus?: (typeof LINK_STATUSES)[number];
  spanKind?: string;
  from?: string;
  to?: string;
  cursor?: string;
  limit: number;
}

function spanView(r: StoredSpan): Span {
  return {
    traceId: r.trace_id,
    spanId: r.span_id,
    parentSpanId: r.parent_span_id,
    name: r.name,
    kind: r.otel_kind,
    spanKind: r.span_kind,
    startTime: isoMicros(BigInt(r.start_time_unix_nano)),
    endTime: isoMicros(BigInt(r.end_time_unix_nano)),
    startTimeUnixNano: r.start_time_unix_nano,
    endTimeUnixNano: r.end_time_unix_nano,
    latencyMs: r.latency_ms,
    status: SPAN_STATUSES[r.status_code] ?? "unset",
    statusCode: r.status_code,
    failed: r.failed,
    errorMessage: r.error_message,
    promptName: r.prompt_name,
    promptVersion: r.prompt_version,
    promptId: r.prompt_id,
    versionId: r.version_id,
    linkStatus: r.link_status,
    promptSpanId: r.prompt_span_id,
    inEvaluation: r.in_evaluation,
    nestedCall: r.nested_call,
    label: r.label,
    source: r.source,
    model: r.model,
    responseModel: r.response_model,
    provider: r.provider,
    sessionId: r.session_id,
    userId: r.user_id,
    tokensPrompt: r.tokens_prompt,
    tokensCompletion: r.tokens_completion,
    tokensTotal: r.tokens_total,
    tokensCacheRead: r.tokens_cache_read,
    tokensCacheWrite: r.tokens_cache_write,
    tokensReasoning: r.tokens_reasoning,
    costUsd: r.cost_usd,
    costSource: r.cost_source,
    attributes: r.attributes,
    resourceId: r.resource_hash,
    scopeId: r.scope_hash,
    events: r.events,
    receivedAt: new Date(r.received_at).toISOString(),
  };
}

export type TracesService = ReturnType<typeof createTracesService>;

export function createTracesService({ database }: { database: Database }) {
  /** The resources and scopes `rows` refer to. */
  async function originsOf(projectId: string, rows: StoredSpan[]): Promise<SpanOrigins> {
    const hashes = (ids: (string | null)[]) => [...new Set(ids.filter((id): id is string => id !== null))];
    const resourceIds = hashes(rows.map((r) => r.resource_hash));
    const scopeIds = hashes(rows.map((r) => r.scope_hash));
    const [resources, scopes] = await Promise.all([
      resourceIds.length === 0
        ? { rows: [] }
        : database.query<{ id: string; attributes: Attributes }>(Prisma.sql`
          SELECT encode(hash, 'hex') AS id, attributes FROM span_resources
          WHERE project_id = ${projectId}::uuid AND hash IN (SELECT decode(h, 'hex') FROM unnest(${resourceIds}::text[]) h)`),
      scopeIds.length === 0
        ? { rows: [] }
        : database.query<{ id: string } & Scope>(Prisma.sql`
          SELECT encode(hash, 'hex') AS id, name, version, attributes FROM span_scopes
          WHERE project_id = ${projectId}::uuid AND hash IN (SELECT decode(h, 'hex') FROM unnest(${scopeIds}::text[]) h)`),
    ]);
    return {
      resources: Object.fromEntries(resources.rows.map((r) => [r.id, r.attributes])),
      scopes: Object.fromEntries(
        scopes.rows.map((s) => [s.id, { name: s.name, version: s.version, attributes: s.attributes }]),
      ),
    };
  }

  return {
    async getTrace(p: Principal, traceId: string): Promise<Trace> {
      const [spans, annotations] = await Promise.all([
        database.query<StoredSpan>(Prisma.sql`
          SELECT ${SPAN_READ_SQL} FROM spans WHERE project_id = ${p.projectId}::uuid AND trace_id = ${traceId}
          ORDER BY start_time_unix_nano, span_id LIMIT ${MAX_TRACE_SPANS + 1}`),
        database.query<AnnotationRow>(Prisma.sql`
          SELECT ${ANNOTATION_COLUMNS} FROM annotations WHERE project_id = ${p.projectId}::uuid AND trace_id = ${traceId}
          ORDER BY created_at, id`),
      ]);
      if (spans.rows.length === 0) throw notFound(`trace '${traceId}'`);
      const truncated = spans.rows.length > MAX_TRACE_SPANS;
      const rows = truncated ? spans.rows.slice(0, MAX_TRACE_SPANS) : spans.rows;
      const { roots, nodes } = buildTree(rows.map(spanView));
      const origins = await originsOf(p.projectId, rows);
      const traceLevel: Annotation[] = [];
      for (const a of annotations.rows.map(annotationView)) {
        const node = a.spanId === null ? undefined : nodes.get(a.spanId);
        if (node) node.annotations.push(a);
        else traceLevel.push(a);
      }
      return { traceId, spanCount: rows.length, truncated, annotations: traceLevel, spans: roots, ...origins };
    },

    async listSpans(p: Principal, q: SpanQuery): Promise<{ data: Span[]; nextCursor: string | null } & SpanOrigins> {
      const where = [
        spanFiltersSql(p.projectId, {
          ...q,
          statusCode: q.status === undefined ? undefined : SPAN_STATUSES.indexOf(q.status),
          spanKind: q.spanKind?.toUpperCase(),
        }),
      ];
      if (q.cursor !== undefined) {
        const after = decodeCursor(q.cursor, readSpanCursor);
        where.push(Prisma.sql`(s.start_time, s.id) < (${after.startTime}::timestamptz, ${after.id}::bigint)`);
      }
      const result = await database.query<StoredSpan>(Prisma.sql`
        SELECT ${SPAN_READ_SQL} FROM spans s WHERE ${Prisma.join(where, " AND ")}
        ORDER BY s.start_time DESC, s.id DESC LIMIT ${q.limit + 1}`);
      const more = result.rows.length > q.limit;
      const rows = more ? result.rows.slice(0, q.limit) : result.rows;
      const last = rows[rows.length - 1];
      return {
        data: rows.map(spanView),
        nextCursor: more && last ? spanCursor(last) : null,
        ...(await originsOf(p.projectId, rows)),
      };
    },
  };
}

/**
 * Nests spans under their parents without recursion (traces can be deep). Input is in start order, so children
 * come out in start order too. A span whose parent is not stored becomes a root; so does one span of any parent
 * cycle (malformed input), so every span appears exactly once.
 */
function buildTree(views: Span[]): { roots: SpanNode[]; nodes: Map<string, SpanNode> } {
  const nodes = new Map<string, SpanNode>();
  for (const v of views) nodes.set(v.spanId, { ...v, annotations: [], children: [] });
  const roots: SpanNode[] = [];
  const parentOf = new Map<SpanNode, SpanNode>();
  for (const node of nodes.values()) {
    const parent = node.parentSpanId === null ? undefined : nodes.get(node.parentSpanId);
    if (parent && parent !== node) {
      parent.children.push(node);
      parentOf.set(node, parent);
    } else roots.push(node);
  }
  const reached = new Set<SpanNode>();
  const walk = (start: SpanNode) => {
    const stack = [start];
    while (stack.length) {
      const node = stack.pop()!;
      reached.add(node);
      stack.push(...node.children);
    }
  };
  roots.forEach(walk);
  for (const node of nodes.values()) {
    if (reached.has(node)) continue;
    const parent = parentOf.get(node)!;
    parent.children.splice(parent.children.indexOf(node), 1);
    roots.push(node);
    walk(node);
  }
  return { roots, nodes };
}

function spanCursor(row: StoredSpan): string {
  return encodeCursor(`${isoMicros(BigInt(row.start_time_unix_nano))}|${row.id}`);
}

function readSpanCursor(position: string): { startTime: string; id: string } | null {
  // 18 digits always fit a bigint, and the time must be a real one: a forged cursor is a 422, not a database error.
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|(\d{1,18})$/.exec(position);
  return match && isRealTime(match[1]!) ? { startTime: match[1]!, id: match[2]! } : null;
}

// Date.parse takes 2024-02-30 (as 1 March), which PostgreSQL refuses: the time must read back as itself.
function isRealTime(iso: string): boolean {
  const ms = Date.parse(iso);
  return !Number.isNaN(ms) && !iso.startsWith("0000") && new Date(ms).toISOString().slice(0, 19) === iso.slice(0, 19);
}
