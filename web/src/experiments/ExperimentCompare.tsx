// /experiments/<id>/compare?baseline=&candidate=: two runs of an experiment, item by item. The answer first (the
// server's verdict sentence under a badge for the worst evaluator's verdict), then per evaluator the pass rates with
// their 95% Wilson intervals and McNemar's p (and the Wilcoxon line where both have scores), then the items that
// regressed with both outputs side by side, the improvements, and latency, tokens and errors per version.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router";
import { ExperimentComparisonSchema, type ExperimentComparison } from "@promptreg/client/contract";
import { api } from "../api";
import { ErrorBox, Loading, TableHead } from "../components/ui";
import { JsonCell, jsonText } from "../datasets/parts";
import "../datasets/datasets.css";
import { int, interval, ms, pValue, pct } from "../observe/format";
import "../observe/observe.css";
import { ExperimentStatus, experimentHref, experimentPath, useExperiment } from "./shared";

type EvaluatorVerdict = ExperimentComparison["evaluators"][number]["verdict"];

const WORDS: Record<EvaluatorVerdict, string> = {
  worse: "Worse",
  better: "Better",
  no_difference: "No significant difference",
  insufficient_data: "Insufficient data",
};
/** The compare page's classes (observe.css), so a verdict has the same colour on both pages. */
const CLASSES: Record<EvaluatorVerdict, string> = {
  worse: "verdict-worse",
  better: "verdict-better",
  no_difference: "verdict-no-significant-difference",
  insufficient_data: "verdict-insufficient-data",
};

/** The page's one verdict: worse if any evaluator is, else better if any is, else no difference if any has data. */
function overall(c: ExperimentComparison): EvaluatorVerdict {
  const all = c.evaluators.map((e) => e.verdict);
  for (const v of ["worse", "better", "no_difference"] as const) if (all.includes(v)) return v;
  return "insufficient_data";
}

export function VerdictBadge({ verdict }: { verdict: EvaluatorVerdict }) {
  return <span className={`verdict-badge ${CLASSES[verdict]}`}>{WORDS[verdict]}</span>;
}

export default function ExperimentCompare() {
  const { id = "" } = useParams();
  const experiment = useExperiment(id);
  const [params, setParams] = useSearchParams();
  const runs = experiment.data?.runs ?? [];
  const baseline = params.get("baseline") ?? runs[0]?.version ?? "";
  const candidate = params.get("candidate") ?? runs[1]?.version ?? "";
  const ready = baseline !== "" && candidate !== "" && baseline !== candidate;
  const progress = runs.reduce((sum, r) => sum + r.done, 0);
  const compare = useQuery({
    queryKey: ["experiment-compare", id, baseline, candidate, progress],
    queryFn: () => api(`${experimentPath(id)}/compare`, ExperimentComparisonSchema, { query: { baseline, candidate } }),
    enabled: experiment.isSuccess && ready,
    placeholderData: keepPreviousData,
  });
  const pick = (side: "baseline" | "candidate", value: string) => {
    const next = new URLSearchParams(params);
    next.set("baseline", baseline);
    next.set("candidate", candidate);
    next.set(side, value);
    setParams(next, { replace: true });
  };

  if (experiment.isPending) return <Loading label="Loading the experiment" />;
  if (experiment.isError)
    return (
      <section>
        <h1>Compare runs</h1>
        <ErrorBox error={experiment.error} />
      </section>
    );
  const e = experiment.data;
  const runOptions = e.runs.map((r) => (
    <option key={r.id} value={r.version}>
      {r.version}
      {r.ref !== r.version ? ` (${r.ref})` : ""}
    </option>
  ));
  return (
    <section className="experiment-compare">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/experiments">Experiments</Link> / <Link to={experimentHref(e.id)}>{e.id}</Link> / compare
      </nav>
      <div className="page-head">
        <h1>
          {e.prompt} on {e.dataset}@{e.datasetVersion}: compare runs <ExperimentStatus experiment={e} />
        </h1>
      </div>
      <form className="compare-controls" aria-label="Runs to compare" onSubmit={(ev) => ev.preventDefault()}>
        <label>
          Baseline
          <select value={baseline} onChange={(ev) => pick("baseline", ev.target.value)}>
            {runOptions}
          </select>
        </label>
        <label>
          Candidate
          <select value={candidate} onChange={(ev) => pick("candidate", ev.target.value)}>
            {runOptions}
          </select>
        </label>
      </form>
      {e.status === "running" && (
        <p className="callout warn small">
          Still running: the comparison is of the items both runs have done so far, and is asked again as results come.
        </p>
      )}
      {!ready ? (
        <p className="muted">
          {e.runs.length < 2 ? "This experiment ran one version: nothing to compare." : "Choose two different runs."}
        </p>
      ) : compare.isPending ? (
        <Loading label="Comparing" />
      ) : compare.isError ? (
        <ErrorBox error={compare.error} />
      ) : (
        <ComparisonView comparison={compare.data} stale={compare.isPlaceholderData} />
      )}
    </section>
  );
}

