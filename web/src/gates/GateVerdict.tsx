// A gate's verdict as a person reads it: allowed or refused first, then the sentence the server wrote, then the
// experiment it rests on (its page and the comparison of the two versions) and, for a refusal, each evaluator that
// regressed with its pass rates and p-value. The same view serves the preview before a move, the 409 a move got, and
// (shorter) the ledger entry of a move the gate let through or an admin overrode.
import { Link } from "react-router";
import type { GateVerdict, LabelEvent } from "@promptreg/client/contract";
import { ApiError } from "../api";
import { Badge, TableHead } from "../components/ui";
import { experimentHref } from "../experiments/shared";
import "./gates.css";

/** The verdict a refused move carries (a 409 `gate_failed`'s `details.gate`), or null for any other failure. */
export function refusedVerdict(err: unknown): GateVerdict | null {
  if (!(err instanceof ApiError) || err.code !== "gate_failed") return null;
  const gate = (err.details as { gate?: GateVerdict } | undefined)?.gate;
  return gate ?? null;
}

const percent = (rate: number | null) => (rate === null ? "n/a" : `${(rate * 100).toFixed(1)}%`);

/** Links to the experiment a verdict rests on, and to its comparison of what the label holds with the version. */
export function ExperimentLinks({
  id,
  baseline,
  candidate,
}: {
  id: string;
  baseline: string | null;
  candidate: string;
}) {
  return (
    <>
      <Link to={experimentHref(id)}>experiment {id}</Link>
      {baseline && baseline !== candidate && (
        <>
          {" "}
          (
          <Link to={experimentHref(id, "compare", { baseline, candidate })}>
            compare {baseline} with {candidate}
          </Link>
          )
        </>
      )}
    </>
  );
}

export function GateVerdictView({ verdict, refusedBy }: { verdict: GateVerdict; refusedBy?: string }) {
  const v = verdict;
  return (
    <div className={`gate-verdict ${v.allowed ? "gate-allowed" : "gate-refused"}`} data-testid="gate-verdict">
      <p className="gate-verdict-head">
        <Badge tone={v.allowed ? "ok" : "warn"}>{v.allowed ? "gate passes" : "gate refuses"}</Badge>{" "}
        {refusedBy ??
          (v.allowed ? `The gate on ${v.label} allows this move.` : `The gate on ${v.label} refuses this move.`)}
      </p>
      <p className="gate-message">{v.message}</p>
      {v.experiment && (
        <p className="small">
          Rests on <ExperimentLinks id={v.experiment} baseline={v.holds} candidate={v.version} />
          {v.dataset && (
            <>
              {" "}
              on dataset {v.dataset.name} version {v.dataset.version}
            </>
          )}
          .
        </p>
      )}
      {v.failures.length > 0 && (
        <div className="gate-failures" tabIndex={0} role="region" aria-label="Evaluators that regressed">
          <table className="list">
            <TableHead
              caption="Evaluators that regressed"
              columns={[
                "Evaluator",
                { label: `${v.holds ?? "held"} passes`, num: true },
                { label: `${v.version} passes`, num: true },
                { label: "Worse", num: true },
                { label: "Better", num: true },
                { label: "p", num: true },
              ]}
            />
            <tbody>
              {v.failures.map((f) => (
                <tr key={f.evaluator}>
                  <td>{f.evaluator}</td>
                  <td className="num">{percent(f.baselinePassRate)}</td>
                  <td className="num">{percent(f.candidatePassRate)}</td>
                  <td className="num">{f.regressed}</td>
                  <td className="num">{f.improved}</td>
                  <td className="num">{f.pValue === null ? "n/a" : f.pValue.toPrecision(3)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** A ledger entry's gate: which experiment let the move through, or that an admin overrode it and what it found. */
export function GateRecordView({
  gate,
  from,
  to,
}: {
  gate: NonNullable<LabelEvent["gate"]>;
  from: string | null;
  to: string | null;
}) {
  const passed = gate.outcome === "passed";
  return (
    <div className={`gate-record gate-record-${gate.outcome}`}>
      <Badge tone={passed ? "ok" : "warn"}>{passed ? "gate passed" : "gate overridden"}</Badge>{" "}
      {gate.experiment && to ? (
        <>
          {passed ? "shown by " : "despite "}
          <ExperimentLinks id={gate.experiment} baseline={from} candidate={to} />
        </>
      ) : (
        !passed && "with no experiment"
      )}
      {!passed && <div className="muted small gate-detail">{gate.detail}</div>}
    </div>
  );
}
