// Evaluating past spans: a time range and a cap, then the progress as the server reports it (asked again every
// second while the backfill is still finding spans or evaluating them), and a way to stop it.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { BackfillSchema, type Backfill, type Evaluator } from "@promptreg/client/contract";
import { ApiError, api } from "../api";
import { ErrorBox, Time } from "../components/ui";
import { int } from "../observe/format";
import { issuesOf, placeIssues } from "./issues";
import { Field } from "./parts";

const POLL_MS = 1_000;
const DEFAULT_LIMIT = 1_000;
const MAX_LIMIT = 10_000;

/** datetime-local shows local time to the minute, without a zone; the API takes ISO instants. */
const toLocalInput = (ms: number) =>
  new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
const fromLocalInput = (value: string) =>
  value && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : value;

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
/** A range's end as a date and time (a relative "in 47 seconds" reads oddly for a range). */
const when = (iso: string) => <time dateTime={iso}>{dateTime.format(new Date(iso))}</time>;

const active = (b: Backfill | null | undefined) => b?.status === "running" || b?.status === "queued";

export function backfillPath(name: string): string {
  return `/evaluators/${encodeURIComponent(name)}/backfill`;
}

export function BackfillPanel({ evaluator, canWrite }: { evaluator: Evaluator; canWrite: boolean }) {
  const queryClient = useQueryClient();
  const key = ["backfill", evaluator.name];
  const backfill = useQuery({
    queryKey: key,
    queryFn: async (): Promise<Backfill | null> => {
      try {
        return await api(backfillPath(evaluator.name), BackfillSchema);
      } catch (err) {
        // None yet.
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    refetchInterval: (q) => (active(q.state.data) ? POLL_MS : false),
  });
  // The next whole minute: a span sent just now is inside the range.
  const [from, setFrom] = useState(() => toLocalInput(Date.now() - 24 * 3_600_000));
  const [to, setTo] = useState(() => toLocalInput(Math.ceil((Date.now() + 1) / 60_000) * 60_000));
  const [limit, setLimit] = useState(String(DEFAULT_LIMIT));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const b = backfill.data;
  const issues = placeIssues(issuesOf(error), ["from", "to", "limit"]);

  // When a backfill ends, the evaluator's counts have changed: ask for them again.
  const wasActive = useRef(false);
  const isActive = active(b);
  useEffect(() => {
    if (wasActive.current && !isActive) {
      void queryClient.invalidateQueries({ queryKey: ["evaluators"] });
      void queryClient.invalidateQueries({ queryKey: ["evaluator", evaluator.name] });
      void queryClient.invalidateQueries({ queryKey: ["evaluator-results", evaluator.name] });
    }
    wasActive.current = isActive;
  }, [isActive, queryClient, evaluator.name]);

  async function act(method: "POST" | "DELETE") {
    setBusy(true);
    setError(null);
    try {
      const body =
        method === "POST" ? { from: fromLocalInput(from), to: fromLocalInput(to), limit: Number(limit) } : undefined;
      const result = await api(backfillPath(evaluator.name), BackfillSchema, { method, body });
      queryClient.setQueryData(key, result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="backfill-title" className="backfill">
      <h2 id="backfill-title">Backfill</h2>
      <p className="muted small">
        Evaluates spans that arrived before the evaluator (or while it was off) with its current revision,{" "}
        {evaluator.revision}; spans this revision has judged already are not judged again.
        {evaluator.kind === "llm_judge" &&
          " Each span is a call to the judge's model, counted against the daily budget."}
      </p>
      {backfill.isError ? (
        <ErrorBox error={backfill.error} />
      ) : b ? (
        <BackfillProgress
          backfill={b}
          onCancel={canWrite && active(b) ? () => void act("DELETE") : undefined}
          busy={busy}
        />
      ) : backfill.isPending ? null : (
        <p className="muted">No backfill yet.</p>
      )}
      {canWrite && !active(b) && (
        <form
          className="row backfill-form"
          aria-label="Start a backfill"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void act("POST");
          }}
        >
          <Field id="bf-from" label="From" errors={issues.of("from")}>
            {(a) => <input {...a} type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />}
          </Field>
          <Field id="bf-to" label="To" errors={issues.of("to")}>
            {(a) => <input {...a} type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />}
          </Field>
          <Field id="bf-limit" label="At most (spans)" errors={issues.of("limit")}>
            {(a) => (
              <input
                {...a}
                type="number"
                min={1}
                max={MAX_LIMIT}
                step={1}
                value={limit}
                onChange={(e) => setLimit(e.target.value)}
                size={7}
              />
            )}
          </Field>
          <button type="submit" className="primary align-end" disabled={busy}>
            Start backfill
          </button>
        </form>
      )}
      {error !== null && issuesOf(error).length === 0 && <ErrorBox error={error} title="Backfill" />}
    </section>
  );
}

function BackfillProgress({
  backfill: b,
  onCancel,
  busy,
}: {
  backfill: Backfill;
  onCancel?: () => void;
  busy: boolean;
}) {
  const label =
    b.status === "running"
      ? `Finding spans: ${int(b.queued)} queued so far, ${int(b.evaluated)} evaluated`
      : b.status === "queued"
        ? `Evaluating: ${int(b.evaluated)} of ${int(b.queued)} spans`
        : b.status === "done"
          ? `Done: ${int(b.evaluated)} of ${int(b.queued)} spans evaluated`
          : `Cancelled: ${int(b.evaluated)} of ${int(b.queued)} spans evaluated`;
  return (
    <div className={`backfill-progress backfill-${b.status}`} data-testid="backfill-progress">
      <div className="row">
        <progress
          aria-label="Backfill progress"
          max={Math.max(b.queued, 1)}
          // Still finding spans with none queued: indeterminate.
          value={b.status === "running" && b.queued === 0 ? undefined : b.evaluated}
        />
        <span role="status" data-testid="backfill-status">
          {label}
        </span>
        {onCancel && (
          <button type="button" className="danger" onClick={onCancel} disabled={busy}>
            Cancel backfill
          </button>
        )}
      </div>
      <p className="muted small">
        Revision {b.revision} · spans from {when(b.from)} to {when(b.to)}, at most {int(b.limit)} · started{" "}
        <Time iso={b.createdAt} />
        {b.finishedAt && (
          <>
            {" "}
            · finished <Time iso={b.finishedAt} />
          </>
        )}
      </p>
    </div>
  );
}
