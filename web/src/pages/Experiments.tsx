// /experiments: the project's latest experiments with their progress; /experiments/-/new: start one (a dataset
// version, a prompt's versions, a connection, evaluators); /experiments/<id>: its runs' progress, asked again every
// second while it runs, and its results item by item (?run=, ?cursor=); /experiments/<id>/compare: two runs compared
// (ExperimentCompare). Experiment ids never start with "-", so "-/new" is never an experiment's page.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, Route, Routes, useNavigate, useParams, useSearchParams } from "react-router";
import {
  BUILTIN_EXPERIMENT_EVALUATORS,
  ConnectionListSchema,
  DatasetVersionListSchema,
  ExperimentListSchema,
  ExperimentResultPageSchema,
  ExperimentSchema,
  PromptListSchema,
  type Experiment,
} from "@promptreg/client/contract";
import { ApiError, api } from "../api";
import { EmptyState, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { JsonCell, RefusalBox } from "../datasets/parts";
import { datasetHref, datasetPath, useDatasets } from "../datasets/queries";
import "../datasets/datasets.css";
import { EvalStatusBadge } from "../evals/parts";
import { useEvaluators } from "../evals/queries";
import "../evals/evals.css";
import { int, ms, pct } from "../observe/format";
import "../observe/observe.css";
import { can, useSession } from "../session";
import ExperimentCompare from "../experiments/ExperimentCompare";
import {
  ExperimentStatus,
  RUNNING_POLL_MS,
  experimentHref,
  experimentPath,
  useExperiment,
} from "../experiments/shared";
import { promptHref, usePrompt } from "./PromptRoute";
import { useVersions } from "./Versions";

const RESULTS_PAGE = 25;

export default function ExperimentsRoute() {
  return (
    <Routes>
      <Route index element={<ExperimentList />} />
      <Route path="-/new" element={<NewExperiment />} />
      <Route path=":id" element={<ExperimentPage />} />
      <Route path=":id/compare" element={<ExperimentCompare />} />
    </Routes>
  );
}

const done = (e: Experiment) => e.runs.reduce((sum, r) => sum + r.done, 0);
const total = (e: Experiment) => e.itemCount * e.runs.length;

function Progress({ experiment: e }: { experiment: Experiment }) {
  const n = total(e);
  return (
    <span className="progress-cell">
      <progress
        className="progress"
        max={Math.max(1, n)}
        value={done(e)}
        aria-label={`Results of ${e.prompt} on ${e.dataset}`}
      />{" "}
      <span className="small">
        {int(done(e))} of {int(n)}
      </span>
    </span>
  );
}

function ExperimentList() {
  const session = useSession();
  const list = useQuery({
    queryKey: ["experiments"],
    queryFn: () => api("/experiments", ExperimentListSchema),
    refetchInterval: (q) => (q.state.data?.data.some((e) => e.status === "running") ? RUNNING_POLL_MS * 2 : false),
  });
  const writer = can(session, "write");
  return (
    <section className="experiments-page">
      <div className="page-head">
        <h1>Experiments</h1>
        {writer && (
          <Link className="button primary" to="/experiments/-/new">
            New experiment
          </Link>
        )}
      </div>
      <p className="muted">
        Each experiment runs every item of a dataset version through several versions of a prompt and evaluates the
        answers, so that a version is tested before it reaches users.
      </p>
      {list.isPending ? (
        <Loading label="Loading experiments" />
      ) : list.isError ? (
        <ErrorBox error={list.error} />
      ) : list.data.data.length === 0 ? (
        <EmptyState title="No experiments yet">
          <p>
            An experiment needs a <Link to="/datasets">dataset</Link> with items, a prompt with the versions to try and
            a model connection.{" "}
            {writer ? <Link to="/experiments/-/new">Start the first one</Link> : "Starting one needs a write key."}.
          </p>
        </EmptyState>
      ) : (
        <div className="table-scroll">
          <table className="list experiment-table">
            <TableHead
              caption="Experiments, newest first"
              columns={["Started", "Status", "Dataset", "Prompt", "Versions", "Progress"]}
            />
            <tbody>
              {list.data.data.map((e) => (
                <tr key={e.id} data-testid={`experiment-${e.id}`}>
                  <td>
                    <Link to={experimentHref(e.id)} aria-label={`Experiment of ${e.prompt} started ${e.createdAt}`}>
                      <Time iso={e.createdAt} />
                    </Link>
                  </td>
                  <td>
                    <ExperimentStatus experiment={e} />
                  </td>
                  <td>
                    {e.dataset}
                    <span className="muted">@{e.datasetVersion}</span>
                  </td>
                  <td>{e.prompt}</td>
                  <td>
                    {e.runs.map((r) => (
                      <span key={r.id} className="semver" title={r.ref === r.version ? undefined : `${r.ref}`}>
                        {r.version}{" "}
                      </span>
                    ))}
                  </td>
                  <td>
                    <Progress experiment={e} />
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

function NewExperiment() {
  const session = useSession();
  if (!can(session, "write"))
    return (
      <section>
        <h1>New experiment</h1>
        <p>Starting an experiment needs a key with the write role.</p>
      </section>
    );
  return (
    <section className="experiment-new">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/experiments">Experiments</Link> / new
      </nav>
      <h1>New experiment</h1>
      <ExperimentForm />
    </section>
  );
}

function ExperimentForm() {
  const session = useSession();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const [dataset, setDataset] = useState(params.get("dataset") ?? "");
  const [datasetVersion, setDatasetVersion] = useState("");
  const [prompt, setPrompt] = useState(params.get("prompt") ?? "");
  const [refs, setRefs] = useState<string[]>([]);
  const [connection, setConnection] = useState("");
  const [model, setModel] = useState("");
  const [evaluators, setEvaluators] = useState<string[]>([]);

  const datasets = useDatasets();
  const chosen = datasets.data?.data.find((d) => d.name === dataset);
  const versions = useQuery({
    queryKey: ["dataset-versions", dataset],
    queryFn: () => api(`${datasetPath(dataset)}/versions`, DatasetVersionListSchema),
    enabled: chosen !== undefined,
  });
  const prompts = useQuery({
    queryKey: ["prompt-search", prompt],
    queryFn: () => api("/prompts", PromptListSchema, { query: { q: prompt || undefined, limit: 50 } }),
  });
  const promptDetail = usePrompt(prompt);
  const promptVersions = useVersions(prompt);
  const known = promptDetail.isSuccess;
  const connections = useQuery({
    queryKey: ["connections"],
    queryFn: () => api("/connections", ConnectionListSchema),
    // Only an admin key may read the connections; others type the name.
    enabled: can(session, "admin"),
    retry: false,
  });
  const projectEvaluators = useEvaluators().data?.data ?? [];

  const start = useMutation({
    mutationFn: () =>
      api("/experiments", ExperimentSchema, {
        method: "POST",
        body: {
          dataset,
          datasetVersion: datasetVersion ? Number(datasetVersion) : undefined,
          prompt,
          versions: refs,
          connection,
          model: model.trim() || undefined,
          evaluators,
        },
      }),
    onSuccess: async (e) => {
      queryClient.setQueryData(["experiment", e.id], e);
      await queryClient.invalidateQueries({ queryKey: ["experiments"] });
      navigate(experimentHref(e.id));
    },
  });
  const toggle = (list: string[], value: string, on: boolean) =>
    on ? [...list.filter((v) => v !== value), value] : list.filter((v) => v !== value);

  const itemCount = datasetVersion
    ? (versions.data?.data.find((v) => String(v.version) === datasetVersion)?.itemCount ?? 0)
    : (chosen?.itemCount ?? 0);
  const refOptions = known
    ? [
        ...promptDetail.data.labels.map((l) => ({ ref: l.name, text: `${l.name} (now ${l.version})` })),
        ...(promptVersions.data?.pages.flatMap((p) => p.data.map((v) => ({ ref: v.version, text: v.version }))) ?? []),
      ]
    : [];
  const connectionList = connections.data?.data;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    start.mutate();
  };

  return (
    <form className="experiment-form" onSubmit={submit} aria-label="New experiment">
      <div className="row">
        <div className="field grow">
          <label htmlFor="ex-dataset">Dataset</label>
          <select
            id="ex-dataset"
            value={dataset}
            onChange={(e) => {
              setDataset(e.target.value);
              setDatasetVersion("");
            }}
            required
          >
            <option value="">Choose a dataset</option>
            {datasets.data?.data.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} ({int(d.itemCount)} items)
              </option>
            ))}
          </select>
          {datasets.isError && <ErrorBox error={datasets.error} />}
        </div>
        <div className="field">
          <label htmlFor="ex-dataset-version">Dataset version</label>
          <select
            id="ex-dataset-version"
            value={datasetVersion}
            onChange={(e) => setDatasetVersion(e.target.value)}
            disabled={!chosen}
          >
            <option value="">latest{chosen ? ` (${chosen.version})` : ""}</option>
            {versions.data?.data.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version} · {int(v.itemCount)} items
              </option>
            ))}
          </select>
        </div>
      </div>
      <div className="field">
        <label htmlFor="ex-prompt">Prompt</label>
        <input
          id="ex-prompt"
          list="ex-prompt-names"
          value={prompt}
          onChange={(e) => {
            setPrompt(e.target.value.trim());
            setRefs([]);
          }}
          placeholder="support/triage"
          autoComplete="off"
          required
        />
        <datalist id="ex-prompt-names">
          {prompts.data?.data.map((p) => (
            <option key={p.name} value={p.name} />
          ))}
        </datalist>
        {prompt &&
          promptDetail.isError &&
          !(promptDetail.error instanceof ApiError && promptDetail.error.status === 404) && (
            <ErrorBox error={promptDetail.error} />
          )}
      </div>
      <fieldset>
        <legend>Versions to run</legend>
        {!known ? (
          <p className="muted small">Name a prompt to choose among its labels and versions.</p>
        ) : (
          <>
            <div className="choice-list">
              {refOptions.map((o) => (
                <label key={o.ref} className="checkbox">
                  <input
                    type="checkbox"
                    checked={refs.includes(o.ref)}
                    onChange={(e) => setRefs(toggle(refs, o.ref, e.target.checked))}
                  />
                  {o.text}
                </label>
              ))}
            </div>
            <p className="muted small">
              {refs.length === 0
                ? "Choose at least one (two to compare them), at most 10."
                : `In this order: ${refs.join(", ")}. The first is the comparison's baseline.`}
            </p>
          </>
        )}
      </fieldset>
      <div className="row">
        <div className="field grow">
          <label htmlFor="ex-connection">Connection</label>
          {connectionList && connectionList.length > 0 ? (
            <select id="ex-connection" value={connection} onChange={(e) => setConnection(e.target.value)} required>
              <option value="">Choose a connection</option>
              {connectionList.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name} ({c.model})
                </option>
              ))}
            </select>
          ) : (
            <input
              id="ex-connection"
              value={connection}
              onChange={(e) => setConnection(e.target.value.trim())}
              placeholder="e.g. openai"
              autoComplete="off"
              required
            />
          )}
          <p className="muted small field-note">
            {connectionList
              ? connectionList.length === 0
                ? "No connection yet: an admin adds one in Settings or with POST /api/v1/connections."
                : "The model connection every item is sent through."
              : "Its name: listing the connections needs an admin key."}
          </p>
        </div>
        <div className="field grow">
          <label htmlFor="ex-model">Model (optional)</label>
          <input
            id="ex-model"
            value={model}
            onChange={(e) => setModel(e.target.value)}
            placeholder="each version's config, else the connection's"
            autoComplete="off"
          />
        </div>
      </div>
      <fieldset>
        <legend>Evaluators</legend>
        <div className="choice-list">
          {[...BUILTIN_EXPERIMENT_EVALUATORS, ...projectEvaluators.map((e) => e.name)].map((name) => (
            <label key={name} className="checkbox">
              <input
                type="checkbox"
                checked={evaluators.includes(name)}
                onChange={(e) => setEvaluators(toggle(evaluators, name, e.target.checked))}
              />
              {name}
              {(BUILTIN_EXPERIMENT_EVALUATORS as readonly string[]).includes(name) && (
                <span className="muted small"> (built in)</span>
              )}
            </label>
          ))}
        </div>
        <p className="muted small">
          exact_match and similarity compare each answer with the item's expected output; the project's evaluators judge
          it as they judge live traffic.
        </p>
      </fieldset>
      {chosen && refs.length > 0 && (
        <p className="consequence small" data-testid="experiment-cost">
          {int(itemCount)} items × {refs.length} {refs.length === 1 ? "version" : "versions"} ={" "}
          {int(itemCount * refs.length)} model calls{connection ? ` through ${connection}` : ""}, in the background.
        </p>
      )}
      {start.isError && <RefusalBox error={start.error} title="Not started" />}
      <div className="form-actions">
        <Link to="/experiments" className="button">
          Cancel
        </Link>
        <button type="submit" className="primary" disabled={start.isPending || refs.length === 0}>
          Start experiment
        </button>
      </div>
    </form>
  );
}

