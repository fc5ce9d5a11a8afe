// Spans, newest first, filtered on the server (prompt, version, label, status, failed, session, user, model, source,
// time) and paged with its cursor: the page never holds more than one page of spans. Every filter is in the address,
// so a compare page's "failing spans" link and a pasted URL open the same list.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api } from "../api";
import { Badge, Dialog, EmptyState, ErrorBox, Loading, TableHead, Time } from "../components/ui";
import { int, ms, usd } from "../observe/format";
import {
  DatasetChangeSchema,
  PROMPT_SOURCES,
  SpanListSchema,
  type DatasetChange,
  type Span,
} from "@promptreg/client/contract";
import { RefusalBox } from "../datasets/parts";
import { datasetHref, datasetPath, useDatasets } from "../datasets/queries";
import "../datasets/datasets.css";
import "../observe/observe.css";
import { can, useSession } from "../session";
import { promptHref } from "./PromptRoute";

const TEXT_FILTERS = [
  ["prompt", "Prompt"],
  ["version", "Version"],
  ["label", "Label"],
  ["model", "Model"],
  ["session", "Session"],
  ["user", "User"],
] as const;
const FILTERS = [
  ...TEXT_FILTERS.map(([k]) => k),
  "status",
  "failed",
  "source",
  "spanKind",
  "linkStatus",
  "from",
  "to",
] as const;
const PAGE_SIZE = 50;

