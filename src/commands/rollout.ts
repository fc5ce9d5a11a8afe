// `promptreg rollout start|status|pause|resume|advance|abort`: a label's guarded rollout, through a running server.
import { parseArgs } from "node:util";
import { type Rollout, RolloutSchema, type StartRolloutBody } from "@promptreg/client/contract";
import { KEY_ON_COMMAND_LINE, remoteApi, UsageError, type Command } from "./common.js";

const enc = encodeURIComponent;
const ACTIONS = ["pause", "resume", "advance", "abort"] as const;

/** A number option, or undefined when not given; anything else is wrong usage naming the option. */
function numberOption(name: string, text: string | undefined, check: (n: number) => boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${name}: got '${text}'`);
  return n;
}

/** `5,25,50,100` (percentages) into the steps' shares. */
function sharesOf(text: string): number[] {
  const shares = text.split(",").map((p) => numberOption("steps", p.trim(), (n) => n > 0 && n <= 100)! / 100);
  if (shares.some((s, i) => i > 0 && s <= shares[i - 1]!))
    throw new UsageError(`--steps are increasing percentages such as 5,25,50,100; got '${text}'`);
  return shares;
}

const pct = (share: number) => `${Number((share * 100).toPrecision(4))}%`;

/** What `status` and every action print: the state, the step, each arm's figures and the guard's last word. */
function describe(name: string, r: Rollout): string[] {
  const arm = (which: "baseline" | "candidate") => {
    const a = r.arms[which];
    const rate = a.failureRate === null ? "no judged units yet" : `${(a.failureRate * 100).toFixed(1)}% failing`;
    const p95 = a.latencyP95Ms === null ? "" : `, p95 ${a.latencyP95Ms.toFixed(0)} ms`;
    return `  ${which} ${a.version}: ${rate} (${a.failures}/${a.units})${p95}`;
  };
  return [
    `${name} ${r.label}: rollout ${r.id} ${r.state}, step ${r.step} of ${r.steps.length} (${r.steps.map((s) => pct(s.share)).join(" → ")}), candidate share ${pct(r.share)}`,
    arm("baseline"),
    arm("candidate"),
    r.verdict ? `  guard (${r.evaluations} evaluations): ${r.verdict.sentence}` : "  guard: not evaluated yet",
  ];
}

export const rollout: Command = async ({ args, io }) => {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      url: { type: "string" },
      key: { type: "string" },
      label: { type: "string", default: "production" },
      candidate: { type: "string" },
      steps: { type: "string" },
      "min-duration-ms": { type: "string" },
      "min-units": { type: "string" },
      failure: { type: "string" },
      alpha: { type: "string" },
      "min-sample": { type: "string" },
      "max-p95-increase-ms": { type: "string" },
      "max-mean-cost-increase": { type: "string" },
      "no-auto-rollback": { type: "boolean" },
      reason: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  if (!values.url) throw new UsageError("--url is required");
  if (positionals.length !== 1) throw new UsageError(`rollout ${action ?? ""} takes the prompt's name`.trim());
  const name = positionals[0]!;
  const api = remoteApi(values.url, io.env.PROMPTREG_API_KEY);
  const path = `/prompts/${enc(name)}/labels/${enc(values.label)}/rollout`;
  const print = (answer: unknown) => {
    for (const line of describe(name, RolloutSchema.parse(answer))) io.out(line);
    return 0;
  };

  if (action === "start") {
    if (!values.candidate) throw new UsageError("rollout start needs --candidate VERSION");
    if (!values.steps) throw new UsageError("rollout start needs --steps, e.g. 5,25,50,100 (percentages)");
    const minDurationMs = numberOption("min-duration-ms", values["min-duration-ms"], Number.isSafeInteger);
    const minUnits = numberOption("min-units", values["min-units"], Number.isSafeInteger);
    const optional = {
      alpha: numberOption("alpha", values.alpha, (n) => n > 0 && n < 1),
      minSample: numberOption("min-sample", values["min-sample"], Number.isSafeInteger),
      maxP95IncreaseMs: numberOption("max-p95-increase-ms", values["max-p95-increase-ms"], (n) => n >= 0),
      maxMeanCostIncrease: numberOption("max-mean-cost-increase", values["max-mean-cost-increase"], (n) => n >= 0),
    };
    const body: StartRolloutBody = {
      candidate: values.candidate,
      steps: sharesOf(values.steps).map((share) => ({
        share,
        ...(minDurationMs === undefined ? {} : { minDurationMs }),
        ...(minUnits === undefined ? {} : { minUnits }),
      })),
      guard: {
        ...(values.failure ? { failure: values.failure } : {}),
        ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
      },
      autoRollback: !values["no-auto-rollback"],
      ...(values.reason ? { reason: values.reason } : {}),
    };
    return print(await api.post(path, body));
  }
  if (action === "status") return print(await api.get(path));
  if ((ACTIONS as readonly string[]).includes(action ?? ""))
    return print(await api.post(`${path}/${action}`, values.reason ? { reason: values.reason } : {}));
  throw new UsageError("rollout takes start, status, pause, resume, advance or abort");
};
