import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import {
  LabelHistorySchema,
  LabelMoveResultSchema,
  type LabelEvent,
  type LabelView,
  type PromptDetail,
} from "@promptreg/client/contract";
import { api, promptPath } from "../api";
import { Dialog, EmptyState, ErrorBox, LabelBadge, Loading, TableHead, Time } from "../components/ui";
import { GateRecordView, GateVerdictView, refusedVerdict } from "../gates/GateVerdict";
import { useGateCheck } from "../gates/queries";
import { RolloutPanel } from "../rollouts/RolloutPanel";
import { LEDGER_ACTION_TEXT } from "../components/ledger";
import { can, canMoveLabel, useSession } from "../session";
import { promptHref } from "./PromptRoute";
import { useVersions } from "./Versions";

// The client library's default cache TTL: how long a running application may keep serving the old version.
const CLIENT_TTL_SECONDS = 60;

export type LabelAction =
  | { kind: "move"; label: string; current: string | null; to?: string }
  | { kind: "rollback"; label: string; current: string; to: string | null; undo?: boolean; reason?: string };
type Action = LabelAction;

function useHistory(name: string, label: string) {
  return useInfiniteQuery({
    queryKey: ["history", name, label],
    queryFn: ({ pageParam }) =>
      api(`${promptPath(name)}/labels/${encodeURIComponent(label)}/history`, LabelHistorySchema, {
        query: { limit: 50, cursor: pageParam },
      }),
    initialPageParam: "",
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    enabled: label !== "",
  });
}

/** What a rollback without a target goes back to: the "from" of the label's last real move (as the server does). */
function rollbackTarget(events: LabelEvent[]): string | null | undefined {
  const last = events.find((e) => e.fromVersion !== e.toVersion);
  return last ? last.fromVersion : undefined;
}

