// A label's guarded rollout on the Labels page: its state, step and arms, the guard's last verdict, the controls
// (pause, resume, advance, abort) for keys that may move the label, and a form to start one.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { type PromptDetail, type Rollout, RolloutSchema, type StartRolloutBody } from "@promptreg/client/contract";
import { api, ApiError, promptPath } from "../api";
import { Badge, Dialog, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { promptHref } from "../pages/PromptRoute";
import { useVersions } from "../pages/Versions";
import { canMoveLabel, useSession } from "../session";

const rolloutPath = (prompt: string, label: string) =>
  `${promptPath(prompt)}/labels/${encodeURIComponent(label)}/rollout`;
const pct = (share: number) => `${Number((share * 100).toPrecision(4))}%`;

/** The label's current or last rollout; null when it never had one. */
function useRollout(prompt: string, label: string) {
  return useQuery({
    queryKey: ["rollout", prompt, label],
    queryFn: () =>
      api(rolloutPath(prompt, label), RolloutSchema).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }),
    enabled: label !== "" && label !== "latest",
  });
}

/** A request a button makes: whether it is under way, and what it failed with (shown until the next one). */
function useRequest() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (request: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await request();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run };
}

const TONE = { running: "accent", paused: "warn", aborted: "neutral", finished: "ok" } as const;

