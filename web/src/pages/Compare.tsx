// Does the new version fail more, since when, and why: the verdict first (and the rollback when it is bad), then the
// failure rates with their intervals, the series over time with the label's moves, then the tables. Every choice on
// the page (versions, range, failure definition, unit, bucket) is in the address. Everything drawn comes from the
// compare and timeseries aggregates; no span is loaded here.
import { keepPreviousData, queryOptions, useQuery, useQueryClient } from "@tanstack/react-query";
import { Suspense, lazy, useEffect, useMemo, useState, type ReactNode } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { PRODUCTION_LABEL, type PromptDetail } from "@promptreg/client/contract";
import { ApiError, api, promptPath } from "../api";
import { Dialog, ErrorBox, Loading } from "../components/ui";
import { seriesClass } from "../observe/colors";
import {
  TEST_NAMES,
  VERDICT_WORDS,
  int,
  interval,
  ms,
  pValue,
  pct,
  plural,
  signedMs,
  signedUsd,
  usd,
} from "../observe/format";
import { PRESETS, rangeLabel, readBucket, readRange, type Preset } from "../observe/range";
import { RateChart } from "../observe/RateChart";
import { useEvaluators } from "../evals/queries";
import {
  CompareSchema,
  PROMPT_SOURCES,
  TimeseriesSchema,
  type CompareAnswer,
  type Comparison,
} from "@promptreg/client/contract";
import "../observe/observe.css";
import { canMoveLabel, useSession } from "../session";
import { LabelActionForm, type LabelAction } from "./Labels";
import { promptHref } from "./PromptRoute";
import { useVersions } from "./Versions";

const TimeCharts = lazy(() => import("../observe/TimeCharts"));

type Query = Record<string, string | undefined>;

const moreUnits = (n: number, unit: string) => `${int(n)} more ${unit}${n === 1 ? "" : "s"}`;

/** The traces list, filtered to one version's LLM spans in a window. */
export function spansHref(prompt: string, version: string, from: Date, to: Date, extra: Query = {}): string {
  const q = new URLSearchParams({ prompt, version, spanKind: "LLM", from: from.toISOString(), to: to.toISOString() });
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  return `/traces?${q}`;
}

/** Everything the page's address says, and the two queries it makes from it. */
function compareState(params: URLSearchParams, now: number) {
  const range = readRange(params, now);
  const bucket = readBucket(params, range);
  const versions = params.get("versions") ?? "";
  const failure = params.get("failure") ?? "status";
  const unit = params.get("unit") === "trace" ? "trace" : "span";
  const eventsLabel = params.get("label") ?? PRODUCTION_LABEL;
  const common: Query = {
    versions: versions || undefined,
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    failure,
    threshold: params.get("threshold") ?? undefined,
    // Which revision of the evaluator named by the failure judges (its current one when absent).
    revision: params.get("revision") ?? undefined,
    // Only a guarded rollout's calls (the Labels page links here with its id), and one of its arms.
    rollout: params.get("rollout") ?? undefined,
    arm: params.get("arm") ?? undefined,
  };
  const compareQuery: Query = { ...common, unit, minSample: params.get("minSample") ?? undefined };
  const seriesQuery: Query = { ...common, bucket, eventsLabel };
  return { range, bucket, versions, failure, revision: common.revision, unit, eventsLabel, compareQuery, seriesQuery };
}

const compareOptions = (name: string, query: Query) =>
  queryOptions({
    queryKey: ["compare", name, query],
    queryFn: () => api(`${promptPath(name)}/compare`, CompareSchema, { query }),
  });
const timeseriesOptions = (name: string, query: Query) =>
  queryOptions({
    queryKey: ["timeseries", name, query],
    queryFn: () => api(`${promptPath(name)}/timeseries`, TimeseriesSchema, { query }),
  });

/**
 * Starts the compare page's two queries while the prompt itself is still loading, so that the verdict waits for one
 * round trip after sign-in instead of three. The page then finds them in flight under the same keys.
 */
