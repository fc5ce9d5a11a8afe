// A client run of an experiment: every item of a dataset version run against several versions of a prompt by the
// application's own code (an agent with its tools and retrieval), in its own process. The server keeps the
// experiment, its items and results, and judges each output with its evaluators; this side renders each version with
// each item's variables, calls the task with at most `concurrency` in flight, links the spans of the task's LLM calls
// to the version and tags them with the experiment, the run and the item, and sends the outcomes in batches. Only
// fetch, AbortSignal and `performance.now` are used: it runs wherever the client does.
import {
  type ChatMessage,
  type ClientResult,
  type ClientVerdict,
  type DatasetItem,
  DatasetItemPageSchema,
  type Experiment,
  ExperimentReceivedPageSchema,
  ExperimentResultsAnswerSchema,
  ExperimentSchema,
  MAX_EXPERIMENT_OUTPUT_CHARS,
  MAX_EXPERIMENT_RESULTS_BATCH,
  PromptVersionSchema,
} from "./contract.js";
import type { z } from "zod";
import { RegistryError } from "./errors.js";
import { callJson, type HttpSettings, versionUrl } from "./http.js";
import { createPrompt, type Prompt } from "./prompt.js";
import type { Renderer } from "./render.js";
import {
  ATTR_PROMPTREG_DATASET_ITEM,
  ATTR_PROMPTREG_EXPERIMENT_ID,
  ATTR_PROMPTREG_EXPERIMENT_RUN,
  withCallAttributes,
  withPrompt,
} from "./tracing.js";

/** What a task is given besides the rendered prompt and the item. */
export interface ExperimentTaskContext {
  experimentId: string;
  /** The run's id, and the version it runs. */
  run: string;
  version: string;
  /** The version itself: its `config` names the model and its parameters. */
  prompt: Prompt;
  /** Aborted when the `signal` given to `runExperiment` is. */
  signal: AbortSignal;
}

/** What a task returns: the output (text; another value is sent as JSON), with what the call used when it knows. */
export type TaskOutput =
  | string
  | {
      output: unknown;
      promptTokens?: number | undefined;
      completionTokens?: number | undefined;
      cost?: number | undefined;
    };

/**
 * The application's code for one item: given the version rendered with the item's variables (the text of a text
 * prompt, the messages of a chat prompt). A throw is the item's error, never a failed evaluation.
 */
export type ExperimentTask = (
  rendered: string | ChatMessage[],
  item: DatasetItem,
  context: ExperimentTaskContext,
) => TaskOutput | Promise<TaskOutput>;

/** A verdict of an application's own evaluator: passed or not (else `skipped`), a score, a reason. */
export interface EvaluatorVerdict {
  passed?: boolean | undefined;
  score?: number | undefined;
  reason?: string | undefined;
}

/** An application's own evaluator of one output; a throw is that evaluator's `error` on the item. */
export type ExperimentEvaluator = (output: string, item: DatasetItem) => EvaluatorVerdict | Promise<EvaluatorVerdict>;

export interface RunExperimentOptions {
  /** The dataset and its version (default its latest), the prompt and its versions (or references) to run. */
  dataset?: string;
  datasetVersion?: number;
  prompt?: string;
  versions?: string[];
  /**
   * Resumes this experiment (a client run that stopped): the items it already has a result of, or is judging, are
   * not run again. `dataset`, `prompt` and `versions` may then be left out; given, they must be the experiment's.
   */
  experimentId?: string;
  task: ExperimentTask;
  /** The application's own evaluators, by name: each judges every output here, its verdicts sent along. */
  evaluators?: Record<string, ExperimentEvaluator>;
  /** Evaluators the server runs on each output: the project's, and the built-in `exact_match` and `similarity`. */
  serverEvaluators?: string[];
  /** Tasks running at once. Default: 4. */
  concurrency?: number;
  /** Results sent a request, at most 100. Default: 20. */
  batchSize?: number;
  /**
   * Stops the run: no task starts after it is aborted; the tasks running finish (they are given the signal), their
   * outcomes are sent, and `runExperiment` rejects with the signal's reason. Run it again with `experimentId`.
   */
  signal?: AbortSignal;
}

