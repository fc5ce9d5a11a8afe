// `promptreg experiment run`: runs versions of a prompt on a dataset on the server, waits for it, prints each
// candidate's paired comparison with the first version, and (with --fail-on regression) exits 1 on a significant
// regression, so a CI step can stop a release.
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  type Experiment,
  type ExperimentComparison,
  ExperimentComparisonSchema,
  ExperimentSchema,
  EvaluatorListSchema,
} from "@promptreg/client/contract";
import type { AdminClient } from "../admin-client.js";
import { type CliIo, KEY_ON_COMMAND_LINE, remoteApi, UsageError, type Command } from "./common.js";

/** How often the experiment's progress is read while it runs. */
const POLL_MS = 1_000;
/** Regressed items listed per evaluator (the rest are counted). */
const LISTED = 10;
/** The exit code when the run could not say (as `push --check`'s): 1 is kept for "a candidate regressed". */
const CANNOT_TELL = 3;

const list = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const percent = (rate: number | null) => (rate === null ? "n/a" : `${(rate * 100).toFixed(1)}%`);

function describeComparison(c: ExperimentComparison): string[] {
  const lines = [`${c.candidate.version} against ${c.baseline.version}: ${c.verdict}`];
  for (const e of c.evaluators) {
    const p = e.pValue === null ? "" : `, McNemar p = ${e.pValue.toPrecision(3)}`;
    lines.push(
      `  ${e.name}: ${percent(e.baseline.passRate)} -> ${percent(e.candidate.passRate)} (${e.regressed} regressed, ${e.improved} improved${p}) ${e.verdict}`,
    );
    const regressed = c.regressions.filter((r) => r.evaluator === e.name).map((r) => r.itemId);
    if (regressed.length)
      lines.push(
        `    regressed: ${regressed.slice(0, LISTED).join(", ")}${regressed.length > LISTED ? `, and ${e.regressed - LISTED} more` : ""}`,
      );
  }
  return lines;
}

export const experiment: Command = async ({ args, io }) => {
  const [action, ...rest] = args;
  if (action !== "run") throw new UsageError("experiment takes run");
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      url: { type: "string" },
      key: { type: "string" },
      dataset: { type: "string" },
      "dataset-version": { type: "string" },
      prompt: { type: "string" },
      versions: { type: "string" },
      connection: { type: "string" },
      model: { type: "string" },
      evaluators: { type: "string" },
      alpha: { type: "string" },
      "fail-on": { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  if (positionals.length) throw new UsageError(`experiment run takes no positional arguments; got ${positionals[0]}`);
  for (const required of ["url", "dataset", "prompt", "versions", "connection"] as const)
    if (!values[required]) throw new UsageError(`--${required} is required`);
  const versions = list(values.versions);
  if (versions.length < 2)
    throw new UsageError("--versions takes at least two, comma-separated: the baseline first, e.g. production,2.1.0");
  if (values["fail-on"] !== undefined && values["fail-on"] !== "regression")
    throw new UsageError(`--fail-on takes 'regression'; got '${values["fail-on"]}'`);
  const alpha = values.alpha === undefined ? 0.05 : Number(values.alpha);
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`--alpha is a level between 0 and 1; got '${values.alpha}'`);
  const datasetVersion = values["dataset-version"] === undefined ? undefined : Number(values["dataset-version"]);
  if (datasetVersion !== undefined && !(Number.isInteger(datasetVersion) && datasetVersion >= 1))
    throw new UsageError(`--dataset-version is a version number; got '${values["dataset-version"]}'`);
  const api = remoteApi(values.url!, io.env.PROMPTREG_API_KEY, "a write key");
  try {
    return await run(api, io, { values: values as RunValues, versions, alpha, datasetVersion });
  } catch (err) {
    // Not an answer about the versions (a server away, a refused key, a bad request): a CI step must tell this from
    // a regression, so it has an exit code of its own.
    io.err(`promptreg: ${err instanceof Error ? err.message : String(err)}`);
    return CANNOT_TELL;
  }
};

interface RunValues {
  dataset: string;
  prompt: string;
  connection: string;
  model?: string;
  evaluators?: string;
  "fail-on"?: string;
}

async function run(
  api: AdminClient,
  io: CliIo,
  {
    values,
    versions,
    alpha,
    datasetVersion,
  }: { values: RunValues; versions: string[]; alpha: number; datasetVersion?: number },
): Promise<number> {
  // Without --evaluators, every evaluator of the project.
  const evaluators = values.evaluators
    ? list(values.evaluators)
    : EvaluatorListSchema.parse(await api.get("/evaluators")).data.map((e) => e.name);
  if (evaluators.length === 0)
    io.err("promptreg: warning: no evaluators (the project has none and --evaluators gave none): nothing is judged");

  let current: Experiment = ExperimentSchema.parse(
    await api.post("/experiments", {
      dataset: values.dataset,
      ...(datasetVersion ? { datasetVersion } : {}),
      prompt: values.prompt,
      versions,
      connection: values.connection,
      ...(values.model ? { model: values.model } : {}),
      evaluators,
    }),
  );
  const total = current.itemCount * current.runs.length;
  io.out(
    `experiment ${current.id}: ${current.prompt} ${current.runs.map((r) => r.version).join(", ")} on ${current.dataset} version ${current.datasetVersion} (${current.itemCount} items)`,
  );
  let reported = -1;
  for (;;) {
    const done = current.runs.reduce((n, r) => n + r.done, 0);
    if (done !== reported) {
      io.out(`${done}/${total} results`);
      reported = done;
    }
    if (current.status !== "running") break;
    await sleep(POLL_MS);
    current = ExperimentSchema.parse(await api.get(`/experiments/${current.id}`));
  }
  if (current.status === "cancelled") {
    io.err(`promptreg: experiment ${current.id} was cancelled before it finished`);
    return CANNOT_TELL;
  }
  for (const run of current.runs)
    if (run.errors) io.out(`${run.version}: ${run.errors} of ${run.done} items failed (errors, not evaluations)`);
  let regressed = false;
  const [baseline, ...candidates] = current.runs;
  for (const candidate of candidates) {
    const query = new URLSearchParams({ baseline: baseline!.version, candidate: candidate.version, alpha: `${alpha}` });
    const comparison = ExperimentComparisonSchema.parse(await api.get(`/experiments/${current.id}/compare?${query}`));
    for (const line of describeComparison(comparison)) io.out(line);
    if (comparison.evaluators.some((e) => e.verdict === "worse")) regressed = true;
    // What the paired test cannot see counts against the candidate too: items it could not answer, evaluators
    // without a single pair to compare.
    const errors = comparison.performance;
    if (errors.candidate.errors > errors.baseline.errors) {
      io.out(
        `  ${candidate.version} failed ${errors.candidate.errors} items (errors), ${baseline!.version} ${errors.baseline.errors}`,
      );
      regressed = true;
    }
    for (const e of comparison.evaluators.filter((x) => x.verdict === "insufficient_data")) {
      io.out(`  ${e.name}: no item has a verdict on both versions: nothing was compared`);
      regressed = true;
    }
  }
  if (regressed && values["fail-on"] === "regression") {
    io.err("promptreg: a candidate regressed (--fail-on regression)");
    return 1;
  }
  return 0;
}
