// A project's evaluators: the only writer of evaluators, evaluator_revisions and evaluator_backfills (the workers of
// evaluations.ts also write backfill progress and evaluator_usage). A definition change adds a revision; turning an
// evaluator on or off and its budget do not (they change how it runs, not what its results mean).
import { isDeepStrictEqual } from "node:util";
import type {
  Backfill,
  EvalCounts,
  Evaluation,
  EvaluationPreview,
  Evaluator,
  EvaluatorResults,
} from "@promptreg/client/contract";
import { type Principal, requireRole } from "../auth/principal.js";
import type { Database } from "../db/client.js";
import { isUniqueViolation } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import { Prisma } from "../generated/prisma/client.js";
import { AppError, notFound } from "../http/errors.js";
import { OutboundError } from "../outbound/outbound.js";
import { deleteEvalResults } from "../traces/annotations.service.js";
import { COUNTED_SPANS_SQL } from "../traces/rollups.js";
import {
  compileDefinition,
  type Definition,
  DefinitionSchema,
  type EvaluatorBody,
  invalidDefinition,
  type Target,
} from "./definition.js";
import { EVAL_SPAN_COLUMNS, type EvalSpan, type Evaluations } from "./evaluations.js";
import type { Judge } from "./judge.js";

export const PREVIEW_LIMITS = { max: 50, maxJudged: 20, default: 10 } as const;
export const BACKFILL_LIMITS = { max: 10_000, default: 1_000 } as const;
/** Characters of an answer a preview shows. */
const SHOWN_OUTPUT = 2_000;

interface EvaluatorRow {
  id: string;
  projectId: string;
  name: string;
  revision: number;
  enabled: boolean;
  dailyBudget: number | null;
  createdAt: Date;
  updatedAt: Date;
}

interface CountRow {
  passed: number;
  failed: number;
  skipped: number;
  error: number;
}

const COUNT_COLUMNS = Prisma.sql`
  (count(*) FILTER (WHERE an.status = 'passed'))::int AS passed, (count(*) FILTER (WHERE an.status = 'failed'))::int AS failed,
  (count(*) FILTER (WHERE an.status = 'skipped'))::int AS skipped, (count(*) FILTER (WHERE an.status = 'error'))::int AS error`;

function counts(row: Partial<CountRow> | undefined, pending: number): EvalCounts {
  const c = { passed: row?.passed ?? 0, failed: row?.failed ?? 0, skipped: row?.skipped ?? 0, error: row?.error ?? 0 };
  const judged = c.passed + c.failed;
  return { ...c, pending, passRate: judged ? c.passed / judged : null };
}

const targetSql = (t: Target) => Prisma.sql`
  ${t.prompt === null ? Prisma.empty : Prisma.sql`AND s.prompt_name = ${t.prompt}`}
  ${t.prefix === null ? Prisma.empty : Prisma.sql`AND starts_with(s.prompt_name, ${t.prefix})`}
  ${t.label === null ? Prisma.empty : Prisma.sql`AND s.label = ${t.label}`}`;

export type EvaluatorsService = ReturnType<typeof createEvaluatorsService>;