function ExperimentPage() {
  const { id = "" } = useParams();
  const session = useSession();
  const queryClient = useQueryClient();
  const experiment = useExperiment(id);
  const cancel = useMutation({
    mutationFn: () => api(`${experimentPath(id)}/cancel`, ExperimentSchema, { method: "POST" }),
    onSuccess: async (e) => {
      queryClient.setQueryData(["experiment", id], e);
      await queryClient.invalidateQueries({ queryKey: ["experiments"] });
    },
  });

  if (experiment.isPending) return <Loading label="Loading the experiment" />;
  if (experiment.isError)
    return (
      <section>
        <h1>Experiment</h1>
        <ErrorBox error={experiment.error} />
        <p>
          <Link to="/experiments">Back to the experiments</Link>
        </p>
      </section>
    );
  const e = experiment.data;
  const evaluatorNames = e.evaluators;
  return (
    <section className="experiment-page">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/experiments">Experiments</Link> / {e.id}
      </nav>
      <div className="page-head">
        <h1>
          {e.prompt} on {e.dataset}@{e.datasetVersion} <ExperimentStatus experiment={e} />
        </h1>
        <div className="actions">
          {e.runs.length >= 2 && (
            <Link className="button primary" to={experimentHref(e.id, "compare")}>
              Compare runs
            </Link>
          )}
          {can(session, "write") && e.status === "running" && (
            <button type="button" className="danger small" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
              Cancel experiment
            </button>
          )}
        </div>
      </div>
      {cancel.isError && <ErrorBox error={cancel.error} title="Not cancelled" />}
      <dl className="facts">
        <dt>Dataset</dt>
        <dd>
          <Link to={datasetHref(e.dataset, { version: String(e.datasetVersion) })}>
            {e.dataset} version {e.datasetVersion}
          </Link>{" "}
          · {int(e.itemCount)} items
        </dd>
        <dt>Prompt</dt>
        <dd>
          <Link to={promptHref(e.prompt)}>{e.prompt}</Link>
        </dd>
        <dt>Connection</dt>
        <dd>
          {e.connection ?? "—"} · {e.model ? `model ${e.model}` : "each version's configured model"}
        </dd>
        <dt>Evaluators</dt>
        <dd>{evaluatorNames.length ? evaluatorNames.join(", ") : "none"}</dd>
        <dt>Started</dt>
        <dd>
          <Time iso={e.createdAt} />
          {e.finishedAt && (
            <>
              {" "}
              · {e.status} <Time iso={e.finishedAt} />
            </>
          )}
        </dd>
      </dl>

      <section aria-labelledby="runs-title">
        <h2 id="runs-title">Runs</h2>
        <p role="status" className="muted" data-testid="experiment-progress">
          {e.status === "running"
            ? `Running: ${int(done(e))} of ${int(total(e))} results.`
            : e.status === "finished"
              ? `Finished: ${int(done(e))} results.`
              : `Cancelled after ${int(done(e))} of ${int(total(e))} results; those stay.`}
        </p>
        <div className="table-scroll">
          <table className="compact figures run-table">
            <TableHead
              caption="Each run's progress and pass rates"
              columns={[
                "Version",
                { label: "Done", num: true },
                { label: "Errors", num: true },
                ...evaluatorNames.map((n) => ({ label: n, num: true })),
                { label: "Mean latency", num: true },
                { label: "Tokens (prompt + completion)", num: true },
              ]}
            />
            <tbody>
              {e.runs.map((r) => (
                <tr key={r.id} data-testid={`run-${r.version}`}>
                  <th scope="row">
                    <span className="semver">{r.version}</span>
                    {r.ref !== r.version && <span className="muted small"> ({r.ref})</span>}
                  </th>
                  <td className="num">
                    {int(r.done)} of {int(e.itemCount)}
                  </td>
                  <td className="num">{int(r.errors)}</td>
                  {evaluatorNames.map((n) => {
                    const c = r.evaluations[n];
                    return (
                      <td key={n} className="num">
                        {c ? (
                          <span
                            title={`${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, ${c.error} error`}
                          >
                            {pct(c.passRate)}{" "}
                            <span className="muted small">
                              ({int(c.passed)}/{int(c.passed + c.failed)})
                            </span>
                          </span>
                        ) : (
                          "—"
                        )}
                      </td>
                    );
                  })}
                  <td className="num">{ms(r.meanLatencyMs)}</td>
                  <td className="num">
                    {int(r.promptTokens)} + {int(r.completionTokens)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <Results experiment={e} />
    </section>
  );
}

function Results({ experiment: e }: { experiment: Experiment }) {
  const [params, setParams] = useSearchParams();
  const run = params.get("run") ?? e.runs[0]?.version ?? "";
  const cursor = params.get("cursor") ?? undefined;
  const progress = e.runs.find((r) => r.version === run)?.done ?? 0;
  const results = useQuery({
    // The run's progress in the key: a running experiment's page fills in as results are written.
    queryKey: ["experiment-results", e.id, run, cursor, progress],
    queryFn: () =>
      api(`${experimentPath(e.id)}/results`, ExperimentResultPageSchema, {
        query: { run, cursor, limit: RESULTS_PAGE },
      }),
    enabled: run !== "",
    placeholderData: (previous) => previous,
  });
  const set = (changes: Record<string, string | undefined>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };
  return (
    <section aria-labelledby="results-title">
      <div className="section-head">
        <h2 id="results-title">Results</h2>
        <div className="row">
          <label className="inline" htmlFor="results-run">
            Run
          </label>
          <select id="results-run" value={run} onChange={(ev) => set({ run: ev.target.value, cursor: undefined })}>
            {e.runs.map((r) => (
              <option key={r.id} value={r.version}>
                {r.version}
                {r.ref !== r.version ? ` (${r.ref})` : ""}
              </option>
            ))}
          </select>
        </div>
      </div>
      {results.isPending ? (
        <Loading label="Loading results" />
      ) : results.isError ? (
        <ErrorBox error={results.error} />
      ) : results.data.data.length === 0 ? (
        <p className="muted">{cursor ? "No more results." : "No results of this run yet."}</p>
      ) : (
        <>
          <div className="table-scroll">
            <table className="list result-table">
              <TableHead
                caption={`Results of ${run}, item by item`}
                columns={[
                  "Item",
                  "Output",
                  ...e.evaluators,
                  { label: "Latency", num: true },
                  { label: "Tokens", num: true },
                ]}
              />
              <tbody>
                {results.data.data.map((r) => (
                  <tr key={r.itemId} data-testid={`result-${r.itemId}`}>
                    <td>
                      <code>{r.itemId}</code>
                    </td>
                    <td>
                      {r.error ? <div className="error-text small">{r.error}</div> : <JsonCell value={r.output} />}
                    </td>
                    {e.evaluators.map((n) => {
                      const ev = r.evaluations[n];
                      return (
                        <td key={n} title={ev?.reason || undefined}>
                          {ev ? <EvalStatusBadge status={ev.status} /> : <span className="muted">—</span>}
                          {ev?.score !== null && ev?.score !== undefined && (
                            <span className="muted small"> {ev.score.toFixed(2)}</span>
                          )}
                        </td>
                      );
                    })}
                    <td className="num">{ms(r.latencyMs)}</td>
                    <td className="num">
                      {r.promptTokens === null ? "—" : `${int(r.promptTokens)} + ${int(r.completionTokens)}`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="pager">
            {cursor && (
              <button type="button" onClick={() => set({ cursor: undefined })}>
                First page
              </button>
            )}
            {results.data.nextCursor && (
              <button type="button" onClick={() => set({ cursor: results.data.nextCursor ?? undefined })}>
                Next page
              </button>
            )}
          </div>
        </>
      )}
    </section>
  );
}