export interface ExperimentSummary {
  experimentId: string;
  /** Per run: tasks called by this call, of which errors, and items skipped for already having a result. */
  runs: { id: string; ref: string; version: string; called: number; errors: number; skipped: number }[];
  /**
   * The experiment as the server reported it once the last result was sent; its evaluators may still be judging
   * (`status` turns `finished` when every result is written).
   */
  experiment: Experiment;
}

/** Characters of outputs a batch holds before it is sent (a request stays within the server's body limit). */
const MAX_BATCH_CHARS = 256 * 1024;
const ITEMS_PAGE = 200;
const RECEIVED_PAGE = 5_000;

/**
 * Runs an experiment's items with the application's code and sends the outcomes (see `RunExperimentOptions`).
 * @throws {RegistryError} when the server refuses or fails a call (after retries), the experiment is not a client run
 * or was cancelled (`experiment_mismatch`); the signal's reason when it is aborted
 * @throws {TypeError} on invalid options
 */
export async function runExperiment(
  deps: { http: HttpSettings; renderer: Renderer },
  options: RunExperimentOptions,
): Promise<ExperimentSummary> {
  const { http } = deps;
  const concurrency = options.concurrency ?? 4;
  const batchSize = options.batchSize ?? 20;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError("concurrency must be a whole number ≥ 1");
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_EXPERIMENT_RESULTS_BATCH)
    throw new TypeError(`batchSize must be a whole number from 1 to ${MAX_EXPERIMENT_RESULTS_BATCH}`);
  const evaluators = Object.entries(options.evaluators ?? {});
  const signal = options.signal ?? new AbortController().signal;
  const api = `${http.baseUrl}/api/v1`;
  const experimentUrl = (id: string) => `${api}/experiments/${encodeURIComponent(id)}`;

  const resumed = options.experimentId !== undefined;
  let experiment: Experiment;
  if (options.experimentId === undefined) {
    const { dataset, prompt, versions } = options;
    if (dataset === undefined || prompt === undefined || versions === undefined)
      throw new TypeError(
        "dataset, prompt and versions are needed to start an experiment (or experimentId to resume one)",
      );
    const body = {
      dataset,
      prompt,
      versions,
      mode: "client",
      evaluators: options.serverEvaluators ?? [],
      clientEvaluators: evaluators.map(([name]) => name),
      ...(options.datasetVersion === undefined ? {} : { datasetVersion: options.datasetVersion }),
    };
    // Never repeated: a retry after a lost answer would start a second experiment.
    experiment = await callJson(
      http,
      { method: "POST", url: `${api}/experiments`, body },
      ExperimentSchema,
      "an experiment",
      0,
    );
  } else {
    experiment = await callJson(
      http,
      { method: "GET", url: experimentUrl(options.experimentId) },
      ExperimentSchema,
      "an experiment",
    );
    checkResumable(
      experiment,
      options,
      evaluators.map(([name]) => name),
    );
  }
  const id = experiment.id;

  const received = new Set<string>();
  if (resumed)
    for await (const r of pages(
      http,
      `${experimentUrl(id)}/received?limit=${RECEIVED_PAGE}`,
      ExperimentReceivedPageSchema,
    ))
      received.add(`${r.run}\n${r.itemId}`);

  const runs = await Promise.all(
    experiment.runs.map(async (run) => {
      const version = await callJson(
        http,
        { method: "GET", url: versionUrl(http.baseUrl, experiment.prompt, run.version) },
        PromptVersionSchema,
        "a prompt version",
      );
      const prompt = createPrompt(version, "network", {
        renderer: deps.renderer,
        baseUrl: http.baseUrl,
        sessionId: undefined,
        userId: undefined,
      });
      return { ...run, prompt, called: 0, errors: 0, skipped: 0 };
    }),
  );

  const sender = createSender(http, `${experimentUrl(id)}/results`, batchSize);
  const running = new Set<Promise<void>>();
  let failure: unknown;

  async function runItem(run: (typeof runs)[number], item: DatasetItem): Promise<void> {
    const base = { run: run.id, itemId: item.id };
    let rendered: string | ChatMessage[];
    try {
      rendered = run.prompt.render(item.variables) as string | ChatMessage[];
    } catch (err) {
      run.errors++;
      sender.add({ ...base, error: `the version could not be rendered with the item's variables: ${messageOf(err)}` });
      return;
    }
    const link = { ...run.prompt.link(), variables: item.variables };
    const tags = {
      [ATTR_PROMPTREG_EXPERIMENT_ID]: id,
      [ATTR_PROMPTREG_EXPERIMENT_RUN]: run.id,
      [ATTR_PROMPTREG_DATASET_ITEM]: item.id,
    };
    const context: ExperimentTaskContext = {
      experimentId: id,
      run: run.id,
      version: run.version,
      prompt: run.prompt,
      signal,
    };
    run.called++;
    const started = performance.now();
    let value: TaskOutput;
    try {
      value = await withCallAttributes(tags, () => withPrompt(link, () => options.task(rendered, item, context)));
    } catch (err) {
      run.errors++;
      sender.add({ ...base, error: clip(messageOf(err), 16_000), latencyMs: performance.now() - started });
      return;
    }
    const latencyMs = performance.now() - started;
    const outcome = outcomeOf(value);
    const scores: Record<string, ClientVerdict> = {};
    for (const [name, evaluate] of evaluators) scores[name] = await verdictOf(() => evaluate(outcome.output, item));
    sender.add({ ...base, ...outcome, latencyMs, ...(evaluators.length ? { scores } : {}) });
  }

  async function schedule(job: () => Promise<void>): Promise<void> {
    while (running.size >= concurrency) await Promise.race(running);
    const done: Promise<void> = job()
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => running.delete(done));
    running.add(done);
  }

  if (experiment.status === "running")
    items: for await (const item of pages(
      http,
      `${api}/datasets/${encodeURIComponent(experiment.dataset)}/items?version=${experiment.datasetVersion}&limit=${ITEMS_PAGE}`,
      DatasetItemPageSchema,
    ))
      for (const run of runs) {
        if (signal.aborted || failure !== undefined || sender.failure !== undefined) break items;
        if (received.has(`${run.id}\n${item.id}`)) {
          run.skipped++;
          continue;
        }
        await schedule(() => runItem(run, item));
      }
  await Promise.all(running);
  await sender.flush();
  if (sender.failure !== undefined) throw sender.failure;
  if (failure !== undefined) throw failure;
  if (signal.aborted) throw signal.reason;

  experiment = await callJson(http, { method: "GET", url: experimentUrl(id) }, ExperimentSchema, "an experiment");
  return {
    experimentId: id,
    runs: runs.map(({ id, ref, version, called, errors, skipped }) => ({ id, ref, version, called, errors, skipped })),
    experiment,
  };
}

