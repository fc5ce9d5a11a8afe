// Experiments (the only writer of `experiments`, `experiment_runs` and `experiment_results`): every item of one
// dataset version run against several versions of one prompt, and each output evaluated, before a version ships.
// A server-side run renders the version with the item's variables, calls a model connection and evaluates the
// answer, an item per job on the job runner (src/jobs/runner.ts): a restart continues where it stopped, a finished
// item is never run again (its job's row is deleted in the transaction that writes its result), and the calls are
// held to the connection's limits. A client run is the application's: it runs each item with its own code and sends
// the outcomes (recordClientResults), and each outcome is judged by a job of the same queue that skips the call.
// The paired comparison of two runs is in compareRuns.
import type {
  ClientVerdict,
  CreateExperimentBody,
  Experiment,
  ExperimentComparison,
  ExperimentResultsAnswer,
  ExperimentResultsBody,
  PromptVersion,
} from "@promptreg/client/contract";
import {
  BUILTIN_EXPERIMENT_EVALUATORS,
  EVAL_STATUSES,
  MAX_EXPERIMENT_OUTPUT_CHARS as MAX_OUTPUT_CHARS,
  MAX_EXPERIMENT_VERSIONS as MAX_VERSIONS,
} from "@promptreg/client/contract";
import type { Renderer } from "@promptreg/client/render";
import type { Logger } from "pino";
import { z } from "zod";
import { backgroundReader, type Principal, requireRole } from "../auth/principal.js";
import type { ChatClient, ChatMessage } from "../connections/chat.js";
import type { ConnectionsService } from "../connections/connections.service.js";
import type { ConnectionLimiter } from "../connections/limits.js";
import type { Database, Tx } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import type { Evaluations } from "../evals/evaluations.js";
import type { Judge } from "../evals/judge.js";
import { Prisma } from "../generated/prisma/client.js";
import { decodeCursor, encodeCursor } from "../http/cursor.js";
import { AppError, notFound } from "../http/errors.js";
import { invalidRequest, type Issue } from "../http/validate.js";
import { type Completion, type JobRunner, pendingPayloadsSql, type Queue } from "../jobs/runner.js";
import { OutboundError } from "../outbound/outbound.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import { cleanText, clipText } from "../traces/span-checks.js";
import { BUILTIN, type ItemVerdict, unknownEvaluators } from "./builtin.js";
import { inDatasetVersion } from "../datasets/datasets.service.js";
import { compareRuns, type ResultFields } from "./compare.js";

/** Items × versions of one experiment at most: each a job, queued in the transaction that creates it. */
const MAX_RESULTS = 100_000;
/** Jobs queued per statement when an experiment is created. */
const ENQUEUE_CHUNK = 5_000;

/** A model's token count as stored: a whole number an int column holds, or null. */
const tokenCount = (n: number | null) =>
  n === null || !Number.isFinite(n) ? null : Math.max(0, Math.min(2_147_483_647, Math.round(n)));

/** Verdicts as jsonb takes them: reasons (a judge's words) bounded and cleaned of what jsonb refuses. */
const storedVerdicts = (verdicts: Record<string, ItemVerdict>) =>
  JSON.stringify(verdicts, (_key, value) =>
    typeof value === "string" ? cleanText(clipText(value, 4_000, 16_000)) : value,
  );
/** A rendered version as a model is sent it. */
const messagesOf = (rendered: ReturnType<Renderer["render"]>): ChatMessage[] =>
  "messages" in rendered
    ? (rendered.messages as ChatMessage[])
    : [{ role: "user", content: (rendered as { text: string }).text }];
/** The input a judge is shown. */
const inputText = (messages: ChatMessage[]) => messages.map((m) => `${m.role}: ${m.content}`).join("\n");

/** A client evaluator's verdict as stored: without `passed` it is `skipped` (its score still compared). */
const storedClientVerdict = (v: ClientVerdict): ItemVerdict =>
  v.error !== undefined
    ? { status: "error", score: v.score ?? null, reason: v.error }
    : {
        status: v.passed === undefined ? "skipped" : v.passed ? "passed" : "failed",
        score: v.score ?? null,
        reason: v.reason ?? "",
      };

/** A client run's outcome as a result row holds it. */
const clientRow = (c: ClientOutcome) => ({
  output: c.output,
  error: c.error,
  latency_ms: c.latencyMs === null ? null : Math.round(c.latencyMs),
  prompt_tokens: c.promptTokens,
  completion_tokens: c.completionTokens,
  cost: c.cost,
});

/** Where a page by (run, item) starts: after the cursor's `position:itemId`. */
const afterCursor = (cursor: string | undefined) =>
  cursor === undefined
    ? null
    : decodeCursor(cursor, (position) => {
        const [runPosition, itemId] = [Number(position.split(":", 1)[0]), position.slice(position.indexOf(":") + 1)];
        return Number.isInteger(runPosition) && runPosition >= 0 && runPosition < MAX_VERSIONS && position.includes(":")
          ? { runPosition, itemId }
          : null;
      });

/** Tokens an experiment's call asks for when the version's config says nothing. */
const DEFAULT_MAX_TOKENS = 1_024;