export function createEvaluatorsService({
  db,
  database,
  bus,
  evaluations,
  judge,
}: {
  db: ReadDb;
  database: Database;
  bus: InvalidationBus;
  evaluations: Evaluations;
  judge: Judge;
}) {
  async function find(p: Principal, name: string): Promise<EvaluatorRow> {
    const row = await db.evaluator.findUnique({ where: { projectId_name: { projectId: p.projectId, name } } });
    if (!row) throw notFound(`evaluator '${name}'`);
    return row;
  }

  /** The definition in force, as saved (also one that no longer compiles, which the workers skip). */
  async function definitionOf(row: EvaluatorRow): Promise<Definition> {
    const entry = await evaluations.definitionOf(row.id, row.revision);
    if (entry) return entry.def;
    const saved = await db.evaluatorRevision.findUniqueOrThrow({
      where: { evaluatorId_revision: { evaluatorId: row.id, revision: row.revision } },
    });
    return DefinitionSchema.parse(saved.definition);
  }

  /** Refuses (422, naming the field) a definition that cannot run: a bad config, an unknown prompt or connection. */
  async function check(p: Principal, def: Definition): Promise<void> {
    const judging = compileDefinition(def);
    if (def.target.prompt !== null) {
      const exists = await db.prompt.count({ where: { projectId: p.projectId, name: def.target.prompt } });
      if (!exists)
        throw invalidDefinition("body.target.prompt", `no prompt named '${def.target.prompt}' in this project`);
    }
    if (judging.kind === "llm_judge") {
      const problem = await judge.check(p, judging.config);
      if (problem) throw invalidDefinition(problem.path, problem.message);
    }
  }

  async function usedToday(ids: string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const { rows } = await database.query<{ id: string; n: number }>(Prisma.sql`
      SELECT evaluator_id::text AS id, evaluations AS n FROM evaluator_usage
      WHERE evaluator_id = ANY(${ids}::uuid[]) AND day = (now() AT TIME ZONE 'UTC')::date`);
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  async function view(p: Principal, rows: EvaluatorRow[]): Promise<Evaluator[]> {
    if (rows.length === 0) return [];
    const { rows: stats } = await database.query<CountRow & { name: string }>(Prisma.sql`
      SELECT an.name, ${COUNT_COLUMNS}
      FROM annotations an JOIN evaluators e ON e.project_id = an.project_id AND e.name = an.name AND e.revision = an.evaluator_revision
      WHERE an.project_id = ${p.projectId}::uuid AND an.kind = 'eval' AND an.name = ANY(${rows.map((r) => r.name)}::text[])
      GROUP BY an.name`);
    const used = await usedToday(rows.map((r) => r.id));
    const pendings = await evaluations
      .runner()
      .pendingBy(evaluations.evaluateQueue as never, p.projectId, ["evaluatorId", "revision"]);
    return Promise.all(
      rows.map(async (r) => {
        const def = await definitionOf(r);
        const today = used.get(r.id) ?? 0;
        const pending = pendings.find((x) => x.values[0] === r.id && x.values[1] === String(r.revision))?.n ?? 0;
        return {
          name: r.name,
          kind: def.kind,
          target: def.target,
          sampleRate: def.sampleRate,
          config: def.config,
          revision: r.revision,
          enabled: r.enabled,
          dailyBudget: r.dailyBudget,
          usedToday: today,
          status: !r.enabled
            ? "disabled"
            : r.dailyBudget !== null && today >= r.dailyBudget
              ? "budget_exhausted"
              : "active",
          results: counts(
            stats.find((s) => s.name === r.name),
            pending,
          ),
          createdAt: r.createdAt.toISOString(),
          updatedAt: r.updatedAt.toISOString(),
        } satisfies Evaluator;
      }),
    );
  }

  function backfillView(
    b: {
      id: string;
      revision: number;
      fromTime: Date;
      toTime: Date;
      maxSpans: number;
      status: string;
      queued: number;
      createdAt: Date;
      finishedAt: Date | null;
    },
    pending: number,
  ): Backfill {
    const status = b.status === "queued" && pending === 0 ? "done" : (b.status as Backfill["status"]);
    return {
      id: b.id,
      revision: b.revision,
      from: b.fromTime.toISOString(),
      to: b.toTime.toISOString(),
      limit: b.maxSpans,
      status,
      queued: b.queued,
      evaluated: Math.max(0, b.queued - pending),
      createdAt: b.createdAt.toISOString(),
      finishedAt: b.finishedAt?.toISOString() ?? null,
    };
  }

  /** The spans a preview evaluates: the last `limit` LLM calls the definition looks at, sample aside. */
  async function recentSpans(p: Principal, target: Target, limit: number): Promise<EvalSpan[]> {
    const { rows } = await database.query<EvalSpan>(Prisma.sql`
      SELECT ${EVAL_SPAN_COLUMNS} FROM spans s
      WHERE s.project_id = ${p.projectId}::uuid AND ${COUNTED_SPANS_SQL} ${targetSql(target)}
      ORDER BY s.start_time DESC, s.id DESC LIMIT ${limit}`);
    return rows;
  }

  return {
    async list(p: Principal): Promise<Evaluator[]> {
      const rows = await db.evaluator.findMany({ where: { projectId: p.projectId }, orderBy: { name: "asc" } });
      return view(p, rows);
    },

    async get(p: Principal, name: string): Promise<Evaluator> {
      return (await view(p, [await find(p, name)]))[0]!;
    },

    async create(p: Principal, body: EvaluatorBody): Promise<Evaluator> {
      requireRole(p, "write");
      const { name, enabled, dailyBudget, ...definition } = body;
      await check(p, definition);
      try {
        await bus.write(async ({ tx, record }) => {
          const row = await tx.evaluator.create({
            data: { projectId: p.projectId, name, revision: 1, enabled, dailyBudget },
          });
          await tx.evaluatorRevision.create({
            data: { evaluatorId: row.id, revision: 1, definition: definition as Prisma.InputJsonValue },
          });
          record({ kind: "evaluator.changed", projectId: p.projectId, name, action: "created", revision: 1, enabled });
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new AppError("conflict", `evaluator '${name}' already exists: change it with PUT`);
        throw err;
      }
      return this.get(p, name);
    },

    /** Replaces the definition: a new revision when what it judges or how changed; the same one otherwise. */
    async replace(p: Principal, name: string, body: Omit<EvaluatorBody, "name">): Promise<Evaluator> {
      requireRole(p, "write");
      const { enabled, dailyBudget, ...definition } = body;
      const current = await find(p, name);
      const changed = !isDeepStrictEqual(DefinitionSchema.parse(definition), await definitionOf(current));
      if (changed) await check(p, definition);
      await bus.write(async ({ tx, record }) => {
        // The row lock orders concurrent changes: each gets its own revision number.
        const [locked] = await tx.$queryRaw<{ revision: number }[]>`
          SELECT revision FROM evaluators WHERE id = ${current.id}::uuid FOR UPDATE`;
        if (!locked) throw notFound(`evaluator '${name}'`);
        const revision = changed ? locked.revision + 1 : locked.revision;
        if (changed)
          await tx.evaluatorRevision.create({
            data: { evaluatorId: current.id, revision, definition: definition as Prisma.InputJsonValue },
          });
        await tx.evaluator.update({
          where: { id: current.id },
          data: { revision, enabled, dailyBudget, updatedAt: new Date() },
        });
        record({ kind: "evaluator.changed", projectId: p.projectId, name, action: "updated", revision, enabled });
      });
      return this.get(p, name);
    },

    /** Deletes the evaluator with its revisions and its results (a later one of the same name starts afresh). */
    async remove(p: Principal, name: string): Promise<void> {
      requireRole(p, "write");
      const current = await find(p, name);
      await bus.write(
        async ({ tx, record }) => {
          const { count } = await tx.evaluator.deleteMany({ where: { id: current.id } });
          if (count === 0) throw notFound(`evaluator '${name}'`);
          await deleteEvalResults(tx, p.projectId, name);
          record({
            kind: "evaluator.changed",
            projectId: p.projectId,
            name,
            action: "deleted",
            revision: current.revision,
            enabled: false,
          });
        },
        { timeout: 60_000 },
      );
    },

    /**
     * Runs a definition (the saved one, or `definition`) on the last `limit` spans it looks at, storing nothing and
     * counting nothing against the budget. A judge is called once per span, without retries.
     */
    async preview(
      p: Principal,
      name: string | null,
      definition: Definition | undefined,
      limit: number,
    ): Promise<EvaluationPreview> {
      requireRole(p, "write");
      const def = definition ?? (name === null ? undefined : await definitionOf(await find(p, name)));
      if (!def) throw invalidDefinition("body.definition", "is required to preview an evaluator that is not saved");
      if (definition) await check(p, definition);
      const judging = compileDefinition(def);
      if (judging.kind === "llm_judge" && limit > PREVIEW_LIMITS.maxJudged)
        throw invalidDefinition(
          "body.limit",
          `an LLM judge previews at most ${PREVIEW_LIMITS.maxJudged} spans (each is a call)`,
        );
      const spans = await recentSpans(p, def.target, limit);
      const data: Evaluation[] = await Promise.all(
        spans.map(async (span) => {
          let o: Awaited<ReturnType<Evaluations["evaluate"]>>;
          try {
            o = await evaluations.evaluate(p, judging, span);
          } catch (err) {
            if (!(err instanceof OutboundError)) throw err;
            o = { status: "error", score: null, reason: err.message, details: null, output: null };
          }
          return {
            traceId: span.trace_id,
            spanId: span.span_id,
            startTime: new Date(span.start_time).toISOString(),
            promptName: span.prompt_name,
            promptVersion: span.prompt_version,
            status: o.status,
            score: o.score,
            reason: o.reason,
            output: o.output === null ? null : o.output.slice(0, SHOWN_OUTPUT),
          };
        }),
      );
      const tally = { passed: 0, failed: 0, skipped: 0, error: 0 };
      for (const e of data) tally[e.status] += 1;
      return { data, counts: counts(tally, 0) };
    },

    /** Per prompt version: the status counts of one revision's results (the current one by default). */
    async results(
      p: Principal,
      name: string,
      q: { versions: string[] | null; from: Date | null; to: Date | null; revision: number | null },
    ): Promise<EvaluatorResults> {
      const row = await find(p, name);
      const revision = q.revision ?? row.revision;
      if (revision < 1 || revision > row.revision)
        throw new AppError("validation_error", `evaluator '${name}' has revisions 1 to ${row.revision}`, {
          issues: [{ path: "query.revision", message: `must be between 1 and ${row.revision}` }],
        });
      const spanFilter = Prisma.sql`
        ${q.from ? Prisma.sql`AND s.start_time >= ${q.from}` : Prisma.empty}
        ${q.to ? Prisma.sql`AND s.start_time < ${q.to}` : Prisma.empty}
        ${q.versions ? Prisma.sql`AND s.prompt_version = ANY(${q.versions}::text[])` : Prisma.empty}`;
      const { rows } = await database.query<CountRow & { prompt: string | null; version: string | null }>(Prisma.sql`
        SELECT s.prompt_name AS prompt, s.prompt_version AS version, ${COUNT_COLUMNS}, max(an.created_at) AS latest
        FROM annotations an JOIN spans s ON s.project_id = an.project_id AND s.trace_id = an.trace_id AND s.span_id = an.span_id
        WHERE an.project_id = ${p.projectId}::uuid AND an.name = ${name} AND an.kind = 'eval'
          AND an.evaluator_revision = ${revision} ${spanFilter}
        GROUP BY 1, 2 ORDER BY latest DESC`);
      const { rows: pendingRows } = await database.query<{
        prompt: string | null;
        version: string | null;
        n: number;
      }>(Prisma.sql`
        SELECT s.prompt_name AS prompt, s.prompt_version AS version, count(*)::int AS n
        FROM jobs j JOIN spans s ON s.project_id = j.project_id AND s.trace_id = j.payload ->> 'traceId' AND s.span_id = j.payload ->> 'spanId'
        WHERE j.queue = ${evaluations.evaluateQueue.name} AND j.project_id = ${p.projectId}::uuid
          AND j.payload @> ${JSON.stringify({ evaluatorId: row.id, revision })}::jsonb ${spanFilter}
        GROUP BY 1, 2`);
      const key = (r: { prompt: string | null; version: string | null }) => `${r.prompt ?? ""}\u0000${r.version ?? ""}`;
      const pending = new Map(pendingRows.map((r) => [key(r), r.n]));
      const versions = rows.map((r) => ({
        prompt: r.prompt ?? "",
        version: r.version ?? "",
        ...counts(r, pending.get(key(r)) ?? 0),
      }));
      for (const r of pendingRows)
        if (!rows.some((x) => key(x) === key(r)))
          versions.push({ prompt: r.prompt ?? "", version: r.version ?? "", ...counts(undefined, r.n) });
      const total = counts(
        rows.reduce(
          (t, r) => ({
            passed: t.passed + r.passed,
            failed: t.failed + r.failed,
            skipped: t.skipped + r.skipped,
            error: t.error + r.error,
          }),
          { passed: 0, failed: 0, skipped: 0, error: 0 },
        ),
        pendingRows.reduce((n, r) => n + r.n, 0),
      );
      return {
        evaluator: name,
        revision,
        from: q.from?.toISOString() ?? null,
        to: q.to?.toISOString() ?? null,
        versions,
        total,
      };
    },

    async startBackfill(p: Principal, name: string, q: { from: Date; to: Date; limit: number }): Promise<Backfill> {
      requireRole(p, "write");
      const row = await find(p, name);
      const running = await db.evaluatorBackfill.findFirst({ where: { evaluatorId: row.id, status: "running" } });
      if (running)
        throw new AppError(
          "conflict",
          `evaluator '${name}' has a backfill still finding spans (${running.id}); cancel it with DELETE first`,
        );
      const runner = evaluations.runner();
      const created = await bus.write(async ({ tx }) => {
        const b = await tx.evaluatorBackfill.create({
          data: {
            evaluatorId: row.id,
            revision: row.revision,
            fromTime: q.from,
            toTime: q.to,
            maxSpans: q.limit,
            status: "running",
          },
        });
        await runner.enqueue(
          evaluations.backfillQueue,
          `${b.id}:0`,
          { projectId: p.projectId, backfillId: b.id },
          { projectId: p.projectId },
          tx,
        );
        return b;
      });
      runner.wake(evaluations.backfillQueue);
      return backfillView(created, 0);
    },

    /** The evaluator's latest backfill and its progress. */
    async backfill(p: Principal, name: string): Promise<Backfill> {
      const row = await find(p, name);
      const b = await db.evaluatorBackfill.findFirst({
        where: { evaluatorId: row.id },
        orderBy: { createdAt: "desc" },
      });
      if (!b) throw notFound(`a backfill of evaluator '${name}'`);
      const pending = await evaluations.runner().pending(evaluations.evaluateQueue as never, { backfillId: b.id });
      return backfillView(b, pending);
    },

    /** Stops the latest backfill: nothing more is queued, and what is queued and not started is dropped. */
    async cancelBackfill(p: Principal, name: string): Promise<Backfill> {
      requireRole(p, "write");
      const row = await find(p, name);
      const runner = evaluations.runner();
      const b = await bus.write(async ({ tx }) => {
        const latest = await tx.evaluatorBackfill.findFirst({
          where: { evaluatorId: row.id },
          orderBy: { createdAt: "desc" },
        });
        if (!latest) throw notFound(`a backfill of evaluator '${name}'`);
        if (latest.status === "cancelled") return latest;
        await runner.cancel(evaluations.backfillQueue as never, "backfillId", latest.id, tx);
        const dropped = await runner.cancel(evaluations.evaluateQueue as never, "backfillId", latest.id, tx);
        return tx.evaluatorBackfill.update({
          where: { id: latest.id },
          data: { status: "cancelled", finishedAt: new Date(), queued: { decrement: dropped } },
        });
      });
      const pending = await runner.pending(evaluations.evaluateQueue as never, { backfillId: b.id });
      return backfillView(b, pending);
    },
  };
}
