// /datasets: the project's datasets (and a form to create one); /datasets/<name>: one dataset's items of a chosen
// version (?version=, default the latest), paged with the server's cursor (?cursor=), with the changes a write key may
// make: add or edit an item, delete one, import a JSONL or CSV file. Every change makes the dataset's next version,
// and the page then shows that version with a line saying what the change did.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, Route, Routes, useNavigate, useParams, useSearchParams } from "react-router";
import {
  DatasetChangeSchema,
  DatasetItemPageSchema,
  DatasetSchema,
  DatasetVersionListSchema,
  type Dataset,
  type DatasetChange,
  type DatasetItem,
} from "@promptreg/client/contract";
import { ApiError, api, url } from "../api";
import { Dialog, EmptyState, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { JsonCell, RefusalBox, jsonText } from "../datasets/parts";
import { datasetHref, datasetPath, useDatasets } from "../datasets/queries";
import "../datasets/datasets.css";
import { int } from "../observe/format";
import "../observe/observe.css";
import { can, useSession } from "../session";

const PAGE_SIZE = 50;

export default function DatasetsRoute() {
  return (
    <Routes>
      <Route index element={<DatasetList />} />
      <Route path=":name" element={<DatasetPage />} />
    </Routes>
  );
}

function DatasetList() {
  const session = useSession();
  const list = useDatasets();
  const writer = can(session, "write");
  return (
    <section className="datasets-page">
      <div className="page-head">
        <h1>Datasets</h1>
      </div>
      <p className="muted">
        Named sets of test cases (variables, and the output expected) that experiments run prompt versions on. Every
        change makes a new version; earlier versions stay readable.
      </p>
      {writer && <CreateDataset />}
      {list.isPending ? (
        <Loading label="Loading datasets" />
      ) : list.isError ? (
        <ErrorBox error={list.error} />
      ) : list.data.data.length === 0 ? (
        <EmptyState title="No datasets yet">
          <p>
            {writer
              ? "Create one above, then add items, import a JSONL or CSV file, or add spans from the traces list."
              : "Creating one needs a key with the write role."}{" "}
            The API: <code>POST /api/v1/datasets</code>.
          </p>
        </EmptyState>
      ) : (
        <div className="table-scroll">
          <table className="list dataset-table">
            <TableHead
              caption="Datasets"
              columns={[
                "Name",
                "Description",
                { label: "Latest version", num: true },
                { label: "Items", num: true },
                "Changed",
              ]}
            />
            <tbody>
              {list.data.data.map((d) => (
                <tr key={d.name} data-testid={`dataset-${d.name}`}>
                  <td>
                    <Link to={datasetHref(d.name)} className="prompt-name">
                      {d.name}
                    </Link>
                  </td>
                  <td>{d.description || <span className="muted">—</span>}</td>
                  <td className="num">{d.version}</td>
                  <td className="num">{int(d.itemCount)}</td>
                  <td>
                    <Time iso={d.updatedAt} />
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

function CreateDataset() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const create = useMutation({
    mutationFn: (body: { name: string; description: string }) =>
      api("/datasets", DatasetSchema, { method: "POST", body }),
    onSuccess: async (d) => {
      await queryClient.invalidateQueries({ queryKey: ["datasets"] });
      navigate(datasetHref(d.name), { state: { created: true } });
    },
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    create.mutate({
      name: String(form.get("name") ?? "").trim(),
      description: String(form.get("description") ?? "").trim(),
    });
  };
  return (
    <form className="create-dataset row" aria-label="New dataset" onSubmit={submit}>
      <label>
        Name
        <input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}" size={20} autoComplete="off" />
      </label>
      <label className="grow">
        Description
        <input name="description" maxLength={2000} autoComplete="off" />
      </label>
      <button type="submit" className="primary" disabled={create.isPending}>
        Create dataset
      </button>
      {create.isError && <RefusalBox error={create.error} title="Not created" />}
    </form>
  );
}

function useDatasetChanged(name: string) {
  const queryClient = useQueryClient();
  return async () => {
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: ["datasets"] }),
      queryClient.invalidateQueries({ queryKey: ["dataset", name] }),
      queryClient.invalidateQueries({ queryKey: ["dataset-versions", name] }),
      queryClient.invalidateQueries({ queryKey: ["dataset-items", name] }),
    ]);
  };
}

/** What a change did, in a line: "Version 4: 1 added, 2 replaced." */
export function changeText(c: DatasetChange): string {
  const parts = [
    c.added > 0 && `${int(c.added)} added`,
    c.replaced > 0 && `${int(c.replaced)} replaced`,
    c.removed > 0 && `${int(c.removed)} removed`,
  ].filter(Boolean);
  return `${c.dataset.name} is at version ${c.dataset.version}: ${parts.length ? parts.join(", ") : "nothing changed"} (${int(c.dataset.itemCount)} items).`;
}

function DatasetPage() {
  const { name = "" } = useParams();
  const session = useSession();
  const navigate = useNavigate();
  const writer = can(session, "write");
  const [params, setParams] = useSearchParams();
  const [change, setChange] = useState<DatasetChange | null>(null);
  const [editing, setEditing] = useState<DatasetItem | "new" | null>(null);
  const [removing, setRemoving] = useState<DatasetItem | null>(null);
  const [deleting, setDeleting] = useState(false);
  const changed = useDatasetChanged(name);

  const dataset = useQuery({ queryKey: ["dataset", name], queryFn: () => api(datasetPath(name), DatasetSchema) });
  const versions = useQuery({
    queryKey: ["dataset-versions", name],
    queryFn: () => api(`${datasetPath(name)}/versions`, DatasetVersionListSchema),
  });
  const wanted = params.get("version") ?? undefined;
  const cursor = params.get("cursor") ?? undefined;
  const items = useQuery({
    queryKey: ["dataset-items", name, wanted, cursor],
    queryFn: () =>
      api(`${datasetPath(name)}/items`, DatasetItemPageSchema, {
        query: { version: wanted, cursor, limit: PAGE_SIZE },
      }),
    enabled: dataset.isSuccess && dataset.data.version > 0,
  });

  /** After a change: its line, and the latest version (the one it made) from the first page. */
  const onChanged = async (c: DatasetChange) => {
    setChange(c);
    setParams({}, { replace: true });
    await changed();
  };

  if (dataset.isPending) return <Loading label={`Loading ${name}`} />;
  if (dataset.isError)
    return (
      <section>
        <h1>{name}</h1>
        <ErrorBox error={dataset.error} />
        {dataset.error instanceof ApiError && dataset.error.status === 404 && (
          <p>
            <Link to="/datasets">Back to the datasets</Link>
          </p>
        )}
      </section>
    );
  const d = dataset.data;
  const shown = items.data?.version ?? (wanted ? Number(wanted) : d.version);
  const latest = shown === d.version;
  const setVersion = (v: string) => setParams(v === String(d.version) ? {} : { version: v });
  const pageLink = (next: string | null) => {
    const p = new URLSearchParams(params);
    if (next) p.set("cursor", next);
    else p.delete("cursor");
    return `?${p}`;
  };
  const exportHref = (format: "jsonl" | "csv") =>
    url(`${datasetPath(name)}/export`, { format, version: latest ? undefined : shown });

  return (
    <section className="dataset-page">
      <nav className="breadcrumbs" aria-label="Back">
        <Link to="/datasets">Datasets</Link> / {d.name}
      </nav>
      <div className="page-head">
        <h1>{d.name}</h1>
        <div className="actions">
          {writer && (
            <Link className="button" to={`/experiments/-/new?${new URLSearchParams({ dataset: d.name })}`}>
              Run an experiment
            </Link>
          )}
          {writer && (
            <button type="button" className="danger small" onClick={() => setDeleting(true)}>
              Delete dataset…
            </button>
          )}
        </div>
      </div>
      {d.description && <p>{d.description}</p>}
      <dl className="facts">
        <dt>Latest version</dt>
        <dd>
          {d.version} · {int(d.itemCount)} items · changed <Time iso={d.updatedAt} />
        </dd>
      </dl>
      {change && (
        <p role="status" className="notice" data-testid="dataset-change">
          {changeText(change)}
        </p>
      )}

      {writer && <ImportForm dataset={d} onChanged={onChanged} />}

      <section aria-labelledby="items-title">
        <div className="section-head">
          <h2 id="items-title">Items</h2>
          <div className="row">
            {versions.data && versions.data.data.length > 0 && (
              <label className="inline">
                Version
                <select value={String(shown)} onChange={(e) => setVersion(e.target.value)}>
                  {versions.data.data.map((v) => (
                    <option key={v.version} value={v.version}>
                      {v.version}
                      {v.version === d.version ? " (latest)" : ""} · {v.source} · {int(v.itemCount)} items
                    </option>
                  ))}
                </select>
              </label>
            )}
            {d.version > 0 && (
              <>
                <a className="button small" href={exportHref("jsonl")} download>
                  Export JSONL
                </a>
                <a className="button small" href={exportHref("csv")} download>
                  Export CSV
                </a>
              </>
            )}
            {writer && (
              <button type="button" className="primary small" onClick={() => setEditing("new")}>
                Add item
              </button>
            )}
          </div>
        </div>
        {versions.isError && <ErrorBox error={versions.error} />}
        {d.version === 0 ? (
          <EmptyState title="No items yet">
            <p>
              Add an item, import a file (JSONL: one <code>{'{"variables": {…}, "expected": …}'}</code> a line; CSV: a
              column a variable), or select spans on the <Link to="/traces">traces</Link> page and add them here.
            </p>
          </EmptyState>
        ) : items.isPending ? (
          <Loading label="Loading items" />
        ) : items.isError ? (
          <ErrorBox error={items.error} />
        ) : items.data.data.length === 0 ? (
          <p className="muted">{cursor ? "No more items." : `Version ${shown} has no items.`}</p>
        ) : (
          <>
            {!latest && (
              <p className="muted small">
                Version {shown} as it was; changes are made to the latest version ({d.version}).
              </p>
            )}
            <div className="table-scroll">
              <table className="list item-table">
                <TableHead
                  caption={`Items of version ${shown}`}
                  columns={[
                    "Id",
                    "Variables",
                    "Expected",
                    "Metadata",
                    { label: "Since version", num: true },
                    ...(writer && latest ? [{ label: "Actions", hidden: true }] : []),
                  ]}
                />
                <tbody>
                  {items.data.data.map((item) => (
                    <tr key={item.id} data-testid={`item-${item.id}`}>
                      <td>
                        <code>{item.id}</code>
                      </td>
                      <td>
                        <JsonCell value={item.variables} />
                      </td>
                      <td>
                        <JsonCell value={item.expected} />
                      </td>
                      <td>
                        <JsonCell value={Object.keys(item.metadata).length ? item.metadata : null} />
                      </td>
                      <td className="num">{item.version}</td>
                      {writer && latest && (
                        <td className="actions">
                          <button
                            type="button"
                            className="small"
                            aria-label={`Edit item ${item.id}`}
                            onClick={() => setEditing(item)}
                          >
                            Edit
                          </button>
                          <button
                            type="button"
                            className="small danger"
                            aria-label={`Delete item ${item.id}`}
                            onClick={() => setRemoving(item)}
                          >
                            Delete
                          </button>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="pager">
              {cursor && (
                <Link className="button" to={pageLink(null)}>
                  First page
                </Link>
              )}
              {items.data.nextCursor && (
                <Link className="button" to={pageLink(items.data.nextCursor)}>
                  Next page
                </Link>
              )}
            </div>
          </>
        )}
      </section>

      <Dialog
        open={editing !== null}
        title={editing === "new" ? `Add an item to ${d.name}` : `Edit item ${editing?.id ?? ""}`}
        onClose={() => setEditing(null)}
      >
        {editing !== null && (
          <ItemForm
            dataset={d}
            item={editing === "new" ? null : editing}
            onCancel={() => setEditing(null)}
            onDone={async (c) => {
              setEditing(null);
              await onChanged(c);
            }}
          />
        )}
      </Dialog>
      <Dialog open={removing !== null} title={`Delete item ${removing?.id ?? ""}`} onClose={() => setRemoving(null)}>
        {removing && (
          <RemoveItemForm
            dataset={d}
            item={removing}
            onCancel={() => setRemoving(null)}
            onDone={async (c) => {
              setRemoving(null);
              await onChanged(c);
            }}
          />
        )}
      </Dialog>
      <Dialog open={deleting} title={`Delete ${d.name}`} onClose={() => setDeleting(false)}>
        {deleting && (
          <DeleteDatasetForm dataset={d} onCancel={() => setDeleting(false)} onDone={() => navigate("/datasets")} />
        )}
      </Dialog>
    </section>
  );
}

/** The Content-Type an import is sent with, by the file's name (browsers often give no type to .jsonl). */
const importType = (file: File) =>
  /\.csv$/i.test(file.name) || file.type === "text/csv" ? "text/csv" : "application/x-ndjson";

function ImportForm({ dataset: d, onChanged }: { dataset: Dataset; onChanged: (c: DatasetChange) => Promise<void> }) {
  const [file, setFile] = useState<File | null>(null);
  const [replace, setReplace] = useState(false);
  const [formKey, setFormKey] = useState(0);
  const upload = useMutation({
    mutationFn: (f: File) =>
      api(`${datasetPath(d.name)}/import`, DatasetChangeSchema, {
        method: "POST",
        query: { replace: replace ? "true" : undefined },
        raw: { data: f, contentType: importType(f) },
      }),
    onSuccess: async (c) => {
      setFile(null);
      setFormKey((k) => k + 1);
      await onChanged(c);
    },
  });
  return (
    <details className="import-panel">
      <summary>Import a file</summary>
      <form
        key={formKey}
        className="row"
        aria-label="Import items"
        onSubmit={(e) => {
          e.preventDefault();
          if (file) upload.mutate(file);
        }}
      >
        <label>
          JSONL or CSV file
          <input
            type="file"
            accept=".jsonl,.ndjson,.csv,application/x-ndjson,text/csv"
            onChange={(e) => {
              setFile(e.target.files?.[0] ?? null);
              upload.reset();
            }}
          />
        </label>
        <label className="inline">
          <input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} /> Replace every item
        </label>
        <button type="submit" disabled={!file || upload.isPending}>
          {upload.isPending ? "Importing…" : "Import"}
        </button>
      </form>
      <p className="muted small">
        The file is checked whole before anything is stored: items with an id replace the item of that id, the others
        are added{replace ? ", and every item not in the file is removed" : ""}. Version {d.version + 1} is made.
      </p>
      {upload.isError && <RefusalBox error={upload.error} title="Nothing imported" />}
    </details>
  );
}

type JsonField = "variables" | "expected" | "metadata";

function ItemForm({
  dataset: d,
  item,
  onCancel,
  onDone,
}: {
  dataset: Dataset;
  item: DatasetItem | null;
  onCancel: () => void;
  onDone: (c: DatasetChange) => Promise<void>;
}) {
  const [id, setId] = useState(item?.id ?? "");
  const [variables, setVariables] = useState(item ? JSON.stringify(item.variables, null, 2) : "{\n  \n}");
  const expectedIsText = item === null || item.expected === null || typeof item.expected === "string";
  const [expectedJson, setExpectedJson] = useState(!expectedIsText);
  const [expected, setExpected] = useState(
    item === null || item.expected === null
      ? ""
      : expectedIsText
        ? String(item.expected)
        : JSON.stringify(item.expected, null, 2),
  );
  const [metadata, setMetadata] = useState(
    item && Object.keys(item.metadata).length ? JSON.stringify(item.metadata, null, 2) : "",
  );
  const [invalid, setInvalid] = useState<Partial<Record<JsonField, string>>>({});
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      api(`${datasetPath(d.name)}/items`, DatasetChangeSchema, { method: "POST", body: { items: [body] } }),
    onSuccess: onDone,
  });

  const parse = (text: string, object: boolean): unknown => {
    const value: unknown = JSON.parse(text);
    if (object && (typeof value !== "object" || value === null || Array.isArray(value)))
      throw new Error("must be a JSON object");
    return value;
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems: Partial<Record<JsonField, string>> = {};
    const body: Record<string, unknown> = {};
    if (id.trim()) body.id = id.trim();
    const read = (field: JsonField, text: string, object: boolean) => {
      try {
        body[field] = parse(text, object);
      } catch (err) {
        problems[field] = err instanceof Error ? err.message : String(err);
      }
    };
    read("variables", variables, true);
    if (expected.trim() !== "") {
      if (expectedJson) read("expected", expected, false);
      else body.expected = expected;
    }
    if (metadata.trim() !== "") read("metadata", metadata, true);
    setInvalid(problems);
    if (Object.keys(problems).length === 0) save.mutate(body);
  };
  const fieldError = (field: JsonField) =>
    invalid[field] && (
      <p id={`item-${field}-error`} className="field-error">
        {invalid[field]}
      </p>
    );
  return (
    <form className="item-form" onSubmit={submit}>
      <div className="field">
        <label htmlFor="item-id">Id</label>
        <input
          id="item-id"
          value={id}
          onChange={(e) => setId(e.target.value)}
          disabled={item !== null}
          placeholder="made by the server when empty"
          autoComplete="off"
        />
      </div>
      <div className={`field${invalid.variables ? " invalid" : ""}`}>
        <label htmlFor="item-variables">Variables (a JSON object)</label>
        <textarea
          id="item-variables"
          rows={5}
          value={variables}
          onChange={(e) => setVariables(e.target.value)}
          aria-invalid={Boolean(invalid.variables)}
          aria-describedby={invalid.variables ? "item-variables-error" : undefined}
          spellCheck={false}
        />
        {fieldError("variables")}
      </div>
      <div className={`field${invalid.expected ? " invalid" : ""}`}>
        <label htmlFor="item-expected">Expected output</label>
        <textarea
          id="item-expected"
          rows={3}
          value={expected}
          onChange={(e) => setExpected(e.target.value)}
          aria-invalid={Boolean(invalid.expected)}
          aria-describedby={invalid.expected ? "item-expected-error" : undefined}
          placeholder="none"
          spellCheck={false}
        />
        <label className="inline small">
          <input type="checkbox" checked={expectedJson} onChange={(e) => setExpectedJson(e.target.checked)} /> A JSON
          value (else text)
        </label>
        {fieldError("expected")}
      </div>
      <div className={`field${invalid.metadata ? " invalid" : ""}`}>
        <label htmlFor="item-metadata">Metadata (a JSON object, optional)</label>
        <textarea
          id="item-metadata"
          rows={2}
          value={metadata}
          onChange={(e) => setMetadata(e.target.value)}
          aria-invalid={Boolean(invalid.metadata)}
          aria-describedby={invalid.metadata ? "item-metadata-error" : undefined}
          spellCheck={false}
        />
        {fieldError("metadata")}
      </div>
      <p className="consequence small">
        Saving makes version {d.version + 1} of {d.name}; version {d.version} stays as it is.
      </p>
      {save.isError && <RefusalBox error={save.error} title="Not saved" />}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={save.isPending}>
          {item ? "Save item" : "Add item"}
        </button>
      </div>
    </form>
  );
}

function RemoveItemForm({
  dataset: d,
  item,
  onCancel,
  onDone,
}: {
  dataset: Dataset;
  item: DatasetItem;
  onCancel: () => void;
  onDone: (c: DatasetChange) => Promise<void>;
}) {
  const remove = useMutation({
    mutationFn: () =>
      api(`${datasetPath(d.name)}/items/${encodeURIComponent(item.id)}`, DatasetChangeSchema, { method: "DELETE" }),
    onSuccess: onDone,
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        remove.mutate();
      }}
    >
      <p className="consequence">
        Version {d.version + 1} of {d.name} will not have item <code>{item.id}</code> ({jsonText(item.variables)});
        version {d.version} and earlier keep it, and so do the experiments that ran on them.
      </p>
      {remove.isError && <RefusalBox error={remove.error} title="Not deleted" />}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="danger primary" disabled={remove.isPending}>
          Delete item {item.id}
        </button>
      </div>
    </form>
  );
}

function DeleteDatasetForm({
  dataset: d,
  onCancel,
  onDone,
}: {
  dataset: Dataset;
  onCancel: () => void;
  onDone: () => void;
}) {
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api(datasetPath(d.name), null, { method: "DELETE" }),
    onSuccess: async () => {
      queryClient.removeQueries({ queryKey: ["dataset", d.name] });
      await queryClient.invalidateQueries({ queryKey: ["datasets"] });
      onDone();
    },
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        remove.mutate();
      }}
    >
      <p className="consequence">
        {d.name} goes with all {d.version === 1 ? "its version" : `its ${d.version} versions`} and their items (
        {int(d.itemCount)} in the latest). This cannot be undone; export it first to keep a copy.
      </p>
      {remove.isError && <RefusalBox error={remove.error} title="Not deleted" />}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="danger primary" disabled={remove.isPending}>
          Delete {d.name}
        </button>
      </div>
    </form>
  );
}