export function Labels({ prompt }: { prompt: PromptDetail }) {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const selected =
    params.get("label") ?? prompt.labels.find((l) => l.name === "production")?.name ?? prompt.labels[0]?.name ?? "";
  const history = useHistory(prompt.name, selected);
  const events = history.data?.pages.flatMap((p) => p.data) ?? [];
  const [action, setAction] = useState<Action | null>(null);
  const [done, setDone] = useState<{ label: string; version: string; previousVersion: string | null } | null>(null);
  const selectedLabel = prompt.labels.find((l) => l.name === selected);

  // The dialog names the version production will serve, so read the label's recent ledger first.
  const openRollback = async (label: LabelView) => {
    setParams({ label: label.name });
    const recent = await api(
      `${promptPath(prompt.name)}/labels/${encodeURIComponent(label.name)}/history`,
      LabelHistorySchema,
      { query: { limit: 50 } },
    ).catch(() => null);
    setAction({
      kind: "rollback",
      label: label.name,
      current: label.version,
      to: (recent && rollbackTarget(recent.data)) ?? null,
    });
  };

  return (
    <div>
      {done && (
        <div className="notice" role="status">
          <span>
            <strong>{done.label}</strong> now serves <strong>{done.version}</strong>
            {done.previousVersion ? ` (was ${done.previousVersion})` : ""}.
          </span>
          {done.previousVersion && done.previousVersion !== done.version && canMoveLabel(session, done.label) && (
            <button
              type="button"
              onClick={() =>
                setAction({
                  kind: "rollback",
                  label: done.label,
                  current: done.version,
                  to: done.previousVersion,
                  undo: true,
                })
              }
            >
              Undo
            </button>
          )}
        </div>
      )}

      {prompt.labels.length === 0 ? (
        <EmptyState title="No labels">
          <p>Labels appear once a version is published.</p>
        </EmptyState>
      ) : (
        <table className="list">
          <TableHead
            caption={`Labels of ${prompt.name}`}
            columns={["Label", "Serves", "Last moved", { label: "Actions", hidden: true }]}
          />
          <tbody>
            {prompt.labels.map((l) => (
              <tr key={l.name} className={l.name === selected ? "selected" : undefined}>
                <td>
                  <LabelBadge name={l.name} isProtected={l.protected} />
                  {l.protected && <span className="muted small"> protected</span>}
                </td>
                <td>
                  <Link to={promptHref(prompt.name, "versions", { version: l.version })} className="semver">
                    {l.version}
                  </Link>
                </td>
                <td>
                  {l.updatedBy}, <Time iso={l.updatedAt} />
                </td>
                <td className="actions">
                  <button type="button" onClick={() => setParams({ label: l.name })} aria-pressed={l.name === selected}>
                    History
                  </button>
                  {l.name !== "latest" && canMoveLabel(session, l.name) && (
                    <>
                      <button
                        type="button"
                        onClick={() => setAction({ kind: "move", label: l.name, current: l.version })}
                      >
                        Move…
                      </button>
                      <button type="button" className="danger" onClick={() => void openRollback(l)}>
                        Roll back…
                      </button>
                    </>
                  )}
                  {l.name !== "latest" && !canMoveLabel(session, l.name) && can(session, "write") && (
                    <span className="muted small">admin keys only</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {can(session, "write") && (
        <p>
          <button type="button" onClick={() => setAction({ kind: "move", label: "", current: null })}>
            Point a new label…
          </button>
        </p>
      )}

      {selected && <RolloutPanel prompt={prompt} label={selected} />}

      {selected && (
        <section aria-labelledby="ledger-title">
          <h2 id="ledger-title">
            Ledger of <LabelBadge name={selected} isProtected={selectedLabel?.protected} />
          </h2>
          {history.isPending ? (
            <Loading label="Loading the ledger" />
          ) : history.isError ? (
            <ErrorBox error={history.error} />
          ) : (
            <ol className="timeline">
              {events.map((e) => (
                <li key={e.id} className={`event event-${e.action}`}>
                  <div className="event-head">
                    <span className="event-action">{LEDGER_ACTION_TEXT[e.action]}</span>{" "}
                    {e.action.startsWith("rollout_") && e.fromVersion === e.toVersion ? (
                      // A rollout's state change leaves the label where it was: say only what it holds.
                      <span className="muted small">
                        holding <span className="semver">{e.toVersion ?? "—"}</span>
                      </span>
                    ) : (
                      <>
                        <span className="semver">{e.fromVersion ?? "—"}</span> →{" "}
                        <span className="semver">{e.toVersion ?? "—"}</span>
                      </>
                    )}
                  </div>
                  <div className="muted small">
                    {e.actor} · <Time iso={e.createdAt} />
                  </div>
                  {e.reason && <blockquote className="reason">{e.reason}</blockquote>}
                  {e.gate && <GateRecordView gate={e.gate} from={e.fromVersion} to={e.toVersion} />}
                </li>
              ))}
            </ol>
          )}
          {history.hasNextPage && (
            <button type="button" onClick={() => history.fetchNextPage()}>
              Older entries
            </button>
          )}
        </section>
      )}

      <Dialog open={action !== null} title={action ? dialogTitle(action) : ""} onClose={() => setAction(null)}>
        {action && (
          <LabelActionForm
            prompt={prompt}
            action={action}
            onCancel={() => setAction(null)}
            onDone={(result) => {
              setAction(null);
              setDone(result);
              setParams({ label: result.label });
            }}
          />
        )}
      </Dialog>
    </div>
  );
}

const dialogTitle = (a: Action) =>
  a.kind === "move"
    ? a.label
      ? `Move ${a.label}`
      : "Point a label at a version"
    : a.undo
      ? `Undo: move ${a.label} back`
      : `Roll back ${a.label}`;

export function LabelActionForm({
  prompt,
  action,
  onCancel,
  onDone,
}: {
  prompt: PromptDetail;
  action: Action;
  onCancel: () => void;
  onDone: (result: { label: string; version: string; previousVersion: string | null }) => void;
}) {
  const queryClient = useQueryClient();
  const session = useSession();
  const versions = useVersions(prompt.name);
  const all = versions.data?.pages.flatMap((p) => p.data.map((v) => v.version)) ?? [];
  const [label, setLabel] = useState(action.label);
  const [version, setVersion] = useState(action.kind === "move" ? (action.to ?? "") : "");
  const [reason, setReason] = useState(
    action.kind === "rollback" ? (action.reason ?? (action.undo ? `Undo: back to ${action.to}` : "")) : "",
  );
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const isRollback = action.kind === "rollback";
  const current = isRollback ? action.current : (prompt.labels.find((l) => l.name === label)?.version ?? null);
  const target = isRollback ? action.to : version || null;
  const reasonRequired = isRollback;
  // A move asks the label's gate first (the server asks it again, under the move's lock); a rollback never does.
  const check = useGateCheck(prompt.name, label, version, !isRollback && version !== current);
  const refusal = refusedVerdict(error);
  const verdict = refusal ?? (check.data?.gated ? check.data : null);
  const gateRefuses = !isRollback && verdict !== null && !verdict.allowed;
  const isAdmin = session.role === "admin";

  /** `override`: an admin's move past the gate's refusal, with the reason the ledger keeps. */
  async function submit(override = false) {
    setBusy(true);
    setError(null);
    try {
      const path = `${promptPath(prompt.name)}/labels/${encodeURIComponent(label)}`;
      const result = isRollback
        ? await api(`${path}/rollback`, LabelMoveResultSchema, {
            method: "POST",
            body: { reason, ...(action.to ? { to: action.to } : {}) },
          })
        : await api(path, LabelMoveResultSchema, {
            method: "PUT",
            body: { version, ...(reason ? { reason } : {}), ...(override ? { override: true } : {}) },
          });
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: ["gate-check"] }),
        queryClient.invalidateQueries({ queryKey: ["prompt", prompt.name] }),
        queryClient.invalidateQueries({ queryKey: ["history", prompt.name] }),
        queryClient.invalidateQueries({ queryKey: ["prompts"] }),
      ]);
      onDone(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      method="dialog"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {action.kind === "move" && action.label === "" && (
        <label>
          Label name
          <input
            value={label}
            onChange={(e) => {
              setLabel(e.target.value.trim());
              setError(null);
            }}
            required
            pattern="[a-z0-9][a-z0-9_.\-]{0,35}"
            placeholder="e.g. staging"
          />
        </label>
      )}
      {action.kind === "move" && (
        <label>
          Version
          <select
            value={version}
            onChange={(e) => {
              setVersion(e.target.value);
              setError(null);
            }}
            required
          >
            <option value="">Choose a version</option>
            {all.map((v) => (
              <option key={v} value={v}>
                {v}
                {v === current ? " (current)" : ""}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        Reason{reasonRequired ? "" : gateRefuses && isAdmin ? " (required to override the gate)" : " (optional)"}
        <textarea
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          required={reasonRequired}
          rows={2}
          placeholder={isRollback ? "e.g. error rate up since 2.0.0" : ""}
        />
      </label>

      <p className="consequence" role="status">
        {label && target ? (
          <>
            <strong>{label}</strong> will serve <strong>{target}</strong>
            {current ? ` (was ${current})` : " (a new label)"} for every client within {CLIENT_TTL_SECONDS} s.
          </>
        ) : isRollback && target === null ? (
          <>
            <strong>{label}</strong> goes back to the version it held before its last move.
          </>
        ) : (
          "Choose a label and a version."
        )}
      </p>
      {refusal ? (
        <ErrorBox
          error={error}
          title="Refused by the gate"
          message={`nothing moved: ${label} still serves ${current ?? "no version"}.`}
        >
          <GateVerdictView verdict={refusal} />
        </ErrorBox>
      ) : (
        error !== null && <ErrorBox error={error} />
      )}
      {!isRollback &&
        !refusal &&
        (check.isFetching && !check.data ? (
          <Loading label="Asking the gate" />
        ) : check.isError ? (
          <ErrorBox error={check.error} title="The gate's verdict could not be read" />
        ) : (
          verdict && <GateVerdictView verdict={verdict} />
        ))}
      {gateRefuses &&
        (isAdmin ? (
          <fieldset className="gate-override">
            <legend>Override the gate</legend>
            <p className="small">
              Moves {label} to {version} anyway. The ledger keeps your reason and what the gate found.
            </p>
            <button
              type="button"
              className="danger"
              disabled={busy || reason.trim() === ""}
              onClick={() => void submit(true)}
            >
              Override the gate
            </button>
            {reason.trim() === "" && <span className="muted small"> Give a reason first.</span>}
          </fieldset>
        ) : (
          <p className="muted small">Only an admin key may override the gate, with a reason.</p>
        ))}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button
          type="submit"
          className={isRollback ? "danger primary" : "primary"}
          disabled={
            busy ||
            !label ||
            (!isRollback && !version) ||
            (reasonRequired && reason.trim() === "") ||
            target === current
          }
        >
          {busy ? "Working…" : isRollback ? (action.undo ? "Undo" : `Roll back ${label}`) : `Move ${label || "label"}`}
        </button>
      </div>
    </form>
  );
}