/** datetime-local shows local time without a zone; the address keeps ISO instants. */
const toLocalInput = (iso: string | null) => {
  if (!iso || Number.isNaN(Date.parse(iso))) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
const fromLocalInput = (value: string) => (value ? new Date(value).toISOString() : "");

type SpanRef = Pick<Span, "traceId" | "spanId">;
const spanKey = (s: SpanRef) => `${s.traceId}/${s.spanId}`;

export function traceHref(span: Pick<Span, "traceId" | "spanId">): string {
  return `/traces/${span.traceId}?span=${span.spanId}`;
}

export default function Traces() {
  const [params, setParams] = useSearchParams();
  const cursor = params.get("cursor") ?? undefined;
  const query: Record<string, string | undefined> = { limit: String(PAGE_SIZE), cursor };
  for (const k of FILTERS) query[k] = params.get(k) ?? undefined;
  const spans = useQuery({
    queryKey: ["spans", query],
    queryFn: () => api("/spans", SpanListSchema, { query }),
  });
  const writer = can(useSession(), "write");
  // Spans chosen to add to a dataset, kept across pages and filters until they are added or cleared.
  const [selected, setSelected] = useState<Map<string, SpanRef>>(() => new Map());
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState<DatasetChange | null>(null);
  const select = (refs: SpanRef[], on: boolean) =>
    setSelected((current) => {
      const next = new Map(current);
      for (const r of refs) {
        if (on) next.set(spanKey(r), { traceId: r.traceId, spanId: r.spanId });
        else next.delete(spanKey(r));
      }
      return next;
    });

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const next = new URLSearchParams();
    for (const k of FILTERS) {
      // Filters the form does not show (spanKind, linkStatus) are kept as they came.
      const raw = form.has(k) ? String(form.get(k) ?? "").trim() : (params.get(k) ?? "");
      const value = k === "from" || k === "to" ? (form.has(k) ? fromLocalInput(raw) : raw) : raw;
      if (value) next.set(k, value);
    }
    setParams(next);
  };
  const hidden = (["spanKind", "linkStatus"] as const).filter((k) => params.get(k));

  return (
    <section className="traces-page">
      <div className="page-head">
        <h1>Traces</h1>
        <p className="muted">Spans, newest first; open one to see its whole trace.</p>
      </div>
      <form className="span-filters" onSubmit={apply} aria-label="Filter spans" key={params.toString()}>
        {TEXT_FILTERS.map(([k, title]) => (
          <label key={k}>
            {title}
            <input name={k} defaultValue={params.get(k) ?? ""} size={12} />
          </label>
        ))}
        <label>
          Status
          <select name="status" defaultValue={params.get("status") ?? ""}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="error">error</option>
            <option value="unset">unset</option>
          </select>
        </label>
        <label>
          Failed
          <select name="failed" defaultValue={params.get("failed") ?? ""}>
            <option value="">any</option>
            <option value="true">failed</option>
            <option value="false">not failed</option>
          </select>
        </label>
        <label>
          Source
          <select name="source" defaultValue={params.get("source") ?? ""}>
            <option value="">any</option>
            {[...PROMPT_SOURCES, "unspecified"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="datetime-local" name="from" defaultValue={toLocalInput(params.get("from"))} />
        </label>
        <label>
          To
          <input type="datetime-local" name="to" defaultValue={toLocalInput(params.get("to"))} />
        </label>
        <div className="filter-actions">
          <button type="submit" className="primary">
            Filter
          </button>
          <Link to="/traces" className="button">
            Clear
          </Link>
        </div>
        {hidden.length > 0 && (
          <p className="muted small filter-note">Also: {hidden.map((k) => `${k} = ${params.get(k)}`).join(", ")}</p>
        )}
      </form>

      {spans.isPending ? (
        <Loading label="Loading spans" />
      ) : spans.isError ? (
        <ErrorBox error={spans.error} />
      ) : spans.data.data.length === 0 ? (
        <EmptyState title={cursor ? "No older spans" : "No spans match"}>
          {params.size > 0 ? (
            <p>Widen the filters or the time range.</p>
          ) : (
            <p>
              No traces yet. Point an OpenTelemetry exporter at <code>{window.location.origin}/v1/traces</code> with an
              API key, and link LLM calls to a version with <code>prompt.trace(() =&gt; …)</code> from{" "}
              <code>@promptreg/client</code>.
            </p>
          )}
        </EmptyState>
      ) : (
        <>
          {writer && (
            <div className="selection-bar" role="group" aria-label="Selected spans">
              <span className="muted" data-testid="selected-count">
                {selected.size === 0 ? "Select spans to add them to a dataset." : `${int(selected.size)} selected`}
              </span>
              <button type="button" disabled={selected.size === 0} onClick={() => setAdding(true)}>
                Add to dataset…
              </button>
              {selected.size > 0 && (
                <button type="button" className="link-button" onClick={() => setSelected(new Map())}>
                  Clear selection
                </button>
              )}
            </div>
          )}
          {added && (
            <p role="status" className="notice" data-testid="added-notice">
              <span>
                Added {int(added.added)} {added.added === 1 ? "span" : "spans"}
                {added.replaced > 0 ? ` (and replaced ${int(added.replaced)})` : ""} to{" "}
                <Link to={datasetHref(added.dataset.name)}>{added.dataset.name}</Link>: version {added.dataset.version},{" "}
                {int(added.dataset.itemCount)} items.
              </span>
            </p>
          )}
          <SpanTable spans={spans.data.data} selected={writer ? selected : null} onSelect={select} />
          <div className="pager">
            {cursor && (
              <Link
                className="button"
                to={`?${(() => {
                  const p = new URLSearchParams(params);
                  p.delete("cursor");
                  return p;
                })()}`}
              >
                Newest
              </Link>
            )}
            {spans.data.nextCursor && (
              <Link
                className="button"
                to={`?${(() => {
                  const p = new URLSearchParams(params);
                  p.set("cursor", spans.data.nextCursor!);
                  return p;
                })()}`}
              >
                Older
              </Link>
            )}
          </div>
        </>
      )}
      <Dialog open={adding} title="Add spans to a dataset" onClose={() => setAdding(false)}>
        {adding && (
          <AddToDatasetForm
            spans={[...selected.values()]}
            onCancel={() => setAdding(false)}
            onDone={(change) => {
              setAdding(false);
              setAdded(change);
              setSelected(new Map());
            }}
          />
        )}
      </Dialog>
    </section>
  );
}

/** The chosen spans as items of a dataset: their template variables, and their answer as expected if asked. */
function AddToDatasetForm({
  spans,
  onCancel,
  onDone,
}: {
  spans: SpanRef[];
  onCancel: () => void;
  onDone: (change: DatasetChange) => void;
}) {
  const queryClient = useQueryClient();
  const datasets = useDatasets();
  const [name, setName] = useState("");
  const [expected, setExpected] = useState(true);
  const add = useMutation({
    mutationFn: () =>
      api(`${datasetPath(name)}/items/from-spans`, DatasetChangeSchema, {
        method: "POST",
        body: { spans, expected },
      }),
    onSuccess: async (change) => {
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: ["datasets"] }),
        queryClient.invalidateQueries({ queryKey: ["dataset", change.dataset.name] }),
        queryClient.invalidateQueries({ queryKey: ["dataset-versions", change.dataset.name] }),
        queryClient.invalidateQueries({ queryKey: ["dataset-items", change.dataset.name] }),
      ]);
      onDone(change);
    },
  });
  const list = datasets.data?.data ?? [];
  const chosen = list.find((d) => d.name === name);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (name) add.mutate();
      }}
    >
      {datasets.isError && <ErrorBox error={datasets.error} />}
      {datasets.isSuccess && list.length === 0 ? (
        <p>
          No dataset yet: <Link to="/datasets">create one</Link> first.
        </p>
      ) : (
        <label>
          Dataset
          <select value={name} onChange={(e) => setName(e.target.value)} required>
            <option value="">Choose a dataset</option>
            {list.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} (version {d.version}, {int(d.itemCount)} items)
              </option>
            ))}
          </select>
        </label>
      )}
      <label className="checkbox">
        <input type="checkbox" checked={expected} onChange={(e) => setExpected(e.target.checked)} /> Use the output as
        expected
      </label>
      <p className="consequence small">
        Each of the {int(spans.length)} {spans.length === 1 ? "span" : "spans"} becomes an item: its template variables
        {expected ? ", with its answer as the expected output" : ""}, and the span as its metadata.
        {chosen ? ` ${chosen.name} goes to version ${chosen.version + 1}.` : ""} A span without template variables is
        refused by name, and nothing is added.
      </p>
      {add.isError && <RefusalBox error={add.error} title="Nothing added" />}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={!name || add.isPending}>
          Add {int(spans.length)} {spans.length === 1 ? "span" : "spans"}
        </button>
      </div>
    </form>
  );
}

