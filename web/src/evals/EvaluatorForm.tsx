// Defining an evaluator: its kind and that kind's config, what it looks at, how much of it, and before saving, what
// it would say of the latest spans it looks at (a preview: run by the server, nothing stored). A deterministic check
// previews as it is typed; an LLM judge when asked, since each span it previews is a call to a model.
import { type UseQueryResult, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import {
  ConnectionListSchema,
  EvaluationPreviewSchema,
  EvaluatorSchema,
  type EvaluationPreview,
  type Evaluator,
} from "@promptreg/client/contract";
import type { z } from "zod";
import { EVALUATOR_NAME_PATTERN } from "@promptreg/client/contract";
import { ApiError, api } from "../api";
import { ErrorBox, TableHead, Time } from "../components/ui";
import { can, useSession } from "../session";
import { traceHref } from "../pages/Traces";
import {
  KINDS,
  KIND_TITLES,
  canonical,
  changesDefinition,
  definitionOf,
  emptyForm,
  formOf,
  type FormState,
  type TargetMode,
} from "./definition";
import { type Issue, issuesOf, placeIssues } from "./issues";
import { Counts, EvalStatusBadge, Field } from "./parts";

const PREVIEW_DELAY_MS = 500;
/** As the server allows: up to 50 spans, 20 for a judge (each is a call). */
const PREVIEW_LIMITS = [10, 20, 50] as const;
const JUDGE_PREVIEW_MAX = 20;
const SHOWN_OUTPUT = 240;

const FIELDS = [
  "name",
  "kind",
  "target",
  "target.prompt",
  "target.prefix",
  "target.label",
  "sampleRate",
  "dailyBudget",
  "enabled",
  "config",
  "config.schema",
  "config.pattern",
  "config.flags",
  "config.values",
  "config.caseSensitive",
  "config.min",
  "config.max",
  "config.judgePrompt",
  "config.connection",
  "config.threshold",
  "limit",
] as const;

type Preview = { key: string; result: EvaluationPreview } | { key: string; error: unknown };

export function EvaluatorForm({
  saved,
  onSaved,
  onCancel,
}: {
  /** The evaluator being edited; none: a new one. */
  saved?: Evaluator;
  onSaved: (evaluator: Evaluator) => void;
  onCancel?: () => void;
}) {
  const session = useSession();
  const queryClient = useQueryClient();
  const [form, setForm] = useState<FormState>(() => (saved ? formOf(saved) : emptyForm()));
  const [limit, setLimit] = useState<number>(10);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const sequence = useRef(0);

  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setSaveError(null);
  };

  const { definition, issues: definitionIssues, missing } = definitionOf(form, saved);
  const localIssues: Issue[] = [...definitionIssues];
  if (!saved && form.name !== "" && !EVALUATOR_NAME_PATTERN.test(form.name))
    localIssues.push({
      path: "name",
      message: "must be 1-100 letters, digits, '_', '.', ':' or '-', starting with a letter or digit",
    });
  const budget = form.dailyBudget.trim() === "" ? null : Number(form.dailyBudget);
  if (budget !== null && !Number.isInteger(budget))
    localIssues.push({ path: "dailyBudget", message: "must be a whole number of evaluations, or empty for none" });
  const isJudge = form.kind === "llm_judge";
  const effectiveLimit = isJudge ? Math.min(limit, JUDGE_PREVIEW_MAX) : limit;
  const previewKey = canonical({ definition, limit: effectiveLimit });
  // A field left empty blocks the preview and the save, but is marked only once a save is tried: a new form is not
  // an error.
  const blocked = localIssues.length > 0 || missing.length > 0;
  const [tried, setTried] = useState(false);
  // The preview's path names an evaluator; an unsaved one's name may not be typed yet (any valid name will do).
  const previewName = saved?.name ?? (EVALUATOR_NAME_PATTERN.test(form.name) ? form.name : "preview");

  async function runPreview() {
    const id = ++sequence.current;
    const key = previewKey;
    setPreviewing(true);
    try {
      const result = await api(`/evaluators/${encodeURIComponent(previewName)}/preview`, EvaluationPreviewSchema, {
        method: "POST",
        body: { definition, limit: effectiveLimit },
      });
      if (id === sequence.current) setPreview({ key, result });
    } catch (error) {
      if (id === sequence.current) setPreview({ key, error });
    } finally {
      if (id === sequence.current) setPreviewing(false);
    }
  }

  // A check previews shortly after the last keystroke; answers to older definitions are dropped.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the key is the definition and limit the preview sends.
  useEffect(() => {
    if (blocked) {
      sequence.current++;
      setPreview(null);
      setPreviewing(false);
      return;
    }
    if (isJudge) return;
    const timer = setTimeout(() => void runPreview(), PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [previewKey, blocked, isJudge]);

  const connections = useQuery({
    queryKey: ["connections"],
    queryFn: () => api("/connections", ConnectionListSchema),
    // Only an admin key may read the connections; others type the name.
    enabled: isJudge && can(session, "admin"),
    retry: false,
  });

  const previewError = preview && "error" in preview ? preview.error : null;
  const saveIssues = issuesOf(saveError);
  const conflict = saveError instanceof ApiError && saveError.code === "conflict";
  const issues = placeIssues(
    [
      ...localIssues,
      ...(tried ? missing : []),
      ...(saveIssues.length ? saveIssues : issuesOf(previewError)),
      ...(conflict ? [{ path: "name", message: (saveError as Error).message }] : []),
    ],
    FIELDS,
  );
  const errorsOf = (...keys: string[]) => keys.flatMap((k) => issues.of(k));
  const revisionAfter = saved && changesDefinition(definition, saved) ? saved.revision + 1 : saved?.revision;

  async function save() {
    setSaving(true);
    setSaveError(null);
    try {
      const body = { ...definition, dailyBudget: budget, enabled: saved ? saved.enabled : form.enabled };
      const evaluator = saved
        ? await api(`/evaluators/${encodeURIComponent(saved.name)}`, EvaluatorSchema, { method: "PUT", body })
        : await api("/evaluators", EvaluatorSchema, { method: "POST", body: { name: form.name, ...body } });
      await queryClient.invalidateQueries({ queryKey: ["evaluators"] });
      queryClient.setQueryData(["evaluator", evaluator.name], evaluator);
      onSaved(evaluator);
    } catch (err) {
      setSaveError(err);
    } finally {
      setSaving(false);
    }
  }

  const targetLabel = form.targetMode === "prompt" ? "Prompt name" : "Name prefix";
  return (
    <form
      className="evaluator-form"
      aria-label={saved ? `Edit ${saved.name}` : "New evaluator"}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setTried(true);
        if (!blocked && !saving) void save();
      }}
    >
      <div className="row">
        {!saved && (
          <Field
            id="ev-name"
            label="Name"
            className="grow"
            errors={errorsOf("name")}
            help="The annotation name its results carry, and what compare's failure selector shows."
          >
            {(a) => (
              <input
                {...a}
                value={form.name}
                onChange={(e) => set("name", e.target.value.trim())}
                placeholder="e.g. valid-json"
                autoComplete="off"
              />
            )}
          </Field>
        )}
        <Field id="ev-kind" label="Kind" className="grow" errors={errorsOf("kind")}>
          {(a) => (
            <select {...a} value={form.kind} onChange={(e) => set("kind", e.target.value as FormState["kind"])}>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {KIND_TITLES[k]}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>

      <fieldset className="eval-config" aria-describedby={issues.of("config").length ? "ev-config-error" : undefined}>
        <legend>{isJudge ? "Judge" : "Check"}</legend>
        {issues.of("config").length > 0 && (
          <p id="ev-config-error" className="field-error" data-testid="error-ev-config">
            {issues.of("config").join("; ")}
          </p>
        )}
        <KindConfig form={form} set={set} errorsOf={errorsOf} connections={connections} />
      </fieldset>

      <fieldset className="eval-target">
        <legend>Spans it looks at</legend>
        <div className="radio-row" role="radiogroup" aria-label="Which prompts' spans">
          {(
            [
              ["prompt", "One prompt"],
              ["prefix", "A folder of prompts"],
              ["all", "Every prompt"],
            ] as [TargetMode, string][]
          ).map(([mode, title]) => (
            <label key={mode}>
              <input
                type="radio"
                name="target-mode"
                checked={form.targetMode === mode}
                onChange={() => set("targetMode", mode)}
              />{" "}
              {title}
            </label>
          ))}
        </div>
        <div className="row">
          {form.targetMode !== "all" && (
            <Field
              id="ev-target"
              label={targetLabel}
              className="grow"
              errors={errorsOf("target", "target.prompt", "target.prefix")}
            >
              {(a) => (
                <input
                  {...a}
                  value={form.targetValue}
                  onChange={(e) => set("targetValue", e.target.value)}
                  placeholder={form.targetMode === "prompt" ? "e.g. support/answer" : "e.g. support/"}
                  autoComplete="off"
                />
              )}
            </Field>
          )}
          <Field
            id="ev-label"
            label="Label (optional)"
            errors={errorsOf("target.label")}
            help="Only the spans served through this label, e.g. production."
          >
            {(a) => <input {...a} value={form.label} onChange={(e) => set("label", e.target.value)} size={14} />}
          </Field>
          <Field
            id="ev-sample"
            label="Sample rate"
            errors={errorsOf("sampleRate")}
            help="From 0 to 1: 0.1 evaluates one span in ten (the same spans on every run)."
          >
            {(a) => (
              <input
                {...a}
                type="number"
                inputMode="decimal"
                min={0}
                max={1}
                step={0.05}
                value={form.sampleRate}
                onChange={(e) => set("sampleRate", e.target.value)}
                size={6}
              />
            )}
          </Field>
          <Field
            id="ev-budget"
            label="Daily budget (optional)"
            errors={errorsOf("dailyBudget")}
            help="At most this many evaluations a UTC day; then it stops until the next."
          >
            {(a) => (
              <input
                {...a}
                type="number"
                inputMode="numeric"
                min={1}
                step={1}
                value={form.dailyBudget}
                onChange={(e) => set("dailyBudget", e.target.value)}
                size={8}
                placeholder="none"
              />
            )}
          </Field>
        </div>
        {!saved && (
          <label className="checkbox">
            <input type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} /> On:
            evaluate new spans as they arrive
          </label>
        )}
      </fieldset>

      <PreviewPanel
        preview={preview}
        previewKey={previewKey}
        previewing={previewing}
        blocked={blocked}
        waitingFor={localIssues.length === 0 ? missing[0]?.message : undefined}
        isJudge={isJudge}
        limit={effectiveLimit}
        onLimit={setLimit}
        onRun={() => void runPreview()}
      />

      {issues.unplaced.length > 0 && (
        <ul className="field-error" role="alert" aria-label="Other problems">
          {issues.unplaced.map((i, n) => (
            <li key={n}>
              <code>{i.path}</code>: {i.message}
            </li>
          ))}
        </ul>
      )}
      {saveError !== null &&
        (saveIssues.length > 0 || conflict ? (
          <p className="field-error" role="alert">
            Not saved: {saveIssues.length > 0 ? "see the fields marked above." : (saveError as Error).message}
          </p>
        ) : (
          <ErrorBox error={saveError} title="Not saved" />
        ))}
      <div className="form-actions">
        {saved && revisionAfter !== saved.revision && (
          <span className="muted small" data-testid="revision-note">
            Saving makes revision {revisionAfter}: results from then on are its own, and compare reads them.
          </span>
        )}
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        {!saved && <Link to="/evaluators">Cancel</Link>}
        <button type="submit" className="primary" disabled={localIssues.length > 0 || saving}>
          {saving
            ? "Saving…"
            : !saved
              ? "Create evaluator"
              : revisionAfter !== saved.revision
                ? `Save as revision ${revisionAfter}`
                : "Save"}
        </button>
      </div>
    </form>
  );
}

function KindConfig({
  form,
  set,
  errorsOf,
  connections,
}: {
  form: FormState;
  set: <K extends keyof FormState>(key: K, value: FormState[K]) => void;
  errorsOf: (...keys: string[]) => string[];
  connections: UseQueryResult<z.infer<typeof ConnectionListSchema>>;
}) {
  switch (form.kind) {
    case "json":
      return <p className="muted">Passes when the answer parses as JSON. Nothing to set.</p>;
    case "json_schema":
      return (
        <Field
          id="ev-schema"
          label="JSON Schema"
          errors={errorsOf("config.schema")}
          help="The answer must parse as JSON and be valid against this schema."
        >
          {(a) => (
            <textarea
              {...a}
              className="mono"
              rows={6}
              value={form.schema}
              onChange={(e) => set("schema", e.target.value)}
              spellCheck={false}
            />
          )}
        </Field>
      );
    case "regex":
      return (
        <div className="row">
          <Field
            id="ev-pattern"
            label="Pattern"
            className="grow"
            errors={errorsOf("config.pattern")}
            help="Passes when the pattern matches somewhere in the answer. JavaScript syntax, run on RE2: no lookaround, no backreferences."
          >
            {(a) => (
              <input
                {...a}
                className="mono"
                value={form.pattern}
                onChange={(e) => set("pattern", e.target.value)}
                spellCheck={false}
                autoComplete="off"
              />
            )}
          </Field>
          <fieldset className="flags" aria-describedby={errorsOf("config.flags").length ? "ev-flags-error" : undefined}>
            <legend>Flags</legend>
            {(
              [
                ["i", "ignore case"],
                ["m", "^ and $ at line ends"],
                ["s", ". matches newlines"],
              ] as const
            ).map(([flag, title]) => (
              <label key={flag}>
                <input
                  type="checkbox"
                  checked={form.flags.includes(flag)}
                  onChange={(e) => set("flags", e.target.checked ? form.flags + flag : form.flags.replace(flag, ""))}
                />{" "}
                <code>{flag}</code> {title}
              </label>
            ))}
            {errorsOf("config.flags").length > 0 && (
              <p id="ev-flags-error" className="field-error">
                {errorsOf("config.flags").join("; ")}
              </p>
            )}
          </fieldset>
        </div>
      );
    case "contains":
    case "not_contains":
      return (
        <>
          <Field
            id="ev-values"
            label="Texts, one a line"
            errors={errorsOf("config.values")}
            help={
              form.kind === "contains"
                ? "Passes when the answer contains at least one of them."
                : "Passes when the answer contains none of them."
            }
          >
            {(a) => (
              <textarea
                {...a}
                rows={4}
                value={form.values}
                onChange={(e) => set("values", e.target.value)}
                spellCheck={false}
              />
            )}
          </Field>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={form.caseSensitive}
              onChange={(e) => set("caseSensitive", e.target.checked)}
            />{" "}
            Case-sensitive
          </label>
        </>
      );
    case "length":
      return (
        <div className="row">
          <Field id="ev-min" label="At least (characters)" errors={errorsOf("config.min")}>
            {(a) => (
              <input
                {...a}
                type="number"
                min={0}
                step={1}
                value={form.min}
                onChange={(e) => set("min", e.target.value)}
                size={8}
              />
            )}
          </Field>
          <Field id="ev-max" label="At most (characters)" errors={errorsOf("config.max")}>
            {(a) => (
              <input
                {...a}
                type="number"
                min={0}
                step={1}
                value={form.max}
                onChange={(e) => set("max", e.target.value)}
                size={8}
              />
            )}
          </Field>
        </div>
      );
    case "llm_judge": {
      const list = connections.data?.data;
      const forbidden = connections.error instanceof ApiError && connections.error.status === 403;
      return (
        <div className="row">
          <Field
            id="ev-judge-prompt"
            label="Judge prompt"
            className="grow"
            errors={errorsOf("config.judgePrompt")}
            help={
              <>
                A chat prompt of this registry using <code>{"{{output}}"}</code> (and <code>{"{{input}}"}</code>), and
                the reference to judge with: <code>name@label</code> or <code>name@version</code>.
              </>
            }
          >
            {(a) => (
              <input
                {...a}
                value={form.judgePrompt}
                onChange={(e) => set("judgePrompt", e.target.value)}
                placeholder="evals/helpful@production"
                autoComplete="off"
              />
            )}
          </Field>
          <Field
            id="ev-connection"
            label="Connection"
            errors={errorsOf("config.connection")}
            help={
              list
                ? list.length === 0
                  ? "No connection yet: add one with POST /api/v1/connections (an admin key)."
                  : "The model connection the judge calls."
                : forbidden || !connections.isFetching
                  ? "Its name: listing the connections needs an admin key."
                  : undefined
            }
          >
            {(a) =>
              list && list.length > 0 ? (
                <select {...a} value={form.connection} onChange={(e) => set("connection", e.target.value)}>
                  <option value="">Choose a connection</option>
                  {form.connection !== "" && !list.some((c) => c.name === form.connection) && (
                    <option value={form.connection}>{form.connection} (not found)</option>
                  )}
                  {list.map((c) => (
                    <option key={c.name} value={c.name}>
                      {c.name} ({c.model})
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  {...a}
                  value={form.connection}
                  onChange={(e) => set("connection", e.target.value.trim())}
                  placeholder="e.g. openai"
                  autoComplete="off"
                  size={16}
                />
              )
            }
          </Field>
          <Field
            id="ev-threshold"
            label="Pass at score (optional)"
            errors={errorsOf("config.threshold")}
            help="When set, passed is score ≥ this, whatever the judge said."
          >
            {(a) => (
              <input
                {...a}
                type="number"
                step={0.05}
                value={form.threshold}
                onChange={(e) => set("threshold", e.target.value)}
                size={6}
                placeholder="judge's"
              />
            )}
          </Field>
        </div>
      );
    }
  }
}

function PreviewPanel({
  preview,
  previewKey,
  previewing,
  blocked,
  waitingFor,
  isJudge,
  limit,
  onLimit,
  onRun,
}: {
  preview: Preview | null;
  previewKey: string;
  previewing: boolean;
  blocked: boolean;
  /** What the definition still needs before it can run (an empty required field), when nothing else is wrong. */
  waitingFor?: string;
  isJudge: boolean;
  limit: number;
  onLimit: (n: number) => void;
  onRun: () => void;
}) {
  const stale = preview !== null && preview.key !== previewKey;
  const error = preview && "error" in preview ? preview.error : null;
  const result = preview && "result" in preview ? preview.result : null;
  return (
    <section className="eval-preview" aria-labelledby="preview-title" aria-busy={previewing}>
      <div className="section-head">
        <h2 id="preview-title">Preview on recent spans</h2>
        <div className="row">
          <label className="inline">
            Spans
            <select value={limit} onChange={(e) => onLimit(Number(e.target.value))}>
              {PREVIEW_LIMITS.filter((n) => !isJudge || n <= JUDGE_PREVIEW_MAX).map((n) => (
                <option key={n} value={n}>
                  latest {n}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={onRun} disabled={blocked || previewing}>
            {previewing ? "Running…" : isJudge ? `Run preview (${limit} judge calls at most)` : "Run again"}
          </button>
        </div>
      </div>
      <p className="muted small">
        The definition above on the latest spans it looks at (sample rate aside); nothing is stored
        {isJudge ? ". Each span is a call to the judge's model, so it runs when asked" : ", and it runs as you type"}.
      </p>
      <div role="status" aria-live="polite" className="preview-status">
        {blocked ? (
          <p className="muted">
            {waitingFor ? `To preview: ${waitingFor}.` : "Fix the fields marked above to preview."}
          </p>
        ) : previewing && !preview ? (
          <p className="muted">Evaluating…</p>
        ) : !preview ? (
          <p className="muted">{isJudge ? "Not run yet." : "Waiting for the definition…"}</p>
        ) : error ? (
          issuesOf(error).length > 0 ? (
            <p className="field-error" data-testid="preview-invalid">
              The definition cannot run: see the fields marked.
            </p>
          ) : (
            <ErrorBox error={error} title="The preview failed" />
          )
        ) : result ? (
          <>
            {stale && <p className="muted small">The definition has changed since: run it again to see its results.</p>}
            {result.data.length === 0 ? (
              <p className="muted" data-testid="preview-empty">
                No recent LLM spans in its target. Send traces of the prompt, or widen the target.
              </p>
            ) : (
              <Counts counts={result.counts} label="Preview results" />
            )}
          </>
        ) : null}
      </div>
      {result && result.data.length > 0 && (
        <div className="table-scroll">
          <table className="compact preview-table">
            <TableHead caption="Evaluation of each recent span" columns={["Span", "Status", "Reason", "Output"]} />
            <tbody>
              {result.data.map((e) => (
                <tr key={`${e.traceId}-${e.spanId}`} className={stale ? "stale" : undefined}>
                  <td>
                    <Link to={traceHref(e)}>
                      {e.promptName ?? "span"} <span className="semver">{e.promptVersion ?? ""}</span>
                    </Link>
                    <div className="muted small">
                      <Time iso={e.startTime} />
                    </div>
                  </td>
                  <td>
                    <EvalStatusBadge status={e.status} />
                    {e.score !== null && <div className="muted small">score {e.score}</div>}
                  </td>
                  <td className="eval-reason">{e.reason}</td>
                  <td>
                    {e.output === null ? (
                      <span className="muted">none</span>
                    ) : (
                      <pre className="output-snippet" title={e.output}>
                        {e.output.length > SHOWN_OUTPUT ? `${e.output.slice(0, SHOWN_OUTPUT)}…` : e.output}
                      </pre>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