function checkResumable(experiment: Experiment, options: RunExperimentOptions, clientEvaluators: string[]): void {
  const problems: string[] = [];
  if (experiment.mode !== "client") problems.push("it is a server run");
  if (experiment.status === "cancelled") problems.push("it was cancelled");
  if (options.dataset !== undefined && options.dataset !== experiment.dataset)
    problems.push(`its dataset is '${experiment.dataset}', not '${options.dataset}'`);
  if (options.datasetVersion !== undefined && options.datasetVersion !== experiment.datasetVersion)
    problems.push(`it runs version ${experiment.datasetVersion} of the dataset, not ${options.datasetVersion}`);
  if (options.prompt !== undefined && options.prompt !== experiment.prompt)
    problems.push(`its prompt is '${experiment.prompt}', not '${options.prompt}'`);
  if (
    options.versions !== undefined &&
    options.versions.join("\n") !== experiment.runs.map((r) => r.ref).join("\n") &&
    options.versions.join("\n") !== experiment.runs.map((r) => r.version).join("\n")
  )
    problems.push(`it runs ${experiment.runs.map((r) => r.ref).join(", ")}, not ${options.versions.join(", ")}`);
  if ([...clientEvaluators].sort().join("\n") !== [...experiment.clientEvaluators].sort().join("\n"))
    problems.push(
      `its own evaluators are [${experiment.clientEvaluators.join(", ")}], not [${clientEvaluators.join(", ")}]`,
    );
  if (problems.length)
    throw new RegistryError({
      status: 0,
      code: "experiment_mismatch",
      message: `experiment ${experiment.id} cannot be resumed with these options: ${problems.join("; ")}`,
    });
}