export function usePrefetchCompare(name: string, enabled: boolean): void {
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const wanted = enabled ? params.toString() : null;
  useEffect(() => {
    if (wanted === null) return;
    const { compareQuery, seriesQuery } = compareState(new URLSearchParams(wanted), Date.now());
    void queryClient.prefetchQuery(compareOptions(name, compareQuery));
    void queryClient.prefetchQuery(timeseriesOptions(name, seriesQuery));
    // Once per prompt and address: the page keeps its own queries current after that.
  }, [queryClient, name, wanted]);
}

export default function Compare({ prompt }: { prompt: PromptDetail }) {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const session = useSession();
  const [now, setNow] = useState(() => Date.now());
  const { range, versions, failure, revision, unit, eventsLabel, compareQuery, seriesQuery } = useMemo(
    () => compareState(params, now),
    [params, now],
  );
  const [rollback, setRollback] = useState<LabelAction | null>(null);
  const [rolledBack, setRolledBack] = useState<{ version: string; previousVersion: string | null } | null>(null);
  const compare = useQuery({ ...compareOptions(prompt.name, compareQuery), placeholderData: keepPreviousData });
  const timeseries = useQuery({ ...timeseriesOptions(prompt.name, seriesQuery), placeholderData: keepPreviousData });

  const update = (changes: Query) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || v === "") next.delete(k);
      else next.set(k, v);
    }
    setParams(next);
  };
  const setWindow = (from: Date, to: Date) =>
    update({ from: from.toISOString(), to: to.toISOString(), range: undefined });
  const setPreset = (preset: Preset) => {
    setNow(Date.now());
    update({ range: preset, from: undefined, to: undefined });
  };

  const answer = compare.data;
  const production = prompt.labels.find((l) => l.name === PRODUCTION_LABEL);
  const colourOf = (version: string) => Math.max(0, answer?.versions.findIndex((v) => v.version === version) ?? 0);

  if (prompt.versions.count < 2)
    return (
      <div className="empty">
        <h2>Nothing to compare yet</h2>
        <p>
          A comparison needs two versions with traffic. Publish a second version, move {PRODUCTION_LABEL} to it, and
          send traces.
        </p>
      </div>
    );

  return (
    <div className="compare-page">
      <Controls
        prompt={prompt}
        answer={answer}
        versions={versions}
        failure={failure}
        revision={revision}
        unit={unit}
        range={range}
        onChange={update}
        onPreset={setPreset}
        onRefresh={() => setNow(Date.now())}
      />

      {params.get("rollout") && (
        <div className="notice" role="status">
          <span>
            Only the calls of rollout <code>{params.get("rollout")}</code>
            {params.get("arm") ? `, its ${params.get("arm")} arm` : ", arm against arm"}.
          </span>
          <button type="button" onClick={() => update({ rollout: undefined, arm: undefined })}>
            Show every call
          </button>
        </div>
      )}

      {rolledBack && (
        <div className="notice" role="status">
          <span>
            <strong>{PRODUCTION_LABEL}</strong> now serves <strong>{rolledBack.version}</strong>
            {rolledBack.previousVersion ? ` (was ${rolledBack.previousVersion})` : ""}.{" "}
            <Link to={promptHref(prompt.name, "labels", { label: PRODUCTION_LABEL })}>See the ledger entry</Link>
          </span>
        </div>
      )}

      {compare.isPending ? (
        <Loading label="Comparing" />
      ) : compare.isError ? (
        <CompareError error={compare.error} prompt={prompt} />
      ) : (
        <>
          {answer!.comparisons.map((c) => (
            <VerdictBanner
              key={c.version}
              comparison={c}
              answer={answer!}
              unit={unit}
              stale={compare.isPlaceholderData}
              rollback={
                c.verdict === "worse" && production?.version === c.version && canMoveLabel(session, PRODUCTION_LABEL)
                  ? () =>
                      setRollback({
                        kind: "rollback",
                        label: PRODUCTION_LABEL,
                        current: c.version,
                        to: c.baseline,
                        reason: c.explanation,
                      })
                  : undefined
              }
            />
          ))}
          <Refs answer={answer!} production={production?.version} />
          <EvaluationErrors answer={answer!} unit={unit} />

          <div className="compare-grid">
            <RateChart answer={answer!} unit={unit} />
            <SpanLinks prompt={prompt.name} answer={answer!} from={range.from} to={range.to} />
          </div>

          <section aria-labelledby="over-time" className="over-time">
            <div className="section-head">
              <h2 id="over-time">Over time</h2>
              <div className="row">
                <label className="inline">
                  Bucket
                  <select value={params.get("bucket") ?? ""} onChange={(e) => update({ bucket: e.target.value })}>
                    <option value="">auto ({readBucket(new URLSearchParams(), range)})</option>
                    <option value="5m">5 minutes</option>
                    <option value="1h">1 hour</option>
                    <option value="1d">1 day</option>
                  </select>
                </label>
                <label className="inline">
                  Markers
                  <select
                    value={eventsLabel}
                    onChange={(e) =>
                      update({ label: e.target.value === PRODUCTION_LABEL ? undefined : e.target.value })
                    }
                  >
                    {[...new Set([PRODUCTION_LABEL, ...prompt.labels.map((l) => l.name)])].map((l) => (
                      <option key={l} value={l}>
                        moves of {l}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
            </div>
            <p className="muted small">
              Drag across a chart to narrow the range; click a point to list that version's spans in its bucket.
            </p>
            {timeseries.isPending ? (
              <Loading label="Loading the time series" />
            ) : timeseries.isError ? (
              <ErrorBox error={timeseries.error} />
            ) : (
              <Suspense fallback={<Loading label="Loading the charts" />}>
                <TimeCharts
                  series={timeseries.data.series.map((s) => ({ ...s, colour: colourOf(s.version) }))}
                  events={timeseries.data.events}
                  from={range.from}
                  to={range.to}
                  bucket={timeseries.data.bucket}
                  unit={unit}
                  spansHref={(version, from, to) => spansHref(prompt.name, version, from, to)}
                  onSelectRange={setWindow}
                  onOpenSpans={(version, from, to) => navigate(spansHref(prompt.name, version, from, to))}
                />
              </Suspense>
            )}
          </section>

          <Tables answer={answer!} unit={unit} prompt={prompt.name} />
        </>
      )}

      <Dialog open={rollback !== null} title={`Roll back ${PRODUCTION_LABEL}`} onClose={() => setRollback(null)}>
        {rollback && (
          <LabelActionForm
            prompt={prompt}
            action={rollback}
            onCancel={() => setRollback(null)}
            onDone={async (result) => {
              setRollback(null);
              setRolledBack(result);
              // Keep comparing the same two versions: the default pair has just changed with the ledger.
              if (!versions && answer) update({ versions: answer.versions.map((v) => v.version).join(",") });
              await Promise.all([
                queryClient.invalidateQueries({ queryKey: ["compare", prompt.name] }),
                queryClient.invalidateQueries({ queryKey: ["timeseries", prompt.name] }),
              ]);
            }}
          />
        )}
      </Dialog>
    </div>
  );
}

function Controls(props: {
  prompt: PromptDetail;
  answer: CompareAnswer | undefined;
  versions: string;
  failure: string;
  revision: string | undefined;
  unit: string;
  range: ReturnType<typeof readRange>;
  onChange: (changes: Query) => void;
  onPreset: (preset: Preset) => void;
  onRefresh: () => void;
}) {
  const { prompt, answer, range, onChange } = props;
  const versionList = useVersions(prompt.name);
  const all = versionList.data?.pages.flatMap((p) => p.data.map((v) => v.version)) ?? [];
  const listed = props.versions ? props.versions.split(",") : [];
  const [failureKind, failureName] = props.failure.includes(":") ? props.failure.split(/:(.*)/s) : [props.failure, ""];
  const [name, setName] = useState(failureName ?? "");
  const knownNames = [...new Set(answer?.versions.flatMap((v) => v.annotations.map((a) => a.name)) ?? [])];

  const pick = (side: 0 | 1, ref: string) => {
    const current = listed.length >= 2 ? listed : (answer?.versions.map((v) => v.version) ?? []);
    const next = [current[0] ?? "", current[1] ?? ""];
    next[side] = ref;
    onChange({ versions: next.every(Boolean) ? next.join(",") : undefined });
  };
  const setFailure = (kind: string, n: string) =>
    onChange({
      failure: kind === "status" ? undefined : n ? `${kind}:${n}` : kind === "any" ? "any" : undefined,
      revision: undefined,
    });
  // The project's evaluators, each a failure definition of its own: its results are the annotations of its name.
  const evaluators = useEvaluators().data?.data ?? [];
  const evaluator = failureKind !== "status" ? evaluators.find((e) => e.name === failureName) : undefined;
  const pickedEvaluator = failureKind === "annotation" && evaluator ? props.failure : undefined;

  const refOptions = (
    <>
      {prompt.labels.map((l) => (
        <option key={`label-${l.name}`} value={l.name}>
          {l.name} (now {l.version})
        </option>
      ))}
      {all.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </>
  );
  return (
    <form className="compare-controls" aria-label="What to compare" onSubmit={(e) => e.preventDefault()}>
      <label>
        Baseline
        <select value={listed[0] ?? ""} onChange={(e) => pick(0, e.target.value)}>
          {!listed.length && <option value="">{PRODUCTION_LABEL} before its last move</option>}
          {refOptions}
        </select>
      </label>
      <label>
        Candidate
        <select value={listed[1] ?? ""} onChange={(e) => pick(1, e.target.value)}>
          {!listed.length && <option value="">{PRODUCTION_LABEL} now</option>}
          {refOptions}
        </select>
      </label>
      <fieldset className="presets">
        <legend>Time range</legend>
        <div className="preset-row">
          {(Object.keys(PRESETS) as Preset[]).map((p) => (
            <button key={p} type="button" aria-pressed={range.preset === p} onClick={() => props.onPreset(p)}>
              {p === "24h" ? "24 h" : p === "7d" ? "7 d" : "30 d"}
            </button>
          ))}
          <span className="muted small range-label">{rangeLabel(range)}</span>
          <button type="button" className="small" onClick={props.onRefresh} title="Compare up to now again">
            Refresh
          </button>
        </div>
      </fieldset>
      <label>
        Failure is
        <select
          value={pickedEvaluator ?? failureKind}
          onChange={(e) => {
            const value = e.target.value;
            if (value.startsWith("annotation:")) {
              setName(value.slice("annotation:".length));
              onChange({ failure: value, revision: undefined });
            } else setFailure(value, value === "status" ? "" : name || knownNames[0] || "");
          }}
        >
          <option value="status">an error status</option>
          <option value="annotation">a failing annotation</option>
          <option value="any">either</option>
          {evaluators.length > 0 && (
            <optgroup label="Evaluators">
              {evaluators.map((ev) => (
                <option key={ev.name} value={`annotation:${ev.name}`}>
                  annotation:{ev.name} ({ev.kind})
                </option>
              ))}
            </optgroup>
          )}
        </select>
      </label>
      {evaluator && evaluator.revision > 1 && (
        <label>
          Revision
          <select value={props.revision ?? ""} onChange={(e) => onChange({ revision: e.target.value })}>
            <option value="">current ({evaluator.revision})</option>
            {Array.from({ length: evaluator.revision - 1 }, (_, i) => evaluator.revision - 1 - i).map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      )}
      {failureKind !== "status" && !pickedEvaluator && (
        <label>
          Annotation name
          <input
            value={name}
            list="annotation-names"
            size={14}
            onChange={(e) => setName(e.target.value.trim())}
            onBlur={() => setFailure(failureKind!, name)}
            onKeyDown={(e) => {
              if (e.key === "Enter") setFailure(failureKind!, name);
            }}
            placeholder={failureKind === "any" ? "any name" : "e.g. helpful"}
          />
          <datalist id="annotation-names">
            {knownNames.map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
        </label>
      )}
      <label>
        Unit
        <select
          value={props.unit}
          onChange={(e) => onChange({ unit: e.target.value === "span" ? undefined : e.target.value })}
        >
          <option value="span">span</option>
          <option value="trace">trace</option>
        </select>
      </label>
    </form>
  );
}

function CompareError({ error, prompt }: { error: unknown; prompt: PromptDetail }) {
  const notMoved = error instanceof ApiError && error.status === 422 && /has not moved/.test(error.message);
  if (notMoved)
    return (
      <div className="empty">
        <h2>Pick two versions</h2>
        <p>
          {PRODUCTION_LABEL} has not moved between two versions yet, so there is no default pair. Choose a baseline and
          a candidate above, or <Link to={promptHref(prompt.name, "labels")}>move {PRODUCTION_LABEL}</Link>.
        </p>
      </div>
    );
  return <ErrorBox error={error} title="The comparison failed" />;
}

function VerdictBanner({
  comparison: c,
  answer,
  unit,
  stale,
  rollback,
}: {
  comparison: Comparison;
  answer: CompareAnswer;
  unit: string;
  stale: boolean;
  rollback?: () => void;
}) {
  const base = answer.versions.find((v) => v.version === c.baseline)!;
  const cand = answer.versions.find((v) => v.version === c.version)!;
  const need = c.moreUnitsNeeded;
  return (
    <section
      className={`verdict-banner verdict-${c.verdict}${stale ? " is-stale" : ""}`}
      aria-labelledby={`verdict-${c.version}`}
      aria-busy={stale}
    >
      <div className="verdict-main">
        <p className="verdict-word">{VERDICT_WORDS[c.verdict]}</p>
        <p className="verdict-sentence" id={`verdict-${c.version}`} data-testid="verdict-sentence">
          {c.explanation}
        </p>
        <p className="verdict-meta">
          {c.test ? (
            <>
              {TEST_NAMES[c.test]}, {pValue(c.pValue)}
            </>
          ) : (
            "no test run"
          )}
          {" · "}
          {pct(cand.failureRate)} vs {pct(base.failureRate)} of {unit}s
          {c.failureRateDiff && !Number.isNaN(c.failureRateDiff.diff) && (
            <>
              {" "}
              · difference 95% CI{" "}
              {interval(c.failureRateDiff.low, c.failureRateDiff.high, (n) => `${(n * 100).toFixed(2)}`)} pts
            </>
          )}
          {" · "}failure = {answer.failure.kind}
          {"name" in answer.failure && answer.failure.name ? `:${answer.failure.name}` : ""}
        </p>
        {c.verdict === "insufficient-data" && (
          <p className="verdict-need" data-testid="more-needed">
            {[
              need.baseline > 0 && `${moreUnits(need.baseline, unit)} of ${c.baseline} (has ${int(base.units)})`,
              need.candidate > 0 && `${moreUnits(need.candidate, unit)} of ${c.version} (has ${int(cand.units)})`,
            ]
              .filter(Boolean)
              .join(" and ")}{" "}
            {need.baseline + need.candidate === 1 ? "is needed" : "are needed"} before a verdict: at least{" "}
            {plural(c.minSample, unit)} per version. Widen the time range
            {answer.failure.kind !== "status" ? ", annotate more spans," : ""} or wait for more traffic.
          </p>
        )}
      </div>
      {rollback && (
        <div className="verdict-action">
          <button type="button" className="danger primary big" onClick={rollback}>
            Roll back
          </button>
          <span className="small">
            {PRODUCTION_LABEL} serves {c.version}; go back to {c.baseline}
          </span>
        </div>
      )}
    </section>
  );
}

function Refs({ answer, production }: { answer: CompareAnswer; production?: string }) {
  return (
    <p className="refs muted small">
      {answer.refs.map((r, i) => (
        <span key={i}>
          {i > 0 && " · "}
          {r.ref === r.version ? (
            <span className="semver">{r.version}</span>
          ) : (
            <>
              {r.ref} is <span className="semver">{r.version}</span>
            </>
          )}
        </span>
      ))}
      {production && (
        <>
          {" "}
          · {PRODUCTION_LABEL} serves <span className="semver">{production}</span> now
        </>
      )}
      {" · "}percentiles {answer.percentiles}
    </p>
  );
}

/** Units an evaluator failed to judge (a judge that did not answer): no verdict, so the rates leave them out. */
function EvaluationErrors({ answer, unit }: { answer: CompareAnswer; unit: string }) {
  const failed = answer.versions.filter((v) => (v.coverage?.evaluationErrors ?? 0) > 0);
  if (failed.length === 0) return null;
  const name = "name" in answer.failure ? answer.failure.name : null;
  return (
    <div className="callout warn evaluation-errors" data-testid="evaluation-errors">
      {failed.map((v) => (
        <p key={v.version}>
          <span className="semver">{v.version}</span>: {plural(v.coverage!.evaluationErrors, unit)} whose evaluation
          failed {v.coverage!.evaluationErrors === 1 ? "is" : "are"} left out.
        </p>
      ))}
      <p className="small">
        Their evaluation ended in an error (the judge did not answer, or the check could not run), which is no verdict
        on the answer.
        {name && (
          <>
            {" "}
            The evaluator <Link to={`/evaluators/${encodeURIComponent(name)}`}>{name}</Link> has their reasons.
          </>
        )}
      </p>
    </div>
  );
}

function SpanLinks({ prompt, answer, from, to }: { prompt: string; answer: CompareAnswer; from: Date; to: Date }) {
  return (
    <nav className="span-links" aria-label="Spans of the compared versions">
      <h2>Spans</h2>
      <ul>
        {answer.versions.map((v, i) => (
          <li key={v.version} className={seriesClass(i)}>
            <span className="swatch" aria-hidden="true" /> <span className="semver">{v.version}</span>
            <Link to={spansHref(prompt, v.version, from, to, { failed: "true" })}>Failing spans of {v.version}</Link>
            <Link to={spansHref(prompt, v.version, from, to)}>All spans</Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function Tables({ answer, unit, prompt }: { answer: CompareAnswer; unit: string; prompt: string }) {
  const vs = answer.versions;
  const c = answer.comparisons.length === 1 ? answer.comparisons[0] : undefined;
  // Only the first table has a difference column: its figures are the ones the comparison gives differences for.
  const header = (withDiff: boolean) => (
    <thead>
      <tr>
        <th scope="col">
          <span className="visually-hidden">Figure</span>
        </th>
        {vs.map((v, i) => (
          <th scope="col" key={v.version} className={`num ${seriesClass(i)}`}>
            <span className="swatch" aria-hidden="true" /> {v.version}
          </th>
        ))}
        {c && withDiff && (
          <th scope="col" className="num">
            {c.version} − {c.baseline}
          </th>
        )}
      </tr>
    </thead>
  );
  const row = (title: ReactNode, cell: (v: (typeof vs)[number]) => ReactNode, diff?: ReactNode) => (
    <tr>
      <th scope="row">{title}</th>
      {vs.map((v) => (
        <td key={v.version} className="num">
          {cell(v)}
        </td>
      ))}
      {c && diff !== undefined && <td className="num">{diff}</td>}
    </tr>
  );
  const blank = c ? "" : undefined;
  const annotationNames = [...new Set(vs.flatMap((v) => v.annotations.map((a) => a.name)))].sort();
  const sources = [...new Set([...PROMPT_SOURCES, ...vs.flatMap((v) => v.bySource.map((s) => s.source))])].filter((s) =>
    vs.some((v) => v.bySource.some((b) => b.source === s)),
  );
  const u = answer.unattributed;
  return (
    <div className="compare-tables">
      <section aria-labelledby="t-volume">
        <h2 id="t-volume">Latency, tokens and cost</h2>
        <table className="compact figures">
          <caption className="visually-hidden">Latency, tokens and cost per version</caption>
          {header(true)}
          <tbody>
            {row(`${unit[0]!.toUpperCase()}${unit.slice(1)}s judged`, (v) => int(v.units), blank)}
            {row("LLM spans", (v) => int(v.spans), blank)}
            {answer.failure.kind !== "status" &&
              row(
                "Annotation coverage",
                (v) =>
                  v.coverage
                    ? `${pct(v.coverage.rate)} (${int(v.coverage.annotatedUnits)} of ${int(v.coverage.allUnits)})`
                    : "—",
                blank,
              )}
            {vs.some((v) => (v.coverage?.evaluationErrors ?? 0) > 0) &&
              row(
                `${unit[0]!.toUpperCase()}${unit.slice(1)}s whose evaluation failed`,
                (v) => int(v.coverage?.evaluationErrors ?? 0),
                blank,
              )}
            {row("Latency p50", (v) => ms(v.latencyMs.p50), blank)}
            {row("Latency p95", (v) => ms(v.latencyMs.p95), signedMs(c?.latencyP95DiffMs))}
            {row("Latency p99", (v) => ms(v.latencyMs.p99), blank)}
            {row("Latency mean", (v) => ms(v.latencyMs.mean), blank)}
            {row(
              "Prompt tokens, mean / sum",
              (v) => `${int(v.tokens.prompt.mean)} / ${int(v.tokens.prompt.sum)}`,
              blank,
            )}
            {row(
              "Completion tokens, mean / sum",
              (v) => `${int(v.tokens.completion.mean)} / ${int(v.tokens.completion.sum)}`,
              blank,
            )}
            {row("Total tokens, mean / sum", (v) => `${int(v.tokens.total.mean)} / ${int(v.tokens.total.sum)}`, blank)}
            {row("Cost, mean", (v) => usd(v.costUsd.mean), signedUsd(c?.meanCostDiffUsd))}
            {row("Cost, sum", (v) => usd(v.costUsd.sum), blank)}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="t-annotations">
        <h2 id="t-annotations">Annotations</h2>
        {annotationNames.length === 0 ? (
          <p className="muted">
            No annotations on these spans. Add one from a span's page, or send them to{" "}
            <code>POST /api/v1/annotations</code>; then compare with failure = a failing annotation.
          </p>
        ) : (
          <table className="compact figures">
            <caption className="visually-hidden">Annotation pass rates per version</caption>
            {header(false)}
            <tbody>
              {annotationNames.map((n) =>
                row(<code>{n}</code>, (v) => {
                  const a = v.annotations.find((x) => x.name === n);
                  if (!a) return "—";
                  return (
                    <>
                      {pct(a.passRate)} passed <span className="muted">of {int(a.count)}</span>
                      {a.meanScore !== null && <span className="muted"> · score {a.meanScore.toFixed(2)}</span>}
                    </>
                  );
                }),
              )}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="t-sources">
        <h2 id="t-sources">By source</h2>
        <p className="muted small">
          How the client got the prompt: from the registry (network), its memory (cache), a last good value while the
          registry failed (stale), a snapshot file, or an inline fallback.
        </p>
        <table className="compact figures">
          <caption className="visually-hidden">Units and failures per source and version</caption>
          {header(false)}
          <tbody>
            {sources.map((s) =>
              row(<code>{s}</code>, (v) => {
                const b = v.bySource.find((x) => x.source === s);
                return b ? (
                  <>
                    {int(b.failures)} failed of {int(b.units)} <span className="muted">({pct(b.failureRate)})</span>
                  </>
                ) : (
                  "—"
                );
              }),
            )}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="t-unattributed">
        <h2 id="t-unattributed">Not attributed</h2>
        <div className={u.total > 0 ? "callout warn" : "muted"} data-testid="unattributed">
          <p>{u.explanation}</p>
          {u.total > 0 && (
            <ul className="small">
              <li>{int(u.fallbackWithoutVersion)} served from an inline fallback that names no version</li>
              <li>
                {int(u.unknownVersion)} naming a version the prompt does not have{" "}
                {u.unknownVersion > 0 && (
                  <Link
                    to={`/traces?${new URLSearchParams({ prompt, linkStatus: "unknown_version", spanKind: "LLM" })}`}
                  >
                    (list them)
                  </Link>
                )}
              </li>
              <li>
                {int(u.unknownPrompt)} sent before the prompt existed{" "}
                {u.unknownPrompt > 0 && (
                  <Link
                    to={`/traces?${new URLSearchParams({ prompt, linkStatus: "unknown_prompt", spanKind: "LLM" })}`}
                  >
                    (list them)
                  </Link>
                )}
              </li>
            </ul>
          )}
        </div>
      </section>
    </div>
  );
}
