import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import {
  CreatedKeySchema,
  CreatedProjectSchema,
  KeyListSchema,
  LABEL_NAME_PATTERN,
  ProjectListSchema,
  ProjectViewSchema,
  type KeyView,
  type Role,
} from "@promptreg/client/contract";
import { api } from "../api";
import { GatesSettings } from "../gates/GatesSettings";
import { ConfirmForm, CopyButton, Dialog, ErrorBox, Icon, Loading, TableHead, Time } from "../components/ui";
import { isInstanceAdmin, useRefreshSession, useSession } from "../session";

export default function Settings() {
  const session = useSession();
  return (
    <section>
      <h1>Settings</h1>
      <p>
        Signed in as <strong>{session.keyName}</strong> ({session.role}) in project{" "}
        <strong>{session.projectName}</strong>. The session ends <Time iso={session.expiresAt} />, or at once if its key
        is revoked.
      </p>
      {session.role === "admin" ? (
        <>
          <Keys />
          <ProtectedLabels />
          {isInstanceAdmin(session) && <Projects />}
        </>
      ) : (
        <p className="muted">Keys, protected labels and projects are managed with an admin key.</p>
      )}
      <GatesSettings />
    </section>
  );
}

function SecretOnce({ secret, what }: { secret: string; what: string }) {
  return (
    <div className="secret" role="status">
      <p>
        <strong>Copy {what} now:</strong> it is shown only this once (the server keeps only its hash).
      </p>
      <div className="secret-row">
        <code className="secret-value">{secret}</code>
        <CopyButton text={secret} label="Copy key" />
      </div>
    </div>
  );
}

