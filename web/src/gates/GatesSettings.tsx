// Settings › Gates: the project's label gates, read by every key; an admin sets one (a label, the dataset whose latest
// version the experiment must have run on, the evaluators that may not regress, α, the prompts' name prefix) with
// PUT /gates/:label, and removes one after a confirmation. The server checks the dataset and evaluators exist; its
// 422 lists each problem.
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { BUILTIN_EXPERIMENT_EVALUATORS, type Gate, GateSchema } from "@promptreg/client/contract";
import { api } from "../api";
import { ConfirmForm, Dialog, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { RefusalBox } from "../datasets/parts";
import { useDatasets } from "../datasets/queries";
import { useEvaluators } from "../evals/queries";
import { useSession } from "../session";
import { gatePath, useGates } from "./queries";
import "./gates.css";

const DEFAULT_ALPHA = 0.05;

export function GatesSettings() {
  const session = useSession();
  const isAdmin = session.role === "admin";
  const gates = useGates();
  const [editing, setEditing] = useState<Gate | "new" | null>(null);
  const [deleting, setDeleting] = useState<Gate | null>(null);

  return (
    <section aria-labelledby="gates-title">
      <h2 id="gates-title">Gates</h2>
      <p className="muted">
        A gated label moves to a version only after a finished experiment on the gate's dataset shows the version no
        worse than what the label holds (McNemar's exact test at α). An admin may override a refusal with a reason; a
        rollback is never gated.{isAdmin ? "" : " Gates are set by admin keys."}
      </p>
      {isAdmin && (
        <p>
          <button type="button" onClick={() => setEditing("new")}>
            New gate…
          </button>
        </p>
      )}
      {gates.isPending ? (
        <Loading label="Loading gates" />
      ) : gates.isError ? (
        <ErrorBox error={gates.error} />
      ) : gates.data.data.length === 0 ? (
        <p className="muted">No gate: any key that may move a label moves it to any version.</p>
      ) : (
        <table className="list">
          <TableHead
            caption="Gates"
            columns={[
              "Label",
              "Dataset",
              "Evaluators",
              { label: "α", num: true },
              "Prompts",
              "Updated",
              ...(isAdmin ? [{ label: "Actions", hidden: true }] : []),
            ]}
          />
          <tbody>
            {gates.data.data.map((g) => (
              <tr key={g.label}>
                <td>{g.label}</td>
                <td>{g.dataset}</td>
                <td>{g.evaluators.join(", ")}</td>
                <td className="num">{g.alpha}</td>
                <td>{g.prefix ? <code>{g.prefix}…</code> : <span className="muted">all</span>}</td>
                <td>
                  {g.updatedBy}, <Time iso={g.updatedAt} />
                </td>
                {isAdmin && (
                  <td className="actions">
                    <button type="button" onClick={() => setEditing(g)}>
                      Edit…
                    </button>
                    <button type="button" className="danger" onClick={() => setDeleting(g)}>
                      Delete…
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Dialog
        open={editing !== null}
        title={editing === "new" ? "New gate" : `Gate on ${editing?.label ?? ""}`}
        onClose={() => setEditing(null)}
      >
        {editing !== null && <GateForm gate={editing === "new" ? null : editing} onDone={() => setEditing(null)} />}
      </Dialog>
      <Dialog
        open={deleting !== null}
        title={`Delete the gate on ${deleting?.label ?? ""}`}
        onClose={() => setDeleting(null)}
      >
        {deleting && <DeleteGateForm gate={deleting} onDone={() => setDeleting(null)} />}
      </Dialog>
    </section>
  );
}

function useGatesChanged() {
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ["gates"] }),
      queryClient.invalidateQueries({ queryKey: ["gate-check"] }),
    ]);
}

function GateForm({ gate, onDone }: { gate: Gate | null; onDone: () => void }) {
  const changed = useGatesChanged();
  const datasets = useDatasets();
  const projectEvaluators = useEvaluators().data?.data ?? [];
  const [label, setLabel] = useState(gate?.label ?? "production");
  const [dataset, setDataset] = useState(gate?.dataset ?? "");
  const [evaluators, setEvaluators] = useState<string[]>(gate?.evaluators ?? []);
  const [alpha, setAlpha] = useState(String(gate?.alpha ?? DEFAULT_ALPHA));
  const [prefix, setPrefix] = useState(gate?.prefix ?? "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const names = [...BUILTIN_EXPERIMENT_EVALUATORS, ...projectEvaluators.map((e) => e.name)];
  // A gate's evaluator the project no longer has stays listed, so that saving does not drop it silently.
  for (const name of evaluators) if (!names.includes(name)) names.push(name);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api(gatePath(label), GateSchema, {
        method: "PUT",
        body: { dataset, evaluators, alpha: alpha.trim() === "" ? DEFAULT_ALPHA : Number(alpha), prefix },
      });
      await changed();
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="gate-form" onSubmit={(e) => void submit(e)}>
      <label>
        Label
        <input
          value={label}
          onChange={(e) => setLabel(e.target.value.trim())}
          readOnly={gate !== null}
          required
          pattern="[a-z0-9][a-z0-9_.\-]{0,35}"
          placeholder="e.g. production"
        />
      </label>
      <label>
        Dataset
        <select value={dataset} onChange={(e) => setDataset(e.target.value)} required>
          <option value="">Choose a dataset</option>
          {gate && !datasets.data?.data.some((d) => d.name === gate.dataset) && (
            <option value={gate.dataset}>{gate.dataset} (deleted)</option>
          )}
          {datasets.data?.data.map((d) => (
            <option key={d.name} value={d.name}>
              {d.name} (version {d.version}, {d.itemCount} items)
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>Evaluators that may not regress</legend>
        <div className="choice-list">
          {names.map((name) => (
            <label key={name} className="checkbox">
              <input
                type="checkbox"
                checked={evaluators.includes(name)}
                onChange={(e) =>
                  setEvaluators(e.target.checked ? [...evaluators, name] : evaluators.filter((n) => n !== name))
                }
              />
              {name}
              {(BUILTIN_EXPERIMENT_EVALUATORS as readonly string[]).includes(name) && (
                <span className="muted small"> (built in)</span>
              )}
            </label>
          ))}
        </div>
      </fieldset>
      <div className="row">
        <label>
          α (significance)
          <input type="number" step="any" value={alpha} onChange={(e) => setAlpha(e.target.value)} />
        </label>
        <label className="grow">
          Prompts whose name starts with
          <input value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder="every prompt" />
        </label>
      </div>
      {error !== null && <RefusalBox error={error} title="Not saved" />}
      <div className="dialog-actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy || !label || evaluators.length === 0}>
          {busy ? "Saving…" : "Save gate"}
        </button>
      </div>
    </form>
  );
}

function DeleteGateForm({ gate, onDone }: { gate: Gate; onDone: () => void }) {
  const changed = useGatesChanged();
  return (
    <ConfirmForm
      consequence={`${gate.label} will move to any version again, with no experiment asked for${gate.prefix ? ` (prompts starting with ${gate.prefix})` : ""}.`}
      confirm={`Delete the gate on ${gate.label}`}
      onConfirm={async () => {
        await api(gatePath(gate.label), null, { method: "DELETE" });
        await changed();
      }}
      onDone={onDone}
    />
  );
}