function SpanTable({
  spans,
  selected,
  onSelect,
}: {
  spans: Span[];
  /** null: no selection column (a key that may not write to a dataset). */
  selected: Map<string, SpanRef> | null;
  onSelect: (spans: SpanRef[], on: boolean) => void;
}) {
  const [now] = useState(() => Date.now());
  const allSelected = selected !== null && spans.every((s) => selected.has(spanKey(s)));
  // The table wraps its longer cells to fit the page; on a screen too narrow even for that, it scrolls in its own
  // box (focusable, so that a keyboard can scroll it too) and the page itself never scrolls sideways.
  return (
    <div className="table-scroll" role="region" aria-label="Spans" tabIndex={0}>
      <table className="list span-table">
        <TableHead
          caption="Spans, newest first"
          columns={[
            ...(selected
              ? [
                  {
                    label: (
                      <input
                        type="checkbox"
                        aria-label="Select every span of this page"
                        checked={allSelected}
                        onChange={(e) => onSelect(spans, e.target.checked)}
                      />
                    ),
                  },
                ]
              : []),
            "Started",
            "Span",
            "Prompt version",
            "Status",
            { label: "Duration", num: true },
            "Model",
            "Source",
            { label: "Tokens", num: true },
            { label: "Cost", num: true },
          ]}
        />
        <tbody>
          {spans.map((s) => (
            <tr key={`${s.traceId}/${s.spanId}`} className={s.failed ? "failed" : undefined}>
              {selected && (
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select span ${s.name} ${s.spanId}`}
                    checked={selected.has(spanKey(s))}
                    onChange={(e) => onSelect([s], e.target.checked)}
                  />
                </td>
              )}
              <td>
                <Time iso={s.startTime} />
                {Date.parse(s.startTime) > now && <span className="muted small"> (future)</span>}
              </td>
              <td>
                <Link to={traceHref(s)} className="span-name">
                  {s.name}
                </Link>{" "}
                {s.spanKind && <Badge>{s.spanKind}</Badge>}
                {s.nestedCall && (
                  <>
                    {" "}
                    <Badge title="Another span records this call (an outer instrumentation layer, or a later attempt): it is not counted">
                      not counted
                    </Badge>
                  </>
                )}
              </td>
              <td>
                {s.promptName ? (
                  s.versionId && s.promptVersion ? (
                    <Link to={promptHref(s.promptName, "versions", { version: s.promptVersion })}>
                      <BreakableName name={s.promptName} /> <span className="semver">{s.promptVersion}</span>
                    </Link>
                  ) : (
                    <span title={s.linkStatus}>
                      <BreakableName name={s.promptName} /> <span className="semver">{s.promptVersion ?? "?"}</span>{" "}
                      <span className="muted small">({s.linkStatus.replace("_", " ")})</span>
                    </span>
                  )
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td>
                <StatusBadge span={s} />
                {s.failed && s.errorMessage && (
                  <div className="error-text small" title={s.errorMessage}>
                    {s.errorMessage}
                  </div>
                )}
              </td>
              <td className="num">{ms(s.latencyMs)}</td>
              <td>{s.model ?? <span className="muted">—</span>}</td>
              <td>{s.source ?? <span className="muted">—</span>}</td>
              <td className="num">{s.tokensTotal === null ? "—" : int(s.tokensTotal)}</td>
              <td className="num">{usd(s.costUsd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A prompt name that may wrap after each `/` of its folders, so that a narrow table column can hold it. */
function BreakableName({ name }: { name: string }) {
  return (
    <>
      {name.split("/").map((part, i) => (
        <span key={i}>
          {i > 0 && (
            <>
              /<wbr />
            </>
          )}
          {part}
        </span>
      ))}
    </>
  );
}

export function StatusBadge({ span }: { span: Pick<Span, "status" | "failed"> }) {
  if (span.failed) return <span className="status status-failed">failed</span>;
  return <span className={`status status-${span.status}`}>{span.status}</span>;
}
