// /evaluators: the project's evaluators with how their current revision's results stand (the list is asked again
// every few seconds, faster while spans wait to be evaluated), /evaluators/-/new to define one, and
// /evaluators/<name> for one: its results per prompt version, a backfill, its definition to edit with a preview.
// Evaluator names never start with "-", so "-/new" is never an evaluator's page.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, Route, Routes, useNavigate, useParams, useSearchParams } from "react-router";
import { EvaluatorResultsSchema, EvaluatorSchema, type Evaluator } from "@promptreg/client/contract";
import { ApiError, api } from "../api";
import { Badge, Dialog, EmptyState, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { BackfillPanel } from "../evals/Backfill";
import { configText, targetText } from "../evals/definition";
import { EvaluatorForm } from "../evals/EvaluatorForm";
import { pollInterval, useEvaluators } from "../evals/queries";
import { Counts } from "../evals/parts";
import "../evals/evals.css";
import { int, pct } from "../observe/format";
import "../observe/observe.css";
import { can, useSession } from "../session";
import { promptHref } from "./PromptRoute";

export const evaluatorHref = (name: string) => `/evaluators/${encodeURIComponent(name)}`;
const evaluatorPath = (name: string) => `/evaluators/${encodeURIComponent(name)}`;

export default function EvaluatorsRoute() {
  return (
    <Routes>
      <Route index element={<EvaluatorList />} />
      <Route path="-/new" element={<NewEvaluator />} />
      <Route path=":name" element={<EvaluatorPage />} />
    </Routes>
  );
}

/** Turns an evaluator on or off: the same definition sent back, so no new revision. */
function useToggle() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (e: Evaluator) =>
      api(evaluatorPath(e.name), EvaluatorSchema, {
        method: "PUT",
        body: {
          kind: e.kind,
          target: e.target,
          sampleRate: e.sampleRate,
          config: e.config,
          dailyBudget: e.dailyBudget,
          enabled: !e.enabled,
        },
      }),
    onSuccess: async (e) => {
      queryClient.setQueryData(["evaluator", e.name], e);
      await queryClient.invalidateQueries({ queryKey: ["evaluators"] });
    },
  });
}

function StatusBadge({ evaluator: e }: { evaluator: Evaluator }) {
  if (e.status === "active") return <Badge tone="ok">active</Badge>;
  if (e.status === "disabled") return <Badge title="Off: new spans are not evaluated">off</Badge>;
  return (
    <Badge tone="warn" title="Stopped until the next UTC day">
      budget spent ({int(e.usedToday)} of {int(e.dailyBudget)} today)
    </Badge>
  );
}

function ToggleButton({ evaluator, toggle }: { evaluator: Evaluator; toggle: ReturnType<typeof useToggle> }) {
  const pending = toggle.isPending && toggle.variables?.name === evaluator.name;
  return (
    <button
      type="button"
      className="small"
      aria-label={`${evaluator.enabled ? "Turn off" : "Turn on"} ${evaluator.name}`}
      disabled={pending}
      onClick={() => toggle.mutate(evaluator)}
    >
      {pending ? "…" : evaluator.enabled ? "Turn off" : "Turn on"}
    </button>
  );
}

function ToggleNotice({ toggle }: { toggle: ReturnType<typeof useToggle> }) {
  if (toggle.isError) return <ErrorBox error={toggle.error} title="Not changed" />;
  if (!toggle.isSuccess) return null;
  const e = toggle.data;
  return (
    <p role="status" className="notice" data-testid="toggle-notice">
      {e.enabled
        ? `${e.name} is on: new spans are evaluated from now on (revision ${e.revision}).`
        : `${e.name} is off: new spans are not evaluated; its results stay, and a backfill still runs.`}
    </p>
  );
}

