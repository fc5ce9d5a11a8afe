// `promptreg push`: publishes the prompt files of a folder that differ from the registry (or, with --dry-run and
// --check, says which do).
import { parseArgs } from "node:util";
import { LABEL_NAME_PATTERN, LabelNameSchema } from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";
import { checkSettableLabel } from "../labels/labels.service.js";
import { readPromptFiles } from "../prompt-files/files.js";
import { applyPush, isPending, planPush, type PlannedPrompt, type PushOptions } from "../prompt-files/sync.js";
import { KEY_ON_COMMAND_LINE, remoteApi, reportFailure, UsageError, type Command } from "./common.js";

/**
 * One line of a push's plan: `~ support/triage 1.2.0 -> 1.3.0 (minor: ...); new tags; staging: 1.2.0 -> 1.3.0`.
 */
function describeStep(step: PlannedPrompt): string {
  const head =
    step.change === "new"
      ? `+ ${step.name} ${step.to} (new prompt)`
      : step.change === "changed"
        ? `~ ${step.name} ${step.from} -> ${step.to} (${step.bump!.bump}: ${step.bump!.reasons.join("; ")})`
        : `= ${step.name} ${step.to} (unchanged)`;
  const fields = step.newFields.length ? [`new ${step.newFields.join(" and ")}`] : [];
  const moves = step.labelMoves.length
    ? [step.labelMoves.map((m) => `${m.label}: ${m.from ?? "none"} -> ${step.to}`).join(", ")]
    : [];
  return [head, ...fields, ...moves].join("; ");
}

/** `push --check`'s answer when it cannot tell (a problem in a file, a server away): 1 is "the registry differs". */
const CHECK_CANNOT_TELL = 3;

export const push: Command = async ({ args, io }) => {
  const { values, positionals } = parseArgs({
    args,
    options: {
      url: { type: "string" },
      key: { type: "string" },
      label: { type: "string", multiple: true },
      message: { type: "string" },
      override: { type: "string" },
      "dry-run": { type: "boolean" },
      check: { type: "boolean" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  if (positionals.length !== 1) throw new UsageError("push takes one folder of prompt files");
  if (!values.url) throw new UsageError("--url is required");
  if (values["dry-run"] && values.check) throw new UsageError("--dry-run and --check do not go together");
  const labels = values.label ?? [];
  if (values.override !== undefined && (!values.override.trim() || labels.length === 0))
    throw new UsageError("--override takes the reason the ledger records, and goes with --label");
  for (const label of labels) {
    if (!LabelNameSchema.safeParse(label).success)
      throw new UsageError(`--label '${label}' is not a label name (${LABEL_NAME_PATTERN.source})`);
    // Said once here rather than by the server once per file (`latest`, a label that reads as a version).
    try {
      checkSettableLabel(label);
    } catch (err) {
      if (err instanceof AppError) throw new UsageError(`--label: ${err.message}`);
      throw err;
    }
  }
  const api = remoteApi(values.url, io.env.PROMPTREG_API_KEY);
  let options: PushOptions;
  let plan: PlannedPrompt[];
  try {
    options = {
      api,
      files: await readPromptFiles(positionals[0]!),
      labels,
      commitMessage: values.message,
      ...(values.override === undefined ? {} : { override: { reason: values.override } }),
    };
    if (options.files.length === 0) throw new UsageError(`no prompt files (*.prompt.yaml) in ${positionals[0]}`);
    plan = await planPush(options);
  } catch (err) {
    if (!values.check || err instanceof UsageError) throw err;
    reportFailure(err, io);
    return CHECK_CANNOT_TELL;
  }
  for (const step of plan) io.out(describeStep(step));
  const pending = plan.filter(isPending).length;
  const counts = (["new", "changed", "unchanged"] as const)
    .map((change) => `${plan.filter((s) => s.change === change).length} ${change}`)
    .join(", ");
  if (values.check) {
    io.out(`${counts}: ${pending ? `${pending} prompt(s) differ from their files` : "the registry matches the files"}`);
    return pending ? 1 : 0;
  }
  if (values["dry-run"] || pending === 0) {
    io.out(`${counts}: ${pending ? "nothing published (dry run)" : "nothing to publish"}`);
    return 0;
  }
  // A line per prompt once it is published, so a push that stops midway has said how far it got.
  await applyPush(options, plan, ({ step, version }) => {
    io.out(`pushed ${step.name} ${version}`);
    if (version !== step.to)
      io.err(
        `promptreg: warning: ${step.name} was pushed as ${version}, not ${step.to} as planned: another version was published in between`,
      );
  });
  io.out(`${counts}: pushed`);
  return 0;
};