/** What a client run's application sent for one item, with its own evaluators' verdicts: judged, never called. */
const ClientOutcome = z.object({
  output: z.string().nullable(),
  error: z.string().nullable(),
  latencyMs: z.number().nullable(),
  promptTokens: z.number().nullable(),
  completionTokens: z.number().nullable(),
  cost: z.number().nullable(),
  verdicts: z.record(
    z.string(),
    z.object({ status: z.enum(EVAL_STATUSES), score: z.number().nullable(), reason: z.string() }),
  ),
});
type ClientOutcome = z.infer<typeof ClientOutcome>;

const ItemPayload = z.object({
  projectId: z.string(),
  projectName: z.string(),
  experimentId: z.string(),
  runId: z.string(),
  itemId: z.string(),
  client: ClientOutcome.optional(),
});
type ItemPayload = z.infer<typeof ItemPayload>;

/** One of the project's evaluators an experiment names: its id and current revision. */
interface DefinedEvaluator {
  id: string;
  name: string;
  revision: number;
}

interface ExperimentRow {
  id: string;
  project_id: string;
  dataset_id: string;
  dataset: string;
  dataset_version: number;
  prompt_name: string;
  mode: string;
  connection: string | null;
  model: string | null;
  evaluators: string[];
  client_evaluators: string[];
  concurrency: number | null;
  status: "running" | "finished" | "cancelled";
  item_count: number;
  created_at: Date;
  finished_at: Date | null;
}

interface ResultRow extends ResultFields {
  run_id: string;
  version: string;
}

/** The experiment's runs' figures so far, by run. */
const RUN_FIGURES = Prisma.sql`
  SELECT r.id::text AS id, r.ref, r.version, count(x.id)::int AS done,
    count(x.error)::int AS errors, avg(x.latency_ms)::float8 AS "meanLatencyMs",
    coalesce(sum(x.prompt_tokens), 0)::float8 AS "promptTokens", coalesce(sum(x.completion_tokens), 0)::float8 AS "completionTokens",
    sum(x.cost)::float8 AS cost
  FROM experiment_runs r LEFT JOIN experiment_results x ON x.run_id = r.id`;

export type ExperimentsService = ReturnType<typeof createExperiments>;