function Arms({ rollout }: { rollout: Rollout }) {
  return (
    <table className="list">
      <TableHead
        caption="The two arms of the rollout"
        columns={[
          "Arm",
          "Version",
          { label: "Units", num: true },
          { label: "Failing", num: true },
          { label: "p95", num: true },
        ]}
      />
      <tbody>
        {(["baseline", "candidate"] as const).map((arm) => {
          const a = rollout.arms[arm];
          return (
            <tr key={arm}>
              <td>{arm}</td>
              <td className="semver">{a.version}</td>
              <td className="num">{a.units}</td>
              <td className="num">{a.failureRate === null ? "—" : `${(a.failureRate * 100).toFixed(1)}%`}</td>
              <td className="num">{a.latencyP95Ms === null ? "—" : `${a.latencyP95Ms.toFixed(0)} ms`}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function RolloutPanel({ prompt, label }: { prompt: PromptDetail; label: string }) {
  const session = useSession();
  const queryClient = useQueryClient();
  const rollout = useRollout(prompt.name, label);
  const [reason, setReason] = useState("");
  const { error, busy, run } = useRequest();
  const [starting, setStarting] = useState(false);
  if (label === "" || label === "latest") return null;
  const mayAct = canMoveLabel(session, label);

  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ["rollout", prompt.name, label] }),
      queryClient.invalidateQueries({ queryKey: ["history", prompt.name] }),
      queryClient.invalidateQueries({ queryKey: ["prompt", prompt.name] }),
    ]);

  const act = (action: "pause" | "resume" | "advance" | "abort") =>
    run(async () => {
      await api(`${rolloutPath(prompt.name, label)}/${action}`, RolloutSchema, {
        method: "POST",
        body: reason.trim() ? { reason: reason.trim() } : {},
      });
      setReason("");
      await refresh();
    });

  const r = rollout.data;
  const active = r && (r.state === "running" || r.state === "paused");
  return (
    <section aria-labelledby="rollout-title" className="rollout">
      <h2 id="rollout-title">Rollout</h2>
      {rollout.isPending ? (
        <Loading label="Loading the rollout" />
      ) : rollout.isError ? (
        <ErrorBox error={rollout.error} />
      ) : (
        <>
          {r ? (
            <div>
              <p>
                <Badge tone={TONE[r.state]}>{r.state}</Badge> <span className="semver">{r.baselineVersion}</span> →{" "}
                <span className="semver">{r.candidateVersion}</span>, step {r.step} of {r.steps.length} (
                {r.steps.map((s) => pct(s.share)).join(" → ")}): the candidate gets <strong>{pct(r.share)}</strong>
                <span className="muted small">
                  {" "}
                  · started by {r.startedBy}, <Time iso={r.createdAt} />
                </span>
              </p>
              <Arms rollout={r} />
              <p>
                <Link
                  to={promptHref(prompt.name, "compare", {
                    versions: `${r.baselineVersion},${r.candidateVersion}`,
                    rollout: r.id,
                    label,
                  })}
                >
                  Compare the arms
                </Link>{" "}
                <span className="muted small">
                  (the rollout's calls only, with its ledger entries on the time series)
                </span>
              </p>
              <p className="rollout-verdict">
                {r.verdict ? (
                  <>
                    <strong>Guard</strong> ({r.evaluations} evaluation{r.evaluations === 1 ? "" : "s"}, last{" "}
                    <Time iso={r.verdict.at} />
                    ): {r.verdict.sentence}
                  </>
                ) : (
                  <span className="muted">The guard has not evaluated it yet.</span>
                )}
              </p>
            </div>
          ) : (
            <p className="muted">No rollout on {label} yet.</p>
          )}
          {mayAct && active && (
            <form
              className="rollout-actions"
              onSubmit={(e) => {
                e.preventDefault();
              }}
            >
              <label>
                Reason (optional, kept in the ledger)
                <input value={reason} onChange={(e) => setReason(e.target.value)} />
              </label>
              <div className="dialog-actions">
                {r.state === "running" ? (
                  <button type="button" disabled={busy} onClick={() => void act("pause")}>
                    Pause
                  </button>
                ) : (
                  <button type="button" disabled={busy} onClick={() => void act("resume")}>
                    Resume
                  </button>
                )}
                <button type="button" disabled={busy} onClick={() => void act("advance")}>
                  {r.step === r.steps.length ? "Finish" : `Advance to ${pct(r.steps[r.step]!.share)}`}
                </button>
                <button type="button" className="danger" disabled={busy} onClick={() => void act("abort")}>
                  Abort
                </button>
              </div>
            </form>
          )}
          {error !== null && <ErrorBox error={error} />}
          {mayAct && !active && prompt.labels.some((l) => l.name === label) && (
            <button type="button" onClick={() => setStarting(true)}>
              Start a rollout…
            </button>
          )}
        </>
      )}
      <Dialog open={starting} title={`Start a rollout on ${label}`} onClose={() => setStarting(false)}>
        {starting && (
          <StartRolloutForm
            prompt={prompt}
            label={label}
            onDone={async () => {
              setStarting(false);
              await refresh();
            }}
            onCancel={() => setStarting(false)}
          />
        )}
      </Dialog>
    </section>
  );
}

function StartRolloutForm({
  prompt,
  label,
  onDone,
  onCancel,
}: {
  prompt: PromptDetail;
  label: string;
  onDone: () => Promise<void>;
  onCancel: () => void;
}) {
  const versions = useVersions(prompt.name);
  const current = prompt.labels.find((l) => l.name === label)?.version;
  const all = (versions.data?.pages.flatMap((p) => p.data.map((v) => v.version)) ?? []).filter((v) => v !== current);
  const [candidate, setCandidate] = useState("");
  const [steps, setSteps] = useState("5, 25, 50, 100");
  const [minutes, setMinutes] = useState("30");
  const [minUnits, setMinUnits] = useState("0");
  const [failure, setFailure] = useState("status");
  const [alpha, setAlpha] = useState("0.05");
  const [minSample, setMinSample] = useState("100");
  const [autoRollback, setAutoRollback] = useState(true);
  const [reason, setReason] = useState("");
  const { error, busy, run } = useRequest();
  const shares = steps
    .split(",")
    .map((s) => Number(s.trim()) / 100)
    .filter((s) => Number.isFinite(s));

  const submit = () => {
    const body: StartRolloutBody = {
      candidate,
      steps: shares.map((share) => ({
        share,
        minDurationMs: Math.round(Number(minutes) * 60_000),
        minUnits: Number(minUnits),
      })),
      guard: { failure, alpha: Number(alpha), minSample: Number(minSample) },
      autoRollback,
      ...(reason.trim() ? { reason: reason.trim() } : {}),
    };
    return run(async () => {
      await api(rolloutPath(prompt.name, label), RolloutSchema, { method: "POST", body });
      await onDone();
    });
  };

  return (
    <form
      method="dialog"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label>
        Candidate version
        <select value={candidate} onChange={(e) => setCandidate(e.target.value)} required>
          <option value="">Choose a version</option>
          {all.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <label>
        Steps (% of users, increasing)
        <input value={steps} onChange={(e) => setSteps(e.target.value)} required />
      </label>
      <label>
        Minimum minutes per step
        <input type="number" min="0" value={minutes} onChange={(e) => setMinutes(e.target.value)} required />
      </label>
      <label>
        Minimum candidate units per step
        <input type="number" min="0" value={minUnits} onChange={(e) => setMinUnits(e.target.value)} required />
      </label>
      <label>
        Failure (as in compare: status, annotation:NAME, any, any:NAME)
        <input value={failure} onChange={(e) => setFailure(e.target.value)} required />
      </label>
      <label>
        Significance level (alpha)
        <input value={alpha} onChange={(e) => setAlpha(e.target.value)} required />
      </label>
      <label>
        Minimum sample per arm
        <input type="number" min="1" value={minSample} onChange={(e) => setMinSample(e.target.value)} required />
      </label>
      <label className="checkbox">
        <input type="checkbox" checked={autoRollback} onChange={(e) => setAutoRollback(e.target.checked)} /> Abort on
        its own when the candidate is worse (else pause)
      </label>
      <label>
        Reason (optional)
        <input value={reason} onChange={(e) => setReason(e.target.value)} />
      </label>
      <p className="consequence" role="status">
        {candidate ? (
          <>
            <strong>{label}</strong> keeps <strong>{current}</strong>; <strong>{candidate}</strong> gets{" "}
            {shares.map(pct).join(" → ")} of users while the guard finds no harm, then {label} moves to it.
          </>
        ) : (
          "Choose the candidate."
        )}
      </p>
      {error !== null && <ErrorBox error={error} />}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy || !candidate}>
          {busy ? "Working…" : "Start the rollout"}
        </button>
      </div>
    </form>
  );
}