/** The entries of every page of a `{data, nextCursor}` listing, fetched one page at a time. */
async function* pages<T>(
  http: HttpSettings,
  url: string,
  schema: z.ZodType<{ data: T[]; nextCursor: string | null }>,
): AsyncGenerator<T> {
  let cursor: string | null = null;
  do {
    const page: { data: T[]; nextCursor: string | null } = await callJson(
      http,
      { method: "GET", url: cursor === null ? url : `${url}&cursor=${encodeURIComponent(cursor)}` },
      schema,
      "a page",
    );
    yield* page.data;
    cursor = page.nextCursor;
  } while (cursor !== null);
}

/**
 * Batches of results, sent one request at a time in the order they were made. A batch the server refused stops the
 * run (`failure`); it is safe to send one again: the server skips items that already have a result.
 */
function createSender(http: HttpSettings, url: string, batchSize: number) {
  let buffer: ClientResult[] = [];
  let chars = 0;
  let chain = Promise.resolve();
  const sender = {
    failure: undefined as unknown,
    add(result: ClientResult) {
      const size = (result.output?.length ?? 0) + (result.error?.length ?? 0);
      if (buffer.length && chars + size > MAX_BATCH_CHARS) void sender.flush();
      buffer.push(result);
      chars += size;
      if (buffer.length >= batchSize) void sender.flush();
    },
    flush(): Promise<void> {
      if (buffer.length) {
        const results = buffer;
        buffer = [];
        chars = 0;
        chain = chain.then(async () => {
          if (sender.failure !== undefined) return;
          try {
            await callJson(
              http,
              { method: "POST", url, body: { results } },
              ExperimentResultsAnswerSchema,
              "an answer",
            );
          } catch (err) {
            sender.failure = err;
          }
        });
      }
      return chain;
    },
  };
  return sender;
}

const clip = (text: string, max: number) => (text.length > max ? text.slice(0, max) : text);

function messageOf(err: unknown): string {
  const text = err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err);
  return text || "the task failed";
}

/** A count the server stores (a whole number ≥ 0), or nothing. */
const count = (n: unknown) =>
  typeof n === "number" && Number.isFinite(n) && n >= 0 ? Math.min(2_147_483_647, Math.round(n)) : undefined;

function outcomeOf(
  value: TaskOutput,
): Pick<ClientResult, "promptTokens" | "completionTokens" | "cost"> & { output: string } {
  if (typeof value === "string" || value === null || typeof value !== "object" || !("output" in value))
    return { output: clip(textOf(value), MAX_EXPERIMENT_OUTPUT_CHARS) };
  const outcome: Pick<ClientResult, "promptTokens" | "completionTokens" | "cost"> & { output: string } = {
    output: clip(textOf(value.output), MAX_EXPERIMENT_OUTPUT_CHARS),
  };
  const promptTokens = count(value.promptTokens);
  const completionTokens = count(value.completionTokens);
  if (promptTokens !== undefined) outcome.promptTokens = promptTokens;
  if (completionTokens !== undefined) outcome.completionTokens = completionTokens;
  if (typeof value.cost === "number" && Number.isFinite(value.cost) && value.cost >= 0 && value.cost <= 1e12)
    outcome.cost = value.cost;
  return outcome;
}

function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

async function verdictOf(evaluate: () => EvaluatorVerdict | Promise<EvaluatorVerdict>): Promise<ClientVerdict> {
  let v: EvaluatorVerdict;
  try {
    v = await evaluate();
  } catch (err) {
    return { error: clip(messageOf(err), 4_000) };
  }
  if (typeof v !== "object" || v === null) return { error: "the evaluator returned no verdict" };
  const verdict: ClientVerdict = {};
  if (typeof v.passed === "boolean") verdict.passed = v.passed;
  if (typeof v.score === "number" && Number.isFinite(v.score)) verdict.score = Math.max(-1e6, Math.min(1e6, v.score));
  if (typeof v.reason === "string") verdict.reason = clip(v.reason, 4_000);
  return verdict;
}