function Keys() {
  const session = useSession();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ["keys"], queryFn: () => api("/keys", KeyListSchema) });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("read");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [revoking, setRevoking] = useState<KeyView | null>(null);

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form
        className="row"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const key = await api("/keys", CreatedKeySchema, { method: "POST", body: { name, role } });
            setCreated(key.key);
            setName("");
            await queryClient.invalidateQueries({ queryKey: ["keys"] });
          } catch (err) {
            setError(err);
          }
        }}
      >
        <label className="grow">
          Key name
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={100}
            placeholder="e.g. checkout-service"
          />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="read">read: resolve, render, look</option>
            <option value="write">write: also publish and move labels</option>
            <option value="admin">admin: also keys and protected labels</option>
          </select>
        </label>
        <button type="submit" className="primary align-end">
          Create key
        </button>
      </form>
      {error !== null && <ErrorBox error={error} />}
      {created && <SecretOnce secret={created} what="the new key" />}
      {keys.isPending ? (
        <Loading label="Loading keys" />
      ) : keys.isError ? (
        <ErrorBox error={keys.error} />
      ) : (
        <table className="list">
          <TableHead
            caption="API keys"
            columns={["Name", "Role", "Starts with", "Created", "Last used", { label: "Actions", hidden: true }]}
          />
          <tbody>
            {keys.data.data.map((k) => (
              <tr key={k.id}>
                <td>
                  {k.name}
                  {k.name === session.keyName && <span className="muted small"> (probably this session's)</span>}
                </td>
                <td>
                  <span className={`role role-${k.role}`}>{k.role}</span>
                </td>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>
                  <Time iso={k.createdAt} />
                </td>
                <td>{k.lastUsedAt ? <Time iso={k.lastUsedAt} /> : <span className="muted">never</span>}</td>
                <td className="actions">
                  <button type="button" className="danger" onClick={() => setRevoking(k)}>
                    Revoke…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Dialog open={revoking !== null} title={`Revoke ${revoking?.name ?? ""}`} onClose={() => setRevoking(null)}>
        {revoking && <RevokeForm keyView={revoking} onDone={() => setRevoking(null)} />}
      </Dialog>
    </section>
  );
}

function RevokeForm({ keyView, onDone }: { keyView: KeyView; onDone: () => void }) {
  const queryClient = useQueryClient();
  return (
    <ConfirmForm
      consequence={
        <>
          Every application using <code>{keyView.prefix}…</code> ({keyView.name}, {keyView.role}) gets 401 from now on,
          and its console sessions end. This cannot be undone.
        </>
      }
      confirm={`Revoke ${keyView.name}`}
      onConfirm={async () => {
        await api(`/keys/${keyView.id}`, null, { method: "DELETE" });
        await queryClient.invalidateQueries({ queryKey: ["keys"] });
      }}
      onDone={onDone}
    />
  );
}

function ProtectedLabels() {
  const session = useSession();
  const refresh = useRefreshSession();
  const queryClient = useQueryClient();
  const [labels, setLabels] = useState(session.protectedLabels);
  const [adding, setAdding] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const changed = [...labels].sort().join() !== [...session.protectedLabels].sort().join();

  async function save(next: string[]) {
    setError(null);
    setSaved(false);
    try {
      const project = await api(`/projects/${encodeURIComponent(session.projectName)}`, ProjectViewSchema, {
        method: "PATCH",
        body: { protectedLabels: next },
      });
      setLabels(project.protectedLabels);
      await refresh();
      await queryClient.invalidateQueries({ queryKey: ["prompt"] });
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="protected-title">
      <h2 id="protected-title">Protected labels</h2>
      <p className="muted">Only admin keys may move or delete these labels in project {session.projectName}.</p>
      <ul className="chips" aria-label="Protected labels">
        {labels.map((l) => (
          <li key={l}>
            <span className="badge badge-accent">
              <Icon name="lock" /> {l}
            </span>
            <button
              type="button"
              className="small"
              onClick={() => setLabels(labels.filter((x) => x !== l))}
              aria-label={`Unprotect ${l}`}
            >
              ×
            </button>
          </li>
        ))}
        {labels.length === 0 && <li className="muted">none: any write key moves any label</li>}
      </ul>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (LABEL_NAME_PATTERN.test(adding) && !labels.includes(adding)) setLabels([...labels, adding]);
          setAdding("");
        }}
      >
        <label>
          Label
          <input
            value={adding}
            onChange={(e) => setAdding(e.target.value.trim())}
            placeholder="e.g. staging"
            pattern="[a-z0-9][a-z0-9_.\-]{0,35}"
          />
        </label>
        <button type="submit" className="align-end">
          Add
        </button>
        <button type="button" className="primary align-end" disabled={!changed} onClick={() => void save(labels)}>
          Save protected labels
        </button>
      </form>
      {saved && !changed && <p role="status">Saved.</p>}
      {error !== null && <ErrorBox error={error} />}
    </section>
  );
}

function Projects() {
  const queryClient = useQueryClient();
  const projects = useQuery({ queryKey: ["projects"], queryFn: () => api("/projects", ProjectListSchema) });
  const [name, setName] = useState("");
  const [created, setCreated] = useState<{ project: string; key: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <section aria-labelledby="projects-title">
      <h2 id="projects-title">Projects</h2>
      <p className="muted">
        Each project has its own prompts, labels, keys and traces. Its first admin key is shown once, here.
      </p>
      <form
        className="row"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const result = await api("/projects", CreatedProjectSchema, { method: "POST", body: { name } });
            setCreated({ project: result.project.name, key: result.adminKey.key });
            setName("");
            await queryClient.invalidateQueries({ queryKey: ["projects"] });
          } catch (err) {
            setError(err);
          }
        }}
      >
        <label className="grow">
          Project name
          <input
            value={name}
            onChange={(e) => setName(e.target.value.trim())}
            required
            pattern="[a-z0-9][a-z0-9_\-]{0,62}"
            placeholder="e.g. team-b"
          />
        </label>
        <button type="submit" className="primary align-end">
          Create project
        </button>
      </form>
      {error !== null && <ErrorBox error={error} />}
      {created && <SecretOnce secret={created.key} what={`the admin key of ${created.project}`} />}
      {projects.isPending ? (
        <Loading label="Loading projects" />
      ) : projects.isError ? (
        <ErrorBox error={projects.error} />
      ) : (
        <table className="list">
          <TableHead caption="Projects" columns={["Name", "Protected labels", "Created"]} />
          <tbody>
            {projects.data.data.map((p) => (
              <tr key={p.id}>
                <td>{p.name}</td>
                <td>{p.protectedLabels.join(", ") || <span className="muted">none</span>}</td>
                <td>
                  <Time iso={p.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