export function createExperiments(deps: {
  db: ReadDb;
  database: Database;
  bus: InvalidationBus;
  prompts: Pick<PromptsService, "resolve">;
  renderer: Renderer;
  chat: ChatClient;
  connections: Pick<ConnectionsService, "forCalls" | "exists">;
  limiter: ConnectionLimiter;
  evaluations: Pick<Evaluations, "definitionOf">;
  judge: Judge;
  logger: Logger;
  maxAttempts?: number;
  concurrency?: number;
}) {
  const { db, database, bus, prompts, renderer, chat, connections, limiter, evaluations, judge } = deps;
  let runner: JobRunner | undefined;
  const runnerOf = () => {
    if (!runner) throw new Error("experiments are not attached to a job runner");
    return runner;
  };

  async function find(p: Principal, id: string): Promise<ExperimentRow> {
    if (!z.uuid().safeParse(id).success) throw notFound(`experiment '${id}'`);
    const { rows } = await database.query<ExperimentRow>(Prisma.sql`
      SELECT e.id::text AS id, e.project_id::text AS project_id, e.dataset_id::text AS dataset_id, d.name AS dataset,
        e.dataset_version, e.prompt_name, e.mode, e.connection, e.model, e.concurrency, e.evaluators,
        coalesce(e.client_evaluators, '{}') AS client_evaluators, e.status, e.item_count, e.created_at, e.finished_at
      FROM experiments e JOIN datasets d ON d.id = e.dataset_id
      WHERE e.id = ${id}::uuid AND e.project_id = ${p.projectId}::uuid`);
    if (!rows[0]) throw notFound(`experiment '${id}'`);
    return rows[0];
  }

  async function view(e: ExperimentRow): Promise<Experiment> {
    const { rows: runs } = await database.query<{
      id: string;
      ref: string;
      version: string;
      done: number;
      errors: number;
      meanLatencyMs: number | null;
      promptTokens: number;
      completionTokens: number;
      cost: number | null;
    }>(Prisma.sql`${RUN_FIGURES} WHERE r.experiment_id = ${e.id}::uuid GROUP BY r.id ORDER BY r.position`);
    const { rows: verdicts } = await database.query<{ run: string; name: string; status: string; n: number }>(
      Prisma.sql`
      SELECT x.run_id::text AS run, v.key AS name, v.value ->> 'status' AS status, count(*)::int AS n
      FROM experiment_runs r JOIN experiment_results x ON x.run_id = r.id, jsonb_each(x.evaluations) v
      WHERE r.experiment_id = ${e.id}::uuid GROUP BY 1, 2, 3`,
    );
    return {
      id: e.id,
      dataset: e.dataset,
      datasetVersion: e.dataset_version,
      prompt: e.prompt_name,
      mode: e.mode === "client" ? "client" : "server",
      connection: e.connection,
      model: e.model,
      concurrency: e.concurrency,
      evaluators: e.evaluators,
      clientEvaluators: e.client_evaluators,
      status: e.status,
      itemCount: e.item_count,
      runs: runs.map((r) => {
        const evaluationsByName = Object.fromEntries(
          e.evaluators.map((name) => {
            const count = (status: string) =>
              verdicts.find((v) => v.run === r.id && v.name === name && v.status === status)?.n ?? 0;
            const passed = count("passed");
            const failed = count("failed");
            return [
              name,
              {
                passed,
                failed,
                skipped: count("skipped"),
                error: count("error"),
                passRate: passed + failed === 0 ? null : passed / (passed + failed),
              },
            ];
          }),
        );
        return { ...r, evaluations: evaluationsByName };
      }),
      createdAt: e.created_at.toISOString(),
      finishedAt: e.finished_at?.toISOString() ?? null,
    };
  }

  /** Evaluates one output by each of the experiment's evaluators; a judge that fails gives `error`, not a failure. */
  async function evaluate(
    project: { projectId: string; projectName: string },
    names: string[],
    item: { variables: Record<string, unknown>; expected: unknown; metadata: Record<string, unknown> },
    input: string,
    output: string,
    signal: AbortSignal,
    /** The project's evaluators among `names` (id, current revision), as the item's read found them. */
    defined: DefinedEvaluator[],
  ): Promise<Record<string, ItemVerdict>> {
    const verdicts: Record<string, ItemVerdict> = {};
    for (const name of names) {
      if (Object.hasOwn(BUILTIN, name)) {
        verdicts[name] = BUILTIN[name as keyof typeof BUILTIN](output, item.expected);
        continue;
      }
      const evaluator = defined.find((d) => d.name === name);
      const entry = evaluator && (await evaluations.definitionOf(evaluator.id, evaluator.revision));
      if (!entry) {
        verdicts[name] = { status: "error", score: null, reason: `evaluator '${name}' no longer exists or compiles` };
        continue;
      }
      if (entry.judging.kind === "check") {
        const v = entry.judging.check(output);
        verdicts[name] = { status: v.status, score: null, reason: v.reason };
        continue;
      }
      try {
        const v = await judge.judge(
          project,
          entry.judging.config,
          { input, output, variables: item.variables, metadata: item.metadata },
          { signal },
        );
        // A judge's score is any finite number: kept within a range the comparison's arithmetic stays finite in.
        verdicts[name] = { status: v.status, score: Math.max(-1e6, Math.min(1e6, v.score)), reason: v.reason };
      } catch (err) {
        if (signal.aborted) throw err;
        verdicts[name] = { status: "error", score: null, reason: `the judge failed: ${(err as Error).message}` };
      }
    }
    return verdicts;
  }

  /**
   * Writes one item's result, and marks the experiment finished when it was the last: one statement with the removal
   * of its job (see Completion), the item's write taking a few round trips fewer than a transaction would.
   */
  const writeResult = (
    p: ItemPayload,
    r: Omit<ResultRow, "run_id" | "version" | "item_id" | "cost"> & { cost?: number | null },
  ): Completion => ({
    // Counted on the experiment's row (in the same statement), whose lock orders concurrent results: the one that
    // completes the count finishes it (a count of the results table would miss those not yet committed).
    ctes: (held) => [
      Prisma.sql`written AS (
        INSERT INTO experiment_results (run_id, item_id, output, error, latency_ms, prompt_tokens, completion_tokens,
          cost, evaluations)
        SELECT ${p.runId}::uuid, ${p.itemId}, ${r.output === null ? null : cleanText(r.output)},
          ${r.error === null ? null : cleanText(clipText(r.error, 4_000, 16_000))}, ${r.latency_ms}::int,
          ${tokenCount(r.prompt_tokens)}::int, ${tokenCount(r.completion_tokens)}::int, ${r.cost ?? null}::float8,
          ${storedVerdicts(r.evaluations)}::jsonb
        WHERE EXISTS (SELECT 1 FROM ${held})
        ON CONFLICT (run_id, item_id) DO NOTHING
        RETURNING 1)`,
      Prisma.sql`counted AS (
        UPDATE experiments SET result_count = result_count + 1,
          status = CASE WHEN status = 'running' AND result_count + 1 >= item_count * run_count THEN 'finished' ELSE status END,
          finished_at = CASE WHEN status = 'running' AND result_count + 1 >= item_count * run_count THEN now() ELSE finished_at END
        WHERE id = ${p.experimentId}::uuid AND EXISTS (SELECT 1 FROM written))`,
    ],
  });

  const itemQueue: Queue<ItemPayload> = {
    name: "experiments.item",
    payload: ItemPayload,
    maxAttempts: deps.maxAttempts ?? 5,
    concurrency: deps.concurrency ?? 16,
    async run(p, { signal }) {
      const { rows } = await database.query<{
        status: string;
        dataset_id: string;
        dataset_version: number;
        prompt_name: string;
        connection: string | null;
        model: string | null;
        evaluators: string[];
        client_evaluators: string[];
        concurrency: number | null;
        version: string;
        variables: Record<string, unknown> | null;
        expected: unknown;
        metadata: Record<string, unknown> | null;
        defined: DefinedEvaluator[];
      }>(Prisma.sql`
        SELECT e.status, e.dataset_id::text AS dataset_id, e.dataset_version, e.prompt_name, e.connection, e.model,
          e.evaluators, coalesce(e.client_evaluators, '{}') AS client_evaluators, e.concurrency, r.version, i.variables, i.expected,
          i.metadata,
          -- The experiment's evaluators of the project, read here rather than by a statement of their own per item.
          (SELECT coalesce(json_agg(json_build_object('id', v.id::text, 'name', v.name, 'revision', v.revision)), '[]')
           FROM evaluators v WHERE v.project_id = e.project_id AND v.name = ANY(e.evaluators)) AS defined
        FROM experiments e JOIN experiment_runs r ON r.experiment_id = e.id AND r.id = ${p.runId}::uuid
          LEFT JOIN dataset_items i ON i.item_id = ${p.itemId}
            AND ${inDatasetVersion(Prisma.sql`e.dataset_id`, Prisma.sql`e.dataset_version`)}
        WHERE e.id = ${p.experimentId}::uuid`);
      const e = rows[0];
      // Gone (deleted with its dataset) or cancelled: nothing to write; unless a resume ran it on since this read
      // (its job for the item found this one's key and queued none), then the job runs again. This job's row is
      // deleted before the experiment's is read, in the order a resume takes them.
      if (e?.status !== "running")
        return async (tx: Tx) => {
          const now = await tx.$queryRaw<{ status: string }[]>`
            SELECT status FROM experiments WHERE id = ${p.experimentId}::uuid FOR SHARE`;
          if (now[0]?.status === "running")
            throw new OutboundError("the experiment was resumed while this item was read: run it again", true);
        };
      const item = { variables: e.variables ?? {}, expected: e.expected, metadata: e.metadata ?? {} };
      const project = { projectId: p.projectId, projectName: p.projectName };
      if (p.client) return judgeClientOutcome(p, p.client, e, item, signal);
      let version: PromptVersion;
      try {
        version = (await prompts.resolve(backgroundReader("experiment", p), e.prompt_name, e.version)).version;
      } catch (err) {
        if (err instanceof AppError)
          throw new OutboundError(`prompt ${e.prompt_name}@${e.version}: ${err.message}`, false);
        throw err;
      }
      let messages: ChatMessage[];
      try {
        messages = messagesOf(renderer.render(version, item.variables));
      } catch (err) {
        // The item does not fit the version (a missing variable): its error, not a retry.
        return writeResult(p, {
          output: null,
          error: `the version could not be rendered with the item's variables: ${(err as Error).message}`,
          latency_ms: null,
          prompt_tokens: null,
          completion_tokens: null,
          evaluations: {},
        });
      }
      const connection = await connections.forCalls(project, e.connection!);
      const config = version.config as Record<string, unknown>;
      // The experiment's own limit first, then the connection's (shared with judges and other experiments).
      const releaseOwn =
        e.concurrency === null
          ? () => {}
          : await limiter.acquire(
              {
                id: `experiment:${p.experimentId}`,
                name: p.experimentId,
                what: `experiment ${p.experimentId}`,
                maxConcurrency: e.concurrency,
                requestsPerMinute: null,
              },
              signal,
            );
      let release = releaseOwn;
      let answer: Awaited<ReturnType<ChatClient["complete"]>>;
      try {
        const releaseConnection = await limiter.acquire(connection, signal);
        release = () => {
          releaseConnection();
          releaseOwn();
        };
        answer = await chat.complete(connection, {
          messages,
          model: e.model ?? (typeof config.model === "string" ? config.model : undefined),
          params: { max_tokens: DEFAULT_MAX_TOKENS, ...config },
          signal,
          maxAnswerBytes: 4 * MAX_OUTPUT_CHARS,
        });
      } finally {
        release();
      }
      const output = clipText(answer.text, MAX_OUTPUT_CHARS, 4 * MAX_OUTPUT_CHARS);
      const verdicts = await evaluate(project, e.evaluators, item, inputText(messages), output, signal, e.defined);
      return writeResult(p, {
        output,
        error: null,
        latency_ms: Math.round(answer.latencyMs),
        prompt_tokens: answer.usage.promptTokens,
        completion_tokens: answer.usage.completionTokens,
        evaluations: verdicts,
      });
    },
    // The task failed for good: recorded as the item's error (never as a failed evaluation). A client run's outcome
    // that could not be judged is kept with its own verdicts.
    giveUp(p, reason) {
      if (p.client) {
        deps.logger.warn({ experimentId: p.experimentId, itemId: p.itemId, reason }, "a client result was not judged");
        return writeResult(p, { ...clientRow(p.client), evaluations: p.client.verdicts });
      }
      return writeResult(p, {
        output: null,
        error: reason,
        latency_ms: null,
        prompt_tokens: null,
        completion_tokens: null,
        evaluations: {},
      });
    },
  };

  /**
   * One item's outcome from a client run: judged by the experiment's server evaluators, with the input its task was
   * given (the version rendered with the item's variables), beside the application's own verdicts.
   */
  async function judgeClientOutcome(
    p: ItemPayload,
    c: ClientOutcome,
    e: {
      prompt_name: string;
      version: string;
      evaluators: string[];
      client_evaluators: string[];
      defined: DefinedEvaluator[];
    },
    item: { variables: Record<string, unknown>; expected: unknown; metadata: Record<string, unknown> },
    signal: AbortSignal,
  ): Promise<Completion> {
    if (c.output === null) return writeResult(p, { ...clientRow(c), evaluations: {} });
    const server = e.evaluators.filter((name) => !e.client_evaluators.includes(name));
    let input = JSON.stringify(item.variables);
    if (server.length)
      try {
        const version = (await prompts.resolve(backgroundReader("experiment", p), e.prompt_name, e.version)).version;
        input = inputText(messagesOf(renderer.render(version, item.variables)));
      } catch {
        // The application rendered it; a judge is shown the variables rather than nothing.
      }
    const project = { projectId: p.projectId, projectName: p.projectName };
    const verdicts = await evaluate(project, server, item, input, c.output, signal, e.defined);
    return writeResult(p, { ...clientRow(c), evaluations: { ...verdicts, ...c.verdicts } });
  }

  /** What the run's mode asks of a new experiment: a server run's connection, a client run's own evaluators. */
  async function modeIssues(p: Principal, body: CreateExperimentBody): Promise<Issue[]> {
    const issues: Issue[] = [];
    if (body.mode === "client") {
      for (const field of ["connection", "model"] as const)
        if (body[field] !== undefined)
          issues.push({ path: `body.${field}`, message: "a client run calls no model connection: its task does" });
      if (body.concurrency !== undefined)
        issues.push({
          path: "body.concurrency",
          message: "a client run's concurrency is the application's (runExperiment's option)",
        });
      // A client evaluator named as a server one would pass for it (a gate trusts only the server's verdicts).
      const serverNames = new Set([
        ...BUILTIN_EXPERIMENT_EVALUATORS,
        ...(await db.evaluator.findMany({ where: { projectId: p.projectId }, select: { name: true } })).map(
          (x) => x.name,
        ),
      ]);
      for (const [i, name] of body.clientEvaluators.entries())
        if (body.evaluators.includes(name) || serverNames.has(name))
          issues.push({
            path: `body.clientEvaluators.${i}`,
            message: `'${name}' is the name of one of the server's evaluators: give the application's its own`,
          });
      return issues;
    }
    if (body.clientEvaluators.length)
      issues.push({ path: "body.clientEvaluators", message: "only a client run (mode client) has client evaluators" });
    if (body.connection === undefined)
      issues.push({ path: "body.connection", message: "a server run needs the model connection it calls" });
    else if (!(await connections.exists(p.projectId, body.connection)))
      issues.push({ path: "body.connection", message: `no connection named '${body.connection}' in this project` });
    return issues;
  }

  /** Queues a server run's items, a job each, in the caller's transaction (statements of ENQUEUE_CHUNK jobs). */
  async function queueItems(tx: Tx, p: Principal, experimentId: string, runId: string, itemIds: string[]) {
    for (let at = 0; at < itemIds.length; at += ENQUEUE_CHUNK)
      await runnerOf().enqueueMany(
        itemQueue,
        itemIds.slice(at, at + ENQUEUE_CHUNK).map((itemId) => ({
          key: `${runId}:${itemId}`,
          payload: { projectId: p.projectId, projectName: p.projectName, experimentId, runId, itemId },
        })),
        { projectId: p.projectId },
        tx,
      );
  }

  async function runsOf(experimentId: string) {
    return db.experimentRun.findMany({ where: { experimentId }, orderBy: { position: "asc" } });
  }

  return {
    queues: [itemQueue] as Queue<never>[],
    attach(r: JobRunner) {
      runner = r;
    },

    async create(p: Principal, body: CreateExperimentBody): Promise<Experiment> {
      requireRole(p, "write");
      const issues: Issue[] = [];
      const dataset = await db.dataset.findUnique({
        where: { projectId_name: { projectId: p.projectId, name: body.dataset } },
      });
      if (!dataset)
        issues.push({ path: "body.dataset", message: `no dataset named '${body.dataset}' in this project` });
      const datasetVersion = body.datasetVersion ?? dataset?.version ?? 0;
      if (dataset && (datasetVersion < 1 || datasetVersion > dataset.version))
        issues.push({
          path: "body.datasetVersion",
          message:
            dataset.version === 0
              ? `dataset '${body.dataset}' has no items yet`
              : `dataset '${body.dataset}' has versions 1 to ${dataset.version}`,
        });
      const resolved: { ref: string; version: string }[] = [];
      for (const [i, ref] of body.versions.entries()) {
        try {
          const v = (await prompts.resolve(p, body.prompt, ref)).version;
          if (resolved.some((r) => r.version === v.version))
            issues.push({
              path: `body.versions.${i}`,
              message: `'${ref}' is version ${v.version}, already in the list`,
            });
          else resolved.push({ ref, version: v.version });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          issues.push({ path: `body.versions.${i}`, message: err.message });
        }
      }
      issues.push(...(await modeIssues(p, body)));
      issues.push(...(await unknownEvaluators(db, p.projectId, body.evaluators)));
      if (issues.length) throw invalidRequest("body", issues);
      const { rows: items } = await database.query<{ item_id: string }>(Prisma.sql`
        SELECT i.item_id FROM dataset_items i
        WHERE ${inDatasetVersion(Prisma.sql`${dataset!.id}::uuid`, Prisma.sql`${datasetVersion}`)}
        ORDER BY i.item_id`);
      const id = await bus.write(
        async ({ tx }) => {
          const results = items.length * resolved.length;
          if (results > MAX_RESULTS)
            throw new AppError(
              "limit_exceeded",
              `${items.length} items × ${resolved.length} versions is ${results} results; an experiment has at most ${MAX_RESULTS}`,
              { limit: { limit: "results of an experiment", max: MAX_RESULTS, found: results } },
            );
          const experiment = await tx.experiment.create({
            data: {
              projectId: p.projectId,
              datasetId: dataset!.id,
              datasetVersion,
              promptName: body.prompt,
              mode: body.mode,
              connection: body.connection ?? null,
              model: body.model ?? null,
              concurrency: body.concurrency ?? null,
              evaluators: [...new Set([...body.evaluators, ...body.clientEvaluators])],
              clientEvaluators: [...new Set(body.clientEvaluators)],
              status: items.length === 0 ? "finished" : "running",
              itemCount: items.length,
              runCount: resolved.length,
              ...(items.length === 0 ? { finishedAt: new Date() } : {}),
            },
          });
          for (const [position, r] of resolved.entries()) {
            const run = await tx.experimentRun.create({
              data: { experimentId: experiment.id, ref: r.ref, version: r.version, position },
            });
            // A client run's items are the application's to run: a job is queued per outcome it sends.
            if (body.mode === "client") continue;
            await queueItems(
              tx,
              p,
              experiment.id,
              run.id,
              items.map((i) => i.item_id),
            );
          }
          return experiment.id;
        },
        { timeout: 60_000 },
      );
      runnerOf().wake(itemQueue);
      return view(await find(p, id));
    },

    async list(p: Principal): Promise<Experiment[]> {
      const { rows } = await database.query<{ id: string }>(Prisma.sql`
        SELECT id::text AS id FROM experiments WHERE project_id = ${p.projectId}::uuid ORDER BY created_at DESC LIMIT 100`);
      return Promise.all(rows.map(async (r) => view(await find(p, r.id))));
    },

    async get(p: Principal, id: string): Promise<Experiment> {
      return view(await find(p, id));
    },

    /** Stops a running experiment: items not started are dropped; results written stay. */
    async cancel(p: Principal, id: string): Promise<Experiment> {
      requireRole(p, "write");
      const e = await find(p, id);
      await bus.write(
        async ({ tx }) => {
          await tx.$executeRaw`
          UPDATE experiments SET status = 'cancelled', finished_at = now() WHERE id = ${e.id}::uuid AND status = 'running'`;
          await runnerOf().cancel(itemQueue as Queue<never>, "experimentId", e.id, tx);
        },
        { timeout: 60_000 },
      );
      return view(await find(p, id));
    },

    /**
     * Records a batch of a client run's outcomes: each (run, item) not yet received is queued for the server's
     * evaluators, which write it (once: a result already written is kept); one already received is skipped. A
     * batch naming a run, an item or an evaluator the experiment does not have is refused whole.
     */
    /**
     * Runs a cancelled experiment on: its items without a result are queued again (a client run's application sends
     * them, see `received`); results written stay, and no item that has one runs again.
     */
    async resume(p: Principal, id: string): Promise<Experiment> {
      requireRole(p, "write");
      const e = await find(p, id);
      if (e.status === "finished")
        throw new AppError("conflict", `experiment '${id}' is finished: every item has a result`);
      if (e.status === "cancelled") {
        const queued = await bus.write(
          async ({ tx }) => {
            // Jobs first, the experiment's row last: an item finishing now deletes its job and then updates that
            // row, so taking the row first and then waiting on its job's key would deadlock with it.
            if (e.mode === "server") {
              const missing = await tx.$queryRaw<{ run_id: string; item_id: string }[]>`
                SELECT r.id::text AS run_id, i.item_id
                FROM experiment_runs r CROSS JOIN dataset_items i
                WHERE r.experiment_id = ${e.id}::uuid
                  AND ${inDatasetVersion(Prisma.sql`${e.dataset_id}::uuid`, Prisma.sql`${e.dataset_version}`)}
                  AND NOT EXISTS (SELECT 1 FROM experiment_results x WHERE x.run_id = r.id AND x.item_id = i.item_id)
                ORDER BY r.position, i.item_id`;
              const byRun = new Map<string, string[]>();
              for (const m of missing) {
                const itemIds = byRun.get(m.run_id) ?? [];
                itemIds.push(m.item_id);
                byRun.set(m.run_id, itemIds);
              }
              for (const [runId, itemIds] of byRun) await queueItems(tx, p, e.id, runId, itemIds);
            }
            // Zero when another resume got there first (its jobs have the same keys: none was queued twice).
            // Every item may have a result by now (those in flight at the cancel wrote theirs): then it is finished.
            return tx.$executeRaw`
              UPDATE experiments SET
                status = CASE WHEN result_count >= item_count * run_count THEN 'finished' ELSE 'running' END,
                finished_at = CASE WHEN result_count >= item_count * run_count THEN now() ELSE NULL END
              WHERE id = ${e.id}::uuid AND status = 'cancelled'`;
          },
          { timeout: 60_000 },
        );
        if (queued) runnerOf().wake(itemQueue);
      }
      return view(await find(p, id));
    },

    async recordClientResults(p: Principal, id: string, body: ExperimentResultsBody): Promise<ExperimentResultsAnswer> {
      requireRole(p, "write");
      const e = await find(p, id);
      if (e.mode !== "client")
        throw new AppError(
          "conflict",
          `experiment '${id}' is a server run: its results are written by the service's own jobs, not sent`,
        );
      if (e.status !== "running")
        throw new AppError("conflict", `experiment '${id}' is ${e.status}: it takes no results`);
      const runs = await runsOf(e.id);
      const { rows: known } = await database.query<{ item_id: string }>(Prisma.sql`
        SELECT i.item_id FROM dataset_items i
        WHERE ${inDatasetVersion(Prisma.sql`${e.dataset_id}::uuid`, Prisma.sql`${e.dataset_version}`)}
          AND i.item_id = ANY(${[...new Set(body.results.map((r) => r.itemId))]}::text[])`);
      const items = new Set(known.map((k) => k.item_id));
      const issues: Issue[] = [];
      const batch = new Map<string, { runId: string; itemId: string; client: ClientOutcome }>();
      for (const [i, r] of body.results.entries()) {
        const at = `body.results.${i}`;
        const run = runs.find((x) => x.id === r.run || x.version === r.run || x.ref === r.run);
        if (!run)
          issues.push({
            path: `${at}.run`,
            message: `no run '${r.run}' in this experiment (runs: ${runs.map((x) => x.version).join(", ")})`,
          });
        if (!items.has(r.itemId))
          issues.push({
            path: `${at}.itemId`,
            message: `no item '${r.itemId}' in version ${e.dataset_version} of dataset '${e.dataset}'`,
          });
        for (const name of Object.keys(r.scores ?? {}))
          if (!e.client_evaluators.includes(name))
            issues.push({
              path: `${at}.scores.${name}`,
              message: `'${name}' is not a client evaluator of this experiment (${e.client_evaluators.join(", ") || "it has none"})`,
            });
        if (!run) continue;
        const key = `${run.id}:${r.itemId}`;
        if (batch.has(key))
          issues.push({ path: at, message: `a second result of item '${r.itemId}' on ${run.version}` });
        batch.set(key, {
          runId: run.id,
          itemId: r.itemId,
          client: {
            output: r.output ?? null,
            error: r.error ?? null,
            latencyMs: r.latencyMs ?? null,
            promptTokens: r.promptTokens ?? null,
            completionTokens: r.completionTokens ?? null,
            cost: r.cost ?? null,
            verdicts: Object.fromEntries(Object.entries(r.scores ?? {}).map(([n, v]) => [n, storedClientVerdict(v)])),
          },
        });
      }
      if (issues.length) throw invalidRequest("body", issues, "bad_request");
      const sent = [...batch.values()];
      const { rows: written } = await database.query<{ run_id: string; item_id: string }>(Prisma.sql`
        SELECT x.run_id::text AS run_id, x.item_id FROM experiment_results x
          JOIN unnest(${sent.map((r) => r.runId)}::uuid[], ${sent.map((r) => r.itemId)}::text[]) AS k(run_id, item_id)
            ON x.run_id = k.run_id AND x.item_id = k.item_id`);
      const recorded = new Set(written.map((w) => `${w.run_id}:${w.item_id}`));
      const queued = sent.filter((r) => !recorded.has(`${r.runId}:${r.itemId}`));
      // Keyed as a server run's jobs: an outcome sent twice before it is judged is queued once.
      await runnerOf().enqueueMany(
        itemQueue,
        queued.map((r) => ({
          key: `${r.runId}:${r.itemId}`,
          payload: { projectId: p.projectId, projectName: p.projectName, experimentId: e.id, ...r },
        })),
        { projectId: p.projectId },
      );
      runnerOf().wake(itemQueue);
      return {
        queued: queued.length,
        skipped: sent
          .filter((r) => recorded.has(`${r.runId}:${r.itemId}`))
          .map((r) => ({ run: r.runId, itemId: r.itemId })),
      };
    },

    /**
     * A page of the (run, item) pairs the experiment has a result of, or has received and is judging: what a client
     * run that resumes does not run again.
     */
    async received(p: Principal, id: string, query: { cursor?: string; limit: number }) {
      const e = await find(p, id);
      const after = afterCursor(query.cursor);
      const { rows } = await database.query<{ run: string; position: number; item_id: string }>(Prisma.sql`
        SELECT r.id::text AS run, r.position, k.item_id FROM (
          SELECT x.run_id, x.item_id FROM experiment_results x JOIN experiment_runs r ON r.id = x.run_id
          WHERE r.experiment_id = ${e.id}::uuid
          UNION
          SELECT (j.payload ->> 'runId')::uuid, j.payload ->> 'itemId'
          FROM (${pendingPayloadsSql(itemQueue, { experimentId: e.id })}) j
        ) k JOIN experiment_runs r ON r.id = k.run_id
        ${after ? Prisma.sql`WHERE (r.position, k.item_id) > (${after.runPosition}, ${after.itemId})` : Prisma.empty}
        ORDER BY r.position, k.item_id LIMIT ${query.limit + 1}`);
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        data: page.map((r) => ({ run: r.run, itemId: r.item_id })),
        nextCursor: rows.length > query.limit && last ? encodeCursor(`${last.position}:${last.item_id}`) : null,
      };
    },

    /** A page of results, by run then item. */
    async results(p: Principal, id: string, query: { run?: string; cursor?: string; limit: number }) {
      const e = await find(p, id);
      const runs = await runsOf(e.id);
      const run =
        query.run === undefined
          ? undefined
          : runs.find((r) => r.version === query.run || r.ref === query.run || r.id === query.run);
      if (query.run !== undefined && !run) throw notFound(`run '${query.run}' of experiment '${id}'`);
      const after = afterCursor(query.cursor);
      const { rows } = await database.query<ResultRow & { position: number }>(Prisma.sql`
        SELECT x.run_id::text AS run_id, r.version, r.position, x.item_id, x.output, x.error, x.latency_ms,
          x.prompt_tokens, x.completion_tokens, x.cost, x.evaluations
        FROM experiment_results x JOIN experiment_runs r ON r.id = x.run_id
        WHERE r.experiment_id = ${e.id}::uuid ${run ? Prisma.sql`AND r.id = ${run.id}::uuid` : Prisma.empty}
          ${after ? Prisma.sql`AND (r.position, x.item_id) > (${after.runPosition}, ${after.itemId})` : Prisma.empty}
        ORDER BY r.position, x.item_id LIMIT ${query.limit + 1}`);
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        data: page.map((r) => ({
          run: r.run_id,
          version: r.version,
          itemId: r.item_id,
          output: r.output,
          error: r.error,
          latencyMs: r.latency_ms,
          promptTokens: r.prompt_tokens,
          completionTokens: r.completion_tokens,
          cost: r.cost,
          evaluations: r.evaluations,
        })),
        nextCursor: rows.length > query.limit && last ? encodeCursor(`${last.position}:${last.item_id}`) : null,
      };
    },

    /** The paired comparison of two runs of an experiment (see compare.ts). */
    async compare(
      p: Principal,
      id: string,
      query: { baseline: string; candidate: string; alpha: number },
    ): Promise<ExperimentComparison> {
      const e = await find(p, id);
      const runs = await runsOf(e.id);
      const pick = (ref: string, field: string) => {
        const run = runs.find((r) => r.ref === ref || r.version === ref);
        if (!run)
          throw invalidRequest("query", [
            {
              path: `query.${field}`,
              message: `no run of '${ref}' in this experiment (runs: ${runs.map((r) => r.version).join(", ")})`,
            },
          ]);
        return run;
      };
      const baseline = pick(query.baseline, "baseline");
      const candidate = pick(query.candidate, "candidate");
      // Outputs and variables are read for the items listed as regressions only.
      const comparison = await compareRuns(database, {
        baseline: { ref: baseline.ref, version: baseline.version, runId: baseline.id },
        candidate: { ref: candidate.ref, version: candidate.version, runId: candidate.id },
        evaluators: e.evaluators,
        alpha: query.alpha,
      });
      const listed = [...new Set(comparison.regressions.map((r) => r.itemId))];
      if (listed.length === 0) return comparison;
      const { rows: details } = await database.query<{
        item_id: string;
        base: string | null;
        cand: string | null;
        variables: Record<string, unknown> | null;
        expected: unknown;
      }>(Prisma.sql`
        SELECT k.item_id, b.output AS base, c.output AS cand, i.variables, i.expected
        FROM unnest(${listed}::text[]) AS k(item_id)
          LEFT JOIN experiment_results b ON b.run_id = ${baseline.id}::uuid AND b.item_id = k.item_id
          LEFT JOIN experiment_results c ON c.run_id = ${candidate.id}::uuid AND c.item_id = k.item_id
          LEFT JOIN dataset_items i ON i.item_id = k.item_id
            AND ${inDatasetVersion(Prisma.sql`${e.dataset_id}::uuid`, Prisma.sql`${e.dataset_version}`)}`);
      const byItem = new Map(details.map((d) => [d.item_id, d]));
      for (const r of comparison.regressions) {
        const d = byItem.get(r.itemId);
        r.variables = d?.variables ?? {};
        r.expected = d?.expected ?? null;
        r.baselineOutput = d?.base ?? null;
        r.candidateOutput = d?.cand ?? null;
      }
      return comparison;
    },
  };
}