function EvaluatorList() {
  const session = useSession();
  const list = useEvaluators({ poll: true });
  const toggle = useToggle();
  const writer = can(session, "write");
  return (
    <section className="evaluators-page">
      <div className="page-head">
        <h1>Evaluators</h1>
        {writer && (
          <Link className="button primary" to="/evaluators/-/new">
            New evaluator
          </Link>
        )}
      </div>
      <p className="muted">
        Each evaluator judges the LLM spans of its target as they arrive and stores its verdict as an annotation of its
        name; compare reads them with failure = <code>annotation:&lt;name&gt;</code>.
      </p>
      <ToggleNotice toggle={toggle} />
      {list.isPending ? (
        <Loading label="Loading evaluators" />
      ) : list.isError ? (
        <ErrorBox error={list.error} />
      ) : list.data.data.length === 0 ? (
        <EmptyState title="No evaluators yet">
          <p>
            An evaluator checks every answer of a prompt: valid JSON, a schema, a pattern, its length, or a verdict by
            an LLM judge.{" "}
            {writer ? (
              <Link to="/evaluators/-/new">Define the first one</Link>
            ) : (
              "Defining one needs a key with the write role."
            )}
            , or send <code>POST /api/v1/evaluators</code>.
          </p>
        </EmptyState>
      ) : (
        <div className="table-scroll">
          <table className="list evaluator-table">
            <TableHead
              caption="Evaluators and their current revision's results"
              columns={[
                "Name",
                "Kind",
                "Target",
                { label: "Sample", num: true },
                "Status",
                { label: "Pass rate", num: true },
                { label: "Passed", num: true },
                { label: "Failed", num: true },
                { label: "Skipped", num: true },
                { label: "Error", num: true },
                { label: "Pending", num: true },
                { label: "Revision", num: true },
                ...(writer ? [{ label: "Actions", hidden: true }] : []),
              ]}
            />
            <tbody>
              {list.data.data.map((e) => (
                <tr key={e.name} data-testid={`evaluator-${e.name}`}>
                  <td>
                    <Link to={evaluatorHref(e.name)} className="prompt-name">
                      {e.name}
                    </Link>
                    <div className="muted small config-text">{configText(e)}</div>
                  </td>
                  <td>
                    <code>{e.kind}</code>
                  </td>
                  <td>{targetText(e.target)}</td>
                  <td className="num">{pct(e.sampleRate).replace(".00%", "%")}</td>
                  <td>
                    <StatusBadge evaluator={e} />
                  </td>
                  <td className="num" data-testid="pass-rate">
                    {pct(e.results.passRate)}
                  </td>
                  <td className="num">{int(e.results.passed)}</td>
                  <td className="num">{int(e.results.failed)}</td>
                  <td className="num">{int(e.results.skipped)}</td>
                  <td className="num">{int(e.results.error)}</td>
                  <td className="num">{int(e.results.pending)}</td>
                  <td className="num">{e.revision}</td>
                  {writer && (
                    <td className="actions">
                      <ToggleButton evaluator={e} toggle={toggle} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function NewEvaluator() {
  const session = useSession();
  const navigate = useNavigate();
  if (!can(session, "write"))
    return (
      <section>
        <h1>New evaluator</h1>
        <p>Defining an evaluator needs a key with the write role.</p>
      </section>
    );
  return (
    <section className="evaluator-new">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/evaluators">Evaluators</Link> / new
      </nav>
      <h1>New evaluator</h1>
      <EvaluatorForm onSaved={(e) => navigate(evaluatorHref(e.name), { state: { created: true } })} />
    </section>
  );
}

function EvaluatorPage() {
  const { name = "" } = useParams();
  const session = useSession();
  const navigate = useNavigate();
  const writer = can(session, "write");
  const evaluator = useQuery({
    queryKey: ["evaluator", name],
    queryFn: () => api(evaluatorPath(name), EvaluatorSchema),
    refetchInterval: (q) => pollInterval(q.state.data?.results.pending ?? 0),
  });
  const toggle = useToggle();
  const [saved, setSaved] = useState<number | null>(null);
  // Editing is in the address (?edit), so that the form with its preview can be linked to.
  const [params, setParams] = useSearchParams();
  const editing = params.has("edit");
  const setEditing = (on: boolean) => {
    const next = new URLSearchParams(params);
    if (on) next.set("edit", "");
    else next.delete("edit");
    setParams(next, { replace: true });
  };
  const [deleting, setDeleting] = useState(false);

  if (evaluator.isPending) return <Loading label={`Loading ${name}`} />;
  if (evaluator.isError)
    return (
      <section>
        <h1>{name}</h1>
        <ErrorBox error={evaluator.error} />
        {evaluator.error instanceof ApiError && evaluator.error.status === 404 && (
          <p>
            <Link to="/evaluators">Back to the evaluators</Link>
          </p>
        )}
      </section>
    );
  const e = evaluator.data;
  return (
    <section className="evaluator-page">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/evaluators">Evaluators</Link> / {e.name}
      </nav>
      <div className="page-head">
        <h1>
          {e.name} <StatusBadge evaluator={e} />
        </h1>
        {writer && (
          <div className="actions">
            <ToggleButton evaluator={e} toggle={toggle} />
            <button type="button" className="danger small" onClick={() => setDeleting(true)}>
              Delete…
            </button>
          </div>
        )}
      </div>
      <ToggleNotice toggle={toggle} />
      {saved !== null && (
        <p role="status" className="notice" data-testid="saved-notice">
          Saved: {e.name} is at revision {saved}.
        </p>
      )}
      <dl className="facts">
        <dt>Kind</dt>
        <dd>
          <code>{e.kind}</code> · {configText(e)}
        </dd>
        <dt>Looks at</dt>
        <dd>
          {targetText(e.target)} · {pct(e.sampleRate).replace(".00%", "%")} of its LLM spans
        </dd>
        <dt>Revision</dt>
        <dd>
          {e.revision} · changed <Time iso={e.updatedAt} />
        </dd>
        <dt>Daily budget</dt>
        <dd>
          {e.dailyBudget === null ? "none" : `${int(e.dailyBudget)} evaluations`} · {int(e.usedToday)} used today (UTC)
        </dd>
      </dl>

      <Results evaluator={e} />
      <BackfillPanel evaluator={e} canWrite={writer} />

      {writer && (
        <section aria-labelledby="definition-title">
          <div className="section-head">
            <h2 id="definition-title">Definition</h2>
            {!editing && (
              <button type="button" onClick={() => setEditing(true)}>
                Edit definition
              </button>
            )}
          </div>
          {editing ? (
            <EvaluatorForm
              key={`${e.revision}:${e.updatedAt}`}
              saved={e}
              onSaved={(next) => {
                setSaved(next.revision);
                setEditing(false);
              }}
              onCancel={() => setEditing(false)}
            />
          ) : (
            <p className="muted small">
              A change to its kind, target, sample rate or check makes revision {e.revision + 1}; its budget does not.
            </p>
          )}
        </section>
      )}

      <Dialog open={deleting} title={`Delete ${e.name}`} onClose={() => setDeleting(false)}>
        {deleting && (
          <DeleteForm evaluator={e} onCancel={() => setDeleting(false)} onDone={() => navigate("/evaluators")} />
        )}
      </Dialog>
    </section>
  );
}

function Results({ evaluator: e }: { evaluator: Evaluator }) {
  const [params, setParams] = useSearchParams();
  const wanted = Number(params.get("revision"));
  const revision = Number.isInteger(wanted) && wanted >= 1 && wanted <= e.revision ? wanted : e.revision;
  const results = useQuery({
    queryKey: ["evaluator-results", e.name, revision, e.results],
    queryFn: () =>
      api(`${evaluatorPath(e.name)}/results`, EvaluatorResultsSchema, {
        query: { revision: revision === e.revision ? undefined : revision },
      }),
  });
  const revisions = Array.from({ length: e.revision }, (_, i) => e.revision - i);
  return (
    <section aria-labelledby="results-title">
      <div className="section-head">
        <h2 id="results-title">Results</h2>
        <label className="inline">
          Revision
          <select
            value={revision}
            onChange={(ev) =>
              setParams(Number(ev.target.value) === e.revision ? {} : { revision: ev.target.value }, { replace: true })
            }
          >
            {revisions.map((r) => (
              <option key={r} value={r}>
                {r === e.revision ? `${r} (current)` : r}
              </option>
            ))}
          </select>
        </label>
      </div>
      {results.isPending ? (
        <Loading label="Loading results" />
      ) : results.isError ? (
        <ErrorBox error={results.error} />
      ) : (
        <>
          <Counts counts={results.data.total} label={`Results of revision ${revision}`} />
          {results.data.versions.length === 0 ? (
            <p className="muted">
              No results of revision {revision} yet.{" "}
              {e.enabled
                ? "They come as its target's spans arrive; a backfill evaluates earlier ones."
                : "It is off: turn it on, or run a backfill."}
            </p>
          ) : (
            <table className="compact figures">
              <TableHead
                caption={`Results of revision ${revision} per prompt version`}
                columns={[
                  "Prompt version",
                  { label: "Pass rate", num: true },
                  { label: "Passed", num: true },
                  { label: "Failed", num: true },
                  { label: "Skipped", num: true },
                  { label: "Error", num: true },
                  { label: "Pending", num: true },
                  { label: "Compare", hidden: true },
                ]}
              />
              <tbody>
                {results.data.versions.map((v) => (
                  <tr key={`${v.prompt}@${v.version}`}>
                    <th scope="row">
                      {v.prompt} <span className="semver">{v.version}</span>
                    </th>
                    <td className="num">{pct(v.passRate)}</td>
                    <td className="num">{int(v.passed)}</td>
                    <td className="num">{int(v.failed)}</td>
                    <td className="num">{int(v.skipped)}</td>
                    <td className="num">{int(v.error)}</td>
                    <td className="num">{int(v.pending)}</td>
                    <td>
                      {v.prompt && (
                        <Link
                          to={promptHref(v.prompt, "compare", {
                            failure: `annotation:${e.name}`,
                            ...(revision === e.revision ? {} : { revision: String(revision) }),
                          })}
                        >
                          Compare by it
                        </Link>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

function DeleteForm({
  evaluator: e,
  onCancel,
  onDone,
}: {
  evaluator: Evaluator;
  onCancel: () => void;
  onDone: () => void;
}) {
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const stored = e.results.passed + e.results.failed + e.results.skipped + e.results.error;
  return (
    <form
      onSubmit={async (ev) => {
        ev.preventDefault();
        try {
          await api(evaluatorPath(e.name), null, { method: "DELETE" });
          queryClient.removeQueries({ queryKey: ["evaluator", e.name] });
          await queryClient.invalidateQueries({ queryKey: ["evaluators"] });
          onDone();
        } catch (err) {
          setError(err);
        }
      }}
    >
      <p className="consequence">
        {e.name} stops at once, and goes with {e.revision === 1 ? "its definition" : `its ${e.revision} revisions`} and
        every result it stored ({int(stored)} of the current revision): compare with failure = annotation:{e.name} will
        find none. This cannot be undone; to pause it, turn it off instead.
      </p>
      {error !== null && <ErrorBox error={error} />}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="danger primary">
          Delete {e.name}
        </button>
      </div>
    </form>
  );
}