function ComparisonView({ comparison: c, stale }: { comparison: ExperimentComparison; stale: boolean }) {
  const verdict = overall(c);
  const b = c.baseline.version;
  const k = c.candidate.version;
  return (
    <>
      <section
        className={`verdict-banner ${CLASSES[verdict]}${stale ? " is-stale" : ""}`}
        aria-labelledby="experiment-verdict"
      >
        <div className="verdict-main">
          <p className="verdict-word">{WORDS[verdict]}</p>
          <p className="verdict-sentence" id="experiment-verdict" data-testid="verdict-sentence">
            {c.verdict}
          </p>
          <p className="verdict-meta">
            {b} (baseline) against {k} (candidate), item by item; McNemar's exact test at α = {c.alpha}.
          </p>
        </div>
      </section>

      <section aria-labelledby="evaluators-title">
        <h2 id="evaluators-title">Per evaluator</h2>
        <div className="table-scroll">
          <table className="compact figures evaluator-comparison">
            <TableHead
              caption="Pass rates per evaluator with their 95% Wilson intervals, and McNemar's test"
              columns={[
                "Evaluator",
                { label: "Pairs", num: true },
                { label: `${b} passed`, num: true },
                { label: `${k} passed`, num: true },
                { label: "Regressed", num: true },
                { label: "Improved", num: true },
                { label: "McNemar", num: true },
                "Verdict",
              ]}
            />
            <tbody>
              {c.evaluators.map((ev) => (
                <tr key={ev.name} data-testid={`compare-${ev.name}`}>
                  <th scope="row">
                    {ev.name}
                    {ev.scores && (
                      <div className="muted small" data-testid={`wilcoxon-${ev.name}`}>
                        scores: mean difference {ev.scores.meanDifference >= 0 ? "+" : ""}
                        {ev.scores.meanDifference.toFixed(3)} over {int(ev.scores.pairs)} pairs, {ev.scores.method}{" "}
                        {pValue(ev.scores.pValue)}
                      </div>
                    )}
                  </th>
                  <td className="num">{int(ev.pairs)}</td>
                  <Side side={ev.baseline} />
                  <Side side={ev.candidate} />
                  <td className="num">{int(ev.regressed)}</td>
                  <td className="num">{int(ev.improved)}</td>
                  <td className="num" data-testid="p-value">
                    {pValue(ev.pValue)}
                  </td>
                  <td>
                    <VerdictBadge verdict={ev.verdict} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section aria-labelledby="regressions-title">
        <h2 id="regressions-title">
          Regressed items <span className="muted">({int(c.regressions.length)})</span>
        </h2>
        <p className="muted small">
          Passed on {b} and fail on {k}.{" "}
          {c.improvements.length === 0
            ? "No item"
            : `${int(c.improvements.length)} ${c.improvements.length === 1 ? "item" : "items"}`}{" "}
          went the other way (improved).
        </p>
        {c.regressions.length === 0 ? (
          <p className="muted">No item regressed.</p>
        ) : (
          <div className="table-scroll">
            <table className="list regression-table">
              <TableHead
                caption={`Items that passed on ${b} and fail on ${k}`}
                columns={["Item", "Evaluator", "Variables", "Expected", `Outputs: ${b} and ${k}`]}
              />
              <tbody>
                {c.regressions.map((r) => (
                  <tr key={`${r.itemId}/${r.evaluator}`} data-testid={`regression-${r.itemId}`}>
                    <td>
                      <code>{r.itemId}</code>
                    </td>
                    <td>
                      {r.evaluator}
                      {r.reason && <div className="muted small">{r.reason}</div>}
                    </td>
                    <td>
                      <JsonCell value={r.variables} />
                    </td>
                    <td>
                      <JsonCell value={r.expected} />
                    </td>
                    <td>
                      <div className="outputs">
                        <div>
                          <h4>{b}</h4>
                          <pre className="baseline-output">{jsonText(r.baselineOutput) || "—"}</pre>
                        </div>
                        <div>
                          <h4>{k}</h4>
                          <pre className="candidate-output">{jsonText(r.candidateOutput) || "—"}</pre>
                        </div>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {c.improvements.length > 0 && (
          <details>
            <summary>Improved items ({int(c.improvements.length)})</summary>
            <ul className="small">
              {c.improvements.map((i) => (
                <li key={`${i.itemId}/${i.evaluator}`}>
                  <code>{i.itemId}</code> on {i.evaluator}
                </li>
              ))}
            </ul>
          </details>
        )}
      </section>

      <section aria-labelledby="performance-title">
        <h2 id="performance-title">Latency, tokens and errors</h2>
        <table className="compact figures">
          <TableHead
            caption="Latency, tokens per item and errors per version"
            columns={[
              "Version",
              { label: "Mean latency", num: true },
              { label: "Prompt tokens (mean)", num: true },
              { label: "Completion tokens (mean)", num: true },
              { label: "Errors", num: true },
            ]}
          />
          <tbody>
            {(
              [
                [b, c.performance.baseline],
                [k, c.performance.candidate],
              ] as const
            ).map(([version, p]) => (
              <tr key={version}>
                <th scope="row">
                  <span className="semver">{version}</span>
                </th>
                <td className="num">{ms(p.meanLatencyMs)}</td>
                <td className="num">{int(p.promptTokens)}</td>
                <td className="num">{int(p.completionTokens)}</td>
                <td className="num">{int(p.errors)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

function Side({ side }: { side: ExperimentComparison["evaluators"][number]["baseline"] }) {
  return (
    <td className="num">
      {pct(side.passRate)}
      {side.interval && (
        <div className="muted small" title="95% Wilson interval">
          {interval(side.interval.low, side.interval.high)}
        </div>
      )}
      <div className="muted small">
        {int(side.passed)} of {int(side.passed + side.failed)}
        {side.meanScore !== null && ` · score ${side.meanScore.toFixed(2)}`}
      </div>
    </td>
  );
}
