// Small pieces the evaluator pages and the trace page share: an evaluation's status, a set of result counts, and a
// form field that shows the server's message for it.
import type { ReactNode } from "react";
import type { EvalCounts } from "@promptreg/client/contract";
import { int, pct } from "../observe/format";

export type EvalStatus = "passed" | "failed" | "skipped" | "error";

const STATUS_TITLES: Record<EvalStatus, string> = {
  passed: "a verdict: the answer passed",
  failed: "a verdict: the answer failed",
  skipped: "no verdict: nothing to judge (no output, a failed call, the budget spent); compare leaves it out",
  error: "no verdict: the evaluation itself failed (the judge did not answer); compare leaves it out",
};

export function EvalStatusBadge({ status }: { status: EvalStatus }) {
  return (
    <span className={`eval-status eval-${status}`} title={STATUS_TITLES[status]}>
      {status}
    </span>
  );
}

/** Passed, failed, skipped, error and pending, each with its number; the pass rate among the verdicts. */
export function Counts({ counts, label }: { counts: EvalCounts; label: string }) {
  const judged = counts.passed + counts.failed;
  return (
    <ul className="eval-counts" aria-label={label}>
      <li className="eval-rate">
        {judged === 0 ? (
          <span className="muted">no verdicts yet</span>
        ) : (
          <>
            <strong>{pct(counts.passRate)}</strong>{" "}
            <span className="muted small">passed of {plural(judged, "verdict")}</span>
          </>
        )}
      </li>
      {(["passed", "failed", "skipped", "error"] as const).map((s) => (
        <li key={s} className={counts[s] === 0 ? "muted" : undefined}>
          {int(counts[s])} {s}
        </li>
      ))}
      {counts.pending > 0 && <li>{int(counts.pending)} pending</li>}
    </ul>
  );
}

const plural = (n: number, word: string) => `${int(n)} ${word}${n === 1 ? "" : "s"}`;

/**
 * A labelled control with its help and its errors under it. `children` gets the attributes that tie the control to
 * them (its id, aria-invalid, aria-describedby).
 */
export function Field({
  id,
  label,
  errors,
  help,
  className,
  children,
}: {
  id: string;
  label: ReactNode;
  errors: string[];
  help?: ReactNode;
  className?: string;
  children: (control: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => ReactNode;
}) {
  const helpId = help ? `${id}-help` : undefined;
  const errorId = errors.length ? `${id}-error` : undefined;
  const describedBy = [errorId, helpId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field${errors.length ? " invalid" : ""}${className ? ` ${className}` : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": errors.length > 0, "aria-describedby": describedBy })}
      {errors.length > 0 && (
        <p id={errorId} className="field-error" data-testid={`error-${id}`}>
          {errors.join("; ")}
        </p>
      )}
      {help && (
        <p id={helpId} className="muted small field-note">
          {help}
        </p>
      )}
    </div>
  );
}
